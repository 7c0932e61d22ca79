/* Trace replay (replay.h): one process, pages mapped on demand in 2 MiB
 * blocks, every access through the CPU at CPL 3; only faults leave the
 * lean loop for the kernel's own user-access path. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ptelab/error.h"
#include "ptelab/proc.h"
#include "ptelab/replay.h"
#include "ptelab/vma.h"

/* Accesses decoded at a time. */
#define REPLAY_BATCH 8192
/* Largest RAM a replay accepts: keeps the host's frame tables small. */
#define REPLAY_MAX_RAM (UINT64_C(64) << 30)

void pl_replay_config_default(struct pl_replay_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    pl_machine_config_default(&cfg->machine);
    cfg->machine.ram_size = UINT64_C(1) << 30;
    cfg->page_shift = 12;
    cfg->progress_every = UINT64_C(1) << 22;
}

void pl_replay_config_swap(struct pl_replay_config *cfg, uint64_t swap_bytes, unsigned policy)
{
    uint64_t frames = cfg->machine.ram_size >> 12;
    uint64_t min = frames / 256 < 8 ? 8 : frames / 256;
    cfg->swap = (struct pl_swap_config){.slots = swap_bytes >> 12,
                                        .wmark_min = min,
                                        .wmark_low = 2 * min,
                                        .wmark_high = 3 * min,
                                        .policy = policy,
                                        .oom_killer = true};
}

int pl_replay_config_check(const struct pl_replay_config *cfg, char *msg, size_t msg_size)
{
    const struct pl_machine_config *m = &cfg->machine;
    const char *why = NULL;
    if (m->ram_size < (UINT64_C(4) << 20) || m->ram_size % (UINT64_C(2) << 20))
        why = "RAM must be a multiple of 2 MiB, at least 4 MiB";
    else if (m->ram_size > REPLAY_MAX_RAM)
        why = "RAM is limited to 64 GiB for a replay";
    else if (m->levels != 4 && m->levels != 5)
        why = "paging levels must be 4 or 5";
    else if (pl_tlb_config_check(&m->tlb))
        why = "TLB geometry: entries must be a multiple of ways, with a power-of-two number of sets";
    else if (cfg->page_shift != 12 && cfg->page_shift != 21)
        why = "page size must be 4k or 2m";
    else if (cfg->swap.slots && cfg->swap.policy > PL_RECLAIM_OPT)
        why = "unknown replacement policy";
    else if (cfg->swap.slots > (UINT64_C(64) << 30) >> 12)
        why = "swap is limited to 64 GiB for a replay";
    if (why) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "%s", why);
        return PL_EINVAL;
    }
    if (msg && msg_size)
        msg[0] = '\0';
    return 0;
}

/* A set of 2 MiB block numbers (open addressing; key 0 stands for an empty
 * slot, so keys are stored plus one). */
struct block_set {
    uint64_t *slot;
    size_t cap, n;
};

static size_t block_hash(uint64_t key, size_t cap) { return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (cap - 1); }

/* Returns whether key is in s. */
static bool block_has(const struct block_set *s, uint64_t key)
{
    if (!s->cap)
        return false;
    for (size_t i = block_hash(key + 1, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->slot[i] == key + 1)
            return true;
        if (s->slot[i] == 0)
            return false;
    }
}

/* Adds key (absent). Returns 0 or PL_ENOMEM. */
static int block_add(struct block_set *s, uint64_t key)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        uint64_t *slot = calloc(cap, sizeof *slot);
        if (!slot)
            return PL_ENOMEM;
        for (size_t j = 0; j < s->cap; j++) {
            if (!s->slot[j])
                continue;
            size_t i = block_hash(s->slot[j], cap);
            while (slot[i])
                i = (i + 1) & (cap - 1);
            slot[i] = s->slot[j];
        }
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t i = block_hash(key + 1, s->cap);
    while (s->slot[i])
        i = (i + 1) & (s->cap - 1);
    s->slot[i] = key + 1;
    s->n++;
    return 0;
}

/* A map from 4 KiB page numbers to indexes (open addressing, keys stored
 * plus one as in block_set). */
struct page_map {
    uint64_t *key, *val;
    size_t cap, n;
};

/* Returns the value slot of key, or NULL when absent. */
static uint64_t *map_get(const struct page_map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = block_hash(key + 1, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->key[i] == key + 1)
            return &m->val[i];
        if (m->key[i] == 0)
            return NULL;
    }
}

