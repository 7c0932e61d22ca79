/* The x86-64 page walker (SDM Vol. 3A §4.5-4.8, 4.9.2): 4- and 5-level
 * paging, 4K/2M/1G pages, reserved bits, rights across levels, CR0.WP, SMEP,
 * SMAP, protection keys, accessed/dirty updates, #PF error codes, memory
 * types. A walk takes an input, fills an output or a fault, and returns
 * whether the access may complete: a fault is data, not an error path. */
#ifndef PTELAB_WALK_H
#define PTELAB_WALK_H

#include <stdbool.h>
#include <stdint.h>

struct pl_physmem;

/* What an access does. PL_IMPLICIT may be or-ed into a kind: an implicit
 * supervisor access (GDT/LDT/IDT/TSS-type), which is supervisor at any CPL
 * and which RFLAGS.AC does not excuse from SMAP. */
enum pl_access_kind { PL_READ = 0, PL_WRITE = 1, PL_FETCH = 2 };
#define PL_KIND_MASK 3u
#define PL_IMPLICIT 4u

/* Effective rights of a translation, combined over every level. */
#define PL_RIGHT_W 1u /* R/W = 1 at every level */
#define PL_RIGHT_U 2u /* U/S = 1 at every level: a user-mode address */
#define PL_RIGHT_X 4u /* XD = 0 at every level (always, when EFER.NXE = 0) */

/* Memory types (SDM §11.3), as encoded in the PAT MSR. */
enum pl_memtype { PL_MT_UC = 0, PL_MT_WC = 1, PL_MT_WT = 4, PL_MT_WP = 5, PL_MT_WB = 6, PL_MT_UCM = 7 };
#define PL_PAT_RESET UINT64_C(0x0007040600070406)

/* What the walker does with accessed bits when an access faults (SDM §4.8
 * allows both; see ../shared/formats/walk-case.md, accessed-on-fault). */
enum pl_ad_policy {
    PL_AD_NONE_ON_FAULT = 0, /* a faulting access changes no A or D bit (KVM, Bochs) */
    PL_AD_UPPER_ON_FAULT = 1 /* A is set in each non-leaf entry as it is used (QEMU) */
};

/* The paging state a walk depends on, taken from CR0/CR3/CR4/EFER, PKRU, the
 * PAT MSR and CPUID. Fill the fields, then call pl_mmu_update() to derive the
 * reserved-bit masks; change nothing without calling it again. */
struct pl_mmu {
    uint64_t cr3;       /* root table address | PWT | PCD (PCID bits ignored here) */
    uint64_t pat;       /* IA32_PAT */
    uint32_t pkru;
    uint8_t levels;     /* 4, or 5 with CR4.LA57 */
    uint8_t maxphyaddr; /* 32..52 */
    bool wp, smep, smap, pke, nxe;
    bool gbpages;       /* 1G pages supported (CPUID 80000001H:EDX[26]) */
    bool amd;           /* AMD: bit 8 of PML4E/PML5E is reserved */
    uint8_t ad_policy;  /* enum pl_ad_policy */
    /* derived by pl_mmu_update(): */
    uint64_t rsvd[6][2]; /* [level][PS]: reserved bits of a present entry */
    uint64_t addr_mask;  /* bits M-1:12 */
};

/* Fills mmu with the power-on defaults of a 4-level, long-mode machine
 * (WP = 1, NXE = 1, M = 52, 1G pages, Intel, PAT reset value), then derives. */
void pl_mmu_init(struct pl_mmu *mmu);
/* Derives the masks from the fields; call after any change. */
void pl_mmu_update(struct pl_mmu *mmu);

/* One access to translate. A walk may start below the root, from a
 * paging-structure cache: start_level is the level of the table at
 * start_table, with start_rights already combined from the levels above
 * (whose entries are then known to have A = 1). start_level 0: from CR3. */
struct pl_walk_in {
    uint64_t la;
    uint8_t kind;  /* enum pl_access_kind | PL_IMPLICIT */
    uint8_t cpl;   /* 0..3; 3 is user mode */
    bool ac;       /* RFLAGS.AC */
    uint8_t start_level;
    uint8_t start_rights;
    uint64_t start_table;
};

/* The entries a walk read, root first: valid whether or not it faulted. */
struct pl_walk_step {
    uint8_t level;
    uint16_t index;
    uint64_t entry_pa;
    uint64_t entry; /* the value read, before any A/D update */
};

