/* `ptelab run [-v] FILE|- [ARGS...]`: runs a Lua 5.4 scenario script with
 * the ptelab module (docs/scripting.md). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "cli/commands.h"
#include "script/script.h"

#define RUN_SYNOPSIS "usage: ptelab run [-v] FILE|- [ARGS...]\n"

static const char run_usage[] =
    RUN_SYNOPSIS
    "\n"
    "Runs the Lua 5.4 script FILE ('-': standard input) with the ptelab module\n"
    "loaded as the global 'ptelab' (docs/scripting.md). ARGS go to the script\n"
    "in the global table 'arg' (arg[0] is FILE) and as '...'. Options come\n"
    "before FILE; everything after FILE is the script's.\n"
    "\n"
    "Exit status: 0 when the script ends, 1 on a Lua error (reported as\n"
    "FILE:LINE: message on standard error), 2 on a usage error; os.exit(N)\n"
    "ends the run with status N.\n"
    "\n"
    "  -v, --verbose  print a traceback after a Lua error\n"
    "  -h, --help     this text\n";

struct run {
    const char *path; /* NULL: standard input */
    int argc;         /* script arguments, argv[0] the script's name */
    char **argv;
    bool verbose;
};

/* The message of the error object at idx, as a string on the stack top. */
static const char *error_text(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER)
        return lua_pushstring(L, lua_tostring(L, idx));
    if (luaL_callmeta(L, idx, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        return lua_tostring(L, -1);
    return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
}

/* Message handlers of the script's call: the plain one keeps the message
 * as it is ("FILE:LINE: message"); the verbose one adds a traceback. */
static int plain_message(lua_State *L)
{
    error_text(L, 1);
    return 1;
}

static int traceback_message(lua_State *L)
{
    luaL_traceback(L, L, error_text(L, 1), 1);
    return 1;
}

/* Runs in protected mode: the libraries, the module, arg, then the script. */
static int run_main(lua_State *L)
{
    struct run *r = lua_touserdata(L, 1);
    luaL_openlibs(L);
    lua_pushcfunction(L, script_open);
    lua_call(L, 0, 0);

    lua_createtable(L, r->argc, 1);
    lua_pushstring(L, "ptelab run");
    lua_rawseti(L, -2, -1);
    for (int i = 0; i < r->argc; i++) {
        lua_pushstring(L, r->argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");

    lua_pushcfunction(L, r->verbose ? traceback_message : plain_message);
    int msgh = lua_gettop(L);
    int rc = luaL_loadfile(L, r->path);
    if (rc == LUA_ERRFILE) {
        lua_pushfstring(L, "ptelab run: %s", lua_tostring(L, -1));
        return lua_error(L);
    }
    if (rc != LUA_OK)
        return lua_error(L); /* a syntax error: "FILE:LINE: message" */
    for (int i = 1; i < r->argc; i++)
        lua_pushstring(L, r->argv[i]);
    if (lua_pcall(L, r->argc - 1, 0, msgh) != LUA_OK)
        return lua_error(L);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    struct run r = {0};
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            r.verbose = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(run_usage, stdout);
            return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ptelab run: unknown option '%s'\n" RUN_SYNOPSIS, a);
            return CLI_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        fputs("ptelab run: missing FILE (use '-' for standard input)\n" RUN_SYNOPSIS, stderr);
        return CLI_USAGE;
    }
    r.path = strcmp(argv[i], "-") == 0 ? NULL : argv[i];
    r.argc = argc - i;
    r.argv = argv + i;

    lua_State *L = luaL_newstate();
    if (!L) {
        fputs("ptelab run: out of memory\n", stderr);
        return CLI_FAILED;
    }
    lua_pushcfunction(L, run_main);
    lua_pushlightuserdata(L, &r);
    int status = CLI_OK;
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fflush(stdout);
        fprintf(stderr, "%s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object is not a string)");
        status = CLI_FAILED;
    }
    lua_close(L);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("ptelab run: cannot write standard output\n", stderr);
        status = CLI_FAILED;
    }
    return status;
}
