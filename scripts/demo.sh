#!/usr/bin/env bash
# Brings up the whole local stack on loopback and loads the demo history:
#   nats-server with JetStream (installed if missing; data in .local/nats),
#   lineaged (log in .local/lineaged), then deploy/demo/history.jsonl.
# `scripts/demo.sh stop` stops both. Running it again reuses what runs.
set -euo pipefail
cd "$(dirname "$0")/.."

state=.local
nats_port=${LINEAGE_DEMO_NATS_PORT:-4222}
export LINEAGE_NATS_URL=${LINEAGE_NATS_URL:-nats://127.0.0.1:${nats_port}}
export LINEAGE_GRPC_ADDR=${LINEAGE_GRPC_ADDR:-127.0.0.1:50051}
export LINEAGE_DATA_DIR=${LINEAGE_DATA_DIR:-$state/lineaged}
# /metrics, and the HTTP API: OpenLineage in, Marquez-shaped reads.
export LINEAGE_HTTP_ADDR=${LINEAGE_HTTP_ADDR:-127.0.0.1:9464}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
  for name in lineaged nats; do
    if running "$state/$name.pid"; then
      kill "$(cat "$state/$name.pid")"
      for _ in $(seq 50); do running "$state/$name.pid" || break; sleep 0.1; done
      echo "stopped $name"
    fi
    rm -f "$state/$name.pid"
  done
}

if [ "${1:-}" = "stop" ]; then
  stop
  exit 0
fi

./scripts/install-deps.sh
mkdir -p "$state"

echo "building lineaged and lineage..."
cargo build --locked --quiet -p lineage-server -p lineage-cli
bin=target/debug

if running "$state/nats.pid"; then
  echo "nats-server already running (pid $(cat "$state/nats.pid"))"
else
  nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$state/nats" >"$state/nats.log" 2>&1 &
  echo $! >"$state/nats.pid"
  for _ in $(seq 100); do
    grep -q "Server is ready" "$state/nats.log" 2>/dev/null && break
    running "$state/nats.pid" || { cat "$state/nats.log" >&2; echo "nats-server failed to start" >&2; exit 1; }
    sleep 0.1
  done
  echo "nats-server listening on 127.0.0.1:$nats_port (JetStream data in $state/nats)"
fi

if running "$state/lineaged.pid"; then
  echo "lineaged already running (pid $(cat "$state/lineaged.pid"))"
else
  "$bin/lineaged" >"$state/lineaged.log" 2>&1 &
  echo $! >"$state/lineaged.pid"
  # Serving is not enough: emit needs the stream, which lineaged creates
  # when it takes its consumer.
  for _ in $(seq 300); do
    "$bin/lineage" --format json status 2>/dev/null | grep -Eq '"ingest_connected": *true' && break
    running "$state/lineaged.pid" || { cat "$state/lineaged.log" >&2; echo "lineaged failed to start" >&2; exit 1; }
    sleep 0.1
  done
  echo "lineaged serving gRPC on $LINEAGE_GRPC_ADDR, HTTP on $LINEAGE_HTTP_ADDR (log in $LINEAGE_DATA_DIR, output in $state/lineaged.log)"
fi

echo "loading the demo history..."
"$bin/lineage" emit deploy/demo/history.jsonl --wait
"$bin/lineage" status

cat <<TRY

The stack is up. Try (the binaries are in $bin; stop with scripts/demo.sh stop):

  # 1. Which runs used applications@3? Any version of it?
  $bin/lineage -w credit-lender runs-using applications@3
  $bin/lineage -w credit-lender runs-using applications
  # 2. Where did credit-risk@7 come from?
  $bin/lineage -w credit-lender trace credit-risk@7
  $bin/lineage -w credit-lender provenance model:credit-risk@7 --format dot > credit-risk-7.dot
  # 3. applications@3 is flagged corrupt: what is downstream, what is in production?
  $bin/lineage -w credit-lender impact dataset:applications@3
  $bin/lineage -w insurer-fraud impact dataset:scam-labels@1
  $bin/lineage -w agri-yield impact env:pytorch@2.4.0
  # One entity, as JSON
  $bin/lineage -w insurer-fraud --format json get model:fraud@12
  # What is different about how credit-risk@7 was made, against @5?
  $bin/lineage -w credit-lender diff credit-risk@5 credit-risk@7
  # 5. Sweep trials with lr=0.03 ranked by AUC; two runs side by side, curves drawn
  $bin/lineage -w credit-lender runs search --filter "params.lr = '0.03' and status = 'COMPLETED'" --order-by 'metrics.auc DESC'
  $bin/lineage -w credit-lender runs compare cr-sweep-0706-t08 cr-sweep-0706-t16 --plot curves.svg
  # 6. Does the model in production meet its promotion criteria?
  $bin/lineage -w credit-lender promotion check credit-risk@7
  # 8. Tell me as it happens when anything new depends on the flagged dataset (Ctrl-C stops)
  $bin/lineage -w credit-lender watch dataset:applications@3
  # OpenLineage in over HTTP (any OpenLineage client's HTTP transport), and
  # the lineage graph in Marquez's shape
  for state in start complete; do curl -s -XPOST http://$LINEAGE_HTTP_ADDR/api/v1/lineage -H 'Content-Type: application/json' -d @deploy/demo/openlineage-$state.json; echo; done
  curl -s "http://$LINEAGE_HTTP_ADDR/api/v1/lineage?nodeId=job:credit-lender:bureau_refresh.load_scores&depth=2"
  # Evidence for auditors: the log checked here, and W3C PROV of a model's origins
  $bin/lineage replay --verify > history.jsonl
  $bin/lineage -w credit-lender export --prov model:credit-risk@7 --out credit-risk-7.prov.json
  # Erase a person's data from a run's events, keeping its lineage and the chain
  $bin/lineage -w credit-lender redact run:cr-logreg-0112 --field actor --reason "DSR-2026-031" --wait
TRY
