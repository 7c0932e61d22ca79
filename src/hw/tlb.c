/* TLBs and paging-structure caches. Every TLB level and every cache is built
 * from one set-associative array. A slot is 16 bytes, tag and data, so a
 * 4-way set is one host cache line; LRU ages and the cold detail (where the
 * leaf entry lives) are kept in separate arrays that the hit path does not
 * read.
 *
 * The layout is in tlb.h, for the inline hit path. A tag is the page number
 * above 13 bits naming its owner:
 *
 *   63        13 12          0
 *  | page number | PCID or G  |      page number = LA[56:shift]
 *
 * where the owner is the PCID (0..4095) or TAG_GLOBAL (4096) for a global
 * entry, so one lookup compares each way with two keys: (page, PCID) and
 * (page, G). LA[56:48] take part even with 4-level paging, where they are
 * copies of bit 47 in a canonical address, so no tag depends on the number
 * of levels.
 */
#include "ptelab/tlb.h"

#include <stdlib.h>
#include <string.h>

#include "hw/pte.h"
#include "ptelab/error.h"
#include "ptelab/walk.h"

#define OWNER_BITS PL_TLB_OWNER_BITS
#define OWNER_MASK ((1u << PL_TLB_OWNER_BITS) - 1)
#define TAG_GLOBAL PL_TLB_GLOBAL
#define TAG_INVALID PL_TLB_INVALID
#define LA_MASK PL_TLB_LA_MASK
#define DATA_RIGHTS PL_TLB_DATA_RIGHTS
#define DATA_DIRTY PL_TLB_DATA_DIRTY
#define DATA_PKEY_SHIFT PL_TLB_DATA_PKEY_SHIFT
#define DATA_MEMTYPE_SHIFT PL_TLB_DATA_MEMTYPE_SHIFT
#define DATA_LOW PL_TLB_DATA_LOW

static const uint8_t size_shift[PL_PAGE_SIZES] = {12, 21, 30};

void pl_tlb_config_default(struct pl_tlb_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){64, 4};
    cfg->tlb[PL_TLB_L1D].size[PL_PAGE_2M] = (struct pl_tlb_geometry){32, 4};
    cfg->tlb[PL_TLB_L1D].size[PL_PAGE_1G] = (struct pl_tlb_geometry){4, 4};
    cfg->tlb[PL_TLB_L1I].size[PL_PAGE_4K] = (struct pl_tlb_geometry){128, 8};
    cfg->tlb[PL_TLB_L1I].size[PL_PAGE_2M] = (struct pl_tlb_geometry){8, 8};
    cfg->tlb[PL_TLB_L2].size[PL_PAGE_4K] = (struct pl_tlb_geometry){1536, 12};
    cfg->tlb[PL_TLB_L2].size[PL_PAGE_2M] = (struct pl_tlb_geometry){1536, 12};
    cfg->tlb[PL_TLB_L2].size[PL_PAGE_1G] = (struct pl_tlb_geometry){16, 4};
    cfg->psc[PL_PSC_INDEX(PTE_LEVEL_PD)] = (struct pl_tlb_geometry){32, 32};
    cfg->psc[PL_PSC_INDEX(PTE_LEVEL_PDPT)] = (struct pl_tlb_geometry){16, 16};
    cfg->psc[PL_PSC_INDEX(PTE_LEVEL_PML4)] = (struct pl_tlb_geometry){4, 4};
    cfg->psc[PL_PSC_INDEX(PTE_LEVEL_PML5)] = (struct pl_tlb_geometry){2, 2};
}

static bool geometry_ok(struct pl_tlb_geometry g)
{
    if (g.entries == 0)
        return true;
    if (g.ways == 0 || g.ways > g.entries || g.entries > PL_TLB_MAX_ENTRIES || g.entries % g.ways != 0)
        return false;
    uint32_t sets = g.entries / g.ways;
    return (sets & (sets - 1)) == 0;
}

int pl_tlb_config_check(const struct pl_tlb_config *cfg)
{
    for (int t = 0; t < PL_TLBS; t++) {
        if (cfg->tlb[t].replacement > PL_REPL_RANDOM)
            return PL_EINVAL;
        for (int s = 0; s < PL_PAGE_SIZES; s++)
            if (!geometry_ok(cfg->tlb[t].size[s]))
                return PL_EINVAL;
    }
    if (cfg->psc_replacement > PL_REPL_RANDOM)
        return PL_EINVAL;
    for (int l = 0; l < PL_PSC_LEVELS; l++)
        if (!geometry_ok(cfg->psc[l]))
            return PL_EINVAL;
    return 0;
}

