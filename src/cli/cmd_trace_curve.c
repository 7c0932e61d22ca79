/* `ptelab trace curve`: page faults against memory size for several
 * replacement policies over a trace or a plain reference string
 * (docs/trace-curve.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "ptelab/curve.h"
#include "ptelab/error.h"
#include "ptelab/policy.h"
#include "ptelab/trace.h"

#define CURVE_SYNOPSIS                                                                            \
    "usage: ptelab trace curve [--policies LIST] [--sizes LIST] [--csv OUT] [--svg OUT]\n"    \
    "                          [--log-x] [--table] FILE | --refs FILE|-\n"

static const char curve_usage[] =
    CURVE_SYNOPSIS
    "\n"
    "Computes how many page faults each replacement policy takes on a trace\n"
    "(pages are addresses >> 12) or a reference string, for each memory size.\n"
    "With neither --csv nor --svg, prints a table on standard output.\n"
    "\n"
    "  --refs FILE       read a plain reference string instead of a trace: page\n"
    "                    numbers, decimal or 0x hex, separated by white space,\n"
    "                    '#' comments ('-': standard input)\n"
    "  --policies LIST   comma-separated, from fifo,lru,clock,active,opt (the\n"
    "                    default: all, in that order)\n"
    "  --sizes LIST      memory sizes in frames: N or A-B, comma-separated (the\n"
    "                    default: 1..16, then 4 sizes per doubling, up to the\n"
    "                    number of distinct pages)\n"
    "  --csv OUT         write the curve as CSV to OUT ('-': standard output)\n"
    "  --svg OUT         write the curve as an SVG plot to OUT\n"
    "  --log-x           plot memory size on a log2 axis\n"
    "  --table           print the table on standard output too\n"
    "  -h, --help        this text\n";

/* Largest memory size --sizes accepts; a range may list at most this many. */
#define MAX_SIZES 100000u

/* The parsed command line. */
struct curve_args {
    const char *trace, *refs, *csv, *svg;
    bool table, log_x;
    enum pl_policy policies[PL_POLICY_COUNT];
    int npolicies;
    uint32_t *sizes; /* NULL: the default sizes */
    size_t nsizes;
};

/* Parses a decimal size at *s (advanced past it). Returns 0 or -1. */
static int parse_size(const char **s, uint32_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *s = p;
    *out = (uint32_t)v;
    return 0;
}

/* qsort order of uint32_t values. */
static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Parses --sizes: "N" or "A-B" items, comma-separated, each size >= 1, at
 * most MAX_SIZES in all; sorts them and drops repeats. Returns 0, or
 * CLI_USAGE / CLI_FAILED after saying why. */
static int parse_sizes(const char *list, struct curve_args *a)
{
    free(a->sizes);
    a->sizes = NULL;
    a->nsizes = 0;
    uint32_t *sizes = NULL;
    size_t n = 0;
    const char *p = list;
    for (;;) {
        uint32_t lo, hi;
        if (parse_size(&p, &lo))
            goto bad;
        hi = lo;
        if (*p == '-') {
            p++;
            if (parse_size(&p, &hi) || hi < lo)
                goto bad;
        }
        if (lo == 0 || (uint64_t)hi - lo + 1 > MAX_SIZES - n) {
            fprintf(stderr, "ptelab trace curve: --sizes '%s': sizes are 1 or more, at most %u of them\n",
                    list, MAX_SIZES);
            free(sizes);
            return CLI_USAGE;
        }
        uint32_t *more = realloc(sizes, (n + (hi - lo) + 1) * sizeof *sizes);
        if (!more) {
            free(sizes);
            fputs("ptelab trace curve: out of memory\n", stderr);
            return CLI_FAILED;
        }
        sizes = more;
        for (uint64_t k = lo; k <= hi; k++)
            sizes[n++] = (uint32_t)k;
        if (*p == '\0')
            break;
        if (*p++ != ',')
            goto bad;
    }
    qsort(sizes, n, sizeof *sizes, compare_u32);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++)
        if (unique == 0 || sizes[i] != sizes[unique - 1])
            sizes[unique++] = sizes[i];
    a->sizes = sizes;
    a->nsizes = unique;
    return 0;
bad:
    free(sizes);
    fprintf(stderr, "ptelab trace curve: --sizes '%s': expected sizes N or ranges A-B, comma-separated\n",
            list);
    return CLI_USAGE;
}

/* Parses --policies. Returns 0 or CLI_USAGE after saying why. */
static int parse_policies(const char *list, struct curve_args *a)
{
    a->npolicies = 0;
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        char name[16];
        enum pl_policy pol;
        if (len >= sizeof name || (memcpy(name, p, len), name[len] = '\0', pl_policy_parse(name, &pol))) {
            fprintf(stderr,
                    "ptelab trace curve: --policies: unknown policy '%.*s' (fifo, lru, clock, active, opt)\n",
                    (int)(len > 40 ? 40 : len), p);
            return CLI_USAGE;
        }
        for (int i = 0; i < a->npolicies; i++) {
            if (a->policies[i] == pol) {
                fprintf(stderr, "ptelab trace curve: --policies: '%s' twice\n", name);
                return CLI_USAGE;
            }
        }
        a->policies[a->npolicies++] = pol;
        p += len;
        if (*p == '\0')
            return 0;
        p++;
    }
}

