/* The trace format's record encoding and checksum (docs/trace-format.md). */
#include "trace/format.h"

char pl_trace_kind_letter(int kind)
{
    static const char letters[PL_TRACE_KINDS] = {'I', 'L', 'S', 'M'};
    return kind >= 0 && kind < PL_TRACE_KINDS ? letters[kind] : '?';
}

/* Writes v as a LEB128 varint at out; returns its length (1..10). */
static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint from the avail bytes at p. Returns its length, 0 if it
 * runs past avail, or -1 if it is longer than 64 bits allow. */
static int get_varint(const uint8_t *p, size_t avail, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i == avail)
            return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return (int)i + 1;
        }
    }
    return -1;
}

size_t plt_encode(struct plt_codec *c, const struct pl_trace_access *a, uint8_t *out)
{
    unsigned k = a->kind & PLT_TAG_KIND;
    uint64_t delta = a->addr - c->next[k];
    /* Zigzag, so that small steps back are short too. */
    uint64_t zz = (delta << 1) ^ (uint64_t)-(int64_t)(delta >> 63);
    uint8_t tag = (uint8_t)k;
    size_t n = 1;
    if (a->size < 16)
        tag |= (uint8_t)(a->size << PLT_TAG_SIZE_SHIFT);
    else
        n += put_varint(out + n, a->size);
    if (zz) {
        tag |= PLT_TAG_DELTA;
        n += put_varint(out + n, zz);
    }
    out[0] = tag;
    c->next[k] = a->addr + a->size;
    return n;
}

int plt_decode(struct plt_codec *c, const uint8_t *p, size_t avail, struct pl_trace_access *a,
               const char **why)
{
    if (avail == 0)
        return 0;
    uint8_t tag = p[0];
    if (tag & PLT_TAG_RESERVED) {
        *why = "bad record tag (reserved bit 7 set)";
        return -1;
    }
    size_t n = 1;
    uint64_t size = (tag & PLT_TAG_SIZE) >> PLT_TAG_SIZE_SHIFT;
    if (size == 0) {
        int m = get_varint(p + n, avail - n, &size);
        if (m <= 0) {
            *why = "bad access size";
            return m;
        }
        if (size == 0 || size > UINT32_MAX) {
            *why = size ? "access size above 2^32-1" : "access size 0";
            return -1;
        }
        n += (size_t)m;
    }
    uint64_t zz = 0;
    if (tag & PLT_TAG_DELTA) {
        int m = get_varint(p + n, avail - n, &zz);
        if (m <= 0) {
            *why = "bad address delta";
            return m;
        }
        n += (size_t)m;
    }
    unsigned k = tag & PLT_TAG_KIND;
    uint64_t delta = (zz >> 1) ^ (uint64_t)-(int64_t)(zz & 1);
    a->kind = (uint8_t)k;
    a->size = (uint32_t)size;
    a->addr = c->next[k] + delta;
    c->next[k] = a->addr + a->size;
    return (int)n;
}

/* The byte-at-a-time table of the reflected polynomial 0xEDB88320. */
static uint32_t crc_table[256];
static bool crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int j = 0; j < 8; j++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = true;
}

uint32_t plt_crc32(uint32_t crc, const void *data, size_t len)
{
    if (!crc_ready)
        crc_init();
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}