/* splitmix64: turns any seed, 0 included, into a usable xorshift state. */
static uint64_t mix_seed(uint64_t x)
{
    x += UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    return x ? x : 1;
}

/* xorshift64*: cheap, and the same sequence on every host. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* Sets up an empty array counting its entries also in *group_valid; salt
 * makes the random streams of the arrays of one seed independent. Returns 0
 * or PL_ENOMEM. */
static int array_init(struct pl_tlb_array *a, struct pl_tlb_geometry g, unsigned shift, uint8_t replacement, uint64_t seed,
                      uint64_t salt, uint32_t *group_valid)
{
    memset(a, 0, sizeof *a);
    a->group_valid = group_valid;
    a->shift = (uint8_t)shift;
    a->replacement = replacement;
    a->rng = mix_seed(seed ^ (salt * UINT64_C(0xD1B54A32D192ED03)));
    if (g.entries == 0)
        return 0;
    a->slot = malloc(g.entries * sizeof *a->slot);
    a->age = calloc(g.entries, sizeof *a->age);
    a->leaf_pa = calloc(g.entries, sizeof *a->leaf_pa);
    if (!a->slot || !a->age || !a->leaf_pa)
        return PL_ENOMEM;
    for (uint32_t i = 0; i < g.entries; i++)
        a->slot[i].tag = TAG_INVALID;
    a->ways = g.ways;
    a->set_mask = g.entries / g.ways - 1;
    return 0;
}

static void array_free(struct pl_tlb_array *a)
{
    free(a->slot);
    free(a->age);
    free(a->leaf_pa);
}

struct pl_tlb *pl_tlb_new(const struct pl_tlb_config *cfg)
{
    struct pl_tlb_config def;
    if (!cfg) {
        pl_tlb_config_default(&def);
        cfg = &def;
    }
    if (pl_tlb_config_check(cfg) < 0)
        return NULL;
    struct pl_tlb *tlb = calloc(1, sizeof *tlb);
    if (!tlb)
        return NULL;
    int err = 0;
    for (int t = 0; t < PL_TLBS; t++)
        for (int s = 0; s < PL_PAGE_SIZES; s++)
            err |= array_init(&tlb->tlb[t][s], cfg->tlb[t].size[s], size_shift[s], cfg->tlb[t].replacement,
                              cfg->tlb[t].seed, (uint64_t)(t * PL_PAGE_SIZES + s), &tlb->valid[t]);
    for (int l = 0; l < PL_PSC_LEVELS; l++) {
        err |= array_init(&tlb->psc[l], cfg->psc[l], pte_level_shift(l + 2), cfg->psc_replacement, cfg->psc_seed,
                          (uint64_t)(16 + l), &tlb->valid[PL_TLBS]);
        tlb->psc_present |= cfg->psc[l].entries != 0;
    }
    if (err) {
        pl_tlb_free(tlb);
        return NULL;
    }
    return tlb;
}

void pl_tlb_free(struct pl_tlb *tlb)
{
    if (!tlb)
        return;
    for (int t = 0; t < PL_TLBS; t++)
        for (int s = 0; s < PL_PAGE_SIZES; s++)
            array_free(&tlb->tlb[t][s]);
    for (int l = 0; l < PL_PSC_LEVELS; l++)
        array_free(&tlb->psc[l]);
    free(tlb);
}

static inline uint64_t page_number(const struct pl_tlb_array *a, uint64_t la) { return (la & LA_MASK) >> a->shift; }

static inline size_t set_base(const struct pl_tlb_array *a, uint64_t vpn) { return (size_t)(vpn & a->set_mask) * a->ways; }

/* The slot of a's set for vpn whose tag is key or gkey, or -1. */
static inline long array_find(const struct pl_tlb_array *a, uint64_t vpn, uint64_t key, uint64_t gkey)
{
    const struct pl_tlb_slot *set = a->slot + set_base(a, vpn);
    for (uint32_t w = 0; w < a->ways; w++)
        if (set[w].tag == key || set[w].tag == gkey)
            return (long)(set_base(a, vpn) + w);
    return -1;
}

static inline void touch(struct pl_tlb_array *a, size_t i) { a->age[i] = ++a->clock; }

