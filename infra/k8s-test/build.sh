#!/usr/bin/env bash
# Builds the Kubernetes binaries from their Go modules into a cache outside
# the repository:
#   control-plane  embedded etcd + kube-apiserver     infra/cluster/kube/cmd/control-plane
#   hyperkube      kubelet, kube-proxy, kube-scheduler, infra/cluster/kube/cmd/hyperkube
#                  kube-controller-manager (one binary, a process each)
#   pause          the pods' sandbox process (static)  infra/cluster/kube/cmd/pause
#   netget         name lookups and GETs in the tools  infra/cluster/kube/cmd/netget
#                  image (static)
#   helm                                               infra/cluster/helm
#   coredns        the cluster's DNS (a few plugins)   infra/cluster/coredns
#   delay-line     the rig's user-space delay line     infra/rig/delay-line
#                  (standard library only, seconds)
#   toxiproxy      Toxiproxy's server, the fault-      infra/toxiproxy
#                  injecting proxy of the fault tests
#                  (static, as its release builds)
# control-plane, hyperkube, pause and netget share one go.mod (infra/cluster/kube)
# and the same flags, so the Go build cache compiles each package once for all.
#
#   ${NETMON_CACHE_DIR:-$HOME/.cache/k8s-netmon}/<name>-<hash>/<name>
#
# <hash> is the first 16 hex digits of a sha256 over the module's go.mod and
# go.sum, the binary's own *.go files, the Go version and this script's build
# recipe. A warm call only hashes and prints; a cold one downloads the modules
# (into the normal GOMODCACHE) and compiles (nice -n 10, -p 2), printing progress.
#
# Usage: infra/k8s-test/build.sh [control-plane|hyperkube|pause|netget|helm|coredns|delay-line|toxiproxy]...   (default: all)
# stdout: one NAME=PATH line per binary; stderr: progress and timings.
set -euo pipefail
export LC_ALL=C

# Bump when the build flags below change: it is part of the cache key.
readonly RECIPE=1
readonly HEARTBEAT_SECONDS=60
readonly KEEP_PER_NAME=2

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${NETMON_CACHE_DIR:-${HOME:?HOME or NETMON_CACHE_DIR must be set}/.cache/k8s-netmon}

say() { printf 'build.sh: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

elapsed() {
  local seconds=$(($(date +%s) - $1))
  printf '%dm%02ds' $((seconds / 60)) $((seconds % 60))
}

readonly ALL_NAMES=(control-plane hyperkube pause netget helm coredns delay-line toxiproxy)

module_dir() {
  case $1 in
    control-plane | hyperkube | pause | netget) printf '%s\n' "$repo/infra/cluster/kube" ;;
    helm) printf '%s\n' "$repo/infra/cluster/helm" ;;
    coredns) printf '%s\n' "$repo/infra/cluster/coredns" ;;
    delay-line) printf '%s\n' "$repo/infra/rig/delay-line" ;;
    toxiproxy) printf '%s\n' "$repo/infra/toxiproxy" ;;
    *) return 1 ;;
  esac
}

# The package to build, relative to the module folder.
package_for() {
  case $1 in
    control-plane | hyperkube | pause | netget) printf './cmd/%s\n' "$1" ;;
    helm) printf 'helm.sh/helm/v3/cmd/helm\n' ;;
    coredns) printf '.\n' ;;
    delay-line) printf '.\n' ;;
    toxiproxy) printf 'github.com/Shopify/toxiproxy/v2/cmd/server\n' ;;
  esac
}

