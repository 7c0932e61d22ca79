/* os/fault: the page-fault handler seen through process loads and stores:
 * zero-fill, copy-on-write copy and reuse, shared pages, private views of a
 * shared-memory object, spurious faults from stale TLB entries, the signal
 * codes and #PF error codes, and what handlers may do (retry after a fix,
 * abandon, kill), the retry limit, and running out of frames. */
#include <errno.h>
#include <string.h>

#include "os_fixture.h"
#include "ptelab/cpu.h"
#include "ptelab/tlb.h"

static void setup(void) { boot(NULL, NULL); }

TestSuite(fault, .init = setup, .fini = teardown);

struct find_pte {
    uint64_t va;
    bool found;
    uint64_t entry, entry_pa;
};

static void find_visit(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct find_pte *f = ctx;
    cr_assert_eq(level, 1, "user pages are 4 KiB");
    if (va == f->va) {
        f->found = true;
        f->entry = entry;
        f->entry_pa = entry_pa;
    }
}

/* The leaf entry mapping va in p, 0 when none. */
static uint64_t pte(const struct pl_proc *p, uint64_t va)
{
    struct find_pte f = {.va = va};
    pl_proc_foreach_pte(p, find_visit, &f);
    return f.found ? f.entry : 0;
}

static uint64_t frame_of(const struct pl_proc *p, uint64_t va)
{
    uint64_t e = pte(p, va);
    cr_assert_neq(e, 0, "0x%llx is not mapped", (unsigned long long)va);
    return e & E_FRAME;
}

static const struct pl_pte_write *last_write(void)
{
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    cr_assert_gt(n, 0);
    return &h[n - 1];
}

/* A handler's script and what it saw. */
struct handler {
    int calls;
    struct pl_siginfo last;
    enum pl_sig_action action;
    unsigned fix_prot; /* with RETRY: mprotect the faulting page to this first */
    bool fix;
    bool exit_inside;
};

static enum pl_sig_action on_signal(struct pl_proc *p, const struct pl_siginfo *si, void *ctx)
{
    struct handler *h = ctx;
    h->calls++;
    h->last = *si;
    if (h->fix)
        cr_assert_eq(pl_sys_mprotect(p, si->addr & ~(PG - 1), PG, h->fix_prot), 0);
    if (h->exit_inside)
        pl_proc_exit(p, 42);
    return h->action;
}

Test(fault, zero_fill_on_first_touch)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, 2 * PG, RW, ANON);
    uint8_t buf[PG];
    memset(buf, 0xEE, sizeof buf);
    cr_assert_eq(pl_proc_read(p, X, buf, PG), 0);
    for (size_t i = 0; i < PG; i++)
        cr_assert_eq(buf[i], 0, "byte %zu", i);
    const struct pl_kernel_stats *ks = pl_kernel_stats(k);
    const struct pl_proc_stats *ps = pl_proc_stats(p);
    cr_assert_eq(ks->faults, 1);
    cr_assert_eq(ks->zero_fill, 1);
    cr_assert_eq(ps->faults, 1);
    cr_assert_eq(ps->zero_fill, 1);
    cr_assert_eq(ps->resident, 1);
    cr_assert_eq(ps->pt_pages, 3, "PDPT, PD, PT under the root");
    uint64_t e = pte(p, X);
    cr_assert_eq(e & ~E_FRAME & ~UINT64_C(0x60), E_P | E_RW | E_US | E_XD, "entry 0x%llx", (unsigned long long)e);
    const struct pl_pte_write *w = last_write();
    cr_assert_eq(w->why, PL_WHY_ZERO_FILL);
    cr_assert_eq(w->va, X);
    cr_assert_eq(w->pid, pl_proc_pid(p));
    cr_assert_eq(w->level, 1);
    cr_assert_eq(w->old, 0);
    cr_assert_eq(w->new & E_FRAME, e & E_FRAME);
    /* a read of a writable private page maps it writable: the write that
     * follows takes no fault */
    cr_assert_eq(pl_proc_write(p, X + 5, "x", 1), 0);
    cr_assert_eq(ks->faults, 1);
    cr_assert_eq(pl_proc_read(p, X + PG - 1, buf, 2), 0, "crossing into the second page");
    cr_assert_eq(ks->zero_fill, 2);
    cr_assert_eq(ps->resident, 2);
    cr_assert_eq(ps->pt_pages, 3, "same tables");
}

