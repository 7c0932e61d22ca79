/* hw/tlb through its own API: geometry, lookups and fills, replacement,
 * PCIDs and global entries, paging-structure caches, and what each
 * invalidating operation leaves behind. tests/test_cpu.c drives the same
 * TLBs through real walks. */
#include <criterion/criterion.h>

#include "hw/pte.h"
#include "ptelab/error.h"
#include "ptelab/tlb.h"
#include "ptelab/walk.h"

#define RWX (PL_RIGHT_W | PL_RIGHT_U | PL_RIGHT_X)

/* A 4K translation of frame for filling directly. */
static struct pl_tlb_entry page4k(uint64_t frame, bool global)
{
    return (struct pl_tlb_entry){.frame = frame, .page_shift = 12, .rights = RWX, .memtype = PL_MT_WB, .global = global};
}

/* Only the L1D 4K array, with the given geometry and replacement. */
static struct pl_tlb *l1d_only(uint32_t entries, uint32_t ways, uint8_t repl, uint64_t seed)
{
    struct pl_tlb_config cfg = {0};
    cfg.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){entries, ways};
    cfg.tlb[PL_TLB_L1D].replacement = repl;
    cfg.tlb[PL_TLB_L1D].seed = seed;
    struct pl_tlb *tlb = pl_tlb_new(&cfg);
    cr_assert_not_null(tlb);
    return tlb;
}

static bool in_l1d(const struct pl_tlb *tlb, uint64_t la, uint16_t pcid)
{
    return pl_tlb_probe(tlb, PL_TLB_L1D, la, pcid, NULL);
}

Test(tlb, defaults_follow_skylake_client_geometry)
{
    struct pl_tlb_config c;
    pl_tlb_config_default(&c);
    cr_assert_eq(c.tlb[PL_TLB_L1D].size[PL_PAGE_4K].entries, 64);
    cr_assert_eq(c.tlb[PL_TLB_L1D].size[PL_PAGE_4K].ways, 4);
    cr_assert_eq(c.tlb[PL_TLB_L1D].size[PL_PAGE_2M].entries, 32);
    cr_assert_eq(c.tlb[PL_TLB_L1D].size[PL_PAGE_1G].entries, 4);
    cr_assert_eq(c.tlb[PL_TLB_L1I].size[PL_PAGE_4K].entries, 128);
    cr_assert_eq(c.tlb[PL_TLB_L1I].size[PL_PAGE_4K].ways, 8);
    cr_assert_eq(c.tlb[PL_TLB_L1I].size[PL_PAGE_2M].ways, 8);
    cr_assert_eq(c.tlb[PL_TLB_L1I].size[PL_PAGE_1G].entries, 0);
    cr_assert_eq(c.tlb[PL_TLB_L2].size[PL_PAGE_4K].entries, 1536);
    cr_assert_eq(c.tlb[PL_TLB_L2].size[PL_PAGE_2M].ways, 12);
    cr_assert_eq(c.tlb[PL_TLB_L2].size[PL_PAGE_1G].entries, 16);
    cr_assert_eq(c.psc[PL_PSC_INDEX(2)].entries, 32);
    cr_assert_eq(c.psc[PL_PSC_INDEX(3)].entries, 16);
    cr_assert_eq(c.psc[PL_PSC_INDEX(4)].entries, 4);
    cr_assert_eq(c.psc[PL_PSC_INDEX(5)].entries, 2);
    cr_assert_eq(c.psc[PL_PSC_INDEX(5)].ways, 2);
    cr_assert_eq(pl_tlb_config_check(&c), 0);
}

Test(tlb, config_check_refuses_malformed_arrays)
{
    struct pl_tlb_config c;
    pl_tlb_config_default(&c);
    c.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){64, 0};
    cr_assert_eq(pl_tlb_config_check(&c), PL_EINVAL);
    c.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){64, 5}; /* 5 does not divide 64 */
    cr_assert_eq(pl_tlb_config_check(&c), PL_EINVAL);
    c.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){48, 4}; /* 12 sets */
    cr_assert_eq(pl_tlb_config_check(&c), PL_EINVAL);
    c.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){4, 8};
    cr_assert_eq(pl_tlb_config_check(&c), PL_EINVAL);
    c.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){0, 0}; /* absent is fine */
    cr_assert_eq(pl_tlb_config_check(&c), 0);
    c.tlb[PL_TLB_L2].replacement = 2;
    cr_assert_eq(pl_tlb_config_check(&c), PL_EINVAL);
    cr_assert_null(pl_tlb_new(&c));
    c.tlb[PL_TLB_L2].replacement = PL_REPL_RANDOM;
    c.psc[0] = (struct pl_tlb_geometry){3, 3}; /* fully associative, any size */
    cr_assert_eq(pl_tlb_config_check(&c), 0);
}

