/* Sparse physical memory: an open-addressing hash table from frame number to
 * a 4 KiB frame, frames carved from large anonymous mappings so that the host
 * only pays for frames that are written. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "ptelab/physmem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ptelab/error.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "64-bit words are read as host words");

#define EMPTY_SLOT UINT64_MAX
#define SLAB_FRAMES 512 /* 2 MiB of frames per host mapping */
#define MIN_SLOTS 4 /* index bytes stay under 64 per frame even for tiny memories */

struct slot {
    uint64_t pfn; /* EMPTY_SLOT when free */
    uint8_t *frame;
};

struct slab {
    struct slab *next;
    uint8_t *base;
};

/* Frames looked up lately, direct-mapped by frame number: a walk reads the
 * same few page-table frames over and over, and a hit here skips the hash
 * probe (a cache miss of its own in a large index). Frames never move, so an
 * entry stays right until pl_physmem_free. */
#define RECENT 16

struct pl_physmem {
    struct slot recent[RECENT];
    struct slot *slots; /* power-of-two count, at most half full */
    size_t nslots;
    size_t nframes;
    unsigned hash_shift; /* 64 - log2(nslots) */
    struct slab *slabs;
    size_t slab_used; /* frames handed out of slabs->base */
};

static size_t slot_of(const struct pl_physmem *mem, uint64_t pfn)
{
    return (size_t)((pfn * UINT64_C(0x9E3779B97F4A7C15)) >> mem->hash_shift);
}

static struct slot *slots_new(size_t n)
{
    struct slot *s = malloc(n * sizeof *s);
    if (s)
        for (size_t i = 0; i < n; i++)
            s[i].pfn = EMPTY_SLOT;
    return s;
}

struct pl_physmem *pl_physmem_new(void)
{
    struct pl_physmem *mem = calloc(1, sizeof *mem);
    if (!mem)
        return NULL;
    mem->nslots = MIN_SLOTS;
    mem->hash_shift = 64 - 2;
    mem->slots = slots_new(mem->nslots);
    if (!mem->slots) {
        free(mem);
        return NULL;
    }
    mem->slab_used = SLAB_FRAMES;
    for (size_t i = 0; i < RECENT; i++)
        mem->recent[i].pfn = EMPTY_SLOT;
    return mem;
}

void pl_physmem_free(struct pl_physmem *mem)
{
    if (!mem)
        return;
    for (struct slab *s = mem->slabs, *next; s; s = next) {
        next = s->next;
        munmap(s->base, SLAB_FRAMES * PL_FRAME_SIZE);
        free(s);
    }
    free(mem->slots);
    free(mem);
}

uint8_t *pl_physmem_frame_lookup(const struct pl_physmem *mem, uint64_t pfn)
{
    /* The recent-frame cache is no part of the memory's value: it may change
     * under a const pointer (mem itself is never a const object). */
    struct slot *recent = &((struct pl_physmem *)mem)->recent[pfn % RECENT];
    if (recent->pfn == pfn)
        return recent->frame;
    size_t mask = mem->nslots - 1;
    for (size_t i = slot_of(mem, pfn);; i = (i + 1) & mask) {
        const struct slot *s = &mem->slots[i];
        if (s->pfn == pfn) {
            *recent = *s;
            return s->frame;
        }
        if (s->pfn == EMPTY_SLOT)
            return NULL;
    }
}

static void insert_slot(struct slot *slots, size_t nslots, unsigned shift, uint64_t pfn, uint8_t *frame)
{
    size_t i = (size_t)((pfn * UINT64_C(0x9E3779B97F4A7C15)) >> shift);
    while (slots[i].pfn != EMPTY_SLOT)
        i = (i + 1) & (nslots - 1);
    slots[i].pfn = pfn;
    slots[i].frame = frame;
}

static int grow_index(struct pl_physmem *mem)
{
    size_t n = mem->nslots * 2;
    struct slot *slots = slots_new(n);
    if (!slots)
        return PL_ENOMEM;
    for (size_t i = 0; i < mem->nslots; i++)
        if (mem->slots[i].pfn != EMPTY_SLOT)
            insert_slot(slots, n, mem->hash_shift - 1, mem->slots[i].pfn, mem->slots[i].frame);
    free(mem->slots);
    mem->slots = slots;
    mem->nslots = n;
    mem->hash_shift--;
    return 0;
}

/* A zero-filled frame from the current slab, mapping a new slab when it is
 * used up. Anonymous mappings are zero and cost the host nothing until
 * written, so untouched frames of a slab are free. */
static uint8_t *carve_frame(struct pl_physmem *mem)
{
    if (mem->slab_used == SLAB_FRAMES) {
        struct slab *s = malloc(sizeof *s);
        if (!s)
            return NULL;
        void *base = mmap(NULL, SLAB_FRAMES * PL_FRAME_SIZE, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            free(s);
            return NULL;
        }
        s->base = base;
        s->next = mem->slabs;
        mem->slabs = s;
        mem->slab_used = 0;
    }
    return mem->slabs->base + PL_FRAME_SIZE * mem->slab_used++;
}

