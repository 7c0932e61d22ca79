/* One x86-64 CPU as the paging hardware sees it: CR0, CR3, CR4, EFER, PKRU,
 * IA32_PAT, CPL, RFLAGS.AC and MAXPHYADDR, its TLBs and paging-structure
 * caches (tlb.h), and an access() that translates the way the core does:
 * canonical check, L1 TLB, L2 TLB, paging-structure caches, page walk.
 *
 * Register writes check what the processor checks and return PL_EINVAL
 * where it raises #GP (or #UD), changing nothing; a legal write performs the
 * TLB invalidations the SDM prescribes (docs/tlb.md). Only IA-32e paging is
 * modelled: CR0.PG = 1 needs EFER.LME = 1 and CR4.PAE = 1. Privileged
 * operations (MOV to CR0/CR3/CR4, WRMSR, INVLPG, INVPCID) need CPL 0.
 *
 * Every event is counted and charged in simulated cycles from the cost model
 * (cost.h). The access path allocates nothing, takes no lock and logs
 * nothing. */
#ifndef PTELAB_CPU_H
#define PTELAB_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "ptelab/cost.h"
#include "ptelab/tlb.h"
#include "ptelab/walk.h"

struct pl_physmem;

/* Control-register and MSR bits the model reads. */
#define PL_CR0_PE (UINT64_C(1) << 0)
#define PL_CR0_ET (UINT64_C(1) << 4)
#define PL_CR0_WP (UINT64_C(1) << 16)
#define PL_CR0_NW (UINT64_C(1) << 29)
#define PL_CR0_CD (UINT64_C(1) << 30)
#define PL_CR0_PG (UINT64_C(1) << 31)

#define PL_CR3_PWT (UINT64_C(1) << 3)
#define PL_CR3_PCD (UINT64_C(1) << 4)
#define PL_CR3_PCID_MASK UINT64_C(0xFFF)
#define PL_CR3_NOFLUSH (UINT64_C(1) << 63) /* with CR4.PCIDE: keep the new PCID's entries */

#define PL_CR4_PSE (UINT64_C(1) << 4)
#define PL_CR4_PAE (UINT64_C(1) << 5)
#define PL_CR4_PGE (UINT64_C(1) << 7)
#define PL_CR4_LA57 (UINT64_C(1) << 12)
#define PL_CR4_PCIDE (UINT64_C(1) << 17)
#define PL_CR4_SMEP (UINT64_C(1) << 20)
#define PL_CR4_SMAP (UINT64_C(1) << 21)
#define PL_CR4_PKE (UINT64_C(1) << 22)

#define PL_EFER_SCE (UINT64_C(1) << 0)
#define PL_EFER_LME (UINT64_C(1) << 8)
#define PL_EFER_LMA (UINT64_C(1) << 10) /* read-only: LME and CR0.PG */
#define PL_EFER_NXE (UINT64_C(1) << 11)

/* The architectural state. Read it through pl_cpu_regs(); change it only
 * through the functions below, which check and invalidate. */
struct pl_cpu_regs {
    uint64_t cr0;
    uint64_t cr3;       /* as loaded, without bit 63 */
    uint64_t cr4;
    uint64_t efer;
    uint64_t pat;       /* IA32_PAT */
    uint32_t pkru;
    uint8_t cpl;        /* 0..3 */
    bool ac;            /* RFLAGS.AC */
    uint8_t maxphyaddr; /* 32..52 */
    uint8_t ad_policy;  /* enum pl_ad_policy */
};

