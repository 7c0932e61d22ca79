/* One CPU: its registers, their legality checks and the invalidations their
 * writes cause (SDM Vol. 3A §2.5, §4.10.4.1), and the access path. The TLB
 * hit path is the lookup, the shared rights check against the cached rights
 * and an add; the walk, the fills and the fault are out of its way. */
#include "ptelab/cpu.h"

#include <stdlib.h>
#include <string.h>

#include "hw/pte.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

/* Keep the slow paths out of pl_cpu_access(), whose hit path must stay a
 * few dozen instructions with a small frame. RARE ones are also optimised
 * for size; walks are common enough to stay optimised for speed. */
#define SLOW_PATH __attribute__((noinline))
#define RARE_PATH __attribute__((noinline, cold))

struct pl_cpu {
    struct pl_cpu_regs regs;
    struct pl_mmu mmu; /* derived from regs by sync_mmu() */
    struct pl_tlb *tlb;
    struct pl_physmem *mem;
    struct pl_cost_model cost;
    struct pl_cpu_stats stats;
    /* derived from regs, for the access path: */
    uint8_t deny[8][4];    /* [kind][mode]: bit r set when pl_rights_check denies rights r, keys aside */
    uint8_t mode;          /* 2 * (CPL == 3) + RFLAGS.AC */
    uint8_t deny_inputs;   /* WP, SMEP, SMAP, NXE when deny was built */
    uint16_t pcid;
    uint8_t la_unused; /* bits above the linear address: 16, or 7 with LA57 */
    bool paging;
    bool pge;
    uint8_t memtype; /* of the last translation the slow paths completed */
};

/* CR4 bits with no effect on paging: accepted and stored. */
#define CR4_INERT (UINT64_C(0xF) | UINT64_C(1) << 6 | UINT64_C(0xF) << 8 | UINT64_C(3) << 13 | UINT64_C(1) << 16 | \
                   UINT64_C(1) << 18)
#define CR4_MODELLED (PL_CR4_PSE | PL_CR4_PAE | PL_CR4_PGE | PL_CR4_LA57 | PL_CR4_PCIDE | PL_CR4_SMEP | \
                      PL_CR4_SMAP | PL_CR4_PKE)
#define EFER_KNOWN (PL_EFER_SCE | PL_EFER_LME | PL_EFER_LMA | PL_EFER_NXE)

/* Tabulates pl_rights_check() without keys for every kind, mode and set of
 * rights, so that a TLB hit decides with one table load and still with the
 * walker's rules. Rebuilt only when WP, SMEP, SMAP or NXE change. */
static void build_deny(struct pl_cpu *cpu)
{
    uint8_t inputs = (uint8_t)(cpu->mmu.wp | cpu->mmu.smep << 1 | cpu->mmu.smap << 2 | cpu->mmu.nxe << 3);
    if (inputs == cpu->deny_inputs)
        return;
    struct pl_mmu nokey = cpu->mmu;
    nokey.pke = false;
    for (unsigned kind = 0; kind < 8; kind++) {
        if ((kind & PL_KIND_MASK) > PL_FETCH)
            continue;
        for (unsigned user = 0; user < 2; user++)
            for (unsigned ac = 0; ac < 2; ac++) {
                struct pl_walk_in in = {.kind = (uint8_t)kind, .cpl = user ? 3 : 0, .ac = ac};
                uint8_t bits = 0;
                for (unsigned rights = 0; rights < 8; rights++)
                    if (pl_rights_check(&nokey, &in, rights, 0))
                        bits |= (uint8_t)(1u << rights);
                cpu->deny[kind][2 * user + ac] = bits;
            }
    }
    cpu->deny_inputs = inputs;
}

