/* hw/cache: the data side of the memory system. Every load and store the
 * CPU makes after translation comes here with its memory type (enum
 * pl_memtype) and is served by type (SDM Vol. 3A §11.3):
 *
 *   WB  cached, write-allocate; a store dirties the line, which reaches
 *       memory only when evicted, CLFLUSHed or WBINVDed.
 *   WT  cached for loads; a store updates a present line and is written
 *       through to memory at once (no allocation on a store miss).
 *   WP  cached for loads; a store goes to memory at once and invalidates
 *       the line.
 *   UC, UC-  straight to memory or the device, one transfer per access;
 *       the cache is not looked at (an aliased cached mapping of the same
 *       address is software's problem, as the SDM says).
 *   WC  loads straight to memory or the device; stores are merged into a
 *       write-combining buffer (one line each) that is written out when
 *       SFENCE, WBINVD or the need for a buffer evicts it.
 *
 * One set-associative cache with LRU replacement and one set of WC buffers,
 * shared by every CPU (coherence between CPUs is not modelled). RAM is
 * coherent: the kernel's copies and the page walker read the physmem
 * directly as if they snooped, so a RAM line keeps only its tag and state
 * (its data stay in the physmem) and the cache changes RAM's counts and
 * costs, never its values. A device is not snooped: a line filled from a
 * device range holds its own copy of the registers, which is what makes a
 * WB mapping of a device read stale values and post writes late.
 *
 * A write-back or WC flush to a device writes each 8-byte word holding a
 * written byte (the bus's byte enables), largest naturally aligned pieces
 * the device accepts; a fill reads the line in 8-byte words. Every event is
 * counted and charged from the cost model (cost.h). */
#ifndef PTELAB_CACHE_H
#define PTELAB_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ptelab/cost.h"

struct pl_bus;

struct pl_cache_config {
    uint32_t sets;       /* power of two, 1..65536 */
    uint32_t ways;       /* 1..64 */
    uint32_t line;       /* line size in bytes: 8, 16, 32 or 64 */
    uint32_t wc_buffers; /* 1..16 write-combining buffers of one line each */
};

/* A 32 KiB 8-way L1D with 64-byte lines (64 sets), 4 WC buffers. */
void pl_cache_config_default(struct pl_cache_config *cfg);
/* 0, or PL_EINVAL when a field is outside its range. */
int pl_cache_config_check(const struct pl_cache_config *cfg);

struct pl_cache_stats {
    uint64_t hits;       /* cached loads and stores that found their line */
    uint64_t misses;     /* ... that did not (WT/WP stores included, which allocate nothing) */
    uint64_t fills;      /* lines brought in */
    uint64_t evictions;  /* valid lines replaced by a fill */
    uint64_t writebacks; /* dirty lines written out (eviction, CLFLUSH, WBINVD) */
    uint64_t write_throughs; /* WT and WP stores sent to memory */
    uint64_t uncached;   /* UC, UC- and WC-load accesses that bypassed the cache */
    uint64_t wc_writes;  /* stores merged into a WC buffer */
    uint64_t wc_flushes; /* WC buffers written out */
    uint64_t clflushes, wbinvds, fences;
    uint64_t device_accesses; /* transfers that reached a device (fills, write-backs, uncached, WC) */
    uint64_t cycles;     /* simulated, from the cost model */
};

struct pl_cache;

/* A cache in front of bus (borrowed). cfg NULL: the default; cost NULL:
 * PL_COST_MODEL_DEFAULT. NULL when cfg is not valid or out of memory. */
struct pl_cache *pl_cache_new(const struct pl_cache_config *cfg, struct pl_bus *bus, const struct pl_cost_model *cost);
void pl_cache_free(struct pl_cache *c);

/* One load or store of width 1, 2, 4 or 8 bytes at pa (naturally aligned)
 * of memory type memtype. Return 0; PL_EINVAL for an unknown memory type,
 * or an access the bus refuses (bad width, misaligned, a width the device
 * does not take), before any side effect; PL_ENOMEM. */
int pl_cache_read(struct pl_cache *c, uint64_t pa, unsigned width, unsigned memtype, uint64_t *value);
int pl_cache_write(struct pl_cache *c, uint64_t pa, unsigned width, unsigned memtype, uint64_t value);

/* len bytes as a sequence of the largest naturally aligned accesses of up
 * to 8 bytes (as a string move would), stopping at the first error, which
 * is returned. */
int pl_cache_read_block(struct pl_cache *c, uint64_t pa, void *buf, size_t len, unsigned memtype);
int pl_cache_write_block(struct pl_cache *c, uint64_t pa, const void *buf, size_t len, unsigned memtype);

/* CLFLUSH: writes the line holding pa back if dirty and invalidates it. */
int pl_cache_clflush(struct pl_cache *c, uint64_t pa);
/* WBINVD: writes back every dirty line, invalidates all, drains the WC
 * buffers (it serialises). */
int pl_cache_wbinvd(struct pl_cache *c);
/* SFENCE: writes out every WC buffer. */
int pl_cache_sfence(struct pl_cache *c);

/* The line holding pa: true when present, with its dirty state. */
bool pl_cache_probe(const struct pl_cache *c, uint64_t pa, bool *dirty);
/* WC buffers holding data now. */
unsigned pl_cache_wc_pending(const struct pl_cache *c);

const struct pl_cache_config *pl_cache_config(const struct pl_cache *c);
const struct pl_cache_stats *pl_cache_stats(const struct pl_cache *c);
void pl_cache_reset_stats(struct pl_cache *c);

#endif
