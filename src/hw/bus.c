/* hw/bus: the physical memory map (bus.h). Device ranges are few, so a
 * sorted array searched linearly is enough. */
#include "ptelab/bus.h"

#include <stdlib.h>

#include "ptelab/error.h"
#include "ptelab/physmem.h"

struct range {
    uint64_t base, size;
    const struct pl_device_ops *ops;
    void *dev;
};

struct pl_bus {
    struct pl_physmem *mem;
    uint64_t ram_size;
    struct range *ranges;
    size_t n, cap;
    struct pl_bus_stats stats;
};

struct pl_bus *pl_bus_new(struct pl_physmem *mem, uint64_t ram_size)
{
    struct pl_bus *bus = calloc(1, sizeof *bus);
    if (!bus)
        return NULL;
    bus->mem = mem;
    bus->ram_size = ram_size;
    return bus;
}

void pl_bus_free(struct pl_bus *bus)
{
    if (!bus)
        return;
    for (size_t i = 0; i < bus->n; i++)
        if (bus->ranges[i].ops->free)
            bus->ranges[i].ops->free(bus->ranges[i].dev);
    free(bus->ranges);
    free(bus);
}

static const struct range *find(const struct pl_bus *bus, uint64_t pa)
{
    for (size_t i = 0; i < bus->n; i++)
        if (pa - bus->ranges[i].base < bus->ranges[i].size)
            return &bus->ranges[i];
    return NULL;
}

int pl_bus_attach(struct pl_bus *bus, uint64_t base, uint64_t size, const struct pl_device_ops *ops, void *dev)
{
    bool ok = ops && ops->read && ops->write && size && base % PL_FRAME_SIZE == 0 && size % PL_FRAME_SIZE == 0 &&
              base < PL_PHYS_LIMIT && size <= PL_PHYS_LIMIT - base && base >= bus->ram_size;
    for (size_t i = 0; ok && i < bus->n; i++)
        if (base < bus->ranges[i].base + bus->ranges[i].size && bus->ranges[i].base < base + size)
            ok = false;
    int rc = ok ? 0 : PL_EINVAL;
    if (ok && bus->n == bus->cap) {
        size_t cap = bus->cap ? 2 * bus->cap : 4;
        struct range *r = realloc(bus->ranges, cap * sizeof *r);
        if (r) {
            bus->ranges = r;
            bus->cap = cap;
        } else {
            rc = PL_ENOMEM;
        }
    }
    if (rc < 0) {
        if (ops && ops->free)
            ops->free(dev);
        return rc;
    }
    size_t at = bus->n;
    while (at > 0 && bus->ranges[at - 1].base > base) {
        bus->ranges[at] = bus->ranges[at - 1];
        at--;
    }
    bus->ranges[at] = (struct range){.base = base, .size = size, .ops = ops, .dev = dev};
    bus->n++;
    return 0;
}

bool pl_bus_device_at(const struct pl_bus *bus, uint64_t pa, uint64_t *base, uint64_t *size, void **dev)
{
    const struct range *r = find(bus, pa);
    if (!r)
        return false;
    if (base)
        *base = r->base;
    if (size)
        *size = r->size;
    if (dev)
        *dev = r->dev;
    return true;
}

bool pl_bus_is_device_range(const struct pl_bus *bus, uint64_t pa, uint64_t len)
{
    const struct range *r = find(bus, pa);
    return r && len > 0 && len <= r->size - (pa - r->base);
}

bool pl_bus_is_ram(const struct pl_bus *bus, uint64_t pa, uint64_t len)
{
    return pa < bus->ram_size && len <= bus->ram_size - pa;
}

uint64_t pl_bus_ram_size(const struct pl_bus *bus) { return bus->ram_size; }
struct pl_physmem *pl_bus_physmem(const struct pl_bus *bus) { return bus->mem; }
const struct pl_bus_stats *pl_bus_stats(const struct pl_bus *bus) { return &bus->stats; }

/* The device range of the access (NULL for RAM) once the access is legal;
 * *rc = PL_EINVAL when it is not. */
static const struct range *route(const struct pl_bus *bus, uint64_t pa, unsigned width, int *rc)
{
    *rc = PL_EINVAL;
    if ((width != 1 && width != 2 && width != 4 && width != 8) || pa % width || pa >= PL_PHYS_LIMIT)
        return NULL;
    const struct range *r = find(bus, pa);
    if (r && !(r->ops->widths & (1u << width)))
        return NULL;
    *rc = 0;
    return r;
}

int pl_bus_check(const struct pl_bus *bus, uint64_t pa, unsigned width)
{
    int rc;
    route(bus, pa, width, &rc);
    return rc;
}

int pl_bus_read(struct pl_bus *bus, uint64_t pa, unsigned width, uint64_t *value)
{
    int rc;
    const struct range *r = route(bus, pa, width, &rc);
    if (rc == 0 && r) {
        rc = r->ops->read(r->dev, pa - r->base, width, value);
        if (rc == 0)
            bus->stats.device_reads++;
    } else if (rc == 0) {
        uint8_t b[8];
        pl_physmem_read(bus->mem, pa, b, width);
        uint64_t v = 0;
        for (unsigned i = 0; i < width; i++)
            v |= (uint64_t)b[i] << (8 * i);
        *value = v;
        bus->stats.ram_reads++;
    }
    if (rc == PL_EINVAL)
        bus->stats.refused++;
    return rc;
}

int pl_bus_write(struct pl_bus *bus, uint64_t pa, unsigned width, uint64_t value)
{
    int rc;
    const struct range *r = route(bus, pa, width, &rc);
    if (rc == 0 && r) {
        rc = r->ops->write(r->dev, pa - r->base, width, value);
        if (rc == 0)
            bus->stats.device_writes++;
    } else if (rc == 0) {
        uint8_t b[8];
        for (unsigned i = 0; i < width; i++)
            b[i] = (uint8_t)(value >> (8 * i));
        rc = pl_physmem_write(bus->mem, pa, b, width);
        if (rc == 0)
            bus->stats.ram_writes++;
    }
    if (rc == PL_EINVAL)
        bus->stats.refused++;
    return rc;
}
