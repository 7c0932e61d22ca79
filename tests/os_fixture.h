/* The fixture the OS test programs share (test_fault, test_proc,
 * test_syscall, test_shm, test_pmap): one machine and one kernel per test,
 * booted by boot(), checked by pl_kernel_check and, under AddressSanitizer,
 * by LeakSanitizer in teardown(). Each program declares its own suites and
 * setup, and keeps the helpers only it needs.
 *
 * A program that runs its own machines (test_kernel_property) defines
 * OS_FIXTURE_HOST_ONLY before including this, and gets only PG, the
 * LeakSanitizer check and nothing that names m or k.
 *
 * Everything here is static inline: a test program includes this once, and
 * a helper it does not call costs nothing and warns of nothing. */
#ifndef PTELAB_TESTS_OS_FIXTURE_H
#define PTELAB_TESTS_OS_FIXTURE_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/proc.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#else
#define HAVE_LSAN 0
#endif

#define PG UINT64_C(4096)

/* Asserts that LeakSanitizer finds no leaked host memory now; nothing
 * without AddressSanitizer. Criterion's workers end without LSan's exit-time
 * check, so a test that wants one asks here. */
static inline void assert_no_host_leaks(void)
{
#if HAVE_LSAN
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "host memory leaked: see the report above");
#endif
}

#ifndef OS_FIXTURE_HOST_ONLY

#define RW (PL_PROT_READ | PL_PROT_WRITE)
#define RO PL_PROT_READ
#define ANON (PL_MAP_PRIVATE | PL_MAP_ANONYMOUS)
#define SHANON (PL_MAP_SHARED | PL_MAP_ANONYMOUS)
#define X UINT64_C(0x200000000) /* a free, fixed place for tests */

/* Leaf entry bits, as x86 defines them. */
#define E_P UINT64_C(1)
#define E_RW UINT64_C(2)
#define E_US UINT64_C(4)
#define E_A UINT64_C(0x20)
#define E_XD (UINT64_C(1) << 63)
#define E_FRAME UINT64_C(0x000FFFFFFFFFF000)

/* The machine and kernel under test: set by boot(), freed by teardown(). */
static struct pl_machine *m;
static struct pl_kernel *k;

/* The machine a test gets unless it asks otherwise: the library's defaults
 * with 16 MiB of RAM, so that running out of frames is in reach. A test
 * that needs another machine changes a field of this and passes it to
 * boot(). */
static inline struct pl_machine_config os_machine_config(void)
{
    struct pl_machine_config mc;
    pl_machine_config_default(&mc);
    mc.ram_size = UINT64_C(16) << 20;
    return mc;
}

/* Boots m from mc (NULL: os_machine_config()) and k on it from kc (NULL:
 * the kernel's defaults). Asserts that both succeed. */
static inline void boot(const struct pl_machine_config *mc, const struct pl_kernel_config *kc)
{
    struct pl_machine_config dflt = os_machine_config();
    cr_assert_eq(pl_machine_new(mc ? mc : &dflt, &m), 0);
    cr_assert_eq(pl_kernel_new(m, kc, &k), 0);
}

/* Asserts that pl_kernel_check finds the kernel consistent. Assumes k. */
static inline void assert_consistent(void)
{
    char msg[256];
    int rc = pl_kernel_check(k, msg, sizeof msg);
    cr_assert_eq(rc, 0, "kernel check: %s", msg);
}

/* A suite's .fini: checks the kernel, frees it and its machine, then asks
 * LeakSanitizer. Does nothing when no kernel was booted (a suite whose
 * tests boot their own, failing before they did). */
static inline void teardown(void)
{
    if (!k)
        return;
    assert_consistent();
    pl_kernel_free(k);
    pl_machine_free(m);
    k = NULL;
    m = NULL;
    assert_no_host_leaks();
}

/* A new process; asserts that spawn succeeds. */
static inline struct pl_proc *spawn(void)
{
    struct pl_proc *p;
    cr_assert_eq(pl_proc_spawn(k, &p), 0);
    return p;
}

/* Maps [va, va + len) of shm from off into p at exactly va (MAP_FIXED is
 * added to flags; shm NULL for anonymous memory). Asserts that mmap
 * succeeds and returns va. */
static inline void map_obj(struct pl_proc *p, uint64_t va, uint64_t len, unsigned prot, unsigned flags,
                           struct pl_shm *shm, uint64_t off)
{
    uint64_t a;
    int rc = pl_sys_mmap(p, va, len, prot, flags | PL_MAP_FIXED, shm, off, &a);
    cr_assert_eq(rc, 0, "mmap: %d", rc);
    cr_assert_eq(a, va);
}

/* map_obj() of anonymous memory. */
static inline void map_fixed(struct pl_proc *p, uint64_t addr, uint64_t len, unsigned prot, unsigned flags)
{
    map_obj(p, addr, len, prot, flags, NULL, 0);
}

/* The kernel's frame allocator statistics now. */
static inline struct pl_frame_stats frame_stats(void)
{
    struct pl_frame_stats st;
    pl_frame_stats_read(pl_kernel_frames(k), &st);
    return st;
}

/* Free frames in the kernel's allocator now. */
static inline uint64_t free_frames(void) { return frame_stats().free_frames; }

#endif /* OS_FIXTURE_HOST_ONLY */
#endif /* PTELAB_TESTS_OS_FIXTURE_H */