/* Adds key (absent) with val. Returns 0 or PL_ENOMEM. */
static int map_add(struct page_map *m, uint64_t key, uint64_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        uint64_t *nk = calloc(cap, sizeof *nk), *nv = malloc(cap * sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return PL_ENOMEM;
        }
        for (size_t j = 0; j < m->cap; j++) {
            if (!m->key[j])
                continue;
            size_t i = block_hash(m->key[j], cap);
            while (nk[i])
                i = (i + 1) & (cap - 1);
            nk[i] = m->key[j];
            nv[i] = m->val[j];
        }
        free(m->key);
        free(m->val);
        m->key = nk;
        m->val = nv;
        m->cap = cap;
    }
    size_t i = block_hash(key + 1, m->cap);
    while (m->key[i])
        i = (i + 1) & (m->cap - 1);
    m->key[i] = key + 1;
    m->val[i] = val;
    m->n++;
    return 0;
}

/* OPT's future: next[i] is the index of the reference after reference i
 * to the same page (UINT64_MAX: none). During the replay, map holds for
 * each page seen its next reference after the current position. */
struct opt_future {
    uint64_t *next;
    uint64_t n, cap, pos;
    struct page_map map;
};

/* Runs body with page set to each 4 KiB page access a touches, in
 * replay_one's order. */
#define FOR_EACH_PAGE(a, page, body)                                       \
    do {                                                                   \
        uint64_t last_ = (a)->addr + ((a)->size - 1);                      \
        if (last_ < (a)->addr)                                             \
            last_ = UINT64_MAX;                                            \
        for (uint64_t page = (a)->addr >> 12;; page++) {                   \
            body;                                                          \
            if (page == last_ >> 12)                                       \
                break;                                                     \
        }                                                                  \
    } while (0)

/* One reference of the first pass. Returns 0, PL_ERANGE or PL_ENOMEM. */
static int opt_note(struct opt_future *o, uint64_t page)
{
    if (o->n == PL_REPLAY_OPT_MAX_REFS)
        return PL_ERANGE;
    if (o->n == o->cap) {
        uint64_t cap = o->cap ? o->cap * 2 : 4096;
        uint64_t *next = realloc(o->next, cap * sizeof *next);
        if (!next)
            return PL_ENOMEM;
        o->next = next;
        o->cap = cap;
    }
    uint64_t i = o->n++;
    o->next[i] = UINT64_MAX;
    uint64_t *last = map_get(&o->map, page);
    if (!last)
        return map_add(&o->map, page, i);
    o->next[*last] = i;
    *last = i;
    return 0;
}

/* The first pass over the lookahead reader. Returns 0 or a PL_E* code. */
static int opt_first_pass(struct opt_future *o, struct pl_trace_reader *r, struct pl_trace_access *buf)
{
    long got;
    while ((got = pl_trace_next(r, buf, REPLAY_BATCH)) != 0) {
        if (got < 0)
            return (int)got;
        for (long i = 0; i < got; i++) {
            int rc = 0;
            FOR_EACH_PAGE(&buf[i], page, if ((rc = opt_note(o, page)) != 0) return rc);
        }
    }
    return 0;
}

/* The replay reaches the next reference, to page. */
static inline void opt_step(struct opt_future *o, uint64_t page)
{
    uint64_t *v = map_get(&o->map, page);
    assert(v && o->pos < o->n); /* both passes read the same trace */
    *v = o->next[o->pos++];
}

static uint64_t opt_oracle(void *ctx, int pid, uint64_t va)
{
    (void)pid; /* one process */
    const uint64_t *v = map_get(&((struct opt_future *)ctx)->map, va >> 12);
    return v ? *v : UINT64_MAX;
}

/* The running replay. */
struct replay {
    struct opt_future *opt; /* NULL unless policy OPT */
    struct pl_kernel *k;
    struct pl_proc *p;
    struct pl_cpu *cpu;
    uint64_t user_top;
    struct block_set blocks;
    struct pl_replay_report *rep;
};

/* Faults of the replayed program that no region explains are given up
 * (counted as failed accesses) rather than fatal: a trace is data. */
static enum pl_sig_action abandon(struct pl_proc *p, const struct pl_siginfo *si, void *ctx)
{
    (void)p, (void)si, (void)ctx;
    return PL_SIG_ABANDON;
}

/* Maps the 2 MiB block around va if not done yet. Returns 1 when va can
 * be mapped (now or before), 0 when no region can hold it, or PL_ENOMEM. */
