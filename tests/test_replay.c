/* Trace replay (src/trace/replay.c): exact counts on small synthetic traces,
 * the TLB counters' bookkeeping, determinism, and refused configurations. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptelab/error.h"
#include "ptelab/replay.h"
#include "ptelab/trace.h"

/* Writes the n accesses a to a new temporary trace; returns its path. */
static char *write_trace(const struct pl_trace_access *a, size_t n)
{
    static int serial;
    char *path = malloc(64);
    cr_assert(path);
    snprintf(path, 64, "/tmp/ptelab-test-replay-%d-%d.pltrace", (int)getpid(), serial++);
    struct pl_trace_meta meta = {.program = "synthetic", .date = 0, .page_size = 4096};
    struct pl_trace_writer *w;
    cr_assert_eq(pl_trace_writer_open(path, &meta, 0, &w), 0);
    cr_assert_eq(pl_trace_write(w, a, n), 0);
    cr_assert_eq(pl_trace_writer_close(w, NULL), 0);
    return path;
}

/* Replays the trace at path under cfg into *rep; returns pl_replay_run's code. */
static int replay_path(const char *path, const struct pl_replay_config *cfg, struct pl_replay_report *rep)
{
    struct pl_trace_reader *r;
    struct pl_trace_error err;
    cr_assert_eq(pl_trace_open(path, &r, &err), 0, "%s", err.msg);
    int rc = pl_replay_run(r, cfg, rep);
    pl_trace_close(r);
    return rc;
}

#define DATA_BASE UINT64_C(0x400000)
#define CODE_BASE UINT64_C(0x7f0000000000)
#define NDATA 10
#define NCODE 3

/* Loads of NDATA pages, stores to them, fetches from NCODE pages in
 * another block, one modify, a load straddling pages 0 and 1, and the
 * same again: NDATA + NCODE distinct pages. */
static size_t synthetic(struct pl_trace_access *a)
{
    size_t n = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < NDATA; i++)
            a[n++] = (struct pl_trace_access){DATA_BASE + (uint64_t)i * 4096 + 8, 8, PL_TRACE_LOAD};
        for (int i = 0; i < NDATA; i++)
            a[n++] = (struct pl_trace_access){DATA_BASE + (uint64_t)i * 4096 + 16, 4, PL_TRACE_STORE};
        for (int i = 0; i < NCODE; i++)
            a[n++] = (struct pl_trace_access){CODE_BASE + (uint64_t)i * 4096, 3, PL_TRACE_INSTR};
        a[n++] = (struct pl_trace_access){DATA_BASE + 4096 * 2, 8, PL_TRACE_MODIFY};
        a[n++] = (struct pl_trace_access){DATA_BASE + 4096 - 2, 4, PL_TRACE_LOAD};
    }
    return n;
}

/* Writes synthetic() to a new temporary trace; returns its path, and its
 * number of accesses in *n. */
static char *synthetic_trace(size_t *n)
{
    struct pl_trace_access a[64];
    *n = synthetic(a);
    return write_trace(a, *n);
}

Test(replay, exact_counts)
{
    size_t n;
    char *path = synthetic_trace(&n);
    struct pl_replay_config cfg;
    pl_replay_config_default(&cfg);
    struct pl_replay_report rep;
    cr_assert_eq(replay_path(path, &cfg, &rep), 0);
    cr_assert_eq(rep.accesses, n);
    cr_assert_eq(rep.by_kind[PL_TRACE_INSTR], 2 * NCODE);
    cr_assert_eq(rep.by_kind[PL_TRACE_LOAD], 2 * (NDATA + 1));
    cr_assert_eq(rep.by_kind[PL_TRACE_STORE], 2 * NDATA);
    cr_assert_eq(rep.by_kind[PL_TRACE_MODIFY], 2);
    /* the straddling load touches two pages, the modify translates twice */
    cr_assert_eq(rep.translations, n + 2 + 2);
    cr_assert_eq(rep.distinct_pages, NDATA + NCODE);
    cr_assert_eq(rep.regions_mapped, 2);
    cr_assert_eq(rep.unmapped, 0);
    cr_assert_eq(rep.failed, 0);
    cr_assert(!rep.killed);
    /* every first touch of a page faults once and is zero-filled; nothing else faults */
    cr_assert_eq(rep.kernel.faults, NDATA + NCODE);
    cr_assert_eq(rep.kernel.zero_fill, NDATA + NCODE);
    cr_assert_eq(rep.kernel.cow_copy + rep.kernel.spurious + rep.kernel.signals, 0);
    cr_assert_eq(rep.slow_path, NDATA + NCODE);
    cr_assert_eq(rep.resident_pages, NDATA + NCODE);
    cr_assert_eq(rep.cpu.page_faults, NDATA + NCODE);
    cr_assert(!rep.have_swap);
    remove(path);
    free(path);
}