Test(tlb, a_lookup_hits_after_a_miss_and_a_fill_with_exact_counters)
{
    struct pl_tlb *tlb = pl_tlb_new(NULL);
    struct pl_tlb_entry e;
    cr_assert_eq(pl_tlb_lookup(tlb, 0x7000, 0, false, &e), 0);
    pl_tlb_count_miss(tlb, false, PL_PAGE_4K);
    pl_tlb_fill(tlb, 0x7000, 0, false, &(struct pl_tlb_entry){.frame = 0xAB000, .page_shift = 12, .rights = PL_RIGHT_U,
                                                             .memtype = PL_MT_WT, .pkey = 9, .dirty = true});
    cr_assert_eq(pl_tlb_lookup(tlb, 0x7FFF, 0, false, &e), 1);
    cr_assert_eq(e.frame, 0xAB000);
    cr_assert_eq(e.page_shift, 12);
    cr_assert_eq(e.rights, PL_RIGHT_U);
    cr_assert_eq(e.memtype, PL_MT_WT);
    cr_assert_eq(e.pkey, 9);
    cr_assert(e.dirty);
    cr_assert_not(e.global);
    const struct pl_tlb_stats *s = pl_tlb_stats(tlb);
    cr_assert_eq(s->hits[PL_TLB_L1D][PL_PAGE_4K], 1);
    cr_assert_eq(s->misses[PL_TLB_L1D][PL_PAGE_4K], 1);
    cr_assert_eq(s->misses[PL_TLB_L2][PL_PAGE_4K], 1);
    cr_assert_eq(s->hits[PL_TLB_L2][PL_PAGE_4K], 0);
    cr_assert_eq(s->hits[PL_TLB_L1I][PL_PAGE_4K], 0);
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L1D, PL_PAGE_4K), 1);
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L2, PL_PAGE_4K), 1);
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L1I, PL_PAGE_4K), 0);
    pl_tlb_free(tlb);
}

Test(tlb, an_l2_hit_refills_l1_and_counts_an_l1_miss)
{
    struct pl_tlb_config c = {0};
    c.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){1, 1};
    c.tlb[PL_TLB_L2].size[PL_PAGE_4K] = (struct pl_tlb_geometry){16, 4};
    struct pl_tlb *tlb = pl_tlb_new(&c);
    struct pl_tlb_entry e = page4k(0x1000, false), got;
    pl_tlb_fill(tlb, 0xA000, 0, false, &e);
    e.frame = 0x2000;
    pl_tlb_fill(tlb, 0xB000, 0, false, &e); /* takes the only L1 slot */
    cr_assert_not(in_l1d(tlb, 0xA000, 0));
    cr_assert_eq(pl_tlb_lookup(tlb, 0xA000, 0, false, &got), 2);
    cr_assert_eq(got.frame, 0x1000);
    cr_assert(in_l1d(tlb, 0xA000, 0));
    cr_assert_not(in_l1d(tlb, 0xB000, 0));
    cr_assert_eq(pl_tlb_lookup(tlb, 0xA000, 0, false, &got), 1);
    const struct pl_tlb_stats *s = pl_tlb_stats(tlb);
    cr_assert_eq(s->hits[PL_TLB_L2][PL_PAGE_4K], 1);
    cr_assert_eq(s->misses[PL_TLB_L1D][PL_PAGE_4K], 1);
    cr_assert_eq(s->hits[PL_TLB_L1D][PL_PAGE_4K], 1);
    cr_assert_eq(s->misses[PL_TLB_L2][PL_PAGE_4K], 0);
    pl_tlb_free(tlb);
}