static int map_block(struct replay *s, uint64_t va)
{
    if (va < PL_MMAP_FLOOR || va >= s->user_top)
        return 0;
    uint64_t block = va / PL_REPLAY_MAP_BLOCK;
    if (block_has(&s->blocks, block))
        return 1;
    uint64_t lo = block * PL_REPLAY_MAP_BLOCK, hi = lo + PL_REPLAY_MAP_BLOCK;
    if (lo < PL_MMAP_FLOOR)
        lo = PL_MMAP_FLOOR;
    if (hi > s->user_top)
        hi = s->user_top;
    uint64_t got;
    int rc = pl_sys_mmap(s->p, lo, hi - lo, PL_PROT_READ | PL_PROT_WRITE | PL_PROT_EXEC,
                         PL_MAP_PRIVATE | PL_MAP_ANONYMOUS | PL_MAP_FIXED, NULL, 0, &got);
    if (rc == -ENOMEM)
        return PL_ENOMEM;
    if (rc < 0)
        return 0;
    s->rep->regions_mapped++;
    return block_add(&s->blocks, block) ? PL_ENOMEM : 1;
}

/* The slow path of one translation that faulted with f: map its block,
 * let the kernel's fault handler fix the entry and retry, as the CPU would
 * after IRET. A fault the handler cannot fix is redone through the
 * kernel's user-access path, which delivers the signal. Returns 0, or
 * PL_ENOMEM (host memory). */
static int touch_slow(struct replay *s, uint64_t va, unsigned kind, const struct pl_fault *f)
{
    struct pl_replay_report *rep = s->rep;
    rep->slow_path++;
    int m = map_block(s, va);
    if (m < 0)
        return m;
    if (m == 0) {
        rep->unmapped++;
        pl_proc_activate(s->p);
        return 0;
    }
    struct pl_fault f2 = *f;
    for (int tries = 0; tries < 4; tries++) {
        if (pl_proc_fix_fault(s->p, &f2, kind) != 0)
            break;
        uint64_t pa;
        if (pl_cpu_access(s->cpu, va, kind, &pa, &f2))
            return 0;
        rep->slow_path++;
    }
    uint8_t byte = 0;
    int rc;
    if (kind == PL_FETCH)
        rc = pl_proc_fetch(s->p, va, &byte);
    else if (kind == PL_WRITE)
        rc = pl_proc_write(s->p, va, &byte, 1);
    else
        rc = pl_proc_read(s->p, va, &byte, 1);
    if (rc < 0)
        rep->failed++;
    if (pl_proc_state(s->p) != PL_PROC_RUNNING) {
        rep->killed = true;
        return 0;
    }
    pl_proc_activate(s->p);
    return 0;
}

/* One translation of va for kind, the hot path. */
static inline int touch(struct replay *s, uint64_t va, unsigned kind)
{
    uint64_t pa;
    struct pl_fault f;
    s->rep->translations++;
    if (pl_cpu_access(s->cpu, va, kind, &pa, &f))
        return 0;
    return touch_slow(s, va, kind, &f);
}

/* Replays one access: each 4 KiB page it touches, read then write for M. */
static int replay_one(struct replay *s, const struct pl_trace_access *a)
{
    static const unsigned kinds[PL_TRACE_KINDS] = {PL_FETCH, PL_READ, PL_WRITE, PL_READ};
    uint64_t va = a->addr;
    uint64_t last = a->addr + (a->size - 1);
    if (last < va)
        last = UINT64_MAX;
    s->rep->by_kind[a->kind & 3]++;
    for (;;) {
        if (s->opt)
            opt_step(s->opt, va >> 12);
        int rc = touch(s, va, kinds[a->kind & 3]);
        if (!rc && a->kind == PL_TRACE_MODIFY && !s->rep->killed)
            rc = touch(s, va, PL_WRITE);
        if (rc || s->rep->killed)
            return rc;
        uint64_t next = (va | 0xFFF) + 1;
        if (next == 0 || next > last)
            return 0;
        va = next;
    }
}

/* Splits the simulated cycles by cause from the counters and the cost
 * model: what is not a TLB hit, a walk or a fault delivery stays "other"
 * (register writes, invalidations). */
