/* Threads and the scheduler in Lua (docs/scripting.md, Threads and CPUs):
 * p:thread{cpu = N}, p:main_thread(), the thread handle, t:queue and
 * t:results, m:step and m:run.
 *
 * A thread handle keeps the kernel's struct pl_thread, valid until the
 * process is reaped; every use checks that the machine is open and the
 * process still there first (lthread_check), as process handles check
 * theirs. Like lua_proc.c, functions check and allocate before they take
 * the thread. */
#include <errno.h>
#include <string.h>

#include "ptelab/thread.h"
#include "script/binding.h"

/* User values of a thread handle. */
enum { THREAD_UV_MACHINE = 1, THREAD_UV_OPS = 2, THREAD_UVS = 2 };

/* One queued operation. The kernel writes its result here when the
 * operation is done, so the record is a userdata kept in the thread
 * handle's THREAD_UV_OPS array (Lua never moves it) for as long as the
 * machine lives. */
struct lop {
    int rc;          /* OP_PENDING until done; then 0 or a negative errno */
    uint8_t kind;    /* enum pl_op_kind */
    unsigned prot;
    uint64_t va, len;
    uint64_t value;  /* written by a write; read by a read or fetch */
};

#define OP_PENDING 1

/* A new kind of operation needs its name and fields here. */
_Static_assert(PL_OP_COUNT == PL_OP_MIGRATE + 1, "every queued operation has a name and fields below");

static const char *const op_names[PL_OP_COUNT] = {
    [PL_OP_READ] = "read",     [PL_OP_WRITE] = "write",       [PL_OP_FETCH] = "fetch", [PL_OP_MMAP] = "mmap",
    [PL_OP_MUNMAP] = "munmap", [PL_OP_MPROTECT] = "mprotect", [PL_OP_SLEEP] = "sleep", [PL_OP_MIGRATE] = "migrate",
};

struct pl_thread *lthread_check(lua_State *L, int idx, struct lthread **out)
{
    struct lthread *w = luaL_checkudata(L, idx, LTHREAD_MT);
    if (!w->mb->k)
        luaL_error(L, "thread %d: its machine is closed", w->tid);
    if (!pl_kernel_proc(w->mb->k, w->pid))
        luaL_error(L, "thread %d is gone (its process %d was reaped)", w->tid, w->pid);
    if (out)
        *out = w;
    return w->t;
}

static void thread_caller_get(lua_State *L, int idx, struct caller *c)
{
    struct lthread *w;
    c->t = lthread_check(L, idx, &w);
    c->p = pl_thread_proc(c->t);
    c->mb = w->mb;
}

static const char *const thread_mmap_keys[] = {"len", "prot", "shared", "addr", "fixed", NULL};

const struct caller_type thread_caller_type = {.mt = LTHREAD_MT, .mmap_keys = thread_mmap_keys,
                                               .get = thread_caller_get};

/* Pushes the handle of t, of the machine at midx: one per tid. Reads t
 * before allocating: an allocation may run a finalizer that closes the
 * machine, and the handle checks that on every use. */
static void push_thread(lua_State *L, int midx, struct pl_thread *t)
{
    midx = lua_absindex(L, midx);
    int tid = pl_thread_tid(t), pid = pl_proc_pid(pl_thread_proc(t));
    unsigned cpu = pl_thread_cpu(t);
    lua_getiuservalue(L, midx, MACHINE_UV_THREADS);
    if (lua_rawgeti(L, -1, tid) == LUA_TNIL) {
        lua_pop(L, 1);
        struct lthread *w = lua_newuserdatauv(L, sizeof *w, THREAD_UVS);
        *w = (struct lthread){.mb = lua_touserdata(L, midx), .t = t, .pid = pid, .tid = tid, .cpu = cpu};
        luaL_setmetatable(L, LTHREAD_MT);
        lua_pushvalue(L, midx);
        lua_setiuservalue(L, -2, THREAD_UV_MACHINE);
        lua_newtable(L);
        lua_setiuservalue(L, -2, THREAD_UV_OPS);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, tid);
    }
    lua_remove(L, -2);
}

/* ---- process methods ---- */

static const char *const thread_keys[] = {"cpu", NULL};

