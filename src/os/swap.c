/* os/swap: swap slots, the swap cache, swap-out and swap-in
 * (docs/swap.md). A slot is referenced by every swap entry holding it and
 * by the swap cache while a frame holds a valid copy of it. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "os/os.h"
#include "os/swapk.h"
#include "ptelab/block.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

#define PAGE PL_VMA_PAGE_SIZE

const char *pl_reclaim_policy_name(unsigned policy)
{
    static const char *const names[] = {"fifo", "lru", "clock", "active-inactive", "opt"};
    return policy < sizeof names / sizeof *names ? names[policy] : "?";
}

int swap_init(struct pl_kernel *k)
{
    const struct pl_swap_config *c = &k->cfg.swap;
    if (!c->slots && !c->oom_killer && !c->wmark_min && !c->wmark_low && !c->wmark_high)
        return 0;
    struct swapk *s = calloc(1, sizeof *s);
    if (!s)
        return PL_ENOMEM;
    k->swap = s;
    s->base = PL_KERNEL_RESERVED_LOW;
    s->nframes = (k->m->config.ram_size - s->base) / PAGE;
    s->fr = calloc(s->nframes, sizeof *s->fr);
    if (!s->fr)
        return PL_ENOMEM;
    if (c->slots) {
        s->nslots = c->slots;
        s->dev = pl_block_new(c->slots, &k->m->config.cost);
        s->slot_ref = calloc(c->slots, sizeof *s->slot_ref);
        s->slot_frame = calloc(c->slots, sizeof *s->slot_frame);
        if (!s->dev || !s->slot_ref || !s->slot_frame)
            return PL_ENOMEM;
    }
    return 0;
}

void swap_fini(struct pl_kernel *k)
{
    struct swapk *s = k->swap;
    if (!s)
        return;
    pl_block_free(s->dev);
    free(s->slot_ref);
    free(s->slot_frame);
    free(s->fr);
    free(s);
    k->swap = NULL;
}

struct swap_frame *swap_frame_of(struct pl_kernel *k, uint64_t pa)
{
    struct swapk *s = k->swap;
    if (!s || pa < s->base || (pa - s->base) / PAGE >= s->nframes)
        return NULL;
    return &s->fr[(pa - s->base) / PAGE];
}

void swap_slot_dup(struct pl_kernel *k, uint64_t slot)
{
    assert(k->swap && slot < k->swap->nslots && k->swap->slot_ref[slot] > 0);
    k->swap->slot_ref[slot]++;
}

void swap_slot_put(struct pl_kernel *k, uint64_t slot)
{
    struct swapk *s = k->swap;
    assert(s && slot < s->nslots && s->slot_ref[slot] > 0);
    if (--s->slot_ref[slot] == 0) {
        assert(!s->slot_frame[slot]);
        s->st.slots_used--;
    }
}

/* A free slot with one reference, or PL_ENOMEM. */
static int slot_alloc(struct swapk *s, uint64_t *slot)
{
    for (uint64_t i = 0; i < s->nslots; i++) {
        uint64_t n = (s->slot_hint + i) % s->nslots;
        if (s->slot_ref[n] == 0) {
            s->slot_ref[n] = 1;
            s->slot_hint = n + 1;
            s->st.slots_used++;
            *slot = n;
            return 0;
        }
    }
    return PL_ENOMEM;
}

/* Ends the swap-cache association of the frame, if any. */
static void cache_drop(struct pl_kernel *k, struct swap_frame *sf)
{
    if (!sf->slot1)
        return;
    uint64_t slot = sf->slot1 - 1;
    sf->slot1 = 0;
    k->swap->slot_frame[slot] = 0;
    swap_slot_put(k, slot);
}

void swap_frame_freed(struct pl_kernel *k, uint64_t pa)
{
    struct swap_frame *sf = swap_frame_of(k, pa);
    if (!sf)
        return;
    cache_drop(k, sf);
    if (sf->flags & SF_LRU)
        k->swap->nlru--;
    if (sf->flags & SF_ACTIVE)
        k->swap->nactive--;
    *sf = (struct swap_frame){0};
}

void swap_frame_put(struct pl_kernel *k, uint64_t pa)
{
    const struct pl_frame *f = pl_frame_meta(k->frames, pa);
    if (f && f->refcount == 1)
        swap_frame_freed(k, pa);
    pl_frame_put(k->frames, pa);
}

bool swap_frame_shared(struct pl_kernel *k, uint64_t pa)
{
    struct swap_frame *sf = swap_frame_of(k, pa);
    if (!sf || !sf->slot1)
        return false;
    if (k->swap->slot_ref[sf->slot1 - 1] > 1)
        return true;
    /* the only user is about to write: the copy on swap goes stale */
    cache_drop(k, sf);
    return false;
}

