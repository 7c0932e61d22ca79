/* Swap: the block device, swap-out and swap-in with exact contents, the swap
 * cache, reverse mapping after fork, and no slot leak (src/os/swap.c,
 * src/os/rmap.c, src/hw/dev/block.c; docs/swap.md). */
#include "os_fixture.h"
#include "swap_fixture.h"

#include "ptelab/block.h"
#include "ptelab/error.h"

static void setup(void) {}

TestSuite(block);

Test(block, blocks_round_trip_and_cost)
{
    struct pl_cost_model cost = pl_cost_model_default();
    struct pl_block *b = pl_block_new(4, &cost);
    cr_assert_not_null(b);
    cr_assert_eq(pl_block_count(b), 4);
    uint8_t in[PL_BLOCK_SIZE], out[PL_BLOCK_SIZE];
    memset(out, 0xAA, sizeof out);
    cr_assert_eq(pl_block_read(b, 2, out), 0);
    for (unsigned i = 0; i < sizeof out; i++)
        cr_assert_eq(out[i], 0, "a block never written reads as zero");
    for (unsigned i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 13);
    cr_assert_eq(pl_block_write(b, 3, in), 0);
    cr_assert_eq(pl_block_read(b, 3, out), 0);
    cr_assert(memcmp(in, out, sizeof in) == 0);
    cr_assert_eq(pl_block_write(b, 4, in), PL_ERANGE);
    cr_assert_eq(pl_block_read(b, 4, out), PL_ERANGE);
    const struct pl_block_stats *st = pl_block_stats(b);
    cr_assert_eq(st->reads, 2);
    cr_assert_eq(st->writes, 1);
    cr_assert_eq(st->cycles, 2 * (uint64_t)cost.disk_read + cost.disk_write);
    cr_assert_null(pl_block_new(0, &cost));
    pl_block_free(b);
}

TestSuite(swap, .init = setup, .fini = teardown);

static const struct pl_swap_config swap64 = {.slots = 64};

Test(swap, page_survives_swap_out_and_in)
{
    boot_swap(16, &swap64);
    struct pl_proc *p = spawn();
    map_fixed(p, X, 4 * PG, RW, ANON);
    for (unsigned i = 0; i < 4; i++)
        fill_page(p, X + i * PG, i + 1);
    uint64_t before = free_frames();
    cr_assert_eq(pl_proc_swap_out(p, X + PG), 0);
    cr_assert_eq(free_frames(), before + 1, "the frame is freed");
    cr_assert_not(page_present(p, X + PG));
    cr_assert_eq(pl_proc_swap_entries(p), 1);
    cr_assert_eq(pl_proc_stats(p)->resident, 3);
    struct pl_swap_stats st = swap_stats();
    cr_assert_eq(st.swap_outs, 1);
    cr_assert_eq(st.swap_writes, 1);
    cr_assert_eq(st.slots_used, 1);
    cr_assert_eq(st.disk_cycles, m->config.cost.disk_write);
    assert_consistent();
    expect_page(p, X + PG, 2);
    st = swap_stats();
    cr_assert_eq(st.swap_ins, 1);
    cr_assert_eq(pl_proc_swap_entries(p), 0);
    cr_assert_eq(st.slots_used, 1, "the swap cache keeps the copy");
    for (unsigned i = 0; i < 4; i++)
        expect_page(p, X + i * PG, i + 1);
    assert_consistent();
}

Test(swap, history_records_the_swap_entry)
{
    struct pl_machine_config mc = os_machine_config();
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.swap = swap64;
    boot(&mc, &kc);
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RW, ANON);
    fill_page(p, X, 9);
    cr_assert_eq(pl_proc_swap_out(p, X), 0);
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    cr_assert_gt(n, 0);
    const struct pl_pte_write *w = &h[n - 1];
    cr_assert_eq(w->why, PL_WHY_SWAP_OUT);
    cr_assert_str_eq(pl_why_name(w->why), "swap-out");
    cr_assert_eq(w->va, X);
    /* docs/swap.md: P = 0, bit 10 set, slot (the first, 0) in bits 50:12 */
    cr_assert_eq(w->new, UINT64_C(1) << 10);
    cr_assert(w->old & E_P);
}

