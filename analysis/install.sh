#!/usr/bin/env bash
# Installs the analysis package into analysis/.venv, idempotently: creates the
# venv when it is missing (or broken), and runs `pip install -e 'analysis[test]'`
# only when pyproject.toml (or the folder it is installed from) changed since
# the last install; the hash of both is kept in the venv.
# PYTHON picks the interpreter (default python3; 3.10 or newer).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
stamp="$venv/.netmon-analysis-installed"

if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
    echo "analysis: needs Python 3.10 or newer; '$python' is $("$python" --version 2>&1 || echo missing) (set PYTHON=...)" >&2
    exit 1
  fi
  [ -e "$venv" ] && echo "analysis: the venv $venv is broken; recreating it" && rm -rf "$venv"
  echo "analysis: creating the venv $venv ($("$python" --version 2>&1))"
  if ! "$python" -m venv "$venv"; then
    echo "analysis: '$python -m venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
else
  echo "analysis: venv $venv exists ($("$venv/bin/python" --version 2>&1))"
fi

want="$( { sha256sum "$here/pyproject.toml" | cut -d' ' -f1; echo "$here"; } | sha256sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" = "$have" ] && "$venv/bin/python" -c 'import netmon_analysis' >/dev/null 2>&1; then
  echo "analysis: pyproject.toml unchanged since the last install; nothing to do"
  exit 0
fi

echo "analysis: installing netmon_analysis[test] (editable) into the venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -e "$here[test]"
echo "$want" >"$stamp"
echo "analysis: installed ($("$venv/bin/python" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("pandas", "numpy", "matplotlib", "boto3", "pytest")))'))"
