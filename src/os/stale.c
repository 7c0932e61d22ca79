/* os/stale: the event log of a machine with several CPUs, and the
 * stale-translation detector (ptelab/thread.h, docs/smp.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "os/os.h"
#include "ptelab/frame.h"
#include "ptelab/physmem.h"
#include "ptelab/machine.h"
#include "ptelab/pkey.h"
#include "ptelab/walk.h"

#define VIOLATIONS_KEPT 64
#define REPORT_EVENTS 12 /* events of each CPU in a violation report */

struct smp_log {
    struct pl_event ev[PL_EVENT_LOG]; /* a ring: the last PL_EVENT_LOG events */
    uint64_t total;                   /* events ever logged */
    struct pl_violation v[VIOLATIONS_KEPT];
    size_t nv;
    struct pl_event linear[PL_EVENT_LOG]; /* pl_kernel_events' answer, oldest first */
};

int smp_log_init(struct pl_kernel *k)
{
    if (k->m->ncpus == 1)
        return 0;
    k->log = calloc(1, sizeof *k->log);
    return k->log ? 0 : -ENOMEM;
}

void smp_log_fini(struct pl_kernel *k) { free(k->log); }

const char *pl_event_name(unsigned kind)
{
    static const char *const names[] = {"?",     "access", "fault",    "blocked", "syscall", "switch", "idle",
                                        "pte",   "flush",  "ipi-send", "ipi",     "leave-mm", "acked", "release",
                                        "STALE"};
    return kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

void smp_event(struct pl_kernel *k, unsigned kind, int tid, uint64_t va, uint64_t arg)
{
    struct smp_log *log = k->log;
    if (!log)
        return;
    struct percpu *c = k->this;
    log->ev[log->total % PL_EVENT_LOG] = (struct pl_event){.step = k->sched ? sched_steps(k) : 0,
                                                           .clock = percpu_now(c), .cpu = (uint8_t)c->id,
                                                           .kind = (uint8_t)kind, .tid = tid, .va = va, .arg = arg};
    log->total++;
}

const struct pl_event *pl_kernel_events(const struct pl_kernel *k, size_t *n)
{
    struct smp_log *log = k->log;
    *n = 0;
    if (!log)
        return NULL;
    *n = log->total < PL_EVENT_LOG ? log->total : PL_EVENT_LOG;
    uint64_t first = log->total - *n;
    for (size_t i = 0; i < *n; i++)
        log->linear[i] = log->ev[(first + i) % PL_EVENT_LOG];
    return log->linear;
}

void pl_event_print(FILE *f, const struct pl_event *e)
{
    fprintf(f, "step %6" PRIu64 "  cpu %2u  clock %8" PRIu64 "  %-8s", e->step, e->cpu, e->clock,
            pl_event_name(e->kind));
    if (e->tid)
        fprintf(f, "  tid %d", e->tid);
    switch (e->kind) {
    case PL_EV_ACCESS:
    case PL_EV_STALE:
        fprintf(f, "  0x%" PRIx64 " -> pa 0x%" PRIx64, e->va, e->arg);
        break;
    case PL_EV_FAULT:
        fprintf(f, "  0x%" PRIx64 " error code 0x%" PRIx64, e->va, e->arg);
        break;
    case PL_EV_FLUSH:
    case PL_EV_IPI:
        if (e->arg)
            fprintf(f, "  %" PRIu64 " page(s) from 0x%" PRIx64, e->arg, e->va);
        else
            fprintf(f, "  whole address space");
        break;
    case PL_EV_IPI_SEND:
        fprintf(f, "  to cpu %" PRIu64, e->arg);
        break;
    case PL_EV_ACKED:
        fprintf(f, "  after %" PRIu64 " cycles", e->arg);
        break;
    case PL_EV_SWITCH:
        fprintf(f, "%s", e->arg ? "  (TLB flushed)" : "");
        break;
    case PL_EV_IDLE:
        fprintf(f, "%s", e->arg ? "  (lazy TLB)" : "");
        break;
    case PL_EV_SYSCALL:
        fprintf(f, "  0x%" PRIx64, e->va);
        break;
    case PL_EV_PTE:
    case PL_EV_RELEASE:
        fprintf(f, "  %" PRIu64, e->arg);
        break;
    case PL_EV_LEAVE_MM:
        fprintf(f, "  of pid %" PRIu64, e->arg);
        break;
    default:
        if (e->va)
            fprintf(f, "  0x%" PRIx64, e->va);
    }
    fputc('\n', f);
}

/* Does the entry the tables hold now allow this access by t? */
static bool allowed_now(const struct pl_kernel *k, const struct pl_thread *t, const struct pmap_page *pg,
                        unsigned kind, uint64_t pa)
{
    if (!pg->present || pg->pa != (pa & ~(uint64_t)(PL_FRAME_SIZE - 1)))
        return false;
    if ((kind == PL_WRITE && !(pg->prot & PL_PROT_WRITE)) || (kind == PL_FETCH && !(pg->prot & PL_PROT_EXEC)))
        return false;
    const struct pl_cpu_regs *r = pl_cpu_regs(k->cpus[t->cpu].cpu);
    if (kind != PL_FETCH && (r->cr4 & PL_CR4_PKE)) {
        uint32_t pkru = r->pkru;
        if (pkru & PL_PKRU_AD(pg->pkey) || (kind == PL_WRITE && (pkru & PL_PKRU_WD(pg->pkey))))
            return false;
    }
    return true;
}

static bool frame_free(const struct pl_kernel *k, uint64_t pa)
{
    if (pa >= k->m->config.ram_size || pa < PL_KERNEL_RESERVED_LOW)
        return false;
    const struct pl_frame *f = pl_frame_meta(k->frames, pa & ~(uint64_t)(PL_FRAME_SIZE - 1));
    return !f || f->refcount == 0;
}

void stale_check(struct pl_kernel *k, const struct pl_thread *t, uint64_t va, unsigned kind, uint64_t pa)
{
    struct pmap_page pg;
    pmap_lookup(&t->p->pmap, va, &pg);
    if (allowed_now(k, t, &pg, kind, pa))
        return;
    /* In flight: the call that changed the entry still waits for its
     * shootdown, and the frame is still held. */
    bool freed = frame_free(k, pa);
    if (k->waiting && k->waiting_on == &t->p->pmap && !freed)
        return;
    struct smp_log *log = k->log;
    k->stats.stale_violations++;
    smp_event(k, PL_EV_STALE, t->tid, va, pa);
    if (log->nv == VIOLATIONS_KEPT)
        return;
    log->v[log->nv++] = (struct pl_violation){
        .step = sched_steps(k), .cpu = (uint8_t)k->this->id, .why = freed ? PL_STALE_FREED : PL_STALE_RETURNED,
        .kind = (uint8_t)kind, .changer_cpu = t->p->pmap.changer, .tid = t->tid, .pid = t->p->pid, .va = va,
        .pa = pa, .now_pa = pg.present ? pg.pa : 0, .event = (size_t)(log->total - 1)};
}

const struct pl_violation *pl_kernel_violations(const struct pl_kernel *k, size_t *kept, uint64_t *total)
{
    *kept = k->log ? k->log->nv : 0;
    if (total)
        *total = k->stats.stale_violations;
    return k->log ? k->log->v : NULL;
}

/* Prints the last REPORT_EVENTS kept events of cpu up to event index last. */
static void print_cpu_events(const struct smp_log *log, unsigned cpu, uint64_t last, FILE *f)
{
    uint64_t first_kept = log->total > PL_EVENT_LOG ? log->total - PL_EVENT_LOG : 0;
    const struct pl_event *pick[REPORT_EVENTS];
    unsigned n = 0;
    for (uint64_t i = last + 1; i-- > first_kept && n < REPORT_EVENTS;)
        if (log->ev[i % PL_EVENT_LOG].cpu == cpu)
            pick[n++] = &log->ev[i % PL_EVENT_LOG];
    fprintf(f, "  cpu %u, its last %u events:\n", cpu, n);
    while (n--) {
        fputs("    ", f);
        pl_event_print(f, pick[n]);
    }
}

void pl_kernel_violation_report(const struct pl_kernel *k, size_t i, FILE *f)
{
    const struct smp_log *log = k->log;
    if (!log || i >= log->nv)
        return;
    const struct pl_violation *v = &log->v[i];
    static const char *const kinds[] = {"read", "write", "fetch"};
    fprintf(f, "stale translation: cpu %u, tid %d (pid %d), %s of 0x%" PRIx64 " went to pa 0x%" PRIx64 "\n", v->cpu,
            v->tid, v->pid, v->kind < 3 ? kinds[v->kind] : "?", v->va, v->pa);
    if (v->now_pa)
        fprintf(f, "  the tables map 0x%" PRIx64 " now, with other rights or frame\n", v->now_pa);
    else
        fprintf(f, "  the tables map nothing there now\n");
    fprintf(f, "  %s\n", v->why == PL_STALE_FREED ? "the frame had been freed"
                                                  : "the call that changed the entry had returned");
    print_cpu_events(log, v->cpu, v->event, f);
    if (v->changer_cpu >= 0 && (unsigned)v->changer_cpu != v->cpu)
        print_cpu_events(log, (unsigned)v->changer_cpu, v->event, f);
}
