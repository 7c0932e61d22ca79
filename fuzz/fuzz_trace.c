/* libFuzzer target: any bytes as a trace file. Opening and reading to the
 * end must succeed or fail with PL_EPARSE and a message and an offset
 * inside the input, without crashing, leaking or hanging. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/trace.h"
#include "trace/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks an error: a parse error (or out of memory) that says something,
 * at an offset within the input. */
static void check_error(int rc, const struct pl_trace_error *err, size_t size)
{
    if (rc != PL_EPARSE && rc != PL_ENOMEM)
        abort();
    if (err->msg[0] == '\0' || err->offset > size)
        abort();
}

/* Reads data as a trace, checking every way it can end. */
static void read_trace(const uint8_t *data, size_t size);

/* Recomputes the header's and the stream's CRC-32 in a copy of data, so the
 * fuzzer reaches the checks behind them instead of stopping at the first
 * checksum. */
static void read_with_fixed_checksums(const uint8_t *data, size_t size)
{
    if (size < PLT_FIXED_BYTES)
        return;
    uint32_t h = plt_get32(data + PLT_OFF_HEADER_SIZE);
    if (h < PLT_FIXED_BYTES || h > size)
        return;
    uint8_t *copy = malloc(size);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    uint64_t c = plt_get64(copy + PLT_OFF_COMPRESSED);
    size_t stream = c < size - h ? (size_t)c : size - h;
    plt_put32(copy + PLT_OFF_STREAM_CRC, plt_crc32(0, copy + h, stream));
    plt_put32(copy + PLT_OFF_HEADER_CRC, 0);
    plt_put32(copy + PLT_OFF_HEADER_CRC, plt_crc32(0, copy, h));
    read_trace(copy, size);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_trace(data, size);
    read_with_fixed_checksums(data, size);
    return 0;
}

static void read_trace(const uint8_t *data, size_t size)
{
    /* fmemopen refuses an empty buffer; an empty file is /dev/null. */
    FILE *f = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
    if (!f)
        abort();
    struct pl_trace_reader *r;
    struct pl_trace_error err;
    int rc = pl_trace_open_file(f, &r, &err);
    if (rc) {
        if (r)
            abort();
        check_error(rc, &err, size);
        fclose(f);
        return;
    }
    const struct pl_trace_header *h = pl_trace_header(r);
    uint64_t seen[PL_TRACE_KINDS] = {0}, total = 0;
    struct pl_trace_access buf[512];
    long got;
    while ((got = pl_trace_next(r, buf, 512)) > 0) {
        for (long i = 0; i < got; i++) {
            if (buf[i].kind >= PL_TRACE_KINDS || buf[i].size == 0)
                abort();
            seen[buf[i].kind]++;
        }
        total += (uint64_t)got;
    }
    if (got < 0) {
        check_error((int)got, pl_trace_error(r), size);
    } else {
        /* A trace the reader accepts is exactly what its header says. */
        for (int k = 0; k < PL_TRACE_KINDS; k++)
            if (seen[k] != h->count[k])
                abort();
        if (total != h->accesses || h->header_bytes + h->compressed_bytes != size)
            abort();
    }
    pl_trace_close(r);
    fclose(f);
}
