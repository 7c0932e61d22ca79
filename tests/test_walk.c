/* hw/walk: the page walker through its API. The spec's rules are also
 * covered case by case in tests/cases/ and by tests/test_walk_property.c. */
#include <criterion/criterion.h>

#include "hw/pte.h"
#include "ptelab/physmem.h"
#include "ptelab/walk.h"

static struct pl_physmem *mem;
static struct pl_mmu mmu;
static uint64_t next_table;

static void setup(void)
{
    mem = pl_physmem_new();
    pl_mmu_init(&mmu);
    mmu.cr3 = 0x1000;
    pl_mmu_update(&mmu);
    next_table = 0x2000;
}
static void teardown(void) { pl_physmem_free(mem); }
TestSuite(walk, .init = setup, .fini = teardown);

/* Maps la to pa with a leaf at leaf_level; every non-leaf entry gets
 * upper_flags (P RW US unless told otherwise), the leaf gets leaf_flags. */
static void map(uint64_t la, uint64_t pa, int leaf_level, uint64_t upper_flags, uint64_t leaf_flags)
{
    uint64_t table = mmu.cr3 & ~UINT64_C(0xFFF);
    for (int level = mmu.levels; level > leaf_level; level--) {
        uint64_t slot = table + 8 * pte_index(la, level);
        uint64_t e = pl_physmem_read64(mem, slot);
        if (!(e & PTE_P)) {
            e = next_table | upper_flags;
            next_table += 0x1000;
            pl_physmem_write64(mem, slot, e);
        }
        table = e & PTE_ADDR_MASK;
    }
    uint64_t ps = leaf_level > 1 ? PTE_PS : 0;
    pl_physmem_write64(mem, table + 8 * pte_index(la, leaf_level), pa | ps | leaf_flags);
}

static uint64_t entry_at(int level, uint64_t la)
{
    uint64_t table = mmu.cr3 & ~UINT64_C(0xFFF);
    for (int l = mmu.levels; l > level; l--)
        table = pl_physmem_read64(mem, table + 8 * pte_index(la, l)) & PTE_ADDR_MASK;
    return pl_physmem_read64(mem, table + 8 * pte_index(la, level));
}

static bool walk(uint64_t la, unsigned kind, unsigned cpl, bool ac, struct pl_walk_out *out, struct pl_fault *f)
{
    struct pl_walk_in in = {.la = la, .kind = (uint8_t)kind, .cpl = (uint8_t)cpl, .ac = ac};
    return pl_walk(&mmu, mem, &in, out, f);
}

#define URW (PTE_P | PTE_RW | PTE_US)

Test(walk, a_4k_read_translates_and_sets_accessed_on_every_level)
{
    map(0x7000001234, 0xABCDE000, 1, URW, URW);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert(walk(0x7000001234, PL_READ, 3, false, &out, &f));
    cr_assert_eq(out.pa, 0xABCDE234);
    cr_assert_eq(out.page_shift, 12);
    cr_assert_eq(out.refs, 4);
    cr_assert_eq(out.nsteps, 4);
    cr_assert_eq(out.rights, PL_RIGHT_W | PL_RIGHT_U | PL_RIGHT_X);
    cr_assert_eq(out.memtype, PL_MT_WB);
    cr_assert_not(out.dirty);
    for (int level = 4; level >= 1; level--)
        cr_assert(entry_at(level, 0x7000001234) & PTE_A, "level %d", level);
    cr_assert_not(entry_at(1, 0x7000001234) & PTE_D);
}

Test(walk, a_write_sets_dirty_in_the_leaf_only)
{
    map(0x2000, 0x9000, 1, URW, URW);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert(walk(0x2000, PL_WRITE, 3, false, &out, &f));
    cr_assert(out.dirty);
    cr_assert_eq(entry_at(1, 0x2000), 0x9000 | URW | PTE_A | PTE_D);
    for (int level = 4; level >= 2; level--)
        cr_assert_not(entry_at(level, 0x2000) & PTE_D, "level %d", level);
}

Test(walk, large_pages_take_their_offset_from_the_linear_address)
{
    map(0x40000000, 0x80000000, 3, URW, URW | PTE_PATLG);
    map(0x00600000, 0x00A00000, 2, URW, URW);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert(walk(0x7FFFFFFF, PL_READ, 0, false, &out, &f));
    cr_assert_eq(out.pa, 0xBFFFFFFF, "PAT bit 12 is not address");
    cr_assert_eq(out.page_shift, 30);
    cr_assert_eq(out.refs, 2);
    cr_assert_eq(out.memtype, PL_MT_WB, "PAT index 4 is WB at reset");
    cr_assert(walk(0x006FFFFF, PL_READ, 0, false, &out, &f));
    cr_assert_eq(out.pa, 0x00AFFFFF);
    cr_assert_eq(out.page_shift, 21);
    cr_assert_eq(out.refs, 3);
}

