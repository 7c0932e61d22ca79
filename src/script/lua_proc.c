/* Processes: p = m:spawn(). System calls return like Lua's io functions
 * (a value, or nil, "ENAME", errno); loads and stores run at CPL 3 through
 * the CPU, and faults the kernel cannot fix go to a SIGSEGV handler written
 * in Lua. Threads (lua_thread.c) share the calls here through struct
 * caller.
 *
 * A Lua call that may collect garbage may run finalizers, and a finalizer
 * may run any Lua code, closing the machine included. So every function
 * here checks its arguments and allocates first, takes the process
 * (lproc_check) last, and keeps no kernel pointer across such a call. */
#include <errno.h>
#include <string.h>

#include "ptelab/thread.h"
#include "script/binding.h"

struct pl_proc *lproc_check(lua_State *L, int idx, struct lproc **out)
{
    struct lproc *w = luaL_checkudata(L, idx, LPROC_MT);
    if (!w->mb->k)
        luaL_error(L, "process %d: its machine is closed", w->pid);
    struct pl_proc *p = pl_kernel_proc(w->mb->k, w->pid);
    if (!p)
        luaL_error(L, "process %d is gone", w->pid);
    if (out)
        *out = w;
    return p;
}

static void proc_caller_get(lua_State *L, int idx, struct caller *c)
{
    struct lproc *w;
    c->p = lproc_check(L, idx, &w);
    c->mb = w->mb;
    c->t = NULL;
}

static const char *const mmap_keys[] = {"len", "prot", "shared", "addr", "fixed", "shm", "offset", NULL};

const struct caller_type proc_caller_type = {.mt = LPROC_MT, .mmap_keys = mmap_keys, .get = proc_caller_get};

static uint64_t check_addr(lua_State *L, int idx) { return (uint64_t)luaL_checkinteger(L, idx); }

/* ---- signals ---- */

/* Protected part of a signal delivery: arguments mb, siginfo, pid; returns
 * the action as an integer. */
static int call_handler(lua_State *L)
{
    struct lmachine *mb = lua_touserdata(L, 1);
    const struct pl_siginfo *si = lua_touserdata(L, 2);
    int pid = (int)lua_tointeger(L, 3);
    lmachine_push(L, mb); /* 4 */
    lua_getiuservalue(L, 4, MACHINE_UV_HANDLERS);
    if (lua_rawgeti(L, 5, pid) != LUA_TFUNCTION) {
        lua_pushinteger(L, PL_SIG_KILL);
        return 1;
    }
    push_siginfo(L, si);
    lua_pushinteger(L, pid);
    lua_setfield(L, -2, "pid");
    lmachine_push_proc(L, 4, pid);
    lua_call(L, 2, 1);
    const char *act = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    enum pl_sig_action a = !act                          ? 0
                           : strcmp(act, "retry") == 0   ? PL_SIG_RETRY
                           : strcmp(act, "abandon") == 0 ? PL_SIG_ABANDON
                           : strcmp(act, "kill") == 0    ? PL_SIG_KILL
                                                         : 0;
    if (!a) {
        /* Level 2 is the Lua code whose access faulted. */
        luaL_where(L, 2);
        lua_pushfstring(L,
                        "the SIGSEGV handler of process %d returned %s%s%s "
                        "(expected \"retry\", \"abandon\" or \"kill\")",
                        pid, act ? "\"" : "a ", act ? act : luaL_typename(L, -2), act ? "\"" : " value");
        lua_concat(L, 2);
        return lua_error(L);
    }
    lua_pushinteger(L, a);
    return 1;
}

/* The kernel's signal callback. It runs inside the kernel's fault path, so
 * no Lua error may escape: the handler runs protected, and an error it
 * raises abandons the access and is left on the stack for the access to
 * raise once the kernel is done. */
static enum pl_sig_action on_signal(struct pl_proc *p, const struct pl_siginfo *si, void *ctx)
{
    struct lmachine *mb = ctx;
    struct access_frame *fr = mb->access;
    if (!fr || !lua_checkstack(fr->L, 10))
        return PL_SIG_KILL;
    lua_State *L = fr->L;
    lua_pushcfunction(L, call_handler);
    lua_pushlightuserdata(L, mb);
    lua_pushlightuserdata(L, (void *)si);
    lua_pushinteger(L, pl_proc_pid(p));
    if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
        fr->handler_failed = true;
        return PL_SIG_ABANDON;
    }
    enum pl_sig_action a = (enum pl_sig_action)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return a;
}

