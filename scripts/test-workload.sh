#!/usr/bin/env bash
# Runs the workload module's tests against real emulators: moto (SQS, DynamoDB,
# STS), fauxqs + dynalite (fast SQS and DynamoDB) and Azurite (queues and tables),
# each on 127.0.0.1 with a random free port, all stopped on exit. Ends with the
# tests it skipped (CI=true: none may be).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=testenv.sh
source "$root/scripts/testenv.sh"
testenv_clean # before the emulators export their own AWS_* settings
skips="$(testenv_skiplist workload)"
# shellcheck source=../tools/emulators/emulators.sh
source "$root/tools/emulators/emulators.sh"
trap emu_stop EXIT

emu_install
for e in moto fauxqs dynalite azurite; do
  emu_start "$e"
done
echo "emulators: moto=$EDW_TEST_MOTO_ENDPOINT sqs=$EDW_TEST_SQS_ENDPOINT dynamodb=$EDW_TEST_DYNAMODB_ENDPOINT azurite=up" >&2

export EDW_TEST_EMULATOR_DIR="$root/tools/emulators"
cd "$root/workload"
go vet ./...
# The emulators are shared, so packages run one at a time.
testenv_gotest "$skips" -p 1 -count=1 -timeout 20m "$@" ./...
# A short bounded fuzz of the message parser, from its seed corpus (which alone
# reaches every branch of Parse); EDW_FUZZTIME=0 skips it; so do extra args.
if [ $# -eq 0 ] && [ "${EDW_FUZZTIME:-20s}" != 0 ]; then
  go test -run '^$' -fuzz '^FuzzParseNeverPanics$' -fuzztime "${EDW_FUZZTIME:-20s}" ./internal/message/
fi
# Throughput beside each emulator's own ceiling, measured in this run (a ratio,
# so it means the same on any machine), and CPU-seconds and peak RSS per 1,000
# messages beside the same loop (docs/cost.md). EDW_BENCH=0 skips it; so do extra args.
# On fresh emulators, so what the tests left behind does not slow either side; the
# Azure benchmark starts a private Azurite per run (see integration/bench_test.go).
if [ $# -eq 0 ] && [ "${EDW_BENCH:-1}" = 1 ]; then
  emu_fresh fauxqs dynalite
  # The resource benchmark at the largest settings (1,000 and 3,200 messages in
  # flight) stalls the emulators on a busy machine: make bench runs it, make test
  # runs the default settings the consumer's requests are sized from.
  go test -count=1 -timeout 40m -run '^$' -bench '^Benchmark(Consumer|Producer)$|^BenchmarkResources$/.*/.*/^default$' -benchtime 1x ./integration/
fi
testenv_skips "workload tests" "$skips"
