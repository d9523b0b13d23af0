#!/usr/bin/env bash
# The whole test suite: domain, log, wire, server and end-to-end tests (the
# latter start real nats-server processes on loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cargo test --workspace --locked "$@"
