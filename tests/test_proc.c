/* os/proc: spawn, fork, exit, reap and exec; fork keeping shared mappings
 * shared with their own rights; exit and failed forks returning every
 * frame; address-space switches with and without PCIDs (and PCID reuse);
 * 5-level machines. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "os_fixture.h"
#include "ptelab/cpu.h"
#include "ptelab/tlb.h"

#define HIGH UINT64_C(0x7F0000000000)
#define PML4_EDGE UINT64_C(0x8000000000) /* the second PML4 slot */

/* boot() on a machine with levels-level paging, PCIDs or not and ram bytes
 * of RAM, under a kernel that keeps its write history or not. */
static void boot_with(unsigned levels, bool pcid, uint64_t ram, bool history)
{
    struct pl_machine_config mc = os_machine_config();
    mc.ram_size = ram;
    mc.levels = levels;
    mc.pcid = pcid;
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.history = history;
    boot(&mc, &kc);
}

static void setup(void) { boot_with(4, true, UINT64_C(16) << 20, true); }

TestSuite(proc, .init = setup, .fini = teardown);
/* Tests that boot their own machine. */
TestSuite(proc_machine, .fini = teardown);

static struct pl_proc *fork_ok(struct pl_proc *parent)
{
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(parent, &c), 0);
    return c;
}

static uint64_t frames_in_use(void)
{
    struct pl_frame_stats st = frame_stats();
    return st.frames - st.free_frames;
}

struct leaves {
    size_t n;
    uint64_t va[128], entry[128];
};

static void leaves_visit(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct leaves *l = ctx;
    (void)entry_pa;
    cr_assert_eq(level, 1);
    cr_assert_lt(l->n, 128);
    l->va[l->n] = va;
    l->entry[l->n++] = entry;
}

static struct leaves leaves_of(const struct pl_proc *p)
{
    struct leaves l = {0};
    pl_proc_foreach_pte(p, leaves_visit, &l);
    return l;
}

static uint64_t pte(const struct pl_proc *p, uint64_t va)
{
    struct leaves l = leaves_of(p);
    for (size_t i = 0; i < l.n; i++)
        if (l.va[i] == va)
            return l.entry[i];
    return 0;
}

static void write_str(struct pl_proc *p, uint64_t va, const char *s)
{
    cr_assert_eq(pl_proc_write(p, va, s, strlen(s) + 1), 0, "write at 0x%llx", (unsigned long long)va);
}

static void expect_str(struct pl_proc *p, uint64_t va, const char *s)
{
    char buf[64];
    size_t n = strlen(s) + 1;
    cr_assert_lt(n, sizeof buf);
    cr_assert_eq(pl_proc_read(p, va, buf, n), 0, "read at 0x%llx", (unsigned long long)va);
    cr_assert_str_eq(buf, s, "pid %d at 0x%llx", pl_proc_pid(p), (unsigned long long)va);
}

static void assert_same_regions(const struct pl_proc *a, const struct pl_proc *b)
{
    const struct pl_vma_set *sa = pl_proc_vmas(a), *sb = pl_proc_vmas(b);
    cr_assert_eq(pl_vma_set_count(sa), pl_vma_set_count(sb));
    const struct pl_vma *va = pl_vma_first(sa), *vb = pl_vma_first(sb);
    for (; va && vb; va = pl_vma_next(sa, va), vb = pl_vma_next(sb, vb)) {
        cr_assert_eq(va->start, vb->start);
        cr_assert_eq(va->end, vb->end);
        cr_assert_eq(va->prot, vb->prot);
        cr_assert_eq(va->flags, vb->flags);
        cr_assert_eq(va->object, vb->object);
        cr_assert_eq(va->offset, vb->offset);
    }
    cr_assert_null(va);
    cr_assert_null(vb);
}

struct handler {
    int calls;
    struct pl_proc *who;
};

static enum pl_sig_action on_signal(struct pl_proc *p, const struct pl_siginfo *si, void *ctx)
{
    (void)si;
    struct handler *h = ctx;
    h->calls++;
    h->who = p;
    return PL_SIG_ABANDON;
}