/* Re-derives the walker's view and the access path's shortcuts from regs. */
static void sync_mmu(struct pl_cpu *cpu)
{
    const struct pl_cpu_regs *r = &cpu->regs;
    struct pl_mmu *m = &cpu->mmu;
    bool pcide = r->cr4 & PL_CR4_PCIDE;
    /* With PCIDE, CR3[4:3] are PCID bits and the root is read as WB. */
    m->cr3 = r->cr3 & (PTE_ADDR_MASK | (pcide ? 0 : PL_CR3_PWT | PL_CR3_PCD));
    m->pat = r->pat;
    m->pkru = r->pkru;
    m->levels = (r->cr4 & PL_CR4_LA57) ? 5 : 4;
    m->maxphyaddr = r->maxphyaddr;
    m->wp = r->cr0 & PL_CR0_WP;
    m->smep = r->cr4 & PL_CR4_SMEP;
    m->smap = r->cr4 & PL_CR4_SMAP;
    m->pke = (r->cr4 & PL_CR4_PKE) && (r->efer & PL_EFER_LMA);
    m->nxe = r->efer & PL_EFER_NXE;
    m->ad_policy = r->ad_policy;
    pl_mmu_update(m);
    cpu->pcid = pcide ? (uint16_t)(r->cr3 & PL_CR3_PCID_MASK) : 0;
    cpu->la_unused = m->levels == 5 ? 7 : 16;
    cpu->paging = r->cr0 & PL_CR0_PG;
    cpu->pge = r->cr4 & PL_CR4_PGE;
    build_deny(cpu);
}

struct pl_cpu *pl_cpu_new(struct pl_physmem *mem, const struct pl_tlb_config *tlb, const struct pl_cost_model *cost)
{
    struct pl_cpu *cpu = calloc(1, sizeof *cpu);
    if (!cpu)
        return NULL;
    cpu->tlb = pl_tlb_new(tlb);
    if (!cpu->tlb) {
        free(cpu);
        return NULL;
    }
    cpu->mem = mem;
    cpu->cost = cost ? *cost : pl_cost_model_default();
    cpu->regs = (struct pl_cpu_regs){
        .cr0 = PL_CR0_PE | PL_CR0_ET | PL_CR0_WP | PL_CR0_PG,
        .cr4 = PL_CR4_PAE,
        .efer = PL_EFER_LME | PL_EFER_LMA | PL_EFER_NXE,
        .pat = PL_PAT_RESET,
        .maxphyaddr = 52,
        .ad_policy = PL_AD_NONE_ON_FAULT,
    };
    pl_mmu_init(&cpu->mmu);
    cpu->deny_inputs = 0xFF;
    sync_mmu(cpu);
    return cpu;
}

void pl_cpu_free(struct pl_cpu *cpu)
{
    if (!cpu)
        return;
    pl_tlb_free(cpu->tlb);
    free(cpu);
}

static inline bool canonical(const struct pl_cpu *cpu, uint64_t va)
{
    return (uint64_t)((int64_t)(va << cpu->la_unused) >> cpu->la_unused) == va;
}

RARE_PATH static bool deliver_gp(struct pl_cpu *cpu, uint64_t va, uint8_t cause, struct pl_fault *fault)
{
    *fault = (struct pl_fault){.vector = PL_VEC_GP, .cause = cause, .addr = va};
    cpu->stats.gp_faults++;
    cpu->stats.cycles += cpu->cost.fault;
    return false;
}

/* A #PF decided from cached rights, the rules that deny it named. */
RARE_PATH static bool tlb_fault(struct pl_cpu *cpu, const struct pl_walk_in *in, unsigned denied,
                                struct pl_fault *fault)
{
    pl_rights_fault(&cpu->mmu, in, denied, fault);
    pl_tlb_invalidate(cpu->tlb, PL_INV_PAGE_FAULT, cpu->pcid, in->la);
    cpu->stats.page_faults++;
    cpu->stats.tlb_faults++;
    cpu->stats.cycles += cpu->cost.fault;
    return false;
}

static int size_index(unsigned page_shift) { return page_shift == 12 ? PL_PAGE_4K : page_shift == 21 ? PL_PAGE_2M : PL_PAGE_1G; }

/* The slow path: paging-structure caches, the walk, then the fills or the
 * fault. missed: the TLBs had no entry (not a dirty-bit walk). */