struct pl_walk_out {
    uint64_t pa;        /* physical address of la */
    uint8_t page_shift; /* 12, 21 or 30 */
    uint8_t rights;     /* PL_RIGHT_* */
    uint8_t memtype;    /* enum pl_memtype, from PAT[4*PAT + 2*PCD + PWT] */
    uint8_t pkey;       /* the leaf's protection key (0 when not in use) */
    bool global;        /* G in the leaf */
    bool dirty;         /* D in the leaf after the walk */
    uint8_t refs;       /* paging-structure reads made */
    uint8_t nsteps;
    struct pl_walk_step step[5];
};

enum { PL_VEC_SS = 12, PL_VEC_GP = 13, PL_VEC_PF = 14 };

/* #PF error-code bits (SDM §4.7). */
#define PL_PF_P 0x01u
#define PL_PF_W 0x02u
#define PL_PF_U 0x04u
#define PL_PF_RSVD 0x08u
#define PL_PF_ID 0x10u
#define PL_PF_PK 0x20u

/* Why a walk failed, for explanations and counters. */
enum pl_fault_cause {
    PL_CAUSE_NONCANONICAL = 1,
    PL_CAUSE_NOT_PRESENT,
    PL_CAUSE_RESERVED,
    PL_CAUSE_RIGHTS,   /* U/S, R/W, XD, SMEP or SMAP */
    PL_CAUSE_PKEY,     /* protection key alone */
};

/* The rules of SDM §4.6 that can deny an access to a complete translation
 * (struct pl_fault.denied): every rule that denies is named. */
#define PL_DENY_US 0x01u     /* user access to a supervisor-mode address */
#define PL_DENY_RW 0x02u     /* user write to a read-only page */
#define PL_DENY_XD 0x04u     /* fetch from a no-execute page */
#define PL_DENY_SMEP 0x08u   /* supervisor fetch from a user-mode address */
#define PL_DENY_SMAP 0x10u   /* supervisor data access to a user-mode address without AC (or implicit) */
#define PL_DENY_WP 0x20u     /* supervisor write to a read-only page with CR0.WP = 1 */
#define PL_DENY_PKEY_AD 0x40u /* the key's access-disable bit */
#define PL_DENY_PKEY_WD 0x80u /* the key's write-disable bit */
#define PL_DENY_PKEY (PL_DENY_PKEY_AD | PL_DENY_PKEY_WD)

struct pl_fault {
    uint8_t vector;     /* PL_VEC_PF or PL_VEC_GP */
    uint8_t cause;      /* enum pl_fault_cause */
    uint8_t level;      /* level of the entry at fault (P/RSVD), else 0 */
    uint8_t denied;     /* PL_DENY_* for a rights or key fault, else 0 */
    uint16_t error_code;
    uint64_t addr;      /* CR2 for #PF */
};

/* True when la is canonical for the given number of levels (4 or 5). */
bool pl_la_canonical(uint64_t la, unsigned levels);

/* Translates in->la. On success fills out and returns true, having set A in
 * every entry used and, for a write, D in the leaf. On a fault fills fault and
 * returns false; A bits change only as mmu->ad_policy says. out->step and
 * out->refs describe the entries read in both cases. Never allocates except
 * when an A/D update writes a frame for the first time. */
bool pl_walk(const struct pl_mmu *mmu, struct pl_physmem *mem, const struct pl_walk_in *in,
             struct pl_walk_out *out, struct pl_fault *fault);

/* The rights check of SDM §4.6 for an access to a translation with the given
 * combined rights (PL_RIGHT_*) and protection key, under the current CR0.WP,
 * SMEP, SMAP, PKE and PKRU. denials: the PL_DENY_* rules that deny it (0:
 * allowed). check: 0 when allowed, else the #PF error code (P set, PK when
 * the key denies). Shared by the walker and by TLB hits, which cache
 * rights, not decisions. */
unsigned pl_rights_denials(const struct pl_mmu *mmu, const struct pl_walk_in *in, unsigned rights, unsigned pkey);
uint16_t pl_rights_check(const struct pl_mmu *mmu, const struct pl_walk_in *in, unsigned rights, unsigned pkey);
/* Fills fault with the #PF of an access the rules `denied` (non-zero) deny. */
void pl_rights_fault(const struct pl_mmu *mmu, const struct pl_walk_in *in, unsigned denied, struct pl_fault *fault);

/* The #PF error code for an access of this kind that failed with the given
 * P/RSVD/PK bits: adds W/R, U/S and I/D as the SDM says. */
uint16_t pl_pf_error_code(const struct pl_mmu *mmu, const struct pl_walk_in *in, uint16_t bits);

/* The name of a memory-type encoding (enum pl_memtype): "UC", "WB", ... */
const char *pl_memtype_name(unsigned memtype);

#endif
