#!/usr/bin/env bash
# The cluster lab: etcd + kube-apiserver + kube-controller-manager + the KEDA
# operator and metrics adapter on loopback, fed the objects the infra tests render,
# scaling real consumer processes against the emulators. Builds and caches every
# binary it needs (first run: see README), starts the emulators, runs lab/'s tests
# (timelines printed), and leaves no process behind. Ends with the tests it
# skipped (CI=true: none may be).
#   scripts/test-cluster.sh [go test flags, e.g. -run TestKEDA]
# EDW_RENDER_DIR: rendered objects to use (make test passes test-infra's); unset,
# the infra tests are run here to render them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
GO="${GO:-go}"
# shellcheck source=testenv.sh
source "$root/scripts/testenv.sh"
testenv_clean # before the emulators and the engine test set their own
skips="$(testenv_skiplist cluster)"

k8s_version=v1.34.2   # lab/build/kubernetes/go.mod
keda_version=v2.21.0  # lab/build/keda/go.mod; edw:kedaChartVersion 2.21.0
karpenter_version=v1.12.1 # stacks.DefaultKarpenterChartVersion
prometheus_version=v0.93.1 # lab/build/prometheus/go.mod, tools/kubevalidate/go.mod
controller_gen_version=v0.23.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/edw-lab"
bin="$cache/bin/$("$GO" env GOVERSION)"
mkdir -p "$bin"