void lproc_copy_handler(lua_State *L, struct lmachine *mb, int from, int to)
{
    lmachine_push(L, mb);
    lua_getiuservalue(L, -1, MACHINE_UV_HANDLERS);
    lua_rawgeti(L, -1, from);
    lua_rawseti(L, -2, to);
    lua_pop(L, 2);
}

/* p:on_segv(fn | nil) -> true | nil, "ESRCH", 3 */
static int p_on_segv(lua_State *L)
{
    luaL_checkudata(L, 1, LPROC_MT);
    if (!lua_isnil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    struct lproc *w;
    struct pl_proc *p = lproc_check(L, 1, &w);
    if (pl_proc_state(p) != PL_PROC_RUNNING)
        return push_errno(L, ESRCH);
    lua_getiuservalue(L, 1, 1);
    lua_getiuservalue(L, 3, MACHINE_UV_HANDLERS);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, w->pid);
    pl_proc_set_signal_handler(p, lua_isnil(L, 2) ? NULL : on_signal, w->mb);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- loads and stores ---- */

enum access_op { OP_READ, OP_WRITE, OP_FETCH };

/* Accesses a handler may nest (a handler's access faults, its handler makes
 * another...): well below Lua's own C-call limit, so the error says what
 * happened. */
#define ACCESS_NESTING_MAX 32

void access_enter(lua_State *L, struct lmachine *mb, struct access_frame *fr)
{
    if (mb->access_depth >= ACCESS_NESTING_MAX)
        luaL_error(L, "signal handlers nested %d accesses deep: a handler's own access keeps faulting",
                   ACCESS_NESTING_MAX);
    *fr = (struct access_frame){.L = L, .outer = mb->access};
    mb->access = fr;
    mb->access_depth++;
}

void access_leave(lua_State *L, struct lmachine *mb, struct access_frame *fr)
{
    mb->access = fr->outer;
    mb->access_depth--;
    if (fr->handler_failed)
        lua_error(L);
}

static int access_call(const struct caller *c, enum access_op op, uint64_t va, void *buf, size_t len)
{
    if (c->t)
        return op == OP_READ    ? pl_thread_read(c->t, va, buf, len)
               : op == OP_WRITE ? pl_thread_write(c->t, va, buf, len)
                                : pl_thread_fetch(c->t, va, buf);
    return op == OP_READ    ? pl_proc_read(c->p, va, buf, len)
           : op == OP_WRITE ? pl_proc_write(c->p, va, buf, len)
                            : pl_proc_fetch(c->p, va, buf);
}

/* One access by the kernel's rules, with handlers able to run; raises a
 * handler's error after the kernel returned. Returns the kernel's result. */
static int access_run(lua_State *L, const struct caller *c, enum access_op op, uint64_t va, void *buf, size_t len)
{
    struct access_frame fr;
    access_enter(L, c->mb, &fr);
    int rc = access_call(c, op, va, buf, len);
    access_leave(L, c->mb, &fr);
    return rc;
}

/* The results of a failed access: nil, "killed" | "exited" | "EFAULT" |
 * "ESRCH", errno. */
static int access_failed(lua_State *L, struct pl_proc *p, int rc)
{
    if (rc == -EFAULT && pl_proc_state(p) != PL_PROC_RUNNING) {
        lua_pushnil(L);
        lua_pushstring(L, pl_proc_state(p) == PL_PROC_KILLED ? "killed" : "exited");
        lua_pushinteger(L, EFAULT);
        return 3;
    }
    return push_errno(L, rc);
}

/* p:read(addr, n), t:read(addr, n) -> string | nil, why, errno (see access_failed) */
int caller_read(lua_State *L, const struct caller_type *ct)
{
    luaL_checkudata(L, 1, ct->mt);
    uint64_t va = check_addr(L, 2);
    uint64_t n = check_size(L, 3, "read");
    if (n > SIZE_MAX / 2)
        return luaL_error(L, "read: %I bytes is more than this host can hold", (lua_Integer)n);
    lua_settop(L, 3);
    luaL_Buffer b;
    char *buf = luaL_buffinitsize(L, &b, (size_t)n);
    struct caller c;
    ct->get(L, 1, &c);
    int rc = access_run(L, &c, OP_READ, va, buf, (size_t)n);
    if (rc < 0)
        return access_failed(L, c.p, rc);
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* p:write(addr, s), t:write(addr, s) -> true | nil, why, errno */
int caller_write(lua_State *L, const struct caller_type *ct)
{
    luaL_checkudata(L, 1, ct->mt);
    uint64_t va = check_addr(L, 2);
    size_t n;
    const char *s = luaL_checklstring(L, 3, &n);
    struct caller c;
    ct->get(L, 1, &c);
    int rc = access_run(L, &c, OP_WRITE, va, (void *)s, n);
    if (rc < 0)
        return access_failed(L, c.p, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* read_u8 .. read_u64: the upvalue is the width in bytes; little-endian. */
static int p_read_uint(lua_State *L)
{
    unsigned width = (unsigned)lua_tointeger(L, lua_upvalueindex(1));
    luaL_checkudata(L, 1, LPROC_MT);
    uint64_t va = check_addr(L, 2);
    struct caller c;
    proc_caller_get(L, 1, &c);
    uint8_t b[8] = {0};
    int rc = access_run(L, &c, OP_READ, va, b, width);
    if (rc < 0)
        return access_failed(L, c.p, rc);
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)b[i] << (8 * i);
    lua_pushinteger(L, (lua_Integer)v);
    return 1;
}

/* write_u8 .. write_u64: v must fit the width, signed or unsigned. */
static int p_write_uint(lua_State *L)
{
    unsigned width = (unsigned)lua_tointeger(L, lua_upvalueindex(1));
    luaL_checkudata(L, 1, LPROC_MT);
    uint64_t va = check_addr(L, 2);
    lua_Integer v = luaL_checkinteger(L, 3);
    if (width < 8) {
        lua_Integer lo = -((lua_Integer)1 << (8 * width - 1)), hi = ((lua_Integer)1 << (8 * width)) - 1;
        luaL_argcheck(L, v >= lo && v <= hi, 3, "value does not fit the width");
    }
    uint8_t b[8];
    for (unsigned i = 0; i < width; i++)
        b[i] = (uint8_t)((uint64_t)v >> (8 * i));
    struct caller c;
    proc_caller_get(L, 1, &c);
    int rc = access_run(L, &c, OP_WRITE, va, b, width);
    if (rc < 0)
        return access_failed(L, c.p, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* p:fetch(addr), t:fetch(addr) -> byte | nil, why, errno */
int caller_fetch(lua_State *L, const struct caller_type *ct)
{
    luaL_checkudata(L, 1, ct->mt);
    uint64_t va = check_addr(L, 2);
    struct caller c;
    ct->get(L, 1, &c);
    uint8_t byte = 0;
    int rc = access_run(L, &c, OP_FETCH, va, &byte, 1);
    if (rc < 0)
        return access_failed(L, c.p, rc);
    lua_pushinteger(L, byte);
    return 1;
}

/* ---- system calls ---- */

/* p:mmap{len, prot, shared, addr, fixed, shm, offset} -> address | nil,
 * "ENAME", errno; t:mmap takes the options of anonymous memory. The object
 * is checked again after the caller: nothing that may collect garbage runs
 * between that check and the call. */
int caller_mmap(lua_State *L, const struct caller_type *ct)
{
    luaL_checkudata(L, 1, ct->mt);
    luaL_checktype(L, 2, LUA_TTABLE);
    check_table_keys(L, 2, "mmap", ct->mmap_keys);
    if (lua_getfield(L, 2, "len") == LUA_TNIL)
        return luaL_error(L, "mmap: option 'len' is required");
    uint64_t len = check_size(L, -1, "mmap: len");
    check_map_len(L, len, "mmap: len");
    lua_pop(L, 1);
    unsigned prot = PL_PROT_READ | PL_PROT_WRITE;
    if (lua_getfield(L, 2, "prot") != LUA_TNIL)
        prot = check_prot(L, -1, "mmap: prot");
    lua_pop(L, 1);
    lua_settop(L, 2);
    bool has_shm = lua_getfield(L, 2, "shm") != LUA_TNIL; /* at 3 */
    struct caller c;
    if (has_shm) {
        ct->get(L, 1, &c);
        lshm_check(L, 3, c.mb, "mmap: shm");
    }
    bool shared = has_shm, fixed = false;
    opt_field_bool(L, 2, "mmap", "shared", &shared);
    opt_field_bool(L, 2, "mmap", "fixed", &fixed);
    lua_Integer addr = 0, offset = 0;
    opt_field_integer(L, 2, "mmap", "addr", &addr);
    if (opt_field_integer(L, 2, "mmap", "offset", &offset) && offset < 0)
        return luaL_error(L, "mmap: offset must not be negative");
    unsigned flags = (shared ? PL_MAP_SHARED : PL_MAP_PRIVATE) | (has_shm ? 0 : PL_MAP_ANONYMOUS) |
                     (fixed ? PL_MAP_FIXED : 0);
    ct->get(L, 1, &c);
    struct pl_shm *shm = has_shm ? lshm_check(L, 3, c.mb, "mmap: shm") : NULL;
    uint64_t out;
    int rc = c.t ? pl_thread_mmap(c.t, (uint64_t)addr, len, prot, flags, &out)
                 : pl_sys_mmap(c.p, (uint64_t)addr, len, prot, flags, shm, (uint64_t)offset, &out);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushinteger(L, (lua_Integer)out);
    return 1;
}

/* p:munmap(addr, len), t:munmap(addr, len) -> true | nil, "ENAME", errno */
int caller_munmap(lua_State *L, const struct caller_type *ct)
{
    luaL_checkudata(L, 1, ct->mt);
    uint64_t addr = check_addr(L, 2);
    uint64_t len = check_size(L, 3, "munmap: len");
    struct caller c;
    ct->get(L, 1, &c);
    return push_result(L, c.t ? pl_thread_munmap(c.t, addr, len) : pl_sys_munmap(c.p, addr, len));
}

/* p:mprotect(addr, len, prot), t:mprotect(...) -> true | nil, "ENAME", errno */
int caller_mprotect(lua_State *L, const struct caller_type *ct)
{
    luaL_checkudata(L, 1, ct->mt);
    uint64_t addr = check_addr(L, 2);
    uint64_t len = check_size(L, 3, "mprotect: len");
    luaL_checkany(L, 4);
    unsigned prot = check_prot(L, 4, "mprotect: prot");
    struct caller c;
    ct->get(L, 1, &c);
    return push_result(L, c.t ? pl_thread_mprotect(c.t, addr, len, prot) : pl_sys_mprotect(c.p, addr, len, prot));
}

static int p_read(lua_State *L) { return caller_read(L, &proc_caller_type); }
static int p_write(lua_State *L) { return caller_write(L, &proc_caller_type); }
static int p_fetch(lua_State *L) { return caller_fetch(L, &proc_caller_type); }
static int p_mmap(lua_State *L) { return caller_mmap(L, &proc_caller_type); }
static int p_munmap(lua_State *L) { return caller_munmap(L, &proc_caller_type); }
static int p_mprotect(lua_State *L) { return caller_mprotect(L, &proc_caller_type); }

/* ---- lifecycle ---- */

/* p:fork() -> child | nil, "ENAME", errno; the child inherits the Lua handler. */
static int p_fork(lua_State *L)
{
    struct lproc *w;
    struct pl_proc *p = lproc_check(L, 1, &w);
    lua_settop(L, 1);
    struct pl_proc *child;
    int rc = pl_proc_fork(p, &child);
    if (rc < 0)
        return push_errno(L, rc);
    int pid = pl_proc_pid(child);
    lproc_copy_handler(L, w->mb, w->pid, pid);
    lua_getiuservalue(L, 1, 1);
    lmachine_push_proc(L, -1, pid);
    return 1;
}

/* p:exit([status]) -> true | nil, "ESRCH", 3 */
static int p_exit(lua_State *L)
{
    luaL_checkudata(L, 1, LPROC_MT);
    lua_Integer status = luaL_optinteger(L, 2, 0);
    luaL_argcheck(L, status >= INT32_MIN && status <= INT32_MAX, 2, "status out of range");
    struct pl_proc *p = lproc_check(L, 1, NULL);
    if (pl_proc_state(p) != PL_PROC_RUNNING)
        return push_errno(L, ESRCH);
    pl_proc_exit(p, (int)status);
    lua_pushboolean(L, 1);
    return 1;
}

/* p:exec() -> true | nil, "ESRCH", 3 */
static int p_exec(lua_State *L)
{
    struct pl_proc *p = lproc_check(L, 1, NULL);
    int rc = pl_proc_exec(p);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* p:state() -> "running" | "exited", status | "killed", status */
static int p_state(lua_State *L)
{
    struct pl_proc *p = lproc_check(L, 1, NULL);
    enum pl_proc_state s = pl_proc_state(p);
    lua_pushstring(L, s == PL_PROC_RUNNING ? "running" : s == PL_PROC_KILLED ? "killed" : "exited");
    if (s == PL_PROC_RUNNING)
        return 1;
    lua_pushinteger(L, pl_proc_exit_status(p));
    return 2;
}

/* p:kill_info() -> {addr, code, kind, error_code, pkey} | nil unless killed */
static int p_kill_info(lua_State *L)
{
    struct pl_proc *p = lproc_check(L, 1, NULL);
    if (pl_proc_state(p) != PL_PROC_KILLED) {
        lua_pushnil(L);
        return 1;
    }
    push_siginfo(L, pl_proc_kill_info(p));
    return 1;
}

/* ---- views ---- */

/* p:page_table(): prints the mapped leaves. */
static int p_page_table(lua_State *L)
{
    struct lproc *w;
    struct pl_proc *p = lproc_check(L, 1, &w);
    view_page_table(script_out(L), w->mb->k, p);
    return 0;
}

/* p:walk(addr [, kind [, cpl]]) -> whether the access would complete; prints the walk. */
static int p_walk(lua_State *L)
{
    static const char *const kinds[] = {"read", "write", "fetch", NULL};
    luaL_checkudata(L, 1, LPROC_MT);
    uint64_t va = check_addr(L, 2);
    int kind = luaL_checkoption(L, 3, "read", kinds);
    lua_Integer cpl = luaL_optinteger(L, 4, 3);
    luaL_argcheck(L, cpl >= 0 && cpl <= 3, 4, "CPL must be 0..3");
    struct lproc *w;
    struct pl_proc *p = lproc_check(L, 1, &w);
    lua_pushboolean(L, view_walk(script_out(L), w->mb->k, p, va, (unsigned)kind, (unsigned)cpl));
    return 1;
}

/* p:pte(addr) -> entry, entry address, level | nil when no table reaches addr */
static int p_pte(lua_State *L)
{
    luaL_checkudata(L, 1, LPROC_MT);
    uint64_t va = check_addr(L, 2);
    struct lproc *w;
    struct pl_proc *p = lproc_check(L, 1, &w);
    uint64_t entry, entry_pa;
    int level;
    if (!lookup_entry(w->mb->k, pl_proc_root(p), va, &entry, &entry_pa, &level)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)entry);
    lua_pushinteger(L, (lua_Integer)entry_pa);
    lua_pushinteger(L, level);
    return 3;
}

struct leaf {
    uint64_t va, entry_pa, entry;
    int level;
};

struct leaves {
    struct leaf *v;
    size_t n, cap;
};

static void count_leaf(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    (void)va, (void)level, (void)entry_pa, (void)entry;
    ++*(size_t *)ctx;
}

static void add_leaf(void *ctx, uint64_t va, int level, uint64_t entry_pa, uint64_t entry)
{
    struct leaves *c = ctx;
    if (c->n < c->cap)
        c->v[c->n++] = (struct leaf){.va = va, .entry_pa = entry_pa, .entry = entry, .level = level};
}

/* The leaves are copied out first (a finalizer must not see the kernel
 * mid-walk), into a userdata so that an error cannot leak the copy. */
static int p_mappings(lua_State *L)
{
    luaL_checkudata(L, 1, LPROC_MT);
    lua_settop(L, 1);
    struct leaves c = {0};
    pl_proc_foreach_pte(lproc_check(L, 1, NULL), count_leaf, &c.cap);
    c.v = lua_newuserdatauv(L, (c.cap ? c.cap : 1) * sizeof *c.v, 0);
    pl_proc_foreach_pte(lproc_check(L, 1, NULL), add_leaf, &c);
    lua_createtable(L, (int)c.n, 0);
    for (size_t i = 0; i < c.n; i++) {
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, (lua_Integer)c.v[i].va);
        lua_setfield(L, -2, "va");
        lua_pushinteger(L, c.v[i].level);
        lua_setfield(L, -2, "level");
        lua_pushinteger(L, (lua_Integer)c.v[i].entry_pa);
        lua_setfield(L, -2, "entry_pa");
        lua_pushinteger(L, (lua_Integer)c.v[i].entry);
        lua_setfield(L, -2, "entry");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* p:regions() -> {{start, end, prot, shared, object, offset}...}, copied out first as in p_mappings. */
static int p_regions(lua_State *L)
{
    luaL_checkudata(L, 1, LPROC_MT);
    lua_settop(L, 1);
    const struct pl_vma_set *set = pl_proc_vmas(lproc_check(L, 1, NULL));
    size_t cap = set ? (size_t)pl_vma_set_count(set) : 0;
    struct pl_vma *copy = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof *copy, 0);
    set = pl_proc_vmas(lproc_check(L, 1, NULL));
    size_t n = 0;
    for (const struct pl_vma *v = set ? pl_vma_first(set) : NULL; v && n < cap; v = pl_vma_next(set, v))
        copy[n++] = *v;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const struct pl_vma *v = &copy[i];
        char prot[4] = {v->prot & PL_PROT_READ ? 'r' : '-', v->prot & PL_PROT_WRITE ? 'w' : '-',
                        v->prot & PL_PROT_EXEC ? 'x' : '-', '\0'};
        lua_createtable(L, 0, 6);
        lua_pushinteger(L, (lua_Integer)v->start);
        lua_setfield(L, -2, "start");
        lua_pushinteger(L, (lua_Integer)v->end);
        lua_setfield(L, -2, "end");
        lua_pushstring(L, prot);
        lua_setfield(L, -2, "prot");
        lua_pushboolean(L, v->flags & PL_MAP_SHARED);
        lua_setfield(L, -2, "shared");
        lua_pushboolean(L, v->object != NULL);
        lua_setfield(L, -2, "object");
        lua_pushinteger(L, (lua_Integer)(v->offset * PL_VMA_PAGE_SIZE));
        lua_setfield(L, -2, "offset");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* p:stats() -> the process's counters */
static int p_stats(lua_State *L)
{
    const struct pl_proc_stats s = *pl_proc_stats(lproc_check(L, 1, NULL));
    push_proc_stats(L, &s);
    return 1;
}

/* __index: the fields pid and machine, then the methods (upvalue 1). */
static int p_index(lua_State *L)
{
    struct lproc *w = luaL_checkudata(L, 1, LPROC_MT);
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (key && strcmp(key, "pid") == 0) {
        lua_pushinteger(L, w->pid);
        return 1;
    }
    if (key && strcmp(key, "machine") == 0) {
        lua_getiuservalue(L, 1, 1);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static int p_tostring(lua_State *L)
{
    struct lproc *w = luaL_checkudata(L, 1, LPROC_MT);
    struct pl_proc *p = w->mb->k ? pl_kernel_proc(w->mb->k, w->pid) : NULL;
    enum pl_proc_state s = p ? pl_proc_state(p) : 0;
    const char *state = !p                     ? "machine closed"
                        : s == PL_PROC_RUNNING ? "running"
                        : s == PL_PROC_KILLED  ? "killed"
                                               : "exited";
    lua_pushfstring(L, "ptelab.process %d (%s)", w->pid, state);
    return 1;
}

static const luaL_Reg proc_methods[] = {
    {"mmap", p_mmap},
    {"munmap", p_munmap},
    {"mprotect", p_mprotect},
    {"read", p_read},
    {"write", p_write},
    {"fetch", p_fetch},
    {"fork", p_fork},
    {"exit", p_exit},
    {"exec", p_exec},
    {"state", p_state},
    {"kill_info", p_kill_info},
    {"on_segv", p_on_segv},
    {"page_table", p_page_table},
    {"walk", p_walk},
    {"pte", p_pte},
    {"mappings", p_mappings},
    {"regions", p_regions},
    {"stats", p_stats},
    {NULL, NULL},
};

void lproc_register(lua_State *L)
{
    static const struct {
        const char *name;
        unsigned width;
    } uints[] = {{"u8", 1}, {"u16", 2}, {"u32", 4}, {"u64", 8}};
    luaL_newmetatable(L, LPROC_MT);
    luaL_newlib(L, proc_methods);
    for (size_t i = 0; i < sizeof uints / sizeof uints[0]; i++) {
        lua_pushfstring(L, "read_%s", uints[i].name);
        lua_pushinteger(L, uints[i].width);
        lua_pushcclosure(L, p_read_uint, 1);
        lua_rawset(L, -3);
        lua_pushfstring(L, "write_%s", uints[i].name);
        lua_pushinteger(L, uints[i].width);
        lua_pushcclosure(L, p_write_uint, 1);
        lua_rawset(L, -3);
    }
    lua_pushcclosure(L, p_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, p_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
