/* Memory pressure in the simulated kernel: a swap device, page reclaim by a
 * selectable replacement policy, and the OOM killer. docs/swap.md describes
 * the swap-entry encoding, the swap cache, reverse mapping and the
 * policies. Everything is off by default (no swap slots, no watermarks, no
 * OOM killer): a kernel then behaves as it did without this module. */
#ifndef PTELAB_SWAP_H
#define PTELAB_SWAP_H

#include <stdbool.h>
#include <stdint.h>

#include "ptelab/policy.h"

struct pl_kernel;
struct pl_proc;

/* The policies the kernel runs, by the values of enum pl_policy, and their
 * names: "fifo", "lru", "clock", "active-inactive", "opt" ("?" out of
 * range). OPT needs a next-use oracle (pl_swap_config.next_use). */
enum pl_reclaim_policy {
    PL_RECLAIM_FIFO = PL_POLICY_FIFO,
    PL_RECLAIM_LRU = PL_POLICY_LRU,
    PL_RECLAIM_CLOCK = PL_POLICY_CLOCK,
    PL_RECLAIM_ACTIVE_INACTIVE = PL_POLICY_ACTIVE,
    PL_RECLAIM_OPT = PL_POLICY_OPT,
};
const char *pl_reclaim_policy_name(unsigned policy);

/* OPT's oracle: the position (any increasing count, e.g. a trace's
 * reference index) of the next access process pid makes to the 4 KiB page
 * at va after the current one; UINT64_MAX when it is never used again.
 * pid is that of the first running process rmap finds mapping the frame
 * (sharers of a frame map it at the same va); an oracle for a single
 * process can ignore it. */
typedef uint64_t pl_next_use_fn(void *ctx, int pid, uint64_t va);

struct pl_swap_config {
    uint64_t slots;       /* swap device size in 4 KiB slots; 0: no swap */
    uint64_t wmark_min;   /* free frames: below this an allocation reclaims first (direct reclaim) */
    uint64_t wmark_low;   /* below this after an allocation, background reclaim runs ... */
    uint64_t wmark_high;  /* ... until this many are free */
    /* enum pl_policy (policy.h, same rules, step by step; docs/swap.md):
     * FIFO; LRU exact over the accesses the kernel sees (every page of
     * pl_proc_read/write/fetch); CLOCK by the hardware A bits; ACTIVE
     * (active/inactive lists by the A bits); OPT (Belady) evicts the page
     * whose next use, as next_use answers, is farthest: it needs the
     * future, so OPT without next_use is refused (PL_EINVAL). */
    unsigned policy;
    pl_next_use_fn *next_use; /* OPT's oracle (ignored by the other policies) */
    void *next_use_ctx;
    bool clock_skip_invalidate; /* CLOCK/active-inactive clear A without INVLPG: a demonstration of the bug */
    bool oom_killer;      /* when reclaim fails, kill the process of highest badness and retry */
};

struct pl_swap_stats {
    uint64_t slots_used;        /* slots holding a page now */
    uint64_t swap_outs;         /* pages evicted to swap (written or dropped clean) */
    uint64_t swap_writes;       /* slot writes */
    uint64_t clean_drops;       /* swap-cached clean pages evicted without a write */
    uint64_t swap_ins;          /* swap-ins that read the device */
    uint64_t swapcache_hits;    /* swap-ins served from the swap cache */
    uint64_t unmaps;            /* leaves unmapped by swap-out (several per shared frame) */
    uint64_t second_chances;    /* pages spared because their A bit was set */
    uint64_t direct_reclaims;   /* allocations that reclaimed first (below min) */
    uint64_t background_reclaims; /* background runs (below low, to high) */
    uint64_t reclaim_failures;  /* reclaim found nothing to evict */
    uint64_t oom_kills;
    int last_oom_pid;           /* the last victim, 0 when none */
    int64_t last_oom_points;    /* its badness */
    uint64_t disk_cycles;       /* the swap device's cycles */
};

/* Linux's oom_badness: resident + swap entries + page-table pages, plus
 * adj * total_pages / 1000 (total: RAM frames + swap slots). Returns
 * INT64_MIN for adj == -1000 (never chosen); adj must be in [-1000, 1000]. */
int64_t pl_oom_badness(uint64_t resident, uint64_t swap_entries, uint64_t pt_pages, int adj, uint64_t total_pages);

/* Sets p's oom_score_adj. Returns 0, or PL_EINVAL outside [-1000, 1000]. */
int pl_proc_set_oom_score_adj(struct pl_proc *p, int adj);
int pl_proc_oom_score_adj(const struct pl_proc *p);
/* p's swap entries now. */
uint64_t pl_proc_swap_entries(const struct pl_proc *p);

/* Counters; all zero when the kernel runs without swap and OOM killer. */
void pl_kernel_swap_stats(const struct pl_kernel *k, struct pl_swap_stats *out);

/* Evicts up to n resident pages by the policy, as memory pressure would.
 * Returns how many were evicted. */
uint64_t pl_kernel_reclaim(struct pl_kernel *k, uint64_t n);
/* Evicts the anonymous page p maps at va (unmapping it from every process
 * sharing the frame). Returns 0, PL_EINVAL (no swap, not a present
 * anonymous page, pinned, a PROT_NONE sharer) or PL_ENOMEM (swap full). */
int pl_proc_swap_out(struct pl_proc *p, uint64_t va);

#endif