Test(proc, spawn_gives_pids_and_empty_address_spaces)
{
    uint64_t before = free_frames();
    struct pl_proc *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = spawn();
        cr_assert_eq(pl_proc_pid(p[i]), i + 1);
        cr_assert_eq(pl_proc_state(p[i]), PL_PROC_RUNNING);
        cr_assert_eq(pl_vma_set_count(pl_proc_vmas(p[i])), 0);
        cr_assert_eq(pl_proc_stats(p[i])->resident, 0);
        cr_assert_eq(pl_proc_stats(p[i])->pt_pages, 0);
        cr_assert_eq(pl_proc_kernel(p[i]), k);
        cr_assert_eq(free_frames(), before - (uint64_t)i - 1, "a root table each");
        cr_assert_eq(leaves_of(p[i]).n, 0);
    }
    cr_assert_neq(pl_proc_root(p[0]), pl_proc_root(p[1]));
    cr_assert_eq(pl_kernel_stats(k)->pt_pages, 3, "the roots");
    cr_assert_eq(pl_kernel_proc(k, 2), p[1]);
    cr_assert_null(pl_kernel_proc(k, 0));
    cr_assert_null(pl_kernel_proc(k, 4));
    cr_assert_eq(pl_kernel_next_proc(k, NULL), p[0]);
    cr_assert_eq(pl_kernel_next_proc(k, p[0]), p[1]);
    cr_assert_eq(pl_kernel_next_proc(k, p[1]), p[2]);
    cr_assert_null(pl_kernel_next_proc(k, p[2]));
    /* the root of a new process holds the kernel half, recorded as such */
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    unsigned half = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i].pid == 3) {
            cr_assert_eq(h[i].why, PL_WHY_KERNEL_HALF);
            cr_assert_eq(h[i].level, 4);
            cr_assert_eq(h[i].entry_pa, pl_proc_root(p[2]) + 8 * (256 + half));
            half++;
        }
    cr_assert_eq(half, 256);
}

