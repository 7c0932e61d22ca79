/* hw/walk against a second walker: random paging structures and accesses,
 * each run through pl_walk() and through ref_walk() below, which is written
 * from the spec (shared/spec/x86-paging.md) §1-§5 alone (it shares no code with
 * src/hw/walk.c, not even hw/pte.h) and is meant to be read, not to be fast.
 * Every result field the spec defines is compared, and so is every word of
 * every paging-structure page after each access (A/D updates).
 *
 * The run is deterministic: the seed is fixed, printed in every failure
 * message, and can be replaced with PTELAB_PROPERTY_SEED=N to explore. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptelab/physmem.h"
#include "ptelab/walk.h"

#define TRIALS 20000
#define DEFAULT_SEED UINT64_C(0x5eed0f9a9e7ab1e5)

#define BIT(n) (UINT64_C(1) << (n))

/* Bits hi..lo inclusive; empty when hi < lo. */
static uint64_t bits(unsigned hi, unsigned lo)
{
    if (hi < lo)
        return 0;
    uint64_t upto_hi = hi == 63 ? UINT64_MAX : BIT(hi + 1) - 1;
    return upto_hi & ~(BIT(lo) - 1);
}

/* Entry bits, spelled out here on purpose (spec §2). */
enum {
    E_P = 0, E_RW = 1, E_US = 2, E_PWT = 3, E_PCD = 4, E_A = 5, E_D = 6,
    E_PS = 7, E_G = 8, E_PAT_LARGE = 12, E_XD = 63,
};

/* ---- Deterministic random numbers (splitmix64). ---- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A number in [0, n); n > 0. */
static unsigned rng_below(struct rng *r, unsigned n) { return (unsigned)(rng_next(r) % n); }

/* True with the given probability in percent. */
static bool rng_chance(struct rng *r, unsigned percent) { return rng_below(r, 100) < percent; }

/* ---- The reference model. ---- */

/* The machine state the reference reads: plain copies of the inputs. */
struct ref_cfg {
    unsigned levels; /* 4 or 5 */
    unsigned m;      /* MAXPHYADDR */
    bool wp, smep, smap, pke, nxe, gbpages, amd;
    bool upper_a_on_fault; /* accessed-on-fault = 1 */
    uint32_t pkru;
    uint64_t cr3;
    uint64_t pat;
};

/* Paging-structure pages of one trial; every other address reads as 0. */
#define REF_MAX_PAGES 8
struct ref_mem {
    unsigned npages;
    uint64_t base[REF_MAX_PAGES];
    uint64_t word[REF_MAX_PAGES][512];
};

/* The word at pa, or NULL when pa is in no page of the model. */
static uint64_t *ref_word(struct ref_mem *m, uint64_t pa)
{
    for (unsigned i = 0; i < m->npages; i++)
        if (pa >= m->base[i] && pa - m->base[i] < 4096)
            return &m->word[i][(pa - m->base[i]) / 8];
    return NULL;
}

static uint64_t ref_read(struct ref_mem *m, uint64_t pa)
{
    uint64_t *w = ref_word(m, pa);
    return w ? *w : 0;
}

/* Sets bits in a word that exists (the walk only updates entries it read
 * as present, and a present entry is never in absent memory). */
static void ref_set(struct ref_mem *m, uint64_t pa, uint64_t set)
{
    uint64_t *w = ref_word(m, pa);
    cr_assert_not_null(w, "reference model updates a word it never read: 0x%" PRIx64, pa);
    *w |= set;
}

struct ref_access {
    uint64_t la;
    unsigned kind; /* PL_READ, PL_WRITE, PL_FETCH */
    bool implicit;
    unsigned cpl;
    bool ac;
    unsigned start_level; /* 0: from CR3 */
    unsigned start_rights;
    uint64_t start_table;
};

struct ref_result {
    bool ok;
    unsigned vector;
    unsigned cause;
    unsigned fault_level;
    uint16_t error_code;
    uint64_t pa;
    unsigned page_shift;
    unsigned rights;
    unsigned memtype;
    bool global, dirty;
    unsigned nsteps;
    unsigned step_level[5], step_index[5];
    uint64_t step_pa[5], step_entry[5];
};

/* Spec §1: LA[63:47] (4 levels) or LA[63:56] (5 levels) all equal. */
static bool ref_canonical(uint64_t la, unsigned levels)
{
    unsigned top = levels == 5 ? 56 : 47;
    uint64_t upper = la >> top;
    return upper == 0 || upper == (UINT64_MAX >> top);
}

/* Spec §2, the reserved-bit mask of a present entry at level (5..1). */
static uint64_t ref_reserved(const struct ref_cfg *c, unsigned level, uint64_t e)
{
    bool ps = e & BIT(E_PS);
    uint64_t r = bits(51, c->m);
    if (!c->nxe)
        r |= BIT(63);
    if (level >= 4)
        r |= BIT(7);
    if (level >= 4 && c->amd)
        r |= BIT(8);
    if (level == 3 && ps && !c->gbpages)
        r |= BIT(7);
    if (level == 3 && ps)
        r |= bits(29, 13);
    if (level == 2 && ps)
        r |= bits(20, 13);
    return r;
}

/* Spec §3, the table of rights: true when U/S, R/W, XD, SMEP or SMAP
 * denies the access. u, w, x: the combined rights of the translation. */
