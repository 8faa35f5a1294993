#!/usr/bin/env bash
# Builds, without a container engine, a root filesystem equivalent to the
# Flent image (Dockerfile), for running it with runc in tests:
#
#   debootstrap --variant=minbase bookworm (the base of debian:bookworm-slim,
#   and its "slim" dpkg excludes), with the main-component image packages of
#   infra/system/packages.txt; then, chrooted, provision.sh install (the same
#   step as the Dockerfile's RUN: install.sh for the image lines, netperf from
#   non-free through its pin, file capabilities, no setuid, user 65532); then
#   the project's Node 24 binary as /usr/local/bin/node (the Dockerfile takes
#   the same nodejs.org build from the node image). The function bundles are
#   not part of it: tests mount dist/ at /opt/netmon.
#
# `rootfs.sh base` builds the other tree, the stand-in for the Dockerfile's
# base image debian:bookworm-slim, which image.sh imports so that the
# Dockerfile itself can be built here: debootstrap --variant=minbase with
# nothing added, the slim dpkg excludes, and the official image's apt sources
# (bookworm, bookworm-updates, bookworm-security).
#
# Cached outside the repository, read-only in use:
#
#   ${NETMON_CACHE_DIR:-$HOME/.cache/k8s-netmon}/flent-rootfs-<hash>/rootfs
#   ${NETMON_CACHE_DIR:-$HOME/.cache/k8s-netmon}/flent-base-<hash>/rootfs
#
# <hash>: the first 16 hex digits of a sha256 over the image's package lines,
# this script, provision.sh, install.sh, flent-tests/*.conf and the Node binary (other lines of
# packages.txt do not matter); for the base, over the suite, the mirror and
# this script. A warm call hashes and prints; a cold one builds in a
# temporary folder renamed into place at the end, so a failed or killed build
# leaves no half cache. Root only (debootstrap, chroot).
#
# Usage: infra/images/flent/rootfs.sh [base]
# stdout: flent-rootfs=PATH (flent-base=PATH); stderr: progress and the time
# of each phase.
set -euo pipefail
export LC_ALL=C

readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian
readonly KEEP=2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
system=$repo/infra/system
cache=${NETMON_CACHE_DIR:-${HOME:?HOME or NETMON_CACHE_DIR must be set}/.cache/k8s-netmon}

say() { printf 'rootfs.sh: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

phase_name=
phase_started=0
# Ends the running phase (printing its time) and starts the next one, if named.
phase() {
  local now
  now=$(date +%s%N)
  if [ -n "$phase_name" ]; then
    say "$phase_name took $(((now - phase_started) / 1000000)) ms"
  fi
  phase_name=${1:-}
  phase_started=$now
  if [ -n "$phase_name" ]; then say "$phase_name"; fi
}

# The ELF the project runs on: node_modules/.bin/node links to the npm package
# "node", whose bin/node is the nodejs.org build.
node_binary() {
  local bin
  bin=$(readlink -f "$repo/node_modules/.bin/node") || die "no node_modules/.bin/node: run npm ci"
  [ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" = '177ELF' ] || die "$bin is not an ELF binary"
  case "$("$bin" --version)" in
    v24.*) ;;
    *) die "$bin is Node $("$bin" --version), the image needs Node 24" ;;
  esac
  printf '%s\n' "$bin"
}

