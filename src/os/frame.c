/* The physical frame allocator: a binary buddy allocator whose free "lists"
 * are free sets, one per order, each a bitmap of block slots under a summary
 * tree of 64-bit words (bit i of a level-L word says whether word i of level
 * L-1 is non-zero). The tree finds the lowest free block of an order in
 * O(log64 n), which keeps allocation deterministic; a linked list would give
 * the most recently freed block instead.
 *
 * Blocks are aligned to their size in absolute physical addresses, so block
 * slot i of order k in the range is frame ((base_pfn >> k) + i) << k, and the
 * buddy of the block at frame p is p ^ 2^k. The initial free blocks are the
 * largest aligned blocks that tile the range. */
#include "ptelab/frame.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/physmem.h"

#define FREESET_LEVELS 8 /* 64^8 slots: more than 2^40 frames */
#define NO_FRAME UINT64_MAX

_Static_assert(sizeof(struct pl_frame) == 12, "metadata is 12 bytes per frame");

struct freeset {
    unsigned nlevels;                 /* level nlevels-1 is a single word */
    size_t nwords[FREESET_LEVELS];
    uint64_t *level[FREESET_LEVELS];  /* level 0: one bit per block slot */
};

struct pl_frame_allocator {
    struct pl_physmem *mem;
    uint64_t base_pfn, end_pfn;       /* the range, in frames: [base_pfn, end_pfn) */
    struct pl_frame *meta;            /* end_pfn - base_pfn entries */
    struct freeset free[PL_FRAME_ORDERS];
    uint64_t fail_countdown;          /* 0: no failure planned */
    struct pl_frame_stats st;
};

/* Allocates the levels for nbits slots (nbits >= 1), all clear. Returns 0 or
 * PL_ENOMEM (the levels allocated so far are left for freeset_release). */
static int freeset_init(struct freeset *fs, uint64_t nbits)
{
    uint64_t n = nbits;
    fs->nlevels = 0;
    do {
        size_t words = (size_t)((n + 63) / 64);
        assert(fs->nlevels < FREESET_LEVELS);
        fs->level[fs->nlevels] = calloc(words, sizeof(uint64_t));
        if (!fs->level[fs->nlevels])
            return PL_ENOMEM;
        fs->nwords[fs->nlevels++] = words;
        n = words;
    } while (n > 1);
    return 0;
}

static void freeset_release(struct freeset *fs)
{
    for (unsigned l = 0; l < FREESET_LEVELS; l++)
        free(fs->level[l]);
}

static bool freeset_test(const struct freeset *fs, uint64_t i)
{
    return fs->level[0][i >> 6] >> (i & 63) & 1;
}

/* Sets slot i; a summary bit changes only when its word was empty. */
static void freeset_set(struct freeset *fs, uint64_t i)
{
    for (unsigned l = 0; l < fs->nlevels; l++) {
        uint64_t *w = &fs->level[l][i >> 6];
        uint64_t was = *w;
        *w = was | UINT64_C(1) << (i & 63);
        if (was)
            break;
        i >>= 6;
    }
}

/* Clears slot i; a summary bit changes only when its word becomes empty. */
static void freeset_clear(struct freeset *fs, uint64_t i)
{
    for (unsigned l = 0; l < fs->nlevels; l++) {
        uint64_t *w = &fs->level[l][i >> 6];
        *w &= ~(UINT64_C(1) << (i & 63));
        if (*w)
            break;
        i >>= 6;
    }
}

/* The lowest set slot in *i; false when the set is empty. */
static bool freeset_first(const struct freeset *fs, uint64_t *i)
{
    unsigned top = fs->nlevels - 1;
    if (!fs->level[top][0])
        return false;
    uint64_t at = 0;
    for (unsigned l = top + 1; l-- > 0;)
        at = at << 6 | (uint64_t)__builtin_ctzll(fs->level[l][at]);
    *i = at;
    return true;
}

static uint64_t frames_of(unsigned order)
{
    return UINT64_C(1) << order;
}

static struct pl_frame *meta_of(const struct pl_frame_allocator *fa, uint64_t pfn)
{
    assert(pfn >= fa->base_pfn && pfn < fa->end_pfn);
    return &fa->meta[pfn - fa->base_pfn];
}

