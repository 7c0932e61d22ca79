/* `ptelab trace replay`: a trace run through one simulated process under a
 * chosen machine, and the report of what the MMU and the kernel did
 * (docs/cli.md, include/ptelab/replay.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "ptelab/error.h"
#include "ptelab/replay.h"
#include "ptelab/trace.h"

#define REPLAY_SYNOPSIS                                                                       \
    "usage: ptelab trace replay [--ram SIZE] [--levels 4|5] [--tlb-l1d N/W] [--tlb-l1i N/W]\n" \
    "                           [--tlb-l2 N/W] [--pages 4k|2m] [--swap SIZE] [--policy P]\n"   \
    "                           [--json] [--progress auto|always|never] FILE\n"

static const char replay_usage[] =
    REPLAY_SYNOPSIS
    "\n"
    "Replays a trace through one simulated process: each access at CPL 3\n"
    "through the CPU's TLBs and page walker, faults handled by the kernel.\n"
    "An access to an address with no region maps the 2 MiB-aligned block\n"
    "around it (anonymous, private, read/write/execute, MAP_FIXED).\n"
    "\n"
    "  --ram SIZE        RAM of the machine: a multiple of 2 MiB, 4M..64G, with\n"
    "                    K, M or G (default 1G)\n"
    "  --levels 4|5      paging levels (default 4)\n"
    "  --tlb-l1d N/W     4 KiB entries and ways of the L1 data TLB (default 64/4)\n"
    "  --tlb-l1i N/W     the same for the L1 instruction TLB (default 128/8)\n"
    "  --tlb-l2 N/W      the same for the L2 TLB (default 1536/12)\n"
    "  --pages 4k|2m     page size of the anonymous regions (2m: 2 MiB pages where\n"
    "                    a free 2 MiB of RAM is left, else 4 KiB)\n"
    "  --swap SIZE       a swap device of SIZE (K, M, G; up to 64G); 0: none\n"
    "                    (the default, unless --policy is given: then 1G)\n"
    "  --policy P        page replacement: fifo, lru, clock (the default),\n"
    "                    active-inactive or opt; lru sees only the pages the\n"
    "                    kernel handles (faults), as replayed accesses bypass it;\n"
    "                    opt (Belady) reads the trace twice and keeps 8 bytes per\n"
    "                    page reference (up to 2^27 references)\n"
    "  --json            the report as one JSON object\n"
    "  --progress WHEN   a progress bar on standard error: auto (when it is a\n"
    "                    terminal and the trace is long), always or never\n"
    "  -h, --help        this text\n";

/* Parses a size with an optional K, M, G suffix (binary). Returns 0 or -1. */
static int parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-')
        return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end == 'i' && shift)
        end++;
    if (*end == 'B' && shift)
        end++;
    if (*end || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* Parses "N/W" into g. Returns 0 or -1. */
static int parse_geometry(const char *s, struct pl_tlb_geometry *g)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(s, &end, 10);
    if (end == s || *end != '/' || errno || *s == '-')
        return -1;
    const char *w = end + 1;
    unsigned long ways = strtoul(w, &end, 10);
    if (end == w || *end || errno || *w == '-' || n > PL_TLB_MAX_ENTRIES || ways > n || ways == 0 || n % ways)
        return -1;
    unsigned long sets = n / ways;
    if (sets & (sets - 1))
        return -1;
    g->entries = (uint32_t)n;
    g->ways = (uint32_t)ways;
    return 0;
}

/* The progress bar: one line on standard error, redrawn in place. */
static void progress_bar(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    if (!total)
        return;
    int pct = done >= total ? 100 : (int)(done * 100 / total);
    char bar[41];
    int fill = pct * 40 / 100;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(40 - fill));
    bar[40] = '\0';
    fprintf(stderr, "\rreplay [%s] %3d%% %" PRIu64 "/%" PRIu64, bar, pct, done, total);
    fflush(stderr);
}

