/* user/sandbox: the syscall-wrapper sandbox; see ptelab/sandbox.h. It runs
 * as the process would: only system calls and user instructions (RDPKRU,
 * WRPKRU), nothing of the kernel's inside. */
#include "user/sandbox.h"

#include <errno.h>
#include <stdlib.h>

#include "ptelab/pkey.h"

int pl_sandbox_new(struct pl_proc *p, enum pl_sandbox_mode mode, struct pl_sandbox **out)
{
    if (mode != PL_SANDBOX_PKEY && mode != PL_SANDBOX_MPROTECT)
        return -EINVAL;
    if (pl_proc_state(p) != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb)
        return -ENOMEM;
    sb->p = p;
    sb->mode = mode;
    sb->key = -1;
    if (mode == PL_SANDBOX_PKEY) {
        int key = pl_sys_pkey_alloc(p, 0, 0);
        if (key < 0) {
            free(sb);
            return key;
        }
        sb->key = key;
    }
    *out = sb;
    return 0;
}

void pl_sandbox_free(struct pl_sandbox *sb)
{
    if (!sb)
        return;
    free(sb->ranges);
    free(sb);
}

int pl_sandbox_key(const struct pl_sandbox *sb) { return sb->key; }
enum pl_sandbox_mode pl_sandbox_mode(const struct pl_sandbox *sb) { return sb->mode; }
const struct pl_sandbox_stats *pl_sandbox_stats(const struct pl_sandbox *sb) { return &sb->stats; }

int pl_sandbox_protect(struct pl_sandbox *sb, uint64_t addr, uint64_t len, unsigned prot)
{
    if (sb->mode == PL_SANDBOX_PKEY)
        return pl_sys_pkey_mprotect(sb->p, addr, len, prot, sb->key);
    if (sb->nranges == sb->cap) {
        size_t cap = sb->cap ? 2 * sb->cap : 4;
        struct sandbox_range *r = realloc(sb->ranges, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        sb->ranges = r;
        sb->cap = cap;
    }
    int rc = pl_sys_mprotect(sb->p, addr, len, prot);
    if (rc == 0 && len > 0)
        sb->ranges[sb->nranges++] = (struct sandbox_range){.addr = addr, .len = len, .prot = prot};
    return rc;
}

/* MPROTECT mode: every range read-only (lock) or back to its rights. */
static int set_ranges(struct pl_sandbox *sb, bool lock)
{
    for (size_t i = 0; i < sb->nranges; i++) {
        const struct sandbox_range *r = &sb->ranges[i];
        unsigned prot = lock ? r->prot & ~PL_PROT_WRITE : r->prot;
        int rc = pl_sys_mprotect(sb->p, r->addr, r->len, prot);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pl_sandbox_call(struct pl_sandbox *sb, pl_sandbox_syscall_fn *fn, void *ctx)
{
    struct pl_proc *p = sb->p;
    int rc;
    sb->stats.calls++;
    if (sb->mode == PL_SANDBOX_PKEY) {
        uint32_t pkru;
        if ((rc = pl_proc_rdpkru(p, &pkru)) < 0 || (rc = pl_proc_wrpkru(p, pkru | PL_PKRU_WD(sb->key))) < 0)
            return rc;
        rc = fn(p, ctx);
        int rc2 = pl_proc_wrpkru(p, pkru & ~PL_PKRU_WD(sb->key));
        if (rc2 < 0 && rc >= 0)
            rc = rc2; /* the process died in the call */
    } else {
        if ((rc = set_ranges(sb, true)) < 0)
            return rc;
        rc = fn(p, ctx);
        int rc2 = set_ranges(sb, false);
        if (rc2 < 0 && rc >= 0)
            rc = rc2;
    }
    if (rc == -EFAULT)
        sb->stats.denied++;
    return rc;
}

struct read_into_args {
    uint64_t buf_va;
    const void *data;
    size_t len;
    struct pl_siginfo *fault;
};

static int read_into(struct pl_proc *p, void *ctx)
{
    struct read_into_args *a = ctx;
    return pl_sys_read_into(p, a->buf_va, a->data, a->len, a->fault);
}

int pl_sandbox_read_into(struct pl_sandbox *sb, uint64_t buf_va, const void *data, size_t len,
                         struct pl_siginfo *fault)
{
    struct read_into_args a = {.buf_va = buf_va, .data = data, .len = len, .fault = fault};
    return pl_sandbox_call(sb, read_into, &a);
}
