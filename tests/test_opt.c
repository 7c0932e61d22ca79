/* Policy OPT in a trace replay (src/trace/replay.c's next-use oracle,
 * src/os/reclaim.c's evict_farthest): refused without its future, never
 * worse than the online policies, and equal to policy.h's offline
 * simulation for the frames the replay had for user pages. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ptelab/error.h"
#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/policy.h"
#include "ptelab/replay.h"
#include "ptelab/swap.h"
#include "ptelab/trace.h"

#define DATA_BASE UINT64_C(0x400000)
#define NPAGES 1400 /* three 2 MiB blocks, more than 4 MiB of RAM holds */
#define NREFS 12000

/* Writes the loads of page ids[i] (pages from DATA_BASE) to a new trace;
 * returns its path. */
static char *write_ids(const uint32_t *ids, size_t n)
{
    static int serial;
    char *path = malloc(64);
    cr_assert(path);
    snprintf(path, 64, "/tmp/ptelab-test-opt-%d-%d.pltrace", (int)getpid(), serial++);
    struct pl_trace_access *a = malloc(n * sizeof *a);
    cr_assert(a);
    for (size_t i = 0; i < n; i++)
        a[i] = (struct pl_trace_access){DATA_BASE + (uint64_t)ids[i] * 4096, 1, PL_TRACE_LOAD};
    struct pl_trace_meta meta = {.program = "synthetic", .date = 0, .page_size = 4096};
    struct pl_trace_writer *w;
    cr_assert_eq(pl_trace_writer_open(path, &meta, 0, &w), 0);
    cr_assert_eq(pl_trace_write(w, a, n), 0);
    cr_assert_eq(pl_trace_writer_close(w, NULL), 0);
    free(a);
    return path;
}

/* A reference string with some locality: first one page of each block
 * (so every page table exists before memory runs short, and the frames
 * left for user pages stay constant), then a hot set of 300 pages mixed
 * with sweeps over all of them, by a fixed LCG. */
static void make_ids(uint32_t *ids)
{
    uint64_t x = 12345;
    size_t n = 0;
    for (uint32_t b = 0; b < NPAGES; b += 512)
        ids[n++] = b;
    uint32_t sweep = 0;
    while (n < NREFS) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        uint32_t r = (uint32_t)(x >> 33);
        ids[n++] = r % 4 ? r % 300 : sweep++ % NPAGES;
    }
}

/* Replays the trace at path with 4 MiB of RAM under policy, without
 * watermarks (reclaim evicts only when a fault needs frames). */
static int replay(const char *path, unsigned policy, bool lookahead, struct pl_replay_report *rep)
{
    struct pl_replay_config cfg;
    pl_replay_config_default(&cfg);
    cfg.machine.ram_size = UINT64_C(4) << 20;
    cfg.swap = (struct pl_swap_config){.slots = (UINT64_C(64) << 20) >> 12, .policy = policy};
    struct pl_trace_reader *r, *ahead = NULL;
    struct pl_trace_error err;
    cr_assert_eq(pl_trace_open(path, &r, &err), 0, "%s", err.msg);
    if (lookahead) {
        cr_assert_eq(pl_trace_open(path, &ahead, &err), 0, "%s", err.msg);
        cfg.lookahead = ahead;
    }
    int rc = pl_replay_run(r, &cfg, rep);
    pl_trace_close(r);
    pl_trace_close(ahead);
    return rc;
}

static uint64_t misses(const struct pl_replay_report *rep)
{
    return rep->kernel.zero_fill + rep->swap.swap_ins + rep->swap.swapcache_hits;
}

Test(opt, refused_without_future)
{
    /* the kernel: OPT without an oracle */
    struct pl_machine_config mc;
    pl_machine_config_default(&mc);
    mc.ram_size = UINT64_C(16) << 20;
    struct pl_machine *m;
    cr_assert_eq(pl_machine_new(&mc, &m), 0);
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.swap = (struct pl_swap_config){.slots = 16, .policy = PL_RECLAIM_OPT};
    struct pl_kernel *k = NULL;
    cr_assert_eq(pl_kernel_new(m, &kc, &k), PL_EINVAL);
    kc.swap.policy = PL_RECLAIM_OPT + 1;
    cr_assert_eq(pl_kernel_new(m, &kc, &k), PL_EINVAL);
    pl_machine_free(m);
    cr_assert_str_eq(pl_reclaim_policy_name(PL_RECLAIM_OPT), "opt");

    /* the replay: OPT without a lookahead reader */
    uint32_t ids[4] = {0, 1, 2, 0};
    char *path = write_ids(ids, 4);
    struct pl_replay_report rep;
    cr_assert_eq(replay(path, PL_RECLAIM_OPT, false, &rep), PL_EINVAL);
    cr_assert_eq(rep.accesses, 0);
    cr_assert_eq(replay(path, PL_RECLAIM_OPT, true, &rep), 0);
    cr_assert_eq(rep.accesses, 4);
    cr_assert_eq(misses(&rep), 3);
    remove(path);
    free(path);
}

Test(opt, beats_online_policies_and_matches_offline_opt)
{
    static uint32_t ids[NREFS];
    make_ids(ids);
    char *path = write_ids(ids, NREFS);
    struct pl_replay_report opt;
    cr_assert_eq(replay(path, PL_RECLAIM_OPT, true, &opt), 0);
    cr_assert(!opt.killed);
    cr_assert_eq(opt.accesses, NREFS);
    cr_assert_eq(opt.failed, 0);
    cr_assert_eq(opt.kernel.faults, misses(&opt)); /* loads only: every fault brings a page in */
    cr_assert_gt(opt.swap.swap_outs, 0, "no memory pressure");

    /* the frames user pages had: what stays resident under pressure */
    uint32_t frames = (uint32_t)opt.resident_pages;
    cr_assert_lt(frames, NPAGES);
    struct pl_policy_result off;
    cr_assert_eq(pl_policy_simulate(PL_POLICY_OPT, ids, NREFS, NPAGES, frames, &off, NULL), 0);
    cr_assert_eq(misses(&opt), off.faults, "replay %llu, offline %llu with %u frames",
                 (unsigned long long)misses(&opt), (unsigned long long)off.faults, frames);

    for (unsigned p = PL_RECLAIM_FIFO; p <= PL_RECLAIM_ACTIVE_INACTIVE; p++) {
        struct pl_replay_report on;
        cr_assert_eq(replay(path, p, false, &on), 0);
        cr_assert_eq(on.accesses, NREFS);
        cr_assert_lt(misses(&opt), misses(&on), "opt %llu, %s %llu", (unsigned long long)misses(&opt),
                     pl_reclaim_policy_name(p), (unsigned long long)misses(&on));
    }
    remove(path);
    free(path);
}