static bool ref_rights_deny(const struct ref_cfg *c, const struct ref_access *a, bool u, bool w, bool x)
{
    bool user = a->cpl == 3 && !a->implicit;
    if (user) {
        if (!u)
            return true;
        if (a->kind == PL_WRITE)
            return !w;
        if (a->kind == PL_FETCH)
            return !x;
        return false;
    }
    if (a->kind == PL_FETCH)
        return (u && c->smep) || !x;
    if (u && c->smap && (a->implicit || !a->ac))
        return true;
    if (a->kind == PL_WRITE && c->wp && !w)
        return true;
    return false;
}

/* Spec §3, protection keys: true when PKRU denies this data access to a
 * user-mode address whose leaf has key k. */
static bool ref_pkey_deny(const struct ref_cfg *c, const struct ref_access *a, bool u, unsigned k)
{
    if (!c->pke || a->kind == PL_FETCH || !u)
        return false;
    bool user = a->cpl == 3 && !a->implicit;
    bool ad = (c->pkru >> (2 * k)) & 1;
    bool wd = (c->pkru >> (2 * k + 1)) & 1;
    return ad || (wd && a->kind == PL_WRITE && (user || c->wp));
}

/* Spec §4: the #PF error code for a fault with the given P/RSVD/PK bits. */
static uint16_t ref_error_code(const struct ref_cfg *c, const struct ref_access *a, unsigned p_rsvd_pk)
{
    unsigned ec = p_rsvd_pk;
    if (a->kind == PL_WRITE)
        ec |= 0x02;
    if (a->cpl == 3 && !a->implicit)
        ec |= 0x04;
    if (a->kind == PL_FETCH && (c->nxe || c->smep))
        ec |= 0x10;
    return (uint16_t)ec;
}

static void ref_fault(struct ref_result *res, const struct ref_cfg *c, const struct ref_access *a, unsigned cause,
                      unsigned level, unsigned p_rsvd_pk)
{
    res->ok = false;
    res->vector = PL_VEC_PF;
    res->cause = cause;
    res->fault_level = level;
    res->error_code = ref_error_code(c, a, p_rsvd_pk);
}

/* The walk of spec §4 "Order of checks", with the A/D rules of §5 and the
 * accessed-on-fault switch of walk-case.md. Updates mem like the hardware
 * would and fills res. */
static void ref_walk(const struct ref_cfg *c, struct ref_mem *mem, const struct ref_access *a, struct ref_result *res)
{
    memset(res, 0, sizeof *res);
    if (!ref_canonical(a->la, c->levels)) {
        res->ok = false;
        res->vector = PL_VEC_GP;
        res->cause = PL_CAUSE_NONCANONICAL;
        return;
    }

    uint64_t addr_mask = bits(c->m - 1, 12);
    unsigned level = c->levels;
    uint64_t table = c->cr3 & addr_mask;
    bool u = true, w = true, xd = false;
    if (a->start_level) {
        level = a->start_level;
        table = a->start_table;
        u = a->start_rights & PL_RIGHT_U;
        w = a->start_rights & PL_RIGHT_W;
        xd = !(a->start_rights & PL_RIGHT_X);
    }

    uint64_t used[5];
    unsigned nused = 0;
    uint64_t leaf = 0;
    unsigned leaf_level = 0;
    for (;; level--) {
        unsigned index = (unsigned)(a->la >> (12 + 9 * (level - 1))) & 511;
        uint64_t pa = table + 8 * index;
        uint64_t e = ref_read(mem, pa);
        res->step_level[res->nsteps] = level;
        res->step_index[res->nsteps] = index;
        res->step_pa[res->nsteps] = pa;
        res->step_entry[res->nsteps] = e;
        res->nsteps++;

        if (!(e & BIT(E_P))) {
            ref_fault(res, c, a, PL_CAUSE_NOT_PRESENT, level, 0);
            return;
        }
        if (e & ref_reserved(c, level, e)) {
            ref_fault(res, c, a, PL_CAUSE_RESERVED, level, 0x01 | 0x08);
            return;
        }
        u = u && (e & BIT(E_US));
        w = w && (e & BIT(E_RW));
        xd = xd || (e & BIT(E_XD));
        used[nused++] = pa;

        bool is_leaf = level == 1 || ((level == 2 || level == 3) && (e & BIT(E_PS)));
        if (is_leaf) {
            leaf = e;
            leaf_level = level;
            break;
        }
        if (c->upper_a_on_fault)
            ref_set(mem, pa, BIT(E_A));
        table = e & addr_mask;
    }

    bool x = !(c->nxe && xd);
    unsigned key = (unsigned)(leaf >> 59) & 15;
    bool rights_deny = ref_rights_deny(c, a, u, w, x);
    bool pk_deny = ref_pkey_deny(c, a, u, key);
    if (rights_deny || pk_deny) {
        ref_fault(res, c, a, rights_deny ? PL_CAUSE_RIGHTS : PL_CAUSE_PKEY, 0, 0x01 | (pk_deny ? 0x20 : 0));
        return;
    }

    for (unsigned i = 0; i < nused; i++)
        ref_set(mem, used[i], BIT(E_A));
    if (a->kind == PL_WRITE)
        ref_set(mem, used[nused - 1], BIT(E_D));

    unsigned shift = 12 + 9 * (leaf_level - 1);
    unsigned pat_bit = leaf_level == 1 ? 7 : E_PAT_LARGE;
    unsigned pat_index = (unsigned)(((leaf >> pat_bit) & 1) << 2 | ((leaf >> E_PCD) & 1) << 1 | ((leaf >> E_PWT) & 1));
    res->ok = true;
    res->page_shift = shift;
    res->pa = (leaf & addr_mask & ~(BIT(shift) - 1)) | (a->la & (BIT(shift) - 1));
    res->rights = (w ? PL_RIGHT_W : 0) | (u ? PL_RIGHT_U : 0) | (x ? PL_RIGHT_X : 0);
    res->memtype = (unsigned)(c->pat >> (8 * pat_index)) & 7;
    res->global = leaf & BIT(E_G);
    res->dirty = ref_read(mem, used[nused - 1]) & BIT(E_D);
}