Test(fault, zero_fill_of_a_read_only_region_maps_read_only)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RO, ANON);
    char c = 1;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    cr_assert_eq(c, 0);
    uint64_t e = pte(p, X);
    cr_assert_eq(e & (E_P | E_RW | E_US | E_XD), E_P | E_US | E_XD);
}

Test(fault, a_recycled_frame_reads_as_zero)
{
    struct pl_proc *a = spawn();
    map_fixed(a, X, PG, RW, ANON);
    uint8_t secret[PG];
    memset(secret, 0xA5, sizeof secret);
    cr_assert_eq(pl_proc_write(a, X, secret, PG), 0);
    uint64_t frame = frame_of(a, X);
    pl_proc_exit(a, 0);
    pl_proc_reap(a);

    struct pl_proc *b = spawn();
    map_fixed(b, X, PG, RW, ANON);
    uint8_t buf[PG];
    cr_assert_eq(pl_proc_read(b, X, buf, PG), 0);
    cr_assert_eq(frame_of(b, X), frame, "the allocator is deterministic: B got A's old frame");
    for (size_t i = 0; i < PG; i++)
        cr_assert_eq(buf[i], 0, "byte %zu of A's page leaked to B", i);
}

Test(fault, cow_copy_then_reuse)
{
    struct pl_proc *parent = spawn();
    map_fixed(parent, X, PG, RW, ANON);
    cr_assert_eq(pl_proc_write(parent, X, "parent", 7), 0);
    uint64_t frame = frame_of(parent, X);
    struct pl_proc *child;
    cr_assert_eq(pl_proc_fork(parent, &child), 0);
    assert_consistent();
    cr_assert_eq(frame_of(child, X), frame, "shared after fork");
    cr_assert_eq(pte(parent, X) & E_RW, 0, "parent read-only");
    cr_assert_eq(pte(child, X) & E_RW, 0, "child read-only");
    cr_assert_eq(pl_frame_meta(pl_kernel_frames(k), frame)->refcount, 2);
    cr_assert_eq(pl_frame_meta(pl_kernel_frames(k), frame)->mapcount, 2);

    const struct pl_kernel_stats *ks = pl_kernel_stats(k);
    cr_assert_eq(pl_proc_write(child, X, "child", 6), 0);
    assert_consistent();
    cr_assert_eq(ks->cow_copy, 1);
    cr_assert_eq(ks->cow_reuse, 0);
    cr_assert_eq(pl_proc_stats(child)->cow_copy, 1);
    cr_assert_eq(last_write()->why, PL_WHY_COW_COPY);
    uint64_t copy = frame_of(child, X);
    cr_assert_neq(copy, frame);
    cr_assert_eq(pte(child, X) & E_RW, E_RW);
    cr_assert_eq(frame_of(parent, X), frame);
    cr_assert_eq(pte(parent, X) & E_RW, 0, "the parent's entry is untouched");
    cr_assert_eq(pl_frame_meta(pl_kernel_frames(k), frame)->refcount, 1);

    char buf[7];
    cr_assert_eq(pl_proc_read(parent, X, buf, 7), 0);
    cr_assert_str_eq(buf, "parent");
    cr_assert_eq(pl_proc_read(child, X, buf, 6), 0);
    cr_assert_str_eq(buf, "child");

    /* the parent is now the frame's only user: no copy */
    cr_assert_eq(pl_proc_write(parent, X + 100, "p", 1), 0);
    cr_assert_eq(ks->cow_copy, 1);
    cr_assert_eq(ks->cow_reuse, 1);
    cr_assert_eq(pl_proc_stats(parent)->cow_reuse, 1);
    cr_assert_eq(last_write()->why, PL_WHY_COW_REUSE);
    cr_assert_eq(frame_of(parent, X), frame);
    cr_assert_eq(pte(parent, X) & E_RW, E_RW);
    cr_assert_eq(pl_proc_read(parent, X, buf, 7), 0);
    cr_assert_str_eq(buf, "parent");
}

