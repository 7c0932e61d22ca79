/* Explanations of walks (see explain.h). The rules restated here are the
 * spec's (../shared/spec/x86-paging.md §2-§4); they only name which rule the
 * walker applied, the walker alone decides. */
#include "cases/explain.h"

#include <inttypes.h>

#include "hw/pte.h"

static const char *entry_name(int level)
{
    static const char *const names[] = {"?", "PTE", "PDE", "PDPTE", "PML4E", "PML5E"};
    return level >= 1 && level <= 5 ? names[level] : "?";
}

/* The reserved-bit mask the walker applies to a present entry. */
static uint64_t reserved_mask(const struct pl_mmu *mmu, uint64_t e, int level)
{
    return mmu->rsvd[level][(e & PTE_PS) != 0];
}

/* Prints mask as bit numbers, high to low, runs as ranges: "bit 40",
 * "bits 45:40, 38". */
static void print_bits(FILE *f, uint64_t mask)
{
    bool first = true;
    fputs(mask & (mask - 1) ? "bits " : "bit ", f);
    for (int hi = 63; hi >= 0;) {
        if (!((mask >> hi) & 1)) {
            hi--;
            continue;
        }
        int lo = hi;
        while (lo > 0 && ((mask >> (lo - 1)) & 1))
            lo--;
        fprintf(f, first ? "%d" : ", %d", hi);
        if (lo != hi)
            fprintf(f, ":%d", lo);
        first = false;
        hi = lo - 1;
    }
}

/* Prints the bits of *left within mask with why, and takes them out of *left. */
static void reserved_reason(FILE *f, uint64_t *left, uint64_t mask, const char *why)
{
    uint64_t bits = *left & mask;
    if (!bits)
        return;
    fputs("\n          ", f);
    print_bits(f, bits);
    fprintf(f, ": %s", why);
    *left &= ~bits;
}

static void explain_reserved(FILE *f, const struct pl_mmu *mmu, uint64_t bad, int level)
{
    char why[64];
    fputs("        reserved bits set: #PF with RSVD", f);
    if (mmu->maxphyaddr < 52) {
        snprintf(why, sizeof why, "at or above MAXPHYADDR (%u)", mmu->maxphyaddr);
        reserved_reason(f, &bad, PTE_BITS(51, mmu->maxphyaddr), why);
    }
    if (!mmu->nxe)
        reserved_reason(f, &bad, PTE_XD, "XD while EFER.NXE=0");
    if (level >= PTE_LEVEL_PML4) {
        snprintf(why, sizeof why, "PS must be 0 in a %s", entry_name(level));
        reserved_reason(f, &bad, PTE_PS, why);
        snprintf(why, sizeof why, "bit 8 of a %s is reserved on AMD", entry_name(level));
        reserved_reason(f, &bad, PTE_G, why);
    }
    if (level == PTE_LEVEL_PDPT) {
        reserved_reason(f, &bad, PTE_PS, "PS=1 in a PDPTE, but this CPU has no 1G pages");
        reserved_reason(f, &bad, PTE_BITS(29, 13), "must be 0 in a 1G page's address");
    }
    if (level == PTE_LEVEL_PD)
        reserved_reason(f, &bad, PTE_BITS(20, 13), "must be 0 in a 2M page's address");
    reserved_reason(f, &bad, ~UINT64_C(0), "reserved");
    fputc('\n', f);
}

static unsigned bit(uint64_t e, uint64_t mask) { return (e & mask) ? 1 : 0; }

/* The decoded line and the decision for one entry. */
static void explain_step(FILE *f, const struct pl_mmu *mmu, const struct pl_walk_step *s)
{
    uint64_t e = s->entry;
    int level = s->level;
    fprintf(f, "    %s[%u] at 0x%016" PRIx64 " = 0x%016" PRIx64 "\n", pte_level_name(level), s->index,
            s->entry_pa, e);
    if (!(e & PTE_P)) {
        fputs("        P=0: not present (bits 63:1 are ignored): #PF\n", f);
        return;
    }
    bool leaf = pte_is_leaf(e, level);
    fprintf(f, "        P=1 RW=%u US=%u PWT=%u PCD=%u A=%u", bit(e, PTE_RW), bit(e, PTE_US), bit(e, PTE_PWT),
            bit(e, PTE_PCD), bit(e, PTE_A));
    if (!leaf)
        fprintf(f, " PS=%u", bit(e, PTE_PS));
    else if (level == PTE_LEVEL_PT)
        fprintf(f, " D=%u PAT=%u G=%u", bit(e, PTE_D), bit(e, PTE_PAT4K), bit(e, PTE_G));
    else
        fprintf(f, " D=%u PS=1 G=%u PAT=%u", bit(e, PTE_D), bit(e, PTE_G), bit(e, PTE_PATLG));
    fprintf(f, " XD=%u addr=0x%016" PRIx64, bit(e, PTE_XD), pte_addr(e, level));
    if (leaf)
        fprintf(f, " pkey=%u", pte_pkey(e));
    fputc('\n', f);

    uint64_t bad = e & reserved_mask(mmu, e, level);
    if (bad) {
        explain_reserved(f, mmu, bad, level);
        return;
    }
    if (leaf) {
        const char *size = level == PTE_LEVEL_PT ? "4K" : level == PTE_LEVEL_PD ? "2M" : "1G";
        fprintf(f, "        leaf: %s page at 0x%016" PRIx64 "\n", size, pte_addr(e, level));
        return;
    }
    fprintf(f, "        next table: %s at 0x%016" PRIx64 "\n", pte_level_name(level - 1), pte_addr(e, level));
}

