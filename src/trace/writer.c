/* The trace writer: accesses in, records through a zstd stream out, the
 * header rewritten with the counts at the end (docs/trace-format.md). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "ptelab/error.h"
#include "trace/format.h"

#define IN_BYTES (1u << 16)

/* A set of page numbers (open addressing, linear probing). Page 0 is
 * stored as a flag because 0 marks an empty slot. */
struct page_set {
    uint64_t *slot;
    size_t cap, used;
    bool has_zero;
};

struct pl_trace_writer {
    FILE *f;
    ZSTD_CCtx *cctx;
    uint8_t *in, *out;
    size_t in_len, out_cap;
    struct plt_codec codec;
    struct page_set pages;
    unsigned page_shift;
    uint8_t *header;          /* the whole header as first written */
    uint32_t header_bytes;
    uint64_t count[PL_TRACE_KINDS];
    uint64_t compressed;
    uint32_t stream_crc;
    int error;                /* the first error, sticky */
};

/* Returns a mixed hash of a page number. */
static uint64_t page_hash(uint64_t p)
{
    p ^= p >> 33;
    p *= 0xff51afd7ed558ccdull;
    p ^= p >> 33;
    return p;
}

/* Adds page p to s; returns 0 or PL_ENOMEM. */
static int page_set_add(struct page_set *s, uint64_t p)
{
    if (p == 0) {
        s->has_zero = true;
        return 0;
    }
    if (2 * (s->used + 1) > s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 4096;
        uint64_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return PL_ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            uint64_t q = s->slot[i];
            if (!q)
                continue;
            size_t j = page_hash(q) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = q;
        }
        free(s->slot);
        s->slot = ns;
        s->cap = ncap;
    }
    size_t j = page_hash(p) & (s->cap - 1);
    while (s->slot[j] && s->slot[j] != p)
        j = (j + 1) & (s->cap - 1);
    if (!s->slot[j]) {
        s->slot[j] = p;
        s->used++;
    }
    return 0;
}

/* Fills the fixed fields of the header at h from w's state. */
static void header_fill(struct pl_trace_writer *w, uint8_t *h, bool complete)
{
    plt_put16(h + PLT_OFF_FLAGS, complete ? PLT_FLAG_COMPLETE : 0);
    for (int k = 0; k < PL_TRACE_KINDS; k++)
        plt_put64(h + PLT_OFF_COUNTS + 8 * k, w->count[k]);
    plt_put64(h + PLT_OFF_DISTINCT, w->pages.used + w->pages.has_zero);
    plt_put64(h + PLT_OFF_COMPRESSED, w->compressed);
    plt_put32(h + PLT_OFF_STREAM_CRC, w->stream_crc);
    plt_put32(h + PLT_OFF_HEADER_CRC, 0);
    plt_put32(h + PLT_OFF_HEADER_CRC, plt_crc32(0, h, w->header_bytes));
}

/* Builds the provisional header of meta into w->header. Returns 0,
 * PL_EINVAL or PL_ENOMEM. */
static int header_build(struct pl_trace_writer *w, const struct pl_trace_meta *meta)
{
    const char *prog = meta->program ? meta->program : "";
    uint64_t size = PLT_FIXED_BYTES + 4 + (uint64_t)strlen(prog);
    for (uint32_t i = 0; i < meta->argc; i++) {
        if (!meta->argv || !meta->argv[i])
            return PL_EINVAL;
        size += 4 + (uint64_t)strlen(meta->argv[i]);
    }
    if (size > PLT_MAX_HEADER_BYTES)
        return PL_EINVAL;
    uint8_t *h = calloc(1, (size_t)size);
    if (!h)
        return PL_ENOMEM;
    memcpy(h, PLT_MAGIC, PLT_MAGIC_BYTES);
    plt_put16(h + PLT_OFF_VERSION, PL_TRACE_VERSION);
    plt_put32(h + PLT_OFF_HEADER_SIZE, (uint32_t)size);
    plt_put32(h + PLT_OFF_PAGE_SIZE, 1u << w->page_shift);
    plt_put64(h + PLT_OFF_DATE, (uint64_t)meta->date);
    plt_put32(h + PLT_OFF_ARGC, meta->argc);
    size_t off = PLT_OFF_STRINGS;
    for (uint32_t i = 0; i <= meta->argc; i++) {
        const char *s = i == 0 ? prog : meta->argv[i - 1];
        size_t len = strlen(s);
        plt_put32(h + off, (uint32_t)len);
        memcpy(h + off + 4, s, len);
        off += 4 + len;
    }
    w->header = h;
    w->header_bytes = (uint32_t)size;
    header_fill(w, h, false);
    return 0;
}

/* Frees w and what it owns; closes its file without checking. */
static void writer_free(struct pl_trace_writer *w)
{
    if (w->f)
        fclose(w->f);
    ZSTD_freeCCtx(w->cctx);
    free(w->in);
    free(w->out);
    free(w->pages.slot);
    free(w->header);
    free(w);
}

