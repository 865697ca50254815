#!/usr/bin/env bash
# The infra unit tests (every registered resource recorded under Pulumi mocks),
# rendering every Kubernetes object they record into EDW_RENDER_DIR; then
# tools/kubevalidate decodes each one strictly into the Kubernetes, KEDA and
# Karpenter Go types. Ends with the tests it skipped (CI=true: none may be).
#   scripts/test-infra.sh [go test flags]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=testenv.sh
source "$root/scripts/testenv.sh"
testenv_clean
skips="$(testenv_skiplist infra)"

render="${EDW_RENDER_DIR:-$root/.build/render}"
rm -rf "$render" && mkdir -p "$render"
export EDW_RENDER_DIR="$render"
cd "$root"
testenv_gotest "$skips" -count=1 "$@" ./...
(cd tools/kubevalidate && testenv_gotest "$skips" -count=1 ./...)
(cd tools/testreport && testenv_gotest "$skips" -count=1 ./...)
testenv_skips "infra tests" "$skips"
