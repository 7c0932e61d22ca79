/* hw/cache: hits, misses, LRU eviction order, write-back, WT, WP, UC, the
 * WC buffers and the fence, with exact counts and cycles. */
#include <criterion/criterion.h>

#include "ptelab/bus.h"
#include "ptelab/cache.h"
#include "ptelab/dev.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"
#include "ptelab/walk.h"

#define RAM (UINT64_C(16) << 20)
#define DEV UINT64_C(0x40000000)

static struct pl_physmem *mem;
static struct pl_bus *bus;
static struct pl_cache *cache;
static struct pl_mmio *dev;
static const struct pl_cost_model cost = PL_COST_MODEL_DEFAULT;

/* A 2-set, 2-way cache of 64-byte lines with 2 WC buffers over 16 MiB of
 * RAM and one MMIO device page. */
static void setup(void)
{
    mem = pl_physmem_new();
    bus = pl_bus_new(mem, RAM);
    dev = pl_mmio_new();
    cr_assert_eq(pl_bus_attach(bus, DEV, 4096, pl_mmio_ops(), dev), 0);
    struct pl_cache_config cfg = {.sets = 2, .ways = 2, .line = 64, .wc_buffers = 2};
    cache = pl_cache_new(&cfg, bus, &cost);
    cr_assert(cache);
}

static void teardown(void)
{
    pl_cache_free(cache);
    pl_bus_free(bus);
    pl_physmem_free(mem);
}

TestSuite(cache, .init = setup, .fini = teardown);

static const struct pl_cache_stats *st(void) { return pl_cache_stats(cache); }

Test(cache, config_checked)
{
    struct pl_cache_config cfg;
    pl_cache_config_default(&cfg);
    cr_assert_eq(cfg.sets * cfg.ways * cfg.line, 32768u);
    cr_assert_eq(pl_cache_config_check(&cfg), 0);
    cfg.sets = 3;
    cr_assert_eq(pl_cache_config_check(&cfg), PL_EINVAL);
    cfg.sets = 64;
    cfg.line = 128;
    cr_assert_eq(pl_cache_config_check(&cfg), PL_EINVAL);
    cr_assert_null(pl_cache_new(&cfg, bus, NULL));
}

Test(cache, wb_hit_after_miss)
{
    uint64_t v;
    cr_assert_eq(pl_cache_write(cache, 0x1008, 8, PL_MT_WB, 0x1122334455667788), 0);
    cr_assert_eq(pl_cache_read(cache, 0x1008, 8, PL_MT_WB, &v), 0);
    cr_assert_eq(v, 0x1122334455667788);
    cr_assert_eq(pl_cache_read(cache, 0x100C, 4, PL_MT_WB, &v), 0);
    cr_assert_eq(v, 0x11223344);
    cr_assert_eq(st()->misses, 1);
    cr_assert_eq(st()->hits, 2);
    cr_assert_eq(st()->fills, 1);
    cr_assert_eq(st()->cycles, 3 * cost.cache_hit + cost.mem_access);
    bool dirty;
    cr_assert(pl_cache_probe(cache, 0x1000, &dirty));
    cr_assert(dirty);
    /* RAM is coherent: the physmem already holds the value */
    cr_assert_eq(pl_physmem_read64(mem, 0x1008), 0x1122334455667788);
    pl_cache_reset_stats(cache);
    cr_assert_eq(st()->hits + st()->misses + st()->cycles, 0, "counters reset");
    cr_assert(pl_cache_probe(cache, 0x1000, &dirty), "resetting counters keeps the lines");
}

