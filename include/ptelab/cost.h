/* The one cost model: what each hardware event costs, in simulated core
 * cycles. Every counter that has a cost is charged from here, so two designs
 * can be compared by numbers. The defaults resemble a current Intel client
 * core (Skylake and its successors); docs/tlb.md says where each comes from.
 * They are orders of magnitude to compare policies with, not a timing model:
 * nothing here overlaps, pipelines or queues. */
#ifndef PTELAB_COST_H
#define PTELAB_COST_H

#include <stdint.h>

struct pl_cost_model {
    /* Translation. A translation costs exactly one of: tlb_l1_hit; tlb_l2_hit
     * (the whole lookup that missed L1 and hit L2); or tlb_l2_hit + psc_hit
     * (when a paging-structure cache supplied the start) + walk_ref per
     * paging-structure entry read. */
    uint32_t tlb_l1_hit; /* 1: hidden behind the L1D access on hardware; 1 keeps hits visible */
    uint32_t tlb_l2_hit; /* 9: STLB hit latency on Skylake */
    uint32_t psc_hit;    /* 1: the cache is probed as the walk starts */
    uint32_t walk_ref;   /* 12: one paging-structure read served by the L2 data cache */

    /* Events. */
    uint32_t fault;           /* 500: delivery of a #PF or #GP and the IRET back, handler not included */
    uint32_t invlpg;          /* 200: INVLPG */
    uint32_t invpcid_addr;    /* 200: INVPCID type 0, an INVLPG for another PCID */
    uint32_t invpcid_context; /* 1000: INVPCID types 1, 2 and 3 (type 2 ~ 376 ns measured on Skylake) */
    uint32_t cr3_write;       /* 200: MOV to CR3, the refills it causes not included */
    uint32_t cr_write;        /* 600: MOV to CR0 or CR4, WRMSR to EFER or IA32_PAT (serialising) */
    uint32_t wrpkru;          /* 24: WRPKRU, unprivileged, no flush (~20-30 measured on Skylake-SP, docs/pkeys.md) */
    uint32_t rdpkru;          /* 1: RDPKRU, a register read */

    /* Kernel work (os/). */
    uint32_t syscall;       /* 150: system-call entry and exit, the work itself not included */
    uint32_t fault_handler; /* 800: the page-fault handler's own path: region lookup, decisions */
    uint32_t page_zero;     /* 250: clearing a 4 KiB frame (~64 B/cycle with wide stores) */
    uint32_t page_copy;     /* 500: copying a 4 KiB frame (copy on write) */

    /* Memory system (cache.h): data accesses after translation. */
    uint32_t cache_hit;     /* 4: an L1D hit (load-to-use latency on Skylake) */
    uint32_t mem_access;    /* 200: one RAM transfer: a line fill, a write-back, an uncached access (~60 ns) */
    uint32_t device_access; /* 1000: one MMIO transfer across the I/O fabric (a PCIe read ~0.3-1 us) */
    uint32_t cache_flush;   /* 100: CLFLUSH of one line, its write-back not included */
    uint32_t fence;         /* 30: SFENCE (drains the write-combining buffers, their writes not included) */

    /* Block devices (block.h): one 4 KiB block transferred to or from a
     * swap device. */
    uint32_t disk_read;  /* 200000: ~50-100 us, an NVMe SSD 4K random read at ~3 GHz */
    uint32_t disk_write; /* 100000: ~30 us, a 4K write into the SSD's write cache */

    /* Inter-processor interrupts (os/shootdown, docs/smp.md). An IPI round
     * trip of 1-2 us is typical for x86 servers; these split it. */
    uint32_t ipi_send;    /* 300: writing the x2APIC ICR, per target */
    uint32_t ipi_latency; /* 1500: from the send to the target's interrupt, and from its ack back */
    uint32_t ipi_handle;  /* 700: interrupt entry, the handler's bookkeeping and IRET; flushes not included */
};

/* The defaults documented above, as an initialiser. */
#define PL_COST_MODEL_DEFAULT                                                                       \
    {                                                                                               \
        .tlb_l1_hit = 1, .tlb_l2_hit = 9, .psc_hit = 1, .walk_ref = 12, .fault = 500, .invlpg = 200, \
        .invpcid_addr = 200, .invpcid_context = 1000, .cr3_write = 200, .cr_write = 600,            \
        .wrpkru = 24, .rdpkru = 1,                                                                  \
        .syscall = 150, .fault_handler = 800, .page_zero = 250, .page_copy = 500,                   \
        .cache_hit = 4, .mem_access = 200, .device_access = 1000, .cache_flush = 100, .fence = 30,   \
        .disk_read = 200000, .disk_write = 100000, .ipi_send = 300, .ipi_latency = 1500,              \
        .ipi_handle = 700,                                                                          \
    }

/* Returns the default cost model. */
static inline struct pl_cost_model pl_cost_model_default(void)
{
    return (struct pl_cost_model)PL_COST_MODEL_DEFAULT;
}

#endif
