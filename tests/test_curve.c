/* Tests of src/trace/curve.c and of `ptelab trace curve` (the command is
 * found through the PTELAB environment variable that tests/meson.build
 * sets). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptelab/curve.h"
#include "ptelab/error.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const uint32_t classic[] = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1};
static const enum pl_policy all[] = {PL_POLICY_FIFO, PL_POLICY_LRU, PL_POLICY_CLOCK, PL_POLICY_ACTIVE,
                                     PL_POLICY_OPT};

/* The classic string's curve at sizes 1-4 and 8, as `trace curve` prints it.
 * Columns fifo, lru and opt at 3 frames are Silberschatz's 15, 12, 9. */
static const char classic_csv[] = "frames,fifo,lru,clock,active,opt\n"
                                  "1,20,20,20,20,20\n"
                                  "2,15,17,15,15,13\n"
                                  "3,15,12,14,10,9\n"
                                  "4,10,8,9,8,8\n"
                                  "8,6,6,6,6,6\n";

/* Returns the contents of a file written by f(c, file) (NUL-terminated). */
static char *render(int (*f)(const struct pl_curve *, FILE *), const struct pl_curve *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cr_assert_not_null(m);
    cr_assert_eq(f(c, m), 0);
    cr_assert_eq(fclose(m), 0);
    return buf;
}

static struct pl_curve *classic_curve(void)
{
    static const uint32_t sizes[] = {1, 2, 3, 4, 8};
    struct pl_curve *c;
    /* Page numbers as ids: pages 5 and 6 never occur, the distinct count
     * reported is npages. */
    cr_assert_eq(pl_curve_compute(classic, LEN(classic), 8, all, 5, sizes, LEN(sizes), &c), 0);
    return c;
}

Test(curve, csv_of_the_classic_string)
{
    struct pl_curve *c = classic_curve();
    char *csv = render(pl_curve_write_csv, c);
    cr_expect_str_eq(csv, classic_csv);
    free(csv);
    pl_curve_free(c);
}

Test(curve, table_is_aligned_under_a_summary_line)
{
    struct pl_curve *c = classic_curve();
    char *t = render(pl_curve_write_table, c);
    cr_expect_str_eq(t, "20 references, 8 distinct pages; page faults by memory size\n"
                        "frames    fifo     lru   clock  active     opt\n"
                        "     1      20      20      20      20      20\n"
                        "     2      15      17      15      15      13\n"
                        "     3      15      12      14      10       9\n"
                        "     4      10       8       9       8       8\n"
                        "     8       6       6       6       6       6\n");
    free(t);
    pl_curve_free(c);
}

Test(curve, default_sizes_are_dense_then_four_per_doubling)
{
    uint32_t *s;
    size_t n;
    cr_assert_eq(pl_curve_default_sizes(0, &s, &n), 0);
    cr_expect_eq(n, 0);
    free(s);
    cr_assert_eq(pl_curve_default_sizes(5, &s, &n), 0);
    cr_assert_eq(n, 5);
    for (uint32_t i = 0; i < 5; i++)
        cr_expect_eq(s[i], i + 1);
    free(s);
    cr_assert_eq(pl_curve_default_sizes(40, &s, &n), 0);
    static const uint32_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 22, 26, 30, 35, 40};
    cr_assert_eq(n, LEN(want));
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(s[i], want[i], "size %zu: %u", i, s[i]);
    free(s);
    cr_assert_eq(pl_curve_default_sizes(UINT32_MAX, &s, &n), 0);
    cr_expect_lt(n, 16 + 4 * 32 + 1);
    cr_expect_eq(s[n - 1], UINT32_MAX);
    for (size_t i = 1; i < n; i++)
        cr_assert_gt(s[i], s[i - 1]);
    free(s);
}

