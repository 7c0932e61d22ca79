/* The trace reader: header checks, then records decoded from the zstd
 * stream a buffer at a time, every damage reported with its byte offset
 * (docs/trace-format.md). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "ptelab/error.h"
#include "trace/format.h"

/* The largest zstd window a reader accepts (2^24 bytes), so a damaged frame
 * header cannot ask for gigabytes; writers stay at level <= 19. */
#define WINDOW_LOG_MAX 24
#define IN_CHUNK 4096

struct pl_trace_reader {
    FILE *f;
    bool own_f;
    struct pl_trace_header hdr;
    char *strings;             /* the header's strings, NUL-terminated */
    const char **argv;
    ZSTD_DCtx *dctx;
    uint8_t *in, *out;
    size_t in_cap, out_cap;
    ZSTD_inBuffer zin;
    size_t out_start, out_end; /* undecoded bytes of out */
    uint64_t in_base;          /* stream bytes read before the current in */
    uint64_t remaining;        /* stream bytes not yet read from the file */
    bool frame_open;           /* zstd has not yet ended the current frame */
    uint32_t stream_crc;
    uint32_t want_crc;
    struct plt_codec codec;
    uint64_t seen[PL_TRACE_KINDS];
    int status;                /* 0, 1 at the verified end, or a PL_E* code */
    struct pl_trace_error err;
};

