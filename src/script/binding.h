/* Internal to src/script: the userdata types of the binding and the helpers
 * its files share. A machine owns the simulated machine and its kernel; a
 * process or shared-memory object holds its machine as user value 1, so a
 * machine outlives every handle to its contents. Handles name processes by
 * pid and check, on every use, that their machine is still open. */
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
enum { MACHINE_UV_PROCS = 1, MACHINE_UV_HANDLERS = 2, MACHINE_UVS = 2 };

struct lmachine {
    struct pl_machine *m;
    struct pl_kernel *k;         /* NULL once closed */
    struct script_state *st;
    struct access_frame *access; /* innermost access in progress, NULL when none */
    unsigned access_depth;       /* accesses in progress (handlers nest them) */
    struct lshm *shms;           /* objects whose creator reference is still held */
};

struct lproc {
    struct lmachine *mb;
    int pid;
};

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

#endif
