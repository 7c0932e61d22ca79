/* ptelab.machine{...}: a simulated machine with its kernel booted, and the
 * machine-wide operations and views of a script. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ptelab/error.h"
#include "ptelab/frame.h"
#include "script/binding.h"

#define MACHINES_KEY "ptelab.machines" /* registry: weak map from struct lmachine * to its userdata */
#define STATE_KEY "ptelab.state"

struct script_state *script_state_get(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    struct script_state *st = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!st)
        luaL_error(L, "ptelab: the module was not opened with script_open");
    return st;
}

void lmachine_push(lua_State *L, const struct lmachine *mb)
{
    lua_getfield(L, LUA_REGISTRYINDEX, MACHINES_KEY);
    lua_rawgetp(L, -1, mb);
    lua_remove(L, -2);
}

struct lmachine *lmachine_check(lua_State *L, int idx)
{
    struct lmachine *mb = luaL_checkudata(L, idx, LMACHINE_MT);
    if (!mb->k)
        luaL_error(L, "the machine is closed");
    return mb;
}

void lmachine_push_proc(lua_State *L, int midx, int pid)
{
    midx = lua_absindex(L, midx);
    lua_getiuservalue(L, midx, MACHINE_UV_PROCS);
    if (lua_rawgeti(L, -1, pid) == LUA_TNIL) {
        lua_pop(L, 1);
        struct lproc *w = lua_newuserdatauv(L, sizeof *w, 1);
        w->mb = lua_touserdata(L, midx);
        w->pid = pid;
        luaL_setmetatable(L, LPROC_MT);
        lua_pushvalue(L, midx);
        lua_setiuservalue(L, -2, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, pid);
    }
    lua_remove(L, -2);
}

/* ---- configuration ---- */

static const char *const machine_keys[] = {"ram", "levels", "maxphyaddr", "pcid", "pge", "smep", "smap", "pke",
                                           "accessed_on_fault", "history", "history_limit", "retry_limit",
                                           "seed", "tlb", "cost", "swap", "huge_anon", "cpus", "shootdown",
                                           "sched_seed", NULL};

/* One array's geometry from the table at the top: {entries = N, ways = W}
 * (ways defaults to entries: fully associative; entries 0: no array). */
static void parse_geometry(lua_State *L, const char *what, struct pl_tlb_geometry *g)
{
    static const char *const keys[] = {"entries", "ways", NULL};
    if (!lua_istable(L, -1))
        luaL_error(L, "machine: %s must be a table {entries = N, ways = W}", what);
    check_table_keys(L, -1, what, keys);
    lua_Integer entries = g->entries, ways = -1;
    opt_field_integer(L, -1, what, "entries", &entries);
    opt_field_integer(L, -1, what, "ways", &ways);
    if (ways < 0)
        ways = entries;
    if (entries < 0 || entries > PL_TLB_MAX_ENTRIES || ways < 0 || ways > entries)
        luaL_error(L, "machine: %s: entries must be 0..%d and ways 1..entries", what, (int)PL_TLB_MAX_ENTRIES);
    g->entries = (uint32_t)entries;
    g->ways = (uint32_t)ways;
    if (entries && (entries % ways || ((entries / ways) & (entries / ways - 1))))
        luaL_error(L, "machine: %s: ways must divide entries into a power-of-two number of sets", what);
}

static uint8_t parse_replacement(lua_State *L, int idx, const char *what, uint8_t dflt)
{
    int t = lua_getfield(L, idx, "replacement");
    uint8_t r = dflt;
    if (t != LUA_TNIL) {
        const char *s = lua_tostring(L, -1);
        if (t != LUA_TSTRING || (strcmp(s, "lru") != 0 && strcmp(s, "random") != 0))
            luaL_error(L, "machine: %s.replacement must be \"lru\" or \"random\"", what);
        r = strcmp(s, "lru") == 0 ? PL_REPL_LRU : PL_REPL_RANDOM;
    }
    lua_pop(L, 1);
    return r;
}

/* tlb = {l1d = {["4k"] = {...}, ["2m"] = ..., ["1g"] = ..., replacement =, seed =},
 *        l1i = ..., l2 = ..., psc = {pde =, pdpte =, pml4e =, pml5e =, replacement =, seed =}} */
