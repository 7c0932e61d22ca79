/* os/ioremap: ioremap and device mmap: refusals, the leaves' memory-type
 * bits, and UC against WB behaviour of the MMIO device. */
#include <criterion/criterion.h>
#include <errno.h>

#include "ptelab/bus.h"
#include "ptelab/cache.h"
#include "ptelab/dev.h"
#include "ptelab/error.h"
#include "ptelab/io.h"
#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/proc.h"

#define DEV UINT64_C(0xFE000000)

static struct pl_machine *m;
static struct pl_kernel *k;
static struct pl_mmio *dev;

static void check(void)
{
    char msg[256];
    cr_assert_eq(pl_kernel_check(k, msg, sizeof msg), 0, "%s", msg);
}

static void setup(void)
{
    struct pl_machine_config cfg;
    pl_machine_config_default(&cfg);
    cr_assert_eq(pl_machine_new(&cfg, &m), 0);
    dev = pl_mmio_new();
    cr_assert_eq(pl_bus_attach(m->bus, DEV, 2 * 4096, pl_mmio_ops(), dev), 0);
    cr_assert_eq(pl_kernel_new(m, NULL, &k), 0);
}

static void teardown(void)
{
    pl_kernel_free(k);
    pl_machine_free(m);
}

TestSuite(ioremap, .init = setup, .fini = teardown);

static uint64_t last_entry(void)
{
    size_t n;
    const struct pl_pte_write *h = pl_kernel_history(k, &n);
    cr_assert_gt(n, 0);
    return h[n - 1].new;
}

Test(ioremap, refusals)
{
    uint64_t va;
    cr_assert_eq(pl_ioremap(k, 0x200000, 4096, PL_MT_UC, &va), PL_EINVAL); /* RAM */
    cr_assert_eq(pl_ioremap(k, DEV - 4096, 8192, PL_MT_UC, &va), PL_EINVAL); /* starts outside */
    cr_assert_eq(pl_ioremap(k, DEV, 3 * 4096, PL_MT_UC, &va), PL_EINVAL); /* past the device */
    cr_assert_eq(pl_ioremap(k, DEV + 0x100000, 4096, PL_MT_UC, &va), PL_EINVAL); /* no device */
    cr_assert_eq(pl_ioremap(k, DEV, 0, PL_MT_UC, &va), PL_EINVAL);
    cr_assert_eq(pl_ioremap(k, DEV, 4096, 2, &va), PL_EINVAL);
    cr_assert_eq(pl_iounmap(k, PL_IOREMAP_BASE_4), PL_EINVAL);
    cr_assert_eq(pl_ioremap_count(k), 0);
    check();
}

Test(ioremap, leaves_carry_the_type)
{
    uint64_t uc, wc, wb;
    cr_assert_eq(pl_ioremap(k, DEV + 0x10, 8, PL_MT_UC, &uc), 0);
    cr_assert_eq(uc, PL_IOREMAP_BASE_4 + 0x10);
    cr_assert_eq(last_entry() & 0x19F, 0x11B); /* P RW PWT PCD G, PAT bit clear: PAT index 3 */
    cr_assert_eq(last_entry() & 0x000FFFFFFFFFF000, DEV);
    cr_assert_eq(pl_ioremap(k, DEV, 4096, PL_MT_WC, &wc), 0);
    cr_assert_eq(wc, PL_IOREMAP_BASE_4 + 2 * 4096); /* a guard page between */
    cr_assert_eq(last_entry() & 0x98, 0x08); /* PAT index 1: PWT */
    cr_assert_eq(pl_ioremap(k, DEV + 4096, 4096, PL_MT_WB, &wb), 0);
    cr_assert_eq(last_entry() & 0x98, 0);
    cr_assert_eq(pl_ioremap_count(k), 3);
    check();
    cr_assert_eq(pl_iounmap(k, wc), 0);
    cr_assert_eq(last_entry(), 0);
    cr_assert_eq(pl_ioremap_count(k), 2);
    uint64_t v;
    cr_assert_eq(pl_kernel_read(k, wc, 8, &v), PL_EFAULT);
    check();
}

