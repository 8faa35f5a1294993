#!/usr/bin/env bash
# Builds the Flent image from its Dockerfile, unmodified, with buildah (no
# Docker engine, no registry), and writes it as a docker-archive tar that
# `ctr -n k8s.io images import` (and `docker load`, `podman load`) accept,
# tagged as the chart's default image (k8s/netmon/values.yaml
# image.repository:image.tag).
#
# The Dockerfile's two FROM images cannot be pulled here, so they are made
# from what this machine has and put into buildah's storage under their exact
# names before the build (which then runs with --pull=never):
#   docker.io/library/debian:bookworm-slim   `rootfs.sh base` (debootstrap
#       minbase bookworm, the slim dpkg excludes, the official apt sources)
#       added to an empty image, as the official image is made
#       (FROM scratch, ADD rootfs.tar /, CMD ["bash"]);
#   docker.io/library/node:24.21.0-bookworm-slim   that image plus the
#       project's Node binary (the npm package "node", the nodejs.org build)
#       at /usr/local/bin/node, the one file the Dockerfile takes from it.
# The Dockerfile's RUN step (provision.sh: apt from deb.debian.org, netperf
# from non-free, capabilities, no setuid, user 65532) runs with buildah's
# chroot isolation. The build context is a copy of exactly the files the
# Dockerfile's .dockerignore lets in, taken before hashing, so a tree edited
# meanwhile cannot give a tar under the wrong hash.
#
# Cached outside the repository, read-only in use:
#
#   ${NETMON_CACHE_DIR:-$HOME/.cache/k8s-netmon}/flent-image-<hash>/image.tar
#
# <hash>: the first 16 hex digits of a sha256 over the image reference, the
# Dockerfile and its .dockerignore, provision.sh, install.sh, flent-tests/, the image's
# package lines (other lines of packages.txt do not matter), the bundles the
# Dockerfile copies (dist/*.js, dist/package.json, dist/graph-page/), the
# Node binary, this script, rootfs.sh (the base image's recipe) and buildah's
# version. A warm call hashes and prints (~0.5 s, mostly the 121 MB Node
# binary). buildah's storage (layers, and the base images) lives in
# flent-image-storage/ beside it; the build caches its steps there
# (--layers), so a change of the bundles alone rebuilds only the last layers.
# The bundles are taken as dist/ has them (built once when missing): run
# `npm run build` first for the current sources.
#
# Every mount buildah makes lives in a private mount namespace that ends with
# this script. Root only (buildah's storage, chroot, debootstrap).
#
# Usage: infra/images/flent/image.sh
# stdout: flent-image=PATH and flent-image-ref=REF; stderr: progress and the
# time of each phase.
set -euo pipefail
export LC_ALL=C

readonly KEEP=2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${NETMON_CACHE_DIR:-${HOME:?HOME or NETMON_CACHE_DIR must be set}/.cache/k8s-netmon}
dockerfile=$here/Dockerfile
ignorefile=$here/Dockerfile.dockerignore

say() { printf 'image.sh: %s\n' "$*" >&2; }
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

[ "$(id -u)" -eq 0 ] || die "needs root (buildah's storage, chroot, debootstrap): sudo bash $here/image.sh"
# Everything below runs in a private mount namespace: the overlay mounts of
# buildah's storage and build containers end with this process, also when it
# is killed.
if [ "${NETMON_IMAGE_SH_UNSHARED:-}" != "$$" ]; then
  NETMON_IMAGE_SH_UNSHARED=$$ exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" "$@"
fi

