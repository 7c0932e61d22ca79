/* The simulated kernel's physical frame allocator: a binary buddy allocator
 * over one range [base, base + size) of a struct pl_physmem, blocks of 2^order
 * frames for order 0 (4 KiB) to PL_FRAME_MAX_ORDER (1 GiB), each block aligned
 * to its own size in physical addresses (so a 2M or 1G block can back a large
 * page). Allocation is deterministic: the lowest-addressed free block of the
 * smallest order that fits. Every block handed out reads as zero. Freeing
 * coalesces buddies at once. Allocation and free are O(log) in the range size,
 * plus the zeroing of the frames that held data.
 *
 * Metadata is one struct pl_frame per frame, in a dense array indexed by frame
 * number within the range. A block is described by the entry of its first
 * (head) frame; the entries of its other frames stay zero. */
#ifndef PTELAB_FRAME_H
#define PTELAB_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct pl_physmem;

#define PL_FRAME_MAX_ORDER 18 /* 2^18 frames = 1 GiB */
#define PL_FRAME_ORDERS (PL_FRAME_MAX_ORDER + 1)

/* Flags of struct pl_frame. The allocator owns FREE and HEAD; the block's
 * owner owns the rest (given to pl_frame_alloc, changed later at will). */
#define PL_FRAME_FREE 0x0001u   /* (a) the block is on a free list */
#define PL_FRAME_HEAD 0x0002u   /* (a) first frame of a block; order is valid */
#define PL_FRAME_PT 0x0010u     /* (o) a paging-structure page (page table) */
#define PL_FRAME_KERNEL 0x0020u /* (o) kernel memory (direct map, metadata, stacks) */
#define PL_FRAME_USER 0x0040u   /* (o) backs user memory */
#define PL_FRAME_PINNED 0x0080u /* (o) reclaim and swap must leave it in place */
#define PL_FRAME_ALLOC_FLAGS (PL_FRAME_PT | PL_FRAME_KERNEL | PL_FRAME_USER | PL_FRAME_PINNED)

/* Per-frame metadata. Legend: who may change a field, and when.
 *   (a) os/frame only, inside alloc, free and the put that frees;
 *   (r) any holder of a reference, only through pl_frame_get / pl_frame_put;
 *   (m) os/pmap only, when it installs or removes a leaf entry mapping the
 *       block (one count per entry);
 *   (o) the block's owner while the block is allocated; os/frame sets it at
 *       allocation and clears it at free.
 * All fields are zero in frames that are not a block's head. */
struct pl_frame {
    uint32_t refcount; /* (r) 1 after allocation; 0 iff free */
    uint32_t mapcount; /* (m) leaf entries mapping the block; 0 when free */
    uint16_t flags;    /* (a) FREE, HEAD; (o) the PL_FRAME_ALLOC_FLAGS */
    uint8_t order;     /* (a) log2 of the block's frames, when HEAD */
    uint8_t spare;     /* zero */
};

/* Counters since pl_frame_allocator_new; a snapshot by pl_frame_stats_read. */
struct pl_frame_stats {
    uint64_t frames;                        /* frames in the range */
    uint64_t free_frames;                   /* frames in free blocks */
    uint64_t free_blocks[PL_FRAME_ORDERS];  /* free blocks of each order */
    uint64_t allocated[PL_FRAME_ORDERS];    /* live (allocated) blocks of each order */
    uint64_t allocs;                        /* successful allocations */
    uint64_t frees;                         /* blocks returned (free, or last put) */
    uint64_t failures;                      /* allocations refused with PL_ENOMEM */
    uint64_t injected_failures;             /* ... of which by pl_frame_fail_after */
    uint64_t splits;                        /* blocks split in two to serve an allocation */
    uint64_t merges;                        /* buddy pairs coalesced on free */
    uint64_t bytes_zeroed;                  /* bytes cleared because they had held data */
    uint64_t bytes_zero_skipped;            /* bytes handed out already zero (never written) */
};

struct pl_frame_allocator;

