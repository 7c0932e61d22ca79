/* x86-64 paging-structure entry formats (SDM Vol. 3A §4.5): the bits of
 * PML5E, PML4E, PDPTE, PDE and PTE, and small accessors. Levels are numbered
 * as in the spec: 5 = PML5 ... 1 = PT. The only place in ptelab that knows
 * which bit is which. */
#ifndef PTELAB_HW_PTE_H
#define PTELAB_HW_PTE_H

#include <stdbool.h>
#include <stdint.h>

#define PTE_BIT(n) (UINT64_C(1) << (n))
/* Bits hi..lo inclusive. */
#define PTE_BITS(hi, lo) ((~UINT64_C(0) >> (63 - (hi))) & ~(PTE_BIT(lo) - 1))

#define PTE_P PTE_BIT(0)
#define PTE_RW PTE_BIT(1)
#define PTE_US PTE_BIT(2)
#define PTE_PWT PTE_BIT(3)
#define PTE_PCD PTE_BIT(4)
#define PTE_A PTE_BIT(5)
#define PTE_D PTE_BIT(6)      /* leaves only */
#define PTE_PS PTE_BIT(7)     /* PDPTE and PDE */
#define PTE_PAT4K PTE_BIT(7)  /* PTE: the PAT bit */
#define PTE_G PTE_BIT(8)      /* leaves only */
#define PTE_PATLG PTE_BIT(12) /* 2M and 1G leaves: the PAT bit */
#define PTE_XD PTE_BIT(63)
#define PTE_PKEY_SHIFT 59
#define PTE_PKEY_MASK PTE_BITS(62, 59)
#define PTE_ADDR_MASK PTE_BITS(51, 12) /* before MAXPHYADDR is applied */

enum { PTE_LEVEL_PT = 1, PTE_LEVEL_PD = 2, PTE_LEVEL_PDPT = 3, PTE_LEVEL_PML4 = 4, PTE_LEVEL_PML5 = 5 };

/* The linear-address bit where a level's index starts: 12, 21, 30, 39, 48. */
static inline unsigned pte_level_shift(int level) { return 12 + 9 * (unsigned)(level - 1); }

/* The 9-bit index of la in the table at level. */
static inline unsigned pte_index(uint64_t la, int level) { return (unsigned)(la >> pte_level_shift(level)) & 511; }

/* True when a present entry at level maps a page (rather than a table). */
static inline bool pte_is_leaf(uint64_t pte, int level)
{
    return level == PTE_LEVEL_PT || ((level == PTE_LEVEL_PD || level == PTE_LEVEL_PDPT) && (pte & PTE_PS));
}

/* The physical address held by a present entry: the next table, or the base
 * of the page for a leaf. Bits above MAXPHYADDR are reserved, so the caller
 * has checked them; the PAT bit of a large leaf is never address. */
static inline uint64_t pte_addr(uint64_t pte, int level)
{
    if (pte_is_leaf(pte, level))
        return pte & PTE_ADDR_MASK & ~(PTE_BIT(pte_level_shift(level)) - 1);
    return pte & PTE_ADDR_MASK;
}

static inline unsigned pte_pkey(uint64_t pte) { return (unsigned)((pte & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT); }

/* The PAT index of a leaf: 4*PAT + 2*PCD + PWT (SDM §4.9.2). */
static inline unsigned pte_pat_index(uint64_t pte, int level)
{
    uint64_t pat_bit = level == PTE_LEVEL_PT ? PTE_PAT4K : PTE_PATLG;
    return ((pte & pat_bit) ? 4u : 0u) | ((pte & PTE_PCD) ? 2u : 0u) | ((pte & PTE_PWT) ? 1u : 0u);
}

/* Level names for reports: "PT", "PD", "PDPT", "PML4", "PML5". */
const char *pte_level_name(int level);

#endif
