/* Parsing Valgrind lackey's --trace-mem=yes lines into accesses. */
#include <stdbool.h>

#include "ptelab/trace.h"

/* Returns the value of hexadecimal digit c, or -1. */
static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Lackey prints "I  ADDR,SIZE" for a fetch and " K ADDR,SIZE" (K one of
 * L, S, M) for data, ADDR in hexadecimal and SIZE in decimal. Anything
 * else, including a line that starts like one but is damaged, is not an
 * access: the caller counts on it being skipped, never half-read. */
int pl_lackey_parse_line(const char *line, size_t len, struct pl_trace_access *out)
{
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    size_t i = 0;
    if (i < len && line[i] == ' ')
        i++;
    if (i >= len)
        return 0;
    int kind;
    switch (line[i]) {
    case 'I': kind = PL_TRACE_INSTR; break;
    case 'L': kind = PL_TRACE_LOAD; break;
    case 'S': kind = PL_TRACE_STORE; break;
    case 'M': kind = PL_TRACE_MODIFY; break;
    default: return 0;
    }
    i++;
    size_t blanks = i;
    while (i < len && line[i] == ' ')
        i++;
    if (i == blanks)
        return 0;
    uint64_t addr = 0;
    size_t digits = 0;
    for (int d; i < len && (d = hex_digit(line[i])) >= 0; i++, digits++) {
        if (digits == 16)
            return 0;
        addr = addr << 4 | (uint64_t)d;
    }
    if (digits == 0 || i >= len || line[i] != ',')
        return 0;
    i++;
    uint64_t size = 0;
    digits = 0;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++, digits++) {
        size = size * 10 + (uint64_t)(line[i] - '0');
        if (size > UINT32_MAX)
            return 0;
    }
    if (digits == 0 || i != len || size == 0)
        return 0;
    out->addr = addr;
    out->size = (uint32_t)size;
    out->kind = (uint8_t)kind;
    return 1;
}
