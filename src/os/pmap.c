/* os/pmap: see pmap.h. The only file of src/os that includes hw/pte.h. */
#include "os/pmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pte.h"
#include "os/os.h"
#include "os/shootdown.h"
#include "os/swapk.h"
#include "ptelab/cpu.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

/* A 2M leaf is a PD entry mapping 512 frames (docs/huge-pages.md). */
#define HUGE_LEVEL PTE_LEVEL_PD

/* Software bit of a not-present user leaf: PROT_NONE, the frame is kept. */
#define PTE_SW_PROTNONE PTE_BIT(9)
/* Software bit of a not-present user leaf: a swap entry, its slot in bits
 * 50:12 (docs/swap.md). */
#define PTE_SW_SWAP PTE_BIT(10)
#define SWAP_SLOT_SHIFT 12
#define SWAP_SLOT_MASK ((UINT64_C(1) << 39) - 1)
/* Upper-level entries grant everything; the leaf decides. */
#define TABLE_LINK (PTE_P | PTE_RW | PTE_US)
#define KERNEL_LINK (PTE_P | PTE_RW)

/* Beyond this many pages one flush of the whole address space is cheaper
 * than a flush per page (Linux's tlb_single_page_flush_ceiling, 33). */
#define FLUSH_CEILING 33

/* Invalidations and frame releases an operation owes. Frames and page-table
 * pages are released only after the invalidations on every CPU (one
 * shootdown round, os/shootdown), so no TLB or paging-structure cache entry
 * ever points at a freed frame. */
struct flush {
    struct pmap *pm;
    unsigned n;
    bool all;
    bool freed_tables; /* lazy CPUs must hear of it: their walks may use the tables */
    uint64_t changed;  /* entries written that need the invalidations */
    uint64_t va[FLUSH_CEILING];
    uint64_t *release; /* frames whose mapping was removed; TABLE_TAG: a page-table page */
    size_t nrelease, release_cap;
    uint64_t release_few[4]; /* release's room until more are queued: most operations free 0-2 */
};
#define TABLE_TAG UINT64_C(1)

/* An empty batch for pm. Only the header is set: va[] is read below n
 * only, and clearing its 264 bytes (a rep stos) on every pmap operation was
 * the costliest instruction of the zero-fill fault path. */
static inline void flush_begin(struct flush *fl, struct pmap *pm)
{
    fl->pm = pm;
    fl->n = 0;
    fl->all = fl->freed_tables = false;
    fl->changed = 0;
    fl->release = fl->release_few;
    fl->nrelease = 0;
    fl->release_cap = sizeof fl->release_few / sizeof fl->release_few[0];
}

static uint64_t *table_ptr(const struct pl_kernel *k, uint64_t pa)
{
    return (uint64_t *)(void *)pl_physmem_frame_lookup(k->mem, pa >> PL_FRAME_SHIFT);
}

static uint64_t entry_span(int level) { return UINT64_C(1) << pte_level_shift(level); }

/* The frames a leaf at level maps: 1, or 512 for a 2M leaf. */
static uint64_t leaf_frames(int level) { return entry_span(level) >> PL_FRAME_SHIFT; }

/* The bits of a leaf at level that select its PAT entry: the PAT bit is
 * bit 7 in a 4K leaf, bit 12 in a 2M one (bit 7 is PS there). */
static uint64_t memtype_bits(int level) { return (level == 1 ? PTE_PAT4K : PTE_PATLG) | PTE_PCD | PTE_PWT; }

/* True for a user 2M leaf: a PD entry with PS, present or PROT_NONE. A
 * PROT_NONE leaf keeps PS as the kernel's mark of its size (the CPU ignores
 * every other bit of a not-present entry). */
static bool huge_leaf(uint64_t e, int level)
{
    return level == HUGE_LEVEL && (e & PTE_PS) && (e & (PTE_P | PTE_SW_PROTNONE));
}

/* True when replacing old by new needs the TLB told (SDM §4.10.4.3): a
 * present entry that goes away, points elsewhere, loses rights or A/D, or
 * changes anything else but added rights. */
static bool needs_flush(uint64_t old, uint64_t new)
{
    if (!(old & PTE_P))
        return false;
    if (!(new & PTE_P))
        return true;
    uint64_t lowered = (old & ~new & (PTE_RW | PTE_US | PTE_A | PTE_D)) | (new & ~old & PTE_XD);
    uint64_t other = (old ^ new) & ~(PTE_RW | PTE_US | PTE_XD | PTE_A | PTE_D);
    return lowered || other;
}

static void flush_commit(struct flush *fl);
static void flush_rounds(struct flush *fl);
static void release_all(struct flush *fl);
static void drop_mapping(struct pl_kernel *k, uint64_t pa);

static void flush_add(struct flush *fl, uint64_t va)
{
    if (fl->all)
        return;
    if (fl->n == FLUSH_CEILING) {
        if (fl->pm->k->cfg.shootdown != PL_SHOOTDOWN_NAIVE) {
            fl->all = true;
            return;
        }
        flush_rounds(fl); /* the naive protocol: a round per page, however many */
    }
    fl->va[fl->n++] = va;
}

/* Queues the release of a frame whose mapping was removed (or, tagged, of a
 * page-table page). */
static void flush_release(struct flush *fl, uint64_t pa)
{
    if (fl->nrelease == fl->release_cap) {
        size_t cap = 2 * fl->release_cap < 64 ? 64 : 2 * fl->release_cap;
        uint64_t *r = fl->release == fl->release_few ? malloc(cap * sizeof *r) : realloc(fl->release, cap * sizeof *r);
        if (!r) {
            /* No room to defer: invalidate and release what is queued, then
             * queue pa in the emptied room. */
            flush_commit(fl);
        } else {
            if (fl->release == fl->release_few)
                memcpy(r, fl->release_few, sizeof fl->release_few);
            fl->release = r;
            fl->release_cap = cap;
        }
    }
    fl->release[fl->nrelease++] = pa;
}

