/* Tests of src/trace: the trace format's writer and reader (exact round
 * trips, every truncation, flipped bytes, newer versions, size on disk) and
 * the lackey line parser and the reference-string tokenizer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptelab/error.h"
#include "ptelab/trace.h"
#include "trace/format.h"

/* A deterministic generator (xorshift64*), so failures replay. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Returns a new temporary file name (the file exists, empty). */
static char *temp_path(void)
{
    char *p = strdup("/tmp/ptelab-test-trace-XXXXXX");
    cr_assert(p);
    int fd = mkstemp(p);
    cr_assert(fd >= 0);
    close(fd);
    return p;
}

/* Writes a trace of the n accesses in a to path; returns the final header. */
static struct pl_trace_header write_trace(const char *path, const struct pl_trace_meta *meta,
                                          const struct pl_trace_access *a, size_t n)
{
    struct pl_trace_writer *w;
    cr_assert_eq(pl_trace_writer_open(path, meta, 0, &w), 0);
    /* Uneven batches, so records straddle the writer's buffers. */
    for (size_t i = 0; i < n;) {
        size_t k = 1 + rnd() % 777;
        if (k > n - i)
            k = n - i;
        cr_assert_eq(pl_trace_write(w, a + i, k), 0);
        i += k;
    }
    struct pl_trace_header h;
    cr_assert_eq(pl_trace_writer_close(w, &h), 0);
    return h;
}

/* Reads the whole file at path into a new buffer. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    uint8_t *buf = malloc((size_t)size + 1);
    cr_assert(buf);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* Reads a trace from the len bytes at data to its end. Returns 0 with
 * *count accesses read, or the error code with *err. */
static int read_bytes(const uint8_t *data, size_t len, uint64_t *count, struct pl_trace_error *err)
{
    FILE *f = tmpfile();
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    rewind(f);
    struct pl_trace_reader *r;
    int rc = pl_trace_open_file(f, &r, err);
    *count = 0;
    if (!rc) {
        struct pl_trace_access buf[333];
        long got;
        while ((got = pl_trace_next(r, buf, 333)) > 0)
            *count += (uint64_t)got;
        if (got < 0) {
            rc = (int)got;
            *err = *pl_trace_error(r);
            /* Errors are sticky. */
            cr_assert_eq(pl_trace_next(r, buf, 333), got);
        }
        pl_trace_close(r);
    }
    fclose(f);
    return rc;
}

/* Counts the distinct pages of page_size (a power of two) the accesses
 * touch, the slow way. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t distinct_pages(const struct pl_trace_access *a, size_t n, uint32_t page_size)
{
    size_t cap = 0, used = 0;
    uint64_t *pages = NULL;
    for (size_t i = 0; i < n; i++) {
        for (uint64_t off = 0;; off += page_size) {
            uint64_t first = a[i].addr / page_size * page_size;
            uint64_t addr = first + off;
            if (used == cap) {
                cap = cap ? 2 * cap : 1024;
                pages = realloc(pages, cap * sizeof *pages);
                cr_assert(pages);
            }
            pages[used++] = addr / page_size;
            uint64_t last = a[i].addr + (a[i].size - 1);
            if (addr / page_size == last / page_size)
                break;
        }
    }
    qsort(pages, used, sizeof *pages, cmp_u64);
    uint64_t d = 0;
    for (size_t i = 0; i < used; i++)
        d += i == 0 || pages[i] != pages[i - 1];
    free(pages);
    return d;
}

/* A random access stream: small and large steps, all sizes classes. */
static struct pl_trace_access *random_stream(size_t n)
{
    struct pl_trace_access *a = malloc(n * sizeof *a);
    cr_assert(a);
    uint64_t base = rnd() & 0x00007fffffffffffull;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        a[i].kind = (uint8_t)(r & 3);
        switch ((r >> 2) % 8) {
        case 0: a[i].addr = rnd() & 0x0000ffffffff0000ull; break; /* anywhere, then from 0 */
        case 1: a[i].addr = UINT64_MAX - (r >> 40); break;         /* near the top */
        default: base += (r >> 8) % 64 - 16; a[i].addr = base; break;
        }
        switch ((r >> 5) % 16) {
        case 0: a[i].size = (uint32_t)(16 + (rnd() % 100)); break;
        case 1: a[i].size = 512; break;
        default: a[i].size = (uint32_t)(1 + (r >> 9) % 15); break;
        }
        if (a[i].addr > UINT64_MAX - a[i].size)
            a[i].size = 1;
    }
    return a;
}

