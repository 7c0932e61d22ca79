/* hw/cpu: accesses through TLBs, paging-structure caches and real walks of
 * page tables built by hand in simulated memory; register legality and the
 * invalidations each write performs; counters and cycles. */
#include <criterion/criterion.h>

#include "hw/pte.h"
#include "ptelab/cpu.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

#define ROOT1 UINT64_C(0x1000)
#define ROOT2 UINT64_C(0x2000)
#define UP (PTE_P | PTE_RW | PTE_US)     /* non-leaf entries */
#define URW (PTE_P | PTE_RW | PTE_US)    /* user read/write leaf */
#define URO (PTE_P | PTE_US)             /* user read-only leaf */
#define SRW (PTE_P | PTE_RW)             /* supervisor read/write leaf */

static struct pl_physmem *mem;
static struct pl_cpu *cpu;
static uint64_t next_table;

static void setup(void)
{
    mem = pl_physmem_new();
    cpu = pl_cpu_new(mem, NULL, NULL);
    cr_assert_not_null(cpu);
    next_table = 0x100000;
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1), 0);
    pl_cpu_reset_stats(cpu);
}

static void teardown(void)
{
    pl_cpu_free(cpu);
    pl_physmem_free(mem);
}

TestSuite(cpu, .init = setup, .fini = teardown);

/* Maps la to pa in the tables at root (levels deep) with a leaf at
 * leaf_level carrying flags; missing tables are created with UP. Returns
 * the physical address of the leaf entry. */
static uint64_t map_in(uint64_t root, int levels, uint64_t la, uint64_t pa, int leaf_level, uint64_t flags)
{
    uint64_t table = root;
    for (int level = levels; level > leaf_level; level--) {
        uint64_t slot = table + 8 * pte_index(la, level);
        uint64_t e = pl_physmem_read64(mem, slot);
        if (!(e & PTE_P)) {
            e = next_table | UP;
            next_table += 0x1000;
            cr_assert_eq(pl_physmem_write64(mem, slot, e), 0);
        }
        table = e & PTE_ADDR_MASK;
    }
    uint64_t slot = table + 8 * pte_index(la, leaf_level);
    cr_assert_eq(pl_physmem_write64(mem, slot, pa | (leaf_level > 1 ? PTE_PS : 0) | flags), 0);
    return slot;
}

static uint64_t map(uint64_t la, uint64_t pa, uint64_t flags) { return map_in(ROOT1, 4, la, pa, 1, flags); }

static uint64_t rd64(uint64_t pa) { return pl_physmem_read64(mem, pa); }

/* An access that must succeed; returns the physical address. */
static uint64_t ok(uint64_t va, unsigned kind)
{
    uint64_t pa = 0;
    struct pl_fault f;
    cr_assert(pl_cpu_access(cpu, va, kind, &pa, &f), "access %#lx kind %u faulted: vector %u error %#x",
              (unsigned long)va, kind, f.vector, f.error_code);
    return pa;
}

/* An access that must fault; returns the fault. */
static struct pl_fault bad(uint64_t va, unsigned kind)
{
    uint64_t pa;
    struct pl_fault f = {0};
    cr_assert_not(pl_cpu_access(cpu, va, kind, &pa, &f), "access %#lx kind %u succeeded", (unsigned long)va, kind);
    return f;
}

static const struct pl_cpu_stats *cs(void) { return pl_cpu_stats(cpu); }
static const struct pl_tlb_stats *ts(void) { return pl_tlb_stats(pl_cpu_tlb(cpu)); }
static bool in_tlb(unsigned which, uint64_t la, uint16_t pcid)
{
    return pl_tlb_probe(pl_cpu_tlb(cpu), which, la, pcid, NULL);
}

Test(cpu, a_second_read_hits_l1d_after_a_four_reference_walk_with_exact_counters_and_cycles)
{
    map(0x7000001000, 0xABC000, URW);
    cr_assert_eq(ok(0x7000001234, PL_READ), 0xABC234);
    cr_assert_eq(ok(0x7000001FFF, PL_READ), 0xABCFFF);
    cr_assert_eq(cs()->accesses[PL_READ], 2);
    cr_assert_eq(cs()->walks, 1);
    cr_assert_eq(cs()->walk_refs, 4);
    cr_assert_eq(cs()->walks_by_refs[4], 1);
    cr_assert_eq(ts()->misses[PL_TLB_L1D][PL_PAGE_4K], 1);
    cr_assert_eq(ts()->misses[PL_TLB_L2][PL_PAGE_4K], 1);
    cr_assert_eq(ts()->hits[PL_TLB_L1D][PL_PAGE_4K], 1);
    cr_assert_eq(ts()->hits[PL_TLB_L2][PL_PAGE_4K], 0);
    cr_assert_eq(ts()->psc_misses, 1);
    const struct pl_cost_model *c = pl_cpu_cost(cpu);
    cr_assert_eq(cs()->cycles, c->tlb_l2_hit + 4 * c->walk_ref + c->tlb_l1_hit);
    cr_assert_eq(cs()->cycles, 9 + 48 + 1);
}

