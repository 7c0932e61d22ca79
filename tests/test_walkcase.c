/* Tests of src/cases/walkcase.c: the walk-case parser (every class of
 * malformed input, with its line and message) and the runner's output. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/walkcase.h"

/* The example of ../shared/formats/walk-case.md and what it prints. */
static const char example[] = "paging 4\n"
                              "cr3 0x1000\n"
                              "mem 0x1000 0x2007      # PML4[0] -> 0x2000, P RW US\n"
                              "mem 0x2000 0x3007      # PDPT[0] -> 0x3000\n"
                              "mem 0x3000 0x4007      # PD[0]   -> 0x4000\n"
                              "mem 0x4008 0x5005      # PT[1]   -> frame 0x5000, P US, read-only\n"
                              "access r 3 0x1234\n"
                              "access w 3 0x1234\n";
static const char example_output[] = "r 3 0x0000000000001234 ok 0x0000000000005234\n"
                                     "  mem 0x0000000000001000 0x0000000000002027\n"
                                     "  mem 0x0000000000002000 0x0000000000003027\n"
                                     "  mem 0x0000000000003000 0x0000000000004027\n"
                                     "  mem 0x0000000000004008 0x0000000000005025\n"
                                     "w 3 0x0000000000001234 pf 0x0007\n";

static struct pl_walkcase *parse_ok(const char *text)
{
    struct pl_walkcase *wc = NULL;
    struct pl_walkcase_error err;
    int rc = pl_walkcase_parse(text, strlen(text), &wc, &err);
    cr_assert_eq(rc, 0, "parse failed: line %u: %s", err.line, err.msg);
    cr_assert_not_null(wc);
    return wc;
}

/* Parses len bytes that must be rejected, and checks the line and message. */
static void expect_error_n(const char *text, size_t len, uint32_t line, const char *msg)
{
    struct pl_walkcase *wc = (struct pl_walkcase *)1;
    struct pl_walkcase_error err;
    int rc = pl_walkcase_parse(text, len, &wc, &err);
    cr_assert_eq(rc, PL_EPARSE, "accepted, or failed with %d: %s", rc, err.msg);
    cr_assert_null(wc);
    cr_expect_eq(err.line, line, "line %u, expected %u (%s)", err.line, line, err.msg);
    cr_expect_str_eq(err.msg, msg);
}

static void expect_error(const char *text, uint32_t line, const char *msg)
{
    expect_error_n(text, strlen(text), line, msg);
}

/* Runs wc and returns what it printed (free it). */
static char *run(const struct pl_walkcase *wc, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(pl_walkcase_run(wc, f, flags), 0);
    cr_assert_eq(fclose(f), 0);
    return buf;
}

/* ---- valid input ---- */

Test(walkcase, parse_applies_the_defaults_of_the_format)
{
    struct pl_walkcase *wc = parse_ok("cr3 0x1000\n");
    cr_expect_eq(wc->mmu.levels, 4);
    cr_expect_eq(wc->mmu.maxphyaddr, 52);
    cr_expect(wc->mmu.wp);
    cr_expect(!wc->mmu.smep);
    cr_expect(!wc->mmu.smap);
    cr_expect(!wc->mmu.pke);
    cr_expect(wc->mmu.nxe);
    cr_expect_eq(wc->mmu.pkru, 0);
    cr_expect_eq(wc->mmu.ad_policy, PL_AD_NONE_ON_FAULT);
    cr_expect_eq(wc->mmu.cr3, 0x1000);
    cr_expect_eq(wc->nmem, 0);
    cr_expect_eq(wc->naccess, 0);
    pl_walkcase_free(wc);
}

