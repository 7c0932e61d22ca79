/* The kernel against a reference model: thousands of random operation
 * sequences (spawn, fork, exit, exec, mmap of private and shared anonymous
 * memory and of shm objects, fixed or hinted, munmap, mprotect, reads,
 * writes and fetches with and without signal handlers, shm create and
 * release, bad system calls, accesses to kernel and non-canonical
 * addresses, and all of these under injected frame-allocation failures)
 * over several processes and several machines (4- and 5-level, with and
 * without PCIDs, tiny TLBs, and transparent huge pages: then a sixth
 * window of two aligned 2 MiB takes mmaps of whole 2 MiB ranges and long
 * runs, and munmaps and mprotects of whole ranges and across their edges,
 * so that 2M leaves are mapped, split, forked and copied on write).
 *
 * The model keeps, per process, each page of a few address windows: mapped
 * or not, its rights, private or shared, its object and page in it, and its
 * private bytes; objects keep their bytes. After every operation:
 *   - pl_kernel_check passes;
 *   - the result, signal count, handler calls, state and kill info are the
 *     model's (faults and kills exactly when predicted);
 *   - every byte read is the model's (nothing lost, nothing leaked: each
 *     process writes a pattern naming itself);
 *   - no TLB or paging-structure-cache entry of a live address space is
 *     staler than the SDM allows (same frame and page size, no more
 *     rights, D only if D);
 *   - the live shm objects are the model's.
 * Every few operations, and at the end of each sequence, every page of
 * every process is compared byte for byte with the model through the page
 * tables (without faulting anything in), and every region with the model.
 * At the end all processes exit and the kernel must hold only its own
 * frames.
 *
 * A failure prints its machine, seed, operation and the last operations.
 * Environment: PTELAB_PROPERTY_SEED=<seed> runs that one sequence (with
 * --filter 'kernel_property/<test>' for its machine); PTELAB_PROPERTY_SEQS
 * sets the sequences per machine; PTELAB_PROPERTY_TRACE prints every
 * operation; PTELAB_PROPERTY_STATS prints each sequence's kernel counters. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pte.h"
#include "os/os.h"
#include "ptelab/cpu.h"
#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/physmem.h"
#include "ptelab/proc.h"
#include "ptelab/tlb.h"

/* Of the shared fixture only PG and the leak check: this program boots its
 * own machines. */
#define OS_FIXTURE_HOST_ONLY
#include "os_fixture.h"

/* PROT_WRITE alone once hung the kernel (test_syscall.c
 * mprotect_write_only_on_a_cow_page, test_fault.c
 * read_of_a_write_only_private_view); -DPROPERTY_WRITE_ONLY=0 leaves it out
 * should it come back. */
#ifndef PROPERTY_WRITE_ONLY
#define PROPERTY_WRITE_ONLY 1
#endif

#define NWIN 5            /* the windows of every machine */
#define WPAGES 32
#define HUGE_PAGES 512    /* 4 KiB pages of a 2 MiB page */
#define HUGE_WPAGES 1024  /* a sixth window with huge pages: two aligned 2 MiB */
#define NPAGES (NWIN * WPAGES + HUGE_WPAGES)
#define MAXP 6
#define MAXOBJ 256
#define MAX_ACCESS (3 * PG)
#define DEEP_EVERY 8

struct machine_kind {
    const char *name;
    unsigned levels;
    bool pcid;
    bool tiny_tlb;
    unsigned ops; /* per sequence */
    bool huge;    /* huge_anon, 32 MiB of RAM and the huge window */
};

struct mobj {
    bool live, held;
    uint64_t npages;
    uint8_t *bytes;
    struct pl_shm *kobj; /* the kernel's object (for anonymous shared memory: found after mmap) */
    uint64_t mapped;     /* pages of regions mapping it, in all processes */
};

struct mpage {
    bool mapped, shared;
    uint8_t prot;
    int obj; /* -1: anonymous private */
    uint64_t objpg;
    uint8_t *priv; /* private bytes; NULL: zero, or the object's page until written */
};

enum handler_kind { H_NONE, H_ABANDON, H_FIX };

struct mproc {
    bool used;
    struct pl_proc *p;
    int pid;
    enum handler_kind handler;
    uint64_t signals;
    struct mpage pg[NPAGES];
};

struct world {
    const struct machine_kind *mk;
    uint64_t seed, rng;
    int op;
    struct pl_machine *m;
    struct pl_kernel *k;
    int nwin, npages;                       /* windows and model pages in use */
    uint64_t win[NWIN + 1];                 /* window w: wpages[w] pages from win[w], */
    int wpages[NWIN + 1], wfirst[NWIN + 1]; /* model pages wfirst[w] ... */
    int huge_win;                           /* the huge window, -1 without */
    struct mproc procs[MAXP];
    struct mobj objs[MAXOBJ];
    int nobjs;
    struct pl_proc *ended[4096]; /* exited or killed, not reaped yet */
    int nended;
    long handler_calls; /* by the kernel */
    char log[16][160];  /* the last operations, for failure reports */
    int nlog;
    bool trace; /* PTELAB_PROPERTY_TRACE: every operation to stderr */
    long ok_accesses;
};

static struct world W;
static const uint8_t zero_page[4096];

/* ---- reporting ---- */

static void note(const char *fmt, ...)
{
    char *line = W.log[W.nlog++ % 16];
    int n = snprintf(line, 160, "#%d ", W.op);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, (size_t)(160 - n), fmt, ap);
    va_end(ap);
    if (W.trace)
        fprintf(stderr, "%s\n", line);
}

static void dump_log(void)
{
    fprintf(stderr, "property failure: machine %s, PTELAB_PROPERTY_SEED=%llu, operation %d; last operations:\n",
            W.mk->name, (unsigned long long)W.seed, W.op);
    int first = W.nlog > 16 ? W.nlog - 16 : 0;
    for (int i = first; i < W.nlog; i++)
        fprintf(stderr, "  %s\n", W.log[i % 16]);
}

#define CHECK(cond, ...)                                                                                  \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            dump_log();                                                                                   \
            cr_assert_fail("[%s seed=%llu op=%d] " __VA_ARGS__);                                                \
        }                                                                                                 \
    } while (0)
#define CTX W.mk->name, (unsigned long long)W.seed, W.op

/* ---- randomness ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n) { return n ? splitmix(&W.rng) % n : 0; }
static bool chance(unsigned percent) { return rnd(100) < percent; }

/* ---- the address windows ---- */

/* The window of model page i. */
static int window_of(int i)
{
    int w = 0;
    while (i >= W.wfirst[w] + W.wpages[w])
        w++;
    return w;
}

static uint64_t page_va(int i)
{
    int w = window_of(i);
    return W.win[w] + (uint64_t)(i - W.wfirst[w]) * PG;
}

/* Model pages from i to the end of its window. */
static int room_from(int i)
{
    int w = window_of(i);
    return W.wfirst[w] + W.wpages[w] - i;
}

