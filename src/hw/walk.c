/* The x86-64 page walker. One loop over the levels, root first; per-level
 * differences live in the reserved-bit table of struct pl_mmu. Faults are
 * built in one place (pf()), with their error code from pl_pf_error_code().
 *
 * A 4-level linear address (5-level adds PML5 at bits 56:48):
 *
 *   63    48 47   39 38   30 29   21 20   12 11      0
 *  | sign   | PML4  | PDPT  |  PD   |  PT   |  offset  |
 *                           '- 1G offset -----------'
 *                                   '- 2M offset ---'
 */
#include "ptelab/walk.h"

#include <string.h>

#include "hw/pte.h"
#include "ptelab/physmem.h"

void pl_mmu_init(struct pl_mmu *mmu)
{
    memset(mmu, 0, sizeof *mmu);
    mmu->pat = PL_PAT_RESET;
    mmu->levels = 4;
    mmu->maxphyaddr = 52;
    mmu->wp = true;
    mmu->nxe = true;
    mmu->gbpages = true;
    mmu->ad_policy = PL_AD_NONE_ON_FAULT;
    pl_mmu_update(mmu);
}

/* The reserved-bit mask of a present entry (spec §2). */
static uint64_t reserved_bits(const struct pl_mmu *mmu, int level, bool ps)
{
    uint64_t rsvd = mmu->maxphyaddr < 52 ? PTE_BITS(51, mmu->maxphyaddr) : 0;
    if (!mmu->nxe)
        rsvd |= PTE_XD;
    if (level >= PTE_LEVEL_PML4) {
        rsvd |= PTE_PS;
        if (mmu->amd)
            rsvd |= PTE_G;
    }
    if (level == PTE_LEVEL_PDPT && ps) {
        if (!mmu->gbpages)
            rsvd |= PTE_PS;
        rsvd |= PTE_BITS(29, 13);
    }
    if (level == PTE_LEVEL_PD && ps)
        rsvd |= PTE_BITS(20, 13);
    return rsvd;
}

void pl_mmu_update(struct pl_mmu *mmu)
{
    for (int level = 1; level <= 5; level++)
        for (int ps = 0; ps <= 1; ps++)
            mmu->rsvd[level][ps] = reserved_bits(mmu, level, ps);
    mmu->rsvd[0][0] = mmu->rsvd[0][1] = 0;
    mmu->addr_mask = PTE_BITS(mmu->maxphyaddr - 1, 12);
}

bool pl_la_canonical(uint64_t la, unsigned levels)
{
    unsigned unused = levels == 5 ? 7 : 16; /* bits above 56 or 47 */
    return (uint64_t)((int64_t)(la << unused) >> unused) == la;
}

uint16_t pl_pf_error_code(const struct pl_mmu *mmu, const struct pl_walk_in *in, uint16_t bits)
{
    unsigned kind = in->kind & PL_KIND_MASK;
    if (kind == PL_WRITE)
        bits |= PL_PF_W;
    if (in->cpl == 3 && !(in->kind & PL_IMPLICIT))
        bits |= PL_PF_U;
    if (kind == PL_FETCH && (mmu->nxe || mmu->smep))
        bits |= PL_PF_ID;
    return bits;
}

/* The rules of SDM §4.6.1 that deny the access: U/S, R/W, XD, SMEP, SMAP
 * and CR0.WP. */
static unsigned rights_denials(const struct pl_mmu *mmu, const struct pl_walk_in *in, unsigned rights)
{
    unsigned kind = in->kind & PL_KIND_MASK;
    bool implicit = in->kind & PL_IMPLICIT;
    bool user_page = rights & PL_RIGHT_U;
    bool writable = rights & PL_RIGHT_W, executable = rights & PL_RIGHT_X;

    if (in->cpl == 3 && !implicit) {
        if (!user_page)
            return PL_DENY_US;
        return (kind == PL_WRITE && !writable ? PL_DENY_RW : 0) | (kind == PL_FETCH && !executable ? PL_DENY_XD : 0);
    }
    if (kind == PL_FETCH)
        return (user_page && mmu->smep ? PL_DENY_SMEP : 0) | (!executable ? PL_DENY_XD : 0);
    return (user_page && mmu->smap && (implicit || !in->ac) ? PL_DENY_SMAP : 0) |
           (kind == PL_WRITE && mmu->wp && !writable ? PL_DENY_WP : 0);
}

/* The protection-key rules (SDM §4.6.2): keys guard data accesses to
 * user-mode addresses only, and WD stops supervisor writes only under
 * CR0.WP. */
static unsigned key_denials(const struct pl_mmu *mmu, const struct pl_walk_in *in, unsigned rights, unsigned pkey)
{
    unsigned kind = in->kind & PL_KIND_MASK;
    if (!mmu->pke || !(rights & PL_RIGHT_U) || kind == PL_FETCH)
        return 0;
    bool user = in->cpl == 3 && !(in->kind & PL_IMPLICIT);
    if ((mmu->pkru >> (2 * pkey)) & 1)
        return PL_DENY_PKEY_AD;
    bool wd = (mmu->pkru >> (2 * pkey + 1)) & 1;
    return kind == PL_WRITE && wd && (user || mmu->wp) ? PL_DENY_PKEY_WD : 0;
}

unsigned pl_rights_denials(const struct pl_mmu *mmu, const struct pl_walk_in *in, unsigned rights, unsigned pkey)
{
    return rights_denials(mmu, in, rights) | key_denials(mmu, in, rights, pkey);
}