static void invalidate_slot(struct pl_tlb_array *a, size_t i)
{
    a->slot[i].tag = TAG_INVALID;
    a->nvalid--;
    (*a->group_valid)--;
}

/* Stores (tag, data) for vpn. Entries that match key or gkey would translate
 * the same address for the same PCID: the first is overwritten, the others
 * dropped, so a set never holds two answers for one lookup. Otherwise the
 * entry takes the set's first invalid way, else its least recently used
 * (or a random) way. One pass over the set finds all three: this runs on
 * every TLB and paging-structure-cache fill. */
static void array_insert(struct pl_tlb_array *a, uint64_t vpn, uint64_t key, uint64_t gkey, uint64_t tag, uint64_t data,
                         uint64_t leaf_pa)
{
    if (a->ways == 0)
        return;
    size_t base = set_base(a, vpn), end = base + a->ways;
    size_t hit = SIZE_MAX, empty = SIZE_MAX, lru = base;
    for (size_t i = base; i < end; i++) {
        uint64_t t = a->slot[i].tag;
        if (t == key || t == gkey) {
            if (hit == SIZE_MAX)
                hit = i;
            else
                invalidate_slot(a, i);
        } else if (t == TAG_INVALID) {
            if (empty == SIZE_MAX)
                empty = i;
        } else if (a->age[i] < a->age[lru]) {
            lru = i; /* meaningful only when every way is valid and none matches */
        }
    }
    size_t i = hit != SIZE_MAX     ? hit
               : empty != SIZE_MAX ? empty
               : a->replacement == PL_REPL_RANDOM ? base + (size_t)(rng_next(&a->rng) % a->ways)
                                                  : lru;
    if (a->slot[i].tag == TAG_INVALID) {
        a->nvalid++;
        (*a->group_valid)++;
    }
    a->slot[i] = (struct pl_tlb_slot){tag, data};
    a->leaf_pa[i] = leaf_pa;
    touch(a, i);
}

static inline uint64_t key_of(uint64_t vpn, unsigned owner) { return vpn << OWNER_BITS | owner; }

/* Fills e from slot i of a, but for the cold leaf_pa. */
static inline void decode(const struct pl_tlb_array *a, size_t i, struct pl_tlb_entry *e)
{
    uint64_t d = a->slot[i].data;
    e->frame = d & ~(uint64_t)DATA_LOW;
    e->leaf_pa = 0;
    e->page_shift = a->shift;
    e->rights = (uint8_t)(d & DATA_RIGHTS);
    e->dirty = d & DATA_DIRTY;
    e->pkey = (uint8_t)((d >> DATA_PKEY_SHIFT) & 15);
    e->memtype = (uint8_t)((d >> DATA_MEMTYPE_SHIFT) & 7);
    e->global = (a->slot[i].tag & OWNER_MASK) == TAG_GLOBAL;
}

static uint64_t encode(const struct pl_tlb_entry *e, unsigned shift)
{
    return (e->frame & PTE_ADDR_MASK & ~(PTE_BIT(shift) - 1)) | (e->rights & DATA_RIGHTS) |
           (e->dirty ? DATA_DIRTY : 0) | (uint64_t)(e->pkey & 15) << DATA_PKEY_SHIFT |
           (uint64_t)(e->memtype & 7) << DATA_MEMTYPE_SHIFT;
}

/* The slot of TLB `which` that translates la for pcid, its size in *size,
 * or -1. Empty arrays are skipped: most runs never fill the large-page ones. */
static inline long level_find(const struct pl_tlb *tlb, unsigned which, uint64_t la, uint16_t pcid, unsigned *size)
{
    for (unsigned s = 0; s < PL_PAGE_SIZES; s++) {
        const struct pl_tlb_array *a = &tlb->tlb[which][s];
        if (a->nvalid == 0)
            continue;
        uint64_t vpn = page_number(a, la);
        long i = array_find(a, vpn, key_of(vpn, pcid), key_of(vpn, TAG_GLOBAL));
        if (i >= 0) {
            *size = s;
            return i;
        }
    }
    return -1;
}

/* An L1 hit in slot i of a (size s): refreshes its age, counts it. */
static inline int l1_hit(struct pl_tlb *tlb, unsigned l1, unsigned s, size_t i, struct pl_tlb_entry *e)
{
    struct pl_tlb_array *a = &tlb->tlb[l1][s];
    touch(a, i);
    tlb->stats.hits[l1][s]++;
    decode(a, i, e);
    return 1;
}