Test(tlb, lru_evicts_the_least_recently_used_way_of_the_set)
{
    /* 4 sets of 2 ways: pages 0x0, 0x4000, 0x8000, 0xC000 share set 0. */
    struct pl_tlb *tlb = l1d_only(8, 2, PL_REPL_LRU, 0);
    struct pl_tlb_entry e = page4k(0x100000, false), got;
    pl_tlb_fill(tlb, 0x0000, 0, false, &e);
    pl_tlb_fill(tlb, 0x4000, 0, false, &e);
    pl_tlb_fill(tlb, 0x1000, 0, false, &e); /* set 1: no effect on set 0 */
    cr_assert_eq(pl_tlb_lookup(tlb, 0x0000, 0, false, &got), 1); /* 0x4000 is now the older */
    pl_tlb_fill(tlb, 0x8000, 0, false, &e);
    cr_assert(in_l1d(tlb, 0x0000, 0));
    cr_assert_not(in_l1d(tlb, 0x4000, 0));
    cr_assert(in_l1d(tlb, 0x8000, 0));
    cr_assert(in_l1d(tlb, 0x1000, 0));
    pl_tlb_fill(tlb, 0xC000, 0, false, &e); /* 0x0000 was used before 0x8000 was filled */
    cr_assert_not(in_l1d(tlb, 0x0000, 0));
    cr_assert(in_l1d(tlb, 0x8000, 0));
    cr_assert(in_l1d(tlb, 0xC000, 0));
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L1D, PL_PAGE_4K), 3);
    pl_tlb_free(tlb);
}

Test(tlb, probing_does_not_refresh_lru_age)
{
    struct pl_tlb *tlb = l1d_only(2, 2, PL_REPL_LRU, 0);
    struct pl_tlb_entry e = page4k(0x100000, false);
    pl_tlb_fill(tlb, 0x1000, 0, false, &e);
    pl_tlb_fill(tlb, 0x2000, 0, false, &e);
    cr_assert(in_l1d(tlb, 0x1000, 0));
    pl_tlb_fill(tlb, 0x3000, 0, false, &e);
    cr_assert_not(in_l1d(tlb, 0x1000, 0));
    cr_assert(in_l1d(tlb, 0x2000, 0));
    pl_tlb_free(tlb);
}

/* Fills 64 pages into a 4-entry fully associative array and returns a bit
 * per page still cached. */
static uint64_t random_survivors(uint64_t seed)
{
    struct pl_tlb *tlb = l1d_only(4, 4, PL_REPL_RANDOM, seed);
    struct pl_tlb_entry e = page4k(0x100000, false);
    for (uint64_t p = 0; p < 64; p++)
        pl_tlb_fill(tlb, p << 12, 0, false, &e);
    uint64_t mask = 0;
    for (uint64_t p = 0; p < 64; p++)
        if (in_l1d(tlb, p << 12, 0))
            mask |= UINT64_C(1) << p;
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L1D, PL_PAGE_4K), 4);
    pl_tlb_free(tlb);
    return mask;
}

Test(tlb, random_replacement_repeats_for_a_seed_and_varies_across_seeds)
{
    uint64_t a = random_survivors(42);
    cr_assert_eq(__builtin_popcountll(a), 4);
    cr_assert(a & (UINT64_C(1) << 63), "the last page filled is always cached");
    cr_assert_eq(random_survivors(42), a);
    int differ = 0;
    for (uint64_t seed = 0; seed < 8; seed++)
        differ += random_survivors(seed) != a;
    cr_assert_geq(differ, 1);
    /* LRU would keep exactly the last four. */
    cr_assert_neq(a, UINT64_C(0xF) << 60);
}

Test(tlb, one_address_in_two_pcids_gives_two_frames)
{
    struct pl_tlb *tlb = pl_tlb_new(NULL);
    struct pl_tlb_entry e = page4k(0x1000, false), got;
    pl_tlb_fill(tlb, 0x400000, 1, false, &e);
    e.frame = 0x2000;
    pl_tlb_fill(tlb, 0x400000, 2, false, &e);
    cr_assert_eq(pl_tlb_lookup(tlb, 0x400000, 1, false, &got), 1);
    cr_assert_eq(got.frame, 0x1000);
    cr_assert_eq(pl_tlb_lookup(tlb, 0x400000, 2, false, &got), 1);
    cr_assert_eq(got.frame, 0x2000);
    cr_assert_eq(pl_tlb_lookup(tlb, 0x400000, 3, false, &got), 0);
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L1D, PL_PAGE_4K), 2);
    pl_tlb_free(tlb);
}

