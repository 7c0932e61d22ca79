/* TLBs and paging-structure caches (SDM Vol. 3A §4.10): what one x86-64
 * core remembers of its page tables, and exactly when it forgets it.
 *
 * A TLB set is a split first level (L1D for data, L1I for fetches) and a
 * unified second level (L2). Each has one array per page size (4K, 2M, 1G);
 * an array is set-associative with its own entries and ways, and a TLB
 * level chooses LRU or seeded-random replacement. Entries are tagged with
 * the PCID; global entries match every PCID. Four paging-structure caches
 * (PML5E, PML4E, PDPTE, PDE) remember partial walks, so a walk can start
 * below the root. Invalidation follows the table of
 * ../../../shared/spec/x86-paging.md §6; docs/tlb.md repeats it as built.
 *
 * Deterministic: the same configuration, seed and operations give the same
 * contents and counters. Nothing here allocates after pl_tlb_new(). */
#ifndef PTELAB_TLB_H
#define PTELAB_TLB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pl_walk_in;
struct pl_walk_out;

/* Page sizes, as array indices. PL_PAGE_NONE counts misses that found no
 * translation (the walk faulted). */
enum pl_page_size { PL_PAGE_4K = 0, PL_PAGE_2M = 1, PL_PAGE_1G = 2, PL_PAGE_NONE = 3 };
#define PL_PAGE_SIZES 3

/* The TLB levels. */
enum pl_tlb_id { PL_TLB_L1D = 0, PL_TLB_L1I = 1, PL_TLB_L2 = 2 };
#define PL_TLBS 3

/* Paging-structure caches, indexed by the level of the entries they cache
 * minus 2: [0] PDE cache ... [3] PML5E cache (SDM §4.10.3.1). */
#define PL_PSC_LEVELS 4
#define PL_PSC_INDEX(level) ((level) - 2)

enum pl_replacement { PL_REPL_LRU = 0, PL_REPL_RANDOM = 1 };

/* One array: entries == 0 means the array is absent (that TLB never holds
 * pages of that size); otherwise ways divides entries, entries / ways (the
 * number of sets) is a power of two, and ways == entries is fully
 * associative. */
struct pl_tlb_geometry {
    uint32_t entries;
    uint32_t ways;
};

struct pl_tlb_level_config {
    struct pl_tlb_geometry size[PL_PAGE_SIZES]; /* [enum pl_page_size] */
    uint8_t replacement;                        /* enum pl_replacement */
    uint64_t seed;                              /* for PL_REPL_RANDOM */
};

struct pl_tlb_config {
    struct pl_tlb_level_config tlb[PL_TLBS]; /* [enum pl_tlb_id] */
    struct pl_tlb_geometry psc[PL_PSC_LEVELS];
    uint8_t psc_replacement;
    uint64_t psc_seed;
};

/* Entry limit of one array: keeps every index in 32 bits. */
#define PL_TLB_MAX_ENTRIES (1u << 20)

/* Fills cfg with the defaults, which resemble a Skylake client core (Intel
 * optimization manual, table "TLB parameters"; docs/tlb.md says where they
 * differ): L1D 4K 64/4, 2M 32/4, 1G 4/4; L1I 4K 128/8, 2M 8/8, no 1G; L2 4K
 * 1536/12, 2M 1536/12, 1G 16/4; PSC PDE 32, PDPTE 16, PML4E 4, PML5E 2, fully
 * associative; LRU everywhere. */
void pl_tlb_config_default(struct pl_tlb_config *cfg);

/* Returns 0 when every array of cfg is absent or well formed (see struct
 * pl_tlb_geometry) and every replacement is known, else PL_EINVAL. */
int pl_tlb_config_check(const struct pl_tlb_config *cfg);

/* What a TLB entry holds (SDM §4.10.2.2). */
struct pl_tlb_entry {
    uint64_t frame;     /* physical address of the page (aligned to its size) */
    uint64_t leaf_pa;   /* where the leaf entry it came from lives (cold detail, for explanations) */
    uint8_t page_shift; /* 12, 21 or 30 */
    uint8_t rights;     /* PL_RIGHT_*, combined over every level */
    uint8_t memtype;    /* enum pl_memtype */
    uint8_t pkey;       /* bits 62:59 of the leaf */
    bool dirty;         /* D in the leaf when cached */
    bool global;        /* G in the leaf with CR4.PGE = 1: matches every PCID */
};

/* Counters. A write that hits an entry with D = 0 counts as a hit (the walk
 * it then needs is counted by the CPU as a dirty walk). A miss is counted
 * under the size of the translation that resolved it: an L2 hit or a walk,
 * PL_PAGE_NONE when the walk faulted (as Intel's WALK_COMPLETED_4K/2M/1G). */