/* Sums TLB t's hits (or misses) over the page sizes. */
static uint64_t sum_hits(const struct pl_tlb_stats *s, int t)
{
    uint64_t v = 0;
    for (int z = 0; z < PL_PAGE_SIZES; z++)
        v += s->hits[t][z];
    return v;
}
static uint64_t sum_misses(const struct pl_tlb_stats *s, int t)
{
    uint64_t v = 0;
    for (int z = 0; z <= PL_PAGE_SIZES; z++)
        v += s->misses[t][z];
    return v;
}

Test(replay, tlb_counters_consistent)
{
    /* a stride over more pages than the L1D holds, twice, so both levels miss and hit */
    enum { PAGES = 3000 };
    static struct pl_trace_access a[2 * PAGES];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < PAGES; i++)
            a[r * PAGES + i] = (struct pl_trace_access){DATA_BASE + (uint64_t)i * 4096, 1,
                                                        i % 2 ? PL_TRACE_STORE : PL_TRACE_LOAD};
    char *path = write_trace(a, 2 * PAGES);
    struct pl_replay_config cfg;
    pl_replay_config_default(&cfg);
    struct pl_replay_report rep;
    cr_assert_eq(replay_path(path, &cfg, &rep), 0);
    const struct pl_tlb_stats *t = &rep.tlb;
    /* one L1 lookup per CPU data access, one L2 lookup per L1 miss */
    cr_assert_eq(sum_hits(t, PL_TLB_L1D) + sum_misses(t, PL_TLB_L1D),
                 rep.cpu.accesses[PL_READ] + rep.cpu.accesses[PL_WRITE]);
    cr_assert_eq(sum_hits(t, PL_TLB_L1I) + sum_misses(t, PL_TLB_L1I), rep.cpu.accesses[PL_FETCH]);
    cr_assert_eq(sum_hits(t, PL_TLB_L2) + sum_misses(t, PL_TLB_L2),
                 sum_misses(t, PL_TLB_L1D) + sum_misses(t, PL_TLB_L1I));
    /* CPU accesses: the replayer's translations plus the kernel path's retry of each fault */
    cr_assert_eq(rep.cpu.accesses[PL_READ] + rep.cpu.accesses[PL_WRITE] + rep.cpu.accesses[PL_FETCH],
                 rep.translations + rep.slow_path);
    cr_assert_eq(rep.kernel.zero_fill, PAGES);
    /* 3000 pages overflow the 1536-entry L2: the second round misses in L2 too */
    cr_assert_gt(sum_misses(t, PL_TLB_L2), PAGES);
    cr_assert_geq(rep.cpu.walks, sum_misses(t, PL_TLB_L2));
    cr_assert_eq(rep.cycles_total,
                 rep.cycles_tlb + rep.cycles_walk + rep.cycles_fault + rep.cycles_kernel + rep.cycles_other);
    cr_assert_eq(rep.cycles_total - rep.cycles_kernel, rep.cpu.cycles);
    remove(path);
    free(path);
}

Test(replay, deterministic)
{
    size_t n;
    char *path = synthetic_trace(&n);
    struct pl_replay_config cfg;
    pl_replay_config_default(&cfg);
    cfg.machine.levels = 5;
    struct pl_replay_report r1, r2;
    cr_assert_eq(replay_path(path, &cfg, &r1), 0);
    cr_assert_eq(replay_path(path, &cfg, &r2), 0);
    r1.host_seconds = r2.host_seconds = 0;
    cr_assert_eq(memcmp(&r1, &r2, sizeof r1), 0);
    cr_assert_eq(r1.kernel.zero_fill, NDATA + NCODE);
    remove(path);
    free(path);
}