int pl_trace_writer_open(const char *path, const struct pl_trace_meta *meta, int level,
                         struct pl_trace_writer **out)
{
    *out = NULL;
    uint32_t ps = meta->page_size ? meta->page_size : 4096;
    if (!path || ps > PLT_MAX_PAGE_SIZE || (ps & (ps - 1)) || level < 0 || level > ZSTD_maxCLevel())
        return PL_EINVAL;
    struct pl_trace_writer *w = calloc(1, sizeof *w);
    if (!w)
        return PL_ENOMEM;
    while ((1u << w->page_shift) < ps)
        w->page_shift++;
    int rc = header_build(w, meta);
    if (rc) {
        writer_free(w);
        return rc;
    }
    w->out_cap = ZSTD_CStreamOutSize();
    w->in = malloc(IN_BYTES);
    w->out = malloc(w->out_cap);
    w->cctx = ZSTD_createCCtx();
    if (!w->in || !w->out || !w->cctx) {
        writer_free(w);
        return PL_ENOMEM;
    }
    /* Levels above 19 would need a window bigger than readers accept. */
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level ? (level > 19 ? 19 : level) : 9);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    w->f = fopen(path, "wb");
    if (!w->f) {
        int e = errno;
        writer_free(w);
        errno = e;
        return PL_EIO;
    }
    if (fwrite(w->header, 1, w->header_bytes, w->f) != w->header_bytes) {
        int e = errno;
        writer_free(w);
        errno = e;
        return PL_EIO;
    }
    *out = w;
    return 0;
}

/* Compresses w's pending records (and ends the frame if end); writes what
 * comes out. Returns 0 or PL_EIO. */
static int flush_in(struct pl_trace_writer *w, bool end)
{
    ZSTD_inBuffer in = {w->in, w->in_len, 0};
    ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
        ZSTD_outBuffer out = {w->out, w->out_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
        if (ZSTD_isError(left))
            return PL_EIO;
        if (out.pos) {
            if (fwrite(w->out, 1, out.pos, w->f) != out.pos)
                return PL_EIO;
            w->stream_crc = plt_crc32(w->stream_crc, w->out, out.pos);
            w->compressed += out.pos;
        }
        if (end ? left == 0 : in.pos == in.size)
            break;
    }
    w->in_len = 0;
    return 0;
}

/* Adds pages first..last to w's set; returns 0 or PL_ENOMEM. */
static int add_pages(struct pl_trace_writer *w, uint64_t first, uint64_t last)
{
    for (uint64_t p = first;; p++) {
        int rc = page_set_add(&w->pages, p);
        if (rc || p == last)
            return rc;
    }
}

int pl_trace_write(struct pl_trace_writer *w, const struct pl_trace_access *a, size_t n)
{
    if (w->error)
        return w->error;
    for (size_t i = 0; i < n; i++)
        if (a[i].size == 0 || a[i].kind >= PL_TRACE_KINDS)
            return PL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (w->in_len + PLT_RECORD_MAX > IN_BYTES && (w->error = flush_in(w, false)))
            return w->error;
        w->in_len += plt_encode(&w->codec, &a[i], w->in + w->in_len);
        w->count[a[i].kind]++;
        uint64_t first = a[i].addr >> w->page_shift;
        uint64_t last = (a[i].addr + (a[i].size - 1)) >> w->page_shift;
        /* An access that wraps past 2^64 also touches pages from 0. */
        if (last < first) {
            if ((w->error = add_pages(w, first, UINT64_MAX >> w->page_shift)))
                return w->error;
            first = 0;
        }
        if ((w->error = add_pages(w, first, last)))
            return w->error;
    }
    return 0;
}

int pl_trace_writer_close(struct pl_trace_writer *w, struct pl_trace_header *hdr)
{
    int rc = w->error;
    if (!rc)
        rc = flush_in(w, true);
    if (!rc) {
        header_fill(w, w->header, true);
        if (fflush(w->f) != 0 || fseek(w->f, 0, SEEK_SET) != 0 ||
            fwrite(w->header, 1, w->header_bytes, w->f) != w->header_bytes)
            rc = PL_EIO;
    }
    if (hdr) {
        memset(hdr, 0, sizeof *hdr);
        hdr->version = PL_TRACE_VERSION;
        hdr->page_size = 1u << w->page_shift;
        hdr->date = (int64_t)plt_get64(w->header + PLT_OFF_DATE);
        for (int k = 0; k < PL_TRACE_KINDS; k++) {
            hdr->count[k] = w->count[k];
            hdr->accesses += w->count[k];
        }
        hdr->distinct_pages = w->pages.used + w->pages.has_zero;
        hdr->header_bytes = w->header_bytes;
        hdr->compressed_bytes = w->compressed;
        hdr->argc = plt_get32(w->header + PLT_OFF_ARGC);
    }
    FILE *f = w->f;
    w->f = NULL;
    if (fclose(f) != 0 && !rc)
        rc = PL_EIO;
    writer_free(w);
    return rc;
}
