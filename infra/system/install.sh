#!/usr/bin/env bash
# Installs the Debian packages listed in packages.txt, only those missing.
# Idempotent. A package from another component (netperf is in non-free) gets
# a separate apt source file plus a pin, so nothing else is taken from that
# component and the machine's own sources stay untouched.
#
#   install.sh                     packages.txt, then the project's Flent tests
#   install.sh LIST                the packages of LIST only (the Flent image's selection)
#   install.sh flent-tests DIR     only the Flent tests DIR holds (DIR/*.conf)
#
# Flent tests: k8s-netmon ships tests Flent does not have (flent-tests/ here:
# udp_latency.conf). Flent loads tests only from its own test directory, so
# each file is copied there, when missing or different.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Flent's test directory (flent.testenv.TEST_PATH), asked of the installed
# flent: Debian's keeps its module beside its entry script
# (/usr/share/flent/run), run by the interpreter its first line names.
flent_test_path() {
  local entry interpreter
  entry=$(command -v flent) || return 1
  entry=$(readlink -f "$entry")
  interpreter=$(sed -n '1s/^#![[:space:]]*//p' "$entry")
  PYTHONPATH=$(dirname "$entry")${PYTHONPATH:+:$PYTHONPATH} ${interpreter:-python3} -c \
    'import flent.testenv as t; print(t.TEST_PATH)'
}

install_flent_tests() {
  local dir=$1 tests file target changed=()
  [ -d "$dir" ] || { echo "flent tests: no directory $dir" >&2; exit 1; }
  tests=$(flent_test_path) || { echo "flent tests: flent is not installed (it is in packages.txt)" >&2; exit 1; }
  [ -d "$tests" ] || { echo "flent tests: flent's test directory $tests does not exist" >&2; exit 1; }
  for file in "$dir"/*.conf; do
    [ -e "$file" ] || continue
    target=$tests/${file##*/}
    if ! cmp -s "$file" "$target"; then
      install -m 644 "$file" "$target"
      changed+=("${file##*/}")
    fi
  done
  if [ ${#changed[@]} -eq 0 ]; then
    echo "flent tests: all present in $tests"
  else
    echo "flent tests: installed ${changed[*]} into $tests"
  fi
}

if [ "${1:-}" = flent-tests ]; then
  install_flent_tests "${2:?usage: install.sh flent-tests DIR}"
  exit 0
fi
list=${1:-$here/packages.txt}
# Without a list: this machine, which also gets the project's Flent tests.
with_flent_tests=false
if [ $# -eq 0 ]; then with_flent_tests=true; fi

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
  if $with_flent_tests; then install_flent_tests "$here/flent-tests"; fi
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
if $with_flent_tests; then install_flent_tests "$here/flent-tests"; fi
