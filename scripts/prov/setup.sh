#!/usr/bin/env bash
# Creates scripts/prov/.venv with the W3C PROV implementation for Python
# (`prov` from PyPI), which the PROV export test reads our documents with.
# Installs python3 and python3-venv with apt when they are missing and this
# is root. Idempotent: does nothing when the pinned version is there.
set -euo pipefail
cd "$(dirname "$0")"

PROV_VERSION=3.2.3

if [ -x .venv/bin/python ] && .venv/bin/python - "$PROV_VERSION" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
sys.exit(0 if m.version("prov") == sys.argv[1] else 1)
PY
then
  exit 0
fi

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      as_root=(sudo)
    else
      echo "prov/setup.sh: python3 with venv is missing and this is not root: install python3-venv" >&2
      exit 1
    fi
  fi
  echo "installing python3 and python3-venv (Debian packages)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi

rm -rf .venv
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "prov==$PROV_VERSION"
echo "prov/setup.sh: installed prov $PROV_VERSION in scripts/prov/.venv" >&2
