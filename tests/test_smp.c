/* Threads on several CPUs, IPIs and TLB shootdown (src/os/sched.c,
 * src/os/shootdown.c, src/os/thread.c), and the stale-translation detector
 * (src/os/stale.c): exact IPI and flush counts, the TLB contents of every
 * CPU, lazy TLB, the broken protocol variants each caught, and random
 * interleavings against a reference of what each address may hold. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os/os.h"
#include "os_fixture.h"
#include "ptelab/cpu.h"
#include "ptelab/pkey.h"
#include "ptelab/thread.h"

/* Boots a machine of ncpus CPUs with the shootdown protocol and seed,
 * and transparent huge pages when huge. */
static void boot_smp_huge(unsigned ncpus, unsigned protocol, uint64_t seed, bool huge)
{
    struct pl_machine_config mc = os_machine_config();
    mc.ncpus = ncpus;
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.shootdown = protocol;
    kc.sched_seed = seed;
    kc.huge_anon = huge;
    boot(&mc, &kc);
}

static void boot_smp(unsigned ncpus, unsigned protocol, uint64_t seed) { boot_smp_huge(ncpus, protocol, seed, false); }

TestSuite(smp, .fini = teardown, .timeout = 600);

static struct pl_thread *thread_on(struct pl_proc *p, unsigned cpu)
{
    struct pl_thread *t;
    cr_assert_eq(pl_thread_create(p, cpu, &t), 0);
    return t;
}

static uint64_t read_word(struct pl_thread *t, uint64_t va)
{
    uint64_t v = 0;
    cr_assert_eq(pl_thread_read(t, va, &v, sizeof v), 0);
    return v;
}

/* True when CPU cpu's L1D or L2 TLB translates va for p. */
static bool cached(unsigned cpu, struct pl_proc *p, uint64_t va)
{
    struct pl_tlb *tlb = pl_cpu_tlb(m->cpu[cpu]);
    uint16_t pcid = (uint16_t)(pl_cpu_regs(m->cpu[cpu])->cr4 & PL_CR4_PCIDE ? (pl_proc_pid(p) - 1) % 4095 + 1 : 0);
    return pl_tlb_probe(tlb, PL_TLB_L1D, va, pcid, NULL) || pl_tlb_probe(tlb, PL_TLB_L2, va, pcid, NULL);
}

static const struct pl_kernel_stats *ks(void) { return pl_kernel_stats(k); }

static uint64_t violations(void) { return ks()->stale_violations; }

/* A signal handler that gives up the access (like siglongjmp), so that a
 * thread's bad access does not end the run. */
static enum pl_sig_action abandon(struct pl_proc *p, const struct pl_siginfo *si, void *ctx)
{
    (void)p, (void)si, (void)ctx;
    return PL_SIG_ABANDON;
}

/* A process with its main thread (CPU 0) and one thread on each of CPUs
 * 1..n-1, all having read every page of [X, X + pages): every CPU caches
 * the translations. */
static struct pl_proc *spread(unsigned ncpus, uint64_t pages, struct pl_thread **threads)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, pages * PG, RW, ANON);
    threads[0] = pl_proc_main_thread(p);
    for (unsigned c = 1; c < ncpus; c++)
        threads[c] = thread_on(p, c);
    for (unsigned c = 0; c < ncpus; c++)
        for (uint64_t i = 0; i < pages; i++)
            read_word(threads[c], X + i * PG);
    return p;
}