Test(replay, unmappable_addresses_are_skipped)
{
    struct pl_trace_access a[] = {
        {0x1000, 4, PL_TRACE_LOAD},                         /* below PL_MMAP_FLOOR */
        {UINT64_C(0xffffffffff600000), 1, PL_TRACE_INSTR}, /* the vsyscall page: kernel half */
        {0x20000, 4, PL_TRACE_STORE},                       /* block 0, above the floor */
    };
    char *path = write_trace(a, 3);
    struct pl_replay_config cfg;
    pl_replay_config_default(&cfg);
    struct pl_replay_report rep;
    cr_assert_eq(replay_path(path, &cfg, &rep), 0);
    cr_assert_eq(rep.accesses, 3);
    cr_assert_eq(rep.unmapped, 2);
    cr_assert_eq(rep.regions_mapped, 1);
    cr_assert_eq(rep.kernel.zero_fill, 1);
    cr_assert(!rep.killed);
    remove(path);
    free(path);
}

Test(replay, bad_configurations_refused)
{
    struct pl_replay_config cfg;
    char msg[160];
    pl_replay_config_default(&cfg);
    cr_assert_eq(pl_replay_config_check(&cfg, msg, sizeof msg), 0);
    cfg.machine.ram_size = UINT64_C(3) << 20;
    cr_assert_eq(pl_replay_config_check(&cfg, msg, sizeof msg), PL_EINVAL);
    cr_assert(strstr(msg, "2 MiB"));
    pl_replay_config_default(&cfg);
    cfg.machine.levels = 3;
    cr_assert_eq(pl_replay_config_check(&cfg, msg, sizeof msg), PL_EINVAL);
    pl_replay_config_default(&cfg);
    cfg.machine.tlb.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){48, 4};
    cr_assert_eq(pl_replay_config_check(&cfg, msg, sizeof msg), PL_EINVAL);
    pl_replay_config_default(&cfg);
    cfg.page_shift = 21;
    cr_assert_eq(pl_replay_config_check(&cfg, msg, sizeof msg), 0, "2 MiB pages");
    cfg.page_shift = 30;
    cr_assert_eq(pl_replay_config_check(&cfg, msg, sizeof msg), PL_EINVAL);
    cr_assert(strstr(msg, "4k or 2m"));
    /* pl_replay_run refuses it too, before touching the reader */
    struct pl_trace_access a = {DATA_BASE, 1, PL_TRACE_LOAD};
    char *path = write_trace(&a, 1);
    struct pl_replay_report rep;
    cr_assert_eq(replay_path(path, &cfg, &rep), PL_EINVAL);
    cr_assert_eq(rep.accesses, 0);
    remove(path);
    free(path);
}