static uint64_t slot_of(const struct pl_frame_allocator *fa, uint64_t pfn, unsigned order)
{
    return (pfn >> order) - (fa->base_pfn >> order);
}

static bool block_in_range(const struct pl_frame_allocator *fa, uint64_t pfn, unsigned order)
{
    return pfn >= fa->base_pfn && pfn < fa->end_pfn && frames_of(order) <= fa->end_pfn - pfn;
}

/* Makes the block at pfn (aligned, in range, not in any set) free. */
static void push_free(struct pl_frame_allocator *fa, uint64_t pfn, unsigned order)
{
    struct pl_frame *m = meta_of(fa, pfn);
    *m = (struct pl_frame){.flags = PL_FRAME_FREE | PL_FRAME_HEAD, .order = (uint8_t)order};
    freeset_set(&fa->free[order], slot_of(fa, pfn, order));
    fa->st.free_blocks[order]++;
    fa->st.free_frames += frames_of(order);
}

/* Takes the free block at pfn out of its set; its metadata becomes zero. */
static void pop_free(struct pl_frame_allocator *fa, uint64_t pfn, unsigned order)
{
#if PL_INVARIANTS >= 1
    assert(freeset_test(&fa->free[order], slot_of(fa, pfn, order)));
    assert(meta_of(fa, pfn)->flags == (PL_FRAME_FREE | PL_FRAME_HEAD));
#endif
    freeset_clear(&fa->free[order], slot_of(fa, pfn, order));
    *meta_of(fa, pfn) = (struct pl_frame){0};
    fa->st.free_blocks[order]--;
    fa->st.free_frames -= frames_of(order);
}

void pl_frame_allocator_free(struct pl_frame_allocator *fa)
{
    if (!fa)
        return;
    for (unsigned k = 0; k < PL_FRAME_ORDERS; k++)
        freeset_release(&fa->free[k]);
    free(fa->meta);
    free(fa);
}

struct pl_frame_allocator *pl_frame_allocator_new(struct pl_physmem *mem, uint64_t base, uint64_t size)
{
    if (!mem || size == 0 || (base | size) & (PL_FRAME_SIZE - 1) || base > PL_PHYS_LIMIT ||
        size > PL_PHYS_LIMIT - base)
        return NULL;
    struct pl_frame_allocator *fa = calloc(1, sizeof *fa);
    if (!fa)
        return NULL;
    fa->mem = mem;
    fa->base_pfn = base >> PL_FRAME_SHIFT;
    fa->end_pfn = (base + size) >> PL_FRAME_SHIFT;
    fa->st.frames = fa->end_pfn - fa->base_pfn;
    /* calloc: the host maps the metadata of untouched frames lazily */
    fa->meta = calloc((size_t)fa->st.frames, sizeof *fa->meta);
    if (!fa->meta)
        goto fail;
    for (unsigned k = 0; k < PL_FRAME_ORDERS; k++)
        if (freeset_init(&fa->free[k], slot_of(fa, fa->end_pfn - 1, k) + 1) < 0)
            goto fail;
    for (uint64_t p = fa->base_pfn; p < fa->end_pfn;) {
        unsigned k = p ? (unsigned)__builtin_ctzll(p) : PL_FRAME_MAX_ORDER;
        if (k > PL_FRAME_MAX_ORDER)
            k = PL_FRAME_MAX_ORDER;
        while (!block_in_range(fa, p, k))
            k--;
        push_free(fa, p, k);
        p += frames_of(k);
    }
    return fa;
fail:
    pl_frame_allocator_free(fa);
    return NULL;
}

