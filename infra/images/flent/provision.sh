#!/usr/bin/env bash
# Provisions the Flent image from inside it: the Dockerfile's RUN step and
# rootfs.sh (chroot into a debootstrap tree) both call this, so the image and
# its runc proof are made by the same steps.
#
#   provision.sh packages PACKAGES_TXT   print the image's lines of packages.txt
#                                        ("<package> <component>", one a line)
#   provision.sh install SYSTEM_DIR      SYSTEM_DIR holds packages.txt,
#                                        install.sh and flent-tests/ (copies of
#                                        infra/system/)
#
# install: the "image" lines go through the project's own installer
# (install.sh: a component other than main gets its own apt source plus a pin,
# so netperf alone comes from non-free), then the image is hardened for the
# non-root user 65532 the pod specs run as:
#   - no program keeps a file capability. Debian's fping and iputils-ping
#     packages give themselves cap_net_raw; the pod specs forbid privilege
#     escalation (allowPrivilegeEscalation: false, the kernel's no_new_privs)
#     and grant no capability, and under that the kernel refuses to execute a
#     program whose file capability is marked effective (EPERM, "Operation
#     not permitted", exit 126). Without file capabilities fping and ping use
#     unprivileged ICMP datagram sockets, which the node's
#     net.ipv4.ping_group_range must allow for gid 65532 (systemd's default,
#     0 2147483647, does; README.md, "ICMP").
#   - no setuid/setgid program is left (the Debian fallback when setcap is
#     missing is a setuid-root fping/ping).
#   - the user and group netmon, 65532 (the distroless "nonroot" number).
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

readonly USER_ID=65532
readonly USER_NAME=netmon
readonly PING_PROGRAMS=(/usr/bin/fping /usr/bin/ping)

say() { printf 'provision.sh: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# Mirrors install.sh's reading of a line: the component is the word naming
# one, main when none does; tags are the other words.
image_packages() {
  local list=$1 pkg rest word component image
  local -a words
  [ -f "$list" ] || die "no package list at $list"
  while read -r pkg rest; do
    case "$pkg" in '' | '#'*) continue ;; esac
    read -r -a words <<<"$rest"
    component=main
    image=false
    for word in "${words[@]}"; do
      case "$word" in
        main | contrib | non-free | non-free-firmware) component=$word ;;
        image) image=true ;;
      esac
    done
    if $image; then printf '%s %s\n' "$pkg" "$component"; fi
  done <"$list"
}

# "<path> <capabilities>" for every program of the image's own filesystem
# (-xdev: not /proc, /sys or /dev) that has a file capability.
file_capabilities() {
  find / -xdev -type f -perm /111 -print0 | xargs -0 -r getcap
}

install_image() {
  local system=$1 selection
  [ "$(id -u)" -eq 0 ] || die "install runs as root, inside the image being built"
  [ -f "$system/install.sh" ] || die "no install.sh in $system"
  selection=$(mktemp)
  image_packages "$system/packages.txt" >"$selection"
  [ -s "$selection" ] || die "no line of $system/packages.txt is tagged image"
  say "packages: $(cut -d' ' -f1 "$selection" | tr '\n' ' ')"

  # Package scripts must not start services (netperf's would start a netserver).
  local policy=/usr/sbin/policy-rc.d own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=true
  fi
  bash "$system/install.sh" "$selection"
  if $own_policy; then rm -f "$policy"; fi
  rm -f "$selection"

  # The project's own Flent tests (udp_latency), into flent's test directory:
  # flent loads tests from nowhere else.
  [ -d "$system/flent-tests" ] || die "no flent-tests/ in $system (a copy of infra/system/flent-tests/)"
  bash "$system/install.sh" flent-tests "$system/flent-tests"

  local program
  for program in "${PING_PROGRAMS[@]}"; do
    [ -x "$program" ] || die "$program is missing: its package is not tagged image in packages.txt"
  done
  # Every file capability goes (the package scripts set cap_net_raw on fping
  # and ping). getcap/setcap are libcap2-bin, which fping and iputils-ping pull in.
  command -v setcap >/dev/null || die "setcap is missing (libcap2-bin, which fping and iputils-ping depend on)"
  local capable
  while read -r program _; do
    setcap -r "$program"
  done < <(file_capabilities)
  capable=$(file_capabilities)
  [ -z "$capable" ] || die "file capabilities left: $capable"
  # Debian's fallback for fping is a dpkg-statoverride to 4755: drop any such override.
  local mode path
  while read -r _ _ mode path; do
    if [ "$mode" -ge 2000 ]; then dpkg-statoverride --remove "$path"; fi
  done < <(dpkg-statoverride --list)
  find / -xdev -type f -perm /6000 -exec chmod ug-s {} +

  if ! getent group "$USER_ID" >/dev/null; then groupadd --gid "$USER_ID" "$USER_NAME"; fi
  if ! getent passwd "$USER_ID" >/dev/null; then
    # -K: 65532 lies above the login range on purpose; say so instead of warning.
    useradd --uid "$USER_ID" --gid "$USER_ID" --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin -K UID_MAX="$USER_ID" "$USER_NAME"
  fi
  # The bundles' folder (the Dockerfile copies them in; the runc test mounts them).
  install -d -m 755 /opt/netmon

  apt-get clean
  rm -rf /var/lib/apt/lists/*
  say "file capabilities: none; setuid/setgid programs: none"
}

case "${1:-}" in
  packages) image_packages "${2:?usage: provision.sh packages PACKAGES_TXT}" ;;
  install) install_image "${2:?usage: provision.sh install SYSTEM_DIR}" ;;
  *) die "usage: provision.sh packages PACKAGES_TXT | install SYSTEM_DIR" ;;
esac