/* Counters of one CPU; its TLB counters are in pl_tlb_stats(pl_cpu_tlb()). */
struct pl_cpu_stats {
    uint64_t accesses[3];      /* [enum pl_access_kind] */
    uint64_t walks;            /* after a TLB miss, or for a dirty bit */
    uint64_t walk_refs;        /* paging-structure entries those walks read */
    uint64_t walks_by_refs[6]; /* walks that read 0..5 entries */
    uint64_t dirty_walks;      /* writes that hit a TLB entry with D = 0 */
    uint64_t page_faults;      /* #PF delivered */
    uint64_t tlb_faults;       /* of those, decided from a TLB entry's cached rights, no walk */
    uint64_t gp_faults;        /* #GP: non-canonical address */
    uint64_t cycles;           /* simulated, from the cost model */
};

struct pl_cpu;

/* A CPU in 64-bit mode with paging on (CR0 = PE|ET|WP|PG, CR4 = PAE, EFER =
 * LME|LMA|NXE, CR3 = 0, PAT reset value, PKRU 0, CPL 0, M = 52), empty TLBs.
 * tlb NULL: pl_tlb_config_default(); cost NULL: PL_COST_MODEL_DEFAULT. mem is
 * borrowed and must outlive the CPU. Returns NULL when tlb is not valid
 * (pl_tlb_config_check) or the host is out of memory. */
struct pl_cpu *pl_cpu_new(struct pl_physmem *mem, const struct pl_tlb_config *tlb, const struct pl_cost_model *cost);
void pl_cpu_free(struct pl_cpu *cpu);

/* Translates va for an access of kind (enum pl_access_kind, optionally |
 * PL_IMPLICIT) at the current CPL and AC. On success sets *pa and returns
 * true. Otherwise fills *fault and returns false: #GP for a non-canonical va
 * (no TLB involved), #PF with CR2 = va and the SDM error code, after which
 * every TLB and paging-structure-cache entry for va is gone. A fault may
 * come from a TLB entry's cached rights without a walk: at most one spurious
 * #PF per stale entry, as the SDM allows. A write that hits an entry with
 * D = 0 walks again to set D. With CR0.PG = 0, pa = va[31:0]. A kind outside
 * the enum is refused as #GP with cause 0: a caller's error, not an x86
 * event. */
bool pl_cpu_access(struct pl_cpu *cpu, uint64_t va, unsigned kind, uint64_t *pa, struct pl_fault *fault);

/* What a translation gives the data path: the physical address and the
 * memory type (enum pl_memtype) the PAT entry selected by the leaf's
 * PAT/PCD/PWT bits names, as cached in the TLB entry. With CR0.PG = 0: WB,
 * or UC with CR0.CD = 1. MTRRs are not modelled (all of memory is WB to
 * them), so the PAT type is the effective type. */
struct pl_translation {
    uint64_t pa;
    uint8_t memtype;
};

/* pl_cpu_access that also returns the memory type: the same path, counters
 * and faults; on success fills *t and returns true. */
bool pl_cpu_translate(struct pl_cpu *cpu, uint64_t va, unsigned kind, struct pl_translation *t,
                      struct pl_fault *fault);

/* MOV to CR0. PL_EINVAL (#GP) for: CPL > 0, bits 63:32 set, PG without PE,
 * NW without CD, clearing PG while CR4.PCIDE = 1, setting PG without LME
 * and PAE. A change of PG flushes everything and sets EFER.LMA = LME & PG. */
int pl_cpu_write_cr0(struct pl_cpu *cpu, uint64_t value);

/* MOV to CR3. PL_EINVAL (#GP) for CPL > 0 or bits 63:M set (bit 63 is
 * allowed with CR4.PCIDE = 1, and is not stored). Invalidates the non-global
 * entries and cached partial walks of the new PCID (PCID 0 without PCIDE),
 * unless PCIDE = 1 and bit 63 = 1. */
int pl_cpu_write_cr3(struct pl_cpu *cpu, uint64_t value);

/* MOV to CR4. PL_EINVAL (#GP) for: CPL > 0, a bit this model does not know
 * or does not model (PKS, CET, LAM...), PAE cleared or LA57 changed while
 * EFER.LMA = 1, PCIDE set while LMA = 0 or CR3[11:0] != 0. Changing PGE or
 * clearing PCIDE flushes everything, global entries included; setting SMEP
 * flushes the current PCID. */
