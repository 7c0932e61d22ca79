/* os/shm: shared-memory objects mapped into several processes with
 * different rights (the seed's case: one frame, read-write in A, read-only
 * in B, and B's write is a protection fault), offsets, sizes, and the
 * object's lifetime: it lives while its creator holds it or any region maps
 * part of it, and then its frames are freed. */
#include <errno.h>
#include <string.h>

#include "os/os.h" /* struct pl_kernel's shm_list: which objects are alive */
#include "os_fixture.h"

#define Y UINT64_C(0x300000000)

static void setup(void) { boot(NULL, NULL); }

TestSuite(shm, .init = setup, .fini = teardown);

static struct pl_shm *create(uint64_t size)
{
    struct pl_shm *s;
    cr_assert_eq(pl_shm_create(k, size, &s), 0);
    return s;
}

static unsigned live_objects(void)
{
    unsigned n = 0;
    for (const struct pl_shm *s = k->shm_list; s; s = s->next)
        n++;
    return n;
}

struct find_pte {
    uint64_t va, entry;
};

static void find_visit(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct find_pte *f = ctx;
    (void)level;
    (void)entry_pa;
    if (va == f->va)
        f->entry = entry;
}

static uint64_t pte(const struct pl_proc *p, uint64_t va)
{
    struct find_pte f = {.va = va};
    pl_proc_foreach_pte(p, find_visit, &f);
    return f.entry;
}

struct handler {
    int calls;
    struct pl_siginfo last;
};

static enum pl_sig_action abandon(struct pl_proc *p, const struct pl_siginfo *si, void *ctx)
{
    (void)p;
    struct handler *h = ctx;
    h->calls++;
    h->last = *si;
    return PL_SIG_ABANDON;
}

/* The seed's case. */
Test(shm, same_frame_read_write_in_a_read_only_in_b)
{
    struct pl_shm *s = create(PG);
    struct pl_proc *a = spawn(), *b = spawn();
    map_obj(a, X, PG, RW, PL_MAP_SHARED, s, 0);
    map_obj(b, Y, PG, RO, PL_MAP_SHARED, s, 0);
    cr_assert_eq(pl_proc_write(a, X + 16, "hello from A", 13), 0);
    char buf[13];
    cr_assert_eq(pl_proc_read(b, Y + 16, buf, 13), 0);
    cr_assert_str_eq(buf, "hello from A");
    assert_consistent();

    uint64_t ea = pte(a, X), eb = pte(b, Y);
    cr_assert_neq(ea, 0);
    cr_assert_neq(eb, 0);
    cr_assert_eq(ea & E_FRAME, eb & E_FRAME, "the same frame");
    cr_assert_eq(ea & (E_P | E_RW | E_US), E_P | E_RW | E_US, "read-write in A");
    cr_assert_eq(eb & (E_P | E_RW | E_US), E_P | E_US, "read-only in B");
    const struct pl_frame *f = pl_frame_meta(pl_kernel_frames(k), ea & E_FRAME);
    cr_assert_eq(f->mapcount, 2);
    cr_assert_eq(f->refcount, 3, "two mappings and the object");

    /* B's write: a protection fault on a present page, though A may write */
    struct handler h = {0};
    pl_proc_set_signal_handler(b, abandon, &h);
    cr_assert_eq(pl_proc_write(b, Y + 16, "B", 1), -EFAULT);
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(h.last.code, PL_SEGV_ACCERR);
    cr_assert_eq(h.last.error_code, 0x7, "present | write | user");
    cr_assert_eq(h.last.addr, Y + 16);
    cr_assert_eq(h.last.kind, PL_WRITE);
    cr_assert_eq(pl_kernel_stats(k)->cow_copy, 0, "a shared mapping never copies");
    cr_assert_eq(pte(b, Y), eb, "B's entry is unchanged");
    cr_assert_eq(pl_proc_write(a, X + 16, "A again", 8), 0, "A still writes the frame");
    cr_assert_eq(pl_proc_read(b, Y + 16, buf, 8), 0);
    cr_assert_str_eq(buf, "A again");

    /* without a handler the default action kills B only */
    pl_proc_set_signal_handler(b, NULL, NULL);
    cr_assert_eq(pl_proc_write(b, Y, "B", 1), -EFAULT);
    cr_assert_eq(pl_proc_state(b), PL_PROC_KILLED);
    cr_assert_eq(pl_proc_kill_info(b)->code, PL_SEGV_ACCERR);
    cr_assert_eq(pl_proc_kill_info(b)->error_code, 0x7);
    assert_consistent();
    cr_assert_eq(pl_proc_read(a, X + 16, buf, 8), 0);
    cr_assert_str_eq(buf, "A again");
    pl_shm_release(s);
}

