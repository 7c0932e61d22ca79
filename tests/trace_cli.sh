#!/bin/sh
# Usage: trace_cli.sh PTELAB [record]
# Without 'record': `ptelab trace import` and `trace info` on reference
# strings, damaged traces and bad command lines; `trace record` without
# valgrind on PATH. With 'record': records `ls /` under valgrind and checks
# `trace info` (exit 77, meson's "skip", when valgrind is not installed).
set -u
. "$(dirname "$0")/cli_lib.sh"
cli_setup trace-cli "$1" "${2:-}"

if [ "$mode" = record ]; then
  if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP: valgrind is not installed (apt-get install valgrind)"
    exit 77
  fi
  cd "$dir" || exit 1
  expect 0 'wrote ls\.pltrace: [0-9]+ bytes, [0-9.]+ bytes per access' "$ptelab" trace record -- ls /
  expect 0 '^program: +ls$' "$ptelab" trace info ls.pltrace
  grep -Eq '^arguments: +/$' "$dir/out" || fail "info: arguments: $(cat "$dir/out")"
  accesses=$(sed -n 's/^accesses: *//p' "$dir/out")
  [ "${accesses:-0}" -gt 1000 ] || fail "only ${accesses:-no} accesses recorded"
  per=$(sed -n 's/^bytes per access: *//p' "$dir/out")
  awk -v p="${per:-9}" 'BEGIN { exit !(p > 0 && p <= 2) }' || fail "bytes per access: ${per:-missing}"
  for k in I L S; do
    n=$(sed -n "s/^  $k [a-z ]* \([0-9]*\)\$/\1/p" "$dir/out")
    [ "${n:-0}" -gt 0 ] || fail "no $k accesses: $(cat "$dir/out")"
  done
  expect 0 '"accesses": [0-9]+, "by_kind": \{"I": [1-9]' "$ptelab" trace info --json ls.pltrace
  expect 0 'wrote '"$dir"'/t\.pltrace' "$ptelab" trace record -o "$dir/t.pltrace" /bin/true
  # A program that does not exist: valgrind fails, nothing is kept.
  expect 1 'no accesses' "$ptelab" trace record -o "$dir/none.pltrace" -- /nonexistent/prog
  [ ! -e "$dir/none.pltrace" ] || fail "a failed record left its file"
  [ "$failures" = 0 ] || exit 1
  echo "trace record: ok"
  exit 0
fi

# Belady's string, with a comment, a blank line and CRLF.
printf '# Belady\n1\n2\n3\n4\n1\n2\n5\n\n1\n2\n3 # again\r\n4\n5\n' >"$dir/belady.txt"
expect 0 'imported 12 references to 5 distinct pages of 4096 bytes' \
  "$ptelab" trace import -o "$dir/belady.pltrace" "$dir/belady.txt"
expect 0 '^accesses: +12$' "$ptelab" trace info "$dir/belady.pltrace"
grep -Eq '^  L loads +12$' "$dir/out" || fail "info: $(cat "$dir/out")"
grep -Eq '^distinct pages: +5$' "$dir/out" || fail "info: $(cat "$dir/out")"
expect 0 '"page_size": 2097152, "accesses": 12' sh -c \
  "\"$ptelab\" trace import --page-size 2M -o \"$dir/b2.pltrace\" - <\"$dir/belady.txt\" >/dev/null && \"$ptelab\" trace info --json \"$dir/b2.pltrace\""
(cd "$dir" && "$ptelab" trace import belady.txt >/dev/null) || fail "import with the default name"
[ -f "$dir/belady.pltrace" ] || fail "no belady.pltrace"
# The same string several numbers to a line, some in hex: the same trace,
# and the same string for `trace curve --refs` (one tokenizer for both).
printf '1 2 3 4\t0x1 0X2 5 # Belady\n\n1 2\r\n0x3\v4 5\n' >"$dir/belady-wide.txt"
expect 0 'imported 12 references to 5 distinct pages of 4096 bytes' \
  "$ptelab" trace import -o "$dir/wide.pltrace" "$dir/belady-wide.txt"
expect 0 '^accesses: +12$' "$ptelab" trace info "$dir/wide.pltrace"
grep -Eq '^distinct pages: +5$' "$dir/out" || fail "info: $(cat "$dir/out")"
"$ptelab" trace curve --policies fifo --sizes 3,4 --csv - "$dir/belady.pltrace" >"$dir/c1" 2>&1
"$ptelab" trace curve --policies fifo --sizes 3,4 --csv - "$dir/wide.pltrace" >"$dir/c2" 2>&1
"$ptelab" trace curve --policies fifo --sizes 3,4 --csv - --refs "$dir/belady-wide.txt" >"$dir/c3" 2>&1
[ "$(cat "$dir/c1")" = "$(printf 'frames,fifo\n3,9\n4,10')" ] || fail "Belady's anomaly: $(cat "$dir/c1")"
cmp -s "$dir/c1" "$dir/c2" || fail "the wide string's trace differs: $(cat "$dir/c2")"
cmp -s "$dir/c1" "$dir/c3" || fail "curve --refs reads the wide string differently: $(cat "$dir/c3")"
expect 0 'imported 3 references to 1 distinct pages of 4096 bytes' sh -c \
  "printf '0xfffffffffffff 4503599627370495 0XFFFFFFFFFFFFF' | \"$ptelab\" trace import -o \"$dir/hex.pltrace\" -"

