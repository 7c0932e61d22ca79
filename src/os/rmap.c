/* os/rmap: reverse mapping of anonymous frames. An anonymous page keeps its
 * address through fork (this kernel has no mremap), so, like Linux's
 * anon_vma, the frame records its address once (reclaim_note_new) and its
 * mappers are found by looking that address up in each running process:
 * O(processes x levels) per frame, no per-mapping bookkeeping. A frame of
 * a 2 MiB page is found the same way: pmap_lookup gives the frame of the
 * 4 KiB piece of a 2M leaf. */
#include "os/os.h"
#include "os/swapk.h"

unsigned rmap_walk(struct pl_kernel *k, uint64_t pa, rmap_fn *fn, void *ctx)
{
    struct swap_frame *sf = swap_frame_of(k, pa);
    if (!sf || !(sf->flags & SF_LRU))
        return 0;
    unsigned n = 0;
    for (int pid = 1; pid <= k->nprocs; pid++) {
        struct pl_proc *p = k->procs[pid - 1];
        if (!p || p->state != PL_PROC_RUNNING)
            continue;
        struct pmap_page pg;
        pmap_lookup(&p->pmap, sf->va, &pg);
        if (pg.mapped && pg.pa == pa) {
            n++;
            if (fn)
                fn(ctx, p, sf->va);
        }
    }
    return n;
}