Test(walk, memory_type_comes_from_pat_pcd_pwt)
{
    map(0x1000, 0x5000, 1, URW, URW | PTE_PCD | PTE_PWT);
    map(0x3000, 0x6000, 1, URW, URW | PTE_PAT4K | PTE_PWT);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert(walk(0x1000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(out.memtype, PL_MT_UC, "index 3 = UC at reset");
    mmu.pat = UINT64_C(0x0000000100000000); /* PA4 = WC, others UC */
    pl_mmu_update(&mmu);
    cr_assert(walk(0x3000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(out.memtype, PL_MT_UC, "index 5 = UC in this PAT");
    map(0x4000, 0x7000, 1, URW, URW | PTE_PAT4K);
    cr_assert(walk(0x4000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(out.memtype, PL_MT_WC);
}

Test(walk, non_canonical_address_is_gp_and_touches_nothing)
{
    map(0x1000, 0x5000, 1, URW, URW);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x0000800000000000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(f.vector, PL_VEC_GP);
    cr_assert_eq(out.refs, 0);
    cr_assert_not(entry_at(4, 0x1000) & PTE_A);
    cr_assert(pl_la_canonical(0xFFFF800000000000, 4));
    cr_assert_not(pl_la_canonical(0xFFFF7FFFFFFFFFFF, 4));
    cr_assert_not(pl_la_canonical(0x0100000000000000, 5));
    cr_assert(pl_la_canonical(0x00FFFFFFFFFFFFFF, 5));
    cr_assert_not(pl_la_canonical(0x00FFFFFFFFFFFFFF, 4));
    cr_assert(pl_la_canonical(0xFF00000000000000, 5));
}

Test(walk, not_present_wins_over_an_upper_level_rights_denial)
{
    map(0x1000, 0x5000, 1, PTE_P | PTE_RW, 0); /* PML4E..PDE supervisor, PTE absent */
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(f.vector, PL_VEC_PF);
    cr_assert_eq(f.error_code, PL_PF_U);
    cr_assert_eq(f.cause, PL_CAUSE_NOT_PRESENT);
    cr_assert_eq(f.level, 1);
    cr_assert_eq(f.addr, 0x1000);
}

Test(walk, reserved_bits_depend_on_maxphyaddr_and_nxe)
{
    map(0x1000, 0x5000, 1, URW, URW | PTE_BIT(40));
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert(walk(0x1000, PL_READ, 3, false, &out, &f), "bit 40 is address when M = 52");
    cr_assert_eq(out.pa, 0x10000005000);
    mmu.maxphyaddr = 36;
    pl_mmu_update(&mmu);
    cr_assert_not(walk(0x1000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_RSVD | PL_PF_U);
    cr_assert_eq(f.level, 1);

    map(0x200000, 0x6000, 1, URW | PTE_XD, URW);
    mmu.maxphyaddr = 52;
    mmu.nxe = false;
    pl_mmu_update(&mmu);
    cr_assert_not(walk(0x200000, PL_FETCH, 0, false, &out, &f));
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_RSVD, "no I/D without NXE or SMEP");
}

Test(walk, large_leaves_reserve_their_low_address_bits)
{
    map(0x40000000, 0x80000000 | PTE_BIT(13), 3, URW, URW);
    map(0x00200000, 0x00400000 | PTE_BIT(20), 2, URW, URW);
    map(0x00400000, 0x00600000 | PTE_BIT(12), 2, URW, URW);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x40000000, PL_READ, 0, false, &out, &f));
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_RSVD);
    cr_assert_eq(f.level, 3);
    cr_assert_not(walk(0x00200000, PL_READ, 0, false, &out, &f));
    cr_assert_eq(f.level, 2);
    cr_assert(walk(0x00400000, PL_READ, 0, false, &out, &f), "bit 12 is PAT");
    mmu.gbpages = false;
    pl_mmu_update(&mmu);
    map(0x80000000, 0xC0000000, 3, URW, URW);
    cr_assert_not(walk(0x80000000, PL_READ, 0, false, &out, &f), "PS in a PDPTE without 1G pages");
    cr_assert_eq(f.cause, PL_CAUSE_RESERVED);
}

Test(walk, ps_in_a_pml4e_is_reserved_and_bit_8_only_on_amd)
{
    pl_physmem_write64(mem, 0x1000, 0x2000 | URW | PTE_PS);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_RSVD | PL_PF_U);
    pl_physmem_write64(mem, 0x1000, 0);
    map(0x1000, 0x5000, 1, URW | PTE_G, URW);
    cr_assert(walk(0x1000, PL_READ, 3, false, &out, &f), "Intel ignores PML4E bit 8");
    mmu.amd = true;
    pl_mmu_update(&mmu);
    cr_assert_not(walk(0x1000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(f.level, 4);
}

Test(walk, supervisor_write_to_read_only_page_obeys_cr0_wp)
{
    map(0x1000, 0x5000, 1, URW, PTE_P);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_WRITE, 0, false, &out, &f));
    cr_assert_eq(f.error_code, PL_PF_P | PL_PF_W);
    mmu.wp = false;
    pl_mmu_update(&mmu);
    cr_assert(walk(0x1000, PL_WRITE, 0, false, &out, &f));
    cr_assert(entry_at(1, 0x1000) & PTE_D, "D is set even in a read-only entry");
}

Test(walk, smap_denies_supervisor_data_access_to_user_pages_without_ac)
{
    map(0x1000, 0x5000, 1, URW, PTE_P | PTE_US);
    mmu.smap = true;
    mmu.wp = false;
    pl_mmu_update(&mmu);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_WRITE, 0, false, &out, &f));
    cr_assert_eq(f.error_code, 0x03);
    cr_assert(walk(0x1000, PL_WRITE, 0, true, &out, &f), "AC excuses; WP = 0 ignores R/W");
    cr_assert_not(walk(0x1000, PL_WRITE | PL_IMPLICIT, 0, true, &out, &f), "AC does not excuse implicit");
    cr_assert_eq(f.error_code, 0x03);
    cr_assert_not(walk(0x1000, PL_READ | PL_IMPLICIT, 3, true, &out, &f));
    cr_assert_eq(f.error_code, 0x01, "an implicit access at CPL 3 has U/S = 0 in the error code");
}

