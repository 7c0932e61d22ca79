/* The counters of a machine (kernel, CPU, TLBs, frames) as Lua tables and
 * as printed text: one list of named counters serves both, so m:stats()
 * and m:print_stats() always agree. */
#include <inttypes.h>
#include <string.h>

#include "ptelab/frame.h"
#include "ptelab/thread.h"
#include "script/binding.h"

struct counter {
    char name[24];
    uint64_t value;
};

#define GROUP_MAX 64

struct group {
    const char *name;
    size_t n;
    struct counter c[GROUP_MAX];
};

static void add(struct group *g, const char *name, uint64_t value)
{
    if (g->n == GROUP_MAX)
        return;
    struct counter *c = &g->c[g->n++];
    snprintf(c->name, sizeof c->name, "%s", name);
    for (char *s = c->name; *s; s++)
        if (*s == '-')
            *s = '_';
    c->value = value;
}

static void kernel_group(struct group *g, const struct pl_kernel *k)
{
    const struct pl_kernel_stats *s = pl_kernel_stats(k);
    *g = (struct group){.name = "kernel"};
#define KSTAT(f) add(g, #f, s->f);
    KSTAT(faults) KSTAT(zero_fill) KSTAT(shared_page) KSTAT(cow_copy) KSTAT(cow_reuse) KSTAT(spurious)
    KSTAT(thp_fault) KSTAT(thp_fallback) KSTAT(thp_split) KSTAT(signals) KSTAT(kills) KSTAT(syscalls) KSTAT(forks) KSTAT(exits) KSTAT(execs) KSTAT(context_switches)
    KSTAT(pte_writes) KSTAT(tlb_flush_pages) KSTAT(tlb_flush_full) KSTAT(pt_pages) KSTAT(cycles)
    KSTAT(shootdowns) KSTAT(ipis_sent) KSTAT(lazy_skipped) KSTAT(wait_cycles) KSTAT(stale_violations)
    KSTAT(migrations)
#undef KSTAT
}

static void cpu_group(struct group *g, struct pl_cpu *cpu)
{
    const struct pl_cpu_stats *s = pl_cpu_stats(cpu);
    *g = (struct group){.name = "cpu"};
    add(g, "reads", s->accesses[PL_READ]);
    add(g, "writes", s->accesses[PL_WRITE]);
    add(g, "fetches", s->accesses[PL_FETCH]);
    add(g, "walks", s->walks);
    add(g, "walk_refs", s->walk_refs);
    add(g, "dirty_walks", s->dirty_walks);
    add(g, "page_faults", s->page_faults);
    add(g, "tlb_faults", s->tlb_faults);
    add(g, "gp_faults", s->gp_faults);
    add(g, "cycles", s->cycles);
}

static void tlb_group(struct group *g, struct pl_cpu *cpu)
{
    static const char *const tlbs[] = {"l1d", "l1i", "l2"};
    static const char *const sizes[] = {"4k", "2m", "1g", "none"};
    static const char *const pscs[] = {"pde", "pdpte", "pml4e", "pml5e"};
    const struct pl_tlb_stats *s = pl_tlb_stats(pl_cpu_tlb(cpu));
    *g = (struct group){.name = "tlb"};
    char name[24];
    for (int t = 0; t < PL_TLBS; t++) {
        for (int z = 0; z < PL_PAGE_SIZES; z++) {
            snprintf(name, sizeof name, "%s_hits_%s", tlbs[t], sizes[z]);
            add(g, name, s->hits[t][z]);
        }
        for (int z = 0; z <= PL_PAGE_SIZES; z++) {
            snprintf(name, sizeof name, "%s_misses_%s", tlbs[t], sizes[z]);
            add(g, name, s->misses[t][z]);
        }
    }
    for (int l = 0; l < PL_PSC_LEVELS; l++) {
        snprintf(name, sizeof name, "psc_hits_%s", pscs[l]);
        add(g, name, s->psc_hits[l]);
    }
    add(g, "psc_misses", s->psc_misses);
    for (unsigned kind = 0; kind < PL_INV_KINDS; kind++) {
        snprintf(name, sizeof name, "inval_%s", pl_inv_kind_name(kind));
        add(g, name, s->inval[kind]);
    }
}

