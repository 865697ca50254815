#!/usr/bin/env bash
# The whole event flow on one machine, no cloud account: emulators, queue and
# table, the producer, and consumers scaled as KEDA and the HPA scale the
# deployed consumer, with the stack's numbers.
#   scripts/demo.sh [aws|azure] [demo flags, e.g. --messages 5000 --rate 300 --cooldown 20s]
# Ctrl-C stops it within seconds and prints the summary so far.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
stack="${1:-aws}"
shift || true
case "$stack" in aws|azure) ;; *) echo "usage: $0 [aws|azure] [demo flags]" >&2; exit 2 ;; esac

# shellcheck source=../tools/emulators/emulators.sh
source "$root/tools/emulators/emulators.sh"
trap emu_stop EXIT
emu_install

bin="$EMU_TMP/bin"
mkdir -p "$bin"
(cd "$root/workload" && go build -o "$bin/" ./cmd/consumer ./cmd/producer ./cmd/demo)

# The emulators get process groups of their own (job control on while they
# start): the terminal's Ctrl-C then reaches only the demo, which stops its
# producer and consumers, counts the table while the emulators still answer,
# and prints the summary; the EXIT trap stops the emulators after it.
set -m
if [ "$stack" = aws ]; then
  emu_start fauxqs
  emu_start dynalite
  endpoints=(--sqs-endpoint "$EDW_TEST_SQS_ENDPOINT" --dynamodb-endpoint "$EDW_TEST_DYNAMODB_ENDPOINT")
else
  emu_start azurite
  endpoints=(--azurite "$EDW_TEST_AZURITE_CONNECTION_STRING")
fi
set +m

"$bin/demo" --project "$root/Pulumi.yaml" --stack "$root/Pulumi.$stack.yaml" \
  --consumer "$bin/consumer" --producer "$bin/producer" "${endpoints[@]}" "$@"
