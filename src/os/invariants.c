/* The kernel's invariant checker (pl_kernel_check): everything the page
 * tables say is compared with what the frame allocator, the regions and the
 * shared objects say. O(frames + entries); tests run it after every
 * operation. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "os/os.h"
#include "os/swapk.h"
#include "ptelab/bus.h"
#include "ptelab/error.h"

struct frame_use {
    uint32_t maps;     /* leaves mapping the frame */
    uint32_t writable; /* ... of which writable */
    uint32_t objects;  /* shm objects holding it */
    uint32_t tables;   /* page tables it serves as */
};

struct checker {
    struct pl_kernel *k;
    struct frame_use *use;
    uint64_t base, nframes;
    char *msg;
    size_t msglen;
    int failed;
    const struct pl_proc *p;
    uint64_t tables;
    uint32_t *slot_uses; /* swap entries and swap-cache references of each slot */
    uint64_t swapped;    /* swap entries of the process being checked */
    uint64_t resident;   /* 4 KiB pages its leaves map */
};

static void fail(struct checker *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = 1;
    if (c->msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, c->msglen, fmt, ap);
        va_end(ap);
    }
}

static struct frame_use *use_of(struct checker *c, uint64_t pa)
{
    if (pa < c->base || (pa - c->base) / PL_VMA_PAGE_SIZE >= c->nframes) {
        fail(c, "frame 0x%llx outside the allocator's range", (unsigned long long)pa);
        return NULL;
    }
    return &c->use[(pa - c->base) / PL_VMA_PAGE_SIZE];
}

/* A leaf outside RAM: a device page of a device mapping, at its place in
 * the range, with the mapping's memory type. */
static void check_device_leaf(struct checker *c, const struct pl_vma *v, uint64_t va, uint64_t entry,
                              const struct pmap_page *pg)
{
    const struct pl_shm *obj = v->object;
    if (!obj || !obj->device) {
        fail(c, "pid %d: page 0x%llx maps 0x%llx outside RAM in a region of no device", c->p->pid,
             (unsigned long long)va, (unsigned long long)pg->pa);
        return;
    }
    uint64_t want = obj->dev_base + (v->offset + (va - v->start) / PL_VMA_PAGE_SIZE) * PL_VMA_PAGE_SIZE;
    if (pg->pa != want || !pl_bus_is_device_range(c->k->m->bus, pg->pa, PL_VMA_PAGE_SIZE))
        fail(c, "pid %d: device page 0x%llx maps 0x%llx, not 0x%llx of a device", c->p->pid, (unsigned long long)va,
             (unsigned long long)pg->pa, (unsigned long long)want);
    else if (pmap_leaf_memtype(c->k, entry, 1) != obj->memtype)
        fail(c, "pid %d: device page 0x%llx has type %s, its mapping %s", c->p->pid, (unsigned long long)va,
             pl_memtype_name(pmap_leaf_memtype(c->k, entry, 1)), pl_memtype_name(obj->memtype));
}

/* Every ioremap page: mapped to its device page with its type; none in RAM. */
static void check_ioremap(struct checker *c)
{
    for (size_t i = 0; i < c->k->io_n && !c->failed; i++) {
        const struct ioremap_area *a = &c->k->io[i];
        if (a->pa < c->k->m->config.ram_size || !pl_bus_is_device_range(c->k->m->bus, a->pa, a->size))
            fail(c, "ioremap 0x%llx: 0x%llx+0x%llx is not a device range", (unsigned long long)a->va,
                 (unsigned long long)a->pa, (unsigned long long)a->size);
        for (uint64_t off = 0; off < a->size && !c->failed; off += PL_VMA_PAGE_SIZE) {
            uint64_t e = pmap_kernel_entry(c->k, a->va + off);
            struct pmap_page pg;
            pmap_decode(e, 1, &pg);
            if (!pg.present || pg.pa != a->pa + off || pmap_leaf_memtype(c->k, e, 1) != a->memtype)
                fail(c, "ioremap page 0x%llx: entry 0x%llx, want 0x%llx of type %s", (unsigned long long)(a->va + off),
                     (unsigned long long)e, (unsigned long long)(a->pa + off), pl_memtype_name(a->memtype));
        }
    }
}

/* A leaf (level 1, or 2 for a 2M leaf): in a region, no more rights than
 * it, present exactly when it grants any, with its key, WB unless a device
 * page; each frame's mappings counted. */
