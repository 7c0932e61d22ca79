/* os/shootdown: see shootdown.h and docs/smp.md. */
#include "os/shootdown.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os/os.h"
#include "ptelab/cpu.h"
#include "ptelab/machine.h"

const char *pl_shootdown_name(unsigned protocol)
{
    static const char *const names[] = {"correct", "naive", "no-wait", "skip-cpu", "early-free"};
    return protocol < PL_SHOOTDOWN_COUNT ? names[protocol] : "?";
}

bool shootdown_frees_early(const struct pl_kernel *k) { return k->cfg.shootdown == PL_SHOOTDOWN_EARLY_FREE; }

static void req_put(struct shootdown_req *req)
{
    if (--req->refs == 0)
        free(req);
}

/* The CPUs a round for pm goes to, the executing one excluded. */
static uint64_t targets_of(struct pl_kernel *k, const struct shootdown_req *req)
{
    uint64_t self = UINT64_C(1) << k->this->id;
    uint64_t every = k->m->ncpus == 64 ? ~UINT64_C(0) : (UINT64_C(1) << k->m->ncpus) - 1;
    if (!req->pm || k->cfg.shootdown == PL_SHOOTDOWN_NAIVE)
        return every & ~self;
    uint64_t mask = req->pm->cpumask & ~self;
    if (!req->freed_tables && !req->leave) {
        /* Lazy CPUs run no user code and catch up when they come back (their
         * generation is behind); Linux skips them unless tables were freed. */
        for (unsigned i = 0; i < k->m->ncpus; i++)
            if ((mask >> i & 1) && k->cpus[i].lazy) {
                mask &= ~(UINT64_C(1) << i);
                k->stats.lazy_skipped++;
            }
    }
    /* broken: forgets one CPU (in invalidations: letting go of an address
     * space before its root is freed is not what the variant is about) */
    if (k->cfg.shootdown == PL_SHOOTDOWN_SKIP_CPU && mask && !req->leave)
        mask &= ~(UINT64_C(1) << (63 - __builtin_clzll(mask)));
    return mask;
}

/* Performs req on the executing CPU at once, without an IPI: the fallback
 * when the host has no memory to queue one. */
static void handle(struct pl_kernel *k, struct shootdown_req *req);

static struct shootdown_req *round_send(struct pl_kernel *k, struct shootdown_req *req)
{
    uint64_t mask = targets_of(k, req);
    if (!mask) {
        free(req);
        return NULL;
    }
    struct percpu *me = k->this;
    const struct pl_cost_model *cost = &k->m->config.cost;
    percpu_now(me);
    k->stats.shootdowns++;
    req->refs = 1;
    for (unsigned i = 0; i < k->m->ncpus; i++) {
        if (!(mask >> i & 1))
            continue;
        struct percpu *c = &k->cpus[i];
        kernel_charge(k, cost->ipi_send);
        k->stats.ipis_sent++;
        smp_event(k, PL_EV_IPI_SEND, 0, 0, i);
        if (c->nipis == c->ipis_cap) {
            size_t cap = c->ipis_cap ? 2 * c->ipis_cap : 8;
            struct ipi *q = realloc(c->ipis, cap * sizeof *q);
            if (!q) {
                k->this = c;
                handle(k, req);
                k->this = me;
                continue;
            }
            c->ipis = q;
            c->ipis_cap = cap;
        }
        c->ipis[c->nipis++] = (struct ipi){.req = req, .due = me->clock + cost->ipi_latency};
        req->pending++;
        req->refs++;
    }
    return req;
}

/* A request, or the end of the run: without one no CPU can be told, and
 * going on would leave stale translations behind (the host is out of
 * memory; no input leads here). */
static struct shootdown_req *req_new(void)
{
    struct shootdown_req *req = calloc(1, sizeof *req);
    if (!req) {
        fprintf(stderr, "ptelab: out of host memory for a TLB shootdown\n");
        abort();
    }
    return req;
}

struct shootdown_req *shootdown_send(struct pl_kernel *k, struct pmap *pm, const uint64_t *va, unsigned n, bool all,
                                     bool freed_tables)
{
    if (k->m->ncpus == 1)
        return NULL;
    struct shootdown_req *req = req_new();
    assert(n <= SHOOTDOWN_MAX_PAGES);
    *req = (struct shootdown_req){.pm = pm, .pid = pm ? pm->pid : 0, .pcid = pm ? pm->pcid : 0,
                                  .gen = pm ? pm->tlb_gen : 0, .all = all || n == 0, .freed_tables = freed_tables,
                                  .n = n};
    if (n)
        memcpy(req->va, va, n * sizeof *va);
    return round_send(k, req);
}