int pl_frame_alloc(struct pl_frame_allocator *fa, unsigned order, uint16_t flags, uint64_t *pa)
{
    if (!pa || order > PL_FRAME_MAX_ORDER || (flags & ~PL_FRAME_ALLOC_FLAGS))
        return PL_EINVAL;
    if (fa->fail_countdown && --fa->fail_countdown == 0) {
        fa->st.failures++;
        fa->st.injected_failures++;
        return PL_ENOMEM;
    }
    unsigned k = order;
    uint64_t slot = 0;
    while (k <= PL_FRAME_MAX_ORDER && !freeset_first(&fa->free[k], &slot))
        k++;
    if (k > PL_FRAME_MAX_ORDER) {
        fa->st.failures++;
        return PL_ENOMEM;
    }
    uint64_t pfn = ((fa->base_pfn >> k) + slot) << k;
    pop_free(fa, pfn, k);
    while (k > order) {
        k--;
        push_free(fa, pfn + frames_of(k), k);
        fa->st.splits++;
    }
    *meta_of(fa, pfn) = (struct pl_frame){
        .refcount = 1, .flags = (uint16_t)(PL_FRAME_HEAD | flags), .order = (uint8_t)order};
    fa->st.allocated[order]++;
    fa->st.allocs++;

    uint64_t bytes = PL_FRAME_SIZE << order, cleared = 0;
    int err = pl_physmem_zero(fa->mem, pfn << PL_FRAME_SHIFT, bytes, &cleared);
    assert(err == 0); /* the range lies below 2^52 */
    (void)err;
    fa->st.bytes_zeroed += cleared;
    fa->st.bytes_zero_skipped += bytes - cleared;
    *pa = pfn << PL_FRAME_SHIFT;
    return 0;
}

/* Returns the allocated block at pfn (order `order`) to the free sets,
 * merging it with its free buddy as long as there is one. */
static void release(struct pl_frame_allocator *fa, uint64_t pfn, unsigned order)
{
    fa->st.allocated[order]--;
    fa->st.frees++;
    *meta_of(fa, pfn) = (struct pl_frame){0};
    unsigned k = order;
    while (k < PL_FRAME_MAX_ORDER) {
        uint64_t buddy = pfn ^ frames_of(k);
        if (!block_in_range(fa, buddy, k))
            break;
        const struct pl_frame *b = meta_of(fa, buddy);
        if (b->flags != (PL_FRAME_FREE | PL_FRAME_HEAD) || b->order != k)
            break;
        pop_free(fa, buddy, k);
        pfn &= ~frames_of(k);
        k++;
        fa->st.merges++;
    }
    push_free(fa, pfn, k);
}

/* The head frame of the block containing frame pfn (in range), or NO_FRAME
 * when the metadata says none. The first head met going down in alignment is
 * the block's: every frame between it and pfn is inside the block. */
static uint64_t find_head(const struct pl_frame_allocator *fa, uint64_t pfn)
{
    for (unsigned k = 0; k <= PL_FRAME_MAX_ORDER; k++) {
        uint64_t h = pfn & ~(frames_of(k) - 1);
        if (h < fa->base_pfn)
            break;
        const struct pl_frame *m = meta_of(fa, h);
        if (m->flags & PL_FRAME_HEAD)
            return m->order >= k ? h : NO_FRAME;
    }
    return NO_FRAME;
}

/* The frame number of a frame address in range, or NO_FRAME. */
static uint64_t frame_arg(const struct pl_frame_allocator *fa, uint64_t pa)
{
    uint64_t pfn = pa >> PL_FRAME_SHIFT;
    if (pa & (PL_FRAME_SIZE - 1) || pfn < fa->base_pfn || pfn >= fa->end_pfn)
        return NO_FRAME;
    return pfn;
}

/* The head of the allocated block containing frame address pa, or NO_FRAME. */
static uint64_t allocated_head(const struct pl_frame_allocator *fa, uint64_t pa)
{
    uint64_t pfn = frame_arg(fa, pa);
    if (pfn == NO_FRAME)
        return NO_FRAME;
    uint64_t h = find_head(fa, pfn);
    if (h == NO_FRAME || meta_of(fa, h)->flags & PL_FRAME_FREE || meta_of(fa, h)->refcount == 0)
        return NO_FRAME;
    return h;
}

int pl_frame_free(struct pl_frame_allocator *fa, uint64_t pa)
{
    uint64_t pfn = allocated_head(fa, pa);
    if (pfn == NO_FRAME || pfn != pa >> PL_FRAME_SHIFT)
        return PL_EINVAL;
    const struct pl_frame *m = meta_of(fa, pfn);
    if (m->refcount != 1 || m->mapcount != 0)
        return PL_EINVAL;
    release(fa, pfn, m->order);
    return 0;
}