Test(walk, smep_denies_supervisor_fetch_from_user_pages_with_id_set)
{
    map(0x1000, 0x5000, 1, URW, URW);
    mmu.smep = true;
    mmu.nxe = false;
    pl_mmu_update(&mmu);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_FETCH, 0, false, &out, &f));
    cr_assert_eq(f.error_code, 0x11);
    cr_assert_eq(f.denied, PL_DENY_SMEP);
    cr_assert(walk(0x1000, PL_FETCH, 3, false, &out, &f));
}

Test(walk, every_denying_rule_is_named)
{
    map(0x1000, 0x5000, 1, URW, PTE_P | PTE_US | PTE_XD);
    mmu.smep = mmu.smap = true;
    pl_mmu_update(&mmu);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_FETCH, 0, false, &out, &f));
    cr_assert_eq(f.denied, PL_DENY_SMEP | PL_DENY_XD);
    cr_assert_not(walk(0x1000, PL_WRITE, 0, false, &out, &f));
    cr_assert_eq(f.denied, PL_DENY_SMAP | PL_DENY_WP);
    cr_assert_eq(f.error_code, 0x03);
    cr_assert_not(walk(0x1000, PL_WRITE, 3, false, &out, &f));
    cr_assert_eq(f.denied, PL_DENY_RW);
    map(0x2000, 0x6000, 1, URW, PTE_P | PTE_RW);
    cr_assert_not(walk(0x2000, PL_WRITE, 3, false, &out, &f));
    cr_assert_eq(f.denied, PL_DENY_US, "a supervisor page denies a user access on U/S alone");
}

Test(walk, xd_in_an_upper_level_blocks_fetches_only)
{
    map(0x1000, 0x5000, 1, URW, URW);
    pl_physmem_write64(mem, 0x1000, pl_physmem_read64(mem, 0x1000) | PTE_XD);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_FETCH, 0, false, &out, &f));
    cr_assert_eq(f.error_code, 0x11);
    cr_assert_not(walk(0x1000, PL_FETCH, 3, false, &out, &f));
    cr_assert_eq(f.error_code, 0x15);
    cr_assert(walk(0x1000, PL_WRITE, 3, false, &out, &f));
    cr_assert_eq(out.rights, PL_RIGHT_W | PL_RIGHT_U);
}

