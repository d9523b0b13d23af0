#!/usr/bin/env bash
# Creates scripts/python/.venv with what the Python side needs: the pinned
# packages of requirements.txt (the client's runtime, grpcio-tools for
# clients/python/generate.sh, pytest, openlineage-python) and the client
# itself, `pip install ./clients/python`.
#
# Idempotent: it rebuilds the venv only when requirements.txt changed since
# the last build (its sha256 is stamped in the venv), and reinstalls the
# client only when its sources changed or it is missing, so a second run
# does nothing. Installs python3 and python3-venv with apt when they are
# missing and this is root (or sudo is there).
set -euo pipefail
cd "$(dirname "$0")"
repo="$(cd ../.. && pwd)"
client="$repo/clients/python"

venv=.venv
requirements_stamp="$venv/.requirements.sha256"
client_stamp="$venv/.lineage-client.sha256"

requirements_hash=$(sha256sum requirements.txt | cut -d' ' -f1)
# Everything pip would build the package from; build leftovers excluded.
client_hash=$(cd "$client" && find pyproject.toml README.md src -type f \
    -not -path '*/__pycache__/*' -not -path '*.egg-info/*' -print0 |
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)

venv_current() {
  [ -x "$venv/bin/python" ] && [ "$(cat "$requirements_stamp" 2>/dev/null)" = "$requirements_hash" ]
}
client_current() {
  [ "$(cat "$client_stamp" 2>/dev/null)" = "$client_hash" ] &&
    "$venv/bin/python" -c 'import lineage_client' 2>/dev/null
}

if venv_current && client_current; then
  exit 0
fi

if ! venv_current; then
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
      else
        echo "python/setup.sh: python3 with venv is missing and this is not root: install python3-venv" >&2
        exit 1
      fi
    fi
    echo "installing python3 and python3-venv (Debian packages)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$requirements_hash" >"$requirements_stamp"
  echo "python/setup.sh: installed requirements.txt in scripts/python/.venv" >&2
fi

# Dependencies come from requirements.txt above; --no-deps keeps this from
# resolving anything else. setuptools builds in the source tree: its
# build/ would carry a module deleted from src/ into the next wheel, so it
# goes, with the egg-info, before and after.
clean_build() { rm -rf "$client/build" "$client"/src/*.egg-info; }
clean_build
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  --force-reinstall "$client"
clean_build
echo "$client_hash" >"$client_stamp"
echo "python/setup.sh: installed lineage-client from clients/python" >&2