/* Rights combined over the levels of a complete walk, and where each was
 * lost (a mask of 1 << level). */
struct rights {
    bool w, u, x;
    unsigned ro_at, sup_at, xd_at;
    unsigned pkey;
};

static struct rights combine(const struct pl_mmu *mmu, const struct pl_walk_out *out)
{
    struct rights r = {.w = true, .u = true, .x = true};
    for (unsigned i = 0; i < out->nsteps; i++) {
        uint64_t e = out->step[i].entry;
        unsigned lv = 1u << out->step[i].level;
        if (!(e & PTE_RW))
            r.ro_at |= lv;
        if (!(e & PTE_US))
            r.sup_at |= lv;
        if (mmu->nxe && (e & PTE_XD))
            r.xd_at |= lv;
    }
    r.w = !r.ro_at;
    r.u = !r.sup_at;
    r.x = !r.xd_at;
    if (out->nsteps)
        r.pkey = pte_pkey(out->step[out->nsteps - 1].entry);
    return r;
}

/* Prints " (R/W=0 in the PDE and PTE)" for the levels in mask. */
static void print_where(FILE *f, const char *what, unsigned mask)
{
    fprintf(f, " (%s in the", what);
    bool first = true;
    for (int level = 5; level >= 1; level--) {
        if (!(mask & (1u << level)))
            continue;
        unsigned rest = mask & ((1u << level) - 1);
        fprintf(f, "%s %s", first ? "" : rest ? "," : " and", entry_name(level));
        first = false;
    }
    fputc(')', f);
}

static void explain_rights(FILE *f, const struct pl_mmu *mmu, const struct pl_walk_in *in, const struct rights *r)
{
    fputs("    rights over all levels: ", f);
    fputs(r->w ? "writable" : "read-only", f);
    if (!r->w)
        print_where(f, "R/W=0", r->ro_at);
    fputs(r->u ? ", user-mode address" : ", supervisor-mode address", f);
    if (!r->u)
        print_where(f, "U/S=0", r->sup_at);
    fputs(!mmu->nxe ? ", executable (EFER.NXE=0)" : r->x ? ", executable" : ", no-execute", f);
    if (!r->x)
        print_where(f, "XD=1", r->xd_at);
    fputc('\n', f);
    unsigned kind = in->kind & PL_KIND_MASK;
    if (mmu->pke && kind != PL_FETCH && r->u)
        fprintf(f, "    protection key %u: PKRU AD=%u WD=%u\n", r->pkey, (unsigned)(mmu->pkru >> (2 * r->pkey)) & 1,
                (unsigned)(mmu->pkru >> (2 * r->pkey + 1)) & 1);
}

/* Prints "    denied by RULE", then where the right was lost when what is
 * not NULL. */
static void deny(FILE *f, const char *rule, const char *what, unsigned where)
{
    fprintf(f, "    denied by %s", rule);
    if (what)
        print_where(f, what, where);
    fputc('\n', f);
}

