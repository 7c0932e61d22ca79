/* The kernel's user-mode entry and fault entry for callers (the trace
 * replayer) that drive the CPU directly instead of through pl_proc_read. */
#include <errno.h>

#include "os/os.h"
#include "ptelab/replay.h"

int pl_proc_activate(struct pl_proc *p)
{
    if (pl_proc_state(p) != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_kernel *k = pl_proc_kernel(p);
    kernel_switch_to(k, proc_caller(p));
    kernel_leave(k);
    return 0;
}

int pl_proc_fix_fault(struct pl_proc *p, const struct pl_fault *f, unsigned kind)
{
    if (pl_proc_state(p) != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_kernel *k = pl_proc_kernel(p);
    kernel_switch_to(k, proc_caller(p));
    kernel_enter(k);
    struct pl_siginfo si;
    int code = fault_handle(p, f, kind, &si);
    if (code == 0 && pl_proc_state(p) == PL_PROC_RUNNING)
        return pl_proc_activate(p);
    return 1;
}
