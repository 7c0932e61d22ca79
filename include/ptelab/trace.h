/* Memory traces: ptelab's own binary, zstd-compressed format
 * (docs/trace-format.md), its streaming writer and reader, and the parsers of
 * the two text inputs a trace is made from (Valgrind lackey's output and
 * plain reference strings). Neither the writer nor the reader ever holds a
 * whole trace in memory. */
#ifndef PTELAB_TRACE_H
#define PTELAB_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The format version this build writes, and the newest it reads. */
#define PL_TRACE_VERSION 1

/* The kinds of access, as lackey names them (I, L, S, M). The values are
 * part of the format. */
enum pl_trace_kind {
    PL_TRACE_INSTR = 0,  /* 'I': an instruction fetch */
    PL_TRACE_LOAD = 1,   /* 'L': a data read */
    PL_TRACE_STORE = 2,  /* 'S': a data write */
    PL_TRACE_MODIFY = 3, /* 'M': a read then a write of the same bytes */
    PL_TRACE_KINDS = 4
};

/* One access: size bytes at virtual address addr. size is at least 1. */
struct pl_trace_access {
    uint64_t addr;
    uint32_t size;
    uint8_t kind; /* enum pl_trace_kind */
};

/* A trace's header. Strings are NUL-terminated and owned by whoever filled
 * the struct (the reader, until pl_trace_close). */
struct pl_trace_header {
    uint16_t version;
    uint32_t page_size;              /* for distinct_pages; a power of two */
    int64_t date;                    /* seconds since 1970-01-01 UTC */
    uint64_t count[PL_TRACE_KINDS];  /* accesses by kind */
    uint64_t accesses;               /* the sum of count[] */
    uint64_t distinct_pages;         /* pages of page_size touched by any access */
    uint32_t header_bytes;           /* the header's size on disk */
    uint64_t compressed_bytes;       /* the compressed stream's size on disk */
    const char *program;             /* the recorded command, as given */
    uint32_t argc;                   /* the number of arguments after it */
    const char *const *argv;         /* argv[0..argc-1]: the arguments */
};

/* Returns the letter lackey uses for kind ('I', 'L', 'S', 'M'), or '?'. */
char pl_trace_kind_letter(int kind);

/* ---- Writing ---- */

struct pl_trace_writer;

/* What the writer puts in the header besides the counts. */
struct pl_trace_meta {
    const char *program;      /* NULL: "" */
    uint32_t argc;
    const char *const *argv;  /* argc strings (may be NULL when argc is 0) */
    int64_t date;             /* seconds since 1970 UTC */
    uint32_t page_size;       /* 0: 4096; else a power of two, 1..2^30 */
};

/* Creates (or truncates) the trace file at path and writes a provisional
 * header; level is the zstd level (0: the default, 9). Returns 0 with *out,
 * PL_EINVAL for bad meta, PL_EIO (errno set) if the file cannot be
 * created, or PL_ENOMEM. */
int pl_trace_writer_open(const char *path, const struct pl_trace_meta *meta, int level,
                         struct pl_trace_writer **out);

/* Appends n accesses. Returns 0, PL_EINVAL for an access with size 0 or
 * an unknown kind (nothing of this call is written then), PL_EIO or
 * PL_ENOMEM. After an error the writer only accepts pl_trace_writer_close. */
int pl_trace_write(struct pl_trace_writer *w, const struct pl_trace_access *a, size_t n);

/* Ends the compressed stream, rewrites the header with the counts, closes
 * the file and frees w (always). If hdr is not NULL it receives the final
 * header (its strings are NULL then). Returns 0, or the first error of this
 * writer (the file is then incomplete, and readers refuse it). */
int pl_trace_writer_close(struct pl_trace_writer *w, struct pl_trace_header *hdr);

/* ---- Reading ---- */

struct pl_trace_reader;

/* Why reading failed: the byte offset in the file where the problem was
 * found and a message that does not repeat the offset. */
struct pl_trace_error {
    uint64_t offset;
    char msg[200];
};

/* Opens the trace at path and reads its header. Returns 0 with *out, or
 * PL_EPARSE (not a trace, truncated, corrupt, or a newer format version),
 * PL_EIO (errno set; err->offset 0) or PL_ENOMEM, with *err filled. */
int pl_trace_open(const char *path, struct pl_trace_reader **out, struct pl_trace_error *err);

/* Like pl_trace_open on an open stream, read from its current position;
 * the reader does not close f. */
int pl_trace_open_file(FILE *f, struct pl_trace_reader **out, struct pl_trace_error *err);

/* The header read by pl_trace_open: valid until pl_trace_close. */
const struct pl_trace_header *pl_trace_header(const struct pl_trace_reader *r);

/* Decodes up to n next accesses into buf. Returns how many (> 0), 0 at the
 * end of a trace that proved whole (sizes, counts and checksums all
 * match), or a negative PL_E* code with pl_trace_error() saying where and
 * why; every later call returns the same code. Accesses returned before an
 * error are those the file holds up to the damage. */
long pl_trace_next(struct pl_trace_reader *r, struct pl_trace_access *buf, size_t n);

/* The error of the last failed call on r (offset 0 and "" if none). */
const struct pl_trace_error *pl_trace_error(const struct pl_trace_reader *r);

/* Frees r and everything it owns, the header's strings included. */
void pl_trace_close(struct pl_trace_reader *r);

/* ---- Text inputs ---- */

/* Parses one line of lackey's --trace-mem output ("I  0400d7d4,3",
 * " L 1fff000628,8", " S ...", " M ..."; len bytes, without or with its
 * newline). Returns 1 with *out for an access line, 0 for any other line
 * (valgrind's "==PID==" messages, damaged lines). */
int pl_lackey_parse_line(const char *line, size_t len, struct pl_trace_access *out);

/* Reads the next page number of a reference string from the text
 * [*cursor, end). The syntax: numbers, decimal or hexadecimal after 0x (or
 * 0X), separated by white space; '#' starts a comment that runs to the end
 * of its line. One number per line, with blank and comment lines, is the
 * usual form. A newline is white space like any other: a caller that names
 * lines in its errors feeds one line at a time.
 * Returns 1 with *page and *cursor just past the number; 0 at the end of
 * the text (*cursor = end); or PL_EPARSE with a message in msg (msg_size
 * bytes; 128 are always enough) for a bad token, a NUL byte outside a
 * comment or a number beyond 64 bits, *cursor then at the bad token. */
int pl_refs_next(const char **cursor, const char *end, uint64_t *page, char *msg, size_t msg_size);

#endif
