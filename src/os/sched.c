/* os/sched: threads on CPUs and the seeded scheduler that interleaves them
 * (ptelab/thread.h, docs/smp.md). A step is one access of a thread, one
 * system call up to its shootdown wait, or the IPIs that reached a CPU. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "os/os.h"
#include "os/shootdown.h"
#include "ptelab/cpu.h"
#include "ptelab/machine.h"

#define PCIDS 4096

struct sched {
    uint64_t rng;   /* xorshift64* state */
    uint64_t steps; /* taken so far */
};

static uint64_t next_random(struct sched *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * UINT64_C(2685821657736338717);
}

uint64_t percpu_now(struct percpu *c)
{
    uint64_t cycles = pl_cpu_stats(c->cpu)->cycles;
    if (cycles >= c->cpu_cycles) /* counters may have been reset */
        c->clock += cycles - c->cpu_cycles;
    c->cpu_cycles = cycles;
    return c->clock;
}

int sched_init(struct pl_kernel *k)
{
    k->sched = calloc(1, sizeof *k->sched);
    if (!k->sched)
        return -ENOMEM;
    uint64_t seed = k->cfg.sched_seed ? k->cfg.sched_seed : k->m->config.seed;
    k->sched->rng = seed ? seed : 1;
    for (unsigned i = 0; i < k->m->ncpus; i++) {
        struct percpu *c = &k->cpus[i];
        c->pcid_owner = calloc(PCIDS, sizeof *c->pcid_owner);
        c->pcid_gen = calloc(PCIDS, sizeof *c->pcid_gen);
        if (!c->pcid_owner || !c->pcid_gen)
            return -ENOMEM;
        c->cpu_cycles = pl_cpu_stats(c->cpu)->cycles;
    }
    return smp_log_init(k);
}

void sched_fini(struct pl_kernel *k)
{
    if (!k->cpus)
        return;
    shootdown_drop_all(k);
    for (unsigned i = 0; i < k->m->ncpus; i++) {
        free(k->cpus[i].pcid_owner);
        free(k->cpus[i].pcid_gen);
        free(k->cpus[i].runq);
    }
    smp_log_fini(k);
    free(k->sched);
}

int sched_thread_new(struct pl_proc *p, unsigned cpu, int tid, struct pl_thread **out)
{
    struct pl_kernel *k = p->k;
    struct percpu *c = &k->cpus[cpu];
    if (c->nrun == c->run_cap) {
        size_t cap = c->run_cap ? 2 * c->run_cap : 4;
        struct pl_thread **q = realloc(c->runq, cap * sizeof *q);
        if (!q)
            return -ENOMEM;
        c->runq = q;
        c->run_cap = cap;
    }
    struct pl_thread *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    if (!tid && !(tid = kernel_new_id(k))) {
        free(t);
        return -ENOMEM;
    }
    *t = (struct pl_thread){.p = p, .tid = tid, .cpu = cpu, .alive = true};
    struct pl_thread **tail = &p->threads;
    while (*tail)
        tail = &(*tail)->next_in_proc;
    *tail = t;
    c->runq[c->nrun++] = t;
    *out = t;
    return 0;
}

void sched_thread_end(struct pl_thread *t)
{
    if (!t->alive)
        return;
    struct pl_kernel *k = t->p->k;
    struct percpu *c = &k->cpus[t->cpu];
    t->alive = false;
    t->head = t->nops = 0;
    for (size_t i = 0; i < c->nrun; i++)
        if (c->runq[i] == t) {
            memmove(&c->runq[i], &c->runq[i + 1], (c->nrun - i - 1) * sizeof *c->runq);
            c->nrun--;
            break;
        }
    if (c->rr >= c->nrun)
        c->rr = 0;
    if (c->curr == t) {
        struct percpu *me = k->this;
        k->this = c;
        kernel_go_idle(k);
        k->this = me;
    }
}

void sched_threads_free(struct pl_proc *p)
{
    while (p->threads) {
        struct pl_thread *t = p->threads;
        sched_thread_end(t);
        p->threads = t->next_in_proc;
        free(t->ops);
        free(t);
    }
}

static bool has_work(const struct pl_thread *t) { return t->alive && t->head < t->nops; }

static bool cpu_has_work(const struct percpu *c)
{
    for (size_t i = 0; i < c->nrun; i++)
        if (has_work(c->runq[i]))
            return true;
    return false;
}

static bool can_step(const struct percpu *c) { return c->nipis || (!c->blocked && !c->busy && cpu_has_work(c)); }

/* The thread c runs next: the current one, unless the generator preempts it
 * (one time in four) for the next runnable thread of the CPU in turn. */
static struct pl_thread *pick(struct pl_kernel *k, struct percpu *c)
{
    struct pl_thread *cur = c->curr && has_work(c->curr) ? c->curr : NULL;
    size_t runnable = 0;
    for (size_t i = 0; i < c->nrun; i++)
        runnable += has_work(c->runq[i]);
    if (cur && (runnable == 1 || next_random(k->sched) % 4 != 0))
        return cur;
    for (size_t i = 0; i < c->nrun; i++) {
        struct pl_thread *t = c->runq[(c->rr + i) % c->nrun];
        if (has_work(t) && t != cur) {
            c->rr = (c->rr + i + 1) % c->nrun;
            return t;
        }
    }
    return cur;
}

