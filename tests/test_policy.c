/* Tests of src/trace/policy.c: the textbook results, hand-worked eviction
 * orders, and properties on random strings against reference definitions. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/policy.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Belady's anomaly string, and Silberschatz's classic one (Operating
 * System Concepts, figures 10.12-10.16). */
static const uint32_t belady[] = {1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5};
static const uint32_t classic[] = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1};

/* Returns the fault count of policy p on ids with frames frames (page
 * numbers are used as ids, so npages is one more than the largest). */
static uint64_t faults_of(enum pl_policy p, const uint32_t *ids, size_t n, uint32_t frames)
{
    uint32_t npages = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] + 1 > npages)
            npages = ids[i] + 1;
    struct pl_policy_result r;
    cr_assert_eq(pl_policy_simulate(p, ids, n, npages, frames, &r, NULL), 0);
    return r.faults;
}

/* Simulates and checks the eviction order against want[0..nwant). */
static void expect_evictions(enum pl_policy p, const uint32_t *ids, size_t n, uint32_t npages, uint32_t frames,
                             uint64_t faults, const uint32_t *want, size_t nwant)
{
    uint32_t evicted[64];
    cr_assert_leq(n, LEN(evicted));
    struct pl_policy_result r;
    cr_assert_eq(pl_policy_simulate(p, ids, n, npages, frames, &r, evicted), 0);
    cr_expect_eq(r.faults, faults, "%s: %llu faults, want %llu", pl_policy_name(p),
                 (unsigned long long)r.faults, (unsigned long long)faults);
    cr_assert_eq(r.evictions, nwant, "%s: %llu evictions, want %zu", pl_policy_name(p),
                 (unsigned long long)r.evictions, nwant);
    for (size_t i = 0; i < nwant; i++)
        cr_expect_eq(evicted[i], want[i], "%s: eviction %zu is page %u, want %u", pl_policy_name(p), i,
                     evicted[i], want[i]);
}

Test(policy, fifo_shows_beladys_anomaly_9_faults_with_3_frames_10_with_4)
{
    cr_expect_eq(faults_of(PL_POLICY_FIFO, belady, LEN(belady), 3), 9);
    cr_expect_eq(faults_of(PL_POLICY_FIFO, belady, LEN(belady), 4), 10);
}

Test(policy, lru_and_opt_have_no_anomaly_on_beladys_string)
{
    cr_expect_eq(faults_of(PL_POLICY_LRU, belady, LEN(belady), 3), 10);
    cr_expect_eq(faults_of(PL_POLICY_LRU, belady, LEN(belady), 4), 8);
    cr_expect_eq(faults_of(PL_POLICY_OPT, belady, LEN(belady), 3), 7);
    cr_expect_eq(faults_of(PL_POLICY_OPT, belady, LEN(belady), 4), 6);
}

Test(policy, classic_string_with_3_frames_fifo_15_lru_12_opt_9)
{
    cr_expect_eq(faults_of(PL_POLICY_FIFO, classic, LEN(classic), 3), 15);
    cr_expect_eq(faults_of(PL_POLICY_LRU, classic, LEN(classic), 3), 12);
    cr_expect_eq(faults_of(PL_POLICY_OPT, classic, LEN(classic), 3), 9);
}

Test(policy, opt_is_at_most_lru_on_the_classic_strings_for_every_size)
{
    for (uint32_t k = 1; k <= 8; k++) {
        cr_expect_leq(faults_of(PL_POLICY_OPT, classic, LEN(classic), k),
                      faults_of(PL_POLICY_LRU, classic, LEN(classic), k), "classic, %u frames", k);
        cr_expect_leq(faults_of(PL_POLICY_OPT, belady, LEN(belady), k),
                      faults_of(PL_POLICY_LRU, belady, LEN(belady), k), "belady, %u frames", k);
    }
}

