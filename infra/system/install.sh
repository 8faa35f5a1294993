#!/usr/bin/env bash
# Installs the Debian packages listed in packages.txt, only those missing.
# Idempotent. A package from another component (netperf is in non-free) gets
# a separate apt source file plus a pin, so nothing else is taken from that
# component and the machine's own sources stay untouched.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
list=${1:-$here/packages.txt}

# A line: "<package> [component] [tag...]". Tags say who else reads the line
# (image: the Flent image takes it too; test: tests; cluster: the local real
# cluster, `npm run cluster`); every line is
# installed here, so they are only checked for typos.
readonly COMPONENTS=' main contrib non-free non-free-firmware '
readonly TAGS=' image test cluster '
missing=()
declare -A component_of=()
line_no=0
while read -r pkg rest; do
  line_no=$((line_no + 1))
  case "$pkg" in ''|'#'*) continue ;; esac
  component=main
  read -r -a words <<<"$rest"
  for word in "${words[@]}"; do
    if [[ $COMPONENTS == *" $word "* ]]; then
      component=$word
    elif [[ $TAGS != *" $word "* ]]; then
      echo "$list:$line_no: '$word' is neither a Debian component (${COMPONENTS# }) nor a tag (${TAGS# })" >&2
      exit 1
    fi
  done
  component_of[$pkg]=$component
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done <"$list"

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system packages missing: ${missing[*]}; installing them needs root: sudo bash $here/install.sh" >&2
  exit 1
fi
echo "system packages: installing ${missing[*]}"

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
for pkg in "${missing[@]}"; do
  component=${component_of[$pkg]}
  [ "$component" = main ] && continue
  src=/etc/apt/sources.list.d/netmon-$component.sources
  if [ ! -f "$src" ]; then
    cat >"$src" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename
Components: $component
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  # Only the listed packages may come from this component.
  pin=/etc/apt/preferences.d/netmon-$component
  if ! grep -qx "Package: $pkg" "$pin" 2>/dev/null; then
    if [ ! -f "$pin" ]; then
      printf 'Package: *\nPin: release c=%s\nPin-Priority: -1\n' "$component" >"$pin"
    fi
    printf '\nPackage: %s\nPin: release c=%s\nPin-Priority: 500\n' "$pkg" "$component" >>"$pin"
  fi
done

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "system packages: done"