/* The model page of va, or -1 outside every window. */
static int page_index(uint64_t va)
{
    for (int w = 0; w < W.nwin; w++)
        if (va >= W.win[w] && va - W.win[w] < (uint64_t)W.wpages[w] * PG)
            return W.wfirst[w] + (int)((va - W.win[w]) / PG);
    return -1;
}

static bool canonical(uint64_t va)
{
    unsigned bits = W.mk->levels == 5 ? 57 : 48;
    uint64_t top = va >> (bits - 1);
    return top == 0 || top == (UINT64_MAX >> (bits - 1));
}

/* ---- the model ---- */

static struct mproc *proc_of(const struct pl_proc *p)
{
    for (int i = 0; i < MAXP; i++)
        if (W.procs[i].used && W.procs[i].p == p)
            return &W.procs[i];
    return NULL;
}

static void obj_maybe_dies(int o)
{
    struct mobj *ob = &W.objs[o];
    if (ob->live && !ob->held && ob->mapped == 0) {
        ob->live = false;
        free(ob->bytes);
        ob->bytes = NULL;
    }
}

static int obj_new(uint64_t npages, bool held)
{
    CHECK(W.nobjs < MAXOBJ, "too many objects for the model", CTX);
    int o = W.nobjs++;
    W.objs[o] = (struct mobj){.live = true, .held = held, .npages = npages};
    W.objs[o].bytes = calloc(npages, PG);
    cr_assert_not_null(W.objs[o].bytes);
    return o;
}

static void page_unmap(struct mpage *pg)
{
    if (!pg->mapped)
        return;
    free(pg->priv);
    int o = pg->obj;
    *pg = (struct mpage){.obj = -1};
    if (o >= 0) {
        W.objs[o].mapped--;
        obj_maybe_dies(o);
    }
}

static void proc_clear(struct mproc *mp)
{
    for (int i = 0; i < W.npages; i++)
        page_unmap(&mp->pg[i]);
}

/* What the process reads at page i. */
static const uint8_t *page_bytes(const struct mpage *pg)
{
    if (pg->priv)
        return pg->priv;
    if (pg->obj >= 0)
        return W.objs[pg->obj].bytes + pg->objpg * PG;
    return zero_page;
}

static uint8_t *page_bytes_for_write(struct mpage *pg)
{
    if (pg->shared)
        return W.objs[pg->obj].bytes + pg->objpg * PG;
    if (!pg->priv) {
        uint8_t *copy = malloc(PG);
        cr_assert_not_null(copy);
        memcpy(copy, page_bytes(pg), PG);
        pg->priv = copy;
    }
    return pg->priv;
}

static bool allows(unsigned prot, unsigned kind)
{
    if (kind == PL_WRITE)
        return prot & PL_PROT_WRITE;
    if (kind == PL_FETCH)
        return prot & PL_PROT_EXEC;
    return prot != PL_PROT_NONE;
}

static unsigned random_prot(void)
{
    static const unsigned prots[] = {
        PL_PROT_READ | PL_PROT_WRITE, PL_PROT_READ | PL_PROT_WRITE, PL_PROT_READ | PL_PROT_WRITE,
        PL_PROT_READ,                 PL_PROT_READ,                 PL_PROT_NONE,
        PL_PROT_READ | PL_PROT_EXEC,  PL_PROT_EXEC,                 PL_PROT_READ | PL_PROT_WRITE | PL_PROT_EXEC,
        PL_PROT_WRITE | PL_PROT_EXEC,
#if PROPERTY_WRITE_ONLY
        PL_PROT_WRITE,
#endif
    };
    return prots[rnd(sizeof prots / sizeof prots[0])];
}

/* ---- processes ---- */

static struct mproc *free_slot(void)
{
    for (int i = 0; i < MAXP; i++)
        if (!W.procs[i].used)
            return &W.procs[i];
    return NULL;
}

static int live_count(void)
{
    int n = 0;
    for (int i = 0; i < MAXP; i++)
        n += W.procs[i].used;
    return n;
}

static struct mproc *random_proc(void)
{
    int n = live_count();
    if (n == 0)
        return NULL;
    int pick = (int)rnd((uint64_t)n);
    for (int i = 0; i < MAXP; i++)
        if (W.procs[i].used && pick-- == 0)
            return &W.procs[i];
    return NULL;
}

static void remember_ended(struct pl_proc *p)
{
    CHECK(W.nended < 4096, "too many unreaped processes", CTX);
    W.ended[W.nended++] = p;
}

/* The model side of a death (exit or kill). */
static void proc_gone(struct mproc *mp)
{
    proc_clear(mp);
    remember_ended(mp->p);
    mp->used = false;
    mp->p = NULL;
}

static enum pl_sig_action on_signal(struct pl_proc *p, const struct pl_siginfo *si, void *ctx)
{
    (void)ctx;
    W.handler_calls++;
    struct mproc *mp = proc_of(p);
    if (!mp || mp->handler == H_NONE) {
        dump_log();
        cr_assert_fail("[%s seed=%llu op=%d] handler ran for pid %d, which has none in the model", CTX, pl_proc_pid(p));
    }
    if (mp->handler == H_ABANDON || si->code != PL_SEGV_ACCERR)
        return PL_SIG_ABANDON;
    int i = page_index(si->addr);
    if (i < 0 || !mp->pg[i].mapped)
        return PL_SIG_ABANDON;
    unsigned need = si->kind == PL_WRITE ? PL_PROT_READ | PL_PROT_WRITE
                    : si->kind == PL_FETCH ? PL_PROT_READ | PL_PROT_EXEC
                                           : PL_PROT_READ;
    int rc = pl_sys_mprotect(p, si->addr & ~(PG - 1), PG, mp->pg[i].prot | need);
    if (rc != 0) {
        dump_log();
        cr_assert_fail("[%s seed=%llu op=%d] the handler's mprotect failed: %d", CTX, rc);
    }
    return PL_SIG_RETRY;
}

static void set_handler(struct mproc *mp, enum handler_kind h)
{
    mp->handler = h;
    pl_proc_set_signal_handler(mp->p, h == H_NONE ? NULL : on_signal, NULL);
}

/* ---- checks ---- */

static unsigned kernel_objects(void)
{
    unsigned n = 0;
    for (const struct pl_shm *s = W.k->shm_list; s; s = s->next)
        n++;
    return n;
}

static unsigned model_objects(void)
{
    unsigned n = 0;
    for (int o = 0; o < W.nobjs; o++)
        n += W.objs[o].live;
    return n;
}

/* The leaf for va in the tables under root, and the bytes it maps (4 KiB,
 * or 2 MiB for a PDE with PS); 0 when not present or a table is missing. */
static uint64_t leaf_at(uint64_t root, uint64_t va, uint64_t *size)
{
    uint64_t table = root;
    *size = PG;
    for (int l = W.k->levels; l > 1; l--) {
        uint64_t e = pl_physmem_read64(W.k->mem, table + 8 * pte_index(va, l));
        if (!(e & PTE_P))
            return 0;
        if (l == 2 && (e & PTE_PS)) {
            *size = UINT64_C(1) << 21;
            return e;
        }
        table = e & PTE_ADDR_MASK;
    }
    return pl_physmem_read64(W.k->mem, table + 8 * pte_index(va, 1));
}

