#!/usr/bin/env bash
# Usage: bench/peers/run.sh [EVENTS]        (default 20000)
#
# Sets up the peers if needed, generates the workload with lineage-bench,
# measures lineaged's own figures (`lineage-bench run`, skip with LINEAGE=0),
# loads the same workload into ML Metadata and MLflow and times their
# equivalent queries, then prints one markdown table and writes
# bench/peers/results-<EVENTS>.json.
#
# Environment:
#   LINEAGE=0                   skip `lineage-bench run` (the peers only)
#   SECOND_BACKLOG=1            also load, after the workload, the second
#                               backlog that lineage-bench's scenario 5 adds
#                               (EVENTS/2 events, seed 7, ids prefixed b-),
#                               so the peers are queried on the same graph
#                               as lineaged's scenario 3; 0: the workload only.
#                               The load figure is the workload's either way.
#   PEERS="mlmd mlflow"         which peers to run
#   BUDGET=2                    seconds per query figure (at most MAX_REPS reps)
#   MAX_REPS=2000
#   MAX_LOAD_SECONDS=600        a peer still loading after this long stops,
#                               and is queried on the subset it loaded (the
#                               table and the JSON say so); per peer:
#                               MLMD_MAX_LOAD_SECONDS, MLFLOW_MAX_LOAD_SECONDS
#   PEER_DIR=dir                where the peers' SQLite stores go (default: the
#                               system temp dir, on disk; /dev/shm takes fsync
#                               out of the load figure)
#   LINEAGE_BENCH=path          the lineage-bench binary (default:
#                               target/release/lineage-bench, built if missing)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
EVENTS=${1:-20000}
PEERS=${PEERS:-mlmd mlflow}
BUDGET=${BUDGET:-2}
MAX_REPS=${MAX_REPS:-2000}
MAX_LOAD_SECONDS=${MAX_LOAD_SECONDS:-600}
BIN=${LINEAGE_BENCH:-$ROOT/target/release/lineage-bench}

case "$EVENTS" in
  ''|*[!0-9]*) echo "usage: $0 [EVENTS]" >&2; exit 2 ;;
esac

"$HERE/setup.sh"
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release -p lineage-bench)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lineage-peers.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# MLflow 3 sends usage telemetry unless told not to; nothing leaves the machine.
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true

echo "== workload: $EVENTS events" >&2
"$BIN" workload --events "$EVENTS" --out "$WORK/workload.jsonl"
BACKLOG_ARGS=()
if [ "${SECOND_BACKLOG:-1}" != 0 ] && [ $((EVENTS / 2)) -gt 0 ]; then
  "$BIN" workload --events $((EVENTS / 2)) --seed 7 --out "$WORK/backlog.jsonl"
  BACKLOG_ARGS=(--second-backlog "$WORK/backlog.jsonl")
fi

LINEAGE_JSON=
if [ "${LINEAGE:-1}" != 0 ]; then
  echo "== lineage-bench run --events $EVENTS" >&2
  if "$BIN" run --events "$EVENTS" --json "$WORK/lineage.json" > "$WORK/lineage.txt" 2> "$WORK/lineage.err"; then
    LINEAGE_JSON=$WORK/lineage.json
  else
    echo "lineage-bench run failed; the table has the peers only:" >&2
    tail -20 "$WORK/lineage.err" >&2
  fi
fi

MLMD_JSON=
MLFLOW_JSON=
for peer in $PEERS; do
  echo "== $peer" >&2
  case $peer in
    mlmd) cap=${MLMD_MAX_LOAD_SECONDS:-$MAX_LOAD_SECONDS} ;;
    mlflow) cap=${MLFLOW_MAX_LOAD_SECONDS:-$MAX_LOAD_SECONDS} ;;
    *) echo "unknown peer $peer" >&2; exit 2 ;;
  esac
  "$HERE/.venv/bin/python" "$HERE/${peer}_bench.py" --workload "$WORK/workload.jsonl" \
    --budget "$BUDGET" --max-reps "$MAX_REPS" --max-load-seconds "$cap" \
    ${PEER_DIR:+--dir "$PEER_DIR"} \
    ${BACKLOG_ARGS[@]+"${BACKLOG_ARGS[@]}"} --json "$WORK/$peer.json" > "$WORK/$peer.txt" || {
    echo "$peer failed; the table leaves it out" >&2
    continue
  }
  case $peer in
    mlmd) MLMD_JSON=$WORK/mlmd.json ;;
    mlflow) MLFLOW_JSON=$WORK/mlflow.json ;;
  esac
done

"$HERE/.venv/bin/python" "$HERE/report.py" --events "$EVENTS" \
  ${LINEAGE_JSON:+--lineage "$LINEAGE_JSON"} ${MLMD_JSON:+--mlmd "$MLMD_JSON"} \
  ${MLFLOW_JSON:+--mlflow "$MLFLOW_JSON"} --out "$HERE/results-$EVENTS.json"
