/* The subcommands of `ptelab`, each a main() of its own, and the exit
 * statuses they share. */
#ifndef PTELAB_CLI_COMMANDS_H
#define PTELAB_CLI_COMMANDS_H

enum {
    CLI_OK = 0,
    CLI_FAILED = 1, /* the input could not be read, the output not written */
    CLI_USAGE = 2   /* a bad command line or a malformed input file */
};

/* `ptelab walk [--explain] FILE|-`: argv[0] is "walk". Returns an exit
 * status. */
int cmd_walk(int argc, char **argv);

/* `ptelab run [-v] FILE|- [ARGS...]`: argv[0] is "run". Returns an exit
 * status. */
int cmd_run(int argc, char **argv);

/* `ptelab trace record|import|info|curve ...`: argv[0] is "trace".
 * Returns an exit status. */
int cmd_trace(int argc, char **argv);

/* `ptelab trace curve ...` (docs/trace-curve.md): argv[0] is "curve".
 * Returns an exit status. */
int cmd_trace_curve(int argc, char **argv);

/* `ptelab trace replay ...` (docs/cli.md): argv[0] is "replay". Returns an
 * exit status. */
int cmd_trace_replay(int argc, char **argv);

#endif