/* Prints rep as text. */
static void print_text(const char *path, const struct pl_replay_report *rep, const struct pl_replay_config *cfg)
{
    static const char *const tlb_names[PL_TLBS] = {"L1D", "L1I", "L2"};
    const struct pl_kernel_stats *k = &rep->kernel;
    bool huge = cfg->page_shift == 21;
    printf("replay of %s: RAM %" PRIu64 " MiB, %u-level paging, %s pages\n", path, cfg->machine.ram_size >> 20,
           cfg->machine.levels, huge ? "2 MiB" : "4 KiB");
    printf("accesses:          %" PRIu64 " (I %" PRIu64 ", L %" PRIu64 ", S %" PRIu64 ", M %" PRIu64 ")\n",
           rep->accesses, rep->by_kind[0], rep->by_kind[1], rep->by_kind[2], rep->by_kind[3]);
    printf("translations:      %" PRIu64 " (one per page an access touches, two for M)\n", rep->translations);
    printf("distinct pages:    %" PRIu64 "\n", rep->distinct_pages);
    printf("regions mapped:    %" PRIu64 " blocks of 2 MiB\n", rep->regions_mapped);
    if (rep->unmapped || rep->failed)
        printf("not replayed:      %" PRIu64 " translations outside any possible region, %" PRIu64
               " accesses failed\n",
               rep->unmapped, rep->failed);
    if (rep->killed)
        printf("process killed:    the rest of the trace was not replayed\n");
    printf("page faults:       %" PRIu64 " (zero-fill %" PRIu64 ", huge %" PRIu64 ", cow-copy %" PRIu64
           ", cow-reuse %" PRIu64 ", shared %" PRIu64 ", spurious %" PRIu64 ", signals %" PRIu64 ")\n",
           k->faults, k->zero_fill, k->thp_fault, k->cow_copy, k->cow_reuse, k->shared_page, k->spurious,
           k->signals);
    if (huge)
        printf("huge pages:        %" PRIu64 " mapped by faults, %" PRIu64 " fell back to 4 KiB, %" PRIu64
               " split\n",
               k->thp_fault, k->thp_fallback, k->thp_split);
    if (rep->have_swap)
        printf("swap (%s): %" PRIu64 " in (+%" PRIu64 " from the swap cache), %" PRIu64 " out (%" PRIu64
               " written, %" PRIu64 " clean drops), %" PRIu64 " OOM kills\n",
               pl_reclaim_policy_name(cfg->swap.policy), rep->swap.swap_ins, rep->swap.swapcache_hits,
               rep->swap.swap_outs, rep->swap.swap_writes, rep->swap.clean_drops, rep->swap.oom_kills);
    else
        printf("swap:              none\n");
    printf("resident at end:   %" PRIu64 " pages, %" PRIu64 " page-table pages\n", rep->resident_pages,
           k->pt_pages);
    for (int t = 0; t < PL_TLBS; t++) {
        uint64_t hits = 0, misses = 0;
        for (int z = 0; z < PL_PAGE_SIZES; z++)
            hits += rep->tlb.hits[t][z];
        for (int z = 0; z <= PL_PAGE_SIZES; z++)
            misses += rep->tlb.misses[t][z];
        double rate = hits + misses ? 100.0 * (double)hits / (double)(hits + misses) : 0.0;
        printf("TLB %-3s            %" PRIu64 " hits", tlb_names[t], hits);
        if (huge)
            printf(" (%" PRIu64 " by 2 MiB entries)", rep->tlb.hits[t][PL_PAGE_2M]);
        printf(", %" PRIu64 " misses (%.2f%% hits)\n", misses, rate);
    }
    double per = rep->cpu.walks ? (double)rep->cpu.walk_refs / (double)rep->cpu.walks : 0.0;
    printf("walks:             %" PRIu64 ", %" PRIu64 " references (%.2f per walk)\n", rep->cpu.walks,
           rep->cpu.walk_refs, per);
    printf("simulated cycles:  %" PRIu64 "\n", rep->cycles_total);
    printf("  TLB hits         %" PRIu64 "\n", rep->cycles_tlb);
    printf("  page walks       %" PRIu64 "\n", rep->cycles_walk);
    printf("  fault delivery   %" PRIu64 "\n", rep->cycles_fault);
    printf("  kernel work      %" PRIu64 "\n", rep->cycles_kernel);
    printf("  other            %" PRIu64 "\n", rep->cycles_other);
    double rate = rep->host_seconds > 0 ? (double)rep->accesses / rep->host_seconds : 0.0;
    printf("host time:         %.3f s, %.2f M accesses/s\n", rep->host_seconds, rate / 1e6);
}

