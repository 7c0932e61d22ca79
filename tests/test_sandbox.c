/* user/sandbox: the syscall-wrapper sandbox. Through the wrapper, the
 * kernel's write into the module's data faults (PK in the error code with a
 * key, a plain protection fault with mprotect); outside it, the same write
 * succeeds. The cost of each wrapping, exactly. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "ptelab/cpu.h"
#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/pkey.h"
#include "ptelab/proc.h"
#include "ptelab/sandbox.h"

#define PG UINT64_C(4096)
#define RW (PL_PROT_READ | PL_PROT_WRITE)
#define ANON (PL_MAP_PRIVATE | PL_MAP_ANONYMOUS)
#define MODULE UINT64_C(0x200000000) /* the module's data: 2 pages */
#define BUF UINT64_C(0x300000000)    /* an ordinary buffer */

static struct pl_machine *m;
static struct pl_kernel *k;
static struct pl_proc *p;

static void setup(void)
{
    struct pl_machine_config mc;
    pl_machine_config_default(&mc);
    mc.ram_size = UINT64_C(16) << 20;
    cr_assert_eq(pl_machine_new(&mc, &m), 0);
    cr_assert_eq(pl_kernel_new(m, NULL, &k), 0);
    cr_assert_eq(pl_proc_spawn(k, &p), 0);
    uint64_t a;
    cr_assert_eq(pl_sys_mmap(p, MODULE, 2 * PG, RW, ANON | PL_MAP_FIXED, NULL, 0, &a), 0);
    cr_assert_eq(pl_sys_mmap(p, BUF, PG, RW, ANON | PL_MAP_FIXED, NULL, 0, &a), 0);
    static const char secret[] = "module secret";
    cr_assert_eq(pl_proc_write(p, MODULE, secret, sizeof secret), 0);
    cr_assert_eq(pl_proc_write(p, BUF, "x", 1), 0);
}

static void teardown(void)
{
    char msg[256];
    cr_assert_eq(pl_kernel_check(k, msg, sizeof msg), 0, "kernel check: %s", msg);
    pl_kernel_free(k);
    pl_machine_free(m);
}

TestSuite(sandbox, .init = setup, .fini = teardown);

static void assert_secret_intact(void)
{
    char back[14];
    cr_assert_eq(pl_proc_read(p, MODULE, back, sizeof back), 0);
    cr_assert_str_eq(back, "module secret");
}

Test(sandbox, pkey_mode_stops_the_kernel_writing_module_data)
{
    struct pl_sandbox *sb;
    cr_assert_eq(pl_sandbox_new(p, PL_SANDBOX_PKEY, &sb), 0);
    int key = pl_sandbox_key(sb);
    cr_assert_eq(key, 1);
    cr_assert_eq(pl_sandbox_protect(sb, MODULE, 2 * PG, RW), 0);
    cr_assert_eq(pl_vma_find(pl_proc_vmas(p), MODULE)->pkey, key);

    struct pl_siginfo f = {0};
    cr_assert_eq(pl_sandbox_read_into(sb, MODULE + 4, "EVIL", 4, &f), -EFAULT);
    cr_assert_eq(f.error_code, 0x23, "P|W|PK from a supervisor write: got 0x%x", f.error_code);
    cr_assert_eq(f.code, PL_SEGV_PKUERR);
    cr_assert_eq(f.pkey, key);
    cr_assert_eq(f.addr, MODULE + 4);
    assert_secret_intact();
    cr_assert_eq(pl_proc_state(p), PL_PROC_RUNNING, "a kernel copy's fault is no signal");
    cr_assert_eq(pl_proc_stats(p)->signals, 0);
    cr_assert_eq(pl_sandbox_stats(sb)->calls, 1);
    cr_assert_eq(pl_sandbox_stats(sb)->denied, 1);

    /* after the call WD is clear again: the module writes its data */
    uint32_t pkru;
    cr_assert_eq(pl_proc_rdpkru(p, &pkru), 0);
    cr_assert_eq(pkru & PL_PKRU_WD(key), 0);
    cr_assert_eq(pl_proc_write(p, MODULE + PG, "ok", 2), 0);
    /* the same system call outside the wrapper succeeds */
    cr_assert_eq(pl_sys_read_into(p, MODULE + 4, "EVIL", 4, &f), 0);
    char back[8];
    cr_assert_eq(pl_proc_read(p, MODULE, back, 8), 0);
    cr_assert_eq(memcmp(back, "moduEVIL", 8), 0);
    /* wrapped calls into other memory go through */
    cr_assert_eq(pl_sandbox_read_into(sb, BUF, "data", 4, &f), 0);
    cr_assert_eq(pl_proc_read(p, BUF, back, 4), 0);
    cr_assert_eq(memcmp(back, "data", 4), 0);
    cr_assert_eq(pl_sandbox_stats(sb)->calls, 2);
    cr_assert_eq(pl_sandbox_stats(sb)->denied, 1);
    pl_sandbox_free(sb);
}

/* The wrapper adds one RDPKRU and two WRPKRU to a system call: no kernel
 * entry, no TLB invalidation, no walk. */
