/* Trace replay throughput on one host core (issue 4, item 8):
 *
 *   (a) replay with ample memory (1 GiB of simulated RAM): accesses per
 *       second of host time, the trace's decoding included;
 *   (b) replay under memory pressure: 4 MiB of RAM (the smallest machine,
 *       about 480 frames for the process) with 64 MiB of swap and CLOCK
 *       reclaim, on the synthetic trace (2069 pages: the ls trace's 440
 *       pages fit in 4 MiB, so it puts no pressure on any machine);
 *   (c) the trace's size on disk per access.
 *
 * The trace is a real program's, `ls -la /usr/bin` recorded under Valgrind
 * with `ptelab trace record` (the ptelab next to this bench, or argv[1]),
 * when valgrind is installed; otherwise a synthetic one written with the
 * trace writer (a loop's fetches, stack and heap loads and stores), and the
 * table says which. Each figure is the best of several rounds. */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptelab/replay.h"
#include "ptelab/trace.h"

#define TARGET_ACCESSES_PER_S 50e6
#define TARGET_BYTES_PER_ACCESS 2.0
#define ROUNDS 3
#define SYNTH_ACCESSES (UINT64_C(20) << 20)

/* Writes a synthetic trace of SYNTH_ACCESSES to path: a 64 KiB code loop,
 * stack traffic in 16 KiB, and a stride over 8 MiB of heap. Returns 0 or -1. */
static int synthesize(const char *path)
{
    struct pl_trace_meta meta = {.program = "synthetic", .date = 0, .page_size = 4096};
    struct pl_trace_writer *w;
    if (pl_trace_writer_open(path, &meta, 0, &w))
        return -1;
    static struct pl_trace_access buf[4096];
    uint64_t x = 88172645463325252u, done = 0;
    int rc = 0;
    while (!rc && done < SYNTH_ACCESSES) {
        for (size_t i = 0; i < 4096; i++, done++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint64_t r = x % 100;
            if (r < 70)
                buf[i] = (struct pl_trace_access){0x400000 + (done * 4) % 65536, 4, PL_TRACE_INSTR};
            else if (r < 85)
                buf[i] = (struct pl_trace_access){0x7ffd0000 + (x >> 20) % 16384, 8, PL_TRACE_LOAD};
            else if (r < 95)
                buf[i] = (struct pl_trace_access){0x7ffd0000 + (x >> 20) % 16384, 8, PL_TRACE_STORE};
            else
                buf[i] = (struct pl_trace_access){0x10000000 + (done * 64) % (8 << 20), 8, PL_TRACE_MODIFY};
        }
        rc = pl_trace_write(w, buf, 4096);
    }
    int crc = pl_trace_writer_close(w, NULL);
    return rc || crc ? -1 : 0;
}

/* Records `ls -la /usr/bin` into path with ptelab. Returns 0 or -1. */
static int record(const char *ptelab, const char *path)
{
    if (system("command -v valgrind >/dev/null 2>&1") != 0 || access(ptelab, X_OK) != 0)
        return -1;
    char cmd[4096 + 256];
    int n = snprintf(cmd, sizeof cmd, "'%s' trace record -o '%s' -- ls -la /usr/bin >/dev/null 2>&1", ptelab, path);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

/* Replays path ROUNDS times under ram bytes, with swap_bytes of swap
 * (0: none); returns the best accesses/s (0 on error) and the last report
 * in *rep. */
static double replay_best(const char *path, uint64_t ram, uint64_t swap_bytes, struct pl_replay_report *rep)
{
    double best = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct pl_trace_reader *r;
        struct pl_trace_error err;
        if (pl_trace_open(path, &r, &err)) {
            fprintf(stderr, "bench/replay: %s: %s\n", path, err.msg);
            return 0;
        }
        struct pl_replay_config cfg;
        pl_replay_config_default(&cfg);
        cfg.machine.ram_size = ram;
        if (swap_bytes)
            pl_replay_config_swap(&cfg, swap_bytes, PL_RECLAIM_CLOCK);
        int rc = pl_replay_run(r, &cfg, rep);
        pl_trace_close(r);
        if (rc) {
            fprintf(stderr, "bench/replay: replay failed (%d)\n", rc);
            return 0;
        }
        double rate = rep->host_seconds > 0 ? (double)rep->accesses / rep->host_seconds : 0;
        if (rate > best)
            best = rate;
    }
    return best;
}

int main(int argc, char **argv)
{
    char ptelab[4096];
    if (argc > 1) {
        snprintf(ptelab, sizeof ptelab, "%s", argv[1]);
    } else {
        char self[4096];
        snprintf(self, sizeof self, "%s", argv[0]);
        snprintf(ptelab, sizeof ptelab, "%s/../ptelab", dirname(self));
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/ptelab-bench-replay-%d.pltrace", (int)getpid());
    const char *source = "ls -la /usr/bin, recorded under valgrind";
    if (record(ptelab, path) != 0) {
        source = "synthetic (valgrind or ptelab missing)";
        if (synthesize(path) != 0) {
            fprintf(stderr, "bench/replay: cannot write %s\n", path);
            return 1;
        }
    }
    struct pl_trace_reader *r;
    struct pl_trace_error err;
    if (pl_trace_open(path, &r, &err)) {
        fprintf(stderr, "bench/replay: %s: %s\n", path, err.msg);
        remove(path);
        return 1;
    }
    const struct pl_trace_header *h = pl_trace_header(r);
    uint64_t accesses = h->accesses, pages = h->distinct_pages;
    double per = accesses ? (double)(h->header_bytes + h->compressed_bytes) / (double)accesses : 0;
    pl_trace_close(r);

    struct pl_replay_report rep, prep;
    double ample = replay_best(path, UINT64_C(1) << 30, 0, &rep);
    remove(path);
    double pressure = 0;
    if (synthesize(path) == 0)
        pressure = replay_best(path, UINT64_C(4) << 20, UINT64_C(64) << 20, &prep);
    remove(path);

    printf("trace: %s: %" PRIu64 " accesses, %" PRIu64 " distinct pages\n", source, accesses, pages);
    printf("%-40s %14s %12s %s\n", "measure", "value", "target", "met");
    printf("%-40s %14.1f %12s %s\n", "replay, ample memory (M accesses/s)", ample / 1e6, ">= 50",
           ample >= TARGET_ACCESSES_PER_S ? "yes" : "NO");
    printf("%-40s %14.1f %12s %s\n", "replay, under pressure (M accesses/s)", pressure / 1e6, "-", "(no target)");
    printf("%-40s %14.3f %12s %s\n", "trace bytes per access", per, "<= 2", per <= TARGET_BYTES_PER_ACCESS ? "yes" : "NO");
    printf("(ample: %" PRIu64 " page faults, %" PRIu64 " walks, best of %d rounds)\n", rep.kernel.faults,
           rep.cpu.walks, ROUNDS);
    printf("(pressure: synthetic trace, %" PRIu64 " page faults, %" PRIu64 " swap-ins, %" PRIu64
           " swap-outs, %" PRIu64 " OOM kills)\n",
           prep.kernel.faults, prep.swap.swap_ins, prep.swap.swap_outs, prep.swap.oom_kills);
    return ample > 0 && pressure > 0 ? 0 : 1;
}