Test(cpu, paging_structure_caches_cut_the_references_of_neighbouring_walks)
{
    uint64_t a = 0x7000000000;
    map(a, 0x10000, URW);
    map(a + 0x1000, 0x11000, URW);               /* same PDE */
    map(a + (UINT64_C(1) << 21), 0x12000, URW);  /* same PDPTE, another PDE */
    map(a + (UINT64_C(1) << 30), 0x13000, URW);  /* same PML4E, another PDPTE */
    ok(a, PL_READ);
    cr_assert_eq(cs()->walk_refs, 4);
    ok(a + 0x1000, PL_READ);
    cr_assert_eq(cs()->walk_refs, 4 + 1);
    ok(a + (UINT64_C(1) << 21), PL_READ);
    cr_assert_eq(cs()->walk_refs, 5 + 2);
    ok(a + (UINT64_C(1) << 30), PL_READ);
    cr_assert_eq(cs()->walk_refs, 7 + 3);
    cr_assert_eq(cs()->walks, 4);
    for (int r = 1; r <= 4; r++)
        cr_assert_eq(cs()->walks_by_refs[r], 1, "walks with %d refs", r);
    cr_assert_eq(ts()->psc_hits[PL_PSC_INDEX(2)], 1);
    cr_assert_eq(ts()->psc_hits[PL_PSC_INDEX(3)], 1);
    cr_assert_eq(ts()->psc_hits[PL_PSC_INDEX(4)], 1);
    cr_assert_eq(ts()->psc_misses, 1);
    const struct pl_cost_model *c = pl_cpu_cost(cpu);
    cr_assert_eq(cs()->cycles, 4 * c->tlb_l2_hit + 3 * c->psc_hit + 10 * c->walk_ref);
}

Test(cpu, a_psc_hit_walk_still_sets_accessed_in_the_entries_it_reads)
{
    map(0x5000, 0x20000, URW);
    uint64_t leaf = map(0x6000, 0x21000, URW);
    ok(0x5000, PL_READ);
    cr_assert_not(rd64(leaf) & PTE_A);
    ok(0x6000, PL_READ);
    cr_assert(rd64(leaf) & PTE_A);
    cr_assert_eq(cs()->walk_refs, 5);
}

Test(cpu, fetches_fill_l1i_and_data_accesses_fill_l1d_sharing_l2)
{
    map(0x400000, 0x30000, URW);
    ok(0x400010, PL_FETCH);
    cr_assert(in_tlb(PL_TLB_L1I, 0x400000, 0));
    cr_assert_not(in_tlb(PL_TLB_L1D, 0x400000, 0));
    cr_assert(in_tlb(PL_TLB_L2, 0x400000, 0));
    cr_assert_eq(ok(0x400020, PL_READ), 0x30020);
    cr_assert(in_tlb(PL_TLB_L1D, 0x400000, 0));
    cr_assert_eq(cs()->walks, 1);
    cr_assert_eq(ts()->misses[PL_TLB_L1I][PL_PAGE_4K], 1);
    cr_assert_eq(ts()->misses[PL_TLB_L1D][PL_PAGE_4K], 1);
    cr_assert_eq(ts()->hits[PL_TLB_L2][PL_PAGE_4K], 1);
    cr_assert_eq(ts()->misses[PL_TLB_L2][PL_PAGE_4K], 1);
    ok(0x400030, PL_FETCH);
    cr_assert_eq(ts()->hits[PL_TLB_L1I][PL_PAGE_4K], 1);
    cr_assert_eq(cs()->accesses[PL_FETCH], 2);
}

Test(cpu, a_non_canonical_address_is_a_gp_that_touches_no_tlb_and_no_table)
{
    uint64_t leaf = map(0x1000, 0x40000, URW);
    struct pl_fault f = bad(0x0000800000000000, PL_READ);
    cr_assert_eq(f.vector, PL_VEC_GP);
    cr_assert_eq(f.cause, PL_CAUSE_NONCANONICAL);
    cr_assert_eq(f.error_code, 0);
    cr_assert_eq(cs()->gp_faults, 1);
    cr_assert_eq(cs()->page_faults, 0);
    cr_assert_eq(cs()->walks, 0);
    cr_assert_eq(ts()->psc_misses, 0);
    cr_assert_eq(ts()->misses[PL_TLB_L1D][PL_PAGE_NONE], 0);
    cr_assert_eq(cs()->cycles, pl_cpu_cost(cpu)->fault);
    cr_assert_eq(rd64(leaf) & PTE_A, 0);
    /* Bits 56:0 of this address name a cached page: still #GP. */
    ok(0x1000, PL_READ);
    f = bad(0x8000000000001000, PL_READ);
    cr_assert_eq(f.vector, PL_VEC_GP);
    cr_assert_eq(cs()->walks, 1);
}