Test(walk, protection_keys_guard_user_pages_data_only)
{
    map(0x1000, 0x5000, 1, URW, URW | ((uint64_t)3 << PTE_PKEY_SHIFT));
    map(0x2000, 0x6000, 1, URW, PTE_P | PTE_US | ((uint64_t)3 << PTE_PKEY_SHIFT));
    map(0x3000, 0x7000, 1, URW, PTE_P | PTE_RW | ((uint64_t)3 << PTE_PKEY_SHIFT));
    mmu.pke = true;
    mmu.pkru = 2u << 6; /* key 3: WD */
    pl_mmu_update(&mmu);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert(walk(0x1000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(out.pkey, 3);
    cr_assert_not(walk(0x1000, PL_WRITE, 3, false, &out, &f));
    cr_assert_eq(f.error_code, 0x27);
    cr_assert_eq(f.cause, PL_CAUSE_PKEY);
    cr_assert_not(walk(0x2000, PL_WRITE, 3, false, &out, &f));
    cr_assert_eq(f.error_code, 0x27, "PK is set even when R/W also denies");
    cr_assert_eq(f.cause, PL_CAUSE_RIGHTS);
    cr_assert_eq(f.denied, PL_DENY_RW | PL_DENY_PKEY_WD, "both rules are named");
    cr_assert_not(walk(0x1000, PL_WRITE, 0, false, &out, &f), "WD stops supervisor writes under WP");
    cr_assert_eq(f.error_code, 0x23);
    mmu.wp = false;
    pl_mmu_update(&mmu);
    cr_assert(walk(0x1000, PL_WRITE, 0, false, &out, &f), "but not when WP = 0");
    mmu.pkru = 1u << 6; /* key 3: AD */
    pl_mmu_update(&mmu);
    cr_assert(walk(0x1000, PL_FETCH, 3, false, &out, &f), "keys never apply to fetches");
    cr_assert_not(walk(0x3000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(f.error_code, 0x05, "supervisor pages: no PK");
}

Test(walk, accessed_on_fault_policy_sets_upper_a_bits_only)
{
    map(0x1000, 0x5000, 1, URW, PTE_P | PTE_US);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_WRITE, 3, false, &out, &f));
    for (int level = 4; level >= 1; level--)
        cr_assert_not(entry_at(level, 0x1000) & PTE_A, "policy 0, level %d", level);
    mmu.ad_policy = PL_AD_UPPER_ON_FAULT;
    cr_assert_not(walk(0x1000, PL_WRITE, 3, false, &out, &f));
    for (int level = 4; level >= 2; level--)
        cr_assert(entry_at(level, 0x1000) & PTE_A, "policy 1, level %d", level);
    cr_assert_not(entry_at(1, 0x1000) & PTE_A, "never the leaf of a faulting access");
}

Test(walk, five_level_paging_walks_from_the_pml5)
{
    mmu.levels = 5;
    pl_mmu_update(&mmu);
    uint64_t la = 0xFF12345678901000; /* canonical in 57 bits */
    map(la, 0x777000, 1, URW, URW);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert(walk(la | 0xABC, PL_READ, 3, false, &out, &f));
    cr_assert_eq(out.pa, 0x777ABC);
    cr_assert_eq(out.refs, 5);
    cr_assert_eq(out.step[0].level, 5);
    cr_assert_eq(out.step[0].index, (la >> 48) & 511);
}

Test(walk, a_walk_can_start_from_a_cached_upper_level)
{
    map(0x1000, 0x5000, 1, PTE_P | PTE_RW | PTE_US, PTE_P | PTE_RW | PTE_US);
    uint64_t pt = entry_at(2, 0x1000) & PTE_ADDR_MASK;
    struct pl_walk_in in = {.la = 0x1000, .kind = PL_WRITE, .cpl = 3, .start_level = 1, .start_table = pt,
                            .start_rights = PL_RIGHT_U | PL_RIGHT_X};
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(pl_walk(&mmu, mem, &in, &out, &f), "rights cached above still count");
    cr_assert_eq(f.error_code, 0x07);
    cr_assert_eq(out.refs, 1);
    in.start_rights |= PL_RIGHT_W;
    cr_assert(pl_walk(&mmu, mem, &in, &out, &f));
    cr_assert_eq(out.refs, 1);
    cr_assert_eq(out.pa, 0x5000);
    cr_assert_not(entry_at(4, 0x1000) & PTE_A, "cached levels are not updated");
}

Test(walk, a_self_referencing_pml4_entry_maps_the_tables_themselves)
{
    pl_physmem_write64(mem, 0x1000 + 8 * 511, 0x1000 | PTE_P | PTE_RW); /* PML4[511] -> PML4 */
    map(0x1000, 0x5000, 1, URW, URW);
    /* indexes 511, 511, 511, 511: PML4[511] serves every level, so the
     * address reaches the PML4 page itself */
    uint64_t la = 0xFFFFFFFFFFFFF000;
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert(walk(la, PL_WRITE, 0, false, &out, &f));
    cr_assert_eq(out.pa, 0x1000);
    cr_assert_eq(pl_physmem_read64(mem, 0x1000 + 8 * 511), 0x1000 | PTE_P | PTE_RW | PTE_A | PTE_D,
                 "used as PML4E, PDPTE and PDE (A), and as the leaf (D)");
}

Test(walk, reading_absent_memory_creates_no_frames)
{
    pl_physmem_write64(mem, 0x1000, 0x99000 | URW);
    size_t before = pl_physmem_frames(mem);
    struct pl_walk_out out;
    struct pl_fault f;
    cr_assert_not(walk(0x1000, PL_READ, 3, false, &out, &f));
    cr_assert_eq(f.error_code, PL_PF_U);
    cr_assert_eq(pl_physmem_frames(mem), before);
}
