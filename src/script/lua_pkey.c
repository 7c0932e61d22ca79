/* Protection keys and the syscall-wrapper sandbox in Lua: process methods
 * pkey_alloc, pkey_free, pkey_mprotect, pkeys, wrpkru, rdpkru, read_into,
 * sandbox; and the sandbox handle. See docs/scripting.md. */
#include <errno.h>
#include <string.h>

#include "ptelab/pkey.h"
#include "ptelab/sandbox.h"
#include "ptelab/thread.h"
#include "script/binding.h"

#define LSANDBOX_MT "ptelab.sandbox"

/* A sandbox handle: its machine is user value 1, so the process it wraps
 * lives (processes are never reaped by the binding) while it does. */
struct lsandbox {
    struct lmachine *mb;
    int pid;
    struct pl_sandbox *sb; /* NULL once collected */
};

static int push_ok(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

static const char *const alloc_keys[] = {"flags", "rights", "disable_access", "disable_write", NULL};

/* p:pkey_alloc{[disable_access=bool] [, disable_write=bool] [, rights=n]
 * [, flags=n]} -> key | nil, "ENAME", errno. rights (raw bits) and flags
 * exist to pass what Linux would refuse. */
static int k_pkey_alloc(lua_State *L)
{
    struct pl_proc *p = lproc_check(L, 1, NULL);
    lua_Integer flags = 0, rights = 0;
    bool da = false, dw = false;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        check_table_keys(L, 2, "pkey_alloc", alloc_keys);
        opt_field_integer(L, 2, "pkey_alloc", "flags", &flags);
        opt_field_integer(L, 2, "pkey_alloc", "rights", &rights);
        opt_field_bool(L, 2, "pkey_alloc", "disable_access", &da);
        opt_field_bool(L, 2, "pkey_alloc", "disable_write", &dw);
    }
    if (flags < 0 || flags > UINT32_MAX || rights < 0 || rights > UINT32_MAX)
        luaL_error(L, "pkey_alloc: flags and rights must be 0..0xffffffff");
    unsigned r = (unsigned)rights | (da ? PL_PKEY_DISABLE_ACCESS : 0) | (dw ? PL_PKEY_DISABLE_WRITE : 0);
    int rc = pl_sys_pkey_alloc(p, (unsigned)flags, r);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushinteger(L, rc);
    return 1;
}

/* p:pkey_free(key) -> true | nil, "ENAME", errno */
static int k_pkey_free(lua_State *L)
{
    lua_Integer key = luaL_checkinteger(L, 2);
    struct pl_proc *p = lproc_check(L, 1, NULL);
    int rc = pl_sys_pkey_free(p, key < -1 || key > 1000 ? 1000 : (int)key);
    return rc < 0 ? push_errno(L, rc) : push_ok(L);
}

/* p:pkey_mprotect(addr, len, prot, key) -> true | nil, "ENAME", errno */
static int k_pkey_mprotect(lua_State *L)
{
    uint64_t addr = (uint64_t)luaL_checkinteger(L, 2);
    uint64_t len = check_size(L, 3, "pkey_mprotect: len");
    luaL_checkany(L, 4);
    unsigned prot = check_prot(L, 4, "pkey_mprotect: prot");
    lua_Integer key = luaL_checkinteger(L, 5);
    struct pl_proc *p = lproc_check(L, 1, NULL);
    /* Out-of-range keys are the kernel's to refuse, as an int would be. */
    int rc = pl_sys_pkey_mprotect(p, addr, len, prot, key < -1 || key > 1000 ? 1000 : (int)key);
    return rc < 0 ? push_errno(L, rc) : push_ok(L);
}

/* p:pkeys() -> {0, k1, ...}: the allocated keys, ascending */
static int k_pkeys(lua_State *L)
{
    struct pl_proc *p = lproc_check(L, 1, NULL);
    uint16_t map = pl_proc_pkeys(p);
    lua_newtable(L);
    lua_Integer n = 0;
    for (int key = 0; key < 16; key++)
        if (map >> key & 1) {
            lua_pushinteger(L, key);
            lua_rawseti(L, -2, ++n);
        }
    return 1;
}

/* p:wrpkru(value), t:wrpkru(value) -> true | nil, "EINVAL", errno (CR4.PKE = 0) */
int caller_wrpkru(lua_State *L, const struct caller_type *ct)
{
    luaL_checkudata(L, 1, ct->mt);
    uint32_t v = check_u32(L, 2, "wrpkru: value");
    struct caller c;
    ct->get(L, 1, &c);
    return push_result(L, c.t ? pl_thread_wrpkru(c.t, v) : pl_proc_wrpkru(c.p, v));
}

/* p:rdpkru(), t:rdpkru() -> value | nil, "EINVAL", errno */
int caller_rdpkru(lua_State *L, const struct caller_type *ct)
{
    struct caller c;
    ct->get(L, 1, &c);
    uint32_t v;
    int rc = c.t ? pl_thread_rdpkru(c.t, &v) : pl_proc_rdpkru(c.p, &v);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushinteger(L, v);
    return 1;
}

static int k_wrpkru(lua_State *L) { return caller_wrpkru(L, &proc_caller_type); }
static int k_rdpkru(lua_State *L) { return caller_rdpkru(L, &proc_caller_type); }

/* Result of a read_into: true | nil, "EFAULT", 14, fault. */
static int push_read_into(lua_State *L, int rc, const struct pl_siginfo *f)
{
    if (rc == 0)
        return push_ok(L);
    push_errno(L, rc);
    if (rc != -EFAULT)
        return 3;
    push_siginfo(L, f);
    return 4;
}

