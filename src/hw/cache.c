/* hw/cache: see cache.h. Lines hold a byte mask of what was written since
 * the fill (a line is at most 64 bytes, so a uint64_t). */
#include "ptelab/cache.h"

#include <stdlib.h>
#include <string.h>

#include "ptelab/bus.h"
#include "ptelab/error.h"
#include "ptelab/physmem.h"
#include "ptelab/walk.h"

#define MAX_LINE 64u

struct line {
    uint64_t addr;  /* line-aligned physical address */
    uint64_t age;   /* LRU: the cache's clock at the last use */
    uint64_t dirty; /* bytes written since the fill */
    bool valid;
    bool device;    /* filled from a device range: data holds the copy */
    uint8_t data[MAX_LINE];
};

struct wcbuf {
    uint64_t addr;
    uint64_t valid; /* bytes held; 0: the buffer is free */
    uint64_t age;
    uint8_t data[MAX_LINE];
};

struct pl_cache {
    struct pl_cache_config cfg;
    struct pl_bus *bus;
    struct pl_cost_model cost;
    struct line *lines; /* [sets * ways] */
    struct wcbuf *wc;
    uint64_t clock;
    struct pl_cache_stats stats;
};

void pl_cache_config_default(struct pl_cache_config *cfg)
{
    *cfg = (struct pl_cache_config){.sets = 64, .ways = 8, .line = 64, .wc_buffers = 4};
}

int pl_cache_config_check(const struct pl_cache_config *cfg)
{
    bool ok = cfg->sets >= 1 && cfg->sets <= 65536 && (cfg->sets & (cfg->sets - 1)) == 0 && cfg->ways >= 1 &&
              cfg->ways <= 64 && (cfg->line == 8 || cfg->line == 16 || cfg->line == 32 || cfg->line == 64) &&
              cfg->wc_buffers >= 1 && cfg->wc_buffers <= 16;
    return ok ? 0 : PL_EINVAL;
}

struct pl_cache *pl_cache_new(const struct pl_cache_config *cfg, struct pl_bus *bus, const struct pl_cost_model *cost)
{
    struct pl_cache_config def;
    if (!cfg) {
        pl_cache_config_default(&def);
        cfg = &def;
    }
    if (pl_cache_config_check(cfg) < 0)
        return NULL;
    struct pl_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = *cfg;
    c->bus = bus;
    c->cost = cost ? *cost : pl_cost_model_default();
    c->lines = calloc((size_t)cfg->sets * cfg->ways, sizeof *c->lines);
    c->wc = calloc(cfg->wc_buffers, sizeof *c->wc);
    if (!c->lines || !c->wc) {
        pl_cache_free(c);
        return NULL;
    }
    return c;
}

void pl_cache_free(struct pl_cache *c)
{
    if (!c)
        return;
    free(c->lines);
    free(c->wc);
    free(c);
}

static uint64_t line_of(const struct pl_cache *c, uint64_t pa) { return pa & ~(uint64_t)(c->cfg.line - 1); }

static struct line *set_of(const struct pl_cache *c, uint64_t pa)
{
    uint64_t index = (pa / c->cfg.line) & (c->cfg.sets - 1);
    return &c->lines[index * c->cfg.ways];
}

static struct line *lookup(const struct pl_cache *c, uint64_t pa)
{
    struct line *set = set_of(c, pa);
    uint64_t addr = line_of(c, pa);
    for (uint32_t w = 0; w < c->cfg.ways; w++)
        if (set[w].valid && set[w].addr == addr)
            return &set[w];
    return NULL;
}

static bool is_device(const struct pl_cache *c, uint64_t pa) { return pl_bus_device_at(c->bus, pa, NULL, NULL, NULL); }

/* One transfer's cost and count. */
static void charge_transfer(struct pl_cache *c, bool device)
{
    if (device) {
        c->stats.device_accesses++;
        c->stats.cycles += c->cost.device_access;
    } else {
        c->stats.cycles += c->cost.mem_access;
    }
}

/* The largest naturally aligned piece at off (< 8 within a word) of at most
 * n bytes that the bus takes at pa; 0 when none. */