Test(cache, lru_eviction_order_and_writeback)
{
    uint64_t v;
    /* set 0 holds lines at multiples of 128 */
    cr_assert_eq(pl_cache_write(cache, 0x0000, 8, PL_MT_WB, 1), 0); /* A dirty */
    cr_assert_eq(pl_cache_read(cache, 0x0080, 8, PL_MT_WB, &v), 0);  /* B clean */
    cr_assert_eq(pl_cache_read(cache, 0x0000, 8, PL_MT_WB, &v), 0);  /* A used: B is LRU */
    cr_assert_eq(pl_cache_read(cache, 0x0100, 8, PL_MT_WB, &v), 0);  /* C evicts B */
    cr_assert(pl_cache_probe(cache, 0x0000, NULL));
    cr_assert_not(pl_cache_probe(cache, 0x0080, NULL));
    cr_assert_eq(st()->evictions, 1);
    cr_assert_eq(st()->writebacks, 0);
    cr_assert_eq(pl_cache_read(cache, 0x0180, 8, PL_MT_WB, &v), 0); /* D evicts A (dirty) */
    cr_assert_not(pl_cache_probe(cache, 0x0000, NULL));
    cr_assert_eq(st()->evictions, 2);
    cr_assert_eq(st()->writebacks, 1);
    cr_assert_eq(st()->misses, 4);
    cr_assert_eq(st()->hits, 1);
    /* set 1 untouched */
    cr_assert_not(pl_cache_probe(cache, 0x0040, NULL));
}

Test(cache, wt_writes_through_without_allocating)
{
    uint64_t v;
    cr_assert_eq(pl_cache_write(cache, DEV + 0x18, 8, PL_MT_WT, 7), 0);
    cr_assert_eq(pl_mmio_state(dev)->scratch, 7);
    cr_assert_not(pl_cache_probe(cache, DEV, NULL));
    cr_assert_eq(st()->misses, 1);
    cr_assert_eq(st()->write_throughs, 1);
    cr_assert_eq(pl_cache_read(cache, DEV + 0x18, 8, PL_MT_WT, &v), 0); /* fill */
    cr_assert_eq(v, 7);
    cr_assert_eq(pl_cache_write(cache, DEV + 0x18, 8, PL_MT_WT, 9), 0); /* hit: line and device */
    cr_assert_eq(pl_mmio_state(dev)->scratch, 9);
    cr_assert_eq(pl_cache_read(cache, DEV + 0x18, 8, PL_MT_WT, &v), 0);
    cr_assert_eq(v, 9);
    bool dirty;
    cr_assert(pl_cache_probe(cache, DEV, &dirty));
    cr_assert_not(dirty);
}

Test(cache, wp_write_invalidates)
{
    uint64_t v;
    cr_assert_eq(pl_cache_read(cache, 0x2000, 8, PL_MT_WP, &v), 0);
    cr_assert(pl_cache_probe(cache, 0x2000, NULL));
    cr_assert_eq(pl_cache_write(cache, 0x2000, 8, PL_MT_WP, 5), 0);
    cr_assert_not(pl_cache_probe(cache, 0x2000, NULL));
    cr_assert_eq(pl_physmem_read64(mem, 0x2000), 5);
}

Test(cache, uc_bypasses)
{
    uint64_t v;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pl_cache_read(cache, DEV + PL_MMIO_COUNTER, 8, PL_MT_UC, &v), 0);
        cr_assert_eq(v, (uint64_t)i);
    }
    cr_assert_eq(pl_cache_read(cache, 0x3000, 8, PL_MT_UCM, &v), 0);
    cr_assert_eq(st()->uncached, 4);
    cr_assert_eq(st()->hits + st()->misses, 0);
    cr_assert_eq(st()->device_accesses, 3);
    cr_assert_eq(st()->cycles, 3 * cost.device_access + cost.mem_access);
}

