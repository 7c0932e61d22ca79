/* os/pmap through its internal interface (os/pmap.h): the entries it
 * writes, the tables it builds and frees, the frame references and map
 * counts it keeps, the invalidations it issues (exactly when the SDM needs
 * them: removals, lowered rights, changed frames, a 2M leaf split; not for
 * new entries or added rights), fork copies, 2M leaves and their splits,
 * and the history of every write with its cause. */
#include <string.h>

#include "hw/pte.h"
#include "os/os.h"
#include "os/pmap.h"
#include "os_fixture.h"
#include "ptelab/cpu.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"
#include "ptelab/tlb.h"

#define RX (PL_PROT_READ | PL_PROT_EXEC)
#define RWX (PL_PROT_READ | PL_PROT_WRITE | PL_PROT_EXEC)
#define Y UINT64_C(0x7F0000000000)
#define TWO_MB UINT64_C(0x200000)

static struct pl_frame_allocator *fa;

/* boot() on a machine with PCIDs or without; fa is then the kernel's
 * frame allocator. */
static void boot_pcid(bool pcid, const struct pl_kernel_config *kc)
{
    struct pl_machine_config mc = os_machine_config();
    mc.pcid = pcid;
    boot(&mc, kc);
    fa = pl_kernel_frames(k);
}

static void setup(void) { boot_pcid(true, NULL); }

TestSuite(pmap, .init = setup, .fini = teardown);
TestSuite(pmap_machine, .fini = teardown);

static uint64_t user_frame(void)
{
    uint64_t pa;
    cr_assert_eq(pl_frame_alloc(fa, 0, PL_FRAME_USER, &pa), 0);
    return pa;
}

static const struct pl_frame *meta(uint64_t pa) { return pl_frame_meta(fa, pa); }

static size_t history_len(void)
{
    size_t n;
    pl_kernel_history(k, &n);
    return n;
}

static const struct pl_pte_write *history_at(size_t i)
{
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    cr_assert_lt(i, n);
    return &h[i];
}

/* The raw entry at level for va under root (0 when a table is missing). */
static uint64_t entry_at(uint64_t root, uint64_t va, int level)
{
    uint64_t table = root;
    for (int l = k->levels; l > level; l--) {
        uint64_t e = pl_physmem_read64(k->mem, table + 8 * pte_index(va, l));
        if (!(e & PTE_P))
            return 0;
        table = e & PTE_ADDR_MASK;
    }
    return pl_physmem_read64(k->mem, table + 8 * pte_index(va, level));
}

static uint64_t leaf(const struct pmap *pm, uint64_t va) { return entry_at(pm->root, va, 1); }

static uint64_t flushes_pages(void) { return pl_kernel_stats(k)->tlb_flush_pages; }
static uint64_t flushes_full(void) { return pl_kernel_stats(k)->tlb_flush_full; }

static bool tlb_has(uint64_t va, uint16_t pcid)
{
    struct pl_tlb *t = pl_cpu_tlb(kcpu(k));
    return pl_tlb_probe(t, PL_TLB_L1D, va, pcid, NULL) || pl_tlb_probe(t, PL_TLB_L2, va, pcid, NULL);
}

static struct pl_proc *spawn_mapped(uint64_t va, uint64_t len, unsigned prot)
{
    struct pl_proc *p = spawn();
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(p, va, len, prot, ANON | PL_MAP_FIXED, NULL, 0, &a), 0);
    return p;
}

static void touch(struct pl_proc *p, uint64_t va, uint64_t len)
{
    for (uint64_t off = 0; off < len; off += PG)
        cr_assert_eq(pl_proc_write(p, va + off, "t", 1), 0);
}

Test(pmap, create_holds_the_kernel_half_and_destroy_frees_the_root)
{
    uint64_t before = free_frames(), pt = pl_kernel_stats(k)->pt_pages;
    size_t h0 = history_len();
    struct pmap pm;
    cr_assert_eq(pmap_create(&pm, k, 99, 7), 0);
    cr_assert_eq(free_frames(), before - 1);
    cr_assert_eq(pl_kernel_stats(k)->pt_pages, pt + 1);
    cr_assert(pmap_kernel_half_intact(&pm));
    cr_assert(meta(pm.root)->flags & PL_FRAME_PT);
    for (unsigned i = 0; i < 256; i++)
        cr_assert_eq(pl_physmem_read64(k->mem, pm.root + 8 * i), 0, "user slot %u", i);
    for (unsigned i = 256; i < 512; i++)
        cr_assert_eq(pl_physmem_read64(k->mem, pm.root + 8 * i), k->kernel_half[i - 256]);
    cr_assert_eq(history_len(), h0 + 256);
    for (unsigned i = 0; i < 256; i++) {
        const struct pl_pte_write *w = history_at(h0 + i);
        cr_assert_eq(w->why, PL_WHY_KERNEL_HALF);
        cr_assert_eq(w->pid, 99);
        cr_assert_eq(w->level, 4);
        cr_assert_eq(w->entry_pa, pm.root + 8 * (256 + i));
        cr_assert_eq(w->old, 0);
        cr_assert_eq(w->va >> 47, 0x1FFFF, "a kernel-half address");
    }
    cr_assert_eq(pm.pt_pages, 0);
    cr_assert_eq(pm.resident, 0);
    pmap_destroy(&pm);
    cr_assert_eq(free_frames(), before);
    cr_assert_eq(pl_kernel_stats(k)->pt_pages, pt);
}

