#!/usr/bin/env bash
# The whole test suite: domain, log, wire, server, CLI and end-to-end tests
# (the latter start real nats-server processes on loopback ports), then the
# Python side (scripts/python/test.sh: the client package, the examples,
# the OpenLineage producer, deploy/tests), against real processes too. Ends
# with one summary line counting both: "tests: N passed, M failed". Fails
# if either part did. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
# The PROV export test reads documents with Python's `prov` package.
./scripts/prov/setup.sh
cargo_log=$(mktemp)
python_log=$(mktemp)
trap 'rm -f "$cargo_log" "$python_log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$cargo_log" || status=$?
python_status=0
./scripts/python/test.sh 2>&1 | tee "$python_log" || python_status=$?
if [ "$python_status" -ne 0 ] && [ "$status" -eq 0 ]; then
  status=$python_status
fi
# cargo: one "test result: ok. N passed; M failed; ..." per test binary.
# pytest: one summary line, "N failed, M passed, K errors in 12.3s" (any
# order, each part optional); an error counts as a failure. A Python run
# that failed before pytest could say anything counts as one failure.
awk -v cargo_log="$cargo_log" -v python_status="$python_status" '
  FILENAME == cargo_log && /^test result:/ { passed += $4; failed += $6; next }
  FILENAME != cargo_log && /^=*[ ]*[0-9]+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?)(,.*)? in [0-9.]+s/ {
    pytest_summary = 1
    line = $0
    gsub(/=/, "", line)
    count = split(line, words, /[ ,]+/)
    for (i = 1; i < count; i++) {
      if (words[i] !~ /^[0-9]+$/) continue
      if (words[i + 1] == "passed") passed += words[i]
      else if (words[i + 1] ~ /^(failed|error|errors)$/) failed += words[i]
    }
  }
  END {
    if (python_status != 0 && !pytest_summary) failed += 1
    printf "tests: %d passed, %d failed\n", passed, failed
  }' "$cargo_log" "$python_log"
exit "$status"