/* True for RAM; device pages (ioremap, device mmap) are not the allocator's
 * frames and are not counted. */
static bool is_frame(const struct pl_kernel *k, uint64_t pa) { return pa < k->m->config.ram_size; }

/* Drops the map count and the reference a leaf held on pa. */
static void drop_mapping(struct pl_kernel *k, uint64_t pa)
{
    if (!is_frame(k, pa))
        return;
    struct pl_frame *f = pl_frame_meta(k->frames, pa);
    assert(f && f->mapcount > 0);
    f->mapcount--;
    if (f->refcount == 1 && k->swap)
        swap_frame_freed(k, pa); /* the put below frees it */
    int rc = pl_frame_put(k->frames, pa);
    assert(rc == 0);
    (void)rc;
}

static void take_mapping(struct pl_kernel *k, uint64_t pa)
{
    if (!is_frame(k, pa))
        return;
    int rc = pl_frame_get(k->frames, pa);
    assert(rc == 0);
    (void)rc;
    pl_frame_meta(k->frames, pa)->mapcount++;
}

static void release_all(struct flush *fl)
{
    struct pl_kernel *k = fl->pm->k;
    if (fl->nrelease)
        smp_event(k, PL_EV_RELEASE, 0, 0, fl->nrelease);
    for (size_t i = 0; i < fl->nrelease; i++) {
        uint64_t pa = fl->release[i];
        if (pa & TABLE_TAG) {
            int rc = pl_frame_free(k->frames, pa & ~TABLE_TAG);
            assert(rc == 0);
            (void)rc;
        } else {
            drop_mapping(k, pa);
        }
    }
    fl->nrelease = 0;
}

/* Invalidates va[0..n) (all: the whole PCID) of pm on the executing CPU.
 * Without PCIDs an address space that is not loaded has nothing in the TLB:
 * its entries left when its CR3 was replaced. */
static void flush_local(struct pmap *pm, const uint64_t *va, unsigned n, bool all)
{
    struct pl_kernel *k = pm->k;
    struct percpu *c = k->this;
    struct pl_cpu *cpu = c->cpu;
    bool loaded = c->mm == pm;
    bool pcide = pl_cpu_regs(cpu)->cr4 & PL_CR4_PCIDE;
    if (!loaded && !pcide)
        return;
    unsigned cpl = pl_cpu_regs(cpu)->cpl;
    pl_cpu_set_cpl(cpu, 0);
    if (all) {
        k->stats.tlb_flush_full++;
        cpu_flush_pcid(cpu, pm->pcid);
    } else {
        for (unsigned i = 0; i < n; i++) {
            k->stats.tlb_flush_pages++;
            if (loaded)
                pl_cpu_invlpg(cpu, va[i]);
            else
                pl_cpu_invpcid(cpu, 0, pm->pcid, va[i]);
        }
    }
    pl_cpu_set_cpl(cpu, cpl);
    if (loaded || c->pcid_owner[pm->pcid] == pm->pid)
        c->pcid_gen[pm->pcid] = pm->tlb_gen;
    smp_event(k, PL_EV_FLUSH, 0, all ? 0 : va[0], all ? 0 : n);
}

/* One round: a new generation, the local invalidation, the other CPUs'. */
static void round_of(struct flush *fl, const uint64_t *va, unsigned n, bool all)
{
    struct pmap *pm = fl->pm;
    if (fl->changed) {
        smp_event(pm->k, PL_EV_PTE, 0, n ? va[0] : 0, fl->changed);
        fl->changed = 0;
    }
    pm->tlb_gen++;
    pm->changer = (int8_t)pm->k->this->id;
    flush_local(pm, va, n, all);
    struct shootdown_req *req = shootdown_send(pm->k, pm, va, n, all, fl->freed_tables);
    if (shootdown_frees_early(pm->k))
        release_all(fl);
    shootdown_wait(pm->k, req);
}

/* The rounds the queued invalidations need: one (correct protocol), or one
 * per page (naive). */
static void flush_rounds(struct flush *fl)
{
    if (fl->n || fl->all) {
        if (fl->pm->k->cfg.shootdown == PL_SHOOTDOWN_NAIVE && !fl->all)
            for (unsigned i = 0; i < fl->n; i++)
                round_of(fl, &fl->va[i], 1, false);
        else
            round_of(fl, fl->va, fl->n, fl->all);
    } else if (fl->freed_tables) {
        /* no leaf went, yet lazy CPUs may hold the tables in their
         * paging-structure caches */
        round_of(fl, NULL, 0, true);
    }
    fl->n = 0;
    fl->all = false;
    fl->freed_tables = false;
}

/* Performs the invalidations, then the releases. */
static void flush_commit(struct flush *fl)
{
    flush_rounds(fl);
    release_all(fl);
    if (fl->release != fl->release_few)
        free(fl->release);
    flush_begin(fl, fl->pm);
}

/* The one function that writes an entry. */
static void store(struct pl_kernel *k, int pid, uint64_t table_pa, unsigned index, int level, uint64_t va,
                  uint64_t new, unsigned why, struct flush *fl)
{
    uint64_t *slot = table_ptr(k, table_pa) + index;
    uint64_t old = *slot;
    *slot = new;
    k->stats.pte_writes++;
    if (k->history.on)
        history_add(&k->history, (struct pl_pte_write){.entry_pa = table_pa + 8 * index, .old = old, .new = new,
                                                        .va = va, .pid = pid, .level = (uint8_t)level,
                                                        .why = (uint8_t)why});
    if (fl && needs_flush(old, new)) {
        fl->changed++;
        flush_add(fl, va);
    }
}