/* Parses argv (argv[0] is "curve"). Returns 0, CLI_USAGE or CLI_FAILED
 * after saying why, or -1 when --help was printed. */
static int parse_args(int argc, char **argv, struct curve_args *a)
{
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int rc = 0;
        if (!options || o[0] != '-' || o[1] == '\0') {
            if (a->trace) {
                fprintf(stderr, "ptelab trace curve: one FILE only ('%s' and '%s' given)\n" CURVE_SYNOPSIS,
                        a->trace, o);
                return CLI_USAGE;
            }
            a->trace = o;
            continue;
        }
        if (strcmp(o, "--") == 0) {
            options = false;
            continue;
        }
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            fputs(curve_usage, stdout);
            return -1;
        }
        if (strcmp(o, "--table") == 0) {
            a->table = true;
            continue;
        }
        if (strcmp(o, "--log-x") == 0) {
            a->log_x = true;
            continue;
        }
        static const char *const with_value[] = {"--refs", "--policies", "--sizes", "--csv", "--svg"};
        int which = -1;
        for (int k = 0; k < 5; k++)
            if (strcmp(o, with_value[k]) == 0)
                which = k;
        if (which < 0) {
            fprintf(stderr, "ptelab trace curve: unknown option '%s'\n" CURVE_SYNOPSIS, o);
            return CLI_USAGE;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ptelab trace curve: %s needs a value\n" CURVE_SYNOPSIS, o);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        switch (which) {
        case 0: a->refs = v; break;
        case 1: rc = parse_policies(v, a); break;
        case 2: rc = parse_sizes(v, a); break;
        case 3: a->csv = v; break;
        case 4: a->svg = v; break;
        }
        if (rc)
            return rc;
    }
    if (a->trace && a->refs) {
        fprintf(stderr, "ptelab trace curve: FILE and --refs FILE both given\n" CURVE_SYNOPSIS);
        return CLI_USAGE;
    }
    if (!a->trace && !a->refs) {
        fputs("ptelab trace curve: missing FILE (or --refs FILE)\n" CURVE_SYNOPSIS, stderr);
        return CLI_USAGE;
    }
    if (a->csv && a->svg && strcmp(a->csv, a->svg) == 0) {
        fprintf(stderr, "ptelab trace curve: --csv and --svg both write '%s'\n", a->csv);
        return CLI_USAGE;
    }
    if (a->csv && strcmp(a->csv, "-") == 0 && a->table) {
        fputs("ptelab trace curve: --csv - and --table both write standard output\n", stderr);
        return CLI_USAGE;
    }
    if (a->svg && strcmp(a->svg, "-") == 0 && (a->table || (a->csv && strcmp(a->csv, "-") == 0))) {
        fputs("ptelab trace curve: only one of --svg -, --csv -, --table may write standard output\n", stderr);
        return CLI_USAGE;
    }
    if (!a->csv && !a->svg)
        a->table = true;
    return 0;
}

/* Reads the reference string at path ("-": standard input) into rs.
 * Returns 0, or an exit status after saying why. */
static int load_refs(const char *path, struct pl_refstring *rs)
{
    bool std_in = strcmp(path, "-") == 0;
    const char *name = std_in ? "<stdin>" : path;
    FILE *f = std_in ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ptelab trace curve: cannot open '%s': %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    /* Line by line, so that a long string never needs a second copy. */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint32_t lineno = 0;
    int status = CLI_OK;
    errno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        struct pl_refstring_error err;
        int rc = pl_refstring_parse(rs, line, (size_t)len, &err);
        if (rc) {
            fprintf(stderr, "%s:%" PRIu32 ": %s\n", name, lineno, err.msg);
            status = rc == PL_EPARSE ? CLI_USAGE : CLI_FAILED;
            break;
        }
        if (lineno == UINT32_MAX) {
            fprintf(stderr, "%s: more than %" PRIu32 " lines\n", name, UINT32_MAX - 1);
            status = CLI_USAGE;
            break;
        }
    }
    if (status == CLI_OK && ferror(f)) {
        fprintf(stderr, "ptelab trace curve: cannot read '%s': %s\n", name, strerror(errno ? errno : EIO));
        status = CLI_FAILED;
    }
    free(line);
    if (!std_in)
        fclose(f);
    return status;
}

/* Reads the page (address >> 12) of every access of the trace at path into
 * rs. Returns 0, or an exit status after saying why. */