static unsigned piece(const struct pl_cache *c, uint64_t pa, unsigned n)
{
    for (unsigned w = 8; w >= 1; w /= 2)
        if (w <= n && pa % w == 0 && pl_bus_check(c->bus, pa, w) == 0)
            return w;
    return 0;
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes the bytes of mask from data (a line at addr) to the bus: each
 * 8-byte word with a byte in mask, in the largest pieces the bus takes.
 * Returns 0 or the first error. */
static int write_words(struct pl_cache *c, uint64_t addr, const uint8_t *data, uint64_t mask)
{
    int rc = 0;
    for (unsigned off = 0; off < c->cfg.line; off += 8) {
        if (!((mask >> off) & 0xFF))
            continue;
        for (unsigned o = off; o < off + 8;) {
            unsigned w = piece(c, addr + o, off + 8 - o);
            if (w == 0)
                return PL_EINVAL;
            int r = pl_bus_write(c->bus, addr + o, w, get_le(data + o, w));
            if (r < 0 && rc == 0)
                rc = r;
            o += w;
        }
    }
    return rc;
}

/* Writes a dirty line back (a device line's written words; a RAM line's
 * data are already in the physmem) and marks it clean. */
static int writeback(struct pl_cache *c, struct line *l)
{
    if (!l->valid || !l->dirty)
        return 0;
    int rc = l->device ? write_words(c, l->addr, l->data, l->dirty) : 0;
    l->dirty = 0;
    c->stats.writebacks++;
    charge_transfer(c, l->device);
    return rc;
}

/* The line for pa, filled when absent (evicting the LRU way). */
static int fill(struct pl_cache *c, uint64_t pa, struct line **out)
{
    struct line *set = set_of(c, pa), *victim = &set[0];
    for (uint32_t w = 0; w < c->cfg.ways; w++) {
        if (!set[w].valid) {
            victim = &set[w];
            break;
        }
        if (set[w].age < victim->age)
            victim = &set[w];
    }
    int rc = 0;
    if (victim->valid) {
        c->stats.evictions++;
        rc = writeback(c, victim);
    }
    uint64_t addr = line_of(c, pa);
    *victim = (struct line){.addr = addr, .valid = true, .device = is_device(c, pa)};
    if (victim->device) {
        for (unsigned o = 0; o < c->cfg.line;) {
            unsigned w = piece(c, addr + o, c->cfg.line - o < 8 ? c->cfg.line - o : 8);
            uint64_t v = 0;
            int r = w ? pl_bus_read(c->bus, addr + o, w, &v) : PL_EINVAL;
            if (r < 0) {
                w = w ? w : 1; /* a hole the device does not serve reads as 0 */
                v = 0;
            }
            put_le(victim->data + o, w, v);
            o += w;
        }
    }
    c->stats.fills++;
    charge_transfer(c, victim->device);
    *out = victim;
    return rc;
}

static bool cacheable(unsigned mt) { return mt == PL_MT_WB || mt == PL_MT_WT || mt == PL_MT_WP; }

static bool known(unsigned mt) { return mt == PL_MT_UC || mt == PL_MT_WC || mt == PL_MT_UCM || cacheable(mt); }

/* A line present for pa, counted as hit or miss, and filled when alloc. */
static int find_line(struct pl_cache *c, uint64_t pa, bool alloc, struct line **out)
{
    struct line *l = lookup(c, pa);
    c->stats.cycles += c->cost.cache_hit;
    int rc = 0;
    if (l) {
        c->stats.hits++;
    } else {
        c->stats.misses++;
        if (alloc)
            rc = fill(c, pa, &l);
    }
    if (l)
        l->age = ++c->clock;
    *out = l;
    return rc;
}

/* An access straight to the bus, counted as uncached. */
static int uncached(struct pl_cache *c, uint64_t pa, unsigned width, bool write, uint64_t *value)
{
    c->stats.uncached++;
    charge_transfer(c, is_device(c, pa));
    return write ? pl_bus_write(c->bus, pa, width, *value) : pl_bus_read(c->bus, pa, width, value);
}

int pl_cache_read(struct pl_cache *c, uint64_t pa, unsigned width, unsigned memtype, uint64_t *value)
{
    if (!known(memtype) || pl_bus_check(c->bus, pa, width) < 0)
        return PL_EINVAL;
    if (!cacheable(memtype))
        return uncached(c, pa, width, false, value);
    struct line *l;
    int rc = find_line(c, pa, true, &l);
    if (l->device) {
        *value = get_le(l->data + (pa - l->addr), width);
    } else {
        uint8_t b[8];
        pl_physmem_read(pl_bus_physmem(c->bus), pa, b, width);
        *value = get_le(b, width);
    }
    return rc;
}

/* Writes the bytes into a present line (a RAM line's into the physmem). */
static int line_store(struct pl_cache *c, struct line *l, uint64_t pa, unsigned width, uint64_t value, bool dirty)
{
    unsigned off = (unsigned)(pa - l->addr);
    if (dirty)
        l->dirty |= (width == 8 ? 0xFFull : (1ull << width) - 1) << off;
    if (l->device) {
        put_le(l->data + off, width, value);
        return 0;
    }
    uint8_t b[8];
    put_le(b, width, value);
    return pl_physmem_write(pl_bus_physmem(c->bus), pa, b, width);
}

static int wc_flush(struct pl_cache *c, struct wcbuf *b)
{
    if (!b->valid)
        return 0;
    int rc = write_words(c, b->addr, b->data, b->valid);
    c->stats.wc_flushes++;
    charge_transfer(c, is_device(c, b->addr));
    b->valid = 0;
    return rc;
}

static int wc_store(struct pl_cache *c, uint64_t pa, unsigned width, uint64_t value)
{
    uint64_t addr = line_of(c, pa);
    struct wcbuf *b = NULL, *oldest = NULL, *free_buf = NULL;
    for (uint32_t i = 0; i < c->cfg.wc_buffers; i++) {
        struct wcbuf *x = &c->wc[i];
        if (x->valid && x->addr == addr)
            b = x;
        else if (!x->valid && !free_buf)
            free_buf = x;
        else if (x->valid && (!oldest || x->age < oldest->age))
            oldest = x;
    }
    int rc = 0;
    if (!b) {
        b = free_buf;
        if (!b) {
            rc = wc_flush(c, oldest);
            b = oldest;
        }
        b->addr = addr;
        b->valid = 0;
    }
    unsigned off = (unsigned)(pa - addr);
    put_le(b->data + off, width, value);
    b->valid |= (width == 8 ? 0xFFull : (1ull << width) - 1) << off;
    b->age = ++c->clock;
    c->stats.wc_writes++;
    c->stats.cycles += c->cost.cache_hit;
    return rc;
}

int pl_cache_write(struct pl_cache *c, uint64_t pa, unsigned width, unsigned memtype, uint64_t value)
{
    if (!known(memtype) || pl_bus_check(c->bus, pa, width) < 0)
        return PL_EINVAL;
    struct line *l;
    int rc;
    switch (memtype) {
    case PL_MT_WB: {
        rc = find_line(c, pa, true, &l);
        int r = line_store(c, l, pa, width, value, true);
        return rc < 0 ? rc : r;
    }
    case PL_MT_WT:
    case PL_MT_WP:
        find_line(c, pa, false, &l);
        if (l && memtype == PL_MT_WT && l->device)
            line_store(c, l, pa, width, value, false);
        else if (l && memtype == PL_MT_WP)
            l->valid = false;
        c->stats.write_throughs++;
        charge_transfer(c, is_device(c, pa));
        return pl_bus_write(c->bus, pa, width, value);
    case PL_MT_WC:
        return wc_store(c, pa, width, value);
    default:
        return uncached(c, pa, width, true, &value);
    }
}

/* Calls one access per naturally aligned piece of up to 8 bytes. */
static int block(struct pl_cache *c, uint64_t pa, uint8_t *buf, size_t len, unsigned memtype, bool write)
{
    while (len > 0) {
        unsigned w = 8;
        while (w > len || pa % w)
            w /= 2;
        uint64_t v = write ? get_le(buf, w) : 0;
        int rc = write ? pl_cache_write(c, pa, w, memtype, v) : pl_cache_read(c, pa, w, memtype, &v);
        if (rc < 0)
            return rc;
        if (!write)
            put_le(buf, w, v);
        pa += w;
        buf += w;
        len -= w;
    }
    return 0;
}

int pl_cache_read_block(struct pl_cache *c, uint64_t pa, void *buf, size_t len, unsigned memtype)
{
    return block(c, pa, buf, len, memtype, false);
}

int pl_cache_write_block(struct pl_cache *c, uint64_t pa, const void *buf, size_t len, unsigned memtype)
{
    return block(c, pa, (uint8_t *)buf, len, memtype, true);
}

int pl_cache_clflush(struct pl_cache *c, uint64_t pa)
{
    if (pa >= PL_PHYS_LIMIT)
        return PL_EINVAL;
    c->stats.clflushes++;
    c->stats.cycles += c->cost.cache_flush;
    struct line *l = lookup(c, pa);
    if (!l)
        return 0;
    int rc = writeback(c, l);
    l->valid = false;
    return rc;
}

int pl_cache_sfence(struct pl_cache *c)
{
    c->stats.fences++;
    c->stats.cycles += c->cost.fence;
    int rc = 0;
    /* oldest first, so that the order of the writes is the order of use */
    for (;;) {
        struct wcbuf *oldest = NULL;
        for (uint32_t i = 0; i < c->cfg.wc_buffers; i++)
            if (c->wc[i].valid && (!oldest || c->wc[i].age < oldest->age))
                oldest = &c->wc[i];
        if (!oldest)
            return rc;
        int r = wc_flush(c, oldest);
        if (r < 0 && rc == 0)
            rc = r;
    }
}

int pl_cache_wbinvd(struct pl_cache *c)
{
    c->stats.wbinvds++;
    int rc = pl_cache_sfence(c);
    for (size_t i = 0; i < (size_t)c->cfg.sets * c->cfg.ways; i++) {
        int r = writeback(c, &c->lines[i]);
        if (r < 0 && rc == 0)
            rc = r;
        c->lines[i].valid = false;
    }
    return rc;
}

bool pl_cache_probe(const struct pl_cache *c, uint64_t pa, bool *dirty)
{
    const struct line *l = lookup(c, pa);
    if (dirty)
        *dirty = l && l->dirty;
    return l != NULL;
}

unsigned pl_cache_wc_pending(const struct pl_cache *c)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < c->cfg.wc_buffers; i++)
        n += c->wc[i].valid != 0;
    return n;
}

const struct pl_cache_config *pl_cache_config(const struct pl_cache *c) { return &c->cfg; }
const struct pl_cache_stats *pl_cache_stats(const struct pl_cache *c) { return &c->stats; }
void pl_cache_reset_stats(struct pl_cache *c) { memset(&c->stats, 0, sizeof c->stats); }