/* p:thread{cpu = N} -> thread | nil, "ENAME", errno */
static int p_thread(lua_State *L)
{
    luaL_checkudata(L, 1, LPROC_MT);
    luaL_checktype(L, 2, LUA_TTABLE);
    check_table_keys(L, 2, "thread", thread_keys);
    lua_Integer cpu;
    if (!opt_field_integer(L, 2, "thread", "cpu", &cpu))
        return luaL_error(L, "thread: option 'cpu' is required");
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, 1); /* the machine, at 3 */
    struct caller c;
    proc_caller_type.get(L, 1, &c);
    unsigned ncpus = c.mb->m->ncpus;
    if (cpu < 0 || cpu >= ncpus)
        return luaL_error(L, "thread: cpu must be 0..%d (the machine has %d CPU%s), got %I", (int)ncpus - 1,
                          (int)ncpus, ncpus == 1 ? "" : "s", (lua_Integer)cpu);
    struct pl_thread *t;
    int rc = pl_thread_create(c.p, (unsigned)cpu, &t);
    if (rc < 0)
        return push_errno(L, rc);
    push_thread(L, 3, t);
    return 1;
}

/* p:main_thread() -> thread | nil, "ESRCH", 3 once the process ended */
static int p_main_thread(lua_State *L)
{
    luaL_checkudata(L, 1, LPROC_MT);
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, 1);
    struct caller c;
    proc_caller_type.get(L, 1, &c);
    struct pl_thread *t = pl_proc_main_thread(c.p);
    if (!t)
        return push_errno(L, ESRCH);
    push_thread(L, 2, t);
    return 1;
}

/* ---- thread methods: calls made now ---- */

static int t_read(lua_State *L) { return caller_read(L, &thread_caller_type); }
static int t_write(lua_State *L) { return caller_write(L, &thread_caller_type); }
static int t_fetch(lua_State *L) { return caller_fetch(L, &thread_caller_type); }
static int t_mmap(lua_State *L) { return caller_mmap(L, &thread_caller_type); }
static int t_munmap(lua_State *L) { return caller_munmap(L, &thread_caller_type); }
static int t_mprotect(lua_State *L) { return caller_mprotect(L, &thread_caller_type); }
static int t_wrpkru(lua_State *L) { return caller_wrpkru(L, &thread_caller_type); }
static int t_rdpkru(lua_State *L) { return caller_rdpkru(L, &thread_caller_type); }

/* t:alive() -> false once the thread or its process ended */
static int t_alive(lua_State *L)
{
    lua_pushboolean(L, pl_thread_alive(lthread_check(L, 1, NULL)));
    return 1;
}

/* t:sleep() -> true | nil, "ESRCH", 3 */
static int t_sleep(lua_State *L) { return push_result(L, pl_thread_sleep(lthread_check(L, 1, NULL))); }

/* t:exit() -> true | nil, "ESRCH", 3 | nil, "EINVAL", 22 for the main thread */
static int t_exit(lua_State *L) { return push_result(L, pl_thread_exit(lthread_check(L, 1, NULL))); }

/* t:pending() -> queued operations not yet done */
static int t_pending(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)pl_thread_pending(lthread_check(L, 1, NULL)));
    return 1;
}

/* ---- the queue ---- */

/* The fields of t:queue's table besides op, and which operations take
 * them: required, or optional with a default. */
enum { F_ADDR = 1, F_LEN = 2, F_PROT = 4, F_VALUE = 8, FIELDS = 4 }; /* bit i: field_names[i] */
static const char *const field_names[FIELDS] = {"addr", "len", "prot", "value"};
static const struct {
    unsigned required, optional;
} op_fields[PL_OP_COUNT] = {
    [PL_OP_READ] = {F_ADDR, 0},
    [PL_OP_WRITE] = {F_ADDR, F_VALUE},
    [PL_OP_FETCH] = {F_ADDR, 0},
    [PL_OP_MMAP] = {F_ADDR | F_LEN, F_PROT},
    [PL_OP_MUNMAP] = {F_ADDR | F_LEN, 0},
    [PL_OP_MPROTECT] = {F_ADDR | F_LEN | F_PROT, 0},
    [PL_OP_SLEEP] = {0, 0},
    [PL_OP_MIGRATE] = {F_ADDR, 0},
};

static const char *const queue_keys[] = {"op", "addr", "len", "prot", "value", NULL};

/* The operation's kind from the table at 2's `op`. */
static uint8_t check_op_kind(lua_State *L)
{
    if (lua_getfield(L, 2, "op") == LUA_TNIL)
        luaL_error(L, "queue: option 'op' is required");
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    for (uint8_t kind = PL_OP_READ; kind < PL_OP_COUNT; kind++)
        if (strcmp(op_names[kind], s) == 0) {
            lua_pop(L, 1);
            return kind;
        }
    return (uint8_t)luaL_error(L, "queue: op must be \"read\", \"write\", \"fetch\", \"mmap\", \"munmap\", "
                                  "\"mprotect\", \"migrate\" or \"sleep\"");
}

