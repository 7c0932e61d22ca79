/* os/migrate: page migration, one private page to a new frame. The paths
 * that move pages (compaction, NUMA balancing) end here; the TLB shootdown
 * in pmap_move is what makes it safe while other CPUs run the process. */
#include <errno.h>
#include <string.h>

#include "os/os.h"
#include "os/swapk.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

int pl_proc_migrate(struct pl_proc *p, uint64_t va, uint64_t *new_pa)
{
    int rc = syscall_enter(p);
    if (rc < 0)
        return rc;
    struct pl_kernel *k = p->k;
    va &= ~(uint64_t)(PL_VMA_PAGE_SIZE - 1);
    const struct pl_vma *v = va < k->user_top ? pl_vma_find(p->vmas, va) : NULL;
    struct pmap_page pg;
    pmap_lookup(&p->pmap, va, &pg);
    if (!v || !pg.present)
        return -EFAULT;
    /* a page of a 2M leaf moves alone: split it out first, as Linux's
     * migration does when it cannot move the whole huge page */
    if (pg.huge && pmap_split(&p->pmap, va) < 0)
        return -ENOMEM;
    const struct pl_frame *f = pg.pa < k->m->config.ram_size ? pl_frame_meta(k->frames, pg.pa) : NULL;
    if (v->object || !f || f->mapcount != 1 || f->refcount != 1 || (k->swap && swap_frame_shared(k, pg.pa)))
        return -EBUSY;
    uint64_t to;
    if (reclaim_alloc_user(k, p, &to) < 0 || p->state != PL_PROC_RUNNING)
        return -ENOMEM;
    /* reclaim may have evicted the page meanwhile: look again */
    struct pmap_page now;
    pmap_lookup(&p->pmap, va, &now);
    if (!now.present || now.pa != pg.pa) {
        pl_frame_put(k->frames, to);
        return -EBUSY;
    }
    const uint8_t *src = pl_physmem_frame_lookup(k->mem, pg.pa >> PL_FRAME_SHIFT);
    if (src) { /* a frame never written reads as zero, as the new one does */
        uint8_t *dst = pl_physmem_frame_touch(k->mem, to >> PL_FRAME_SHIFT);
        if (!dst) {
            pl_frame_put(k->frames, to);
            return -ENOMEM;
        }
        memcpy(dst, src, PL_VMA_PAGE_SIZE);
    }
    kernel_charge(k, k->m->config.cost.page_copy);
    pmap_move(&p->pmap, va, to);
    reclaim_note_new(k, to, va);
    pl_frame_put(k->frames, to); /* the leaf holds its own reference */
    k->stats.migrations++;
    if (new_pa)
        *new_pa = to;
    return 0;
}