static void visit_leaf(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct checker *c = ctx;
    (void)entry_pa;
    struct pmap_page pg;
    pmap_decode(entry, level, &pg);
    uint64_t size = pg.huge ? PMAP_HUGE_SIZE : PL_VMA_PAGE_SIZE;
    c->resident += size / PL_VMA_PAGE_SIZE;
    const struct pl_vma *v = pl_vma_find(c->p->vmas, va);
    if (!v) {
        fail(c, "pid %d: page 0x%llx mapped outside every region", c->p->pid, (unsigned long long)va);
        return;
    }
    if (pg.huge && (v->object || v->end - va < size)) {
        fail(c, "pid %d: 2M leaf 0x%llx not wholly inside one private anonymous region", c->p->pid,
             (unsigned long long)va);
        return;
    }
    if ((pg.prot & PL_PROT_WRITE) && !(v->prot & PL_PROT_WRITE))
        fail(c, "pid %d: page 0x%llx writable in a region without PROT_WRITE", c->p->pid, (unsigned long long)va);
    if (pg.present != (v->prot != PL_PROT_NONE))
        fail(c, "pid %d: page 0x%llx present=%d in a region with prot %u", c->p->pid, (unsigned long long)va,
             pg.present, v->prot);
    if (pg.pkey != v->pkey)
        fail(c, "pid %d: page 0x%llx has key %u in a region with key %u", c->p->pid, (unsigned long long)va,
             pg.pkey, (unsigned)v->pkey);
    if (pg.pa >= c->k->m->config.ram_size) {
        check_device_leaf(c, v, va, entry, &pg);
        return;
    }
    if (pmap_leaf_memtype(c->k, entry, level) != PL_MT_WB)
        fail(c, "pid %d: RAM page 0x%llx is not WB", c->p->pid, (unsigned long long)va);
    for (uint64_t off = 0; off < size && !c->failed; off += PL_VMA_PAGE_SIZE) {
        struct frame_use *u = use_of(c, pg.pa + off);
        if (u) {
            u->maps++;
            u->writable += (pg.prot & PL_PROT_WRITE) != 0;
        }
    }
}

static void visit_table(void *ctx, uint64_t table_pa, int level)
{
    struct checker *c = ctx;
    (void)level;
    struct frame_use *u = use_of(c, table_pa);
    if (u)
        u->tables++;
    c->tables++;
}

static void visit_swap(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct checker *c = ctx;
    (void)entry_pa;
    struct pmap_page pg;
    pmap_decode(entry, level, &pg);
    const struct pl_vma *v = pl_vma_find(c->p->vmas, va);
    c->swapped++;
    if (!v || v->object)
        fail(c, "pid %d: swap entry at 0x%llx outside an anonymous region", c->p->pid, (unsigned long long)va);
    else if (!c->k->swap || pg.slot >= c->k->swap->nslots)
        fail(c, "pid %d: swap entry at 0x%llx names slot %llu of none", c->p->pid, (unsigned long long)va,
             (unsigned long long)pg.slot);
    else
        c->slot_uses[pg.slot]++;
}

/* Slot references = swap entries + swap-cache associations; the cache and
 * its frames agree; the reclaim lists count right; nothing is left when no
 * process is. */
static void check_swap(struct checker *c, bool any_process)
{
    struct swapk *s = c->k->swap;
    if (!s)
        return;
    uint64_t lru = 0, active = 0, used = 0;
    for (uint64_t i = 0; i < s->nframes && !c->failed; i++) {
        const struct swap_frame *sf = &s->fr[i];
        uint64_t pa = s->base + i * PL_VMA_PAGE_SIZE;
        const struct pl_frame *f = pl_frame_meta(c->k->frames, pa);
        lru += (sf->flags & SF_LRU) != 0;
        active += (sf->flags & SF_ACTIVE) != 0;
        if ((sf->flags & SF_LRU) && (!f->refcount || c->use[i].maps == 0))
            fail(c, "frame 0x%llx on the reclaim lists but not mapped", (unsigned long long)pa);
        if (!sf->slot1)
            continue;
        uint64_t slot = sf->slot1 - 1;
        if (slot >= s->nslots || s->slot_frame[slot] != pa || !(sf->flags & SF_LRU))
            fail(c, "frame 0x%llx: swap cache of slot %llu inconsistent", (unsigned long long)pa,
                 (unsigned long long)slot);
        else
            c->slot_uses[slot]++;
    }
    for (uint64_t n = 0; n < s->nslots && !c->failed; n++) {
        used += s->slot_ref[n] != 0;
        if (s->slot_ref[n] != c->slot_uses[n])
            fail(c, "swap slot %llu: %u references, %u found", (unsigned long long)n, s->slot_ref[n],
                 c->slot_uses[n]);
        else if (s->slot_frame[n] && s->fr[(s->slot_frame[n] - s->base) / PL_VMA_PAGE_SIZE].slot1 != n + 1)
            fail(c, "swap slot %llu cached by 0x%llx, which does not say so", (unsigned long long)n,
                 (unsigned long long)s->slot_frame[n]);
    }
    if (c->failed)
        return;
    if (used != s->st.slots_used)
        fail(c, "%llu swap slots in use, %llu accounted", (unsigned long long)used,
             (unsigned long long)s->st.slots_used);
    else if (lru != s->nlru || active != s->nactive)
        fail(c, "reclaim lists: %llu/%llu pages, %llu/%llu accounted", (unsigned long long)lru,
             (unsigned long long)active, (unsigned long long)s->nlru, (unsigned long long)s->nactive);
    else if (!any_process && (used || lru))
        fail(c, "no process left, yet %llu swap slots and %llu reclaimable pages", (unsigned long long)used,
             (unsigned long long)lru);
}

