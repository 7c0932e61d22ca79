/* Plain reference strings: page numbers, decimal or 0x hexadecimal,
 * separated by white space, with '#' comments. The one tokenizer behind
 * `trace import`, `trace curve --refs` and pl_refstring_parse. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/trace.h"

/* The most characters of a bad token a message quotes. */
#define QUOTE_MAX 40

/* Returns whether c is white space (C's isspace in the "C" locale). */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Returns whether c ends a token. A NUL does, so that it is reported on its
 * own rather than as part of a bad number. */
static bool ends_token(char c)
{
    return is_space(c) || c == '#' || c == '\0';
}

/* Returns the value of c as a digit in base (10 or 16), or -1. */
static int digit_value(unsigned char c, unsigned base)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (base == 16 && c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (base == 16 && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Writes the token [s, s+len) to out (at least QUOTE_MAX + 4 bytes) for a
 * message: bytes outside printable ASCII as \xNN, never more than QUOTE_MAX
 * characters, then "..." if it had to stop early. */
static void quote_token(char *out, const char *s, size_t len)
{
    size_t used = 0, i = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = c >= 0x20 && c < 0x7f;
        if (used + (plain ? 1 : 4) > QUOTE_MAX)
            break;
        if (plain)
            out[used++] = (char)c;
        else
            used += (size_t)sprintf(out + used, "\\x%02x", c);
    }
    strcpy(out + used, i < len ? "..." : "");
}

/* Converts the token [s, s+len) (len > 0, no delimiter in it) to *out.
 * Returns 0, or PL_EPARSE with a message in msg. A token that is both too
 * long and malformed is called malformed. */
static int token_value(const char *s, size_t len, uint64_t *out, char *msg, size_t msg_size)
{
    unsigned base = 10;
    size_t i = 0;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    uint64_t v = 0;
    bool too_wide = false;
    char quoted[QUOTE_MAX + 4];
    for (; i < len; i++) {
        int d = digit_value((unsigned char)s[i], base);
        if (d < 0) {
            quote_token(quoted, s, len);
            snprintf(msg, msg_size, "bad page number '%s' (expected decimal or 0x hexadecimal)", quoted);
            return PL_EPARSE;
        }
        if (v > (UINT64_MAX - (unsigned)d) / base)
            too_wide = true;
        v = v * base + (unsigned)d;
    }
    if (too_wide) {
        quote_token(quoted, s, len);
        snprintf(msg, msg_size, "page number '%s' does not fit in 64 bits", quoted);
        return PL_EPARSE;
    }
    *out = v;
    return 0;
}

int pl_refs_next(const char **cursor, const char *end, uint64_t *page, char *msg, size_t msg_size)
{
    const char *p = *cursor;
    for (;;) {
        while (p < end && is_space(*p))
            p++;
        if (p == end || *p != '#')
            break;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl : end;
    }
    *cursor = p;
    if (p == end)
        return 0;
    if (*p == '\0') {
        snprintf(msg, msg_size, "NUL byte in a reference string");
        return PL_EPARSE;
    }
    const char *start = p;
    while (p < end && !ends_token(*p))
        p++;
    int rc = token_value(start, (size_t)(p - start), page, msg, msg_size);
    if (rc)
        return rc;
    *cursor = p;
    return 1;
}