Test(cpu, a_stale_translation_survives_a_pte_change_until_invlpg)
{
    uint64_t leaf = map(0x8000, 0x50000, URW);
    cr_assert_eq(ok(0x8008, PL_READ), 0x50008);
    pl_physmem_write64(mem, leaf, 0x60000 | URW | PTE_A);
    cr_assert_eq(ok(0x8008, PL_READ), 0x50008, "the TLB still holds the old frame");
    pl_physmem_write64(mem, leaf, 0); /* even unmapped */
    cr_assert_eq(ok(0x8008, PL_READ), 0x50008);
    pl_physmem_write64(mem, leaf, 0x60000 | URW);
    cr_assert_eq(pl_cpu_invlpg(cpu, 0x8FFF), 0);
    cr_assert_eq(ok(0x8008, PL_READ), 0x60008);
    cr_assert_eq(cs()->walks, 2);
    cr_assert_eq(ts()->inval[PL_INV_INVLPG], 1);
}

Test(cpu, invlpg_drops_every_cached_partial_walk_of_the_current_pcid)
{
    uint64_t far = UINT64_C(1) << 39;
    map(0x1000, 0x70000, URW);
    map(far, 0x71000, URW);
    map(far + 0x1000, 0x72000, URW);
    ok(0x1000, PL_READ);
    ok(far, PL_READ);
    cr_assert(pl_tlb_psc_probe(pl_cpu_tlb(cpu), 2, far, 0, NULL, NULL));
    cr_assert_eq(pl_cpu_invlpg(cpu, 0x1000), 0);
    cr_assert_eq(pl_tlb_psc_valid_entries(pl_cpu_tlb(cpu), 2), 0);
    cr_assert_eq(pl_tlb_psc_valid_entries(pl_cpu_tlb(cpu), 3), 0);
    cr_assert_eq(pl_tlb_psc_valid_entries(pl_cpu_tlb(cpu), 4), 0);
    cr_assert(in_tlb(PL_TLB_L1D, far, 0), "other pages stay in the TLB");
    uint64_t before = cs()->walk_refs;
    ok(far + 0x1000, PL_READ);
    cr_assert_eq(cs()->walk_refs - before, 4);
}

Test(cpu, a_non_canonical_invlpg_is_a_no_op)
{
    map(0x1000, 0x70000, URW);
    ok(0x1000, PL_READ);
    cr_assert_eq(pl_cpu_invlpg(cpu, 0x0000800000001000), 0);
    cr_assert(in_tlb(PL_TLB_L1D, 0x1000, 0));
    cr_assert_eq(pl_tlb_psc_valid_entries(pl_cpu_tlb(cpu), 2), 1);
    cr_assert_eq(ts()->inval[PL_INV_INVLPG], 0);
}

/* Turns on PCIDs; CR3 must have PCID 0 when PCIDE is set. */
static void enable_pcid(void)
{
    cr_assert_eq(pl_cpu_write_cr4(cpu, pl_cpu_regs(cpu)->cr4 | PL_CR4_PCIDE), 0);
}

Test(cpu, two_pcids_keep_two_translations_of_one_address)
{
    enable_pcid();
    map_in(ROOT1, 4, 0x400000, 0x81000, 1, URW);
    map_in(ROOT2, 4, 0x400000, 0x82000, 1, URW);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | 1), 0);
    cr_assert_eq(pl_cpu_pcid(cpu), 1);
    cr_assert_eq(ok(0x400000, PL_READ), 0x81000);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT2 | 2), 0);
    cr_assert_eq(ok(0x400000, PL_READ), 0x82000);
    cr_assert_eq(cs()->walks, 2);
    cr_assert(in_tlb(PL_TLB_L1D, 0x400000, 1));
    cr_assert(in_tlb(PL_TLB_L1D, 0x400000, 2));
}

Test(cpu, cr3_bit_63_switches_pcid_without_flushing_and_a_plain_load_flushes)
{
    enable_pcid();
    map_in(ROOT1, 4, 0x400000, 0x81000, 1, URW);
    map_in(ROOT2, 4, 0x400000, 0x82000, 1, URW);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | 1), 0);
    ok(0x400000, PL_READ);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT2 | 2), 0);
    ok(0x400000, PL_READ);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | 1 | PL_CR3_NOFLUSH), 0);
    cr_assert_eq(pl_cpu_regs(cpu)->cr3, ROOT1 | 1, "bit 63 is not stored");
    cr_assert_eq(ok(0x400000, PL_READ), 0x81000);
    cr_assert_eq(cs()->walks, 2, "PCID 1's entry survived");
    cr_assert_eq(ts()->inval[PL_INV_CR3_NOFLUSH], 1);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | 1), 0);
    cr_assert_not(in_tlb(PL_TLB_L1D, 0x400000, 1));
    cr_assert(in_tlb(PL_TLB_L1D, 0x400000, 2), "a load flushes only the new PCID");
    ok(0x400000, PL_READ);
    cr_assert_eq(cs()->walks, 3);
}

/* With CR4.PGE = 1: a global kernel page at K and a user page at U. */
#define K UINT64_C(0xFFFFFFFF80000000)
#define U UINT64_C(0x400000)

static void global_and_user_cached(void)
{
    map(K, 0x90000, SRW | PTE_G);
    map(U, 0x91000, URW);
    ok(K, PL_READ);
    ok(U, PL_READ);
    cr_assert(in_tlb(PL_TLB_L1D, K, 0));
    cr_assert(in_tlb(PL_TLB_L1D, U, 0));
}