Test(fault, cow_reuse_after_the_other_side_exited)
{
    struct pl_proc *parent = spawn();
    map_fixed(parent, X, 2 * PG, RW, ANON);
    cr_assert_eq(pl_proc_write(parent, X, "a", 2), 0);
    cr_assert_eq(pl_proc_write(parent, X + PG, "b", 2), 0);
    struct pl_proc *child;
    cr_assert_eq(pl_proc_fork(parent, &child), 0);
    pl_proc_exit(child, 0);
    assert_consistent();
    cr_assert_eq(pl_proc_write(child, X, "c", 2), -ESRCH);
    cr_assert_eq(pl_proc_write(parent, X, "A", 2), 0);
    cr_assert_eq(pl_proc_write(parent, X + PG, "B", 2), 0);
    cr_assert_eq(pl_kernel_stats(k)->cow_copy, 0);
    cr_assert_eq(pl_kernel_stats(k)->cow_reuse, 2);
}

Test(fault, cow_of_a_read_only_region_after_fork_never_writes)
{
    struct pl_proc *parent = spawn();
    map_fixed(parent, X, PG, RW, ANON);
    cr_assert_eq(pl_proc_write(parent, X, "ro", 3), 0);
    cr_assert_eq(pl_sys_mprotect(parent, X, PG, RO), 0);
    struct pl_proc *child;
    cr_assert_eq(pl_proc_fork(parent, &child), 0);
    cr_assert_eq(pl_proc_write(child, X, "w", 1), -EFAULT);
    cr_assert_eq(pl_proc_state(child), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(child)->code, PL_SEGV_ACCERR);
    cr_assert_eq(pl_kernel_stats(k)->cow_copy, 0);
    char buf[3];
    cr_assert_eq(pl_proc_read(parent, X, buf, 3), 0);
    cr_assert_str_eq(buf, "ro");
}

Test(fault, shared_anonymous_pages_stay_shared_across_fork)
{
    struct pl_proc *parent = spawn();
    map_fixed(parent, X, 2 * PG, RW, SHANON);
    cr_assert_eq(pl_proc_write(parent, X, "before", 7), 0);
    cr_assert_eq(pl_kernel_stats(k)->shared_page, 1);
    cr_assert_eq(last_write()->why, PL_WHY_SHARED_PAGE);
    struct pl_proc *child;
    cr_assert_eq(pl_proc_fork(parent, &child), 0);
    assert_consistent();
    cr_assert_eq(pte(parent, X) & E_RW, E_RW, "shared pages keep their rights");
    cr_assert_eq(pte(child, X) & E_RW, E_RW);
    cr_assert_eq(frame_of(child, X), frame_of(parent, X));
    cr_assert_eq(pl_proc_write(child, X, "after", 6), 0);
    char buf[7];
    cr_assert_eq(pl_proc_read(parent, X, buf, 6), 0);
    cr_assert_str_eq(buf, "after");
    /* the untouched page: whoever touches it first, both see the same frame */
    cr_assert_eq(pl_proc_write(child, X + PG, "second", 7), 0);
    cr_assert_eq(pl_proc_read(parent, X + PG, buf, 7), 0);
    cr_assert_str_eq(buf, "second");
    cr_assert_eq(frame_of(child, X + PG), frame_of(parent, X + PG));
    cr_assert_eq(pl_kernel_stats(k)->cow_copy + pl_kernel_stats(k)->cow_reuse, 0);
    cr_assert_eq(pl_kernel_stats(k)->zero_fill, 0, "shared pages are the object's, not zero-fill");
}

