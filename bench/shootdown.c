/* TLB shootdown (os/shootdown, docs/smp.md): the simulated cost of one
 * munmap, or one mprotect from read-write to read-only, made by the main
 * thread on CPU 0 of a process that runs a thread on every CPU, each of
 * which has touched every page of the region first, so that every TLB holds
 * the translations and every CPU is in the address space's mask. The
 * correct protocol (IPIs to the mask, one round per call, a range flush up
 * to 33 pages, else the whole PCID) beside the naive one (IPIs to every
 * other CPU, one round per page), in the same run, for 2 to 64 CPUs and 1,
 * 32 and 512 pages.
 *
 * Every figure comes from a fresh machine, so that each call meets the same
 * TLB state. cycles: CPU 0's clock across the call (pl_kernel_cpu_stats):
 * the call's own work, an ipi_send per target, and the wait until the last
 * target's acknowledgement is back (two ipi_latency, the handler and its
 * flush). A second set first puts the upper half of the CPUs to sleep in
 * lazy TLB mode.
 *
 * The figures are the simulator's and deterministic, so the shape is
 * checked exactly, and the program exits 1 when it does not hold:
 *   correct: one IPI per other CPU and one round per call, also when the
 *     munmap frees the region's page tables (the lazy CPUs' need to hear of
 *     that rides on the same round as the leaves' invalidation); with lazy
 *     CPUs, mprotect leaves them out and munmap does not;
 *   naive: one IPI per other CPU and one round per page;
 *   with every CPU active, the targets flush the pages up to 33 of them,
 *     else the whole PCID once (naive: one page per round);
 *   correct never takes more cycles than naive;
 *   each repeat of a measurement gives the same figures.
 * The host's wall-clock time per simulated call is printed too (best of
 * REPEATS); it is the simulator's speed, not part of the model. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/proc.h"
#include "ptelab/thread.h"

#define PAGE UINT64_C(4096)
#define REGION UINT64_C(0x200000000) /* 1 GiB aligned: the region has its page tables to itself */
#define RANGE_FLUSH_CEILING 33       /* os/pmap's FLUSH_CEILING: more pages, one flush of the PCID */
#define REPEATS 3

enum op { OP_MUNMAP, OP_MPROTECT, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"munmap", "mprotect"};

/* One measurement: the machine and what CPU 0 does on it. */
struct setup {
    unsigned cpus;
    unsigned lazy; /* CPUs cpus - lazy .. cpus - 1 asleep in lazy TLB mode */
    uint64_t pages;
    enum op op;
    unsigned protocol; /* enum pl_shootdown_protocol */
};

/* What one call cost in the simulation. The flush and lazy counts are
 * summed over CPUs 1..cpus-1. No padding: repeats compare with memcmp. */
struct figures {
    uint64_t cycles, ipis, rounds, lazy_skipped;
    uint64_t flush_pages, flush_full, handled_lazy;
};

struct result {
    struct figures sim;
    double host_ns; /* wall-clock time of the call on this host */
};

static _Noreturn void die(const struct setup *s, const char *what, int rc)
{
    fprintf(stderr, "bench/shootdown: %u cpus, %" PRIu64 " pages, %s, %s: %s failed (%d)\n", s->cpus, s->pages,
            op_names[s->op], pl_shootdown_name(s->protocol), what, rc);
    exit(1);
}

static double host_ns_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A machine of s->cpus CPUs with a kernel on it (PTE history off). */
static void boot(const struct setup *s, struct pl_machine **m, struct pl_kernel **k)
{
    struct pl_machine_config mc;
    pl_machine_config_default(&mc);
    mc.ncpus = s->cpus;
    mc.ram_size = UINT64_C(32) << 20;
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.history = false;
    kc.shootdown = s->protocol;
    int rc;
    if ((rc = pl_machine_new(&mc, m)) < 0)
        die(s, "pl_machine_new", rc);
    if ((rc = pl_kernel_new(*m, &kc, k)) < 0)
        die(s, "pl_kernel_new", rc);
}

