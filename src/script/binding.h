/* Internal to src/script: the userdata types of the binding and the helpers
 * its files share. A machine owns the simulated machine and its kernel; a
 * process, thread or shared-memory object holds its machine as user value
 * 1, so a machine outlives every handle to its contents. Handles name
 * processes by pid and check, on every use, that their machine is still
 * open. */
#ifndef PTELAB_SCRIPT_BINDING_H
#define PTELAB_SCRIPT_BINDING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <lauxlib.h>
#include <lua.h>

#include "ptelab/kernel.h"
#include "ptelab/machine.h"
#include "ptelab/proc.h"
#include "script/script.h"

#define LMACHINE_MT "ptelab.machine"
#define LPROC_MT "ptelab.process"
#define LSHM_MT "ptelab.shm"
#define LTHREAD_MT "ptelab.thread"

/* Per Lua state (a userdata in the registry). */
struct script_state {
    struct script_options opt;
    unsigned open_machines;
};

/* One process access (read, write, fetch) in progress; they nest when a
 * signal handler makes accesses of its own. */
struct access_frame {
    lua_State *L;               /* the thread making the access: handlers run on it */
    bool handler_failed;        /* a handler raised an error, left on L's stack top */
    struct access_frame *outer;
};

struct lshm;

/* User values of a machine userdata. */
enum { MACHINE_UV_PROCS = 1, MACHINE_UV_HANDLERS = 2, MACHINE_UV_THREADS = 3, MACHINE_UVS = 3 };

struct lmachine {
    struct pl_machine *m;
    struct pl_kernel *k;         /* NULL once closed */
    struct script_state *st;
    struct access_frame *access; /* innermost access in progress, NULL when none */
    unsigned access_depth;       /* accesses in progress (handlers nest them) */
    struct lshm *shms;           /* objects whose creator reference is still held */
    unsigned shootdown;          /* the kernel's settings, for m:config(): enum pl_shootdown_protocol */
    uint64_t sched_seed;         /* as configured (0: the machine's seed) */
};

struct lproc {
    struct lmachine *mb;
    int pid;
};

/* A thread of process pid. The kernel keeps a thread's struct until its
 * process is reaped, so t is valid while the machine is open and
 * pl_kernel_proc(pid) finds the process (lthread_check). */
struct lthread {
    struct lmachine *mb;
    struct pl_thread *t;
    int pid, tid;
    unsigned cpu;
};

/* Who makes a call: a process (its main thread, through pl_proc_* and
 * pl_sys_*) or one of its threads (pl_thread_*). */
struct caller {
    struct lmachine *mb;
    struct pl_proc *p;
    struct pl_thread *t; /* NULL: the process itself */
};

/* A kind of handle that makes calls: its metatable, and how to get the
 * caller from a handle of that kind (raising when its machine is closed or
 * its process is gone). The methods both kinds share take one of these. */
struct caller_type {
    const char *mt;
    const char *const *mmap_keys; /* the options its mmap takes */
    void (*get)(lua_State *L, int idx, struct caller *c);
};
extern const struct caller_type proc_caller_type, thread_caller_type;

struct lshm {
    struct lmachine *mb;
    struct pl_shm *shm;          /* NULL once released (or the machine closed) */
    uint64_t size;
    struct lshm *next, **prev_next;
};

/* lua_machine.c */
void lmachine_register(lua_State *L);
int lmachine_new(lua_State *L);
/* The open machine at idx (raises an error when closed or not a machine). */
struct lmachine *lmachine_check(lua_State *L, int idx);
/* Pushes the handle of process pid of the machine at midx (one per pid). */
void lmachine_push_proc(lua_State *L, int midx, int pid);
/* Pushes the machine userdata of mb (kept in a weak registry table). */
void lmachine_push(lua_State *L, const struct lmachine *mb);
struct script_state *script_state_get(lua_State *L);
/* Raises an error naming `what` when len is above the run's max_map_len. */
void check_map_len(lua_State *L, uint64_t len, const char *what);
/* Creates the per-state record when absent; sets its options when opt. */
void script_state_init(lua_State *L, const struct script_options *opt);

/* lua_proc.c */
void lproc_register(lua_State *L);
/* The process of the handle at idx, its machine open (raises otherwise). */
struct pl_proc *lproc_check(lua_State *L, int idx, struct lproc **w);
/* Copies the Lua signal handler of pid from to pid to (fork). */
void lproc_copy_handler(lua_State *L, struct lmachine *mb, int from, int to);
/* Marks the start of an access of mb by the Lua code on L: until
 * access_leave, faults the kernel cannot fix run the process's Lua signal
 * handler. Raises when handlers nest too deep. */
void access_enter(lua_State *L, struct lmachine *mb, struct access_frame *fr);
/* Ends it, and raises the error a handler raised, if one did. */
void access_leave(lua_State *L, struct lmachine *mb, struct access_frame *fr);
/* The methods processes and threads share (p:read, t:read, ...), for a
 * handle of type ct at argument 1. */
int caller_read(lua_State *L, const struct caller_type *ct);
int caller_write(lua_State *L, const struct caller_type *ct);
int caller_fetch(lua_State *L, const struct caller_type *ct);
int caller_mmap(lua_State *L, const struct caller_type *ct);
int caller_munmap(lua_State *L, const struct caller_type *ct);
int caller_mprotect(lua_State *L, const struct caller_type *ct);

