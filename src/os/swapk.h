/* Internal to src/os: swap slots and the swap cache (os/swap), reverse
 * mapping (os/rmap), reclaim (os/reclaim) and the OOM killer (os/oom).
 * docs/swap.md describes them. */
#ifndef PTELAB_OS_SWAPK_H
#define PTELAB_OS_SWAPK_H

#include <stdbool.h>
#include <stdint.h>

#include "ptelab/swap.h"

struct pl_kernel;
struct pl_proc;
struct pl_vma;

/* Per-frame reclaim state, for frames of the allocator's range. */
#define SF_LRU 1u    /* an anonymous page reclaim may consider */
#define SF_ACTIVE 2u /* on the active list (active/inactive policy) */
struct swap_frame {
    uint64_t va;     /* where it is mapped: the same address in every sharer (fork keeps addresses) */
    uint64_t loaded; /* event stamp when it was loaded (FIFO) */
    uint64_t used;   /* event stamp of the last access the kernel saw (LRU) */
    uint64_t slot1;  /* swap cache: its slot + 1, holding one slot reference; 0 none */
    uint8_t flags;
};

struct swapk {
    struct pl_block *dev;   /* NULL without swap */
    uint64_t nslots;
    uint32_t *slot_ref;     /* swap entries + the swap cache's reference; 0 = free */
    uint64_t *slot_frame;   /* the frame caching the slot, 0 none */
    uint64_t slot_hint;
    uint64_t base, nframes; /* the allocator's range, in frames from base */
    struct swap_frame *fr;
    uint64_t clock;         /* event counter for stamps */
    uint64_t hand, hand2;   /* CLOCK / inactive hand, active hand */
    uint64_t nactive, nlru;
    bool reclaiming;        /* no reclaim from inside reclaim */
    struct pl_swap_stats st;
};

/* Boot / shutdown: 0 or PL_ENOMEM. Leaves k->swap NULL when all is off. */
int swap_init(struct pl_kernel *k);
void swap_fini(struct pl_kernel *k);
struct swap_frame *swap_frame_of(struct pl_kernel *k, uint64_t pa);

/* A swap entry was copied / dropped (pmap). The last put frees the slot. */
void swap_slot_dup(struct pl_kernel *k, uint64_t slot);
void swap_slot_put(struct pl_kernel *k, uint64_t slot);
/* The frame at pa is being freed (pmap, its last reference). */
void swap_frame_freed(struct pl_kernel *k, uint64_t pa);
/* Drops a reference the kernel took on a frame, as pl_frame_put, telling
 * the swap state when that frees it. */
void swap_frame_put(struct pl_kernel *k, uint64_t pa);
/* True when the frame caches a slot other swap entries still use: a write
 * must copy it, not reuse it. */
bool swap_frame_shared(struct pl_kernel *k, uint64_t pa);
/* Fault on a swap entry of p at va (region v): reads the page back (or
 * finds it in the swap cache) and maps it read-only. 0, or PL_ENOMEM /
 * PL_EIO; p may have been killed by the OOM killer then. */
int swap_in(struct pl_proc *p, const struct pl_vma *v, uint64_t va, uint64_t slot);
/* Evicts the anonymous frame at pa from every mapping. 0, PL_EINVAL
 * (not evictable) or PL_ENOMEM (swap full, device error). */
int swap_out_frame(struct pl_kernel *k, uint64_t pa);

/* os/rmap: calls fn for every running process mapping the anonymous frame
 * at pa at its address va, with the leaf; returns how many. */
typedef void rmap_fn(void *ctx, struct pl_proc *p, uint64_t va);
unsigned rmap_walk(struct pl_kernel *k, uint64_t pa, rmap_fn *fn, void *ctx);

/* os/reclaim. A user frame for p (zeroed, refcount 1), reclaiming and
 * OOM-killing as the configuration says. 0, or PL_ENOMEM (p may be dead). */
int reclaim_alloc_user(struct pl_kernel *k, struct pl_proc *p, uint64_t *pa);
/* The 512 frames of a 2 MiB page: an order-9 block split into frames of
 * refcount 1 (os/frame), zeroed. PL_ENOMEM when no such block is free, or
 * taking one would leave fewer free frames than the low watermark plus a
 * fault's page tables: a huge page is worth no reclaim. */
int reclaim_alloc_huge(struct pl_kernel *k, uint64_t *pa);
/* Makes n frames free (reclaim, then the OOM killer) so that the page
 * tables and the page a fault needs can be allocated. 0, or PL_ENOMEM (p
 * may be dead). */
int reclaim_reserve(struct pl_kernel *k, struct pl_proc *p, uint64_t n);
/* A new anonymous page at va is mapped by frame pa / an access touched pa. */
void reclaim_note_new(struct pl_kernel *k, uint64_t pa, uint64_t va);
void reclaim_note_access(struct pl_kernel *k, uint64_t pa);

/* os/oom: kills the process of highest badness. False when none is
 * killable. */
bool oom_kill_one(struct pl_kernel *k);

#endif