/* ---- Random machines. ---- */

/* Knobs drawn once per trial, so that some trials are mostly present and
 * legal (deep walks, successes) and others full of faults. */
struct flavor {
    unsigned present, reserved, ps, xd, rw, us;
};

struct trial {
    struct rng rng;
    uint64_t seed;
    unsigned number;
    struct ref_cfg cfg;
    struct ref_mem ref;
    struct pl_mmu mmu;
    struct pl_physmem *mem;
    struct flavor fl;
};

/* A random 4K-aligned physical address below 2^M, often a small one. */
static uint64_t random_frame(struct trial *t)
{
    if (rng_chance(&t->rng, 50))
        return (uint64_t)(1 + rng_below(&t->rng, 1023)) << 12;
    return rng_next(&t->rng) & bits(t->cfg.m - 1, 12);
}

/* A random entry for a table at level, pointing to a page of the model (so
 * the walk goes on, possibly into the same page again) or anywhere. */
static uint64_t random_entry(struct trial *t, unsigned level)
{
    struct rng *r = &t->rng;
    const struct flavor *fl = &t->fl;
    uint64_t e = 0;
    if (rng_chance(r, fl->present))
        e |= BIT(E_P);
    if (rng_chance(r, fl->rw))
        e |= BIT(E_RW);
    if (rng_chance(r, fl->us))
        e |= BIT(E_US);
    e |= rng_next(r) & (BIT(E_PWT) | BIT(E_PCD) | BIT(E_A) | BIT(E_D) | BIT(E_G) | bits(11, 9));
    bool ps = false;
    if (level == 2 || level == 3)
        ps = rng_chance(r, fl->ps);
    else if (level >= 4)
        ps = rng_chance(r, 2);
    else
        ps = rng_chance(r, 40); /* PTE bit 7: PAT */
    if (ps)
        e |= BIT(E_PS);
    if (rng_chance(r, fl->xd))
        e |= BIT(E_XD);
    if (rng_chance(r, 50))
        e |= (rng_next(r) & 15) << 59;
    if (rng_chance(r, 10))
        e |= rng_next(r) & bits(58, 52);

    bool large = ps && (level == 2 || level == 3);
    if (level == 1 || large) {
        unsigned shift = 12 + 9 * (level - 1);
        e |= random_frame(t) & ~(BIT(shift) - 1);
        if (large && rng_chance(r, 30))
            e |= BIT(E_PAT_LARGE);
        if (large && rng_chance(r, fl->reserved * 2))
            e |= BIT(13 + rng_below(r, shift - 13));
    } else if (rng_chance(r, 90)) {
        e |= t->ref.base[rng_below(r, t->ref.npages)];
    } else {
        e |= random_frame(t);
    }
    if (t->cfg.m < 52 && rng_chance(r, fl->reserved))
        e |= BIT(t->cfg.m + rng_below(r, 52 - t->cfg.m));
    return e;
}

/* Writes one word to both memories; pa lies in a page of the model. */
static void put(struct trial *t, uint64_t pa, uint64_t v)
{
    uint64_t *w = ref_word(&t->ref, pa);
    cr_assert_not_null(w);
    *w = v;
    cr_assert_eq(pl_physmem_write64(t->mem, pa, v), 0);
}

/* A random linear address: mostly canonical for the paging mode, else one
 * that differs in the bits the canonical rule looks at. */
static uint64_t random_la(struct trial *t)
{
    struct rng *r = &t->rng;
    uint64_t la = rng_next(r);
    unsigned width = t->cfg.levels == 5 ? 57 : 48;
    if (rng_chance(r, 30)) {
        /* The same index at several levels: with an entry that points back
         * to its own table, the walk reads one word more than once. */
        uint64_t index = rng_below(r, 512);
        for (unsigned level = 1; level <= t->cfg.levels; level++)
            if (rng_chance(r, 80)) {
                la &= ~(UINT64_C(511) << (12 + 9 * (level - 1)));
                la |= index << (12 + 9 * (level - 1));
            }
    }
    if (rng_chance(r, 90)) {
        la &= bits(width - 1, 0);
        if (la & BIT(width - 1))
            la |= bits(63, width);
        return la;
    }
    switch (rng_below(r, 3)) {
    case 0: /* canonical for 57 bits, rarely for 48 */
        la &= bits(56, 0);
        if (la & BIT(56))
            la |= bits(63, 57);
        return la;
    case 1: /* one bit of the sign extension flipped */
        la &= bits(width - 1, 0);
        if (la & BIT(width - 1))
            la |= bits(63, width);
        return la ^ BIT(width + rng_below(r, 64 - width));
    default:
        return la;
    }
}

/* Plants random entries along la's walk, table by table, starting at the
 * root; each next table is whichever model page the entry just written
 * names (or nothing, and the walk will read zeros). */