uint8_t *pl_physmem_frame_touch(struct pl_physmem *mem, uint64_t pfn)
{
    uint8_t *frame = pl_physmem_frame_lookup(mem, pfn);
    if (frame)
        return frame;
    if (2 * (mem->nframes + 1) > mem->nslots && grow_index(mem) < 0)
        return NULL;
    frame = carve_frame(mem);
    if (!frame)
        return NULL;
    insert_slot(mem->slots, mem->nslots, mem->hash_shift, pfn, frame);
    mem->nframes++;
    return frame;
}

uint64_t pl_physmem_read64(const struct pl_physmem *mem, uint64_t pa)
{
    const uint8_t *frame = pl_physmem_frame_lookup(mem, pa >> PL_FRAME_SHIFT);
    uint64_t v = 0;
    if (frame)
        memcpy(&v, frame + (pa & (PL_FRAME_SIZE - 1)), sizeof v);
    return v;
}

int pl_physmem_write64(struct pl_physmem *mem, uint64_t pa, uint64_t value)
{
    uint8_t *frame = pl_physmem_frame_touch(mem, pa >> PL_FRAME_SHIFT);
    if (!frame)
        return PL_ENOMEM;
    memcpy(frame + (pa & (PL_FRAME_SIZE - 1)), &value, sizeof value);
    return 0;
}

uint8_t pl_physmem_read8(const struct pl_physmem *mem, uint64_t pa)
{
    const uint8_t *frame = pl_physmem_frame_lookup(mem, pa >> PL_FRAME_SHIFT);
    return frame ? frame[pa & (PL_FRAME_SIZE - 1)] : 0;
}

int pl_physmem_write8(struct pl_physmem *mem, uint64_t pa, uint8_t value)
{
    uint8_t *frame = pl_physmem_frame_touch(mem, pa >> PL_FRAME_SHIFT);
    if (!frame)
        return PL_ENOMEM;
    frame[pa & (PL_FRAME_SIZE - 1)] = value;
    return 0;
}

static bool range_ok(uint64_t pa, size_t len)
{
    return pa <= PL_PHYS_LIMIT && len <= PL_PHYS_LIMIT - pa;
}

int pl_physmem_read(const struct pl_physmem *mem, uint64_t pa, void *buf, size_t len)
{
    if (!range_ok(pa, len))
        return PL_ERANGE;
    uint8_t *out = buf;
    while (len > 0) {
        size_t off = (size_t)(pa & (PL_FRAME_SIZE - 1));
        size_t n = PL_FRAME_SIZE - off < len ? PL_FRAME_SIZE - off : len;
        const uint8_t *frame = pl_physmem_frame_lookup(mem, pa >> PL_FRAME_SHIFT);
        if (frame)
            memcpy(out, frame + off, n);
        else
            memset(out, 0, n);
        out += n;
        pa += n;
        len -= n;
    }
    return 0;
}

int pl_physmem_write(struct pl_physmem *mem, uint64_t pa, const void *buf, size_t len)
{
    if (!range_ok(pa, len))
        return PL_ERANGE;
    const uint8_t *in = buf;
    while (len > 0) {
        size_t off = (size_t)(pa & (PL_FRAME_SIZE - 1));
        size_t n = PL_FRAME_SIZE - off < len ? PL_FRAME_SIZE - off : len;
        uint8_t *frame = pl_physmem_frame_touch(mem, pa >> PL_FRAME_SHIFT);
        if (!frame)
            return PL_ENOMEM;
        memcpy(frame + off, in, n);
        in += n;
        pa += n;
        len -= n;
    }
    return 0;
}

/* Clears the part of frame pfn (which exists at `frame`) inside [pa, end);
 * returns the bytes cleared. */
static uint64_t zero_part(uint8_t *frame, uint64_t pfn, uint64_t pa, uint64_t end)
{
    uint64_t lo = pfn << PL_FRAME_SHIFT, hi = lo + PL_FRAME_SIZE;
    if (lo < pa)
        lo = pa;
    if (hi > end)
        hi = end;
    memset(frame + (lo & (PL_FRAME_SIZE - 1)), 0, (size_t)(hi - lo));
    return hi - lo;
}

int pl_physmem_zero(struct pl_physmem *mem, uint64_t pa, uint64_t len, uint64_t *cleared)
{
    if (pa > PL_PHYS_LIMIT || len > PL_PHYS_LIMIT - pa)
        return PL_ERANGE;
    uint64_t n = 0, end = pa + len;
    if (len > 0) {
        uint64_t first = pa >> PL_FRAME_SHIFT, last = (end - 1) >> PL_FRAME_SHIFT;
        /* Walk whichever is shorter: the range's frames or the index. */
        if (last - first >= mem->nslots) {
            for (size_t i = 0; i < mem->nslots; i++) {
                struct slot *s = &mem->slots[i];
                if (s->pfn != EMPTY_SLOT && s->pfn >= first && s->pfn <= last)
                    n += zero_part(s->frame, s->pfn, pa, end);
            }
        } else {
            for (uint64_t pfn = first; pfn <= last; pfn++) {
                uint8_t *frame = pl_physmem_frame_lookup(mem, pfn);
                if (frame)
                    n += zero_part(frame, pfn, pa, end);
            }
        }
    }
    if (cleared)
        *cleared = n;
    return 0;
}

size_t pl_physmem_frames(const struct pl_physmem *mem)
{
    return mem->nframes;
}

size_t pl_physmem_host_bytes(const struct pl_physmem *mem)
{
    return mem->nframes * PL_FRAME_SIZE + mem->nslots * sizeof(struct slot);
}