Test(trace, round_trip_keeps_every_access_and_header_field)
{
    const char *args[] = {"-la", "", "two words", "\xff\x01"};
    for (int round = 0; round < 4; round++) {
        size_t n = round == 0 ? 0 : round == 1 ? 1 : 100000 * (size_t)round;
        uint32_t page_size = round == 3 ? 2u << 20 : 4096;
        struct pl_trace_access *a = random_stream(n ? n : 1);
        struct pl_trace_meta meta = {.program = "/usr/bin/prog", .argc = 4, .argv = args,
                                     .date = 1700000000 + round, .page_size = round == 0 ? 0 : page_size};
        char *path = temp_path();
        struct pl_trace_header wh = write_trace(path, &meta, a, n);
        struct pl_trace_reader *r;
        struct pl_trace_error err;
        cr_assert_eq(pl_trace_open(path, &r, &err), 0, "%s", err.msg);
        const struct pl_trace_header *h = pl_trace_header(r);
        uint64_t counts[4] = {0};
        for (size_t i = 0; i < n; i++)
            counts[a[i].kind]++;
        cr_assert_eq(h->version, PL_TRACE_VERSION);
        cr_assert_eq(h->page_size, round == 0 ? 4096u : page_size);
        cr_assert_eq(h->date, 1700000000 + round);
        for (int k = 0; k < 4; k++) {
            cr_assert_eq(h->count[k], counts[k]);
            cr_assert_eq(wh.count[k], counts[k]);
        }
        cr_assert_eq(h->accesses, n);
        uint64_t d = n ? distinct_pages(a, n, h->page_size) : 0;
        cr_assert_eq(h->distinct_pages, d);
        cr_assert_eq(wh.distinct_pages, d);
        cr_assert_str_eq(h->program, "/usr/bin/prog");
        cr_assert_eq(h->argc, 4);
        for (int i = 0; i < 4; i++)
            cr_assert_str_eq(h->argv[i], args[i]);
        cr_assert_null(h->argv[4]);
        cr_assert_eq(h->header_bytes, wh.header_bytes);
        cr_assert_eq(h->compressed_bytes, wh.compressed_bytes);
        struct pl_trace_access buf[1000];
        size_t seen = 0;
        long got;
        while ((got = pl_trace_next(r, buf, 1 + rnd() % 1000)) > 0) {
            for (long i = 0; i < got; i++, seen++) {
                cr_assert_lt(seen, n);
                cr_assert_eq(buf[i].addr, a[seen].addr, "access %zu", seen);
                cr_assert_eq(buf[i].size, a[seen].size, "access %zu", seen);
                cr_assert_eq(buf[i].kind, a[seen].kind, "access %zu", seen);
            }
        }
        cr_assert_eq(got, 0, "%s at %llu", pl_trace_error(r)->msg, (unsigned long long)pl_trace_error(r)->offset);
        cr_assert_eq(seen, n);
        cr_assert_eq(pl_trace_next(r, buf, 10), 0);
        pl_trace_close(r);
        remove(path);
        free(path);
        free(a);
    }
}

/* A small trace's bytes, for the damage tests. */
static uint8_t *small_trace(size_t *len, size_t n)
{
    struct pl_trace_access *a = random_stream(n);
    const char *args[] = {"x"};
    struct pl_trace_meta meta = {.program = "small", .argc = 1, .argv = args, .date = 42};
    char *path = temp_path();
    write_trace(path, &meta, a, n);
    uint8_t *bytes = slurp(path, len);
    remove(path);
    free(path);
    free(a);
    return bytes;
}

Test(trace, every_truncation_is_an_error_at_the_end_of_the_file)
{
    size_t len;
    uint8_t *bytes = small_trace(&len, 400);
    uint64_t count;
    struct pl_trace_error err;
    cr_assert_eq(read_bytes(bytes, len, &count, &err), 0);
    cr_assert_eq(count, 400);
    for (size_t cut = 0; cut < len; cut++) {
        memset(&err, 0, sizeof err);
        int rc = read_bytes(bytes, cut, &count, &err);
        cr_assert_eq(rc, PL_EPARSE, "cut at %zu: rc %d", cut, rc);
        cr_assert_eq(err.offset, cut, "cut at %zu: offset %llu (%s)", cut, (unsigned long long)err.offset, err.msg);
        cr_assert_neq(err.msg[0], '\0');
        cr_assert_lt(count, 400);
    }
    free(bytes);
}

