/* os/vma: lookups, insert/remove/protect with splitting and merging, gap
 * finding, the checker, and a property test against a per-page model. */
#include <criterion/criterion.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/vma.h"

#define PG PL_VMA_PAGE_SIZE
#define RW (PL_PROT_READ | PL_PROT_WRITE)
#define RO PL_PROT_READ
#define ANON (PL_MAP_PRIVATE | PL_MAP_ANONYMOUS)
#define SHANON (PL_MAP_SHARED | PL_MAP_ANONYMOUS)

static struct pl_vma_set *set;

static void setup(void) { set = pl_vma_set_new(); cr_assert_not_null(set); }
static void teardown(void) { pl_vma_set_free(set); }

TestSuite(vma, .init = setup, .fini = teardown);

/* Region [a, b) in pages, anonymous private. */
static struct pl_vma anon(uint64_t a, uint64_t b, uint32_t prot)
{
    return (struct pl_vma){.start = a * PG, .end = b * PG, .prot = prot, .flags = ANON};
}

static struct pl_vma shared(uint64_t a, uint64_t b, uint32_t prot, void *obj, uint64_t off)
{
    return (struct pl_vma){
        .start = a * PG, .end = b * PG, .prot = prot, .flags = SHANON, .object = obj, .offset = off};
}

static void add(struct pl_vma v) { cr_assert_eq(pl_vma_insert(set, &v, false, NULL, NULL), 0); }

/* Expected region: pages [a, b), prot, object offset. */
struct want {
    uint64_t a, b;
    uint32_t prot;
    uint64_t offset;
};

/* Asserts the set is exactly `want` (in order) and passes the checker. */
static void expect_regions(const struct want *want, size_t n)
{
    const char *why = NULL;
    cr_assert_eq(pl_vma_set_check(set, &why), 0, "checker: %s", why ? why : "");
    cr_assert_eq(pl_vma_set_count(set), n, "count %llu, want %zu",
        (unsigned long long)pl_vma_set_count(set), n);
    const struct pl_vma *v = pl_vma_first(set);
    for (size_t i = 0; i < n; i++, v = pl_vma_next(set, v)) {
        cr_assert_not_null(v, "region %zu missing", i);
        cr_assert_eq(v->start, want[i].a * PG, "region %zu start %#llx", i, (unsigned long long)v->start);
        cr_assert_eq(v->end, want[i].b * PG, "region %zu end %#llx", i, (unsigned long long)v->end);
        cr_assert_eq(v->prot, want[i].prot, "region %zu prot %u", i, v->prot);
        cr_assert_eq(v->offset, want[i].offset, "region %zu offset %llu", i, (unsigned long long)v->offset);
    }
    cr_assert_null(v);
}

#define EXPECT(...)                                                   \
    do {                                                              \
        const struct want w_[] = {__VA_ARGS__};                       \
        expect_regions(w_, sizeof w_ / sizeof w_[0]);                 \
    } while (0)

/* Removed pieces, as reported. */
struct pieces {
    struct pl_vma p[16];
    int n;
};

static void collect(void *ctx, const struct pl_vma *piece)
{
    struct pieces *ps = ctx;
    cr_assert_lt(ps->n, 16);
    ps->p[ps->n++] = *piece;
}

static void expect_piece(const struct pieces *ps, int i, uint64_t a, uint64_t b, uint32_t prot,
    uint64_t offset)
{
    cr_assert_lt(i, ps->n);
    cr_assert_eq(ps->p[i].start, a * PG, "piece %d start %#llx", i, (unsigned long long)ps->p[i].start);
    cr_assert_eq(ps->p[i].end, b * PG, "piece %d end %#llx", i, (unsigned long long)ps->p[i].end);
    cr_assert_eq(ps->p[i].prot, prot);
    cr_assert_eq(ps->p[i].offset, offset);
}

/* ---- Lookups ------------------------------------------------------------ */

Test(vma, empty_set_finds_nothing)
{
    cr_assert_eq(pl_vma_set_count(set), 0);
    cr_assert_null(pl_vma_find(set, 0));
    cr_assert_null(pl_vma_find(set, 0x1000));
    cr_assert_null(pl_vma_first(set));
    cr_assert_null(pl_vma_last(set));
    cr_assert_null(pl_vma_first_in(set, 0, UINT64_MAX));
    cr_assert_eq(pl_vma_set_check(set, NULL), 0);
}

Test(vma, find_returns_the_region_containing_the_address_only)
{
    add(anon(10, 20, RW));
    add(anon(30, 31, RO));
    const struct pl_vma *v = pl_vma_find(set, 10 * PG);
    cr_assert_not_null(v);
    cr_assert_eq(v->start, 10 * PG);
    cr_assert_eq(v->end, 20 * PG);
    cr_assert_eq(pl_vma_find(set, 20 * PG - 1), v);
    cr_assert_null(pl_vma_find(set, 20 * PG), "end is exclusive");
    cr_assert_null(pl_vma_find(set, 10 * PG - 1));
    cr_assert_eq(pl_vma_find(set, 30 * PG + 5)->prot, RO);
    cr_assert_null(pl_vma_find(set, 31 * PG));
}

Test(vma, first_in_returns_the_lowest_intersecting_region)
{
    add(anon(10, 20, RW));
    add(anon(30, 40, RO));
    cr_assert_eq(pl_vma_first_in(set, 0, 11 * PG)->start, 10 * PG);
    cr_assert_null(pl_vma_first_in(set, 0, 10 * PG), "[0, 10) ends where the region starts");
    cr_assert_eq(pl_vma_first_in(set, 19 * PG, 35 * PG)->start, 10 * PG);
    cr_assert_eq(pl_vma_first_in(set, 20 * PG, 35 * PG)->start, 30 * PG);
    cr_assert_null(pl_vma_first_in(set, 20 * PG, 30 * PG));
    cr_assert_null(pl_vma_first_in(set, 40 * PG, UINT64_MAX));
    cr_assert_null(pl_vma_first_in(set, 15 * PG, 15 * PG), "empty range");
}