Test(policy, classic_string_eviction_orders_match_the_textbook_figures)
{
    static const uint32_t fifo[] = {7, 0, 1, 2, 3, 0, 4, 2, 3, 0, 1, 2};
    static const uint32_t lru[] = {7, 1, 2, 3, 0, 4, 0, 3, 2};
    static const uint32_t opt[] = {7, 1, 0, 4, 3, 2};
    expect_evictions(PL_POLICY_FIFO, classic, LEN(classic), 8, 3, 15, fifo, LEN(fifo));
    expect_evictions(PL_POLICY_LRU, classic, LEN(classic), 8, 3, 12, lru, LEN(lru));
    expect_evictions(PL_POLICY_OPT, classic, LEN(classic), 8, 3, 9, opt, LEN(opt));
}

/* Worked by hand in docs/trace-curve.md: after filling, the first sweep
 * clears every bit and takes frame 0 (page 1); the hit on 2 saves it from
 * the next sweep, which takes 3 instead; FIFO would evict 1 2 3 4. */
Test(policy, clock_gives_a_referenced_page_a_second_chance)
{
    static const uint32_t s[] = {1, 2, 3, 4, 2, 5, 1, 6};
    static const uint32_t want[] = {1, 3, 2, 4};
    static const uint32_t fifo[] = {1, 2, 3, 4};
    expect_evictions(PL_POLICY_CLOCK, s, LEN(s), 8, 3, 7, want, LEN(want));
    expect_evictions(PL_POLICY_FIFO, s, LEN(s), 8, 3, 7, fifo, LEN(fifo));
}

Test(policy, clock_with_every_bit_set_degenerates_to_fifo)
{
    /* No hits: every page's bit is set only by its own fault. */
    static const uint32_t s[] = {1, 2, 3, 4, 5, 1, 2, 6};
    static const uint32_t want[] = {1, 2, 3, 4, 5};
    expect_evictions(PL_POLICY_CLOCK, s, LEN(s), 8, 3, 8, want, LEN(want));
}

/* Worked by hand in docs/trace-curve.md, 4 frames. Pages 1 and 2 are
 * promoted by their second references; 3 and 4 are evicted from the
 * inactive tail; at the fault on 7 the active list (3 2 1) outnumbers the
 * inactive (6): 1, referenced, rotates; 2 is demoted; 6 is evicted. */
Test(policy, active_inactive_promotes_on_second_reference_and_demotes_when_active_is_larger)
{
    static const uint32_t s[] = {1, 2, 3, 4, 1, 2, 5, 3, 1, 6, 3, 7, 2, 8, 1, 9};
    static const uint32_t want[] = {3, 4, 5, 6, 7, 3};
    expect_evictions(PL_POLICY_ACTIVE, s, LEN(s), 10, 4, 10, want, LEN(want));
}

Test(policy, active_inactive_with_one_frame_evicts_the_only_page)
{
    static const uint32_t s[] = {1, 1, 2, 2, 1};
    static const uint32_t want[] = {1, 2};
    expect_evictions(PL_POLICY_ACTIVE, s, LEN(s), 3, 1, 3, want, LEN(want));
}

Test(policy, opt_breaks_ties_among_pages_never_used_again_by_least_recent_use)
{
    static const uint32_t s[] = {1, 2, 3, 4};
    static const uint32_t want[] = {1, 2};
    expect_evictions(PL_POLICY_OPT, s, LEN(s), 5, 2, 4, want, LEN(want));
    static const uint32_t t[] = {1, 2, 1, 3, 4};
    static const uint32_t want_t[] = {2, 1};
    expect_evictions(PL_POLICY_OPT, t, LEN(t), 5, 2, 4, want_t, LEN(want_t));
}

Test(policy, frames_beyond_the_page_count_only_take_cold_faults)
{
    for (int p = 0; p < PL_POLICY_COUNT; p++) {
        cr_expect_eq(faults_of((enum pl_policy)p, classic, LEN(classic), 6), 6, "%s", pl_policy_name(p));
        cr_expect_eq(faults_of((enum pl_policy)p, classic, LEN(classic), 1000000), 6, "%s", pl_policy_name(p));
    }
}