static void parse_tlb(lua_State *L, int idx, struct pl_tlb_config *c)
{
    static const char *const keys[] = {"l1d", "l1i", "l2", "psc", NULL};
    static const char *const level_keys[] = {"4k", "2m", "1g", "replacement", "seed", NULL};
    static const char *const psc_keys[] = {"pde", "pdpte", "pml4e", "pml5e", "replacement", "seed", NULL};
    static const char *const sizes[] = {"4k", "2m", "1g"};
    idx = lua_absindex(L, idx);
    check_table_keys(L, idx, "machine: tlb", keys);
    char what[32];
    for (int t = 0; t < PL_TLBS; t++) {
        const char *name = keys[t];
        if (lua_getfield(L, idx, name) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        snprintf(what, sizeof what, "tlb.%s", name);
        if (!lua_istable(L, -1))
            luaL_error(L, "machine: %s must be a table", what);
        check_table_keys(L, -1, what, level_keys);
        for (int s = 0; s < PL_PAGE_SIZES; s++) {
            if (lua_getfield(L, -1, sizes[s]) != LUA_TNIL) {
                snprintf(what, sizeof what, "tlb.%s.%s", name, sizes[s]);
                parse_geometry(L, what, &c->tlb[t].size[s]);
            }
            lua_pop(L, 1);
        }
        snprintf(what, sizeof what, "tlb.%s", name);
        c->tlb[t].replacement = parse_replacement(L, -1, what, c->tlb[t].replacement);
        lua_Integer seed;
        if (opt_field_integer(L, -1, what, "seed", &seed))
            c->tlb[t].seed = (uint64_t)seed;
        lua_pop(L, 1);
    }
    if (lua_getfield(L, idx, "psc") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_error(L, "machine: tlb.psc must be a table");
        check_table_keys(L, -1, "tlb.psc", psc_keys);
        for (int level = 2; level <= 5; level++) {
            const char *name = psc_keys[level - 2];
            if (lua_getfield(L, -1, name) != LUA_TNIL) {
                snprintf(what, sizeof what, "tlb.psc.%s", name);
                parse_geometry(L, what, &c->psc[PL_PSC_INDEX(level)]);
            }
            lua_pop(L, 1);
        }
        c->psc_replacement = parse_replacement(L, -1, "tlb.psc", c->psc_replacement);
        lua_Integer seed;
        if (opt_field_integer(L, -1, "tlb.psc", "seed", &seed))
            c->psc_seed = (uint64_t)seed;
    }
    lua_pop(L, 1);
    if (pl_tlb_config_check(c) < 0)
        luaL_error(L, "machine: the tlb configuration is not valid");
}

#define COST_FIELDS(X)                                                                                          \
    X(tlb_l1_hit) X(tlb_l2_hit) X(psc_hit) X(walk_ref) X(fault) X(invlpg) X(invpcid_addr) X(invpcid_context)    \
    X(cr3_write) X(cr_write) X(syscall) X(fault_handler) X(page_zero) X(page_copy)     \
    X(wrpkru) X(rdpkru) X(cache_hit) X(mem_access) X(device_access) X(cache_flush) X(fence)

static void parse_cost(lua_State *L, int idx, struct pl_cost_model *c)
{
    static const char *const keys[] = {
#define COST_NAME(f) #f,
        COST_FIELDS(COST_NAME)
#undef COST_NAME
        NULL};
    idx = lua_absindex(L, idx);
    check_table_keys(L, idx, "machine: cost", keys);
    lua_Integer v;
#define COST_PARSE(f)                                                              \
    if (opt_field_integer(L, idx, "machine: cost", #f, &v)) {                     \
        if (v < 0 || v > UINT32_MAX)                                               \
            luaL_error(L, "machine: cost.%s must be 0..4294967295 cycles", #f);    \
        c->f = (uint32_t)v;                                                        \
    }
    COST_FIELDS(COST_PARSE)
#undef COST_PARSE
}

/* The several-CPU options: cpus, shootdown, sched_seed (docs/scripting.md). */
static void parse_smp(lua_State *L, int idx, struct pl_machine_config *mc, struct pl_kernel_config *kc)
{
    lua_Integer n;
    if (opt_field_integer(L, idx, "machine", "cpus", &n)) {
        if (n < 1 || n > PL_MACHINE_MAX_CPUS)
            luaL_error(L, "machine: cpus must be 1..%d (got %I)", PL_MACHINE_MAX_CPUS, (lua_Integer)n);
        mc->ncpus = (unsigned)n;
    }
    if (opt_field_integer(L, idx, "machine", "sched_seed", &n)) {
        if (n < 0)
            luaL_error(L, "machine: sched_seed must not be negative (got %I)", (lua_Integer)n);
        kc->sched_seed = (uint64_t)n;
    }
    if (lua_getfield(L, idx, "shootdown") != LUA_TNIL) {
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        unsigned proto = 0;
        while (proto < PL_SHOOTDOWN_COUNT && strcmp(pl_shootdown_name(proto), s) != 0)
            proto++;
        if (proto == PL_SHOOTDOWN_COUNT)
            luaL_error(L, "machine: shootdown must be \"correct\", \"naive\", \"no-wait\", \"skip-cpu\" or "
                          "\"early-free\"");
        kc->shootdown = proto;
    }
    lua_pop(L, 1);
}

/* Reads the options table at idx (absent: defaults) into mc and kc. */
static void parse_config(lua_State *L, int idx, struct pl_machine_config *mc, struct pl_kernel_config *kc,
                         const struct script_state *st)
{
    pl_machine_config_default(mc);
    pl_kernel_config_default(kc);
    if (st->opt.history_limit)
        kc->history_limit = st->opt.history_limit;
    if (lua_isnoneornil(L, idx))
        goto limits;
    luaL_checktype(L, idx, LUA_TTABLE);
    check_table_keys(L, idx, "machine", machine_keys);
    lua_Integer n;
    if (lua_getfield(L, idx, "ram") != LUA_TNIL)
        mc->ram_size = check_size(L, -1, "machine: ram");
    lua_pop(L, 1);
    if (opt_field_integer(L, idx, "machine", "levels", &n)) {
        if (n != 4 && n != 5)
            luaL_error(L, "machine: levels must be 4 or 5 (got %I)", (lua_Integer)n);
        mc->levels = (unsigned)n;
    }
    if (opt_field_integer(L, idx, "machine", "maxphyaddr", &n)) {
        if (n < 32 || n > 52)
            luaL_error(L, "machine: maxphyaddr must be 32..52 (got %I)", (lua_Integer)n);
        mc->maxphyaddr = (unsigned)n;
    }
    opt_field_bool(L, idx, "machine", "pcid", &mc->pcid);
    opt_field_bool(L, idx, "machine", "pge", &mc->pge);
    opt_field_bool(L, idx, "machine", "smep", &mc->smep);
    opt_field_bool(L, idx, "machine", "smap", &mc->smap);
    opt_field_bool(L, idx, "machine", "pke", &mc->pke);
    if (lua_getfield(L, idx, "accessed_on_fault") != LUA_TNIL) {
        const char *s = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || (strcmp(s, "none") != 0 && strcmp(s, "upper") != 0))
            luaL_error(L, "machine: accessed_on_fault must be \"none\" or \"upper\"");
        mc->ad_policy = strcmp(s, "none") == 0 ? PL_AD_NONE_ON_FAULT : PL_AD_UPPER_ON_FAULT;
    }
    lua_pop(L, 1);
    opt_field_bool(L, idx, "machine", "history", &kc->history);
    opt_field_bool(L, idx, "machine", "huge_anon", &kc->huge_anon);
    if (opt_field_integer(L, idx, "machine", "history_limit", &n)) {
        if (n < 0)
            luaL_error(L, "machine: history_limit must not be negative");
        if (!st->opt.history_limit || (n && (uint64_t)n < st->opt.history_limit))
            kc->history_limit = (size_t)n;
    }
    if (opt_field_integer(L, idx, "machine", "retry_limit", &n)) {
        if (n < 0 || n > UINT32_MAX)
            luaL_error(L, "machine: retry_limit must be 0..4294967295");
        kc->signal_retry_limit = (unsigned)n;
    }
    if (opt_field_integer(L, idx, "machine", "seed", &n))
        mc->seed = (uint64_t)n;
    if (lua_getfield(L, idx, "tlb") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_error(L, "machine: tlb must be a table");
        parse_tlb(L, -1, &mc->tlb);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "swap") != LUA_TNIL)
        lswap_parse_config(L, lua_gettop(L), &kc->swap);
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "cost") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_error(L, "machine: cost must be a table");
        parse_cost(L, -1, &mc->cost);
    }
    lua_pop(L, 1);
    parse_smp(L, idx, mc, kc);