Test(trace, truncation_messages_say_what_is_missing)
{
    size_t len;
    uint8_t *bytes = small_trace(&len, 50);
    uint64_t count;
    struct pl_trace_error err;
    cr_assert_eq(read_bytes(bytes, 0, &count, &err), PL_EPARSE);
    cr_assert_str_eq(err.msg, "empty file, not a ptelab trace");
    cr_assert_eq(read_bytes(bytes, 50, &count, &err), PL_EPARSE);
    cr_assert_str_eq(err.msg, "truncated: the file ends inside the header");
    cr_assert_eq(read_bytes(bytes, len - 1, &count, &err), PL_EPARSE);
    char want[200];
    snprintf(want, sizeof want, "truncated: the file ends at byte %zu, the header says the trace has %zu bytes",
             len - 1, len);
    cr_assert_str_eq(err.msg, want);
    free(bytes);
}

Test(trace, every_flipped_byte_is_an_error)
{
    size_t len;
    uint8_t *bytes = small_trace(&len, 300);
    uint64_t count;
    struct pl_trace_error err;
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < len; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            bytes[i] ^= flips[f];
            memset(&err, 0, sizeof err);
            int rc = read_bytes(bytes, len, &count, &err);
            cr_assert_eq(rc, PL_EPARSE, "byte %zu ^ 0x%02x read as a whole trace", i, flips[f]);
            cr_assert_leq(err.offset, len, "byte %zu", i);
            cr_assert_neq(err.msg[0], '\0');
            bytes[i] ^= flips[f];
        }
    }
    cr_assert_eq(read_bytes(bytes, len, &count, &err), 0);
    free(bytes);
}

/* Sets the header's 16-bit field at off to v and fixes the header's
 * checksum, so that only the field differs. */
static void patch16(uint8_t *bytes, size_t off, uint16_t v)
{
    uint32_t size = plt_get32(bytes + PLT_OFF_HEADER_SIZE);
    plt_put16(bytes + off, v);
    plt_put32(bytes + PLT_OFF_HEADER_CRC, 0);
    plt_put32(bytes + PLT_OFF_HEADER_CRC, plt_crc32(0, bytes, size));
}

Test(trace, a_newer_format_version_is_refused_with_a_clear_message)
{
    size_t len;
    uint8_t *bytes = small_trace(&len, 20);
    patch16(bytes, PLT_OFF_VERSION, PL_TRACE_VERSION + 1);
    uint64_t count;
    struct pl_trace_error err;
    cr_assert_eq(read_bytes(bytes, len, &count, &err), PL_EPARSE);
    cr_assert_eq(err.offset, 8);
    cr_assert_str_eq(err.msg, "trace format version 2 is newer than this ptelab reads (up to version 1); "
                              "upgrade ptelab to read it");
    /* Even when the rest of the header is unreadable to this version. */
    memset(bytes + 10, 0xee, len - 10);
    cr_assert_eq(read_bytes(bytes, len, &count, &err), PL_EPARSE);
    cr_assert_eq(err.offset, 8);
    cr_assert(strstr(err.msg, "newer"));
    free(bytes);
}

Test(trace, an_unfinished_trace_is_refused)
{
    size_t len;
    uint8_t *bytes = small_trace(&len, 20);
    patch16(bytes, PLT_OFF_FLAGS, 0);
    uint64_t count;
    struct pl_trace_error err;
    cr_assert_eq(read_bytes(bytes, len, &count, &err), PL_EPARSE);
    cr_assert_eq(err.offset, PLT_OFF_FLAGS);
    cr_assert(strstr(err.msg, "incomplete trace"));
    free(bytes);
}

Test(trace, bytes_after_the_end_are_an_error)
{
    size_t len;
    uint8_t *bytes = small_trace(&len, 20);
    uint8_t *more = realloc(bytes, len + 1);
    cr_assert(more);
    more[len] = 0;
    uint64_t count;
    struct pl_trace_error err;
    cr_assert_eq(read_bytes(more, len + 1, &count, &err), PL_EPARSE);
    cr_assert_eq(err.offset, len);
    cr_assert_str_eq(err.msg, "unexpected bytes after the end of the trace");
    cr_assert_eq(count, 20);
    free(more);
}