Test(vma, iteration_visits_regions_in_address_order_both_ways)
{
    const uint64_t order[] = {50, 10, 90, 30, 70, 20, 80, 40, 60, 0};
    for (size_t i = 0; i < 10; i++)
        add(anon(order[i], order[i] + 5, (uint32_t)(i % 2 ? RO : RW)));
    uint64_t expect = 0;
    size_t seen = 0;
    for (const struct pl_vma *v = pl_vma_first(set); v; v = pl_vma_next(set, v), expect += 10, seen++)
        cr_assert_eq(v->start, expect * PG);
    cr_assert_eq(seen, 10);
    expect = 90;
    for (const struct pl_vma *v = pl_vma_last(set); v; v = pl_vma_prev(set, v), expect -= 10, seen--)
        cr_assert_eq(v->start, expect * PG);
    cr_assert_eq(seen, 0);
}

/* ---- Insert --------------------------------------------------------------- */

Test(vma, insert_merges_with_a_compatible_neighbour_on_either_side)
{
    add(anon(10, 20, RW));
    add(anon(20, 25, RW));
    EXPECT({10, 25, RW, 0});
    add(anon(5, 10, RW));
    EXPECT({5, 25, RW, 0});
}

Test(vma, insert_filling_a_hole_merges_three_regions_into_one)
{
    add(anon(10, 20, RW));
    add(anon(30, 40, RW));
    add(anon(20, 30, RW));
    EXPECT({10, 40, RW, 0});
}

Test(vma, insert_keeps_incompatible_neighbours_apart)
{
    int obj;
    add(anon(10, 20, RW));
    add(anon(20, 30, RO));
    struct pl_vma keyed = anon(30, 40, RO);
    keyed.pkey = 3;
    add(keyed);
    add(shared(40, 50, RO, &obj, 0));
    struct pl_vma exec = anon(50, 60, RO | PL_PROT_EXEC);
    add(exec);
    struct pl_vma sh = anon(60, 70, RO | PL_PROT_EXEC);
    sh.flags = SHANON;
    add(sh);
    EXPECT({10, 20, RW, 0}, {20, 30, RO, 0}, {30, 40, RO, 0}, {40, 50, RO, 0},
        {50, 60, RO | PL_PROT_EXEC, 0}, {60, 70, RO | PL_PROT_EXEC, 0});
}

Test(vma, object_regions_merge_only_with_contiguous_offsets_of_the_same_object)
{
    int a, b;
    add(shared(10, 20, RW, &a, 100));
    add(shared(20, 30, RW, &a, 110));
    EXPECT({10, 30, RW, 100});
    add(shared(30, 40, RW, &a, 200));
    add(shared(40, 50, RW, &b, 130));
    EXPECT({10, 30, RW, 100}, {30, 40, RW, 200}, {40, 50, RW, 130});
    add(shared(5, 10, RW, &a, 95));
    EXPECT({5, 30, RW, 95}, {30, 40, RW, 200}, {40, 50, RW, 130});
}

Test(vma, anonymous_private_offset_is_ignored_and_stored_as_zero)
{
    struct pl_vma v = anon(10, 20, RW);
    v.offset = 77;
    add(v);
    v = anon(20, 30, RW);
    v.offset = 5;
    add(v);
    EXPECT({10, 30, RW, 0});
}

Test(vma, overlapping_insert_is_refused_and_changes_nothing)
{
    add(anon(10, 20, RW));
    add(anon(30, 40, RO));
    struct pl_vma v = anon(19, 21, RW);
    cr_assert_eq(pl_vma_insert(set, &v, false, NULL, NULL), PL_ERANGE);
    v = anon(0, 100, RW);
    cr_assert_eq(pl_vma_insert(set, &v, false, NULL, NULL), PL_ERANGE);
    v = anon(35, 36, RO);
    cr_assert_eq(pl_vma_insert(set, &v, false, NULL, NULL), PL_ERANGE);
    EXPECT({10, 20, RW, 0}, {30, 40, RO, 0});
}