Test(walkcase, parse_reads_every_directive_in_any_order)
{
    struct pl_walkcase *wc = parse_ok("access x 0 0xffff800000000000 ac\n"
                                      "mem 0x3000 7\n"
                                      "pkru 0xfffffffc\n"
                                      "paging 5\n"
                                      "accessed-on-fault 1\n"
                                      "cr4.pke 1\n"
                                      "cr4.smap 1\n"
                                      "cr4.smep 1\n"
                                      "efer.nxe 0\n"
                                      "cr0.wp 0\n"
                                      "maxphyaddr 36\n"
                                      "mem 0x1000 0xffffffffffffffff\n"
                                      "access w 3 4096\n"
                                      "cr3 0xfffff000\n");
    cr_expect_eq(wc->mmu.levels, 5);
    cr_expect_eq(wc->mmu.maxphyaddr, 36);
    cr_expect(!wc->mmu.wp);
    cr_expect(wc->mmu.smep);
    cr_expect(wc->mmu.smap);
    cr_expect(wc->mmu.pke);
    cr_expect(!wc->mmu.nxe);
    cr_expect_eq(wc->mmu.pkru, 0xfffffffc);
    cr_expect_eq(wc->mmu.ad_policy, PL_AD_UPPER_ON_FAULT);
    cr_expect_eq(wc->mmu.cr3, 0xfffff000);
    /* maxphyaddr 36 reserves bits 51:36, so pl_mmu_update() ran. */
    cr_expect_eq(wc->mmu.rsvd[1][0] & UINT64_C(0x000ff00000000000), UINT64_C(0x000ff00000000000));
    cr_assert_eq(wc->nmem, 2);
    cr_expect_eq(wc->mem[0].pa, 0x1000);
    cr_expect_eq(wc->mem[0].value, UINT64_MAX);
    cr_expect_eq(wc->mem[0].line, 12);
    cr_expect_eq(wc->mem[1].pa, 0x3000);
    cr_expect_eq(wc->mem[1].value, 7);
    cr_expect_eq(wc->mem[1].line, 2);
    cr_assert_eq(wc->naccess, 2);
    cr_expect_eq(wc->access[0].kind, PL_FETCH);
    cr_expect_eq(wc->access[0].cpl, 0);
    cr_expect_eq(wc->access[0].la, UINT64_C(0xffff800000000000));
    cr_expect(wc->access[0].ac);
    cr_expect_eq(wc->access[0].line, 1);
    cr_expect_eq(wc->access[1].kind, PL_WRITE);
    cr_expect_eq(wc->access[1].cpl, 3);
    cr_expect_eq(wc->access[1].la, 4096);
    cr_expect(!wc->access[1].ac);
    pl_walkcase_free(wc);
}

Test(walkcase, parse_takes_decimal_and_hex_of_any_case_up_to_64_bits)
{
    struct pl_walkcase *wc = parse_ok("cr3 0x00000000000000000000001000\n"
                                      "mem 8 18446744073709551615\n"
                                      "mem 0x10 0xDEADbeef\n"
                                      "mem 0x18 010\n");
    cr_expect_eq(wc->mmu.cr3, 0x1000);
    cr_assert_eq(wc->nmem, 3);
    cr_expect_eq(wc->mem[0].value, UINT64_MAX);
    cr_expect_eq(wc->mem[1].value, 0xdeadbeef);
    cr_expect_eq(wc->mem[2].value, 10, "decimal, not octal");
    pl_walkcase_free(wc);
}

Test(walkcase, parse_skips_comments_blank_lines_and_carriage_returns)
{
    struct pl_walkcase *wc = parse_ok("# a case\r\n"
                                      "\n"
                                      "   \t  \n"
                                      "cr3 0x2000# no blank before the comment\r\n"
                                      "  mem\t0x2000   0x3 # P RW \xff\xfe invalid UTF-8 in a comment\n"
                                      "access r 0 0x0");
    cr_expect_eq(wc->mmu.cr3, 0x2000);
    cr_assert_eq(wc->nmem, 1);
    cr_expect_eq(wc->mem[0].line, 5);
    cr_assert_eq(wc->naccess, 1, "the last line has no newline");
    cr_expect_eq(wc->access[0].line, 6);
    pl_walkcase_free(wc);
}

/* ---- malformed input: one test per class of error ---- */

Test(walkcase, unknown_directive)
{
    expect_error("cr3 0x1000\nmemory 0x0 0x0\n", 2, "unknown directive 'memory'");
    expect_error("CR3 0x1000\n", 1, "unknown directive 'CR3'");
    expect_error("cr3 0x1000\n0x5\n", 2, "unknown directive '0x5'");
}

Test(walkcase, bad_number)
{
    expect_error("cr3 0x\n", 1, "cr3: bad number '0x' (expected decimal or 0x hexadecimal)");
    expect_error("cr3 0x1000\nmem 0x10 12a\n", 2, "mem: bad number '12a' (expected decimal or 0x hexadecimal)");
    expect_error("cr3 -4096\n", 1, "cr3: bad number '-4096' (expected decimal or 0x hexadecimal)");
    expect_error("cr3 0X1000\n", 1, "cr3: bad number '0X1000' (expected decimal or 0x hexadecimal)");
    expect_error("cr3 0x1000\naccess r 3 0xg\n", 2, "access: bad number '0xg' (expected decimal or 0x hexadecimal)");
    expect_error("cr3 0x1000\naccess r three 0\n", 2,
                 "access: bad number 'three' (expected decimal or 0x hexadecimal)");
}

