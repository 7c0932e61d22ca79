/* The simulated kernel: boots on a machine (machine.h), owns its physical
 * frames (frame.h), keeps the upper canonical half of every address space
 * (supervisor-only, with a direct map of all RAM in 1G/2M pages), runs
 * processes (proc.h) and records every paging-structure entry it writes.
 *
 * Kernel memory layout (4-level; 5-level moves the direct map to
 * 0xFF11000000000000):
 *
 *   0x0000000000000000 - 0x00007FFFFFFFFFFF  user half, one per process
 *   0xFFFF800000000000 - 0xFFFFFFFFFFFFFFFF  kernel half, shared by all
 *   0xFFFF888000000000 + pa                  direct map of RAM (RW, NX, G)
 *   0xFFFFC90000000000 ...                   ioremap area (io.h; 5-level:
 *                                            0xFFA0000000000000)
 *
 * Physical memory: the first 1 MiB is reserved (firmware and the kernel
 * image); frames above it are the allocator's. The kernel's own page tables
 * come from the allocator, and every kernel-half top-level slot gets its
 * table at boot, so the kernel half of every address space is the same
 * 256 entries forever. */
#ifndef PTELAB_KERNEL_H
#define PTELAB_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ptelab/frame.h"
#include "ptelab/machine.h"
#include "ptelab/swap.h"

#define PL_KERNEL_RESERVED_LOW (UINT64_C(1) << 20)
#define PL_USER_TOP_4 UINT64_C(0x0000800000000000)
#define PL_USER_TOP_5 UINT64_C(0x0100000000000000)
#define PL_DIRECT_MAP_4 UINT64_C(0xFFFF888000000000)
#define PL_DIRECT_MAP_5 UINT64_C(0xFF11000000000000)
/* The PAT the kernel loads at boot, Linux's: PA0..PA7 = WB, WC, UC-, UC,
 * WB, WP, UC-, WT. Indexes 0..3 (PAT bit clear) keep their power-on types
 * but WT -> WC in PA1, so every type has an entry; see docs/memory-types.md. */
#define PL_KERNEL_PAT UINT64_C(0x0407050600070106)
#define PL_MMAP_FLOOR UINT64_C(0x0000000000010000) /* lowest mmap address (Linux's mmap_min_addr) */
#define PL_MMAP_BASE UINT64_C(0x0000100000000000)  /* where mmap without a hint starts looking */

/* Why an entry was written: the cause recorded in its history. */
#define PL_WHY_LIST(X)                                                   \
    X(PL_WHY_BOOT, "boot")                 /* kernel half, direct map */ \
    X(PL_WHY_KERNEL_HALF, "kernel-half")   /* a new root gets it */      \
    X(PL_WHY_TABLE, "table")               /* linking a new table */     \
    X(PL_WHY_TABLE_FREE, "table-free")     /* unlinking an empty table */\
    X(PL_WHY_ZERO_FILL, "zero-fill")       /* fault: new zeroed page */  \
    X(PL_WHY_SHARED_PAGE, "shared-page")   /* fault: shm object's page */\
    X(PL_WHY_COW_COPY, "cow-copy")         /* fault: copy on write */    \
    X(PL_WHY_COW_REUSE, "cow-reuse")       /* fault: last user writes */ \
    X(PL_WHY_MUNMAP, "munmap")                                           \
    X(PL_WHY_MPROTECT, "mprotect")                                       \
    X(PL_WHY_FORK_PROTECT, "fork-protect") /* parent made read-only */   \
    X(PL_WHY_FORK_COPY, "fork-copy")       /* child's copy of an entry */\
    X(PL_WHY_EXIT, "exit")                                               \
    X(PL_WHY_EXEC, "exec")                                               \
    X(PL_WHY_IOREMAP, "ioremap")           /* kernel map of a device */  \
    X(PL_WHY_IOUNMAP, "iounmap")                                         \
    X(PL_WHY_SWAP_OUT, "swap-out")         /* os/swap: entry -> slot */  \
    X(PL_WHY_SWAP_IN, "swap-in")           /* fault: page read back */   \
    X(PL_WHY_AGE, "age")                   /* reclaim cleared A */      \
    X(PL_WHY_MIGRATE, "migrate")           /* page moved to a new frame */ \
    X(PL_WHY_SPLIT, "split")               /* a 2M leaf became 4K leaves */

enum pl_why {
#define PL_WHY_ENUM(name, text) name,
    PL_WHY_LIST(PL_WHY_ENUM)
#undef PL_WHY_ENUM
    PL_WHY_COUNT
};
const char *pl_why_name(unsigned why);

/* One recorded write of a paging-structure entry. */
struct pl_pte_write {
    uint64_t seq;      /* 1, 2, ... in kernel order */
    uint64_t entry_pa; /* where the entry lives */
    uint64_t old, new;
    uint64_t va;       /* first address the entry maps (user half: of pid) */
    int32_t pid;       /* address space written, 0 for the kernel half */
    uint8_t level;     /* 1 = PT ... 5 = PML5 */
    uint8_t why;       /* enum pl_why */
};