/* A zeroed table page, materialised so that stores into it cannot fail. */
static int alloc_table(struct pl_kernel *k, uint16_t flags, uint64_t *pa)
{
    int rc = pl_frame_alloc(k->frames, 0, flags, pa);
    if (rc < 0)
        return rc;
    if (!pl_physmem_frame_touch(k->mem, *pa >> PL_FRAME_SHIFT)) {
        pl_frame_free(k->frames, *pa);
        return PL_ENOMEM;
    }
    return 0;
}

/* A leaf at level holds a reference and a map count on each of its frames. */
static void take_leaf_frames(struct pl_kernel *k, uint64_t pa, int level)
{
    for (uint64_t i = 0; i < leaf_frames(level); i++)
        take_mapping(k, pa + i * PL_FRAME_SIZE);
}

/* Queues the release of the frames of a removed leaf at level. */
static void release_leaf_frames(struct flush *fl, uint64_t pa, int level)
{
    for (uint64_t i = 0; i < leaf_frames(level); i++)
        flush_release(fl, pa + i * PL_FRAME_SIZE);
}

void pmap_decode(uint64_t entry, int level, struct pmap_page *out)
{
    out->present = entry & PTE_P;
    out->mapped = out->present || (entry & PTE_SW_PROTNONE);
    out->huge = out->mapped && level == HUGE_LEVEL;
    out->swapped = !out->mapped && (entry & PTE_SW_SWAP);
    out->slot = out->swapped ? (entry >> SWAP_SLOT_SHIFT) & SWAP_SLOT_MASK : 0;
    /* a 2M leaf's bit 12 is its PAT bit, not address */
    out->pa = out->mapped ? entry & PTE_ADDR_MASK & ~(entry_span(level) - 1) : 0;
    out->prot = PL_PROT_NONE;
    out->pkey = out->mapped ? pte_pkey(entry) : 0;
    if (out->present)
        out->prot = PL_PROT_READ | ((entry & PTE_RW) ? PL_PROT_WRITE : 0) | ((entry & PTE_XD) ? 0 : PL_PROT_EXEC);
}

/* A user leaf at level (1, or 2 for a 2M page) mapping pa with prot and pkey. */
static uint64_t user_leaf(const struct pl_kernel *k, uint64_t pa, unsigned prot, unsigned pkey, int level)
{
    assert(pkey < PL_VMA_PKEYS);
    uint64_t always = (uint64_t)pkey << PTE_PKEY_SHIFT | PTE_US | (level == HUGE_LEVEL ? PTE_PS : 0);
    if (prot == PL_PROT_NONE)
        return pa | PTE_SW_PROTNONE | always;
    uint64_t e = pa | PTE_P | always;
    if (prot & PL_PROT_WRITE)
        e |= PTE_RW;
    if (!(prot & PL_PROT_EXEC) && pl_cpu_mmu(kcpu(k))->nxe)
        e |= PTE_XD;
    return e;
}

/* Links a new table under entry index of table (level), unless present. */
static int ensure_table(struct pl_kernel *k, int pid, uint64_t table, unsigned index, int level, uint64_t va,
                        uint64_t link, uint64_t *child, uint64_t *counter)
{
    uint64_t e = table_ptr(k, table)[index];
    if (e & PTE_P) {
        *child = e & PTE_ADDR_MASK;
        return 0;
    }
    int rc = alloc_table(k, PL_FRAME_PT | (pid ? 0 : PL_FRAME_KERNEL), child);
    if (rc < 0)
        return rc;
    store(k, pid, table, index, level, va, *child | link, PL_WHY_TABLE, NULL);
    if (counter)
        ++*counter;
    return 0;
}

int pmap_boot_kernel(struct pl_kernel *k)
{
    int rc = alloc_table(k, PL_FRAME_PT | PL_FRAME_KERNEL, &k->kernel_root);
    if (rc < 0)
        return rc;
    uint64_t frames = 1;
    for (unsigned i = 256; i < 512; i++) {
        uint64_t t;
        if ((rc = alloc_table(k, PL_FRAME_PT | PL_FRAME_KERNEL, &t)) < 0)
            return rc;
        frames++;
        /* the slot's first address, sign-extended: the upper half */
        uint64_t va = ((uint64_t)i << pte_level_shift(k->levels)) | ~UINT64_C(0) << (pte_level_shift(k->levels) + 9);
        store(k, 0, k->kernel_root, i, k->levels, va, t | KERNEL_LINK, PL_WHY_BOOT, NULL);
        k->kernel_half[i - 256] = t | KERNEL_LINK;
    }
    /* The direct map: 1G leaves where RAM covers an aligned gigabyte and the
     * CPU has 1G pages, 2M leaves elsewhere. */
    bool gb = pl_cpu_mmu(kcpu(k))->gbpages;
    uint64_t ram = k->m->config.ram_size;
    for (uint64_t pa = 0; pa < ram;) {
        int leaf = gb && pa % entry_span(3) == 0 && ram - pa >= entry_span(3) ? 3 : 2;
        uint64_t va = k->direct_map + pa;
        uint64_t table = k->kernel_root;
        for (int level = k->levels; level > leaf; level--) {
            uint64_t child;
            if ((rc = ensure_table(k, 0, table, pte_index(va, level), level, va, KERNEL_LINK, &child, &frames)) < 0)
                return rc;
            table = child;
        }
        store(k, 0, table, pte_index(va, leaf), leaf, va,
              pa | PTE_P | PTE_RW | PTE_PS | PTE_G | PTE_XD | PTE_A | PTE_D, PL_WHY_BOOT, NULL);
        pa += entry_span(leaf);
    }
    k->own_frames = frames;
    return 0;
}