Test(vma, malformed_regions_are_refused)
{
    int obj;
    struct pl_vma bad[] = {
        {.start = 0x1000, .end = 0x1000, .prot = RW, .flags = ANON},
        {.start = 0x2000, .end = 0x1000, .prot = RW, .flags = ANON},
        {.start = 0x1001, .end = 0x2000, .prot = RW, .flags = ANON},
        {.start = 0x1000, .end = 0x2800, .prot = RW, .flags = ANON},
        {.start = 0x1000, .end = 0x2000, .prot = 8, .flags = ANON},
        {.start = 0x1000, .end = 0x2000, .prot = RW, .flags = PL_MAP_ANONYMOUS},
        {.start = 0x1000, .end = 0x2000, .prot = RW, .flags = PL_MAP_SHARED | PL_MAP_PRIVATE},
        {.start = 0x1000, .end = 0x2000, .prot = RW, .flags = ANON | PL_MAP_FIXED},
        {.start = 0x1000, .end = 0x2000, .prot = RW, .flags = ANON, .pkey = 16},
        {.start = 0x1000, .end = 0x3000, .prot = RW, .flags = SHANON, .object = &obj,
            .offset = UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(pl_vma_insert(set, &bad[i], false, NULL, NULL), PL_EINVAL, "case %zu", i);
        cr_assert_eq(pl_vma_insert(set, &bad[i], true, NULL, NULL), PL_EINVAL, "case %zu", i);
    }
    cr_assert_eq(pl_vma_set_count(set), 0);
}

Test(vma, fixed_insert_inside_a_region_splits_it_and_reports_the_replaced_piece)
{
    int obj;
    add(shared(10, 20, RW, &obj, 100));
    struct pl_vma v = anon(13, 15, RO);
    struct pieces ps = {0};
    cr_assert_eq(pl_vma_insert(set, &v, true, collect, &ps), 0);
    cr_assert_eq(ps.n, 1);
    expect_piece(&ps, 0, 13, 15, RW, 103);
    cr_assert_eq(ps.p[0].object, &obj);
    EXPECT({10, 13, RW, 100}, {13, 15, RO, 0}, {15, 20, RW, 105});
}

Test(vma, fixed_insert_across_regions_reports_every_piece_in_order)
{
    int obj;
    add(anon(10, 20, RW));
    add(shared(20, 30, RO, &obj, 0));
    add(anon(35, 40, RW));
    add(anon(45, 50, RO));
    struct pl_vma v = anon(15, 47, PL_PROT_NONE);
    struct pieces ps = {0};
    cr_assert_eq(pl_vma_insert(set, &v, true, collect, &ps), 0);
    cr_assert_eq(ps.n, 4);
    expect_piece(&ps, 0, 15, 20, RW, 0);
    expect_piece(&ps, 1, 20, 30, RO, 0);
    expect_piece(&ps, 2, 35, 40, RW, 0);
    expect_piece(&ps, 3, 45, 47, RO, 0);
    EXPECT({10, 15, RW, 0}, {15, 47, PL_PROT_NONE, 0}, {47, 50, RO, 0});
}

Test(vma, fixed_insert_with_the_same_attributes_merges_back_into_one_region)
{
    add(anon(10, 20, RW));
    struct pl_vma v = anon(12, 18, RW);
    struct pieces ps = {0};
    cr_assert_eq(pl_vma_insert(set, &v, true, collect, &ps), 0);
    cr_assert_eq(ps.n, 1);
    expect_piece(&ps, 0, 12, 18, RW, 0);
    EXPECT({10, 20, RW, 0});
}

Test(vma, fixed_insert_into_free_space_reports_nothing)
{
    add(anon(10, 20, RW));
    struct pl_vma v = anon(30, 40, RW);
    struct pieces ps = {0};
    cr_assert_eq(pl_vma_insert(set, &v, true, collect, &ps), 0);
    cr_assert_eq(ps.n, 0);
    EXPECT({10, 20, RW, 0}, {30, 40, RW, 0});
}

/* ---- Remove --------------------------------------------------------------- */

Test(vma, remove_from_the_middle_leaves_two_regions_with_right_offsets)
{
    int obj;
    add(shared(10, 20, RW, &obj, 7));
    struct pieces ps = {0};
    cr_assert_eq(pl_vma_remove(set, 12 * PG, 14 * PG, collect, &ps), 0);
    cr_assert_eq(ps.n, 1);
    expect_piece(&ps, 0, 12, 14, RW, 9);
    EXPECT({10, 12, RW, 7}, {14, 20, RW, 11});
}

Test(vma, remove_across_regions_trims_edges_and_drops_the_inside)
{
    add(anon(10, 20, RW));
    add(anon(25, 30, RO));
    add(anon(30, 40, RW));
    add(anon(50, 60, RO));
    struct pieces ps = {0};
    cr_assert_eq(pl_vma_remove(set, 15 * PG, 55 * PG, collect, &ps), 0);
    cr_assert_eq(ps.n, 4);
    expect_piece(&ps, 0, 15, 20, RW, 0);
    expect_piece(&ps, 1, 25, 30, RO, 0);
    expect_piece(&ps, 2, 30, 40, RW, 0);
    expect_piece(&ps, 3, 50, 55, RO, 0);
    EXPECT({10, 15, RW, 0}, {55, 60, RO, 0});
}

Test(vma, remove_of_exact_regions_and_of_free_space)
{
    add(anon(10, 20, RW));
    add(anon(30, 40, RO));
    struct pieces ps = {0};
    cr_assert_eq(pl_vma_remove(set, 20 * PG, 30 * PG, collect, &ps), 0);
    cr_assert_eq(ps.n, 0);
    cr_assert_eq(pl_vma_remove(set, 10 * PG, 20 * PG, collect, &ps), 0);
    cr_assert_eq(ps.n, 1);
    expect_piece(&ps, 0, 10, 20, RW, 0);
    EXPECT({30, 40, RO, 0});
    cr_assert_eq(pl_vma_remove(set, 0, 0x100000000000, NULL, NULL), 0);
    cr_assert_eq(pl_vma_set_count(set), 0);
}

Test(vma, remove_refuses_unaligned_or_empty_ranges)
{
    add(anon(10, 20, RW));
    cr_assert_eq(pl_vma_remove(set, 10 * PG + 1, 12 * PG, NULL, NULL), PL_EINVAL);
    cr_assert_eq(pl_vma_remove(set, 10 * PG, 12 * PG - 1, NULL, NULL), PL_EINVAL);
    cr_assert_eq(pl_vma_remove(set, 12 * PG, 12 * PG, NULL, NULL), PL_EINVAL);
    cr_assert_eq(pl_vma_remove(set, 12 * PG, 11 * PG, NULL, NULL), PL_EINVAL);
    EXPECT({10, 20, RW, 0});
}

/* ---- Protect -------------------------------------------------------------- */

Test(vma, protect_in_the_middle_splits_into_three_and_back_merges_into_one)
{
    add(anon(10, 20, RW));
    cr_assert_eq(pl_vma_protect(set, 12 * PG, 15 * PG, RO), 0);
    EXPECT({10, 12, RW, 0}, {12, 15, RO, 0}, {15, 20, RW, 0});
    cr_assert_eq(pl_vma_protect(set, 12 * PG, 15 * PG, RW), 0);
    EXPECT({10, 20, RW, 0});
}

Test(vma, protect_at_an_edge_splits_once)
{
    add(anon(10, 20, RW));
    cr_assert_eq(pl_vma_protect(set, 10 * PG, 13 * PG, PL_PROT_NONE), 0);
    EXPECT({10, 13, PL_PROT_NONE, 0}, {13, 20, RW, 0});
    cr_assert_eq(pl_vma_protect(set, 18 * PG, 20 * PG, PL_PROT_NONE), 0);
    EXPECT({10, 13, PL_PROT_NONE, 0}, {13, 18, RW, 0}, {18, 20, PL_PROT_NONE, 0});
}

Test(vma, protect_across_several_regions_merges_them)
{
    add(anon(10, 20, RW));
    add(anon(20, 30, RO));
    add(anon(30, 40, PL_PROT_NONE));
    add(anon(40, 50, RO));
    cr_assert_eq(pl_vma_protect(set, 15 * PG, 45 * PG, RO), 0);
    EXPECT({10, 15, RW, 0}, {15, 50, RO, 0});
}

Test(vma, protect_joins_a_neighbour_touching_the_range)
{
    add(anon(10, 20, RO));
    add(anon(20, 30, RW));
    cr_assert_eq(pl_vma_protect(set, 20 * PG, 25 * PG, RO), 0);
    EXPECT({10, 25, RO, 0}, {25, 30, RW, 0});
    cr_assert_eq(pl_vma_protect(set, 25 * PG, 30 * PG, RO), 0);
    EXPECT({10, 30, RO, 0});
}

Test(vma, protect_with_the_same_rights_changes_nothing)
{
    add(anon(10, 20, RW));
    add(anon(20, 30, RO));
    cr_assert_eq(pl_vma_protect(set, 12 * PG, 25 * PG, RW), 0);
    EXPECT({10, 25, RW, 0}, {25, 30, RO, 0});
    cr_assert_eq(pl_vma_protect(set, 11 * PG, 12 * PG, RW), 0);
    EXPECT({10, 25, RW, 0}, {25, 30, RO, 0});
}

Test(vma, protect_over_unmapped_pages_fails_and_changes_nothing)
{
    add(anon(10, 20, RW));
    add(anon(21, 30, RW));
    cr_assert_eq(pl_vma_protect(set, 15 * PG, 25 * PG, RO), PL_EFAULT);
    cr_assert_eq(pl_vma_protect(set, 5 * PG, 12 * PG, RO), PL_EFAULT);
    cr_assert_eq(pl_vma_protect(set, 25 * PG, 31 * PG, RO), PL_EFAULT);
    cr_assert_eq(pl_vma_protect(set, 40 * PG, 41 * PG, RO), PL_EFAULT);
    EXPECT({10, 20, RW, 0}, {21, 30, RW, 0});
}

Test(vma, protect_refuses_bad_arguments)
{
    add(anon(10, 20, RW));
    cr_assert_eq(pl_vma_protect(set, 10 * PG + 8, 12 * PG, RO), PL_EINVAL);
    cr_assert_eq(pl_vma_protect(set, 12 * PG, 12 * PG, RO), PL_EINVAL);
    cr_assert_eq(pl_vma_protect(set, 10 * PG, 12 * PG, 0x10), PL_EINVAL);
    cr_assert_eq(pl_vma_protect_pkey(set, 10 * PG, 12 * PG, RO, 16), PL_EINVAL);
    EXPECT({10, 20, RW, 0});
}

Test(vma, object_regions_rejoin_after_protect_with_contiguous_offsets)
{
    int obj;
    add(shared(10, 20, RW, &obj, 40));
    cr_assert_eq(pl_vma_protect(set, 14 * PG, 16 * PG, RO), 0);
    EXPECT({10, 14, RW, 40}, {14, 16, RO, 44}, {16, 20, RW, 46});
    cr_assert_eq(pl_vma_protect(set, 14 * PG, 16 * PG, RW), 0);
    EXPECT({10, 20, RW, 40});
}

Test(vma, protect_pkey_sets_the_key_and_plain_protect_keeps_it)
{
    add(anon(10, 20, RW));
    cr_assert_eq(pl_vma_protect_pkey(set, 12 * PG, 14 * PG, RW, 5), 0);
    EXPECT({10, 12, RW, 0}, {12, 14, RW, 0}, {14, 20, RW, 0});
    cr_assert_eq(pl_vma_find(set, 12 * PG)->pkey, 5);
    cr_assert_eq(pl_vma_find(set, 14 * PG)->pkey, 0);
    cr_assert_eq(pl_vma_protect(set, 10 * PG, 20 * PG, RO), 0);
    EXPECT({10, 12, RO, 0}, {12, 14, RO, 0}, {14, 20, RO, 0});
    cr_assert_eq(pl_vma_find(set, 13 * PG)->pkey, 5);
    cr_assert_eq(pl_vma_protect_pkey(set, 12 * PG, 14 * PG, RO, 0), 0);
    EXPECT({10, 20, RO, 0});
}

/* ---- Host memory failure ------------------------------------------------- */

Test(vma, out_of_host_memory_leaves_the_set_unchanged)
{
    struct pl_vma_set *fresh = pl_vma_set_new();
    cr_assert_not_null(fresh);
    struct pl_vma v = anon(10, 20, RW);
    pl_vma_set_fail_alloc_after(fresh, 1);
    cr_assert_eq(pl_vma_insert(fresh, &v, false, NULL, NULL), 0);
    cr_assert_eq(pl_vma_protect(fresh, 12 * PG, 14 * PG, RO), PL_ENOMEM, "a middle split needs two nodes");
    cr_assert_eq(pl_vma_remove(fresh, 12 * PG, 14 * PG, NULL, NULL), PL_ENOMEM);
    v = anon(12, 13, RO);
    cr_assert_eq(pl_vma_insert(fresh, &v, true, NULL, NULL), PL_ENOMEM);
    v = anon(30, 40, RO);
    cr_assert_eq(pl_vma_insert(fresh, &v, false, NULL, NULL), PL_ENOMEM);
    cr_assert_eq(pl_vma_set_count(fresh), 1);
    const struct pl_vma *r = pl_vma_first(fresh);
    cr_assert_eq(r->start, 10 * PG);
    cr_assert_eq(r->end, 20 * PG);
    cr_assert_eq(r->prot, RW);
    cr_assert_eq(pl_vma_set_check(fresh, NULL), 0);
    cr_assert_eq(pl_vma_protect(fresh, 10 * PG, 14 * PG, RW), 0, "no split needed: no allocation");
    cr_assert_eq(pl_vma_remove(fresh, 10 * PG, 12 * PG, NULL, NULL), 0, "an edge needs no new node");
    pl_vma_set_fail_alloc_after(fresh, -1);
    cr_assert_eq(pl_vma_protect(fresh, 14 * PG, 16 * PG, RO), 0);
    cr_assert_eq(pl_vma_set_count(fresh), 3);
    pl_vma_set_free(fresh);
}

/* ---- Gap finding ---------------------------------------------------------- */

static uint64_t gap(uint64_t len, uint64_t hint, uint64_t floor, uint64_t limit)
{
    uint64_t addr = 0xdead;
    int err = pl_vma_find_gap(set, len * PG, hint * PG, floor * PG, limit * PG, &addr);
    cr_assert_eq(err, 0, "find_gap(%llu pages at %llu) = %d", (unsigned long long)len,
        (unsigned long long)hint, err);
    cr_assert_eq(addr % PG, 0);
    return addr / PG;
}

Test(vma, gap_in_an_empty_set_is_at_the_hint)
{
    cr_assert_eq(gap(4, 100, 1, 1000), 100);
    cr_assert_eq(gap(4, 0, 1, 1000), 1, "a hint below the floor starts at the floor");
    cr_assert_eq(gap(4, 996, 1, 1000), 996, "ending exactly at the limit fits");
    cr_assert_eq(gap(4, 997, 1, 1000), 1, "past the limit: searched again from the floor");
}

Test(vma, gap_search_goes_upward_past_regions_and_short_holes)
{
    add(anon(100, 110, RW));
    add(anon(112, 120, RW)); /* hole of 2 pages at 110 */
    add(anon(125, 130, RW)); /* hole of 5 pages at 120 */
    cr_assert_eq(gap(2, 100, 1, 1000), 110);
    cr_assert_eq(gap(3, 100, 1, 1000), 120);
    cr_assert_eq(gap(5, 105, 1, 1000), 120);
    cr_assert_eq(gap(6, 100, 1, 1000), 130);
    cr_assert_eq(gap(3, 121, 1, 1000), 121, "a hint inside a hole that is long enough from there");
    cr_assert_eq(gap(5, 121, 1, 1000), 130);
    cr_assert_eq(gap(4, 50, 1, 1000), 50, "a free hint is taken as is");
    cr_assert_eq(gap(4, 98, 1, 1000), 120, "4 pages at 98 would overlap 100");
}

Test(vma, gap_search_falls_back_below_the_hint)
{
    add(anon(10, 20, RW));
    add(anon(23, 100, RW));
    cr_assert_eq(gap(3, 50, 10, 100), 20);
    cr_assert_eq(gap(10, 50, 0, 100), 0);
    uint64_t addr;
    cr_assert_eq(pl_vma_find_gap(set, 4 * PG, 50 * PG, 10 * PG, 100 * PG, &addr), PL_ERANGE);
}

Test(vma, gap_search_respects_floor_and_limit)
{
    add(anon(10, 20, RW));
    add(anon(30, 40, RW));
    cr_assert_eq(gap(5, 0, 20, 100), 20);
    cr_assert_eq(gap(10, 0, 20, 100), 20);
    cr_assert_eq(gap(11, 0, 20, 100), 40);
    cr_assert_eq(gap(60, 0, 20, 100), 40);
    uint64_t addr;
    cr_assert_eq(pl_vma_find_gap(set, 61 * PG, 0, 20 * PG, 100 * PG, &addr), PL_ERANGE);
    cr_assert_eq(pl_vma_find_gap(set, 11 * PG, 0, 0, 30 * PG, &addr), PL_ERANGE);
    cr_assert_eq(gap(10, 0, 0, 30), 0);
    cr_assert_eq(gap(5, 0, 20, 25), 20, "a hole ending exactly at the limit, before a region");
    cr_assert_eq(gap(5, 0, 15, 25), 20);
    cr_assert_eq(pl_vma_find_gap(set, 200 * PG, 0, 0, 100 * PG, &addr), PL_ERANGE);
}

Test(vma, gap_refuses_bad_arguments)
{
    uint64_t addr;
    cr_assert_eq(pl_vma_find_gap(set, 0, 0, 0, 100 * PG, &addr), PL_EINVAL);
    cr_assert_eq(pl_vma_find_gap(set, PG + 1, 0, 0, 100 * PG, &addr), PL_EINVAL);
    cr_assert_eq(pl_vma_find_gap(set, PG, 0, 1, 100 * PG, &addr), PL_EINVAL);
    cr_assert_eq(pl_vma_find_gap(set, PG, 0, 0, 100 * PG + 1, &addr), PL_EINVAL);
    cr_assert_eq(pl_vma_find_gap(set, PG, 0, 10 * PG, 5 * PG, &addr), PL_EINVAL);
}

Test(vma, unaligned_hint_is_rounded_up)
{
    uint64_t addr;
    cr_assert_eq(pl_vma_find_gap(set, PG, 5 * PG + 1, 0, 100 * PG, &addr), 0);
    cr_assert_eq(addr, 6 * PG);
    cr_assert_eq(pl_vma_find_gap(set, PG, UINT64_MAX, 0, 100 * PG, &addr), 0);
    cr_assert_eq(addr, 0, "a hint that cannot be rounded is ignored");
}

Test(vma, gap_search_in_a_large_set_finds_the_only_hole)
{
    /* 4000 one-page regions at even pages, one-page holes between them;
     * dropping the region at 2468 leaves a single 3-page hole [2467, 2470). */
    for (uint64_t i = 0; i < 4000; i++)
        add(anon(2 * i, 2 * i + 1, (uint32_t)(i % 3)));
    cr_assert_eq(pl_vma_remove(set, 2468 * PG, 2469 * PG, NULL, NULL), 0);
    cr_assert_eq(gap(3, 0, 0, 8000), 2467);
    cr_assert_eq(gap(2, 2470, 0, 8000), 2467, "no 2-page hole above the hint");
    cr_assert_eq(gap(1, 7000, 0, 8000), 7001);
    cr_assert_eq(gap(1, 7999, 0, 8000), 7999);
    uint64_t addr;
    cr_assert_eq(pl_vma_find_gap(set, 4 * PG, 0, 0, 8000 * PG, &addr), PL_ERANGE);
    cr_assert_eq(pl_vma_set_check(set, NULL), 0);
    cr_assert_eq(pl_vma_set_count(set), 3999);
}

/* ---- Checker -------------------------------------------------------------- */

Test(vma, checker_names_a_scribbled_region)
{
    add(anon(10, 20, RW));
    add(anon(30, 40, RO));
    add(anon(50, 60, RW));
    const char *why = NULL;
    cr_assert_eq(pl_vma_set_check(set, &why), 0);
    cr_assert_null(why);

    struct pl_vma *mid = (struct pl_vma *)pl_vma_find(set, 30 * PG);
    mid->prot = RW;
    mid->start = 20 * PG; /* now touching and compatible with [10, 20) */
    cr_assert_eq(pl_vma_set_check(set, &why), PL_EINVAL);
    cr_assert_str_eq(why, "two touching regions that should have merged");

    mid->prot = RO;
    mid->start = 19 * PG;
    cr_assert_eq(pl_vma_set_check(set, &why), PL_EINVAL);
    cr_assert_str_eq(why, "regions out of order or overlapping");

    mid->start = 22 * PG;
    mid->end = 48 * PG; /* valid regions, but the largest hole recorded is still 10 pages */
    cr_assert_eq(pl_vma_set_check(set, &why), PL_EINVAL);
    cr_assert_str_eq(why, "stale subtree summary");

    mid->start = 30 * PG;
    mid->end = 40 * PG + 1;
    cr_assert_eq(pl_vma_set_check(set, &why), PL_EINVAL);
    cr_assert_str_eq(why, "region not page aligned");

    mid->end = 30 * PG;
    cr_assert_eq(pl_vma_set_check(set, &why), PL_EINVAL);
    cr_assert_str_eq(why, "empty region");

    mid->end = 40 * PG;
    mid->offset = 3;
    cr_assert_eq(pl_vma_set_check(set, &why), PL_EINVAL);
    cr_assert_str_eq(why, "offset without an object");
    mid->offset = 0;
    cr_assert_eq(pl_vma_set_check(set, &why), 0);
}

Test(vma, ascending_inserts_keep_the_tree_balanced)
{
    /* A plain search tree would degrade into a list here; the checker
     * verifies every node's balance. */
    for (uint64_t i = 0; i < 3000; i++)
        add(anon(2 * i, 2 * i + 1, RW));
    cr_assert_eq(pl_vma_set_count(set), 3000);
    cr_assert_eq(pl_vma_set_check(set, NULL), 0);
    for (uint64_t i = 0; i < 3000; i += 2)
        cr_assert_eq(pl_vma_remove(set, 2 * i * PG, (2 * i + 1) * PG, NULL, NULL), 0);
    cr_assert_eq(pl_vma_set_count(set), 1500);
    cr_assert_eq(pl_vma_set_check(set, NULL), 0);
    cr_assert_eq(pl_vma_find(set, 2 * 2999 * PG)->start, 2 * 2999 * PG);
    cr_assert_null(pl_vma_find(set, 2 * 2998 * PG));
}

/* ---- Property test against a per-page model --------------------------------
 * A window of WINDOW pages; every page is either unmapped or carries the
 * attributes of the region that should contain it. After each random
 * operation the set must be exactly the maximal runs of compatible pages. */

#define WINDOW 256
#define BASE 1024 /* first page of the window */

struct page {
    bool mapped;
    uint32_t prot, flags;
    void *object;
    uint64_t offset;
    uint8_t pkey;
};

struct model {
    struct page p[WINDOW];
};

static int objects[2];

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) { return rnd() % n; }