static bool walk(struct pl_cpu *cpu, struct pl_walk_in *in, bool missed, uint64_t *pa, struct pl_fault *fault)
{
    bool fetch = (in->kind & PL_KIND_MASK) == PL_FETCH;
    if (pl_tlb_psc_lookup(cpu->tlb, in->la, cpu->pcid, in))
        cpu->stats.cycles += cpu->cost.psc_hit;
    struct pl_walk_out out;
    bool ok = pl_walk(&cpu->mmu, cpu->mem, in, &out, fault);
    cpu->stats.walks++;
    cpu->stats.walk_refs += out.refs;
    cpu->stats.walks_by_refs[out.refs < 5 ? out.refs : 5]++;
    cpu->stats.cycles += (uint64_t)out.refs * cpu->cost.walk_ref;
    if (!ok) {
        if (missed)
            pl_tlb_count_miss(cpu->tlb, fetch, PL_PAGE_NONE);
        pl_tlb_invalidate(cpu->tlb, PL_INV_PAGE_FAULT, cpu->pcid, in->la);
        cpu->stats.page_faults++;
        cpu->stats.cycles += cpu->cost.fault;
        return false;
    }
    if (missed)
        pl_tlb_count_miss(cpu->tlb, fetch, (unsigned)size_index(out.page_shift));
    const struct pl_walk_step *leaf = &out.step[out.nsteps - 1];
    struct pl_tlb_entry e = {
        .frame = out.pa & ~(PTE_BIT(out.page_shift) - 1),
        .leaf_pa = leaf->entry_pa,
        .page_shift = out.page_shift,
        .rights = out.rights,
        .memtype = out.memtype,
        /* The key bits themselves, so a later CR4.PKE = 1 sees the key a
         * fresh walk would. */
        .pkey = (uint8_t)pte_pkey(leaf->entry),
        .dirty = out.dirty,
        .global = out.global && cpu->pge,
    };
    pl_tlb_fill(cpu->tlb, in->la, cpu->pcid, fetch, &e);
    pl_tlb_psc_fill(cpu->tlb, in->la, cpu->pcid, in, &out);
    *pa = out.pa;
    cpu->memtype = out.memtype;
    return true;
}

/* Accesses off the translation path: a kind outside the enum, paging off,
 * a non-canonical address. */
RARE_PATH static bool access_unusual(struct pl_cpu *cpu, uint64_t va, unsigned kind, uint64_t *pa,
                                     struct pl_fault *fault)
{
    unsigned base = kind & PL_KIND_MASK;
    if (kind > (PL_IMPLICIT | PL_KIND_MASK) || base > PL_FETCH)
        return deliver_gp(cpu, va, 0, fault);
    cpu->stats.accesses[base]++;
    if (!cpu->paging) {
        /* Without paging the PAT is not consulted: WB unless CR0.CD. */
        *pa = (uint32_t)va;
        cpu->memtype = (cpu->regs.cr0 & PL_CR0_CD) ? PL_MT_UC : PL_MT_WB;
        return true;
    }
    return deliver_gp(cpu, va, PL_CAUSE_NONCANONICAL, fault);
}

static struct pl_walk_in walk_in(const struct pl_cpu *cpu, uint64_t va, unsigned kind)
{
    return (struct pl_walk_in){.la = va, .kind = (uint8_t)kind, .cpl = cpu->regs.cpl, .ac = cpu->regs.ac};
}

/* True unless the deny table clears the access: a protection key is in
 * play, or the rights fall short. */
static inline bool must_check(const struct pl_cpu *cpu, unsigned kind, unsigned rights)
{
    bool keys = cpu->mmu.pke && (rights & PL_RIGHT_U) && (kind & PL_KIND_MASK) != PL_FETCH;
    return keys || ((cpu->deny[kind][cpu->mode] >> rights) & 1);
}

/* A TLB hit the table could not clear: a key in play, a denial to build
 * the error code of, or a write to a clean entry. */
SLOW_PATH static bool hit_checks(struct pl_cpu *cpu, uint64_t va, unsigned kind, const struct pl_tlb_entry *e,
                                 uint64_t *pa, struct pl_fault *fault)
{
    struct pl_walk_in in = walk_in(cpu, va, kind);
    if (must_check(cpu, kind, e->rights)) {
        unsigned denied = pl_rights_denials(&cpu->mmu, &in, e->rights, e->pkey);
        if (denied)
            return tlb_fault(cpu, &in, denied, fault);
    }
    if ((kind & PL_KIND_MASK) == PL_WRITE && !e->dirty) {
        cpu->stats.dirty_walks++;
        return walk(cpu, &in, false, pa, fault);
    }
    *pa = e->frame | (va & (PTE_BIT(e->page_shift) - 1));
    cpu->memtype = e->memtype;
    return true;
}