limits:
    if (mc->ram_size < (UINT64_C(4) << 20) || mc->ram_size % (UINT64_C(2) << 20))
        luaL_error(L, "machine: ram must be a multiple of 2 MiB and at least 4 MiB (got %I bytes)",
                   (lua_Integer)mc->ram_size);
    if (mc->maxphyaddr < 64 && mc->ram_size > UINT64_C(1) << mc->maxphyaddr)
        luaL_error(L, "machine: %I bytes of ram do not fit below MAXPHYADDR %d", (lua_Integer)mc->ram_size,
                   (int)mc->maxphyaddr);
    if (st->opt.max_ram && mc->ram_size > st->opt.max_ram)
        luaL_error(L, "machine: ram above this run's limit of %I bytes", (lua_Integer)st->opt.max_ram);
}

/* Frees the kernel (exiting every process) and the machine, dropping the
 * creator references of the machine's shm handles first. Idempotent. */
static void machine_close(struct lmachine *mb)
{
    if (mb->k) {
        lshm_release_all(mb);
        pl_kernel_free(mb->k);
        mb->k = NULL;
        mb->st->open_machines--;
    }
    pl_machine_free(mb->m);
    mb->m = NULL;
}

/* ptelab.machine([options]) -> machine; raises on bad options. */
int lmachine_new(lua_State *L)
{
    struct script_state *st = script_state_get(L);
    struct pl_machine_config mc;
    struct pl_kernel_config kc;
    parse_config(L, 1, &mc, &kc, st);
    if (st->opt.max_machines && st->open_machines >= st->opt.max_machines)
        return luaL_error(L, "machine: %d machines are open already, this run's limit; close one with m:close()",
                          (int)st->open_machines);

    /* Everything that may raise comes before the machine exists, so an
     * error cannot leak it. */
    struct lmachine *mb = lua_newuserdatauv(L, sizeof *mb, MACHINE_UVS);
    memset(mb, 0, sizeof *mb);
    mb->st = st;
    mb->shootdown = kc.shootdown;
    mb->sched_seed = kc.sched_seed;
    luaL_setmetatable(L, LMACHINE_MT);
    for (int uv = 1; uv <= MACHINE_UVS; uv++) {
        lua_newtable(L);
        lua_setiuservalue(L, -2, uv);
    }
    lua_getfield(L, LUA_REGISTRYINDEX, MACHINES_KEY);
    lua_pushvalue(L, -2);
    lua_rawsetp(L, -2, mb);
    lua_pop(L, 1);

    int rc = pl_machine_new(&mc, &mb->m);
    if (rc == 0)
        rc = pl_kernel_new(mb->m, &kc, &mb->k);
    if (rc < 0) {
        machine_close(mb);
        return luaL_error(L, "machine: %s", rc == PL_EINVAL ? "the configuration is not valid" : "out of host memory");
    }
    st->open_machines++;
    return 1;
}