/* lua_thread.c: threads and the scheduler (docs/scripting.md, Threads). */
void lthread_register(lua_State *L);
/* The thread of the handle at idx; raises when its machine is closed or
 * its process is gone. Ended threads are returned: pl_thread_* answer
 * -ESRCH for them. */
struct pl_thread *lthread_check(lua_State *L, int idx, struct lthread **w);

/* lua_smp.c: views of several CPUs: events, violations, per-CPU counters
 * and TLB contents. */
void lsmp_register(lua_State *L);

/* lua_shm.c */
void lshm_register(lua_State *L);
int lshm_new(lua_State *L);
/* The live object of the handle at idx, of machine mb; raises an error
 * naming `what` otherwise. */
struct pl_shm *lshm_check(lua_State *L, int idx, struct lmachine *mb, const char *what);
/* Drops every creator reference mb's handles hold (the machine closes). */
void lshm_release_all(struct lmachine *mb);

/* lua_pkey.c: the protection-key process methods and the sandbox type. */
void lpkey_register(lua_State *L);
/* WRPKRU and RDPKRU (p:wrpkru, t:wrpkru, ...) for a handle of type ct. */
int caller_wrpkru(lua_State *L, const struct caller_type *ct);
int caller_rdpkru(lua_State *L, const struct caller_type *ct);

/* lua_swap.c: swap, reclaim and OOM methods; the constructor's `swap`
 * table at idx into sc (raises on bad fields). */
void lswap_register(lua_State *L);
void lswap_parse_config(lua_State *L, int idx, struct pl_swap_config *sc);

/* lua_device.c: device memory, ioremap, the cache (docs/memory-types.md). */
void ldevice_register(lua_State *L);

/* lua_util.c */
/* Pushes nil, the errno's name ("EINVAL") and its number; returns 3. err
 * is positive or negative. */
int push_errno(lua_State *L, int err);
/* A call's result: true for rc 0, else push_errno(rc). */
int push_result(lua_State *L, int rc);
/* A 32-bit unsigned argument; raises naming `what` otherwise. */
uint32_t check_u32(lua_State *L, int idx, const char *what);
/* Add methods to every process / every machine: modules beyond the core
 * (pkeys, swap, devices) extend the method tables the core registered. */
void add_proc_methods(lua_State *L, const luaL_Reg *methods);
void add_machine_methods(lua_State *L, const luaL_Reg *methods);
/* Pushes a signal's report: {addr, code, kind, error_code, pkey}. */
void push_siginfo(lua_State *L, const struct pl_siginfo *si);
const char *errno_name(int err);
/* A byte count: an integer >= 0, or a string "16M", "4K", "2GiB", "4096". */
uint64_t check_size(lua_State *L, int idx, const char *what);
/* Region rights: "rwx"-letters (any order, '-' allowed), "none", or raw bits. */
unsigned check_prot(lua_State *L, int idx, const char *what);
/* Raises an error naming `func` when the table at idx has a string key
 * outside `keys` (NULL-terminated) or a key that is not a string. */
void check_table_keys(lua_State *L, int idx, const char *func, const char *const *keys);
/* Optional fields of the options table at idx: absent (nil) leaves *out. */
bool opt_field_bool(lua_State *L, int idx, const char *func, const char *key, bool *out);
bool opt_field_integer(lua_State *L, int idx, const char *func, const char *key, lua_Integer *out);
/* "0x%016llx" into buf (19 bytes). */
const char *hex64(char buf[static 19], uint64_t v);
/* The output of the views. */
FILE *script_out(lua_State *L);

/* lua_view.c: printing, and decoding of entries. */
/* Describes a paging-structure entry of level (1 = PT ... 5) in buf:
 * "empty", "not present", "P=1 RW=1 US=1 A=0 D=0 G=0 XD=1 frame 0x...". */
const char *describe_entry(char *buf, size_t len, uint64_t entry, int level);
/* The entry mapping va in the tables of root: stores its value, address and
 * level, and returns true; false when a table on the way is not present or
 * va is not canonical. Reads memory, changes nothing. */
bool lookup_entry(struct pl_kernel *k, uint64_t root, uint64_t va, uint64_t *entry, uint64_t *entry_pa, int *level);
void view_page_table(FILE *f, struct pl_kernel *k, struct pl_proc *p);
/* The walk of va by p (kind enum pl_access_kind, at cpl) as the hardware
 * would do it, explained entry by entry; A/D bits the walk sets are put
 * back. Returns whether the access would complete. */
bool view_walk(FILE *f, struct pl_kernel *k, struct pl_proc *p, uint64_t va, unsigned kind, unsigned cpl);
struct history_filter {
    bool by_pid, by_addr, by_level;
    int pid;
    uint64_t addr;
    int level;
    int why;          /* -1: any */
};
bool history_match(const struct history_filter *flt, const struct pl_pte_write *w);
void view_history_record(FILE *f, const struct pl_pte_write *w);

/* lua_stats.c */
/* Pushes the machine's counters as a table of tables. */
void push_stats(lua_State *L, struct lmachine *mb);
void print_stats(FILE *f, struct lmachine *mb);
void push_proc_stats(lua_State *L, const struct pl_proc_stats *s);
/* Pushes CPU cpu's counters: {smp, cpu, tlb}. */
void push_cpu_stats(lua_State *L, struct lmachine *mb, unsigned cpu);

#endif
