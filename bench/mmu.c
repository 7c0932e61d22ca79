/* MMU throughput on one host core: translations per second through
 * pl_cpu_access() for (a) L1 TLB hits over 16 pages, (b) full 4-level walks
 * with every TLB and paging-structure cache absent, (c) the same with
 * 5-level paging. Each is printed beside a baseline measured in the same run:
 * as many plain host loads, in the same order, over a host array as large as
 * the simulated working set. Figures are for comparison, never asserted.
 *
 * Each figure is the best of many short timed rounds (ROUND translations,
 * about a millisecond), so that rounds in which the host preempted the
 * benchmark do not count; the access order comes
 * from a small table (ORDER entries, cycled) that stays in the host cache. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hw/pte.h"
#include "ptelab/cpu.h"
#include "ptelab/physmem.h"

#define ROOT UINT64_C(0x1000)
#define TARGET_HITS 200.0  /* M translations/s */
#define TARGET_WALKS 30.0  /* M full 4-level walks/s */
#define ROUND (1u << 17)
#define ORDER (1u << 15)

static volatile uint64_t sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Page tables built in simulated memory, tables handed out from 0x100000. */
struct tables {
    struct pl_physmem *mem;
    uint64_t next;
};

static void map(struct tables *t, int levels, uint64_t la, uint64_t pa)
{
    uint64_t table = ROOT;
    for (int level = levels; level > 1; level--) {
        uint64_t slot = table + 8 * pte_index(la, level);
        uint64_t e = pl_physmem_read64(t->mem, slot);
        if (!(e & PTE_P)) {
            e = t->next | PTE_P | PTE_RW | PTE_US;
            t->next += 0x1000;
            pl_physmem_write64(t->mem, slot, e);
        }
        table = e & PTE_ADDR_MASK;
    }
    pl_physmem_write64(t->mem, table + 8 * pte_index(la, 1), pa | PTE_P | PTE_RW | PTE_US);
}

/* A CPU on ROOT with 4 or 5 levels; tlb NULL gives the default TLBs. */
static struct pl_cpu *make_cpu(struct pl_physmem *mem, const struct pl_tlb_config *tlb, int levels)
{
    struct pl_cpu *cpu = pl_cpu_new(mem, tlb, NULL);
    if (!cpu)
        return NULL;
    uint64_t cr0 = pl_cpu_regs(cpu)->cr0;
    int err = 0;
    if (levels == 5) {
        err |= pl_cpu_write_cr0(cpu, cr0 & ~PL_CR0_PG);
        err |= pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_LA57);
    }
    err |= pl_cpu_write_cr3(cpu, ROOT);
    err |= pl_cpu_write_cr0(cpu, cr0);
    if (err) {
        pl_cpu_free(cpu);
        return NULL;
    }
    return cpu;
}

/* The order of the accesses: page numbers below npages (a power of two)
 * from an LCG, and an 8-byte-aligned offset in the page. */
static uint64_t *make_order(uint64_t npages)
{
    uint64_t *order = malloc(ORDER * sizeof *order);
    if (!order)
        return NULL;
    uint64_t x = 12345;
    for (size_t i = 0; i < ORDER; i++) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        order[i] = ((x >> 33) & (npages - 1)) << 12 | ((x >> 20) & 0xFF8);
    }
    return order;
}

/* Translations per second (in M/s) of base + order[i % ORDER], best of the
 * n / ROUND rounds; -1 on a fault. */
static double run_translations(struct pl_cpu *cpu, uint64_t base, const uint64_t *order, size_t n)
{
    double best = 0;
    size_t per_round = ROUND;
    for (size_t r = 0; r < n / ROUND; r++) {
        uint64_t sum = 0, pa;
        struct pl_fault f;
        double t0 = now();
        for (size_t i = 0; i < per_round; i++) {
            if (!pl_cpu_access(cpu, base + order[i & (ORDER - 1)], PL_READ, &pa, &f))
                return -1;
            sum += pa;
        }
        double rate = (double)per_round / (now() - t0) / 1e6;
        sink = sum;
        if (rate > best)
            best = rate;
    }
    return best;
}

