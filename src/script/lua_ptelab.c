/* The `ptelab` module table: the machine constructor and helpers to format
 * and decode entries. */
#include <errno.h>
#include <inttypes.h>

#include "hw/pte.h"
#include "script/binding.h"

#ifndef PTELAB_VERSION
#define PTELAB_VERSION "unknown"
#endif

/* ptelab.hex(n) -> "0x%016x" */
static int l_hex(lua_State *L)
{
    char buf[19];
    lua_pushstring(L, hex64(buf, (uint64_t)luaL_checkinteger(L, 1)));
    return 1;
}

/* An optional entry level argument: 1 (default) .. 5. */
static int check_level(lua_State *L, int idx)
{
    lua_Integer level = luaL_optinteger(L, idx, 1);
    luaL_argcheck(L, level >= 1 && level <= 5, idx, "level must be 1 (PT) .. 5 (PML5)");
    return (int)level;
}

/* ptelab.describe(entry [, level]) -> text */
static int l_describe(lua_State *L)
{
    uint64_t e = (uint64_t)luaL_checkinteger(L, 1);
    char buf[128];
    lua_pushstring(L, describe_entry(buf, sizeof buf, e, check_level(L, 2)));
    return 1;
}

static void set_flag(lua_State *L, const char *name, uint64_t e, uint64_t mask)
{
    lua_pushboolean(L, (e & mask) != 0);
    lua_setfield(L, -2, name);
}

/* ptelab.decode(entry [, level]) -> table of fields */
static int l_decode(lua_State *L)
{
    uint64_t e = (uint64_t)luaL_checkinteger(L, 1);
    int level = check_level(L, 2);
    bool leaf = (e & PTE_P) && pte_is_leaf(e, level);
    lua_createtable(L, 0, 12);
    set_flag(L, "p", e, PTE_P);
    set_flag(L, "rw", e, PTE_RW);
    set_flag(L, "us", e, PTE_US);
    set_flag(L, "pwt", e, PTE_PWT);
    set_flag(L, "pcd", e, PTE_PCD);
    set_flag(L, "a", e, PTE_A);
    set_flag(L, "xd", e, PTE_XD);
    set_flag(L, "leaf", leaf ? 1 : 0, 1);
    if (leaf) {
        set_flag(L, "d", e, PTE_D);
        set_flag(L, "g", e, PTE_G);
        lua_pushinteger(L, pte_pkey(e));
        lua_setfield(L, -2, "pkey");
    }
    if (level == PTE_LEVEL_PD || level == PTE_LEVEL_PDPT)
        set_flag(L, "ps", e, PTE_PS);
    lua_pushinteger(L, (lua_Integer)(e & PTE_P ? pte_addr(e, level) : 0));
    lua_setfield(L, -2, "addr");
    return 1;
}

/* ptelab.errno_name(n) -> "EINVAL" ... */
static int l_errno_name(lua_State *L)
{
    lua_pushstring(L, errno_name((int)luaL_checkinteger(L, 1)));
    return 1;
}

static const luaL_Reg module_functions[] = {
    {"machine", lmachine_new},
    {"hex", l_hex},
    {"describe", l_describe},
    {"decode", l_decode},
    {"errno_name", l_errno_name},
    {NULL, NULL},
};

int script_open(lua_State *L)
{
    const struct script_options *opt = lua_islightuserdata(L, 1) ? lua_touserdata(L, 1) : NULL;
    lua_settop(L, 0);
    script_state_init(L, opt);
    if (luaL_getmetatable(L, LMACHINE_MT) == LUA_TNIL) {
        lmachine_register(L);
        lproc_register(L);
        lpkey_register(L);
        lswap_register(L);
        lshm_register(L);
        ldevice_register(L);
        lthread_register(L);
        lsmp_register(L);
    }
    lua_pop(L, 1);
    luaL_newlib(L, module_functions);
    lua_pushliteral(L, PTELAB_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, PL_VMA_PAGE_SIZE);
    lua_setfield(L, -2, "PAGE_SIZE");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "ptelab");
    if (lua_getglobal(L, "package") == LUA_TTABLE && lua_getfield(L, -1, "loaded") == LUA_TTABLE) {
        lua_pushvalue(L, -3);
        lua_setfield(L, -2, "ptelab");
    }
    lua_settop(L, 1);
    return 1;
}
