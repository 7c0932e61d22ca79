/* os/proc: process lifecycle (spawn, fork, exit, exec) and the process's
 * own loads and stores, with signals for the faults the kernel cannot fix. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os/os.h"
#include "os/shootdown.h"
#include "os/swapk.h"
#include "ptelab/cpu.h"
#include "ptelab/error.h"
#include "ptelab/io.h"
#include "ptelab/physmem.h"
#include "ptelab/cache.h"

#define PAGE PL_VMA_PAGE_SIZE

const char *pl_sig_code_name(unsigned code)
{
    static const char *const names[] = {"?", "SEGV_MAPERR", "SEGV_ACCERR", "SEGV_PKUERR", "SEGV_GP", "OOM"};
    return code < sizeof names / sizeof names[0] ? names[code] : "?";
}

int kernel_new_id(struct pl_kernel *k)
{
    if (k->nprocs == k->procs_cap) {
        int cap = k->procs_cap ? 2 * k->procs_cap : 16;
        struct pl_proc **procs = realloc(k->procs, (size_t)cap * sizeof *procs);
        if (!procs)
            return 0;
        k->procs = procs;
        k->procs_cap = cap;
    }
    k->procs[k->nprocs++] = NULL;
    return k->nprocs;
}

/* A process struct with a fresh address space and its main thread (tid =
 * pid, on CPU 0), in the table. */
static int proc_new(struct pl_kernel *k, struct pl_proc **out)
{
    struct pl_proc *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->vmas = pl_vma_set_new();
    int pid = p->vmas ? kernel_new_id(k) : 0;
    bool pcide = pl_cpu_regs(kcpu(k))->cr4 & PL_CR4_PCIDE;
    uint16_t pcid = pcide ? (uint16_t)((pid - 1) % 4095 + 1) : 0;
    struct pl_thread *main_thread;
    p->k = k;
    p->pid = pid;
    if (!pid || pmap_create(&p->pmap, k, pid, pcid) < 0) {
        pl_vma_set_free(p->vmas);
        free(p);
        return -ENOMEM;
    }
    if (sched_thread_new(p, 0, pid, &main_thread) < 0) {
        pmap_destroy(&p->pmap);
        pl_vma_set_free(p->vmas);
        free(p);
        return -ENOMEM;
    }
    p->state = PL_PROC_RUNNING;
    pkey_proc_init(p);
    k->procs[pid - 1] = p;
    *out = p;
    return 0;
}

int pl_proc_spawn(struct pl_kernel *k, struct pl_proc **out)
{
    kernel_enter(k);
    return proc_new(k, out);
}