Test(cpu, global_entries_survive_cr3_loads_and_invpcid_types_1_and_3)
{
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_PGE), 0);
    global_and_user_cached();
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1), 0);
    cr_assert(in_tlb(PL_TLB_L1D, K, 0));
    cr_assert(in_tlb(PL_TLB_L2, K, 0));
    cr_assert_not(in_tlb(PL_TLB_L1D, U, 0));
    cr_assert_not(in_tlb(PL_TLB_L2, U, 0));
    uint64_t walks = cs()->walks;
    ok(K, PL_READ);
    cr_assert_eq(cs()->walks, walks);
    cr_assert_eq(pl_cpu_invpcid(cpu, 3, 0, 0), 0);
    cr_assert(in_tlb(PL_TLB_L1D, K, 0));
    cr_assert_eq(pl_cpu_invpcid(cpu, 1, 0, 0), 0);
    cr_assert(in_tlb(PL_TLB_L1D, K, 0));
    cr_assert_eq(pl_cpu_invpcid(cpu, 0, 0, K), 0);
    cr_assert(in_tlb(PL_TLB_L1D, K, 0), "type 0 spares global entries");
}

Test(cpu, invpcid_type_2_drops_global_entries)
{
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_PGE), 0);
    global_and_user_cached();
    cr_assert_eq(pl_cpu_invpcid(cpu, 2, 0, 0), 0);
    for (unsigned t = 0; t < PL_TLBS; t++)
        for (unsigned s = 0; s < PL_PAGE_SIZES; s++)
            cr_assert_eq(pl_tlb_valid_entries(pl_cpu_tlb(cpu), t, s), 0);
    for (unsigned l = 2; l <= 5; l++)
        cr_assert_eq(pl_tlb_psc_valid_entries(pl_cpu_tlb(cpu), l), 0);
}

Test(cpu, toggling_pge_drops_global_entries)
{
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_PGE), 0);
    cr_assert_eq(ts()->inval[PL_INV_CR4_ALL], 1);
    global_and_user_cached();
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE), 0);
    cr_assert_eq(ts()->inval[PL_INV_CR4_ALL], 2);
    cr_assert_not(in_tlb(PL_TLB_L1D, K, 0));
    cr_assert_not(in_tlb(PL_TLB_L1D, U, 0));
}

Test(cpu, the_g_bit_means_nothing_without_pge)
{
    global_and_user_cached();
    struct pl_tlb_entry e;
    cr_assert(pl_tlb_probe(pl_cpu_tlb(cpu), PL_TLB_L1D, K, 0, &e));
    cr_assert_not(e.global);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1), 0);
    cr_assert_not(in_tlb(PL_TLB_L1D, K, 0));
}

Test(cpu, a_global_entry_serves_every_pcid)
{
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_PGE), 0);
    enable_pcid();
    map_in(ROOT1, 4, K, 0x90000, 1, SRW | PTE_G);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | 5), 0);
    ok(K, PL_READ);
    /* ROOT2 maps nothing: the global entry answers for PCID 9. */
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT2 | 9), 0);
    cr_assert_eq(ok(K + 4, PL_READ), 0x90004);
    cr_assert_eq(cs()->walks, 1);
    /* INVPCID type 1 of PCID 5 leaves it, INVLPG drops it. */
    cr_assert_eq(pl_cpu_invpcid(cpu, 1, 5, 0), 0);
    cr_assert(in_tlb(PL_TLB_L1D, K, 9));
    cr_assert_eq(pl_cpu_invlpg(cpu, K), 0);
    cr_assert_not(in_tlb(PL_TLB_L1D, K, 5));
    cr_assert_eq(bad(K, PL_READ).error_code, 0);
}

Test(cpu, invpcid_type_0_drops_one_page_of_one_pcid)
{
    enable_pcid();
    map_in(ROOT1, 4, 0x400000, 0x81000, 1, URW);
    map_in(ROOT1, 4, 0x401000, 0x83000, 1, URW);
    map_in(ROOT2, 4, 0x400000, 0x82000, 1, URW);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT2 | 2), 0);
    ok(0x400000, PL_READ);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | 1), 0);
    ok(0x400000, PL_READ);
    ok(0x401000, PL_READ);
    cr_assert_eq(pl_cpu_invpcid(cpu, 0, 2, 0x400000), 0);
    cr_assert_not(in_tlb(PL_TLB_L1D, 0x400000, 2));
    cr_assert(in_tlb(PL_TLB_L1D, 0x400000, 1));
    cr_assert(in_tlb(PL_TLB_L1D, 0x401000, 1));
    cr_assert(pl_tlb_psc_probe(pl_cpu_tlb(cpu), 2, 0x400000, 1, NULL, NULL));
    cr_assert_not(pl_tlb_psc_probe(pl_cpu_tlb(cpu), 2, 0x400000, 2, NULL, NULL));
    cr_assert_eq(ts()->inval[PL_INV_INVPCID_ADDR], 1);
}

