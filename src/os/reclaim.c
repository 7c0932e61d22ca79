/* os/reclaim: free-memory watermarks and the replacement policies, step by
 * step as the kernel runs (policy.h states the same rules on reference
 * strings). Candidates are the anonymous frames reclaim_note_new saw;
 * docs/swap.md explains each policy's inputs. */
#include <stdlib.h>

#include "os/os.h"
#include "os/swapk.h"
#include "ptelab/error.h"

void reclaim_note_new(struct pl_kernel *k, uint64_t pa, uint64_t va)
{
    struct swap_frame *sf = swap_frame_of(k, pa);
    if (!sf)
        return;
    if (!(sf->flags & SF_LRU))
        k->swap->nlru++;
    sf->flags |= SF_LRU;
    sf->va = va;
    sf->loaded = sf->used = ++k->swap->clock;
}

void reclaim_note_access(struct pl_kernel *k, uint64_t pa)
{
    struct swap_frame *sf = swap_frame_of(k, pa & ~(uint64_t)(PL_VMA_PAGE_SIZE - 1));
    if (sf && (sf->flags & SF_LRU))
        sf->used = ++k->swap->clock;
}

struct young_ctx {
    bool clear, skip;
    unsigned bits;
};

static void young_one(void *ctx, struct pl_proc *p, uint64_t va)
{
    struct young_ctx *y = ctx;
    y->bits |= pmap_test_young(&p->pmap, va, y->clear, y->skip);
}

/* The A bits of every mapping of the frame, OR-ed, cleared on the way. */
static bool harvest_young(struct pl_kernel *k, uint64_t pa)
{
    struct young_ctx y = {.clear = true, .skip = k->cfg.swap.clock_skip_invalidate};
    rmap_walk(k, pa, young_one, &y);
    return y.bits & PMAP_YOUNG;
}

static uint64_t pa_of(const struct swapk *s, uint64_t i) { return s->base + i * PL_VMA_PAGE_SIZE; }

struct cand {
    uint64_t stamp, i;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->stamp != y->stamp)
        return x->stamp < y->stamp ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* ties by frame: no dependence on qsort's order */
}

/* FIFO and LRU: the smallest stamp that can be evicted. */
static bool evict_oldest(struct pl_kernel *k, bool by_use)
{
    struct swapk *s = k->swap;
    struct cand *c = malloc((s->nlru + 1) * sizeof *c);
    if (!c)
        return false;
    uint64_t n = 0;
    for (uint64_t i = 0; i < s->nframes && n < s->nlru; i++)
        if (s->fr[i].flags & SF_LRU)
            c[n++] = (struct cand){by_use ? s->fr[i].used : s->fr[i].loaded, i};
    qsort(c, n, sizeof *c, cand_cmp);
    bool ok = false;
    for (uint64_t j = 0; j < n && !ok; j++)
        ok = swap_out_frame(k, pa_of(s, c[j].i)) == 0;
    free(c);
    return ok;
}

static void first_pid(void *ctx, struct pl_proc *p, uint64_t va)
{
    (void)va;
    int *pid = ctx;
    if (!*pid)
        *pid = p->pid;
}

/* OPT: the frame whose next use, by the oracle, is farthest; frames that
 * cannot be evicted are passed for the next farthest. */
static bool evict_farthest(struct pl_kernel *k)
{
    struct swapk *s = k->swap;
    const struct pl_swap_config *c = &k->cfg.swap;
    struct cand *cd = malloc((s->nlru + 1) * sizeof *cd);
    if (!cd)
        return false;
    uint64_t n = 0;
    for (uint64_t i = 0; i < s->nframes && n < s->nlru; i++) {
        if (!(s->fr[i].flags & SF_LRU))
            continue;
        int pid = 0;
        rmap_walk(k, pa_of(s, i), first_pid, &pid);
        /* farthest first: the complement sorts ascending */
        cd[n++] = (struct cand){~c->next_use(c->next_use_ctx, pid, s->fr[i].va), i};
    }
    qsort(cd, n, sizeof *cd, cand_cmp);
    bool ok = false;
    for (uint64_t j = 0; j < n && !ok; j++)
        ok = swap_out_frame(k, pa_of(s, cd[j].i)) == 0;
    free(cd);
    return ok;
}

/* CLOCK: the hand passes pages whose A bit was set, clearing it. */
static bool evict_clock(struct pl_kernel *k)
{
    struct swapk *s = k->swap;
    for (uint64_t step = 0; step < 2 * s->nframes + 1; step++) {
        uint64_t i = s->hand++ % s->nframes;
        if (!(s->fr[i].flags & SF_LRU))
            continue;
        if (harvest_young(k, pa_of(s, i))) {
            s->st.second_chances++;
            continue;
        }
        if (swap_out_frame(k, pa_of(s, i)) == 0)
            return true;
    }
    return false;
}