static void check_process(struct checker *c, const struct pl_proc *p)
{
    const char *why;
    if (!(p->pkeys & 1))
        fail(c, "pid %d: key 0 is not allocated", p->pid);
    /* A region's key need not be allocated: pkey_free leaves it on the
     * pages that still carry it, as Linux does. */
    if (pl_vma_set_check(p->vmas, &why) < 0)
        fail(c, "pid %d: regions: %s", p->pid, why);
    if (!pmap_kernel_half_intact(&p->pmap))
        fail(c, "pid %d: kernel half of the root table differs from the kernel's", p->pid);
    c->p = p;
    c->tables = 0;
    struct frame_use *root = use_of(c, p->pmap.root);
    if (root)
        root->tables++;
    pmap_foreach_table(&p->pmap, visit_table, c);
    c->resident = 0;
    pmap_foreach(&p->pmap, visit_leaf, c);
    if (c->resident != p->pmap.resident)
        fail(c, "pid %d: leaves map %llu pages, %llu accounted", p->pid, (unsigned long long)c->resident,
             (unsigned long long)p->pmap.resident);
    c->swapped = 0;
    pmap_foreach_swap(&p->pmap, visit_swap, c);
    if (c->swapped != p->pmap.swapped)
        fail(c, "pid %d: %llu swap entries, %llu accounted", p->pid, (unsigned long long)c->swapped,
             (unsigned long long)p->pmap.swapped);
    if (c->tables != p->pmap.pt_pages)
        fail(c, "pid %d: %llu tables reachable, %llu accounted", p->pid, (unsigned long long)c->tables,
             (unsigned long long)p->pmap.pt_pages);
}

static void check_frames(struct checker *c)
{
    struct pl_frame_allocator *fa = c->k->frames;
    uint64_t user_tables = 0;
    for (uint64_t i = 0; i < c->nframes && !c->failed; i++) {
        uint64_t pa = c->base + i * PL_VMA_PAGE_SIZE;
        const struct pl_frame *f = pl_frame_meta(fa, pa);
        const struct frame_use *u = &c->use[i];
        bool is_free = f->flags & PL_FRAME_FREE;
        if (is_free && (u->maps || u->objects || u->tables))
            fail(c, "frame 0x%llx is free and in use", (unsigned long long)pa);
        else if (u->tables && (u->maps || u->objects))
            fail(c, "page table 0x%llx is also mapped as data", (unsigned long long)pa);
        else if (u->tables && (u->tables > 1 || !(f->flags & PL_FRAME_PT) || f->refcount != 1))
            fail(c, "page table 0x%llx: used %u times, flags 0x%x, refcount %u", (unsigned long long)pa, u->tables,
                 f->flags, f->refcount);
        else if (!is_free && (f->flags & PL_FRAME_USER) && (f->mapcount != u->maps || f->refcount != u->maps + u->objects))
            fail(c, "frame 0x%llx: mapcount %u refcount %u, but %u mappings and %u objects", (unsigned long long)pa,
                 f->mapcount, f->refcount, u->maps, u->objects);
        else if (u->writable && u->maps + u->objects > 1 && !u->objects)
            fail(c, "private frame 0x%llx writable with %u mappings", (unsigned long long)pa, u->maps);
        if (u->tables && !(f->flags & PL_FRAME_KERNEL))
            user_tables++;
    }
    if (!c->failed && user_tables != c->k->stats.pt_pages)
        fail(c, "%llu user page-table pages, %llu accounted", (unsigned long long)user_tables,
             (unsigned long long)c->k->stats.pt_pages);
}

