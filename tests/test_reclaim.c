/* Reclaim: the replacement policies step by step, A-bit second chances, the
 * skip-invalidate demonstration, watermarks (src/os/reclaim.c). */
#include "os_fixture.h"
#include "swap_fixture.h"

#include "ptelab/error.h"

static void setup(void) {}
TestSuite(reclaim, .init = setup, .fini = teardown);

#define A_ X
#define B_ (X + PG)
#define C_ (X + 2 * PG)

/* A process with pages A, B, C loaded in that order. */
static struct pl_proc *three_pages(unsigned policy, bool skip)
{
    boot_swap(16, &(struct pl_swap_config){.slots = 16, .policy = policy, .clock_skip_invalidate = skip});
    struct pl_proc *p = spawn();
    map_fixed(p, X, 3 * PG, RW, ANON);
    fill_page(p, A_, 1);
    fill_page(p, B_, 2);
    fill_page(p, C_, 3);
    return p;
}

static void touch(struct pl_proc *p, uint64_t va)
{
    uint8_t b;
    cr_assert_eq(pl_proc_read(p, va, &b, 1), 0);
}

Test(reclaim, fifo_evicts_the_oldest_load_despite_use)
{
    struct pl_proc *p = three_pages(PL_POLICY_FIFO, false);
    touch(p, A_);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert_not(page_present(p, A_));
    cr_assert(page_present(p, B_) && page_present(p, C_));
}

Test(reclaim, lru_evicts_the_least_recently_used)
{
    struct pl_proc *p = three_pages(PL_POLICY_LRU, false);
    touch(p, A_);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert_not(page_present(p, B_));
    cr_assert(page_present(p, A_) && page_present(p, C_));
    touch(p, C_);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert_not(page_present(p, A_));
    cr_assert(page_present(p, C_));
    expect_page(p, A_, 1);
    expect_page(p, B_, 2);
    assert_consistent();
}

Test(reclaim, clock_gives_accessed_pages_a_second_chance)
{
    struct pl_proc *p = three_pages(PL_POLICY_CLOCK, false);
    /* All three were accessed: the hand clears A, B, C, then takes A. */
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert_eq(swap_stats().second_chances, 3);
    cr_assert_not(page_present(p, A_));
    /* B used again: its walk sets A anew, so the hand spares B and takes C. */
    touch(p, B_);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert_eq(swap_stats().second_chances, 4);
    cr_assert(page_present(p, B_));
    cr_assert_not(page_present(p, C_));
    assert_consistent();
}

Test(reclaim, skipping_the_invalidation_misses_accesses)
{
    struct pl_proc *p = three_pages(PL_POLICY_CLOCK, true);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert_not(page_present(p, A_));
    /* B is used, but through the TLB entry that still says A = 1: the CPU
     * does not write A, the page looks unused, and the just-used B goes. */
    touch(p, B_);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert_eq(swap_stats().second_chances, 3);
    cr_assert_not(page_present(p, B_));
    cr_assert(page_present(p, C_));
    expect_page(p, B_, 2);
    assert_consistent();
}

Test(reclaim, active_inactive_promotes_referenced_pages)
{
    struct pl_proc *p = three_pages(PL_POLICY_ACTIVE, false);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert_not(page_present(p, A_));
    touch(p, B_);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 1);
    cr_assert(page_present(p, B_), "a referenced page is promoted, not evicted");
    cr_assert_not(page_present(p, C_));
    expect_page(p, A_, 1);
    expect_page(p, C_, 3);
    assert_consistent();
}

Test(reclaim, direct_reclaim_below_min_refills_to_high)
{
    struct pl_swap_config sc = {.slots = 4096, .wmark_min = 100, .wmark_low = 200, .wmark_high = 300};
    boot_swap(8, &sc);
    struct pl_proc *p = spawn();
    uint64_t n = 2000;
    map_fixed(p, X, n * PG, RW, ANON);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = i;
        cr_assert_eq(pl_proc_write(p, X + i * PG, &v, 8), 0);
        cr_assert_geq(free_frames(), 100, "free memory never goes below min");
    }
    struct pl_swap_stats st = swap_stats();
    cr_assert_gt(st.background_reclaims, 0);
    cr_assert_gt(st.swap_outs, 300);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v;
        cr_assert_eq(pl_proc_read(p, X + i * PG, &v, 8), 0);
        cr_assert_eq(v, i);
    }
    assert_consistent();
}

Test(reclaim, without_swap_reclaim_evicts_nothing)
{
    boot_swap(16, &(struct pl_swap_config){.oom_killer = true});
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RW, ANON);
    fill_page(p, X, 1);
    cr_assert_eq(pl_kernel_reclaim(k, 1), 0);
    cr_assert_eq(pl_proc_swap_out(p, X), PL_EINVAL);
    cr_assert(page_present(p, X));
}

/* A write fault on a copy-on-write page makes room first; the room may be
 * made by evicting that very page, and the fault must then see the swap
 * entry, not the frame it looked up before. */
Test(reclaim, cow_fault_whose_page_is_evicted_while_making_room)
{
    struct pl_swap_config sc = {.slots = 2048, .policy = PL_POLICY_LRU};
    boot_swap(8, &sc);
    struct pl_proc *p = spawn();
    uint64_t n = 1600;
    map_fixed(p, X, n * PG, RW, ANON);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = i;
        cr_assert_eq(pl_proc_write(p, X + i * PG, &v, 8), 0);
    }
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    for (uint64_t i = n - 50; i < n; i++) { /* the child copies: memory stays short */
        uint64_t v = i + 1000000;
        cr_assert_eq(pl_proc_write(c, X + i * PG, &v, 8), 0);
    }
    /* page 0 back in (read-only), then made the least recently used of
     * the resident pages without allocating anything */
    uint64_t got;
    cr_assert_eq(pl_proc_read(p, X, &got, 8), 0);
    for (uint64_t i = 1; i < n; i++)
        if (page_present(p, X + i * PG))
            cr_assert_eq(pl_proc_read(p, X + i * PG, &got, 8), 0);
    for (uint64_t i = 1; i < n; i++)
        if (page_present(c, X + i * PG))
            cr_assert_eq(pl_proc_read(c, X + i * PG, &got, 8), 0);
    uint64_t outs = swap_stats().swap_outs;
    cr_assert(page_present(p, X));
    cr_assert_lt(free_frames(), 5, "the write fault will have to make room");
    uint64_t v0 = 4242;
    cr_assert_eq(pl_proc_write(p, X, &v0, 8), 0); /* page 0: the least recently used */
    cr_assert_gt(swap_stats().swap_outs, outs, "the fault made room by evicting page 0");
    assert_consistent();
    cr_assert_eq(pl_proc_read(c, X, &got, 8), 0);
    cr_assert_eq(got, 0);
    cr_assert_eq(pl_proc_read(p, X, &got, 8), 0);
    cr_assert_eq(got, 4242);
    for (uint64_t i = 1; i < n; i++) {
        cr_assert_eq(pl_proc_read(p, X + i * PG, &got, 8), 0);
        cr_assert_eq(got, i);
        cr_assert_eq(pl_proc_read(c, X + i * PG, &got, 8), 0);
        cr_assert_eq(got, i >= n - 50 ? i + 1000000 : i);
    }
    assert_consistent();
}