Test(shm, b_writes_first_the_page_is_still_the_objects)
{
    struct pl_shm *s = create(PG);
    struct pl_proc *a = spawn(), *b = spawn();
    map_obj(a, X, PG, RW, PL_MAP_SHARED, s, 0);
    map_obj(b, X, PG, RO, PL_MAP_SHARED, s, 0);
    char c = 1;
    cr_assert_eq(pl_proc_read(b, X, &c, 1), 0, "B touches the object first");
    cr_assert_eq(c, 0);
    cr_assert_eq(pl_proc_write(a, X, "a", 1), 0);
    cr_assert_eq(pte(a, X) & E_FRAME, pte(b, X) & E_FRAME);
    cr_assert_eq(pl_proc_read(b, X, &c, 1), 0);
    cr_assert_eq(c, 'a');
    cr_assert_eq(pl_kernel_stats(k)->shared_page, 2);
    cr_assert_eq(pl_kernel_stats(k)->zero_fill, 0);
    pl_shm_release(s);
}

Test(shm, offsets_select_pages)
{
    struct pl_shm *s = create(4 * PG);
    struct pl_proc *a = spawn(), *b = spawn();
    map_obj(a, X, 4 * PG, RW, PL_MAP_SHARED, s, 0);
    for (int i = 0; i < 4; i++) {
        char c = (char)('0' + i);
        cr_assert_eq(pl_proc_write(a, X + (uint64_t)i * PG, &c, 1), 0);
    }
    map_obj(b, Y, 2 * PG, RO, PL_MAP_SHARED, s, 2 * PG);
    const struct pl_vma *v = pl_vma_find(pl_proc_vmas(b), Y);
    cr_assert_eq(v->offset, 2, "offset in pages");
    char c;
    cr_assert_eq(pl_proc_read(b, Y, &c, 1), 0);
    cr_assert_eq(c, '2');
    cr_assert_eq(pl_proc_read(b, Y + PG, &c, 1), 0);
    cr_assert_eq(c, '3');
    cr_assert_eq(pte(b, Y + PG) & E_FRAME, pte(a, X + 3 * PG) & E_FRAME);
    /* the same object twice in one process, overlapping pages */
    map_obj(a, Y, PG, RO, PL_MAP_SHARED, s, PG);
    cr_assert_eq(pl_proc_read(a, Y, &c, 1), 0);
    cr_assert_eq(c, '1');
    cr_assert_eq(pte(a, Y) & E_FRAME, pte(a, X + PG) & E_FRAME);
    cr_assert_eq(pl_frame_meta(pl_kernel_frames(k), pte(a, Y) & E_FRAME)->mapcount, 2);
    assert_consistent();
    pl_shm_release(s);
}

Test(shm, sizes_and_bad_arguments)
{
    struct pl_shm *s = NULL;
    cr_assert_eq(pl_shm_create(k, 0, &s), -EINVAL);
    cr_assert_null(s);
    s = create(5000);
    cr_assert_eq(pl_shm_size(s), 2 * PG, "rounded up to pages");
    struct pl_proc *p = spawn();
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(p, X, 3 * PG, RW, PL_MAP_SHARED, s, 0, &a), -EINVAL, "longer than the object");
    cr_assert_eq(pl_sys_mmap(p, X, PG, RW, PL_MAP_SHARED, s, 2 * PG, &a), -EINVAL, "offset at the end");
    cr_assert_eq(pl_sys_mmap(p, X, PG, RW, PL_MAP_SHARED, s, 123, &a), -EINVAL, "unaligned offset");
    cr_assert_eq(pl_sys_mmap(p, X, 2 * PG, RW, PL_MAP_SHARED, s, 0, &a), 0);
    cr_assert_eq(pl_sys_mmap(p, 0, 5000, RW, PL_MAP_SHARED, s, 0, &a), 0, "the length rounds up to fit");
    cr_assert_eq(pl_sys_mmap(p, 0, 5000, RW, PL_MAP_SHARED, s, PG, &a), -EINVAL);
    pl_shm_release(s);
}

