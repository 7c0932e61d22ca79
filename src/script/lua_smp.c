/* Views of a machine with several CPUs (docs/scripting.md, Threads and
 * CPUs): the event log (m:events, m:event_list), the stale-translation
 * violations (m:violations), one CPU's counters (m:cpu_stats) and what one
 * CPU's TLBs hold (m:tlb). Views change nothing. */
#include <inttypes.h>
#include <string.h>

#include "ptelab/cpu.h"
#include "ptelab/thread.h"
#include "ptelab/tlb.h"
#include "ptelab/walk.h"
#include "script/binding.h"

/* A CPU number argument: an integer 0..ncpus-1. */
static unsigned check_cpu(lua_State *L, lua_Integer n, const struct lmachine *mb, const char *func)
{
    unsigned ncpus = mb->m->ncpus;
    if (n < 0 || n >= ncpus)
        luaL_error(L, "%s: cpu must be 0..%d (the machine has %d CPU%s), got %I", func, (int)ncpus - 1, (int)ncpus,
                   ncpus == 1 ? "" : "s", n);
    return (unsigned)n;
}

/* ---- the event log ---- */

struct event_filter {
    int cpu;           /* -1: any */
    unsigned kind;     /* 0: any */
    lua_Integer last;  /* only the last N matching; 0: all */
};

static const char *const event_keys[] = {"cpu", "kind", "last", NULL};

