#!/usr/bin/env bash
# Runs every walk case of a directory through the command line.
#
#   run_cases.sh PTELAB DIR
#
# For each DIR/NAME.case, in name order, runs `PTELAB walk NAME.case` in DIR
# and checks:
#   - standard output equals NAME.expected byte for byte (a case with a
#     NAME.exit may omit NAME.expected: its output must then be empty);
#   - the exit status is the number in NAME.exit, or 0 without one;
#   - standard error contains the text of NAME.stderr, if there is one.
# Prints what differs for each failing case, then "N passed, N failed"; exits
# 1 when a case failed or there was none.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 PTELAB DIR" >&2
    exit 2
fi
ptelab=$1
dir=$2
case $ptelab in
    /*) ;;
    *) ptelab=$PWD/$ptelab ;;
esac
if [ ! -x "$ptelab" ]; then
    echo "$0: $ptelab is not an executable" >&2
    exit 2
fi
cd "$dir" || exit 2

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
shopt -s nullglob
for c in *.case; do
    name=${c%.case}
    problems=()
    "$ptelab" walk "$c" >"$tmp/out" 2>"$tmp/err" </dev/null
    status=$?

    want_status=0
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

    if [ ${#problems[@]} -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        printf '  %s\n' "${problems[@]}"
    fi
done

echo "$passed passed, $failed failed"
if [ $((passed + failed)) -eq 0 ]; then
    echo "no *.case files in $dir" >&2
    exit 1
fi
[ "$failed" -eq 0 ]