Test(cache, wb_device_is_stale_until_clflush)
{
    uint64_t v;
    cr_assert_eq(pl_cache_read(cache, DEV, 8, PL_MT_WB, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(pl_cache_read(cache, DEV, 8, PL_MT_WB, &v), 0);
    cr_assert_eq(v, 0); /* frozen: a hit */
    cr_assert_eq(pl_mmio_state(dev)->counter, 1);
    cr_assert_eq(pl_cache_write(cache, DEV + PL_MMIO_DOORBELL, 8, PL_MT_WB, 0xAB), 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 0); /* posted in the line */
    cr_assert_eq(pl_cache_clflush(cache, DEV), 0);
    cr_assert_eq(pl_mmio_state(dev)->rings, 1);
    cr_assert_eq(pl_mmio_state(dev)->last_ring, 0xAB);
    cr_assert_eq(pl_mmio_state(dev)->counter, 1); /* only the written word went back */
    cr_assert_eq(pl_cache_read(cache, DEV, 8, PL_MT_WB, &v), 0);
    cr_assert_eq(v, 1); /* fresh after the flush */
    cr_assert_eq(st()->writebacks, 1);
    cr_assert_eq(st()->clflushes, 1);
}

Test(cache, wc_combines_until_fence)
{
    cr_assert_eq(pl_cache_write(cache, DEV + PL_MMIO_SCRATCH, 4, PL_MT_WC, 0x1111), 0);
    cr_assert_eq(pl_cache_write(cache, DEV + PL_MMIO_SCRATCH + 4, 4, PL_MT_WC, 0x2222), 0);
    cr_assert_eq(pl_mmio_state(dev)->writes, 0);
    cr_assert_eq(pl_cache_wc_pending(cache), 1);
    cr_assert_eq(pl_cache_sfence(cache), 0);
    cr_assert_eq(pl_mmio_state(dev)->scratch, 0x0000222200001111);
    cr_assert_eq(pl_mmio_state(dev)->writes, 1); /* one 8-byte write */
    cr_assert_eq(st()->wc_writes, 2);
    cr_assert_eq(st()->wc_flushes, 1);
    cr_assert_eq(st()->fences, 1);
    cr_assert_eq(pl_cache_wc_pending(cache), 0);
    cr_assert_eq(st()->cycles, 2 * cost.cache_hit + cost.fence + cost.device_access);
}

Test(cache, wc_buffer_eviction_flushes_oldest)
{
    cr_assert_eq(pl_cache_write(cache, 0x4000, 8, PL_MT_WC, 1), 0);
    cr_assert_eq(pl_cache_write(cache, 0x4040, 8, PL_MT_WC, 2), 0);
    cr_assert_eq(pl_physmem_read64(mem, 0x4000), 0);
    cr_assert_eq(pl_cache_write(cache, 0x4080, 8, PL_MT_WC, 3), 0); /* evicts 0x4000's buffer */
    cr_assert_eq(pl_physmem_read64(mem, 0x4000), 1);
    cr_assert_eq(pl_physmem_read64(mem, 0x4040), 0);
    cr_assert_eq(st()->wc_flushes, 1);
    cr_assert_eq(pl_cache_wbinvd(cache), 0);
    cr_assert_eq(pl_physmem_read64(mem, 0x4040), 2);
    cr_assert_eq(pl_physmem_read64(mem, 0x4080), 3);
    cr_assert_eq(st()->wc_flushes, 3);
}

Test(cache, refused_accesses_have_no_effect)
{
    uint64_t v;
    cr_assert_eq(pl_cache_read(cache, DEV, 2, PL_MT_UC, &v), PL_EINVAL); /* width the device refuses */
    cr_assert_eq(pl_cache_read(cache, DEV + 4, 8, PL_MT_WB, &v), PL_EINVAL); /* misaligned */
    cr_assert_eq(pl_cache_write(cache, 0x1000, 3, PL_MT_WB, 0), PL_EINVAL);
    cr_assert_eq(pl_cache_write(cache, 0x1000, 8, 2, 0), PL_EINVAL); /* not a memory type */
    cr_assert_eq(pl_cache_write(cache, DEV + 8, 1, PL_MT_WC, 0), PL_EINVAL);
    cr_assert_eq(pl_mmio_state(dev)->reads + pl_mmio_state(dev)->writes, 0);
    cr_assert_eq(st()->cycles, 0);
}

Test(cache, block_copy_in_aligned_pieces)
{
    uint8_t in[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, out[13] = {0};
    cr_assert_eq(pl_cache_write_block(cache, 0x5003, in, sizeof in, PL_MT_WB), 0);
    cr_assert_eq(pl_cache_read_block(cache, 0x5003, out, sizeof out, PL_MT_WB), 0);
    cr_assert_arr_eq(in, out, sizeof in);
    /* 0x5003: 1 + 4 + 8 bytes: 3 stores, then 3 loads, one miss */
    cr_assert_eq(st()->hits + st()->misses, 6);
    cr_assert_eq(st()->misses, 1);
}