Test(trace, other_files_are_not_traces)
{
    static const char text[] = "I  0400d7d4,3\n L 1fff000628,8\n";
    uint64_t count;
    struct pl_trace_error err;
    cr_assert_eq(read_bytes((const uint8_t *)text, sizeof text - 1, &count, &err), PL_EPARSE);
    cr_assert_eq(err.offset, 0);
    cr_assert_str_eq(err.msg, "not a ptelab trace (bad magic number)");
    struct pl_trace_reader *r;
    cr_assert_eq(pl_trace_open("/nonexistent/trace", &r, &err), PL_EIO);
    cr_assert_null(r);
    cr_assert_str_eq(err.msg, "cannot open: No such file or directory");
}

Test(trace, the_writer_refuses_bad_accesses_and_meta)
{
    char *path = temp_path();
    struct pl_trace_meta meta = {.program = "p"};
    struct pl_trace_writer *w;
    meta.page_size = 3000;
    cr_assert_eq(pl_trace_writer_open(path, &meta, 0, &w), PL_EINVAL);
    cr_assert_null(w);
    meta.page_size = 0;
    cr_assert_eq(pl_trace_writer_open(path, &meta, 0, &w), 0);
    struct pl_trace_access ok = {.addr = 0x1000, .size = 8, .kind = PL_TRACE_STORE};
    struct pl_trace_access bad[2] = {ok, {.addr = 0x1000, .size = 0, .kind = PL_TRACE_LOAD}};
    cr_assert_eq(pl_trace_write(w, bad, 2), PL_EINVAL);
    bad[1].size = 1;
    bad[1].kind = 4;
    cr_assert_eq(pl_trace_write(w, bad, 2), PL_EINVAL);
    cr_assert_eq(pl_trace_write(w, &ok, 1), 0);
    struct pl_trace_header h;
    cr_assert_eq(pl_trace_writer_close(w, &h), 0);
    /* A rejected batch writes nothing. */
    cr_assert_eq(h.accesses, 1);
    cr_assert_eq(h.count[PL_TRACE_STORE], 1);
    cr_assert_eq(h.distinct_pages, 1);
    cr_assert_eq(pl_trace_writer_open("/nonexistent/dir/t.pltrace", &meta, 0, &w), PL_EIO);
    remove(path);
    free(path);
}

/* Appends an access to a growing stream. */
struct stream {
    struct pl_trace_access *a;
    size_t n, cap;
};

static void emit(struct stream *s, int kind, uint64_t addr, uint32_t size)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1 << 16;
        s->a = realloc(s->a, s->cap * sizeof *s->a);
        cr_assert(s->a);
    }
    s->a[s->n++] = (struct pl_trace_access){.addr = addr, .size = size, .kind = (uint8_t)kind};
}

/* Emits the fetches of a loop body of n instructions at pc. */
static void fetch_body(struct stream *s, uint64_t pc, int n)
{
    static const uint32_t lengths[] = {3, 4, 2, 5, 7, 3, 4, 6};
    for (int i = 0; i < n; i++) {
        emit(s, PL_TRACE_INSTR, pc, lengths[i % 8]);
        pc += lengths[i % 8];
    }
}