log() { printf '%s lab: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# build NAME VERSION MODULE_DIR PACKAGE [LDFLAGS]: go build into the cache once.
build() {
  local name="$1" version="$2" dir="$3" pkg="$4" ldflags="${5:-}" out="$bin/$1-$2"
  if [ ! -x "$out" ]; then
    log "building $name $version (once per version; cached in $bin)"
    local start=$SECONDS
    # Called in $(…), where errexit does not reach: a failed build must fail
    # the assignment, not print a path that was never built.
    # -s -w: no symbol table or DWARF, which nothing here reads; the link is
    # the one step of a warm-cache build that cannot be cached.
    (cd "$dir" && nice -n 10 "$GO" build -mod=readonly -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg") || return 1
    mv "$out.tmp" "$out" || return 1
    log "built $name in $((SECONDS - start))s"
  fi
  printf '%s' "$out"
}

if ! command -v etcd >/dev/null; then
  log "installing etcd (Debian etcd-server)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || { echo "etcd is missing: apt-get install etcd-server (needs root)" >&2; exit 1; }
    sudo="sudo -n"
  fi
  # Install the binary only: no etcd service may start and outlive the lab.
  policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null; $sudo chmod +x "$policy"; created_policy=1; fi
  rc=0
  ($sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server) >&2 || rc=$?
  [ "$created_policy" = 0 ] || $sudo rm -f "$policy"
  [ "$rc" = 0 ] || exit "$rc"
fi
export EDW_LAB_ETCD; EDW_LAB_ETCD="$(command -v etcd)"

kver="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34 -X k8s.io/component-base/version.gitTreeState=clean"
export EDW_LAB_KUBE_APISERVER EDW_LAB_KUBE_CONTROLLER_MANAGER EDW_LAB_KEDA_OPERATOR EDW_LAB_KEDA_ADAPTER
EDW_LAB_KUBE_APISERVER="$(build kube-apiserver "$k8s_version" "$root/lab/build/kubernetes" k8s.io/kubernetes/cmd/kube-apiserver "$kver")"
EDW_LAB_KEDA_OPERATOR="$(build keda-operator "$keda_version" "$root/lab/build/keda" github.com/kedacore/keda/v2/cmd/operator \
  "-X github.com/kedacore/keda/v2/version.Version=$keda_version")"
EDW_LAB_KUBE_CONTROLLER_MANAGER="$(build kube-controller-manager "$k8s_version" "$root/lab/build/kubernetes" k8s.io/kubernetes/cmd/kube-controller-manager "$kver")"
EDW_LAB_KEDA_ADAPTER="$(build keda-adapter "$keda_version" "$root/lab/build/keda" github.com/kedacore/keda/v2/cmd/adapter \
  "-X github.com/kedacore/keda/v2/version.Version=$keda_version")"
# The real Pulumi engine (CLI and Kubernetes provider) for lab/engine's test.
if [ "${EDW_SKIP_ENGINE:-0}" != 1 ]; then
  engine_env="$(GO="$GO" bash "$root/scripts/build-engine.sh")"
  eval "$engine_env"
fi

# The CRDs users' clusters get, from the pinned upstream modules.
moddir() { "$GO" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }
export EDW_LAB_KEDA_CRDS EDW_LAB_KARPENTER_CRDS EDW_LAB_PROMETHEUS_CRDS
EDW_LAB_KEDA_CRDS="$(moddir "github.com/kedacore/keda/v2@$keda_version")/config/crd/bases"
EDW_LAB_KARPENTER_CRDS="$(moddir "github.com/aws/karpenter-provider-aws@$karpenter_version")/pkg/apis/crds"
# The Prometheus Operator's CRDs are in no module the proxy serves: controller-gen
# generates them from its API types at the pinned version, as upstream does. AKS's
# managed Prometheus serves the same PodMonitor under azmonitoring.coreos.com.
EDW_LAB_PROMETHEUS_CRDS="$cache/crds/prometheus-operator-$prometheus_version"
if [ ! -f "$EDW_LAB_PROMETHEUS_CRDS/azmonitoring.coreos.com_podmonitors.yaml" ]; then
  gen="$(build controller-gen "$controller_gen_version" "$root/lab/build/prometheus" sigs.k8s.io/controller-tools/cmd/controller-gen)"
  rm -rf "$EDW_LAB_PROMETHEUS_CRDS.tmp"
  (cd "$root/lab/build/prometheus" && GOFLAGS=-mod=readonly "$gen" crd:crdVersions=v1 \
    paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:dir="$EDW_LAB_PROMETHEUS_CRDS.tmp")
  pm="$EDW_LAB_PROMETHEUS_CRDS.tmp/monitoring.coreos.com_podmonitors.yaml"
  apm="$EDW_LAB_PROMETHEUS_CRDS.tmp/azmonitoring.coreos.com_podmonitors.yaml"
  sed -e 's/^  name: podmonitors\.monitoring\.coreos\.com$/  name: podmonitors.azmonitoring.coreos.com/' \
      -e 's/^  group: monitoring\.coreos\.com$/  group: azmonitoring.coreos.com/' "$pm" >"$apm"
  [ "$(grep -c 'azmonitoring\.coreos\.com$' "$apm")" = 2 ] || { echo "renaming the PodMonitor CRD's group failed" >&2; exit 1; }
  rm -rf "$EDW_LAB_PROMETHEUS_CRDS" && mkdir -p "$(dirname "$EDW_LAB_PROMETHEUS_CRDS")" && mv "$EDW_LAB_PROMETHEUS_CRDS.tmp" "$EDW_LAB_PROMETHEUS_CRDS"
  log "generated the Prometheus Operator $prometheus_version CRDs into $EDW_LAB_PROMETHEUS_CRDS"
fi

work="$(mktemp -d)"
# shellcheck source=../tools/emulators/emulators.sh
source "$root/tools/emulators/emulators.sh"
# The metrics adapter runs in a network namespace the lab creates (root only);
# removed by the lab, and here again in case the test process was killed.
# Without root, TestKEDAAndHPAScaleZeroToN skips, and the list at the end says so
# (the GitHub workflow runs this step with sudo).
netns=""
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
  netns="edwlab$(($$ % 100000))"
  export EDW_LAB_NETNS="$netns"
else
  log "not root: no network namespace for the metrics adapter, so the 0 → N test will skip"
fi
cleanup() {
  emu_stop
  if [ -n "$netns" ]; then
    ip link del "$netns-h" 2>/dev/null || true
    ip netns del "$netns" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${EDW_RENDER_DIR:-}" ]; then
  log "rendering the stacks' Kubernetes objects (infra tests)"
  export EDW_RENDER_DIR="$work/render"
  mkdir -p "$EDW_RENDER_DIR"
  (cd "$root" && "$GO" test -count=1 ./stacks/ ./infra/kube/ >/dev/null)
fi
log "rendered objects: $(cd "$EDW_RENDER_DIR" && echo *.json)"

export EDW_LAB_CONSUMER="$work/consumer" EDW_LAB_PRODUCER="$work/producer"
(cd "$root/workload" && "$GO" build -o "$work/" ./cmd/consumer ./cmd/producer)

emu_install
# A second SQS + DynamoDB pair lets the 0→N test run beside the two-cloud test
# with the same queue names.
emu_start fauxqs; emu_start dynalite
export EDW_LAB_SQS_ENDPOINT_2="$EDW_TEST_SQS_ENDPOINT" EDW_LAB_DYNAMODB_ENDPOINT_2="$EDW_TEST_DYNAMODB_ENDPOINT"
# A third runs the routes' test beside both: its consumers write the same table.
emu_start fauxqs; emu_start dynalite
export EDW_LAB_SQS_ENDPOINT_3="$EDW_TEST_SQS_ENDPOINT" EDW_LAB_DYNAMODB_ENDPOINT_3="$EDW_TEST_DYNAMODB_ENDPOINT"
for e in fauxqs dynalite azurite; do emu_start "$e"; done
log "emulators: sqs=$EDW_TEST_SQS_ENDPOINT,$EDW_LAB_SQS_ENDPOINT_2,$EDW_LAB_SQS_ENDPOINT_3 dynamodb=$EDW_TEST_DYNAMODB_ENDPOINT,$EDW_LAB_DYNAMODB_ENDPOINT_2,$EDW_LAB_DYNAMODB_ENDPOINT_3 azurite=up"

export EDW_LAB_REPORT="$work/report.json"
# EDW_ONLY_ENGINE=1 runs the engine's test alone (while working on it).
if [ "${EDW_ONLY_ENGINE:-0}" != 1 ]; then
cd "$root/lab"
"$GO" vet ./...
start=$SECONDS
testenv_gotest "$skips" -v -count=1 -p 1 -timeout 20m "$@" ./... 2>&1
log "lab tests took $((SECONDS - start))s"

# The demo's rule (workload/internal/autoscale) against what the lab's KEDA/HPA
# decided. Built only with -tags labreport (the report exists only here); it fails
# when the 0 → N test wrote no report.
(cd "$root/workload" && "$GO" vet -tags labreport ./internal/autoscale/ &&
  testenv_gotest "$skips" -v -count=1 -tags labreport -run '^TestRuleMatchesTheLab$' ./internal/autoscale/)
fi

# The real Pulumi engine deploys, updates and destroys a kubernetes stack on a lab
# of its own (lab/engine, a module of its own: -mod=mod adds what the root module
# gained). EDW_SKIP_ENGINE=1 leaves it out.
if [ "${EDW_SKIP_ENGINE:-0}" != 1 ]; then
  cd "$root/lab/engine"
  "$GO" vet -mod=mod ./...
  start=$SECONDS
  testenv_gotest "$skips" -v -mod=mod -count=1 -timeout 15m ./... 2>&1
  log "engine test took $((SECONDS - start))s"
fi
testenv_skips "cluster lab tests" "$skips"