int pl_frame_split(struct pl_frame_allocator *fa, uint64_t pa)
{
    uint64_t pfn = allocated_head(fa, pa);
    if (pfn == NO_FRAME || pfn != pa >> PL_FRAME_SHIFT)
        return PL_EINVAL;
    const struct pl_frame m = *meta_of(fa, pfn);
    if (m.refcount != 1 || m.mapcount != 0)
        return PL_EINVAL;
    for (uint64_t q = pfn; q < pfn + frames_of(m.order); q++)
        *meta_of(fa, q) = (struct pl_frame){.refcount = 1, .flags = m.flags};
    fa->st.allocated[m.order]--;
    fa->st.allocated[0] += frames_of(m.order);
    return 0;
}

int pl_frame_get(struct pl_frame_allocator *fa, uint64_t pa)
{
    uint64_t pfn = allocated_head(fa, pa);
    if (pfn == NO_FRAME)
        return PL_EINVAL;
    struct pl_frame *m = meta_of(fa, pfn);
    if (m->refcount == UINT32_MAX)
        return PL_ERANGE;
    m->refcount++;
    return 0;
}

int pl_frame_put(struct pl_frame_allocator *fa, uint64_t pa)
{
    uint64_t pfn = allocated_head(fa, pa);
    if (pfn == NO_FRAME)
        return PL_EINVAL;
    struct pl_frame *m = meta_of(fa, pfn);
    if (m->refcount > 1) {
        m->refcount--;
        return 0;
    }
    if (m->mapcount != 0)
        return PL_EINVAL;
    release(fa, pfn, m->order);
    return 0;
}

struct pl_frame *pl_frame_meta(struct pl_frame_allocator *fa, uint64_t pa)
{
    uint64_t head;
    if (pl_frame_head(fa, pa, &head) < 0)
        return NULL;
    return meta_of(fa, head >> PL_FRAME_SHIFT);
}

int pl_frame_head(const struct pl_frame_allocator *fa, uint64_t pa, uint64_t *head)
{
    uint64_t pfn = pa >> PL_FRAME_SHIFT;
    if (!head || pfn < fa->base_pfn || pfn >= fa->end_pfn)
        return PL_EINVAL;
    uint64_t h = find_head(fa, pfn);
    if (h == NO_FRAME)
        return PL_EINVAL;
    *head = h << PL_FRAME_SHIFT;
    return 0;
}

void pl_frame_fail_after(struct pl_frame_allocator *fa, uint64_t n)
{
    fa->fail_countdown = n;
}

void pl_frame_stats_read(const struct pl_frame_allocator *fa, struct pl_frame_stats *out)
{
    *out = fa->st;
}

/* Writes the message into msg (if there is room) and returns PL_EINVAL. */
static int check_fail(char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg && msglen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return PL_EINVAL;
}

#define PA(pfn) ((unsigned long long)(pfn) << PL_FRAME_SHIFT)

/* Every summary bit says exactly whether its word one level down is non-zero,
 * and level 0 holds `expected` bits. */
static int check_freeset(const struct freeset *fs, unsigned order, uint64_t expected, char *msg, size_t msglen)
{
    uint64_t bits = 0;
    for (size_t w = 0; w < fs->nwords[0]; w++)
        bits += (uint64_t)__builtin_popcountll(fs->level[0][w]);
    if (bits != expected)
        return check_fail(msg, msglen, "order %u: free set holds %llu blocks, metadata %llu", order,
                          (unsigned long long)bits, (unsigned long long)expected);
    for (unsigned l = 1; l < fs->nlevels; l++)
        for (size_t i = 0; i < 64 * fs->nwords[l]; i++) {
            bool want = i < fs->nwords[l - 1] && fs->level[l - 1][i] != 0;
            bool have = fs->level[l][i >> 6] >> (i & 63) & 1;
            if (want != have)
                return check_fail(msg, msglen, "order %u: summary level %u bit %zu is %d", order, l, i, have);
        }
    return 0;
}