Test(smp, threads_have_tids_cpus_and_errors)
{
    boot_smp(4, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_proc *p = spawn();
    struct pl_thread *main_thread = pl_proc_main_thread(p);
    cr_assert_eq(pl_thread_tid(main_thread), pl_proc_pid(p), "the main thread's tid is the pid");
    cr_assert_eq(pl_thread_cpu(main_thread), 0);
    struct pl_thread *t = thread_on(p, 3);
    cr_assert_eq(pl_thread_cpu(t), 3);
    cr_assert_eq(pl_thread_tid(t), pl_proc_pid(p) + 1, "tids and pids share one numbering");
    cr_assert_eq(pl_kernel_thread(k, pl_thread_tid(t)), t);
    cr_assert_eq(pl_thread_proc(t), p);
    struct pl_thread *bad;
    cr_assert_eq(pl_thread_create(p, 4, &bad), -EINVAL, "CPU out of range");
    cr_assert_eq(pl_thread_exit(main_thread), -EINVAL, "the main thread ends with the process");
    cr_assert_eq(pl_thread_exit(t), 0);
    cr_assert_eq(pl_thread_exit(t), -ESRCH);
    cr_assert_eq(pl_thread_read(t, X, &(uint64_t){0}, 8), -ESRCH);
    cr_assert_null(pl_kernel_thread(k, pl_thread_tid(t)));
    struct pl_thread_op op = {.kind = PL_OP_READ, .va = X + 4};
    struct pl_thread *u = thread_on(p, 1);
    cr_assert_eq(pl_thread_queue(u, &op), -EINVAL, "an unaligned word");
    op = (struct pl_thread_op){.kind = PL_OP_COUNT};
    cr_assert_eq(pl_thread_queue(u, &op), -EINVAL, "an unknown operation");
    op = (struct pl_thread_op){.kind = PL_OP_MUNMAP, .va = X};
    cr_assert_eq(pl_thread_queue(u, &op), -EINVAL, "a length of 0");
    pl_proc_exit(p, 0);
    cr_assert_eq(pl_thread_alive(u), 0, "exit ends every thread");
    cr_assert_eq(pl_thread_create(p, 1, &bad), -ESRCH);
    assert_consistent();
}

Test(smp, munmap_interrupts_each_cpu_of_the_mask_once)
{
    boot_smp(4, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_thread *t[4];
    struct pl_proc *p = spread(3, 2, t); /* CPUs 0..2; CPU 3 never ran p */
    for (unsigned c = 0; c < 3; c++)
        cr_assert(cached(c, p, X) && cached(c, p, X + PG));
    uint64_t free_before = free_frames();
    cr_assert_eq(pl_thread_munmap(t[0], X, 2 * PG), 0);
    cr_assert_eq(ks()->shootdowns, 1, "one round for the whole call");
    cr_assert_eq(ks()->ipis_sent, 2, "CPUs 1 and 2 only: CPU 3 is not in the mask");
    for (unsigned c = 0; c < 4; c++) {
        cr_assert(!cached(c, p, X) && !cached(c, p, X + PG), "cpu %u still translates", c);
        cr_assert_eq(pl_kernel_cpu_stats(k, c)->ipis_received, c == 1 || c == 2);
    }
    cr_assert_eq(pl_kernel_cpu_stats(k, 1)->flush_pages, 2, "one INVLPG per page on the target");
    cr_assert_gt(ks()->wait_cycles, 2 * m->config.cost.ipi_latency, "the initiator waited for the round trip");
    cr_assert_eq(free_frames(), free_before + 2 + 3, "the frames and the emptied PT, PD and PDPT came back");
    cr_assert_eq(violations(), 0);
}

Test(smp, no_ipi_for_added_rights)
{
    boot_smp(2, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_thread *t[2];
    spread(2, 1, t);
    cr_assert_eq(pl_thread_mprotect(t[0], X, PG, RO), 0);
    cr_assert_eq(ks()->ipis_sent, 1, "lowering rights interrupts CPU 1");
    read_word(t[1], X);
    cr_assert_eq(pl_thread_mprotect(t[0], X, PG, RW), 0);
    cr_assert_eq(ks()->ipis_sent, 1, "raising them does not");
    uint64_t v = 7;
    cr_assert_eq(pl_thread_write(t[1], X, &v, 8), 0, "a stale read-only entry costs a spurious fault at most");
    cr_assert_eq(read_word(t[0], X), 7);
    cr_assert_eq(violations(), 0);
}

Test(smp, range_flush_up_to_33_pages_then_whole_pcid)
{
    boot_smp(2, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_thread *t[2];
    spread(2, 40, t);
    cr_assert_eq(pl_thread_mprotect(t[0], X, 33 * PG, RO), 0);
    cr_assert_eq(pl_kernel_cpu_stats(k, 1)->flush_pages, 33);
    cr_assert_eq(pl_kernel_cpu_stats(k, 1)->flush_full, 0);
    cr_assert_eq(pl_thread_mprotect(t[0], X, 34 * PG, PL_PROT_NONE), 0);
    cr_assert_eq(pl_kernel_cpu_stats(k, 1)->flush_pages, 33);
    cr_assert_eq(pl_kernel_cpu_stats(k, 1)->flush_full, 1, "34 pages: one flush of the PCID");
    cr_assert_eq(ks()->shootdowns, 2);
    cr_assert_eq(violations(), 0);
}

Test(smp, naive_protocol_interrupts_everyone_per_page)
{
    boot_smp(4, PL_SHOOTDOWN_NAIVE, 1);
    struct pl_thread *t[4];
    struct pl_proc *p = spread(2, 40, t);
    cr_assert_eq(pl_thread_munmap(t[0], X, 40 * PG), 0);
    cr_assert_eq(ks()->shootdowns, 40, "a round per page");
    cr_assert_eq(ks()->ipis_sent, 40 * 3, "every other CPU, in the mask or not");
    for (uint64_t i = 0; i < 40; i++)
        cr_assert(!cached(1, p, X + i * PG));
    cr_assert_eq(violations(), 0);
}

Test(smp, lazy_cpu_is_skipped_and_flushes_when_it_returns)
{
    boot_smp(2, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_thread *t[2];
    struct pl_proc *p = spread(2, 2, t);
    cr_assert_eq(pl_thread_sleep(t[1]), 0);
    cr_assert_eq(pl_thread_mprotect(t[0], X, PG, RO), 0);
    cr_assert_eq(ks()->ipis_sent, 0, "CPU 1 is lazy: no IPI");
    cr_assert_eq(ks()->lazy_skipped, 1);
    cr_assert(cached(1, p, X), "its TLB still holds the old entry ...");
    read_word(t[1], X + PG);
    cr_assert(!cached(1, p, X), "... until it runs the address space again: then it flushes");
    uint64_t v = 1;
    cr_assert_eq(pl_thread_write(t[1], X, &v, 8), -EFAULT, "the write meets the new rights");
    cr_assert_eq(violations(), 0);
}

Test(smp, lazy_cpu_leaves_when_tables_are_freed)
{
    boot_smp(2, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_thread *t[2];
    struct pl_proc *p = spread(2, 1, t);
    pl_thread_sleep(t[1]);
    cr_assert_eq(pl_thread_munmap(t[0], X, PG), 0);
    cr_assert_eq(ks()->ipis_sent, 1, "tables went: the lazy CPU hears of it");
    cr_assert_eq(pl_kernel_cpu_stats(k, 1)->ipis_handled_lazy, 1);
    cr_assert_neq(pl_cpu_regs(m->cpu[1])->cr3 & ~UINT64_C(0xFFF), pl_proc_root(p), "it loaded the kernel's");
    assert_consistent();
}

/* Whatever the protocol (the broken ones break invalidations, not the
 * address space's lifetime), exit leaves no CPU holding the freed root. */
Test(smp, exit_makes_every_cpu_let_go)
{
    for (unsigned protocol = 0; protocol < PL_SHOOTDOWN_COUNT; protocol++) {
        boot_smp(4, protocol, 1);
        struct pl_thread *t[4];
        struct pl_proc *p = spread(4, 3, t);
        pl_thread_sleep(t[3]); /* the highest CPU lazy: the one skip-cpu forgets */
        uint64_t root = pl_proc_root(p);
        pl_proc_exit(p, 0);
        for (unsigned c = 0; c < 4; c++)
            cr_assert_neq(pl_cpu_regs(m->cpu[c])->cr3 & ~UINT64_C(0xFFF), root, "%s: cpu %u still holds the root",
                          pl_shootdown_name(protocol), c);
        assert_consistent();
        pl_proc_reap(p);
        teardown();
    }
}

Test(smp, pkru_is_per_thread)
{
    boot_smp(2, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_proc *p = spawn();
    struct pl_thread *a = pl_proc_main_thread(p), *b = thread_on(p, 1);
    map_fixed(p, X, PG, RW, ANON);
    int key = pl_sys_pkey_alloc(p, 0, PL_PKEY_DISABLE_WRITE);
    cr_assert_gt(key, 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, PG, RW, key), 0);
    uint32_t ra, rb;
    cr_assert_eq(pl_thread_rdpkru(a, &ra), 0);
    cr_assert_eq(pl_thread_rdpkru(b, &rb), 0);
    cr_assert(ra & PL_PKRU_WD(key) && !(ra & PL_PKRU_AD(key)), "pkey_alloc set the caller's PKRU");
    cr_assert(rb & PL_PKRU_AD(key), "and only the caller's: b keeps init_pkru's denial");
    pl_proc_set_signal_handler(p, abandon, NULL);
    uint64_t v = 5;
    cr_assert_eq(pl_thread_write(b, X, &v, 8), -EFAULT, "b may not even read");
    cr_assert_eq(pl_thread_write(a, X, &v, 8), -EFAULT, "a may read, not write");
    cr_assert_eq(pl_thread_read(a, X, &v, 8), 0);
    struct pl_thread *c = thread_on(p, 1);
    uint32_t rc;
    cr_assert_eq(pl_thread_rdpkru(c, &rc), 0);
    cr_assert_eq(rc, ra, "a new thread copies its creator's (the main thread's) PKRU");
    cr_assert_eq(pl_thread_wrpkru(b, rb | PL_PKRU_WD(key)), 0);
    cr_assert_eq(pl_thread_rdpkru(b, &rb), 0);
    cr_assert(rb & PL_PKRU_WD(key));
}

Test(smp, cow_break_shoots_down_the_other_threads)
{
    boot_smp(2, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_thread *t[2];
    struct pl_proc *p = spread(2, 1, t);
    struct pl_proc *child;
    cr_assert_eq(pl_proc_fork(p, &child), 0);
    uint64_t ipis = ks()->ipis_sent;
    cr_assert_gt(ipis, 0, "fork write-protected the parent's pages on every CPU");
    read_word(t[1], X);
    uint64_t v = 9;
    cr_assert_eq(pl_thread_write(t[0], X, &v, 8), 0);
    cr_assert_eq(ks()->cow_copy, 1);
    cr_assert_eq(ks()->ipis_sent, ipis + 1, "CPU 1's entry pointed at the old frame");
    cr_assert(!cached(1, p, X));
    cr_assert_eq(read_word(t[1], X), 9, "thread 1 sees its process's new copy");
    uint64_t w = 0;
    cr_assert_eq(pl_proc_read(child, X, &w, 8), 0);
    cr_assert_eq(w, 0, "the child keeps the old contents");
    cr_assert_eq(violations(), 0);
}

Test(smp, touching_freed_memory_is_a_fault_not_a_crash)
{
    boot_smp(2, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_thread *t[2];
    struct pl_proc *p = spread(2, 1, t);
    cr_assert_eq(pl_thread_munmap(t[0], X, PG), 0);
    uint64_t v;
    cr_assert_eq(pl_thread_read(t[1], X, &v, 8), -EFAULT);
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED, "SIGSEGV's default action");
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_MAPERR);
    cr_assert_eq(pl_thread_alive(t[0]), 0);
    cr_assert_eq(violations(), 0);
    assert_consistent();
}

Test(smp, migration_shoots_down_and_keeps_contents)
{
    boot_smp(3, PL_SHOOTDOWN_CORRECT, 1);
    struct pl_thread *t[3];
    struct pl_proc *p = spread(3, 1, t);
    uint64_t v = 0x1234567890ABCDEF;
    cr_assert_eq(pl_thread_write(t[0], X + 8, &v, 8), 0);
    for (unsigned c = 1; c < 3; c++)
        read_word(t[c], X);
    struct pmap_page before;
    pmap_lookup(&p->pmap, X, &before);
    uint64_t to, ipis = ks()->ipis_sent;
    cr_assert_eq(pl_proc_migrate(p, X + 100, &to), 0);
    cr_assert_neq(to, before.pa);
    cr_assert_eq(ks()->ipis_sent, ipis + 2, "CPUs 1 and 2 cached the old frame");
    cr_assert_eq(ks()->migrations, 1);
    struct pmap_page after;
    pmap_lookup(&p->pmap, X, &after);
    cr_assert_eq(after.pa, to);
    cr_assert_eq(after.prot, before.prot);
    cr_assert_eq(pl_frame_meta(pl_kernel_frames(k), before.pa)->refcount, 0, "the old frame is free");
    for (unsigned c = 0; c < 3; c++)
        cr_assert_eq(read_word(t[c], X + 8), v, "cpu %u reads the moved contents", c);
    struct pl_proc *child;
    cr_assert_eq(pl_proc_fork(p, &child), 0);
    cr_assert_eq(pl_proc_migrate(p, X, NULL), -EBUSY, "shared with the child");
    cr_assert_eq(pl_proc_migrate(p, X + PG, NULL), -EFAULT, "nothing there");
    cr_assert_eq(violations(), 0);
}

/* A handler that, on a thread's fault, maps the faulting page, then has
 * the main thread unmap another (a shootdown: other CPUs step while it
 * waits, the faulting thread's CPU among them). */
static int handler_calls;
static enum pl_sig_action map_on_fault(struct pl_proc *p, const struct pl_siginfo *si, void *ctx)
{
    handler_calls++;
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(p, si->addr & ~(PG - 1), PG, RW, ANON | PL_MAP_FIXED, NULL, 0, &a), 0);
    uint64_t v = 42;
    cr_assert_eq(pl_thread_write(ctx, si->addr & ~(PG - 1), &v, 8), 0); /* populated: a retry would pass */
    cr_assert_eq(pl_thread_munmap(ctx, X + PG, PG), 0);                  /* as the main thread, on CPU 0 */
    return PL_SIG_RETRY;
}

Test(smp, a_cpu_in_a_signal_handler_takes_ipis_but_runs_no_thread)
{
    boot_smp(2, PL_SHOOTDOWN_CORRECT, 5);
    struct pl_thread *t[2];
    struct pl_proc *p = spread(2, 2, t);
    pl_proc_set_signal_handler(p, map_on_fault, t[0]);
    /* CPU 0's clock runs well ahead of CPU 1's: the IPI is not due when
     * CPU 1 is next picked */
    map_fixed(p, X + 128 * PG, 32 * PG, RW, ANON);
    for (uint64_t i = 0; i < 32; i++)
        read_word(t[0], X + (128 + i) * PG);
    uint64_t far = X + 64 * PG, out[2] = {0, 0};
    int rc[2] = {1, 1};
    cr_assert_eq(pl_thread_queue(t[1], &(struct pl_thread_op){.kind = PL_OP_READ, .va = far, .out = &out[0], .rc = &rc[0]}), 0);
    cr_assert_eq(pl_thread_queue(t[1], &(struct pl_thread_op){.kind = PL_OP_READ, .va = X, .out = &out[1], .rc = &rc[1]}), 0);
    pl_sched_run(k, 0);
    cr_assert_eq(handler_calls, 1);
    cr_assert_eq(pl_kernel_cpu_stats(k, 1)->ipis_received, 1, "the handler's mprotect interrupted CPU 1, in its handler");
    cr_assert_eq(rc[0], 0);
    cr_assert_eq(out[0], 42);
    cr_assert_eq(rc[1], 0);
    /* each read completed once, in order: the first one's retry was not
     * overtaken by steps of CPU 1 inside the handler */
    size_t n;
    const struct pl_event *e = pl_kernel_events(k, &n);
    uint64_t seen[4];
    unsigned nseen = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].kind == PL_EV_ACCESS && e[i].tid == pl_thread_tid(t[1]) && e[i].step > 0 && nseen < 4)
            seen[nseen++] = e[i].va;
    cr_assert_eq(nseen, 2);
    cr_assert_eq(seen[0], far);
    cr_assert_eq(seen[1], X);
    cr_assert_eq(pl_thread_pending(t[1]), 0);
    cr_assert_eq(violations(), 0);
}

/* The broken protocols. CPU 1 reads X in a loop queued before the munmap;
 * a CPU's clock runs behind the initiator's, so its reads come before the
 * IPI reaches it: during the wait (EARLY_FREE), or after the call returned
 * (NO_WAIT, SKIP_CPU). */
static void race_munmap(unsigned protocol, unsigned ncpus)
{
    boot_smp(ncpus, protocol, 7);
    struct pl_thread *t[4];
    struct pl_proc *p = spread(ncpus, 1, t);
    (void)p;
    for (unsigned c = 1; c < ncpus; c++)
        for (int i = 0; i < 4; i++)
            cr_assert_eq(pl_thread_queue(t[c], &(struct pl_thread_op){.kind = PL_OP_READ, .va = X}), 0);
    cr_assert_eq(pl_thread_munmap(t[0], X, PG), 0);
    pl_sched_run(k, 0);
}

/* Asserts that some violation of kind why was found, and that its report
 * names both CPUs. */
static void expect_violation(unsigned why)
{
    size_t kept;
    uint64_t total;
    const struct pl_violation *v = pl_kernel_violations(k, &kept, &total);
    cr_assert_gt(total, 0, "the detector stayed silent");
    bool found = false;
    for (size_t i = 0; i < kept; i++)
        found |= v[i].why == why;
    cr_assert(found, "no violation of kind %u among %zu", why, kept);
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    pl_kernel_violation_report(k, 0, f);
    fclose(f);
    cr_assert(strstr(text, "stale translation: cpu"), "%s", text);
    cr_assert(strstr(text, "  cpu 0, its last"), "the initiator's history: %s", text);
    free(text);
}

Test(smp, correct_protocol_lets_stale_reads_finish_in_flight)
{
    race_munmap(PL_SHOOTDOWN_CORRECT, 3);
    cr_assert_eq(violations(), 0);
    assert_consistent();
}

Test(smp, detector_catches_a_missing_wait)
{
    race_munmap(PL_SHOOTDOWN_NO_WAIT, 2);
    expect_violation(PL_STALE_FREED);
}

Test(smp, detector_catches_a_cpu_left_out)
{
    race_munmap(PL_SHOOTDOWN_SKIP_CPU, 3);
    expect_violation(PL_STALE_FREED);
}

Test(smp, detector_catches_frames_freed_before_the_acks)
{
    race_munmap(PL_SHOOTDOWN_EARLY_FREE, 2);
    expect_violation(PL_STALE_FREED);
}

Test(smp, detector_catches_rights_kept_after_return)
{
    boot_smp(2, PL_SHOOTDOWN_NO_WAIT, 3);
    struct pl_thread *t[2];
    spread(2, 1, t);
    uint64_t v = 1;
    cr_assert_eq(pl_thread_write(t[1], X, &v, 8), 0);
    cr_assert_eq(pl_thread_mprotect(t[0], X, PG, RO), 0);
    cr_assert_eq(pl_thread_write(t[1], X, &v, 8), 0, "the stale writable entry lets the write through");
    expect_violation(PL_STALE_RETURNED);
}

/* Random interleavings: threads of one process on ncpus CPUs queue random
 * accesses, mmaps, munmaps and mprotects over a few pages; the scheduler
 * runs them. Every value a read returns must have been written to that
 * address (or be 0), the kernel must be consistent after every step, and
 * the correct protocol must never be caught. */
#define RPAGES 6
#define ROPS 40
#define RTHREADS 9 /* up to 8 CPUs, one of them with two threads */


static uint64_t run_random(uint64_t seed, unsigned protocol)
{
    /* odd seeds: one 2 MiB region with huge pages, the pages spread over
     * it, so that munmap, mprotect and migration split its 2M leaf */
    static const uint64_t spread_pages[RPAGES] = {0, 1, 2, 100, 300, 511};
    bool huge = seed % 2;
    unsigned ncpus = 2 + (unsigned)(seed % 7);
    boot_smp_huge(ncpus, protocol, seed, huge);
    srand((unsigned)seed);
    struct pl_proc *p = spawn();
    map_fixed(p, X, huge ? 512 * PG : RPAGES * PG, RW, ANON);
    pl_proc_set_signal_handler(p, abandon, NULL);
    struct pl_thread *th[RTHREADS];
    unsigned nth = ncpus + 1;
    th[0] = pl_proc_main_thread(p);
    for (unsigned i = 1; i < nth; i++)
        th[i] = thread_on(p, i % ncpus);
    static uint64_t reads[RTHREADS][ROPS];
    static int rcs[RTHREADS][ROPS];
    static struct pl_thread_op ops[RTHREADS][ROPS];
    for (unsigned i = 0; i < nth; i++)
        for (unsigned j = 0; j < ROPS; j++) {
            uint64_t page = (uint64_t)(rand() % RPAGES);
            uint64_t va = X + (huge ? spread_pages[page] : page) * PG + (uint64_t)(rand() % 4) * 8;
            struct pl_thread_op op = {.va = va, .out = &reads[i][j], .rc = &rcs[i][j]};
            int r = rand() % 20;
            if (r < 8) {
                op.kind = PL_OP_READ;
            } else if (r < 15) {
                op.kind = PL_OP_WRITE;
                op.value = (uint64_t)(i + 1) << 32 | (j + 1);
            } else if (r < 17) {
                op.kind = PL_OP_MPROTECT;
                op.va &= ~(PG - 1);
                op.len = PG * (uint64_t)(1 + rand() % 2);
                op.prot = rand() % 2 ? RW : RO;
            } else if (r < 18) {
                op.kind = PL_OP_MUNMAP;
                op.va &= ~(PG - 1);
                op.len = PG;
            } else if (r < 19 && rand() % 2) {
                op.kind = PL_OP_MIGRATE;
            } else if (r < 19) {
                op.kind = PL_OP_MMAP;
                op.va &= ~(PG - 1);
                op.len = PG;
                op.prot = RW;
            } else {
                op.kind = PL_OP_SLEEP;
            }
            ops[i][j] = op;
            cr_assert_eq(pl_thread_queue(th[i], &op), 0);
        }
    while (pl_sched_step(k))
        assert_consistent();
    uint64_t found = violations();
    if (protocol != PL_SHOOTDOWN_CORRECT) {
        teardown();
        return found;
    }
    cr_assert_eq(found, 0, "seed %llu: the correct protocol was caught", (unsigned long long)seed);
    /* every value read was written to that very address by some thread */
    for (unsigned i = 0; i < nth; i++)
        for (unsigned j = 0; j < ROPS; j++) {
            if (ops[i][j].kind != PL_OP_READ || rcs[i][j] != 0 || reads[i][j] == 0)
                continue;
            uint64_t v = reads[i][j];
            unsigned wi = (unsigned)(v >> 32) - 1, wj = (unsigned)(v & 0xFFFFFFFF) - 1;
            cr_assert(wi < nth && wj < ROPS && ops[wi][wj].kind == PL_OP_WRITE && ops[wi][wj].va == ops[i][j].va,
                      "seed %llu: a read of 0x%llx returned 0x%llx, never written there", (unsigned long long)seed,
                      (unsigned long long)ops[i][j].va, (unsigned long long)v);
        }
    pl_proc_exit(p, 0);
    assert_consistent();
    teardown();
    return 0;
}

/* 2000 random runs, in four tests that Criterion runs in parallel. */
static void run_correct(uint64_t first)
{
    for (uint64_t seed = first; seed < first + 500; seed++)
        run_random(seed, PL_SHOOTDOWN_CORRECT);
}
Test(smp, random_interleavings_are_never_stale_1) { run_correct(1); }
Test(smp, random_interleavings_are_never_stale_2) { run_correct(501); }
Test(smp, random_interleavings_are_never_stale_3) { run_correct(1001); }
Test(smp, random_interleavings_are_never_stale_4) { run_correct(1501); }

/* The same random runs find every broken protocol out. */
Test(smp, random_interleavings_catch_each_broken_protocol)
{
    for (unsigned protocol = PL_SHOOTDOWN_NO_WAIT; protocol < PL_SHOOTDOWN_COUNT; protocol++) {
        uint64_t found = 0;
        for (uint64_t seed = 1; seed <= 40; seed++)
            found += run_random(seed, protocol);
        cr_assert_gt(found, 0, "%s was never caught", pl_shootdown_name(protocol));
    }
}

/* The same seed replays the same interleaving, event for event. */
static size_t run_logged(uint64_t seed, struct pl_event *out, size_t max)
{
    boot_smp(4, PL_SHOOTDOWN_CORRECT, seed);
    struct pl_thread *t[4];
    spread(4, 4, t);
    for (unsigned c = 0; c < 4; c++)
        for (int i = 0; i < 6; i++) {
            struct pl_thread_op op = {.kind = i == 3 && c == 2 ? PL_OP_MUNMAP : PL_OP_WRITE,
                                      .va = X + (uint64_t)((c + (unsigned)i) % 4) * PG, .len = PG, .value = 1};
            pl_thread_queue(t[c], &op);
        }
    pl_proc_set_signal_handler(pl_thread_proc(t[0]), abandon, NULL);
    pl_sched_run(k, 0);
    size_t n;
    const struct pl_event *ev = pl_kernel_events(k, &n);
    n = n < max ? n : max;
    memcpy(out, ev, n * sizeof *ev);
    teardown();
    return n;
}

Test(smp, same_seed_same_run)
{
    static struct pl_event a[PL_EVENT_LOG], b[PL_EVENT_LOG], c[PL_EVENT_LOG];
    size_t na = run_logged(11, a, PL_EVENT_LOG), nb = run_logged(11, b, PL_EVENT_LOG);
    cr_assert_eq(na, nb);
    cr_assert_gt(na, 20);
    cr_assert_eq(memcmp(a, b, na * sizeof *a), 0, "the same seed gave another run");
    size_t nc = run_logged(12, c, PL_EVENT_LOG);
    cr_assert(nc != na || memcmp(a, c, na * sizeof *a) != 0, "another seed, another interleaving");
}

