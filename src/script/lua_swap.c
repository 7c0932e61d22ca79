/* The Lua side of swap, reclaim and the OOM killer (docs/swap.md): the
 * machine constructor's `swap` table, p:set_oom_score_adj, p:swap_out,
 * m:reclaim and m:swap_stats. */
#include <errno.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/swap.h"
#include "script/binding.h"

void lswap_parse_config(lua_State *L, int idx, struct pl_swap_config *sc)
{
    static const char *const keys[] = {"slots", "min", "low", "high", "policy", "skip_invalidate", "oom_killer",
                                       NULL};
    if (!lua_istable(L, idx))
        luaL_error(L, "machine: swap must be a table");
    check_table_keys(L, idx, "machine.swap", keys);
    lua_Integer n;
    if (opt_field_integer(L, idx, "machine.swap", "slots", &n)) {
        if (n < 0 || n > (lua_Integer)1 << 39)
            luaL_error(L, "machine.swap: slots must be 0..2^39");
        sc->slots = (uint64_t)n;
    }
    uint64_t *marks[] = {&sc->wmark_min, &sc->wmark_low, &sc->wmark_high};
    const char *names[] = {"min", "low", "high"};
    for (int i = 0; i < 3; i++)
        if (opt_field_integer(L, idx, "machine.swap", names[i], &n)) {
            if (n < 0)
                luaL_error(L, "machine.swap: %s must not be negative", names[i]);
            *marks[i] = (uint64_t)n;
        }
    if (sc->wmark_min > sc->wmark_low || sc->wmark_low > sc->wmark_high)
        luaL_error(L, "machine.swap: watermarks must satisfy min <= low <= high");
    if (lua_getfield(L, idx, "policy") != LUA_TNIL) {
        enum pl_policy pol = PL_POLICY_ACTIVE;
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        /* policy.h's names, and the replay command's "active-inactive" */
        if (!s || (strcmp(s, "active-inactive") != 0 && pl_policy_parse(s, &pol) < 0) || pol == PL_POLICY_OPT)
            luaL_error(L, "machine.swap: policy must be \"fifo\", \"lru\", \"clock\" or \"active\"");
        sc->policy = (unsigned)pol;
    }
    lua_pop(L, 1);
    opt_field_bool(L, idx, "machine.swap", "skip_invalidate", &sc->clock_skip_invalidate);
    opt_field_bool(L, idx, "machine.swap", "oom_killer", &sc->oom_killer);
}

/* p:set_oom_score_adj(v) -> true, or nil, "EINVAL", errno */
static int p_set_oom_score_adj(lua_State *L)
{
    struct pl_proc *p = lproc_check(L, 1, NULL);
    lua_Integer v = luaL_checkinteger(L, 2);
    if (v < -1000 || v > 1000 || pl_proc_set_oom_score_adj(p, (int)v) < 0)
        return push_errno(L, EINVAL);
    lua_pushboolean(L, 1);
    return 1;
}

/* p:swap_out(addr) -> true, or nil, error name, errno */
static int p_swap_out(lua_State *L)
{
    struct pl_proc *p = lproc_check(L, 1, NULL);
    lua_Integer va = luaL_checkinteger(L, 2);
    int rc = pl_proc_swap_out(p, (uint64_t)va);
    if (rc < 0)
        return push_errno(L, rc == PL_ENOMEM ? ENOMEM : EINVAL);
    lua_pushboolean(L, 1);
    return 1;
}

/* m:reclaim(n) -> pages evicted */
static int m_reclaim(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 2, "must not be negative");
    lua_pushinteger(L, (lua_Integer)pl_kernel_reclaim(mb->k, (uint64_t)n));
    return 1;
}

/* m:swap_stats() -> table of the counters of pl_swap_stats */
static int m_swap_stats(lua_State *L)
{
    struct pl_swap_stats st;
    pl_kernel_swap_stats(lmachine_check(L, 1)->k, &st);
    lua_createtable(L, 0, 16);
#define F(name)                                 \
    lua_pushinteger(L, (lua_Integer)st.name); \
    lua_setfield(L, -2, #name)
    F(slots_used);
    F(swap_outs);
    F(swap_writes);
    F(clean_drops);
    F(swap_ins);
    F(swapcache_hits);
    F(unmaps);
    F(second_chances);
    F(direct_reclaims);
    F(background_reclaims);
    F(reclaim_failures);
    F(oom_kills);
    F(last_oom_pid);
    F(last_oom_points);
    F(disk_cycles);
#undef F
    return 1;
}

static const luaL_Reg swap_proc_methods[] = {
    {"set_oom_score_adj", p_set_oom_score_adj},
    {"swap_out", p_swap_out},
    {NULL, NULL},
};

static const luaL_Reg swap_machine_methods[] = {
    {"reclaim", m_reclaim},
    {"swap_stats", m_swap_stats},
    {NULL, NULL},
};

void lswap_register(lua_State *L)
{
    add_proc_methods(L, swap_proc_methods);
    add_machine_methods(L, swap_machine_methods);
}