int pmap_create(struct pmap *pm, struct pl_kernel *k, int pid, uint16_t pcid)
{
    *pm = (struct pmap){.k = k, .pid = pid, .pcid = pcid};
    int rc = alloc_table(k, PL_FRAME_PT, &pm->root);
    if (rc < 0)
        return rc;
    k->stats.pt_pages++;
    for (unsigned i = 256; i < 512; i++) {
        uint64_t va = ((uint64_t)i << pte_level_shift(k->levels)) | ~UINT64_C(0) << (pte_level_shift(k->levels) + 9);
        store(k, pid, pm->root, i, k->levels, va, k->kernel_half[i - 256], PL_WHY_KERNEL_HALF, NULL);
    }
    return 0;
}

bool pmap_kernel_half_intact(const struct pmap *pm)
{
    const uint64_t *root = table_ptr(pm->k, pm->root);
    for (unsigned i = 256; i < 512; i++)
        if (root[i] != pm->k->kernel_half[i - 256])
            return false;
    return true;
}

/* What a range operation does at each level. */
struct range_op {
    struct flush *fl;
    unsigned why;
    /* leaf: called for every mapped user leaf in the range, at level 1, or
     * 2 for a 2M leaf (which the range covers whole) */
    void (*leaf)(struct range_op *op, uint64_t table, unsigned index, int level, uint64_t va, uint64_t entry);
    bool free_empty_tables;
    unsigned prot;
    bool grant_write;
    int pkey; /* protect: the new key, or -1 to keep each leaf's */
};

static bool table_empty(const struct pl_kernel *k, uint64_t table)
{
    const uint64_t *t = table_ptr(k, table);
    for (unsigned i = 0; i < 512; i++)
        if (t[i])
            return false;
    return true;
}

/* The indexes of the entries of a table at level, mapping from base, that
 * intersect [start, end) (which intersects the table). */
static void entries_in_range(int level, uint64_t base, uint64_t start, uint64_t end, unsigned *first, unsigned *last)
{
    uint64_t span = entry_span(level);
    uint64_t lo = start > base ? start : base;
    uint64_t hi = (end - 1 - base) / span;
    *first = (unsigned)((lo - base) / span);
    *last = hi > 511 ? 511 : (unsigned)hi;
}

/* Visits the entries of table (at level, mapping from base) that intersect
 * [start, end), descending into present tables. A 2M leaf must lie wholly
 * inside the range: callers split the ones it cuts first
 * (pmap_split_edges). */
static void visit_range(struct pmap *pm, struct range_op *op, uint64_t table, int level, uint64_t base,
                        uint64_t start, uint64_t end)
{
    struct pl_kernel *k = pm->k;
    uint64_t span = entry_span(level);
    unsigned first, last;
    entries_in_range(level, base, start, end, &first, &last);
    for (unsigned i = first; i <= last; i++) {
        uint64_t e = table_ptr(k, table)[i];
        uint64_t va = base + i * span;
        if (level == 1 || huge_leaf(e, level)) {
            assert((level == 1 || (va >= start && va + span <= end)) && "a range cuts a 2M leaf");
            struct pmap_page pg;
            pmap_decode(e, level, &pg);
            if (pg.mapped || pg.swapped)
                op->leaf(op, table, i, level, va, e);
            continue;
        }
        if (!(e & PTE_P))
            continue;
        uint64_t child = e & PTE_ADDR_MASK;
        visit_range(pm, op, child, level - 1, va, start, end);
        if (op->free_empty_tables && table_empty(k, child)) {
            /* No invalidation of its own: the leaves removed from child
             * queued theirs, and INVLPG or INVPCID drops the PCID's
             * paging-structure caches with them. A table that never held a
             * leaf was never cached. */
            store(k, pm->pid, table, i, level, va, 0, PL_WHY_TABLE_FREE, NULL);
            flush_release(op->fl, child | TABLE_TAG);
            op->fl->freed_tables = true;
            pm->pt_pages--;
            k->stats.pt_pages--;
        }
    }
}

static void run_range(struct pmap *pm, struct range_op *op, uint64_t start, uint64_t end)
{
    uint64_t top = pm->k->user_top;
    if (end > top)
        end = top;
    if (start < end)
        visit_range(pm, op, pm->root, pm->k->levels, 0, start, end);
}

static void remove_leaf(struct range_op *op, uint64_t table, unsigned index, int level, uint64_t va, uint64_t entry)
{
    struct pmap *pm = op->fl->pm;
    store(pm->k, pm->pid, table, index, level, va, 0, op->why, op->fl);
    struct pmap_page pg;
    pmap_decode(entry, level, &pg);
    if (pg.swapped) {
        swap_slot_put(pm->k, pg.slot);
        pm->swapped--;
        return;
    }
    release_leaf_frames(op->fl, pg.pa, level);
    pm->resident -= leaf_frames(level);
}

void pmap_remove(struct pmap *pm, uint64_t start, uint64_t end, unsigned why)
{
    struct flush fl;
    flush_begin(&fl, pm);
    struct range_op op = {.fl = &fl, .why = why, .leaf = remove_leaf, .free_empty_tables = true};
    run_range(pm, &op, start, end);
    flush_commit(&fl);
}