Test(proc, fork_copies_regions_and_shares_pages)
{
    struct pl_proc *parent = spawn();
    map_fixed(parent, X, 4 * PG, RW, ANON);
    map_fixed(parent, X + 8 * PG, PG, RO, ANON);
    map_fixed(parent, HIGH, 2 * PG, RW, SHANON);
    for (int i = 0; i < 3; i++)
        write_str(parent, X + (uint64_t)i * PG, "private");
    char c;
    cr_assert_eq(pl_proc_read(parent, X + 8 * PG, &c, 1), 0);
    write_str(parent, HIGH, "shared rw");
    write_str(parent, HIGH + PG, "shared ro");
    cr_assert_eq(pl_sys_mprotect(parent, HIGH + PG, PG, RO), 0);
    struct handler h = {0};
    pl_proc_set_signal_handler(parent, on_signal, &h);
    struct leaves before = leaves_of(parent);
    cr_assert_eq(before.n, 6);
    size_t hn0;
    pl_kernel_history(k, &hn0);

    struct pl_proc *child = fork_ok(parent);
    assert_consistent();
    cr_assert_eq(pl_proc_pid(child), 2);
    cr_assert_eq(pl_kernel_stats(k)->forks, 1);
    assert_same_regions(parent, child);
    struct leaves pl = leaves_of(parent), cl = leaves_of(child);
    cr_assert_eq(cl.n, 6);
    cr_assert_eq(pl_proc_stats(child)->resident, 6);
    cr_assert_eq(pl_proc_stats(child)->pt_pages, pl_proc_stats(parent)->pt_pages);
    struct pl_frame_allocator *fa = pl_kernel_frames(k);
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(cl.va[i], pl.va[i]);
        cr_assert_eq(cl.entry[i] & E_FRAME, pl.entry[i] & E_FRAME, "same frame at 0x%llx",
                     (unsigned long long)cl.va[i]);
        cr_assert_eq(cl.entry[i] & E_A, 0, "the child's copy starts with A clear");
        const struct pl_frame *f = pl_frame_meta(fa, cl.entry[i] & E_FRAME);
        cr_assert_eq(f->mapcount, 2);
        bool shared = cl.va[i] >= HIGH;
        cr_assert_eq(f->refcount, shared ? 3 : 2, "shared frames are also the object's");
    }
    /* private pages: read-only on both sides; shared ones keep their rights */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pte(parent, X + (uint64_t)i * PG) & E_RW, 0);
        cr_assert_eq(pte(child, X + (uint64_t)i * PG) & E_RW, 0);
    }
    cr_assert_eq(pte(parent, HIGH) & E_RW, E_RW);
    cr_assert_eq(pte(child, HIGH) & E_RW, E_RW);
    cr_assert_eq(pte(parent, HIGH + PG) & E_RW, 0);
    cr_assert_eq(pte(child, HIGH + PG) & E_RW, 0);

    /* the history: three parent pages made read-only, six child entries */
    size_t hn;
    const struct pl_pte_write *hist = pl_kernel_history(k, &hn);
    unsigned protects = 0, copies = 0;
    for (size_t i = hn0; i < hn; i++) {
        if (hist[i].why == PL_WHY_FORK_PROTECT) {
            cr_assert_eq(hist[i].pid, 1);
            cr_assert_eq(hist[i].va, X + protects * PG);
            cr_assert_eq(hist[i].old & ~hist[i].new, E_RW);
            protects++;
        } else if (hist[i].why == PL_WHY_FORK_COPY) {
            cr_assert_eq(hist[i].pid, 2);
            cr_assert_eq(hist[i].level, 1);
            copies++;
        } else {
            cr_assert(hist[i].why == PL_WHY_TABLE || hist[i].why == PL_WHY_KERNEL_HALF, "why %u", hist[i].why);
            cr_assert_eq(hist[i].pid, 2);
        }
    }
    cr_assert_eq(protects, 3);
    cr_assert_eq(copies, 6);

    /* contents, sharing and the inherited handler */
    expect_str(child, X + PG, "private");
    expect_str(child, HIGH + PG, "shared ro");
    write_str(child, HIGH, "from child");
    expect_str(parent, HIGH, "from child");
    write_str(child, X, "child's");
    expect_str(parent, X, "private");
    cr_assert_eq(pl_proc_read(child, X + 16 * PG, &c, 1), -EFAULT);
    cr_assert_eq(h.calls, 1, "the child has the parent's handler");
    cr_assert_eq(h.who, child);
    cr_assert_eq(pl_proc_write(child, HIGH + PG, "x", 1), -EFAULT, "a read-only shared page stays read-only");
    cr_assert_eq(h.calls, 2);
    /* the untouched private page: each side zero-fills its own */
    write_str(child, X + 3 * PG, "child zero-fill");
    expect_str(parent, X + 3 * PG, "");
    cr_assert_neq(pte(child, X + 3 * PG) & E_FRAME, pte(parent, X + 3 * PG) & E_FRAME);
}

Test(proc, exit_frees_every_frame_and_table)
{
    uint64_t before = free_frames();
    cr_assert_eq(frames_in_use(), pl_kernel_own_frames(k), "a fresh kernel holds only its own frames");
    struct pl_proc *p = spawn();
    map_fixed(p, X, 3 * PG, RW, ANON);
    map_fixed(p, HIGH, PG, RW, SHANON);
    map_fixed(p, PML4_EDGE - PG, 2 * PG, RW, ANON); /* two PML4 slots */
    map_fixed(p, X + 0x40000000, PG, RW | PL_PROT_EXEC, ANON);
    const uint64_t pages[] = {X, X + 2 * PG, HIGH, PML4_EDGE - PG, PML4_EDGE, X + 0x40000000};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
        write_str(p, pages[i], "data");
    struct pl_proc *c = fork_ok(p);
    write_str(c, X, "copy");
    write_str(c, X + PG, "zero-filled in the child");
    write_str(p, HIGH, "shared");
    assert_consistent();
    cr_assert_gt(pl_proc_stats(p)->pt_pages, 6);

    pl_proc_exit(p, 7);
    assert_consistent();
    cr_assert_eq(pl_proc_state(p), PL_PROC_EXITED);
    cr_assert_eq(pl_proc_exit_status(p), 7);
    cr_assert_eq(pl_proc_stats(p)->resident, 0);
    cr_assert_eq(pl_proc_stats(p)->pt_pages, 0);
    expect_str(c, HIGH, "shared");
    expect_str(c, X + 2 * PG, "data");
    pl_proc_exit(c, 0);
    assert_consistent();
    cr_assert_eq(pl_kernel_stats(k)->exits, 2);
    cr_assert_eq(pl_kernel_stats(k)->pt_pages, 0);
    cr_assert_eq(free_frames(), before, "every frame is back");
    cr_assert_eq(frames_in_use(), pl_kernel_own_frames(k));
    /* the exit is in the history */
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    unsigned exits = 0;
    for (size_t i = 0; i < n; i++)
        exits += h[i].why == PL_WHY_EXIT && h[i].level == 1;
    cr_assert_eq(exits, 6 + 7, "every leaf of both processes");
    /* reaping */
    cr_assert_eq(pl_kernel_proc(k, 1), p);
    pl_proc_reap(p);
    cr_assert_null(pl_kernel_proc(k, 1));
    cr_assert_eq(pl_kernel_next_proc(k, NULL), c);
    pl_proc_reap(c);
    cr_assert_null(pl_kernel_next_proc(k, NULL));
    struct pl_proc *d = spawn();
    cr_assert_eq(pl_proc_pid(d), 3, "pids are not reused");
}