/* Prints s as a JSON string. */
static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* Prints rep as one JSON object. */
static void print_json(const char *path, const struct pl_replay_report *rep, const struct pl_replay_config *cfg)
{
    static const char *const tlb_names[PL_TLBS] = {"l1d", "l1i", "l2"};
    const struct pl_kernel_stats *k = &rep->kernel;
    printf("{\"file\": ");
    json_string(path);
    printf(", \"ram\": %" PRIu64 ", \"levels\": %u, \"page_size\": %llu", cfg->machine.ram_size,
           cfg->machine.levels, 1ull << cfg->page_shift);
    printf(", \"accesses\": %" PRIu64 ", \"by_kind\": {\"I\": %" PRIu64 ", \"L\": %" PRIu64 ", \"S\": %" PRIu64
           ", \"M\": %" PRIu64 "}",
           rep->accesses, rep->by_kind[0], rep->by_kind[1], rep->by_kind[2], rep->by_kind[3]);
    printf(", \"translations\": %" PRIu64 ", \"distinct_pages\": %" PRIu64 ", \"regions_mapped\": %" PRIu64
           ", \"unmapped\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"killed\": %s",
           rep->translations, rep->distinct_pages, rep->regions_mapped, rep->unmapped, rep->failed,
           rep->killed ? "true" : "false");
    printf(", \"faults\": {\"total\": %" PRIu64 ", \"zero_fill\": %" PRIu64 ", \"huge\": %" PRIu64
           ", \"cow_copy\": %" PRIu64 ", \"cow_reuse\": %" PRIu64 ", \"shared_page\": %" PRIu64
           ", \"spurious\": %" PRIu64 ", \"signals\": %" PRIu64 "}",
           k->faults, k->zero_fill, k->thp_fault, k->cow_copy, k->cow_reuse, k->shared_page, k->spurious,
           k->signals);
    printf(", \"huge_pages\": {\"faults\": %" PRIu64 ", \"fallbacks\": %" PRIu64 ", \"splits\": %" PRIu64 "}",
           k->thp_fault, k->thp_fallback, k->thp_split);
    if (rep->have_swap)
        printf(", \"swap\": {\"policy\": \"%s\", \"slots\": %" PRIu64 ", \"ins\": %" PRIu64
               ", \"swapcache_hits\": %" PRIu64 ", \"outs\": %" PRIu64 ", \"writes\": %" PRIu64
               ", \"clean_drops\": %" PRIu64 ", \"oom_kills\": %" PRIu64 "}",
               pl_reclaim_policy_name(cfg->swap.policy), cfg->swap.slots, rep->swap.swap_ins,
               rep->swap.swapcache_hits, rep->swap.swap_outs, rep->swap.swap_writes, rep->swap.clean_drops,
               rep->swap.oom_kills);
    else
        printf(", \"swap\": null");
    printf(", \"resident_pages\": %" PRIu64 ", \"pt_pages\": %" PRIu64, rep->resident_pages, k->pt_pages);
    printf(", \"tlb\": {");
    for (int t = 0; t < PL_TLBS; t++) {
        uint64_t hits = 0, misses = 0;
        for (int z = 0; z < PL_PAGE_SIZES; z++)
            hits += rep->tlb.hits[t][z];
        for (int z = 0; z <= PL_PAGE_SIZES; z++)
            misses += rep->tlb.misses[t][z];
        printf("%s\"%s\": {\"hits\": %" PRIu64 ", \"hits_2m\": %" PRIu64 ", \"misses\": %" PRIu64 "}",
               t ? ", " : "", tlb_names[t], hits, rep->tlb.hits[t][PL_PAGE_2M], misses);
    }
    double per = rep->cpu.walks ? (double)rep->cpu.walk_refs / (double)rep->cpu.walks : 0.0;
    printf("}, \"walks\": %" PRIu64 ", \"walk_refs\": %" PRIu64 ", \"refs_per_walk\": %.4f", rep->cpu.walks,
           rep->cpu.walk_refs, per);
    printf(", \"cycles\": {\"total\": %" PRIu64 ", \"tlb\": %" PRIu64 ", \"walks\": %" PRIu64
           ", \"faults\": %" PRIu64 ", \"kernel\": %" PRIu64 ", \"other\": %" PRIu64 "}",
           rep->cycles_total, rep->cycles_tlb, rep->cycles_walk, rep->cycles_fault, rep->cycles_kernel,
           rep->cycles_other);
    double rate = rep->host_seconds > 0 ? (double)rep->accesses / rep->host_seconds : 0.0;
    printf(", \"host_seconds\": %.6f, \"accesses_per_second\": %.0f}\n", rep->host_seconds, rate);
}