int swap_in(struct pl_proc *p, const struct pl_vma *v, uint64_t va, uint64_t slot)
{
    struct pl_kernel *k = p->k;
    struct swapk *s = k->swap;
    unsigned prot = v->prot, pkey = v->pkey;
    uint64_t pa = s->slot_frame[slot];
    if (pa) {
        s->st.swapcache_hits++;
        if (pl_frame_get(k->frames, pa) < 0)
            return PL_ENOMEM;
    } else {
        /* the slot stays ours while we sleep on the allocation and the disk */
        swap_slot_dup(k, slot);
        int rc = reclaim_alloc_user(k, p, &pa);
        if (rc == 0 && p->state != PL_PROC_RUNNING) {
            pl_frame_put(k->frames, pa);
            rc = PL_ENOMEM;
        }
        uint8_t *dst = rc == 0 ? pl_physmem_frame_touch(k->mem, pa >> PL_FRAME_SHIFT) : NULL;
        if (rc == 0 && (!dst || pl_block_read(s->dev, slot, dst) < 0)) {
            pl_frame_put(k->frames, pa);
            rc = dst ? PL_EIO : PL_ENOMEM;
        }
        if (rc < 0) {
            swap_slot_put(k, slot);
            return rc;
        }
        s->st.swap_ins++;
        kernel_charge(k, k->m->config.cost.disk_read);
        /* the temporary reference becomes the swap cache's */
        struct swap_frame *sf = swap_frame_of(k, pa);
        sf->slot1 = slot + 1;
        s->slot_frame[slot] = pa;
        reclaim_note_new(k, pa, va);
    }
    /* Read-only: a write then faults and copies or reuses the frame
     * (fault.c), which decides whether the copy on swap stays valid. */
    int rc = pmap_enter_key(&p->pmap, va, pa, prot == PL_PROT_NONE ? prot : (prot & ~PL_PROT_WRITE) | PL_PROT_READ,
                            pkey, PL_WHY_SWAP_IN);
    swap_frame_put(k, pa);
    return rc;
}

struct victim_maps {
    struct pl_proc **p;
    uint64_t n, cap;
    bool bad;
    bool dirty;
};

static void collect(void *ctx, struct pl_proc *p, uint64_t va)
{
    struct victim_maps *vm = ctx;
    const struct pl_vma *v = pl_vma_find(p->vmas, va);
    struct pmap_page pg;
    pmap_lookup(&p->pmap, va, &pg);
    if (!v || v->object || !pg.present)
        vm->bad = true;
    if (pmap_test_young(&p->pmap, va, false, false) & PMAP_DIRTY)
        vm->dirty = true;
    if (vm->n == vm->cap) {
        uint64_t cap = vm->cap ? 2 * vm->cap : 8;
        struct pl_proc **np = realloc(vm->p, cap * sizeof *np);
        if (!np) {
            vm->bad = true;
            return;
        }
        vm->p = np;
        vm->cap = cap;
    }
    vm->p[vm->n++] = p;
}

int swap_out_frame(struct pl_kernel *k, uint64_t pa)
{
    struct swapk *s = k->swap;
    struct swap_frame *sf = swap_frame_of(k, pa);
    if (!s || !s->dev || !sf || !(sf->flags & SF_LRU))
        return PL_EINVAL;
    const struct pl_frame *meta = pl_frame_meta(k->frames, pa);
    if (!meta || (meta->flags & PL_FRAME_PINNED))
        return PL_EINVAL;
    struct victim_maps vm = {0};
    unsigned n = rmap_walk(k, pa, collect, &vm);
    int rc = 0;
    if (vm.bad || n == 0 || n != meta->mapcount || meta->refcount != meta->mapcount) {
        rc = PL_EINVAL;
        goto out;
    }
    uint64_t va = sf->va, slot;
    /* A frame of a 2M leaf leaves alone: every mapping is split first (the
     * splits change nothing a process sees should a later one fail). */
    for (uint64_t i = 0; i < vm.n; i++) {
        if ((rc = pmap_split(&vm.p[i]->pmap, va)) < 0)
            goto out;
        vm.p[i]->stats.pt_pages = vm.p[i]->pmap.pt_pages;
    }
    if (sf->slot1 && !vm.dirty) {
        /* the copy on swap is still the page: no write */
        slot = sf->slot1 - 1;
        swap_slot_dup(k, slot);
        s->st.clean_drops++;
    } else {
        cache_drop(k, sf);
        if ((rc = slot_alloc(s, &slot)) < 0)
            goto out;
        const void *src = pl_physmem_frame_lookup(k->mem, pa >> PL_FRAME_SHIFT);
        static const uint8_t zero[PAGE];
        if ((rc = pl_block_write(s->dev, slot, src ? src : zero)) < 0) {
            swap_slot_put(k, slot);
            rc = PL_ENOMEM;
            goto out;
        }
        s->st.swap_writes++;
        kernel_charge(k, k->m->config.cost.disk_write);
    }
    for (uint64_t i = 0; i < vm.n; i++) {
        struct pl_proc *p = vm.p[i];
        swap_slot_dup(k, slot);
        pmap_swap_out(&p->pmap, va, slot);
        p->stats.resident = p->pmap.resident;
        s->st.unmaps++;
    }
    /* the last unmap freed the frame (swap_frame_freed) */
    swap_slot_put(k, slot);
    s->st.swap_outs++;
out:
    free(vm.p);
    return rc;
}

void pl_kernel_swap_stats(const struct pl_kernel *k, struct pl_swap_stats *out)
{
    *out = k->swap ? k->swap->st : (struct pl_swap_stats){0};
    if (k->swap && k->swap->dev)
        out->disk_cycles = pl_block_stats(k->swap->dev)->cycles;
}

uint64_t pl_proc_swap_entries(const struct pl_proc *p) { return p->pmap.swapped; }

int pl_proc_swap_out(struct pl_proc *p, uint64_t va)
{
    struct pl_kernel *k = p->k;
    if (p->state != PL_PROC_RUNNING || !k->swap || va >= k->user_top)
        return PL_EINVAL;
    struct pmap_page pg;
    pmap_lookup(&p->pmap, va & ~(PAGE - 1), &pg);
    if (!pg.present)
        return PL_EINVAL;
    struct swap_frame *sf = swap_frame_of(k, pg.pa);
    if (!sf || sf->va != (va & ~(PAGE - 1)))
        return PL_EINVAL;
    kernel_enter(k);
    return swap_out_frame(k, pg.pa);
}