Test(proc, operations_on_ended_processes)
{
    struct pl_proc *p = spawn();
    pl_proc_exit(p, 1);
    struct pl_proc *c = NULL;
    cr_assert_eq(pl_proc_fork(p, &c), -ESRCH);
    cr_assert_null(c);
    cr_assert_eq(pl_proc_exec(p), -ESRCH);
    char b;
    cr_assert_eq(pl_proc_read(p, X, &b, 1), -ESRCH);
    cr_assert_eq(pl_proc_write(p, X, &b, 1), -ESRCH);
    cr_assert_eq(pl_proc_fetch(p, X, NULL), -ESRCH);
    cr_assert_eq(pl_kernel_stats(k)->forks, 0);
    struct pl_proc *q = spawn();
    pl_proc_reap(q);
    cr_assert_eq(pl_kernel_proc(k, 2), q, "a running process is not reaped");
    cr_assert_eq(pl_proc_state(q), PL_PROC_RUNNING);
}

Test(proc, exit_of_the_parent_leaves_the_child_intact)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, 2 * PG, RW, ANON);
    write_str(p, X, "one");
    write_str(p, X + PG, "two");
    struct pl_proc *c = fork_ok(p);
    pl_proc_exit(p, 0);
    pl_proc_reap(p);
    assert_consistent();
    expect_str(c, X, "one");
    write_str(c, X + PG, "TWO");
    cr_assert_eq(pl_kernel_stats(k)->cow_reuse, 1);
    cr_assert_eq(pl_kernel_stats(k)->cow_copy, 0);
    expect_str(c, X + PG, "TWO");
}

Test(proc, exec_empties_the_user_half)
{
    struct pl_proc *p = spawn();
    uint64_t after_spawn = free_frames();
    map_fixed(p, X, 2 * PG, RW, ANON);
    map_fixed(p, HIGH, PG, RW, SHANON);
    write_str(p, X, "old");
    write_str(p, HIGH, "old");
    struct handler h = {0};
    pl_proc_set_signal_handler(p, on_signal, &h);
    uint64_t root = pl_proc_root(p);
    cr_assert_eq(pl_proc_exec(p), 0);
    assert_consistent();
    cr_assert_eq(pl_proc_pid(p), 1);
    cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING);
    cr_assert_eq(pl_proc_root(p), root);
    cr_assert_eq(pl_vma_set_count(pl_proc_vmas(p)), 0);
    cr_assert_eq(pl_proc_stats(p)->resident, 0);
    cr_assert_eq(pl_proc_stats(p)->pt_pages, 0);
    cr_assert_eq(leaves_of(p).n, 0);
    cr_assert_eq(free_frames(), after_spawn);
    cr_assert_eq(pl_kernel_stats(k)->execs, 1);
    size_t n;
    const struct pl_pte_write *hist = pl_kernel_history(k, &n);
    cr_assert_eq(hist[n - 1].why, PL_WHY_TABLE_FREE);
    unsigned execs = 0;
    for (size_t i = 0; i < n; i++)
        execs += hist[i].why == PL_WHY_EXEC;
    cr_assert_eq(execs, 2);
    char c;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), -EFAULT);
    cr_assert_eq(h.calls, 1, "the handler survives exec");
    cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING);
    map_fixed(p, X, PG, RW, ANON);
    expect_str(p, X, "");
}

