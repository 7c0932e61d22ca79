/* Regions (VMAs) of one address space: an ordered set of disjoint, page-aligned
 * ranges [start, end), each with its rights, mapping flags and backing object.
 * Lookups are O(log n); the set keeps itself fully merged (no two touching
 * regions that could be one). It knows nothing of page tables: the operations
 * that remove a range report the removed pieces so the caller can unmap their
 * pages. The set does not own objects: splits and merges change how many
 * regions point to an object, never how many pages map it, so count an
 * object's users in pages (an insert adds, a removed piece subtracts).
 * See docs/vma.md. */
#ifndef PTELAB_VMA_H
#define PTELAB_VMA_H

#include <stdbool.h>
#include <stdint.h>

#define PL_VMA_PAGE_SHIFT 12
#define PL_VMA_PAGE_SIZE (UINT64_C(1) << PL_VMA_PAGE_SHIFT)

/* Region rights (Linux's PROT_* values). PL_PROT_NONE: every access faults. */
#define PL_PROT_NONE 0u
#define PL_PROT_READ 1u
#define PL_PROT_WRITE 2u
#define PL_PROT_EXEC 4u
#define PL_PROT_MASK 7u

/* Region flags (Linux's MAP_* values). Exactly one of SHARED and PRIVATE. */
#define PL_MAP_SHARED 0x01u
#define PL_MAP_PRIVATE 0x02u
#define PL_MAP_ANONYMOUS 0x20u
#define PL_VMA_FLAGS_MASK (PL_MAP_SHARED | PL_MAP_PRIVATE | PL_MAP_ANONYMOUS)
/* An mmap call flag, never a region's: the set refuses it in a region; the
 * caller passes replace = true to pl_vma_insert instead. */
#define PL_MAP_FIXED 0x10u

/* Protection keys a region may carry (x86: 16). */
#define PL_VMA_PKEYS 16u

struct pl_vma {
    uint64_t start;  /* first byte, page aligned */
    uint64_t end;    /* one past the last byte, page aligned, > start */
    uint32_t prot;   /* PL_PROT_* */
    uint32_t flags;  /* PL_MAP_* region flags */
    void *object;    /* backing object (shared memory), NULL for none; not owned */
    uint64_t offset; /* page index of start within object; always 0 when object is NULL */
    uint8_t pkey;    /* protection key, below PL_VMA_PKEYS */
};

struct pl_vma_set;

/* Receives one removed piece (a copy, clipped to the removed range, its
 * offset adjusted). Pieces come in ascending order. The set is mid-update:
 * the callback must not use it. */
typedef void pl_vma_removed_fn(void *ctx, const struct pl_vma *piece);

/* Returns an empty set, or NULL when the host is out of memory. */
struct pl_vma_set *pl_vma_set_new(void);
/* Frees the set and its regions (not their objects, and with no callbacks). */
void pl_vma_set_free(struct pl_vma_set *set);

/* Number of regions. */
uint64_t pl_vma_set_count(const struct pl_vma_set *set);

/* Lookups, O(log n). Returned pointers stay valid until the set is next
 * modified. find: the region containing addr, or NULL. first_in: the lowest
 * region intersecting [start, end), or NULL (also when start >= end). */
const struct pl_vma *pl_vma_find(const struct pl_vma_set *set, uint64_t addr);
const struct pl_vma *pl_vma_first_in(const struct pl_vma_set *set, uint64_t start, uint64_t end);

/* In-order iteration: the lowest/highest region and the neighbours of v (a
 * region of this set), or NULL past either end. */
const struct pl_vma *pl_vma_first(const struct pl_vma_set *set);
const struct pl_vma *pl_vma_last(const struct pl_vma_set *set);
const struct pl_vma *pl_vma_next(const struct pl_vma_set *set, const struct pl_vma *v);
const struct pl_vma *pl_vma_prev(const struct pl_vma_set *set, const struct pl_vma *v);

/* A free range for an mmap without a fixed address, O(log n): the lowest
 * page-aligned a with a >= hint (rounded up to a page) and a >= floor,
 * a + len <= limit, and [a, a + len) free; when there is none, the lowest
 * such a >= floor (below the hint). Stores a in *addr and returns 0;
 * PL_ERANGE when no free range of len fits in [floor, limit); PL_EINVAL when
 * len is 0 or unaligned, or floor/limit are unaligned or floor > limit. */
int pl_vma_find_gap(const struct pl_vma_set *set, uint64_t len, uint64_t hint, uint64_t floor,
    uint64_t limit, uint64_t *addr);

/* Adds region v, merging it with touching compatible neighbours (same prot,
 * flags, object and pkey; for an object, contiguous offsets). When v
 * overlaps regions: PL_ERANGE and nothing changes, unless replace (MAP_FIXED),
 * which first removes [v->start, v->end) as pl_vma_remove does, reporting the
 * pieces to removed (may be NULL). Returns 0, PL_EINVAL for a malformed v
 * (unaligned, empty, unknown prot or flag bits, not exactly one of SHARED and
 * PRIVATE, pkey out of range, offset + pages overflowing), or PL_ENOMEM; on
 * any error the set is unchanged. v->offset is ignored when v->object is NULL. */
int pl_vma_insert(struct pl_vma_set *set, const struct pl_vma *v, bool replace,
    pl_vma_removed_fn *removed, void *ctx);

/* Removes [start, end) from every region, splitting those that cross its
 * edges; unmapped parts of the range are fine. Each removed piece goes to
 * removed (may be NULL). Returns 0, PL_EINVAL (unaligned or empty range), or
 * PL_ENOMEM with the set unchanged. */
int pl_vma_remove(struct pl_vma_set *set, uint64_t start, uint64_t end,
    pl_vma_removed_fn *removed, void *ctx);

/* Sets the rights (and for protect_pkey also the key) of [start, end),
 * splitting regions at its edges and merging what became compatible. Every
 * page of the range must be in a region: otherwise PL_EFAULT (mprotect's
 * ENOMEM) and nothing changes. Returns 0, PL_EINVAL (unaligned or empty range,
 * unknown prot bits, pkey out of range), PL_EFAULT or PL_ENOMEM; on error the
 * set is unchanged. */
int pl_vma_protect(struct pl_vma_set *set, uint64_t start, uint64_t end, uint32_t prot);
int pl_vma_protect_pkey(struct pl_vma_set *set, uint64_t start, uint64_t end, uint32_t prot,
    uint8_t pkey);

/* Full consistency check, O(n): regions non-empty, page aligned, sorted,
 * disjoint, well-formed, fully merged; the tree is an AVL tree whose heights,
 * parent links, subtree bounds and gap summaries are right, and the count
 * matches. Returns 0, or PL_EINVAL with *why (if why is not NULL) naming the
 * first broken rule. Builds with -Dinvariants=2 run it after every change. */
int pl_vma_set_check(const struct pl_vma_set *set, const char **why);

/* Fault injection for tests: after n more successful host allocations, every
 * allocation of the set fails; n < 0 turns this off (the default). */
void pl_vma_set_fail_alloc_after(struct pl_vma_set *set, int64_t n);

#endif