/* Kernel counters. Faults by what the handler did. */
struct pl_kernel_stats {
    uint64_t faults;           /* #PF taken by the handler */
    uint64_t zero_fill;        /* new zeroed private page */
    uint64_t shared_page;      /* shm object's page mapped */
    uint64_t cow_copy;         /* private page copied on write */
    uint64_t cow_reuse;        /* write by the page's last user: made writable */
    uint64_t spurious;         /* the entry already allowed the access (stale TLB) */
    uint64_t thp_fault;        /* new zeroed private 2 MiB page (huge_anon; not in zero_fill) */
    uint64_t thp_fallback;     /* ... no order-9 block to be had: a 4 KiB page instead */
    uint64_t thp_split;        /* 2M leaves split into 512 4K leaves */
    uint64_t signals;          /* SIGSEGV raised */
    uint64_t kills;            /* processes killed by a fault */
    uint64_t syscalls;
    uint64_t forks, exits, execs;
    uint64_t context_switches;
    uint64_t pte_writes;       /* entries written by pmap */
    uint64_t tlb_flush_pages;  /* INVLPG/INVPCID-0 issued by pmap */
    uint64_t tlb_flush_full;   /* whole-PCID flushes issued by pmap */
    uint64_t pt_pages;         /* user page-table pages live now */
    uint64_t cycles;           /* simulated kernel cycles (handlers, syscalls, zeroing, copies) */
    /* TLB shootdown (os/shootdown, docs/smp.md) */
    uint64_t shootdowns;       /* rounds of IPIs, one per operation (per page: naive protocol) */
    uint64_t ipis_sent;
    uint64_t lazy_skipped;     /* CPUs in the mask left out: lazy TLB, no tables freed */
    uint64_t wait_cycles;      /* the initiators' cycles between the last IPI sent and the last ack */
    uint64_t stale_violations; /* accesses through a translation that should have gone (thread.h) */
    uint64_t migrations;       /* pages moved to another frame (pl_proc_migrate) */
};

/* How the kernel shoots down translations on other CPUs. Only CORRECT is
 * right; NAIVE is right and slow (the bench's comparison); the others are
 * deliberately broken, for the stale-translation detector's tests. */
enum pl_shootdown_protocol {
    PL_SHOOTDOWN_CORRECT = 0, /* IPIs to the mask, one round per operation, wait, then free */
    PL_SHOOTDOWN_NAIVE,       /* IPIs to every CPU, one round per page */
    PL_SHOOTDOWN_NO_WAIT,     /* does not wait for the acknowledgements */
    PL_SHOOTDOWN_SKIP_CPU,    /* leaves the highest-numbered target out of every round */
    PL_SHOOTDOWN_EARLY_FREE,  /* frees frames before the acknowledgements arrive */
    PL_SHOOTDOWN_COUNT
};
const char *pl_shootdown_name(unsigned protocol);

struct pl_kernel_config {
    bool history;          /* record every entry write (struct pl_pte_write) */
    size_t history_limit;  /* keep at most this many, oldest dropped; 0 = no limit */
    unsigned signal_retry_limit; /* a handler that keeps returning RETRY without a fix: kill after this many */
    bool huge_anon;              /* transparent 2 MiB pages for private anonymous memory (docs/huge-pages.md) */
    struct pl_swap_config swap;  /* swap, reclaim, OOM killer (swap.h); all off when zero */
    uint64_t sched_seed;         /* the scheduler's generator (thread.h); 0: the machine's seed */
    unsigned shootdown;          /* enum pl_shootdown_protocol */
};

struct pl_kernel;
struct pl_proc;

/* history on, no limit, retry limit 100, no swap, 4 KiB pages only. */
void pl_kernel_config_default(struct pl_kernel_config *cfg);

/* Boots a kernel on machine m (borrowed; must outlive the kernel): frame
 * allocator, kernel half and direct map. Returns 0, PL_EINVAL, or PL_ENOMEM. */
int pl_kernel_new(struct pl_machine *m, const struct pl_kernel_config *cfg, struct pl_kernel **out);
/* Exits every process and frees the kernel (not the machine). */
void pl_kernel_free(struct pl_kernel *k);

struct pl_machine *pl_kernel_machine(const struct pl_kernel *k);
struct pl_frame_allocator *pl_kernel_frames(const struct pl_kernel *k);
const struct pl_kernel_stats *pl_kernel_stats(const struct pl_kernel *k);
/* Top of the user half and the direct-map base for this machine's levels. */
uint64_t pl_kernel_user_top(const struct pl_kernel *k);
uint64_t pl_kernel_direct_map(const struct pl_kernel *k);
/* Frames the kernel holds for itself (tables of the kernel half, direct map). */
uint64_t pl_kernel_own_frames(const struct pl_kernel *k);

/* The recorded writes, oldest first: *n of them. Valid until the next
 * kernel operation. */
const struct pl_pte_write *pl_kernel_history(const struct pl_kernel *k, size_t *n);

/* Processes by pid (NULL when none or reaped), and iteration in pid order. */
struct pl_proc *pl_kernel_proc(const struct pl_kernel *k, int pid);
struct pl_proc *pl_kernel_next_proc(const struct pl_kernel *k, const struct pl_proc *after);

/* The invariant checker: frame reference and map counts match the page
 * tables; every mapped leaf carries its region's protection key, and key 0
 * is allocated in every process; no private frame is writable in two
 * address spaces; no frame is
 * both free and mapped; page-table pages are accounted; the kernel half of
 * every process is the kernel's; the frame allocator and every region set are
 * consistent. Returns 0, or PL_EINVAL with the first problem in msg. */
int pl_kernel_check(struct pl_kernel *k, char *msg, size_t msglen);

#endif