uint16_t pl_rights_check(const struct pl_mmu *mmu, const struct pl_walk_in *in, unsigned rights, unsigned pkey)
{
    unsigned denied = pl_rights_denials(mmu, in, rights, pkey);
    return denied ? pl_pf_error_code(mmu, in, PL_PF_P | ((denied & PL_DENY_PKEY) ? PL_PF_PK : 0)) : 0;
}

void pl_rights_fault(const struct pl_mmu *mmu, const struct pl_walk_in *in, unsigned denied, struct pl_fault *fault)
{
    *fault = (struct pl_fault){
        .vector = PL_VEC_PF,
        .cause = (denied & ~PL_DENY_PKEY) ? PL_CAUSE_RIGHTS : PL_CAUSE_PKEY,
        .denied = (uint8_t)denied,
        .error_code = pl_pf_error_code(mmu, in, PL_PF_P | ((denied & PL_DENY_PKEY) ? PL_PF_PK : 0)),
        .addr = in->la,
    };
}

const char *pl_memtype_name(unsigned memtype)
{
    static const char *const names[8] = {"UC", "WC", "reserved(2)", "reserved(3)", "WT", "WP", "WB", "UC-"};
    return names[memtype & 7];
}

static bool pf(const struct pl_walk_in *in, struct pl_fault *fault, uint8_t cause, int level, uint16_t error_code)
{
    *fault = (struct pl_fault){
        .vector = PL_VEC_PF, .cause = cause, .level = (uint8_t)level, .error_code = error_code, .addr = in->la};
    return false;
}

/* Ors bits into the word at pa, reading it afresh: with self-referencing
 * tables an earlier update may have changed it since the walk read it. The
 * word held a present entry, so its frame exists and the write cannot fail. */
static void set_bits(struct pl_physmem *mem, uint64_t pa, uint64_t bits)
{
    uint64_t v = pl_physmem_read64(mem, pa);
    if ((v & bits) != bits)
        pl_physmem_write64(mem, pa, v | bits);
}

static unsigned entry_rights(const struct pl_mmu *mmu, uint64_t entry)
{
    unsigned r = 0;
    if (entry & PTE_RW)
        r |= PL_RIGHT_W;
    if (entry & PTE_US)
        r |= PL_RIGHT_U;
    if (!(mmu->nxe && (entry & PTE_XD)))
        r |= PL_RIGHT_X;
    return r;
}

bool pl_walk(const struct pl_mmu *mmu, struct pl_physmem *mem, const struct pl_walk_in *in,
             struct pl_walk_out *out, struct pl_fault *fault)
{
    uint64_t la = in->la;
    out->nsteps = 0;
    out->refs = 0;
    if (!pl_la_canonical(la, mmu->levels)) {
        *fault = (struct pl_fault){.vector = PL_VEC_GP, .cause = PL_CAUSE_NONCANONICAL, .addr = la};
        return false;
    }

    int level = in->start_level ? in->start_level : mmu->levels;
    uint64_t table = in->start_level ? in->start_table : mmu->cr3 & mmu->addr_mask;
    unsigned rights = in->start_level ? in->start_rights : PL_RIGHT_W | PL_RIGHT_U | PL_RIGHT_X;
    uint64_t entry;
    for (;; level--) {
        uint64_t entry_pa = table + 8 * pte_index(la, level);
        entry = pl_physmem_read64(mem, entry_pa);
        out->step[out->nsteps++] = (struct pl_walk_step){
            .level = (uint8_t)level, .index = (uint16_t)pte_index(la, level), .entry_pa = entry_pa, .entry = entry};
        out->refs++;
        if (!(entry & PTE_P))
            return pf(in, fault, PL_CAUSE_NOT_PRESENT, level, pl_pf_error_code(mmu, in, 0));
        if (entry & mmu->rsvd[level][(entry & PTE_PS) != 0])
            return pf(in, fault, PL_CAUSE_RESERVED, level, pl_pf_error_code(mmu, in, PL_PF_P | PL_PF_RSVD));
        rights &= entry_rights(mmu, entry);
        if (pte_is_leaf(entry, level))
            break;
        if (mmu->ad_policy == PL_AD_UPPER_ON_FAULT)
            set_bits(mem, entry_pa, PTE_A);
        table = entry & mmu->addr_mask;
    }

    unsigned pkey = mmu->pke ? pte_pkey(entry) : 0;
    unsigned denied = pl_rights_denials(mmu, in, rights, pkey);
    if (denied) {
        pl_rights_fault(mmu, in, denied, fault);
        return false;
    }

    /* A and D are sticky: an entry read with them set still has them. */
    bool write = (in->kind & PL_KIND_MASK) == PL_WRITE;
    for (int i = 0; i + 1 < out->nsteps; i++)
        if (!(out->step[i].entry & PTE_A))
            set_bits(mem, out->step[i].entry_pa, PTE_A);
    const struct pl_walk_step *leaf = &out->step[out->nsteps - 1];
    uint64_t leaf_bits = write ? PTE_A | PTE_D : PTE_A;
    if ((leaf->entry & leaf_bits) != leaf_bits)
        set_bits(mem, leaf->entry_pa, leaf_bits);

    unsigned shift = pte_level_shift(level);
    out->pa = (entry & mmu->addr_mask & ~(PTE_BIT(shift) - 1)) | (la & (PTE_BIT(shift) - 1));
    out->page_shift = (uint8_t)shift;
    out->rights = (uint8_t)rights;
    out->memtype = (uint8_t)((mmu->pat >> (8 * pte_pat_index(entry, level))) & 7);
    out->pkey = (uint8_t)pkey;
    out->global = entry & PTE_G;
    out->dirty = write || (entry & PTE_D);
    return true;
}