/* The raw entry at level for va in the tables under root; 0 when a table on
 * the way is missing. */
static uint64_t entry_at(uint64_t root, uint64_t va, int level)
{
    uint64_t table = root;
    for (int l = W.k->levels; l > level; l--) {
        uint64_t e = pl_physmem_read64(W.k->mem, table + 8 * pte_index(va, l));
        if (!(e & PTE_P))
            return 0;
        table = e & PTE_ADDR_MASK;
    }
    return pl_physmem_read64(W.k->mem, table + 8 * pte_index(va, level));
}

/* No cached translation of a live address space may point elsewhere than
 * its entry, map another page size (a split 2M leaf's translation is
 * gone), grant more, or claim a D bit the entry lacks; no cached walk step
 * may lead to another table than the tables do. Without PCIDs only the
 * loaded address space can have entries. */
static void check_tlb(void)
{
    struct pl_tlb *t = pl_cpu_tlb(kcpu(W.k));
    for (int s = 0; s < MAXP; s++) {
        struct mproc *mp = &W.procs[s];
        if (!mp->used || (!W.mk->pcid && W.k->this->mm != &mp->p->pmap))
            continue;
        uint16_t pcid = mp->p->pmap.pcid;
        uint64_t root = mp->p->pmap.root;
        for (int i = 0; i < W.npages; i++) {
            uint64_t va = page_va(i), size;
            uint64_t e = leaf_at(root, va, &size);
            uint64_t frame = (e & PTE_ADDR_MASK & ~(size - 1)) + (va & (size - 1));
            for (unsigned which = 0; which < PL_TLBS; which++) {
                struct pl_tlb_entry te;
                if (!pl_tlb_probe(t, which, va, pcid, &te))
                    continue;
                CHECK(e & PTE_P, "pid %d: TLB %u caches 0x%llx, whose entry 0x%llx is not present", CTX, mp->pid,
                      which, (unsigned long long)va, (unsigned long long)e);
                CHECK(UINT64_C(1) << te.page_shift == size, "pid %d: TLB %u caches 0x%llx as a page of 2^%u bytes, "
                      "the entry maps 0x%llx", CTX, mp->pid, which, (unsigned long long)va, te.page_shift,
                      (unsigned long long)size);
                CHECK(te.frame + (va & (size - 1)) == frame, "pid %d: TLB %u maps 0x%llx to 0x%llx, the entry to 0x%llx",
                      CTX, mp->pid, which, (unsigned long long)va, (unsigned long long)te.frame,
                      (unsigned long long)(e & PTE_ADDR_MASK));
                CHECK(!(te.rights & PL_RIGHT_W) || (e & PTE_RW), "pid %d: TLB %u lets 0x%llx be written, the entry not",
                      CTX, mp->pid, which, (unsigned long long)va);
                CHECK(!(te.rights & PL_RIGHT_X) || !(e & PTE_XD), "pid %d: TLB %u lets 0x%llx run, the entry not", CTX,
                      mp->pid, which, (unsigned long long)va);
                CHECK(!te.dirty || (e & PTE_D), "pid %d: TLB %u has D for 0x%llx, the entry not", CTX, mp->pid, which,
                      (unsigned long long)va);
            }
        }
        for (int w = 0; w < W.nwin; w++)
            for (uint64_t off = 0; off < (uint64_t)W.wpages[w] * PG; off += 16 * PG) {
                uint64_t va = W.win[w] + off;
                for (int level = 2; level <= W.k->levels; level++) {
                    uint64_t table;
                    if (!pl_tlb_psc_probe(t, (unsigned)level, va, pcid, &table, NULL))
                        continue;
                    uint64_t e = entry_at(root, va, level);
                    CHECK((e & PTE_P) && (e & PTE_ADDR_MASK) == table,
                          "pid %d: the level-%d walk cache leads 0x%llx to table 0x%llx, the entry is 0x%llx", CTX,
                          mp->pid, level, (unsigned long long)va, (unsigned long long)table, (unsigned long long)e);
                }
            }
    }
}

static void check_cheap(void)
{
    char msg[256];
    int rc = pl_kernel_check(W.k, msg, sizeof msg);
    CHECK(rc == 0, "kernel check: %s", CTX, msg);
    CHECK(kernel_objects() == model_objects(), "%u shm objects alive, the model has %u", CTX, kernel_objects(),
          model_objects());
    check_tlb();
}

struct leaf_list {
    size_t n;
    uint64_t va[NPAGES + 1], entry[NPAGES + 1];
};

/* Collects the leaves, a 2M leaf as the 512 4K leaves it stands for. */
static void collect(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct leaf_list *l = ctx;
    (void)entry_pa;
    uint64_t pages = level == 2 ? HUGE_PAGES : 1;
    uint64_t pa = entry & PTE_ADDR_MASK & ~(pages * PG - 1), bits = entry & ~(PTE_ADDR_MASK | PTE_PS);
    for (uint64_t i = 0; i < pages; i++) {
        if (l->n <= NPAGES) {
            l->va[l->n] = va + i * PG;
            l->entry[l->n] = (pa + i * PG) | bits;
        }
        l->n++;
    }
}

/* Every page of every process and object, byte for byte, read through the
 * page tables and the objects without faulting anything in; every region. */