/* Copies parent's regions and mappings into child. */
static int copy_address_space(struct pl_proc *parent, struct pl_proc *child)
{
    for (const struct pl_vma *v = pl_vma_first(parent->vmas); v; v = pl_vma_next(parent->vmas, v)) {
        int rc = pl_vma_insert(child->vmas, v, false, NULL, NULL);
        if (rc < 0)
            return rc;
        if (v->object)
            shm_map_pages(v->object, (v->end - v->start) / PAGE);
        rc = pmap_fork_copy(&child->pmap, &parent->pmap, v->start, v->end, v->flags & PL_MAP_SHARED);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pl_proc_fork(struct pl_proc *parent, struct pl_proc **out)
{
    if (parent->state != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_kernel *k = parent->k;
    k->this = &k->cpus[proc_caller(parent)->cpu]; /* the forking thread's CPU does the work */
    kernel_enter(k);
    kernel_charge(k, k->m->config.cost.syscall);
    /* the child's tables at most: reclaim (or OOM-kill) for them first */
    if (reclaim_reserve(k, parent, parent->pmap.pt_pages + 2) < 0)
        return -ENOMEM;
    struct pl_proc *child;
    int rc = proc_new(k, &child);
    if (rc < 0)
        return rc;
    if (copy_address_space(parent, child) < 0) {
        pl_proc_exit(child, 0);
        pl_proc_reap(child);
        return -ENOMEM;
    }
    child->sig_fn = parent->sig_fn;
    child->sig_ctx = parent->sig_ctx;
    child->threads->pkru = pkey_thread_pkru(proc_caller(parent)); /* the forking thread's */
    child->pkeys = parent->pkeys;
    child->oom_adj = parent->oom_adj; /* inherited, as on Linux */
    child->stats.resident = child->pmap.resident;
    child->stats.pt_pages = child->pmap.pt_pages;
    k->stats.forks++;
    *out = child;
    return 0;
}

/* Frees everything an ending process holds. */
static void proc_teardown(struct pl_proc *p, enum pl_proc_state state, int status)
{
    struct pl_kernel *k = p->k;
    p->state = state;
    p->status = status;
    kernel_enter(k);
    for (struct pl_thread *t = p->threads; t; t = t->next_in_proc)
        sched_thread_end(t);
    if (k->this->mm == &p->pmap)
        kernel_leave_mm(k);
    aspace_clear(p, PL_WHY_EXIT);
    pmap_destroy(&p->pmap);
    pl_vma_set_free(p->vmas);
    p->vmas = NULL;
    p->stats.resident = p->stats.pt_pages = 0;
    k->stats.exits++;
}

void pl_proc_exit(struct pl_proc *p, int status)
{
    if (p->state == PL_PROC_RUNNING)
        proc_teardown(p, PL_PROC_EXITED, status);
}

void pl_proc_reap(struct pl_proc *p)
{
    if (p->state == PL_PROC_RUNNING)
        return;
    p->k->procs[p->pid - 1] = NULL;
    sched_threads_free(p);
    free(p);
}

int pl_proc_exec(struct pl_proc *p)
{
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    kernel_enter(p->k);
    /* one thread goes on (Linux's de_thread): the main one here */
    for (struct pl_thread *t = p->threads->next_in_proc; t; t = t->next_in_proc)
        sched_thread_end(t);
    aspace_clear(p, PL_WHY_EXEC);
    pkey_proc_init(p);
    p->stats.resident = p->stats.pt_pages = 0;
    p->k->stats.execs++;
    return 0;
}

int pl_proc_pid(const struct pl_proc *p) { return p->pid; }
enum pl_proc_state pl_proc_state(const struct pl_proc *p) { return p->state; }
int pl_proc_exit_status(const struct pl_proc *p) { return p->status; }
const struct pl_siginfo *pl_proc_kill_info(const struct pl_proc *p) { return &p->kill_info; }
struct pl_kernel *pl_proc_kernel(const struct pl_proc *p) { return p->k; }
const struct pl_proc_stats *pl_proc_stats(const struct pl_proc *p) { return &p->stats; }
const struct pl_vma_set *pl_proc_vmas(const struct pl_proc *p) { return p->vmas; }
uint64_t pl_proc_root(const struct pl_proc *p) { return p->pmap.root; }

void pl_proc_set_signal_handler(struct pl_proc *p, pl_signal_fn *fn, void *ctx)
{
    p->sig_fn = fn;
    p->sig_ctx = ctx;
}

void pl_proc_foreach_pte(const struct pl_proc *p, pl_pte_visit_fn *fn, void *ctx)
{
    if (p->vmas)
        pmap_foreach(&p->pmap, fn, ctx);
}

void proc_kill(struct pl_proc *p, const struct pl_siginfo *si)
{
    p->kill_info = *si;
    p->k->stats.kills++;
    proc_teardown(p, PL_PROC_KILLED, 128 + 11);
}

/* One access of the process's calling thread at CPL 3 on its CPU:
 * translate, and let the kernel fix faults until it succeeds or a signal
 * ends it. Returns 0 with *t, -EFAULT, or -EAGAIN when it faulted while
 * another CPU's call holds the kernel (the scheduler retries it later). */
static int user_access(struct pl_proc *p, uint64_t va, unsigned kind, struct pl_translation *t)
{
    struct pl_kernel *k = p->k;
    struct pl_thread *th = proc_caller(p);
    unsigned retries = 0, fixes = 0;
    for (;;) {
        kernel_switch_to(k, th);
        if (k->this->nipis && !k->waiting)
            shootdown_handle_ipis(k, false); /* interrupts that arrived by now come first */
        kernel_leave(k);
        struct pl_fault f;
        bool ok = pl_cpu_translate(kcpu(k), va, kind, t, &f);
        kernel_enter(k);
        if (ok) {
            if (k->swap)
                reclaim_note_access(k, t->pa);
            if (k->log) {
                smp_event(k, PL_EV_ACCESS, th->tid, va, t->pa);
                stale_check(k, th, va, kind, t->pa);
            }
            return 0;
        }
        smp_event(k, PL_EV_FAULT, th->tid, va, f.error_code);
        if (k->waiting)
            return -EAGAIN;
        struct pl_siginfo si;
        int code = fault_handle(p, &f, kind, &si);
        if (code == 0) {
            /* One fix makes the entry right; a second may follow a stale
             * TLB entry or a COW break after a read fault. More is a
             * kernel bug, not a user error. */
            if (++fixes == 4) {
                fprintf(stderr, "ptelab: internal error: pid %d faults at 0x%llx after every fix\n", p->pid,
                        (unsigned long long)va);
                abort();
            }
            continue;
        }
        k->stats.signals++;
        p->stats.signals++;
        enum pl_sig_action act = PL_SIG_KILL;
        if (code != PL_SIG_OOM && p->sig_fn && retries < k->cfg.signal_retry_limit) {
            /* The handler may make calls whose shootdowns let other CPUs
             * step: this CPU, in the middle of th's access, only takes IPIs. */
            struct percpu *c = k->this;
            c->busy++;
            act = p->sig_fn(p, &si, p->sig_ctx);
            c->busy--;
        }
        kernel_enter(k);
        if (p->state != PL_PROC_RUNNING)
            return -EFAULT; /* the handler ended the process */
        if (act == PL_SIG_RETRY) {
            retries++;
            fixes = 0;
            continue;
        }
        if (act == PL_SIG_KILL)
            proc_kill(p, &si);
        return -EFAULT;
    }
}

/* Moves len bytes between buf and the process's memory at va, a page at a
 * time: one translation per page, as a rep movs would. */
static int user_copy(struct pl_proc *p, uint64_t va, void *buf, size_t len, unsigned kind)
{
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    uint8_t *b = buf;
    while (len > 0) {
        size_t n = PAGE - (va & (PAGE - 1));
        if (n > len)
            n = len;
        struct pl_translation t;
        int rc = user_access(p, va, kind, &t);
        if (rc < 0)
            return rc;
        /* through the memory system by the page's memory type: a device
         * page reaches the device, or the cache's copy of it */
        if (kind == PL_WRITE)
            rc = pl_cache_write_block(p->k->m->cache, t.pa, b, n, t.memtype);
        else
            rc = pl_cache_read_block(p->k->m->cache, t.pa, b, n, t.memtype);
        if (rc < 0)
            return rc == PL_EINVAL ? -EINVAL : -EFAULT;
        va += n;
        b += n;
        len -= n;
    }
    return 0;
}

int pl_proc_read(struct pl_proc *p, uint64_t va, void *buf, size_t len) { return user_copy(p, va, buf, len, PL_READ); }

int pl_proc_write(struct pl_proc *p, uint64_t va, const void *buf, size_t len)
{
    return user_copy(p, va, (void *)buf, len, PL_WRITE);
}

int pl_proc_fetch(struct pl_proc *p, uint64_t va, uint8_t *byte)
{
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_translation t;
    int rc = user_access(p, va, PL_FETCH, &t);
    if (rc < 0 || !byte)
        return rc;
    /* through the memory system, as loads are */
    rc = pl_cache_read_block(p->k->m->cache, t.pa, byte, 1, t.memtype);
    return rc == 0 ? 0 : rc == PL_EINVAL ? -EINVAL : -EFAULT;
}

int pl_proc_clflush(struct pl_proc *p, uint64_t va)
{
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_translation t;
    int rc = user_access(p, va, PL_READ, &t);
    if (rc == 0)
        pl_cache_clflush(p->k->m->cache, t.pa);
    return rc;
}