static const struct page *model_page(const struct model *m, int64_t i)
{
    static const struct page unmapped = {0};
    return i >= 0 && i < WINDOW ? &m->p[i] : &unmapped;
}

static bool pages_join(const struct page *a, const struct page *b)
{
    return a->mapped && b->mapped && a->prot == b->prot && a->flags == b->flags
        && a->object == b->object && a->pkey == b->pkey
        && (!a->object || a->offset + 1 == b->offset);
}

/* The set describes the model exactly, fully merged, and passes the checker. */
static void expect_model(const struct model *m, int op)
{
    const char *why = NULL;
    cr_assert_eq(pl_vma_set_check(set, &why), 0, "op %d: checker: %s", op, why ? why : "");
    const struct pl_vma *v = pl_vma_first(set);
    uint64_t regions = 0;
    for (int i = 0; i < WINDOW;) {
        if (!m->p[i].mapped) {
            i++;
            continue;
        }
        int j = i + 1;
        while (j < WINDOW && pages_join(&m->p[j - 1], &m->p[j]))
            j++;
        cr_assert_not_null(v, "op %d: no region for pages [%d, %d)", op, i, j);
        cr_assert_eq(v->start, (BASE + (uint64_t)i) * PG, "op %d: region start %#llx, want page %d", op,
            (unsigned long long)v->start, i);
        cr_assert_eq(v->end, (BASE + (uint64_t)j) * PG, "op %d: region end %#llx, want page %d", op,
            (unsigned long long)v->end, j);
        cr_assert_eq(v->prot, m->p[i].prot, "op %d", op);
        cr_assert_eq(v->flags, m->p[i].flags, "op %d", op);
        cr_assert_eq(v->object, m->p[i].object, "op %d", op);
        cr_assert_eq(v->offset, m->p[i].offset, "op %d", op);
        cr_assert_eq(v->pkey, m->p[i].pkey, "op %d", op);
        v = pl_vma_next(set, v);
        regions++;
        i = j;
    }
    cr_assert_null(v, "op %d: extra region at %#llx", op, v ? (unsigned long long)v->start : 0ull);
    cr_assert_eq(pl_vma_set_count(set), regions, "op %d", op);
}