void shootdown_wait(struct pl_kernel *k, struct shootdown_req *req)
{
    if (!req)
        return;
    struct percpu *me = k->this;
    bool leave = req->leave;
    if (req->pending && (leave || k->cfg.shootdown != PL_SHOOTDOWN_NO_WAIT)) {
        assert(!k->waiting && "a shootdown inside a shootdown");
        uint64_t start = percpu_now(me);
        k->waiting = true;
        k->waiting_on = req->pm;
        while (req->pending)
            if (!sched_step_other(k)) {
                fprintf(stderr, "ptelab: internal error: a shootdown waits for CPUs that cannot run\n");
                abort();
            }
        k->waiting = false;
        k->waiting_on = NULL;
        k->this = me;
        sched_unblock(k);
        if (req->acked > me->clock)
            me->clock = req->acked;
        uint64_t waited = me->clock - start;
        k->stats.wait_cycles += waited;
        me->stats.wait_cycles += waited;
        smp_event(k, PL_EV_ACKED, 0, 0, waited);
    }
    req->pm = NULL; /* from now on handlers go by pid */
    req_put(req);
}

void shootdown_leave_mm(struct pl_kernel *k, struct pmap *pm)
{
    if (k->m->ncpus == 1 || !(pm->cpumask & ~(UINT64_C(1) << k->this->id)))
        return;
    struct shootdown_req *req = req_new();
    *req = (struct shootdown_req){.pm = pm, .pid = pm->pid, .pcid = pm->pcid, .all = true, .leave = true};
    shootdown_wait(k, round_send(k, req));
}

/* Flushes every context of the executing CPU, global entries too (a
 * kernel-half round). */
static void flush_all_contexts(struct percpu *c)
{
    const struct pl_cpu_regs *r = pl_cpu_regs(c->cpu);
    if (r->cr4 & PL_CR4_PCIDE) {
        pl_cpu_invpcid(c->cpu, 2, 0, 0);
    } else if (r->cr4 & PL_CR4_PGE) {
        pl_cpu_write_cr4(c->cpu, r->cr4 & ~PL_CR4_PGE); /* toggling PGE drops global entries too */
        pl_cpu_write_cr4(c->cpu, r->cr4 | PL_CR4_PGE);
    } else {
        pl_cpu_write_cr3(c->cpu, r->cr3);
    }
}

/* The handler's work for req on the executing CPU; returns the pages
 * flushed (0: everything, or nothing to do). */
static uint64_t handle_flush(struct pl_kernel *k, const struct shootdown_req *req)
{
    struct percpu *c = k->this;
    if (req->pid == 0) {
        flush_all_contexts(c);
        c->stats.flush_full++;
        return 0;
    }
    if (!c->mm || c->mm->pid != req->pid)
        return 0; /* switched away since: its generation is checked when it comes back */
    if (c->lazy && (req->freed_tables || req->leave)) {
        c->stats.ipis_handled_lazy++;
        kernel_leave_mm(k);
        smp_event(k, PL_EV_LEAVE_MM, 0, 0, (uint64_t)req->pid);
        return 0;
    }
    if (req->leave)
        return 0;
    /* Linux's flush_tlb_func: nothing when this CPU already caught up, the
     * pages when it is one generation behind, else everything. */
    uint64_t *gen = &c->pcid_gen[req->pcid];
    if (*gen >= req->gen)
        return 0;
    if (!req->all && *gen + 1 == req->gen) {
        for (unsigned i = 0; i < req->n; i++)
            pl_cpu_invlpg(c->cpu, req->va[i]);
        c->stats.flush_pages += req->n;
        *gen = req->gen;
        return req->n;
    }
    cpu_flush_pcid(c->cpu, req->pcid);
    c->stats.flush_full++;
    *gen = c->mm->tlb_gen;
    return 0;
}

static void handle(struct pl_kernel *k, struct shootdown_req *req)
{
    struct percpu *c = k->this;
    percpu_now(c);
    c->stats.ipis_received++;
    kernel_charge(k, k->m->config.cost.ipi_handle);
    unsigned cpl = pl_cpu_regs(c->cpu)->cpl;
    pl_cpu_set_cpl(c->cpu, 0);
    uint64_t pages = handle_flush(k, req);
    pl_cpu_set_cpl(c->cpu, cpl);
    smp_event(k, PL_EV_IPI, 0, req->n ? req->va[0] : 0, pages);
    uint64_t back = c->clock + k->m->config.cost.ipi_latency;
    if (back > req->acked)
        req->acked = back;
}

unsigned shootdown_handle_ipis(struct pl_kernel *k, bool idle)
{
    struct percpu *c = k->this;
    if (idle && c->nipis && c->ipis[0].due > c->clock)
        c->clock = c->ipis[0].due; /* asleep until the interrupt */
    unsigned done = 0;
    while (done < c->nipis && c->ipis[done].due <= c->clock) {
        struct shootdown_req *req = c->ipis[done].req;
        handle(k, req);
        req->pending--;
        req_put(req);
        done++;
    }
    if (done) {
        memmove(c->ipis, c->ipis + done, (c->nipis - done) * sizeof *c->ipis);
        c->nipis -= done;
    }
    return done;
}

void shootdown_drop_all(struct pl_kernel *k)
{
    for (unsigned i = 0; i < k->m->ncpus; i++) {
        struct percpu *c = &k->cpus[i];
        for (size_t j = 0; j < c->nipis; j++)
            req_put(c->ipis[j].req);
        free(c->ipis);
        c->ipis = NULL;
        c->nipis = c->ipis_cap = 0;
    }
}