Test(curve, compute_refuses_bad_sizes_and_repeated_policies)
{
    struct pl_curve *c = NULL;
    static const uint32_t zero[] = {0, 1}, down[] = {2, 1}, ok[] = {1, 2};
    static const enum pl_policy twice[] = {PL_POLICY_LRU, PL_POLICY_LRU};
    cr_expect_eq(pl_curve_compute(classic, LEN(classic), 8, all, 5, zero, 2, &c), PL_EINVAL);
    cr_expect_eq(pl_curve_compute(classic, LEN(classic), 8, all, 5, down, 2, &c), PL_EINVAL);
    cr_expect_eq(pl_curve_compute(classic, LEN(classic), 8, twice, 2, ok, 2, &c), PL_EINVAL);
    cr_expect_eq(pl_curve_compute(classic, LEN(classic), 7, all, 5, ok, 2, &c), PL_EINVAL);
    cr_expect_null(c);
}

/* ---- A minimal XML well-formedness check for the SVG ---- */

/* Skips a name at *p; returns its length (0: none). */
static size_t xml_name(const char **p)
{
    const char *s = *p;
    while (isalnum((unsigned char)**p) || **p == '-' || **p == '_' || **p == ':' || **p == '.')
        (*p)++;
    return (size_t)(*p - s);
}