Test(tlb, a_global_entry_matches_every_pcid)
{
    struct pl_tlb *tlb = pl_tlb_new(NULL);
    struct pl_tlb_entry e = page4k(0x5000, true), got;
    pl_tlb_fill(tlb, 0xFFFF800000001000, 7, false, &e);
    for (uint16_t pcid = 0; pcid < 4096; pcid += 455) {
        cr_assert_eq(pl_tlb_lookup(tlb, 0xFFFF800000001000, pcid, false, &got), 1);
        cr_assert(got.global);
        cr_assert_eq(got.frame, 0x5000);
    }
    pl_tlb_free(tlb);
}

Test(tlb, a_refill_replaces_the_entry_instead_of_duplicating_it)
{
    struct pl_tlb *tlb = pl_tlb_new(NULL);
    struct pl_tlb_entry e = page4k(0x1000, false), got;
    pl_tlb_fill(tlb, 0x9000, 4, false, &e);
    e.frame = 0x2000;
    e.dirty = true;
    pl_tlb_fill(tlb, 0x9000, 4, false, &e);
    e.global = true; /* a global translation of the same page replaces it too */
    e.frame = 0x3000;
    pl_tlb_fill(tlb, 0x9000, 4, false, &e);
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L1D, PL_PAGE_4K), 1);
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L2, PL_PAGE_4K), 1);
    cr_assert_eq(pl_tlb_lookup(tlb, 0x9000, 4, false, &got), 1);
    cr_assert_eq(got.frame, 0x3000);
    cr_assert(got.dirty);
    cr_assert(got.global);
    pl_tlb_free(tlb);
}

Test(tlb, large_pages_go_to_their_own_arrays_and_cover_their_whole_range)
{
    struct pl_tlb *tlb = pl_tlb_new(NULL);
    struct pl_tlb_entry e = {.frame = 0x40000000, .page_shift = 30, .rights = RWX}, got;
    pl_tlb_fill(tlb, 0x80000000, 0, true, &e); /* a fetch: L1I has no 1G array */
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L1I, PL_PAGE_1G), 0);
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L2, PL_PAGE_1G), 1);
    cr_assert_eq(pl_tlb_lookup(tlb, 0xBFFFFFFF, 0, true, &got), 2);
    cr_assert_eq(got.page_shift, 30);
    cr_assert_eq(got.frame, 0x40000000);
    cr_assert_eq(pl_tlb_lookup(tlb, 0xC0000000, 0, true, &got), 0);
    e = (struct pl_tlb_entry){.frame = 0x600000, .page_shift = 21, .rights = RWX};
    pl_tlb_fill(tlb, 0x200000, 0, false, &e);
    cr_assert_eq(pl_tlb_valid_entries(tlb, PL_TLB_L1D, PL_PAGE_2M), 1);
    cr_assert_eq(pl_tlb_lookup(tlb, 0x3FF000, 0, false, &got), 1);
    cr_assert_eq(got.frame, 0x600000);
    cr_assert_eq(got.page_shift, 21);
    const struct pl_tlb_stats *s = pl_tlb_stats(tlb);
    cr_assert_eq(s->hits[PL_TLB_L2][PL_PAGE_1G], 1);
    cr_assert_eq(s->misses[PL_TLB_L1I][PL_PAGE_1G], 1);
    cr_assert_eq(s->hits[PL_TLB_L1D][PL_PAGE_2M], 1);
    pl_tlb_free(tlb);
}

/* A successful 4-level walk of la whose non-leaf entries are PML4E, PDPTE
 * and PDE pointing at tables 0x10000, 0x20000, 0x30000. */
static void fake_walk(uint64_t la, uint64_t pde_flags, struct pl_walk_in *in, struct pl_walk_out *out)
{
    *in = (struct pl_walk_in){.la = la};
    *out = (struct pl_walk_out){.nsteps = 4, .refs = 4};
    const uint64_t next[4] = {0x10000 | 0x27, 0x20000 | 0x27, 0x30000 | pde_flags, 0x99000 | 0x67};
    for (int i = 0; i < 4; i++)
        out->step[i] = (struct pl_walk_step){.level = (uint8_t)(4 - i), .entry = next[i]};
}