/* pl_tlb_lookup() past the L1 4K array: L1 2M and 1G, then L2. */
__attribute__((noinline)) static int lookup_slow(struct pl_tlb *tlb, unsigned l1, uint64_t la, uint16_t pcid,
                                                 struct pl_tlb_entry *e)
{
    for (unsigned s = PL_PAGE_2M; s < PL_PAGE_SIZES && tlb->valid[l1] > tlb->tlb[l1][PL_PAGE_4K].nvalid; s++) {
        const struct pl_tlb_array *a = &tlb->tlb[l1][s];
        if (a->nvalid == 0)
            continue;
        uint64_t vpn = page_number(a, la);
        long i = array_find(a, vpn, key_of(vpn, pcid), key_of(vpn, TAG_GLOBAL));
        if (i >= 0)
            return l1_hit(tlb, l1, s, (size_t)i, e);
    }
    if (tlb->valid[PL_TLB_L2] == 0)
        return 0;
    unsigned s;
    long i = level_find(tlb, PL_TLB_L2, la, pcid, &s);
    if (i < 0)
        return 0;
    struct pl_tlb_array *a2 = &tlb->tlb[PL_TLB_L2][s];
    touch(a2, (size_t)i);
    tlb->stats.hits[PL_TLB_L2][s]++;
    tlb->stats.misses[l1][s]++;
    decode(a2, (size_t)i, e);
    struct pl_tlb_array *a1 = &tlb->tlb[l1][s];
    uint64_t vpn = page_number(a1, la);
    array_insert(a1, vpn, key_of(vpn, pcid), key_of(vpn, TAG_GLOBAL), a2->slot[i].tag, a2->slot[i].data,
                 a2->leaf_pa[i]);
    return 2;
}

int pl_tlb_lookup(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, bool fetch, struct pl_tlb_entry *e)
{
    unsigned l1 = fetch ? PL_TLB_L1I : PL_TLB_L1D;
    const struct pl_tlb_slot *hit = pl_tlb_lookup_l1_4k(tlb, la, pcid, fetch);
    if (!hit) {
        if (tlb->valid[l1] == tlb->tlb[l1][PL_PAGE_4K].nvalid && tlb->valid[PL_TLB_L2] == 0)
            return 0;
        return lookup_slow(tlb, l1, la, pcid & 0xFFF, e);
    }
    const struct pl_tlb_array *a = &tlb->tlb[l1][PL_PAGE_4K];
    decode(a, (size_t)(hit - a->slot), e);
    return 1;
}

static int size_of_shift(unsigned shift) { return shift == 12 ? PL_PAGE_4K : shift == 21 ? PL_PAGE_2M : shift == 30 ? PL_PAGE_1G : -1; }

/* pl_tlb_fill() once some array is known to take the entry. */
__attribute__((noinline)) static void fill_arrays(struct pl_tlb *tlb, unsigned l1, int s, uint64_t la, uint16_t pcid,
                                                  const struct pl_tlb_entry *e)
{
    uint64_t data = encode(e, e->page_shift);
    struct pl_tlb_array *arrays[2] = {&tlb->tlb[l1][s], &tlb->tlb[PL_TLB_L2][s]};
    for (int k = 0; k < 2; k++) {
        struct pl_tlb_array *a = arrays[k];
        uint64_t vpn = page_number(a, la);
        uint64_t key = key_of(vpn, pcid), gkey = key_of(vpn, TAG_GLOBAL);
        array_insert(a, vpn, key, gkey, e->global ? gkey : key, data, e->leaf_pa);
    }
}

void pl_tlb_fill(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, bool fetch, const struct pl_tlb_entry *e)
{
    int s = size_of_shift(e->page_shift);
    unsigned l1 = fetch ? PL_TLB_L1I : PL_TLB_L1D;
    if (s >= 0 && (tlb->tlb[l1][s].ways != 0 || tlb->tlb[PL_TLB_L2][s].ways != 0))
        fill_arrays(tlb, l1, s, la, pcid & 0xFFF, e);
}