struct pl_tlb_stats {
    uint64_t hits[PL_TLBS][PL_PAGE_SIZES];
    uint64_t misses[PL_TLBS][PL_PAGE_SIZES + 1];
    uint64_t psc_hits[PL_PSC_LEVELS]; /* walks that started from this cache */
    uint64_t psc_misses;              /* walks that started from CR3 */
    uint64_t inval[16];               /* [enum pl_inv_kind] */
};

/* The invalidating operations (SDM §4.10.4.1), as the CPU executes them. */
enum pl_inv_kind {
    PL_INV_INVLPG = 0,        /* page la: current PCID and global; PSC: current PCID */
    PL_INV_INVPCID_ADDR,      /* type 0: page la of pcid, not global; PSC: pcid */
    PL_INV_INVPCID_CONTEXT,   /* type 1: non-global entries of pcid; PSC: pcid */
    PL_INV_INVPCID_ALL,       /* type 2: everything, global included */
    PL_INV_INVPCID_NONGLOBAL, /* type 3: every non-global entry; PSC: all */
    PL_INV_CR3,               /* MOV to CR3 (PCIDE = 0, or bit 63 = 0): as type 1 for the new PCID */
    PL_INV_CR3_NOFLUSH,       /* MOV to CR3 with PCIDE = 1 and bit 63 = 1: nothing */
    PL_INV_CR4_ALL,           /* MOV to CR4 changing PGE, or PCIDE 1 -> 0: everything */
    PL_INV_CR4_CONTEXT,       /* MOV to CR4 setting SMEP: as type 1 for the current PCID */
    PL_INV_CR0_PG,            /* MOV to CR0 changing PG: everything */
    PL_INV_PAGE_FAULT,        /* #PF at la: entries that would translate la; PSC entries for la */
    PL_INV_KINDS
};
_Static_assert(PL_INV_KINDS <= 16, "struct pl_tlb_stats.inval is too small");

/* Short names of the kinds ("invlpg", "invpcid0", ...) for reports. */
const char *pl_inv_kind_name(unsigned kind);

struct pl_tlb;

/* Returns empty TLBs and caches with geometry cfg (NULL: the defaults), or
 * NULL when cfg fails pl_tlb_config_check() or the host is out of memory. */
struct pl_tlb *pl_tlb_new(const struct pl_tlb_config *cfg);
void pl_tlb_free(struct pl_tlb *tlb);

/* Looks up la for pcid in L1 (L1I when fetch, else L1D), then in L2; within
 * a level the 4K array first, then 2M, then 1G. A hit refreshes the entry's
 * LRU age; an L2 hit also fills L1. Counts hits (and the L1 miss of an L2
 * hit). Returns 1 for an L1 hit, 2 for an L2 hit, with *e filled (but for
 * the cold leaf_pa, left 0: see pl_tlb_probe), or 0 for a miss, counting
 * nothing: the caller walks, then reports the miss with pl_tlb_count_miss()
 * (below, with the inline hit path). */
int pl_tlb_lookup(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, bool fetch, struct pl_tlb_entry *e);

/* Caches the translation e of la for pcid (ignored when e->global) in L1
 * (L1I when fetch, else L1D) and in L2, in the array of e->page_shift where
 * that array exists. An entry that would already translate la in a set is
 * replaced rather than duplicated; else an invalid way is used, else the
 * replacement policy picks a victim. */
void pl_tlb_fill(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, bool fetch, const struct pl_tlb_entry *e);

/* Finds the deepest paging-structure-cache entry for la and pcid and, on a
 * hit, sets in->start_level, start_table and start_rights so that the walk
 * begins below it. Returns the level of the cached entry (2..5), or 0 with
 * in unchanged. Counts the hit or the miss. */
unsigned pl_tlb_psc_lookup(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, struct pl_walk_in *in);

/* Caches the non-leaf entries of the successful walk (in, out) of la for
 * pcid: each such entry was present, free of reserved bits and has A = 1
 * now, which is what the SDM requires of a cached entry. */
void pl_tlb_psc_fill(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, const struct pl_walk_in *in,
                     const struct pl_walk_out *out);

/* Performs one invalidating operation (enum pl_inv_kind) for pcid (the
 * current PCID, or the one named by INVPCID or the new CR3) and la (used by
 * the page kinds only), and counts it. */
void pl_tlb_invalidate(struct pl_tlb *tlb, unsigned kind, uint16_t pcid, uint64_t la);

/* Inspection without side effects (no LRU update, no counting). probe: true
 * when TLB `which` holds an entry that would translate la for pcid, copied
 * to *e when e is not NULL. psc_probe: true when the cache of entries at
 * `level` (2..5) holds one for la and pcid; the next table and the rights
 * combined down to that level go to *table and *rights when not NULL. */
bool pl_tlb_probe(const struct pl_tlb *tlb, unsigned which, uint64_t la, uint16_t pcid, struct pl_tlb_entry *e);
bool pl_tlb_psc_probe(const struct pl_tlb *tlb, unsigned level, uint64_t la, uint16_t pcid, uint64_t *table,
                      uint8_t *rights);