/* Every allocation a fork makes, failed in turn: -ENOMEM, nothing leaked,
 * the parent intact, the checker happy; then the fork that succeeds. */
Test(proc, fork_under_allocation_failure)
{
    struct pl_shm *shm;
    cr_assert_eq(pl_shm_create(k, 2 * PG, &shm), 0);
    struct pl_proc *p = spawn();
    map_fixed(p, X, 4 * PG, RW, ANON);
    map_fixed(p, X + 0x200000, PG, RW, ANON); /* another PT */
    map_fixed(p, PML4_EDGE, PG, RW, ANON);    /* another PML4 slot */
    map_fixed(p, HIGH, PG, RW, SHANON);
    map_fixed(p, HIGH + 4 * PG, PG, RW, ANON);
    uint64_t va;
    cr_assert_eq(pl_sys_mmap(p, HIGH + 8 * PG, 2 * PG, RW, PL_MAP_SHARED | PL_MAP_FIXED, shm, 0, &va), 0);
    cr_assert_eq(pl_sys_mmap(p, HIGH + 16 * PG, 2 * PG, RW, PL_MAP_PRIVATE | PL_MAP_FIXED, shm, 0, &va), 0);
    const uint64_t pages[] = {X, X + PG, X + 3 * PG, X + 0x200000, PML4_EDGE, HIGH, HIGH + 4 * PG, HIGH + 8 * PG,
                              HIGH + 9 * PG, HIGH + 16 * PG};
    const size_t npages = sizeof pages / sizeof pages[0];
    char want[16][16];
    for (size_t i = 0; i < npages; i++) {
        snprintf(want[i], sizeof want[i], "page %zu", i);
        write_str(p, pages[i], want[i]);
    }
    cr_assert_eq(pl_sys_mprotect(p, HIGH + 4 * PG, PG, PL_PROT_NONE), 0);
    char c;
    cr_assert_eq(pl_proc_read(p, HIGH + 17 * PG, &c, 1), 0, "a private view's page, read only");
    assert_consistent();

    struct pl_frame_allocator *fa = pl_kernel_frames(k);
    uint64_t injected = frame_stats().injected_failures;
    unsigned failures = 0;
    struct pl_proc *child = NULL;
    for (uint64_t n = 1; n < 100; n++) {
        uint64_t before = free_frames();
        uint64_t regions = pl_vma_set_count(pl_proc_vmas(p)), resident = pl_proc_stats(p)->resident;
        pl_frame_fail_after(fa, n);
        int rc = pl_proc_fork(p, &child);
        if (rc == 0) {
            pl_frame_fail_after(fa, 0);
            break;
        }
        cr_assert_eq(rc, -ENOMEM, "allocation %llu", (unsigned long long)n);
        failures++;
        cr_assert_eq(frame_stats().injected_failures, injected + failures, "allocation %llu", (unsigned long long)n);
        char msg[256];
        cr_assert_eq(pl_kernel_check(k, msg, sizeof msg), 0, "after failure %llu: %s", (unsigned long long)n, msg);
        cr_assert_eq(free_frames(), before, "allocation %llu: a failed fork leaks nothing", (unsigned long long)n);
        cr_assert_eq(pl_vma_set_count(pl_proc_vmas(p)), regions);
        cr_assert_eq(pl_proc_stats(p)->resident, resident);
        cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING);
        for (int pid = 2; pid < 200; pid++)
            cr_assert_null(pl_kernel_proc(k, pid), "a failed child (pid %d) is gone", pid);
        for (size_t i = 0; i < npages; i++)
            if (pages[i] != HIGH + 4 * PG)
                expect_str(p, pages[i], want[i]);
    }
    cr_assert_gt(failures, 5, "the root and several tables: %u", failures);
    cr_assert_not_null(child);
    assert_consistent();
    for (size_t i = 0; i < npages; i++)
        if (pages[i] != HIGH + 4 * PG)
            expect_str(child, pages[i], want[i]);
    /* the parent still writes its private pages without copying: the failed
     * forks left it their only user */
    pl_proc_exit(child, 0);
    uint64_t copies = pl_kernel_stats(k)->cow_copy;
    write_str(p, X, "after");
    write_str(p, PML4_EDGE, "after");
    cr_assert_eq(pl_kernel_stats(k)->cow_copy, copies);
    pl_shm_release(shm);
}

