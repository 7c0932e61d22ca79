/* Trace replay: a recorded trace (trace.h) run through one simulated process
 * on a fresh machine and kernel, every access at CPL 3 through the CPU, the
 * kernel handling the faults. docs/cli.md ("trace replay") has the rules.
 *
 * Mapping rule: the trace holds no mmap calls, so the replayer maps on
 * demand. When an access faults at an address with no region, the whole
 * 2 MiB-aligned block around it is mapped anonymous, private, read, write
 * and execute, with MAP_FIXED. A faulting access goes to the kernel's
 * fault handler and is retried, as IRET would, so the CPU counts the
 * access twice and the fault once. Only a fault the handler turns into a
 * signal is redone through pl_proc_read/write/fetch to deliver it. Addresses below PL_MMAP_FLOOR or above
 * the user half cannot be mapped: such accesses are counted as unmapped and
 * skipped. With 2 MiB pages (page_shift 21) the kernel runs with
 * transparent huge pages, so a block's first fault maps all of it with one
 * 2M leaf when a free 2 MiB of RAM is left. */
#ifndef PTELAB_REPLAY_H
#define PTELAB_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/trace.h"
#include "ptelab/walk.h"

struct pl_proc;

/* Policy OPT (swap.policy PL_RECLAIM_OPT) reads the trace twice: a first
 * pass over cfg->lookahead numbers the references (one per 4 KiB page an
 * access touches, M counted once) and keeps for each the index of the next
 * reference to the same page: 8 bytes per reference, plus a hash map of
 * the distinct pages. Above this many references the replay is refused
 * (PL_ERANGE): 1 GiB of next-use indexes. */
#define PL_REPLAY_OPT_MAX_REFS (UINT64_C(1) << 27)

/* The block mapped on demand around an unmapped access. */
#define PL_REPLAY_MAP_BLOCK (UINT64_C(1) << 21)

/* Loads p's address space on the kernel's CPU and drops it to CPL 3, as a
 * return to user mode would, so that pl_cpu_access on that CPU acts as p.
 * Any kernel call may switch away again: call it again after one. Returns
 * 0, or -ESRCH when p is not running. (src/os/activate.c) */
int pl_proc_activate(struct pl_proc *p);

/* The kernel's page-fault handler for fault f that p's access of kind
 * (enum pl_access_kind) took on the CPU, as the #PF vector would run it.
 * Returns 0 when the handler fixed the entry (p is active again at CPL 3:
 * retry the access), 1 when it would raise a signal instead (no signal is
 * delivered: redo the access through pl_proc_read/write/fetch, which
 * delivers it), or -ESRCH when p is not running. (src/os/activate.c) */
int pl_proc_fix_fault(struct pl_proc *p, const struct pl_fault *f, unsigned kind);

struct pl_replay_config {
    struct pl_machine_config machine; /* ram_size, levels, tlb ... (pl_machine_config_default) */
    unsigned page_shift;              /* anonymous regions' pages: 12 (4 KiB), or 21: 2 MiB pages
                                         where the kernel can have them (pl_kernel_config.huge_anon) */
    struct pl_swap_config swap;       /* the kernel's swap and reclaim (swap.h); all zero: none;
                                         next_use is the replayer's own (ignored here) */
    /* For policy OPT: a second reader of the same trace at the same
     * position, read to its end by the first pass (NULL otherwise). */
    struct pl_trace_reader *lookahead;
    /* Called about every progress_every accesses with the count done so
     * far (NULL: never). */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    uint64_t progress_every;
};

/* The defaults: pl_machine_config_default with 1 GiB of RAM, 4K pages, no
 * swap. pl_replay_config_swap adds swap. */
void pl_replay_config_default(struct pl_replay_config *cfg);

/* Gives cfg a swap device of swap_bytes (rounded down to 4 KiB slots),
 * reclaim by policy (enum pl_reclaim_policy) and watermarks scaled to its
 * RAM: min 1/256 of the frames (at least 8), low twice, high three times
 * that. The OOM killer stays on for when swap fills up. Call after setting
 * cfg->machine.ram_size. */
void pl_replay_config_swap(struct pl_replay_config *cfg, uint64_t swap_bytes, unsigned policy);

/* Checks cfg as pl_replay_run would, before anything runs. Returns 0, or
 * PL_EINVAL with a reason in msg (msg_size bytes; 160 are enough). */
int pl_replay_config_check(const struct pl_replay_config *cfg, char *msg, size_t msg_size);

/* What a replay did. */
struct pl_replay_report {
    uint64_t accesses;                  /* trace accesses replayed */
    uint64_t by_kind[PL_TRACE_KINDS];   /* [enum pl_trace_kind] */
    uint64_t translations;              /* CPU translations asked for: one per page an access touches, two for M */
    uint64_t distinct_pages;            /* 4 KiB pages touched, from the trace's header */
    uint64_t regions_mapped;            /* 2 MiB blocks mapped on demand */
    uint64_t unmapped;                  /* accesses skipped: an address no region can hold */
    uint64_t slow_path;                 /* CPU translations that faulted (each is retried once fixed) */
    uint64_t failed;                    /* accesses the kernel could not complete (signal, OOM) */
    bool killed;                        /* the process died (OOM): the rest was not replayed */
    struct pl_kernel_stats kernel;      /* faults by kind, kernel cycles */
    struct pl_cpu_stats cpu;
    struct pl_tlb_stats tlb;
    struct pl_swap_stats swap;          /* all zero without swap */
    bool have_swap;                     /* cfg had swap slots */
    /* Simulated cycles by cause. */
    uint64_t cycles_tlb, cycles_walk, cycles_fault, cycles_kernel, cycles_other, cycles_total;
    uint64_t resident_pages;            /* at the end */
    double host_seconds;                /* wall time of the replay loop */
};

/* Replays the trace r (from its current position to its end) under cfg.
 * Returns 0 with *rep filled; PL_EINVAL for a bad cfg (policy OPT without
 * cfg->lookahead too); PL_ERANGE for OPT above PL_REPLAY_OPT_MAX_REFS
 * references; PL_ENOMEM; or the
 * reader's error (PL_EPARSE, PL_EIO: see pl_trace_error(r)), with *rep
 * holding what was replayed before it. */
int pl_replay_run(struct pl_trace_reader *r, const struct pl_replay_config *cfg, struct pl_replay_report *rep);

#endif