/* Sets *err to offset and a formatted message; returns code. */
static int fail(struct pl_trace_error *err, int code, uint64_t offset, const char *fmt, ...)
{
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* Reads exactly n bytes into buf unless the file ends first. Returns the
 * number read, or -1 on a read error (errno set). */
static long read_n(FILE *f, void *buf, size_t n)
{
    size_t got = fread(buf, 1, n, f);
    if (got < n && ferror(f))
        return -1;
    return (long)got;
}

/* Reads the fixed header fields into h (PLT_FIXED_BYTES) and checks the
 * magic and the version. Returns 0 or a PL_E* code with *err. */
static int read_fixed(FILE *f, uint8_t *h, struct pl_trace_error *err)
{
    long got = read_n(f, h, PLT_FIXED_BYTES);
    if (got < 0)
        return fail(err, PL_EIO, 0, "cannot read: %s", strerror(errno));
    size_t m = (size_t)got < PLT_MAGIC_BYTES ? (size_t)got : PLT_MAGIC_BYTES;
    if (got == 0)
        return fail(err, PL_EPARSE, 0, "empty file, not a ptelab trace");
    if (memcmp(h, PLT_MAGIC, m) != 0)
        return fail(err, PL_EPARSE, 0, "not a ptelab trace (bad magic number)");
    if (got >= PLT_OFF_VERSION + 2) {
        uint16_t v = plt_get16(h + PLT_OFF_VERSION);
        if (v > PL_TRACE_VERSION)
            return fail(err, PL_EPARSE, PLT_OFF_VERSION,
                        "trace format version %u is newer than this ptelab reads (up to version %u); "
                        "upgrade ptelab to read it",
                        v, PL_TRACE_VERSION);
        if (v == 0)
            return fail(err, PL_EPARSE, PLT_OFF_VERSION, "bad format version 0");
    }
    if (got < PLT_FIXED_BYTES)
        return fail(err, PL_EPARSE, (uint64_t)got, "truncated: the file ends inside the header");
    return 0;
}

/* Parses the strings of the header h (size bytes, checksum verified) into
 * r. Returns 0 or a PL_E* code with *err. */
static int parse_strings(struct pl_trace_reader *r, const uint8_t *h, uint32_t size,
                         struct pl_trace_error *err)
{
    uint32_t argc = plt_get32(h + PLT_OFF_ARGC);
    /* Each string takes at least its 4-byte length. */
    if (argc > (size - PLT_FIXED_BYTES) / 4)
        return fail(err, PL_EPARSE, PLT_OFF_ARGC, "bad argument count %u", argc);
    r->strings = malloc(size);
    r->argv = malloc(((size_t)argc + 1) * sizeof *r->argv);
    if (!r->strings || !r->argv)
        return fail(err, PL_ENOMEM, 0, "out of memory");
    size_t off = PLT_OFF_STRINGS, dst = 0;
    for (uint32_t i = 0; i <= argc; i++) {
        if (size - off < 4)
            return fail(err, PL_EPARSE, off, "header strings overrun the header");
        uint32_t len = plt_get32(h + off);
        off += 4;
        if (len > size - off)
            return fail(err, PL_EPARSE, off - 4, "header string length %u overruns the header", len);
        if (memchr(h + off, '\0', len))
            return fail(err, PL_EPARSE, off, "NUL byte in a header string");
        memcpy(r->strings + dst, h + off, len);
        r->strings[dst + len] = '\0';
        if (i == 0)
            r->hdr.program = r->strings + dst;
        else
            r->argv[i - 1] = r->strings + dst;
        dst += len + 1;
        off += len;
    }
    if (off != size)
        return fail(err, PL_EPARSE, off, "%u unused bytes at the end of the header", (unsigned)(size - off));
    r->argv[argc] = NULL;
    r->hdr.argc = argc;
    r->hdr.argv = r->argv;
    return 0;
}

/* Reads and checks the header of r->f into r->hdr. Returns 0 or a PL_E*
 * code with *err. */
static int read_header(struct pl_trace_reader *r, struct pl_trace_error *err)
{
    uint8_t fixed[PLT_FIXED_BYTES];
    int rc = read_fixed(r->f, fixed, err);
    if (rc)
        return rc;
    uint32_t size = plt_get32(fixed + PLT_OFF_HEADER_SIZE);
    if (size < PLT_FIXED_BYTES + 4 || size > PLT_MAX_HEADER_BYTES)
        return fail(err, PL_EPARSE, PLT_OFF_HEADER_SIZE, "bad header size %u", size);
    uint8_t *h = malloc(size);
    if (!h)
        return fail(err, PL_ENOMEM, 0, "out of memory");
    memcpy(h, fixed, PLT_FIXED_BYTES);
    long got = read_n(r->f, h + PLT_FIXED_BYTES, size - PLT_FIXED_BYTES);
    if (got < 0)
        rc = fail(err, PL_EIO, 0, "cannot read: %s", strerror(errno));
    else if ((size_t)got < size - PLT_FIXED_BYTES)
        rc = fail(err, PL_EPARSE, PLT_FIXED_BYTES + (uint64_t)got,
                  "truncated: the file ends inside the header (of %u bytes)", size);
    if (rc) {
        free(h);
        return rc;
    }
    uint32_t crc = plt_get32(h + PLT_OFF_HEADER_CRC);
    plt_put32(h + PLT_OFF_HEADER_CRC, 0);
    struct pl_trace_header *hd = &r->hdr;
    uint64_t sum = 0;
    bool overflow = false;
    for (int k = 0; k < PL_TRACE_KINDS; k++) {
        hd->count[k] = plt_get64(h + PLT_OFF_COUNTS + 8 * k);
        overflow |= sum + hd->count[k] < sum;
        sum += hd->count[k];
    }
    hd->version = plt_get16(h + PLT_OFF_VERSION);
    hd->page_size = plt_get32(h + PLT_OFF_PAGE_SIZE);
    hd->date = (int64_t)plt_get64(h + PLT_OFF_DATE);
    hd->accesses = sum;
    hd->distinct_pages = plt_get64(h + PLT_OFF_DISTINCT);
    hd->header_bytes = size;
    hd->compressed_bytes = plt_get64(h + PLT_OFF_COMPRESSED);
    r->want_crc = plt_get32(h + PLT_OFF_STREAM_CRC);
    uint16_t flags = plt_get16(h + PLT_OFF_FLAGS);
    if (plt_crc32(0, h, size) != crc)
        rc = fail(err, PL_EPARSE, PLT_OFF_HEADER_CRC, "header checksum mismatch: the header is corrupt");
    else if (!(flags & PLT_FLAG_COMPLETE))
        rc = fail(err, PL_EPARSE, PLT_OFF_FLAGS,
                  "incomplete trace: its writer did not finish (killed, or out of disk space?)");
    else if (flags & ~PLT_FLAG_COMPLETE)
        rc = fail(err, PL_EPARSE, PLT_OFF_FLAGS, "unknown flags 0x%04x", flags);
    else if (hd->page_size == 0 || hd->page_size > PLT_MAX_PAGE_SIZE || (hd->page_size & (hd->page_size - 1)))
        rc = fail(err, PL_EPARSE, PLT_OFF_PAGE_SIZE, "bad page size %u", hd->page_size);
    else if (overflow)
        rc = fail(err, PL_EPARSE, PLT_OFF_COUNTS, "access counts overflow 64 bits");
    else
        rc = parse_strings(r, h, size, err);
    free(h);
    return rc;
}

/* Frees r and what it owns. */
static void reader_free(struct pl_trace_reader *r)
{
    if (r->own_f && r->f)
        fclose(r->f);
    ZSTD_freeDCtx(r->dctx);
    free(r->in);
    free(r->out);
    free(r->strings);
    free(r->argv);
    free(r);
}

int pl_trace_open_file(FILE *f, struct pl_trace_reader **out, struct pl_trace_error *err)
{
    *out = NULL;
    struct pl_trace_reader *r = calloc(1, sizeof *r);
    if (!r)
        return fail(err, PL_ENOMEM, 0, "out of memory");
    r->f = f;
    int rc = read_header(r, err);
    if (!rc) {
        /* Small reads: a damaged byte is reported within this many bytes,
         * as zstd does not say which byte of its input was wrong. */
        r->in_cap = IN_CHUNK;
        r->out_cap = ZSTD_DStreamOutSize();
        r->in = malloc(r->in_cap);
        r->out = malloc(r->out_cap);
        r->dctx = ZSTD_createDCtx();
        if (!r->in || !r->out || !r->dctx)
            rc = fail(err, PL_ENOMEM, 0, "out of memory");
        else
            ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
    }
    if (rc) {
        reader_free(r);
        return rc;
    }
    r->zin = (ZSTD_inBuffer){r->in, 0, 0};
    r->remaining = r->hdr.compressed_bytes;
    r->err = (struct pl_trace_error){0, ""};
    *out = r;
    return 0;
}

int pl_trace_open(const char *path, struct pl_trace_reader **out, struct pl_trace_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, PL_EIO, 0, "cannot open: %s", strerror(errno));
    int rc = pl_trace_open_file(f, out, err);
    if (rc) {
        int e = errno;
        fclose(f);
        errno = e;
        return rc;
    }
    (*out)->own_f = true;
    return 0;
}

