/* os/pmap: the only code of the kernel that writes paging-structure entries
 * (FreeBSD's pmap boundary). Everything else asks pmap to map, unmap,
 * protect or copy pages; only pmap.c knows the entry format. Every write goes
 * through one function that counts it, records it in the history with its
 * cause, and decides whether the SDM requires a TLB invalidation (removals,
 * lowered rights, changed frames: yes; new entries and added rights: no).
 *
 * User pages are 4 KiB leaves with P, U/S, R/W by the region's rights, XD
 * unless executable, and the region's protection key in bits 62:59;
 * upper-level entries are P|R/W|U/S so the leaf decides. A PROT_NONE page
 * keeps its frame in a not-present entry with a software bit (bits 63:1 of
 * a not-present entry are the kernel's to use). Private anonymous memory
 * may also be mapped by 2M leaves (PDEs with PS; docs/huge-pages.md): a
 * range operation acts on a 2M leaf it covers whole, and callers split the
 * ones it cuts first (pmap_split_edges).
 *
 * Frame accounting: every leaf mapping a frame holds one reference and one
 * map count on it (os/frame), a 2M leaf on each of its 512 frames; pmap
 * takes them when it installs the entry and drops them when it removes or
 * replaces it. */
#ifndef PTELAB_OS_PMAP_H
#define PTELAB_OS_PMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "ptelab/proc.h"

struct pl_kernel;

struct pmap {
    struct pl_kernel *k;
    uint64_t root;     /* root table (PML4, or PML5) */
    int pid;           /* for the history; 0 = kernel */
    uint16_t pcid;     /* 0 when the CPU runs without PCIDs */
    uint64_t pt_pages; /* tables below the root in the user half */
    uint64_t resident; /* leaves mapping a frame */
    uint64_t swapped;  /* leaves holding a swap entry (docs/swap.md) */
    uint64_t cpumask;  /* CPUs with it in CR3, running or lazy (os/shootdown) */
    uint64_t tlb_gen;  /* shootdown generation: one more per round of invalidations */
    int8_t changer;    /* the CPU that last changed its entries with an invalidation, -1 none */
};

/* A 2M leaf maps this much, with this many frames: a block of this order. */
#define PMAP_HUGE_SIZE (UINT64_C(1) << 21)
#define PMAP_HUGE_FRAMES 512u
#define PMAP_HUGE_ORDER 9u

/* What a user leaf says about a page. */
struct pmap_page {
    bool mapped;   /* a frame is mapped (present, or PROT_NONE) */
    bool present;
    bool huge;     /* mapped by a 2M leaf */
    uint64_t pa;   /* the frame (pmap_decode of a 2M leaf: its first frame) */
    unsigned prot; /* PL_PROT_* the entry grants (READ with any right: x86 cannot express less) */
    unsigned pkey; /* protection key, bits 62:59 (kept in a PROT_NONE entry too) */
    bool swapped;  /* not present, holding a swap entry (docs/swap.md); mapped is false */
    uint64_t slot; /* its slot */
};

/* Builds the kernel's root table, the 256 kernel-half tables and the direct
 * map of RAM in 1G (or 2M) pages. Returns 0 or PL_ENOMEM. */
int pmap_boot_kernel(struct pl_kernel *k);

/* A user address space: a root table holding the kernel half. 0 or PL_ENOMEM. */
int pmap_create(struct pmap *pm, struct pl_kernel *k, int pid, uint16_t pcid);
/* Removes every user page, frees every table and the root. */
void pmap_destroy(struct pmap *pm);

/* Maps the 4 KiB page at va to frame pa with rights prot (PL_PROT_*),
 * replacing what was there. va in the user half, both page aligned. Returns
 * 0, or PL_ENOMEM when a table could not be allocated: the page is not
 * mapped, and tables linked before the failure stay (empty, accounted, freed
 * with the range). */
int pmap_enter(struct pmap *pm, uint64_t va, uint64_t pa, unsigned prot, unsigned why);
/* pmap_enter with protection key pkey (< 16) in the leaf; pmap_enter uses key 0. */
int pmap_enter_key(struct pmap *pm, uint64_t va, uint64_t pa, unsigned prot, unsigned pkey, unsigned why);
/* Maps the 2 MiB at va to the 512 frames from pa (both 2 MiB aligned, each
 * frame a block of its own) by one 2M leaf with prot and pkey, taking a
 * reference and a map count on every frame. The PD entry must be empty
 * (pmap_huge_room), or be this very leaf: then only its rights change and
 * A and D stay (COW reuse). 0 or PL_ENOMEM (a table could not be
 * allocated: nothing is mapped). */
int pmap_enter_huge(struct pmap *pm, uint64_t va, uint64_t pa, unsigned prot, unsigned pkey, unsigned why);
/* True when nothing maps any of the 2 MiB-aligned range around va: its PD
 * entry is empty (no page table, no 2M leaf) or a table above is missing. */
bool pmap_huge_room(const struct pmap *pm, uint64_t va);
/* When a 2M leaf maps va, replaces it by a page table of 512 4K leaves with
 * the same frames, rights, key, A/D and memory type, and invalidates the
 * 2M translation. 0 (also when none maps va), or PL_ENOMEM: no frame for
 * the table, nothing changed. */
int pmap_split(struct pmap *pm, uint64_t va);
/* Splits the 2M leaves that [start, end) covers only in part (at most the
 * two at its ends), so that pmap_remove and pmap_protect may act on it. 0
 * or PL_ENOMEM (a leaf split already stays split, which changes nothing a
 * process can see). */