Test(walkcase, numbers_overflowing_64_bits)
{
    expect_error("cr3 0x1000\nmem 0 18446744073709551616\n", 2, "mem: '18446744073709551616' does not fit in 64 bits");
    expect_error("cr3 0x1000\nmem 0 0x10000000000000000\n", 2, "mem: '0x10000000000000000' does not fit in 64 bits");
    expect_error("cr3 0x1000\naccess r 3 99999999999999999999999\n", 2,
                 "access: '99999999999999999999999' does not fit in 64 bits");
}

Test(walkcase, trailing_garbage)
{
    expect_error("cr3 0x1000 0x2000\n", 1, "cr3: unexpected '0x2000' after the operand");
    expect_error("cr3 0x1000\nmem 0 1 2\n", 2, "mem: unexpected '2' after the operands");
    expect_error("cr3 0x1000\npaging 4 levels\n", 2, "paging: unexpected 'levels' after the operand");
    expect_error("cr3 0x1000\naccess r 3 0x0 AC\n", 2, "access: unexpected 'AC' after VA (only 'ac' may follow)");
    expect_error("cr3 0x1000\naccess r 3 0x0 ac ac\n", 2, "access: unexpected 'ac' after 'ac'");
}

Test(walkcase, missing_operands)
{
    expect_error("cr3\n", 1, "cr3: missing operand (expected 'cr3 PA')");
    expect_error("cr3 0x1000\nmem 0x1000\n", 2, "mem: missing operand (expected 'mem PA V')");
    expect_error("cr3 0x1000\nmem\n", 2, "mem: missing operands (expected 'mem PA V')");
    expect_error("cr3 0x1000\naccess r 3\n", 2, "access: missing operand (expected 'access K CPL VA [ac]')");
    expect_error("cr3 0x1000\naccess\n", 2, "access: missing operands (expected 'access K CPL VA [ac]')");
    expect_error("cr3 0x1000\npkru # the value is in the comment: 5\n", 2, "pkru: missing operand (expected 'pkru V')");
    expect_error("cr3 0x1000\ncr0.wp\n", 2, "cr0.wp: missing operand (expected 'cr0.wp B')");
}

Test(walkcase, misaligned_addresses)
{
    expect_error("cr3 0x1008\n", 1, "cr3 0x1008 is not 4 KiB aligned");
    expect_error("cr3 0x1000\nmem 0x1004 1\n", 2, "mem address 0x1004 is not 8-byte aligned");
    expect_error("cr3 0x1000\nmem 1 1\n", 2, "mem address 0x1 is not 8-byte aligned");
}

Test(walkcase, addresses_at_or_above_maxphyaddr_name_their_own_line)
{
    /* maxphyaddr comes after the lines it makes wrong. */
    expect_error("cr3 0x1000000000\nmaxphyaddr 36\n", 1, "cr3 0x1000000000 is at or above 2^36 (maxphyaddr 36)");
    expect_error("cr3 0x1000\nmem 0xffffffff8 1\nmem 0x1000000000 1\nmaxphyaddr 36\n", 3,
                 "mem address 0x1000000000 is at or above 2^36 (maxphyaddr 36)");
    expect_error("cr3 0x10000000000000\n", 1, "cr3 0x10000000000000 is at or above 2^52 (maxphyaddr 52)");
    struct pl_walkcase *wc = parse_ok("maxphyaddr 32\ncr3 0xfffff000\nmem 0xfffffff8 1\n");
    pl_walkcase_free(wc);
}

Test(walkcase, booleans_other_than_0_or_1)
{
    static const char *const names[] = {"cr0.wp", "cr4.smep", "cr4.smap", "cr4.pke", "efer.nxe", "accessed-on-fault"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char text[128], msg[128];
        snprintf(text, sizeof text, "cr3 0x1000\n%s 2\n", names[i]);
        snprintf(msg, sizeof msg, "%s must be 0 or 1, not 2", names[i]);
        expect_error(text, 2, msg);
    }
}