static void check_deep(void)
{
    static uint8_t buf[4096];
    for (int s = 0; s < MAXP; s++) {
        struct mproc *mp = &W.procs[s];
        if (!mp->used)
            continue;
        CHECK(pl_proc_state(mp->p) == PL_PROC_RUNNING, "pid %d is not running", CTX, mp->pid);
        const struct pl_vma_set *vs = pl_proc_vmas(mp->p);
        uint64_t model_pages = 0;
        for (int i = 0; i < W.npages; i++) {
            const struct mpage *pg = &mp->pg[i];
            uint64_t va = page_va(i);
            const struct pl_vma *v = pl_vma_find(vs, va);
            CHECK(!v == !pg->mapped, "pid %d: 0x%llx is %s in the kernel, %s in the model", CTX, mp->pid,
                  (unsigned long long)va, v ? "mapped" : "unmapped", pg->mapped ? "mapped" : "unmapped");
            if (!v)
                continue;
            model_pages++;
            CHECK(v->prot == pg->prot, "pid %d: 0x%llx has prot %u, the model %u", CTX, mp->pid,
                  (unsigned long long)va, v->prot, pg->prot);
            CHECK(!!(v->flags & PL_MAP_SHARED) == pg->shared, "pid %d: 0x%llx shared differs", CTX, mp->pid,
                  (unsigned long long)va);
            if (pg->obj >= 0) {
                CHECK(v->object == W.objs[pg->obj].kobj, "pid %d: 0x%llx maps another object", CTX, mp->pid,
                      (unsigned long long)va);
                CHECK(v->offset + (va - v->start) / PG == pg->objpg, "pid %d: 0x%llx maps another page of its object",
                      CTX, mp->pid, (unsigned long long)va);
            } else {
                CHECK(v->object == NULL, "pid %d: 0x%llx has an object", CTX, mp->pid, (unsigned long long)va);
            }
        }
        /* regions outside the windows: none */
        uint64_t kernel_pages = 0;
        for (const struct pl_vma *v = pl_vma_first(vs); v; v = pl_vma_next(vs, v))
            kernel_pages += (v->end - v->start) / PG;
        CHECK(kernel_pages == model_pages, "pid %d: %llu pages in regions, the model has %llu", CTX, mp->pid,
              (unsigned long long)kernel_pages, (unsigned long long)model_pages);

        struct leaf_list l = {0};
        pl_proc_foreach_pte(mp->p, collect, &l);
        CHECK(l.n <= (size_t)W.npages, "pid %d: %zu leaves", CTX, mp->pid, l.n);
        CHECK(l.n == pl_proc_stats(mp->p)->resident, "pid %d: %zu leaves, resident says %llu", CTX, mp->pid, l.n,
              (unsigned long long)pl_proc_stats(mp->p)->resident);
        bool resident[NPAGES] = {false};
        for (size_t j = 0; j < l.n; j++) {
            int i = page_index(l.va[j]);
            CHECK(i >= 0 && mp->pg[i].mapped, "pid %d: a leaf at unmapped 0x%llx", CTX, mp->pid,
                  (unsigned long long)l.va[j]);
            resident[i] = true;
            const struct mpage *pg = &mp->pg[i];
            uint64_t pa = l.entry[j] & PTE_ADDR_MASK;
            if (pg->obj >= 0 && (pg->shared || !pg->priv)) {
                const struct pl_shm *ko = W.objs[pg->obj].kobj;
                CHECK(ko->pages[pg->objpg] == pa, "pid %d: 0x%llx should map its object's page", CTX, mp->pid,
                      (unsigned long long)l.va[j]);
            }
            if (l.entry[j] & PTE_RW)
                CHECK(pg->prot & PL_PROT_WRITE, "pid %d: 0x%llx writable without PROT_WRITE", CTX, mp->pid,
                      (unsigned long long)l.va[j]);
            pl_physmem_read(W.k->mem, pa, buf, PG);
            const uint8_t *want = page_bytes(pg);
            if (memcmp(buf, want, PG) != 0) {
                size_t b = 0;
                while (buf[b] == want[b])
                    b++;
                CHECK(false, "pid %d: 0x%llx byte %zu is 0x%02x, the model says 0x%02x", CTX, mp->pid,
                      (unsigned long long)l.va[j], b, buf[b], want[b]);
            }
        }
        for (int i = 0; i < W.npages; i++) {
            const struct mpage *pg = &mp->pg[i];
            if (pg->mapped && !resident[i] && !pg->shared)
                CHECK(pg->priv == NULL, "pid %d: 0x%llx has private bytes but no page: lost", CTX, mp->pid,
                      (unsigned long long)page_va(i));
        }
    }
    for (int o = 0; o < W.nobjs; o++) {
        const struct mobj *ob = &W.objs[o];
        if (!ob->live)
            continue;
        CHECK(ob->kobj && ob->kobj->npages == ob->npages, "object %d: size", CTX, o);
        for (uint64_t i = 0; i < ob->npages; i++) {
            const uint8_t *want = ob->bytes + i * PG;
            if (ob->kobj->pages[i]) {
                pl_physmem_read(W.k->mem, ob->kobj->pages[i], buf, PG);
                CHECK(memcmp(buf, want, PG) == 0, "object %d page %llu differs", CTX, o, (unsigned long long)i);
            } else {
                CHECK(memcmp(zero_page, want, PG) == 0, "object %d page %llu lost", CTX, o, (unsigned long long)i);
            }
        }
    }
}

/* ---- operations ---- */

static void op_spawn(bool oom_ok)
{
    struct mproc *mp = free_slot();
    if (!mp)
        return;
    struct pl_proc *p;
    int rc = pl_proc_spawn(W.k, &p);
    note("spawn -> %d", rc == 0 ? pl_proc_pid(p) : rc);
    if (oom_ok && rc == -ENOMEM)
        return;
    CHECK(rc == 0, "spawn: %d", CTX, rc);
    memset(mp, 0, sizeof *mp);
    mp->used = true;
    mp->p = p;
    mp->pid = pl_proc_pid(p);
    for (int i = 0; i < W.npages; i++)
        mp->pg[i].obj = -1;
    set_handler(mp, (enum handler_kind)rnd(3));
}

static void op_fork(struct mproc *parent, bool oom_ok)
{
    struct mproc *mp = free_slot();
    if (!mp)
        return;
    struct pl_proc *c;
    int rc = pl_proc_fork(parent->p, &c);
    note("fork %d -> %d", parent->pid, rc == 0 ? pl_proc_pid(c) : rc);
    if (oom_ok && rc == -ENOMEM)
        return;
    CHECK(rc == 0, "fork: %d", CTX, rc);
    *mp = *parent;
    mp->p = c;
    mp->pid = pl_proc_pid(c);
    mp->signals = 0;
    for (int i = 0; i < W.npages; i++) {
        struct mpage *pg = &mp->pg[i];
        if (pg->priv) {
            uint8_t *copy = malloc(PG);
            cr_assert_not_null(copy);
            memcpy(copy, pg->priv, PG);
            pg->priv = copy;
        }
        if (pg->mapped && pg->obj >= 0)
            W.objs[pg->obj].mapped++;
    }
}

static void op_exit(struct mproc *mp)
{
    note("exit %d", mp->pid);
    pl_proc_exit(mp->p, 0);
    CHECK(pl_proc_state(mp->p) == PL_PROC_EXITED, "exit: state %d", CTX, pl_proc_state(mp->p));
    proc_gone(mp);
}

static void op_exec(struct mproc *mp)
{
    note("exec %d", mp->pid);
    CHECK(pl_proc_exec(mp->p) == 0, "exec", CTX);
    proc_clear(mp);
}

static void op_reap(void)
{
    if (W.nended == 0)
        return;
    int i = (int)rnd((uint64_t)W.nended);
    note("reap %d", pl_proc_pid(W.ended[i]));
    int pid = pl_proc_pid(W.ended[i]);
    pl_proc_reap(W.ended[i]);
    W.ended[i] = W.ended[--W.nended];
    CHECK(pl_kernel_proc(W.k, pid) == NULL, "pid %d still in the table after reap", CTX, pid);
}

/* The lowest a >= hint such that n pages from a are free (pages outside
 * the windows are never mapped); 0 when the range would not lie in one
 * window (then the test maps with MAP_FIXED instead). */
static uint64_t predict_placement(const struct mproc *mp, uint64_t hint, uint64_t n)
{
    uint64_t a = hint;
    for (;;) {
        if (a + n * PG > pl_kernel_user_top(W.k))
            return 0;
        uint64_t clash = 0;
        for (uint64_t j = 0; j < n && !clash; j++) {
            int i = page_index(a + j * PG);
            if (i >= 0 && mp->pg[i].mapped)
                clash = a + j * PG;
        }
        if (!clash)
            break;
        a = clash + PG;
    }
    int first = page_index(a), last = page_index(a + (n - 1) * PG);
    if (first < 0 || last < 0 || window_of(first) != window_of(last))
        return 0;
    return a;
}