/* Past the L1 4K array: the rest of the TLBs, then the walk. */
SLOW_PATH static bool access_other(struct pl_cpu *cpu, uint64_t va, unsigned kind, uint64_t *pa,
                                   struct pl_fault *fault)
{
    struct pl_tlb_entry e;
    int hit = pl_tlb_lookup(cpu->tlb, va, cpu->pcid, (kind & PL_KIND_MASK) == PL_FETCH, &e);
    cpu->stats.cycles += hit == 1 ? cpu->cost.tlb_l1_hit : cpu->cost.tlb_l2_hit;
    if (hit)
        return hit_checks(cpu, va, kind, &e, pa, fault);
    struct pl_walk_in in = walk_in(cpu, va, kind);
    return walk(cpu, &in, true, pa, fault);
}

/* The access path of pl_cpu_access (mt NULL) and pl_cpu_translate, inlined
 * into both: with mt NULL the memory type costs nothing; otherwise one
 * shift of the slot's data word already loaded, or on the slow paths a read
 * of what they left in cpu->memtype. */
static inline __attribute__((always_inline)) bool access(struct pl_cpu *cpu, uint64_t va, unsigned kind,
                                                         uint64_t *pa, uint8_t *mt, struct pl_fault *fault)
{
    unsigned base = kind & PL_KIND_MASK;
    bool ok;
    if (kind > (PL_IMPLICIT | PL_KIND_MASK) || base > PL_FETCH || !cpu->paging || !canonical(cpu, va)) {
        ok = access_unusual(cpu, va, kind, pa, fault);
        goto slow;
    }
    cpu->stats.accesses[base]++;
    const struct pl_tlb_slot *slot = pl_tlb_lookup_l1_4k(cpu->tlb, va, cpu->pcid, base == PL_FETCH);
    if (!slot) {
        ok = access_other(cpu, va, kind, pa, fault);
        goto slow;
    }
    cpu->stats.cycles += cpu->cost.tlb_l1_hit;
    uint64_t data = slot->data;
    bool clean_write = base == PL_WRITE && !(data & PL_TLB_DATA_DIRTY);
    if (clean_write || must_check(cpu, kind, data & PL_TLB_DATA_RIGHTS)) {
        struct pl_tlb_entry e;
        pl_tlb_probe(cpu->tlb, base == PL_FETCH ? PL_TLB_L1I : PL_TLB_L1D, va, cpu->pcid, &e);
        ok = hit_checks(cpu, va, kind, &e, pa, fault);
        goto slow;
    }
    *pa = (data & ~(uint64_t)PL_TLB_DATA_LOW) | (va & 0xFFF);
    if (mt)
        *mt = (uint8_t)((data >> PL_TLB_DATA_MEMTYPE_SHIFT) & 7);
    return true;
slow:
    if (mt && ok)
        *mt = cpu->memtype;
    return ok;
}

bool pl_cpu_access(struct pl_cpu *cpu, uint64_t va, unsigned kind, uint64_t *pa, struct pl_fault *fault)
{
    return access(cpu, va, kind, pa, NULL, fault);
}

bool pl_cpu_translate(struct pl_cpu *cpu, uint64_t va, unsigned kind, struct pl_translation *t,
                      struct pl_fault *fault)
{
    return access(cpu, va, kind, &t->pa, &t->memtype, fault);
}

static uint64_t cr3_reserved(const struct pl_cpu *cpu) { return ~(UINT64_C(0)) << cpu->regs.maxphyaddr; }

int pl_cpu_write_cr0(struct pl_cpu *cpu, uint64_t value)
{
    struct pl_cpu_regs *r = &cpu->regs;
    if (r->cpl != 0 || (value >> 32) != 0)
        return PL_EINVAL;
    if (((value & PL_CR0_PG) && !(value & PL_CR0_PE)) || ((value & PL_CR0_NW) && !(value & PL_CR0_CD)))
        return PL_EINVAL;
    bool pg_changed = (value ^ r->cr0) & PL_CR0_PG;
    if (pg_changed && !(value & PL_CR0_PG) && (r->cr4 & PL_CR4_PCIDE))
        return PL_EINVAL;
    if (pg_changed && (value & PL_CR0_PG) && (!(r->efer & PL_EFER_LME) || !(r->cr4 & PL_CR4_PAE)))
        return PL_EINVAL;
    r->cr0 = value;
    if (pg_changed) {
        r->efer &= ~PL_EFER_LMA;
        if ((value & PL_CR0_PG) && (r->efer & PL_EFER_LME))
            r->efer |= PL_EFER_LMA;
    }
    sync_mmu(cpu);
    if (pg_changed)
        pl_tlb_invalidate(cpu->tlb, PL_INV_CR0_PG, cpu->pcid, 0);
    cpu->stats.cycles += cpu->cost.cr_write;
    return 0;
}