/* Two processes with different data at the same address, switched back and
 * forth: each sees only its own. */
static void two_processes_same_address(bool pcid)
{
    boot_with(4, pcid, UINT64_C(16) << 20, true);
    struct pl_proc *a = spawn(), *b = spawn();
    map_fixed(a, X, PG, RW, ANON);
    map_fixed(b, X, PG, RW, ANON);
    write_str(a, X, "I am A");
    struct pl_cpu *cpu = m->cpu[0];
    uint16_t pcid_a = pl_cpu_pcid(cpu);
    write_str(b, X, "I am B");
    uint16_t pcid_b = pl_cpu_pcid(cpu);
    if (pcid) {
        cr_assert_neq(pcid_a, pcid_b);
        cr_assert_neq(pcid_a, 0);
    } else {
        cr_assert_eq(pcid_a, 0);
        cr_assert_eq(pcid_b, 0);
    }
    const struct pl_tlb_stats *ts = pl_tlb_stats(pl_cpu_tlb(cpu));
    for (int i = 0; i < 20; i++) {
        uint64_t walks = pl_cpu_stats(cpu)->walks;
        expect_str(a, X, "I am A");
        /* with PCIDs A's translation survived B's turn */
        cr_assert_eq(pl_cpu_stats(cpu)->walks == walks, pcid, "round %d", i);
        /* with PCIDs B's entry stays beside A's; without, only A's is left */
        struct pl_tlb_entry e;
        cr_assert(pl_tlb_probe(pl_cpu_tlb(cpu), PL_TLB_L1D, X, pcid_b, &e));
        cr_assert_eq(e.frame, (pcid ? pte(b, X) : pte(a, X)) & E_FRAME, "round %d", i);
        expect_str(b, X, "I am B");
    }
    if (pcid)
        cr_assert_gt(ts->inval[PL_INV_CR3_NOFLUSH], 0);
    else
        cr_assert_eq(ts->inval[PL_INV_CR3_NOFLUSH], 0);
    cr_assert_gt(pl_kernel_stats(k)->context_switches, 40);
    assert_consistent();
}

Test(proc_machine, switching_with_pcids) { two_processes_same_address(true); }
Test(proc_machine, switching_without_pcids) { two_processes_same_address(false); }

/* PCIDs are 12 bits: pid 4096 gets pid 1's. Its first load must drop what
 * pid 1 left in the TLB, or it reads pid 1's page. */
Test(proc_machine, pcid_reuse)
{
    boot_with(4, true, UINT64_C(32) << 20, false);
    struct pl_proc *a = spawn();
    map_fixed(a, X, PG, RW, ANON);
    write_str(a, X, "pid 1");
    uint16_t pcid_a = pl_cpu_pcid(m->cpu[0]);
    uint64_t before = free_frames();
    for (int pid = 2; pid < 4096; pid++) {
        struct pl_proc *q = spawn();
        pl_proc_exit(q, 0);
        pl_proc_reap(q);
    }
    cr_assert_eq(free_frames(), before);
    struct pl_proc *b = spawn();
    cr_assert_eq(pl_proc_pid(b), 4096);
    map_fixed(b, X, PG, RW, ANON);
    expect_str(b, X, "");
    cr_assert_eq(pl_cpu_pcid(m->cpu[0]), pcid_a, "the same PCID");
    write_str(b, X, "pid 4096");
    expect_str(a, X, "pid 1");
    expect_str(b, X, "pid 4096");
    expect_str(a, X, "pid 1");
    assert_consistent();
}

