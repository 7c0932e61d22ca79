/* os/ioremap: device memory in the kernel (io.h): the ioremap area, device
 * mappings of processes, and the kernel's own loads and stores through the
 * memory system. */
#include <errno.h>
#include <stdlib.h>

#include "os/os.h"
#include "ptelab/bus.h"
#include "ptelab/cache.h"
#include "ptelab/cpu.h"
#include "ptelab/error.h"
#include "ptelab/io.h"
#include "ptelab/physmem.h"

#define PAGE PL_VMA_PAGE_SIZE

static bool memtype_known(unsigned mt)
{
    return mt == PL_MT_UC || mt == PL_MT_WC || mt == PL_MT_WT || mt == PL_MT_WP || mt == PL_MT_WB || mt == PL_MT_UCM;
}

/* The page-rounded range [*start, *end) of [phys, phys+size), when it lies
 * in one device range and nowhere in RAM. */
static bool device_range(const struct pl_kernel *k, uint64_t phys, uint64_t size, uint64_t *start, uint64_t *end)
{
    if (size == 0 || phys >= PL_PHYS_LIMIT || size > PL_PHYS_LIMIT - phys)
        return false;
    *start = phys & ~(PAGE - 1);
    *end = (phys + size + PAGE - 1) & ~(PAGE - 1);
    const struct pl_bus *bus = k->m->bus;
    return *start >= pl_bus_ram_size(bus) && pl_bus_is_device_range(bus, *start, *end - *start);
}

static uint64_t area_base(const struct pl_kernel *k) { return k->levels == 5 ? PL_IOREMAP_BASE_5 : PL_IOREMAP_BASE_4; }

int pl_ioremap(struct pl_kernel *k, uint64_t phys, uint64_t size, unsigned memtype, uint64_t *va)
{
    uint64_t start, end;
    if (!memtype_known(memtype) || !device_range(k, phys, size, &start, &end))
        return PL_EINVAL;
    uint64_t len = end - start;
    if (!k->io_next)
        k->io_next = area_base(k);
    if (len > area_base(k) + PL_IOREMAP_SIZE - k->io_next || PAGE > area_base(k) + PL_IOREMAP_SIZE - k->io_next - len)
        return PL_ENOMEM;
    if (k->io_n == k->io_cap) {
        size_t cap = k->io_cap ? 2 * k->io_cap : 8;
        struct ioremap_area *io = realloc(k->io, cap * sizeof *io);
        if (!io)
            return PL_ENOMEM;
        k->io = io;
        k->io_cap = cap;
    }
    kernel_enter(k);
    uint64_t base = k->io_next;
    for (uint64_t off = 0; off < len; off += PAGE) {
        int rc = pmap_kernel_enter(k, base + off, start + off, memtype, PL_WHY_IOREMAP);
        if (rc < 0) {
            pmap_kernel_remove(k, base, off, PL_WHY_IOUNMAP);
            return rc;
        }
    }
    k->io_next = base + len + PAGE; /* a guard page, as vmalloc leaves */
    k->io[k->io_n++] = (struct ioremap_area){.va = base, .pa = start, .size = len, .memtype = (uint8_t)memtype};
    *va = base + (phys - start);
    return 0;
}

int pl_iounmap(struct pl_kernel *k, uint64_t va)
{
    for (size_t i = 0; i < k->io_n; i++) {
        if ((va & ~(PAGE - 1)) != k->io[i].va)
            continue;
        kernel_enter(k);
        pmap_kernel_remove(k, k->io[i].va, k->io[i].size, PL_WHY_IOUNMAP);
        k->io[i] = k->io[--k->io_n];
        return 0;
    }
    return PL_EINVAL;
}

size_t pl_ioremap_count(const struct pl_kernel *k) { return k->io_n; }

/* Translates va for the kernel at CPL 0. */
static int kernel_translate(struct pl_kernel *k, uint64_t va, unsigned kind, struct pl_translation *t)
{
    kernel_enter(k);
    struct pl_fault f;
    return pl_cpu_translate(kcpu(k), va, kind, t, &f) ? 0 : PL_EFAULT;
}

int pl_kernel_read(struct pl_kernel *k, uint64_t va, unsigned width, uint64_t *value)
{
    struct pl_translation t;
    int rc = kernel_translate(k, va, PL_READ, &t);
    return rc < 0 ? rc : pl_cache_read(k->m->cache, t.pa, width, t.memtype, value);
}

int pl_kernel_write(struct pl_kernel *k, uint64_t va, unsigned width, uint64_t value)
{
    struct pl_translation t;
    int rc = kernel_translate(k, va, PL_WRITE, &t);
    return rc < 0 ? rc : pl_cache_write(k->m->cache, t.pa, width, t.memtype, value);
}

int pl_kernel_clflush(struct pl_kernel *k, uint64_t va)
{
    struct pl_translation t;
    int rc = kernel_translate(k, va, PL_READ, &t);
    return rc < 0 ? rc : pl_cache_clflush(k->m->cache, t.pa);
}

int pl_sys_mmap_device(struct pl_proc *p, uint64_t phys, uint64_t len, unsigned prot, unsigned memtype,
                       uint64_t *addr)
{
    if (p->state != PL_PROC_RUNNING)
        return -ESRCH;
    struct pl_kernel *k = p->k;
    uint64_t start, end;
    if (phys % PAGE || (prot & ~PL_PROT_MASK) || !memtype_known(memtype) || !device_range(k, phys, len, &start, &end))
        return -EINVAL;
    struct pl_shm *obj;
    int rc = pl_shm_create(k, end - start, &obj);
    if (rc < 0)
        return rc;
    obj->device = true;
    obj->dev_base = start;
    obj->memtype = (uint8_t)memtype;
    rc = pl_sys_mmap(p, 0, end - start, prot, PL_MAP_SHARED, obj, 0, addr);
    pl_shm_release(obj);
    return rc;
}