cache_hash() {
  local node=$1 file
  {
    printf 'suite %s %s\n' "$SUITE" "$MIRROR"
    bash "$here/provision.sh" packages "$system/packages.txt"
    for file in "$here/rootfs.sh" "$here/provision.sh" "$system/install.sh" "$system"/flent-tests/*.conf "$node"; do
      printf '%s %s\n' "${file##*/}" "$(sha256sum <"$file" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -c1-16
}

base_hash() {
  {
    printf 'base suite %s %s\n' "$SUITE" "$MIRROR"
    printf 'rootfs.sh %s\n' "$(sha256sum <"$here/rootfs.sh" | cut -d' ' -f1)"
  } | sha256sum | cut -c1-16
}

tmp_dir=
cleanup() {
  # Mounts live in private mount namespaces (unshare) and end with them: plain removal is safe.
  if [ -n "$tmp_dir" ]; then rm -rf --one-file-system -- "$tmp_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# What debuerreotype drops for the "slim" images: docs (but not copyrights), manuals, translations.
write_slim_config() {
  local rootfs=$1
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/netmon-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
CFG
  find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf -- {} +
  rm -rf -- "$rootfs"/usr/share/{groff,info,linda,man}/* "$rootfs"/usr/share/lintian/overrides/*
}

# Makes tmp_dir, a temporary folder in the cache for a build of KIND (rootfs, base).
start_build() {
  local kind=$1 target=$2
  command -v debootstrap >/dev/null || die "debootstrap is missing: bash infra/system/install.sh"
  say "not cached, building $target (a cold build takes a few minutes)"
  # We hold the lock: a temporary folder still here is a killed build's.
  find "$cache" -mindepth 1 -maxdepth 1 -type d \( -name '.tmp-flent-rootfs-*' -o -name '.tmp-flent-base-*' \) \
    -exec rm -rf --one-file-system -- {} +
  tmp_dir=$(mktemp -d "$cache/.tmp-flent-$kind-XXXXXX")
  chmod 755 "$tmp_dir"
}

# debootstrap minbase into ROOTFS with the comma-separated INCLUDE packages (may be empty).
run_debootstrap() {
  local rootfs=$1 include=$2
  local -a extra=()
  if [ -n "$include" ]; then extra=(--include="$include"); fi
  phase "debootstrap $SUITE minbase from $MIRROR${include:+ (+ $include)}"
  mkdir -p "$cache/debootstrap-debs"
  unshare --mount --propagation private \
    debootstrap --variant=minbase "${extra[@]}" --cache-dir="$cache/debootstrap-debs" \
    "$SUITE" "$rootfs" "$MIRROR" >&2 || die "debootstrap failed (see above; log in $rootfs/debootstrap/debootstrap.log)"
}

# Renames the temporary folder to TARGET and says how long the build STARTED (epoch s) took.
finish_build() {
  local target=$1 started=$2
  phase "into the cache"
  mv -T -- "$tmp_dir" "$target"
  tmp_dir=
  phase
  say "built in $(($(date +%s) - started)) s, $(du -sh --one-file-system "$target/rootfs" | cut -f1)"
}

build() {
  local target=$1 node=$2 started include rootfs
  started=$(date +%s)
  start_build rootfs "$target"
  rootfs=$tmp_dir/rootfs

  # Non-main packages (netperf) come in the next phase, through install.sh and its pin.
  include=$(bash "$here/provision.sh" packages "$system/packages.txt" | awk '$2 == "main" { print $1 }' | paste -sd,)
  run_debootstrap "$rootfs" "$include"

  phase "slim dpkg excludes"
  write_slim_config "$rootfs"

  phase "provision (chroot: provision.sh install)"
  install -d -m 700 "$rootfs/tmp/netmon-build"
  cp -- "$system/packages.txt" "$system/install.sh" "$here/provision.sh" "$rootfs/tmp/netmon-build/"
  cp -r -- "$system/flent-tests" "$rootfs/tmp/netmon-build/"
  cp -L -- /etc/resolv.conf "$rootfs/etc/resolv.conf"
  # No /dev/pts in the chroot: dpkg's output without a pseudo-terminal.
  printf 'Dpkg::Use-Pty "0";\n' >"$rootfs/etc/apt/apt.conf.d/90netmon-build"
  unshare --mount --propagation private --mount-proc="$rootfs/proc" \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    chroot "$rootfs" /bin/bash /tmp/netmon-build/provision.sh install /tmp/netmon-build >&2 ||
    die "provision.sh install failed in the chroot"
  rm -rf -- "$rootfs/tmp/netmon-build" "$rootfs/etc/apt/apt.conf.d/90netmon-build"
  # The runtime provides these (runc mounts, Kubernetes writes resolv.conf and hosts).
  : >"$rootfs/etc/resolv.conf"
  rm -f -- "$rootfs/etc/hostname"

  phase "node $("$node" --version) from $node"
  install -m 755 -- "$node" "$rootfs/usr/local/bin/node"

  finish_build "$target" "$started"
}

# The stand-in for debian:bookworm-slim: what debuerreotype makes of a minbase
# debootstrap (slim excludes; apt sources as deb822 with updates and security).
build_base() {
  local target=$1 started rootfs
  started=$(date +%s)
  start_build base "$target"
  rootfs=$tmp_dir/rootfs
  run_debootstrap "$rootfs" ''

  phase "slim dpkg excludes, the official image's apt sources"
  write_slim_config "$rootfs"
  rm -f -- "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $MIRROR-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # What a build does not need to keep: debootstrap's own folder, apt's lists and archives.
  rm -rf -- "$rootfs/debootstrap" "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  find "$rootfs/var/cache/apt/archives" -type f -name '*.deb' -delete
  # The runtime provides these.
  : >"$rootfs/etc/resolv.conf"
  rm -f -- "$rootfs/etc/hostname"

  finish_build "$target" "$started"
}

# Removes older builds named PREFIX-*, keeping the newest KEEP.
prune() {
  local prefix=$1 old
  local -a builds
  mapfile -t builds < <(find "$cache" -mindepth 1 -maxdepth 1 -type d -name "$prefix-*" -printf '%T@ %p\n' |
    sort -rn | cut -d' ' -f2-)
  for old in "${builds[@]:KEEP}"; do
    rm -rf --one-file-system -- "$old"
  done
}

# Prints KEY=TARGET/rootfs, building it first with BUILDER (under the cache's
# lock) unless TARGET/rootfs/MARK (a path inside the tree) is there.
cached_tree() {
  local key=$1 target=$2 mark=$3 builder=$4 started
  shift 4
  started=$(date +%s%N)
  if [ ! -e "$target/rootfs/$mark" ]; then
    # One build at a time per cache; a second caller waits, then finds it.
    exec 9>"$cache/.flent-rootfs.lock"
    flock 9
    if [ -e "$target/rootfs/$mark" ]; then
      say "built meanwhile by another caller"
    else
      "$builder" "$target" "$@"
      prune "$key"
    fi
    flock -u 9
    exec 9>&-
  else
    say "cached ($((($(date +%s%N) - started) / 1000000)) ms)"
  fi
  printf '%s=%s\n' "$key" "$target/rootfs"
}

main() {
  local node
  [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot): sudo bash $here/rootfs.sh"
  mkdir -p -- "$cache"
  case "${1:-}" in
    '')
      node=$(node_binary)
      cached_tree flent-rootfs "$cache/flent-rootfs-$(cache_hash "$node")" usr/local/bin/node build "$node"
      ;;
    base)
      cached_tree flent-base "$cache/flent-base-$(base_hash)" etc/apt/sources.list.d/debian.sources build_base
      ;;
    *) die "usage: rootfs.sh [base]" ;;
  esac
}

main "$@"