/* 5-level paging: a user half of 2^56 bytes, the direct map elsewhere, one
 * more table per path. */
Test(proc_machine, five_level_machine)
{
    boot_with(5, true, UINT64_C(16) << 20, true);
    cr_assert_eq(pl_kernel_user_top(k), PL_USER_TOP_5);
    cr_assert_eq(pl_kernel_direct_map(k), PL_DIRECT_MAP_5);
    uint64_t before = free_frames();
    struct pl_proc *p = spawn();
    const uint64_t high = UINT64_C(0x00FF000000000000);
    map_fixed(p, high, 2 * PG, RW, ANON);
    map_fixed(p, PL_USER_TOP_5 - PG, PG, RW, ANON);
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(p, PL_USER_TOP_5, PG, RW, ANON | PL_MAP_FIXED, NULL, 0, &a), -ENOMEM);
    write_str(p, high, "above the 4-level top");
    cr_assert_eq(pl_proc_stats(p)->pt_pages, 4, "PML4, PDPT, PD and PT under the PML5");
    write_str(p, PL_USER_TOP_5 - 16, "last");
    struct pl_proc *c = fork_ok(p);
    write_str(c, high, "child");
    expect_str(p, high, "above the 4-level top");
    expect_str(c, PL_USER_TOP_5 - 16, "last");
    assert_consistent();
    struct leaves l = leaves_of(c);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.va[0], high);
    cr_assert_eq(l.va[1], PL_USER_TOP_5 - PG);
    char ch;
    struct handler h = {0};
    pl_proc_set_signal_handler(p, on_signal, &h);
    cr_assert_eq(pl_proc_read(p, PL_DIRECT_MAP_5 + 0x3000, &ch, 1), -EFAULT);
    cr_assert_eq(pl_proc_read(p, PL_USER_TOP_5, &ch, 1), -EFAULT, "non-canonical with 57 bits");
    cr_assert_eq(h.calls, 2);
    pl_proc_exit(c, 0);
    pl_proc_exit(p, 0);
    assert_consistent();
    cr_assert_eq(free_frames(), before);
    cr_assert_eq(frames_in_use(), pl_kernel_own_frames(k));
}

Test(proc_machine, four_level_machine_refuses_five_level_addresses)
{
    boot_with(4, false, UINT64_C(16) << 20, true);
    struct pl_proc *p = spawn();
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(p, UINT64_C(0x00FF000000000000), PG, RW, ANON | PL_MAP_FIXED, NULL, 0, &a), -ENOMEM);
    char c;
    cr_assert_eq(pl_proc_read(p, UINT64_C(0x00FF000000000000), &c, 1), -EFAULT);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_GP);
}

/* A chain of forks, each generation writing its own page, then exits in a
 * scrambled order: every frame comes back. */
Test(proc, fork_chain_and_scrambled_exits)
{
    uint64_t before = free_frames();
    struct pl_proc *gen[10];
    gen[0] = spawn();
    map_fixed(gen[0], X, 10 * PG, RW, ANON);
    write_str(gen[0], X, "gen 0");
    for (int g = 1; g < 10; g++) {
        gen[g] = fork_ok(gen[g - 1]);
        char s[16];
        snprintf(s, sizeof s, "gen %d", g);
        write_str(gen[g], X + (uint64_t)g * PG, s);
        write_str(gen[g], X, s);
        assert_consistent();
    }
    for (int g = 0; g < 10; g++) {
        char s[16];
        snprintf(s, sizeof s, "gen %d", g);
        expect_str(gen[g], X, s);
        for (int older = 1; older <= g; older++) {
            snprintf(s, sizeof s, "gen %d", older);
            expect_str(gen[g], X + (uint64_t)older * PG, s);
        }
        for (int younger = g + 1; younger < 10; younger++)
            expect_str(gen[g], X + (uint64_t)younger * PG, "");
    }
    const int order[] = {3, 0, 9, 5, 1, 7, 2, 8, 6, 4};
    for (int i = 0; i < 10; i++) {
        pl_proc_exit(gen[order[i]], 0);
        assert_consistent();
    }
    cr_assert_eq(free_frames(), before);
}