static bool is_call(unsigned kind)
{
    return kind == PL_OP_MMAP || kind == PL_OP_MUNMAP || kind == PL_OP_MPROTECT || kind == PL_OP_MIGRATE;
}

/* t waits for the kernel: its CPU takes no step but IPIs until the call
 * holding the kernel returns. */
static void block(struct pl_kernel *k, struct percpu *c, const struct pl_thread *t, uint64_t va)
{
    c->blocked = true;
    smp_event(k, PL_EV_BLOCKED, t->tid, va, 0);
}

/* Runs one step of t's first queued operation. */
static void thread_step(struct pl_kernel *k, struct percpu *c, struct pl_thread *t)
{
    struct pl_thread_op op = t->ops[t->head];
    if (k->waiting && is_call(op.kind)) {
        block(k, c, t, 0);
        return;
    }
    struct pl_proc *p = t->p;
    k->caller = t;
    int rc = 0;
    uint64_t v = op.value, out;
    uint8_t byte = 0;
    if (is_call(op.kind))
        smp_event(k, PL_EV_SYSCALL, t->tid, op.va, op.kind);
    switch (op.kind) {
    case PL_OP_READ:
        rc = pl_proc_read(p, op.va, &v, sizeof v);
        break;
    case PL_OP_WRITE:
        rc = pl_proc_write(p, op.va, &v, sizeof v);
        break;
    case PL_OP_FETCH:
        rc = pl_proc_fetch(p, op.va, &byte);
        v = byte;
        break;
    case PL_OP_MMAP:
        rc = pl_sys_mmap(p, op.va, op.len, op.prot, PL_MAP_PRIVATE | PL_MAP_ANONYMOUS | PL_MAP_FIXED, NULL, 0, &out);
        break;
    case PL_OP_MUNMAP:
        rc = pl_sys_munmap(p, op.va, op.len);
        break;
    case PL_OP_MPROTECT:
        rc = pl_sys_mprotect(p, op.va, op.len, op.prot);
        break;
    case PL_OP_MIGRATE:
        rc = pl_proc_migrate(p, op.va, NULL);
        break;
    case PL_OP_SLEEP:
        kernel_switch_to(k, t);
        kernel_go_idle(k);
        break;
    }
    k->caller = NULL;
    if (rc == -EAGAIN) {
        block(k, c, t, op.va);
        return;
    }
    if (op.out && rc == 0 && (op.kind == PL_OP_READ || op.kind == PL_OP_FETCH))
        *op.out = v;
    if (op.rc)
        *op.rc = rc;
    if (has_work(t) && ++t->head == t->nops)
        t->head = t->nops = 0;
}

/* One step of CPU c: the IPIs that reached it, else a step of a thread,
 * else (nothing to run) it sleeps until its next IPI. */
static void cpu_step(struct pl_kernel *k, struct percpu *c)
{
    k->this = c;
    k->sched->steps++;
    c->stats.steps++;
    percpu_now(c);
    if (shootdown_handle_ipis(k, false))
        return;
    struct pl_thread *t = c->blocked || c->busy ? NULL : pick(k, c);
    if (!t) {
        shootdown_handle_ipis(k, true);
        return;
    }
    thread_step(k, c, t);
    k->this = c;
    if (c->curr && !c->blocked && !cpu_has_work(c))
        kernel_go_idle(k); /* nothing left to run: lazy TLB */
}

/* Picks one CPU that can step, other than skip (NULL: any). */
static struct percpu *choose(struct pl_kernel *k, const struct percpu *skip)
{
    struct percpu *ready[PL_MACHINE_MAX_CPUS];
    unsigned n = 0;
    for (unsigned i = 0; i < k->m->ncpus; i++)
        if (&k->cpus[i] != skip && can_step(&k->cpus[i]))
            ready[n++] = &k->cpus[i];
    return n ? ready[next_random(k->sched) % n] : NULL;
}

bool sched_step_other(struct pl_kernel *k)
{
    struct percpu *me = k->this;
    struct pl_thread *caller = k->caller;
    struct percpu *c = choose(k, me);
    if (!c)
        return false;
    cpu_step(k, c);
    k->this = me;
    k->caller = caller;
    return true;
}

void sched_unblock(struct pl_kernel *k)
{
    for (unsigned i = 0; i < k->m->ncpus; i++)
        k->cpus[i].blocked = false;
}

int pl_sched_step(struct pl_kernel *k)
{
    if (k->waiting)
        return 0; /* called from a signal handler during a wait */
    struct percpu *c = choose(k, NULL);
    if (!c)
        return 0;
    cpu_step(k, c);
    return 1;
}

uint64_t pl_sched_run(struct pl_kernel *k, uint64_t max_steps)
{
    uint64_t n = 0;
    while ((max_steps == 0 || n < max_steps) && pl_sched_step(k))
        n++;
    return n;
}

uint64_t sched_steps(const struct pl_kernel *k) { return k->sched->steps; }

const struct pl_smp_cpu_stats *pl_kernel_cpu_stats(const struct pl_kernel *k, unsigned cpu)
{
    if (cpu >= k->m->ncpus)
        return NULL;
    struct percpu *c = &k->cpus[cpu];
    percpu_now(c);
    c->stats.clock = c->clock;
    return &c->stats;
}