Test(shm, release_then_unmap_frees_the_frames)
{
    uint64_t before = free_frames();
    struct pl_shm *s = create(3 * PG);
    cr_assert_eq(live_objects(), 1);
    struct pl_proc *p = spawn();
    uint64_t with_proc = free_frames();
    map_obj(p, X, 3 * PG, RW, PL_MAP_SHARED, s, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pl_proc_write(p, X + (uint64_t)i * PG, "obj", 4), 0);
    uint64_t tables = pl_proc_stats(p)->pt_pages;
    cr_assert_eq(free_frames(), with_proc - 3 - tables);
    pl_shm_release(s);
    assert_consistent();
    cr_assert_eq(live_objects(), 1, "still mapped");
    char buf[4];
    cr_assert_eq(pl_proc_read(p, X + 2 * PG, buf, 4), 0);
    cr_assert_str_eq(buf, "obj");
    /* a partial unmap keeps it alive */
    cr_assert_eq(pl_sys_munmap(p, X, 2 * PG), 0);
    assert_consistent();
    cr_assert_eq(live_objects(), 1);
    cr_assert_eq(free_frames(), with_proc - 3 - tables, "the object still holds its pages");
    cr_assert_eq(pl_proc_read(p, X + 2 * PG, buf, 4), 0);
    cr_assert_str_eq(buf, "obj");
    cr_assert_eq(pl_sys_munmap(p, X + 2 * PG, PG), 0);
    assert_consistent();
    cr_assert_eq(live_objects(), 0);
    cr_assert_eq(free_frames(), with_proc, "pages and tables freed");
    pl_proc_exit(p, 0);
    cr_assert_eq(free_frames(), before);
}

Test(shm, unmap_then_release_frees_the_frames)
{
    uint64_t before = free_frames();
    struct pl_shm *s = create(2 * PG);
    struct pl_proc *p = spawn();
    map_obj(p, X, 2 * PG, RW, PL_MAP_SHARED, s, 0);
    cr_assert_eq(pl_proc_write(p, X + PG, "kept", 5), 0);
    cr_assert_eq(pl_sys_munmap(p, X, 2 * PG), 0);
    assert_consistent();
    cr_assert_eq(live_objects(), 1, "held by its creator");
    /* mapped again: the data is still there */
    map_obj(p, Y, 2 * PG, RO, PL_MAP_SHARED, s, 0);
    char buf[5];
    cr_assert_eq(pl_proc_read(p, Y + PG, buf, 5), 0);
    cr_assert_str_eq(buf, "kept");
    pl_proc_exit(p, 0);
    cr_assert_eq(live_objects(), 1);
    cr_assert_eq(free_frames(), before - 1, "the object's one touched page");
    pl_shm_release(s);
    assert_consistent();
    cr_assert_eq(live_objects(), 0);
    cr_assert_eq(free_frames(), before);
}

Test(shm, release_of_an_unmapped_object_frees_it_at_once)
{
    uint64_t before = free_frames();
    struct pl_shm *s = create(8 * PG);
    cr_assert_eq(live_objects(), 1);
    pl_shm_release(s);
    cr_assert_eq(live_objects(), 0);
    cr_assert_eq(free_frames(), before);
}

