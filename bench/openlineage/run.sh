#!/usr/bin/env bash
# OpenLineage in, against its baseline in the same run: how fast lineaged
# takes OpenLineage events over HTTP (POST /api/v1/lineage, answered once
# JetStream holds each) and applies their translation, next to how fast it
# applies native events published straight to NATS (`lineage emit`).
#
#   bench/openlineage/run.sh [SECONDS] [CONNECTIONS] [NATIVE_EVENTS]
#
# Starts its own nats-server and a release lineaged on free loopback ports
# with temporary stores, and stops them (by PID) at the end. Needs wrk
# (Debian's package, installed when missing and root).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-10}
connections=${2:-16}
native_events=${3:-60000}

if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "wrk is missing: install Debian's wrk" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
./scripts/install-deps.sh
cargo build --release --locked --quiet -p lineage-server -p lineage-cli
bin=target/release

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_port=$(free_port); grpc_port=$(free_port); http_port=$(free_port)
nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
export LINEAGE_NATS_URL=nats://127.0.0.1:$nats_port
export LINEAGE_GRPC_ADDR=127.0.0.1:$grpc_port
for _ in $(seq 100); do grep -q "Server is ready" "$work/nats.log" && break; sleep 0.1; done
"$bin/lineaged" --data-dir "$work/lineaged" --http-addr "127.0.0.1:$http_port" >"$work/lineaged.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  "$bin/lineage" --format json status 2>/dev/null | grep -Eq '"ingest_connected": *true' && break
  sleep 0.1
done

applied() { "$bin/lineage" --format json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["applied_seq"])'; }
wait_applied() {
  local target=$1
  for _ in $(seq 1200); do
    [ "$(applied)" -ge "$target" ] && return 0
    sleep 0.25
  done
  echo "lineaged did not apply $target records in 5 minutes (applied: $(applied))" >&2
  tail -20 "$work/lineaged.log" >&2
  exit 1
}
now() { date +%s.%N; }

# Baseline: native events (run starts, each its own run), published and
# applied.
python3 - "$native_events" >"$work/native.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"eventId": f"n-{i}", "workspace": "bench", "occurredAt": "2026-03-01T10:00:00Z",
                      "producer": "bench", "runStarted": {"runId": f"n-run-{i}", "experiment": f"e{i % 50}"}}))
PY
start=$(now)
"$bin/lineage" emit "$work/native.jsonl" >/dev/null
wait_applied "$native_events"
native_secs=$(python3 -c "print($(now) - $start)")

# OpenLineage over HTTP for $seconds, then until every translation is applied.
before=$(applied)
start=$(now)
wrk -t2 -c"$connections" -d"${seconds}s" -s bench/openlineage/post.lua "http://127.0.0.1:$http_port/api/v1/lineage" >"$work/wrk.log" 2>"$work/wrk.err"
posted=$(awk '/requests in/ { print $1 }' "$work/wrk.log")
post_secs=$(python3 -c "print($(now) - $start)")
wait_applied $((before + posted * 6))
ol_secs=$(python3 -c "print($(now) - $start)")
errors=$(grep -c "unexpected status" "$work/wrk.err" || true)

python3 - "$native_events" "$native_secs" "$posted" "$post_secs" "$ol_secs" "$errors" "$connections" <<'PY'
import sys
n, n_s, posted, post_s, ol_s, errors, conns = sys.argv[1:]
n, n_s, posted, post_s, ol_s = int(n), float(n_s), int(posted), float(post_s), float(ol_s)
print(f"native (lineage emit, baseline): {n} events applied in {n_s:.1f} s: {n / n_s:,.0f} events/s")
print(f"OpenLineage POST ({conns} connections): {posted} accepted in {post_s:.1f} s: {posted / post_s:,.0f} events/s "
      f"(non-201 answers: {errors})")
print(f"  translated and applied: {posted * 6} lineage events by {ol_s:.1f} s: {posted / ol_s:,.0f} OpenLineage events/s, "
      f"{posted * 6 / ol_s:,.0f} lineage events/s ({posted * 6 / ol_s / (n / n_s):.2f} x the baseline)")
PY