Test(policy, bad_arguments_are_refused)
{
    struct pl_policy_result r;
    cr_expect_eq(pl_policy_simulate(PL_POLICY_LRU, classic, LEN(classic), 8, 0, &r, NULL), PL_EINVAL);
    cr_expect_eq(pl_policy_simulate(PL_POLICY_LRU, classic, LEN(classic), 7, 3, &r, NULL), PL_EINVAL);
    cr_expect_eq(pl_policy_simulate(PL_POLICY_COUNT, classic, LEN(classic), 8, 3, &r, NULL), PL_EINVAL);
    cr_expect_eq(pl_policy_simulate(PL_POLICY_OPT, NULL, 0, 0, 3, &r, NULL), 0);
    cr_expect_eq(r.faults, 0);
    uint64_t curve[8];
    cr_expect_eq(pl_lru_curve(classic, LEN(classic), 7, curve), PL_EINVAL);
}

Test(policy, names_round_trip)
{
    for (int p = 0; p < PL_POLICY_COUNT; p++) {
        enum pl_policy back;
        cr_assert_eq(pl_policy_parse(pl_policy_name((enum pl_policy)p), &back), 0);
        cr_expect_eq(back, p);
    }
    enum pl_policy x;
    cr_expect_eq(pl_policy_parse("LRU", &x), PL_EINVAL);
    cr_expect_eq(pl_policy_parse("", &x), PL_EINVAL);
    cr_expect_null(pl_policy_name(PL_POLICY_COUNT));
}

Test(policy, lru_curve_of_the_classic_string)
{
    uint64_t curve[9];
    cr_assert_eq(pl_lru_curve(classic, LEN(classic), 8, curve), 0);
    /* Pages 5 and 6 never occur: 6 distinct pages. */
    static const uint64_t want[9] = {20, 20, 17, 12, 8, 7, 6, 6, 6};
    for (int k = 0; k <= 8; k++)
        cr_expect_eq(curve[k], want[k], "%d frames: %llu", k, (unsigned long long)curve[k]);
}

/* A deterministic generator (xorshift64*) for the property tests. */
static uint64_t rng_state;

static uint32_t rng_below(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 33) % n;
}

/* Fills ids with a random string over npages pages: uniform, or with a
 * small hot set referenced most of the time (so that hits happen at every
 * size), or in loops (LRU's worst case). */
static void random_string(uint32_t *ids, size_t n, uint32_t npages, int shape)
{
    uint32_t hot = npages / 4 + 1;
    for (size_t i = 0; i < n; i++) {
        if (shape == 0)
            ids[i] = rng_below(npages);
        else if (shape == 1)
            ids[i] = rng_below(10) < 8 ? rng_below(hot) : rng_below(npages);
        else
            ids[i] = (uint32_t)(i % npages);
    }
}

Test(policy, lru_stack_distance_curve_equals_per_size_simulation_on_random_strings)
{
    rng_state = 0x9e3779b97f4a7c15ull;
    uint32_t ids[400];
    uint64_t curve[41];
    for (int round = 0; round < 150; round++) {
        uint32_t npages = 1 + rng_below(40);
        size_t n = rng_below(LEN(ids) + 1);
        random_string(ids, n, npages, round % 3);
        cr_assert_eq(pl_lru_curve(ids, n, npages, curve), 0);
        cr_expect_eq(curve[0], n);
        for (uint32_t k = 1; k <= npages; k++) {
            struct pl_policy_result r;
            cr_assert_eq(pl_policy_simulate(PL_POLICY_LRU, ids, n, npages, k, &r, NULL), 0);
            cr_assert_eq(curve[k], r.faults, "round %d, %u pages, %zu refs, %u frames: curve %llu, simulation %llu",
                         round, npages, n, k, (unsigned long long)curve[k], (unsigned long long)r.faults);
            cr_assert_leq(curve[k], curve[k - 1], "LRU has the inclusion property");
        }
    }
}

