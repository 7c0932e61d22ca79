/* os/pkey: protection-key system calls, per-process PKRU, WRPKRU/RDPKRU
 * from user mode, and the kernel's copy into user memory (pl_sys_read_into).
 * See ptelab/pkey.h and docs/pkeys.md. */
#include "ptelab/pkey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "os/os.h"
#include "ptelab/cpu.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

#define PAGE PL_VMA_PAGE_SIZE

static bool pke_on(const struct pl_kernel *k) { return pl_cpu_regs(kcpu(k))->cr4 & PL_CR4_PKE; }

/* Keys the machine has: 16 with PKE, else only key 0 (Linux's
 * arch_max_pkey()). */
static int max_pkey(const struct pl_kernel *k) { return pke_on(k) ? (int)PL_VMA_PKEYS : 1; }

bool pkey_allocated(const struct pl_proc *p, int key)
{
    return key >= 0 && key < max_pkey(p->k) && (p->pkeys >> key & 1);
}

/* True when t's context is loaded on its CPU, so its PKRU is the CPU's. */
static bool loaded(const struct pl_thread *t)
{
    const struct percpu *c = &t->p->k->cpus[t->cpu];
    return c->curr == t && pke_on(t->p->k);
}

uint32_t pkey_thread_pkru(const struct pl_thread *t)
{
    return loaded(t) ? pl_cpu_regs(t->p->k->cpus[t->cpu].cpu)->pkru : t->pkru;
}

/* Sets t's PKRU, in its CPU when t is loaded there. */
static void set_pkru(struct pl_thread *t, uint32_t value)
{
    t->pkru = value;
    if (loaded(t))
        pl_cpu_write_pkru(t->p->k->cpus[t->cpu].cpu, value);
}

void pkey_proc_init(struct pl_proc *p)
{
    p->pkeys = 1;
    set_pkru(p->threads, PL_PKRU_INIT);
}

uint16_t pl_proc_pkeys(const struct pl_proc *p) { return p->pkeys; }

int pl_sys_pkey_alloc(struct pl_proc *p, unsigned flags, unsigned access_rights)
{
    int rc = syscall_enter(p);
    if (rc < 0)
        return rc;
    if (flags || (access_rights & ~PL_PKEY_ACCESS_MASK))
        return -EINVAL;
    for (int key = 1; key < max_pkey(p->k); key++) {
        if (p->pkeys >> key & 1)
            continue;
        p->pkeys |= (uint16_t)(1u << key);
        uint32_t bits = PL_PKRU_AD(key) | PL_PKRU_WD(key);
        uint32_t want = ((access_rights & PL_PKEY_DISABLE_ACCESS) ? PL_PKRU_AD(key) : 0) |
                        ((access_rights & PL_PKEY_DISABLE_WRITE) ? PL_PKRU_WD(key) : 0);
        /* the calling thread's rights only, as Linux's pkey_alloc */
        struct pl_thread *t = proc_caller(p);
        set_pkru(t, (pkey_thread_pkru(t) & ~bits) | want);
        return key;
    }
    return -ENOSPC;
}

int pl_sys_pkey_free(struct pl_proc *p, int key)
{
    int rc = syscall_enter(p);
    if (rc < 0)
        return rc;
    /* Linux's mm_pkey_free accepts key 0 and then hands it out again; we
     * refuse it: key 0 is the key of every page nobody gave a key. */
    if (key == 0 || !pkey_allocated(p, key))
        return -EINVAL;
    p->pkeys &= (uint16_t)~(1u << key);
    return 0;
}

int pl_sys_pkey_mprotect(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot, int key)
{
    return aspace_protect(p, addr, len, prot, key);
}

/* The instruction runs as p at CPL 3: no kernel entry is counted. */
int pl_proc_wrpkru(struct pl_proc *p, uint32_t value)
{
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_kernel *k = p->k;
    struct pl_thread *t = proc_caller(p);
    kernel_switch_to(k, t);
    kernel_leave(k);
    int rc = pl_cpu_write_pkru(kcpu(k), value);
    kernel_enter(k);
    if (rc < 0)
        return -EINVAL;
    t->pkru = value;
    return 0;
}

int pl_proc_rdpkru(struct pl_proc *p, uint32_t *value)
{
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_kernel *k = p->k;
    kernel_switch_to(k, proc_caller(p));
    kernel_leave(k);
    int rc = pl_cpu_read_pkru(kcpu(k), value);
    kernel_enter(k);
    return rc < 0 ? -EINVAL : 0;
}

/* One kernel write access to user address va (CPL 0, AC = 1), faults fixed
 * as the handler can. Returns 0 with *pa, or -EFAULT with *si filled. */
static int kernel_user_write(struct pl_proc *p, uint64_t va, uint64_t *pa, struct pl_siginfo *si)
{
    struct pl_kernel *k = p->k;
    for (unsigned fixes = 0;; fixes++) {
        struct pl_fault f;
        pl_cpu_set_ac(kcpu(k), true);
        bool ok = pl_cpu_access(kcpu(k), va, PL_WRITE, pa, &f);
        pl_cpu_set_ac(kcpu(k), false);
        if (ok)
            return 0;
        /* A fault from a kernel copy that the handler cannot fix is not a
         * signal: the exception-table fixup makes the copy fail. */
        if (fault_handle(p, &f, PL_WRITE, si) != 0)
            return -EFAULT;
        if (fixes == 3) {
            fprintf(stderr, "ptelab: internal error: the kernel faults at 0x%llx after every fix\n",
                    (unsigned long long)va);
            abort();
        }
    }
}

int pl_sys_read_into(struct pl_proc *p, uint64_t buf_va, const void *data, size_t len, struct pl_siginfo *fault)
{
    int rc = syscall_enter(p);
    if (rc < 0)
        return rc;
    /* access_ok(): the kernel writes only into the user half, whatever
     * pointer it is given. */
    uint64_t top = p->k->user_top;
    if (buf_va >= top || len > top - buf_va) {
        if (fault)
            *fault = (struct pl_siginfo){.addr = buf_va, .code = PL_SEGV_MAPERR, .kind = PL_WRITE};
        return -EFAULT;
    }
    const uint8_t *b = data;
    while (len > 0) {
        size_t n = PAGE - (buf_va & (PAGE - 1));
        if (n > len)
            n = len;
        uint64_t pa;
        struct pl_siginfo si;
        if (kernel_user_write(p, buf_va, &pa, &si) < 0) {
            if (fault)
                *fault = si;
            return -EFAULT;
        }
        if (pl_physmem_write(p->k->mem, pa, b, n) < 0)
            return -EFAULT;
        buf_va += n;
        b += n;
        len -= n;
    }
    return 0;
}