Test(swap, swap_cache_avoids_the_second_write)
{
    boot_swap(16, &swap64);
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RW, ANON);
    fill_page(p, X, 5);
    cr_assert_eq(pl_proc_swap_out(p, X), 0);
    expect_page(p, X, 5); /* swap-in: read-only, clean, cached */
    cr_assert_eq(pl_proc_swap_out(p, X), 0);
    struct pl_swap_stats st = swap_stats();
    cr_assert_eq(st.swap_writes, 1, "a clean cached page is dropped without a write");
    cr_assert_eq(st.clean_drops, 1);
    cr_assert_eq(st.swap_outs, 2);
    expect_page(p, X, 5);
    fill_page(p, X, 6); /* dirty now: the copy on swap is stale */
    cr_assert_eq(pl_proc_swap_out(p, X), 0);
    st = swap_stats();
    cr_assert_eq(st.swap_writes, 2);
    cr_assert_eq(st.clean_drops, 1);
    expect_page(p, X, 6);
    cr_assert_eq(swap_stats().swap_ins, 3);
    assert_consistent();
}

Test(swap, rmap_unmaps_every_sharer_after_fork)
{
    boot_swap(16, &swap64);
    struct pl_proc *p = spawn();
    map_fixed(p, X, 2 * PG, RW, ANON);
    fill_page(p, X, 7);
    fill_page(p, X + PG, 8);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    cr_assert_eq(pl_proc_swap_out(p, X), 0);
    struct pl_swap_stats st = swap_stats();
    cr_assert_eq(st.unmaps, 2, "the frame is unmapped from parent and child");
    cr_assert_eq(st.slots_used, 1);
    cr_assert_eq(st.swap_writes, 1);
    cr_assert_not(page_present(p, X));
    cr_assert_not(page_present(c, X));
    cr_assert_eq(pl_proc_swap_entries(p), 1);
    cr_assert_eq(pl_proc_swap_entries(c), 1);
    assert_consistent();
    expect_page(c, X, 7);
    expect_page(p, X, 7);
    st = swap_stats();
    cr_assert_eq(st.swap_ins, 1);
    cr_assert_eq(st.swapcache_hits, 1, "the second sharer finds the page in the swap cache");
    /* The parent writes: the child's view must not change. */
    fill_page(p, X, 70);
    expect_page(c, X, 7);
    expect_page(p, X, 70);
    assert_consistent();
}

Test(swap, write_after_swap_in_keeps_a_sharers_swap_copy)
{
    boot_swap(16, &swap64);
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RW, ANON);
    fill_page(p, X, 11);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    cr_assert_eq(pl_proc_swap_out(p, X), 0);
    /* The parent swaps in and writes while the child still holds the swap
     * entry: the write must copy, or the child would read it. */
    fill_page(p, X, 12);
    cr_assert_eq(pl_proc_swap_out(p, X), 0);
    expect_page(c, X, 11);
    expect_page(p, X, 12);
    assert_consistent();
}

Test(swap, swap_out_refuses_what_it_cannot_swap)
{
    boot_swap(16, &(struct pl_swap_config){.slots = 1});
    struct pl_proc *p = spawn();
    struct pl_shm *shm;
    cr_assert_eq(pl_shm_create(k, PG, &shm), 0);
    map_obj(p, X, PG, RW, PL_MAP_SHARED, shm, 0);
    fill_page(p, X, 1);
    cr_assert_eq(pl_proc_swap_out(p, X), PL_EINVAL, "shared-memory pages are not anonymous");
    cr_assert_eq(pl_proc_swap_out(p, X + 16 * PG), PL_EINVAL, "nothing mapped");
    map_fixed(p, X + PG, 2 * PG, RW, ANON);
    fill_page(p, X + PG, 2);
    fill_page(p, X + 2 * PG, 3);
    cr_assert_eq(pl_proc_swap_out(p, X + PG), 0);
    cr_assert_eq(pl_proc_swap_out(p, X + 2 * PG), PL_ENOMEM, "swap is full");
    expect_page(p, X + 2 * PG, 3);
    expect_page(p, X + PG, 2);
    pl_shm_release(shm);
    assert_consistent();
}