/* An allocator owning [base, base + size) of mem, every frame free. base and
 * size must be multiples of 4 KiB, size > 0 and base + size <= 2^52. Frames of
 * mem outside the range are never touched; mem must outlive the allocator.
 * Returns NULL on a bad range or when the host is out of memory. Host cost:
 * 12 bytes of metadata plus about 2 bits of free sets per frame. */
struct pl_frame_allocator *pl_frame_allocator_new(struct pl_physmem *mem, uint64_t base, uint64_t size);
void pl_frame_allocator_free(struct pl_frame_allocator *fa);

/* Allocates a block of 2^order frames, zeroed, with refcount 1, mapcount 0
 * and the owner flags `flags` (a subset of PL_FRAME_ALLOC_FLAGS); stores its
 * address in *pa. Returns 0, PL_EINVAL (order > PL_FRAME_MAX_ORDER, other
 * flags, pa NULL; nothing changes and the fault-injection countdown does not
 * move) or PL_ENOMEM (no free block large enough, or an injected failure). */
int pl_frame_alloc(struct pl_frame_allocator *fa, unsigned order, uint16_t flags, uint64_t *pa);

/* Frees the block whose head is at pa, coalescing it with free buddies. The
 * caller must hold its only reference (refcount 1) and it must be unmapped
 * (mapcount 0). Returns 0, or PL_EINVAL when pa is unaligned, outside the
 * range, not the head of an allocated block (a double free, a tail), still
 * referenced by others or still mapped; then nothing changes. */
int pl_frame_free(struct pl_frame_allocator *fa, uint64_t pa);

/* Splits the allocated block whose head is at pa into 2^order blocks of one
 * frame each, every one with the block's owner flags, refcount 1 and
 * mapcount 0: from then on each frame is counted, mapped and freed on its
 * own, and freeing them all coalesces the block again. The caller must hold
 * the block's only reference and it must be unmapped (a large page's frames
 * are split before they are mapped). An order-0 block is left as it is.
 * Returns 0, or PL_EINVAL (not the head of an allocated block, shared or
 * mapped); then nothing changes. */
int pl_frame_split(struct pl_frame_allocator *fa, uint64_t pa);

/* Take or drop a reference to the allocated block containing the frame at pa
 * (any frame of the block: the count is the block's). The put that drops the
 * last reference frees the block. Return 0; PL_EINVAL when pa is unaligned,
 * outside the range or in a free block, or when a put would free a block that
 * is still mapped; PL_ERANGE when get would overflow the count. */
int pl_frame_get(struct pl_frame_allocator *fa, uint64_t pa);
int pl_frame_put(struct pl_frame_allocator *fa, uint64_t pa);

/* The metadata of the block (free or allocated) containing byte address pa,
 * or NULL when pa is outside the range. It describes that block until the
 * block is freed, split or merged; write only the fields the legend allows.
 * O(order). */
struct pl_frame *pl_frame_meta(struct pl_frame_allocator *fa, uint64_t pa);

/* Stores in *head the address of the first frame of the block containing
 * byte address pa. Returns 0, or PL_EINVAL when pa is outside the range. */
int pl_frame_head(const struct pl_frame_allocator *fa, uint64_t pa, uint64_t *head);

/* Makes the n-th allocation from now (n >= 1; 1 is the next) fail with
 * PL_ENOMEM, once; n = 0 cancels. Only well-formed requests count. */
void pl_frame_fail_after(struct pl_frame_allocator *fa, uint64_t n);

void pl_frame_stats_read(const struct pl_frame_allocator *fa, struct pl_frame_stats *out);

/* Full consistency check, O(frames): blocks tile the range without overlap,
 * each aligned to its order; the free sets hold exactly the free blocks, and
 * no two free buddies are left uncoalesced; free blocks have refcount and
 * mapcount 0 and no owner flags; allocated blocks have refcount >= 1; non-head
 * frames are zero; the counters add up. Returns 0, or PL_EINVAL with a
 * description of the first problem in msg (NUL-terminated, truncated to
 * msglen; msg may be NULL when msglen is 0). */
int pl_frame_check(const struct pl_frame_allocator *fa, char *msg, size_t msglen);

#endif
