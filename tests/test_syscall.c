/* os/aspace: mmap, munmap and mprotect through the public API: the errno of
 * every bad argument as proc.h documents it, placement (no hint, hints,
 * MAP_FIXED and what it replaces), region splitting, and "nothing changes"
 * on a refused mprotect. The invariant checker runs after every test. */
#include <errno.h>
#include <string.h>

#include "os_fixture.h"

static struct pl_proc *p;

static void setup(void)
{
    boot(NULL, NULL);
    p = spawn();
}

TestSuite(syscall, .init = setup, .fini = teardown);

static uint64_t map_ok(uint64_t addr, uint64_t len, unsigned prot, unsigned flags)
{
    uint64_t a = UINT64_MAX;
    int rc = pl_sys_mmap(p, addr, len, prot, flags, NULL, 0, &a);
    cr_assert_eq(rc, 0, "mmap(0x%llx, %llu): %d", (unsigned long long)addr, (unsigned long long)len, rc);
    return a;
}

static int map_err(uint64_t addr, uint64_t len, unsigned prot, unsigned flags, struct pl_shm *shm, uint64_t off)
{
    uint64_t a = 0x1234;
    int rc = pl_sys_mmap(p, addr, len, prot, flags, shm, off, &a);
    cr_assert_eq(a, 0x1234, "a refused mmap must not store an address");
    return rc;
}

/* Every present-or-PROT_NONE leaf of p, in order. */
struct pte_dump {
    size_t n;
    uint64_t va[64], entry[64];
};

static void dump_visit(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct pte_dump *d = ctx;
    (void)level;
    (void)entry_pa;
    cr_assert_lt(d->n, 64);
    d->va[d->n] = va;
    d->entry[d->n++] = entry;
}

static struct pte_dump dump(void)
{
    struct pte_dump d = {0};
    pl_proc_foreach_pte(p, dump_visit, &d);
    return d;
}

static uint64_t regions(void) { return pl_vma_set_count(pl_proc_vmas(p)); }

static const struct pl_vma *region_at(uint64_t va) { return pl_vma_find(pl_proc_vmas(p), va); }

Test(syscall, mmap_without_hint_starts_at_mmap_base_and_merges)
{
    uint64_t a = map_ok(0, 3 * PG, RW, ANON);
    cr_assert_eq(a, PL_MMAP_BASE);
    uint64_t b = map_ok(0, 1, RW, ANON);
    cr_assert_eq(b, PL_MMAP_BASE + 3 * PG, "the next free page; length rounded up to a page");
    cr_assert_eq(regions(), 1, "same rights and flags: one region");
    const struct pl_vma *v = region_at(a);
    cr_assert_eq(v->start, a);
    cr_assert_eq(v->end, a + 4 * PG);
    cr_assert_eq(v->prot, RW);
    cr_assert_eq(v->flags, ANON);
    cr_assert_null(v->object);
    uint64_t c = map_ok(0, PG, RO, ANON);
    cr_assert_eq(c, PL_MMAP_BASE + 4 * PG);
    cr_assert_eq(regions(), 2, "other rights: a region of its own");
    cr_assert_eq(pl_proc_stats(p)->resident, 0, "mmap maps no page: faults do");
    cr_assert_eq(pl_kernel_stats(k)->syscalls, 3);
}

