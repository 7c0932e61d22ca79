/* os/fault: the page-fault handler. Given the hardware's error code and
 * CR2, it either fixes the mapping so the access can be retried (zero-fill,
 * an object's page, copy on write, reuse by the last user) or says which
 * signal the process gets. */
#include <assert.h>
#include <string.h>

#include "os/os.h"
#include "os/swapk.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

#define PAGE PL_VMA_PAGE_SIZE

/* The right a region must grant for an access of this kind. x86 cannot
 * express write-only or execute-only pages, so any right lets a page be
 * read (as on Linux). */
static bool region_allows(const struct pl_vma *v, unsigned kind)
{
    switch (kind) {
    case PL_WRITE:
        return v->prot & PL_PROT_WRITE;
    case PL_FETCH:
        return v->prot & PL_PROT_EXEC;
    default:
        return v->prot != PL_PROT_NONE;
    }
}

static void count(uint64_t *kstat, uint64_t *pstat)
{
    ++*kstat;
    ++*pstat;
}

/* A private page of its own: zeroed, or a copy of the frame at from. */
static int new_private_page(struct pl_proc *p, uint64_t from, uint64_t *pa)
{
    struct pl_kernel *k = p->k;
    /* Our reference keeps the source from reclaim while we allocate. */
    if (from && k->swap && pl_frame_get(k->frames, from) < 0)
        return PL_ENOMEM;
    int rc = reclaim_alloc_user(k, p, pa);
    if (rc == 0 && p->state != PL_PROC_RUNNING) {
        pl_frame_put(k->frames, *pa); /* the OOM killer chose us */
        rc = PL_ENOMEM;
    }
    if (rc == 0 && from) {
        const uint8_t *src = pl_physmem_frame_lookup(k->mem, from >> PL_FRAME_SHIFT);
        uint8_t *dst = src ? pl_physmem_frame_touch(k->mem, *pa >> PL_FRAME_SHIFT) : NULL;
        if (src && !dst) {
            pl_frame_put(k->frames, *pa);
            rc = PL_ENOMEM;
        } else {
            if (src) /* a source never written is zero, like the new frame */
                memcpy(dst, src, PAGE);
            kernel_charge(k, k->m->config.cost.page_copy);
        }
    } else if (rc == 0) {
        kernel_charge(k, k->m->config.cost.page_zero);
    }
    if (from && k->swap)
        swap_frame_put(k, from);
    return rc;
}

/* Maps a frame we hold a reference to, then drops that reference: the
 * mapping keeps its own. */
static int map_and_release(struct pl_proc *p, uint64_t va, uint64_t pa, unsigned prot, unsigned pkey, unsigned why)
{
    int rc = pmap_enter_key(&p->pmap, va, pa, prot, pkey, why);
    if (rc == 0)
        reclaim_note_new(p->k, pa, va);
    pl_frame_put(p->k->frames, pa);
    return rc;
}

/* True when the 2 MiB-aligned range around va may get a 2M leaf: huge
 * pages are on, the region is private anonymous (it has no object) and
 * covers the whole range, and nothing maps any of it yet. */
static bool huge_fits(const struct pl_proc *p, const struct pl_vma *v, uint64_t va)
{
    uint64_t base = va & ~(PMAP_HUGE_SIZE - 1);
    return p->k->cfg.huge_anon && !v->object && base >= v->start && v->end - base >= PMAP_HUGE_SIZE &&
           pmap_huge_room(&p->pmap, base);
}

/* A zeroed 2 MiB page for the range around va, mapped by one 2M leaf with
 * the region's rights and key. PL_ENOMEM when no order-9 block or no table
 * can be had: the caller falls back to a 4 KiB page. */