int pl_cpu_write_cr3(struct pl_cpu *cpu, uint64_t value)
{
    struct pl_cpu_regs *r = &cpu->regs;
    if (r->cpl != 0)
        return PL_EINVAL;
    bool pcide = r->cr4 & PL_CR4_PCIDE;
    bool noflush = pcide && (value & PL_CR3_NOFLUSH);
    if (pcide)
        value &= ~PL_CR3_NOFLUSH;
    if (value & cr3_reserved(cpu))
        return PL_EINVAL;
    r->cr3 = value;
    sync_mmu(cpu);
    pl_tlb_invalidate(cpu->tlb, noflush ? PL_INV_CR3_NOFLUSH : PL_INV_CR3, cpu->pcid, 0);
    cpu->stats.cycles += cpu->cost.cr3_write;
    return 0;
}

int pl_cpu_write_cr4(struct pl_cpu *cpu, uint64_t value)
{
    struct pl_cpu_regs *r = &cpu->regs;
    if (r->cpl != 0 || (value & ~(CR4_INERT | CR4_MODELLED)))
        return PL_EINVAL;
    bool lma = r->efer & PL_EFER_LMA;
    uint64_t changed = value ^ r->cr4;
    if (lma && (!(value & PL_CR4_PAE) || (changed & PL_CR4_LA57)))
        return PL_EINVAL;
    bool pcide_set = (changed & PL_CR4_PCIDE) && (value & PL_CR4_PCIDE);
    if (pcide_set && (!lma || (r->cr3 & PL_CR3_PCID_MASK)))
        return PL_EINVAL;
    int kind = -1;
    if ((changed & PL_CR4_PGE) || ((changed & PL_CR4_PCIDE) && !(value & PL_CR4_PCIDE)))
        kind = PL_INV_CR4_ALL;
    else if ((changed & PL_CR4_PAE) || ((changed & PL_CR4_SMEP) && (value & PL_CR4_SMEP)))
        kind = PL_INV_CR4_CONTEXT;
    r->cr4 = value;
    sync_mmu(cpu);
    if (kind >= 0)
        pl_tlb_invalidate(cpu->tlb, (unsigned)kind, cpu->pcid, 0);
    cpu->stats.cycles += cpu->cost.cr_write;
    return 0;
}

int pl_cpu_write_efer(struct pl_cpu *cpu, uint64_t value)
{
    struct pl_cpu_regs *r = &cpu->regs;
    if (r->cpl != 0 || (value & ~EFER_KNOWN))
        return PL_EINVAL;
    if (((value ^ r->efer) & PL_EFER_LME) && (r->cr0 & PL_CR0_PG))
        return PL_EINVAL;
    r->efer = (value & ~PL_EFER_LMA) | (r->efer & PL_EFER_LMA);
    sync_mmu(cpu);
    cpu->stats.cycles += cpu->cost.cr_write;
    return 0;
}

int pl_cpu_write_pat(struct pl_cpu *cpu, uint64_t value)
{
    if (cpu->regs.cpl != 0)
        return PL_EINVAL;
    for (int i = 0; i < 8; i++) {
        unsigned type = (unsigned)(value >> (8 * i)) & 0xFF;
        if (type >= 8 || type == 2 || type == 3)
            return PL_EINVAL;
    }
    cpu->regs.pat = value;
    sync_mmu(cpu);
    cpu->stats.cycles += cpu->cost.cr_write;
    return 0;
}

int pl_cpu_write_pkru(struct pl_cpu *cpu, uint32_t value)
{
    if (!(cpu->regs.cr4 & PL_CR4_PKE))
        return PL_EINVAL;
    cpu->regs.pkru = value;
    cpu->mmu.pkru = value;
    cpu->stats.cycles += cpu->cost.wrpkru;
    return 0;
}