/* A process with the region mapped read-write, its main thread (CPU 0) in
 * t[0] and a thread on each other CPU in t[1..]. The main thread writes
 * every page (zero-fill faults, dirty writable leaves), then every other
 * thread reads every page, so every CPU's TLB holds every translation; then
 * the lazy CPUs' threads sleep. */
static void spread(const struct setup *s, struct pl_kernel *k, struct pl_thread **t)
{
    struct pl_proc *p;
    int rc;
    uint64_t va;
    if ((rc = pl_proc_spawn(k, &p)) < 0)
        die(s, "pl_proc_spawn", rc);
    if ((rc = pl_sys_mmap(p, REGION, s->pages * PAGE, PL_PROT_READ | PL_PROT_WRITE,
                          PL_MAP_PRIVATE | PL_MAP_ANONYMOUS | PL_MAP_FIXED, NULL, 0, &va)) < 0)
        die(s, "pl_sys_mmap", rc);
    t[0] = pl_proc_main_thread(p);
    for (unsigned c = 1; c < s->cpus; c++)
        if ((rc = pl_thread_create(p, c, &t[c])) < 0)
            die(s, "pl_thread_create", rc);
    uint64_t word = 1;
    for (uint64_t i = 0; i < s->pages; i++)
        if ((rc = pl_thread_write(t[0], REGION + i * PAGE, &word, sizeof word)) < 0)
            die(s, "the main thread's write", rc);
    for (unsigned c = 1; c < s->cpus; c++)
        for (uint64_t i = 0; i < s->pages; i++)
            if ((rc = pl_thread_read(t[c], REGION + i * PAGE, &word, sizeof word)) < 0)
                die(s, "a thread's read", rc);
    for (unsigned c = s->cpus - s->lazy; c < s->cpus; c++)
        if ((rc = pl_thread_sleep(t[c])) < 0)
            die(s, "pl_thread_sleep", rc);
}

/* The other CPUs' flush and lazy counters so far, summed, into f. */
static void count_targets(const struct pl_kernel *k, unsigned cpus, struct figures *f)
{
    f->flush_pages = f->flush_full = f->handled_lazy = 0;
    for (unsigned c = 1; c < cpus; c++) {
        const struct pl_smp_cpu_stats *st = pl_kernel_cpu_stats(k, c);
        f->flush_pages += st->flush_pages;
        f->flush_full += st->flush_full;
        f->handled_lazy += st->ipis_handled_lazy;
    }
}

/* Exits unless every other CPU's clock is behind CPU 0's, which is at
 * start: a target already ahead would acknowledge late, and its lead would
 * count as the protocol's cost. */
static void require_targets_behind(const struct setup *s, const struct pl_kernel *k, uint64_t start)
{
    for (unsigned c = 1; c < s->cpus; c++) {
        uint64_t clock = pl_kernel_cpu_stats(k, c)->clock;
        if (clock > start) {
            fprintf(stderr, "bench/shootdown: %u cpus, %" PRIu64 " pages: CPU %u's clock (%" PRIu64
                            ") is ahead of CPU 0's (%" PRIu64 ") before the call\n",
                    s->cpus, s->pages, c, clock, start);
            exit(1);
        }
    }
}

/* Exits when the kernel is not consistent after the call (pl_kernel_check):
 * the figures measured a kernel that did the right thing. */
static void require_consistent(const struct setup *s, struct pl_kernel *k)
{
    char msg[256];
    int rc = pl_kernel_check(k, msg, sizeof msg);
    if (rc < 0) {
        fprintf(stderr, "bench/shootdown: after the call: %s\n", msg);
        die(s, "pl_kernel_check", rc);
    }
}