# sha256 over the names and contents of the files that decide the binary:
# the module's go.mod and go.sum and, for a package of ours, its *.go files.
module_hash() {
  local name=$1 dir=$2 go_version=$3 file package
  local -a files
  package=$(package_for "$name")
  shopt -s nullglob
  files=("$dir/go.mod" "$dir/go.sum")
  case $package in
    .) files+=("$dir"/*.go) ;;
    ./*) files+=("$dir/${package#./}"/*.go) ;;
  esac
  shopt -u nullglob
  {
    printf 'recipe %s\n%s\n' "$RECIPE" "$go_version"
    for file in "${files[@]}"; do
      [ -f "$file" ] || die "missing $file"
      printf '%s %s\n' "${file#"$dir"/}" "$(sha256sum <"$file" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -c1-16
}

# Prints the -ldflags for a module (the versions its release builds stamp).
ldflags_for() {
  local name=$1 dir=$2 version minor
  case $name in
    control-plane | hyperkube)
      version=$(cd "$dir" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
      minor=${version#v1.}
      minor=${minor%%.*}
      printf '%s' "-s -w -X k8s.io/component-base/version.gitVersion=$version" \
        " -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
        " -X k8s.io/component-base/version.gitTreeState=clean"
      ;;
    helm)
      version=$(cd "$dir" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
      # helm's defaults for .Capabilities.KubeVersion follow its client-go (v0.37 -> 1.37).
      minor=$(cd "$dir" && go list -m -f '{{.Version}}' k8s.io/client-go)
      minor=${minor#v0.}
      minor=${minor%%.*}
      printf '%s' "-s -w -X helm.sh/helm/v3/internal/version.version=$version" \
        " -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
        " -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
        " -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
      ;;
    coredns)
      # What CoreDNS's Makefile stamps: the commit (coremain.GitCommit); its version is in the source.
      version=$(cd "$dir" && go list -m -f '{{.Version}}' github.com/coredns/coredns)
      printf '%s' "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$version"
      ;;
    toxiproxy)
      # What its release builds (.goreleaser.yml) stamp: `toxiproxy -version` names the module's version.
      version=$(cd "$dir" && go list -m -f '{{.Version}}' github.com/Shopify/toxiproxy/v2)
      printf '%s' "-s -w -X github.com/Shopify/toxiproxy/v2.Version=$version"
      ;;
    delay-line) printf '%s' "-s -w" ;;
    pause | netget) printf '%s' "-s -w" ;;
  esac
}

# CGO_ENABLED for a binary: pause and netget run in images without a C
# library, so they must be static; toxiproxy is built as its releases are
# (static, no C code); the others keep the toolchain's default (on), the
# setting their shared build cache entries were compiled with.
cgo_for() {
  case $1 in
    pause | netget | toxiproxy) printf '0\n' ;;
    *) go env CGO_ENABLED ;;
  esac
}

heartbeat_pid=
stop_heartbeat() {
  if [ -n "$heartbeat_pid" ]; then
    kill "$heartbeat_pid" 2>/dev/null || true
    wait "$heartbeat_pid" 2>/dev/null || true
    heartbeat_pid=
  fi
}
tmp_dir=
cleanup() {
  stop_heartbeat
  if [ -n "$tmp_dir" ]; then rm -rf -- "$tmp_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Removes older builds of a name, keeping the newest KEEP_PER_NAME.
prune() {
  local name=$1 old
  local -a builds
  mapfile -t builds < <(find "$cache" -mindepth 1 -maxdepth 1 -type d -name "$name-*" -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
  for old in "${builds[@]:KEEP_PER_NAME}"; do
    rm -rf -- "$old"
  done
}

build_one() {
  local name=$1 dir=$2 target=$3 started
  started=$(date +%s)
  say "$name: not cached, building into $target (a cold build takes minutes)"
  # We hold the lock: a temporary folder of this name still here is a killed build's.
  # Only ours: image.sh and rootfs.sh build beside us under their own names.
  find "$cache" -mindepth 1 -maxdepth 1 -type d -name ".tmp-$name-*" -exec rm -rf -- {} +
  tmp_dir=$(mktemp -d "$cache/.tmp-$name-XXXXXX")
  chmod 755 "$tmp_dir"

  say "$name: downloading modules (GOMODCACHE=$(go env GOMODCACHE))"
  (cd "$dir" && go mod download) || die "$name: go mod download failed"
  say "$name: modules ready after $(elapsed "$started")"

  local ldflags package cgo
  ldflags=$(ldflags_for "$name" "$dir")
  package=$(package_for "$name")
  cgo=$(cgo_for "$name")
  say "$name: compiling (nice -n 10, -p 2)"
  (
    # The sleep must not outlive the loop: it would hold our stderr open.
    sleep_pid=
    trap 'if [ -n "$sleep_pid" ]; then kill "$sleep_pid" 2>/dev/null; fi; exit 0' TERM
    while :; do
      sleep "$HEARTBEAT_SECONDS" >/dev/null 2>&1 &
      sleep_pid=$!
      wait "$sleep_pid"
      say "$name: compiling, $(elapsed "$started") elapsed"
    done
  ) &
  heartbeat_pid=$!
  (cd "$dir" && CGO_ENABLED=$cgo nice -n 10 go build -p 2 -trimpath -buildvcs=false -mod=readonly \
    -ldflags="$ldflags" -o "$tmp_dir/$name" "$package") || die "$name: go build failed"
  stop_heartbeat

  # Another build of the same hash may have finished meanwhile: keep the first.
  if [ -x "$target/$name" ]; then
    rm -rf -- "$tmp_dir"
  else
    rm -rf -- "$target"
    mv -T -- "$tmp_dir" "$target"
  fi
  tmp_dir=
  prune "$name"
  say "$name: built in $(elapsed "$started"), $(du -h "$target/$name" | cut -f1)"
}

main() {
  local -a names=("$@")
  [ ${#names[@]} -gt 0 ] || names=("${ALL_NAMES[@]}")
  command -v go >/dev/null || die "go not found: install Go >= 1.26 (the Debian or go.dev toolchain)"
  local go_version name dir hash target started
  go_version=$(go env GOVERSION)
  mkdir -p -- "$cache"
  for name in "${names[@]}"; do
    dir=$(module_dir "$name") || die "unknown binary '$name' (want one of ${ALL_NAMES[*]})"
    started=$(date +%s%N)
    hash=$(module_hash "$name" "$dir" "$go_version")
    target="$cache/$name-$hash"
    if [ ! -x "$target/$name" ]; then
      # One build at a time per cache; a second caller waits, then finds it.
      exec 9>"$cache/.build.lock"
      flock 9
      if [ -x "$target/$name" ]; then
        say "$name: built meanwhile by another caller"
      else
        build_one "$name" "$dir" "$target"
      fi
      flock -u 9
      exec 9>&-
    else
      say "$name: cached ($((($(date +%s%N) - started) / 1000000)) ms)"
    fi
    printf '%s=%s\n' "$name" "$target/$name"
  done
}

main "$@"
