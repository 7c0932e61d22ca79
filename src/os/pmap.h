/* os/pmap: the only code of the kernel that writes paging-structure entries
 * (FreeBSD's pmap boundary). Everything else asks pmap to map, unmap,
 * protect or copy pages; only pmap.c knows the entry format. Every write goes
 * through one function that counts it, records it in the history with its
 * cause, and decides whether the SDM requires a TLB invalidation (removals,
 * lowered rights, changed frames: yes; new entries and added rights: no).
 *
 * User pages are 4 KiB leaves with P, U/S, R/W by the region's rights and XD
 * unless executable; upper-level entries are P|R/W|U/S so the leaf decides.
 * A PROT_NONE page keeps its frame in a not-present entry with a software
 * bit (bits 63:1 of a not-present entry are the kernel's to use).
 *
 * Frame accounting: every leaf mapping a frame holds one reference and one
 * map count on it (os/frame); pmap takes them when it installs the entry and
 * drops them when it removes or replaces it. */
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
};

/* What a user leaf says about a page. */
struct pmap_page {
    bool mapped;   /* a frame is mapped (present, or PROT_NONE) */
    bool present;
    uint64_t pa;   /* the frame */
    unsigned prot; /* PL_PROT_* the entry grants (READ with any right: x86 cannot express less) */
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
/* The page at va. */
void pmap_lookup(const struct pmap *pm, uint64_t va, struct pmap_page *out);
/* Unmaps [start, end), frees tables that became empty, invalidates. */
void pmap_remove(struct pmap *pm, uint64_t start, uint64_t end, unsigned why);
/* Sets the rights of the mapped pages of [start, end) to prot. R/W is set
 * only where grant_write, or where it already was and prot keeps WRITE
 * (private pages get write access from the write fault: reuse or copy). */
void pmap_protect(struct pmap *pm, uint64_t start, uint64_t end, unsigned prot, bool grant_write, unsigned why);
/* fork: copies the mappings of [start, end) from src into dst. Private
 * (shared == false) pages become read-only on both sides; shared pages keep
 * their rights. Returns 0 or PL_ENOMEM (dst may hold part of the copy). */
int pmap_fork_copy(struct pmap *dst, struct pmap *src, uint64_t start, uint64_t end, bool shared);

/* Visits the mapped user leaves in address order. */
void pmap_foreach(const struct pmap *pm, pl_pte_visit_fn *fn, void *ctx);
/* Visits every table below the root in the user half: its address and level. */
typedef void pmap_table_fn(void *ctx, uint64_t table_pa, int level);
void pmap_foreach_table(const struct pmap *pm, pmap_table_fn *fn, void *ctx);
/* True when the root's kernel half is the kernel's. */
bool pmap_kernel_half_intact(const struct pmap *pm);
/* Decodes a user leaf entry (for views and the checker). */
void pmap_decode(uint64_t entry, struct pmap_page *out);

#endif
