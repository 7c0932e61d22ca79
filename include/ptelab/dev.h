/* Devices of src/hw/dev. The MMIO register device: a page of 64-bit
 * registers with side effects, to attach to the bus (bus.h):
 *
 *   0x00 COUNTER   read: returns the count, then advances it by one
 *                  write: sets the count
 *   0x08 DOORBELL  write: rings (rings + 1, last value kept, STATUS.RUNG)
 *                  read: the last value rung (no side effect)
 *   0x10 STATUS    read: bit 0 READY (always 1), bit 1 RUNG
 *                  write: bits set to 1 clear (write-1-to-clear)
 *   0x18 SCRATCH   plain read/write storage
 *   others         read as 0, writes ignored (reserved)
 *
 * Accesses of 4 and 8 bytes, naturally aligned; 1 and 2 bytes are refused
 * (PL_EINVAL), as many devices' registers do. A 4-byte access reaches half a
 * register: a read of either half of COUNTER advances it, a write to either
 * half of DOORBELL rings with that half merged into the last value. */
#ifndef PTELAB_DEV_H
#define PTELAB_DEV_H

#include <stdint.h>

#include "ptelab/bus.h"

#define PL_MMIO_COUNTER 0x00u
#define PL_MMIO_DOORBELL 0x08u
#define PL_MMIO_STATUS 0x10u
#define PL_MMIO_SCRATCH 0x18u
#define PL_MMIO_STATUS_READY 0x1u
#define PL_MMIO_STATUS_RUNG 0x2u

/* The device's state, for inspection. */
struct pl_mmio_state {
    uint64_t counter;
    uint64_t rings;      /* doorbell writes so far */
    uint64_t last_ring;  /* the last value rung */
    uint64_t status;
    uint64_t scratch;
    uint64_t reads, writes; /* register accesses that reached the device */
};

struct pl_mmio;

/* A device in its reset state (counter 0, status READY). NULL when out of
 * memory. */
struct pl_mmio *pl_mmio_new(void);
/* Its handlers, for pl_bus_attach (which then owns the device). */
const struct pl_device_ops *pl_mmio_ops(void);
const struct pl_mmio_state *pl_mmio_state(const struct pl_mmio *dev);

#endif
