# Sourced by run_cases.sh and run_scenarios.sh: running ptelab on the files
# of a directory and comparing what it did with the files beside them
# (NAME.expected, NAME.exit, NAME.stderr), counting passes and failures.
#
# Sets and uses: ptelab (the program, absolute), tmp (a scratch directory,
# removed at exit; a run writes $tmp/out and $tmp/err), passed and failed
# (the counts), problems (an array: what is wrong with the current check).

# compare_start PTELAB: sets ptelab to PTELAB made absolute, makes tmp and
# zeroes the counts. Exits 2 when PTELAB is not an executable.
compare_start() {
    ptelab=$1
    case $ptelab in
        /*) ;;
        *) ptelab=$PWD/$ptelab ;;
    esac
    if [ ! -x "$ptelab" ]; then
        echo "$0: $ptelab is not an executable" >&2
        exit 2
    fi
    tmp=$(mktemp -d) || exit 2
    trap 'rm -rf "$tmp"' EXIT
    passed=0
    failed=0
}

# compare_with_files NAME STATUS: sets problems to what a run that exited
# with STATUS and wrote $tmp/out and $tmp/err does wrong against the files
# of NAME in the current directory:
#   - the exit status must be the number in NAME.exit, or 0 without one;
#   - standard output must equal NAME.expected byte for byte (with a
#     NAME.exit and no NAME.expected it must be empty);
#   - standard error must contain the text of NAME.stderr, if there is one.
compare_with_files() {
    local name=$1 status=$2 want_status=0 want_err got_err
    problems=()
    if [ -f "$name.exit" ]; then
        want_status=$(tr -d ' \t\r\n' <"$name.exit")
    fi
    if [ "$status" != "$want_status" ]; then
        problems+=("exit status $status, expected $want_status")
    fi

    if [ -f "$name.expected" ]; then
        if ! cmp -s "$tmp/out" "$name.expected"; then
            problems+=("standard output differs from $name.expected:"
                "$(diff -u "$name.expected" "$tmp/out" | tail -n +3 | head -n 40)")
        fi
    elif [ -f "$name.exit" ]; then
        if [ -s "$tmp/out" ]; then
            problems+=("standard output should be empty:" "$(head -n 10 "$tmp/out")")
        fi
    else
        problems+=("no $name.expected")
    fi

    if [ -f "$name.stderr" ]; then
        want_err=$(cat "$name.stderr")
        got_err=$(cat "$tmp/err")
        if [[ "$got_err" != *"$want_err"* ]]; then
            problems+=("standard error does not contain: $want_err" "standard error was: $got_err")
        fi
    fi
}

# tally LABEL: counts the check as passed when problems is empty; else as
# failed, printing "FAIL LABEL" and each problem indented.
tally() {
    if [ ${#problems[@]} -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $1"
        printf '  %s\n' "${problems[@]}"
    fi
}

# compare_end WHAT: prints "N passed, N failed". Exits 1, saying "no WHAT",
# when nothing was checked; returns 1 when a check failed, else 0.
compare_end() {
    echo "$passed passed, $failed failed"
    if [ $((passed + failed)) -eq 0 ]; then
        echo "no $1" >&2
        exit 1
    fi
    [ "$failed" -eq 0 ]
}
