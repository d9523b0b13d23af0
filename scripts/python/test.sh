#!/usr/bin/env bash
# The Python side's tests: builds lineaged and the lineage CLI, prepares
# scripts/python/.venv (setup.sh), then runs pytest on clients/python/tests
# and, when it exists, deploy/tests. The tests start their own nats-server
# and lineaged on loopback ports. Ends with pytest's summary line, which
# scripts/test.sh counts. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --locked -p lineage-server -p lineage-cli --bins
./scripts/python/setup.sh

target_dir=${CARGO_TARGET_DIR:-target}
export LINEAGED_BIN=${LINEAGED_BIN:-$PWD/$target_dir/debug/lineaged}
export LINEAGE_CLI_BIN=${LINEAGE_CLI_BIN:-$PWD/$target_dir/debug/lineage}
# No __pycache__ or .pytest_cache left in the tree.
export PYTHONDONTWRITEBYTECODE=1

test_dirs=(clients/python/tests)
if [ -d deploy/tests ]; then
  test_dirs+=(deploy/tests)
fi

# The repository is the root (not clients/python, whose pyproject.toml
# pytest would otherwise take as one), so test ids read from here.
# importlib mode: the two directories may hold test files of the same name,
# which the default mode cannot import side by side; `pythonpath` still
# lets each import modules beside its tests. Each test gets at most 5
# minutes (pytest-timeout), so a hung process cannot stall CI.
exec scripts/python/.venv/bin/python -m pytest -q -p no:cacheprovider --rootdir "$PWD" \
  --import-mode=importlib -o pythonpath="${test_dirs[*]}" --timeout=300 \
  "${test_dirs[@]}" "$@"
