/* `ptelab walk [--explain] FILE|-`: run a walk case
 * (../shared/formats/walk-case.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "ptelab/error.h"
#include "ptelab/walkcase.h"

#define WALK_SYNOPSIS "usage: ptelab walk [--explain] FILE|-\n"

static const char walk_usage[] =
    WALK_SYNOPSIS
    "\n"
    "Performs the accesses of the walk case FILE ('-': standard input), each\n"
    "from empty TLBs, and prints one line per access and one per paging-\n"
    "structure word it changed. A malformed case is reported as FILE:LINE:\n"
    "on standard error with exit status 2, and nothing is performed.\n"
    "\n"
    "  --explain   after each access, explain it: every entry walked, decoded,\n"
    "              and the rule that decided the result\n"
    "  -h, --help  this text\n";

/* Reads all of f into a new buffer (any bytes, NULs included); returns 0
 * with *buf and *len, or an errno value. */
static int read_all(FILE *f, char **buf, size_t *len)
{
    size_t cap = 0, n = 0;
    char *p = NULL;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *q = ncap > cap ? realloc(p, ncap) : NULL;
            if (!q) {
                free(p);
                return ENOMEM;
            }
            p = q;
            cap = ncap;
        }
        n += fread(p + n, 1, cap - n, f);
        if (n < cap) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(p);
                return e;
            }
            break;
        }
    }
    *buf = p;
    *len = n;
    return 0;
}

/* Reads the case named path ("-": standard input). Returns 0, or prints why
 * not and returns CLI_FAILED. */
static int load(const char *path, char **buf, size_t *len)
{
    bool std_in = strcmp(path, "-") == 0;
    FILE *f = std_in ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ptelab walk: cannot open '%s': %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    errno = 0;
    int e = read_all(f, buf, len);
    if (!std_in)
        fclose(f);
    if (e) {
        fprintf(stderr, "ptelab walk: cannot read '%s': %s\n", std_in ? "<stdin>" : path, strerror(e));
        return CLI_FAILED;
    }
    return CLI_OK;
}

int cmd_walk(int argc, char **argv)
{
    unsigned flags = 0;
    const char *path = NULL;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options && strcmp(a, "--") == 0) {
            options = false;
        } else if (options && strcmp(a, "--explain") == 0) {
            flags |= PL_WALKCASE_EXPLAIN;
        } else if (options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            fputs(walk_usage, stdout);
            return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
        } else if (options && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ptelab walk: unknown option '%s'\n" WALK_SYNOPSIS, a);
            return CLI_USAGE;
        } else if (path) {
            fprintf(stderr, "ptelab walk: one FILE only ('%s' and '%s' given)\n" WALK_SYNOPSIS, path, a);
            return CLI_USAGE;
        } else {
            path = a;
        }
    }
    if (!path) {
        fputs("ptelab walk: missing FILE (use '-' for standard input)\n" WALK_SYNOPSIS, stderr);
        return CLI_USAGE;
    }

    char *text = NULL;
    size_t len = 0;
    int status = load(path, &text, &len);
    if (status)
        return status;
    struct pl_walkcase *wc;
    struct pl_walkcase_error err;
    int rc = pl_walkcase_parse(text, len, &wc, &err);
    free(text);
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    if (rc) {
        fprintf(stderr, "%s:%" PRIu32 ": %s\n", name, err.line, err.msg);
        return rc == PL_EPARSE ? CLI_USAGE : CLI_FAILED;
    }
    rc = pl_walkcase_run(wc, stdout, flags);
    pl_walkcase_free(wc);
    if (fflush(stdout) != 0 && !rc)
        rc = PL_EIO;
    if (rc == PL_EIO)
        fprintf(stderr, "ptelab walk: cannot write standard output\n");
    else if (rc)
        fprintf(stderr, "ptelab walk: %s: %s\n", name, pl_strerror(rc));
    return rc ? CLI_FAILED : CLI_OK;
}