Test(cpu, invpcid_checks_its_operands_like_the_processor)
{
    cr_assert_eq(pl_cpu_invpcid(cpu, 4, 0, 0), PL_EINVAL);
    cr_assert_eq(pl_cpu_invpcid(cpu, 1, 4096, 0), PL_EINVAL);
    cr_assert_eq(pl_cpu_invpcid(cpu, 0, 0, 0x0000800000000000), PL_EINVAL);
    cr_assert_eq(pl_cpu_invpcid(cpu, 1, 3, 0), PL_EINVAL, "PCID != 0 needs CR4.PCIDE");
    cr_assert_eq(pl_cpu_invpcid(cpu, 2, 3, 0), 0, "types 2 and 3 ignore the PCID");
    cr_assert_eq(pl_cpu_set_cpl(cpu, 3), 0);
    cr_assert_eq(pl_cpu_invpcid(cpu, 2, 0, 0), PL_EINVAL);
    cr_assert_eq(pl_cpu_invlpg(cpu, 0), PL_EINVAL);
    cr_assert_eq(ts()->inval[PL_INV_INVPCID_ALL], 1);
}

Test(cpu, a_write_to_a_clean_entry_walks_again_and_sets_dirty)
{
    uint64_t leaf = map(0x3000, 0xA0000, URW);
    ok(0x3000, PL_READ);
    cr_assert_eq(rd64(leaf) & (PTE_A | PTE_D), PTE_A);
    cr_assert_eq(ok(0x3008, PL_WRITE), 0xA0008);
    cr_assert(rd64(leaf) & PTE_D);
    cr_assert_eq(cs()->walks, 2);
    cr_assert_eq(cs()->dirty_walks, 1);
    cr_assert_eq(cs()->walks_by_refs[1], 1, "the dirty walk started from the PDE cache");
    cr_assert_eq(ts()->hits[PL_TLB_L1D][PL_PAGE_4K], 1);
    cr_assert_eq(ts()->misses[PL_TLB_L1D][PL_PAGE_4K], 1);
    ok(0x3010, PL_WRITE);
    cr_assert_eq(cs()->walks, 2);
    cr_assert_eq(cs()->dirty_walks, 1);
    cr_assert_eq(pl_tlb_valid_entries(pl_cpu_tlb(cpu), PL_TLB_L1D, PL_PAGE_4K), 1);
}

Test(cpu, a_dirty_walk_sees_a_pte_made_read_only_meanwhile)
{
    uint64_t leaf = map(0x3000, 0xA0000, URW);
    pl_cpu_set_cpl(cpu, 3);
    ok(0x3000, PL_READ);
    pl_physmem_write64(mem, leaf, 0xA0000 | URO | PTE_A);
    struct pl_fault f = bad(0x3000, PL_WRITE);
    cr_assert_eq(f.vector, PL_VEC_PF);
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_W | PL_PF_U);
    cr_assert_eq(f.addr, 0x3000);
    cr_assert_eq(cs()->tlb_faults, 0, "decided by the walk");
    cr_assert_eq(cs()->page_faults, 1);
    cr_assert_eq(rd64(leaf) & PTE_D, 0);
    cr_assert_not(in_tlb(PL_TLB_L1D, 0x3000, 0), "the fault dropped the entry");
}

Test(cpu, cached_read_only_rights_give_at_most_one_spurious_fault)
{
    uint64_t leaf = map(0x3000, 0xA0000, URO);
    pl_cpu_set_cpl(cpu, 3);
    ok(0x3000, PL_READ);
    pl_physmem_write64(mem, leaf, 0xA0000 | URW | PTE_A); /* upgrade, no INVLPG */
    struct pl_fault f = bad(0x3000, PL_WRITE);
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_W | PL_PF_U);
    cr_assert_eq(f.cause, PL_CAUSE_RIGHTS);
    cr_assert_eq(cs()->tlb_faults, 1);
    cr_assert_eq(cs()->walks, 1, "decided from the TLB");
    cr_assert_not(in_tlb(PL_TLB_L1D, 0x3000, 0));
    cr_assert_not(in_tlb(PL_TLB_L2, 0x3000, 0));
    cr_assert_eq(ok(0x3000, PL_WRITE), 0xA0000);
    cr_assert_eq(cs()->walks, 2);
    cr_assert_eq(ts()->inval[PL_INV_PAGE_FAULT], 1);
}

Test(cpu, tlb_hits_check_cached_rights_against_the_current_cr0_wp)
{
    uint64_t leaf = map(0x3000, 0xA0000, PTE_P); /* supervisor, read-only */
    cr_assert_eq(pl_cpu_write_cr0(cpu, pl_cpu_regs(cpu)->cr0 & ~PL_CR0_WP), 0);
    ok(0x3000, PL_WRITE);
    cr_assert(rd64(leaf) & PTE_D);
    cr_assert_eq(pl_cpu_write_cr0(cpu, pl_cpu_regs(cpu)->cr0 | PL_CR0_WP), 0);
    cr_assert(in_tlb(PL_TLB_L1D, 0x3000, 0), "changing WP flushes nothing");
    struct pl_fault f = bad(0x3000, PL_WRITE);
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_W);
    cr_assert_eq(cs()->tlb_faults, 1);
}