void pmap_destroy(struct pmap *pm)
{
    pmap_remove(pm, 0, pm->k->user_top, PL_WHY_EXIT);
    assert(pm->pt_pages == 0 && pm->resident == 0);
    /* no CPU may hold the root in CR3 when it is freed */
    if (pm->k->this->mm == pm)
        kernel_leave_mm(pm->k);
    shootdown_leave_mm(pm->k, pm);
    int rc = pl_frame_free(pm->k->frames, pm->root);
    assert(rc == 0);
    (void)rc;
    pm->k->stats.pt_pages--;
    pm->root = 0;
}

static void protect_leaf(struct range_op *op, uint64_t table, unsigned index, int level, uint64_t va, uint64_t entry)
{
    struct pmap *pm = op->fl->pm;
    struct pmap_page pg;
    pmap_decode(entry, level, &pg);
    if (pg.swapped)
        return; /* swap-in maps it with its region's rights */
    unsigned prot = op->prot;
    if (!op->grant_write && !(pg.prot & PL_PROT_WRITE) && prot != PL_PROT_NONE)
        prot = (prot & ~PL_PROT_WRITE) | PL_PROT_READ; /* readable until the write fault */
    unsigned pkey = op->pkey < 0 ? pg.pkey : (unsigned)op->pkey;
    uint64_t new = user_leaf(pm->k, pg.pa, prot, pkey, level) | (entry & (PTE_A | PTE_D | memtype_bits(level)));
    if (new != entry)
        store(pm->k, pm->pid, table, index, level, va, new, op->why, op->fl);
}

void pmap_protect(struct pmap *pm, uint64_t start, uint64_t end, unsigned prot, bool grant_write, unsigned why)
{
    struct flush fl;
    flush_begin(&fl, pm);
    struct range_op op = {.fl = &fl, .why = why, .leaf = protect_leaf, .prot = prot, .grant_write = grant_write,
                          .pkey = -1};
    run_range(pm, &op, start, end);
    flush_commit(&fl);
}

void pmap_protect_key(struct pmap *pm, uint64_t start, uint64_t end, unsigned prot, unsigned pkey, bool grant_write,
                      unsigned why)
{
    assert(pkey < PL_VMA_PKEYS);
    struct flush fl;
    flush_begin(&fl, pm);
    struct range_op op = {.fl = &fl, .why = why, .leaf = protect_leaf, .prot = prot, .grant_write = grant_write,
                          .pkey = (int)pkey};
    run_range(pm, &op, start, end);
    flush_commit(&fl);
}

/* The table that holds va's entry at leaf_level (1, or 2 for a 2M leaf),
 * created with the tables above it where missing. A 2M leaf above a 4K
 * entry must have been split first (pmap_split). 0 or PL_ENOMEM. */
static int table_for_leaf(struct pmap *pm, uint64_t va, int leaf_level, uint64_t *table)
{
    struct pl_kernel *k = pm->k;
    uint64_t t = pm->root;
    for (int level = k->levels; level > leaf_level; level--) {
        unsigned i = pte_index(va, level);
        uint64_t e = table_ptr(k, t)[i];
        assert(!huge_leaf(e, level) && "a 4K entry inside a 2M leaf");
        if (e & PTE_P) {
            t = e & PTE_ADDR_MASK;
            continue;
        }
        uint64_t link_va = va & ~(entry_span(level) - 1);
        int rc = ensure_table(k, pm->pid, t, i, level, link_va, TABLE_LINK, &t, &pm->pt_pages);
        if (rc < 0)
            return rc;
        k->stats.pt_pages++;
    }
    *table = t;
    return 0;
}

/* Where va's leaf entry lives: its table and its level (2 for a 2M leaf,
 * else 1). *table is 0 when a table on the way is missing: nothing maps
 * va, and *level is where the walk stopped. */
static void find_leaf(const struct pmap *pm, uint64_t va, uint64_t *table, int *level)
{
    const struct pl_kernel *k = pm->k;
    uint64_t t = pm->root;
    int l = k->levels;
    for (; l > 1; l--) {
        uint64_t e = table_ptr(k, t)[pte_index(va, l)];
        if (huge_leaf(e, l))
            break;
        if (!(e & PTE_P)) {
            t = 0;
            break;
        }
        t = e & PTE_ADDR_MASK;
    }
    *table = t;
    *level = l;
}

void pmap_lookup(const struct pmap *pm, uint64_t va, struct pmap_page *out)
{
    uint64_t table;
    int level;
    find_leaf(pm, va, &table, &level);
    pmap_decode(table ? table_ptr(pm->k, table)[pte_index(va, level)] : 0, level, out);
    if (out->huge)
        out->pa += va & (entry_span(level) - 1) & ~(PL_FRAME_SIZE - 1);
}

bool pmap_huge_room(const struct pmap *pm, uint64_t va)
{
    uint64_t table;
    int level;
    find_leaf(pm, va, &table, &level);
    return !table;
}

/* Replaces the 2M leaf at index of the PD table pd (mapping va) by a new
 * page table of 512 4K leaves: the same frames, rights, key, A and D and
 * memory type. Each 4K leaf keeps the reference and map count the 2M leaf
 * held on its frame, so only entries change. A change of page size is
 * made as the SDM asks: the old leaf loses P and is invalidated before the
 * new entry is written, so no TLB ever holds a 2M and a 4K translation of
 * one address. 0, or PL_ENOMEM (no frame for the table; nothing changed). */