Test(pmap, enter_builds_tables_and_takes_a_reference)
{
    struct pmap pm;
    cr_assert_eq(pmap_create(&pm, k, 99, 0), 0);
    uint64_t pa = user_frame();
    size_t h0 = history_len();
    uint64_t writes = pl_kernel_stats(k)->pte_writes;
    cr_assert_eq(pmap_enter(&pm, X, pa, RW, PL_WHY_ZERO_FILL), 0);
    cr_assert_eq(pm.pt_pages, 3);
    cr_assert_eq(pm.resident, 1);
    cr_assert_eq(meta(pa)->refcount, 2, "ours and the mapping's");
    cr_assert_eq(meta(pa)->mapcount, 1);
    cr_assert_eq(pl_kernel_stats(k)->pte_writes, writes + 4);
    cr_assert_eq(history_len(), h0 + 4);
    /* three table links, top down, then the leaf */
    uint64_t table = pm.root;
    for (int level = 4; level >= 1; level--) {
        const struct pl_pte_write *w = history_at(h0 + (size_t)(4 - level));
        cr_assert_eq(w->level, level);
        cr_assert_eq(w->pid, 99);
        cr_assert_eq(w->entry_pa, table + 8 * pte_index(X, level));
        cr_assert_eq(w->old, 0);
        cr_assert_eq(w->va, X & ~((UINT64_C(1) << pte_level_shift(level)) - 1));
        if (level > 1) {
            cr_assert_eq(w->why, PL_WHY_TABLE);
            cr_assert_eq(w->new & ~PTE_ADDR_MASK, PTE_P | PTE_RW | PTE_US, "links grant everything");
            table = w->new & PTE_ADDR_MASK;
            cr_assert(meta(table)->flags & PL_FRAME_PT);
            cr_assert_eq(meta(table)->refcount, 1);
        } else {
            cr_assert_eq(w->why, PL_WHY_ZERO_FILL);
            cr_assert_eq(w->new, pa | PTE_P | PTE_RW | PTE_US | PTE_XD);
        }
    }
    cr_assert_eq(leaf(&pm, X), pa | PTE_P | PTE_RW | PTE_US | PTE_XD);
    struct pmap_page pg;
    pmap_lookup(&pm, X, &pg);
    cr_assert(pg.mapped && pg.present);
    cr_assert_eq(pg.pa, pa);
    cr_assert_eq(pg.prot, RW);
    pmap_lookup(&pm, X + PG, &pg);
    cr_assert(!pg.mapped && !pg.present);
    pmap_lookup(&pm, Y, &pg);
    cr_assert(!pg.mapped);

    pmap_destroy(&pm);
    cr_assert_eq(meta(pa)->refcount, 1);
    cr_assert_eq(meta(pa)->mapcount, 0);
    cr_assert_eq(pl_frame_put(fa, pa), 0);
}

