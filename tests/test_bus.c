/* hw/bus and hw/dev/mmio: routing, attach rules, widths, side effects. */
#include <criterion/criterion.h>

#include "ptelab/bus.h"
#include "ptelab/dev.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"

#define RAM (UINT64_C(16) << 20)
#define DEV UINT64_C(0x40000000)

static struct pl_physmem *mem;
static struct pl_bus *bus;
static struct pl_mmio *dev;

static void setup(void)
{
    mem = pl_physmem_new();
    bus = pl_bus_new(mem, RAM);
    dev = pl_mmio_new();
    cr_assert_eq(pl_bus_attach(bus, DEV, 4096, pl_mmio_ops(), dev), 0);
}

static void teardown(void)
{
    pl_bus_free(bus);
    pl_physmem_free(mem);
}

TestSuite(bus, .init = setup, .fini = teardown);

Test(bus, attach_rules)
{
    cr_assert_eq(pl_bus_attach(bus, RAM - 4096, 8192, pl_mmio_ops(), pl_mmio_new()), PL_EINVAL); /* over RAM */
    cr_assert_eq(pl_bus_attach(bus, DEV, 4096, pl_mmio_ops(), pl_mmio_new()), PL_EINVAL);        /* overlap */
    cr_assert_eq(pl_bus_attach(bus, DEV + 0x10000 + 8, 4096, pl_mmio_ops(), pl_mmio_new()), PL_EINVAL);
    cr_assert_eq(pl_bus_attach(bus, DEV + 0x10000, 0, pl_mmio_ops(), pl_mmio_new()), PL_EINVAL);
    cr_assert_eq(pl_bus_attach(bus, DEV + 0x10000, 4096, pl_mmio_ops(), pl_mmio_new()), 0);
    uint64_t base, size;
    cr_assert(pl_bus_device_at(bus, DEV + 0x10FFF, &base, &size, NULL));
    cr_assert_eq(base, DEV + 0x10000);
    cr_assert_eq(size, 4096);
    cr_assert_not(pl_bus_device_at(bus, DEV + 0x1000, NULL, NULL, NULL));
    cr_assert(pl_bus_is_device_range(bus, DEV, 4096));
    cr_assert_not(pl_bus_is_device_range(bus, DEV, 8192));
    cr_assert(pl_bus_is_ram(bus, 0, RAM));
    cr_assert_not(pl_bus_is_ram(bus, RAM - 8, 16));
}

Test(bus, ram_widths)
{
    uint64_t v;
    cr_assert_eq(pl_bus_write(bus, 0x1000, 8, 0x0102030405060708), 0);
    cr_assert_eq(pl_bus_read(bus, 0x1002, 2, &v), 0);
    cr_assert_eq(v, 0x0506);
    cr_assert_eq(pl_bus_read(bus, 0x1007, 1, &v), 0);
    cr_assert_eq(v, 0x01);
    cr_assert_eq(pl_bus_read(bus, 0x1002, 4, &v), PL_EINVAL);
    cr_assert_eq(pl_bus_read(bus, 0x1000, 3, &v), PL_EINVAL);
    cr_assert_eq(pl_bus_read(bus, PL_PHYS_LIMIT, 1, &v), PL_EINVAL);
    cr_assert_eq(pl_bus_stats(bus)->refused, 3);
}

Test(bus, mmio_registers)
{
    uint64_t v;
    for (uint64_t i = 0; i < 3; i++) {
        cr_assert_eq(pl_bus_read(bus, DEV + PL_MMIO_COUNTER, 8, &v), 0);
        cr_assert_eq(v, i);
    }
    cr_assert_eq(pl_bus_read(bus, DEV + PL_MMIO_STATUS, 8, &v), 0);
    cr_assert_eq(v, PL_MMIO_STATUS_READY);
    cr_assert_eq(pl_bus_write(bus, DEV + PL_MMIO_DOORBELL, 8, 0x55), 0);
    cr_assert_eq(pl_bus_write(bus, DEV + PL_MMIO_DOORBELL + 4, 4, 0x1), 0);
    const struct pl_mmio_state *s = pl_mmio_state(dev);
    cr_assert_eq(s->rings, 2);
    cr_assert_eq(s->last_ring, 0x100000055);
    cr_assert_eq(pl_bus_read(bus, DEV + PL_MMIO_STATUS, 4, &v), 0);
    cr_assert_eq(v, PL_MMIO_STATUS_READY | PL_MMIO_STATUS_RUNG);
    cr_assert_eq(pl_bus_write(bus, DEV + PL_MMIO_STATUS, 8, PL_MMIO_STATUS_RUNG | PL_MMIO_STATUS_READY), 0);
    cr_assert_eq(s->status, PL_MMIO_STATUS_READY); /* write-1-to-clear RUNG only */
    cr_assert_eq(pl_bus_read(bus, DEV + PL_MMIO_COUNTER + 4, 4, &v), 0); /* high half, advances */
    cr_assert_eq(v, 0);
    cr_assert_eq(s->counter, 4);
    cr_assert_eq(pl_bus_read(bus, DEV + 0x800, 8, &v), 0); /* reserved */
    cr_assert_eq(v, 0);
}

Test(bus, mmio_refuses_narrow_and_misaligned)
{
    uint64_t v;
    cr_assert_eq(pl_bus_read(bus, DEV + PL_MMIO_COUNTER, 1, &v), PL_EINVAL);
    cr_assert_eq(pl_bus_read(bus, DEV + PL_MMIO_COUNTER, 2, &v), PL_EINVAL);
    cr_assert_eq(pl_bus_write(bus, DEV + PL_MMIO_DOORBELL + 2, 4, 1), PL_EINVAL);
    cr_assert_eq(pl_bus_write(bus, DEV + PL_MMIO_DOORBELL, 16, 1), PL_EINVAL);
    cr_assert_eq(pl_mmio_state(dev)->counter, 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 0);
    cr_assert_eq(pl_bus_stats(bus)->device_reads + pl_bus_stats(bus)->device_writes, 0);
}
