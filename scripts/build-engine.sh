#!/usr/bin/env bash
# Builds the real Pulumi engine for the engine test, once per version, from the Go
# module proxy (../shared/deps.md, "A real Pulumi engine here"):
#   - the Pulumi CLI through the wrapper module lab/build/pulumi;
#   - the Kubernetes provider, from a writable copy of its module with the schema
#     its zip lacks generated in place.
# Cached like the lab's binaries; prints `export NAME=path` lines for eval:
#   eval "$(bash scripts/build-engine.sh)"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
GO="${GO:-go}"

pulumi_version=v3.274.1 # lab/build/pulumi/go.mod
k8s_provider_module=github.com/pulumi/pulumi-kubernetes/provider/v4
k8s_provider_pseudo=v4.0.0-20260115033456-f47bc2d6f199 # the only version the proxy serves
k8s_provider_version=4.24.0 # the version github.com/pulumi/pulumi-kubernetes/sdk/v4 asks for (go.mod)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/edw-lab"
bin="$cache/bin/$("$GO" env GOVERSION)"
mkdir -p "$bin"

log() { printf '%s engine: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

pulumi="$bin/pulumi-$pulumi_version"
if [ ! -x "$pulumi" ]; then
  log "building pulumi $pulumi_version (once per version; cached in $bin)"
  start=$SECONDS
  (cd "$root/lab/build/pulumi" && nice -n 10 "$GO" build -mod=readonly -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
    -o "$pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) >&2
  mv "$pulumi.tmp" "$pulumi"
  log "built pulumi in $((SECONDS - start))s"
fi

provider="$bin/pulumi-resource-kubernetes-v$k8s_provider_version-${k8s_provider_pseudo##*-}"
if [ ! -x "$provider" ]; then
  log "building pulumi-resource-kubernetes $k8s_provider_version ($k8s_provider_pseudo; once; cached in $bin)"
  start=$SECONDS
  src="$cache/src/pulumi-kubernetes-provider-$k8s_provider_pseudo"
  if [ ! -f "$src/.prepared" ]; then
    rm -rf "$src"
    mkdir -p "$(dirname "$src")"
    dir="$(cd "$cache" && "$GO" mod download -json "$k8s_provider_module@$k8s_provider_pseudo" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    # The module replaces its SDK by a relative path that is not in the zip.
    (cd "$src" && "$GO" mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 &&
      cd cmd/pulumi-resource-kubernetes && VERSION=$k8s_provider_version nice -n 10 "$GO" run generate.go &&
      cd "$src" && "$GO" mod tidy) >&2
    touch "$src/.prepared"
  fi
  (cd "$src" && nice -n 10 "$GO" build -mod=readonly -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$k8s_provider_version" \
    -o "$provider.tmp" ./cmd/pulumi-resource-kubernetes) >&2
  mv "$provider.tmp" "$provider"
  log "built pulumi-resource-kubernetes in $((SECONDS - start))s"
fi

printf 'export EDW_ENGINE_PULUMI=%q\n' "$pulumi"
printf 'export EDW_ENGINE_KUBERNETES_PROVIDER=%q\n' "$provider"
printf 'export EDW_ENGINE_KUBERNETES_PROVIDER_VERSION=%q\n' "$k8s_provider_version"