/* ---- methods ---- */

/* m:spawn() -> process | nil, "ENAME", errno */
static int m_spawn(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    lua_settop(L, 1);
    struct pl_proc *p;
    int rc = pl_proc_spawn(mb->k, &p);
    if (rc < 0)
        return push_errno(L, rc);
    lmachine_push_proc(L, 1, pl_proc_pid(p));
    return 1;
}

/* m:proc(pid) -> the handle of pid | nil */
static int m_proc(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    lua_Integer pid = luaL_checkinteger(L, 2);
    if (pid < 1 || pid > INT32_MAX || !pl_kernel_proc(mb->k, (int)pid)) {
        lua_pushnil(L);
        return 1;
    }
    lmachine_push_proc(L, 1, (int)pid);
    return 1;
}

/* Walks by pid, checking the machine at each step: making a handle may
 * run a finalizer, which may close the machine. */
static int m_procs(lua_State *L)
{
    lmachine_check(L, 1);
    lua_settop(L, 1);
    lua_newtable(L);
    lua_Integer i = 0;
    for (int pid = 0;;) {
        struct lmachine *mb = lmachine_check(L, 1);
        struct pl_proc *p = pl_kernel_next_proc(mb->k, pid ? pl_kernel_proc(mb->k, pid) : NULL);
        if (!p)
            break;
        pid = pl_proc_pid(p);
        lmachine_push_proc(L, 1, pid);
        lua_rawseti(L, 2, ++i);
    }
    return 1;
}