Test(walkcase, values_too_wide_for_their_field)
{
    expect_error("cr3 0x1000\npkru 0x100000000\n", 2, "pkru 0x100000000 does not fit in 32 bits");
    expect_error("cr3 0x1000\nmaxphyaddr 31\n", 2, "maxphyaddr must be 32..52, not 31");
    expect_error("cr3 0x1000\nmaxphyaddr 53\n", 2, "maxphyaddr must be 32..52, not 53");
    expect_error("cr3 0x1000\npaging 3\n", 2, "paging must be 4 or 5, not 3");
    expect_error("cr3 0x1000\naccess r 1 0\n", 2, "access: CPL must be 0 or 3, not 1");
    expect_error("cr3 0x1000\naccess r 0x3000000000000000 0\n", 2, "access: CPL must be 0 or 3, not 3458764513820540928");
    expect_error("cr3 0x1000\naccess rw 3 0\n", 2, "access: kind must be r, w or x, not 'rw'");
    expect_error("cr3 0x1000\naccess R 3 0\n", 2, "access: kind must be r, w or x, not 'R'");
    struct pl_walkcase *wc = parse_ok("cr3 0x1000\npkru 0xffffffff\nmaxphyaddr 52\n");
    pl_walkcase_free(wc);
}

Test(walkcase, a_state_directive_given_twice)
{
    expect_error("cr3 0x1000\npaging 4\n# again\npaging 4\n", 4, "paging given twice (first on line 2)");
    expect_error("cr3 0x1000\ncr3 0x1000\n", 2, "cr3 given twice (first on line 1)");
    expect_error("cr3 0x1000\naccessed-on-fault 0\naccessed-on-fault 1\n", 3,
                 "accessed-on-fault given twice (first on line 2)");
}

Test(walkcase, two_mem_lines_for_one_address_name_both_lines)
{
    expect_error("cr3 0x1000\nmem 0x2000 1\nmem 0x3000 1\nmem 0x2000 1\n", 4,
                 "second mem line for address 0x2000 (first on line 2)");
    /* the lowest offending line wins, whatever the addresses' order */
    expect_error("cr3 0x1000\nmem 0x9000 1\nmem 0x2000 1\nmem 0x2000 2\nmem 0x9000 2\nmem 0x2000 3\n", 4,
                 "second mem line for address 0x2000 (first on line 3)");
}

Test(walkcase, cr3_is_required)
{
    expect_error("mem 0x1000 1\naccess r 0 0\n", 2, "no cr3 line (cr3 is required)");
    expect_error("paging 4\n\n# nothing else\n", 3, "no cr3 line (cr3 is required)");
    expect_error("", 1, "no cr3 line (cr3 is required)");
}

Test(walkcase, a_malformed_line_is_reported_before_conflicts_between_lines)
{
    expect_error("mem 0x2000 1\nmem 0x2000 1\nbogus\n", 3, "unknown directive 'bogus'");
    expect_error("mem 0x2000 1\ncr3 1\nmem 0x2000 1\n", 2, "cr3 0x1 is not 4 KiB aligned");
}

Test(walkcase, nul_bytes_are_an_error_not_the_end_of_the_text)
{
    static const char text[] = "cr3 0x1000\nmem 0x0 1\0 2\n";
    expect_error_n(text, sizeof text - 1, 2, "mem: unexpected '2' after the operands");
    static const char in_token[] = "cr3 0x1000\nme\0m 0 0\n";
    expect_error_n(in_token, sizeof in_token - 1, 2, "unknown directive 'me\\x00m'");
    static const char in_number[] = "cr3 0x10\0" "00\n";
    expect_error_n(in_number, sizeof in_number - 1, 1,
                   "cr3: bad number '0x10\\x0000' (expected decimal or 0x hexadecimal)");
}

Test(walkcase, invalid_utf8_is_quoted_as_bytes)
{
    expect_error("cr3 0x1000\n\xc3\x28 1\n", 2, "unknown directive '\\xc3('");
    expect_error("cr3 0x1000\naccess \xff 3 0\n", 2, "access: kind must be r, w or x, not '\\xff'");
}