/* Removed pieces, expanded to pages. */
struct removed_pages {
    int64_t page[WINDOW];
    struct page attr[WINDOW];
    int n;
    bool overflow;
};

static void record_pages(void *ctx, const struct pl_vma *piece)
{
    struct removed_pages *r = ctx;
    for (uint64_t a = piece->start; a < piece->end; a += PG) {
        if (r->n == WINDOW) {
            r->overflow = true;
            return;
        }
        r->page[r->n] = (int64_t)(a / PG) - BASE;
        r->attr[r->n] = (struct page){.mapped = true, .prot = piece->prot, .flags = piece->flags,
            .object = piece->object, .pkey = piece->pkey,
            .offset = piece->object ? piece->offset + (a - piece->start) / PG : 0};
        r->n++;
    }
}

/* The reported pieces are exactly the model's mapped pages in [lo, hi). */
static void expect_removed(const struct model *m, int64_t lo, int64_t hi, const struct removed_pages *r,
    int op)
{
    cr_assert(!r->overflow, "op %d: more pages removed than mapped", op);
    int k = 0;
    for (int64_t i = lo; i < hi; i++) {
        const struct page *p = model_page(m, i);
        if (!p->mapped)
            continue;
        cr_assert_lt(k, r->n, "op %d: page %lld not reported", op, (long long)i);
        cr_assert_eq(r->page[k], i, "op %d: reported page %lld, want %lld", op, (long long)r->page[k],
            (long long)i);
        cr_assert_eq(r->attr[k].prot, p->prot, "op %d", op);
        cr_assert_eq(r->attr[k].flags, p->flags, "op %d", op);
        cr_assert_eq(r->attr[k].object, p->object, "op %d", op);
        cr_assert_eq(r->attr[k].offset, p->offset, "op %d", op);
        cr_assert_eq(r->attr[k].pkey, p->pkey, "op %d", op);
        k++;
    }
    cr_assert_eq(k, r->n, "op %d: %d pages reported, %d mapped", op, r->n, k);
}

