/* The Lua 5.4 binding of ptelab (docs/scripting.md): the `ptelab` module a
 * scenario script uses to build machines, run processes and print what the
 * page tables do. Used by `ptelab run`, the Lua fuzz target and tests. */
#ifndef PTELAB_SCRIPT_SCRIPT_H
#define PTELAB_SCRIPT_SCRIPT_H

#include <stdint.h>
#include <stdio.h>

#include <lua.h>

/* Limits and output of one Lua state's use of the module. Zero fields take
 * the defaults. */
struct script_options {
    FILE *out;             /* where the views print; NULL: stdout */
    uint64_t max_ram;      /* the largest machine a script may build, bytes; 0: no limit */
    unsigned max_machines; /* machines open at once; 0: no limit */
    size_t history_limit;  /* when not 0, caps every machine's history (and is the default) */
    uint64_t max_map_len;  /* the largest mmap length or shm size, bytes; 0: no limit */
};

/* A lua_CFunction: opens the module with the options at the light userdata
 * argument 1 (NULL or absent: defaults), sets the global `ptelab` and
 * package.loaded.ptelab (when the package library is open) and returns the
 * module table. Call it with lua_pcall: it allocates, so it may raise a
 * memory error. */
int script_open(lua_State *L);

/* Runs the kernel's invariant checker on every machine of L still open.
 * Returns 0, or PL_EINVAL with the first problem in msg. Raises nothing. */
int script_check_machines(lua_State *L, char *msg, size_t msglen);

#endif