/* Plain host loads of the same offsets over a host array of npages pages,
 * measured as run_translations() is. */
static double run_baseline(const uint64_t *order, size_t n, uint64_t npages)
{
    uint8_t *arr = malloc(npages << 12);
    if (!arr)
        return -1;
    for (uint64_t i = 0; i < npages << 12; i += 8)
        memcpy(arr + i, &i, sizeof i);
    double best = 0;
    size_t per_round = ROUND;
    for (size_t r = 0; r < n / ROUND; r++) {
        uint64_t sum = 0, v;
        double t0 = now();
        for (size_t i = 0; i < per_round; i++) {
            memcpy(&v, arr + order[i & (ORDER - 1)], sizeof v);
            sum += v;
        }
        double rate = (double)per_round / (now() - t0) / 1e6;
        sink = sum;
        if (rate > best)
            best = rate;
    }
    free(arr);
    return best;
}

struct bench_case {
    const char *name;
    int levels;
    bool no_tlb;
    uint64_t npages;
    double target; /* 0: none */
};

static int run_case(const struct bench_case *c, size_t n)
{
    struct pl_physmem *mem = pl_physmem_new();
    struct tables t = {mem, 0x100000};
    struct pl_tlb_config none;
    memset(&none, 0, sizeof none);
    struct pl_cpu *cpu = mem ? make_cpu(mem, c->no_tlb ? &none : NULL, c->levels) : NULL;
    uint64_t *order = make_order(c->npages);
    if (!cpu || !order) {
        fprintf(stderr, "mmu: out of memory\n");
        return 1;
    }
    uint64_t base = c->levels == 5 ? UINT64_C(0x00AB000000000000) : UINT64_C(0x00007F0000000000);
    for (uint64_t p = 0; p < c->npages; p++)
        map(&t, c->levels, base + (p << 12), UINT64_C(0x40000000) + (p << 12));

    run_translations(cpu, base, order, ROUND); /* warm up host caches and the TLBs */
    pl_cpu_reset_stats(cpu);
    double mps = run_translations(cpu, base, order, n);
    double base_mps = run_baseline(order, n, c->npages);
    const struct pl_cpu_stats *s = pl_cpu_stats(cpu);
    if (mps < 0 || base_mps < 0) {
        fprintf(stderr, "mmu: %s: an access faulted or the host ran out of memory\n", c->name);
        return 1;
    }
    char target[32] = "-";
    if (c->target > 0)
        snprintf(target, sizeof target, ">= %.0f %s", c->target, mps >= c->target ? "ok" : "BELOW");
    printf("%-34s %9.1f %12.1f %8.3f %8.2f  %s\n", c->name, mps, base_mps, mps / base_mps,
           s->walks ? (double)s->walk_refs / (double)s->walks : 0.0, target);
    free(order);
    pl_cpu_free(cpu);
    pl_physmem_free(mem);
    return 0;
}

int main(int argc, char **argv)
{
    /* mmu [N [CASES]]: N translations per case; CASES a subset of "abc". */
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 0) : 20000000;
    const char *only = argc > 2 ? argv[2] : "abc";
    if (n < ROUND)
        n = ROUND;
    static const struct bench_case cases[] = {
        {"(a) L1 TLB hits, 16 pages", 4, false, 16, TARGET_HITS},
        {"(b) 4-level walks, no TLB/PSC", 4, true, 1024, TARGET_WALKS},
        {"(c) 5-level walks, no TLB/PSC", 5, true, 1024, 0},
    };
    printf("ptelab MMU benchmark: %zu translations per case, best round of %u, one core\n", n, ROUND);
    printf("%-34s %9s %12s %8s %8s  %s\n", "case", "M/s", "baseline M/s", "ratio", "refs", "target M/s");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strchr(only, (int)('a' + i)) && run_case(&cases[i], n))
            return 1;
    return 0;
}