/* A random range of pages around the window, [*lo, *hi), non-empty. */
static void random_range(int64_t *lo, int64_t *hi, bool inside)
{
    int64_t span = inside ? WINDOW : WINDOW + 16;
    int64_t a = (int64_t)below((uint64_t)span) - (inside ? 0 : 8);
    int64_t len = 1 + (int64_t)(below(4) == 0 ? below(64) : below(12));
    if (inside && a + len > WINDOW)
        len = WINDOW - a;
    *lo = a;
    *hi = a + len;
}

static uint64_t addr_of(int64_t page) { return (uint64_t)(BASE + page) * PG; }

static void op_insert(struct model *m, int op)
{
    static const uint32_t prots[] = {PL_PROT_NONE, RO, RW, RW, RO | PL_PROT_EXEC};
    int64_t lo, hi;
    random_range(&lo, &hi, true);
    struct pl_vma v = {.start = addr_of(lo), .end = addr_of(hi), .prot = prots[below(5)]};
    switch (below(4)) {
    case 0:
        v.flags = SHANON;
        v.object = &objects[below(2)];
        v.offset = (uint64_t)lo + (below(4) == 0 ? 7 : 0);
        break;
    case 1:
        v.flags = PL_MAP_SHARED;
        break;
    default:
        v.flags = ANON;
        break;
    }
    if (below(8) == 0)
        v.pkey = 1;
    bool replace = below(2);

    bool overlaps = false;
    for (int64_t i = lo; i < hi; i++)
        overlaps |= m->p[i].mapped;
    struct removed_pages r = {0};
    int err = pl_vma_insert(set, &v, replace, record_pages, &r);
    if (overlaps && !replace) {
        cr_assert_eq(err, PL_ERANGE, "op %d", op);
        cr_assert_eq(r.n, 0, "op %d", op);
        return;
    }
    cr_assert_eq(err, 0, "op %d", op);
    expect_removed(m, lo, hi, &r, op);
    for (int64_t i = lo; i < hi; i++)
        m->p[i] = (struct page){.mapped = true, .prot = v.prot, .flags = v.flags, .object = v.object,
            .pkey = v.pkey, .offset = v.object ? v.offset + (uint64_t)(i - lo) : 0};
}