/* Valid entries in one array of TLB `which`, or in the cache of `level`. */
size_t pl_tlb_valid_entries(const struct pl_tlb *tlb, unsigned which, unsigned size);
size_t pl_tlb_psc_valid_entries(const struct pl_tlb *tlb, unsigned level);

const struct pl_tlb_stats *pl_tlb_stats(const struct pl_tlb *tlb);
void pl_tlb_reset_stats(struct pl_tlb *tlb);

/* The layout, public only so that the CPU can probe the L1 4K arrays inline
 * (as Spike's and QEMU's TLB fast paths do). Everything else goes through
 * the functions above; nothing outside hw/ may write these fields.
 *
 * A tag is the page number LA[56:shift] above PL_TLB_OWNER_BITS naming the
 * owner: the PCID (0..4095) or PL_TLB_GLOBAL. A TLB data word is the frame
 * with rights, D, key and memory type in its low 12 bits; a
 * paging-structure-cache data word is the next table with the rights. */
#define PL_TLB_OWNER_BITS 13
#define PL_TLB_GLOBAL 0x1000u
#define PL_TLB_INVALID UINT64_MAX
#define PL_TLB_LA_MASK ((UINT64_C(1) << 57) - 1)
#define PL_TLB_DATA_RIGHTS 0x7u
#define PL_TLB_DATA_DIRTY 0x8u
#define PL_TLB_DATA_PKEY_SHIFT 4
#define PL_TLB_DATA_MEMTYPE_SHIFT 8
#define PL_TLB_DATA_LOW 0xFFFu

/* The hot entry: tag and data only, so four ways are one host cache line. */
struct pl_tlb_slot {
    uint64_t tag;
    uint64_t data;
};
_Static_assert(sizeof(struct pl_tlb_slot) == 16, "a TLB slot must stay 16 bytes: four ways to a host cache line");

/* One set-associative array; LRU ages and the cold detail live apart from
 * the slots. */
struct pl_tlb_array {
    struct pl_tlb_slot *slot; /* [sets * ways], the ways of a set adjacent */
    uint64_t *age;            /* LRU: the array's clock at the slot's last use */
    uint64_t *leaf_pa;        /* cold: where the cached entry was read */
    uint32_t set_mask;        /* sets - 1 */
    uint32_t ways;            /* 0: the array is absent */
    uint32_t nvalid;
    uint32_t *group_valid;    /* the valid entries of its TLB level, or of all the PSCs */
    uint8_t shift;            /* page number = LA[56:shift] */
    uint8_t replacement;
    uint64_t clock;
    uint64_t rng;
};

struct pl_tlb {
    struct pl_tlb_array tlb[PL_TLBS][PL_PAGE_SIZES];
    struct pl_tlb_array psc[PL_PSC_LEVELS];
    uint32_t valid[PL_TLBS + 1]; /* valid entries per TLB level, then in all PSCs */
    bool psc_present;            /* some paging-structure cache exists */
    struct pl_tlb_stats stats;
};

/* Counts one miss in L1 (L1I when fetch, else L1D) and in L2, under size
 * (enum pl_page_size, PL_PAGE_NONE when nothing was found). */
static inline void pl_tlb_count_miss(struct pl_tlb *tlb, bool fetch, unsigned size)
{
    if (size > PL_PAGE_NONE)
        return;
    tlb->stats.misses[fetch ? PL_TLB_L1I : PL_TLB_L1D][size]++;
    tlb->stats.misses[PL_TLB_L2][size]++;
}

/* The first step of pl_tlb_lookup(): the L1 4K array (L1I when fetch, else
 * L1D). On a hit refreshes the slot's age, counts the hit and returns the
 * slot; else returns NULL having changed nothing. */
static inline const struct pl_tlb_slot *pl_tlb_lookup_l1_4k(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, bool fetch)
{
    struct pl_tlb_array *a = &tlb->tlb[fetch ? PL_TLB_L1I : PL_TLB_L1D][PL_PAGE_4K];
    if (a->nvalid == 0)
        return NULL;
    uint64_t vpn = (la & PL_TLB_LA_MASK) >> 12;
    uint64_t key = vpn << PL_TLB_OWNER_BITS | (pcid & 0xFFFu), gkey = vpn << PL_TLB_OWNER_BITS | PL_TLB_GLOBAL;
    size_t base = (size_t)(vpn & a->set_mask) * a->ways;
    for (uint32_t w = 0; w < a->ways; w++) {
        uint64_t tag = a->slot[base + w].tag;
        if (tag == key || tag == gkey) {
            a->age[base + w] = ++a->clock;
            tlb->stats.hits[fetch ? PL_TLB_L1I : PL_TLB_L1D][PL_PAGE_4K]++;
            return &a->slot[base + w];
        }
    }
    return NULL;
}

#endif