int pmap_split_edges(struct pmap *pm, uint64_t start, uint64_t end);
/* pmap_enter_key with the leaf's PAT/PCD/PWT selecting memtype (enum
 * pl_memtype) in the CPU's PAT; PL_EINVAL when no PAT entry holds it. Pages
 * outside RAM (devices) take no frame reference or map count. */
int pmap_enter_memtype(struct pmap *pm, uint64_t va, uint64_t pa, unsigned prot, unsigned pkey, unsigned memtype,
                       unsigned why);
/* The PAT/PCD/PWT bits of a 4K leaf of type memtype under the CPU's PAT
 * (the lowest PAT index holding it): 0, or PL_EINVAL when none does. */
int pmap_memtype_bits(const struct pl_kernel *k, unsigned memtype, uint64_t *bits);
/* The memory type a present leaf at level selects under the CPU's PAT. */
unsigned pmap_leaf_memtype(const struct pl_kernel *k, uint64_t entry, int level);
/* Kernel-half 4K leaves (ioremap): maps va (above the user half, not mapped)
 * to pa, RW, NX, global with PGE, of type memtype. Tables it creates are the
 * kernel's own frames for good. 0, PL_EINVAL (memtype not in the PAT) or
 * PL_ENOMEM. */
int pmap_kernel_enter(struct pl_kernel *k, uint64_t va, uint64_t pa, unsigned memtype, unsigned why);
/* Removes the kernel leaves of [va, va+len) and invalidates them in every
 * PCID (INVLPG of a global entry; else a flush of all contexts). */
void pmap_kernel_remove(struct pl_kernel *k, uint64_t va, uint64_t len, unsigned why);
/* The kernel-half 4K leaf for va, or 0. */
uint64_t pmap_kernel_entry(const struct pl_kernel *k, uint64_t va);
/* The page at va; within a 2M leaf, pa is the frame of va's 4 KiB. */
void pmap_lookup(const struct pmap *pm, uint64_t va, struct pmap_page *out);
/* Unmaps [start, end), frees tables that became empty, invalidates. A 2M
 * leaf goes in one write, its 512 frames released after the invalidation. */
void pmap_remove(struct pmap *pm, uint64_t start, uint64_t end, unsigned why);
/* Sets the rights of the mapped pages of [start, end) to prot. R/W is set
 * only where grant_write, or where it already was and prot keeps WRITE
 * (private pages get write access from the write fault: reuse or copy). */
void pmap_protect(struct pmap *pm, uint64_t start, uint64_t end, unsigned prot, bool grant_write, unsigned why);
/* pmap_protect that also sets the leaves' protection key to pkey (< 16);
 * pmap_protect keeps each leaf's key. A changed key needs an invalidation. */
void pmap_protect_key(struct pmap *pm, uint64_t start, uint64_t end, unsigned prot, unsigned pkey, bool grant_write,
                      unsigned why);
/* fork: copies the mappings of [start, end) from src into dst. Private
 * (shared == false) pages become read-only on both sides; shared pages keep
 * their rights. Returns 0 or PL_ENOMEM (dst may hold part of the copy). */
int pmap_fork_copy(struct pmap *dst, struct pmap *src, uint64_t start, uint64_t end, bool shared);

/* Visits the mapped user leaves in address order: fn(ctx, va, level,
 * entry address, entry), level 2 for a 2M leaf. */
void pmap_foreach(const struct pmap *pm, pl_pte_visit_fn *fn, void *ctx);
/* Visits every table below the root in the user half: its address and level. */
typedef void pmap_table_fn(void *ctx, uint64_t table_pa, int level);
void pmap_foreach_table(const struct pmap *pm, pmap_table_fn *fn, void *ctx);
/* True when the root's kernel half is the kernel's. */
bool pmap_kernel_half_intact(const struct pmap *pm);
/* Swap (os/swap, docs/swap.md). Replaces the present 4K leaf at va (split
 * out of its 2M leaf first) by a swap entry for slot, invalidates it and
 * drops its frame mapping; returns the old entry. The caller has taken the
 * slot reference the entry holds. */
uint64_t pmap_swap_out(struct pmap *pm, uint64_t va, uint64_t slot);
/* The present leaf at va: returns its A/D bits as PMAP_YOUNG | PMAP_DIRTY
 * (0 when not present); a 2M leaf has one pair for its 512 frames. With
 * clear, A is cleared, and invalidated unless
 * skip_invalidate (a demonstration: the TLB then keeps the old entry and
 * never sets A again). */
#define PMAP_YOUNG 1u
#define PMAP_DIRTY 2u
unsigned pmap_test_young(struct pmap *pm, uint64_t va, bool clear, bool skip_invalidate);
/* Page migration: the present 4K leaf at va (split out of any 2M leaf)
 * maps new_pa instead, every
 * other bit kept (rights, key, A, D, memory type); the old frame's
 * translations are shot down before its mapping is dropped. The caller
 * copied the contents and holds a reference on new_pa, which the leaf
 * takes one of its own on. */
void pmap_move(struct pmap *pm, uint64_t va, uint64_t new_pa);
/* Visits the swap-entry leaves: fn(ctx, va, 1, entry address, entry). */
void pmap_foreach_swap(const struct pmap *pm, pl_pte_visit_fn *fn, void *ctx);
/* Decodes a user leaf entry at level (1, or 2 for a 2M leaf; for views and
 * the checker). */
void pmap_decode(uint64_t entry, int level, struct pmap_page *out);

#endif