int pl_cpu_write_cr4(struct pl_cpu *cpu, uint64_t value);

/* WRMSR IA32_EFER. PL_EINVAL for CPL > 0, bits other than SCE, LME, LMA and
 * NXE, or LME changed while CR0.PG = 1. LMA is read-only: its written value
 * is ignored. */
int pl_cpu_write_efer(struct pl_cpu *cpu, uint64_t value);

/* WRMSR IA32_PAT. PL_EINVAL (#GP) for CPL > 0 or any byte holding 2, 3 or a
 * value >= 8. Cached memory types are not invalidated (the SDM leaves that
 * to software). */
int pl_cpu_write_pat(struct pl_cpu *cpu, uint64_t value);

/* WRPKRU. PL_EINVAL (#UD) when CR4.PKE = 0. Allowed at any CPL; charged
 * cost.wrpkru; invalidates nothing (PKRU is checked on every access, TLB
 * hits included). */
int pl_cpu_write_pkru(struct pl_cpu *cpu, uint32_t value);
/* RDPKRU into *value. PL_EINVAL (#UD) when CR4.PKE = 0. Any CPL; charged
 * cost.rdpkru. */
int pl_cpu_read_pkru(struct pl_cpu *cpu, uint32_t *value);

/* The mode of later accesses: CPL 0..3 (else PL_EINVAL), RFLAGS.AC. */
int pl_cpu_set_cpl(struct pl_cpu *cpu, unsigned cpl);
void pl_cpu_set_ac(struct pl_cpu *cpu, bool ac);

/* MAXPHYADDR (CPUID): 32..52. A property of the machine, so it may change
 * only while CR0.PG = 0, when no TLB entry can exist, and only to a value
 * that keeps CR3 legal; else PL_EINVAL. */
int pl_cpu_set_maxphyaddr(struct pl_cpu *cpu, unsigned maxphyaddr);

/* Accessed bits on faulting walks (enum pl_ad_policy), else PL_EINVAL. */
int pl_cpu_set_ad_policy(struct pl_cpu *cpu, unsigned policy);

/* INVLPG la: PL_EINVAL for CPL > 0. A non-canonical la is a no-op: it
 * costs cycles but invalidates nothing and is not counted as an INVLPG. */
int pl_cpu_invlpg(struct pl_cpu *cpu, uint64_t la);

/* INVPCID of type 0..3 with the descriptor (pcid, la). PL_EINVAL (#GP) for:
 * CPL > 0, type > 3, pcid > 4095, type 0 with a non-canonical la, type 0 or
 * 1 with pcid != 0 while CR4.PCIDE = 0. */
int pl_cpu_invpcid(struct pl_cpu *cpu, unsigned type, uint64_t pcid, uint64_t la);

/* The current PCID: CR3[11:0] with CR4.PCIDE = 1, else 0. */
uint16_t pl_cpu_pcid(const struct pl_cpu *cpu);

const struct pl_cpu_regs *pl_cpu_regs(const struct pl_cpu *cpu);
/* The paging state derived from the registers, as the walker sees it. */
const struct pl_mmu *pl_cpu_mmu(const struct pl_cpu *cpu);
/* The CPU's TLBs, for inspection (pl_tlb_probe, pl_tlb_stats). Invalidate
 * through the CPU's instructions, not pl_tlb_invalidate, so costs count. */
struct pl_tlb *pl_cpu_tlb(struct pl_cpu *cpu);
const struct pl_cpu_stats *pl_cpu_stats(const struct pl_cpu *cpu);
const struct pl_cost_model *pl_cpu_cost(const struct pl_cpu *cpu);
/* Zeroes the CPU's and its TLBs' counters. */
void pl_cpu_reset_stats(struct pl_cpu *cpu);

#endif