static int split_leaf(struct pmap *pm, uint64_t pd, unsigned index, uint64_t va)
{
    struct pl_kernel *k = pm->k;
    uint64_t e = table_ptr(k, pd)[index], pt;
    int rc = alloc_table(k, PL_FRAME_PT, &pt);
    if (rc < 0)
        return rc;
    uint64_t pa = e & PTE_ADDR_MASK & ~(entry_span(HUGE_LEVEL) - 1);
    uint64_t bits = e & ~(PTE_ADDR_MASK | PTE_PS);
    if (e & PTE_PATLG)
        bits |= PTE_PAT4K;
    /* the table is not linked yet: no TLB can know its entries */
    for (unsigned i = 0; i < 512; i++)
        store(k, pm->pid, pt, i, 1, va + i * PL_FRAME_SIZE, (pa + i * PL_FRAME_SIZE) | bits, PL_WHY_SPLIT, NULL);
    if (e & PTE_P) {
        struct flush fl;
        flush_begin(&fl, pm);
        store(k, pm->pid, pd, index, HUGE_LEVEL, va, e & ~PTE_P, PL_WHY_SPLIT, &fl);
        flush_commit(&fl);
    }
    store(k, pm->pid, pd, index, HUGE_LEVEL, va, pt | TABLE_LINK, PL_WHY_SPLIT, NULL);
    pm->pt_pages++;
    k->stats.pt_pages++;
    k->stats.thp_split++;
    return 0;
}

int pmap_split(struct pmap *pm, uint64_t va)
{
    uint64_t table;
    int level;
    find_leaf(pm, va, &table, &level);
    if (!table || level != HUGE_LEVEL)
        return 0;
    return split_leaf(pm, table, pte_index(va, level), va & ~(entry_span(level) - 1));
}

int pmap_split_edges(struct pmap *pm, uint64_t start, uint64_t end)
{
    uint64_t huge = entry_span(HUGE_LEVEL);
    int rc = start % huge ? pmap_split(pm, start) : 0;
    if (rc == 0 && end % huge)
        rc = pmap_split(pm, end);
    return rc;
}

int pmap_enter(struct pmap *pm, uint64_t va, uint64_t pa, unsigned prot, unsigned why)
{
    return pmap_enter_key(pm, va, pa, prot, 0, why);
}

/* Maps va to pa with a leaf at level (1, or 2 for a 2M page) carrying
 * prot, pkey and the memory-type bits mt, replacing what was there: at
 * level 2 nothing, or a 2M leaf. 0 or PL_ENOMEM. */
static int enter(struct pmap *pm, uint64_t va, int level, uint64_t pa, unsigned prot, unsigned pkey, uint64_t mt,
                 unsigned why)
{
    assert(va < pm->k->user_top && va % entry_span(level) == 0 && pa % entry_span(level) == 0);
    uint64_t table;
    int rc = table_for_leaf(pm, va, level, &table);
    if (rc < 0)
        return rc;
    unsigned index = pte_index(va, level);
    uint64_t cur = table_ptr(pm->k, table)[index];
    assert((level == 1 || !cur || huge_leaf(cur, level)) && "a 2M leaf over a page table");
    struct pmap_page old;
    pmap_decode(cur, level, &old);
    bool same = old.mapped && old.pa == pa;
    if (!same)
        take_leaf_frames(pm->k, pa, level);
    /* The same frame keeps its accessed and dirty state: a change of
     * rights alone (COW reuse) is then an upgrade that needs no flush. */
    uint64_t keep = same ? cur & (PTE_A | PTE_D) : 0;
    struct flush fl;
    flush_begin(&fl, pm);
    store(pm->k, pm->pid, table, index, level, va, user_leaf(pm->k, pa, prot, pkey, level) | mt | keep, why, &fl);
    if (old.swapped) {
        swap_slot_put(pm->k, old.slot);
        pm->swapped--;
    }
    if (!old.mapped)
        pm->resident += leaf_frames(level);
    else if (!same)
        release_leaf_frames(&fl, old.pa, level);
    flush_commit(&fl);
    return 0;
}

int pmap_enter_key(struct pmap *pm, uint64_t va, uint64_t pa, unsigned prot, unsigned pkey, unsigned why)
{
    return enter(pm, va, 1, pa, prot, pkey, 0, why);
}

int pmap_enter_huge(struct pmap *pm, uint64_t va, uint64_t pa, unsigned prot, unsigned pkey, unsigned why)
{
    return enter(pm, va, HUGE_LEVEL, pa, prot, pkey, 0, why);
}

int pmap_memtype_bits(const struct pl_kernel *k, unsigned memtype, uint64_t *bits)
{
    uint64_t pat = pl_cpu_regs(kcpu(k))->pat;
    for (unsigned i = 0; i < 8; i++)
        if (((pat >> (8 * i)) & 0xFF) == memtype) {
            *bits = (i & 4 ? PTE_PAT4K : 0) | (i & 2 ? PTE_PCD : 0) | (i & 1 ? PTE_PWT : 0);
            return 0;
        }
    return PL_EINVAL;
}

unsigned pmap_leaf_memtype(const struct pl_kernel *k, uint64_t entry, int level)
{
    return (unsigned)(pl_cpu_regs(kcpu(k))->pat >> (8 * pte_pat_index(entry, level))) & 0xFF;
}

int pmap_enter_memtype(struct pmap *pm, uint64_t va, uint64_t pa, unsigned prot, unsigned pkey, unsigned memtype,
                       unsigned why)
{
    uint64_t mt;
    if (pmap_memtype_bits(pm->k, memtype, &mt) < 0)
        return PL_EINVAL;
    return enter(pm, va, 1, pa, prot, pkey, mt, why);
}

