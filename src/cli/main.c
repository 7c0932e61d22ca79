/* `ptelab`: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

#ifndef PTELAB_VERSION
#error "the build defines PTELAB_VERSION (see src/meson.build)"
#endif

static const char usage[] =
    "usage: ptelab COMMAND [ARGS]\n"
    "       ptelab --help | --version\n"
    "\n"
    "commands:\n"
    "  walk [--explain] FILE|-   perform the accesses of a walk case and print\n"
    "                            what the MMU does (FILE '-': standard input)\n"
    "  run [-v] FILE|- [ARGS...] run a Lua scenario script (docs/scripting.md)\n"
    "  trace SUBCOMMAND ...      record (under Valgrind), import and inspect\n"
    "                            memory traces (docs/trace-format.md)\n"
    "\n"
    "'ptelab COMMAND --help' describes a command; docs/cli.md has the reference.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
    }
    if (strcmp(cmd, "--version") == 0) {
        puts("ptelab " PTELAB_VERSION);
        return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
    }
    if (strcmp(cmd, "walk") == 0)
        return cmd_walk(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "trace") == 0)
        return cmd_trace(argc - 1, argv + 1);
    if (cmd[0] == '-')
        fprintf(stderr, "ptelab: unknown option '%s'\n", cmd);
    else
        fprintf(stderr, "ptelab: unknown command '%s'\n", cmd);
    fputs("run 'ptelab --help' for the commands\n", stderr);
    return CLI_USAGE;
}