Test(policy, opt_is_at_most_every_policy_for_every_size_on_random_strings)
{
    rng_state = 12345;
    uint32_t ids[300];
    for (int round = 0; round < 120; round++) {
        uint32_t npages = 1 + rng_below(24);
        size_t n = 1 + rng_below(LEN(ids));
        random_string(ids, n, npages, round % 3);
        uint32_t distinct = 0;
        uint8_t seen[24] = {0};
        for (size_t i = 0; i < n; i++)
            if (!seen[ids[i]]) {
                seen[ids[i]] = 1;
                distinct++;
            }
        for (uint32_t k = 1; k <= npages + 1; k++) {
            uint64_t f[PL_POLICY_COUNT];
            for (int p = 0; p < PL_POLICY_COUNT; p++) {
                struct pl_policy_result r;
                cr_assert_eq(pl_policy_simulate((enum pl_policy)p, ids, n, npages, k, &r, NULL), 0);
                f[p] = r.faults;
                /* Every fault evicts once memory is full, never before. */
                uint32_t filled = k < distinct ? k : distinct;
                cr_assert_eq(r.evictions, r.faults - filled, "%s", pl_policy_name(p));
                cr_assert_geq(r.faults, distinct);
            }
            for (int p = 0; p < PL_POLICY_COUNT; p++)
                cr_assert_leq(f[PL_POLICY_OPT], f[p], "round %d, %u frames: opt %llu > %s %llu", round, k,
                              (unsigned long long)f[PL_POLICY_OPT], pl_policy_name(p),
                              (unsigned long long)f[p]);
        }
    }
}

/* A page is evicted only while resident, and never the page being
 * referenced: replaying the eviction sequence keeps a consistent resident
 * set of at most k pages, in which every reference is found after its
 * fault. */
Test(policy, eviction_sequences_are_consistent_with_the_fault_count)
{
    rng_state = 777;
    uint32_t ids[200], evicted[200];
    for (int round = 0; round < 60; round++) {
        uint32_t npages = 1 + rng_below(16), k = 1 + rng_below(8);
        size_t n = 1 + rng_below(LEN(ids));
        random_string(ids, n, npages, round % 3);
        for (int p = 0; p < PL_POLICY_COUNT; p++) {
            struct pl_policy_result r;
            cr_assert_eq(pl_policy_simulate((enum pl_policy)p, ids, n, npages, k, &r, evicted), 0);
            uint8_t resident[16] = {0};
            uint32_t count = 0;
            size_t next_eviction = 0;
            uint64_t faults = 0;
            for (size_t i = 0; i < n; i++) {
                if (resident[ids[i]])
                    continue;
                faults++;
                if (count == k) {
                    cr_assert_lt(next_eviction, r.evictions);
                    uint32_t v = evicted[next_eviction++];
                    cr_assert(resident[v], "%s evicts absent page %u", pl_policy_name(p), v);
                    resident[v] = 0;
                    count--;
                }
                resident[ids[i]] = 1;
                count++;
            }
            cr_assert_eq(faults, r.faults, "%s", pl_policy_name(p));
            cr_assert_eq(next_eviction, r.evictions);
        }
    }
}

Test(refstring, pages_become_dense_ids_in_order_of_first_appearance)
{
    struct pl_refstring *rs = pl_refstring_new();
    cr_assert_not_null(rs);
    static const uint64_t pages[] = {0xffffffffffffffffull, 7, 0, 7, 0xffffffffffffffffull, 1ull << 40};
    for (size_t i = 0; i < LEN(pages); i++)
        cr_assert_eq(pl_refstring_append(rs, pages[i]), 0);
    static const uint32_t want[] = {0, 1, 2, 1, 0, 3};
    cr_assert_eq(pl_refstring_len(rs), LEN(want));
    cr_assert_eq(pl_refstring_distinct(rs), 4);
    for (size_t i = 0; i < LEN(want); i++)
        cr_expect_eq(pl_refstring_ids(rs)[i], want[i]);
    cr_expect_eq(pl_refstring_page(rs, 0), 0xffffffffffffffffull);
    cr_expect_eq(pl_refstring_page(rs, 3), 1ull << 40);
    pl_refstring_free(rs);
}