Test(shm, fork_shares_the_object_and_exit_keeps_it)
{
    uint64_t before = free_frames();
    struct pl_shm *s = create(PG);
    struct pl_proc *p = spawn();
    map_obj(p, X, PG, RW, PL_MAP_SHARED, s, 0);
    pl_shm_release(s);
    cr_assert_eq(pl_proc_write(p, X, "gen0", 5), 0);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    cr_assert_eq(pl_proc_write(c, X, "gen1", 5), 0);
    char buf[5];
    cr_assert_eq(pl_proc_read(p, X, buf, 5), 0);
    cr_assert_str_eq(buf, "gen1");
    pl_proc_exit(p, 0);
    assert_consistent();
    cr_assert_eq(live_objects(), 1, "the child still maps it");
    cr_assert_eq(pl_proc_read(c, X, buf, 5), 0);
    cr_assert_str_eq(buf, "gen1");
    pl_proc_exit(c, 0);
    assert_consistent();
    cr_assert_eq(live_objects(), 0);
    cr_assert_eq(free_frames(), before);
}

Test(shm, killed_mapper_leaves_the_object)
{
    struct pl_shm *s = create(PG);
    struct pl_proc *a = spawn(), *b = spawn();
    map_obj(a, X, PG, RW, PL_MAP_SHARED, s, 0);
    map_obj(b, X, PG, RW, PL_MAP_SHARED, s, 0);
    cr_assert_eq(pl_proc_write(b, X, "from b", 7), 0);
    char c;
    cr_assert_eq(pl_proc_read(b, Y, &c, 1), -EFAULT);
    cr_assert_eq(pl_proc_state(b), PL_PROC_KILLED);
    assert_consistent();
    char buf[7];
    cr_assert_eq(pl_proc_read(a, X, buf, 7), 0);
    cr_assert_str_eq(buf, "from b");
    pl_shm_release(s);
}

Test(shm, mprotect_of_a_shared_mapping_applies_at_once)
{
    struct pl_shm *s = create(PG);
    struct pl_proc *p = spawn();
    map_obj(p, X, PG, RO, PL_MAP_SHARED, s, 0);
    char c;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    cr_assert_eq(pte(p, X) & E_RW, 0);
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RW), 0);
    cr_assert_eq(pte(p, X) & E_RW, E_RW, "no write fault needed: the page is the object's");
    cr_assert_eq(pl_proc_write(p, X, "w", 1), 0);
    cr_assert_eq(pl_kernel_stats(k)->cow_copy + pl_kernel_stats(k)->cow_reuse, 0);
    cr_assert_eq(pl_sys_mprotect(p, X, PG, PL_PROT_NONE), 0);
    assert_consistent();
    cr_assert_eq(pte(p, X) & E_P, 0);
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RO), 0);
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    cr_assert_eq(c, 'w');
    pl_shm_release(s);
}

Test(shm, map_fixed_over_its_own_mapping)
{
    uint64_t before = free_frames();
    struct pl_shm *s = create(2 * PG);
    struct pl_proc *p = spawn();
    map_obj(p, X, 2 * PG, RW, PL_MAP_SHARED, s, 0);
    pl_shm_release(s);
    cr_assert_eq(pl_proc_write(p, X + PG, "second", 7), 0);
    /* the object's only mapping replaced by another of the same object: it
     * must not be freed in between */
    map_obj(p, X, 2 * PG, RO, PL_MAP_SHARED, s, 0);
    assert_consistent();
    cr_assert_eq(live_objects(), 1);
    char buf[7];
    cr_assert_eq(pl_proc_read(p, X + PG, buf, 7), 0);
    cr_assert_str_eq(buf, "second");
    pl_proc_exit(p, 0);
    cr_assert_eq(live_objects(), 0);
    cr_assert_eq(free_frames(), before);
}

/* pl_kernel_free must free objects that were never released too. Only a
 * leak checker can see this: under AddressSanitizer the test asks
 * LeakSanitizer (workers end without its exit-time check). */
TestSuite(shm_alone);

Test(shm_alone, kernel_free_frees_held_objects)
{
    setup();
    struct pl_shm *s = create(PG);
    struct pl_proc *p = spawn();
    map_obj(p, X, PG, RW, PL_MAP_SHARED, s, 0);
    cr_assert_eq(pl_proc_write(p, X, "x", 1), 0);
    cr_assert_eq(live_objects(), 1);
    pl_kernel_free(k);
    pl_machine_free(m);
    assert_no_host_leaks();
}