Test(syscall, mmap_einval_cases)
{
    struct pl_shm *shm;
    cr_assert_eq(pl_shm_create(k, 4 * PG, &shm), 0);
    uint64_t writes = pl_kernel_stats(k)->pte_writes;
    cr_assert_eq(map_err(0, 0, RW, ANON, NULL, 0), -EINVAL, "length 0");
    cr_assert_eq(map_err(X + 1, PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -EINVAL, "unaligned fixed address");
    cr_assert_eq(map_err(X + 0x800, PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -EINVAL);
    cr_assert_eq(map_err(0, PG, 8, ANON, NULL, 0), -EINVAL, "unknown prot bit");
    cr_assert_eq(map_err(0, PG, RW | 0x100, ANON, NULL, 0), -EINVAL, "unknown prot bit");
    cr_assert_eq(map_err(0, PG, RW, ANON | 0x40, NULL, 0), -EINVAL, "unknown flag bit");
    cr_assert_eq(map_err(0, PG, RW, ANON | 0x1000, NULL, 0), -EINVAL, "unknown flag bit");
    cr_assert_eq(map_err(0, PG, RW, PL_MAP_ANONYMOUS, NULL, 0), -EINVAL, "neither PRIVATE nor SHARED");
    cr_assert_eq(map_err(0, PG, RW, PL_MAP_ANONYMOUS | PL_MAP_PRIVATE | PL_MAP_SHARED, NULL, 0), -EINVAL,
                 "both PRIVATE and SHARED");
    cr_assert_eq(map_err(0, PG, RW, PL_MAP_SHARED | PL_MAP_ANONYMOUS, shm, 0), -EINVAL, "ANONYMOUS with an object");
    cr_assert_eq(map_err(0, PG, RW, PL_MAP_SHARED, shm, 100), -EINVAL, "unaligned offset");
    cr_assert_eq(map_err(0, 2 * PG, RW, PL_MAP_SHARED, shm, 3 * PG), -EINVAL, "beyond the object's end");
    cr_assert_eq(map_err(0, PG, RW, PL_MAP_SHARED, shm, 4 * PG), -EINVAL, "offset at the object's end");
    cr_assert_eq(regions(), 0);
    cr_assert_eq(pl_kernel_stats(k)->pte_writes, writes, "no entry written");
    pl_shm_release(shm);
}

Test(syscall, mmap_ebadf_without_an_object)
{
    cr_assert_eq(map_err(0, PG, RW, PL_MAP_PRIVATE, NULL, 0), -EBADF);
    cr_assert_eq(map_err(0, PG, RW, PL_MAP_SHARED, NULL, 0), -EBADF);
    cr_assert_eq(regions(), 0);
}

Test(syscall, mmap_fixed_beyond_the_user_half_is_enomem)
{
    uint64_t top = pl_kernel_user_top(k);
    cr_assert_eq(top, PL_USER_TOP_4);
    cr_assert_eq(map_err(UINT64_C(0xFFFF800000000000), PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -ENOMEM,
                 "the kernel half");
    cr_assert_eq(map_err(pl_kernel_direct_map(k), PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -ENOMEM, "the direct map");
    cr_assert_eq(map_err(top, PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -ENOMEM, "the first non-user page");
    cr_assert_eq(map_err(top - PG, 2 * PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -ENOMEM, "crossing the top");
    cr_assert_eq(map_err(UINT64_C(0xFFFFFFFFFFFFF000), 2 * PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -ENOMEM,
                 "wrapping around");
    cr_assert_eq(map_err(0, top + PG, RW, ANON, NULL, 0), -ENOMEM, "longer than the user half");
    cr_assert_eq(map_err(X, UINT64_MAX, RW, ANON | PL_MAP_FIXED, NULL, 0), -ENOMEM);
    cr_assert_eq(regions(), 0);
    /* the last user page is fine */
    uint64_t a = map_ok(top - PG, PG, RW, ANON | PL_MAP_FIXED);
    cr_assert_eq(a, top - PG);
    cr_assert_eq(pl_proc_write(p, top - 8, "topmost", 8), 0);
    char buf[8];
    cr_assert_eq(pl_proc_read(p, top - 8, buf, 8), 0);
    cr_assert_str_eq(buf, "topmost");
}

Test(syscall, mmap_fixed_below_the_floor_is_eperm)
{
    cr_assert_eq(map_err(0, PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -EPERM);
    cr_assert_eq(map_err(0x1000, PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -EPERM);
    cr_assert_eq(map_err(PL_MMAP_FLOOR - PG, PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -EPERM);
    cr_assert_eq(map_err(PL_MMAP_FLOOR - PG, 2 * PG, RW, ANON | PL_MAP_FIXED, NULL, 0), -EPERM,
                 "starting below the floor, even when ending above");
    cr_assert_eq(map_ok(PL_MMAP_FLOOR, PG, RW, ANON | PL_MAP_FIXED), PL_MMAP_FLOOR);
}

Test(syscall, mmap_hints)
{
    cr_assert_eq(map_ok(X, 2 * PG, RW, ANON), X, "a free hint is taken as it is");
    cr_assert_eq(map_ok(X + 5 * PG + 1, PG, RW, ANON), X + 6 * PG, "an unaligned hint is rounded up");
    cr_assert_eq(map_ok(X, 2 * PG, RO, ANON), X + 2 * PG, "a taken hint: the next free range above it");
    cr_assert_eq(map_ok(X + PG, 3 * PG, RO, ANON), X + 7 * PG, "skips the two free pages at X + 4 pages");
    cr_assert_eq(map_ok(X + PG, 2 * PG, RO, ANON), X + 4 * PG, "which fit two pages");
    cr_assert_eq(map_ok(0x1000, PG, RW, ANON), PL_MMAP_FLOOR, "a hint below the floor: the floor");
    cr_assert_eq(map_ok(UINT64_C(0xFFFF800000001000), PG, RW, ANON), PL_MMAP_BASE,
                 "a hint in the kernel half is ignored");
    /* No room above the hint: the default search from PL_MMAP_BASE, as on
     * Linux (the base page is taken by the mapping just above). */
    uint64_t top = pl_kernel_user_top(k);
    cr_assert_eq(map_ok(top - PG, 2 * PG, RW, ANON), PL_MMAP_BASE + PG);
    /* Hints never replace anything */
    char buf[4] = "abc";
    cr_assert_eq(pl_proc_write(p, X, buf, 4), 0);
    cr_assert_eq(map_ok(X, PG, RW, ANON), X + 10 * PG, "X .. X + 10 pages are taken");
    char back[4];
    cr_assert_eq(pl_proc_read(p, X, back, 4), 0);
    cr_assert_str_eq(back, "abc");
}

Test(syscall, mmap_fixed_replaces_what_was_there)
{
    cr_assert_eq(map_ok(X, 4 * PG, RW, ANON | PL_MAP_FIXED), X);
    for (int i = 0; i < 4; i++) {
        char c = (char)('A' + i);
        cr_assert_eq(pl_proc_write(p, X + (uint64_t)i * PG + 100, &c, 1), 0);
    }
    cr_assert_eq(pl_proc_stats(p)->resident, 4);
    uint64_t before = free_frames();
    size_t hn;
    pl_kernel_history(k, &hn);
    uint64_t seq0 = pl_kernel_history(k, &hn)[hn - 1].seq;

    cr_assert_eq(map_ok(X + PG, 2 * PG, RO, ANON | PL_MAP_FIXED), X + PG);
    assert_consistent();
    cr_assert_eq(free_frames(), before + 2, "the two replaced pages are freed");
    cr_assert_eq(pl_proc_stats(p)->resident, 2);
    cr_assert_eq(regions(), 3, "split in three");
    cr_assert_eq(region_at(X)->end, X + PG);
    cr_assert_eq(region_at(X + PG)->prot, RO);
    cr_assert_eq(region_at(X + PG)->end, X + 3 * PG);
    cr_assert_eq(region_at(X + 3 * PG)->prot, RW);

    /* the entries of the two replaced pages were cleared, for munmap */
    const struct pl_pte_write *h = pl_kernel_history(k, &hn);
    unsigned cleared = 0;
    for (size_t i = 0; i < hn; i++) {
        if (h[i].seq <= seq0)
            continue;
        cr_assert_eq(h[i].why, PL_WHY_MUNMAP);
        cr_assert_eq(h[i].level, 1);
        cr_assert_eq(h[i].new, 0);
        cr_assert_eq(h[i].va, X + (1 + cleared) * PG);
        cleared++;
    }
    cr_assert_eq(cleared, 2);

    char c;
    cr_assert_eq(pl_proc_read(p, X + 100, &c, 1), 0);
    cr_assert_eq(c, 'A');
    cr_assert_eq(pl_proc_read(p, X + PG + 100, &c, 1), 0);
    cr_assert_eq(c, 0, "the new mapping is zero-filled");
    cr_assert_eq(pl_proc_read(p, X + 2 * PG + 100, &c, 1), 0);
    cr_assert_eq(c, 0);
    cr_assert_eq(pl_proc_read(p, X + 3 * PG + 100, &c, 1), 0);
    cr_assert_eq(c, 'D');
}

Test(syscall, munmap_errors_and_unmapped_ranges)
{
    uint64_t top = pl_kernel_user_top(k);
    cr_assert_eq(pl_sys_munmap(p, X + 1, PG), -EINVAL, "unaligned");
    cr_assert_eq(pl_sys_munmap(p, X, 0), -EINVAL, "length 0");
    cr_assert_eq(pl_sys_munmap(p, top, PG), -EINVAL, "outside the user half");
    cr_assert_eq(pl_sys_munmap(p, UINT64_C(0xFFFF800000000000), PG), -EINVAL);
    cr_assert_eq(pl_sys_munmap(p, top - PG, 2 * PG), -EINVAL, "crossing the top");
    cr_assert_eq(pl_sys_munmap(p, X, UINT64_MAX), -EINVAL);
    uint64_t before = free_frames();
    uint64_t writes = pl_kernel_stats(k)->pte_writes;
    cr_assert_eq(pl_sys_munmap(p, X, 16 * PG), 0, "nothing mapped: fine");
    cr_assert_eq(pl_sys_munmap(p, 0, top), 0, "the whole user half, empty: fine");
    cr_assert_eq(free_frames(), before);
    cr_assert_eq(pl_kernel_stats(k)->pte_writes, writes);
}

Test(syscall, munmap_splits_and_frees)
{
    cr_assert_eq(map_ok(X, 5 * PG, RW, ANON | PL_MAP_FIXED), X);
    uint64_t before = free_frames();
    for (int i = 0; i < 5; i++)
        cr_assert_eq(pl_proc_write(p, X + (uint64_t)i * PG, "z", 1), 0);
    /* one unaligned length rounds up to the page */
    cr_assert_eq(pl_sys_munmap(p, X + 2 * PG, 1), 0);
    assert_consistent();
    cr_assert_eq(regions(), 2);
    cr_assert_eq(region_at(X)->end, X + 2 * PG);
    cr_assert_eq(region_at(X + 3 * PG)->start, X + 3 * PG);
    cr_assert_null(region_at(X + 2 * PG));
    cr_assert_eq(pl_proc_stats(p)->resident, 4);
    struct pte_dump d = dump();
    cr_assert_eq(d.n, 4);
    cr_assert_eq(d.va[2], X + 3 * PG);
    /* a range over a hole and both pieces */
    cr_assert_eq(pl_sys_munmap(p, X + PG, 3 * PG), 0);
    cr_assert_eq(regions(), 2);
    cr_assert_eq(pl_proc_stats(p)->resident, 2);
    cr_assert_eq(pl_sys_munmap(p, X, 5 * PG), 0);
    cr_assert_eq(regions(), 0);
    cr_assert_eq(pl_proc_stats(p)->resident, 0);
    cr_assert_eq(pl_proc_stats(p)->pt_pages, 0, "empty tables are freed");
    cr_assert_eq(free_frames(), before, "every page and table is back");
}

Test(syscall, access_to_an_unmapped_hole_kills_with_maperr)
{
    cr_assert_eq(map_ok(X, 3 * PG, RW, ANON | PL_MAP_FIXED), X);
    cr_assert_eq(pl_sys_munmap(p, X + PG, PG), 0);
    cr_assert_eq(pl_proc_write(p, X + 2 * PG, "ok", 2), 0);
    cr_assert_eq(pl_proc_write(p, X + PG + 8, "no", 2), -EFAULT);
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    const struct pl_siginfo *si = pl_proc_kill_info(p);
    cr_assert_eq(si->code, PL_SEGV_MAPERR);
    cr_assert_eq(si->addr, X + PG + 8);
    cr_assert_eq(si->error_code, 0x6, "not present, write, user");
    cr_assert_eq(pl_sys_munmap(p, X, PG), -ESRCH);
}

Test(syscall, mprotect_errors)
{
    uint64_t top = pl_kernel_user_top(k);
    cr_assert_eq(map_ok(X, 2 * PG, RW, ANON | PL_MAP_FIXED), X);
    cr_assert_eq(pl_sys_mprotect(p, X + 1, PG, RO), -EINVAL, "unaligned");
    cr_assert_eq(pl_sys_mprotect(p, X, PG, 8), -EINVAL, "unknown prot bit");
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RW | 0x10), -EINVAL);
    cr_assert_eq(pl_sys_mprotect(p, X + 64 * PG, 0, RO), 0, "length 0 is a no-op, even unmapped");
    cr_assert_eq(pl_sys_mprotect(p, top, PG, RO), -ENOMEM, "outside the user half");
    cr_assert_eq(pl_sys_mprotect(p, top - PG, 2 * PG, RO), -ENOMEM);
    cr_assert_eq(pl_sys_mprotect(p, X + 8 * PG, PG, RO), -ENOMEM, "unmapped");
    cr_assert_eq(region_at(X)->prot, RW);
    cr_assert_eq(regions(), 1);
}

Test(syscall, mprotect_over_a_partly_unmapped_range_changes_nothing)
{
    cr_assert_eq(map_ok(X, PG, RW, ANON | PL_MAP_FIXED), X);
    cr_assert_eq(map_ok(X + 2 * PG, 2 * PG, RW, ANON | PL_MAP_FIXED), X + 2 * PG);
    cr_assert_eq(pl_proc_write(p, X, "a", 1), 0);
    cr_assert_eq(pl_proc_write(p, X + 2 * PG, "b", 1), 0);
    cr_assert_eq(pl_proc_write(p, X + 3 * PG, "c", 1), 0);
    struct pte_dump d0 = dump();
    cr_assert_eq(d0.n, 3);
    uint64_t writes = pl_kernel_stats(k)->pte_writes, flushes = pl_kernel_stats(k)->tlb_flush_pages;
    size_t hn0, hn1;
    pl_kernel_history(k, &hn0);

    cr_assert_eq(pl_sys_mprotect(p, X, 4 * PG, RO), -ENOMEM, "a hole at X + 1 page");
    cr_assert_eq(pl_sys_mprotect(p, X + 2 * PG, 3 * PG, RO), -ENOMEM, "a hole after the end");
    cr_assert_eq(pl_sys_mprotect(p, X - PG, 2 * PG, PL_PROT_NONE), -ENOMEM, "a hole before the start");

    struct pte_dump d1 = dump();
    cr_assert_eq(d1.n, d0.n);
    for (size_t i = 0; i < d0.n; i++) {
        cr_assert_eq(d1.va[i], d0.va[i]);
        cr_assert_eq(d1.entry[i], d0.entry[i], "entry of 0x%llx changed", (unsigned long long)d0.va[i]);
    }
    cr_assert_eq(pl_kernel_stats(k)->pte_writes, writes);
    cr_assert_eq(pl_kernel_stats(k)->tlb_flush_pages, flushes);
    pl_kernel_history(k, &hn1);
    cr_assert_eq(hn1, hn0);
    cr_assert_eq(regions(), 2);
    cr_assert_eq(region_at(X)->prot, RW);
    cr_assert_eq(region_at(X + 2 * PG)->prot, RW);
    cr_assert_eq(region_at(X + 2 * PG)->end, X + 4 * PG, "not split");
    cr_assert_eq(pl_proc_write(p, X + 3 * PG, "d", 1), 0, "still writable");
}

Test(syscall, mprotect_read_only_then_back)
{
    cr_assert_eq(map_ok(X, 3 * PG, RW, ANON | PL_MAP_FIXED), X);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pl_proc_write(p, X + (uint64_t)i * PG, "data", 5), 0);
    cr_assert_eq(pl_sys_mprotect(p, X + PG, PG, RO), 0);
    assert_consistent();
    cr_assert_eq(regions(), 3);
    cr_assert_eq(region_at(X + PG)->prot, RO);
    char buf[5];
    cr_assert_eq(pl_proc_read(p, X + PG, buf, 5), 0);
    cr_assert_str_eq(buf, "data");
    cr_assert_eq(pl_proc_write(p, X, "more", 5), 0);
    /* back to RW: merged again; the private page gets write access from its
     * next write fault, by reuse (it is the frame's only user) */
    cr_assert_eq(pl_sys_mprotect(p, X + PG, PG, RW), 0);
    cr_assert_eq(regions(), 1);
    uint64_t reuse = pl_kernel_stats(k)->cow_reuse, copy = pl_kernel_stats(k)->cow_copy;
    cr_assert_eq(pl_proc_write(p, X + PG, "new", 4), 0);
    cr_assert_eq(pl_kernel_stats(k)->cow_reuse, reuse + 1);
    cr_assert_eq(pl_kernel_stats(k)->cow_copy, copy);
    cr_assert_eq(pl_proc_read(p, X + PG, buf, 4), 0);
    cr_assert_str_eq(buf, "new");
    /* read-only again: a write kills with ACCERR on a present page */
    cr_assert_eq(pl_sys_mprotect(p, X, 3 * PG, RO), 0);
    cr_assert_eq(pl_proc_write(p, X + 2 * PG + 1, "x", 1), -EFAULT);
    cr_assert_eq(pl_proc_state(p), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(p)->code, PL_SEGV_ACCERR);
    cr_assert_eq(pl_proc_kill_info(p)->error_code, 0x7);
    cr_assert_eq(pl_proc_kill_info(p)->addr, X + 2 * PG + 1);
}

Test(syscall, mprotect_none_keeps_the_frame)
{
    cr_assert_eq(map_ok(X, PG, RW, ANON | PL_MAP_FIXED), X);
    cr_assert_eq(pl_proc_write(p, X + 10, "kept", 5), 0);
    uint64_t frames = free_frames();
    cr_assert_eq(pl_sys_mprotect(p, X, PG, PL_PROT_NONE), 0);
    assert_consistent();
    cr_assert_eq(free_frames(), frames);
    cr_assert_eq(pl_proc_stats(p)->resident, 1, "PROT_NONE keeps the page resident");
    struct pte_dump d = dump();
    cr_assert_eq(d.n, 1);
    cr_assert_eq(d.entry[0] & 1, 0, "not present");
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RO), 0);
    char buf[5];
    cr_assert_eq(pl_proc_read(p, X + 10, buf, 5), 0);
    cr_assert_str_eq(buf, "kept");
}

/* The kernel must not leave an entry that denies what its region allows:
 * PROT_WRITE alone still lets x86 read, so a write-only private page that is
 * read-only in its entry (after fork) must stay readable. (A regression
 * test: pmap_protect once made it a not-present entry, and every access
 * then faulted forever as "spurious"; the timeout stops such a hang.) */
Test(syscall, mprotect_write_only_on_a_cow_page, .timeout = 2)
{
    cr_assert_eq(map_ok(X, PG, RW, ANON | PL_MAP_FIXED), X);
    cr_assert_eq(pl_proc_write(p, X, "cow", 4), 0);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    cr_assert_eq(pl_sys_mprotect(p, X, PG, PL_PROT_WRITE), 0);
    assert_consistent();
    char buf[4];
    cr_assert_eq(pl_proc_read(p, X, buf, 4), 0);
    cr_assert_str_eq(buf, "cow");
    cr_assert_eq(pl_proc_write(p, X, "new", 4), 0);
    cr_assert_eq(pl_proc_read(c, X, buf, 4), 0);
    cr_assert_str_eq(buf, "cow");
}

Test(syscall, syscalls_of_an_ended_process_are_esrch)
{
    pl_proc_exit(p, 3);
    uint64_t a = 7;
    cr_assert_eq(pl_sys_mmap(p, 0, PG, RW, ANON, NULL, 0, &a), -ESRCH);
    cr_assert_eq(a, 7);
    cr_assert_eq(pl_sys_munmap(p, X, PG), -ESRCH);
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RO), -ESRCH);
    cr_assert_eq(pl_proc_exit_status(p), 3);
}