/* Active/inactive (policy.h's ACTIVE rule 4 with A bits for referenced
 * bits): while the active list is the longer, its hand clears the A bit of
 * a referenced active page (which stays) or moves an unreferenced one to
 * the inactive list; the inactive hand promotes a referenced page and
 * evicts an unreferenced one. The hands stand for the lists' tails. */
static void balance_lists(struct pl_kernel *k)
{
    struct swapk *s = k->swap;
    for (uint64_t step = 0; step < 2 * s->nframes + 1 && 2 * s->nactive > s->nlru; step++) {
        uint64_t i = s->hand2++ % s->nframes;
        if (!(s->fr[i].flags & SF_ACTIVE) || harvest_young(k, pa_of(s, i)))
            continue;
        s->fr[i].flags &= (uint8_t)~SF_ACTIVE;
        s->nactive--;
    }
}

static bool evict_two_lists(struct pl_kernel *k)
{
    struct swapk *s = k->swap;
    for (uint64_t step = 0; step < 3 * s->nframes + 1; step++) {
        balance_lists(k);
        uint64_t i = s->hand++ % s->nframes;
        if (!(s->fr[i].flags & SF_LRU) || (s->fr[i].flags & SF_ACTIVE))
            continue;
        if (harvest_young(k, pa_of(s, i))) {
            s->fr[i].flags |= SF_ACTIVE;
            s->nactive++;
            s->st.second_chances++;
            continue;
        }
        if (swap_out_frame(k, pa_of(s, i)) == 0)
            return true;
    }
    return false;
}

static bool evict_one(struct pl_kernel *k)
{
    switch (k->cfg.swap.policy) {
    case PL_POLICY_FIFO:
        return evict_oldest(k, false);
    case PL_POLICY_LRU:
        return evict_oldest(k, true);
    case PL_POLICY_CLOCK:
        return evict_clock(k);
    case PL_POLICY_OPT:
        return evict_farthest(k);
    default:
        return evict_two_lists(k);
    }
}

uint64_t pl_kernel_reclaim(struct pl_kernel *k, uint64_t n)
{
    struct swapk *s = k->swap;
    if (!s || !s->dev || s->reclaiming)
        return 0;
    s->reclaiming = true;
    unsigned cpl = pl_cpu_regs(kcpu(k))->cpl;
    kernel_enter(k);
    uint64_t done = 0;
    while (done < n && evict_one(k))
        done++;
    if (done < n)
        s->st.reclaim_failures++;
    pl_cpu_set_cpl(kcpu(k), cpl);
    s->reclaiming = false;
    return done;
}

static uint64_t free_now(const struct pl_kernel *k)
{
    struct pl_frame_stats st;
    pl_frame_stats_read(k->frames, &st);
    return st.free_frames;
}

int reclaim_reserve(struct pl_kernel *k, struct pl_proc *p, uint64_t n)
{
    struct swapk *s = k->swap;
    if (!s || s->reclaiming)
        return 0;
    while (free_now(k) < n) {
        if (pl_kernel_reclaim(k, n - free_now(k)))
            continue;
        if (!k->cfg.swap.oom_killer || !oom_kill_one(k))
            return PL_ENOMEM;
        if (p && p->state != PL_PROC_RUNNING)
            return PL_ENOMEM;
    }
    return 0;
}

int reclaim_alloc_huge(struct pl_kernel *k, uint64_t *pa)
{
    /* The page tables of the fault, and the low watermark, stay free. */
    uint64_t keep = PMAP_HUGE_FRAMES + (uint64_t)k->levels + 1 + k->cfg.swap.wmark_low;
    if (free_now(k) < keep)
        return PL_ENOMEM;
    int rc = pl_frame_alloc(k->frames, PMAP_HUGE_ORDER, PL_FRAME_USER, pa);
    if (rc == 0)
        rc = pl_frame_split(k->frames, *pa);
    return rc;
}

int reclaim_alloc_user(struct pl_kernel *k, struct pl_proc *p, uint64_t *pa)
{
    struct swapk *s = k->swap;
    if (!s || s->reclaiming)
        return pl_frame_alloc(k->frames, 0, PL_FRAME_USER, pa);
    const struct pl_swap_config *c = &k->cfg.swap;
    uint64_t free = free_now(k);
    if (free <= c->wmark_min && c->wmark_min) {
        s->st.direct_reclaims++;
        pl_kernel_reclaim(k, c->wmark_high > free ? c->wmark_high - free : 1);
    }
    int rc;
    while ((rc = pl_frame_alloc(k->frames, 0, PL_FRAME_USER, pa)) == PL_ENOMEM) {
        if (pl_kernel_reclaim(k, 1))
            continue;
        if (!c->oom_killer || !oom_kill_one(k))
            return PL_ENOMEM;
        if (p && p->state != PL_PROC_RUNNING)
            return PL_ENOMEM;
    }
    if (rc < 0)
        return rc;
    free = free_now(k);
    if (free < c->wmark_low) {
        s->st.background_reclaims++;
        pl_kernel_reclaim(k, c->wmark_high - free);
    }
    return 0;
}