/* Fills op from the table at 2: every field the operation needs, none it
 * does not take. */
static void check_op(lua_State *L, struct lop *op)
{
    check_table_keys(L, 2, "queue", queue_keys);
    *op = (struct lop){.rc = OP_PENDING, .kind = check_op_kind(L), .prot = PL_PROT_READ | PL_PROT_WRITE};
    const char *name = op_names[op->kind];
    unsigned takes = op_fields[op->kind].required | op_fields[op->kind].optional;
    for (unsigned i = 0; i < FIELDS; i++) {
        bool given = lua_getfield(L, 2, field_names[i]) != LUA_TNIL;
        lua_pop(L, 1);
        if (given && !(takes & 1u << i))
            luaL_error(L, "queue: %s takes no '%s'", name, field_names[i]);
        if (!given && (op_fields[op->kind].required & 1u << i))
            luaL_error(L, "queue: %s needs '%s'", name, field_names[i]);
    }
    lua_Integer n;
    if (opt_field_integer(L, 2, "queue", "addr", &n))
        op->va = (uint64_t)n;
    if (opt_field_integer(L, 2, "queue", "value", &n))
        op->value = (uint64_t)n;
    if (lua_getfield(L, 2, "len") != LUA_TNIL)
        op->len = check_size(L, -1, "queue: len");
    if (lua_getfield(L, 2, "prot") != LUA_TNIL)
        op->prot = check_prot(L, -1, "queue: prot");
    lua_pop(L, 2);
    if (op->kind == PL_OP_MMAP)
        check_map_len(L, op->len, "queue: len");
}

/* t:queue{op = ..., addr =, len =, prot =, value =} -> n | nil, "ENAME",
 * errno: the operation's number in t's queue (1, 2, ...), the index of its
 * result in t:results(). */
static int t_queue(lua_State *L)
{
    luaL_checkudata(L, 1, LTHREAD_MT);
    luaL_checktype(L, 2, LUA_TTABLE);
    struct lop parsed;
    check_op(L, &parsed);
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, THREAD_UV_OPS); /* 3 */
    struct lop *op = lua_newuserdatauv(L, sizeof *op, 0);
    *op = parsed;
    /* After the allocation: a finalizer it ran may have queued too. Storing
     * into a table runs none. */
    lua_Integer n = (lua_Integer)lua_rawlen(L, 3) + 1;
    lua_rawseti(L, 3, n);
    struct pl_thread *t = lthread_check(L, 1, NULL);
    struct pl_thread_op q = {.kind = op->kind, .prot = op->prot, .va = op->va, .len = op->len, .value = op->value,
                             .out = &op->value, .rc = &op->rc};
    int rc = pl_thread_queue(t, &q);
    if (rc < 0) {
        lua_pushnil(L);
        lua_rawseti(L, 3, n); /* never queued: drop the record */
        return push_errno(L, rc);
    }
    lua_pushinteger(L, n);
    return 1;
}

/* Pushes the result of a done operation n. */
static void push_op_result(lua_State *L, const struct lop *op, lua_Integer n)
{
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_pushstring(L, op_names[op->kind]);
    lua_setfield(L, -2, "op");
    if (op->kind != PL_OP_SLEEP) {
        lua_pushinteger(L, (lua_Integer)op->va);
        lua_setfield(L, -2, "addr");
    }
    if (op->kind == PL_OP_MMAP || op->kind == PL_OP_MUNMAP || op->kind == PL_OP_MPROTECT) {
        lua_pushinteger(L, (lua_Integer)op->len);
        lua_setfield(L, -2, "len");
    }
    lua_pushinteger(L, op->rc);
    lua_setfield(L, -2, "rc");
    if (op->rc < 0) {
        lua_pushstring(L, errno_name(op->rc));
        lua_setfield(L, -2, "err");
    }
    bool has_value = op->kind == PL_OP_WRITE || ((op->kind == PL_OP_READ || op->kind == PL_OP_FETCH) && op->rc == 0);
    if (has_value) {
        lua_pushinteger(L, (lua_Integer)op->value);
        lua_setfield(L, -2, "value");
    }
}

/* t:results() -> {{n, op, addr, len, rc, err, value}...}: the operations
 * done, in queue order (a thread runs its queue in order, so they are
 * 1..k). Reads only the records: it works on a closed machine too. */
