/* `ptelab trace record|import|info`: make and inspect memory traces
 * (docs/trace-format.md); `trace curve` is dispatched to its own file. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "ptelab/error.h"
#include "ptelab/trace.h"

#define TRACE_SYNOPSIS                                                  \
    "usage: ptelab trace record [-o FILE] -- CMD [ARGS...]\n"           \
    "       ptelab trace import [-o FILE] [--page-size N] REFS|-\n"     \
    "       ptelab trace info [--json] FILE\n"                         \
    "       ptelab trace curve ... (ptelab trace curve --help)\n"             \
    "       ptelab trace replay ... (ptelab trace replay --help)\n"

static const char trace_usage[] =
    TRACE_SYNOPSIS
    "\n"
    "  record   run CMD under Valgrind's lackey and store every instruction\n"
    "           fetch, load, store and modify it makes in a compressed trace\n"
    "           (default FILE: CMD's base name + .pltrace)\n"
    "  import   turn a reference string (page numbers, decimal or 0x hex,\n"
    "           separated by white space, '#' comments) into a trace of\n"
    "           one-byte loads, one per number\n"
    "           (default FILE: REFS without its extension + .pltrace;\n"
    "           --page-size: a power of two, 4096 by default, K/M/G allowed)\n"
    "  info     check a whole trace and print its header and counts\n"
    "           (--json: one JSON object)\n"
    "\n"
    "The format is in docs/trace-format.md; docs/cli.md has the reference.\n";

/* Accesses handed to the writer at a time. */
#define BATCH 4096

/* Prints the message for writer error rc on path; returns CLI_FAILED. */
static int write_failed(const char *cmd, const char *path, int rc)
{
    if (rc == PL_EIO)
        fprintf(stderr, "ptelab trace %s: cannot write '%s': %s\n", cmd, path, errno ? strerror(errno) : "I/O error");
    else
        fprintf(stderr, "ptelab trace %s: '%s': %s\n", cmd, path, pl_strerror(rc));
    return CLI_FAILED;
}

/* Returns the final component of path. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

/* Returns a new string: name's base name without its last extension when
 * strip_ext, plus ".pltrace"; NULL when out of memory. */
static char *default_output(const char *name, bool strip_ext)
{
    const char *b = base_name(name);
    size_t len = strlen(b);
    const char *dot = strip_ext ? strrchr(b, '.') : NULL;
    if (dot && dot != b)
        len = (size_t)(dot - b);
    char *out = malloc(len + sizeof ".pltrace");
    if (out) {
        memcpy(out, b, len);
        strcpy(out + len, ".pltrace");
    }
    return out;
}

/* Returns whether an executable named name is in a directory of $PATH
 * (or, for a name with a '/', is that file). */