# The chart's default image: repository and tag of the top-level `image:` block of values.yaml.
chart_image() {
  local values=$repo/k8s/netmon/values.yaml repository tag
  [ -f "$values" ] || die "no chart values at $values"
  read -r repository tag < <(awk '
    /^[^ #]/ { in_image = ($0 ~ /^image:/) }
    in_image && $1 == "repository:" { repo = $2 }
    in_image && $1 == "tag:" { tag = $2 }
    END { gsub(/["\x27]/, "", tag); print repo, tag }' "$values")
  [ -n "$repository" ] && [ -n "$tag" ] || die "no image.repository and image.tag in $values"
  printf '%s:%s\n' "$repository" "$tag"
}

# An ARG's default in the Dockerfile.
dockerfile_arg() {
  local value
  value=$(sed -n "s/^ARG $1=//p" "$dockerfile")
  [ -n "$value" ] || die "no ARG $1=... in $dockerfile"
  printf '%s\n' "$value"
}

# The ELF the project runs on (node_modules/.bin/node -> the npm package "node"),
# which must be the version the Dockerfile's node image names.
node_binary() {
  local version=$1 bin
  bin=$(readlink -f "$repo/node_modules/.bin/node") || die "no node_modules/.bin/node: run npm ci"
  [ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" = '177ELF' ] || die "$bin is not an ELF binary"
  [ "$("$bin" --version)" = "v$version" ] ||
    die "$bin is Node $("$bin" --version), the Dockerfile's node image is $version (ARG NODE_VERSION)"
  printf '%s\n' "$bin"
}

# The files of the build context, relative to ROOT: exactly what the Dockerfile copies.
context_files() {
  local root=$1
  (
    cd "$root"
    printf '%s\n' infra/system/packages.txt infra/system/install.sh infra/images/flent/provision.sh \
      infra/images/flent/Dockerfile infra/images/flent/Dockerfile.dockerignore dist/package.json
    find infra/system/flent-tests -maxdepth 1 -type f -name '*.conf'
    find dist -maxdepth 1 -type f -name '*.js'
    find dist/graph-page -type f
  ) | LC_ALL=C sort
}

# Hash over the build's inputs as found under ROOT (the repository, or a staged copy of its context).
input_hash() {
  local root=$1 ref=$2 node=$3 file
  {
    printf 'ref %s\n' "$ref"
    printf 'buildah %s\n' "$(buildah --version)"
    bash "$here/provision.sh" packages "$root/infra/system/packages.txt"
    while read -r file; do
      [ "$file" = infra/system/packages.txt ] && continue
      printf '%s %s\n' "$file" "$(sha256sum <"$root/$file" | cut -d' ' -f1)"
    done < <(context_files "$root")
    for file in "$here/image.sh" "$here/rootfs.sh" "$node"; do
      printf '%s %s\n' "${file##*/}" "$(sha256sum <"$file" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -c1-16
}

tmp_dir=
cleanup() {
  if [ -n "$tmp_dir" ]; then rm -rf --one-file-system -- "$tmp_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

storage=$cache/flent-image-storage
buildah_() {
  buildah --root "$storage" --runroot "$tmp_dir/run" --storage-driver overlay "$@"
}

# Which inputs made each base image: one file per image name beside the storage, "<inputs> <image id>".
inputs_file() { printf '%s/inputs/%s\n' "$storage" "${1//[\/:]/_}"; }

# Whether the image NAME is in the storage, made from the inputs VALUE.
has_image() {
  local name=$1 value=$2 recorded id
  recorded=$(cat "$(inputs_file "$name")" 2>/dev/null) || return 1
  id=$(buildah_ images --quiet --no-trunc "$name" 2>/dev/null) || return 1
  [ -n "$id" ] && [ "$recorded" = "$value ${id#sha256:}" ]
}

# Builds CONTAINERFILE in CONTEXT as NAME (more bud flags after), with cached steps.
bud() {
  local name=$1 containerfile=$2 context=$3
  shift 3
  buildah_ bud --pull=never --isolation chroot --format docker --layers --force-rm \
    "$@" -t "$name" -f "$containerfile" "$context" >&2
}

# Builds a base image NAME from CONTAINERFILE in CONTEXT and records its inputs VALUE.
bud_base() {
  local name=$1 value=$2 containerfile=$3 context=$4 id
  bud "$name" "$containerfile" "$context" --iidfile "$context.iid"
  id=$(cat "$context.iid")
  mkdir -p "$storage/inputs"
  printf '%s %s\n' "$value" "${id#sha256:}" >"$(inputs_file "$name")"
}

# The Dockerfile's FROM images, unless the storage has them from the same inputs.
base_images() {
  local debian=$1 node_image=$2 node=$3 base base_value node_value dir
  phase "base image $debian (rootfs.sh base: debootstrap minbase, cached)"
  base=$(bash "$here/rootfs.sh" base | sed -n 's/^flent-base=//p')
  [ -n "$base" ] || die "rootfs.sh base printed no flent-base=PATH"
  base_value=${base%/rootfs}
  base_value=${base_value##*/}
  if has_image "$debian" "$base_value"; then
    say "$debian: in buildah's storage"
  else
    dir=$tmp_dir/debian
    mkdir -p "$dir"
    # As the official image is built: its tree as one tar, added to an empty image.
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$base" -cf "$dir/rootfs.tar" .
    printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$dir/Containerfile"
    bud_base "$debian" "$base_value" "$dir/Containerfile" "$dir"
    rm -rf -- "$dir"
  fi

  phase "base image $node_image (Node $("$node" --version) from $node)"
  node_value="node-$(sha256sum <"$node" | cut -c1-16)-on-$base_value"
  if has_image "$node_image" "$node_value"; then
    say "$node_image: in buildah's storage"
  else
    dir=$tmp_dir/node
    mkdir -p "$dir"
    cp -- "$node" "$dir/node"
    printf 'FROM %s\nCOPY node /usr/local/bin/node\nENV NODE_VERSION=%s\nCMD ["node"]\n' \
      "$debian" "$("$node" --version | cut -c2-)" >"$dir/Containerfile"
    bud_base "$node_image" "$node_value" "$dir/Containerfile" "$dir"
    rm -rf -- "$dir"
  fi
}

# Removes older tars, keeping the newest KEEP, and the images and layers nothing tagged uses.
prune() {
  local old
  local -a builds
  mapfile -t builds < <(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'flent-image-*' ! -name 'flent-image-storage' \
    -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
  for old in "${builds[@]:KEEP}"; do
    rm -rf --one-file-system -- "$old"
  done
  buildah_ rmi --prune >/dev/null 2>&1 || say "warning: buildah rmi --prune failed (old layers stay in $storage)"
}

build() {
  local target=$1 ref=$2 node=$3 debian=$4 node_image=$5 context hash started
  started=$(date +%s)
  command -v buildah >/dev/null || die "buildah is missing: bash infra/system/install.sh"
  say "not cached, building $target (a cold build takes a few minutes)"
  # We hold the lock: a temporary folder still here is a killed build's.
  find "$cache" -mindepth 1 -maxdepth 1 -type d -name '.tmp-flent-image-*' -exec rm -rf --one-file-system -- {} +
  tmp_dir=$(mktemp -d "$cache/.tmp-flent-image-XXXXXX")
  mkdir -p "$storage" "$tmp_dir/run"
  # A killed build's working containers.
  buildah_ rm --all >/dev/null

  phase "build context (the files Dockerfile.dockerignore lets in)"
  context=$tmp_dir/context
  mkdir -p "$context"
  context_files "$repo" | tar -C "$repo" -cf - --files-from=- | tar -C "$context" -xf -
  hash=$(input_hash "$context" "$ref" "$node")
  if [ "$cache/flent-image-$hash" != "$target" ]; then
    say "the inputs changed while hashing: building them as copied ($hash)"
    target=$cache/flent-image-$hash
  fi

  base_images "$debian" "$node_image" "$node"

  phase "buildah bud infra/images/flent/Dockerfile -> $ref (chroot isolation, --pull=never, cached steps)"
  bud "$ref" "$context/infra/images/flent/Dockerfile" "$context" --ignorefile "$context/infra/images/flent/Dockerfile.dockerignore"

  phase "docker-archive tar"
  mkdir -p "$tmp_dir/out"
  buildah_ push --quiet "$ref" "docker-archive:$tmp_dir/out/image.tar:$ref" >&2
  chmod 755 "$tmp_dir/out"
  chmod 644 "$tmp_dir/out/image.tar"
  mv -T -- "$tmp_dir/out" "$target"

  phase "prune (older tars and unused layers)"
  prune
  phase
  say "built in $(($(date +%s) - started)) s, $(du -h "$target/image.tar" | cut -f1)"
  built_target=$target
}

main() {
  local started ref node_version suite node target debian node_image
  started=$(date +%s%N)
  mkdir -p -- "$cache"
  ref=$(chart_image)
  node_version=$(dockerfile_arg NODE_VERSION)
  suite=$(dockerfile_arg DEBIAN_SUITE)
  debian=docker.io/library/debian:$suite-slim
  node_image=docker.io/library/node:$node_version-$suite-slim
  node=$(node_binary "$node_version")
  if [ ! -f "$repo/dist/agent.js" ] || [ ! -d "$repo/dist/graph-page" ]; then
    phase "bundles (dist/ is missing: npm run build)"
    (cd "$repo" && "$node" infra/build/bundle.ts) >&2 || die "npm run build failed"
    phase
  fi
  target=$cache/flent-image-$(input_hash "$repo" "$ref" "$node")
  built_target=$target
  if [ ! -f "$target/image.tar" ]; then
    # One build at a time per cache (it also guards buildah's storage); a second caller waits, then finds it.
    exec 9>"$cache/.flent-image.lock"
    flock 9
    if [ -f "$target/image.tar" ]; then
      say "built meanwhile by another caller"
    else
      build "$target" "$ref" "$node" "$debian" "$node_image"
    fi
    flock -u 9
    exec 9>&-
  else
    say "cached ($((($(date +%s%N) - started) / 1000000)) ms)"
  fi
  printf 'flent-image=%s\n' "$built_target/image.tar"
  printf 'flent-image-ref=%s\n' "$ref"
}

main "$@"
