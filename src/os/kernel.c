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
    k->cpu = m->cpu[0];
    k->cfg = *cfg;
    k->levels = (int)m->config.levels;
    k->user_top = k->levels == 5 ? PL_USER_TOP_5 : PL_USER_TOP_4;
    k->direct_map = k->levels == 5 ? PL_DIRECT_MAP_5 : PL_DIRECT_MAP_4;
    history_init(&k->history, cfg->history, cfg->history_limit);
    k->frames = pl_frame_allocator_new(m->mem, PL_KERNEL_RESERVED_LOW, m->config.ram_size - PL_KERNEL_RESERVED_LOW);
    int rc = k->frames ? pmap_boot_kernel(k) : PL_ENOMEM;
    if (rc == 0) {
        kernel_enter(k);
        for (unsigned i = 0; i < m->ncpus && rc == 0; i++)
            rc = pl_cpu_write_pat(m->cpu[i], PL_KERNEL_PAT);
    }
    if (rc == 0)
        rc = pl_cpu_write_cr3(k->cpu, k->kernel_root);
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
    pl_frame_allocator_free(k->frames);
    history_fini(&k->history);
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

void kernel_charge(struct pl_kernel *k, uint64_t cycles) { k->stats.cycles += cycles; }

void kernel_enter(struct pl_kernel *k) { pl_cpu_set_cpl(k->cpu, 0); }
void kernel_leave(struct pl_kernel *k) { pl_cpu_set_cpl(k->cpu, 3); }

/* With PCIDs, a process keeps its PCID's TLB entries across switches (CR3
 * bit 63), except on the first load after another process used that PCID.
 * PKRU is per thread (one per process here): saved from the CPU when its
 * process is switched out, loaded when it is switched in, and written only
 * when it differs, as Linux's switch_fpu_finish does. The kernel's own
 * address space keeps whatever PKRU was loaded: keys guard user pages only. */
void kernel_switch_to(struct pl_kernel *k, struct pl_proc *p)
{
    if (k->current == p)
        return;
    unsigned cpl = pl_cpu_regs(k->cpu)->cpl;
    pl_cpu_set_cpl(k->cpu, 0);
    if (pl_cpu_regs(k->cpu)->cr4 & PL_CR4_PKE) {
        if (k->current)
            k->current->pkru = pl_cpu_regs(k->cpu)->pkru;
        if (p && p->pkru != pl_cpu_regs(k->cpu)->pkru)
            pl_cpu_write_pkru(k->cpu, p->pkru);
    }
    uint64_t cr3 = p ? p->pmap.root : k->kernel_root;
    if (p && p->pmap.pcid) {
        cr3 |= p->pmap.pcid;
        if (k->pcid_owner[p->pmap.pcid] == p->pid)
            cr3 |= PL_CR3_NOFLUSH;
        k->pcid_owner[p->pmap.pcid] = p->pid;
    }
    int rc = pl_cpu_write_cr3(k->cpu, cr3);
    (void)rc;
    pl_cpu_set_cpl(k->cpu, cpl);
    k->current = p;
    k->stats.context_switches++;
}