Test(refstring, many_pages_survive_rehashing)
{
    struct pl_refstring *rs = pl_refstring_new();
    for (uint64_t i = 0; i < 100000; i++)
        cr_assert_eq(pl_refstring_append(rs, (i % 50000) << 12), 0);
    cr_assert_eq(pl_refstring_distinct(rs), 50000);
    cr_assert_eq(pl_refstring_len(rs), 100000);
    for (uint32_t i = 0; i < 100000; i += 997)
        cr_expect_eq(pl_refstring_ids(rs)[i], i % 50000);
    cr_expect_eq(pl_refstring_page(rs, 49999), 49999ull << 12);
    pl_refstring_free(rs);
}

Test(refstring, parse_reads_numbers_comments_and_hex)
{
    struct pl_refstring *rs = pl_refstring_new();
    struct pl_refstring_error err;
    const char *text = "# a textbook string\n1 2 3\n\t4\r\n0x10 # sixteen\n\n18446744073709551615";
    cr_assert_eq(pl_refstring_parse(rs, text, strlen(text), &err), 0);
    static const uint64_t want[] = {1, 2, 3, 4, 16, UINT64_MAX};
    cr_assert_eq(pl_refstring_len(rs), LEN(want));
    for (size_t i = 0; i < LEN(want); i++)
        cr_expect_eq(pl_refstring_page(rs, pl_refstring_ids(rs)[i]), want[i]);
    pl_refstring_free(rs);
}

/* Parses text into a fresh string; expects PL_EPARSE at line with msg. */
static void expect_parse_error(const char *text, size_t len, uint32_t line, const char *msg)
{
    struct pl_refstring *rs = pl_refstring_new();
    struct pl_refstring_error err;
    cr_assert_eq(pl_refstring_parse(rs, text, len, &err), PL_EPARSE, "%s", text);
    cr_expect_eq(err.line, line, "'%s': line %u", text, err.line);
    cr_expect_str_eq(err.msg, msg);
    pl_refstring_free(rs);
}

Test(refstring, parse_errors_name_the_line)
{
    expect_parse_error("1\n2\nx3\n", 6, 3, "bad page number 'x3' (expected decimal or 0x hexadecimal)");
    expect_parse_error("1 -2", 4, 1, "bad page number '-2' (expected decimal or 0x hexadecimal)");
    expect_parse_error("0x1g", 4, 1, "bad page number '0x1g' (expected decimal or 0x hexadecimal)");
    expect_parse_error("\n18446744073709551616", 21, 2, "page number '18446744073709551616' does not fit in 64 bits");
    expect_parse_error("1\n2\0003", 5, 2, "NUL byte in a reference string");
    expect_parse_error("1 # \0 in a comment\n2 0x\n", 24, 2,
                       "bad page number '0x' (expected decimal or 0x hexadecimal)");
    expect_parse_error("#\n#\n\n\n4\x7f", 8, 5, "bad page number '4\\x7f' (expected decimal or 0x hexadecimal)");
}

Test(refstring, parse_keeps_the_numbers_before_the_bad_token)
{
    struct pl_refstring *rs = pl_refstring_new();
    struct pl_refstring_error err;
    const char *text = "10 20\n30 x 40\n50\n";
    cr_assert_eq(pl_refstring_parse(rs, text, strlen(text), &err), PL_EPARSE);
    cr_expect_eq(err.line, 2);
    cr_assert_eq(pl_refstring_len(rs), 3);
    cr_expect_eq(pl_refstring_page(rs, pl_refstring_ids(rs)[2]), 30);
    pl_refstring_free(rs);
}

Test(refstring, parse_of_an_empty_or_comment_only_text_appends_nothing)
{
    struct pl_refstring *rs = pl_refstring_new();
    struct pl_refstring_error err;
    cr_assert_eq(pl_refstring_parse(rs, "", 0, &err), 0);
    cr_assert_eq(pl_refstring_parse(rs, "# nothing\n\n  \t\r\n# 1 2 3", 23, &err), 0);
    cr_expect_eq(pl_refstring_len(rs), 0);
    cr_expect_eq(err.line, 0);
    pl_refstring_free(rs);
}
