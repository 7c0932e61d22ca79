#!/usr/bin/env bash
# The command line itself: usage errors exit 2 with a message, I/O errors 1,
# standard input as '-', --help and --version.
#
#   cli_usage.sh PTELAB VERSION CASE_DIR
set -u
ptelab=$1
version=$2
cases=$3
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# check NAME WANT_STATUS STDOUT_SUBSTRING STDERR_SUBSTRING -- ARGS...
# (runs with standard input from $tmp/in; an empty substring: that stream
# must be empty)
# expect FILE TEXT NAME: appends to $problems unless FILE contains TEXT, or
# is empty when TEXT is.
expect() {
    if [ -z "$2" ]; then
        [ ! -s "$1" ] || problems+=" $3 should be empty;"
    else
        grep -qF -- "$2" "$1" || problems+=" $3 lacks '$2';"
    fi
}

check() {
    local name=$1 want=$2 out_want=$3 err_want=$4
    shift 5
    "$ptelab" "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
    local status=$? problems=""
    [ "$status" = "$want" ] || problems+=" status $status (want $want);"
    expect "$tmp/out" "$out_want" stdout
    expect "$tmp/err" "$err_want" stderr
    if [ -n "$problems" ]; then
        failed=$((failed + 1))
        echo "FAIL $name:$problems"
        sed 's/^/  stdout: /' "$tmp/out" | head -n 5
        sed 's/^/  stderr: /' "$tmp/err" | head -n 5
    else
        passed=$((passed + 1))
    fi
}

: >"$tmp/in"
check no-arguments 2 "" "usage: ptelab COMMAND" --
check unknown-command 2 "" "ptelab: unknown command 'frob'" -- frob
check unknown-global-option 2 "" "ptelab: unknown option '--frob'" -- --frob
check help 0 "walk [--explain] FILE|-" "" -- --help
check version 0 "ptelab $version" "" -- --version
check walk-help 0 "--explain" "" -- walk --help
check walk-without-file 2 "" "ptelab walk: missing FILE" -- walk
check walk-two-files 2 "" "ptelab walk: one FILE only ('a' and 'b' given)" -- walk a b
check walk-unknown-option 2 "" "ptelab walk: unknown option '--explian'" -- walk --explian x.case
check walk-missing-file 1 "" "ptelab walk: cannot open '$tmp/none.case'" -- walk "$tmp/none.case"
check walk-directory 1 "" "ptelab walk: cannot read '$tmp'" -- walk "$tmp"

cp "$cases/format_example.case" "$tmp/in"
check walk-stdin 0 "w 3 0x0000000000001234 pf 0x0007" "" -- walk -
check walk-explain-stdin 0 "    denied by R/W: user write to a read-only page" "" -- walk --explain -
check walk-explain-after-file 0 "    result: ok, PA 0x0000000000005234" "" -- walk - --explain
check walk-dash-dash 0 "r 3 0x0000000000001234 ok" "" -- walk -- -
printf 'cr3 0x1000\naccess r 3 0x1000 ac ac\n' >"$tmp/in"
check walk-stdin-error-names-stdin 2 "" "<stdin>:2: access: unexpected 'ac' after 'ac'" -- walk -

if [ -w /dev/full ]; then
    "$ptelab" walk "$cases/format_example.case" >/dev/full 2>"$tmp/err"
    status=$?
    if [ "$status" = 1 ] && grep -qF "cannot write standard output" "$tmp/err"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL walk-full-disk: status $status, stderr: $(cat "$tmp/err")"
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
