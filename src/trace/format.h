/* The trace format's layout and encoding (docs/trace-format.md), shared by
 * the writer and the reader. Private to src/trace. */
#ifndef PTELAB_TRACE_FORMAT_H
#define PTELAB_TRACE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ptelab/trace.h"

/* The header, little-endian, at offset 0 of the file:
 *
 *   0  8  magic "PLTRACE\0"       48  8  count of S
 *   8  2  version                 56  8  count of M
 *  10  2  flags (bit 0: complete) 64  8  distinct pages
 *  12  4  header size             72  8  compressed size
 *  16  4  page size               80  4  CRC-32 of the compressed stream
 *  20  4  CRC-32 of the header    84  4  argc
 *  24  8  date                    88  4  program length, then its bytes,
 *  32  8  count of I                     then argc x (u32 length, bytes)
 *  40  8  count of L
 */
#define PLT_MAGIC "PLTRACE"      /* and a NUL: 8 bytes */
#define PLT_MAGIC_BYTES 8
#define PLT_OFF_VERSION 8
#define PLT_OFF_FLAGS 10
#define PLT_OFF_HEADER_SIZE 12
#define PLT_OFF_PAGE_SIZE 16
#define PLT_OFF_HEADER_CRC 20
#define PLT_OFF_DATE 24
#define PLT_OFF_COUNTS 32
#define PLT_OFF_DISTINCT 64
#define PLT_OFF_COMPRESSED 72
#define PLT_OFF_STREAM_CRC 80
#define PLT_OFF_ARGC 84
#define PLT_OFF_STRINGS 88
#define PLT_FIXED_BYTES 88
#define PLT_FLAG_COMPLETE 0x0001u
/* Bounds that keep a damaged header from asking for absurd memory. */
#define PLT_MAX_HEADER_BYTES (1u << 20)
#define PLT_MAX_PAGE_SIZE (1u << 30)

/* An access record in the decompressed stream: a tag byte
 *   bits 0-1 kind, bit 2 delta follows, bits 3-6 size (0: a varint size
 *   follows), bit 7 reserved (0)
 * then the size varint if any, then the zigzag varint of the address minus
 * the kind's prediction if bit 2 is set (otherwise the delta is 0). */
#define PLT_TAG_KIND 0x03u
#define PLT_TAG_DELTA 0x04u
#define PLT_TAG_SIZE_SHIFT 3
#define PLT_TAG_SIZE 0x78u
#define PLT_TAG_RESERVED 0x80u
#define PLT_RECORD_MAX 21 /* tag + two 10-byte varints */

/* The decoder's and encoder's state: the predicted address per kind, the
 * byte after the previous access of that kind. */
struct plt_codec {
    uint64_t next[PL_TRACE_KINDS];
};

/* Encodes a (kind < 4, size >= 1) into out (PLT_RECORD_MAX bytes) and
 * advances c. Returns the record's length. */
size_t plt_encode(struct plt_codec *c, const struct pl_trace_access *a, uint8_t *out);

/* Decodes one record from the avail bytes at p into *a and advances c.
 * Returns the record's length, 0 if avail is too short for it, or -1 if it
 * is malformed, with *why set to a static message. */
int plt_decode(struct plt_codec *c, const uint8_t *p, size_t avail, struct pl_trace_access *a,
               const char **why);

/* CRC-32 (IEEE 802.3, as zlib's crc32): crc is the value so far (0 to
 * start). */
uint32_t plt_crc32(uint32_t crc, const void *data, size_t len);

static inline void plt_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void plt_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void plt_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t plt_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t plt_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t plt_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif
