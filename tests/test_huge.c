/* Transparent huge pages (pl_kernel_config.huge_anon; docs/huge-pages.md):
 * the 2M leaf a fault maps and when it falls back to 4 KiB, splits on a
 * partial munmap or mprotect with every page's contents kept, operations on
 * a whole 2M leaf, copy on write after fork, frames freed and coalesced,
 * and the 2M TLB entry (src/os/fault.c, pmap.c, aspace.c). */
#include <errno.h>
#include <string.h>

#include "os_fixture.h"
#include "ptelab/cpu.h"
#include "ptelab/pkey.h"
#include "ptelab/tlb.h"

#define HUGE UINT64_C(0x200000)
#define E_D UINT64_C(0x40)
#define E_PS UINT64_C(0x80)
#define E_PAT_2M UINT64_C(0x1000)
#define E_KEY(e) ((unsigned)((e) >> 59) & 15)

/* Boots a machine of ram_mib MiB with huge pages on. */
static void boot_huge(uint64_t ram_mib)
{
    struct pl_machine_config mc = os_machine_config();
    mc.ram_size = ram_mib << 20;
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.huge_anon = true;
    boot(&mc, &kc);
}

static void setup(void) { boot_huge(16); }

TestSuite(huge, .init = setup, .fini = teardown);
TestSuite(huge_machine, .fini = teardown); /* tests that boot their own */

struct leaf {
    uint64_t va, entry;
    int level;
};

struct leaves {
    size_t n;
    struct leaf l[1024];
};

static void collect_leaf(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct leaves *ls = ctx;
    (void)entry_pa;
    if (ls->n < sizeof ls->l / sizeof *ls->l)
        ls->l[ls->n] = (struct leaf){va, entry, level};
    ls->n++;
}

/* The leaf of p whose range holds va; asserts there is one. */
static struct leaf leaf_of(const struct pl_proc *p, uint64_t va)
{
    static struct leaves ls;
    ls.n = 0;
    pl_proc_foreach_pte(p, collect_leaf, &ls);
    for (size_t i = 0; i < ls.n && i < sizeof ls.l / sizeof *ls.l; i++) {
        uint64_t size = ls.l[i].level == 2 ? HUGE : PG;
        if (va - ls.l[i].va < size)
            return ls.l[i];
    }
    cr_assert_fail("no leaf maps 0x%llx", (unsigned long long)va);
    return (struct leaf){0};
}

/* The frame a leaf gives va. */
static uint64_t frame_of(const struct pl_proc *p, uint64_t va)
{
    struct leaf l = leaf_of(p, va);
    uint64_t size = l.level == 2 ? HUGE : PG;
    return (l.entry & E_FRAME & ~(size - 1)) + ((va - l.va) & ~(PG - 1));
}

/* Writes to every page of [va, va + len) a word naming the page and tag. */
static void stamp(struct pl_proc *p, uint64_t va, uint64_t len, uint64_t tag)
{
    for (uint64_t off = 0; off < len; off += PG) {
        uint64_t w = (va + off) ^ tag;
        cr_assert_eq(pl_proc_write(p, va + off + 8, &w, sizeof w), 0);
    }
}

/* Asserts what stamp wrote; pages of [hole, hole + hole_len) are skipped. */
static void expect_stamps(struct pl_proc *p, uint64_t va, uint64_t len, uint64_t tag, uint64_t hole,
                          uint64_t hole_len)
{
    for (uint64_t off = 0; off < len; off += PG) {
        if (va + off - hole < hole_len)
            continue;
        uint64_t w = 0, zero = 1;
        cr_assert_eq(pl_proc_read(p, va + off + 8, &w, sizeof w), 0);
        cr_assert_eq(w, (va + off) ^ tag, "page 0x%llx lost its contents", (unsigned long long)(va + off));
        cr_assert_eq(pl_proc_read(p, va + off, &zero, sizeof zero), 0);
        cr_assert_eq(zero, 0, "page 0x%llx: the rest stays zero", (unsigned long long)(va + off));
    }
}

static const struct pl_kernel_stats *kstats(void) { return pl_kernel_stats(k); }

static struct pl_frame *meta(uint64_t pa) { return pl_frame_meta(pl_kernel_frames(k), pa); }

Test(huge, a_fault_maps_one_2m_leaf_with_the_regions_rights)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, 2 * HUGE, RW, ANON);
    uint64_t free0 = free_frames();
    uint8_t b = 0x5A;
    cr_assert_eq(pl_proc_write(p, X + 0x12345, &b, 1), 0);
    struct leaf l = leaf_of(p, X + 0x12345);
    cr_assert_eq(l.level, 2);
    cr_assert_eq(l.va, X);
    uint64_t pa = l.entry & E_FRAME & ~(HUGE - 1);
    cr_assert_eq(pa % HUGE, 0, "an order-9 block is 2 MiB aligned");
    /* P, RW, U/S, A and D (the write), PS, XD; key 0; PAT bit 12 clear: WB */
    cr_assert_eq(l.entry, pa | E_P | E_RW | E_US | E_A | E_D | E_PS | E_XD, "entry 0x%llx",
                 (unsigned long long)l.entry);
    cr_assert_eq(kstats()->thp_fault, 1);
    cr_assert_eq(kstats()->zero_fill, 0);
    cr_assert_eq(kstats()->faults, 1);
    cr_assert_eq(pl_proc_stats(p)->thp_fault, 1);
    cr_assert_eq(pl_proc_stats(p)->resident, 512, "resident counts 4 KiB pages");
    /* 512 frames and the PDPT and PD tables */
    cr_assert_eq(free0 - free_frames(), 512 + 2);
    for (unsigned i = 0; i < 512; i++) {
        cr_assert_eq(meta(pa + i * PG)->order, 0, "each frame a block of its own");
        cr_assert_eq(meta(pa + i * PG)->refcount, 1);
        cr_assert_eq(meta(pa + i * PG)->mapcount, 1);
    }
    uint8_t got[64];
    cr_assert_eq(pl_proc_read(p, X + 0x12345 - 32, got, sizeof got), 0);
    for (unsigned i = 0; i < sizeof got; i++)
        cr_assert_eq(got[i], i == 32 ? 0x5A : 0, "zeroed, but for the byte written");
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    cr_assert_eq(h[n - 1].level, 2);
    cr_assert_eq(h[n - 1].why, PL_WHY_ZERO_FILL);
    cr_assert_eq(h[n - 1].va, X);
    /* the second 2M of the region gets its own on its first touch */
    cr_assert_eq(pl_proc_read(p, X + HUGE + 8, got, 8), 0);
    cr_assert_eq(leaf_of(p, X + HUGE).level, 2);
    cr_assert_eq(leaf_of(p, X + HUGE).entry & (E_RW | E_D), E_RW, "a read leaves D clear");
    cr_assert_eq(kstats()->thp_fault, 2);
    assert_consistent();
}

Test(huge, the_leaf_carries_exec_rights_and_the_protection_key)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, PL_PROT_READ | PL_PROT_EXEC, ANON);
    int key = pl_sys_pkey_alloc(p, 0, 0);
    cr_assert_gt(key, 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, HUGE, PL_PROT_READ | PL_PROT_EXEC, key), 0);
    uint8_t b;
    cr_assert_eq(pl_proc_fetch(p, X + 0x1000, &b), 0);
    struct leaf l = leaf_of(p, X);
    cr_assert_eq(l.level, 2);
    cr_assert_eq(l.entry & (E_P | E_RW | E_US | E_PS | E_XD), E_P | E_US | E_PS, "read and execute only");
    cr_assert_eq(E_KEY(l.entry), (unsigned)key);
    /* a new key for the whole 2M acts on the leaf */
    int key2 = pl_sys_pkey_alloc(p, 0, 0);
    cr_assert_eq(pl_sys_pkey_mprotect(p, X, HUGE, PL_PROT_READ, key2), 0);
    l = leaf_of(p, X);
    cr_assert_eq(l.level, 2);
    cr_assert_eq(E_KEY(l.entry), (unsigned)key2);
    cr_assert(l.entry & E_XD);
    cr_assert_eq(kstats()->thp_split, 0);
    assert_consistent();
}

Test(huge, a_region_short_of_the_aligned_range_gets_4k_pages)
{
    struct pl_proc *p = spawn();
    /* [X + 4K, X + 4M): the range around X + 8K is not all inside */
    map_fixed(p, X + PG, 2 * HUGE - PG, RW, ANON);
    uint64_t w = 7;
    cr_assert_eq(pl_proc_write(p, X + 2 * PG, &w, sizeof w), 0);
    cr_assert_eq(leaf_of(p, X + 2 * PG).level, 1);
    cr_assert_eq(kstats()->zero_fill, 1);
    /* [X + 2M, X + 4M) is: a 2M leaf */
    cr_assert_eq(pl_proc_write(p, X + HUGE + 3 * PG, &w, sizeof w), 0);
    cr_assert_eq(leaf_of(p, X + HUGE).level, 2);
    cr_assert_eq(kstats()->thp_fault, 1);
    cr_assert_eq(kstats()->thp_fallback, 0, "not a fallback: no 2M leaf was possible");
    /* shared anonymous memory is never huge */
    map_fixed(p, X + 4 * HUGE, HUGE, RW, SHANON);
    cr_assert_eq(pl_proc_write(p, X + 4 * HUGE, &w, sizeof w), 0);
    cr_assert_eq(leaf_of(p, X + 4 * HUGE).level, 1);
    assert_consistent();
}

Test(huge, a_range_with_a_page_table_already_gets_4k_pages)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    /* first as two regions, so that the first touch maps a 4K page */
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RO), 0);
    uint64_t w = 0;
    cr_assert_eq(pl_proc_read(p, X, &w, sizeof w), 0);
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RW), 0);
    cr_assert_eq(pl_vma_set_count(pl_proc_vmas(p)), 1, "one region again");
    cr_assert_eq(pl_proc_write(p, X + HUGE / 2, &w, sizeof w), 0);
    cr_assert_eq(leaf_of(p, X + HUGE / 2).level, 1);
    cr_assert_eq(kstats()->thp_fault, 0);
    cr_assert_eq(kstats()->thp_fallback, 0);
    cr_assert_eq(kstats()->zero_fill, 2);
    assert_consistent();
}

Test(huge, an_injected_order_9_failure_falls_back_to_4k)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    pl_frame_fail_after(pl_kernel_frames(k), 1);
    uint64_t w = 9;
    cr_assert_eq(pl_proc_write(p, X + 5 * PG, &w, sizeof w), 0);
    cr_assert_eq(leaf_of(p, X + 5 * PG).level, 1);
    cr_assert_eq(kstats()->thp_fallback, 1);
    cr_assert_eq(kstats()->thp_fault, 0);
    cr_assert_eq(kstats()->zero_fill, 1);
    cr_assert_eq(frame_stats().injected_failures, 1);
    cr_assert_eq(pl_proc_stats(p)->resident, 1);
    assert_consistent();
}

Test(huge_machine, no_free_order_9_block_falls_back_to_4k)
{
    /* 6 MiB of RAM: the kernel's frames take the first 2 MiB block, which
     * leaves one order-9 block, at 4 MiB */
    boot_huge(6);
    struct pl_proc *p = spawn(), *q = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    map_fixed(q, X, HUGE, RW, ANON);
    uint64_t w = 1;
    cr_assert_eq(pl_proc_write(p, X, &w, sizeof w), 0);
    cr_assert_eq(leaf_of(p, X).level, 2);
    cr_assert_eq(frame_of(p, X), UINT64_C(4) << 20);
    cr_assert_eq(pl_proc_write(q, X, &w, sizeof w), 0);
    cr_assert_eq(leaf_of(q, X).level, 1, "no order-9 block is left");
    cr_assert_eq(kstats()->thp_fault, 1);
    cr_assert_eq(kstats()->thp_fallback, 1);
    assert_consistent();
}

Test(huge, partial_munmap_splits_and_frees_only_the_removed_frames)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    stamp(p, X, HUGE, 1);
    uint64_t pa = frame_of(p, X);
    cr_assert_eq(leaf_of(p, X).level, 2);
    uint64_t free0 = free_frames(), flushes = kstats()->tlb_flush_pages + kstats()->tlb_flush_full;
    const uint64_t hole = X + 0x100000, hole_len = 16 * PG;
    cr_assert_eq(pl_sys_munmap(p, hole, hole_len), 0);
    cr_assert_eq(kstats()->thp_split, 1);
    cr_assert_eq(free_frames(), free0 + 16 - 1, "16 frames freed, one page table taken");
    cr_assert_eq(pl_proc_stats(p)->resident, 512 - 16);
    cr_assert_gt(kstats()->tlb_flush_pages + kstats()->tlb_flush_full, flushes);
    for (uint64_t off = 0; off < HUGE; off += PG) {
        if (X + off - hole < hole_len) {
            cr_assert_eq(meta(pa + off)->flags & PL_FRAME_FREE, PL_FRAME_FREE, "frame of 0x%llx freed",
                         (unsigned long long)(X + off));
            continue;
        }
        struct leaf l = leaf_of(p, X + off);
        cr_assert_eq(l.level, 1);
        cr_assert_eq(l.entry, (pa + off) | E_P | E_RW | E_US | E_A | E_D | E_XD, "0x%llx: 0x%llx",
                     (unsigned long long)(X + off), (unsigned long long)l.entry);
    }
    expect_stamps(p, X, HUGE, 1, hole, hole_len);
    /* the split itself: the PDE loses P, is invalidated, links the table */
    size_t n, pde_writes = 0;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    const uint64_t huge = pa | E_P | E_RW | E_US | E_A | E_D | E_PS | E_XD;
    for (size_t i = 0; i < n; i++)
        if (h[i].why == PL_WHY_SPLIT && h[i].level == 2) {
            cr_assert_eq(h[i].va, X);
            cr_assert_eq(h[i].old, pde_writes == 0 ? huge : huge & ~E_P);
            cr_assert_eq(h[i].new & E_P, pde_writes == 0 ? 0 : E_P);
            pde_writes++;
        }
    cr_assert_eq(pde_writes, 2);
    assert_consistent();
}

Test(huge, the_split_drops_the_2m_tlb_entry)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    stamp(p, X, PG, 3);
    struct pl_tlb *tlb = pl_cpu_tlb(m->cpu[0]);
    struct pl_tlb_entry te;
    uint16_t pcid = pl_cpu_pcid(m->cpu[0]);
    /* read-only, then read: the TLB holds a read-only 2M translation */
    cr_assert_eq(pl_sys_mprotect(p, X, HUGE, RO), 0);
    expect_stamps(p, X, PG, 3, 0, 0);
    cr_assert(pl_tlb_probe(tlb, PL_TLB_L1D, X + 0x1000, pcid, &te));
    cr_assert_eq(te.page_shift, 21);
    /* write access for one page splits the leaf and changes no 4K leaf (a
     * private page gets its R/W from the write fault): the split's own
     * invalidation is the only one */
    uint64_t pages = kstats()->tlb_flush_pages;
    cr_assert_eq(pl_sys_mprotect(p, X + HUGE - PG, PG, RW), 0);
    cr_assert_eq(kstats()->thp_split, 1);
    cr_assert_eq(kstats()->tlb_flush_pages, pages + 1);
    cr_assert_not(pl_tlb_probe(tlb, PL_TLB_L1D, X + 0x1000, pcid, &te), "the 2M translation was invalidated");
    cr_assert_not(pl_tlb_probe(tlb, PL_TLB_L2, X + 0x1000, pcid, &te));
    expect_stamps(p, X, PG, 3, 0, 0);
    cr_assert(pl_tlb_probe(tlb, PL_TLB_L1D, X, pcid, &te));
    cr_assert_eq(te.page_shift, 12, "4 KiB translations from now on");
    assert_consistent();
}

Test(huge, partial_mprotect_splits_and_keeps_every_page)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    stamp(p, X, HUGE, 2);
    uint64_t free0 = free_frames();
    cr_assert_eq(pl_sys_mprotect(p, X, 3 * PG, RO), 0);
    cr_assert_eq(kstats()->thp_split, 1);
    cr_assert_eq(free_frames(), free0 - 1, "only the page table");
    cr_assert_eq(leaf_of(p, X).entry & (E_RW | E_PS), 0);
    cr_assert_eq(leaf_of(p, X + 3 * PG).entry & (E_RW | E_PS), E_RW);
    expect_stamps(p, X, HUGE, 2, 0, 0);
    uint64_t w = 0;
    cr_assert_eq(pl_proc_write(p, X + PG, &w, sizeof w), -EFAULT, "read-only now");
    assert_consistent();
}

Test(huge, operations_on_the_whole_2m_range_act_on_the_leaf)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    stamp(p, X, HUGE, 4);
    uint64_t pa = frame_of(p, X);
    uint64_t pages = kstats()->tlb_flush_pages, full = kstats()->tlb_flush_full;
    cr_assert_eq(pl_sys_mprotect(p, X, HUGE, RO), 0);
    struct leaf l = leaf_of(p, X);
    cr_assert_eq(l.level, 2);
    cr_assert_eq(l.entry, pa | E_P | E_US | E_A | E_D | E_PS | E_XD);
    cr_assert_eq(kstats()->tlb_flush_pages, pages + 1, "one invalidation for the 2 MiB");
    cr_assert_eq(kstats()->tlb_flush_full, full);
    cr_assert_eq(pl_sys_mprotect(p, X, HUGE, PL_PROT_NONE), 0);
    l = leaf_of(p, X);
    cr_assert_eq(l.level, 2, "PROT_NONE keeps the 2M leaf, not present");
    cr_assert_eq(l.entry & (E_P | E_PS | E_FRAME), pa | E_PS);
    cr_assert_eq(pl_proc_stats(p)->resident, 512);
    assert_consistent();
    cr_assert_eq(pl_sys_mprotect(p, X, HUGE, RW), 0);
    expect_stamps(p, X, HUGE, 4, 0, 0);
    cr_assert_eq(leaf_of(p, X).level, 2);
    cr_assert_eq(kstats()->thp_split, 0);
    assert_consistent();
    uint64_t free0 = free_frames();
    cr_assert_eq(pl_sys_munmap(p, X, HUGE), 0);
    cr_assert_eq(free_frames(), free0 + 512 + 2, "every frame and the emptied tables");
    cr_assert_eq(pl_proc_stats(p)->resident, 0);
    cr_assert_eq(kstats()->thp_split, 0);
    assert_consistent();
}

Test(huge, exit_frees_every_frame_and_the_block_coalesces)
{
    uint64_t free0 = free_frames(), big0 = frame_stats().free_blocks[9];
    struct pl_proc *p = spawn();
    map_fixed(p, X, 2 * HUGE, RW, ANON);
    stamp(p, X, 2 * HUGE, 5);
    cr_assert_eq(pl_sys_munmap(p, X + 7 * PG, PG), 0);
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    stamp(c, X + HUGE, PG, 6);
    pl_proc_exit(p, 0);
    expect_stamps(c, X + HUGE + PG, HUGE - PG, 5, 0, 0);
    pl_proc_exit(c, 0);
    cr_assert_eq(free_frames(), free0);
    cr_assert_eq(frame_stats().free_blocks[9], big0, "the 2 MiB blocks came back whole");
    assert_consistent();
}

/* A process *p with a 2M leaf at X stamped with tag, and its fork *c;
 * returns the leaf's first frame. */
static uint64_t fork_huge(uint64_t tag, struct pl_proc **p, struct pl_proc **c)
{
    *p = spawn();
    map_fixed(*p, X, HUGE, RW, ANON);
    stamp(*p, X, HUGE, tag);
    uint64_t pa = frame_of(*p, X);
    cr_assert_eq(pl_proc_fork(*p, c), 0);
    return pa;
}

Test(huge, fork_shares_the_2m_page_and_a_write_copies_one_4k_page)
{
    struct pl_proc *p, *c;
    uint64_t pa = fork_huge(7, &p, &c);
    struct leaf lp = leaf_of(p, X), lc = leaf_of(c, X);
    cr_assert_eq(lp.level, 2);
    cr_assert_eq(lc.level, 2, "fork copies a 2M leaf as one");
    cr_assert_eq(lp.entry & (E_RW | E_PS), E_PS, "read-only on both sides");
    cr_assert_eq(lc.entry & (E_RW | E_PS | E_A), E_PS, "the child has not used it");
    cr_assert_eq(lc.entry & E_FRAME, pa);
    cr_assert_eq(meta(pa + 9 * PG)->refcount, 2);
    cr_assert_eq(meta(pa + 9 * PG)->mapcount, 2);
    cr_assert_eq(pl_proc_stats(c)->resident, 512);
    expect_stamps(c, X, HUGE, 7, 0, 0);
    expect_stamps(p, X, HUGE, 7, 0, 0);
    assert_consistent();

    uint64_t free0 = free_frames(), copies = kstats()->cow_copy;
    stamp(c, X + 9 * PG, PG, 8);
    cr_assert_eq(kstats()->thp_split, 1);
    cr_assert_eq(kstats()->cow_copy, copies + 1, "one 4 KiB page copied");
    cr_assert_eq(free_frames(), free0 - 2, "the copy and the child's new page table");
    cr_assert_eq(leaf_of(c, X + 9 * PG).level, 1);
    cr_assert_neq(frame_of(c, X + 9 * PG), pa + 9 * PG);
    cr_assert_eq(frame_of(c, X + 10 * PG), pa + 10 * PG, "the other pages still shared");
    cr_assert_eq(leaf_of(c, X + 10 * PG).entry & E_RW, 0);
    cr_assert_eq(leaf_of(p, X).level, 2, "the parent keeps its 2M leaf");
    expect_stamps(p, X, HUGE, 7, 0, 0);
    expect_stamps(c, X + 9 * PG, PG, 8, 0, 0);
    expect_stamps(c, X, HUGE, 7, X + 9 * PG, PG);
    assert_consistent();

    /* the parent writes the page the child copied away: it is alone on it */
    uint64_t reuses = kstats()->cow_reuse;
    stamp(p, X + 9 * PG, PG, 9);
    cr_assert_eq(kstats()->thp_split, 2);
    cr_assert_eq(kstats()->cow_reuse, reuses + 1);
    cr_assert_eq(frame_of(p, X + 9 * PG), pa + 9 * PG);
    expect_stamps(c, X + 9 * PG, PG, 8, 0, 0);
    assert_consistent();
}

Test(huge, the_last_user_makes_the_2m_leaf_writable_again)
{
    struct pl_proc *p, *c;
    uint64_t pa = fork_huge(10, &p, &c);
    pl_proc_exit(c, 0);
    uint64_t reuses = kstats()->cow_reuse, free0 = free_frames();
    stamp(p, X + HUGE - PG, PG, 11);
    struct leaf l = leaf_of(p, X);
    cr_assert_eq(l.level, 2);
    cr_assert_eq(l.entry & (E_RW | E_PS | E_FRAME), E_RW | E_PS | pa);
    cr_assert_eq(kstats()->cow_reuse, reuses + 1);
    cr_assert_eq(kstats()->thp_split, 0);
    cr_assert_eq(free_frames(), free0);
    expect_stamps(p, X, HUGE - PG, 10, 0, 0);
    assert_consistent();
}

Test(huge, munmap_fails_with_enomem_when_no_frame_is_left_for_the_split)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    stamp(p, X, HUGE, 12);
    struct pl_frame_allocator *fa = pl_kernel_frames(k);
    uint64_t held[4096], n = 0, pa;
    while (n < 4096 && pl_frame_alloc(fa, 0, PL_FRAME_KERNEL, &pa) == 0)
        held[n++] = pa;
    cr_assert_eq(free_frames(), 0);
    cr_assert_eq(pl_sys_munmap(p, X + PG, PG), -ENOMEM);
    cr_assert_eq(pl_sys_mprotect(p, X, PG, RO), -ENOMEM);
    cr_assert_eq(leaf_of(p, X).level, 2, "nothing changed");
    cr_assert_eq(pl_vma_set_count(pl_proc_vmas(p)), 1);
    cr_assert_eq(pl_sys_munmap(p, X, HUGE), 0, "the whole 2 MiB needs no split");
    cr_assert_eq(free_frames(), 512 + 2);
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(pl_frame_free(fa, held[i]), 0);
    assert_consistent();
}

Test(huge, an_access_1mib_further_hits_the_2m_tlb_entry)
{
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    uint64_t w = 1;
    cr_assert_eq(pl_proc_write(p, X, &w, sizeof w), 0);
    struct pl_cpu *cpu = m->cpu[0];
    uint64_t walks = pl_cpu_stats(cpu)->walks;
    uint64_t hits = pl_tlb_stats(pl_cpu_tlb(cpu))->hits[PL_TLB_L1D][PL_PAGE_2M];
    cr_assert_eq(pl_proc_read(p, X + 0x100000, &w, sizeof w), 0);
    cr_assert_eq(w, 0);
    cr_assert_eq(pl_cpu_stats(cpu)->walks, walks, "no walk");
    cr_assert_eq(pl_tlb_stats(pl_cpu_tlb(cpu))->hits[PL_TLB_L1D][PL_PAGE_2M], hits + 1);
    cr_assert_eq(kstats()->faults, 1);
}

Test(huge_machine, off_by_default)
{
    boot(NULL, NULL);
    struct pl_proc *p = spawn();
    map_fixed(p, X, HUGE, RW, ANON);
    uint64_t w = 1;
    cr_assert_eq(pl_proc_write(p, X, &w, sizeof w), 0);
    cr_assert_eq(leaf_of(p, X).level, 1);
    cr_assert_eq(kstats()->thp_fault + kstats()->thp_fallback, 0);
}