static int random_object(uint64_t min_pages)
{
    int candidates[MAXOBJ], n = 0;
    for (int o = 0; o < W.nobjs; o++)
        if (W.objs[o].live && W.objs[o].held && W.objs[o].kobj && W.objs[o].npages >= min_pages)
            candidates[n++] = o;
    return n ? candidates[rnd((uint64_t)n)] : -1;
}

/* Where in window w an mmap goes: pages [s, s + n) of it. In the huge
 * window often whole aligned 2 MiB, or a long run across them, so that
 * huge pages happen. */
static void mmap_extent(int w, uint64_t *s, uint64_t *n)
{
    uint64_t pages = (uint64_t)W.wpages[w];
    if (w == W.huge_win && chance(70)) {
        *s = chance(50) ? HUGE_PAGES * rnd(pages / HUGE_PAGES) : rnd(pages);
        *n = *s % HUGE_PAGES == 0 && chance(60) ? HUGE_PAGES * (1 + rnd((pages - *s) / HUGE_PAGES))
                                                : 1 + rnd(pages - *s);
        return;
    }
    *s = rnd(pages);
    *n = 1 + rnd(pages - *s < 16 ? pages - *s : 16);
}

static void op_mmap(struct mproc *mp)
{
    int w = W.huge_win >= 0 && chance(40) ? W.huge_win : (int)rnd((uint64_t)W.nwin);
    uint64_t s, n;
    mmap_extent(w, &s, &n);
    unsigned prot = random_prot();
    /* what backs it */
    int kind = (int)rnd(100);
    bool shared;
    int obj = -1;
    uint64_t objpg = 0;
    if (kind < 50) {
        shared = false;
    } else if (kind < 70) {
        shared = true; /* anonymous: an object of its own */
    } else {
        obj = random_object(n);
        if (obj < 0)
            return;
        shared = kind < 85;
        objpg = rnd(W.objs[obj].npages - n + 1);
    }
    unsigned flags = (shared ? PL_MAP_SHARED : PL_MAP_PRIVATE) | (obj < 0 ? PL_MAP_ANONYMOUS : 0);
    /* where: MAP_FIXED, or a hint (none, below the floor, in a window)
     * when the model can tell where it lands */
    uint64_t addr = W.win[w] + s * PG, expect = addr;
    bool hinted = false;
    if (chance(40)) {
        unsigned how = (unsigned)rnd(4);
        uint64_t hint = how == 0 ? 0 : how == 1 ? 0x1000 : addr - (how == 2 ? rnd(PG) : 0);
        uint64_t from = hint == 0 ? PL_MMAP_BASE
                        : hint < PL_MMAP_FLOOR ? PL_MMAP_FLOOR
                                               : (hint + PG - 1) & ~(PG - 1);
        uint64_t at = predict_placement(mp, from, n);
        if (at) {
            addr = hint;
            expect = at;
            hinted = true;
        }
    }
    if (!hinted)
        flags |= PL_MAP_FIXED;
    uint64_t got = 0;
    struct pl_shm *shm = obj >= 0 ? W.objs[obj].kobj : NULL;
    int rc = pl_sys_mmap(mp->p, addr, n * PG, prot, flags, shm, objpg * PG, &got);
    note("mmap %d 0x%llx %llu pages prot %u flags 0x%x obj %d@%llu -> %d 0x%llx", mp->pid, (unsigned long long)addr,
         (unsigned long long)n, prot, flags, obj, (unsigned long long)objpg, rc, (unsigned long long)got);
    CHECK(rc == 0, "mmap: %d", CTX, rc);
    CHECK(got == expect, "mmap placed at 0x%llx, the model expected 0x%llx", CTX, (unsigned long long)got,
          (unsigned long long)expect);
    if (shared && obj < 0) {
        obj = obj_new(n, false);
        const struct pl_vma *v = pl_vma_find(pl_proc_vmas(mp->p), got);
        CHECK(v && v->object, "anonymous shared mapping without an object", CTX);
        W.objs[obj].kobj = v->object;
        objpg = v->offset + (got - v->start) / PG;
        CHECK(objpg == 0, "a new anonymous object starts at page 0", CTX);
    }
    int first = page_index(got);
    for (uint64_t j = 0; j < n; j++) {
        struct mpage *pg = &mp->pg[first + (int)j];
        page_unmap(pg);
        *pg = (struct mpage){.mapped = true, .shared = shared, .prot = (uint8_t)prot, .obj = obj, .objpg = objpg + j};
        if (obj >= 0)
            W.objs[obj].mapped++;
    }
}

/* A random range in a window, often starting on a mapped page; in the
 * huge window often a whole aligned 2 MiB, or pages across the edge of
 * one. */
static void random_range(const struct mproc *mp, int *first, uint64_t *n)
{
    int i = (int)rnd((uint64_t)W.npages);
    if (chance(70)) {
        for (int tries = 0; tries < 8 && !mp->pg[i].mapped; tries++)
            i = (int)rnd((uint64_t)W.npages);
    }
    int w = window_of(i);
    if (w == W.huge_win && chance(40)) {
        int edge = W.wfirst[w] + HUGE_PAGES * (int)rnd(HUGE_WPAGES / HUGE_PAGES);
        if (chance(50)) {
            *first = edge;
            *n = HUGE_PAGES;
        } else {
            *first = edge + (edge > W.wfirst[w] ? -(int)rnd(8) : 0);
            *n = 1 + rnd(16);
        }
        return;
    }
    int room = room_from(i);
    *first = i;
    *n = 1 + rnd((uint64_t)(room < 6 ? room : 6));
}

static void op_munmap(struct mproc *mp)
{
    int first;
    uint64_t n;
    random_range(mp, &first, &n);
    uint64_t len = n * PG - (chance(20) ? rnd(PG - 1) : 0); /* unaligned lengths round up */
    int rc = pl_sys_munmap(mp->p, page_va(first), len);
    note("munmap %d 0x%llx %llu -> %d", mp->pid, (unsigned long long)page_va(first), (unsigned long long)len, rc);
    CHECK(rc == 0, "munmap: %d", CTX, rc);
    for (uint64_t j = 0; j < n; j++)
        page_unmap(&mp->pg[first + (int)j]);
}

static void op_mprotect(struct mproc *mp)
{
    int first;
    uint64_t n;
    random_range(mp, &first, &n);
    /* shorten to the mapped run most of the time, so that it succeeds */
    if (chance(75)) {
        uint64_t run = 0;
        while (run < n && mp->pg[first + (int)run].mapped)
            run++;
        if (run > 0)
            n = run;
    }
    unsigned prot = random_prot();
    bool all_mapped = true;
    for (uint64_t j = 0; j < n; j++)
        all_mapped &= mp->pg[first + (int)j].mapped;
    int rc = pl_sys_mprotect(mp->p, page_va(first), n * PG, prot);
    note("mprotect %d 0x%llx %llu pages prot %u -> %d", mp->pid, (unsigned long long)page_va(first),
         (unsigned long long)n, prot, rc);
    CHECK(rc == (all_mapped ? 0 : -ENOMEM), "mprotect: %d", CTX, rc);
    if (all_mapped)
        for (uint64_t j = 0; j < n; j++)
            mp->pg[first + (int)j].prot = (uint8_t)prot;
}