static int populate_huge(struct pl_proc *p, const struct pl_vma *v, uint64_t va)
{
    struct pl_kernel *k = p->k;
    uint64_t base = va & ~(PMAP_HUGE_SIZE - 1), pa;
    int rc = reclaim_alloc_huge(k, &pa);
    if (rc < 0)
        return rc;
    kernel_charge(k, PMAP_HUGE_FRAMES * (uint64_t)k->m->config.cost.page_zero);
    rc = pmap_enter_huge(&p->pmap, base, pa, v->prot, v->pkey, PL_WHY_ZERO_FILL);
    /* the leaf holds every frame now; reclaim considers each on its own */
    for (uint64_t off = 0; off < PMAP_HUGE_SIZE; off += PAGE) {
        if (rc == 0)
            reclaim_note_new(k, pa + off, base + off);
        pl_frame_put(k->frames, pa + off);
    }
    return rc;
}

/* Not present: the region's first touch of this page. */
static int populate(struct pl_proc *p, const struct pl_vma *v, uint64_t va, unsigned kind)
{
    struct pl_kernel *k = p->k;
    uint64_t pa;
    int rc;
    if (!v->object) {
        if (huge_fits(p, v, va)) {
            if (populate_huge(p, v, va) == 0) {
                count(&k->stats.thp_fault, &p->stats.thp_fault);
                return 0;
            }
            k->stats.thp_fallback++;
        }
        if ((rc = new_private_page(p, 0, &pa)) < 0)
            return rc;
        count(&k->stats.zero_fill, &p->stats.zero_fill);
        return map_and_release(p, va, pa, v->prot, v->pkey, PL_WHY_ZERO_FILL);
    }
    uint64_t obj_pa;
    if ((rc = shm_page(v->object, v->offset + (va - v->start) / PAGE, &obj_pa)) < 0)
        return rc;
    if (v->flags & PL_MAP_SHARED) {
        count(&k->stats.shared_page, &p->stats.shared_page);
        return pmap_enter_memtype(&p->pmap, va, obj_pa, v->prot, v->pkey, ((struct pl_shm *)v->object)->memtype,
                                  PL_WHY_SHARED_PAGE);
    }
    /* A private view of an object: read the object's page until the first
     * write, which takes a copy. */
    if (kind == PL_WRITE) {
        if ((rc = new_private_page(p, obj_pa, &pa)) < 0)
            return rc;
        count(&k->stats.cow_copy, &p->stats.cow_copy);
        return map_and_release(p, va, pa, v->prot, v->pkey, PL_WHY_COW_COPY);
    }
    count(&k->stats.shared_page, &p->stats.shared_page);
    return pmap_enter_key(&p->pmap, va, obj_pa, (v->prot & ~PL_PROT_WRITE) | PL_PROT_READ, v->pkey,
                          PL_WHY_SHARED_PAGE);
}

/* A write to a present, read-only page of a writable private region: copy
 * on write, or make it writable when this mapping is the frame's only
 * holder. */
static int break_cow(struct pl_proc *p, const struct pl_vma *v, uint64_t va, uint64_t old)
{
    struct pl_kernel *k = p->k;
    if (pl_frame_meta(k->frames, old)->refcount == 1 && !swap_frame_shared(k, old)) {
        count(&k->stats.cow_reuse, &p->stats.cow_reuse);
        return pmap_enter_key(&p->pmap, va, old, v->prot, v->pkey, PL_WHY_COW_REUSE);
    }
    uint64_t pa;
    int rc = new_private_page(p, old, &pa);
    if (rc < 0)
        return rc;
    count(&k->stats.cow_copy, &p->stats.cow_copy);
    return map_and_release(p, va, pa, v->prot, v->pkey, PL_WHY_COW_COPY);
}

/* A write to a read-only 2M leaf of a writable private region: the leaf
 * is made writable when this mapping holds each of its frames alone
 * (none can be in the swap cache: swap-in maps 4 KiB pages); otherwise it
 * is split, and copy on write goes on for the 4 KiB written. */