Test(tlb, paging_structure_caches_fill_from_a_walk_and_start_the_next_one_lower)
{
    struct pl_tlb *tlb = pl_tlb_new(NULL);
    struct pl_walk_in in;
    struct pl_walk_out out;
    fake_walk(0x12345678000, 0x25 /* P US A, read-only */, &in, &out);
    pl_tlb_psc_fill(tlb, in.la, 3, &in, &out);
    cr_assert_eq(pl_tlb_psc_valid_entries(tlb, 4), 1);
    cr_assert_eq(pl_tlb_psc_valid_entries(tlb, 3), 1);
    cr_assert_eq(pl_tlb_psc_valid_entries(tlb, 2), 1);
    cr_assert_eq(pl_tlb_psc_valid_entries(tlb, 5), 0);
    uint64_t table;
    uint8_t rights;
    cr_assert(pl_tlb_psc_probe(tlb, 4, 0x12345678000, 3, &table, &rights));
    cr_assert_eq(table, 0x10000);
    cr_assert(pl_tlb_psc_probe(tlb, 3, 0x12345678000, 3, &table, &rights));
    cr_assert_eq(table, 0x20000);
    cr_assert_eq(rights, RWX);
    cr_assert(pl_tlb_psc_probe(tlb, 2, 0x12345678000, 3, &table, &rights));
    cr_assert_eq(table, 0x30000);
    cr_assert_eq(rights, PL_RIGHT_U | PL_RIGHT_X);
    cr_assert_not(pl_tlb_psc_probe(tlb, 2, 0x12345678000, 4, NULL, NULL));

    /* Another page under the same PDE: the walk starts at the PT. */
    struct pl_walk_in next = {.la = 0x12345679000};
    cr_assert_eq(pl_tlb_psc_lookup(tlb, next.la, 3, &next), 2);
    cr_assert_eq(next.start_level, 1);
    cr_assert_eq(next.start_table, 0x30000);
    cr_assert_eq(next.start_rights, PL_RIGHT_U | PL_RIGHT_X);
    /* Under another PDE of the same PD: starts at the PD. */
    next = (struct pl_walk_in){.la = 0x12345678000 + (UINT64_C(1) << 21)};
    cr_assert_eq(pl_tlb_psc_lookup(tlb, next.la, 3, &next), 3);
    cr_assert_eq(next.start_level, 2);
    cr_assert_eq(next.start_table, 0x20000);
    /* Under another PML4E: no help. */
    next = (struct pl_walk_in){.la = 0x12345678000 + (UINT64_C(1) << 39)};
    cr_assert_eq(pl_tlb_psc_lookup(tlb, next.la, 3, &next), 0);
    cr_assert_eq(next.start_level, 0);
    const struct pl_tlb_stats *s = pl_tlb_stats(tlb);
    cr_assert_eq(s->psc_hits[PL_PSC_INDEX(2)], 1);
    cr_assert_eq(s->psc_hits[PL_PSC_INDEX(3)], 1);
    cr_assert_eq(s->psc_hits[PL_PSC_INDEX(4)], 0);
    cr_assert_eq(s->psc_misses, 1);
    pl_tlb_free(tlb);
}

/* The state every invalidation test starts from:
 *   TLB: (pcid 1, A), (pcid 1, B), (pcid 2, A) non-global; G global;
 *   PSC: the walk of A cached for pcid 1 and for pcid 2, the walk of far
 *   (another PML4E) for pcid 1. */
#define A UINT64_C(0x400000)
#define B UINT64_C(0x401000)
#define G UINT64_C(0xFFFFFFFF80000000)
#define FAR UINT64_C(0x8000000000)

static struct pl_tlb *populated(void)
{
    struct pl_tlb *tlb = pl_tlb_new(NULL);
    struct pl_tlb_entry e = page4k(0x1000, false);
    pl_tlb_fill(tlb, A, 1, false, &e);
    pl_tlb_fill(tlb, B, 1, false, &e);
    pl_tlb_fill(tlb, A, 2, false, &e);
    e.global = true;
    pl_tlb_fill(tlb, G, 1, false, &e);
    struct pl_walk_in in;
    struct pl_walk_out out;
    fake_walk(A, 0x27, &in, &out);
    pl_tlb_psc_fill(tlb, A, 1, &in, &out);
    pl_tlb_psc_fill(tlb, A, 2, &in, &out);
    fake_walk(FAR, 0x27, &in, &out);
    pl_tlb_psc_fill(tlb, FAR, 1, &in, &out);
    return tlb;
}

/* One bit per fact, in this order: A/1, B/1, A/2, G (seen from pcid 3),
 * PDE cache A/1, PDE cache A/2, PML4E cache FAR/1. Checked in L1D and L2. */
