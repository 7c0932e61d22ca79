/* Walk cases: the parser and the runner of ../shared/formats/walk-case.md. */
#include "ptelab/walkcase.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cases/explain.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

/* The state directives: each may be given once. */
enum state {
    ST_PAGING,
    ST_MAXPHYADDR,
    ST_WP,
    ST_SMEP,
    ST_SMAP,
    ST_PKE,
    ST_NXE,
    ST_PKRU,
    ST_AD_ON_FAULT,
    ST_CR3,
    ST_COUNT
};

enum operand { OP_BOOL, OP_PAGING, OP_MAXPHYADDR, OP_PKRU, OP_CR3 };

static const struct {
    const char *name;
    const char *usage; /* the synopsis, for messages */
    enum operand op;
    uint64_t dflt; /* the format's default */
} state_dirs[ST_COUNT] = {
    [ST_PAGING] = {"paging", "paging 4|5", OP_PAGING, 4},
    [ST_MAXPHYADDR] = {"maxphyaddr", "maxphyaddr N", OP_MAXPHYADDR, 52},
    [ST_WP] = {"cr0.wp", "cr0.wp B", OP_BOOL, 1},
    [ST_SMEP] = {"cr4.smep", "cr4.smep B", OP_BOOL, 0},
    [ST_SMAP] = {"cr4.smap", "cr4.smap B", OP_BOOL, 0},
    [ST_PKE] = {"cr4.pke", "cr4.pke B", OP_BOOL, 0},
    [ST_NXE] = {"efer.nxe", "efer.nxe B", OP_BOOL, 1},
    [ST_PKRU] = {"pkru", "pkru V", OP_PKRU, 0},
    [ST_AD_ON_FAULT] = {"accessed-on-fault", "accessed-on-fault B", OP_BOOL, 0},
    [ST_CR3] = {"cr3", "cr3 PA", OP_CR3, 0},
};

/* A directive and its operands; more than this is trailing garbage. */
#define MAX_TOKENS 6

struct token {
    const char *s;
    size_t len;
};

struct parser {
    struct pl_walkcase *wc;
    size_t mem_cap, access_cap;
    uint64_t state[ST_COUNT];
    uint32_t state_line[ST_COUNT]; /* 0: not given */
    uint32_t line;
    struct pl_walkcase_error *err;
};

/* Fills err with a message for line; returns PL_EPARSE. */
static int fail(struct pl_walkcase_error *err, uint32_t line, const char *fmt, ...)
{
    va_list ap;
    err->line = line;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return PL_EPARSE;
}

static int fail_nomem(struct pl_walkcase_error *err, uint32_t line)
{
    fail(err, line, "out of host memory");
    return PL_ENOMEM;
}

/* Writes tok to buf (of QUOTE_SIZE) as printable ASCII for a message: other
 * bytes as \xNN, at most 24 input bytes, then "...". Returns buf. */