static void plant_path(struct trial *t, uint64_t la)
{
    uint64_t table = t->cfg.cr3 & bits(t->cfg.m - 1, 12);
    for (unsigned level = t->cfg.levels; level >= 1; level--) {
        if (!ref_word(&t->ref, table))
            return;
        uint64_t pa = table + 8 * ((la >> (12 + 9 * (level - 1))) & 511);
        uint64_t e = random_entry(t, level);
        put(t, pa, e);
        table = e & bits(t->cfg.m - 1, 12);
    }
}

/* A random valid PAT: every byte one of the encodings 0, 1, 4, 5, 6, 7. */
static uint64_t random_pat(struct rng *r)
{
    static const uint8_t types[] = {0, 1, 4, 5, 6, 7};
    uint64_t pat = 0;
    for (unsigned i = 0; i < 8; i++)
        pat |= (uint64_t)types[rng_below(r, 6)] << (8 * i);
    return pat;
}

static void trial_setup(struct trial *t, uint64_t seed, unsigned number)
{
    memset(t, 0, sizeof *t);
    t->seed = seed;
    t->number = number;
    t->rng.s = seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (number + 1));
    struct rng *r = &t->rng;
    struct ref_cfg *c = &t->cfg;

    static const unsigned m_choices[] = {32, 36, 39, 40, 46, 48, 52, 52};
    c->levels = rng_chance(r, 35) ? 5 : 4;
    c->m = rng_chance(r, 80) ? m_choices[rng_below(r, 8)] : 32 + rng_below(r, 21);
    c->wp = rng_chance(r, 50);
    c->smep = rng_chance(r, 50);
    c->smap = rng_chance(r, 50);
    c->pke = rng_chance(r, 50);
    c->nxe = rng_chance(r, 70);
    c->gbpages = rng_chance(r, 80);
    c->amd = rng_chance(r, 30);
    c->upper_a_on_fault = rng_chance(r, 50);
    c->pkru = rng_chance(r, 30) ? 0 : (uint32_t)rng_next(r);
    c->pat = rng_chance(r, 50) ? PL_PAT_RESET : random_pat(r);

    static const struct flavor flavors[] = {
        {.present = 100, .reserved = 0, .ps = 20, .xd = 10, .rw = 90, .us = 90},
        {.present = 95, .reserved = 2, .ps = 25, .xd = 15, .rw = 75, .us = 75},
        {.present = 85, .reserved = 8, .ps = 35, .xd = 30, .rw = 60, .us = 60},
    };
    t->fl = flavors[rng_below(r, 3)];

    t->ref.npages = 1 + rng_below(r, 6);
    for (unsigned i = 0; i < t->ref.npages; i++) {
        uint64_t base;
        bool clash;
        do {
            base = random_frame(t);
            clash = false;
            for (unsigned j = 0; j < i; j++)
                clash = clash || t->ref.base[j] == base;
        } while (clash);
        t->ref.base[i] = base;
    }
    c->cr3 = t->ref.base[0];

    t->mem = pl_physmem_new();
    cr_assert_not_null(t->mem);
    pl_mmu_init(&t->mmu);
    t->mmu.cr3 = c->cr3 | (rng_next(r) & (BIT(E_PWT) | BIT(E_PCD)));
    t->mmu.pat = c->pat;
    t->mmu.pkru = c->pkru;
    t->mmu.levels = (uint8_t)c->levels;
    t->mmu.maxphyaddr = (uint8_t)c->m;
    t->mmu.wp = c->wp;
    t->mmu.smep = c->smep;
    t->mmu.smap = c->smap;
    t->mmu.pke = c->pke;
    t->mmu.nxe = c->nxe;
    t->mmu.gbpages = c->gbpages;
    t->mmu.amd = c->amd;
    t->mmu.ad_policy = c->upper_a_on_fault ? PL_AD_UPPER_ON_FAULT : PL_AD_NONE_ON_FAULT;
    pl_mmu_update(&t->mmu);
}

/* A context line for failure messages: enough to rebuild the trial. */
static void describe(const struct trial *t, const struct ref_access *a, unsigned access_no, char *buf, size_t len)
{
    const struct ref_cfg *c = &t->cfg;
    int n = snprintf(buf, len,
                     "seed 0x%" PRIx64 " trial %u access %u: levels %u M %u wp %d smep %d smap %d pke %d nxe %d "
                     "gbpages %d amd %d aof %d pkru 0x%" PRIx32 " cr3 0x%" PRIx64 "; %c%s cpl %u%s la 0x%016" PRIx64,
                     t->seed, t->number, access_no, c->levels, c->m, c->wp, c->smep, c->smap, c->pke, c->nxe,
                     c->gbpages, c->amd, c->upper_a_on_fault, c->pkru, c->cr3, "rwx"[a->kind],
                     a->implicit ? " implicit" : "", a->cpl, a->ac ? " ac" : "", a->la);
    if (n > 0 && (size_t)n < len && a->start_level)
        snprintf(buf + n, len - (size_t)n, " from level %u table 0x%" PRIx64 " rights %u", a->start_level,
                 a->start_table, a->start_rights);
}

struct stats {
    unsigned long walks, ok, gp, pf, ec_bits[6], leaf_shift[3], from_cache, self_ref, aof_updates;
    unsigned long per_cause[6];
};

