/* os/kernel: boot, the process table, address-space switches, counters. */
#include <stdlib.h>
#include <string.h>

#include "os/os.h"
#include "os/swapk.h"
#include "ptelab/cpu.h"
#include "ptelab/error.h"

const char *pl_why_name(unsigned why)
{
    static const char *const names[] = {
#define PL_WHY_NAME(name, text) text,
        PL_WHY_LIST(PL_WHY_NAME)
#undef PL_WHY_NAME
    };
    return why < PL_WHY_COUNT ? names[why] : "?";
}

void pl_kernel_config_default(struct pl_kernel_config *cfg)
{
    *cfg = (struct pl_kernel_config){.history = true, .history_limit = 0, .signal_retry_limit = 100};
}

int pl_kernel_new(struct pl_machine *m, const struct pl_kernel_config *cfg, struct pl_kernel **out)
{
    struct pl_kernel_config def;
    if (!cfg) {
        pl_kernel_config_default(&def);
        cfg = &def;
    }
    const struct pl_swap_config *sc = &cfg->swap;
    if (sc->policy > PL_POLICY_OPT || (sc->policy == PL_POLICY_OPT && !sc->next_use) || sc->wmark_min > sc->wmark_low || sc->wmark_low > sc->wmark_high ||
        sc->slots > (UINT64_C(1) << 39))
        return PL_EINVAL;
    struct pl_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return PL_ENOMEM;
    k->m = m;
    k->mem = m->mem;
    k->cpus = calloc(m->ncpus, sizeof *k->cpus);
    if (!k->cpus) {
        free(k);
        return PL_ENOMEM;
    }
    for (unsigned i = 0; i < m->ncpus; i++)
        k->cpus[i] = (struct percpu){.cpu = m->cpu[i], .id = i};
    k->this = &k->cpus[0];
    k->cfg = *cfg;
    k->levels = (int)m->config.levels;
    k->user_top = k->levels == 5 ? PL_USER_TOP_5 : PL_USER_TOP_4;
    k->direct_map = k->levels == 5 ? PL_DIRECT_MAP_5 : PL_DIRECT_MAP_4;
    history_init(&k->history, cfg->history, cfg->history_limit);
    k->frames = pl_frame_allocator_new(m->mem, PL_KERNEL_RESERVED_LOW, m->config.ram_size - PL_KERNEL_RESERVED_LOW);
    int rc = k->frames ? pmap_boot_kernel(k) : PL_ENOMEM;
    if (rc == 0)
        rc = sched_init(k);
    for (unsigned i = 0; i < m->ncpus && rc == 0; i++) {
        /* every CPU starts in the kernel's own address space */
        pl_cpu_set_cpl(m->cpu[i], 0);
        rc = pl_cpu_write_pat(m->cpu[i], PL_KERNEL_PAT);
        if (rc == 0)
            rc = pl_cpu_write_cr3(m->cpu[i], k->kernel_root);
    }
    if (rc == 0)
        rc = swap_init(k);
    if (rc < 0) {
        pl_kernel_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void pl_kernel_free(struct pl_kernel *k)
{
    if (!k)
        return;
    for (int pid = 1; pid <= k->nprocs; pid++) {
        struct pl_proc *p = k->procs[pid - 1];
        if (!p)
            continue;
        if (p->state == PL_PROC_RUNNING)
            pl_proc_exit(p, 0);
        pl_proc_reap(p);
    }
    free(k->procs);
    free(k->io);
    while (k->shm_list)
        shm_destroy(k->shm_list);
    swap_fini(k);
    sched_fini(k);
    pl_frame_allocator_free(k->frames);
    history_fini(&k->history);
    free(k->cpus);
    free(k);
}

struct pl_machine *pl_kernel_machine(const struct pl_kernel *k) { return k->m; }
struct pl_frame_allocator *pl_kernel_frames(const struct pl_kernel *k) { return k->frames; }
const struct pl_kernel_stats *pl_kernel_stats(const struct pl_kernel *k) { return &k->stats; }
uint64_t pl_kernel_user_top(const struct pl_kernel *k) { return k->user_top; }
uint64_t pl_kernel_direct_map(const struct pl_kernel *k) { return k->direct_map; }
uint64_t pl_kernel_own_frames(const struct pl_kernel *k) { return k->own_frames; }

const struct pl_pte_write *pl_kernel_history(const struct pl_kernel *k, size_t *n)
{
    *n = k->history.n;
    return k->history.log;
}

struct pl_proc *pl_kernel_proc(const struct pl_kernel *k, int pid)
{
    return pid >= 1 && pid <= k->nprocs ? k->procs[pid - 1] : NULL;
}

struct pl_proc *pl_kernel_next_proc(const struct pl_kernel *k, const struct pl_proc *after)
{
    for (int pid = after ? after->pid + 1 : 1; pid <= k->nprocs; pid++)
        if (k->procs[pid - 1])
            return k->procs[pid - 1];
    return NULL;
}

void kernel_charge(struct pl_kernel *k, uint64_t cycles)
{
    k->stats.cycles += cycles;
    k->this->clock += cycles;
}

void kernel_enter(struct pl_kernel *k) { pl_cpu_set_cpl(kcpu(k), 0); }
void kernel_leave(struct pl_kernel *k) { pl_cpu_set_cpl(kcpu(k), 3); }

/* Moves the executing CPU's PKRU into its current thread, and t's into the
 * CPU, written only when it differs, as Linux's switch_fpu_finish does. The
 * kernel's own context keeps whatever PKRU was loaded: keys guard user
 * pages only. */
static void switch_pkru(struct pl_kernel *k, struct pl_thread *t)
{
    struct percpu *c = k->this;
    if (!(pl_cpu_regs(c->cpu)->cr4 & PL_CR4_PKE))
        return;
    if (c->curr)
        c->curr->pkru = pl_cpu_regs(c->cpu)->pkru;
    if (t && t->pkru != pl_cpu_regs(c->cpu)->pkru)
        pl_cpu_write_pkru(c->cpu, t->pkru);
}

/* Loads pm (NULL: the kernel's own address space) into CR3 of the executing
 * CPU. With PCIDs, an address space keeps its PCID's TLB entries across
 * switches (CR3 bit 63) when this CPU loaded that PCID last for it and has
 * seen every shootdown of it since (its tlb_gen): the CPU was out of the
 * address space's mask meanwhile, so no IPI told it. Returns true when the
 * load flushed the PCID. */
static bool load_mm(struct pl_kernel *k, struct pmap *pm)
{
    struct percpu *c = k->this;
    if (c->mm)
        c->mm->cpumask &= ~(UINT64_C(1) << c->id);
    uint64_t cr3 = pm ? pm->root : k->kernel_root;
    bool flush = true;
    if (pm && pm->pcid) {
        cr3 |= pm->pcid;
        if (c->pcid_owner[pm->pcid] == pm->pid && c->pcid_gen[pm->pcid] == pm->tlb_gen) {
            cr3 |= PL_CR3_NOFLUSH;
            flush = false;
        }
        c->pcid_owner[pm->pcid] = pm->pid;
    }
    if (pm) {
        /* in the mask before the load: a shootdown either reaches this CPU
         * or happened before its generation was read */
        pm->cpumask |= UINT64_C(1) << c->id;
        c->pcid_gen[pm->pcid] = pm->tlb_gen;
    }
    int rc = pl_cpu_write_cr3(c->cpu, cr3);
    (void)rc;
    c->mm = pm;
    k->stats.context_switches++;
    return flush;
}

void cpu_flush_pcid(struct pl_cpu *cpu, uint16_t pcid)
{
    if (pl_cpu_regs(cpu)->cr4 & PL_CR4_PCIDE)
        pl_cpu_invpcid(cpu, 1, pcid, 0);
    else
        pl_cpu_write_cr3(cpu, pl_cpu_regs(cpu)->cr3);
}

void kernel_switch_to(struct pl_kernel *k, struct pl_thread *t)
{
    struct percpu *c = k->this = &k->cpus[t->cpu];
    if (c->curr == t && !c->lazy)
        return;
    unsigned cpl = pl_cpu_regs(c->cpu)->cpl;
    pl_cpu_set_cpl(c->cpu, 0);
    switch_pkru(k, t);
    struct pmap *pm = &t->p->pmap;
    bool flushed = false;
    if (c->mm != pm) {
        flushed = load_mm(k, pm);
    } else if (c->pcid_gen[pm->pcid] != pm->tlb_gen) {
        /* back from lazy mode (or another thread of the same process)
         * after a shootdown that skipped this CPU: flush the PCID now */
        cpu_flush_pcid(c->cpu, pm->pcid);
        c->pcid_gen[pm->pcid] = pm->tlb_gen;
        flushed = true;
    }
    pl_cpu_set_cpl(c->cpu, cpl);
    if (c->curr != t)
        smp_event(k, PL_EV_SWITCH, t->tid, 0, flushed);
    c->curr = t;
    c->lazy = false;
}

void kernel_go_idle(struct pl_kernel *k)
{
    struct percpu *c = k->this;
    if (!c->curr)
        return;
    switch_pkru(k, NULL);
    c->curr = NULL;
    c->lazy = c->mm != NULL;
    smp_event(k, PL_EV_IDLE, 0, 0, c->lazy);
}

void kernel_leave_mm(struct pl_kernel *k)
{
    struct percpu *c = k->this;
    if (c->curr)
        kernel_go_idle(k);
    if (!c->mm)
        return;
    unsigned cpl = pl_cpu_regs(c->cpu)->cpl;
    pl_cpu_set_cpl(c->cpu, 0);
    load_mm(k, NULL);
    pl_cpu_set_cpl(c->cpu, cpl);
    c->lazy = false;
}