Test(cpu, tlb_hits_check_the_cached_key_against_the_current_pkru)
{
    cr_assert_eq(pl_cpu_write_pkru(cpu, 0), PL_EINVAL, "WRPKRU needs CR4.PKE");
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_PKE), 0);
    map(0x3000, 0xA0000, URW | (UINT64_C(5) << PTE_PKEY_SHIFT));
    pl_cpu_set_cpl(cpu, 3);
    ok(0x3000, PL_READ);
    cr_assert_eq(pl_cpu_write_pkru(cpu, 1u << 10), 0); /* AD5 */
    struct pl_fault f = bad(0x3000, PL_READ);
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_U | PL_PF_PK);
    cr_assert_eq(f.cause, PL_CAUSE_PKEY);
    cr_assert_eq(cs()->tlb_faults, 1);
    pl_cpu_set_cpl(cpu, 0);
    f = bad(0x3000, PL_WRITE);
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_W | PL_PF_PK, "keys apply to supervisor accesses too");
    cr_assert_eq(cs()->tlb_faults, 1, "decided by the walk this time");
}

Test(cpu, a_fault_drops_the_cached_partial_walks_on_its_path_only)
{
    uint64_t far = UINT64_C(1) << 39;
    map(0x5000, 0x20000, URW);
    map(far, 0x21000, URW);
    ok(0x5000, PL_READ);
    ok(far, PL_READ);
    struct pl_fault f = bad(0x6000, PL_READ); /* its PTE is not present */
    cr_assert_eq(f.error_code, 0);
    cr_assert_eq(f.level, 1);
    cr_assert_eq(cs()->walks_by_refs[1], 1, "the walk started from the PDE cache");
    struct pl_tlb *t = pl_cpu_tlb(cpu);
    cr_assert_not(pl_tlb_psc_probe(t, 2, 0x5000, 0, NULL, NULL));
    cr_assert_not(pl_tlb_psc_probe(t, 3, 0x5000, 0, NULL, NULL));
    cr_assert_not(pl_tlb_psc_probe(t, 4, 0x5000, 0, NULL, NULL));
    cr_assert(pl_tlb_psc_probe(t, 4, far, 0, NULL, NULL));
    cr_assert(in_tlb(PL_TLB_L1D, 0x5000, 0), "another page's TLB entry stays");
    cr_assert_eq(ts()->misses[PL_TLB_L1D][PL_PAGE_NONE], 1);
    cr_assert_eq(ts()->misses[PL_TLB_L2][PL_PAGE_NONE], 1);
    const struct pl_cost_model *c = pl_cpu_cost(cpu);
    cr_assert_eq(cs()->cycles, 3 * c->tlb_l2_hit + c->psc_hit + (4 + 4 + 1) * c->walk_ref + c->fault);
}

Test(cpu, large_pages_use_the_2m_and_1g_arrays)
{
    map_in(ROOT1, 4, 0x40000000 + 0x600000, 0x1E00000, 2, URW);
    cr_assert_eq(ok(0x40600000 + 0x12345, PL_READ), 0x1E12345);
    cr_assert_eq(ok(0x40600000 + 0x1FFFFF, PL_READ), 0x1FFFFFF);
    cr_assert_eq(pl_tlb_valid_entries(pl_cpu_tlb(cpu), PL_TLB_L1D, PL_PAGE_2M), 1);
    cr_assert_eq(ts()->hits[PL_TLB_L1D][PL_PAGE_2M], 1);
    cr_assert_eq(ts()->misses[PL_TLB_L1D][PL_PAGE_2M], 1);
    cr_assert_eq(cs()->walks_by_refs[3], 1);

    map_in(ROOT1, 4, 0x80000000, 0xC0000000, 3, URW);
    cr_assert_eq(ok(0x80000000 + 0x3456789, PL_FETCH), 0xC3456789);
    cr_assert_eq(ok(0xBFFFFFFF, PL_FETCH), 0xFFFFFFFF);
    cr_assert_eq(pl_tlb_valid_entries(pl_cpu_tlb(cpu), PL_TLB_L1I, PL_PAGE_1G), 0, "no 1G array in L1I");
    cr_assert_eq(pl_tlb_valid_entries(pl_cpu_tlb(cpu), PL_TLB_L2, PL_PAGE_1G), 1);
    cr_assert_eq(ts()->hits[PL_TLB_L2][PL_PAGE_1G], 1);
    cr_assert_eq(ts()->misses[PL_TLB_L1I][PL_PAGE_1G], 2);
    cr_assert_eq(cs()->walks, 2);
    cr_assert_eq(cs()->walks_by_refs[1], 1, "the PML4E cache served the 1G walk");
}

Test(cpu, setting_smep_flushes_the_current_pcid)
{
    map(0x3000, 0xA0000, URW);
    ok(0x3000, PL_FETCH);
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_SMEP), 0);
    cr_assert_eq(ts()->inval[PL_INV_CR4_CONTEXT], 1);
    cr_assert_not(in_tlb(PL_TLB_L1I, 0x3000, 0));
    cr_assert_eq(bad(0x3000, PL_FETCH).error_code, PL_PF_P | PL_PF_ID);
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE), 0);
    cr_assert_eq(ts()->inval[PL_INV_CR4_CONTEXT], 1, "clearing SMEP flushes nothing");
}

