/* Device memory in the kernel: ioremap of a device range into the kernel
 * half, mmap of a device range into a process, and the kernel's and
 * processes' loads, stores and cache-line flushes, which go through the
 * machine's memory system (cache.h) by the memory type of their
 * translation. See docs/memory-types.md. */
#ifndef PTELAB_IO_H
#define PTELAB_IO_H

#include <stdint.h>

struct pl_kernel;
struct pl_proc;

#define PL_IOREMAP_BASE_4 UINT64_C(0xFFFFC90000000000)
#define PL_IOREMAP_BASE_5 UINT64_C(0xFFA0000000000000)
#define PL_IOREMAP_SIZE (UINT64_C(32) << 40) /* 32 TiB, as Linux's vmalloc area */

/* Maps [phys, phys+size) of one device range into the ioremap area with
 * memory type memtype (enum pl_memtype; the leaves' PAT/PCD/PWT select it
 * in the kernel's PAT), supervisor RW, NX. The pages covering the range are
 * mapped; *va gets the address of phys itself (phys need not be page
 * aligned). Addresses are handed out upwards with a guard page after each
 * mapping and are not reused. Returns 0; PL_EINVAL for size 0, a range
 * that touches RAM or is not inside a single device range, or an unknown
 * memory type; PL_ENOMEM. */
int pl_ioremap(struct pl_kernel *k, uint64_t phys, uint64_t size, unsigned memtype, uint64_t *va);
/* Removes the mapping pl_ioremap returned va for (any address inside its
 * first page), with the TLB invalidations. PL_EINVAL when va is no
 * mapping's. */
int pl_iounmap(struct pl_kernel *k, uint64_t va);
/* Mappings live now. */
size_t pl_ioremap_count(const struct pl_kernel *k);

/* A load or store of width 1, 2, 4 or 8 bytes (naturally aligned) by the
 * kernel at CPL 0 through the CPU and the memory system. Return 0;
 * PL_EFAULT when the translation faults (no handler runs: a kernel bug's
 * oops); PL_EINVAL for a width or alignment the bus or device refuses. */
int pl_kernel_read(struct pl_kernel *k, uint64_t va, unsigned width, uint64_t *value);
int pl_kernel_write(struct pl_kernel *k, uint64_t va, unsigned width, uint64_t value);
/* CLFLUSH of the line holding va, translated at CPL 0: PL_EFAULT when it
 * faults. */
int pl_kernel_clflush(struct pl_kernel *k, uint64_t va);

/* mmap of a device range into p: MAP_SHARED, prot PL_PROT_*, pages mapped
 * on first touch with the leaves' PAT/PCD/PWT selecting memtype. Stores the
 * address in *addr. Returns 0; -EINVAL for length 0, phys not page
 * aligned, a range not inside a single device range (RAM included), an
 * unknown memory type or prot bits; -ENOMEM; -ESRCH when p is not
 * running. fork shares the mapping; munmap and exit remove it. */
int pl_sys_mmap_device(struct pl_proc *p, uint64_t phys, uint64_t len, unsigned prot, unsigned memtype,
                       uint64_t *addr);
/* CLFLUSH by the process (unprivileged): the line holding va, translated
 * as a read at CPL 3 with faults handled as for a load. 0, -EFAULT or
 * -ESRCH as pl_proc_read. */
int pl_proc_clflush(struct pl_proc *p, uint64_t va);

#endif
