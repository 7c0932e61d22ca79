/* os/oom: the OOM killer. When reclaim cannot free a frame, the running
 * process of highest badness dies (ties: the lowest pid) and its memory is
 * freed; the allocation is then retried (os/reclaim). */
#include <limits.h>

#include "os/os.h"
#include "os/swapk.h"
#include "ptelab/error.h"

int64_t pl_oom_badness(uint64_t resident, uint64_t swap_entries, uint64_t pt_pages, int adj, uint64_t total_pages)
{
    if (adj <= -1000)
        return INT64_MIN;
    int64_t points = (int64_t)(resident + swap_entries + pt_pages);
    return points + (int64_t)adj * (int64_t)total_pages / 1000;
}

int pl_proc_set_oom_score_adj(struct pl_proc *p, int adj)
{
    if (adj < -1000 || adj > 1000)
        return PL_EINVAL;
    p->oom_adj = adj;
    return 0;
}

int pl_proc_oom_score_adj(const struct pl_proc *p) { return p->oom_adj; }

bool oom_kill_one(struct pl_kernel *k)
{
    struct swapk *s = k->swap;
    uint64_t total = s->nframes + s->nslots;
    struct pl_proc *victim = NULL;
    int64_t best = INT64_MIN;
    for (int pid = 1; pid <= k->nprocs; pid++) {
        struct pl_proc *p = k->procs[pid - 1];
        if (!p || p->state != PL_PROC_RUNNING)
            continue;
        /* page-table pages: the tables below the root and the root */
        int64_t pts = pl_oom_badness(p->pmap.resident, p->pmap.swapped, p->pmap.pt_pages + 1, p->oom_adj, total);
        if (pts != INT64_MIN && (!victim || pts > best)) {
            victim = p;
            best = pts;
        }
    }
    if (!victim)
        return false;
    s->st.oom_kills++;
    s->st.last_oom_pid = victim->pid;
    s->st.last_oom_points = best;
    struct pl_siginfo si = {.code = PL_SIG_OOM};
    proc_kill(victim, &si);
    return true;
}