static bool on_path(const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char file[4096];
    while (*path) {
        size_t len = strcspn(path, ":");
        int w = snprintf(file, sizeof file, "%.*s/%s", (int)len, len ? path : ".", name);
        if (w > 0 && (size_t)w < sizeof file && access(file, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

/* Prints the per-kind counts of h as "(I n, L n, S n, M n)". */
static void print_kinds(FILE *f, const struct pl_trace_header *h)
{
    fprintf(f, "(I %" PRIu64 ", L %" PRIu64 ", S %" PRIu64 ", M %" PRIu64 ")", h->count[0], h->count[1],
            h->count[2], h->count[3]);
}

/* Feeds lackey's output from fd into w until end of file. Lines that are
 * not accesses are skipped, except valgrind's own complaints, which are
 * passed on to standard error. Returns 0 or a writer error. */
static int pump_lackey(FILE *in, struct pl_trace_writer *w, uint64_t *skipped)
{
    static struct pl_trace_access batch[BATCH];
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        if (pl_lackey_parse_line(line, (size_t)len, &batch[n])) {
            if (++n == BATCH) {
                if ((rc = pl_trace_write(w, batch, n)))
                    break;
                n = 0;
            }
        } else if (strncmp(line, "valgrind:", 9) == 0) {
            fputs(line, stderr);
        } else if (line[0] != '=') {
            (*skipped)++;
        }
    }
    if (!rc && n)
        rc = pl_trace_write(w, batch, n);
    free(line);
    return rc;
}

/* `trace record`: runs valgrind with lackey's log on a pipe. */
static int trace_record(int argc, char **argv)
{
    const char *out = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(trace_usage, stdout);
            return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
        } else if (a[0] == '-') {
            fprintf(stderr, "ptelab trace record: %s '%s'\n" TRACE_SYNOPSIS,
                    strcmp(a, "-o") == 0 ? "missing FILE after" : "unknown option", a);
            return CLI_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        fputs("ptelab trace record: missing CMD (ptelab trace record -- CMD ARGS...)\n" TRACE_SYNOPSIS, stderr);
        return CLI_USAGE;
    }
    char **cmd = argv + i;
    int cmd_argc = argc - i;
    if (!on_path("valgrind")) {
        fputs("ptelab trace record: valgrind is not installed (or not on PATH).\n"
              "Install it with: sudo apt-get install valgrind\n",
              stderr);
        return CLI_FAILED;
    }
    char *def = out ? NULL : default_output(cmd[0], false);
    if (!out && !def) {
        fputs("ptelab trace record: out of memory\n", stderr);
        return CLI_FAILED;
    }
    const char *path = out ? out : def;
    struct pl_trace_meta meta = {
        .program = cmd[0],
        .argc = (uint32_t)(cmd_argc - 1),
        .argv = (const char *const *)(cmd + 1),
        .date = (int64_t)time(NULL),
    };
    struct pl_trace_writer *w;
    int rc = pl_trace_writer_open(path, &meta, 0, &w);
    if (rc) {
        write_failed("record", path, rc);
        free(def);
        return CLI_FAILED;
    }

    int fds[2];
    char **vargv = calloc((size_t)cmd_argc + 6, sizeof *vargv);
    char logfd[32];
    if (!vargv || pipe(fds) != 0) {
        fprintf(stderr, "ptelab trace record: cannot start valgrind: %s\n", strerror(errno));
        pl_trace_writer_close(w, NULL);
        remove(path);
        free(vargv);
        free(def);
        return CLI_FAILED;
    }
    snprintf(logfd, sizeof logfd, "--log-fd=%d", fds[1]);
    vargv[0] = "valgrind";
    vargv[1] = "--tool=lackey";
    vargv[2] = "--trace-mem=yes";
    vargv[3] = logfd;
    for (int j = 0; j < cmd_argc; j++)
        vargv[4 + j] = cmd[j];
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        execvp("valgrind", vargv);
        fprintf(stderr, "ptelab trace record: cannot run valgrind: %s\n", strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    free(vargv);
    if (pid < 0) {
        fprintf(stderr, "ptelab trace record: cannot start valgrind: %s\n", strerror(errno));
        close(fds[0]);
        pl_trace_writer_close(w, NULL);
        remove(path);
        free(def);
        return CLI_FAILED;
    }
    FILE *in = fdopen(fds[0], "r");
    uint64_t skipped = 0;
    int wrc = in ? pump_lackey(in, w, &skipped) : PL_ENOMEM;
    if (in)
        fclose(in);
    else
        close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    struct pl_trace_header h;
    int crc = pl_trace_writer_close(w, &h);
    if (!wrc)
        wrc = crc;
    if (wrc) {
        write_failed("record", path, wrc);
        remove(path);
        free(def);
        return CLI_FAILED;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (h.accesses == 0) {
        fprintf(stderr, "ptelab trace record: valgrind recorded no accesses (exit status %d); nothing written\n",
                code);
        remove(path);
        free(def);
        return CLI_FAILED;
    }
    if (code != 0)
        fprintf(stderr, "ptelab trace record: note: '%s' exited with status %d (the trace is kept)\n", cmd[0], code);
    uint64_t bytes = h.header_bytes + h.compressed_bytes;
    printf("recorded %" PRIu64 " accesses ", h.accesses);
    print_kinds(stdout, &h);
    printf(", %" PRIu64 " distinct pages\n", h.distinct_pages);
    printf("wrote %s: %" PRIu64 " bytes, %.3f bytes per access\n", path, bytes, (double)bytes / (double)h.accesses);
    if (skipped)
        printf("skipped %" PRIu64 " lines that were not accesses\n", skipped);
    free(def);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
}

/* Parses a page size: a power of two, decimal, with an optional K, M or
 * G. Returns 0 or -1. */
static int parse_page_size(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (errno || *end || v == 0 || v > (1ull << 30) >> shift || (v & (v - 1)))
        return -1;
    *out = (uint32_t)(v << shift);
    return 0;
}

/* `trace import`: one load per page number of the reference string. */
static int trace_import(int argc, char **argv)
{
    const char *out = NULL, *refs = NULL;
    uint32_t page_size = 4096;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options && strcmp(a, "--") == 0) {
            options = false;
        } else if (options && strcmp(a, "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (options && strcmp(a, "--page-size") == 0 && i + 1 < argc) {
            if (parse_page_size(argv[++i], &page_size) != 0) {
                fprintf(stderr, "ptelab trace import: bad page size '%s' (a power of two, 1 to 1G)\n", argv[i]);
                return CLI_USAGE;
            }
        } else if (options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            fputs(trace_usage, stdout);
            return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
        } else if (options && a[0] == '-' && a[1] != '\0') {
            bool missing = strcmp(a, "-o") == 0 || strcmp(a, "--page-size") == 0;
            fprintf(stderr, "ptelab trace import: %s '%s'\n" TRACE_SYNOPSIS,
                    missing ? "missing value after" : "unknown option", a);
            return CLI_USAGE;
        } else if (refs) {
            fprintf(stderr, "ptelab trace import: one REFS only ('%s' and '%s' given)\n" TRACE_SYNOPSIS, refs, a);
            return CLI_USAGE;
        } else {
            refs = a;
        }
    }
    if (!refs) {
        fputs("ptelab trace import: missing REFS (use '-' for standard input)\n" TRACE_SYNOPSIS, stderr);
        return CLI_USAGE;
    }
    bool std_in = strcmp(refs, "-") == 0;
    const char *name = std_in ? "<stdin>" : refs;
    FILE *in = std_in ? stdin : fopen(refs, "r");
    if (!in) {
        fprintf(stderr, "ptelab trace import: cannot open '%s': %s\n", refs, strerror(errno));
        return CLI_FAILED;
    }
    char *def = out ? NULL : default_output(std_in ? "stdin" : refs, true);
    const char *path = out ? out : def;
    struct pl_trace_writer *w = NULL;
    int rc = path ? 0 : PL_ENOMEM;
    if (!rc) {
        struct pl_trace_meta meta = {.program = name, .date = (int64_t)time(NULL), .page_size = page_size};
        rc = pl_trace_writer_open(path, &meta, 0, &w);
    }
    if (rc) {
        write_failed("import", path ? path : "?", rc);
        if (!std_in)
            fclose(in);
        free(def);
        return CLI_FAILED;
    }
    static struct pl_trace_access batch[BATCH];
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    int status = CLI_OK;
    while (!rc && status == CLI_OK && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        const char *p = line;
        uint64_t page;
        char msg[160];
        int r = 0;
        while (!rc && (r = pl_refs_next(&p, line + len, &page, msg, sizeof msg)) == 1) {
            if (page > UINT64_MAX / page_size) {
                snprintf(msg, sizeof msg, "page %" PRIu64 " lies beyond 2^64 bytes (page size %" PRIu32 ")", page,
                         page_size);
                r = PL_EPARSE;
                break;
            }
            batch[n++] = (struct pl_trace_access){.addr = page * page_size, .size = 1, .kind = PL_TRACE_LOAD};
            if (n == BATCH) {
                rc = pl_trace_write(w, batch, n);
                n = 0;
            }
        }
        if (r < 0) {
            fprintf(stderr, "%s:%" PRIu64 ": %s\n", name, lineno, msg);
            status = CLI_USAGE;
        }
    }
    if (!rc && status == CLI_OK && ferror(in)) {
        fprintf(stderr, "ptelab trace import: cannot read '%s': %s\n", name, strerror(errno));
        status = CLI_FAILED;
    }
    free(line);
    if (!std_in)
        fclose(in);
    if (!rc && n)
        rc = pl_trace_write(w, batch, n);
    struct pl_trace_header h;
    int crc = pl_trace_writer_close(w, &h);
    if (!rc)
        rc = crc;
    if (rc && status == CLI_OK)
        status = write_failed("import", path, rc);
    if (status != CLI_OK) {
        remove(path);
        free(def);
        return status;
    }
    uint64_t bytes = h.header_bytes + h.compressed_bytes;
    printf("imported %" PRIu64 " references to %" PRIu64 " distinct pages of %" PRIu32 " bytes\n", h.accesses,
           h.distinct_pages, page_size);
    printf("wrote %s: %" PRIu64 " bytes\n", path, bytes);
    free(def);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
}

/* Prints s for a person: shell-quoted when it holds anything but plain
 * characters, with non-printable bytes as \xNN. */
static void print_word(FILE *f, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+-@%", *p))
            plain = false;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
}

/* Prints s as a JSON string. */
static void print_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Formats the date t as ISO 8601 UTC into buf. */
static void format_date(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) && strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
        return;
    snprintf(buf, size, "@%" PRId64, t);
}

/* Prints the header h of path, as text or JSON. */
static void print_info(const char *path, const struct pl_trace_header *h, bool json)
{
    static const char *const kind_names[PL_TRACE_KINDS] = {"instruction fetches", "loads", "stores", "modifies"};
    char date[64];
    format_date(h->date, date, sizeof date);
    uint64_t bytes = h->header_bytes + h->compressed_bytes;
    double per = h->accesses ? (double)bytes / (double)h->accesses : 0.0;
    if (json) {
        printf("{\"file\": ");
        print_json_string(stdout, path);
        printf(", \"version\": %u, \"program\": ", h->version);
        print_json_string(stdout, h->program);
        printf(", \"arguments\": [");
        for (uint32_t i = 0; i < h->argc; i++) {
            printf(i ? ", " : "");
            print_json_string(stdout, h->argv[i]);
        }
        printf("], \"date\": \"%s\", \"date_unix\": %" PRId64 ", \"page_size\": %" PRIu32
               ", \"accesses\": %" PRIu64,
               date, h->date, h->page_size, h->accesses);
        printf(", \"by_kind\": {\"I\": %" PRIu64 ", \"L\": %" PRIu64 ", \"S\": %" PRIu64 ", \"M\": %" PRIu64 "}",
               h->count[0], h->count[1], h->count[2], h->count[3]);
        printf(", \"distinct_pages\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"header_bytes\": %" PRIu32
               ", \"compressed_bytes\": %" PRIu64 ", \"bytes_per_access\": %.4f}\n",
               h->distinct_pages, bytes, h->header_bytes, h->compressed_bytes, per);
        return;
    }
    printf("trace:            %s\n", path);
    printf("format version:   %u\n", h->version);
    printf("program:          ");
    print_word(stdout, h->program);
    printf("\narguments:        %s", h->argc ? "" : "(none)");
    for (uint32_t i = 0; i < h->argc; i++) {
        if (i)
            putchar(' ');
        print_word(stdout, h->argv[i]);
    }
    printf("\nrecorded:         %s\n", date);
    printf("page size:        %" PRIu32 "\n", h->page_size);
    printf("accesses:         %" PRIu64 "\n", h->accesses);
    for (int k = 0; k < PL_TRACE_KINDS; k++)
        printf("  %c %-20s %" PRIu64 "\n", pl_trace_kind_letter(k), kind_names[k], h->count[k]);
    printf("distinct pages:   %" PRIu64 "\n", h->distinct_pages);
    printf("bytes on disk:    %" PRIu64 " (header %" PRIu32 ", compressed accesses %" PRIu64 ")\n", bytes,
           h->header_bytes, h->compressed_bytes);
    printf("bytes per access: %.3f\n", per);
}

/* `trace info`: reads the whole trace, so damage anywhere is reported. */
static int trace_info(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false, options = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options && strcmp(a, "--") == 0) {
            options = false;
        } else if (options && strcmp(a, "--json") == 0) {
            json = true;
        } else if (options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            fputs(trace_usage, stdout);
            return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
        } else if (options && a[0] == '-') {
            fprintf(stderr, "ptelab trace info: unknown option '%s'\n" TRACE_SYNOPSIS, a);
            return CLI_USAGE;
        } else if (path) {
            fprintf(stderr, "ptelab trace info: one FILE only ('%s' and '%s' given)\n" TRACE_SYNOPSIS, path, a);
            return CLI_USAGE;
        } else {
            path = a;
        }
    }
    if (!path) {
        fputs("ptelab trace info: missing FILE\n" TRACE_SYNOPSIS, stderr);
        return CLI_USAGE;
    }
    struct pl_trace_reader *r;
    struct pl_trace_error err;
    int rc = pl_trace_open(path, &r, &err);
    if (!rc) {
        static struct pl_trace_access buf[BATCH];
        long got;
        while ((got = pl_trace_next(r, buf, BATCH)) > 0)
            ;
        if (got < 0) {
            rc = (int)got;
            err = *pl_trace_error(r);
        }
    }
    if (rc) {
        if (rc == PL_EPARSE)
            fprintf(stderr, "%s: byte %" PRIu64 ": %s\n", path, err.offset, err.msg);
        else
            fprintf(stderr, "ptelab trace info: '%s': %s\n", path, err.msg);
        pl_trace_close(r);
        return rc == PL_EPARSE ? CLI_USAGE : CLI_FAILED;
    }
    print_info(path, pl_trace_header(r), json);
    pl_trace_close(r);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
}

int cmd_trace(int argc, char **argv)
{
    if (argc < 2) {
        fputs("ptelab trace: missing subcommand (record, import, info or curve)\n" TRACE_SYNOPSIS, stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(trace_usage, stdout);
        return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
    }
    if (strcmp(sub, "record") == 0)
        return trace_record(argc - 1, argv + 1);
    if (strcmp(sub, "import") == 0)
        return trace_import(argc - 1, argv + 1);
    if (strcmp(sub, "info") == 0)
        return trace_info(argc - 1, argv + 1);
    if (strcmp(sub, "curve") == 0)
        return cmd_trace_curve(argc - 1, argv + 1);
    if (strcmp(sub, "replay") == 0)
        return cmd_trace_replay(argc - 1, argv + 1);
    fprintf(stderr, "ptelab trace: unknown subcommand '%s' (record, import, info or curve)\n" TRACE_SYNOPSIS, sub);
    return CLI_USAGE;
}
