/* os/thread: threads as callers (ptelab/thread.h): creation, the calls a
 * thread makes now, and its queue of operations for the scheduler. */
#include <errno.h>
#include <stdlib.h>

#include "os/os.h"
#include "ptelab/machine.h"
#include "ptelab/pkey.h"

struct pl_thread *proc_caller(const struct pl_proc *p)
{
    struct pl_thread *t = p->k->caller;
    return t && t->p == p ? t : p->threads;
}

static int live_threads(const struct pl_kernel *k)
{
    int n = 0;
    for (unsigned i = 0; i < k->m->ncpus; i++)
        n += (int)k->cpus[i].nrun;
    return n;
}

int pl_thread_create(struct pl_proc *p, unsigned cpu, struct pl_thread **out)
{
    struct pl_kernel *k = p->k;
    if (cpu >= k->m->ncpus)
        return -EINVAL;
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    if (live_threads(k) >= PL_MAX_THREADS)
        return -EAGAIN;
    uint32_t pkru = pkey_thread_pkru(proc_caller(p));
    int rc = sched_thread_new(p, cpu, 0, out);
    if (rc == 0)
        (*out)->pkru = pkru;
    return rc;
}

int pl_thread_exit(struct pl_thread *t)
{
    if (!t->alive)
        return -ESRCH;
    if (t == t->p->threads)
        return -EINVAL;
    sched_thread_end(t);
    return 0;
}

struct pl_thread *pl_proc_main_thread(const struct pl_proc *p)
{
    return p->threads && p->threads->alive ? p->threads : NULL;
}
int pl_thread_tid(const struct pl_thread *t) { return t->tid; }
unsigned pl_thread_cpu(const struct pl_thread *t) { return t->cpu; }
struct pl_proc *pl_thread_proc(const struct pl_thread *t) { return t->p; }
int pl_thread_alive(const struct pl_thread *t) { return t->alive; }

struct pl_thread *pl_kernel_thread(const struct pl_kernel *k, int tid)
{
    for (struct pl_proc *p = pl_kernel_next_proc(k, NULL); p; p = pl_kernel_next_proc(k, p))
        for (struct pl_thread *t = p->threads; t; t = t->next_in_proc)
            if (t->tid == tid && t->alive)
                return t;
    return NULL;
}

/* Makes t the caller of p's calls for one call. */
#define AS_THREAD(t, call)                  \
    do {                                    \
        if (!(t)->alive)                    \
            return -ESRCH;                  \
        struct pl_kernel *k_ = (t)->p->k;   \
        struct pl_thread *saved_ = k_->caller; \
        k_->caller = (t);                   \
        int rc_ = (call);                   \
        k_->caller = saved_;                \
        return rc_;                         \
    } while (0)

int pl_thread_read(struct pl_thread *t, uint64_t va, void *buf, size_t len)
{
    AS_THREAD(t, pl_proc_read(t->p, va, buf, len));
}
int pl_thread_write(struct pl_thread *t, uint64_t va, const void *buf, size_t len)
{
    AS_THREAD(t, pl_proc_write(t->p, va, buf, len));
}
int pl_thread_fetch(struct pl_thread *t, uint64_t va, uint8_t *byte) { AS_THREAD(t, pl_proc_fetch(t->p, va, byte)); }
int pl_thread_mmap(struct pl_thread *t, uint64_t addr, uint64_t len, unsigned prot, unsigned flags, uint64_t *out)
{
    AS_THREAD(t, pl_sys_mmap(t->p, addr, len, prot, flags, NULL, 0, out));
}
int pl_thread_munmap(struct pl_thread *t, uint64_t addr, uint64_t len) { AS_THREAD(t, pl_sys_munmap(t->p, addr, len)); }
int pl_thread_mprotect(struct pl_thread *t, uint64_t addr, uint64_t len, unsigned prot)
{
    AS_THREAD(t, pl_sys_mprotect(t->p, addr, len, prot));
}
int pl_thread_wrpkru(struct pl_thread *t, uint32_t value) { AS_THREAD(t, pl_proc_wrpkru(t->p, value)); }
int pl_thread_rdpkru(struct pl_thread *t, uint32_t *value) { AS_THREAD(t, pl_proc_rdpkru(t->p, value)); }

int pl_thread_sleep(struct pl_thread *t)
{
    if (!t->alive)
        return -ESRCH;
    struct pl_kernel *k = t->p->k;
    struct percpu *c = &k->cpus[t->cpu];
    if (c->curr == t) {
        k->this = c;
        kernel_go_idle(k);
    }
    return 0;
}

int pl_thread_queue(struct pl_thread *t, const struct pl_thread_op *op)
{
    if (!t->alive)
        return -ESRCH;
    bool access = op->kind == PL_OP_READ || op->kind == PL_OP_WRITE;
    if (op->kind < PL_OP_READ || op->kind >= PL_OP_COUNT || (access && op->va % 8) ||
        ((op->kind == PL_OP_MMAP || op->kind == PL_OP_MUNMAP) && op->len == 0))
        return -EINVAL;
    if (t->nops == t->ops_cap) {
        size_t cap = t->ops_cap ? 2 * t->ops_cap : 16;
        struct pl_thread_op *ops = realloc(t->ops, cap * sizeof *ops);
        if (!ops)
            return -ENOMEM;
        t->ops = ops;
        t->ops_cap = cap;
    }
    t->ops[t->nops++] = *op;
    return 0;
}

size_t pl_thread_pending(const struct pl_thread *t) { return t->nops - t->head; }
