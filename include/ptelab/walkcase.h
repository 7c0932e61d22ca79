/* Walk cases (../shared/formats/walk-case.md, version 1): a text file that
 * states one MMU's paging state, some physical memory and a list of accesses.
 * pl_walkcase_parse() turns the text into a case or into an error that names
 * the line; pl_walkcase_run() performs the accesses, each from empty TLBs,
 * and prints what the processor does. Bad input is data, never an abort. */
#ifndef PTELAB_WALKCASE_H
#define PTELAB_WALKCASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ptelab/walk.h"

/* `mem PA V`: the 64-bit word at pa (8-byte aligned, below 2^maxphyaddr). */
struct pl_walkcase_word {
    uint64_t pa;
    uint64_t value;
    uint32_t line;
};

/* `access K CPL VA [ac]`. */
struct pl_walkcase_access {
    uint64_t la;
    uint8_t kind; /* PL_READ, PL_WRITE or PL_FETCH */
    uint8_t cpl;  /* 0 or 3 */
    bool ac;
    uint32_t line;
};

struct pl_walkcase {
    struct pl_mmu mmu; /* defaults of the format, the state lines, derived */
    struct pl_walkcase_word *mem; /* sorted by address, no address twice */
    size_t nmem;
    struct pl_walkcase_access *access; /* in file order */
    size_t naccess;
};

/* Why a text is not a walk case: the 1-based line that is wrong (for a
 * missing directive, the last line of the text) and a one-line message
 * without file name or line, e.g. "cr3 0x1001 is not 4 KiB aligned". */
struct pl_walkcase_error {
    uint32_t line;
    char msg[192];
};

/* Parses len bytes of text (any bytes: NULs, long lines and invalid UTF-8 are
 * errors, not crashes). Returns 0 and a new case in *out (free with
 * pl_walkcase_free), or PL_EPARSE with *err filled and *out NULL; PL_ENOMEM
 * when the host is out of memory (err says so too). The error reported is the
 * first malformed line; when every line is well formed, the first line that
 * conflicts with the rest (a second `mem` for one address, an address at or
 * above 2^maxphyaddr), then a missing cr3. */
int pl_walkcase_parse(const char *text, size_t len, struct pl_walkcase **out,
                      struct pl_walkcase_error *err);
void pl_walkcase_free(struct pl_walkcase *wc);

/* Flags for pl_walkcase_run. */
#define PL_WALKCASE_EXPLAIN 1u /* after each access, explain it (indented) */

/* Performs the accesses of wc in order on a fresh memory holding its `mem`
 * words, each access from empty TLBs, A/D bits carrying over; writes the
 * output of the format (and explanations with PL_WALKCASE_EXPLAIN) to f.
 * wc is not changed, so a case can be run again. Returns 0, PL_ENOMEM, or
 * PL_EIO when writing to f failed. */
int pl_walkcase_run(const struct pl_walkcase *wc, FILE *f, unsigned flags);

#endif