Test(fault, private_view_of_a_shm_object)
{
    struct pl_shm *shm;
    cr_assert_eq(pl_shm_create(k, 2 * PG, &shm), 0);
    struct pl_proc *a = spawn(), *b = spawn();
    uint64_t va;
    cr_assert_eq(pl_sys_mmap(a, X, 2 * PG, RW, PL_MAP_SHARED | PL_MAP_FIXED, shm, 0, &va), 0);
    cr_assert_eq(pl_sys_mmap(b, X, 2 * PG, RW, PL_MAP_PRIVATE | PL_MAP_FIXED, shm, 0, &va), 0);
    cr_assert_eq(pl_proc_write(a, X, "AAAA", 5), 0);
    cr_assert_eq(pl_proc_write(a, X + PG, "aaaa", 5), 0);

    char buf[5];
    cr_assert_eq(pl_proc_read(b, X, buf, 5), 0);
    cr_assert_str_eq(buf, "AAAA", "an untouched private view reads the object");
    cr_assert_eq(frame_of(b, X), frame_of(a, X));
    cr_assert_eq(pte(b, X) & E_RW, 0, "read-only until written");
    cr_assert_eq(pl_proc_stats(b)->shared_page, 1);

    cr_assert_eq(pl_proc_write(a, X, "BBBB", 5), 0);
    cr_assert_eq(pl_proc_read(b, X, buf, 5), 0);
    cr_assert_str_eq(buf, "BBBB", "the object's later writes show until b writes");

    cr_assert_eq(pl_proc_write(b, X + 1, "b", 1), 0);
    assert_consistent();
    cr_assert_eq(pl_proc_stats(b)->cow_copy, 1);
    cr_assert_neq(frame_of(b, X), frame_of(a, X));
    cr_assert_eq(pl_proc_read(b, X, buf, 5), 0);
    cr_assert_str_eq(buf, "BbBB");
    cr_assert_eq(pl_proc_read(a, X, buf, 5), 0);
    cr_assert_str_eq(buf, "BBBB", "b's write stays private");
    cr_assert_eq(pl_proc_write(a, X, "CCCC", 5), 0);
    cr_assert_eq(pl_proc_read(b, X, buf, 5), 0);
    cr_assert_str_eq(buf, "BbBB", "b has its own copy now");

    /* the second page: written by b before any read: copied at once */
    cr_assert_eq(pl_proc_write(b, X + PG + 3, "!", 1), 0);
    cr_assert_eq(pl_proc_stats(b)->cow_copy, 2);
    cr_assert_eq(pl_proc_read(b, X + PG, buf, 5), 0);
    cr_assert_str_eq(buf, "aaa!");
    cr_assert_eq(pl_proc_read(a, X + PG, buf, 5), 0);
    cr_assert_str_eq(buf, "aaaa");
    pl_shm_release(shm);
}

Test(fault, private_view_of_an_untouched_object_page_creates_it)
{
    struct pl_shm *shm;
    cr_assert_eq(pl_shm_create(k, PG, &shm), 0);
    struct pl_proc *a = spawn(), *b = spawn();
    uint64_t va;
    cr_assert_eq(pl_sys_mmap(b, X, PG, RO, PL_MAP_PRIVATE | PL_MAP_FIXED, shm, 0, &va), 0);
    char c = 1;
    cr_assert_eq(pl_proc_read(b, X, &c, 1), 0);
    cr_assert_eq(c, 0);
    cr_assert_eq(pl_sys_mmap(a, X, PG, RW, PL_MAP_SHARED | PL_MAP_FIXED, shm, 0, &va), 0);
    cr_assert_eq(pl_proc_write(a, X, "z", 1), 0);
    cr_assert_eq(frame_of(a, X), frame_of(b, X), "one page of the object");
    cr_assert_eq(pl_proc_read(b, X, &c, 1), 0);
    cr_assert_eq(c, 'z');
    pl_shm_release(shm);
}

Test(fault, spurious_fault_after_a_stale_tlb_entry)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RO, SHANON);
    char c;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    struct pl_cpu *cpu = m->cpu[0];
    struct pl_tlb_entry e;
    cr_assert(pl_tlb_probe(pl_cpu_tlb(cpu), PL_TLB_L1D, X, pl_cpu_pcid(cpu), &e), "the read filled the TLB");
    cr_assert_eq(e.rights & PL_RIGHT_W, 0);

    uint64_t flushes = pl_kernel_stats(k)->tlb_flush_pages + pl_kernel_stats(k)->tlb_flush_full;
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RW), 0);
    cr_assert_eq(pte(p, X) & E_RW, E_RW, "a shared page takes write access at once");
    cr_assert_eq(pl_kernel_stats(k)->tlb_flush_pages + pl_kernel_stats(k)->tlb_flush_full, flushes,
                 "added rights need no invalidation");
    cr_assert(pl_tlb_probe(pl_cpu_tlb(cpu), PL_TLB_L1D, X, pl_cpu_pcid(cpu), &e), "so the stale entry stays");
    cr_assert_eq(e.rights & PL_RIGHT_W, 0);

    uint64_t faults = pl_kernel_stats(k)->faults;
    cr_assert_eq(pl_proc_write(p, X, "w", 1), 0);
    cr_assert_eq(pl_kernel_stats(k)->faults, faults + 1);
    cr_assert_eq(pl_kernel_stats(k)->spurious, 1);
    cr_assert_eq(pl_proc_stats(p)->spurious, 1);
    cr_assert_eq(pl_kernel_stats(k)->signals, 0);
    cr_assert(pl_tlb_probe(pl_cpu_tlb(cpu), PL_TLB_L1D, X, pl_cpu_pcid(cpu), &e));
    cr_assert_eq(e.rights & PL_RIGHT_W, PL_RIGHT_W, "refilled from the entry");
    cr_assert_eq(pl_proc_write(p, X + 1, "w", 1), 0);
    cr_assert_eq(pl_kernel_stats(k)->faults, faults + 1, "one spurious fault per stale entry");
}