int pl_cpu_read_pkru(struct pl_cpu *cpu, uint32_t *value)
{
    if (!(cpu->regs.cr4 & PL_CR4_PKE))
        return PL_EINVAL;
    *value = cpu->regs.pkru;
    cpu->stats.cycles += cpu->cost.rdpkru;
    return 0;
}

int pl_cpu_set_cpl(struct pl_cpu *cpu, unsigned cpl)
{
    if (cpl > 3)
        return PL_EINVAL;
    cpu->regs.cpl = (uint8_t)cpl;
    cpu->mode = (uint8_t)(2 * (cpl == 3) + cpu->regs.ac);
    return 0;
}

void pl_cpu_set_ac(struct pl_cpu *cpu, bool ac)
{
    cpu->regs.ac = ac;
    cpu->mode = (uint8_t)(2 * (cpu->regs.cpl == 3) + ac);
}

int pl_cpu_set_maxphyaddr(struct pl_cpu *cpu, unsigned maxphyaddr)
{
    if (maxphyaddr < 32 || maxphyaddr > 52 || (cpu->regs.cr0 & PL_CR0_PG))
        return PL_EINVAL;
    uint64_t cr3 = cpu->regs.cr3;
    if (cr3 & (~UINT64_C(0) << maxphyaddr))
        return PL_EINVAL;
    cpu->regs.maxphyaddr = (uint8_t)maxphyaddr;
    sync_mmu(cpu);
    return 0;
}

int pl_cpu_set_ad_policy(struct pl_cpu *cpu, unsigned policy)
{
    if (policy > PL_AD_UPPER_ON_FAULT)
        return PL_EINVAL;
    cpu->regs.ad_policy = (uint8_t)policy;
    cpu->mmu.ad_policy = (uint8_t)policy;
    return 0;
}

int pl_cpu_invlpg(struct pl_cpu *cpu, uint64_t la)
{
    if (cpu->regs.cpl != 0)
        return PL_EINVAL;
    if (canonical(cpu, la))
        pl_tlb_invalidate(cpu->tlb, PL_INV_INVLPG, cpu->pcid, la);
    cpu->stats.cycles += cpu->cost.invlpg;
    return 0;
}

int pl_cpu_invpcid(struct pl_cpu *cpu, unsigned type, uint64_t pcid, uint64_t la)
{
    if (cpu->regs.cpl != 0 || type > 3 || pcid > PL_CR3_PCID_MASK)
        return PL_EINVAL;
    if (type == 0 && !canonical(cpu, la))
        return PL_EINVAL;
    if (type <= 1 && pcid != 0 && !(cpu->regs.cr4 & PL_CR4_PCIDE))
        return PL_EINVAL;
    static const uint8_t kinds[4] = {PL_INV_INVPCID_ADDR, PL_INV_INVPCID_CONTEXT, PL_INV_INVPCID_ALL,
                                     PL_INV_INVPCID_NONGLOBAL};
    pl_tlb_invalidate(cpu->tlb, kinds[type], (uint16_t)pcid, la);
    cpu->stats.cycles += type == 0 ? cpu->cost.invpcid_addr : cpu->cost.invpcid_context;
    return 0;
}

uint16_t pl_cpu_pcid(const struct pl_cpu *cpu) { return cpu->pcid; }
const struct pl_cpu_regs *pl_cpu_regs(const struct pl_cpu *cpu) { return &cpu->regs; }
const struct pl_mmu *pl_cpu_mmu(const struct pl_cpu *cpu) { return &cpu->mmu; }
struct pl_tlb *pl_cpu_tlb(struct pl_cpu *cpu) { return cpu->tlb; }
const struct pl_cpu_stats *pl_cpu_stats(const struct pl_cpu *cpu) { return &cpu->stats; }
const struct pl_cost_model *pl_cpu_cost(const struct pl_cpu *cpu) { return &cpu->cost; }

void pl_cpu_reset_stats(struct pl_cpu *cpu)
{
    memset(&cpu->stats, 0, sizeof cpu->stats);
    pl_tlb_reset_stats(cpu->tlb);
}
