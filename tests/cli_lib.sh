# Sourced by the command-line test scripts (trace_cli.sh, replay_cli.sh).

# cli_setup NAME PTELAB [MODE]: sets $ptelab (absolute path), $mode, $dir (a
# temporary folder removed at exit) and $failures.
cli_setup() {
  ptelab=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
  mode=${3:-}
  dir=$(mktemp -d "/tmp/ptelab-$1.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
  failures=0
}

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect STATUS PATTERN CMD...: runs CMD, checks its exit status and that
# its stdout+stderr match the grep -E PATTERN.
expect() {
  want=$1 pattern=$2
  shift 2
  "$@" >"$dir/out" 2>&1
  got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want: $(cat "$dir/out")"
  grep -Eq -- "$pattern" "$dir/out" || fail "'$*' output does not match '$pattern': $(cat "$dir/out")"
}
