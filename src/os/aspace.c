/* os/aspace: the regions of a process and the system calls that shape them:
 * mmap, munmap, mprotect. Regions live in a pl_vma_set; their pages in the
 * process's pmap. Errors are Linux's errno values, negated. */
#include <errno.h>

#include "os/os.h"
#include "os/swapk.h"
#include "ptelab/error.h"

#define PAGE PL_VMA_PAGE_SIZE

static uint64_t page_round_up(uint64_t len) { return (len + PAGE - 1) & ~(PAGE - 1); }

struct unmap_ctx {
    struct pl_proc *p;
    unsigned why;
};

/* A piece of a region went away: its pages, and its share of an object. */
static void region_removed(void *ctx, const struct pl_vma *piece)
{
    struct unmap_ctx *u = ctx;
    pmap_remove(&u->p->pmap, piece->start, piece->end, u->why);
    u->p->stats.resident = u->p->pmap.resident;
    u->p->stats.pt_pages = u->p->pmap.pt_pages;
    if (piece->object)
        shm_unmap_pages(piece->object, (piece->end - piece->start) / PAGE);
}

/* Splits the 2M leaves that [start, end) cuts (at most two), so that a
 * change of its regions acts on whole leaves; reclaim makes room for their
 * page tables if it must. 0 or -ENOMEM (nothing a process can see
 * changed). */
static int split_edges(struct pl_proc *p, uint64_t start, uint64_t end)
{
    int rc = pmap_split_edges(&p->pmap, start, end);
    if (rc == PL_ENOMEM && reclaim_reserve(p->k, p, 2) == 0 && p->state == PL_PROC_RUNNING)
        rc = pmap_split_edges(&p->pmap, start, end);
    p->stats.pt_pages = p->pmap.pt_pages;
    return rc < 0 ? -ENOMEM : 0;
}

int syscall_enter(struct pl_proc *p)
{
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_kernel *k = p->k;
    kernel_switch_to(k, proc_caller(p)); /* first: the cost is the calling CPU's */
    k->stats.syscalls++;
    kernel_charge(k, k->m->config.cost.syscall);
    kernel_enter(k);
    return 0;
}

int pl_sys_mmap(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot, unsigned flags, struct pl_shm *shm,
                uint64_t offset, uint64_t *out)
{
    int rc = syscall_enter(p);
    if (rc < 0)
        return rc;
    struct pl_kernel *k = p->k;
    unsigned kind = flags & (PL_MAP_SHARED | PL_MAP_PRIVATE);
    bool fixed = flags & PL_MAP_FIXED, anon = flags & PL_MAP_ANONYMOUS;
    if (len == 0 || (prot & ~PL_PROT_MASK) || (flags & ~(PL_VMA_FLAGS_MASK | PL_MAP_FIXED)) ||
        (kind != PL_MAP_SHARED && kind != PL_MAP_PRIVATE) || (anon && shm))
        return -EINVAL;
    if (!anon && !shm)
        return -EBADF;
    if (len > k->user_top)
        return -ENOMEM;
    len = page_round_up(len);
    if (shm && (offset % PAGE || offset > pl_shm_size(shm) || len > pl_shm_size(shm) - offset))
        return -EINVAL;
    if (fixed) {
        if (addr % PAGE)
            return -EINVAL;
        if (addr < PL_MMAP_FLOOR)
            return -EPERM;
        if (addr > k->user_top - len)
            return -ENOMEM;
        if ((rc = split_edges(p, addr, addr + len)) < 0)
            return rc;
    } else {
        /* A hint with no room above it falls back to the default search,
         * as on Linux, before anything below the base is taken. */
        uint64_t hint = addr && addr < k->user_top ? page_round_up(addr) : PL_MMAP_BASE;
        if (pl_vma_find_gap(p->vmas, len, hint, PL_MMAP_FLOOR, k->user_top, &addr) < 0)
            return -ENOMEM;
        if (addr < hint && hint != PL_MMAP_BASE)
            pl_vma_find_gap(p->vmas, len, PL_MMAP_BASE, PL_MMAP_FLOOR, k->user_top, &addr);
    }
    /* An anonymous shared mapping is backed by an object of its own. */
    struct pl_shm *own = NULL;
    if (anon && kind == PL_MAP_SHARED) {
        if ((rc = pl_shm_create(k, len, &own)) < 0)
            return rc;
        shm = own;
        offset = 0;
    }
    struct pl_vma v = {.start = addr, .end = addr + len, .prot = prot, .flags = flags & PL_VMA_FLAGS_MASK,
                       .object = shm, .offset = shm ? offset / PAGE : 0};
    struct unmap_ctx u = {.p = p, .why = PL_WHY_MUNMAP};
    /* Counted before the insert: a MAP_FIXED over the object's own pages
     * must not let the object go in between. */
    if (shm)
        shm_map_pages(shm, len / PAGE);
    rc = pl_vma_insert(p->vmas, &v, fixed, region_removed, &u);
    if (rc < 0 && shm)
        shm_unmap_pages(shm, len / PAGE);
    if (own)
        pl_shm_release(own);
    if (rc < 0)
        return rc == PL_ENOMEM || rc == PL_ERANGE ? -ENOMEM : -EINVAL;
    *out = addr;
    return 0;
}

