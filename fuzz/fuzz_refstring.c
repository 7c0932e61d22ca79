/* libFuzzer target: any bytes as a plain reference string. Parsing
 * (pl_refstring_parse, line by line over pl_refs_next) must fail cleanly
 * with a line and a message, or give a string on which every policy runs,
 * OPT never loses to another policy, the one-pass LRU curve agrees with
 * per-size simulation, and the curve renders; and pl_refs_next over the
 * whole input at once must give the same pages and the same error, on the
 * line parsing named; without crashing, leaking or hanging. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/curve.h"
#include "ptelab/error.h"
#include "ptelab/policy.h"
#include "ptelab/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Simulations are quadratic in nothing, but keep each input quick. */
#define MAX_REFS 4096
#define MAX_FRAMES 8

static FILE *sink(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    if (!f)
        abort();
    return f;
}

/* Checks the policies' invariants on rs; aborts on a violation. */
static void check_policies(const struct pl_refstring *rs)
{
    const uint32_t *ids = pl_refstring_ids(rs);
    size_t n = pl_refstring_len(rs);
    uint32_t distinct = pl_refstring_distinct(rs);
    uint64_t *lru = malloc(((size_t)distinct + 1) * sizeof *lru);
    if (!lru || pl_lru_curve(ids, n, distinct, lru) != 0)
        abort();
    for (uint32_t k = 1; k <= MAX_FRAMES; k++) {
        uint64_t faults[PL_POLICY_COUNT];
        for (int p = 0; p < PL_POLICY_COUNT; p++) {
            struct pl_policy_result r;
            if (pl_policy_simulate((enum pl_policy)p, ids, n, distinct, k, &r, NULL) != 0)
                abort();
            if (r.faults < distinct || r.faults > n || r.evictions > r.faults)
                abort();
            faults[p] = r.faults;
        }
        for (int p = 0; p < PL_POLICY_COUNT; p++)
            if (faults[PL_POLICY_OPT] > faults[p])
                abort();
        if (faults[PL_POLICY_LRU] != lru[k < distinct ? k : distinct])
            abort();
    }
    free(lru);
}

/* Reads text[0..size) in one sweep of pl_refs_next, newlines and all;
 * aborts unless it agrees with what pl_refstring_parse made of it, line by
 * line: rc and err, and the pages in rs. */
static void check_one_sweep(const char *text, size_t size, int rc, const struct pl_refstring_error *err,
                            const struct pl_refstring *rs)
{
    const char *p = text, *end = text + size;
    const uint32_t *ids = pl_refstring_ids(rs);
    size_t n = 0, len = pl_refstring_len(rs);
    uint64_t page;
    char msg[128];
    int r;
    while ((r = pl_refs_next(&p, end, &page, msg, sizeof msg)) == 1) {
        if (n >= len || pl_refstring_page(rs, ids[n]) != page)
            abort();
        n++;
    }
    if (n != len)
        abort();
    if (r == 0) {
        if (rc != 0 || p != end)
            abort();
        return;
    }
    if (r != PL_EPARSE || rc != PL_EPARSE || strcmp(msg, err->msg) != 0 || p >= end)
        abort();
    uint32_t line = 1;
    for (const char *q = text; q < p; q++)
        line += *q == '\n';
    if (line != err->line)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pl_refstring *rs = pl_refstring_new();
    if (!rs)
        abort();
    struct pl_refstring_error err;
    int rc = pl_refstring_parse(rs, (const char *)data, size, &err);
    check_one_sweep((const char *)data, size, rc, &err, rs);
    if (rc) {
        if (rc != PL_EPARSE || err.line == 0 || err.msg[0] == '\0')
            abort();
        pl_refstring_free(rs);
        return 0;
    }
    if (pl_refstring_len(rs) <= MAX_REFS) {
        check_policies(rs);
        static const enum pl_policy all[] = {PL_POLICY_FIFO, PL_POLICY_LRU, PL_POLICY_CLOCK,
                                             PL_POLICY_ACTIVE, PL_POLICY_OPT};
        uint32_t *sizes;
        size_t nsizes;
        struct pl_curve *c;
        if (pl_curve_default_sizes(pl_refstring_distinct(rs), &sizes, &nsizes) != 0 ||
            pl_curve_compute(pl_refstring_ids(rs), pl_refstring_len(rs), pl_refstring_distinct(rs), all,
                             PL_POLICY_COUNT, sizes, nsizes, &c) != 0)
            abort();
        struct pl_curve_svg_options opt = {.title = "fuzz", .log_x = size % 2 == 0};
        if (pl_curve_write_csv(c, sink()) || pl_curve_write_table(c, sink()) || pl_curve_write_svg(c, sink(), &opt))
            abort();
        pl_curve_free(c);
        free(sizes);
    }
    pl_refstring_free(rs);
    return 0;
}