Test(ioremap, uc_is_fresh_wb_is_stale)
{
    uint64_t uc, wb, v;
    cr_assert_eq(pl_ioremap(k, DEV, 4096, PL_MT_UC, &uc), 0);
    cr_assert_eq(pl_ioremap(k, DEV, 4096, PL_MT_WB, &wb), 0);
    for (uint64_t i = 0; i < 3; i++) {
        cr_assert_eq(pl_kernel_read(k, uc + PL_MMIO_COUNTER, 8, &v), 0);
        cr_assert_eq(v, i);
    }
    cr_assert_eq(pl_kernel_write(k, uc + PL_MMIO_DOORBELL, 8, 1), 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 1);
    /* WB: the first read fills the line (counter 3 -> 4), then it is frozen */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pl_kernel_read(k, wb + PL_MMIO_COUNTER, 8, &v), 0);
        cr_assert_eq(v, 3);
    }
    cr_assert_eq(pl_mmio_state(dev)->counter, 4);
    cr_assert_eq(pl_kernel_write(k, wb + PL_MMIO_DOORBELL, 8, 2), 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 1);
    cr_assert_eq(pl_kernel_clflush(k, wb), 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 2);
    cr_assert_eq(pl_mmio_state(dev)->last_ring, 2);
    cr_assert_eq(pl_kernel_read(k, wb + PL_MMIO_COUNTER, 8, &v), 0);
    cr_assert_eq(v, 4);
    /* a width the device refuses */
    cr_assert_eq(pl_kernel_read(k, uc + PL_MMIO_COUNTER, 1, &v), PL_EINVAL);
    check();
}

Test(ioremap, process_device_mapping)
{
    struct pl_proc *p;
    cr_assert_eq(pl_proc_spawn(k, &p), 0);
    uint64_t uc, wb;
    cr_assert_eq(pl_sys_mmap_device(p, 0x200000, 4096, PL_PROT_READ, PL_MT_UC, &uc), -EINVAL); /* RAM */
    cr_assert_eq(pl_sys_mmap_device(p, DEV + 8, 4096, PL_PROT_READ, PL_MT_UC, &uc), -EINVAL);
    cr_assert_eq(pl_sys_mmap_device(p, DEV, 3 * 4096, PL_PROT_READ, PL_MT_UC, &uc), -EINVAL);
    cr_assert_eq(pl_sys_mmap_device(p, DEV, 4096, PL_PROT_READ, 3, &uc), -EINVAL);
    cr_assert_eq(pl_sys_mmap_device(p, DEV, 4096, PL_PROT_READ | PL_PROT_WRITE, PL_MT_UC, &uc), 0);
    cr_assert_eq(pl_sys_mmap_device(p, DEV, 4096, PL_PROT_READ | PL_PROT_WRITE, PL_MT_WB, &wb), 0);
    uint64_t v = 0;
    for (uint64_t i = 0; i < 3; i++) {
        cr_assert_eq(pl_proc_read(p, uc, &v, 8), 0);
        cr_assert_eq(v, i);
    }
    uint64_t ring = 0x77;
    cr_assert_eq(pl_proc_write(p, uc + PL_MMIO_DOORBELL, &ring, 8), 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 1);
    cr_assert_eq(pl_proc_read(p, wb, &v, 8), 0);
    cr_assert_eq(v, 3);
    cr_assert_eq(pl_proc_read(p, wb, &v, 8), 0);
    cr_assert_eq(v, 3);
    cr_assert_eq(pl_proc_write(p, wb + PL_MMIO_DOORBELL, &ring, 8), 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 1);
    check();
    struct pl_proc *c;
    cr_assert_eq(pl_proc_fork(p, &c), 0);
    check();
    cr_assert_eq(pl_proc_clflush(p, wb), 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 2);
    uint8_t b;
    cr_assert_eq(pl_proc_read(c, uc, &b, 1), -EINVAL); /* a byte: the device refuses */
    cr_assert_eq(pl_sys_mprotect(p, uc, 4096, PL_PROT_NONE), 0);
    check();
    cr_assert_eq(pl_sys_mprotect(p, uc, 4096, PL_PROT_READ), 0);
    cr_assert_eq(pl_proc_read(p, uc, &v, 8), 0);
    cr_assert_eq(v, 4);
    check();
    cr_assert_eq(pl_sys_munmap(p, uc, 4096), 0);
    pl_proc_exit(c, 0);
    pl_proc_exit(p, 0);
    check();
}
