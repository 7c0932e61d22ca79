/* A machine: RAM in a sparse physical memory, CPUs, and the cost model they
 * share. The hardware half of a simulation; the kernel (kernel.h) runs on
 * one. */
#ifndef PTELAB_MACHINE_H
#define PTELAB_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "ptelab/cache.h"
#include "ptelab/cost.h"
#include "ptelab/cpu.h"
#include "ptelab/tlb.h"

#define PL_MACHINE_MAX_CPUS 64

struct pl_machine_config {
    uint64_t ram_size;   /* bytes of RAM at physical address 0; a multiple of 2 MiB, >= 4 MiB */
    unsigned ncpus;      /* 1..PL_MACHINE_MAX_CPUS */
    unsigned levels;     /* 4, or 5 (LA57) */
    unsigned maxphyaddr; /* 32..52, and RAM must fit below 2^maxphyaddr */
    bool pcid;           /* CPUs run with CR4.PCIDE = 1 */
    bool pge;            /* CPUs run with CR4.PGE = 1 (global pages) */
    bool smep, smap;     /* CR4.SMEP / CR4.SMAP */
    bool pke;            /* CR4.PKE: protection keys for user pages */
    uint8_t ad_policy;   /* enum pl_ad_policy */
    struct pl_tlb_config tlb;
    struct pl_cache_config cache; /* the data cache in front of RAM and devices */
    struct pl_cost_model cost;
    uint64_t seed;
};

struct pl_machine {
    struct pl_machine_config config;
    struct pl_physmem *mem; /* RAM frames; the walker reads page tables here */
    struct pl_bus *bus;     /* the physical memory map: RAM and device ranges (bus.h) */
    struct pl_cache *cache; /* loads and stores by memory type (cache.h) */
    unsigned ncpus;
    struct pl_cpu *cpu[PL_MACHINE_MAX_CPUS];
};

/* 256 MiB, one CPU, 4-level paging, M = 46, PCID, PGE, SMEP, SMAP and PKE on,
 * default TLBs and costs, seed 1. */
void pl_machine_config_default(struct pl_machine_config *cfg);

/* Checks cfg, then builds the machine with every CPU in 64-bit mode at CPL 0
 * with CR3 = 0. Stores it in *out and returns 0, PL_EINVAL for a bad
 * configuration, or PL_ENOMEM. */
int pl_machine_new(const struct pl_machine_config *cfg, struct pl_machine **out);
void pl_machine_free(struct pl_machine *m);

#endif