Test(pmap, leaf_encodings)
{
    struct pmap pm;
    cr_assert_eq(pmap_create(&pm, k, 99, 0), 0);
    uint64_t pa = user_frame();
    const struct {
        unsigned prot;
        uint64_t bits;
        unsigned decoded;
        bool present;
    } cases[] = {
        {RW, PTE_P | PTE_RW | PTE_US | PTE_XD, RW, true},
        {RO, PTE_P | PTE_US | PTE_XD, RO, true},
        {RX, PTE_P | PTE_US, RX, true},
        {RWX, PTE_P | PTE_RW | PTE_US, RWX, true},
        {PL_PROT_WRITE, PTE_P | PTE_RW | PTE_US | PTE_XD, RW, true},
        {PL_PROT_EXEC, PTE_P | PTE_US, RX, true},
        {PL_PROT_NONE, PTE_US | PTE_BIT(9), PL_PROT_NONE, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(pmap_enter(&pm, X, pa, cases[i].prot, PL_WHY_MPROTECT), 0);
        cr_assert_eq(leaf(&pm, X), pa | cases[i].bits, "prot %u: 0x%llx", cases[i].prot,
                     (unsigned long long)leaf(&pm, X));
        struct pmap_page pg;
        pmap_lookup(&pm, X, &pg);
        cr_assert(pg.mapped, "prot %u: the frame is kept", cases[i].prot);
        cr_assert_eq(pg.present, cases[i].present);
        cr_assert_eq(pg.pa, pa);
        cr_assert_eq(pg.prot, cases[i].decoded, "prot %u", cases[i].prot);
        cr_assert_eq(meta(pa)->refcount, 2, "re-entering the same frame takes no new reference");
        cr_assert_eq(meta(pa)->mapcount, 1);
        cr_assert_eq(pm.resident, 1);
    }
    pmap_destroy(&pm);
    cr_assert_eq(pl_frame_put(fa, pa), 0);
}

Test(pmap, enter_over_another_frame_releases_it)
{
    struct pl_proc *p = spawn_mapped(X, PG, RW);
    touch(p, X, PG);
    struct pmap *pm = &p->pmap;
    uint64_t old = leaf(pm, X) & PTE_ADDR_MASK;
    cr_assert(tlb_has(X, pm->pcid));
    uint64_t pa = user_frame();
    uint64_t before = flushes_pages();
    size_t h0 = history_len();
    cr_assert_eq(pmap_enter(pm, X, pa, RW, PL_WHY_COW_COPY), 0);
    cr_assert_eq(pl_frame_put(fa, pa), 0, "the mapping's reference remains");
    cr_assert_eq(flushes_pages(), before + 1, "a changed frame must be invalidated");
    cr_assert_not(tlb_has(X, pm->pcid));
    cr_assert_eq(meta(old)->flags & PL_FRAME_FREE, PL_FRAME_FREE, "the old frame had one user: freed");
    cr_assert_eq(pm->resident, 1);
    cr_assert_eq(history_len(), h0 + 1);
    const struct pl_pte_write *w = history_at(h0);
    cr_assert_eq(w->old & PTE_ADDR_MASK, old);
    cr_assert_eq(w->new, pa | PTE_P | PTE_RW | PTE_US | PTE_XD);
    cr_assert_eq(w->why, PL_WHY_COW_COPY);
    cr_assert_eq(w->pid, pl_proc_pid(p));
    assert_consistent();
}

Test(pmap, new_entries_and_added_rights_need_no_invalidation)
{
    struct pl_proc *p = spawn_mapped(X, 4 * PG, RW);
    struct pmap *pm = &p->pmap;
    uint64_t pages = flushes_pages(), full = flushes_full();
    touch(p, X, 4 * PG); /* four zero-fills: new entries */
    cr_assert_eq(flushes_pages(), pages);
    pmap_protect(pm, X, X + 4 * PG, RO, false, PL_WHY_MPROTECT);
    cr_assert_eq(flushes_pages(), pages + 4, "lowered rights: one invalidation per page");
    for (int i = 0; i < 4; i++)
        cr_assert_not(tlb_has(X + (uint64_t)i * PG, pm->pcid));
    char c;
    cr_assert_eq(pl_proc_read(p, X, &c, 1), 0);
    cr_assert(tlb_has(X, pm->pcid));
    pages = flushes_pages();
    pmap_protect(pm, X, X + 4 * PG, RW, true, PL_WHY_MPROTECT);
    cr_assert_eq(flushes_pages(), pages, "added rights: none");
    cr_assert(tlb_has(X, pm->pcid), "the stale, stricter entry may stay");
    cr_assert_eq(flushes_full(), full);
    assert_consistent();
}

Test(pmap, protect_without_grant_write_keeps_read_only_entries)
{
    struct pl_proc *p = spawn_mapped(X, 2 * PG, RW);
    struct pmap *pm = &p->pmap;
    touch(p, X, 2 * PG);
    pmap_protect(pm, X + PG, X + 2 * PG, RO, false, PL_WHY_MPROTECT);
    uint64_t a = leaf(pm, X), b = leaf(pm, X + PG);
    cr_assert(a & PTE_A && a & PTE_D, "the hardware set A and D");
    size_t h0 = history_len();
    pmap_protect(pm, X, X + 2 * PG, RW, false, PL_WHY_MPROTECT);
    cr_assert_eq(history_len(), h0, "nothing to change: no write");
    cr_assert_eq(leaf(pm, X), a, "still writable, A and D kept");
    cr_assert_eq(leaf(pm, X + PG), b, "read-only stays read-only without grant_write");
    pmap_protect(pm, X, X + 2 * PG, RWX, false, PL_WHY_MPROTECT);
    cr_assert_eq(leaf(pm, X), a & ~PTE_XD);
    cr_assert_eq(leaf(pm, X + PG), b & ~PTE_XD);
    cr_assert_eq(history_len(), h0 + 2);
    pmap_protect(pm, X, X + 2 * PG, RW, true, PL_WHY_MPROTECT);
    cr_assert_eq(leaf(pm, X + PG), b | PTE_RW);
    assert_consistent();
}

Test(pmap, protect_none_keeps_the_frame_and_invalidates)
{
    struct pl_proc *p = spawn_mapped(X, PG, RW);
    struct pmap *pm = &p->pmap;
    touch(p, X, PG);
    uint64_t pa = leaf(pm, X) & PTE_ADDR_MASK;
    uint64_t pages = flushes_pages();
    pmap_protect(pm, X, X + PG, PL_PROT_NONE, false, PL_WHY_MPROTECT);
    cr_assert_eq(flushes_pages(), pages + 1);
    cr_assert_not(tlb_has(X, pm->pcid));
    uint64_t e = leaf(pm, X);
    cr_assert_eq(e & PTE_P, 0);
    cr_assert_eq(e & PTE_ADDR_MASK, pa);
    cr_assert_eq(pm->resident, 1);
    cr_assert_eq(meta(pa)->mapcount, 1);
    /* the region is still RW: give the entry back its rights before the check */
    pmap_protect(pm, X, X + PG, RW, false, PL_WHY_MPROTECT);
    cr_assert_eq(leaf(pm, X) & (PTE_P | PTE_RW), PTE_P, "write access comes from the fault");
    assert_consistent();
}

Test(pmap, remove_frees_tables_that_became_empty)
{
    struct pl_proc *p = spawn_mapped(X, 2 * PG, RW);
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(p, X + TWO_MB, PG, RW, ANON | PL_MAP_FIXED, NULL, 0, &a), 0);
    struct pmap *pm = &p->pmap;
    uint64_t before = free_frames();
    touch(p, X, 2 * PG);
    touch(p, X + TWO_MB, PG);
    cr_assert_eq(pm->pt_pages, 4, "PDPT, PD and two PTs");
    cr_assert_eq(free_frames(), before - 3 - 4);
    uint64_t pt1 = entry_at(pm->root, X, 2) & PTE_ADDR_MASK;

    pmap_remove(pm, X, X + PG, PL_WHY_MUNMAP);
    cr_assert_eq(pm->pt_pages, 4, "the PT still maps X + 1 page");
    cr_assert_eq(pm->resident, 2);
    cr_assert_eq(leaf(pm, X), 0);
    size_t h0 = history_len();
    pmap_remove(pm, X + PG, X + 2 * PG, PL_WHY_MUNMAP);
    cr_assert_eq(pm->pt_pages, 3);
    cr_assert_eq(entry_at(pm->root, X, 2), 0, "the PD entry is cleared");
    cr_assert(meta(pt1)->flags & PL_FRAME_FREE, "and the PT freed");
    cr_assert_eq(history_len(), h0 + 2);
    cr_assert_eq(history_at(h0)->why, PL_WHY_MUNMAP);
    cr_assert_eq(history_at(h0)->level, 1);
    cr_assert_eq(history_at(h0 + 1)->why, PL_WHY_TABLE_FREE);
    cr_assert_eq(history_at(h0 + 1)->level, 2);
    cr_assert_eq(history_at(h0 + 1)->old & PTE_ADDR_MASK, pt1);
    cr_assert_eq(history_at(h0 + 1)->new, 0);

    h0 = history_len();
    pmap_remove(pm, X, X + 2 * TWO_MB, PL_WHY_MUNMAP);
    cr_assert_eq(pm->pt_pages, 0);
    cr_assert_eq(pm->resident, 0);
    cr_assert_eq(history_len(), h0 + 4, "a leaf, then PT, PD and PDPT unlinked");
    for (int level = 1; level <= 4; level++)
        cr_assert_eq(history_at(h0 + (size_t)level - 1)->level, level);
    for (unsigned i = 0; i < 256; i++)
        cr_assert_eq(pl_physmem_read64(k->mem, pm->root + 8 * i), 0);
    cr_assert_eq(free_frames(), before, "pages and tables back");
    assert_consistent();
}

Test(pmap, removal_invalidates_the_page_and_the_walk_caches)
{
    struct pl_proc *p = spawn_mapped(X, 2 * PG, RW);
    struct pmap *pm = &p->pmap;
    touch(p, X, 2 * PG);
    struct pl_tlb *t = pl_cpu_tlb(kcpu(k));
    cr_assert(pl_tlb_psc_probe(t, 2, X, pm->pcid, NULL, NULL), "the walk cached the PDE");
    uint64_t pages = flushes_pages();
    pmap_remove(pm, X, X + PG, PL_WHY_MUNMAP);
    cr_assert_eq(flushes_pages(), pages + 1, "one page, its PT kept: one invalidation");
    cr_assert_not(tlb_has(X, pm->pcid));
    cr_assert(tlb_has(X + PG, pm->pcid), "INVLPG is for one page");
    pmap_remove(pm, X + PG, X + 2 * PG, PL_WHY_MUNMAP);
    cr_assert_not(tlb_has(X + PG, pm->pcid));
    cr_assert_gt(flushes_pages(), pages + 1);
    for (unsigned level = 2; level <= 4; level++)
        cr_assert_not(pl_tlb_psc_probe(t, level, X, pm->pcid, NULL, NULL),
                      "no cached entry may lead to a freed table (level %u)", level);
    assert_consistent();
}

Test(pmap, many_pages_flush_the_address_space_once)
{
    struct pl_proc *p = spawn_mapped(X, 80 * PG, RW);
    struct pmap *pm = &p->pmap;
    touch(p, X, 80 * PG);
    uint64_t pages = flushes_pages(), full = flushes_full();
    /* 33 pages: one by one (Linux's ceiling) */
    pmap_remove(pm, X, X + 33 * PG, PL_WHY_MUNMAP);
    cr_assert_eq(flushes_pages(), pages + 33);
    cr_assert_eq(flushes_full(), full);
    /* 34: the whole PCID at once */
    pages = flushes_pages();
    const struct pl_tlb_stats *ts = pl_tlb_stats(pl_cpu_tlb(kcpu(k)));
    uint64_t ctx = ts->inval[PL_INV_INVPCID_CONTEXT];
    pmap_remove(pm, X + 33 * PG, X + 67 * PG, PL_WHY_MUNMAP);
    cr_assert_eq(flushes_pages(), pages);
    cr_assert_eq(flushes_full(), full + 1);
    cr_assert_eq(ts->inval[PL_INV_INVPCID_CONTEXT], ctx + 1);
    cr_assert_not(tlb_has(X + 66 * PG, pm->pcid));
    cr_assert_not(tlb_has(X + 67 * PG, pm->pcid), "a whole-PCID flush takes the rest too");
    assert_consistent();
}

/* With PCIDs a process that is not loaded keeps TLB entries under its PCID:
 * they are invalidated by INVPCID type 0. */
Test(pmap, unloaded_address_space_with_pcids)
{
    struct pl_proc *a = spawn_mapped(X, PG, RW);
    touch(a, X, PG);
    uint16_t pcid_a = a->pmap.pcid;
    cr_assert_neq(pcid_a, 0);
    struct pl_proc *b = spawn_mapped(X, PG, RW);
    touch(b, X, PG);
    cr_assert_eq(k->this->mm, &b->pmap);
    cr_assert(tlb_has(X, pcid_a), "A's entry outlived the switch");
    const struct pl_tlb_stats *ts = pl_tlb_stats(pl_cpu_tlb(kcpu(k)));
    uint64_t inv0 = ts->inval[PL_INV_INVPCID_ADDR], invlpg = ts->inval[PL_INV_INVLPG];
    uint64_t pages = flushes_pages();
    pmap_protect(&a->pmap, X, X + PG, RO, false, PL_WHY_MPROTECT);
    cr_assert_eq(flushes_pages(), pages + 1);
    cr_assert_eq(ts->inval[PL_INV_INVPCID_ADDR], inv0 + 1);
    cr_assert_eq(ts->inval[PL_INV_INVLPG], invlpg);
    cr_assert_not(tlb_has(X, pcid_a));
    cr_assert(tlb_has(X, b->pmap.pcid), "B's entry is not touched");
    assert_consistent();
}

/* Without PCIDs an address space that is not loaded has nothing in the TLB:
 * no invalidation is needed, and none is issued. */
Test(pmap_machine, unloaded_address_space_without_pcids)
{
    boot_pcid(false, NULL);
    struct pl_proc *a = spawn_mapped(X, PG, RW);
    touch(a, X, PG);
    struct pl_proc *b = spawn_mapped(X, PG, RW);
    touch(b, X, PG);
    cr_assert_eq(a->pmap.pcid, 0);
    struct pl_tlb_entry e;
    cr_assert(pl_tlb_probe(pl_cpu_tlb(kcpu(k)), PL_TLB_L1D, X, 0, &e));
    cr_assert_eq(e.frame, leaf(&b->pmap, X) & PTE_ADDR_MASK, "only B's translation is cached");
    uint64_t pages = flushes_pages(), full = flushes_full();
    pmap_protect(&a->pmap, X, X + PG, RO, false, PL_WHY_MPROTECT);
    pmap_remove(&a->pmap, X, X + PG, PL_WHY_MUNMAP);
    cr_assert_eq(flushes_pages(), pages);
    cr_assert_eq(flushes_full(), full);
    cr_assert(pl_tlb_probe(pl_cpu_tlb(kcpu(k)), PL_TLB_L1D, X, 0, &e), "B's entry stays");
    /* a removal in the loaded one is invalidated with INVLPG */
    uint64_t invlpg = pl_tlb_stats(pl_cpu_tlb(kcpu(k)))->inval[PL_INV_INVLPG];
    pmap_remove(&b->pmap, X, X + PG, PL_WHY_MUNMAP);
    cr_assert_gt(flushes_pages(), pages);
    cr_assert_gt(pl_tlb_stats(pl_cpu_tlb(kcpu(k)))->inval[PL_INV_INVLPG], invlpg);
    cr_assert_not(tlb_has(X, 0));
    assert_consistent();
}