static unsigned survivors(const struct pl_tlb *tlb)
{
    unsigned m = 0;
    const struct {
        uint64_t la;
        uint16_t pcid;
    } t[4] = {{A, 1}, {B, 1}, {A, 2}, {G, 3}};
    for (int i = 0; i < 4; i++) {
        bool l1 = pl_tlb_probe(tlb, PL_TLB_L1D, t[i].la, t[i].pcid, NULL);
        cr_assert_eq(l1, pl_tlb_probe(tlb, PL_TLB_L2, t[i].la, t[i].pcid, NULL), "L1 and L2 agree on %d", i);
        m |= (unsigned)l1 << i;
    }
    m |= (unsigned)pl_tlb_psc_probe(tlb, 2, A, 1, NULL, NULL) << 4;
    m |= (unsigned)pl_tlb_psc_probe(tlb, 2, A, 2, NULL, NULL) << 5;
    m |= (unsigned)pl_tlb_psc_probe(tlb, 4, FAR, 1, NULL, NULL) << 6;
    return m;
}

static void check_invalidation(unsigned kind, uint16_t pcid, uint64_t la, unsigned expect)
{
    struct pl_tlb *tlb = populated();
    cr_assert_eq(survivors(tlb), 0x7F);
    pl_tlb_invalidate(tlb, kind, pcid, la);
    cr_assert_eq(survivors(tlb), expect, "%s: survivors %#x, expected %#x", pl_inv_kind_name(kind), survivors(tlb),
                 expect);
    cr_assert_eq(pl_tlb_stats(tlb)->inval[kind], 1);
    pl_tlb_free(tlb);
}

Test(tlb, invlpg_drops_the_page_for_the_current_pcid_and_globally_and_all_its_pscs)
{
    check_invalidation(PL_INV_INVLPG, 1, A, 0x02 | 0x04 | 0x08 | 0x20);
    check_invalidation(PL_INV_INVLPG, 1, G, 0x01 | 0x02 | 0x04 | 0x20);
}

Test(tlb, invpcid_type0_drops_only_the_nonglobal_page_of_that_pcid_and_its_pscs)
{
    check_invalidation(PL_INV_INVPCID_ADDR, 2, A, 0x01 | 0x02 | 0x08 | 0x10 | 0x40);
    check_invalidation(PL_INV_INVPCID_ADDR, 1, G, 0x01 | 0x02 | 0x04 | 0x08 | 0x20);
}

Test(tlb, invpcid_type1_and_cr3_load_drop_one_pcid_but_not_global_entries)
{
    check_invalidation(PL_INV_INVPCID_CONTEXT, 1, 0, 0x04 | 0x08 | 0x20);
    check_invalidation(PL_INV_CR3, 2, 0, 0x01 | 0x02 | 0x08 | 0x10 | 0x40);
    check_invalidation(PL_INV_CR4_CONTEXT, 1, 0, 0x04 | 0x08 | 0x20);
}

Test(tlb, invpcid_type2_cr4_pge_and_cr0_pg_drop_everything)
{
    check_invalidation(PL_INV_INVPCID_ALL, 0, 0, 0);
    check_invalidation(PL_INV_CR4_ALL, 0, 0, 0);
    check_invalidation(PL_INV_CR0_PG, 0, 0, 0);
}

Test(tlb, invpcid_type3_keeps_only_global_entries)
{
    check_invalidation(PL_INV_INVPCID_NONGLOBAL, 0, 0, 0x08);
}

Test(tlb, cr3_with_the_noflush_bit_drops_nothing)
{
    check_invalidation(PL_INV_CR3_NOFLUSH, 1, 0, 0x7F);
}

Test(tlb, a_page_fault_drops_the_address_and_only_the_pscs_on_its_path)
{
    check_invalidation(PL_INV_PAGE_FAULT, 1, A, 0x02 | 0x04 | 0x08 | 0x20 | 0x40);
    check_invalidation(PL_INV_PAGE_FAULT, 1, G, 0x01 | 0x02 | 0x04 | 0x10 | 0x20 | 0x40);
}

Test(tlb, invalidation_kinds_have_names)
{
    cr_assert_str_eq(pl_inv_kind_name(PL_INV_INVLPG), "invlpg");
    cr_assert_str_eq(pl_inv_kind_name(PL_INV_INVPCID_NONGLOBAL), "invpcid3");
    cr_assert_str_eq(pl_inv_kind_name(PL_INV_PAGE_FAULT), "page-fault");
    cr_assert_str_eq(pl_inv_kind_name(PL_INV_KINDS), "unknown");
}
