/* The OOM killer: the badness score, victim choice, oom_score_adj, and
 * ENOMEM when nothing can be killed (src/os/oom.c). */
#include <limits.h>

#include "os_fixture.h"
#include "swap_fixture.h"

#include "ptelab/error.h"

static void setup(void) {}
TestSuite(oom, .init = setup, .fini = teardown);

Test(oom, badness_is_linuxs)
{
    cr_assert_eq(pl_oom_badness(100, 20, 3, 0, 1000), 123);
    cr_assert_eq(pl_oom_badness(100, 20, 3, 500, 1000), 623);
    cr_assert_eq(pl_oom_badness(100, 20, 3, -500, 1000), -377);
    cr_assert_eq(pl_oom_badness(100, 0, 0, 1000, 4000), 4100);
    cr_assert_eq(pl_oom_badness(100, 0, 0, -999, 1000), -899, "-999: low, yet killable");
    cr_assert_eq(pl_oom_badness(1 << 20, 0, 0, -1000, 1000), INT64_MIN, "-1000: never chosen");
}

/* Touches pages of p from X until a write fails; returns how many. */
static uint64_t grow(struct pl_proc *p, uint64_t max)
{
    uint64_t i;
    for (i = 0; i < max; i++) {
        uint64_t v = i;
        if (pl_proc_write(p, X + i * PG, &v, 8) < 0)
            break;
    }
    return i;
}

static void touch_n(struct pl_proc *p, uint64_t n)
{
    map_fixed(p, X, n * PG, RW, ANON);
    cr_assert_eq(grow(p, n), n);
}

Test(oom, adj_range_is_checked)
{
    boot_swap(16, &(struct pl_swap_config){.oom_killer = true});
    struct pl_proc *p = spawn();
    cr_assert_eq(pl_proc_set_oom_score_adj(p, 1001), PL_EINVAL);
    cr_assert_eq(pl_proc_set_oom_score_adj(p, -1001), PL_EINVAL);
    cr_assert_eq(pl_proc_oom_score_adj(p), 0);
    cr_assert_eq(pl_proc_set_oom_score_adj(p, -1000), 0);
    cr_assert_eq(pl_proc_oom_score_adj(p), -1000);
    cr_assert_eq(pl_proc_set_oom_score_adj(p, 1000), 0);
}

Test(oom, the_largest_process_dies_and_the_allocation_succeeds)
{
    boot_swap(16, &(struct pl_swap_config){.oom_killer = true});
    uint64_t free0 = free_frames();
    struct pl_proc *big = spawn(), *small = spawn(), *grower = spawn();
    touch_n(big, 2000);
    touch_n(small, 200);
    map_fixed(grower, X, 4000 * PG, RW, ANON);
    cr_assert_eq(grow(grower, 2500), 2500, "the grower gets big's memory");
    cr_assert_eq(pl_proc_state(big), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(big)->code, PL_SIG_OOM);
    cr_assert_eq(pl_proc_state(small), PL_PROC_RUNNING);
    cr_assert_eq(pl_proc_state(grower), PL_PROC_RUNNING);
    struct pl_swap_stats st = swap_stats();
    cr_assert_eq(st.oom_kills, 1);
    cr_assert_eq(st.last_oom_pid, pl_proc_pid(big));
    cr_assert_geq(st.last_oom_points, 2000);
    assert_consistent();
    pl_proc_exit(small, 0);
    pl_proc_exit(grower, 0);
    assert_consistent();
    cr_assert_eq(free_frames(), free0, "no frame leaks");
}

Test(oom, minus_1000_is_never_chosen)
{
    boot_swap(16, &(struct pl_swap_config){.oom_killer = true});
    struct pl_proc *big = spawn(), *small = spawn(), *grower = spawn();
    cr_assert_eq(pl_proc_set_oom_score_adj(big, -1000), 0);
    touch_n(big, 2000);
    touch_n(small, 200);
    map_fixed(grower, X, 4000 * PG, RW, ANON);
    uint64_t got = grow(grower, 4000);
    cr_assert_lt(got, 4000);
    /* the grower itself is the largest killable one: it dies */
    cr_assert_eq(pl_proc_state(big), PL_PROC_RUNNING);
    cr_assert_eq(pl_proc_state(small), PL_PROC_RUNNING);
    cr_assert_eq(pl_proc_state(grower), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(grower)->code, PL_SIG_OOM);
    cr_assert_eq(swap_stats().last_oom_pid, pl_proc_pid(grower));
    assert_consistent();
}