/* Returns whether an '&' at p starts a predefined or numeric entity. */
static bool xml_entity(const char *p)
{
    static const char *const ok[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"};
    for (size_t i = 0; i < LEN(ok); i++)
        if (strncmp(p, ok[i], strlen(ok[i])) == 0)
            return true;
    return false;
}

/* Checks that doc is one well-formed element (after an optional XML
 * declaration): tags nest and match, attributes are quoted, text has no
 * stray '<' or '&'. Returns NULL or what is wrong. */
static const char *xml_check(const char *doc)
{
    const char *stack[64];
    size_t len[64];
    int depth = 0, roots = 0;
    const char *p = doc;
    if (strncmp(p, "<?xml", 5) == 0) {
        p = strstr(p, "?>");
        if (!p)
            return "unterminated declaration";
        p += 2;
    }
    while (*p) {
        if (*p == '&') {
            if (!xml_entity(p))
                return "bad entity";
            p++;
        } else if (strncmp(p, "<!--", 4) == 0) {
            p = strstr(p, "-->");
            if (!p)
                return "unterminated comment";
            p += 3;
        } else if (p[0] == '<' && p[1] == '/') {
            p += 2;
            const char *name = p;
            size_t n = xml_name(&p);
            if (depth == 0 || n != len[depth - 1] || strncmp(name, stack[depth - 1], n) != 0)
                return "mismatched end tag";
            depth--;
            if (*p++ != '>')
                return "bad end tag";
        } else if (*p == '<') {
            p++;
            const char *name = p;
            size_t n = xml_name(&p);
            if (n == 0)
                return "tag without a name";
            if (depth == 0 && roots++ > 0)
                return "more than one root element";
            for (;;) {
                while (isspace((unsigned char)*p))
                    p++;
                if (*p == '>' || (p[0] == '/' && p[1] == '>'))
                    break;
                if (xml_name(&p) == 0 || *p++ != '=')
                    return "bad attribute";
                char q = *p++;
                if (q != '"' && q != '\'')
                    return "unquoted attribute";
                while (*p && *p != q) {
                    if (*p == '<' || (*p == '&' && !xml_entity(p)))
                        return "bad attribute value";
                    p++;
                }
                if (*p++ != q)
                    return "unterminated attribute";
            }
            if (*p == '/') {
                p += 2;
            } else {
                if (depth == 64)
                    return "too deep";
                stack[depth] = name;
                len[depth++] = n;
                p++;
            }
        } else {
            if (depth == 0 && !isspace((unsigned char)*p))
                return "text outside the root element";
            p++;
        }
    }
    if (depth != 0)
        return "unclosed element";
    if (roots != 1)
        return "no root element";
    return NULL;
}

Test(curve, xml_check_catches_malformed_documents)
{
    cr_expect_null(xml_check("<?xml version=\"1.0\"?>\n<a x=\"1\"><b/>t &amp; u</a>\n"));
    cr_expect_not_null(xml_check("<a><b></a></b>"));
    cr_expect_not_null(xml_check("<a x=1></a>"));
    cr_expect_not_null(xml_check("<a>&</a>"));
    cr_expect_not_null(xml_check("<a></a><b></b>"));
    cr_expect_not_null(xml_check("<a>"));
}

/* Checks an SVG of the curve of all policies: well-formed, with its axis
 * titles and a legend entry for every policy. */
static void expect_good_svg(const char *svg)
{
    const char *why = xml_check(svg);
    cr_expect_null(why, "SVG not well formed: %s", why ? why : "");
    cr_expect_not_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    cr_expect_not_null(strstr(svg, ">memory size (frames)"));
    cr_expect_not_null(strstr(svg, ">page faults</text>"));
    const char *legend = strstr(svg, "<g class=\"legend\">");
    cr_assert_not_null(legend);
    for (int p = 0; p < PL_POLICY_COUNT; p++) {
        char entry[64], group[64];
        snprintf(entry, sizeof entry, ">%s</text>", pl_policy_name(p));
        snprintf(group, sizeof group, "<g class=\"policy\" id=\"%s\">\n<polyline ", pl_policy_name(p));
        cr_expect_not_null(strstr(legend, entry), "legend lacks %s", pl_policy_name(p));
        cr_expect_not_null(strstr(svg, group), "no polyline for %s", pl_policy_name(p));
    }
}

Test(curve, svg_is_well_formed_with_axes_and_a_legend)
{
    struct pl_curve *c = classic_curve();
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    struct pl_curve_svg_options opt = {.title = "a<b>&\"c\"", .log_x = true};
    cr_assert_eq(pl_curve_write_svg(c, m, &opt), 0);
    fclose(m);
    expect_good_svg(buf);
    cr_expect_not_null(strstr(buf, "a&lt;b&gt;&amp;&quot;c&quot;: 20 references, 8 distinct pages"));
    cr_expect_not_null(strstr(buf, "log scale"));
    free(buf);
    pl_curve_free(c);
}

/* ---- The command ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/ptelab-curve-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* Returns a new string with a path in the temporary directory. */
static char *tmp_path(const char *name)
{
    char *p = malloc(strlen(tmpdir) + strlen(name) + 2);
    sprintf(p, "%s/%s", tmpdir, name);
    return p;
}

/* Returns the contents of path (NUL-terminated), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int ch;
    while ((ch = fgetc(f)) != EOF)
        fputc(ch, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* Runs ptelab with args (NULL-terminated; args[0] is "trace"), standard
 * output and error to files in the temporary directory; returns its exit
 * status. */
static int run_ptelab(const char *const *args)
{
    const char *exe = getenv("PTELAB");
    cr_assert_not_null(exe, "PTELAB is not set (tests/meson.build sets it)");
    char *out = tmp_path("stdout"), *err = tmp_path("stderr");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(127);
        char *argv[32] = {(char *)exe};
        for (int i = 0; args[i] && i < 30; i++)
            argv[i + 1] = (char *)args[i];
        execv(exe, argv);
        _exit(127);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    free(out);
    free(err);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static char *output_of(const char *name)
{
    char *p = tmp_path(name);
    char *s = slurp(p);
    free(p);
    cr_assert_not_null(s, "no %s", name);
    return s;
}

/* Writes the classic string as a reference file, five pages to a line,
 * every other one in hex, so that --refs and `trace import` (one tokenizer)
 * both read the whole syntax. */
static char *write_classic_refs(void)
{
    char *path = tmp_path("classic.refs");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("# Silberschatz's reference string\n", f);
    for (size_t i = 0; i < LEN(classic); i++)
        fprintf(f, i % 2 ? "0x%x%s" : "%u%s", classic[i], i % 5 == 4 ? "  # five\n" : "\t");
    fclose(f);
    return path;
}

Test(curve_cli, refs_to_csv_and_svg, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char *refs = write_classic_refs(), *csv = tmp_path("out.csv"), *svg = tmp_path("out.svg");
    const char *args[] = {"trace", "curve", "--refs", refs, "--sizes", "8,1-4", "--csv", csv, "--svg", svg, NULL};
    cr_assert_eq(run_ptelab(args), 0);
    char *got = slurp(csv);
    cr_assert_not_null(got);
    /* Only 6 distinct pages in the file: ids are dense there. */
    cr_expect_str_eq(got, classic_csv);
    free(got);
    got = slurp(svg);
    cr_assert_not_null(got);
    expect_good_svg(got);
    free(got);
    char *out = output_of("stdout");
    cr_expect_str_eq(out, "", "nothing on standard output without --table");
    free(out);
    free(refs);
    free(csv);
    free(svg);
}

Test(curve_cli, table_by_default_with_chosen_policies, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char *refs = write_classic_refs();
    const char *args[] = {"trace", "curve", "--policies", "opt,fifo", "--sizes", "3", "--refs", refs, NULL};
    cr_assert_eq(run_ptelab(args), 0);
    char *out = output_of("stdout");
    cr_expect_str_eq(out, "20 references, 6 distinct pages; page faults by memory size\n"
                          "frames     opt    fifo\n"
                          "     3       9      15\n");
    free(out);
    free(refs);
}

Test(curve_cli, bad_input_and_usage_errors, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char *bad = tmp_path("bad.refs");
    FILE *f = fopen(bad, "w");
    fputs("1\n2\n3x\n", f);
    fclose(f);
    const char *parse[] = {"trace", "curve", "--refs", bad, NULL};
    cr_expect_eq(run_ptelab(parse), 2);
    char *err = output_of("stderr");
    char want[256];
    snprintf(want, sizeof want, "%s:3: bad page number '3x' (expected decimal or 0x hexadecimal)\n", bad);
    cr_expect_str_eq(err, want);
    free(err);

    const char *policy[] = {"trace", "curve", "--policies", "lru,mru", "--refs", bad, NULL};
    cr_expect_eq(run_ptelab(policy), 2);
    err = output_of("stderr");
    cr_expect_not_null(strstr(err, "unknown policy 'mru'"), "%s", err);
    free(err);

    const char *sizes[] = {"trace", "curve", "--sizes", "0-3", "--refs", bad, NULL};
    cr_expect_eq(run_ptelab(sizes), 2);
    const char *sizes2[] = {"trace", "curve", "--sizes", "4-2", "--refs", bad, NULL};
    cr_expect_eq(run_ptelab(sizes2), 2);
    const char *none[] = {"trace", "curve", NULL};
    cr_expect_eq(run_ptelab(none), 2);
    char *missing = tmp_path("missing.refs");
    const char *absent[] = {"trace", "curve", "--refs", missing, NULL};
    cr_expect_eq(run_ptelab(absent), 1);
    char *out = output_of("stdout");
    cr_expect_str_eq(out, "");
    free(out);
    free(missing);
    free(bad);
}

/* The same string through `trace import` and a real trace file: pages are
 * addresses >> 12 there. */
Test(curve_cli, a_trace_gives_the_same_curve_as_its_reference_string, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
    char *refs = write_classic_refs(), *trace = tmp_path("classic.pltrace"), *csv = tmp_path("out.csv");
    const char *import[] = {"trace", "import", "-o", trace, refs, NULL};
    cr_assert_eq(run_ptelab(import), 0);
    const char *args[] = {"trace", "curve", trace, "--sizes", "1-4,8", "--csv", csv, NULL};
    cr_assert_eq(run_ptelab(args), 0);
    char *got = slurp(csv);
    cr_assert_not_null(got);
    cr_expect_str_eq(got, classic_csv);
    free(got);
    const char *plain[] = {"trace", "curve", refs, NULL};
    cr_expect_eq(run_ptelab(plain), 2);
    char *err = output_of("stderr");
    cr_expect_not_null(strstr(err, "use --refs FILE"), "%s", err);
    free(err);
    free(refs);
    free(trace);
    free(csv);
}