Test(pmap, fork_copy_of_private_and_shared_ranges)
{
    struct pmap src, dst;
    cr_assert_eq(pmap_create(&src, k, 98, 0), 0);
    cr_assert_eq(pmap_create(&dst, k, 99, 0), 0);
    uint64_t p0 = user_frame(), p1 = user_frame(), p2 = user_frame(), s0 = user_frame(), n0 = user_frame();
    cr_assert_eq(pmap_enter(&src, X, p0, RW, PL_WHY_ZERO_FILL), 0);
    cr_assert_eq(pmap_enter(&src, X + PG, p1, RO, PL_WHY_ZERO_FILL), 0);
    cr_assert_eq(pmap_enter(&src, X + 3 * PG, p2, RWX, PL_WHY_ZERO_FILL), 0);
    cr_assert_eq(pmap_enter(&src, X + 4 * PG, n0, PL_PROT_NONE, PL_WHY_MPROTECT), 0);
    cr_assert_eq(pmap_enter(&src, Y, s0, RW, PL_WHY_SHARED_PAGE), 0);
    size_t h0 = history_len();

    cr_assert_eq(pmap_fork_copy(&dst, &src, X, X + 8 * PG, false), 0);
    cr_assert_eq(dst.resident, 4);
    cr_assert_eq(dst.pt_pages, 3);
    cr_assert_eq(leaf(&src, X), p0 | PTE_P | PTE_US | PTE_XD, "made read-only");
    cr_assert_eq(leaf(&dst, X), p0 | PTE_P | PTE_US | PTE_XD);
    cr_assert_eq(leaf(&src, X + PG), p1 | PTE_P | PTE_US | PTE_XD, "already read-only");
    cr_assert_eq(leaf(&dst, X + PG), p1 | PTE_P | PTE_US | PTE_XD);
    cr_assert_eq(leaf(&dst, X + 2 * PG), 0);
    cr_assert_eq(leaf(&dst, X + 3 * PG), p2 | PTE_P | PTE_US, "executable, read-only");
    cr_assert_eq(leaf(&dst, X + 4 * PG), leaf(&src, X + 4 * PG), "PROT_NONE keeps its frame");
    for (uint64_t pa = p0; pa <= n0; pa += PG) {
        if (pa == s0)
            continue;
        cr_assert_eq(meta(pa)->refcount, 3, "ours and two mappings");
        cr_assert_eq(meta(pa)->mapcount, 2);
    }
    unsigned protects = 0, copies = 0, tables = 0;
    for (size_t i = h0; i < history_len(); i++) {
        const struct pl_pte_write *w = history_at(i);
        if (w->why == PL_WHY_FORK_PROTECT) {
            cr_assert_eq(w->pid, 98);
            cr_assert(w->va == X || w->va == X + 3 * PG, "only writable entries: 0x%llx", (unsigned long long)w->va);
            protects++;
        } else if (w->why == PL_WHY_FORK_COPY) {
            cr_assert_eq(w->pid, 99);
            copies++;
        } else {
            cr_assert_eq(w->why, PL_WHY_TABLE);
            tables++;
        }
    }
    cr_assert_eq(protects, 2);
    cr_assert_eq(copies, 4);
    cr_assert_eq(tables, 3);

    h0 = history_len();
    cr_assert_eq(pmap_fork_copy(&dst, &src, Y, Y + PG, true), 0);
    cr_assert_eq(leaf(&src, Y), s0 | PTE_P | PTE_RW | PTE_US | PTE_XD, "shared: rights kept");
    cr_assert_eq(leaf(&dst, Y), s0 | PTE_P | PTE_RW | PTE_US | PTE_XD);
    for (size_t i = h0; i < history_len(); i++)
        cr_assert_neq(history_at(i)->why, PL_WHY_FORK_PROTECT);
    cr_assert_eq(dst.resident, 5);
    cr_assert_eq(dst.pt_pages, 6);

    pmap_destroy(&dst);
    pmap_destroy(&src);
    for (uint64_t pa = p0; pa <= n0; pa += PG) {
        cr_assert_eq(meta(pa)->refcount, 1);
        cr_assert_eq(meta(pa)->mapcount, 0);
        cr_assert_eq(pl_frame_put(fa, pa), 0);
    }
}

/* 512 frames of an order-9 block, each a block of its own with our one
 * reference (what the fault path hands pmap_enter_huge). */
static uint64_t huge_frames(void)
{
    uint64_t pa;
    cr_assert_eq(pl_frame_alloc(fa, PMAP_HUGE_ORDER, PL_FRAME_USER, &pa), 0);
    cr_assert_eq(pl_frame_split(fa, pa), 0);
    return pa;
}

/* Maps a 2M leaf of new frames at va in pm; returns its first frame. */
static uint64_t map_huge(struct pmap *pm, uint64_t va, unsigned prot, unsigned pkey)
{
    uint64_t pa = huge_frames();
    cr_assert_eq(pmap_enter_huge(pm, va, pa, prot, pkey, PL_WHY_ZERO_FILL), 0);
    return pa;
}

/* Drops our references on the 512 frames from pa (they are unmapped). */
static void put_huge_frames(uint64_t pa)
{
    for (unsigned i = 0; i < PMAP_HUGE_FRAMES; i++) {
        cr_assert_eq(meta(pa + i * PG)->mapcount, 0);
        cr_assert_eq(pl_frame_put(fa, pa + i * PG), 0);
    }
}

Test(pmap, enter_huge_maps_512_frames_with_one_pde)
{
    struct pmap pm;
    cr_assert_eq(pmap_create(&pm, k, 99, 7), 0);
    uint64_t pa = huge_frames();
    cr_assert(pmap_huge_room(&pm, X));
    size_t h0 = history_len();
    cr_assert_eq(pmap_enter_huge(&pm, X, pa, RW, 3, PL_WHY_ZERO_FILL), 0);
    cr_assert_eq(pm.pt_pages, 2, "a PDPT and a PD, no page table");
    cr_assert_eq(pm.resident, 512);
    uint64_t key3 = UINT64_C(3) << PTE_PKEY_SHIFT;
    cr_assert_eq(entry_at(pm.root, X, 2), pa | PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_XD | key3);
    const struct pl_pte_write *w = history_at(history_len() - 1);
    cr_assert_eq(history_len(), h0 + 3);
    cr_assert_eq(w->level, 2);
    cr_assert_eq(w->va, X);
    for (unsigned i = 0; i < 512; i++) {
        cr_assert_eq(meta(pa + i * PG)->refcount, 2, "ours and the leaf's");
        cr_assert_eq(meta(pa + i * PG)->mapcount, 1);
    }
    struct pmap_page pg;
    pmap_lookup(&pm, X + 5 * PG + 7, &pg);
    cr_assert(pg.mapped && pg.present && pg.huge);
    cr_assert_eq(pg.pa, pa + 5 * PG, "the 4 KiB piece");
    cr_assert_eq(pg.prot, RW);
    cr_assert_eq(pg.pkey, 3);
    pmap_decode(entry_at(pm.root, X, 2), 2, &pg);
    cr_assert_eq(pg.pa, pa);
    cr_assert_not(pmap_huge_room(&pm, X + 0x1FF000));
    cr_assert(pmap_huge_room(&pm, X + TWO_MB), "the next PD entry is empty");
    uint64_t f = user_frame();
    cr_assert_eq(pmap_enter(&pm, X + TWO_MB + PG, f, RW, PL_WHY_ZERO_FILL), 0);
    cr_assert_not(pmap_huge_room(&pm, X + TWO_MB), "a page table is there now");

    /* read-only, then writable again with A and D kept: no invalidation */
    pl_physmem_write64(k->mem, w->entry_pa, entry_at(pm.root, X, 2) | PTE_A | PTE_D);
    pmap_protect(&pm, X, X + TWO_MB, RO, false, PL_WHY_MPROTECT);
    uint64_t pages = flushes_pages();
    cr_assert_eq(pmap_enter_huge(&pm, X, pa, RW, 3, PL_WHY_COW_REUSE), 0);
    cr_assert_eq(entry_at(pm.root, X, 2), pa | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D | PTE_PS | PTE_XD | key3);
    cr_assert_eq(flushes_pages(), pages);
    cr_assert_eq(meta(pa)->refcount, 2, "the same frames: no new reference");
    cr_assert_eq(pm.resident, 513);

    pmap_destroy(&pm);
    put_huge_frames(pa);
    cr_assert_eq(pl_frame_put(fa, f), 0);
}