static int t_results(lua_State *L)
{
    luaL_checkudata(L, 1, LTHREAD_MT);
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, THREAD_UV_OPS); /* 2 */
    lua_newtable(L);                        /* 3 */
    for (lua_Integer n = 1; lua_rawgeti(L, 2, n) == LUA_TUSERDATA; n++) {
        const struct lop *op = lua_touserdata(L, -1);
        if (op->rc == OP_PENDING)
            break;
        push_op_result(L, op, n);
        lua_rawseti(L, 3, n);
        lua_pop(L, 1);
    }
    lua_settop(L, 3);
    return 1;
}

/* ---- the scheduler ---- */

/* The scheduler runs other threads' code, which a signal handler in the
 * middle of an access of its own machine must not. */
static struct lmachine *check_sched(lua_State *L, const char *func)
{
    struct lmachine *mb = lmachine_check(L, 1);
    if (mb->access)
        luaL_error(L, "%s: the scheduler cannot run inside an access (a signal handler) of its machine", func);
    return mb;
}

/* m:step() -> true, or false when no CPU has anything to do */
static int m_step(lua_State *L)
{
    struct lmachine *mb = check_sched(L, "step");
    struct access_frame fr;
    access_enter(L, mb, &fr);
    int stepped = pl_sched_step(mb->k);
    access_leave(L, mb, &fr);
    lua_pushboolean(L, stepped);
    return 1;
}

static const char *const run_keys[] = {"steps", NULL};

/* m:run{steps = N} -> steps taken: until nothing is queued, or N steps
 * (0 or absent: no limit). Stops after a step whose signal handler raised
 * an error, and raises it. */
static int m_run(lua_State *L)
{
    lua_Integer max = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        check_table_keys(L, 2, "run", run_keys);
        if (opt_field_integer(L, 2, "run", "steps", &max) && max < 0)
            return luaL_error(L, "run: steps must not be negative (got %I)", max);
    }
    struct lmachine *mb = check_sched(L, "run");
    struct access_frame fr;
    access_enter(L, mb, &fr);
    lua_Integer n = 0;
    while ((max == 0 || n < max) && !fr.handler_failed && pl_sched_step(mb->k))
        n++;
    access_leave(L, mb, &fr);
    lua_pushinteger(L, n);
    return 1;
}

/* ---- the handle ---- */

/* __index: the fields tid, cpu and proc, then the methods (upvalue 1). */
static int t_index(lua_State *L)
{
    struct lthread *w = luaL_checkudata(L, 1, LTHREAD_MT);
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (key && strcmp(key, "tid") == 0) {
        lua_pushinteger(L, w->tid);
        return 1;
    }
    if (key && strcmp(key, "cpu") == 0) {
        lua_pushinteger(L, w->cpu);
        return 1;
    }
    if (key && strcmp(key, "proc") == 0) {
        lua_getiuservalue(L, 1, THREAD_UV_MACHINE);
        lmachine_push_proc(L, -1, w->pid);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* "ptelab.thread 3 (pid 1, cpu 2, running)": running, ended, or machine closed */
static int t_tostring(lua_State *L)
{
    struct lthread *w = luaL_checkudata(L, 1, LTHREAD_MT);
    bool open = w->mb->k && pl_kernel_proc(w->mb->k, w->pid);
    const char *state = !open ? "machine closed" : pl_thread_alive(w->t) ? "running" : "ended";
    lua_pushfstring(L, "ptelab.thread %d (pid %d, cpu %d, %s)", w->tid, w->pid, (int)w->cpu, state);
    return 1;
}

static const luaL_Reg thread_methods[] = {
    {"read", t_read},
    {"write", t_write},
    {"fetch", t_fetch},
    {"mmap", t_mmap},
    {"munmap", t_munmap},
    {"mprotect", t_mprotect},
    {"wrpkru", t_wrpkru},
    {"rdpkru", t_rdpkru},
    {"alive", t_alive},
    {"sleep", t_sleep},
    {"exit", t_exit},
    {"pending", t_pending},
    {"queue", t_queue},
    {"results", t_results},
    {NULL, NULL},
};

static const luaL_Reg thread_proc_methods[] = {
    {"thread", p_thread},
    {"main_thread", p_main_thread},
    {NULL, NULL},
};

static const luaL_Reg sched_machine_methods[] = {
    {"step", m_step},
    {"run", m_run},
    {NULL, NULL},
};

void lthread_register(lua_State *L)
{
    luaL_newmetatable(L, LTHREAD_MT);
    luaL_newlib(L, thread_methods);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, t_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    add_proc_methods(L, thread_proc_methods);
    add_machine_methods(L, sched_machine_methods);
}