# Bad reference strings name the line; nothing is left behind.
printf '1\n2\nthree\n' >"$dir/bad.txt"
expect 2 "/bad\\.txt:3: bad page number 'three' \\(expected decimal or 0x hexadecimal\\)$" \
  "$ptelab" trace import -o "$dir/bad.pltrace" "$dir/bad.txt"
[ ! -e "$dir/bad.pltrace" ] || fail "a failed import left its file"
printf '1 2\n3 0x 4\n' >"$dir/bad2.txt"
expect 2 "/bad2\\.txt:2: bad page number '0x' \\(expected decimal or 0x hexadecimal\\)$" \
  "$ptelab" trace import -o "$dir/bad2.pltrace" "$dir/bad2.txt"
[ ! -e "$dir/bad2.pltrace" ] || fail "a failed import left its file"
printf '1\n2 \0003\n' >"$dir/nul.txt"
expect 2 '/nul\.txt:2: NUL byte in a reference string$' "$ptelab" trace import -o "$dir/nul.pltrace" "$dir/nul.txt"
printf '\n\n0x10000000000000000\n' >"$dir/wide.txt"
expect 2 "/wide\\.txt:3: page number '0x10000000000000000' does not fit in 64 bits$" \
  "$ptelab" trace import -o "$dir/w.pltrace" "$dir/wide.txt"
printf '4503599627370496\n' >"$dir/big.txt"
expect 2 'big\.txt:1: page 4503599627370496 lies beyond 2\^64 bytes' \
  "$ptelab" trace import -o "$dir/big.pltrace" "$dir/big.txt"
expect 2 "bad page size '3000'" "$ptelab" trace import --page-size 3000 "$dir/belady.txt"
expect 1 "cannot open '$dir/missing.txt'" "$ptelab" trace import "$dir/missing.txt"

# Damaged traces: the byte offset, exit 2.
size=$(wc -c <"$dir/belady.pltrace")
head -c $((size - 3)) "$dir/belady.pltrace" >"$dir/cut.pltrace"
expect 2 "cut\\.pltrace: byte $((size - 3)): truncated" "$ptelab" trace info "$dir/cut.pltrace"
head -c 40 "$dir/belady.pltrace" >"$dir/cut2.pltrace"
expect 2 "cut2\\.pltrace: byte 40: truncated" "$ptelab" trace info "$dir/cut2.pltrace"
cp "$dir/belady.pltrace" "$dir/flip.pltrace"
printf '\377' | dd of="$dir/flip.pltrace" bs=1 seek=$((size - 6)) conv=notrunc 2>/dev/null
expect 2 'flip\.pltrace: byte [0-9]+: ' "$ptelab" trace info "$dir/flip.pltrace"
expect 2 'belady\.txt: byte 0: not a ptelab trace' "$ptelab" trace info "$dir/belady.txt"
# Version 2 (the header checksum then fails too, but the version is checked first).
cp "$dir/belady.pltrace" "$dir/v2.pltrace"
printf '\002' | dd of="$dir/v2.pltrace" bs=1 seek=8 conv=notrunc 2>/dev/null
expect 2 'byte 8: trace format version 2 is newer than this ptelab reads \(up to version 1\); upgrade ptelab' \
  "$ptelab" trace info "$dir/v2.pltrace"
expect 1 "cannot open" "$ptelab" trace info "$dir/missing.pltrace"

# Command lines.
expect 2 'missing subcommand' "$ptelab" trace
expect 2 "unknown subcommand 'play'" "$ptelab" trace play
expect 0 'usage: ptelab trace record' "$ptelab" trace --help
expect 2 'missing FILE' "$ptelab" trace info
expect 2 "unknown option '--xml'" "$ptelab" trace info --xml x
expect 2 'missing REFS' "$ptelab" trace import
expect 2 'missing CMD' "$ptelab" trace record -o x.pltrace --
expect 2 "missing FILE after '-o'" "$ptelab" trace record -o

# Without valgrind on PATH, record says how to install it.
expect 1 'apt-get install valgrind' env PATH=/nonexistent "$ptelab" trace record -o "$dir/x.pltrace" -- ls
[ ! -e "$dir/x.pltrace" ] || fail "record without valgrind left a file"

[ "$failures" = 0 ] || exit 1
echo "trace cli: ok"