Test(pmap, split_keeps_frames_rights_key_ad_and_memory_type)
{
    struct pmap pm;
    cr_assert_eq(pmap_create(&pm, k, 99, 7), 0);
    uint64_t pa = map_huge(&pm, X, RX, 5);
    /* A, D, and PAT index 5 (the 2M leaf's PAT is bit 12, PWT bit 3) */
    uint64_t pde_pa = history_at(history_len() - 1)->entry_pa;
    uint64_t huge = entry_at(pm.root, X, 2) | PTE_A | PTE_D | PTE_PATLG | PTE_PWT;
    pl_physmem_write64(k->mem, pde_pa, huge);
    unsigned memtype = pmap_leaf_memtype(k, huge, 2);
    cr_assert_eq(memtype, PL_MT_WP);
    size_t h0 = history_len();
    uint64_t pages = flushes_pages(), free0 = free_frames();
    cr_assert_eq(pmap_split(&pm, X + 0x12345), 0);
    cr_assert_eq(free_frames(), free0 - 1, "one page table");
    cr_assert_eq(pm.pt_pages, 3);
    cr_assert_eq(pm.resident, 512);
    cr_assert_eq(pl_kernel_stats(k)->thp_split, 1);
    cr_assert_eq(flushes_pages(), pages + 1, "the change of page size is invalidated");
    /* the 512 PTEs of the new table; the PDE loses P (then the
     * invalidation); the PDE links the table */
    cr_assert_eq(history_len(), h0 + 514);
    uint64_t pde = entry_at(pm.root, X, 2), pt = pde & PTE_ADDR_MASK;
    cr_assert_eq(pde, pt | PTE_P | PTE_RW | PTE_US);
    cr_assert(meta(pt)->flags & PL_FRAME_PT);
    const struct pl_pte_write *clear = history_at(h0 + 512), *link = history_at(h0 + 513);
    cr_assert_eq(clear->why, PL_WHY_SPLIT);
    cr_assert_eq(clear->old, huge);
    cr_assert_eq(clear->new, huge & ~PTE_P);
    cr_assert_eq(link->why, PL_WHY_SPLIT);
    cr_assert_eq(link->old, huge & ~PTE_P);
    cr_assert_eq(link->new, pde);
    cr_assert_eq(link->entry_pa, pde_pa);
    uint64_t bits = PTE_P | PTE_US | PTE_A | PTE_D | PTE_PAT4K | PTE_PWT | (UINT64_C(5) << PTE_PKEY_SHIFT);
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = leaf(&pm, X + i * PG);
        cr_assert_eq(e, (pa + i * PG) | bits, "page %u: 0x%llx", i, (unsigned long long)e);
        cr_assert_eq(pmap_leaf_memtype(k, e, 1), memtype);
        cr_assert_eq(history_at(h0 + i)->why, PL_WHY_SPLIT);
        cr_assert_eq(meta(pa + i * PG)->mapcount, 1, "the leaf's map count moved to its 4K leaf");
        cr_assert_eq(meta(pa + i * PG)->refcount, 2);
    }
    cr_assert_eq(pmap_split(&pm, X), 0, "nothing left to split");
    cr_assert_eq(history_len(), h0 + 514);
    pmap_destroy(&pm);
    put_huge_frames(pa);
}

Test(pmap, split_of_a_prot_none_leaf_needs_no_invalidation)
{
    struct pmap pm;
    cr_assert_eq(pmap_create(&pm, k, 99, 7), 0);
    uint64_t pa = map_huge(&pm, X, PL_PROT_NONE, 0);
    struct pmap_page pg;
    pmap_lookup(&pm, X + PG, &pg);
    cr_assert(pg.mapped && pg.huge && !pg.present);
    cr_assert_eq(pg.pa, pa + PG);
    uint64_t pages = flushes_pages();
    size_t h0 = history_len();
    cr_assert_eq(pmap_split(&pm, X), 0);
    cr_assert_eq(flushes_pages(), pages);
    cr_assert_eq(history_len(), h0 + 513, "no P to clear first");
    pmap_lookup(&pm, X + PG, &pg);
    cr_assert(pg.mapped && !pg.huge && !pg.present);
    cr_assert_eq(pg.pa, pa + PG);
    pmap_destroy(&pm);
    put_huge_frames(pa);
}

Test(pmap, split_edges_splits_only_the_leaves_a_range_cuts)
{
    struct pmap pm;
    cr_assert_eq(pmap_create(&pm, k, 99, 7), 0);
    uint64_t a = map_huge(&pm, X, RW, 0), b = map_huge(&pm, X + TWO_MB, RW, 0);
    cr_assert_eq(pmap_split_edges(&pm, X, X + 2 * TWO_MB), 0);
    cr_assert_eq(pl_kernel_stats(k)->thp_split, 0, "both covered whole");
    cr_assert_eq(pmap_split_edges(&pm, X + TWO_MB, X + TWO_MB + PG), 0);
    cr_assert_eq(pl_kernel_stats(k)->thp_split, 1);
    struct pmap_page pg;
    pmap_lookup(&pm, X, &pg);
    cr_assert(pg.huge, "the first is untouched");
    pmap_lookup(&pm, X + TWO_MB, &pg);
    cr_assert_not(pg.huge);
    cr_assert_eq(pmap_split_edges(&pm, X + PG, X + TWO_MB), 0);
    cr_assert_eq(pl_kernel_stats(k)->thp_split, 2);
    pmap_lookup(&pm, X, &pg);
    cr_assert_not(pg.huge);
    pmap_destroy(&pm);
    put_huge_frames(a);
    put_huge_frames(b);
}