#define QUOTE_SIZE (24 * 4 + 4)
static const char *quote(const struct token *tok, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = tok->len < 24 ? tok->len : 24, o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tok->s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    if (n < tok->len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static bool token_is(const struct token *tok, const char *word)
{
    return strlen(word) == tok->len && memcmp(tok->s, word, tok->len) == 0;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Splits [s, end) into blank-separated tokens up to a '#'. Returns how many
 * there are; fills at most MAX_TOKENS of them. */
static size_t tokenize(const char *s, const char *end, struct token *toks)
{
    size_t n = 0;
    for (;;) {
        while (s < end && is_blank(*s))
            s++;
        if (s == end || *s == '#')
            return n;
        const char *start = s;
        while (s < end && !is_blank(*s) && *s != '#')
            s++;
        if (n < MAX_TOKENS)
            toks[n] = (struct token){start, (size_t)(s - start)};
        n++;
    }
}

enum { NUM_OK = 0, NUM_BAD = -1, NUM_WIDE = -2 };

/* Parses a decimal or 0x-hexadecimal number. Returns NUM_OK with *v, NUM_BAD
 * for anything else, or NUM_WIDE when the value does not fit in 64 bits. */
static int parse_number(const struct token *tok, uint64_t *v)
{
    const char *s = tok->s;
    size_t len = tok->len;
    unsigned base = 10;
    if (len > 2 && s[0] == '0' && s[1] == 'x') {
        base = 16;
        s += 2;
        len -= 2;
    }
    if (len == 0)
        return NUM_BAD;
    bool wide = false;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d;
        char c = s[i];
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return NUM_BAD;
        if (x > (UINT64_MAX - d) / base)
            wide = true;
        x = x * base + d;
    }
    *v = x;
    return wide ? NUM_WIDE : NUM_OK;
}

/* Parses tok, an operand of directive `what`; returns 0 or PL_EPARSE. */
static int number_operand(struct parser *ps, const char *what, const struct token *tok, uint64_t *v)
{
    char q[QUOTE_SIZE];
    switch (parse_number(tok, v)) {
    case NUM_OK:
        return 0;
    case NUM_WIDE:
        return fail(ps->err, ps->line, "%s: '%s' does not fit in 64 bits", what, quote(tok, q));
    default:
        return fail(ps->err, ps->line, "%s: bad number '%s' (expected decimal or 0x hexadecimal)", what,
                    quote(tok, q));
    }
}

/* Fails when a directive has fewer or more operands than `want`; usage is
 * the directive's synopsis. */
static int check_operands(struct parser *ps, const struct token *toks, size_t n, size_t want,
                          const char *usage)
{
    char q[QUOTE_SIZE];
    int name_len = (int)strcspn(usage, " ");
    if (n < want + 1)
        return fail(ps->err, ps->line, "%.*s: missing operand%s (expected '%s')", name_len, usage,
                    want + 1 - n > 1 ? "s" : "", usage);
    if (n > want + 1)
        return fail(ps->err, ps->line, "%.*s: unexpected '%s' after the operand%s", name_len, usage,
                    quote(&toks[want + 1], q), want > 1 ? "s" : "");
    return 0;
}

static int parse_state(struct parser *ps, enum state st, const struct token *toks, size_t n)
{
    const char *name = state_dirs[st].name;
    int rc = check_operands(ps, toks, n, 1, state_dirs[st].usage);
    if (rc)
        return rc;
    if (ps->state_line[st])
        return fail(ps->err, ps->line, "%s given twice (first on line %" PRIu32 ")", name, ps->state_line[st]);
    uint64_t v;
    rc = number_operand(ps, name, &toks[1], &v);
    if (rc)
        return rc;
    switch (state_dirs[st].op) {
    case OP_BOOL:
        if (v > 1)
            return fail(ps->err, ps->line, "%s must be 0 or 1, not %" PRIu64, name, v);
        break;
    case OP_PAGING:
        if (v != 4 && v != 5)
            return fail(ps->err, ps->line, "paging must be 4 or 5, not %" PRIu64, v);
        break;
    case OP_MAXPHYADDR:
        if (v < 32 || v > 52)
            return fail(ps->err, ps->line, "maxphyaddr must be 32..52, not %" PRIu64, v);
        break;
    case OP_PKRU:
        if (v > UINT32_MAX)
            return fail(ps->err, ps->line, "pkru 0x%" PRIx64 " does not fit in 32 bits", v);
        break;
    case OP_CR3:
        if (v & (PL_FRAME_SIZE - 1))
            return fail(ps->err, ps->line, "cr3 0x%" PRIx64 " is not 4 KiB aligned", v);
        break;
    }
    ps->state[st] = v;
    ps->state_line[st] = ps->line;
    return 0;
}

/* Returns arr (of *cap elements, used of them in use) with room for one
 * more, possibly moved; NULL when the host is out of memory (arr is then
 * unchanged). */
static void *grow(void *arr, size_t *cap, size_t used, size_t elem)
{
    if (used < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        return NULL;
    void *p = realloc(arr, ncap * elem);
    if (p)
        *cap = ncap;
    return p;
}

static int parse_mem(struct parser *ps, const struct token *toks, size_t n)
{
    int rc = check_operands(ps, toks, n, 2, "mem PA V");
    uint64_t pa, v;
    if (!rc)
        rc = number_operand(ps, "mem", &toks[1], &pa);
    if (!rc)
        rc = number_operand(ps, "mem", &toks[2], &v);
    if (rc)
        return rc;
    if (pa & 7)
        return fail(ps->err, ps->line, "mem address 0x%" PRIx64 " is not 8-byte aligned", pa);
    struct pl_walkcase *wc = ps->wc;
    struct pl_walkcase_word *words = grow(wc->mem, &ps->mem_cap, wc->nmem, sizeof *wc->mem);
    if (!words)
        return fail_nomem(ps->err, ps->line);
    wc->mem = words;
    wc->mem[wc->nmem++] = (struct pl_walkcase_word){pa, v, ps->line};
    return 0;
}

static int parse_access(struct parser *ps, const struct token *toks, size_t n)
{
    char q[QUOTE_SIZE];
    static const char usage[] = "access K CPL VA [ac]";
    if (n < 4)
        return fail(ps->err, ps->line, "access: missing operand%s (expected '%s')", n < 3 ? "s" : "", usage);
    if (n > 4 && !token_is(&toks[4], "ac"))
        return fail(ps->err, ps->line, "access: unexpected '%s' after VA (only 'ac' may follow)",
                    quote(&toks[4], q));
    if (n > 5)
        return fail(ps->err, ps->line, "access: unexpected '%s' after 'ac'", quote(&toks[5], q));
    struct pl_walkcase_access a = {.ac = n == 5, .line = ps->line};
    if (token_is(&toks[1], "r"))
        a.kind = PL_READ;
    else if (token_is(&toks[1], "w"))
        a.kind = PL_WRITE;
    else if (token_is(&toks[1], "x"))
        a.kind = PL_FETCH;
    else
        return fail(ps->err, ps->line, "access: kind must be r, w or x, not '%s'", quote(&toks[1], q));
    uint64_t cpl;
    int rc = number_operand(ps, "access", &toks[2], &cpl);
    if (rc)
        return rc;
    if (cpl != 0 && cpl != 3)
        return fail(ps->err, ps->line, "access: CPL must be 0 or 3, not %" PRIu64, cpl);
    a.cpl = (uint8_t)cpl;
    rc = number_operand(ps, "access", &toks[3], &a.la);
    if (rc)
        return rc;
    struct pl_walkcase *wc = ps->wc;
    struct pl_walkcase_access *accesses = grow(wc->access, &ps->access_cap, wc->naccess, sizeof *wc->access);
    if (!accesses)
        return fail_nomem(ps->err, ps->line);
    wc->access = accesses;
    wc->access[wc->naccess++] = a;
    return 0;
}

static int parse_line(struct parser *ps, const char *s, const char *end)
{
    struct token toks[MAX_TOKENS];
    size_t n = tokenize(s, end, toks);
    if (n == 0)
        return 0;
    if (token_is(&toks[0], "mem"))
        return parse_mem(ps, toks, n);
    if (token_is(&toks[0], "access"))
        return parse_access(ps, toks, n);
    for (int st = 0; st < ST_COUNT; st++)
        if (token_is(&toks[0], state_dirs[st].name))
            return parse_state(ps, (enum state)st, toks, n);
    char q[QUOTE_SIZE];
    return fail(ps->err, ps->line, "unknown directive '%s'", quote(&toks[0], q));
}

static int word_order(const void *a, const void *b)
{
    const struct pl_walkcase_word *x = a, *y = b;
    if (x->pa != y->pa)
        return x->pa < y->pa ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* The checks that need the whole file: addresses against the final
 * maxphyaddr, duplicate mem lines, cr3 present. Reports the conflict on the
 * lowest line. */
static int validate(struct parser *ps, uint32_t last_line)
{
    struct pl_walkcase *wc = ps->wc;
    unsigned m = (unsigned)ps->state[ST_MAXPHYADDR];
    uint64_t limit = UINT64_C(1) << m;
    uint32_t bad = 0; /* line of the first conflict found so far */
    struct pl_walkcase_error e = {0};
    struct pl_walkcase_error *err = ps->err;

    if (ps->state_line[ST_CR3] && ps->state[ST_CR3] >= limit) {
        bad = ps->state_line[ST_CR3];
        fail(&e, bad, "cr3 0x%" PRIx64 " is at or above 2^%u (maxphyaddr %u)", ps->state[ST_CR3], m, m);
    }
    if (wc->nmem)
        qsort(wc->mem, wc->nmem, sizeof *wc->mem, word_order);
    for (size_t i = 0; i < wc->nmem; i++) {
        const struct pl_walkcase_word *w = &wc->mem[i];
        if (bad && w->line >= bad)
            continue;
        if (w->pa >= limit) {
            bad = w->line;
            fail(&e, bad, "mem address 0x%" PRIx64 " is at or above 2^%u (maxphyaddr %u)", w->pa, m, m);
        } else if (i > 0 && w[-1].pa == w->pa) {
            size_t first = i - 1;
            while (first > 0 && wc->mem[first - 1].pa == w->pa)
                first--;
            bad = w->line;
            fail(&e, bad, "second mem line for address 0x%" PRIx64 " (first on line %" PRIu32 ")", w->pa,
                 wc->mem[first].line);
        }
    }
    if (bad) {
        *err = e;
        return PL_EPARSE;
    }
    if (!ps->state_line[ST_CR3])
        return fail(err, last_line, "no cr3 line (cr3 is required)");
    return 0;
}

static void build_mmu(struct pl_mmu *mmu, const uint64_t *st)
{
    pl_mmu_init(mmu);
    mmu->cr3 = st[ST_CR3];
    mmu->levels = (uint8_t)st[ST_PAGING];
    mmu->maxphyaddr = (uint8_t)st[ST_MAXPHYADDR];
    mmu->wp = st[ST_WP];
    mmu->smep = st[ST_SMEP];
    mmu->smap = st[ST_SMAP];
    mmu->pke = st[ST_PKE];
    mmu->nxe = st[ST_NXE];
    mmu->pkru = (uint32_t)st[ST_PKRU];
    mmu->ad_policy = st[ST_AD_ON_FAULT] ? PL_AD_UPPER_ON_FAULT : PL_AD_NONE_ON_FAULT;
    pl_mmu_update(mmu);
}

int pl_walkcase_parse(const char *text, size_t len, struct pl_walkcase **out, struct pl_walkcase_error *err)
{
    *out = NULL;
    *err = (struct pl_walkcase_error){0};
    struct parser ps = {.err = err};
    ps.wc = calloc(1, sizeof *ps.wc);
    if (!ps.wc)
        return fail_nomem(err, 0);
    for (int st = 0; st < ST_COUNT; st++)
        ps.state[st] = state_dirs[st].dflt;

    const char *s = text, *end = text + len;
    int rc = 0;
    while (s < end && !rc) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        if (ps.line == UINT32_MAX) {
            rc = fail(err, ps.line, "more than %" PRIu32 " lines", UINT32_MAX);
            break;
        }
        ps.line++;
        rc = parse_line(&ps, s, eol);
        s = eol < end ? eol + 1 : end;
    }
    if (!rc)
        rc = validate(&ps, ps.line ? ps.line : 1);
    if (rc) {
        pl_walkcase_free(ps.wc);
        return rc;
    }
    build_mmu(&ps.wc->mmu, ps.state);
    *out = ps.wc;
    return 0;
}

void pl_walkcase_free(struct pl_walkcase *wc)
{
    if (!wc)
        return;
    free(wc->mem);
    free(wc->access);
    free(wc);
}

static const char kind_letter[] = {[PL_READ] = 'r', [PL_WRITE] = 'w', [PL_FETCH] = 'x'};

/* Prints `  mem PA V` for every word the walk read whose value differs now
 * from before the access, in address order. The first read of a word comes
 * before any A/D write to it, so it holds the old value. */
static void print_changes(FILE *f, const struct pl_physmem *mem, const struct pl_walk_out *out)
{
    struct pl_walk_step old[5];
    size_t n = 0;
    assert(out->nsteps <= 5);
    for (size_t i = 0; i < out->nsteps; i++) {
        size_t j = 0;
        while (j < n && old[j].entry_pa != out->step[i].entry_pa)
            j++;
        if (j < n)
            continue;
        for (j = n++; j > 0 && old[j - 1].entry_pa > out->step[i].entry_pa; j--)
            old[j] = old[j - 1];
        old[j] = out->step[i];
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t now = pl_physmem_read64(mem, old[i].entry_pa);
        if (now != old[i].entry)
            fprintf(f, "  mem 0x%016" PRIx64 " 0x%016" PRIx64 "\n", old[i].entry_pa, now);
    }
}

static void run_access(const struct pl_walkcase *wc, struct pl_physmem *mem, const struct pl_walkcase_access *a,
                       FILE *f, unsigned flags)
{
    struct pl_walk_in in = {.la = a->la, .kind = a->kind, .cpl = a->cpl, .ac = a->ac};
    struct pl_walk_out out;
    struct pl_fault fault;
    memset(&out, 0, sizeof out);
    memset(&fault, 0, sizeof fault);
    bool ok = pl_walk(&wc->mmu, mem, &in, &out, &fault);

    fprintf(f, "%c %u 0x%016" PRIx64 " ", kind_letter[a->kind], a->cpl, a->la);
    if (ok)
        fprintf(f, "ok 0x%016" PRIx64 "\n", out.pa);
    else if (fault.vector == PL_VEC_PF)
        fprintf(f, "pf 0x%04x\n", fault.error_code);
    else
        fprintf(f, "gp\n");
    print_changes(f, mem, &out);
    if (flags & PL_WALKCASE_EXPLAIN)
        explain_walk(f, &wc->mmu, &in, ok, &out, &fault);
}

int pl_walkcase_run(const struct pl_walkcase *wc, FILE *f, unsigned flags)
{
    struct pl_physmem *mem = pl_physmem_new();
    if (!mem)
        return PL_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < wc->nmem && !rc; i++)
        rc = pl_physmem_write64(mem, wc->mem[i].pa, wc->mem[i].value);
    for (size_t i = 0; i < wc->naccess && !rc; i++)
        run_access(wc, mem, &wc->access[i], f, flags);
    pl_physmem_free(mem);
    if (!rc && ferror(f))
        rc = PL_EIO;
    return rc;
}
