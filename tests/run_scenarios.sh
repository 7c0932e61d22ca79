#!/usr/bin/env bash
# Runs the Lua scenarios through the command line.
#
#   run_scenarios.sh PTELAB SOURCE_ROOT
#
# For each NAME.lua of SOURCE_ROOT/examples and SOURCE_ROOT/tests/scenarios,
# in name order, runs `PTELAB run NAME.lua ARGS` in its directory (ARGS: the
# words of NAME.args, if there is one) and checks:
#   - standard output equals NAME.expected byte for byte (a scenario with a
#     NAME.exit may omit NAME.expected: its output must then be empty);
#   - the exit status is the number in NAME.exit, or 0 without one;
#   - standard error contains the text of NAME.stderr, if there is one, and
#     is empty when there is neither NAME.stderr nor NAME.exit; a Lua error
#     (status 1) is one line, "FILE:LINE: message", with no traceback.
# Then checks the command line of `ptelab run` itself (options, standard
# input, arguments, usage errors, -v).
#
# The outputs show physical addresses and history sequence numbers, which
# change when the kernel allocates differently. PTELAB_UPDATE_EXPECTED=1
# rewrites every NAME.expected from the current output (review the diff).
# Prints what differs for each failing check, then "N passed, N failed";
# exits 1 when one failed or there was none.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/compare_lib.sh"

if [ $# -ne 2 ]; then
    echo "usage: $0 PTELAB SOURCE_ROOT" >&2
    exit 2
fi
compare_start "$1"
root=$2

shopt -s nullglob
for dir in "$root/examples" "$root/tests/scenarios"; do
    cd "$dir" || exit 2
    for script in *.lua; do
        name=${script%.lua}
        args=()
        if [ -f "$name.args" ]; then
            read -r -a args <"$name.args"
        fi
        "$ptelab" run "$script" "${args[@]}" >"$tmp/out" 2>"$tmp/err" </dev/null
        status=$?

        if [ "${PTELAB_UPDATE_EXPECTED:-}" = 1 ] && { [ -f "$name.expected" ] || [ ! -f "$name.exit" ]; }; then
            cp "$tmp/out" "$name.expected"
        fi

        compare_with_files "$name" "$status"
        if [ ! -f "$name.stderr" ] && [ ! -f "$name.exit" ] && [ -s "$tmp/err" ]; then
            problems+=("standard error should be empty:" "$(head -n 10 "$tmp/err")")
        fi
        if [ "$status" = 1 ] && [ "$(wc -l <"$tmp/err")" -gt 1 ]; then
            problems+=("a Lua error should be reported in one line:" "$(head -n 10 "$tmp/err")")
        fi
        tally "${dir#"$root"/}/$name"
    done
done

# check NAME WANT_STATUS STDOUT_TEXT STDERR_TEXT STDIN_TEXT -- ARGS...: runs
# PTELAB ARGS in tests/scenarios with STDIN_TEXT on standard input; an
# empty STDOUT_TEXT or STDERR_TEXT means that stream must be empty.
check() {
    local name=$1 want=$2 out_want=$3 err_want=$4 input=$5 problems=()
    shift 6
    (cd "$root/tests/scenarios" && printf '%s' "$input" | "$ptelab" "$@" >"$tmp/out" 2>"$tmp/err")
    local status=$?
    [ "$status" = "$want" ] || problems+=("exit status $status, expected $want")
    if [ -z "$out_want" ]; then
        [ ! -s "$tmp/out" ] || problems+=("standard output should be empty: $(head -n 3 "$tmp/out")")
    elif ! grep -qF -- "$out_want" "$tmp/out"; then
        problems+=("standard output lacks: $out_want" "it was: $(head -n 5 "$tmp/out")")
    fi
    if [ -z "$err_want" ]; then
        [ ! -s "$tmp/err" ] || problems+=("standard error should be empty: $(head -n 3 "$tmp/err")")
    elif ! grep -qF -- "$err_want" "$tmp/err"; then
        problems+=("standard error lacks: $err_want" "it was: $(head -n 5 "$tmp/err")")
    fi
    tally "run-$name"
}

check help 0 "usage: ptelab run [-v] FILE|- [ARGS...]" "" "" -- run --help
check listed-in-help 0 "run [-v] FILE|- [ARGS...]" "" "" -- --help
check no-file 2 "" "ptelab run: missing FILE (use '-' for standard input)" "" -- run
check only-options 2 "" "ptelab run: missing FILE" "" -- run -v
check unknown-option 2 "" "ptelab run: unknown option '--frob'" "" -- run --frob args.lua
check missing-file 1 "" "ptelab run: cannot open no_such_script.lua" "" -- run no_such_script.lua
check directory 1 "" "ptelab run: cannot read" "" -- run .
check stdin 0 $'stdin\t4096\tx' "" 'print("stdin", ptelab.PAGE_SIZE, ...)' -- run - x
check stdin-args 0 $'stdin\t4096\tx\ty' "" 'print("stdin", ptelab.PAGE_SIZE, ...)' -- run - x y
check stdin-error 1 "a" "stdin:2: boom" $'print("a")\nerror("boom")' -- run -
check dash-dash 0 $'#arg\t0' "" "" -- run -- args.lua
check script-options 0 $'1\t-v' "" "" -- run args.lua -v --frob
check verbose-traceback 1 "" "stack traceback:" "" -- run -v error_in_handler.lua
check verbose-message 1 "" "error_in_handler.lua:4: unexpected SEGV_MAPERR at 0x10000" "" -- run --verbose error_in_handler.lua
if [ -w /dev/full ]; then
    (cd "$root/tests/scenarios" && "$ptelab" run args.lua >/dev/full 2>"$tmp/err" </dev/null)
    status=$?
    if [ "$status" = 1 ] && grep -qF "ptelab run: cannot write standard output" "$tmp/err"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL run-full-disk: status $status, stderr: $(cat "$tmp/err")"
    fi
fi

compare_end "*.lua scenarios under $root"