static void op_remove(struct model *m, int op)
{
    int64_t lo, hi;
    random_range(&lo, &hi, false);
    struct removed_pages r = {0};
    cr_assert_eq(pl_vma_remove(set, addr_of(lo), addr_of(hi), record_pages, &r), 0, "op %d", op);
    expect_removed(m, lo, hi, &r, op);
    for (int64_t i = lo; i < hi; i++)
        if (i >= 0 && i < WINDOW)
            m->p[i] = (struct page){0};
}

static void op_protect(struct model *m, int op, bool with_pkey)
{
    int64_t lo, hi;
    random_range(&lo, &hi, below(8) != 0);
    uint32_t prot = (uint32_t)below(8);
    uint8_t pkey = (uint8_t)below(3);
    bool covered = true;
    for (int64_t i = lo; i < hi; i++)
        covered &= model_page(m, i)->mapped;
    int err = with_pkey ? pl_vma_protect_pkey(set, addr_of(lo), addr_of(hi), prot, pkey)
                        : pl_vma_protect(set, addr_of(lo), addr_of(hi), prot);
    if (!covered) {
        cr_assert_eq(err, PL_EFAULT, "op %d", op);
        return;
    }
    cr_assert_eq(err, 0, "op %d", op);
    for (int64_t i = lo; i < hi; i++) {
        m->p[i].prot = prot;
        if (with_pkey)
            m->p[i].pkey = pkey;
    }
}

