/* The syscall-wrapper sandbox (user/sandbox): simulated cycles per wrapped
 * system call, protection by a key (RDPKRU + WRPKRU before, WRPKRU after)
 * beside the same protection by mprotect (read-only before, read-write
 * after: two more system calls, entry updates and TLB invalidations), in
 * the same run, for 1, 16 and 256 protected pages.
 *
 * The system call is pl_sys_read_into of 64 bytes into an ordinary buffer.
 * Cycles are the simulator's (cost.h): the CPU's (translations, faults,
 * invalidations, WRPKRU) plus the kernel's (system calls, fault handlers),
 * averaged over ITERATIONS calls in steady state. Two figures per row:
 *
 *   call:        the wrapped call alone;
 *   call+touch:  the call, then the module writes one byte to each of its
 *                pages, as it would use its data between calls. With
 *                mprotect this includes the TLB refills after the
 *                invalidations and, because this kernel gives private pages
 *                write access back only from their write fault (as Linux
 *                before 5.19 did for most anonymous pages), one fault per
 *                page.
 *
 * "bare" is the same call without the wrapper. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/pkey.h"
#include "ptelab/proc.h"
#include "ptelab/sandbox.h"

#define PAGE UINT64_C(4096)
#define MODULE UINT64_C(0x200000000)
#define BUF UINT64_C(0x300000000)
#define ITERATIONS 200

enum variant { BARE, PKEY, MPROTECT };

static uint64_t total_cycles(const struct pl_machine *m, const struct pl_kernel *k)
{
    return pl_cpu_stats(m->cpu[0])->cycles + pl_kernel_stats(k)->cycles;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench/sandbox: %s: %d\n", what, rc);
    exit(1);
}

/* Average cycles per iteration of variant with npages protected pages;
 * touch: the module writes each page after each call. */
static double measure(enum variant var, uint64_t npages, int touch)
{
    struct pl_machine_config mc;
    pl_machine_config_default(&mc);
    mc.ram_size = UINT64_C(64) << 20;
    struct pl_machine *m;
    struct pl_kernel *k;
    struct pl_proc *p;
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.history = false;
    int rc;
    if ((rc = pl_machine_new(&mc, &m)) < 0 || (rc = pl_kernel_new(m, &kc, &k)) < 0 || (rc = pl_proc_spawn(k, &p)) < 0)
        die("boot", rc);
    uint64_t a;
    unsigned rw = PL_PROT_READ | PL_PROT_WRITE, flags = PL_MAP_PRIVATE | PL_MAP_ANONYMOUS | PL_MAP_FIXED;
    if ((rc = pl_sys_mmap(p, MODULE, npages * PAGE, rw, flags, NULL, 0, &a)) < 0 ||
        (rc = pl_sys_mmap(p, BUF, PAGE, rw, flags, NULL, 0, &a)) < 0)
        die("mmap", rc);
    struct pl_sandbox *sb = NULL;
    if (var != BARE) {
        if ((rc = pl_sandbox_new(p, var == PKEY ? PL_SANDBOX_PKEY : PL_SANDBOX_MPROTECT, &sb)) < 0 ||
            (rc = pl_sandbox_protect(sb, MODULE, npages * PAGE, rw)) < 0)
            die("sandbox", rc);
    }
    static const uint8_t data[64];
    uint64_t start = 0;
    for (int i = -2; i < ITERATIONS; i++) { /* two untimed rounds: pages resident, TLB warm */
        if (i == 0)
            start = total_cycles(m, k);
        rc = sb ? pl_sandbox_read_into(sb, BUF, data, sizeof data, NULL) : pl_sys_read_into(p, BUF, data, sizeof data, NULL);
        if (rc < 0)
            die("call", rc);
        if (touch || i < 0)
            for (uint64_t pg = 0; pg < npages; pg++)
                if ((rc = pl_proc_write(p, MODULE + pg * PAGE, "m", 1)) < 0)
                    die("touch", rc);
    }
    double per = (double)(total_cycles(m, k) - start) / ITERATIONS;
    pl_sandbox_free(sb);
    pl_kernel_free(k);
    pl_machine_free(m);
    return per;
}

int main(void)
{
    static const uint64_t sizes[] = {1, 16, 256};
    printf("sandbox: simulated cycles per wrapped system call (read_into, 64 bytes), %d calls\n", ITERATIONS);
    printf("%6s | %10s %10s %10s | %12s %12s %12s\n", "pages", "bare", "pkey", "mprotect", "bare+touch",
           "pkey+touch", "mprot+touch");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t n = sizes[i];
        printf("%6" PRIu64 " | %10.0f %10.0f %10.0f | %12.0f %12.0f %12.0f\n", n, measure(BARE, n, 0),
               measure(PKEY, n, 0), measure(MPROTECT, n, 0), measure(BARE, n, 1), measure(PKEY, n, 1),
               measure(MPROTECT, n, 1));
    }
    return 0;
}