Test(fault, lowered_rights_are_invalidated_at_once)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RW, ANON);
    cr_assert_eq(pl_proc_write(p, X, "w", 1), 0);
    struct pl_cpu *cpu = m->cpu[0];
    cr_assert(pl_tlb_probe(pl_cpu_tlb(cpu), PL_TLB_L1D, X, pl_cpu_pcid(cpu), NULL));
    uint64_t flushes = pl_kernel_stats(k)->tlb_flush_pages;
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RO), 0);
    cr_assert_eq(pl_kernel_stats(k)->tlb_flush_pages, flushes + 1);
    for (unsigned t = 0; t < PL_TLBS; t++)
        cr_assert_not(pl_tlb_probe(pl_cpu_tlb(cpu), t, X, pl_cpu_pcid(cpu), NULL), "TLB %u", t);
    cr_assert_eq(pl_proc_write(p, X, "w", 1), -EFAULT);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_ACCERR);
    cr_assert_eq(pl_proc_kill_info(p)->error_code, 0x7);
}

/* One access and the signal it must raise, handled by an abandoning
 * handler so that a single process sees them all. */
struct sig_case {
    const char *what;
    uint64_t va;
    unsigned kind;
    uint8_t code;
    uint16_t error_code;
};

Test(fault, signal_codes_and_error_codes)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RO, ANON);                   /* X: read-only, untouched */
    map_fixed(p, X + PG, PG, RO, ANON);              /* X+1: read-only, present */
    map_fixed(p, X + 2 * PG, PG, PL_PROT_NONE, ANON);
    map_fixed(p, X + 3 * PG, PG, RW, ANON);          /* X+3: no EXEC, present */
    map_fixed(p, X + 4 * PG, PG, RW, ANON);          /* X+4: becomes PROT_NONE once present */
    char c;
    cr_assert_eq(pl_proc_read(p, X + PG, &c, 1), 0);
    cr_assert_eq(pl_proc_write(p, X + 3 * PG, "x", 1), 0);
    cr_assert_eq(pl_proc_write(p, X + 4 * PG, "x", 1), 0);
    cr_assert_eq(pl_sys_mprotect(p, X + 4 * PG, PG, PL_PROT_NONE), 0);
    uint64_t kva = pl_kernel_direct_map(k) + 0x2000;
    const struct sig_case cases[] = {
        {"read unmapped", X + 8 * PG + 3, PL_READ, PL_SEGV_MAPERR, 0x4},
        {"write unmapped", X + 8 * PG, PL_WRITE, PL_SEGV_MAPERR, 0x6},
        {"fetch unmapped", X + 8 * PG, PL_FETCH, PL_SEGV_MAPERR, 0x14},
        {"write read-only, not present", X + 7, PL_WRITE, PL_SEGV_ACCERR, 0x6},
        {"write read-only, present", X + PG + 9, PL_WRITE, PL_SEGV_ACCERR, 0x7},
        {"read PROT_NONE, never touched", X + 2 * PG, PL_READ, PL_SEGV_ACCERR, 0x4},
        {"write PROT_NONE, never touched", X + 2 * PG, PL_WRITE, PL_SEGV_ACCERR, 0x6},
        {"read PROT_NONE, frame kept", X + 4 * PG, PL_READ, PL_SEGV_ACCERR, 0x4},
        {"fetch without EXEC, present", X + 3 * PG + 1, PL_FETCH, PL_SEGV_ACCERR, 0x15},
        {"fetch without EXEC, present, read-only", X + PG, PL_FETCH, PL_SEGV_ACCERR, 0x15},
        {"read the direct map", kva, PL_READ, PL_SEGV_MAPERR, 0x5},
        {"write the direct map", kva, PL_WRITE, PL_SEGV_MAPERR, 0x7},
        {"fetch the direct map", kva, PL_FETCH, PL_SEGV_MAPERR, 0x15},
        {"read the kernel half, unmapped", UINT64_C(0xFFFF800000000000), PL_READ, PL_SEGV_MAPERR, 0x4},
        {"read non-canonical", UINT64_C(0x0000800000000000), PL_READ, PL_SEGV_GP, 0},
        {"write non-canonical", UINT64_C(0x8000000000000000), PL_WRITE, PL_SEGV_GP, 0},
    };
    struct handler h = {.action = PL_SIG_ABANDON};
    pl_proc_set_signal_handler(p, on_signal, &h);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct sig_case *sc = &cases[i];
        int calls = h.calls;
        int rc;
        char byte = 'q';
        uint8_t fetched;
        if (sc->kind == PL_READ)
            rc = pl_proc_read(p, sc->va, &byte, 1);
        else if (sc->kind == PL_WRITE)
            rc = pl_proc_write(p, sc->va, &byte, 1);
        else
            rc = pl_proc_fetch(p, sc->va, &fetched);
        cr_assert_eq(rc, -EFAULT, "%s", sc->what);
        cr_assert_eq(h.calls, calls + 1, "%s: one signal", sc->what);
        cr_assert_eq(h.last.code, sc->code, "%s: code %u", sc->what, h.last.code);
        cr_assert_eq(h.last.error_code, sc->error_code, "%s: error code 0x%x", sc->what, h.last.error_code);
        cr_assert_eq(h.last.addr, sc->va, "%s", sc->what);
        cr_assert_eq(h.last.kind, sc->kind, "%s", sc->what);
        cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING, "%s: abandoned, not killed", sc->what);
    }
    cr_assert_eq(pl_proc_stats(p)->signals, sizeof cases / sizeof cases[0]);
    cr_assert_eq(pl_kernel_stats(k)->kills, 0);
}