static void split_cycles(struct pl_replay_report *rep, const struct pl_cost_model *c)
{
    uint64_t l1 = 0, l2 = 0, psc = 0;
    for (int z = 0; z < PL_PAGE_SIZES; z++) {
        l1 += rep->tlb.hits[PL_TLB_L1D][z] + rep->tlb.hits[PL_TLB_L1I][z];
        l2 += rep->tlb.hits[PL_TLB_L2][z];
    }
    for (int i = 0; i < PL_PSC_LEVELS; i++)
        psc += rep->tlb.psc_hits[i];
    rep->cycles_tlb = l1 * c->tlb_l1_hit + l2 * c->tlb_l2_hit;
    rep->cycles_walk = rep->cpu.walk_refs * c->walk_ref + psc * c->psc_hit;
    rep->cycles_fault = (rep->cpu.page_faults + rep->cpu.gp_faults) * c->fault;
    uint64_t known = rep->cycles_tlb + rep->cycles_walk + rep->cycles_fault;
    rep->cycles_other = rep->cpu.cycles > known ? rep->cpu.cycles - known : 0;
    rep->cycles_kernel = rep->kernel.cycles;
    rep->cycles_total = known + rep->cycles_other + rep->cycles_kernel;
}

/* Returns seconds on the host's monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int pl_replay_run(struct pl_trace_reader *r, const struct pl_replay_config *cfg, struct pl_replay_report *rep)
{
    memset(rep, 0, sizeof *rep);
    if (pl_replay_config_check(cfg, NULL, 0))
        return PL_EINVAL;
    const struct pl_trace_header *h = pl_trace_header(r);
    if (h->page_size == 4096)
        rep->distinct_pages = h->distinct_pages;

    struct pl_machine *m = NULL;
    struct pl_kernel *k = NULL;
    struct replay s = {.rep = rep};
    struct pl_kernel_config kc;
    pl_kernel_config_default(&kc);
    kc.history = false; /* a history of every entry written would grow with the trace */
    kc.swap = cfg->swap;
    kc.swap.next_use = NULL;
    kc.huge_anon = cfg->page_shift == 21; /* every mapped block is an aligned 2 MiB */
    rep->have_swap = cfg->swap.slots != 0;
    struct opt_future opt = {0};
    bool use_opt = cfg->swap.slots && cfg->swap.policy == PL_RECLAIM_OPT;
    if (use_opt && !cfg->lookahead)
        return PL_EINVAL;
    struct pl_trace_access *buf = malloc(REPLAY_BATCH * sizeof *buf);
    int rc = buf ? 0 : PL_ENOMEM;
    if (!rc && use_opt) {
        rc = opt_first_pass(&opt, cfg->lookahead, buf);
        s.opt = &opt;
        kc.swap.next_use = opt_oracle;
        kc.swap.next_use_ctx = &opt;
    }
    if (!rc)
        rc = pl_machine_new(&cfg->machine, &m);
    if (!rc)
        rc = pl_kernel_new(m, &kc, &k);
    if (!rc)
        rc = pl_proc_spawn(k, &s.p) ? PL_ENOMEM : 0;
    if (rc)
        goto out;
    s.k = k;
    s.cpu = m->cpu[0];
    s.user_top = pl_kernel_user_top(k);
    pl_proc_set_signal_handler(s.p, abandon, NULL);
    pl_proc_activate(s.p);
    pl_cpu_reset_stats(s.cpu);

    double t0 = now();
    uint64_t next_progress = cfg->progress_every;
    long got;
    while (!rc && !rep->killed && (got = pl_trace_next(r, buf, REPLAY_BATCH)) != 0) {
        if (got < 0) {
            rc = (int)got;
            break;
        }
        for (long i = 0; i < got && !rc && !rep->killed; i++)
            rc = replay_one(&s, &buf[i]);
        rep->accesses += (uint64_t)got;
        if (cfg->progress && rep->accesses >= next_progress) {
            cfg->progress(cfg->progress_ctx, rep->accesses, h->accesses);
            next_progress = rep->accesses + cfg->progress_every;
        }
    }
    rep->host_seconds = now() - t0;
    if (rep->killed) /* the accesses counted by kind are those actually replayed */
        rep->accesses = rep->by_kind[0] + rep->by_kind[1] + rep->by_kind[2] + rep->by_kind[3];

    rep->kernel = *pl_kernel_stats(k);
    rep->cpu = *pl_cpu_stats(s.cpu);
    rep->tlb = *pl_tlb_stats(pl_cpu_tlb(s.cpu));
    pl_kernel_swap_stats(k, &rep->swap);
    if (pl_proc_state(s.p) == PL_PROC_RUNNING)
        rep->resident_pages = pl_proc_stats(s.p)->resident;
    split_cycles(rep, pl_cpu_cost(s.cpu));
out:
    free(buf);
    free(opt.next);
    free(opt.map.key);
    free(opt.map.val);
    free(s.blocks.slot);
    if (k)
        pl_kernel_free(k);
    if (m)
        pl_machine_free(m);
    return rc;
}