static void fill_pattern(uint8_t *buf, size_t n, int pid)
{
    for (size_t i = 0; i < n; i += 2) {
        buf[i] = (uint8_t)(0x80 | (pid & 0x7F)); /* the writer */
        if (i + 1 < n)
            buf[i + 1] = (uint8_t)(W.op + i / 2);
    }
}

/* The model's run of an access of len bytes at va of the given kind:
 * transfers page by page like the kernel, raising signals where the model
 * says, running the model's handler, stopping at a kill or an abandon.
 * oom_at: the address where the kernel reported running out of frames (0:
 * none). Returns the bytes transferred before a failure (len on success),
 * and what ended it. */
struct outcome {
    size_t done;
    bool failed, killed;
    uint8_t code;
    uint64_t addr;
    long handler_calls;
};

static struct outcome model_access(struct mproc *mp, uint64_t va, size_t len, unsigned kind, uint8_t *data,
                                   uint64_t oom_at)
{
    struct outcome out = {0};
    size_t pos = 0;
    while (pos < len) {
        uint64_t cur = va + pos;
        size_t n = (size_t)(PG - (cur & (PG - 1)));
        if (n > len - pos)
            n = len - pos;
        for (;;) {
            int i = canonical(cur) ? page_index(cur) : -1;
            struct mpage *pg = i >= 0 ? &mp->pg[i] : NULL;
            uint8_t code;
            if (!canonical(cur))
                code = PL_SEGV_GP;
            else if (!pg || !pg->mapped)
                code = PL_SEGV_MAPERR;
            else if (!allows(pg->prot, kind))
                code = PL_SEGV_ACCERR;
            else if (oom_at && cur == oom_at)
                code = PL_SIG_OOM;
            else
                break;
            mp->signals++;
            out.failed = true;
            out.code = code;
            out.addr = cur;
            if (code == PL_SIG_OOM || mp->handler == H_NONE) {
                out.killed = true;
                return out;
            }
            out.handler_calls++;
            if (mp->handler == H_FIX && code == PL_SEGV_ACCERR) {
                unsigned need = kind == PL_WRITE ? PL_PROT_READ | PL_PROT_WRITE
                                : kind == PL_FETCH ? PL_PROT_READ | PL_PROT_EXEC
                                                   : PL_PROT_READ;
                pg->prot = (uint8_t)(pg->prot | need);
                out.failed = false;
                continue;
            }
            return out;
        }
        struct mpage *pg = &mp->pg[page_index(cur)];
        if (kind == PL_WRITE)
            memcpy(page_bytes_for_write(pg) + (cur & (PG - 1)), data + pos, n);
        else
            memcpy(data + pos, page_bytes(pg) + (cur & (PG - 1)), n);
        pos += n;
        out.done = pos;
    }
    out.done = len;
    return out;
}

/* A wild address for an access: the kernel half, non-canonical ones, a
 * window's end, an address outside every window. */
static uint64_t wild_address(void)
{
    uint64_t top = pl_kernel_user_top(W.k);
    switch (rnd(6)) {
    case 0:
        return pl_kernel_direct_map(W.k) + rnd(UINT64_C(16) << 20);
    case 1:
        return ~(top - 1) + rnd(UINT64_C(1) << 30); /* the kernel half's start */
    case 2:
        return top + rnd(PG); /* the first non-canonical address */
    case 3:
        return UINT64_C(0x8000000000000000) + rnd(PG);
    case 4:
    {
        int w = (int)rnd((uint64_t)W.nwin);
        return W.win[w] + (uint64_t)W.wpages[w] * PG - 1 - rnd(16); /* a window's end */
    }
    default:
        return UINT64_C(0x123456789000) + rnd(PG);
    }
}

/* Where and how much to access: mostly within a page the access is allowed
 * on, often running on over the following pages of the window, sometimes
 * anywhere in the windows. */
static uint64_t pick_access(const struct mproc *mp, unsigned kind, size_t *len)
{
    int i = (int)rnd((uint64_t)W.npages);
    if (chance(90)) {
        bool want_ok = chance(85);
        for (int tries = 0; tries < 32; tries++) {
            const struct mpage *pg = &mp->pg[i];
            if (pg->mapped && (!want_ok || allows(pg->prot, kind)))
                break;
            i = (int)rnd((uint64_t)W.npages);
        }
    }
    uint64_t va = page_va(i) + rnd(PG);
    if (kind == PL_FETCH) {
        *len = 1;
    } else if (chance(60)) {
        *len = 1 + (size_t)rnd(64);
    } else if (chance(75)) {
        /* to the end of the run of pages allowing it, or one byte beyond */
        int j = i;
        while (room_from(j) > 1 && mp->pg[j + 1].mapped && allows(mp->pg[j + 1].prot, kind))
            j++;
        uint64_t end = page_va(j) + PG + (chance(20) ? 1 : 0);
        *len = (size_t)(end - va);
        if (*len > MAX_ACCESS)
            *len = 1 + (size_t)rnd(MAX_ACCESS);
    } else {
        *len = 1 + (size_t)rnd(MAX_ACCESS);
    }
    return va;
}

static void op_access(struct mproc *mp, unsigned kind, bool wild, bool oom_ok)
{
    static uint8_t data[MAX_ACCESS + PG], got[MAX_ACCESS + PG];
    size_t len;
    uint64_t va = pick_access(mp, kind, &len);
    if (wild) {
        va = wild_address();
        len = kind == PL_FETCH ? 1 : 1 + (size_t)rnd(64);
    }
    long calls = W.handler_calls;
    int rc;
    uint8_t fetched = 0;
    if (kind == PL_WRITE) {
        fill_pattern(data, len, mp->pid);
        rc = pl_proc_write(mp->p, va, data, len);
    } else if (kind == PL_READ) {
        memset(got, 0xCC, len);
        rc = pl_proc_read(mp->p, va, got, len);
    } else {
        rc = pl_proc_fetch(mp->p, va, &fetched);
        got[0] = fetched;
    }
    struct pl_proc *p = mp->p;
    enum pl_proc_state st = pl_proc_state(p);
    const struct pl_siginfo *ki = pl_proc_kill_info(p);
    note("%s %d 0x%llx %zu -> %d state %d", kind == PL_WRITE ? "write" : kind == PL_READ ? "read" : "fetch", mp->pid,
         (unsigned long long)va, len, rc, st);
    uint64_t oom_at = 0;
    if (st == PL_PROC_KILLED && ki->code == PL_SIG_OOM) {
        CHECK(oom_ok, "pid %d killed for lack of memory without injection", CTX, mp->pid);
        oom_at = ki->addr;
    }
    struct outcome o = model_access(mp, va, len, kind, data, oom_at);
    CHECK(rc == (o.failed ? -EFAULT : 0), "access returned %d, the model expects %s at 0x%llx (code %u)", CTX, rc,
          o.failed ? "a failure" : "success", (unsigned long long)o.addr, o.code);
    CHECK(W.handler_calls - calls == o.handler_calls, "%ld handler calls, the model expects %ld", CTX,
          W.handler_calls - calls, o.handler_calls);
    CHECK(st == (o.killed ? PL_PROC_KILLED : PL_PROC_RUNNING), "state %d, the model expects %s", CTX, st,
          o.killed ? "killed" : "running");
    if (o.killed) {
        CHECK(ki->code == o.code, "killed with code %u, the model expects %u", CTX, ki->code, o.code);
        CHECK(ki->addr == o.addr, "killed at 0x%llx, the model expects 0x%llx", CTX, (unsigned long long)ki->addr,
              (unsigned long long)o.addr);
        CHECK(ki->kind == kind, "kill kind", CTX);
    }
    if (kind != PL_WRITE)
        for (size_t b = 0; b < o.done; b++)
            CHECK(got[b] == data[b], "byte %zu of the access at 0x%llx is 0x%02x, the model says 0x%02x", CTX, b,
                  (unsigned long long)va, got[b], data[b]);
    CHECK(pl_proc_stats(p)->signals == mp->signals, "pid %d: %llu signals, the model counts %llu", CTX, mp->pid,
          (unsigned long long)pl_proc_stats(p)->signals, (unsigned long long)mp->signals);
    W.ok_accesses += !o.failed;
    if (o.killed)
        proc_gone(mp);
}