Test(fault, fetch_from_an_executable_page)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RW | PL_PROT_EXEC, ANON);
    cr_assert_eq(pl_proc_write(p, X + 4, "\xC3", 1), 0);
    uint8_t b = 0;
    const struct pl_cache_stats *cs = pl_cache_stats(m->cache);
    uint64_t lookups = cs->hits + cs->misses;
    cr_assert_eq(pl_proc_fetch(p, X + 4, &b), 0);
    cr_assert_eq(b, 0xC3);
    cr_assert_eq(cs->hits + cs->misses, lookups + 1, "a fetch goes through the cache as a load does");
    cr_assert_eq(pte(p, X) & E_XD, 0);
    cr_assert_eq(pl_proc_fetch(p, X + 5, NULL), 0);
}

Test(fault, default_action_kills_and_frees_everything)
{
    uint64_t before = free_frames();
    struct pl_proc *p = spawn();
    map_fixed(p, X, 4 * PG, RW, ANON);
    map_fixed(p, UINT64_C(0x7F0000000000), 2 * PG, RW, SHANON);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pl_proc_write(p, X + (uint64_t)i * PG, "data", 4), 0);
    cr_assert_eq(pl_proc_write(p, UINT64_C(0x7F0000000000), "shared", 6), 0);
    cr_assert_lt(free_frames(), before);
    cr_assert_eq(pl_proc_read(p, X + 4 * PG, NULL, 0), 0, "an empty read touches nothing");
    char c;
    cr_assert_eq(pl_proc_read(p, X + 4 * PG, &c, 1), -EFAULT);
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_exit_status(p), 128 + 11);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_MAPERR);
    cr_assert_eq(pl_proc_kill_info(p)->addr, X + 4 * PG);
    cr_assert_eq(pl_kernel_stats(k)->kills, 1);
    cr_assert_eq(pl_kernel_stats(k)->pt_pages, 0);
    cr_assert_eq(pl_proc_stats(p)->resident, 0);
    assert_consistent();
    cr_assert_eq(free_frames(), before, "the root, tables and pages are all back");
    cr_assert_eq(pl_proc_read(p, X, &c, 1), -ESRCH);
    pl_proc_reap(p);
    cr_assert_null(pl_kernel_proc(k, 1));
}

Test(fault, handler_kill_frees_everything)
{
    uint64_t before = free_frames();
    struct pl_proc *p = spawn();
    struct handler h = {.action = PL_SIG_KILL};
    pl_proc_set_signal_handler(p, on_signal, &h);
    map_fixed(p, X, 2 * PG, RO, ANON);
    char c;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    cr_assert_eq(pl_proc_write(p, X + PG, "w", 1), -EFAULT);
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(h.last.code, PL_SEGV_ACCERR);
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_ACCERR);
    cr_assert_eq(pl_proc_kill_info(p)->addr, X + PG);
    assert_consistent();
    cr_assert_eq(free_frames(), before);
}