Test(sandbox, pkey_wrapping_costs_three_user_instructions)
{
    struct pl_sandbox *sb;
    cr_assert_eq(pl_sandbox_new(p, PL_SANDBOX_PKEY, &sb), 0);
    cr_assert_eq(pl_sandbox_protect(sb, MODULE, 2 * PG, RW), 0);
    struct pl_cpu *cpu = m->cpu[0];
    const struct pl_cost_model *c = pl_cpu_cost(cpu);
    /* warm: the buffer's translation cached */
    cr_assert_eq(pl_sys_read_into(p, BUF, "a", 1, NULL), 0);
    struct pl_kernel_stats ks = *pl_kernel_stats(k);
    uint64_t cyc = pl_cpu_stats(cpu)->cycles;
    cr_assert_eq(pl_sys_read_into(p, BUF, "a", 1, NULL), 0);
    uint64_t bare = pl_cpu_stats(cpu)->cycles - cyc;
    cyc = pl_cpu_stats(cpu)->cycles;
    cr_assert_eq(pl_sandbox_read_into(sb, BUF, "a", 1, NULL), 0);
    uint64_t wrapped = pl_cpu_stats(cpu)->cycles - cyc;
    cr_assert_eq(wrapped - bare, c->rdpkru + 2 * c->wrpkru);
    cr_assert_eq(pl_kernel_stats(k)->syscalls, ks.syscalls + 2);
    cr_assert_eq(pl_kernel_stats(k)->tlb_flush_pages, ks.tlb_flush_pages);
    cr_assert_eq(pl_kernel_stats(k)->tlb_flush_full, ks.tlb_flush_full);
    cr_assert_eq(pl_kernel_stats(k)->cycles - ks.cycles, 2 * c->syscall);
    pl_sandbox_free(sb);
}

Test(sandbox, mprotect_mode_gives_the_same_protection_with_system_calls)
{
    struct pl_sandbox *sb;
    cr_assert_eq(pl_sandbox_new(p, PL_SANDBOX_MPROTECT, &sb), 0);
    cr_assert_eq(pl_sandbox_key(sb), -1);
    cr_assert_eq(pl_proc_pkeys(p), 1, "no key taken");
    cr_assert_eq(pl_sandbox_protect(sb, MODULE, 2 * PG, RW), 0);
    struct pl_kernel_stats ks = *pl_kernel_stats(k);
    struct pl_siginfo f = {0};
    cr_assert_eq(pl_sandbox_read_into(sb, MODULE + 4, "EVIL", 4, &f), -EFAULT);
    cr_assert_eq(f.error_code, 0x3, "P|W: a read-only page");
    cr_assert_eq(f.code, PL_SEGV_ACCERR);
    cr_assert_eq(pl_kernel_stats(k)->syscalls, ks.syscalls + 3, "mprotect, the call, mprotect");
    /* the module's resident page lost R/W: one invalidation */
    cr_assert_eq(pl_kernel_stats(k)->tlb_flush_pages, ks.tlb_flush_pages + 1);
    assert_secret_intact();
    cr_assert_eq(pl_sandbox_stats(sb)->denied, 1);
    /* afterwards the module writes again (a write fault restores R/W) */
    cr_assert_eq(pl_proc_write(p, MODULE, "M", 1), 0);
    cr_assert_eq(pl_proc_stats(p)->signals, 0);
    cr_assert_eq(pl_sandbox_read_into(sb, BUF, "data", 4, &f), 0);
    cr_assert_eq(pl_sandbox_stats(sb)->calls, 2);
    pl_sandbox_free(sb);
}

static int failing_call(struct pl_proc *q, void *ctx)
{
    (void)q;
    ++*(int *)ctx;
    return -EBADF;
}

Test(sandbox, errors_and_results)
{
    struct pl_sandbox *sb;
    cr_assert_eq(pl_sandbox_new(p, (enum pl_sandbox_mode)7, &sb), -EINVAL);
    for (int i = 1; i <= 15; i++)
        cr_assert_eq(pl_sys_pkey_alloc(p, 0, 0), i);
    cr_assert_eq(pl_sandbox_new(p, PL_SANDBOX_PKEY, &sb), -ENOSPC);
    cr_assert_eq(pl_sys_pkey_free(p, 9), 0);
    cr_assert_eq(pl_sandbox_new(p, PL_SANDBOX_PKEY, &sb), 0);
    cr_assert_eq(pl_sandbox_key(sb), 9);
    cr_assert_eq(pl_sandbox_protect(sb, MODULE + 8 * PG, PG, RW), -ENOMEM, "not mapped");
    int ran = 0;
    cr_assert_eq(pl_sandbox_call(sb, failing_call, &ran), -EBADF, "the call's own result");
    cr_assert_eq(ran, 1);
    uint32_t pkru;
    cr_assert_eq(pl_proc_rdpkru(p, &pkru), 0);
    cr_assert_eq(pkru & PL_PKRU_WD(9), 0, "WD cleared after a failed call too");
    cr_assert_eq(pl_sandbox_stats(sb)->denied, 0);
    pl_sandbox_free(sb);
    pl_proc_exit(p, 0);
    cr_assert_eq(pl_sandbox_new(p, PL_SANDBOX_MPROTECT, &sb), -ESRCH);
}