/* m:check() -> true; raises the first invariant that fails. */
static int m_check(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    char msg[512];
    if (pl_kernel_check(mb->k, msg, sizeof msg) != 0)
        return luaL_error(L, "invariant violated: %s", msg);
    lua_pushboolean(L, 1);
    return 1;
}

/* m:stats() -> {kernel, cpu, tlb, frames} */
static int m_stats(lua_State *L)
{
    push_stats(L, lmachine_check(L, 1));
    return 1;
}

/* m:print_stats(): the counters of m:stats(), printed. */
static int m_print_stats(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    print_stats(script_out(L), mb);
    return 0;
}

static const char *const history_keys[] = {"pid", "addr", "level", "why", "last", NULL};

/* The filter of m:history / m:writes from the table at 2; *last: 0 for all. */
static void parse_history_filter(lua_State *L, const char *func, struct history_filter *flt, lua_Integer *last)
{
    *flt = (struct history_filter){.why = -1};
    *last = 0;
    if (lua_isnoneornil(L, 2))
        return;
    luaL_checktype(L, 2, LUA_TTABLE);
    check_table_keys(L, 2, func, history_keys);
    lua_Integer n;
    if (opt_field_integer(L, 2, func, "pid", &n)) {
        if (n < 0 || n > INT32_MAX)
            luaL_error(L, "%s: pid must be 0 (the kernel) or a process id", func);
        flt->by_pid = true;
        flt->pid = (int)n;
    }
    if (opt_field_integer(L, 2, func, "addr", &n)) {
        flt->by_addr = true;
        flt->addr = (uint64_t)n;
    }
    if (opt_field_integer(L, 2, func, "level", &n)) {
        if (n < 1 || n > 5)
            luaL_error(L, "%s: level must be 1 (PT) .. 5 (PML5)", func);
        flt->by_level = true;
        flt->level = (int)n;
    }
    if (opt_field_integer(L, 2, func, "last", &n)) {
        if (n < 0)
            luaL_error(L, "%s: last must not be negative", func);
        *last = n;
    }
    if (lua_getfield(L, 2, "why") != LUA_TNIL) {
        const char *s = lua_tostring(L, -1);
        for (unsigned w = 0; s && lua_type(L, -1) == LUA_TSTRING && w < PL_WHY_COUNT; w++)
            if (strcmp(pl_why_name(w), s) == 0)
                flt->why = (int)w;
        if (flt->why < 0)
            luaL_error(L, "%s: unknown cause '%s' (see docs/scripting.md for the list)", func,
                       s ? s : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

/* The index of the first of the last `last` matching records. */
static size_t history_start(const struct pl_pte_write *log, size_t n, const struct history_filter *flt,
                            lua_Integer last)
{
    if (last == 0)
        return 0;
    size_t i = n;
    for (lua_Integer seen = 0; i > 0 && seen < last; i--)
        seen += history_match(flt, &log[i - 1]);
    return i;
}

/* m:history([filter]) -> records printed */
static int m_history(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    struct history_filter flt;
    lua_Integer last;
    parse_history_filter(L, "history", &flt, &last);
    size_t n;
    const struct pl_pte_write *log = pl_kernel_history(mb->k, &n);
    FILE *f = script_out(L);
    char buf[19];
    fputs("history", f);
    if (flt.by_pid)
        fprintf(f, " of pid %d", flt.pid);
    if (flt.by_addr)
        fprintf(f, " for %s", hex64(buf, flt.addr));
    if (flt.by_level)
        fprintf(f, " at level %d", flt.level);
    if (flt.why >= 0)
        fprintf(f, " by %s", pl_why_name((unsigned)flt.why));
    fputs(":\n", f);
    lua_Integer shown = 0;
    for (size_t i = history_start(log, n, &flt, last); i < n; i++) {
        if (!history_match(&flt, &log[i]))
            continue;
        view_history_record(f, &log[i]);
        shown++;
    }
    if (shown == 0)
        fputs("  (no writes)\n", f);
    lua_pushinteger(L, shown);
    return 1;
}

/* Records are copied one at a time, the log looked up again each time:
 * building a table may run a finalizer, which may change the log or close
 * the machine. */
static int m_writes(lua_State *L)
{
    lmachine_check(L, 1);
    struct history_filter flt;
    lua_Integer last;
    parse_history_filter(L, "writes", &flt, &last);
    lua_settop(L, 2);
    lua_newtable(L);
    size_t n;
    const struct pl_pte_write *log = pl_kernel_history(lmachine_check(L, 1)->k, &n);
    lua_Integer j = 0;
    for (size_t i = history_start(log, n, &flt, last);; i++) {
        log = pl_kernel_history(lmachine_check(L, 1)->k, &n);
        if (i >= n)
            break;
        const struct pl_pte_write rec = log[i], *w = &rec;
        if (!history_match(&flt, w))
            continue;
        lua_createtable(L, 0, 8);
        lua_pushinteger(L, (lua_Integer)w->seq);
        lua_setfield(L, -2, "seq");
        lua_pushstring(L, pl_why_name(w->why));
        lua_setfield(L, -2, "why");
        lua_pushinteger(L, w->pid);
        lua_setfield(L, -2, "pid");
        lua_pushinteger(L, w->level);
        lua_setfield(L, -2, "level");
        lua_pushinteger(L, (lua_Integer)w->va);
        lua_setfield(L, -2, "va");
        lua_pushinteger(L, (lua_Integer)w->entry_pa);
        lua_setfield(L, -2, "entry_pa");
        lua_pushinteger(L, (lua_Integer)w->old);
        lua_setfield(L, -2, "old");
        lua_pushinteger(L, (lua_Integer)w->new);
        lua_setfield(L, -2, "new");
        lua_rawseti(L, -2, ++j);
    }
    return 1;
}

/* m:frame(pa) -> the allocator's view of the block holding pa | nil outside the allocator */
static int m_frame(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    uint64_t pa = (uint64_t)luaL_checkinteger(L, 2);
    struct pl_frame_allocator *fa = pl_kernel_frames(mb->k);
    uint64_t head;
    if (pl_frame_head(fa, pa, &head) < 0) {
        lua_pushnil(L);
        return 1;
    }
    const struct pl_frame fr = *pl_frame_meta(fa, head);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)head);
    lua_setfield(L, -2, "pa");
    lua_pushinteger(L, fr.refcount);
    lua_setfield(L, -2, "refcount");
    lua_pushinteger(L, fr.mapcount);
    lua_setfield(L, -2, "mapcount");
    lua_pushinteger(L, fr.order);
    lua_setfield(L, -2, "order");
    lua_pushboolean(L, fr.flags & PL_FRAME_FREE);
    lua_setfield(L, -2, "free");
    lua_pushboolean(L, fr.flags & PL_FRAME_USER);
    lua_setfield(L, -2, "user");
    lua_pushboolean(L, fr.flags & PL_FRAME_PT);
    lua_setfield(L, -2, "page_table");
    lua_pushboolean(L, fr.flags & PL_FRAME_KERNEL);
    lua_setfield(L, -2, "kernel");
    return 1;
}

/* m:direct_map_base() -> virtual address of physical 0 in the direct map */
static int m_direct_map_base(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)pl_kernel_direct_map(lmachine_check(L, 1)->k));
    return 1;
}