const struct pl_trace_header *pl_trace_header(const struct pl_trace_reader *r)
{
    return &r->hdr;
}

const struct pl_trace_error *pl_trace_error(const struct pl_trace_reader *r)
{
    return &r->err;
}

/* The file offset of the next compressed byte zstd will consume. */
static uint64_t in_offset(const struct pl_trace_reader *r)
{
    return r->hdr.header_bytes + r->in_base + r->zin.pos;
}

/* Records a sticky error on r; returns code. */
static int stop(struct pl_trace_reader *r, int code, uint64_t offset, const char *fmt, ...)
{
    r->err.offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err.msg, sizeof r->err.msg, fmt, ap);
    va_end(ap);
    r->status = code;
    return code;
}

/* Checks what can only be checked at the end: the frame closed, the file
 * ends where the header says, the checksum and the counts. Returns 0 or a
 * PL_E* code. */
static int check_end(struct pl_trace_reader *r)
{
    uint64_t end = r->hdr.header_bytes + r->hdr.compressed_bytes;
    if (r->out_end > r->out_start)
        return stop(r, PL_EPARSE, end, "the stream ends inside an access record");
    if (r->stream_crc != r->want_crc)
        return stop(r, PL_EPARSE, r->hdr.header_bytes,
                    "checksum mismatch: the compressed stream (bytes %u to %llu) is corrupt",
                    (unsigned)r->hdr.header_bytes, (unsigned long long)end);
    for (int k = 0; k < PL_TRACE_KINDS; k++)
        if (r->seen[k] != r->hdr.count[k])
            return stop(r, PL_EPARSE, end, "the header counts %llu %c accesses, the stream holds %llu",
                        (unsigned long long)r->hdr.count[k], pl_trace_kind_letter(k),
                        (unsigned long long)r->seen[k]);
    int c = fgetc(r->f);
    if (c != EOF)
        return stop(r, PL_EPARSE, end, "unexpected bytes after the end of the trace");
    if (ferror(r->f))
        return stop(r, PL_EIO, end, "cannot read: %s", strerror(errno));
    r->status = 1;
    return 0;
}

