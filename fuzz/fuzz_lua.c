/* libFuzzer target: any bytes as a Lua scenario script. Whatever a script
 * does, the simulator must not crash, leak or hang, and the kernel's
 * invariants must hold on every machine left open. Runaway scripts end at
 * an instruction limit (a count hook), memory at an allocator budget, and
 * machines, mappings and histories at the module's limits.
 *
 * Two things a hook cannot stop are taken away: Lua runs __gc finalizers
 * with hooks off, so finalizers run inside a coroutine (which has them);
 * and a pattern match runs in one C call, so there are none. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "script/script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LUA_MEMORY_LIMIT (UINT64_C(64) << 20)
#define HOOK_EVERY 1000      /* instructions between two hook calls */
#define HOOK_CALLS_MAX 2000  /* so a script runs at most ~2 million instructions */

struct budget {
    size_t used, limit;
    unsigned hook_calls;
};

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct budget *b = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        b->used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > b->limit - b->used)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        b->used = b->used - old + nsize;
    return p;
}

/* Past the limit the hook fires at every instruction, so a script that
 * catches the error with pcall cannot run on for long. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    void *ud;
    lua_getallocf(L, &ud);
    struct budget *b = ud;
    if (++b->hook_calls < HOOK_CALLS_MAX)
        return;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "instruction limit reached");
}

/* Run before the script, with the real functions as upvalues. A metatable
 * with __gc is replaced by a copy whose __gc runs the original in a
 * coroutine; later changes to the original's __gc are not seen. */
static const char prelude[] =
    "local setmetatable, rawget, next, type = setmetatable, rawget, next, type\n"
    "local create, resume = coroutine.create, coroutine.resume\n"
    "_G.setmetatable = function(t, mt)\n"
    "  if type(mt) == 'table' and rawget(mt, '__gc') ~= nil then\n"
    "    local copy, gc = {}, rawget(mt, '__gc')\n"
    "    for k, v in next, mt do copy[k] = v end\n"
    "    copy.__gc = function(o) resume(create(gc), o) end\n"
    "    mt = copy\n"
    "  end\n"
    "  return setmetatable(t, mt)\n"
    "end\n"
    "string.find, string.match, string.gmatch, string.gsub = nil, nil, nil, nil\n";

static FILE *sink(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    if (!f)
        abort();
    return f;
}

static int no_print(lua_State *L)
{
    (void)L;
    return 0;
}

/* The libraries a script may use without touching the host: no io, os,
 * package or debug; no loading of files or binary chunks. */
static int open_safe(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},    {LUA_UTF8LIBNAME, luaopen_utf8},
    };
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    static const char *const removed[] = {"dofile", "loadfile", "load"};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
    lua_pushcfunction(L, no_print);
    lua_setglobal(L, "print");
    if (luaL_loadbufferx(L, prelude, sizeof prelude - 1, "=prelude", "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 0);
    struct script_options opt = {
        .out = sink(),
        .max_ram = UINT64_C(16) << 20,
        .max_machines = 4,
        .history_limit = 4096,
        .max_map_len = UINT64_C(1) << 20,
    };
    lua_pushcfunction(L, script_open);
    lua_pushlightuserdata(L, &opt);
    lua_call(L, 1, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct budget b = {.limit = LUA_MEMORY_LIMIT};
    lua_State *L = lua_newstate(limited_alloc, &b);
    if (!L)
        return 0;
    lua_pushcfunction(L, open_safe);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        lua_close(L);
        return 0;
    }
    lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    int rc = luaL_loadbufferx(L, (const char *)data, size, "=fuzz", "t");
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 0, 0);
    /* PTELAB_FUZZ_VERBOSE=1: say how each input ended, to check a corpus. */
    if (getenv("PTELAB_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_lua: %s\n", rc == LUA_OK ? "ok" : lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    /* Finalizers still run at lua_close: they get no instructions at all. */
    b.hook_calls = HOOK_CALLS_MAX;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    lua_settop(L, 0);
    char msg[512];
    if (script_check_machines(L, msg, sizeof msg) != 0) {
        fprintf(stderr, "fuzz_lua: invariant violated: %s\n", msg);
        abort();
    }
    lua_close(L);
    return 0;
}