static int load_trace(const char *path, struct pl_refstring *rs)
{
    struct pl_trace_reader *r;
    struct pl_trace_error err;
    int rc = pl_trace_open(path, &r, &err);
    if (rc == PL_EIO) {
        fprintf(stderr, "ptelab trace curve: cannot open '%s': %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    if (rc) {
        fprintf(stderr, "%s: byte %" PRIu64 ": %s\n", path, err.offset, err.msg);
        if (rc == PL_EPARSE && err.offset == 0)
            fputs("ptelab trace curve: for a plain reference string, use --refs FILE\n", stderr);
        return rc == PL_EPARSE ? CLI_USAGE : CLI_FAILED;
    }
    enum { BATCH = 4096 };
    static struct pl_trace_access buf[BATCH];
    long got;
    while ((got = pl_trace_next(r, buf, BATCH)) > 0) {
        for (long i = 0; i < got; i++) {
            rc = pl_refstring_append(rs, buf[i].addr >> 12);
            if (rc) {
                fprintf(stderr, "ptelab trace curve: %s: %s\n", path, pl_strerror(rc));
                pl_trace_close(r);
                return CLI_FAILED;
            }
        }
    }
    int status = CLI_OK;
    if (got < 0) {
        const struct pl_trace_error *e = pl_trace_error(r);
        fprintf(stderr, "%s: byte %" PRIu64 ": %s\n", path, e->offset, e->msg);
        status = got == PL_EPARSE ? CLI_USAGE : CLI_FAILED;
    }
    pl_trace_close(r);
    return status;
}

/* Writes the curve with write() to path ("-": standard output). Returns 0
 * or CLI_FAILED after saying why. */
static int write_output(const char *path, const struct pl_curve *c, const struct curve_args *a,
                        int (*write)(const struct pl_curve *, FILE *, const struct curve_args *))
{
    bool std_out = strcmp(path, "-") == 0;
    FILE *f = std_out ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "ptelab trace curve: cannot create '%s': %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    int rc = write(c, f, a);
    if (std_out ? fflush(f) != 0 : fclose(f) != 0)
        rc = PL_EIO;
    if (rc) {
        fprintf(stderr, "ptelab trace curve: cannot write '%s'\n", std_out ? "<stdout>" : path);
        return CLI_FAILED;
    }
    return CLI_OK;
}

/* The three renderings, in write_output's shape. */
static int write_csv(const struct pl_curve *c, FILE *f, const struct curve_args *a)
{
    (void)a;
    return pl_curve_write_csv(c, f);
}

static int write_svg(const struct pl_curve *c, FILE *f, const struct curve_args *a)
{
    const char *title = a->refs ? (strcmp(a->refs, "-") == 0 ? "<stdin>" : a->refs) : a->trace;
    struct pl_curve_svg_options opt = {.title = title, .log_x = a->log_x};
    return pl_curve_write_svg(c, f, &opt);
}

static int write_table(const struct pl_curve *c, FILE *f, const struct curve_args *a)
{
    (void)a;
    return pl_curve_write_table(c, f);
}

int cmd_trace_curve(int argc, char **argv)
{
    static const enum pl_policy all[] = {PL_POLICY_FIFO, PL_POLICY_LRU, PL_POLICY_CLOCK, PL_POLICY_ACTIVE,
                                         PL_POLICY_OPT};
    struct curve_args a = {.npolicies = PL_POLICY_COUNT};
    memcpy(a.policies, all, sizeof all);
    int status = parse_args(argc, argv, &a);
    if (status) {
        free(a.sizes);
        if (status < 0)
            return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
        return status;
    }
    struct pl_refstring *rs = pl_refstring_new();
    struct pl_curve *c = NULL;
    if (!rs) {
        status = CLI_FAILED;
        fputs("ptelab trace curve: out of memory\n", stderr);
        goto out;
    }
    status = a.refs ? load_refs(a.refs, rs) : load_trace(a.trace, rs);
    if (status)
        goto out;
    uint32_t distinct = pl_refstring_distinct(rs);
    if (!a.sizes && pl_curve_default_sizes(distinct, &a.sizes, &a.nsizes)) {
        status = CLI_FAILED;
        fputs("ptelab trace curve: out of memory\n", stderr);
        goto out;
    }
    int rc = pl_curve_compute(pl_refstring_ids(rs), pl_refstring_len(rs), distinct, a.policies, a.npolicies,
                              a.sizes, a.nsizes, &c);
    if (rc) {
        status = CLI_FAILED;
        fprintf(stderr, "ptelab trace curve: %s\n", pl_strerror(rc));
        goto out;
    }
    if (a.csv)
        status = write_output(a.csv, c, &a, write_csv);
    if (!status && a.svg)
        status = write_output(a.svg, c, &a, write_svg);
    if (!status && a.table)
        status = write_output("-", c, &a, write_table);
out:
    pl_curve_free(c);
    pl_refstring_free(rs);
    free(a.sizes);
    return status;
}