/* Runs one access through both walkers and compares everything. */
static void check_access(struct trial *t, const struct ref_access *a, unsigned access_no, struct stats *st)
{
    char ctx[512];
    describe(t, a, access_no, ctx, sizeof ctx);

    size_t frames_before = pl_physmem_frames(t->mem);
    struct ref_mem before = t->ref;
    struct ref_result want;
    ref_walk(&t->cfg, &t->ref, a, &want);

    struct pl_walk_in in = {
        .la = a->la,
        .kind = (uint8_t)(a->kind | (a->implicit ? PL_IMPLICIT : 0)),
        .cpl = (uint8_t)a->cpl,
        .ac = a->ac,
        .start_level = (uint8_t)a->start_level,
        .start_rights = (uint8_t)a->start_rights,
        .start_table = a->start_table,
    };
    struct pl_walk_out out;
    struct pl_fault f;
    memset(&out, 0xA5, sizeof out);
    memset(&f, 0xA5, sizeof f);
    bool ok = pl_walk(&t->mmu, t->mem, &in, &out, &f);

    cr_assert_eq(ok, want.ok, "%s: pl_walk says %s, reference %s (ref vector %u ec 0x%x)", ctx,
                 ok ? "ok" : "fault", want.ok ? "ok" : "fault", want.vector, want.error_code);
    if (ok) {
        cr_assert_eq(out.pa, want.pa, "%s: pa 0x%" PRIx64 ", expected 0x%" PRIx64, ctx, out.pa, want.pa);
        cr_assert_eq(out.page_shift, want.page_shift, "%s: page_shift %u, expected %u", ctx, out.page_shift,
                     want.page_shift);
        cr_assert_eq(out.rights, want.rights, "%s: rights %u, expected %u", ctx, out.rights, want.rights);
        cr_assert_eq(out.memtype, want.memtype, "%s: memtype %u, expected %u", ctx, out.memtype, want.memtype);
        cr_assert_eq(out.global, want.global, "%s: global %d, expected %d", ctx, out.global, want.global);
        cr_assert_eq(out.dirty, want.dirty, "%s: dirty %d, expected %d", ctx, out.dirty, want.dirty);
    } else {
        cr_assert_eq(f.vector, want.vector, "%s: vector %u, expected %u", ctx, f.vector, want.vector);
        cr_assert_eq(f.cause, want.cause, "%s: cause %u, expected %u", ctx, f.cause, want.cause);
        if (want.vector == PL_VEC_PF) {
            cr_assert_eq(f.error_code, want.error_code, "%s: error code 0x%x, expected 0x%x", ctx, f.error_code,
                         want.error_code);
            cr_assert_eq(f.addr, a->la, "%s: CR2 0x%" PRIx64, ctx, f.addr);
            cr_assert_eq(f.level, want.fault_level, "%s: fault level %u, expected %u", ctx, f.level,
                         want.fault_level);
        }
    }

    cr_assert_eq(out.nsteps, want.nsteps, "%s: %u steps, expected %u", ctx, out.nsteps, want.nsteps);
    cr_assert_eq(out.refs, want.nsteps, "%s: %u refs, expected %u", ctx, out.refs, want.nsteps);
    for (unsigned i = 0; i < want.nsteps; i++) {
        cr_assert_eq(out.step[i].level, want.step_level[i], "%s: step %u level", ctx, i);
        cr_assert_eq(out.step[i].index, want.step_index[i], "%s: step %u index", ctx, i);
        cr_assert_eq(out.step[i].entry_pa, want.step_pa[i], "%s: step %u at 0x%" PRIx64 ", expected 0x%" PRIx64,
                     ctx, i, out.step[i].entry_pa, want.step_pa[i]);
        /* With accessed-on-fault = 1 and a self-referencing entry, whether a
         * re-read sees the A bit just set is not specified: mask it. */
        cr_assert_eq(out.step[i].entry & ~BIT(E_A), want.step_entry[i] & ~BIT(E_A),
                     "%s: step %u read 0x%" PRIx64 ", expected 0x%" PRIx64, ctx, i, out.step[i].entry,
                     want.step_entry[i]);
    }

    cr_assert_eq(pl_physmem_frames(t->mem), frames_before, "%s: the walk created frames", ctx);
    for (unsigned p = 0; p < t->ref.npages; p++) {
        for (unsigned i = 0; i < 512; i++) {
            uint64_t pa = t->ref.base[p] + 8 * i;
            uint64_t got = pl_physmem_read64(t->mem, pa);
            cr_assert_eq(got, t->ref.word[p][i],
                         "%s: word 0x%" PRIx64 " is 0x%" PRIx64 ", expected 0x%" PRIx64 " (was 0x%" PRIx64 ")", ctx,
                         pa, got, t->ref.word[p][i], before.word[p][i]);
        }
    }

    st->walks++;
    if (want.ok) {
        st->ok++;
        st->leaf_shift[(want.page_shift - 12) / 9]++;
    } else if (want.vector == PL_VEC_GP) {
        st->gp++;
    } else {
        st->pf++;
        for (unsigned b = 0; b < 6; b++)
            if (want.error_code & (1u << b))
                st->ec_bits[b]++;
        if (memcmp(&before, &t->ref, sizeof before) != 0)
            st->aof_updates++;
    }
    st->per_cause[want.ok ? 0 : want.cause]++;
    if (a->start_level)
        st->from_cache++;
    for (unsigned i = 1; i < want.nsteps; i++)
        for (unsigned j = 0; j < i; j++)
            if (want.step_pa[i] == want.step_pa[j])
                st->self_ref++;
}