Test(trace, a_realistic_stream_takes_at_most_two_bytes_per_access)
{
    struct stream s = {0};
    uint64_t code = 0x401000, heap = 0x4b2000, stack = 0x7ffffffde000;
    for (int rep = 0; rep < 8; rep++) {
        /* A call: pushes, a sequential sum over an array, pops. */
        uint64_t sp = stack - 64 * (uint64_t)(rep % 3);
        for (int i = 0; i < 4; i++) {
            fetch_body(&s, code + 0x200, 1);
            emit(&s, PL_TRACE_STORE, sp -= 8, 8);
        }
        for (uint64_t i = 0; i < 20000; i++) {
            fetch_body(&s, code, 4);
            emit(&s, PL_TRACE_LOAD, heap + 8 * i, 8);
            /* A data-dependent branch, and now and then a lookup in a
             * 1 MiB hash table: the entropy real programs have. */
            uint64_t r = rnd();
            fetch_body(&s, code + (r & 1 ? 0x40 : 0x60), 2 + (int)(r >> 1 & 1));
            if (r % 50 == 0)
                emit(&s, PL_TRACE_LOAD, heap + 0x1000000 + (r >> 8) % (1 << 20) / 8 * 8, 8);
            emit(&s, PL_TRACE_MODIFY, sp + 8, 8);
        }
        /* A strided walk down the columns of a matrix. */
        for (uint64_t col = 0; col < 64; col++)
            for (uint64_t row = 0; row < 256; row++) {
                fetch_body(&s, code + 0x80, 3);
                emit(&s, PL_TRACE_LOAD, heap + 0x200000 + row * 4096 + col * 8, 8);
                emit(&s, PL_TRACE_STORE, heap + 0x400000 + col * 2048 + row * 8, 8);
            }
        /* A copy with 16-byte moves, and a function with locals. */
        for (uint64_t i = 0; i < 8192; i++) {
            fetch_body(&s, code + 0x300, 2);
            emit(&s, PL_TRACE_LOAD, heap + 0x800000 + 16 * i, 16);
            emit(&s, PL_TRACE_STORE, heap + 0xa00000 + 16 * i, 16);
            if (i % 64 == 0) {
                fetch_body(&s, code + 0x1000, 12);
                emit(&s, PL_TRACE_STORE, sp - 8, 8);
                emit(&s, PL_TRACE_LOAD, sp - 16, 4);
                emit(&s, PL_TRACE_LOAD, sp - 8, 8);
            }
        }
        for (int i = 0; i < 4; i++) {
            fetch_body(&s, code + 0x240, 1);
            emit(&s, PL_TRACE_LOAD, sp, 8);
            sp += 8;
        }
    }
    char *path = temp_path();
    struct pl_trace_meta meta = {.program = "synthetic"};
    struct pl_trace_header h = write_trace(path, &meta, s.a, s.n);
    double per = (double)(h.header_bytes + h.compressed_bytes) / (double)h.accesses;
    cr_log_info("%zu accesses, %.3f bytes per access", s.n, per);
    cr_assert_gt(h.accesses, 1000000);
    cr_assert_leq(per, 2.0, "%.3f bytes per access", per);
    remove(path);
    free(path);
    free(s.a);
}

Test(trace, lackey_lines_parse_exactly)
{
    struct pl_trace_access a;
    cr_assert_eq(pl_lackey_parse_line("I  0400d7d4,3\n", 14, &a), 1);
    cr_assert_eq(a.kind, PL_TRACE_INSTR);
    cr_assert_eq(a.addr, 0x0400d7d4);
    cr_assert_eq(a.size, 3);
    const char *l = " L 1fff000628,8";
    cr_assert_eq(pl_lackey_parse_line(l, strlen(l), &a), 1);
    cr_assert_eq(a.kind, PL_TRACE_LOAD);
    cr_assert_eq(a.addr, 0x1fff000628);
    cr_assert_eq(a.size, 8);
    l = " S FFFFFFFFFFFFFFF0,16\r\n";
    cr_assert_eq(pl_lackey_parse_line(l, strlen(l), &a), 1);
    cr_assert_eq(a.kind, PL_TRACE_STORE);
    cr_assert_eq(a.addr, 0xfffffffffffffff0);
    cr_assert_eq(a.size, 16);
    l = " M 0,4294967295";
    cr_assert_eq(pl_lackey_parse_line(l, strlen(l), &a), 1);
    cr_assert_eq(a.kind, PL_TRACE_MODIFY);
    cr_assert_eq(a.size, UINT32_MAX);
    static const char *const not_accesses[] = {
        "==7057== Lackey, an example Valgrind tool", "", "\n", " X 0400d7d4,3", "I0400d7d4,3", "I  0400d7d4",
        "I  0400d7d4,", "I  ,3", "I  0400d7d4,0", "I  0400d7d4,3x", "I  0400g7d4,3", "I  10000000000000000,1",
        " L 1000,4294967296", "  L 1000,4", "L", " S 12 ,4", "valgrind: ls: command not found",
    };
    for (size_t i = 0; i < sizeof not_accesses / sizeof *not_accesses; i++)
        cr_assert_eq(pl_lackey_parse_line(not_accesses[i], strlen(not_accesses[i]), &a), 0, "'%s'",
                     not_accesses[i]);
}

/* Reads every page number of text[0..len) with pl_refs_next; expects
 * exactly want[0..n), then the end with the cursor on it. */
