/* Device memory from Lua (docs/scripting.md, docs/memory-types.md):
 * m:device{base, size}, m:device_state(base), m:ioremap, m:iounmap,
 * m:kread/m:kwrite, m:clflush, m:sfence, m:wbinvd, m:cache_stats, and the
 * process methods p:mmap_device{...} and p:clflush(addr). */
#include <string.h>

#include "ptelab/bus.h"
#include "ptelab/cache.h"
#include "ptelab/dev.h"
#include "ptelab/error.h"
#include "ptelab/io.h"
#include "ptelab/walk.h"
#include "script/binding.h"

/* "UC", "WC", "WT", "WP", "WB" or "UC-". */
static unsigned check_memtype(lua_State *L, int idx, const char *what)
{
    static const char *const names[] = {"UC", "WC", "WT", "WP", "WB", "UC-", NULL};
    static const unsigned types[] = {PL_MT_UC, PL_MT_WC, PL_MT_WT, PL_MT_WP, PL_MT_WB, PL_MT_UCM};
    const char *s = luaL_checkstring(L, idx);
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return types[i];
    return (unsigned)luaL_error(L, "%s: memory type must be UC, WC, WT, WP, WB or UC-, not '%s'", what, s);
}

static uint64_t check_u64(lua_State *L, int idx) { return (uint64_t)luaL_checkinteger(L, idx); }

static unsigned check_width(lua_State *L, int idx, const char *what)
{
    lua_Integer w = luaL_optinteger(L, idx, 8);
    if (w != 1 && w != 2 && w != 4 && w != 8)
        luaL_error(L, "%s: width must be 1, 2, 4 or 8", what);
    return (unsigned)w;
}

/* nil, "EINVAL", code for a PL_E* error. */
static int push_pl_error(lua_State *L, int rc)
{
    lua_pushnil(L);
    lua_pushstring(L, rc == PL_EINVAL ? "EINVAL" : rc == PL_EFAULT ? "EFAULT" : rc == PL_ENOMEM ? "ENOMEM" : "EIO");
    lua_pushinteger(L, rc);
    return 3;
}

/* m:device{base = addr, size = "4K"} -> base | nil, "EINVAL", code */
static int m_device(lua_State *L)
{
    static const char *const keys[] = {"base", "size", NULL};
    struct lmachine *mb = lmachine_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    check_table_keys(L, 2, "device", keys);
    lua_getfield(L, 2, "base");
    uint64_t base = check_u64(L, -1);
    lua_getfield(L, 2, "size");
    uint64_t size = lua_isnil(L, -1) ? 4096 : check_size(L, -1, "device");
    struct pl_mmio *dev = pl_mmio_new();
    if (!dev)
        return luaL_error(L, "device: out of memory");
    int rc = pl_bus_attach(mb->m->bus, base, size, pl_mmio_ops(), dev);
    if (rc < 0)
        return push_pl_error(L, rc);
    lua_pushinteger(L, (lua_Integer)base);
    return 1;
}

/* m:device_state(addr) -> {counter, rings, last_ring, status, scratch, reads, writes} */
static int m_device_state(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    void *dev;
    if (!pl_bus_device_at(mb->m->bus, check_u64(L, 2), NULL, NULL, &dev))
        return luaL_error(L, "device_state: no device at that address");
    const struct pl_mmio_state *s = pl_mmio_state(dev);
    lua_createtable(L, 0, 7);
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {{"counter", s->counter}, {"rings", s->rings}, {"last_ring", s->last_ring}, {"status", s->status},
             {"scratch", s->scratch}, {"reads", s->reads},  {"writes", s->writes}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        lua_pushinteger(L, (lua_Integer)f[i].v);
        lua_setfield(L, -2, f[i].name);
    }
    return 1;
}

/* m:ioremap(phys, size, memtype) -> va | nil, "EINVAL", code */
static int m_ioremap(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    uint64_t phys = check_u64(L, 2), size = check_size(L, 3, "ioremap");
    unsigned mt = check_memtype(L, 4, "ioremap");
    uint64_t va;
    int rc = pl_ioremap(mb->k, phys, size, mt, &va);
    if (rc < 0)
        return push_pl_error(L, rc);
    lua_pushinteger(L, (lua_Integer)va);
    return 1;
}