Test(cpu, five_level_paging_walks_five_references)
{
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_LA57), PL_EINVAL, "LA57 is fixed in long mode");
    uint64_t cr0 = pl_cpu_regs(cpu)->cr0;
    cr_assert_eq(pl_cpu_write_cr0(cpu, cr0 & ~PL_CR0_PG), 0);
    cr_assert_eq(pl_cpu_regs(cpu)->efer & PL_EFER_LMA, 0);
    cr_assert_eq(ts()->inval[PL_INV_CR0_PG], 1);
    cr_assert_eq(ok(0x123456789, PL_READ), 0x23456789, "no paging: 32-bit linear = physical");
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_LA57), 0);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT2), 0);
    cr_assert_eq(pl_cpu_write_cr0(cpu, cr0), 0);
    cr_assert(pl_cpu_regs(cpu)->efer & PL_EFER_LMA);
    cr_assert_eq(pl_cpu_mmu(cpu)->levels, 5);
    uint64_t la = UINT64_C(0x00FF000000001000); /* canonical only with 57 bits */
    map_in(ROOT2, 5, la, 0xB0000, 1, URW);
    pl_cpu_reset_stats(cpu);
    cr_assert_eq(ok(la + 8, PL_READ), 0xB0008);
    cr_assert_eq(cs()->walk_refs, 5);
    map_in(ROOT2, 5, la + (UINT64_C(1) << 39), 0xB1000, 1, URW);
    ok(la + (UINT64_C(1) << 39), PL_READ);
    cr_assert_eq(cs()->walk_refs, 5 + 4, "the PML5E cache served the second walk");
    cr_assert_eq(ts()->psc_hits[PL_PSC_INDEX(5)], 1);
    cr_assert_eq(bad(UINT64_C(0x0100000000000000), PL_READ).vector, PL_VEC_GP);
}

Test(cpu, cr3_writes_check_reserved_bits_against_maxphyaddr)
{
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | PL_CR3_NOFLUSH), PL_EINVAL, "bit 63 needs PCIDE");
    cr_assert_eq(pl_cpu_write_cr3(cpu, UINT64_C(1) << 52), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_cr3(cpu, (UINT64_C(1) << 51) | PL_CR3_PWT), 0);
    cr_assert_eq(pl_cpu_mmu(cpu)->cr3, (UINT64_C(1) << 51) | PL_CR3_PWT);
    cr_assert_eq(pl_cpu_set_maxphyaddr(cpu, 36), PL_EINVAL, "only with paging off");
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1), 0);
    uint64_t cr0 = pl_cpu_regs(cpu)->cr0;
    cr_assert_eq(pl_cpu_write_cr0(cpu, cr0 & ~PL_CR0_PG), 0);
    cr_assert_eq(pl_cpu_set_maxphyaddr(cpu, 31), PL_EINVAL);
    cr_assert_eq(pl_cpu_set_maxphyaddr(cpu, 36), 0);
    cr_assert_eq(pl_cpu_write_cr0(cpu, cr0), 0);
    cr_assert_eq(pl_cpu_write_cr3(cpu, UINT64_C(1) << 36), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_cr3(cpu, UINT64_C(1) << 35), 0);
    cr_assert_eq(pl_cpu_regs(cpu)->cr3, UINT64_C(1) << 35);
}

Test(cpu, pcide_needs_long_mode_and_a_cr3_with_pcid_0)
{
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | 0x8), 0); /* PWT */
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_PCIDE), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1), 0);
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_PCIDE), 0);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1 | 0x18 | PL_CR3_NOFLUSH), 0);
    cr_assert_eq(pl_cpu_pcid(cpu), 0x18);
    cr_assert_eq(pl_cpu_mmu(cpu)->cr3, ROOT1, "with PCIDE, bits 4:3 are PCID, not PWT/PCD");
    cr_assert_eq(pl_cpu_write_cr0(cpu, pl_cpu_regs(cpu)->cr0 & ~PL_CR0_PG), PL_EINVAL,
                 "paging cannot go off with PCIDE");
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE), 0);
    cr_assert_eq(ts()->inval[PL_INV_CR4_ALL], 1, "PCIDE 1 -> 0 flushes everything");
    cr_assert_eq(pl_cpu_pcid(cpu), 0);
}

Test(cpu, control_register_writes_refuse_what_the_processor_refuses)
{
    uint64_t cr0 = pl_cpu_regs(cpu)->cr0;
    cr_assert_eq(pl_cpu_write_cr0(cpu, cr0 | (UINT64_C(1) << 32)), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_cr0(cpu, cr0 & ~PL_CR0_PE), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_cr0(cpu, cr0 | PL_CR0_NW), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_cr4(cpu, 0), PL_EINVAL, "PAE cannot go off in long mode");
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | (UINT64_C(1) << 24)), PL_EINVAL, "PKS is not modelled");
    cr_assert_eq(pl_cpu_write_efer(cpu, pl_cpu_regs(cpu)->efer & ~PL_EFER_LME), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_efer(cpu, PL_EFER_LME | (UINT64_C(1) << 20)), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_efer(cpu, PL_EFER_LME), 0, "NXE off, LMA kept");
    cr_assert_eq(pl_cpu_regs(cpu)->efer, PL_EFER_LME | PL_EFER_LMA);
    cr_assert_not(pl_cpu_mmu(cpu)->nxe);
    cr_assert_eq(pl_cpu_regs(cpu)->cr0, cr0);
    cr_assert_eq(pl_cpu_set_cpl(cpu, 4), PL_EINVAL);
    cr_assert_eq(pl_cpu_set_cpl(cpu, 3), 0);
    cr_assert_eq(pl_cpu_write_cr0(cpu, cr0), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_pat(cpu, PL_PAT_RESET), PL_EINVAL);
    cr_assert_eq(pl_cpu_set_ad_policy(cpu, 2), PL_EINVAL);
}