Test(oom, adj_can_make_a_small_process_the_victim)
{
    boot_swap(16, &(struct pl_swap_config){.oom_killer = true});
    struct pl_proc *big = spawn(), *small = spawn(), *grower = spawn();
    touch_n(big, 1500);
    touch_n(small, 200);
    cr_assert_eq(pl_proc_set_oom_score_adj(small, 1000), 0);
    map_fixed(grower, X, 4000 * PG, RW, ANON);
    cr_assert_eq(grow(grower, 2000), 2000);
    cr_assert_eq(pl_proc_state(small), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_state(big), PL_PROC_RUNNING);
    cr_assert_eq(swap_stats().oom_kills, 1);
}

Test(oom, nothing_killable_fails_with_enomem)
{
    boot_swap(16, &(struct pl_swap_config){.oom_killer = true});
    struct pl_proc *a = spawn(), *b = spawn();
    cr_assert_eq(pl_proc_set_oom_score_adj(a, -1000), 0);
    cr_assert_eq(pl_proc_set_oom_score_adj(b, -1000), 0);
    touch_n(a, 1000);
    map_fixed(b, X, 4000 * PG, RW, ANON);
    uint64_t got = grow(b, 4000);
    cr_assert_lt(got, 4000);
    /* the allocation failed with ENOMEM: the faulting process gets the
     * out-of-memory signal from the fault path, nobody was OOM-killed */
    cr_assert_eq(swap_stats().oom_kills, 0);
    cr_assert_eq(pl_proc_state(b), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(b)->code, PL_SIG_OOM);
    cr_assert_eq(pl_proc_state(a), PL_PROC_RUNNING);
    assert_consistent();
}

Test(oom, swap_entries_count_and_nothing_leaks)
{
    struct pl_swap_config sc = {.slots = 256, .oom_killer = true, .policy = PL_POLICY_FIFO};
    boot_swap(8, &sc);
    uint64_t free0 = free_frames();
    struct pl_proc *a = spawn(), *b = spawn();
    touch_n(a, 1000);
    map_fixed(b, X, 4000 * PG, RW, ANON);
    uint64_t got = grow(b, 4000);
    cr_assert_lt(got, 4000);
    struct pl_swap_stats st = swap_stats();
    cr_assert_geq(st.swap_outs, 256, "swap is used before anyone is killed");
    cr_assert_eq(st.oom_kills, 2, "a (1000 pages) first, then b itself");
    cr_assert_eq(st.last_oom_pid, pl_proc_pid(b));
    cr_assert_eq(pl_proc_state(a), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_state(b), PL_PROC_KILLED);
    assert_consistent();
    cr_assert_eq(swap_stats().slots_used, 0);
    cr_assert_eq(free_frames(), free0);
}

Test(oom, fork_inherits_adj_and_reclaims_for_its_tables)
{
    struct pl_swap_config sc = {.slots = 2048, .policy = PL_POLICY_LRU};
    boot_swap(8, &sc);
    struct pl_proc *p = spawn();
    cr_assert_eq(pl_proc_set_oom_score_adj(p, -1000), 0);
    /* memory nearly full: the child's tables come from reclaim */
    map_fixed(p, X, 1600 * PG, RW, ANON);
    cr_assert_eq(grow(p, 1600), 1600);
    cr_assert_lt(free_frames(), 7, "faults keep only a few frames free");
    struct pl_proc *c;
    uint64_t outs = swap_stats().swap_outs;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    cr_assert_gt(swap_stats().swap_outs, outs, "fork reclaimed");
    cr_assert_eq(pl_proc_oom_score_adj(c), -1000);
    for (uint64_t i = 0; i < 1600; i += 97) {
        uint64_t v;
        cr_assert_eq(pl_proc_read(c, X + i * PG, &v, 8), 0);
        cr_assert_eq(v, i);
    }
    assert_consistent();
}