Test(walkcase, a_very_long_line_gives_a_short_message)
{
    size_t n = 1u << 20;
    char *text = malloc(n + 32);
    cr_assert_not_null(text);
    strcpy(text, "cr3 0x1000\nmem 0 ");
    size_t at = strlen(text);
    memset(text + at, '7', n);
    text[at + n] = '\n';
    expect_error_n(text, at + n + 1, 2, "mem: '777777777777777777777777...' does not fit in 64 bits");
    memset(text + at, 'z', n);
    expect_error_n(text, at + n + 1, 2,
                   "mem: bad number 'zzzzzzzzzzzzzzzzzzzzzzzz...' (expected decimal or 0x hexadecimal)");
    free(text);
}

Test(walkcase, many_lines_and_accesses)
{
    size_t lines = 20000, cap = lines * 32 + 64, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    len += (size_t)snprintf(text + len, cap - len, "cr3 0x1000\n");
    for (size_t i = 0; i < lines; i++)
        len += (size_t)snprintf(text + len, cap - len, i % 2 ? "mem 0x%zx 1\n" : "access r 3 0x%zx\n", 8 * i);
    struct pl_walkcase *wc = NULL;
    struct pl_walkcase_error err;
    cr_assert_eq(pl_walkcase_parse(text, len, &wc, &err), 0, "%s", err.msg);
    cr_expect_eq(wc->nmem, lines / 2);
    cr_expect_eq(wc->naccess, lines / 2);
    cr_expect_eq(wc->access[lines / 2 - 1].line, lines);
    for (size_t i = 1; i < wc->nmem; i++)
        cr_assert_lt(wc->mem[i - 1].pa, wc->mem[i].pa);
    pl_walkcase_free(wc);
    free(text);
}

/* ---- running ---- */

Test(walkcase, run_prints_the_example_of_the_format_exactly)
{
    struct pl_walkcase *wc = parse_ok(example);
    char *out = run(wc, 0);
    cr_expect_str_eq(out, example_output);
    free(out);
    /* the case is not changed by running it: A bits are set again */
    out = run(wc, 0);
    cr_expect_str_eq(out, example_output);
    free(out);
    pl_walkcase_free(wc);
}

Test(walkcase, run_prints_gp_for_a_non_canonical_address_and_changes_nothing)
{
    struct pl_walkcase *wc = parse_ok("cr3 0x1000\nmem 0x1000 0x2007\n"
                                      "access r 0 0x0000800000000000\n"
                                      "access x 3 0xfffeffffffffffff\n");
    char *out = run(wc, 0);
    cr_expect_str_eq(out, "r 0 0x0000800000000000 gp\n"
                          "x 3 0xfffeffffffffffff gp\n");
    free(out);
    pl_walkcase_free(wc);
}

Test(walkcase, run_with_accessed_on_fault_prints_upper_level_a_bits_of_a_faulting_walk)
{
    struct pl_walkcase *wc = parse_ok("accessed-on-fault 1\ncr3 0x1000\n"
                                      "mem 0x1000 0x2007\nmem 0x2000 0x3007\nmem 0x3000 0x4007\n"
                                      "access w 3 0x1000 # PT[1] not present\n");
    char *out = run(wc, 0);
    cr_expect_str_eq(out, "w 3 0x0000000000001000 pf 0x0006\n"
                          "  mem 0x0000000000001000 0x0000000000002027\n"
                          "  mem 0x0000000000002000 0x0000000000003027\n"
                          "  mem 0x0000000000003000 0x0000000000004027\n");
    free(out);
    pl_walkcase_free(wc);
}

Test(walkcase, run_prints_a_word_read_twice_once)
{
    /* PML4[0] points to itself: PML4, PDPT and PD are one table, whose word 0
     * is read three times and changed once. */
    struct pl_walkcase *wc = parse_ok("cr3 0x1000\nmem 0x1000 0x1007\nmem 0x1008 0x5007\n"
                                      "access w 3 0x1000\n");
    char *out = run(wc, 0);
    cr_expect_str_eq(out, "w 3 0x0000000000001000 ok 0x0000000000005000\n"
                          "  mem 0x0000000000001000 0x0000000000001027\n"
                          "  mem 0x0000000000001008 0x0000000000005067\n");
    free(out);
    pl_walkcase_free(wc);
}

