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
. "$(dirname "${BASH_SOURCE[0]}")/compare_lib.sh"

if [ $# -ne 2 ]; then
    echo "usage: $0 PTELAB DIR" >&2
    exit 2
fi
compare_start "$1"
dir=$2
cd "$dir" || exit 2

shopt -s nullglob
for c in *.case; do
    name=${c%.case}
    "$ptelab" walk "$c" >"$tmp/out" 2>"$tmp/err" </dev/null
    compare_with_files "$name" $?
    tally "$name"
done

compare_end "*.case files in $dir"