/* Each CPU's loaded address space belongs to a live process and has the
 * CPU in its mask; each mask holds exactly the CPUs that have it loaded; a
 * CPU runs only live threads of that address space, pinned to it; outside a
 * call, no thread waits for the kernel. */
static void check_cpus(struct checker *c)
{
    const struct pl_kernel *k = c->k;
    uint64_t masks[PL_MACHINE_MAX_CPUS] = {0}; /* by CPU: the bits every mm claims for it */
    for (int pid = 1; pid <= k->nprocs; pid++) {
        const struct pl_proc *p = k->procs[pid - 1];
        if (!p)
            continue;
        if (p->state != PL_PROC_RUNNING && p->pmap.cpumask) {
            fail(c, "pid %d ended, yet its address space is loaded on CPUs %#llx", pid,
                 (unsigned long long)p->pmap.cpumask);
            return;
        }
        for (unsigned i = 0; i < k->m->ncpus; i++)
            if (p->pmap.cpumask >> i & 1)
                masks[i]++;
    }
    for (unsigned i = 0; i < k->m->ncpus; i++) {
        const struct percpu *cpu = &k->cpus[i];
        if (cpu->blocked && !k->waiting) {
            fail(c, "CPU %u waits for the kernel, yet no call holds it", i);
            return;
        }
        if (!cpu->mm) {
            if (masks[i] || cpu->curr) {
                fail(c, "CPU %u runs the kernel's address space, yet is in %llu masks or runs tid %d", i,
                     (unsigned long long)masks[i], cpu->curr ? cpu->curr->tid : 0);
                return;
            }
            continue;
        }
        const struct pl_proc *owner = k->procs[cpu->mm->pid - 1];
        if (!owner || &owner->pmap != cpu->mm || !(cpu->mm->cpumask >> i & 1) || masks[i] != 1) {
            fail(c, "CPU %u: its address space (pid %d) is not live, or the masks disagree", i, cpu->mm->pid);
            return;
        }
        if (cpu->curr && (!cpu->curr->alive || cpu->curr->cpu != i || &cpu->curr->p->pmap != cpu->mm)) {
            fail(c, "CPU %u runs tid %d, which is dead, pinned elsewhere or of another address space", i,
                 cpu->curr->tid);
            return;
        }
        if (cpu->lazy == (cpu->curr != NULL)) {
            fail(c, "CPU %u: lazy is %d with tid %d loaded", i, cpu->lazy, cpu->curr ? cpu->curr->tid : 0);
            return;
        }
    }
}

int pl_kernel_check(struct pl_kernel *k, char *msg, size_t msglen)
{
    struct checker c = {.k = k, .msg = msg, .msglen = msglen};
    if (msglen)
        msg[0] = 0;
    if (pl_frame_check(k->frames, msg, msglen) < 0)
        return PL_EINVAL;
    c.base = PL_KERNEL_RESERVED_LOW;
    c.nframes = (k->m->config.ram_size - c.base) / PL_VMA_PAGE_SIZE;
    c.use = calloc(c.nframes, sizeof *c.use);
    c.slot_uses = calloc(k->swap && k->swap->nslots ? k->swap->nslots : 1, sizeof *c.slot_uses);
    if (!c.use || !c.slot_uses) {
        free(c.use);
        free(c.slot_uses);
        return PL_ENOMEM;
    }
    bool any_process = false;
    for (int pid = 1; pid <= k->nprocs && !c.failed; pid++) {
        const struct pl_proc *p = k->procs[pid - 1];
        if (p && p->vmas) {
            check_process(&c, p);
            any_process = true;
        }
    }
    for (const struct pl_shm *obj = k->shm_list; obj && !c.failed; obj = obj->next)
        for (uint64_t i = 0; i < obj->npages; i++)
            if (obj->pages[i]) {
                struct frame_use *u = use_of(&c, obj->pages[i]);
                if (u)
                    u->objects++;
            }
    if (!c.failed)
        check_frames(&c);
    if (!c.failed)
        check_ioremap(&c);
    if (!c.failed)
        check_swap(&c, any_process);
    if (!c.failed)
        check_cpus(&c);
    if (!c.failed && !any_process && !k->shm_list) {
        struct pl_frame_stats st;
        pl_frame_stats_read(k->frames, &st);
        if (st.frames - st.free_frames != k->own_frames)
            fail(&c, "no process left, yet %llu frames in use (the kernel's own: %llu)",
                 (unsigned long long)(st.frames - st.free_frames), (unsigned long long)k->own_frames);
    }
    free(c.use);
    free(c.slot_uses);
    return c.failed ? PL_EINVAL : 0;
}