unsigned pl_tlb_psc_lookup(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, struct pl_walk_in *in)
{
    pcid &= 0xFFF;
    for (int level = PTE_LEVEL_PD; level <= PTE_LEVEL_PML5 && tlb->valid[PL_TLBS]; level++) {
        struct pl_tlb_array *a = &tlb->psc[PL_PSC_INDEX(level)];
        if (a->nvalid == 0)
            continue;
        uint64_t vpn = page_number(a, la);
        long i = array_find(a, vpn, key_of(vpn, pcid), key_of(vpn, pcid));
        if (i < 0)
            continue;
        touch(a, (size_t)i);
        uint64_t d = a->slot[i].data;
        in->start_level = (uint8_t)(level - 1);
        in->start_table = d & ~(uint64_t)DATA_LOW;
        in->start_rights = (uint8_t)(d & DATA_RIGHTS);
        tlb->stats.psc_hits[PL_PSC_INDEX(level)]++;
        return (unsigned)level;
    }
    tlb->stats.psc_misses++;
    return 0;
}

/* The rights one present entry grants (XD is reserved when EFER.NXE = 0, so
 * an entry that passed the walk has XD = 1 only when NXE = 1). */
static unsigned entry_rights(uint64_t entry)
{
    return ((entry & PTE_RW) ? PL_RIGHT_W : 0) | ((entry & PTE_US) ? PL_RIGHT_U : 0) |
           ((entry & PTE_XD) ? 0 : PL_RIGHT_X);
}

void pl_tlb_psc_fill(struct pl_tlb *tlb, uint64_t la, uint16_t pcid, const struct pl_walk_in *in,
                     const struct pl_walk_out *out)
{
    if (!tlb->psc_present)
        return;
    unsigned rights = in->start_level ? in->start_rights : PL_RIGHT_W | PL_RIGHT_U | PL_RIGHT_X;
    pcid &= 0xFFF;
    for (int i = 0; i + 1 < out->nsteps; i++) {
        const struct pl_walk_step *st = &out->step[i];
        rights &= entry_rights(st->entry);
        if (st->level < PTE_LEVEL_PD || st->level > PTE_LEVEL_PML5)
            continue;
        struct pl_tlb_array *a = &tlb->psc[PL_PSC_INDEX(st->level)];
        if (a->ways == 0)
            continue;
        uint64_t vpn = page_number(a, la);
        uint64_t key = key_of(vpn, pcid);
        array_insert(a, vpn, key, key, key, (st->entry & PTE_ADDR_MASK) | rights, st->entry_pa);
    }
}

/* Drops the entries of a's set for la whose tag is key or gkey. */
static void array_flush_page(struct pl_tlb_array *a, uint64_t la, unsigned owner, bool global)
{
    if (a->nvalid == 0)
        return;
    uint64_t vpn = page_number(a, la);
    uint64_t key = key_of(vpn, owner), gkey = global ? key_of(vpn, TAG_GLOBAL) : key;
    size_t base = set_base(a, vpn);
    for (uint32_t w = 0; w < a->ways; w++)
        if (a->slot[base + w].tag == key || a->slot[base + w].tag == gkey)
            invalidate_slot(a, base + w);
}

enum flush_scope { FLUSH_ALL, FLUSH_NONGLOBAL, FLUSH_OWNER };

static void array_flush(struct pl_tlb_array *a, enum flush_scope scope, unsigned owner)
{
    if (a->nvalid == 0)
        return;
    size_t n = (size_t)(a->set_mask + 1) * a->ways;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = a->slot[i].tag;
        if (t == TAG_INVALID)
            continue;
        unsigned o = (unsigned)(t & OWNER_MASK);
        if (scope == FLUSH_ALL || (scope == FLUSH_NONGLOBAL && o != TAG_GLOBAL) || (scope == FLUSH_OWNER && o == owner))
            invalidate_slot(a, i);
    }
}

static void tlbs_flush_page(struct pl_tlb *tlb, uint64_t la, unsigned pcid, bool global)
{
    for (int t = 0; t < PL_TLBS; t++)
        for (int s = 0; s < PL_PAGE_SIZES; s++)
            array_flush_page(&tlb->tlb[t][s], la, pcid, global);
}

static void tlbs_flush(struct pl_tlb *tlb, enum flush_scope scope, unsigned pcid)
{
    for (int t = 0; t < PL_TLBS; t++)
        for (int s = 0; s < PL_PAGE_SIZES; s++)
            array_flush(&tlb->tlb[t][s], scope, pcid);
}

static void pscs_flush(struct pl_tlb *tlb, enum flush_scope scope, unsigned pcid)
{
    for (int l = 0; l < PL_PSC_LEVELS; l++)
        array_flush(&tlb->psc[l], scope, pcid);
}