/* The cost of s's call, on a fresh machine. */
static void measure_once(const struct setup *s, struct result *r)
{
    struct pl_machine *m;
    struct pl_kernel *k;
    boot(s, &m, &k);
    struct pl_thread *t[PL_MACHINE_MAX_CPUS];
    spread(s, k, t);
    uint64_t start = pl_kernel_cpu_stats(k, 0)->clock;
    require_targets_behind(s, k, start);
    struct pl_kernel_stats before = *pl_kernel_stats(k);
    struct figures targets_before;
    count_targets(k, s->cpus, &targets_before);
    uint64_t len = s->pages * PAGE;
    double t0 = host_ns_now();
    int rc = s->op == OP_MUNMAP ? pl_thread_munmap(t[0], REGION, len)
                                : pl_thread_mprotect(t[0], REGION, len, PL_PROT_READ);
    r->host_ns = host_ns_now() - t0;
    if (rc < 0)
        die(s, op_names[s->op], rc);
    const struct pl_kernel_stats *after = pl_kernel_stats(k);
    struct figures *f = &r->sim;
    f->cycles = pl_kernel_cpu_stats(k, 0)->clock - start;
    f->ipis = after->ipis_sent - before.ipis_sent;
    f->rounds = after->shootdowns - before.shootdowns;
    f->lazy_skipped = after->lazy_skipped - before.lazy_skipped;
    count_targets(k, s->cpus, f);
    f->flush_pages -= targets_before.flush_pages;
    f->flush_full -= targets_before.flush_full;
    f->handled_lazy -= targets_before.handled_lazy;
    require_consistent(s, k);
    pl_kernel_free(k);
    pl_machine_free(m);
}

/* measure_once REPEATS times: the simulated figures of the first, the best
 * host time; *deterministic is cleared when a repeat's figures differ. */
static void measure(const struct setup *s, struct result *r, bool *deterministic)
{
    measure_once(s, r);
    for (int i = 1; i < REPEATS; i++) {
        struct result again;
        measure_once(s, &again);
        if (memcmp(&again.sim, &r->sim, sizeof again.sim) != 0)
            *deterministic = false;
        if (again.host_ns < r->host_ns)
            r->host_ns = again.host_ns;
    }
}

/* ---- the expected shape ---- */

static unsigned failures;

/* Counts and reports a figure of row s that is not what the protocol implies. */
static void expect(const struct setup *s, const char *protocol, const char *what, uint64_t got, uint64_t want)
{
    if (got == want)
        return;
    fprintf(stderr, "shape violated: %u cpus (%u lazy), %" PRIu64 " pages, %s, %s: %s = %" PRIu64
                    ", expected %" PRIu64 "\n",
            s->cpus, s->lazy, s->pages, op_names[s->op], protocol, what, got, want);
    failures++;
}

/* The correct protocol: an IPI to each CPU of the mask, one round, none at
 * all when no CPU needs one. Lazy CPUs are skipped unless the call freed
 * page tables (the munmap here always does: the region has its tables to
 * itself), and then they let go of the address space instead of flushing.
 * The CPUs that flush do pages up to the ceiling, else the whole PCID. */
static void expect_correct(const struct setup *s, const struct result *r)
{
    bool frees_tables = s->op == OP_MUNMAP;
    uint64_t flushing = s->cpus - s->lazy - 1;
    uint64_t told = frees_tables ? s->cpus - 1 : flushing;
    bool ranged = s->pages <= RANGE_FLUSH_CEILING;
    expect(s, "correct", "IPIs", r->sim.ipis, told);
    expect(s, "correct", "rounds", r->sim.rounds, told ? 1 : 0);
    expect(s, "correct", "lazy CPUs skipped", r->sim.lazy_skipped, frees_tables ? 0 : s->lazy);
    expect(s, "correct", "lazy CPUs that let go", r->sim.handled_lazy, frees_tables ? s->lazy : 0);
    expect(s, "correct", "pages flushed by targets", r->sim.flush_pages, ranged ? flushing * s->pages : 0);
    expect(s, "correct", "full flushes by targets", r->sim.flush_full, ranged ? 0 : flushing);
}

/* The naive protocol: every other CPU, one round per page. With every CPU
 * active each target flushes one page per round; a lazy CPU's work depends
 * on whether the round said tables went, so it is not checked. */
static void expect_naive(const struct setup *s, const struct result *r)
{
    expect(s, "naive", "IPIs", r->sim.ipis, (s->cpus - 1) * s->pages);
    expect(s, "naive", "rounds", r->sim.rounds, s->pages);
    if (s->lazy == 0) {
        expect(s, "naive", "pages flushed by targets", r->sim.flush_pages, (s->cpus - 1) * s->pages);
        expect(s, "naive", "full flushes by targets", r->sim.flush_full, 0);
    }
}