Test(fault, handler_retry_after_mprotect)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, 3 * PG, RO, ANON);
    struct handler h = {.action = PL_SIG_RETRY, .fix = true, .fix_prot = RW};
    pl_proc_set_signal_handler(p, on_signal, &h);
    char msg[] = "spans two pages";
    cr_assert_eq(pl_proc_write(p, X + 2 * PG - 5, msg, sizeof msg), 0);
    cr_assert_eq(h.calls, 2, "one fix per page");
    cr_assert_eq(h.last.addr, X + 2 * PG, "the second page's first byte");
    cr_assert_eq(h.last.code, PL_SEGV_ACCERR);
    cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING);
    char back[sizeof msg];
    cr_assert_eq(pl_proc_read(p, X + 2 * PG - 5, back, sizeof back), 0);
    cr_assert_str_eq(back, msg);
    cr_assert_eq(pl_vma_find(pl_proc_vmas(p), X)->prot, RO, "only the faulting pages were changed");
    cr_assert_eq(pl_vma_find(pl_proc_vmas(p), X + PG)->prot, RW);
    cr_assert_eq(pl_vma_find(pl_proc_vmas(p), X + PG)->end, X + 3 * PG);
}

Test(fault, handler_retry_after_mprotect_of_prot_none)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, PL_PROT_NONE, ANON);
    struct handler h = {.action = PL_SIG_RETRY, .fix = true, .fix_prot = RO};
    pl_proc_set_signal_handler(p, on_signal, &h);
    char c = 1;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    cr_assert_eq(c, 0, "then zero-filled");
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(h.last.code, PL_SEGV_ACCERR);
    cr_assert_eq(h.last.error_code, 0x4);
    cr_assert_eq(pl_proc_stats(p)->zero_fill, 1);
}

Test(fault, abandon_returns_efault_after_a_partial_transfer)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RW, ANON);
    struct handler h = {.action = PL_SIG_ABANDON};
    pl_proc_set_signal_handler(p, on_signal, &h);
    uint8_t buf[PG + 16];
    memset(buf, 0x5A, sizeof buf);
    cr_assert_eq(pl_proc_write(p, X + 8, buf, PG), -EFAULT, "the end lies in an unmapped page");
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(h.last.addr, X + PG);
    cr_assert_eq(h.last.code, PL_SEGV_MAPERR);
    cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING);
    uint8_t back[PG];
    cr_assert_eq(pl_proc_read(p, X, back, PG), 0);
    for (size_t i = 0; i < PG; i++)
        cr_assert_eq(back[i], i < 8 ? 0 : 0x5A, "byte %zu: the first page was written", i);
    memset(back, 0, sizeof back);
    cr_assert_eq(pl_proc_read(p, X + PG - 4, back, 8), -EFAULT);
    cr_assert_eq(memcmp(back, "\x5A\x5A\x5A\x5A\0\0\0\0", 8), 0, "read up to the faulting page");
    cr_assert_eq(h.calls, 2);
}

Test(fault, handler_that_ends_the_process)
{
    struct pl_proc *p = spawn();
    struct handler h = {.action = PL_SIG_RETRY, .exit_inside = true};
    pl_proc_set_signal_handler(p, on_signal, &h);
    char c;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), -EFAULT);
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(pl_proc_state(p), PL_PROC_EXITED);
    cr_assert_eq(pl_proc_exit_status(p), 42);
    cr_assert_eq(pl_kernel_stats(k)->kills, 0);
}

/* A kernel with its own configuration: boots in the test. */
TestSuite(fault_config, .fini = teardown);

Test(fault_config, retry_limit)
{
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    cr_assert_eq(kc.signal_retry_limit, 100);
    kc.signal_retry_limit = 5;
    boot(NULL, &kc);
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RO, ANON);
    struct handler h = {.action = PL_SIG_RETRY}; /* fixes nothing */
    pl_proc_set_signal_handler(p, on_signal, &h);
    cr_assert_eq(pl_proc_write(p, X, "w", 1), -EFAULT);
    cr_assert_eq(h.calls, 5);
    cr_assert_eq(pl_proc_stats(p)->signals, 6, "five handled, the sixth kills");
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_ACCERR);
}