Test(swap, a_frame_of_a_huge_page_is_split_out_and_swapped_alone)
{
    boot_swap_pages(16, &swap64, true);
    struct pl_proc *p = spawn();
    const uint64_t huge = UINT64_C(2) << 20;
    map_fixed(p, X, huge, RW, ANON);
    for (unsigned i = 0; i < 512; i++)
        fill_page(p, X + i * PG, i);
    cr_assert_eq(pl_kernel_stats(k)->thp_fault, 1);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    uint64_t before = free_frames();
    cr_assert_eq(pl_proc_swap_out(p, X + 5 * PG), 0);
    cr_assert_eq(pl_kernel_stats(k)->thp_split, 2, "the leaf of each process");
    cr_assert_eq(free_frames(), before + 1 - 2, "the frame freed, two page tables taken");
    cr_assert_not(page_present(p, X + 5 * PG));
    cr_assert_not(page_present(c, X + 5 * PG));
    cr_assert(page_present(p, X + 6 * PG), "a 4K leaf now");
    cr_assert_eq(pl_proc_swap_entries(p), 1);
    cr_assert_eq(pl_proc_stats(p)->resident, 511);
    cr_assert_eq(swap_stats().unmaps, 2);
    assert_consistent();
    fill_page(c, X + 6 * PG, 1000);
    for (unsigned i = 0; i < 512; i++) {
        expect_page(p, X + i * PG, i);
        expect_page(c, X + i * PG, i == 6 ? 1000 : i);
    }
    cr_assert_eq(swap_stats().swap_ins, 1);
    cr_assert_eq(swap_stats().swapcache_hits, 1);
    assert_consistent();
}

Test(swap, a_split_that_finds_no_free_frame_gets_one_from_reclaim)
{
    boot_swap_pages(16, &swap64, true); /* FIFO, no watermarks */
    struct pl_proc *p = spawn();
    const uint64_t huge = UINT64_C(2) << 20;
    map_fixed(p, X, huge, RW, ANON);
    fill_page(p, X, 1);
    fill_page(p, X + PG, 2);
    map_fixed(p, X + 2 * huge, PG, RW, ANON);
    fill_page(p, X + 2 * huge, 3);
    /* every free frame taken by something reclaim cannot evict */
    struct pl_frame_allocator *fa = pl_kernel_frames(k);
    static uint64_t held[4096];
    uint64_t n = 0, pa;
    while (n < 4096 && pl_frame_alloc(fa, 0, PL_FRAME_KERNEL, &pa) == 0)
        held[n++] = pa;
    cr_assert_eq(free_frames(), 0);
    /* the split of the 2M leaf needs a page table: reclaim evicts the 4K
     * page, which lets it split the 2M leaf to evict its frames too */
    cr_assert_eq(pl_sys_munmap(p, X + PG, PG), 0);
    cr_assert_geq(swap_stats().swap_outs, 2);
    cr_assert_eq(pl_kernel_stats(k)->thp_split, 1);
    assert_consistent();
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(pl_frame_free(fa, held[i]), 0);
    expect_page(p, X, 1);
    expect_page(p, X + 2 * huge, 3);
    assert_consistent();
}

/* A random workload over more pages than RAM holds, compared with a
 * reference model, under each policy (with 2 MiB pages too, which reclaim
 * splits as it evicts their frames); nothing leaks when the processes
 * exit. */
