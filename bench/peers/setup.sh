#!/usr/bin/env bash
# Creates bench/peers/.venv with the pinned peers: ML Metadata and MLflow.
# Idempotent: does nothing when the venv already has the pinned versions.
#
# ml-metadata 1.17.1 ships wheels for CPython 3.9-3.11 only; mlflow 3.18.0
# (the newest on PyPI) could not be installed here because its
# mlflow-skinny==3.18.0 was not on the index, so mlflow is pinned to 3.17.2.
# constraints.txt pins every transitive dependency to what was measured.
set -euo pipefail
cd "$(dirname "$0")"

MLMD_VERSION=1.17.1
MLFLOW_VERSION=3.17.2
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 11) else 1)'; then
  echo "setup.sh: ml-metadata $MLMD_VERSION needs Python 3.9-3.11; $PYTHON is $("$PYTHON" -V 2>&1)." >&2
  echo "          Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y python3-venv
    else
      echo "setup.sh: python3-venv is missing; run: sudo apt-get install -y python3-venv" >&2
      exit 1
    fi
  fi
  "$PYTHON" -m venv .venv
fi

installed() {
  .venv/bin/python - "$MLMD_VERSION" "$MLFLOW_VERSION" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
ok = m.version("ml-metadata") == sys.argv[1] and m.version("mlflow") == sys.argv[2]
sys.exit(0 if ok else 1)
PY
}

if installed; then
  echo "setup.sh: .venv has ml-metadata $MLMD_VERSION and mlflow $MLFLOW_VERSION"
  exit 0
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -c constraints.txt "ml-metadata==$MLMD_VERSION" "mlflow==$MLFLOW_VERSION"
installed
echo "setup.sh: installed ml-metadata $MLMD_VERSION and mlflow $MLFLOW_VERSION in .venv"
