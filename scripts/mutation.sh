#!/usr/bin/env bash
# Mutation testing with gremlins v0.6.0, one package at a time: each mutant (a
# flipped condition, a changed operator) is built and the package's own tests run
# against it; a mutant the tests do not notice "lives". Prints, per package,
# killed / lived / not covered / efficacy (killed / (killed + lived)) and the time
# taken, lists every mutant that lived, and fails when a package's efficacy is below
# EDW_MUTATION_THRESHOLD (default 90) or when a lived mutant is not explained in
# scripts/mutation-survivors.md (a line naming its file:line:column and type).
# Equivalent mutants (no test could tell them from the code) are listed there
# with the reason; "w/o equiv" is the efficacy with them set aside, and only an
# unexplained survivor or that number below the threshold fails the run.
#
#   scripts/mutation.sh                      every workload/internal package
#   scripts/mutation.sh workload/internal/message stacks
#
# The workload packages run with the emulators up (their backend tests need them);
# root-module packages (stacks, infra/...) relink a large binary for every mutant:
# see the README for how long each takes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threshold="${EDW_MUTATION_THRESHOLD:-90}"
survivors="$root/scripts/mutation-survivors.md"

pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  for d in "$root"/workload/internal/*/; do
    pkgs+=("workload/internal/$(basename "$d")")
  done
fi

work="$(mktemp -d)"
# shellcheck source=../tools/emulators/emulators.sh
source "$root/tools/emulators/emulators.sh"
cleanup() { emu_stop; rm -rf "$work"; }
trap cleanup EXIT
emu_install
for e in fauxqs dynalite azurite; do
  emu_start "$e"
done
export EDW_TEST_EMULATOR_DIR="$root/tools/emulators"

GOBIN="$work/bin" go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
gremlins="$work/bin/gremlins"

status=0
printf '%-28s %7s %6s %12s %10s %9s %10s %8s\n' package killed lived "not covered" "timed out" efficacy "w/o equiv" seconds >"$work/table"
for pkg in "${pkgs[@]}"; do
  pkg="${pkg%/}"
  out="$work/$(echo "$pkg" | tr / _).json"
  start=$(date +%s)
  # A mutant's test run may take up to 5x the coverage run: the worker tests
  # measure waits, and two cores are shared.
  (cd "$root/$pkg" && "$gremlins" unleash --silent --timeout-coefficient 5 --workers 1 \
    --output "$out" "$root/$pkg") >"$work/log" 2>&1 || { cat "$work/log" >&2; status=1; continue; }
  secs=$(( $(date +%s) - start ))
  python3 - "$pkg" "$out" "$secs" "$threshold" "$survivors" "$work/table" <<'EOF' || status=1
import json, sys, os
pkg, out, secs, threshold, survivors, table = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
r = json.load(open(out))
explained = open(survivors).read() if os.path.exists(survivors) else ""
killed, lived, nc = r["mutants_killed"], r["mutants_lived"], r["mutants_not_covered"]
timed = sum(1 for f in r["files"] for m in f["mutations"] if m["status"] == "TIMED OUT")
unexplained = 0
for f in r["files"]:
    for m in f["mutations"]:
        if m["status"] not in ("LIVED", "NOT COVERED"):
            continue
        key = f'{pkg}/{os.path.basename(f["file_name"])}:{m["line"]}:{m["column"]} {m["type"]}'
        known = key in explained
        if m["status"] == "LIVED" and not known:
            unexplained += 1
        print(f'  {m["status"]:<11} {key}{"" if known else "  (not in scripts/mutation-survivors.md)"}')
eff = 100.0 * killed / (killed + lived) if killed + lived else 0.0
# Efficacy once the listed equivalent mutants are set aside: no test can kill those.
adj = 100.0 * killed / (killed + unexplained) if killed + unexplained else 0.0
with open(table, "a") as t:
    t.write(f"{pkg:<28} {killed:7d} {lived:6d} {nc:12d} {timed:10d} {eff:8.1f}% {adj:9.1f}% {secs:8d}\n")
bad = False
if unexplained:
    print(f"  {pkg}: {unexplained} lived mutants are neither killed nor explained in scripts/mutation-survivors.md")
    bad = True
if killed == 0 or adj < threshold:
    print(f"  {pkg}: efficacy {eff:.1f}% ({adj:.1f}% without listed equivalents) is below {threshold:.0f}%")
    bad = True
elif eff < threshold:
    print(f"  {pkg}: efficacy {eff:.1f}% is below {threshold:.0f}% only by listed equivalent mutants")
sys.exit(1 if bad else 0)
EOF
done
echo
cat "$work/table"
exit $status
