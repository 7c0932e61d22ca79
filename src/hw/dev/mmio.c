/* hw/dev/mmio: the MMIO register device (dev.h). */
#include <stdlib.h>

#include "ptelab/dev.h"
#include "ptelab/error.h"

struct pl_mmio {
    struct pl_mmio_state st;
};

struct pl_mmio *pl_mmio_new(void)
{
    struct pl_mmio *d = calloc(1, sizeof *d);
    if (d)
        d->st.status = PL_MMIO_STATUS_READY;
    return d;
}

const struct pl_mmio_state *pl_mmio_state(const struct pl_mmio *dev) { return &dev->st; }

/* The part of a 64-bit register a width-byte access at byte shift reaches. */
static uint64_t mask_of(unsigned width) { return width == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * width)) - 1; }

static int mmio_read(void *dev, uint64_t off, unsigned width, uint64_t *value)
{
    struct pl_mmio *d = dev;
    unsigned shift = (unsigned)(off & 7) * 8;
    uint64_t reg;
    switch (off & ~UINT64_C(7)) {
    case PL_MMIO_COUNTER:
        reg = d->st.counter++;
        break;
    case PL_MMIO_DOORBELL:
        reg = d->st.last_ring;
        break;
    case PL_MMIO_STATUS:
        reg = d->st.status;
        break;
    case PL_MMIO_SCRATCH:
        reg = d->st.scratch;
        break;
    default:
        reg = 0;
    }
    *value = (reg >> shift) & mask_of(width);
    d->st.reads++;
    return 0;
}

static int mmio_write(void *dev, uint64_t off, unsigned width, uint64_t value)
{
    struct pl_mmio *d = dev;
    unsigned shift = (unsigned)(off & 7) * 8;
    uint64_t m = mask_of(width) << shift, v = (value & mask_of(width)) << shift;
    switch (off & ~UINT64_C(7)) {
    case PL_MMIO_COUNTER:
        d->st.counter = (d->st.counter & ~m) | v;
        break;
    case PL_MMIO_DOORBELL:
        d->st.last_ring = (d->st.last_ring & ~m) | v;
        d->st.rings++;
        d->st.status |= PL_MMIO_STATUS_RUNG;
        break;
    case PL_MMIO_STATUS:
        d->st.status &= ~(v & PL_MMIO_STATUS_RUNG);
        break;
    case PL_MMIO_SCRATCH:
        d->st.scratch = (d->st.scratch & ~m) | v;
        break;
    default:
        break;
    }
    d->st.writes++;
    return 0;
}

static void mmio_free(void *dev) { free(dev); }

static const struct pl_device_ops ops = {
    .name = "mmio-regs",
    .widths = 1u << 4 | 1u << 8,
    .read = mmio_read,
    .write = mmio_write,
    .free = mmio_free,
};

const struct pl_device_ops *pl_mmio_ops(void) { return &ops; }