/* m:iounmap(va) -> true | nil, "EINVAL", code */
static int m_iounmap(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    int rc = pl_iounmap(mb->k, check_u64(L, 2));
    if (rc < 0)
        return push_pl_error(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* m:kread(va [, width = 8]) -> value | nil, "EFAULT"/"EINVAL", code */
static int m_kread(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    uint64_t v;
    int rc = pl_kernel_read(mb->k, check_u64(L, 2), check_width(L, 3, "kread"), &v);
    if (rc < 0)
        return push_pl_error(L, rc);
    lua_pushinteger(L, (lua_Integer)v);
    return 1;
}

/* m:kwrite(va, value [, width = 8]) -> true | nil, "EFAULT"/"EINVAL", code */
static int m_kwrite(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    int rc = pl_kernel_write(mb->k, check_u64(L, 2), check_width(L, 4, "kwrite"), check_u64(L, 3));
    if (rc < 0)
        return push_pl_error(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* m:clflush(kernel va) -> true | nil, "EFAULT", code */
static int m_clflush(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    int rc = pl_kernel_clflush(mb->k, check_u64(L, 2));
    if (rc < 0)
        return push_pl_error(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int m_sfence(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    pl_cache_sfence(mb->m->cache);
    return 0;
}

static int m_wbinvd(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    pl_cache_wbinvd(mb->m->cache);
    return 0;
}

/* m:cache_stats() -> {hits, misses, ...} (cache.h's counters) */
static int m_cache_stats(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    const struct pl_cache_stats *s = pl_cache_stats(mb->m->cache);
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {{"hits", s->hits},
             {"misses", s->misses},
             {"fills", s->fills},
             {"evictions", s->evictions},
             {"writebacks", s->writebacks},
             {"write_throughs", s->write_throughs},
             {"uncached", s->uncached},
             {"wc_writes", s->wc_writes},
             {"wc_flushes", s->wc_flushes},
             {"clflushes", s->clflushes},
             {"wbinvds", s->wbinvds},
             {"fences", s->fences},
             {"device_accesses", s->device_accesses},
             {"cycles", s->cycles}};
    lua_createtable(L, 0, (int)(sizeof f / sizeof f[0]));
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        lua_pushinteger(L, (lua_Integer)f[i].v);
        lua_setfield(L, -2, f[i].name);
    }
    return 1;
}

/* p:mmap_device{phys = addr, len = size, prot = "rw", memtype = "UC"} -> addr | nil, "ENAME", errno */
static int p_mmap_device(lua_State *L)
{
    static const char *const keys[] = {"phys", "len", "prot", "memtype", NULL};
    luaL_checktype(L, 2, LUA_TTABLE);
    check_table_keys(L, 2, "mmap_device", keys);
    lua_getfield(L, 2, "phys");
    uint64_t phys = check_u64(L, -1);
    lua_getfield(L, 2, "len");
    uint64_t len = check_size(L, -1, "mmap_device");
    lua_getfield(L, 2, "prot");
    unsigned prot = lua_isnil(L, -1) ? PL_PROT_READ | PL_PROT_WRITE : check_prot(L, -1, "mmap_device");
    lua_getfield(L, 2, "memtype");
    unsigned mt = lua_isnil(L, -1) ? PL_MT_UC : check_memtype(L, -1, "mmap_device");
    struct lproc *w;
    struct pl_proc *p = lproc_check(L, 1, &w);
    uint64_t addr;
    int rc = pl_sys_mmap_device(p, phys, len, prot, mt, &addr);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushinteger(L, (lua_Integer)addr);
    return 1;
}

/* p:clflush(addr) -> true | nil, "ENAME", errno (a fault with no handler kills) */
static int p_clflush(lua_State *L)
{
    struct lproc *w;
    struct pl_proc *p = lproc_check(L, 1, &w);
    int rc = pl_proc_clflush(p, check_u64(L, 2));
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg machine_methods[] = {
    {"device", m_device},   {"device_state", m_device_state}, {"ioremap", m_ioremap},
    {"iounmap", m_iounmap}, {"kread", m_kread},               {"kwrite", m_kwrite},
    {"clflush", m_clflush}, {"sfence", m_sfence},             {"wbinvd", m_wbinvd},
    {"cache_stats", m_cache_stats}, {NULL, NULL},
};

static const luaL_Reg proc_methods[] = {
    {"mmap_device", p_mmap_device},
    {"clflush", p_clflush},
    {NULL, NULL},
};

void ldevice_register(lua_State *L)
{
    add_machine_methods(L, machine_methods);
    add_proc_methods(L, proc_methods);
}