static void op_shm_create(void)
{
    if (model_objects() >= 8)
        return;
    uint64_t npages = 1 + rnd(16);
    struct pl_shm *s;
    int rc = pl_shm_create(W.k, npages * PG - rnd(PG), &s);
    note("shm_create %llu pages -> %d", (unsigned long long)npages, rc);
    CHECK(rc == 0, "shm_create: %d", CTX, rc);
    CHECK(pl_shm_size(s) == npages * PG, "shm size", CTX);
    int o = obj_new(npages, true);
    W.objs[o].kobj = s;
}

static void op_shm_release(void)
{
    int o = random_object(1);
    if (o < 0)
        return;
    note("shm_release %d", o);
    pl_shm_release(W.objs[o].kobj);
    W.objs[o].held = false;
    obj_maybe_dies(o);
}

static void op_bad_syscall(struct mproc *mp)
{
    uint64_t a = 0, w = W.win[rnd((uint64_t)W.nwin)];
    const unsigned anon = PL_MAP_PRIVATE | PL_MAP_ANONYMOUS, rw = PL_PROT_READ | PL_PROT_WRITE;
    int rc, want;
    switch (rnd(8)) {
    case 0:
        rc = pl_sys_mmap(mp->p, w, 0, rw, anon, NULL, 0, &a), want = -EINVAL;
        break;
    case 1:
        rc = pl_sys_mmap(mp->p, w + 8, PG, rw, anon | PL_MAP_FIXED, NULL, 0, &a), want = -EINVAL;
        break;
    case 2:
        rc = pl_sys_mmap(mp->p, w, PG, 8, anon | PL_MAP_FIXED, NULL, 0, &a), want = -EINVAL;
        break;
    case 3:
        rc = pl_sys_mmap(mp->p, pl_kernel_direct_map(W.k), PG, rw, anon | PL_MAP_FIXED, NULL, 0, &a), want = -ENOMEM;
        break;
    case 4:
        rc = pl_sys_mmap(mp->p, PL_MMAP_FLOOR - PG, 2 * PG, rw, anon | PL_MAP_FIXED, NULL, 0, &a), want = -EPERM;
        break;
    case 5:
        rc = pl_sys_munmap(mp->p, w + 1, PG), want = -EINVAL;
        break;
    case 6:
        rc = pl_sys_mprotect(mp->p, w + 1, PG, rw), want = -EINVAL;
        break;
    default:
        rc = pl_sys_mmap(mp->p, w, PG, rw, PL_MAP_PRIVATE | PL_MAP_FIXED, NULL, 0, &a), want = -EBADF;
        break;
    }
    note("bad syscall %d -> %d", mp->pid, rc);
    CHECK(rc == want, "a bad system call returned %d, not %d", CTX, rc, want);
}

static void step(void)
{
    struct mproc *mp = random_proc();
    if (!mp) {
        op_spawn(false);
        return;
    }
    int mapped = 0;
    for (int i = 0; i < W.npages; i++)
        mapped += mp->pg[i].mapped;
    if (mapped < 24 && chance(40)) {
        op_mmap(mp);
        return;
    }
    unsigned r = (unsigned)rnd(100);
    if (r < 3)
        op_spawn(false);
    else if (r < 9)
        op_fork(mp, false);
    else if (r < 12)
        op_exit(mp);
    else if (r < 13)
        op_exec(mp);
    else if (r < 14)
        op_reap();
    else if (r < 30)
        op_mmap(mp);
    else if (r < 37)
        op_munmap(mp);
    else if (r < 47)
        op_mprotect(mp);
    else if (r < 65)
        op_access(mp, PL_READ, false, false);
    else if (r < 85)
        op_access(mp, PL_WRITE, false, false);
    else if (r < 88)
        op_access(mp, PL_FETCH, false, false);
    else if (r < 90)
        op_shm_create();
    else if (r < 91)
        op_shm_release();
    else if (r < 93) {
        enum handler_kind h = (enum handler_kind)rnd(3);
        note("handler %d %d", mp->pid, h);
        set_handler(mp, h);
    } else if (r < 95)
        op_bad_syscall(mp);
    else if (r < 96)
        op_access(mp, (unsigned)rnd(3), true, false);
    else {
        /* the same, with a frame allocation failing soon */
        uint64_t n = 1 + rnd(4);
        pl_frame_fail_after(pl_kernel_frames(W.k), n);
        unsigned what = (unsigned)rnd(4);
        note("inject after %llu", (unsigned long long)n);
        if (what == 0)
            op_fork(mp, true);
        else if (what == 1)
            op_spawn(true);
        else
            op_access(mp, what == 2 ? PL_READ : PL_WRITE, false, true);
        pl_frame_fail_after(pl_kernel_frames(W.k), 0);
    }
}

static void world_free(void)
{
    for (int i = 0; i < MAXP; i++)
        if (W.procs[i].used)
            proc_clear(&W.procs[i]);
    for (int o = 0; o < W.nobjs; o++)
        free(W.objs[o].bytes);
    if (W.k)
        pl_kernel_free(W.k);
    if (W.m)
        pl_machine_free(W.m);
    memset(&W, 0, sizeof W);
}

