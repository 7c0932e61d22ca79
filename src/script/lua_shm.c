/* m:shm(size): shared-memory objects. A handle holds the creator's
 * reference until s:release(), its collection, or its machine's close; the
 * kernel keeps the object while any region maps it. */
#include <string.h>

#include "script/binding.h"

static void shm_unlink(struct lshm *s)
{
    *s->prev_next = s->next;
    if (s->next)
        s->next->prev_next = s->prev_next;
    s->next = NULL;
    s->prev_next = NULL;
}

/* Drops the creator reference of a live handle. */
static void shm_drop(struct lshm *s)
{
    if (!s->shm)
        return;
    pl_shm_release(s->shm);
    s->shm = NULL;
    shm_unlink(s);
}

void lshm_release_all(struct lmachine *mb)
{
    while (mb->shms)
        shm_drop(mb->shms);
}

/* m:shm(size) -> object | nil, "ENAME", errno */
int lshm_new(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    uint64_t size = check_size(L, 2, "shm");
    check_map_len(L, size, "shm");
    lua_settop(L, 1);
    /* The handle exists before the object, so no error can leak it. */
    struct lshm *s = lua_newuserdatauv(L, sizeof *s, 1);
    memset(s, 0, sizeof *s);
    s->mb = mb;
    luaL_setmetatable(L, LSHM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    mb = lmachine_check(L, 1); /* a finalizer run by the allocation may have closed it */
    int rc = pl_shm_create(mb->k, size, &s->shm);
    if (rc < 0) {
        s->shm = NULL;
        return push_errno(L, rc);
    }
    s->size = pl_shm_size(s->shm);
    s->next = mb->shms;
    if (s->next)
        s->next->prev_next = &s->next;
    s->prev_next = &mb->shms;
    mb->shms = s;
    return 1;
}

struct pl_shm *lshm_check(lua_State *L, int idx, struct lmachine *mb, const char *what)
{
    struct lshm *s = luaL_testudata(L, idx, LSHM_MT);
    if (!s)
        luaL_error(L, "%s: expected a ptelab.shm object, got %s", what, luaL_typename(L, idx));
    if (!s->shm)
        luaL_error(L, "%s: the object was released", what);
    if (s->mb != mb)
        luaL_error(L, "%s: the object belongs to another machine", what);
    return s->shm;
}

/* obj:size() -> bytes, a multiple of the page size */
static int s_size(lua_State *L)
{
    struct lshm *s = luaL_checkudata(L, 1, LSHM_MT);
    lua_pushinteger(L, (lua_Integer)s->size);
    return 1;
}

/* obj:release() and __gc: drop the creator reference (again: nothing). */
static int s_release(lua_State *L)
{
    shm_drop(luaL_checkudata(L, 1, LSHM_MT));
    return 0;
}

/* obj:released() -> boolean */
static int s_released(lua_State *L)
{
    struct lshm *s = luaL_checkudata(L, 1, LSHM_MT);
    lua_pushboolean(L, s->shm == NULL);
    return 1;
}

/* __tostring: "ptelab.shm (8192 bytes[, released])" */
static int s_tostring(lua_State *L)
{
    struct lshm *s = luaL_checkudata(L, 1, LSHM_MT);
    lua_pushfstring(L, "ptelab.shm (%I bytes%s)", (lua_Integer)s->size, s->shm ? "" : ", released");
    return 1;
}

static const luaL_Reg shm_methods[] = {
    {"size", s_size},
    {"release", s_release},
    {"released", s_released},
    {NULL, NULL},
};

void lshm_register(lua_State *L)
{
    luaL_newmetatable(L, LSHM_MT);
    luaL_newlib(L, shm_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, s_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
