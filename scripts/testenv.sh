# Sourced by every test entry point (scripts/test-*.sh, the Makefile):
#   testenv_clean            forget the user's cloud, Kubernetes and Pulumi settings
#   testenv_gotest LIST [-v] ARGS…   go test -json ARGS, printed as go test prints it,
#                            each skipped test named with its reason and added to LIST
#   testenv_skips TITLE LIST…        list the skipped tests; under CI=true any fails
# shellcheck shell=bash

TESTENV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The suite must give the same result in any shell: the SDKs and providers read
# these (the Kubernetes provider's kubeconfig from KUBECONFIG, AWS and Azure
# credentials, regions and profiles, Pulumi's backend and home), and the README's
# own quickstarts tell users to export some of them. The tests set what they need
# themselves, after this (the emulator scripts set AWS_ENDPOINT_URL and friends).
testenv_clean() {
  local v
  for v in $(compgen -e); do
    case "$v" in
      KUBECONFIG | AWS_* | AZURE_* | ARM_* | PULUMI_*) unset "$v" ;;
    esac
  done
}

# The skip lists of one make invocation's steps, one file each.
testenv_skiplist() { # step name → path, emptied
  mkdir -p "$TESTENV_ROOT/.build/skipped"
  local f="$TESTENV_ROOT/.build/skipped/$1.txt"
  : >"$f"
  printf '%s' "$f"
}

testenv_gotest() {
  local list="$1" verbose=()
  shift
  if [ "${1:-}" = -v ]; then verbose=(-v); shift; fi
  local report="$TESTENV_ROOT/.build/bin/testreport"
  (cd "$TESTENV_ROOT/tools/testreport" && "${GO:-go}" build -o "$report" .)
  "${GO:-go}" test -json "$@" | "$report" -skips "$list" "${verbose[@]}"
}

testenv_skips() {
  local title="$1" n
  shift
  n="$(cat "$@" 2>/dev/null | grep -c . || true)"
  if [ "$n" = 0 ]; then
    echo "$title: no test was skipped."
    return 0
  fi
  echo "$title: $n test(s) skipped:"
  cat "$@" | sed 's/^/  SKIP /'
  if [ "${CI:-}" = true ]; then
    echo "CI=true: a skipped test fails the run (give it what it needs, or remove it)." >&2
    return 1
  fi
}