int pl_sys_munmap(struct pl_proc *p, uint64_t addr, uint64_t len)
{
    int rc = syscall_enter(p);
    if (rc < 0)
        return rc;
    uint64_t top = p->k->user_top;
    if (addr % PAGE || len == 0 || addr >= top || len > top - addr)
        return -EINVAL;
    if ((rc = split_edges(p, addr, addr + page_round_up(len))) < 0)
        return rc;
    struct unmap_ctx u = {.p = p, .why = PL_WHY_MUNMAP};
    rc = pl_vma_remove(p->vmas, addr, addr + page_round_up(len), region_removed, &u);
    return rc < 0 ? -ENOMEM : 0;
}

int aspace_protect(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot, int key)
{
    int rc = syscall_enter(p);
    if (rc < 0)
        return rc;
    uint64_t top = p->k->user_top;
    if (addr % PAGE || (prot & ~PL_PROT_MASK))
        return -EINVAL;
    if (len == 0)
        return 0;
    if (addr >= top || len > top - addr)
        return -ENOMEM;
    if (key != PL_PKEY_KEEP && !pkey_allocated(p, key))
        return -EINVAL;
    uint64_t end = addr + page_round_up(len);
    if ((rc = split_edges(p, addr, end)) < 0)
        return rc;
    rc = key == PL_PKEY_KEEP ? pl_vma_protect(p->vmas, addr, end, prot)
                             : pl_vma_protect_pkey(p->vmas, addr, end, prot, (uint8_t)key);
    if (rc < 0)
        return rc == PL_EFAULT || rc == PL_ENOMEM ? -ENOMEM : -EINVAL;
    /* Shared pages take the new rights at once; private pages gain write
     * access from their write fault, which decides between copy and reuse.
     * A new key applies to every page at once. */
    for (const struct pl_vma *v = pl_vma_first_in(p->vmas, addr, end); v && v->start < end;
         v = pl_vma_next(p->vmas, v)) {
        uint64_t s = v->start > addr ? v->start : addr, e = v->end < end ? v->end : end;
        bool shared = v->flags & PL_MAP_SHARED;
        if (key == PL_PKEY_KEEP)
            pmap_protect(&p->pmap, s, e, prot, shared, PL_WHY_MPROTECT);
        else
            pmap_protect_key(&p->pmap, s, e, prot, (unsigned)key, shared, PL_WHY_MPROTECT);
    }
    return 0;
}

int pl_sys_mprotect(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot)
{
    return aspace_protect(p, addr, len, prot, PL_PKEY_KEEP);
}

void aspace_clear(struct pl_proc *p, unsigned why)
{
    struct unmap_ctx u = {.p = p, .why = why};
    int rc = pl_vma_remove(p->vmas, 0, p->k->user_top, region_removed, &u);
    (void)rc; /* removing everything needs no allocation */
}