Test(replay, huge_pages_map_each_block_once_and_serve_from_2m_tlb_entries)
{
    size_t n;
    char *path = synthetic_trace(&n);
    struct pl_replay_config cfg;
    pl_replay_config_default(&cfg);
    struct pl_replay_report small, huge;
    cr_assert_eq(replay_path(path, &cfg, &small), 0);
    cfg.page_shift = 21;
    cr_assert_eq(replay_path(path, &cfg, &huge), 0);
    cr_assert_eq(huge.accesses, n);
    cr_assert_eq(huge.translations, small.translations);
    /* one huge fault per block (data, code), nothing else faults */
    cr_assert_eq(huge.kernel.thp_fault, 2);
    cr_assert_eq(huge.kernel.zero_fill, 0);
    cr_assert_eq(huge.kernel.faults, 2);
    cr_assert_eq(huge.kernel.thp_fallback + huge.kernel.thp_split, 0);
    cr_assert_eq(huge.slow_path, 2);
    cr_assert_eq(huge.resident_pages, 2 * 512);
    /* a faulting walk and its retry per block, and one walk to set D on the
     * first store (per page with 4 KiB: each data page is loaded first);
     * the L1 TLBs then hold one 2M entry per block, which serves the rest */
    cr_assert_eq(huge.cpu.walks, 2 * 2 + 1);
    cr_assert_eq(huge.cpu.dirty_walks, 1);
    cr_assert_eq(small.cpu.walks, 2 * (NDATA + NCODE) + NDATA);
    cr_assert_eq(huge.tlb.hits[PL_TLB_L1D][PL_PAGE_2M], huge.cpu.accesses[PL_READ] + huge.cpu.accesses[PL_WRITE] - 2);
    cr_assert_eq(huge.tlb.hits[PL_TLB_L1I][PL_PAGE_2M], huge.cpu.accesses[PL_FETCH] - 2);
    cr_assert_eq(huge.tlb.hits[PL_TLB_L1D][PL_PAGE_4K] + huge.tlb.hits[PL_TLB_L1I][PL_PAGE_4K], 0);
    cr_assert_lt(huge.cycles_walk, small.cycles_walk);
    /* zeroing 2 MiB costs more than zeroing the 13 pages touched */
    cr_assert_gt(huge.cycles_kernel, small.cycles_kernel);
    remove(path);
    free(path);
}

Test(replay, huge_pages_fall_back_to_4k_without_a_free_2m_block)
{
    size_t n;
    char *path = synthetic_trace(&n);
    struct pl_replay_config cfg;
    pl_replay_config_default(&cfg);
    cfg.machine.ram_size = UINT64_C(4) << 20; /* the kernel's frames break the only 2 MiB block */
    cfg.page_shift = 21;
    struct pl_replay_report rep;
    cr_assert_eq(replay_path(path, &cfg, &rep), 0);
    cr_assert_eq(rep.kernel.thp_fault, 0);
    cr_assert_eq(rep.kernel.thp_fallback, 2, "the first fault of each block");
    cr_assert_eq(rep.kernel.zero_fill, NDATA + NCODE);
    cr_assert_eq(rep.resident_pages, NDATA + NCODE);
    cr_assert(!rep.killed);
    remove(path);
    free(path);
}

Test(replay, pressure_swaps_every_policy)
{
    /* 2000 pages cycled three times through ~480 frames: a loop longer
     * than memory faults on every access under FIFO, LRU, CLOCK and
     * active/inactive alike; after the first pass each fault is a swap-in */
    enum { PAGES = 2000, PASSES = 3 };
    static struct pl_trace_access a[PAGES * PASSES];
    for (int r = 0; r < PASSES; r++)
        for (int i = 0; i < PAGES; i++)
            a[r * PAGES + i] = (struct pl_trace_access){DATA_BASE + (uint64_t)i * 4096, 1, PL_TRACE_LOAD};
    char *path = write_trace(a, PAGES * PASSES);
    for (unsigned policy = 0; policy <= PL_RECLAIM_ACTIVE_INACTIVE; policy++) {
        struct pl_replay_config cfg;
        pl_replay_config_default(&cfg);
        cfg.machine.ram_size = UINT64_C(4) << 20;
        pl_replay_config_swap(&cfg, UINT64_C(64) << 20, policy);
        struct pl_replay_report rep;
        cr_assert_eq(replay_path(path, &cfg, &rep), 0);
        cr_assert(!rep.killed, "%s", pl_reclaim_policy_name(policy));
        cr_assert_eq(rep.accesses, PAGES * PASSES);
        cr_assert_eq(rep.failed, 0);
        cr_assert(rep.have_swap);
        cr_assert_eq(rep.kernel.zero_fill, PAGES);
        cr_assert_eq(rep.swap.swap_ins + rep.swap.swapcache_hits, PAGES * (PASSES - 1), "%s: %llu + %llu",
                     pl_reclaim_policy_name(policy), (unsigned long long)rep.swap.swap_ins,
                     (unsigned long long)rep.swap.swapcache_hits);
        cr_assert_eq(rep.kernel.faults, PAGES * PASSES);
        cr_assert_eq(rep.swap.oom_kills, 0);
    }
    remove(path);
    free(path);
}