/* p:read_into(addr, bytes) -> true | nil, "EFAULT", 14, fault: the kernel
 * copies bytes into the process's memory (CPL 0, AC = 1). */
static int k_read_into(lua_State *L)
{
    uint64_t addr = (uint64_t)luaL_checkinteger(L, 2);
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    struct pl_proc *p = lproc_check(L, 1, NULL);
    struct pl_siginfo f = {0};
    return push_read_into(L, pl_sys_read_into(p, addr, data, len, &f), &f);
}

/* ---- sandbox ---- */

static const char *const sandbox_keys[] = {"mode", NULL};

/* p:sandbox{mode = "pkey" | "mprotect"} -> sandbox | nil, "ENAME", errno */
static int k_sandbox(lua_State *L)
{
    struct lproc *w;
    struct pl_proc *p = lproc_check(L, 1, &w);
    enum pl_sandbox_mode mode = PL_SANDBOX_PKEY;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        check_table_keys(L, 2, "sandbox", sandbox_keys);
        if (lua_getfield(L, 2, "mode") != LUA_TNIL) {
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            if (strcmp(s, "pkey") == 0)
                mode = PL_SANDBOX_PKEY;
            else if (strcmp(s, "mprotect") == 0)
                mode = PL_SANDBOX_MPROTECT;
            else
                luaL_error(L, "sandbox: mode must be \"pkey\" or \"mprotect\"");
        }
        lua_pop(L, 1);
    }
    struct lsandbox *s = lua_newuserdatauv(L, sizeof *s, 1);
    *s = (struct lsandbox){.mb = w->mb, .pid = w->pid};
    luaL_setmetatable(L, LSANDBOX_MT);
    lmachine_push(L, w->mb);
    lua_setiuservalue(L, -2, 1);
    int rc = pl_sandbox_new(p, mode, &s->sb);
    if (rc < 0)
        return push_errno(L, rc);
    return 1;
}

static struct lsandbox *sandbox_check(lua_State *L, int idx)
{
    struct lsandbox *s = luaL_checkudata(L, idx, LSANDBOX_MT);
    if (!s->mb->k)
        luaL_error(L, "sandbox of process %d: its machine is closed", s->pid);
    return s;
}

/* sb:protect(addr, len, prot) -> true | nil, "ENAME", errno */
static int s_protect(lua_State *L)
{
    struct lsandbox *s = sandbox_check(L, 1);
    uint64_t addr = (uint64_t)luaL_checkinteger(L, 2);
    uint64_t len = check_size(L, 3, "protect: len");
    luaL_checkany(L, 4);
    unsigned prot = check_prot(L, 4, "protect: prot");
    int rc = pl_sandbox_protect(s->sb, addr, len, prot);
    return rc < 0 ? push_errno(L, rc) : push_ok(L);
}

/* sb:read_into(addr, bytes): p:read_into through the wrapper */
static int s_read_into(lua_State *L)
{
    struct lsandbox *s = sandbox_check(L, 1);
    uint64_t addr = (uint64_t)luaL_checkinteger(L, 2);
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    struct pl_siginfo f = {0};
    return push_read_into(L, pl_sandbox_read_into(s->sb, addr, data, len, &f), &f);
}

/* sb:key() -> key | nil (mprotect mode) */
static int s_key(lua_State *L)
{
    struct lsandbox *s = sandbox_check(L, 1);
    if (pl_sandbox_key(s->sb) < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, pl_sandbox_key(s->sb));
    return 1;
}

/* sb:stats() -> {calls, denied} */
static int s_stats(lua_State *L)
{
    struct lsandbox *s = sandbox_check(L, 1);
    const struct pl_sandbox_stats *st = pl_sandbox_stats(s->sb);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)st->calls);
    lua_setfield(L, -2, "calls");
    lua_pushinteger(L, (lua_Integer)st->denied);
    lua_setfield(L, -2, "denied");
    return 1;
}

static int s_gc(lua_State *L)
{
    struct lsandbox *s = luaL_checkudata(L, 1, LSANDBOX_MT);
    pl_sandbox_free(s->sb);
    s->sb = NULL;
    return 0;
}

static int s_tostring(lua_State *L)
{
    struct lsandbox *s = luaL_checkudata(L, 1, LSANDBOX_MT);
    const char *mode = s->sb && pl_sandbox_mode(s->sb) == PL_SANDBOX_MPROTECT ? "mprotect" : "pkey";
    lua_pushfstring(L, "sandbox(pid %d, %s)", s->pid, mode);
    return 1;
}

static const luaL_Reg pkey_proc_methods[] = {
    {"pkey_alloc", k_pkey_alloc},
    {"pkey_free", k_pkey_free},
    {"pkey_mprotect", k_pkey_mprotect},
    {"pkeys", k_pkeys},
    {"wrpkru", k_wrpkru},
    {"rdpkru", k_rdpkru},
    {"read_into", k_read_into},
    {"sandbox", k_sandbox},
    {NULL, NULL},
};

static const luaL_Reg sandbox_methods[] = {
    {"protect", s_protect},
    {"read_into", s_read_into},
    {"key", s_key},
    {"stats", s_stats},
    {NULL, NULL},
};

void lpkey_register(lua_State *L)
{
    add_proc_methods(L, pkey_proc_methods);

    luaL_newmetatable(L, LSANDBOX_MT);
    luaL_newlib(L, sandbox_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, s_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