/* An access to la, or to a close neighbour (same walk, other offset). */
static void random_access(struct trial *t, uint64_t la, struct ref_access *a)
{
    struct rng *r = &t->rng;
    memset(a, 0, sizeof *a);
    a->la = la;
    if (rng_chance(r, 30))
        a->la = (la & ~UINT64_C(0xFFF)) | rng_below(r, 4096);
    a->kind = rng_below(r, 3);
    a->cpl = rng_chance(r, 50) ? 3 : rng_below(r, 3);
    a->ac = rng_chance(r, 50);
    a->implicit = a->kind != PL_FETCH && rng_chance(r, 10);
    if (rng_chance(r, 15)) {
        /* Start below the root, as from a paging-structure cache. */
        a->start_level = 1 + rng_below(r, t->cfg.levels);
        a->start_table = t->ref.base[rng_below(r, t->ref.npages)];
        a->start_rights = rng_below(r, 8);
        if (!t->cfg.nxe)
            a->start_rights |= PL_RIGHT_X;
    }
}

static uint64_t property_seed(void)
{
    const char *s = getenv("PTELAB_PROPERTY_SEED");
    return s ? strtoull(s, NULL, 0) : DEFAULT_SEED;
}

Test(walk_property, pl_walk_agrees_with_the_reference_walker)
{
    uint64_t seed = property_seed();
    struct stats st = {0};
    static struct trial t; /* large: keep it off the stack */
    for (unsigned n = 0; n < TRIALS; n++) {
        trial_setup(&t, seed, n);
        uint64_t las[3];
        unsigned nla = 1 + rng_below(&t.rng, 3);
        for (unsigned i = 0; i < nla; i++) {
            las[i] = random_la(&t);
            plant_path(&t, las[i]);
        }
        unsigned naccess = 1 + rng_below(&t.rng, 5);
        for (unsigned i = 0; i < naccess; i++) {
            struct ref_access a;
            random_access(&t, las[rng_below(&t.rng, nla)], &a);
            check_access(&t, &a, i, &st);
        }
        pl_physmem_free(t.mem);
    }

    /* The generator must actually reach every outcome, or the comparison
     * above proves little. */
    cr_log_info("walks %lu: ok %lu (4K %lu, 2M %lu, 1G %lu), #GP %lu, #PF %lu; from cache %lu, self-ref %lu, "
                "A set by faulting walks %lu",
                st.walks, st.ok, st.leaf_shift[0], st.leaf_shift[1], st.leaf_shift[2], st.gp, st.pf, st.from_cache,
                st.self_ref, st.aof_updates);
    cr_assert_geq(st.walks, 40000);
    cr_assert_geq(st.ok, 2000, "seed 0x%" PRIx64 ": only %lu walks completed", seed, st.ok);
    for (unsigned s = 0; s < 3; s++)
        cr_assert_geq(st.leaf_shift[s], 200, "seed 0x%" PRIx64 ": few completed walks with page shift %u", seed,
                      12 + 9 * s);
    cr_assert_geq(st.gp, 1000);
    for (unsigned b = 0; b < 6; b++)
        cr_assert_geq(st.ec_bits[b], 200, "seed 0x%" PRIx64 ": error-code bit %u seen only %lu times", seed, b,
                      st.ec_bits[b]);
    for (unsigned c = PL_CAUSE_NOT_PRESENT; c <= PL_CAUSE_PKEY; c++)
        cr_assert_geq(st.per_cause[c], 200, "seed 0x%" PRIx64 ": cause %u seen only %lu times", seed, c,
                      st.per_cause[c]);
    cr_assert_geq(st.from_cache, 2000);
    cr_assert_geq(st.self_ref, 500);
    cr_assert_geq(st.aof_updates, 500);
}

Test(walk_property, la_canonical_agrees_with_the_reference)
{
    struct rng r = {property_seed()};
    const uint64_t edges[] = {
        0, UINT64_MAX, BIT(47) - 1, BIT(47), bits(63, 47), bits(63, 48), BIT(56) - 1, BIT(56),
        bits(63, 56), bits(63, 57), BIT(63), BIT(48), bits(63, 48) | BIT(40),
    };
    for (unsigned i = 0; i < sizeof edges / sizeof edges[0]; i++)
        for (unsigned levels = 4; levels <= 5; levels++)
            cr_assert_eq(pl_la_canonical(edges[i], levels), ref_canonical(edges[i], levels),
                         "la 0x%016" PRIx64 " levels %u", edges[i], levels);
    for (unsigned i = 0; i < 100000; i++) {
        uint64_t la = rng_next(&r);
        unsigned top = rng_chance(&r, 50) ? 47 : 56;
        if (rng_chance(&r, 70))
            la = (la & bits(top, 0)) | ((la & BIT(top)) ? bits(63, top) : 0);
        for (unsigned levels = 4; levels <= 5; levels++)
            cr_assert_eq(pl_la_canonical(la, levels), ref_canonical(la, levels), "la 0x%016" PRIx64 " levels %u",
                         la, levels);
    }
}