/* Decompresses more of the stream after the undecoded bytes of r->out.
 * Returns 1 if bytes were added, 0 at the end of the stream, or a PL_E*
 * code. */
static int refill(struct pl_trace_reader *r)
{
    if (r->out_start > 0) {
        memmove(r->out, r->out + r->out_start, r->out_end - r->out_start);
        r->out_end -= r->out_start;
        r->out_start = 0;
    }
    for (;;) {
        if (r->zin.pos == r->zin.size && r->remaining > 0) {
            size_t want = r->remaining < r->in_cap ? (size_t)r->remaining : r->in_cap;
            r->in_base += r->zin.size;
            long got = read_n(r->f, r->in, want);
            if (got < 0)
                return stop(r, PL_EIO, in_offset(r), "cannot read: %s", strerror(errno));
            r->zin = (ZSTD_inBuffer){r->in, (size_t)got, 0};
            r->remaining -= (size_t)got;
            r->stream_crc = plt_crc32(r->stream_crc, r->in, (size_t)got);
            if ((size_t)got < want)
                return stop(r, PL_EPARSE, in_offset(r) + (size_t)got,
                            "truncated: the file ends at byte %llu, the header says the trace has %llu bytes",
                            (unsigned long long)(in_offset(r) + (size_t)got),
                            (unsigned long long)(r->hdr.header_bytes + r->hdr.compressed_bytes));
        }
        bool no_input = r->zin.pos == r->zin.size && r->remaining == 0;
        if (no_input && !r->frame_open)
            return 0;
        ZSTD_outBuffer zout = {r->out, r->out_cap, r->out_end};
        size_t before = r->zin.pos;
        size_t ret = ZSTD_decompressStream(r->dctx, &zout, &r->zin);
        if (ZSTD_isError(ret))
            return stop(r, PL_EPARSE, r->hdr.header_bytes + r->in_base + before,
                        "corrupt compressed data (zstd: %s)", ZSTD_getErrorName(ret));
        r->frame_open = ret != 0;
        size_t old_end = r->out_end;
        r->out_end = zout.pos;
        if (zout.pos > old_end)
            return 1;
        if (r->zin.pos > before)
            continue;
        /* zstd progresses whenever it has input and room for output, so
         * standing still means there is no more input. */
        if (no_input)
            return stop(r, PL_EPARSE, in_offset(r), "truncated: the compressed stream ends inside a zstd frame");
        return stop(r, PL_EPARSE, in_offset(r), "corrupt compressed data (zstd made no progress)");
    }
}

long pl_trace_next(struct pl_trace_reader *r, struct pl_trace_access *buf, size_t n)
{
    if (r->status < 0)
        return r->status;
    if (r->status > 0)
        return 0;
    if (n > (size_t)LONG_MAX)
        n = (size_t)LONG_MAX;
    size_t got = 0;
    int rc = 0;
    while (got < n && !rc) {
        const char *why = "";
        struct pl_trace_access *a = &buf[got];
        int len = plt_decode(&r->codec, r->out + r->out_start, r->out_end - r->out_start, a, &why);
        if (len > 0) {
            r->out_start += (size_t)len;
            if (++r->seen[a->kind] > r->hdr.count[a->kind])
                rc = stop(r, PL_EPARSE, in_offset(r), "more %c accesses than the header counts (%llu)",
                          pl_trace_kind_letter(a->kind), (unsigned long long)r->hdr.count[a->kind]);
            else
                got++;
        } else if (len < 0) {
            rc = stop(r, PL_EPARSE, in_offset(r), "corrupt access record: %s", why);
        } else {
            int more = refill(r);
            if (more < 0)
                rc = more;
            else if (more == 0 && !(rc = check_end(r)))
                break;
        }
    }
    /* The accesses decoded before damage are delivered first; the error
     * (sticky in r->status) comes with the next call. */
    return got ? (long)got : rc;
}

void pl_trace_close(struct pl_trace_reader *r)
{
    if (r)
        reader_free(r);
}