static int break_cow_huge(struct pl_proc *p, const struct pl_vma *v, uint64_t va, uint64_t pa)
{
    struct pl_kernel *k = p->k;
    uint64_t base = va & ~(PMAP_HUGE_SIZE - 1), head = pa & ~(PMAP_HUGE_SIZE - 1);
    bool alone = true;
    for (uint64_t off = 0; off < PMAP_HUGE_SIZE && alone; off += PAGE)
        alone = pl_frame_meta(k->frames, head + off)->refcount == 1;
    if (alone) {
        count(&k->stats.cow_reuse, &p->stats.cow_reuse);
        return pmap_enter_huge(&p->pmap, base, head, v->prot, v->pkey, PL_WHY_COW_REUSE);
    }
    int rc = pmap_split(&p->pmap, va);
    return rc < 0 ? rc : break_cow(p, v, va, pa);
}

static int deny(struct pl_siginfo *si, const struct pl_fault *f, unsigned kind, unsigned code)
{
    *si = (struct pl_siginfo){.addr = f->addr, .error_code = f->error_code, .code = (uint8_t)code,
                              .kind = (uint8_t)kind};
    return (int)code;
}

int fault_handle(struct pl_proc *p, const struct pl_fault *f, unsigned kind, struct pl_siginfo *si)
{
    struct pl_kernel *k = p->k;
    kernel_enter(k);
    kernel_charge(k, k->m->config.cost.fault_handler);
    if (f->vector != PL_VEC_PF)
        return deny(si, f, kind, PL_SEGV_GP);
    count(&k->stats.faults, &p->stats.faults);
    assert(!(f->error_code & PL_PF_RSVD) && "the kernel never writes reserved bits");

    uint64_t va = f->addr & ~(PAGE - 1);
    const struct pl_vma *v = f->addr < k->user_top ? pl_vma_find(p->vmas, f->addr) : NULL;
    if (!v)
        return deny(si, f, kind, PL_SEGV_MAPERR);
    if (!region_allows(v, kind))
        return deny(si, f, kind, PL_SEGV_ACCERR);
    struct pmap_page pg;
    pmap_lookup(&p->pmap, va, &pg);
    if (f->error_code & PL_PF_PK) {
        /* The key of the entry that denied the access; it equals the
         * region's (pl_kernel_check), as Linux's vma_pkey() would give. */
        int code = deny(si, f, kind, PL_SEGV_PKUERR);
        si->pkey = (uint8_t)pg.pkey;
        return code;
    }

    /* Room for the page and the tables that may map it, taken from reclaim
     * or the OOM killer now: pmap cannot reclaim halfway through. */
    int rc = pg.mapped && !(kind == PL_WRITE && pg.present) ? 0 : reclaim_reserve(k, p, (uint64_t)k->levels + 1);
    if (rc < 0)
        return deny(si, f, kind, PL_SIG_OOM);
    pmap_lookup(&p->pmap, va, &pg); /* making room may have evicted this very page */
    if (pg.swapped) {
        rc = swap_in(p, v, va, pg.slot);
    } else if (!pg.mapped) {
        rc = populate(p, v, va, kind);
    } else if (kind == PL_WRITE && pg.present && !(pg.prot & PL_PROT_WRITE) && !(v->flags & PL_MAP_SHARED)) {
        rc = pg.huge ? break_cow_huge(p, v, va, pg.pa) : break_cow(p, v, va, pg.pa);
    } else {
        /* The entry allows the access already: the TLB held an older,
         * stricter translation, which the fault itself dropped. */
        count(&k->stats.spurious, &p->stats.spurious);
        rc = 0;
    }
    if (p->state == PL_PROC_RUNNING) {
        p->stats.resident = p->pmap.resident;
        p->stats.pt_pages = p->pmap.pt_pages;
    }
    if (rc < 0)
        return deny(si, f, kind, PL_SIG_OOM);
    return 0;
}