Test(fault, default_retry_limit)
{
    struct pl_proc *p = spawn();
    struct handler h = {.action = PL_SIG_RETRY};
    pl_proc_set_signal_handler(p, on_signal, &h);
    char c;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), -EFAULT);
    cr_assert_eq(h.calls, 100);
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_MAPERR);
}

Test(fault, retries_are_counted_per_access)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RO, ANON);
    struct handler h = {.action = PL_SIG_RETRY, .fix = true, .fix_prot = RW};
    pl_proc_set_signal_handler(p, on_signal, &h);
    for (int i = 0; i < 150; i++) {
        cr_assert_eq(pl_proc_write(p, X, "w", 1), 0, "write %d", i);
        cr_assert_eq(pl_sys_mprotect(p, X, PG, RO), 0);
    }
    cr_assert_eq(h.calls, 150);
    cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING);
}

Test(fault, out_of_frames_kills_without_the_handler)
{
    uint64_t before = free_frames();
    struct pl_proc *p = spawn();
    map_fixed(p, X, 2 * PG, RW, ANON);
    struct handler h = {.action = PL_SIG_ABANDON};
    pl_proc_set_signal_handler(p, on_signal, &h);
    pl_frame_fail_after(pl_kernel_frames(k), 1);
    char c;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), -EFAULT);
    cr_assert_eq(h.calls, 0, "no handler runs for OOM");
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SIG_OOM);
    cr_assert_eq(pl_proc_kill_info(p)->addr, X);
    assert_consistent();
    cr_assert_eq(free_frames(), before);
}

Test(fault, out_of_frames_for_a_table_kills_and_leaks_nothing)
{
    uint64_t before = free_frames();
    struct pl_proc *p = spawn();
    map_fixed(p, X, PG, RW, ANON);
    /* the data frame comes first, then the first table */
    pl_frame_fail_after(pl_kernel_frames(k), 2);
    cr_assert_eq(pl_proc_write(p, X, "w", 1), -EFAULT);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SIG_OOM);
    assert_consistent();
    cr_assert_eq(free_frames(), before);
}

Test(fault, out_of_frames_in_a_cow_copy)
{
    struct pl_proc *parent = spawn();
    map_fixed(parent, X, PG, RW, ANON);
    cr_assert_eq(pl_proc_write(parent, X, "keep", 5), 0);
    struct pl_proc *child;
    cr_assert_eq(pl_proc_fork(parent, &child), 0);
    pl_frame_fail_after(pl_kernel_frames(k), 1);
    cr_assert_eq(pl_proc_write(child, X, "lost", 5), -EFAULT);
    cr_assert_eq(pl_proc_kill_info(child)->code, PL_SIG_OOM);
    assert_consistent();
    char buf[5];
    cr_assert_eq(pl_proc_read(parent, X, buf, 5), 0);
    cr_assert_str_eq(buf, "keep");
    cr_assert_eq(pl_proc_write(parent, X, "mine", 5), 0);
    cr_assert_eq(pl_kernel_stats(k)->cow_reuse, 1, "the child's death left the parent the only user");
}

/* PROT_WRITE alone: x86 cannot deny reads of a writable page, and the
 * kernel lets a write-only region be read (region_allows). A read of a
 * private view of an object maps the object's page without write access,
 * which must still be readable. (A regression test: it once became a
 * not-present entry and the read faulted forever; the timeout stops such a
 * hang.) */
Test(fault, read_of_a_write_only_private_view, .timeout = 2)
{
    struct pl_shm *shm;
    cr_assert_eq(pl_shm_create(k, PG, &shm), 0);
    struct pl_proc *p = spawn();
    uint64_t va;
    cr_assert_eq(pl_sys_mmap(p, X, PG, PL_PROT_WRITE, PL_MAP_PRIVATE | PL_MAP_FIXED, shm, 0, &va), 0);
    pl_shm_release(shm);
    char c = 1;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    cr_assert_eq(c, 0);
    assert_consistent();
    cr_assert_eq(pte(p, X) & (E_P | E_RW), E_P, "the object's page, read-only");
    cr_assert_eq(pl_proc_write(p, X, "w", 1), 0);
    cr_assert_eq(pl_proc_stats(p)->cow_copy, 1);
    cr_assert_eq(pte(p, X) & (E_P | E_RW), E_P | E_RW);
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    cr_assert_eq(c, 'w');
}