/* ---- report ---- */

static void print_header(void)
{
    printf("%4s %4s %5s %-8s | %10s %6s %6s | %10s %6s %6s | %8s | %9s %9s\n", "cpus", "lazy", "pages", "op",
           "cycles", "IPIs", "rounds", "cycles", "IPIs", "rounds", "ratio", "host us", "host us");
    printf("%4s %4s %5s %-8s | %-24s | %-24s | %8s | %9s %9s\n", "", "", "", "", "correct protocol", "naive protocol",
           "naive /", "correct", "naive");
    printf("%4s %4s %5s %-8s | %24s | %24s | %8s | %-19s\n", "", "", "", "", "", "", "correct", "(host wall clock)");
}

static void print_row(const struct setup *s, const struct figures *c, const struct figures *n, double c_ns,
                      double n_ns)
{
    printf("%4u %4u %5" PRIu64 " %-8s | %10" PRIu64 " %6" PRIu64 " %6" PRIu64 " | %10" PRIu64 " %6" PRIu64
           " %6" PRIu64 " | %8.2f | %9.1f %9.1f\n",
           s->cpus, s->lazy, s->pages, op_names[s->op], c->cycles, c->ipis, c->rounds, n->cycles, n->ipis, n->rounds,
           (double)n->cycles / (double)c->cycles, c_ns / 1e3, n_ns / 1e3);
}

/* Measures and checks both protocols for cpus, pages and op, with the upper
 * half of the CPUs lazy or none. */
static void row(unsigned cpus, bool half_lazy, uint64_t pages, enum op op, bool *deterministic)
{
    struct setup s = {.cpus = cpus, .lazy = half_lazy ? cpus / 2 : 0, .pages = pages, .op = op};
    struct result correct, naive;
    s.protocol = PL_SHOOTDOWN_CORRECT;
    measure(&s, &correct, deterministic);
    s.protocol = PL_SHOOTDOWN_NAIVE;
    measure(&s, &naive, deterministic);
    print_row(&s, &correct.sim, &naive.sim, correct.host_ns, naive.host_ns);
    expect_correct(&s, &correct);
    expect_naive(&s, &naive);
    if (correct.sim.cycles > naive.sim.cycles) {
        fprintf(stderr, "shape violated: %u cpus (%u lazy), %" PRIu64 " pages, %s: correct took %" PRIu64
                        " cycles, more than naive's %" PRIu64 "\n",
                cpus, s.lazy, pages, op_names[op], correct.sim.cycles, naive.sim.cycles);
        failures++;
    }
}

int main(void)
{
    static const unsigned cpu_counts[] = {2, 4, 8, 16, 32, 64};
    static const uint64_t sizes[] = {1, 32, 512};
    bool deterministic = true;
    unsigned rows = 0;
    printf("shootdown: simulated cycles of one call on CPU 0, every CPU running a thread of the process\n"
           "that touched every page; correct beside naive protocol, a fresh machine per measurement\n");
    print_header();
    for (int half_lazy = 0; half_lazy <= 1; half_lazy++) {
        if (half_lazy)
            printf("-- the upper half of the CPUs asleep in lazy TLB mode\n");
        for (size_t c = 0; c < sizeof cpu_counts / sizeof cpu_counts[0]; c++)
            for (size_t p = 0; p < sizeof sizes / sizeof sizes[0]; p++)
                for (int op = 0; op < OP_COUNT; op++, rows++)
                    row(cpu_counts[c], half_lazy, sizes[p], (enum op)op, &deterministic);
    }
    if (!deterministic) {
        fprintf(stderr, "shape violated: a repeat of a measurement gave other simulated figures\n");
        failures++;
    }
    if (failures) {
        fprintf(stderr, "bench/shootdown: %u figure(s) off the expected shape\n", failures);
        return 1;
    }
    printf("shape: every one of %u rows as expected (IPIs, rounds, flushes, correct <= naive), and deterministic\n",
           rows);
    return 0;
}
