/* The physical memory map: RAM (a struct pl_physmem) and device ranges. A
 * device range routes its accesses to the device's register handlers; every
 * other address is RAM's (the sparse physmem, readable up to 2^52). The
 * page walker keeps reading paging structures from the physmem directly:
 * page tables live in RAM and are WB.
 *
 * Accesses are of width 1, 2, 4 or 8 bytes, naturally aligned; anything
 * else, or a width the device does not support, is refused with PL_EINVAL
 * before any side effect. Data are little-endian values in a uint64_t. */
#ifndef PTELAB_BUS_H
#define PTELAB_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct pl_physmem;

/* A device's handlers. off is the offset in its range, width 1/2/4/8 and
 * off % width == 0 (the bus checks). Return 0 or PL_EINVAL for a width or
 * offset the device refuses (then nothing happened). widths: the bit
 * (1 << width) is set for every width the device accepts; the bus refuses
 * the others itself. free (may be NULL) runs when the bus is freed. */
struct pl_device_ops {
    const char *name;
    unsigned widths;
    int (*read)(void *dev, uint64_t off, unsigned width, uint64_t *value);
    int (*write)(void *dev, uint64_t off, unsigned width, uint64_t value);
    void (*free)(void *dev);
};

struct pl_bus;

/* A bus with RAM mem (borrowed) at [0, ram_size). NULL when out of memory. */
struct pl_bus *pl_bus_new(struct pl_physmem *mem, uint64_t ram_size);
/* Frees the bus and every attached device (through its free handler). */
void pl_bus_free(struct pl_bus *bus);

/* Routes [base, base+size) to the device (owned by the bus from now on,
 * also when this fails). Returns 0, or PL_EINVAL when base or size is not
 * a multiple of 4 KiB, size is 0, the range passes 2^52, overlaps RAM or
 * another device, or ops lacks read or write; PL_ENOMEM. */
int pl_bus_attach(struct pl_bus *bus, uint64_t base, uint64_t size, const struct pl_device_ops *ops, void *dev);

/* The device range holding pa: true with its base, size and device (any
 * pointer may be NULL); false for RAM. */
bool pl_bus_device_at(const struct pl_bus *bus, uint64_t pa, uint64_t *base, uint64_t *size, void **dev);
/* True when the whole of [pa, pa+len) lies in one device range. */
bool pl_bus_is_device_range(const struct pl_bus *bus, uint64_t pa, uint64_t len);
/* True when [pa, pa+len) is inside RAM's [0, ram_size). */
bool pl_bus_is_ram(const struct pl_bus *bus, uint64_t pa, uint64_t len);
uint64_t pl_bus_ram_size(const struct pl_bus *bus);
struct pl_physmem *pl_bus_physmem(const struct pl_bus *bus);

/* 0 when an access of width at pa would be accepted, else PL_EINVAL (bad
 * width, misaligned, past 2^52, a width the device refuses). Does nothing. */
int pl_bus_check(const struct pl_bus *bus, uint64_t pa, unsigned width);

/* One access. Return 0, PL_EINVAL as pl_bus_check (or from the device), or
 * PL_ENOMEM (a RAM write could not create its frame). */
int pl_bus_read(struct pl_bus *bus, uint64_t pa, unsigned width, uint64_t *value);
int pl_bus_write(struct pl_bus *bus, uint64_t pa, unsigned width, uint64_t value);

/* Counters. */
struct pl_bus_stats {
    uint64_t ram_reads, ram_writes;
    uint64_t device_reads, device_writes;
    uint64_t refused; /* accesses refused with PL_EINVAL */
};
const struct pl_bus_stats *pl_bus_stats(const struct pl_bus *bus);

#endif