Test(walkcase, explain_keeps_the_plain_lines_and_adds_indented_ones)
{
    struct pl_walkcase *wc = parse_ok(example);
    char *out = run(wc, PL_WALKCASE_EXPLAIN);
    size_t plain = 0;
    for (char *line = out; *line;) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl);
        if (strncmp(line, "    ", 4) != 0) {
            size_t n = (size_t)(nl - line) + 1;
            cr_assert(strncmp(example_output + plain, line, n) == 0, "unexpected line: %.*s", (int)n, line);
            plain += n;
        }
        line = nl + 1;
    }
    cr_expect_eq(plain, strlen(example_output));
    cr_expect(strstr(out, "    PT[1] at 0x0000000000004008 = 0x0000000000005005\n"
                          "        P=1 RW=0 US=1 PWT=0 PCD=0 A=0 D=0 PAT=0 G=0 XD=0 addr=0x0000000000005000 pkey=0\n"
                          "        leaf: 4K page at 0x0000000000005000\n"));
    cr_expect(strstr(out, "    denied by R/W: user write to a read-only page (R/W=0 in the PTE)\n"));
    cr_expect(strstr(out, "    result: #PF, error code 0x0007: P=1"));
    cr_expect(strstr(out, "    result: ok, PA 0x0000000000005234 in a 4K page, memory type WB (PAT entry 0)\n"));
    free(out);
    pl_walkcase_free(wc);
}

/* A 2M user page at 0 with key 3, and the lines its explanation must hold. */
static void expect_explained(const char *state, const char *access, const char *want)
{
    char text[512];
    snprintf(text, sizeof text,
             "cr3 0x1000\nmem 0x1000 0x2007\nmem 0x2000 0x3007\n"
             "mem 0x3000 0x18000000000000e7 # 2M, P RW US A D, key 3\n%s\n%s\n",
             state, access);
    struct pl_walkcase *wc = parse_ok(text);
    char *out = run(wc, PL_WALKCASE_EXPLAIN);
    cr_expect(strstr(out, want), "missing \"%s\" in:\n%s", want, out);
    free(out);
    pl_walkcase_free(wc);
}

Test(walkcase, explain_names_the_rule_that_denied)
{
    expect_explained("cr4.smap 1", "access r 0 0x1234",
                     "    denied by SMAP: supervisor data access to a user page with AC=0\n");
    expect_explained("cr4.pke 1\npkru 0x80", "access w 3 0x1234",
                     "    denied by PKRU: key 3 WD=1 denies the user write\n");
    expect_explained("cr4.pke 1\npkru 0x40", "access r 0 0x1234",
                     "    denied by PKRU: key 3 AD=1 denies every data access\n");
    expect_explained("cr4.smep 1", "access x 0 0x1234",
                     "    denied by SMEP: supervisor instruction fetch from a user-mode page (CR4.SMEP=1)\n");
    expect_explained("cr4.pke 1\npkru 0x80", "access w 3 0x1234", "    protection key 3: PKRU AD=0 WD=1\n");
    expect_explained("paging 4", "access w 3 0x1234",
                     "        P=1 RW=1 US=1 PWT=0 PCD=0 A=1 D=1 PS=1 G=0 PAT=0 XD=0 addr=0x0000000000000000 pkey=3\n"
                     "        leaf: 2M page at 0x0000000000000000\n");
}

Test(walkcase, explain_names_the_reserved_bits_set)
{
    expect_explained("maxphyaddr 36\nefer.nxe 0\nmem 0x0 0", "access r 0 0x40000000",
                     "    PDPT[1] at 0x0000000000002008 = 0x0000000000000000\n"
                     "        P=0: not present (bits 63:1 are ignored): #PF\n");
    struct pl_walkcase *wc = parse_ok("maxphyaddr 36\nefer.nxe 0\ncr3 0x1000\n"
                                      "mem 0x1000 0x8000001000002007\naccess r 3 0\n");
    char *out = run(wc, PL_WALKCASE_EXPLAIN);
    cr_expect(strstr(out, "        reserved bits set: #PF with RSVD\n"
                          "          bit 36: at or above MAXPHYADDR (36)\n"
                          "          bit 63: XD while EFER.NXE=0\n"),
              "%s", out);
    cr_expect(strstr(out, "r 3 0x0000000000000000 pf 0x000d\n"), "%s", out);
    free(out);
    pl_walkcase_free(wc);
}

Test(walkcase, run_reports_an_output_error)
{
    FILE *f = fopen("/dev/full", "w");
    cr_assert_not_null(f);
    setvbuf(f, NULL, _IONBF, 0);
    struct pl_walkcase *wc = parse_ok(example);
    cr_expect_eq(pl_walkcase_run(wc, f, 0), PL_EIO);
    pl_walkcase_free(wc);
    fclose(f);
}