/* The shootdown counters of one CPU. */
static void smp_group(struct group *g, const struct pl_kernel *k, unsigned cpu)
{
    const struct pl_smp_cpu_stats *s = pl_kernel_cpu_stats(k, cpu);
    *g = (struct group){.name = "smp"};
#define SSTAT(f) add(g, #f, s->f);
    SSTAT(ipis_received) SSTAT(ipis_handled_lazy) SSTAT(flush_pages) SSTAT(flush_full) SSTAT(clock)
    SSTAT(wait_cycles) SSTAT(steps)
#undef SSTAT
}

static void frames_group(struct group *g, const struct pl_kernel *k)
{
    struct pl_frame_stats s;
    pl_frame_stats_read(pl_kernel_frames(k), &s);
    *g = (struct group){.name = "frames"};
    add(g, "total", s.frames);
    add(g, "free", s.free_frames);
    add(g, "used", s.frames - s.free_frames);
    add(g, "kernel", pl_kernel_own_frames(k));
    add(g, "allocs", s.allocs);
    add(g, "frees", s.frees);
    add(g, "failures", s.failures);
    add(g, "bytes_zeroed", s.bytes_zeroed);
}

enum { GROUPS = 4 };

static void collect(struct lmachine *mb, struct group g[GROUPS])
{
    struct pl_cpu *cpu = mb->m->cpu[0];
    kernel_group(&g[0], mb->k);
    cpu_group(&g[1], cpu);
    tlb_group(&g[2], cpu);
    frames_group(&g[3], mb->k);
}

/* Pushes the groups as a table of tables. Copies of the counters: building
 * the tables may run finalizers. */
static void push_groups(lua_State *L, const struct group *g, int n)
{
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, (int)g[i].n);
        for (size_t j = 0; j < g[i].n; j++) {
            lua_pushinteger(L, (lua_Integer)g[i].c[j].value);
            lua_setfield(L, -2, g[i].c[j].name);
        }
        lua_setfield(L, -2, g[i].name);
    }
}

void push_stats(lua_State *L, struct lmachine *mb)
{
    struct group g[GROUPS];
    collect(mb, g);
    push_groups(L, g, GROUPS);
}

void push_cpu_stats(lua_State *L, struct lmachine *mb, unsigned cpu)
{
    struct group g[3];
    smp_group(&g[0], mb->k, cpu);
    cpu_group(&g[1], mb->m->cpu[cpu]);
    tlb_group(&g[2], mb->m->cpu[cpu]);
    push_groups(L, g, 3);
}

void print_stats(FILE *f, struct lmachine *mb)
{
    struct group g[GROUPS];
    collect(mb, g);
    for (int i = 0; i < GROUPS; i++) {
        fprintf(f, "%s:\n", g[i].name);
        for (size_t j = 0; j < g[i].n; j++)
            fprintf(f, "  %-20s %" PRIu64 "\n", g[i].c[j].name, g[i].c[j].value);
    }
}

void push_proc_stats(lua_State *L, const struct pl_proc_stats *s)
{
    lua_createtable(L, 0, 10);
#define PSTAT(f)                              \
    lua_pushinteger(L, (lua_Integer)s->f);    \
    lua_setfield(L, -2, #f);
    PSTAT(faults) PSTAT(zero_fill) PSTAT(shared_page) PSTAT(cow_copy) PSTAT(cow_reuse) PSTAT(spurious)
    PSTAT(thp_fault) PSTAT(signals) PSTAT(resident) PSTAT(pt_pages)
#undef PSTAT
}