Test(pmap, range_operations_act_on_a_whole_2m_leaf)
{
    struct pmap pm;
    cr_assert_eq(pmap_create(&pm, k, 99, 7), 0);
    uint64_t pa = map_huge(&pm, X, RW, 0);
    uint64_t pages = flushes_pages();
    pmap_protect(&pm, X, X + TWO_MB, RO, false, PL_WHY_MPROTECT);
    cr_assert_eq(entry_at(pm.root, X, 2), pa | PTE_P | PTE_US | PTE_PS | PTE_XD);
    cr_assert_eq(flushes_pages(), pages + 1);
    pmap_protect(&pm, X, X + TWO_MB, PL_PROT_NONE, false, PL_WHY_MPROTECT);
    cr_assert_eq(entry_at(pm.root, X, 2), pa | PTE_US | PTE_PS | PTE_BIT(9), "not present, the frames kept");
    cr_assert_eq(flushes_pages(), pages + 2);
    pmap_protect(&pm, X, X + TWO_MB, RW, true, PL_WHY_MPROTECT);
    cr_assert_eq(entry_at(pm.root, X, 2), pa | PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_XD);
    cr_assert_eq(pl_kernel_stats(k)->thp_split, 0);
    pmap_remove(&pm, X, X + TWO_MB, PL_WHY_MUNMAP);
    cr_assert_eq(flushes_pages(), pages + 3, "one invalidation for the 2 MiB");
    cr_assert_eq(pm.resident, 0);
    cr_assert_eq(pm.pt_pages, 0, "the emptied tables are freed");
    put_huge_frames(pa);
    pmap_destroy(&pm);
}

Test(pmap, fork_copy_copies_a_2m_leaf_read_only)
{
    struct pmap src, dst;
    cr_assert_eq(pmap_create(&src, k, 98, 0), 0);
    cr_assert_eq(pmap_create(&dst, k, 99, 0), 0);
    uint64_t pa = map_huge(&src, X, RW, 0);
    uint64_t pde_pa = history_at(history_len() - 1)->entry_pa;
    pl_physmem_write64(k->mem, pde_pa, entry_at(src.root, X, 2) | PTE_A | PTE_D);
    cr_assert_eq(pmap_fork_copy(&dst, &src, X, X + TWO_MB, false), 0);
    cr_assert_eq(entry_at(src.root, X, 2), pa | PTE_P | PTE_US | PTE_A | PTE_D | PTE_PS | PTE_XD);
    cr_assert_eq(entry_at(dst.root, X, 2), pa | PTE_P | PTE_US | PTE_D | PTE_PS | PTE_XD, "not used by the child yet");
    cr_assert_eq(dst.resident, 512);
    cr_assert_eq(dst.pt_pages, 2);
    for (unsigned i = 0; i < 512; i++) {
        cr_assert_eq(meta(pa + i * PG)->refcount, 3, "ours and two leaves");
        cr_assert_eq(meta(pa + i * PG)->mapcount, 2);
    }
    pmap_destroy(&dst);
    pmap_destroy(&src);
    put_huge_frames(pa);
}

Test(pmap, fork_copy_clears_the_accessed_bit_of_the_copy)
{
    struct pl_proc *p = spawn_mapped(X, PG, RW);
    touch(p, X, PG);
    cr_assert(leaf(&p->pmap, X) & PTE_A);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    cr_assert_eq(leaf(&c->pmap, X) & PTE_A, 0);
    cr_assert(leaf(&p->pmap, X) & PTE_A, "the parent's A bit is its history");
    assert_consistent();
}

Test(pmap, fork_copy_under_allocation_failure_leaks_nothing)
{
    struct pmap src;
    cr_assert_eq(pmap_create(&src, k, 98, 0), 0);
    uint64_t pa = user_frame(), pb = user_frame();
    cr_assert_eq(pmap_enter(&src, X, pa, RW, PL_WHY_ZERO_FILL), 0);
    cr_assert_eq(pmap_enter(&src, Y, pb, RW, PL_WHY_ZERO_FILL), 0);
    uint64_t before = free_frames();
    for (uint64_t n = 1; n <= 6; n++) {
        struct pmap dst;
        cr_assert_eq(pmap_create(&dst, k, 99, 0), 0);
        pl_frame_fail_after(fa, n);
        int rc = pmap_fork_copy(&dst, &src, 0, k->user_top, false);
        pl_frame_fail_after(fa, 0);
        cr_assert_eq(rc, n <= 6 ? PL_ENOMEM : 0, "allocation %llu", (unsigned long long)n);
        cr_assert_eq(dst.pt_pages, n - 1, "tables made before the failure stay, accounted");
        pmap_destroy(&dst);
        cr_assert_eq(free_frames(), before, "allocation %llu", (unsigned long long)n);
        cr_assert_eq(meta(pa)->mapcount, 1);
        cr_assert_eq(meta(pa)->refcount, 2);
        cr_assert_eq(meta(pb)->refcount, 2);
    }
    struct pmap dst;
    cr_assert_eq(pmap_create(&dst, k, 99, 0), 0);
    cr_assert_eq(pmap_fork_copy(&dst, &src, 0, k->user_top, false), 0);
    cr_assert_eq(dst.pt_pages, 6);
    cr_assert_eq(dst.resident, 2);
    pmap_destroy(&dst);
    pmap_destroy(&src);
    cr_assert_eq(pl_frame_put(fa, pa), 0);
    cr_assert_eq(pl_frame_put(fa, pb), 0);
}

/* pmap.h: "PL_ENOMEM when a table could not be allocated (nothing
 * changed)". The tables linked before the failing one stay (empty,
 * accounted, freed by a later remove or destroy); the leaf and the frame's
 * counts are untouched. */
Test(pmap, enter_under_allocation_failure)
{
    uint64_t before = free_frames();
    uint64_t pa = user_frame();
    for (uint64_t n = 1; n <= 3; n++) {
        struct pmap pm;
        cr_assert_eq(pmap_create(&pm, k, 99, 0), 0);
        pl_frame_fail_after(fa, n);
        cr_assert_eq(pmap_enter(&pm, X, pa, RW, PL_WHY_ZERO_FILL), PL_ENOMEM, "allocation %llu",
                     (unsigned long long)n);
        pl_frame_fail_after(fa, 0);
        struct pmap_page pg;
        pmap_lookup(&pm, X, &pg);
        cr_assert_not(pg.mapped);
        cr_assert_eq(pm.resident, 0);
        cr_assert_eq(pm.pt_pages, n - 1);
        cr_assert_eq(meta(pa)->refcount, 1, "no reference taken");
        cr_assert_eq(meta(pa)->mapcount, 0);
        /* a retry completes the path */
        cr_assert_eq(pmap_enter(&pm, X, pa, RW, PL_WHY_ZERO_FILL), 0);
        cr_assert_eq(pm.pt_pages, 3);
        pmap_destroy(&pm);
    }
    cr_assert_eq(pl_frame_put(fa, pa), 0);
    cr_assert_eq(free_frames(), before);
}