static void run_sequence(const struct machine_kind *mk, uint64_t seed)
{
    memset(&W, 0, sizeof W);
    W.mk = mk;
    W.seed = seed;
    W.rng = seed;
    W.trace = getenv("PTELAB_PROPERTY_TRACE") != NULL;
    struct pl_machine_config mc;
    pl_machine_config_default(&mc);
    /* huge pages need room: every model page of six processes may be private */
    mc.ram_size = (mk->huge ? UINT64_C(32) : UINT64_C(16)) << 20;
    mc.levels = mk->levels;
    mc.pcid = mk->pcid;
    mc.seed = seed;
    if (mk->tiny_tlb) {
        mc.tlb.tlb[PL_TLB_L1D].size[PL_PAGE_4K] = (struct pl_tlb_geometry){8, 2};
        mc.tlb.tlb[PL_TLB_L1I].size[PL_PAGE_4K] = (struct pl_tlb_geometry){4, 2};
        mc.tlb.tlb[PL_TLB_L2].size[PL_PAGE_4K] = (struct pl_tlb_geometry){16, 4};
        mc.tlb.tlb[PL_TLB_L2].replacement = PL_REPL_RANDOM;
        mc.tlb.tlb[PL_TLB_L2].seed = seed;
        for (unsigned l = 0; l < PL_PSC_LEVELS; l++)
            mc.tlb.psc[l] = (struct pl_tlb_geometry){2, 2};
    }
    cr_assert_eq(pl_machine_new(&mc, &W.m), 0);
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.history_limit = 4096;
    kc.huge_anon = mk->huge;
    cr_assert_eq(pl_kernel_new(W.m, &kc, &W.k), 0);
    uint64_t top = pl_kernel_user_top(W.k);
    W.win[0] = PL_MMAP_FLOOR;
    W.win[1] = UINT64_C(0x40000000) - 16 * PG; /* across a PDPT entry */
    W.win[2] = (mk->levels == 5 ? UINT64_C(1) << 48 : UINT64_C(1) << 39) - 16 * PG; /* across a root entry */
    W.win[3] = PL_MMAP_BASE;
    W.win[4] = top - WPAGES * PG;
    W.nwin = NWIN;
    W.huge_win = -1;
    if (mk->huge) {
        W.win[NWIN] = UINT64_C(0x80000000); /* 2 MiB aligned: two 2M leaves fit */
        W.huge_win = W.nwin++;
    }
    for (int w = 0; w < W.nwin; w++) {
        W.wpages[w] = w == W.huge_win ? HUGE_WPAGES : WPAGES;
        W.wfirst[w] = W.npages;
        W.npages += W.wpages[w];
    }

    for (W.op = 0; W.op < (int)mk->ops; W.op++) {
        step();
        check_cheap();
        if (W.op % DEEP_EVERY == DEEP_EVERY - 1)
            check_deep();
    }
    check_deep();
    /* the end: every process exits, every object is released */
    W.op = -1;
    for (int i = 0; i < MAXP; i++)
        if (W.procs[i].used)
            op_exit(&W.procs[i]);
    for (int o = 0; o < W.nobjs; o++)
        if (W.objs[o].live && W.objs[o].held) {
            pl_shm_release(W.objs[o].kobj);
            W.objs[o].held = false;
            obj_maybe_dies(o);
        }
    check_cheap();
    CHECK(model_objects() == 0 && W.k->shm_list == NULL, "objects left", CTX);
    struct pl_frame_stats st;
    pl_frame_stats_read(pl_kernel_frames(W.k), &st);
    CHECK(st.frames - st.free_frames == pl_kernel_own_frames(W.k),
          "all processes gone, yet %llu frames in use (the kernel's own: %llu)", CTX,
          (unsigned long long)(st.frames - st.free_frames), (unsigned long long)pl_kernel_own_frames(W.k));
    CHECK(pl_kernel_stats(W.k)->pt_pages == 0, "page tables left", CTX);
    if (getenv("PTELAB_PROPERTY_STATS")) {
        const struct pl_kernel_stats *ks = pl_kernel_stats(W.k);
        fprintf(stderr, "%s seed %llu: faults %llu zero-fill %llu shared %llu cow-copy %llu cow-reuse %llu spurious %llu "
                "signals %llu kills %llu forks %llu thp %llu/%llu/%llu ok-accesses %ld\n", W.mk->name,
                (unsigned long long)W.seed, (unsigned long long)ks->faults, (unsigned long long)ks->zero_fill,
                (unsigned long long)ks->shared_page, (unsigned long long)ks->cow_copy,
                (unsigned long long)ks->cow_reuse, (unsigned long long)ks->spurious, (unsigned long long)ks->signals,
                (unsigned long long)ks->kills, (unsigned long long)ks->forks, (unsigned long long)ks->thp_fault,
                (unsigned long long)ks->thp_fallback, (unsigned long long)ks->thp_split, W.ok_accesses);
    }
    while (W.nended > 0)
        pl_proc_reap(W.ended[--W.nended]);
    CHECK(pl_kernel_next_proc(W.k, NULL) == NULL, "a process left after reaping all", CTX);
    world_free();
}

static unsigned env_unsigned(const char *name, unsigned dflt)
{
    const char *s = getenv(name);
    return s && *s ? (unsigned)strtoul(s, NULL, 0) : dflt;
}

static void run_machine(const struct machine_kind *mk, uint64_t salt, unsigned dflt_seqs)
{
    const char *one = getenv("PTELAB_PROPERTY_SEED");
    if (one && *one) {
        run_sequence(mk, strtoull(one, NULL, 0));
        return;
    }
    unsigned seqs = env_unsigned("PTELAB_PROPERTY_SEQS", dflt_seqs);
    uint64_t s = UINT64_C(0x5EED0000) ^ salt;
    for (unsigned i = 0; i < seqs; i++)
        run_sequence(mk, splitmix(&s));
    assert_no_host_leaks();
}

TestSuite(kernel_property, .timeout = 300);

Test(kernel_property, four_level_pcid)
{
    static const struct machine_kind mk = {"4-level PCID", 4, true, false, 120, false};
    run_machine(&mk, 1, 400);
}

Test(kernel_property, four_level_no_pcid)
{
    static const struct machine_kind mk = {"4-level no PCID", 4, false, false, 120, false};
    run_machine(&mk, 2, 400);
}

Test(kernel_property, five_level_pcid)
{
    static const struct machine_kind mk = {"5-level PCID", 5, true, false, 120, false};
    run_machine(&mk, 3, 300);
}

Test(kernel_property, tiny_tlbs)
{
    static const struct machine_kind mk = {"4-level PCID tiny TLBs", 4, true, true, 120, false};
    run_machine(&mk, 4, 300);
}

Test(kernel_property, long_sequences)
{
    static const struct machine_kind mk = {"4-level PCID long", 4, true, false, 1500, false};
    run_machine(&mk, 5, 12);
}

Test(kernel_property, huge_pages)
{
    static const struct machine_kind mk = {"4-level PCID huge pages", 4, true, false, 120, true};
    run_machine(&mk, 6, 150);
}

Test(kernel_property, huge_pages_five_level_no_pcid_tiny_tlbs)
{
    static const struct machine_kind mk = {"5-level no PCID tiny TLBs huge pages", 5, false, true, 120, true};
    run_machine(&mk, 7, 100);
}

Test(kernel_property, huge_pages_long_sequences)
{
    static const struct machine_kind mk = {"4-level PCID long huge pages", 4, true, false, 1500, true};
    run_machine(&mk, 8, 6);
}