static void expect_refs(const char *text, size_t len, const uint64_t *want, size_t n)
{
    const char *p = text, *end = text + len;
    uint64_t page;
    char msg[128] = "";
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(pl_refs_next(&p, end, &page, msg, sizeof msg), 1, "'%s': number %zu: %s", text, i, msg);
        cr_expect_eq(page, want[i], "'%s': number %zu is %llu", text, i, (unsigned long long)page);
    }
    cr_assert_eq(pl_refs_next(&p, end, &page, msg, sizeof msg), 0, "'%s': more than %zu numbers", text, n);
    cr_expect_eq(p, end);
    cr_expect_eq(pl_refs_next(&p, end, &page, msg, sizeof msg), 0, "the end stays the end");
}

/* Expects text[0..len) to give good numbers, then PL_EPARSE with msg and
 * the cursor at offset at. */
static void expect_refs_error(const char *text, size_t len, size_t good, size_t at, const char *msg)
{
    const char *p = text, *end = text + len;
    uint64_t page;
    char got[128] = "";
    for (size_t i = 0; i < good; i++)
        cr_assert_eq(pl_refs_next(&p, end, &page, got, sizeof got), 1, "'%s': number %zu: %s", text, i, got);
    cr_assert_eq(pl_refs_next(&p, end, &page, got, sizeof got), PL_EPARSE, "'%s' accepted", text);
    cr_expect_str_eq(got, msg);
    cr_expect_eq(p - text, (ptrdiff_t)at, "'%s': cursor at %td", text, p - text);
}

#define REFS(text, ...)                                                                            \
    do {                                                                                           \
        static const uint64_t want_[] = {__VA_ARGS__};                                             \
        expect_refs(text, sizeof text - 1, want_, sizeof want_ / sizeof *want_);                  \
    } while (0)

Test(trace, reference_strings_are_numbers_between_white_space)
{
    REFS("7\n", 7);
    REFS("1 2 3\n", 1, 2, 3);
    REFS(" \t 0042 7\t0x1F 0XfF # 12 13\r\n", 42, 7, 31, 255);
    REFS("1 # one 9\n\n2\v3\f4\r\n# 5\n6", 1, 2, 3, 4, 6);
    REFS("12#no space before the comment\n13", 12, 13);
    REFS("18446744073709551615 0xffffffffffffffff 0x0000000000000000001", UINT64_MAX, UINT64_MAX, 1);
    REFS("# a NUL in a comment \0 is fine\n5", 5);
    expect_refs("", 0, NULL, 0);
    expect_refs("   \n", 4, NULL, 0);
    expect_refs("# only a comment 12\n", 20, NULL, 0);
}

Test(trace, bad_reference_strings_say_what_and_where)
{
    const char *const expected = " (expected decimal or 0x hexadecimal)";
    char want[128];
    static const struct {
        const char *text;
        size_t good, at;
    } bad[] = {{"1 2 three", 2, 4}, {"-3", 0, 0}, {"+3", 0, 0}, {"0x", 0, 0}, {"0x1g", 0, 0}, {"1.5", 0, 0},
               {"  3x", 0, 2}, {"0b101", 0, 0}, {"99999999999999999999x", 0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *tok = bad[i].text + bad[i].at;
        snprintf(want, sizeof want, "bad page number '%s'%s", tok, expected);
        expect_refs_error(bad[i].text, strlen(bad[i].text), bad[i].good, bad[i].at, want);
    }
    expect_refs_error("5 18446744073709551616 6", 24, 1, 2,
                      "page number '18446744073709551616' does not fit in 64 bits");
    expect_refs_error("0x10000000000000000", 19, 0, 0, "page number '0x10000000000000000' does not fit in 64 bits");
    expect_refs_error("1\0002", 3, 1, 1, "NUL byte in a reference string");
    expect_refs_error("\0", 1, 0, 0, "NUL byte in a reference string");
    /* Bytes outside printable ASCII are shown escaped, never raw. */
    expect_refs_error("1\n\xff\x1b[2Jx", 8, 1, 2,
                      "bad page number '\\xff\\x1b[2Jx' (expected decimal or 0x hexadecimal)");
    /* At most 40 characters of a token are quoted. */
    char text[64];
    memset(text, 'a', 50);
    expect_refs_error(text, 50, 0, 0,
                      "bad page number 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' (expected decimal or 0x "
                      "hexadecimal)");
    memset(text, 1, 50);
    expect_refs_error(text, 50, 0, 0,
                      "bad page number '\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01...' (expected decimal or 0x "
                      "hexadecimal)");
    memset(text, '9', 50);
    expect_refs_error(text, 50, 0, 0,
                      "page number '9999999999999999999999999999999999999999...' does not fit in 64 bits");
}