Test(cpu, pat_writes_reject_reserved_encodings)
{
    cr_assert_eq(pl_cpu_write_pat(cpu, UINT64_C(0x0007040600070402)), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_pat(cpu, UINT64_C(0x0307040600070406)), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_pat(cpu, UINT64_C(0x0007040600070408)), PL_EINVAL);
    cr_assert_eq(pl_cpu_write_pat(cpu, UINT64_C(0x0007041600070406)), PL_EINVAL);
    cr_assert_eq(pl_cpu_regs(cpu)->pat, PL_PAT_RESET);
    cr_assert_eq(pl_cpu_write_pat(cpu, UINT64_C(0x0001040500070406)), 0);
    cr_assert_eq(pl_cpu_mmu(cpu)->pat, UINT64_C(0x0001040500070406));
    map(0x3000, 0xA0000, URW | PTE_PAT4K | PTE_PCD); /* PAT index 6 */
    ok(0x3000, PL_READ);
    struct pl_tlb_entry e;
    cr_assert(pl_tlb_probe(pl_cpu_tlb(cpu), PL_TLB_L1D, 0x3000, 0, &e));
    cr_assert_eq(e.memtype, PL_MT_WC);
}

Test(cpu, the_tlb_entry_holds_what_the_sdm_says_is_cached)
{
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_PGE), 0);
    uint64_t leaf = map(0x3000, 0xA0000, PTE_P | PTE_US | PTE_G | PTE_PCD | PTE_XD | (UINT64_C(7) << PTE_PKEY_SHIFT));
    ok(0x3000, PL_READ);
    struct pl_tlb_entry e;
    cr_assert(pl_tlb_probe(pl_cpu_tlb(cpu), PL_TLB_L1D, 0x3000, 0, &e));
    cr_assert_eq(e.frame, 0xA0000);
    cr_assert_eq(e.page_shift, 12);
    cr_assert_eq(e.rights, PL_RIGHT_U);
    cr_assert_eq(e.memtype, PL_MT_UCM);
    cr_assert_eq(e.pkey, 7);
    cr_assert_not(e.dirty);
    cr_assert(e.global);
    cr_assert_eq(e.leaf_pa, leaf);
}

Test(cpu, an_unknown_access_kind_is_refused)
{
    struct pl_fault f = bad(0x1000, 3);
    cr_assert_eq(f.vector, PL_VEC_GP);
    cr_assert_eq(f.cause, 0);
    f = bad(0x1000, 8);
    cr_assert_eq(f.cause, 0);
    cr_assert_eq(cs()->walks, 0);
}

Test(cpu, implicit_supervisor_accesses_ignore_ac_for_smap_on_tlb_hits)
{
    cr_assert_eq(pl_cpu_write_cr4(cpu, PL_CR4_PAE | PL_CR4_SMAP), 0);
    map(0x3000, 0xA0000, URW);
    pl_cpu_set_ac(cpu, true);
    ok(0x3000, PL_READ);
    cr_assert_eq(bad(0x3000, PL_READ | PL_IMPLICIT).error_code, PL_PF_P);
    cr_assert_eq(cs()->tlb_faults, 1);
    pl_cpu_set_ac(cpu, false);
    cr_assert_eq(bad(0x3000, PL_READ).error_code, PL_PF_P);
}

Test(cpu, the_cost_model_can_be_replaced)
{
    pl_cpu_free(cpu);
    struct pl_cost_model c = pl_cost_model_default();
    c.walk_ref = 100;
    c.tlb_l1_hit = 0;
    cpu = pl_cpu_new(mem, NULL, &c);
    cr_assert_eq(pl_cpu_write_cr3(cpu, ROOT1), 0);
    cr_assert_eq(cs()->cycles, c.cr3_write);
    pl_cpu_reset_stats(cpu);
    map(0x3000, 0xA0000, URW);
    ok(0x3000, PL_READ);
    ok(0x3000, PL_READ);
    cr_assert_eq(cs()->cycles, c.tlb_l2_hit + 400);
    cr_assert_eq(pl_cpu_invlpg(cpu, 0x3000), 0);
    cr_assert_eq(pl_cpu_invpcid(cpu, 2, 0, 0), 0);
    cr_assert_eq(cs()->cycles, c.tlb_l2_hit + 400 + c.invlpg + c.invpcid_context);
}

Test(cpu, a_cpu_refuses_a_malformed_tlb_configuration)
{
    struct pl_tlb_config cfg;
    pl_tlb_config_default(&cfg);
    cfg.psc[0].ways = 3;
    cr_assert_null(pl_cpu_new(mem, &cfg, NULL));
}