/* Checks the block at pfn; counts it in nfree or nalloc. */
static int check_block(const struct pl_frame_allocator *fa, uint64_t pfn, uint64_t *nfree, uint64_t *nalloc,
                       char *msg, size_t msglen)
{
    const struct pl_frame *m = meta_of(fa, pfn);
    unsigned k = m->order;
    if (!(m->flags & PL_FRAME_HEAD))
        return check_fail(msg, msglen, "frame %#llx: in no block (not a head)", PA(pfn));
    if (k > PL_FRAME_MAX_ORDER || pfn & (frames_of(k) - 1) || !block_in_range(fa, pfn, k))
        return check_fail(msg, msglen, "block %#llx: order %u is too large, unaligned or past the range",
                          PA(pfn), k);
    if (m->spare)
        return check_fail(msg, msglen, "block %#llx: spare byte is %u", PA(pfn), m->spare);
    if (m->flags & PL_FRAME_FREE) {
        if (m->flags != (PL_FRAME_FREE | PL_FRAME_HEAD) || m->refcount || m->mapcount)
            return check_fail(msg, msglen, "free block %#llx: flags %#x, refcount %u, mapcount %u", PA(pfn),
                              m->flags, m->refcount, m->mapcount);
        if (!freeset_test(&fa->free[k], slot_of(fa, pfn, k)))
            return check_fail(msg, msglen, "free block %#llx (order %u): not in its free set", PA(pfn), k);
        uint64_t buddy = pfn ^ frames_of(k);
        if (k < PL_FRAME_MAX_ORDER && block_in_range(fa, buddy, k) &&
            meta_of(fa, buddy)->flags == (PL_FRAME_FREE | PL_FRAME_HEAD) && meta_of(fa, buddy)->order == k)
            return check_fail(msg, msglen, "free blocks %#llx and %#llx (order %u): buddies not coalesced",
                              PA(pfn), PA(buddy), k);
        nfree[k]++;
    } else {
        if (m->flags & ~(PL_FRAME_HEAD | PL_FRAME_ALLOC_FLAGS))
            return check_fail(msg, msglen, "block %#llx: unknown flags %#x", PA(pfn), m->flags);
        if (m->refcount == 0)
            return check_fail(msg, msglen, "allocated block %#llx: refcount 0", PA(pfn));
        nalloc[k]++;
    }
    for (uint64_t q = pfn + 1; q < pfn + frames_of(k); q++) {
        const struct pl_frame *t = meta_of(fa, q);
        if (t->refcount || t->mapcount || t->flags || t->order || t->spare)
            return check_fail(msg, msglen, "frame %#llx inside block %#llx: metadata not zero", PA(q), PA(pfn));
    }
    return 0;
}

int pl_frame_check(const struct pl_frame_allocator *fa, char *msg, size_t msglen)
{
    uint64_t nfree[PL_FRAME_ORDERS] = {0}, nalloc[PL_FRAME_ORDERS] = {0};
    int err;
    for (uint64_t p = fa->base_pfn; p < fa->end_pfn; p += frames_of(meta_of(fa, p)->order))
        if ((err = check_block(fa, p, nfree, nalloc, msg, msglen)) < 0)
            return err;
    uint64_t free_frames = 0, used_frames = 0;
    for (unsigned k = 0; k < PL_FRAME_ORDERS; k++) {
        if ((err = check_freeset(&fa->free[k], k, nfree[k], msg, msglen)) < 0)
            return err;
        if (nfree[k] != fa->st.free_blocks[k] || nalloc[k] != fa->st.allocated[k])
            return check_fail(msg, msglen, "order %u: %llu free and %llu allocated blocks, stats say %llu and %llu",
                              k, (unsigned long long)nfree[k], (unsigned long long)nalloc[k],
                              (unsigned long long)fa->st.free_blocks[k], (unsigned long long)fa->st.allocated[k]);
        free_frames += nfree[k] << k;
        used_frames += nalloc[k] << k;
    }
    if (free_frames != fa->st.free_frames || free_frames + used_frames != fa->st.frames)
        return check_fail(msg, msglen, "%llu free + %llu allocated frames; stats say %llu free of %llu",
                          (unsigned long long)free_frames, (unsigned long long)used_frames,
                          (unsigned long long)fa->st.free_frames, (unsigned long long)fa->st.frames);
    if (msg && msglen > 0)
        msg[0] = '\0';
    return 0;
}