struct visits {
    unsigned leaves, tables, by_level[5];
    uint64_t va[8];
};

static void visit_leaf(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct visits *v = ctx;
    cr_assert_eq(level, 1);
    cr_assert_eq(pl_physmem_read64(k->mem, entry_pa), entry, "entry_pa holds the entry");
    cr_assert_lt(v->leaves, 8);
    v->va[v->leaves++] = va;
}

static void visit_table(void *ctx, uint64_t table_pa, int level)
{
    struct visits *v = ctx;
    cr_assert(meta(table_pa)->flags & PL_FRAME_PT);
    cr_assert(level >= 1 && level <= 3);
    v->tables++;
    v->by_level[level]++;
}

Test(pmap, foreach_visits_leaves_and_tables_in_order)
{
    struct pl_proc *p = spawn_mapped(Y, PG, RO);
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(p, X, 3 * PG, RW, ANON | PL_MAP_FIXED, NULL, 0, &a), 0);
    char c;
    cr_assert_eq(pl_proc_read(p, Y, &c, 1), 0);
    touch(p, X + 2 * PG, PG);
    touch(p, X, PG);
    struct visits v = {0};
    pmap_foreach(&p->pmap, visit_leaf, &v);
    pmap_foreach_table(&p->pmap, visit_table, &v);
    cr_assert_eq(v.leaves, 3);
    cr_assert_eq(v.va[0], X);
    cr_assert_eq(v.va[1], X + 2 * PG);
    cr_assert_eq(v.va[2], Y);
    cr_assert_eq(v.tables, 6);
    cr_assert_eq(v.tables, p->pmap.pt_pages);
    cr_assert_eq(v.by_level[3], 2, "two PDPTs");
    cr_assert_eq(v.by_level[2], 2);
    cr_assert_eq(v.by_level[1], 2);
    assert_consistent();
}

/* Every recorded write continues the previous one of the same entry: the
 * history of an entry is complete (but for the A and D bits, which the
 * hardware sets). Sequence numbers count every write. */
static void check_history_chain(void)
{
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    cr_assert_gt(n, 0);
    cr_assert_eq(h[n - 1].seq, pl_kernel_stats(k)->pte_writes, "one record per write");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            cr_assert_eq(h[i].seq, h[i - 1].seq + 1);
        cr_assert_lt(h[i].why, PL_WHY_COUNT);
        cr_assert(h[i].level >= 1 && h[i].level <= 4);
        /* the last earlier write of the same entry */
        for (size_t j = i; j-- > 0;)
            if (h[j].entry_pa == h[i].entry_pa) {
                uint64_t ad = PTE_A | PTE_D;
                if (h[j].level == h[i].level && h[j].pid == h[i].pid)
                    cr_assert_eq(h[i].old & ~ad, h[j].new & ~ad, "record %zu (%s) does not follow record %zu (%s)",
                                 i, pl_why_name(h[i].why), j, pl_why_name(h[j].why));
                break;
            }
    }
}

Test(pmap, history_of_every_entry_is_a_chain)
{
    struct pl_proc *p = spawn_mapped(X, 8 * PG, RW);
    touch(p, X, 8 * PG);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    touch(c, X, 4 * PG);
    touch(p, X + 2 * PG, 4 * PG);
    cr_assert_eq(pl_sys_mprotect(p, X, 8 * PG, RO), 0);
    cr_assert_eq(pl_sys_mprotect(p, X, 8 * PG, PL_PROT_NONE), 0);
    cr_assert_eq(pl_sys_munmap(c, X + PG, 2 * PG), 0);
    cr_assert_eq(pl_proc_exec(c), 0);
    pl_proc_exit(p, 0);
    assert_consistent();
    check_history_chain();
    /* the causes, counted (16 MiB of RAM: eight 2M direct-map leaves) */
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    cr_assert_eq(h[0].seq, 1, "nothing dropped");
    unsigned seen[PL_WHY_COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        seen[h[i].why]++;
    cr_assert_eq(seen[PL_WHY_BOOT], 256 + 8);
    cr_assert_eq(seen[PL_WHY_KERNEL_HALF], 2 * 256);
    cr_assert_eq(seen[PL_WHY_ZERO_FILL], 8);
    cr_assert_eq(seen[PL_WHY_FORK_PROTECT], 8);
    cr_assert_eq(seen[PL_WHY_FORK_COPY], 8);
    cr_assert_eq(seen[PL_WHY_COW_COPY], 4 + 2, "the child's four, the parent's pages 4 and 5");
    cr_assert_eq(seen[PL_WHY_COW_REUSE], 2, "the parent's pages 2 and 3, copied away by the child");
    cr_assert_eq(seen[PL_WHY_MPROTECT], 4 + 8, "four writable entries made read-only, then all eight none");
    cr_assert_eq(seen[PL_WHY_MUNMAP], 2);
    cr_assert_eq(seen[PL_WHY_EXEC], 6);
    cr_assert_eq(seen[PL_WHY_EXIT], 8);
    cr_assert_eq(seen[PL_WHY_TABLE], 1 + 3 + 3, "the direct map's PD, then three tables each");
    cr_assert_eq(seen[PL_WHY_TABLE_FREE], 3 + 3);
}

Test(pmap_machine, history_limit_keeps_the_newest)
{
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.history_limit = 100;
    boot_pcid(true, &kc);
    struct pl_proc *p = spawn_mapped(X, 64 * PG, RW);
    touch(p, X, 64 * PG);
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    cr_assert_leq(n, 100);
    cr_assert_geq(n, 50);
    cr_assert_eq(h[n - 1].seq, pl_kernel_stats(k)->pte_writes);
    for (size_t i = 1; i < n; i++)
        cr_assert_eq(h[i].seq, h[i - 1].seq + 1);
    cr_assert_eq(h[n - 1].va, X + 63 * PG);
}

Test(pmap_machine, history_off_records_nothing)
{
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.history = false;
    boot_pcid(true, &kc);
    struct pl_proc *p = spawn_mapped(X, 4 * PG, RW);
    touch(p, X, 4 * PG);
    size_t n = 99;
    pl_kernel_history(k, &n);
    cr_assert_eq(n, 0);
    cr_assert_gt(pl_kernel_stats(k)->pte_writes, 256 + 4, "writes are still counted");
}