static void random_workload(unsigned policy, bool huge)
{
    struct pl_swap_config sc = {.slots = 4096, .wmark_min = 8, .wmark_low = 16, .wmark_high = 32, .policy = policy};
    boot_swap_pages(8, &sc, huge);
    uint64_t free0 = free_frames();
    const uint64_t npages = 2500; /* RAM: 1792 frames, some the kernel's */
    struct pl_proc *p = spawn();
    map_fixed(p, X, npages * PG, RW, ANON);
    uint64_t *model = calloc(npages, sizeof *model);
    cr_assert_not_null(model);
    uint64_t rng = 0x9E3779B97F4A7C15u ^ policy;
    struct pl_proc *c = NULL;
    uint64_t *cmodel = NULL;
    for (unsigned step = 0; step < 12000; step++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint64_t page = (rng >> 8) % npages;
        uint64_t va = X + page * PG + ((rng >> 40) % 512) * 8;
        if (step == 6000) { /* half way: a fork shares everything */
            cr_assert_eq(pl_proc_fork(p, &c), 0);
            cmodel = malloc(npages * sizeof *cmodel);
            cr_assert_not_null(cmodel);
            memcpy(cmodel, model, npages * sizeof *model);
        }
        bool child = c && (rng & 1);
        struct pl_proc *who = child ? c : p;
        uint64_t *mod = child ? cmodel : model;
        if ((rng >> 4) & 1) {
            uint64_t v = rng | 1;
            cr_assert_eq(pl_proc_write(who, X + page * PG, &v, 8), 0);
            mod[page] = v;
        } else {
            uint64_t got;
            cr_assert_eq(pl_proc_read(who, X + page * PG, &got, 8), 0);
            cr_assert_eq(got, mod[page], "step %u page %llu", step, (unsigned long long)page);
            cr_assert_eq(pl_proc_read(who, va, &got, 8), 0);
            if ((va & (PG - 1)) != 0)
                cr_assert_eq(got, 0);
        }
    }
    struct pl_swap_stats st = swap_stats();
    if (huge) {
        cr_assert_gt(pl_kernel_stats(k)->thp_fault, 0);
        cr_assert_gt(pl_kernel_stats(k)->thp_fallback, 0, "RAM holds only a few 2 MiB pages");
        cr_assert_gt(pl_kernel_stats(k)->thp_split, 0, "reclaim evicted frames of 2 MiB pages");
    }
    cr_assert_gt(st.swap_outs, 500, "the workload does not fit: %llu", (unsigned long long)st.swap_outs);
    cr_assert_gt(st.swap_ins, 100);
    cr_assert_gt(st.background_reclaims, 0);
    assert_consistent();
    for (uint64_t i = 0; i < npages; i++) {
        uint64_t got;
        cr_assert_eq(pl_proc_read(p, X + i * PG, &got, 8), 0);
        cr_assert_eq(got, model[i]);
        cr_assert_eq(pl_proc_read(c, X + i * PG, &got, 8), 0);
        cr_assert_eq(got, cmodel[i]);
    }
    assert_consistent();
    pl_proc_exit(p, 0);
    pl_proc_exit(c, 0);
    assert_consistent(); /* no process: no slot, no page left */
    cr_assert_eq(swap_stats().slots_used, 0);
    cr_assert_eq(free_frames(), free0);
    free(model);
    free(cmodel);
}

Test(swap, random_workload_fifo) { random_workload(PL_POLICY_FIFO, false); }
Test(swap, random_workload_lru) { random_workload(PL_POLICY_LRU, false); }
Test(swap, random_workload_clock) { random_workload(PL_POLICY_CLOCK, false); }
Test(swap, random_workload_active_inactive) { random_workload(PL_POLICY_ACTIVE, false); }
Test(swap, random_workload_clock_huge) { random_workload(PL_POLICY_CLOCK, true); }
Test(swap, random_workload_active_inactive_huge) { random_workload(PL_POLICY_ACTIVE, true); }
Test(swap, random_workload_fifo_huge) { random_workload(PL_POLICY_FIFO, true); }

Test(swap, bad_configurations_are_refused)
{
    struct pl_machine_config mc = os_machine_config();
    cr_assert_eq(pl_machine_new(&mc, &m), 0);
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    struct pl_kernel *kk;
    kc.swap = (struct pl_swap_config){.wmark_min = 10, .wmark_low = 5, .wmark_high = 20};
    cr_assert_eq(pl_kernel_new(m, &kc, &kk), PL_EINVAL);
    kc.swap = (struct pl_swap_config){.slots = 4, .policy = PL_POLICY_OPT};
    cr_assert_eq(pl_kernel_new(m, &kc, &kk), PL_EINVAL, "OPT needs the future");
    kc.swap = (struct pl_swap_config){.slots = 4, .policy = PL_POLICY_COUNT};
    cr_assert_eq(pl_kernel_new(m, &kc, &kk), PL_EINVAL);
    kc.swap = (struct pl_swap_config){.slots = (UINT64_C(1) << 39) + 1};
    cr_assert_eq(pl_kernel_new(m, &kc, &kk), PL_EINVAL);
    pl_machine_free(m);
    m = NULL;
}