/* Prints one "denied by" line per rule the walker named in denied. */
static void explain_denials(FILE *f, const struct pl_walk_in *in, unsigned denied, const struct rights *r)
{
    unsigned k = r->pkey;
    bool implicit = in->kind & PL_IMPLICIT;
    bool user = in->cpl == 3 && !implicit;
    if (denied & PL_DENY_US)
        deny(f, "U/S: user-mode access to a supervisor-mode page", "U/S=0", r->sup_at);
    if (denied & PL_DENY_RW)
        deny(f, "R/W: user write to a read-only page", "R/W=0", r->ro_at);
    if (denied & PL_DENY_SMEP)
        deny(f, "SMEP: supervisor instruction fetch from a user-mode page (CR4.SMEP=1)", NULL, 0);
    if (denied & PL_DENY_XD)
        deny(f, "XD: instruction fetch from a no-execute page", "XD=1", r->xd_at);
    if (denied & PL_DENY_SMAP)
        deny(f, implicit ? "SMAP: implicit supervisor access to a user-mode page (AC does not excuse it)"
                         : "SMAP: supervisor data access to a user page with AC=0",
             NULL, 0);
    if (denied & PL_DENY_WP)
        deny(f, "CR0.WP=1: supervisor write to a read-only page", "R/W=0", r->ro_at);
    if (denied & PL_DENY_PKEY_AD)
        fprintf(f, "    denied by PKRU: key %u AD=1 denies every data access\n", k);
    if (denied & PL_DENY_PKEY_WD)
        fprintf(f, "    denied by PKRU: key %u WD=1 denies the %s\n", k,
                user ? "user write" : "supervisor write (CR0.WP=1)");
}

static void explain_error_code(FILE *f, uint16_t ec)
{
    fprintf(f, "error code 0x%04x: P=%u (%s)", ec, ec & PL_PF_P ? 1 : 0,
            ec & PL_PF_P ? "protection or reserved bit" : "not present");
    fputs(ec & PL_PF_W ? ", W/R=1 (write)" : ", W/R=0 (read or fetch)", f);
    fputs(ec & PL_PF_U ? ", U/S=1 (user access)" : ", U/S=0 (supervisor access)", f);
    if (ec & PL_PF_RSVD)
        fputs(", RSVD=1", f);
    if (ec & PL_PF_ID)
        fputs(", I/D=1 (instruction fetch)", f);
    if (ec & PL_PF_PK)
        fputs(", PK=1 (protection key)", f);
}

static const char *const kind_names[] = {[PL_READ] = "read", [PL_WRITE] = "write", [PL_FETCH] = "instruction fetch"};

void explain_walk(FILE *f, const struct pl_mmu *mmu, const struct pl_walk_in *in, bool ok,
                  const struct pl_walk_out *out, const struct pl_fault *fault)
{
    unsigned kind = in->kind & PL_KIND_MASK;
    bool implicit = in->kind & PL_IMPLICIT;
    fprintf(f, "    %s %s%s at CPL %u%s; %u-level paging, CR3 0x%016" PRIx64 "\n",
            implicit ? "implicit supervisor" : in->cpl == 3 ? "user" : "supervisor",
            kind == PL_FETCH ? "" : "data ", kind_names[kind], in->cpl, in->ac ? ", RFLAGS.AC=1" : "",
            mmu->levels, mmu->cr3);
    if (!ok && fault->vector != PL_VEC_PF) {
        unsigned top = mmu->levels == 5 ? 56 : 47;
        fprintf(f, "    LA 0x%016" PRIx64 " is not canonical: bits 63:%u must all equal bit %u\n", in->la, top, top);
        fputs("    result: #GP(0); no walk, no accessed or dirty bit changes\n", f);
        return;
    }
    fprintf(f, "    LA 0x%016" PRIx64 ":", in->la);
    for (int level = mmu->levels; level >= 1; level--)
        fprintf(f, " %s %u,", pte_level_name(level), pte_index(in->la, level));
    fprintf(f, " offset 0x%03" PRIx64 " (entries as read, before A/D updates)\n", in->la & 0xfff);

    for (unsigned i = 0; i < out->nsteps; i++)
        explain_step(f, mmu, &out->step[i]);
    const struct pl_walk_step *last = out->nsteps ? &out->step[out->nsteps - 1] : NULL;
    bool complete = last && (last->entry & PTE_P) && pte_is_leaf(last->entry, last->level) &&
                    !(last->entry & reserved_mask(mmu, last->entry, last->level));

    if (complete) {
        struct rights r = combine(mmu, out);
        explain_rights(f, mmu, in, &r);
        if (!ok)
            explain_denials(f, in, fault->denied, &r);
    }
    if (ok) {
        fprintf(f, "    result: ok, PA 0x%016" PRIx64 " in a %s page, memory type %s (PAT entry %u)%s\n", out->pa,
                out->page_shift == 30 ? "1G" : out->page_shift == 21 ? "2M" : "4K", pl_memtype_name(out->memtype),
                last ? pte_pat_index(last->entry, last->level) : 0, out->global ? ", global" : "");
        return;
    }
    fputs("    result: #PF, ", f);
    explain_error_code(f, fault->error_code);
    fprintf(f, "; CR2 = 0x%016" PRIx64 "\n", fault->addr);
}