/* The kernel-half PT page holding va's leaf; tables are created (the
 * kernel's own frames, never freed) when create is set; 0 when absent. */
static int kernel_leaf_table(struct pl_kernel *k, uint64_t va, bool create, uint64_t *table)
{
    uint64_t t = k->kernel_root;
    for (int level = k->levels; level > 1; level--) {
        uint64_t e = table_ptr(k, t)[pte_index(va, level)];
        if (e & PTE_P) {
            assert(!pte_is_leaf(e, level) && "ioremap area overlaps a large kernel page");
            t = e & PTE_ADDR_MASK;
            continue;
        }
        if (!create) {
            *table = 0;
            return 0;
        }
        uint64_t frames = 0;
        int rc = ensure_table(k, 0, t, pte_index(va, level), level, va & ~(entry_span(level) - 1), KERNEL_LINK, &t,
                              &frames);
        if (rc < 0)
            return rc;
        k->own_frames += frames;
    }
    *table = t;
    return 0;
}

int pmap_kernel_enter(struct pl_kernel *k, uint64_t va, uint64_t pa, unsigned memtype, unsigned why)
{
    assert(va >= k->user_top && va % PL_FRAME_SIZE == 0 && pa % PL_FRAME_SIZE == 0);
    uint64_t mt, table;
    if (pmap_memtype_bits(k, memtype, &mt) < 0)
        return PL_EINVAL;
    int rc = kernel_leaf_table(k, va, true, &table);
    if (rc < 0)
        return rc;
    /* Global where the CPUs have PGE: one INVLPG then drops it from every
     * PCID when it goes (pmap_kernel_remove). */
    uint64_t g = pl_cpu_regs(kcpu(k))->cr4 & PL_CR4_PGE ? PTE_G : 0;
    assert(!(table_ptr(k, table)[pte_index(va, 1)] & PTE_P) && "ioremap over a mapped kernel page");
    store(k, 0, table, pte_index(va, 1), 1, va, pa | PTE_P | PTE_RW | PTE_XD | PTE_A | PTE_D | g | mt, why, NULL);
    return 0;
}

void pmap_kernel_remove(struct pl_kernel *k, uint64_t va, uint64_t len, unsigned why)
{
    struct pl_cpu *cpu = kcpu(k);
    bool global = pl_cpu_regs(cpu)->cr4 & PL_CR4_PGE;
    unsigned cpl = pl_cpu_regs(cpu)->cpl;
    pl_cpu_set_cpl(cpu, 0);
    for (uint64_t a = va; a - va < len; a += PL_FRAME_SIZE) {
        uint64_t table;
        kernel_leaf_table(k, a, false, &table);
        if (!table || !(table_ptr(k, table)[pte_index(a, 1)] & PTE_P))
            continue;
        store(k, 0, table, pte_index(a, 1), 1, a, 0, why, NULL);
        if (global) {
            pl_cpu_invlpg(cpu, a);
            k->stats.tlb_flush_pages++;
        }
    }
    if (!global) {
        /* Non-global kernel entries may sit under every PCID. */
        if (pl_cpu_regs(cpu)->cr4 & PL_CR4_PCIDE)
            pl_cpu_invpcid(cpu, 2, 0, 0);
        else
            pl_cpu_write_cr3(cpu, pl_cpu_regs(cpu)->cr3);
        k->stats.tlb_flush_full++;
    }
    pl_cpu_set_cpl(cpu, cpl);
    /* every other CPU may hold them: one round that flushes everything */
    shootdown_wait(k, shootdown_send(k, NULL, NULL, 0, true, false));
}

uint64_t pmap_kernel_entry(const struct pl_kernel *k, uint64_t va)
{
    uint64_t table;
    kernel_leaf_table((struct pl_kernel *)k, va, false, &table);
    return table ? table_ptr(k, table)[pte_index(va, 1)] : 0;
}

/* fork: the leaf e at index i of src's table stable (level 1, or 2 for a
 * 2M leaf, which stays one), into dst's table dtable. */
static void copy_leaf(struct pmap *dst, struct pmap *src, uint64_t dtable, uint64_t stable, unsigned i, int level,
                      uint64_t va, uint64_t e, bool shared, struct flush *fl)
{
    struct pl_kernel *k = src->k;
    struct pmap_page pg;
    pmap_decode(e, level, &pg);
    if (pg.swapped) {
        swap_slot_dup(k, pg.slot);
        store(k, dst->pid, dtable, i, level, va, e, PL_WHY_FORK_COPY, NULL);
        dst->swapped++;
        return;
    }
    if (!pg.mapped)
        return;
    /* The child has not used the page yet; a shared page's dirt is
     * the parent's to report (Linux's copy_present_pte does the same). */
    uint64_t child = e & ~(shared ? PTE_A | PTE_D : PTE_A);
    if (!shared && (e & PTE_RW)) {
        store(k, src->pid, stable, i, level, va, e & ~PTE_RW, PL_WHY_FORK_PROTECT, fl);
        child &= ~PTE_RW;
    }
    take_leaf_frames(k, pg.pa, level);
    store(k, dst->pid, dtable, i, level, va, child, PL_WHY_FORK_COPY, NULL);
    dst->resident += leaf_frames(level);
}

/* fork: the entries of src's table at level (mapping from base) within
 * [start, end), into dst's table. */