/* m:user_top() -> the first address above the user half */
static int m_user_top(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)pl_kernel_user_top(lmachine_check(L, 1)->k));
    return 1;
}

/* m:config() -> the machine's configuration */
static int m_config(lua_State *L)
{
    const struct lmachine *mb = lmachine_check(L, 1);
    const struct pl_machine_config cfg = mb->m->config, *c = &cfg;
    unsigned shootdown = mb->shootdown;
    uint64_t sched_seed = mb->sched_seed;
    lua_createtable(L, 0, 13);
    lua_pushinteger(L, (lua_Integer)c->ram_size);
    lua_setfield(L, -2, "ram");
    lua_pushinteger(L, c->levels);
    lua_setfield(L, -2, "levels");
    lua_pushinteger(L, c->maxphyaddr);
    lua_setfield(L, -2, "maxphyaddr");
    lua_pushboolean(L, c->pcid);
    lua_setfield(L, -2, "pcid");
    lua_pushboolean(L, c->pge);
    lua_setfield(L, -2, "pge");
    lua_pushboolean(L, c->smep);
    lua_setfield(L, -2, "smep");
    lua_pushboolean(L, c->smap);
    lua_setfield(L, -2, "smap");
    lua_pushboolean(L, c->pke);
    lua_setfield(L, -2, "pke");
    lua_pushstring(L, c->ad_policy == PL_AD_UPPER_ON_FAULT ? "upper" : "none");
    lua_setfield(L, -2, "accessed_on_fault");
    lua_pushinteger(L, (lua_Integer)c->seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, c->ncpus);
    lua_setfield(L, -2, "cpus");
    lua_pushstring(L, pl_shootdown_name(shootdown));
    lua_setfield(L, -2, "shootdown");
    lua_pushinteger(L, (lua_Integer)sched_seed);
    lua_setfield(L, -2, "sched_seed");
    return 1;
}