/* Refuses a bad command line: prints msg and the synopsis. */
static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "ptelab trace replay: %s '%s'\n" REPLAY_SYNOPSIS, msg, arg);
    return CLI_USAGE;
}

int cmd_trace_replay(int argc, char **argv)
{
    struct pl_replay_config cfg;
    pl_replay_config_default(&cfg);
    const char *path = NULL;
    bool json = false, options = true;
    int progress = -1; /* -1 auto, 0 never, 1 always */
    int policy = -1;   /* -1: not given */
    uint64_t swap_bytes = UINT64_MAX; /* UINT64_MAX: not given */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options || a[0] != '-' || strcmp(a, "-") == 0) {
            if (path) {
                fprintf(stderr, "ptelab trace replay: one FILE only ('%s' and '%s' given)\n" REPLAY_SYNOPSIS,
                        path, a);
                return CLI_USAGE;
            }
            path = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options = false;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(replay_usage, stdout);
            return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        static const char *const with_value[] = {"--ram",   "--levels", "--tlb-l1d",  "--tlb-l1i", "--tlb-l2",
                                                 "--pages", "--policy", "--progress", "--swap"};
        int opt = -1;
        for (int j = 0; j < (int)(sizeof with_value / sizeof *with_value); j++)
            if (strcmp(a, with_value[j]) == 0)
                opt = j;
        if (opt < 0)
            return usage_error("unknown option", a);
        if (i + 1 >= argc) {
            fprintf(stderr, "ptelab trace replay: %s needs a value\n" REPLAY_SYNOPSIS, a);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        switch (opt) {
        case 0:
            if (parse_bytes(v, &cfg.machine.ram_size))
                return usage_error("--ram: not a size", v);
            break;
        case 1:
            if (strcmp(v, "4") && strcmp(v, "5"))
                return usage_error("--levels: 4 or 5, not", v);
            cfg.machine.levels = (unsigned)(v[0] - '0');
            break;
        case 2:
        case 3:
        case 4:
            if (parse_geometry(v, &cfg.machine.tlb.tlb[opt - 2].size[PL_PAGE_4K]))
                return usage_error("TLB geometry N/W: N entries, W ways dividing N, N/W a power of two; not", v);
            break;
        case 5:
            if (strcmp(v, "4k") == 0 || strcmp(v, "4K") == 0)
                cfg.page_shift = 12;
            else if (strcmp(v, "2m") == 0 || strcmp(v, "2M") == 0)
                cfg.page_shift = 21;
            else
                return usage_error("--pages: 4k or 2m, not", v);
            break;
        case 6:
            policy = -1;
            for (unsigned j = 0; j <= PL_RECLAIM_OPT; j++)
                if (strcmp(v, pl_reclaim_policy_name(j)) == 0)
                    policy = (int)j;
            if (policy < 0)
                return usage_error("--policy: fifo, lru, clock, active-inactive or opt, not", v);
            break;
        case 7:
            if (strcmp(v, "auto") == 0)
                progress = -1;
            else if (strcmp(v, "always") == 0)
                progress = 1;
            else if (strcmp(v, "never") == 0)
                progress = 0;
            else
                return usage_error("--progress: auto, always or never, not", v);
            break;
        case 8:
            if (parse_bytes(v, &swap_bytes))
                return usage_error("--swap: not a size", v);
            break;
        }
    }
    if (!path) {
        fputs("ptelab trace replay: missing FILE\n" REPLAY_SYNOPSIS, stderr);
        return CLI_USAGE;
    }
    if (swap_bytes == UINT64_MAX)
        swap_bytes = policy >= 0 ? UINT64_C(1) << 30 : 0;
    if (swap_bytes)
        pl_replay_config_swap(&cfg, swap_bytes, policy >= 0 ? (unsigned)policy : PL_RECLAIM_CLOCK);
    else if (policy >= 0)
        return usage_error("--policy needs swap to replace pages, not --swap", "0");
    char msg[160];
    if (pl_replay_config_check(&cfg, msg, sizeof msg)) {
        fprintf(stderr, "ptelab trace replay: %s\n", msg);
        return CLI_USAGE;
    }
    struct pl_trace_reader *r;
    struct pl_trace_error err;
    int rc = pl_trace_open(path, &r, &err);
    if (rc) {
        if (rc == PL_EPARSE)
            fprintf(stderr, "%s: byte %" PRIu64 ": %s\n", path, err.offset, err.msg);
        else
            fprintf(stderr, "ptelab trace replay: '%s': %s\n", path, err.msg[0] ? err.msg : strerror(errno));
        return rc == PL_EPARSE ? CLI_USAGE : CLI_FAILED;
    }
    bool bar = progress == 1 || (progress == -1 && isatty(STDERR_FILENO) &&
                                 pl_trace_header(r)->accesses >= (UINT64_C(1) << 24));
    if (bar) {
        cfg.progress = progress_bar;
        cfg.progress_every = UINT64_C(1) << 20;
    }
    struct pl_trace_reader *ahead = NULL;
    if (cfg.swap.slots && cfg.swap.policy == PL_RECLAIM_OPT) {
        if (pl_trace_header(r)->accesses > PL_REPLAY_OPT_MAX_REFS) {
            fprintf(stderr,
                    "ptelab trace replay: --policy opt keeps 8 bytes per reference: %" PRIu64
                    " accesses exceed its limit of %" PRIu64 "\n",
                    pl_trace_header(r)->accesses, PL_REPLAY_OPT_MAX_REFS);
            pl_trace_close(r);
            return CLI_USAGE;
        }
        if (pl_trace_open(path, &ahead, &err)) {
            fprintf(stderr, "ptelab trace replay: '%s': %s\n", path, err.msg[0] ? err.msg : strerror(errno));
            pl_trace_close(r);
            return CLI_FAILED;
        }
        cfg.lookahead = ahead;
    }
    struct pl_replay_report rep;
    rc = pl_replay_run(r, &cfg, &rep);
    if (ahead && rc == PL_EPARSE && pl_trace_error(ahead)->msg[0])
        err = *pl_trace_error(ahead);
    else if (rc == PL_EPARSE)
        err = *pl_trace_error(r);
    pl_trace_close(ahead);
    if (bar)
        fputc('\n', stderr);
    if (rc) {
        if (rc == PL_ERANGE) {
            fprintf(stderr, "ptelab trace replay: --policy opt: more than %" PRIu64 " page references\n",
                    PL_REPLAY_OPT_MAX_REFS);
        } else if (rc == PL_EPARSE) {
            fprintf(stderr, "%s: byte %" PRIu64 ": %s\n", path, err.offset, err.msg);
        } else {
            fprintf(stderr, "ptelab trace replay: '%s': %s\n", path, pl_strerror(rc));
        }
        pl_trace_close(r);
        return rc == PL_EPARSE ? CLI_USAGE : CLI_FAILED;
    }
    if (json)
        print_json(path, &rep, &cfg);
    else
        print_text(path, &rep, &cfg);
    pl_trace_close(r);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
}