static int copy_range(struct pmap *dst, struct pmap *src, uint64_t dtable, uint64_t stable, int level, uint64_t base,
                      uint64_t start, uint64_t end, bool shared, struct flush *fl)
{
    struct pl_kernel *k = src->k;
    uint64_t span = entry_span(level);
    unsigned first, last;
    entries_in_range(level, base, start, end, &first, &last);
    for (unsigned i = first; i <= last; i++) {
        uint64_t e = table_ptr(k, stable)[i];
        uint64_t va = base + i * span;
        if (level == 1 || huge_leaf(e, level)) {
            copy_leaf(dst, src, dtable, stable, i, level, va, e, shared, fl);
            continue;
        }
        if (!(e & PTE_P))
            continue;
        uint64_t dchild;
        int rc = ensure_table(k, dst->pid, dtable, i, level, va, TABLE_LINK, &dchild, &dst->pt_pages);
        if (rc < 0)
            return rc;
        rc = copy_range(dst, src, dchild, e & PTE_ADDR_MASK, level - 1, va, start, end, shared, fl);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pmap_fork_copy(struct pmap *dst, struct pmap *src, uint64_t start, uint64_t end, bool shared)
{
    uint64_t top = src->k->user_top;
    if (end > top)
        end = top;
    if (start >= end)
        return 0;
    struct flush fl;
    flush_begin(&fl, src);
    uint64_t tables_before = dst->pt_pages;
    int rc = copy_range(dst, src, dst->root, src->root, src->k->levels, 0, start, end, shared, &fl);
    src->k->stats.pt_pages += dst->pt_pages - tables_before;
    flush_commit(&fl);
    return rc;
}

static void foreach_level(const struct pmap *pm, uint64_t table, int level, uint64_t base, pl_pte_visit_fn *leaf_fn,
                          pmap_table_fn *table_fn, void *ctx, bool swap)
{
    const uint64_t *t = table_ptr(pm->k, table);
    if (!t)
        return;
    unsigned last = level == pm->k->levels ? 255 : 511;
    for (unsigned i = 0; i <= last; i++) {
        uint64_t e = t[i], va = base + i * entry_span(level);
        if (level == 1 || huge_leaf(e, level)) {
            struct pmap_page pg;
            pmap_decode(e, level, &pg);
            if ((swap ? pg.swapped : pg.mapped) && leaf_fn)
                leaf_fn(ctx, va, level, table + 8 * i, e);
        } else if (e & PTE_P) {
            if (table_fn)
                table_fn(ctx, e & PTE_ADDR_MASK, level - 1);
            foreach_level(pm, e & PTE_ADDR_MASK, level - 1, va, leaf_fn, table_fn, ctx, swap);
        }
    }
}

void pmap_foreach(const struct pmap *pm, pl_pte_visit_fn *fn, void *ctx)
{
    foreach_level(pm, pm->root, pm->k->levels, 0, fn, NULL, ctx, false);
}

void pmap_foreach_swap(const struct pmap *pm, pl_pte_visit_fn *fn, void *ctx)
{
    foreach_level(pm, pm->root, pm->k->levels, 0, fn, NULL, ctx, true);
}

/* Replaces the present 4K leaf at va (split out of any 2M leaf) by
 * (old & keep) | set, and drops the old frame's mapping once every CPU has
 * let go of it. Returns the old entry. */
static uint64_t replace_present_leaf(struct pmap *pm, uint64_t va, uint64_t keep, uint64_t set, unsigned why)
{
    uint64_t table;
    int level;
    find_leaf(pm, va, &table, &level);
    assert(table && level == 1 && "a page not split out of its 2M leaf");
    unsigned index = pte_index(va, 1);
    uint64_t old = table_ptr(pm->k, table)[index];
    assert(old & PTE_P);
    struct flush fl;
    flush_begin(&fl, pm);
    store(pm->k, pm->pid, table, index, 1, va, (old & keep) | set, why, &fl);
    flush_release(&fl, old & PTE_ADDR_MASK);
    flush_commit(&fl);
    return old;
}

uint64_t pmap_swap_out(struct pmap *pm, uint64_t va, uint64_t slot)
{
    assert(slot <= SWAP_SLOT_MASK);
    pm->resident--;
    pm->swapped++;
    return replace_present_leaf(pm, va, 0, PTE_SW_SWAP | slot << SWAP_SLOT_SHIFT, PL_WHY_SWAP_OUT);
}

void pmap_move(struct pmap *pm, uint64_t va, uint64_t new_pa)
{
    take_mapping(pm->k, new_pa);
    replace_present_leaf(pm, va, ~PTE_ADDR_MASK, new_pa, PL_WHY_MIGRATE);
}

unsigned pmap_test_young(struct pmap *pm, uint64_t va, bool clear, bool skip_invalidate)
{
    uint64_t table;
    int level;
    find_leaf(pm, va, &table, &level);
    if (!table)
        return 0;
    unsigned index = pte_index(va, level);
    uint64_t e = table_ptr(pm->k, table)[index];
    if (!(e & PTE_P))
        return 0;
    unsigned r = (e & PTE_A ? PMAP_YOUNG : 0) | (e & PTE_D ? PMAP_DIRTY : 0);
    if (clear && (e & PTE_A)) {
        /* Clearing A lowers the entry: the SDM wants the TLB told, or the
         * cached translation keeps A set and the CPU never writes it again.
         * A 2M leaf has one A bit for its 512 frames. */
        struct flush fl;
        flush_begin(&fl, pm);
        store(pm->k, pm->pid, table, index, level, va & ~(entry_span(level) - 1), e & ~PTE_A, PL_WHY_AGE,
              skip_invalidate ? NULL : &fl);
        flush_commit(&fl);
    }
    return r;
}

void pmap_foreach_table(const struct pmap *pm, pmap_table_fn *fn, void *ctx)
{
    foreach_level(pm, pm->root, pm->k->levels, 0, NULL, fn, ctx, false);
}