void pl_tlb_invalidate(struct pl_tlb *tlb, unsigned kind, uint16_t pcid, uint64_t la)
{
    unsigned p = pcid & 0xFFFu;
    switch (kind) {
    case PL_INV_INVLPG:
        tlbs_flush_page(tlb, la, p, true);
        pscs_flush(tlb, FLUSH_OWNER, p);
        break;
    case PL_INV_INVPCID_ADDR:
        tlbs_flush_page(tlb, la, p, false);
        pscs_flush(tlb, FLUSH_OWNER, p);
        break;
    case PL_INV_INVPCID_CONTEXT:
    case PL_INV_CR3:
    case PL_INV_CR4_CONTEXT:
        tlbs_flush(tlb, FLUSH_OWNER, p);
        pscs_flush(tlb, FLUSH_OWNER, p);
        break;
    case PL_INV_INVPCID_ALL:
    case PL_INV_CR4_ALL:
    case PL_INV_CR0_PG:
        tlbs_flush(tlb, FLUSH_ALL, 0);
        pscs_flush(tlb, FLUSH_ALL, 0);
        break;
    case PL_INV_INVPCID_NONGLOBAL:
        tlbs_flush(tlb, FLUSH_NONGLOBAL, 0);
        pscs_flush(tlb, FLUSH_ALL, 0);
        break;
    case PL_INV_CR3_NOFLUSH:
        break;
    case PL_INV_PAGE_FAULT:
        /* Global entries too: the fault must not recur from the entry that
         * caused it once the tables are fixed (SDM §4.10.4.1). */
        tlbs_flush_page(tlb, la, p, true);
        for (int l = 0; l < PL_PSC_LEVELS; l++)
            array_flush_page(&tlb->psc[l], la, p, false);
        break;
    default:
        return;
    }
    tlb->stats.inval[kind]++;
}

const char *pl_inv_kind_name(unsigned kind)
{
    static const char *const names[PL_INV_KINDS] = {
        "invlpg", "invpcid0", "invpcid1", "invpcid2", "invpcid3", "cr3",
        "cr3-noflush", "cr4-all", "cr4-context", "cr0-pg", "page-fault",
    };
    return kind < PL_INV_KINDS ? names[kind] : "unknown";
}

bool pl_tlb_probe(const struct pl_tlb *tlb, unsigned which, uint64_t la, uint16_t pcid, struct pl_tlb_entry *e)
{
    if (which >= PL_TLBS)
        return false;
    unsigned s;
    long i = level_find(tlb, which, la, pcid & 0xFFF, &s);
    if (i < 0)
        return false;
    if (e) {
        const struct pl_tlb_array *a = &tlb->tlb[which][s];
        decode(a, (size_t)i, e);
        e->leaf_pa = a->leaf_pa[i];
    }
    return true;
}

bool pl_tlb_psc_probe(const struct pl_tlb *tlb, unsigned level, uint64_t la, uint16_t pcid, uint64_t *table,
                      uint8_t *rights)
{
    if (level < PTE_LEVEL_PD || level > PTE_LEVEL_PML5)
        return false;
    const struct pl_tlb_array *a = &tlb->psc[PL_PSC_INDEX(level)];
    if (a->nvalid == 0)
        return false;
    uint64_t vpn = page_number(a, la);
    uint64_t key = key_of(vpn, pcid & 0xFFF);
    long i = array_find(a, vpn, key, key);
    if (i < 0)
        return false;
    if (table)
        *table = a->slot[i].data & ~(uint64_t)DATA_LOW;
    if (rights)
        *rights = (uint8_t)(a->slot[i].data & DATA_RIGHTS);
    return true;
}

size_t pl_tlb_valid_entries(const struct pl_tlb *tlb, unsigned which, unsigned size)
{
    return which < PL_TLBS && size < PL_PAGE_SIZES ? tlb->tlb[which][size].nvalid : 0;
}

size_t pl_tlb_psc_valid_entries(const struct pl_tlb *tlb, unsigned level)
{
    return level >= PTE_LEVEL_PD && level <= PTE_LEVEL_PML5 ? tlb->psc[PL_PSC_INDEX(level)].nvalid : 0;
}

const struct pl_tlb_stats *pl_tlb_stats(const struct pl_tlb *tlb) { return &tlb->stats; }

void pl_tlb_reset_stats(struct pl_tlb *tlb) { memset(&tlb->stats, 0, sizeof tlb->stats); }
