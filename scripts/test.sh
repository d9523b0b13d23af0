#!/usr/bin/env bash
# The whole test suite: domain, log, wire, server, CLI and end-to-end tests
# (the latter start real nats-server processes on loopback ports). Ends with
# one summary line: "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
# The PROV export test reads documents with Python's `prov` package.
./scripts/prov/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