static void parse_event_filter(lua_State *L, const struct lmachine *mb, const char *func, struct event_filter *flt)
{
    *flt = (struct event_filter){.cpu = -1};
    if (lua_isnoneornil(L, 2))
        return;
    luaL_checktype(L, 2, LUA_TTABLE);
    check_table_keys(L, 2, func, event_keys);
    lua_Integer n;
    if (opt_field_integer(L, 2, func, "cpu", &n))
        flt->cpu = (int)check_cpu(L, n, mb, func);
    if (opt_field_integer(L, 2, func, "last", &n)) {
        if (n < 0)
            luaL_error(L, "%s: last must not be negative", func);
        flt->last = n;
    }
    if (lua_getfield(L, 2, "kind") != LUA_TNIL) {
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        /* pl_event_name names every kind, and "?" past the last */
        for (unsigned k = PL_EV_ACCESS; strcmp(pl_event_name(k), "?") != 0 && !flt->kind; k++)
            if (strcmp(pl_event_name(k), s) == 0)
                flt->kind = k;
        if (!flt->kind)
            luaL_error(L, "%s: unknown event kind '%s' (see docs/scripting.md for the list)", func,
                       lua_type(L, -1) == LUA_TSTRING ? s : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

static bool event_match(const struct event_filter *flt, const struct pl_event *e)
{
    return (flt->cpu < 0 || e->cpu == flt->cpu) && (!flt->kind || e->kind == flt->kind);
}

/* The index of the first of the last `last` matching events. */
static size_t events_start(const struct pl_event *ev, size_t n, const struct event_filter *flt)
{
    if (flt->last == 0)
        return 0;
    size_t i = n;
    for (lua_Integer seen = 0; i > 0 && seen < flt->last; i--)
        seen += event_match(flt, &ev[i - 1]);
    return i;
}

/* m:events([filter]) -> events printed */
static int m_events(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    struct event_filter flt;
    parse_event_filter(L, mb, "events", &flt);
    size_t n;
    const struct pl_event *ev = pl_kernel_events(mb->k, &n);
    FILE *f = script_out(L);
    fputs("events", f);
    if (flt.cpu >= 0)
        fprintf(f, " of cpu %d", flt.cpu);
    if (flt.kind)
        fprintf(f, " of kind %s", pl_event_name(flt.kind));
    fputs(":\n", f);
    lua_Integer shown = 0;
    for (size_t i = events_start(ev, n, &flt); i < n; i++) {
        if (!event_match(&flt, &ev[i]))
            continue;
        fputs("  ", f);
        pl_event_print(f, &ev[i]);
        shown++;
    }
    if (shown == 0)
        fputs("  (no events)\n", f);
    lua_pushinteger(L, shown);
    return 1;
}

/* m:event_list([filter]) -> {{step, clock, cpu, kind, tid, va, arg}...}.
 * The matching events are copied out first, into a userdata so that an
 * error cannot leak the copy: building the tables may run finalizers. */
static int m_event_list(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    struct event_filter flt;
    parse_event_filter(L, mb, "event_list", &flt);
    lua_settop(L, 2);
    size_t n;
    pl_kernel_events(mb->k, &n);
    struct pl_event *copy = lua_newuserdatauv(L, (n ? n : 1) * sizeof *copy, 0);
    const struct pl_event *ev = pl_kernel_events(lmachine_check(L, 1)->k, &n);
    size_t kept = 0;
    for (size_t i = events_start(ev, n, &flt); i < n; i++)
        if (event_match(&flt, &ev[i]))
            copy[kept++] = ev[i];
    lua_createtable(L, (int)kept, 0);
    for (size_t i = 0; i < kept; i++) {
        const struct pl_event *e = &copy[i];
        lua_createtable(L, 0, 7);
        lua_pushinteger(L, (lua_Integer)e->step);
        lua_setfield(L, -2, "step");
        lua_pushinteger(L, (lua_Integer)e->clock);
        lua_setfield(L, -2, "clock");
        lua_pushinteger(L, e->cpu);
        lua_setfield(L, -2, "cpu");
        lua_pushstring(L, pl_event_name(e->kind));
        lua_setfield(L, -2, "kind");
        lua_pushinteger(L, e->tid);
        lua_setfield(L, -2, "tid");
        lua_pushinteger(L, (lua_Integer)e->va);
        lua_setfield(L, -2, "va");
        lua_pushinteger(L, (lua_Integer)e->arg);
        lua_setfield(L, -2, "arg");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ---- violations, counters, TLBs ---- */

/* m:violations() -> count: prints the report of each kept violation */
static int m_violations(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    size_t kept;
    uint64_t total;
    pl_kernel_violations(mb->k, &kept, &total);
    FILE *f = script_out(L);
    if (total == 0)
        fputs("no stale translations\n", f);
    for (size_t i = 0; i < kept; i++)
        pl_kernel_violation_report(mb->k, i, f);
    if (total > kept)
        fprintf(f, "(and %" PRIu64 " more, not kept)\n", total - kept);
    lua_pushinteger(L, (lua_Integer)total);
    return 1;
}

/* m:cpu_stats(cpu) -> {smp, cpu, tlb} of that CPU */
static int m_cpu_stats(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    unsigned cpu = check_cpu(L, luaL_checkinteger(L, 2), mb, "cpu_stats");
    push_cpu_stats(L, mb, cpu);
    return 1;
}

/* The pid whose address space CR3 holds (its root), 0 for the kernel's own. */
static int loaded_pid(struct pl_kernel *k, uint64_t cr3)
{
    for (struct pl_proc *p = pl_kernel_next_proc(k, NULL); p; p = pl_kernel_next_proc(k, p))
        if (pl_proc_state(p) == PL_PROC_RUNNING && pl_proc_root(p) == (cr3 & ~UINT64_C(0xFFF)))
            return pl_proc_pid(p);
    return 0;
}

static void set_bool(lua_State *L, const char *name, bool v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, name);
}

static const char *const tlb_keys[] = {"cpu", "addr", NULL};

/* m:tlb{addr = A, cpu = 0} -> entry | nil, pid: what the CPU's TLBs hold
 * for addr in the address space it has loaded (its CR3 and PCID), the one
 * its accesses would use, and the pid of that address space (0: the
 * kernel's own). Everything is read before any table is built. */
static int m_tlb(lua_State *L)
{
    struct lmachine *mb = lmachine_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    check_table_keys(L, 2, "tlb", tlb_keys);
    lua_Integer n = 0, va;
    if (!opt_field_integer(L, 2, "tlb", "addr", &va))
        return luaL_error(L, "tlb: option 'addr' is required");
    opt_field_integer(L, 2, "tlb", "cpu", &n);
    struct pl_cpu *cpu = mb->m->cpu[check_cpu(L, n, mb, "tlb")];
    struct pl_tlb *tlb = pl_cpu_tlb(cpu);
    uint16_t pcid = pl_cpu_pcid(cpu);
    struct pl_tlb_entry e, any = {0};
    bool in[PL_TLBS];
    bool found = false;
    for (unsigned t = 0; t < PL_TLBS; t++) {
        in[t] = pl_tlb_probe(tlb, t, (uint64_t)va, pcid, &e);
        if (in[t] && !found)
            any = e;
        found |= in[t];
    }
    int pid = loaded_pid(mb->k, pl_cpu_regs(cpu)->cr3);
    if (!found) {
        lua_pushnil(L);
        lua_pushinteger(L, pid);
        return 2;
    }
    lua_createtable(L, 0, 11);
    set_bool(L, "l1d", in[PL_TLB_L1D]);
    set_bool(L, "l1i", in[PL_TLB_L1I]);
    set_bool(L, "l2", in[PL_TLB_L2]);
    lua_pushinteger(L, (lua_Integer)any.frame);
    lua_setfield(L, -2, "frame");
    lua_pushinteger(L, (lua_Integer)1 << any.page_shift);
    lua_setfield(L, -2, "size");
    set_bool(L, "writable", any.rights & PL_RIGHT_W);
    set_bool(L, "user", any.rights & PL_RIGHT_U);
    set_bool(L, "executable", any.rights & PL_RIGHT_X);
    set_bool(L, "dirty", any.dirty);
    set_bool(L, "global", any.global);
    lua_pushinteger(L, any.pkey);
    lua_setfield(L, -2, "pkey");
    lua_pushinteger(L, pid);
    return 2;
}

static const luaL_Reg smp_machine_methods[] = {
    {"events", m_events},
    {"event_list", m_event_list},
    {"violations", m_violations},
    {"cpu_stats", m_cpu_stats},
    {"tlb", m_tlb},
    {NULL, NULL},
};

void lsmp_register(lua_State *L) { add_machine_methods(L, smp_machine_methods); }
