/* Argument checking and result conventions shared by the binding. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "script/binding.h"

/* errno values a system call of the kernel can return, by name. */
#define ERRNO_LIST(X)                                                                                           \
    X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(EBADF) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(EBUSY)      \
    X(EEXIST) X(EINVAL) X(ENOSPC) X(ERANGE) X(ENOSYS) X(EOVERFLOW)

const char *errno_name(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
#define ERRNO_CASE(e) \
    case e:           \
        return #e;
        ERRNO_LIST(ERRNO_CASE)
#undef ERRNO_CASE
    default:
        return "EUNKNOWN";
    }
}

int push_errno(lua_State *L, int err)
{
    if (err < 0)
        err = -err;
    lua_pushnil(L);
    lua_pushstring(L, errno_name(err));
    lua_pushinteger(L, err);
    return 3;
}

int push_result(lua_State *L, int rc)
{
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

uint32_t check_u32(lua_State *L, int idx, const char *what)
{
    lua_Integer n = luaL_checkinteger(L, idx);
    if (n < 0 || n > UINT32_MAX)
        luaL_error(L, "%s must be 0..0xffffffff", what);
    return (uint32_t)n;
}

/* Multiplier of a size suffix ("K", "KiB", "M"...), 0 for none known. */
static uint64_t size_suffix(const char *s)
{
    static const char letters[] = "KMGT";
    if (*s == '\0')
        return 1;
    char c = (char)(s[0] & ~0x20);
    const char *l = c ? strchr(letters, c) : NULL;
    if (!l)
        return 0;
    if (s[1] != '\0' && strcmp(s + 1, "iB") != 0 && strcmp(s + 1, "B") != 0)
        return 0;
    return UINT64_C(1) << (10 * (l - letters + 1));
}

uint64_t check_size(lua_State *L, int idx, const char *what)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        char *end;
        errno = 0;
        unsigned long long n = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
        uint64_t mul = s[0] >= '0' && s[0] <= '9' ? size_suffix(end) : 0;
        if (mul == 0 || errno == ERANGE)
            luaL_error(L, "%s: bad size '%s' (expected bytes, or a number with K, M, G or T)", what, s);
        if (n > UINT64_MAX / mul)
            luaL_error(L, "%s: size '%s' does not fit in 64 bits", what, s);
        return (uint64_t)n * mul;
    }
    int isnum;
    lua_Integer n = lua_tointegerx(L, idx, &isnum);
    if (!isnum)
        luaL_error(L, "%s: expected a size (an integer or a string like \"16M\"), got %s", what,
                   lua_isnumber(L, idx) ? "a number with a fraction" : luaL_typename(L, idx));
    if (n < 0)
        luaL_error(L, "%s: size must not be negative (got %I)", what, (lua_Integer)n);
    return (uint64_t)n;
}

unsigned check_prot(lua_State *L, int idx, const char *what)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int isnum;
        lua_Integer n = lua_tointegerx(L, idx, &isnum);
        if (!isnum || n < 0 || n > UINT32_MAX)
            luaL_error(L, "%s: protection bits must be an integer 0..0xffffffff", what);
        return (unsigned)n;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s: expected rights like \"rw\" or \"none\", got %s", what, luaL_typename(L, idx));
    const char *s = lua_tostring(L, idx);
    if (strcmp(s, "none") == 0)
        return PL_PROT_NONE;
    unsigned prot = 0;
    for (const char *c = s; *c; c++) {
        unsigned bit = *c == 'r' ? PL_PROT_READ : *c == 'w' ? PL_PROT_WRITE : *c == 'x' ? PL_PROT_EXEC : 0;
        if (*c == '-')
            continue;
        if (!bit || (prot & bit))
            luaL_error(L, "%s: bad rights \"%s\" (letters r, w, x at most once each, '-', or \"none\")", what, s);
        prot |= bit;
    }
    return prot;
}

void check_table_keys(lua_State *L, int idx, const char *func, const char *const *keys)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option names must be strings (got a %s key)", func, luaL_typename(L, -1));
        const char *k = lua_tostring(L, -1);
        bool known = false;
        for (const char *const *p = keys; *p && !known; p++)
            known = strcmp(*p, k) == 0;
        if (!known)
            luaL_error(L, "%s: unknown option '%s'", func, k);
    }
}

bool opt_field_bool(lua_State *L, int idx, const char *func, const char *key, bool *out)
{
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    if (t != LUA_TBOOLEAN)
        luaL_error(L, "%s: option '%s' must be true or false, got %s", func, key, luaL_typename(L, -1));
    *out = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return true;
}

bool opt_field_integer(lua_State *L, int idx, const char *func, const char *key, lua_Integer *out)
{
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    int isnum;
    lua_Integer n = lua_tointegerx(L, -1, &isnum);
    if (t != LUA_TNUMBER || !isnum)
        luaL_error(L, "%s: option '%s' must be an integer, got %s", func, key,
                   t == LUA_TNUMBER ? "a number with a fraction" : luaL_typename(L, -1));
    *out = n;
    lua_pop(L, 1);
    return true;
}

const char *hex64(char buf[static 19], uint64_t v)
{
    snprintf(buf, 19, "0x%016" PRIx64, v);
    return buf;
}

FILE *script_out(lua_State *L)
{
    FILE *f = script_state_get(L)->opt.out;
    return f ? f : stdout;
}

void push_siginfo(lua_State *L, const struct pl_siginfo *si)
{
    static const char *const kind_names[] = {"read", "write", "fetch"};
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)si->addr);
    lua_setfield(L, -2, "addr");
    lua_pushstring(L, pl_sig_code_name(si->code));
    lua_setfield(L, -2, "code");
    lua_pushstring(L, si->kind < 3 ? kind_names[si->kind] : "?");
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, si->error_code);
    lua_setfield(L, -2, "error_code");
    lua_pushinteger(L, si->pkey);
    lua_setfield(L, -2, "pkey");
}

/* The process methods are the table that is upvalue 1 of the process
 * metatable's __index function. */
void add_proc_methods(lua_State *L, const luaL_Reg *methods)
{
    luaL_getmetatable(L, LPROC_MT);
    lua_getfield(L, -1, "__index");
    const char *uv = lua_getupvalue(L, -1, 1);
    luaL_argcheck(L, uv && lua_istable(L, -1), 1, "process methods not registered");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 3);
}

/* The machine methods are the machine metatable's __index table. */
void add_machine_methods(lua_State *L, const luaL_Reg *methods)
{
    luaL_getmetatable(L, LMACHINE_MT);
    lua_getfield(L, -1, "__index");
    luaL_argcheck(L, lua_istable(L, -1), 1, "machine methods not registered");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