Test(walk_property, pf_error_code_adds_w_u_and_id_like_the_reference)
{
    struct rng r = {property_seed()};
    for (unsigned i = 0; i < 20000; i++) {
        struct pl_mmu mmu;
        pl_mmu_init(&mmu);
        mmu.nxe = rng_chance(&r, 50);
        mmu.smep = rng_chance(&r, 50);
        mmu.smap = rng_chance(&r, 50);
        mmu.wp = rng_chance(&r, 50);
        mmu.pke = rng_chance(&r, 50);
        pl_mmu_update(&mmu);
        struct ref_cfg c = {.levels = 4, .m = 52, .nxe = mmu.nxe, .smep = mmu.smep};
        struct ref_access a = {.kind = rng_below(&r, 3), .cpl = rng_below(&r, 4), .ac = rng_chance(&r, 50)};
        a.implicit = a.kind != PL_FETCH && rng_chance(&r, 30);
        static const unsigned given[] = {0, 0x01, 0x09, 0x21};
        unsigned bits_in = given[rng_below(&r, 4)];
        struct pl_walk_in in = {.kind = (uint8_t)(a.kind | (a.implicit ? PL_IMPLICIT : 0)),
                                .cpl = (uint8_t)a.cpl,
                                .ac = a.ac};
        cr_assert_eq(pl_pf_error_code(&mmu, &in, (uint16_t)bits_in), ref_error_code(&c, &a, bits_in),
                     "kind %u implicit %d cpl %u nxe %d smep %d bits 0x%x", a.kind, a.implicit, a.cpl, c.nxe,
                     c.smep, bits_in);
    }
}

/* An empty machine: every walk reads zeros from absent memory. */
Test(walk_property, faulting_walks_into_empty_memory_create_no_frame)
{
    struct pl_physmem *mem = pl_physmem_new();
    cr_assert_not_null(mem);
    size_t host = pl_physmem_host_bytes(mem);
    struct rng r = {property_seed()};
    for (unsigned i = 0; i < 2000; i++) {
        struct pl_mmu mmu;
        pl_mmu_init(&mmu);
        mmu.levels = rng_chance(&r, 50) ? 5 : 4;
        mmu.ad_policy = rng_chance(&r, 50) ? PL_AD_UPPER_ON_FAULT : PL_AD_NONE_ON_FAULT;
        mmu.cr3 = rng_next(&r) & bits(51, 12);
        pl_mmu_update(&mmu);
        uint64_t la = rng_next(&r) & bits(46, 0);
        struct pl_walk_in in = {.la = la, .kind = (uint8_t)rng_below(&r, 3), .cpl = rng_chance(&r, 50) ? 3 : 0};
        if (rng_chance(&r, 30)) {
            in.start_level = (uint8_t)(1 + rng_below(&r, mmu.levels));
            in.start_table = rng_next(&r) & bits(51, 12);
            in.start_rights = PL_RIGHT_W | PL_RIGHT_U | PL_RIGHT_X;
        }
        struct pl_walk_out out;
        struct pl_fault f;
        cr_assert_not(pl_walk(&mmu, mem, &in, &out, &f));
        cr_assert_eq(f.vector, PL_VEC_PF);
        cr_assert_eq(f.cause, PL_CAUSE_NOT_PRESENT);
        cr_assert_eq(f.error_code & (PL_PF_P | PL_PF_RSVD | PL_PF_PK), 0);
        cr_assert_eq(out.refs, 1);
        cr_assert_eq(pl_physmem_frames(mem), 0, "walk %u created a frame", i);
    }
    cr_assert_eq(pl_physmem_host_bytes(mem), host);
    pl_physmem_free(mem);
}

/* Present entries whose next table was never written: the walk reads
 * zeros there, faults, and creates nothing, whatever the A policy. */
Test(walk_property, a_table_in_absent_memory_reads_as_zeros_and_stays_absent)
{
    for (unsigned policy = 0; policy <= 1; policy++) {
        struct pl_physmem *mem = pl_physmem_new();
        cr_assert_not_null(mem);
        struct pl_mmu mmu;
        pl_mmu_init(&mmu);
        mmu.cr3 = 0x1000;
        mmu.ad_policy = (uint8_t)policy;
        pl_mmu_update(&mmu);
        cr_assert_eq(pl_physmem_write64(mem, 0x1000, 0x2007), 0);     /* PML4[0] -> PDPT 0x2000 */
        cr_assert_eq(pl_physmem_write64(mem, 0x2000, 0x7654321007), 0); /* PDPT[0] -> absent PD */
        size_t frames = pl_physmem_frames(mem);
        cr_assert_eq(frames, 2);

        struct pl_walk_in in = {.la = 0x1234, .kind = PL_WRITE, .cpl = 3};
        struct pl_walk_out out;
        struct pl_fault f;
        cr_assert_not(pl_walk(&mmu, mem, &in, &out, &f));
        cr_assert_eq(f.error_code, PL_PF_W | PL_PF_U);
        cr_assert_eq(f.level, 2);
        cr_assert_eq(out.refs, 3);
        cr_assert_eq(pl_physmem_frames(mem), frames);
        cr_assert_null(pl_physmem_frame_lookup(mem, 0x7654321));
        uint64_t a = policy ? 0x20 : 0;
        cr_assert_eq(pl_physmem_read64(mem, 0x1000), 0x2007 | a);
        cr_assert_eq(pl_physmem_read64(mem, 0x2000), 0x7654321007 | a);
        pl_physmem_free(mem);
    }
}

/* ---- §10 cases the walk-case format cannot state (it has no implicit
 * accesses, no CPU without 1G pages, no AMD), with exact expected values. */

struct small {
    struct pl_physmem *mem;
    struct pl_mmu mmu;
};

/* PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000, all P RW US; the
 * caller writes leaves and changes flags. */
static void small_setup(struct small *s)
{
    s->mem = pl_physmem_new();
    cr_assert_not_null(s->mem);
    pl_mmu_init(&s->mmu);
    s->mmu.cr3 = 0x1000;
    pl_mmu_update(&s->mmu);
    cr_assert_eq(pl_physmem_write64(s->mem, 0x1000, 0x2007), 0);
    cr_assert_eq(pl_physmem_write64(s->mem, 0x2000, 0x3007), 0);
    cr_assert_eq(pl_physmem_write64(s->mem, 0x3000, 0x4007), 0);
}

