/* Sparse physical memory: up to 2^52 bytes, 4 KiB frames created zero-filled
 * on first write. Host memory grows with the frames written: at most 4 KiB of
 * data plus 64 bytes of index per frame. Reading a frame never written returns
 * zeros and creates nothing. */
#ifndef PTELAB_PHYSMEM_H
#define PTELAB_PHYSMEM_H

#include <stddef.h>
#include <stdint.h>

#define PL_PHYS_BITS 52
#define PL_PHYS_LIMIT (UINT64_C(1) << PL_PHYS_BITS)
#define PL_FRAME_SHIFT 12
#define PL_FRAME_SIZE (UINT64_C(1) << PL_FRAME_SHIFT)

struct pl_physmem;

/* Returns an empty memory, or NULL when the host is out of memory. */
struct pl_physmem *pl_physmem_new(void);
void pl_physmem_free(struct pl_physmem *mem);

/* The frame holding physical frame number pfn: NULL if never written
 * (lookup), or created zero-filled (touch; NULL only when the host is out of
 * memory). pfn must be below 2^40. The pointer stays valid until
 * pl_physmem_free. */
uint8_t *pl_physmem_frame_lookup(const struct pl_physmem *mem, uint64_t pfn);
uint8_t *pl_physmem_frame_touch(struct pl_physmem *mem, uint64_t pfn);

/* 64-bit little-endian words. pa must be 8-byte aligned and below 2^52;
 * write64 returns 0 or PL_ENOMEM. */
uint64_t pl_physmem_read64(const struct pl_physmem *mem, uint64_t pa);
int pl_physmem_write64(struct pl_physmem *mem, uint64_t pa, uint64_t value);

/* Bytes. pa below 2^52. */
uint8_t pl_physmem_read8(const struct pl_physmem *mem, uint64_t pa);
int pl_physmem_write8(struct pl_physmem *mem, uint64_t pa, uint8_t value);

/* Blocks of any length and alignment, possibly crossing frames. Return 0,
 * PL_ERANGE if [pa, pa+len) goes past 2^52, or PL_ENOMEM. */
int pl_physmem_read(const struct pl_physmem *mem, uint64_t pa, void *buf, size_t len);
int pl_physmem_write(struct pl_physmem *mem, uint64_t pa, const void *buf, size_t len);

/* Makes [pa, pa+len) read as zero by clearing the frames that exist (absent
 * frames already read as zero and stay absent). Stores in *cleared (if not
 * NULL) the bytes cleared. Returns 0 or PL_ERANGE if the range goes past
 * 2^52. Cost: O(min(frames in the range, frames in memory)). */
int pl_physmem_zero(struct pl_physmem *mem, uint64_t pa, uint64_t len, uint64_t *cleared);

/* Frames created so far, and host bytes used (data + index). */
size_t pl_physmem_frames(const struct pl_physmem *mem);
size_t pl_physmem_host_bytes(const struct pl_physmem *mem);

#endif