static void op_gap(const struct model *m, int op)
{
    uint64_t len = 1 + below(below(4) == 0 ? 64 : 8);
    int64_t hint = (int64_t)below(WINDOW + 8) - 4;
    int64_t limit = below(2) ? WINDOW : (int64_t)below(WINDOW + 1);
    int64_t floor = below(2) ? 0 : (int64_t)below((uint64_t)limit + 1);
    int64_t want = -1;
    for (int pass = 0; pass < 2 && want < 0; pass++) {
        int64_t from = pass == 0 && hint > floor ? hint : floor;
        for (int64_t a = from; a + (int64_t)len <= limit && want < 0; a++) {
            bool free_run = true;
            for (int64_t i = a; i < a + (int64_t)len; i++)
                free_run &= !m->p[i].mapped;
            if (free_run)
                want = a;
        }
    }
    uint64_t addr = 0;
    int err = pl_vma_find_gap(set, len * PG, addr_of(hint), addr_of(floor), addr_of(limit), &addr);
    if (want < 0) {
        cr_assert_eq(err, PL_ERANGE, "op %d", op);
        return;
    }
    cr_assert_eq(err, 0, "op %d", op);
    cr_assert_eq(addr, addr_of(want), "op %d: gap of %llu at hint %lld: got page %lld, want %lld", op,
        (unsigned long long)len, (long long)hint, (long long)(addr / PG) - BASE, (long long)want);
}

static void op_lookups(const struct model *m, int op)
{
    for (int k = 0; k < 4; k++) {
        int64_t i = (int64_t)below(WINDOW + 4) - 2;
        uint64_t a = addr_of(i) + below(PG);
        const struct pl_vma *v = pl_vma_find(set, a);
        const struct page *p = model_page(m, i);
        if (!p->mapped) {
            cr_assert_null(v, "op %d: page %lld is not mapped", op, (long long)i);
            continue;
        }
        cr_assert_not_null(v, "op %d: page %lld is mapped", op, (long long)i);
        cr_assert(v->start <= a && a < v->end, "op %d", op);
        cr_assert_eq(v->prot, p->prot, "op %d", op);
        cr_assert_eq(v->object ? v->offset + (addr_of(i) - v->start) / PG : 0, p->offset, "op %d", op);
        const struct pl_vma *f = pl_vma_first_in(set, addr_of(i), addr_of(i + 1));
        cr_assert_eq(f, v, "op %d", op);
    }
}

static void run_random_ops(uint64_t seed, int ops)
{
    rng_state = seed;
    struct model m;
    memset(&m, 0, sizeof m);
    for (int op = 0; op < ops; op++) {
        uint64_t kind = below(16);
        if (kind < 6)
            op_insert(&m, op);
        else if (kind < 9)
            op_remove(&m, op);
        else if (kind < 12)
            op_protect(&m, op, false);
        else if (kind < 14)
            op_protect(&m, op, true);
        else
            op_gap(&m, op);
        expect_model(&m, op);
        op_lookups(&m, op);
    }
}

Test(vma, random_operations_match_a_page_model_seed_1) { run_random_ops(1, 10000); }
Test(vma, random_operations_match_a_page_model_seed_2) { run_random_ops(2, 10000); }
Test(vma, random_operations_match_a_page_model_seed_3) { run_random_ops(0xC0FFEE, 10000); }
Test(vma, random_operations_match_a_page_model_seed_4) { run_random_ops(0x5EED5EED, 10000); }