/* m:close(): frees the machine; refused while an access is in progress. */
static int m_close(lua_State *L)
{
    struct lmachine *mb = luaL_checkudata(L, 1, LMACHINE_MT);
    if (mb->access)
        return luaL_error(L, "close: the machine is in the middle of an access (a signal handler cannot close it)");
    machine_close(mb);
    return 0;
}

/* __gc and __close: nothing can be in progress once the machine is
 * unreachable, and __close runs as the scope ends. */
static int m_gc(lua_State *L)
{
    struct lmachine *mb = luaL_checkudata(L, 1, LMACHINE_MT);
    if (!mb->access)
        machine_close(mb);
    return 0;
}

/* __tostring: "ptelab.machine (16 MiB, 4-level paging[, 4 CPUs])" or "(closed)". */
static int m_tostring(lua_State *L)
{
    struct lmachine *mb = luaL_checkudata(L, 1, LMACHINE_MT);
    if (!mb->k) {
        lua_pushliteral(L, "ptelab.machine (closed)");
        return 1;
    }
    const struct pl_machine_config c = mb->m->config;
    char cpus[24] = "";
    if (c.ncpus > 1)
        snprintf(cpus, sizeof cpus, ", %u CPUs", c.ncpus);
    lua_pushfstring(L, "ptelab.machine (%I MiB, %d-level paging%s)", (lua_Integer)(c.ram_size >> 20), (int)c.levels,
                    cpus);
    return 1;
}

static const luaL_Reg machine_methods[] = {
    {"spawn", m_spawn},
    {"shm", lshm_new},
    {"proc", m_proc},
    {"procs", m_procs},
    {"check", m_check},
    {"stats", m_stats},
    {"print_stats", m_print_stats},
    {"history", m_history},
    {"writes", m_writes},
    {"frame", m_frame},
    {"direct_map_base", m_direct_map_base},
    {"user_top", m_user_top},
    {"config", m_config},
    {"close", m_close},
    {NULL, NULL},
};

void check_map_len(lua_State *L, uint64_t len, const char *what)
{
    uint64_t max = script_state_get(L)->opt.max_map_len;
    if (max && len > max)
        luaL_error(L, "%s: %I bytes is above this run's limit of %I", what, (lua_Integer)len, (lua_Integer)max);
}

int script_check_machines(lua_State *L, char *msg, size_t msglen)
{
    if (!lua_checkstack(L, 4))
        return 0;
    int rc = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, MACHINES_KEY);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, -2)) {
            struct lmachine *mb = lua_touserdata(L, -1);
            if (mb && mb->k)
                rc = pl_kernel_check(mb->k, msg, msglen);
            lua_pop(L, 1);
        }
        if (rc != 0)
            lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return rc;
}

void script_state_init(lua_State *L, const struct script_options *opt)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TNIL) {
        struct script_state *st = lua_newuserdatauv(L, sizeof *st, 0);
        memset(st, 0, sizeof *st);
        lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    }
    lua_pop(L, 1);
    if (opt)
        script_state_get(L)->opt = *opt;
}

void lmachine_register(lua_State *L)
{
    luaL_newmetatable(L, LMACHINE_MT);
    luaL_newlib(L, machine_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "ptelab.machine");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, MACHINES_KEY);
}