/* Walks and returns the error code, or -1 when the access completed. */
static int small_walk(struct small *s, uint64_t la, unsigned kind, unsigned cpl, bool ac)
{
    struct pl_walk_in in = {.la = la, .kind = (uint8_t)kind, .cpl = (uint8_t)cpl, .ac = ac};
    struct pl_walk_out out;
    struct pl_fault f;
    if (pl_walk(&s->mmu, s->mem, &in, &out, &f))
        return -1;
    cr_assert_eq(f.vector, PL_VEC_PF);
    return f.error_code;
}

Test(walk_property, implicit_supervisor_accesses_get_no_smap_excuse_from_ac)
{
    struct small s;
    small_setup(&s);
    cr_assert_eq(pl_physmem_write64(s.mem, 0x4000, 0x100005), 0); /* PT[0]: user read-only */
    cr_assert_eq(pl_physmem_write64(s.mem, 0x4008, 0x101003), 0); /* PT[1]: supervisor RW */
    s.mmu.wp = false;
    s.mmu.smap = true;
    pl_mmu_update(&s.mmu);
    /* §10 #1: explicit supervisor write, WP = 0, SMAP = 1 */
    cr_assert_eq(small_walk(&s, 0x0, PL_WRITE, 0, false), 0x03);
    cr_assert_eq(small_walk(&s, 0x0, PL_WRITE, 0, true), -1);
    /* an implicit access gets 0x03 whatever AC is, and at CPL 3 it is still
     * a supervisor access: no U/S bit */
    cr_assert_eq(small_walk(&s, 0x0, PL_WRITE | PL_IMPLICIT, 0, true), 0x03);
    cr_assert_eq(small_walk(&s, 0x0, PL_WRITE | PL_IMPLICIT, 3, true), 0x03);
    cr_assert_eq(small_walk(&s, 0x0, PL_READ | PL_IMPLICIT, 3, false), 0x01);
    /* supervisor pages are open to implicit accesses from CPL 3 */
    cr_assert_eq(small_walk(&s, 0x1000, PL_WRITE | PL_IMPLICIT, 3, false), -1);
    cr_assert_eq(small_walk(&s, 0x1000, PL_WRITE, 3, false), 0x07);
    pl_physmem_free(s.mem);
}

Test(walk_property, a_1g_leaf_is_reserved_without_1g_page_support)
{
    struct small s;
    small_setup(&s);
    cr_assert_eq(pl_physmem_write64(s.mem, 0x2008, 0x40000087), 0); /* PDPT[1]: 1G leaf */
    cr_assert_eq(pl_physmem_write64(s.mem, 0x3008, 0x200087), 0);   /* PD[1]: 2M leaf */
    cr_assert_eq(small_walk(&s, 0x40000123, PL_READ, 3, false), -1);
    s.mmu.gbpages = false;
    pl_mmu_update(&s.mmu);
    /* §10 #9: PS in a PDPTE without 1G support -> P | U | RSVD */
    cr_assert_eq(small_walk(&s, 0x40000123, PL_READ, 3, false), 0x0d);
    cr_assert_eq(small_walk(&s, 0x40000123, PL_FETCH, 0, false), 0x19);
    /* 2M pages and PS = 0 PDPTEs are unaffected */
    cr_assert_eq(small_walk(&s, 0x200123, PL_READ, 3, false), -1);
    pl_physmem_free(s.mem);
}

Test(walk_property, bit_8_is_reserved_only_in_amd_pml4e_and_pml5e)
{
    for (unsigned levels = 4; levels <= 5; levels++) {
        struct small s;
        small_setup(&s);
        if (levels == 5) {
            /* a PML5 at 0x5000 in front of the PML4 at 0x1000 */
            cr_assert_eq(pl_physmem_write64(s.mem, 0x5000, 0x1107), 0); /* PML5[0], bit 8 */
            s.mmu.cr3 = 0x5000;
            s.mmu.levels = 5;
        }
        cr_assert_eq(pl_physmem_write64(s.mem, 0x1008, 0x2107), 0); /* PML4[1], bit 8 */
        cr_assert_eq(pl_physmem_write64(s.mem, 0x2000, 0x3107), 0); /* PDPT[0], bit 8 (ignored) */
        cr_assert_eq(pl_physmem_write64(s.mem, 0x3000, 0x4107), 0); /* PD[0], bit 8 (ignored) */
        cr_assert_eq(pl_physmem_write64(s.mem, 0x4000, 0x100107), 0); /* PTE: G */
        cr_assert_eq(pl_physmem_write64(s.mem, 0x1000, 0x2007), 0);
        pl_mmu_update(&s.mmu);
        /* §10 #17, Intel: ignored at every level */
        cr_assert_eq(small_walk(&s, 0x8000000000, PL_READ, 0, false), -1, "levels %u", levels);
        cr_assert_eq(small_walk(&s, 0x0, PL_READ, 0, false), -1, "levels %u", levels);
        s.mmu.amd = true;
        pl_mmu_update(&s.mmu);
        /* AMD: reserved in the PML4E (and the PML5E), nowhere else */
        cr_assert_eq(small_walk(&s, 0x8000000000, PL_READ, 3, false), 0x0d, "levels %u", levels);
        cr_assert_eq(small_walk(&s, 0x0, PL_READ, 3, false), levels == 5 ? 0x0d : -1, "levels %u", levels);
        pl_physmem_free(s.mem);
    }
}
