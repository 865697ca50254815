#!/usr/bin/env bash
# The whole event flow on one machine, no cloud account: emulators, queue and
# table, the producer, and consumers scaled by KEDA's rule with the stack's numbers.
#   scripts/demo.sh [aws|azure] [demo flags, e.g. --messages 5000 --rate 300 --cooldown 20s]
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

if [ "$stack" = aws ]; then
  emu_start fauxqs
  emu_start dynalite
  endpoints=(--sqs-endpoint "$EDW_TEST_SQS_ENDPOINT" --dynamodb-endpoint "$EDW_TEST_DYNAMODB_ENDPOINT")
else
  emu_start azurite
  endpoints=(--azurite "$EDW_TEST_AZURITE_CONNECTION_STRING")
fi

"$bin/demo" --project "$root/Pulumi.yaml" --stack "$root/Pulumi.$stack.yaml" \
  --consumer "$bin/consumer" --producer "$bin/producer" "${endpoints[@]}" "$@"
