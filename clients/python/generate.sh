#!/usr/bin/env bash
# Regenerates lineage_client.v1 (messages, .pyi type stubs, gRPC stubs) from
# proto/lineage/v1/*.proto with grpcio-tools.
#
#   clients/python/generate.sh [OUT_DIR]
#
# OUT_DIR defaults to clients/python/src/lineage_client/v1, the committed
# copy; tests/test_generated_code.py generates into a temporary directory
# and compares, so the committed files cannot drift from the protos.
#
# protoc writes `from lineage.v1 import events_pb2`, which only imports when
# the generation root is on sys.path. The files are rewritten to import
# their siblings relatively (`from . import events_pb2`), so the package
# works wherever it is installed and owns no top-level `lineage` name.
#
# The interpreter is $PYTHON (default python3); its grpcio-tools must be the
# version pinned in scripts/python/requirements.txt, since the output names
# the versions that made it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$here/src/lineage_client/v1}"
python="${PYTHON:-python3}"

pinned=$(sed -n 's/^grpcio-tools==\([^ ;#]*\).*/\1/p' "$repo/scripts/python/requirements.txt")
installed=$("$python" -c 'import importlib.metadata as m; print(m.version("grpcio-tools"))' 2>/dev/null || true)
if [ -z "$installed" ]; then
  echo "generate.sh: $python has no grpcio-tools; run scripts/python/setup.sh and use scripts/python/.venv/bin/python" >&2
  exit 1
fi
if [ "$installed" != "$pinned" ]; then
  echo "generate.sh: $python has grpcio-tools $installed, scripts/python/requirements.txt pins $pinned" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Messages and stubs for both files, gRPC stubs only for the one with a
# service (events.proto would get an empty *_pb2_grpc.py).
"$python" -m grpc_tools.protoc -I"$repo/proto" \
  --python_out="$work" --pyi_out="$work" \
  "$repo/proto/lineage/v1/events.proto" "$repo/proto/lineage/v1/service.proto"
"$python" -m grpc_tools.protoc -I"$repo/proto" \
  --grpc_python_out="$work" \
  "$repo/proto/lineage/v1/service.proto"

generated="$work/lineage/v1"
for file in "$generated"/*.py "$generated"/*.pyi; do
  sed -i -e 's/^from lineage\.v1 import /from . import /' "$file"
done
if grep -n 'lineage\.v1 import\|^import lineage' "$generated"/*.py "$generated"/*.pyi; then
  echo "generate.sh: an import of lineage.v1 was left unrewritten (above)" >&2
  exit 1
fi

cat >"$generated/__init__.py" <<'PY'
"""Code generated from proto/lineage/v1 by clients/python/generate.sh: DO NOT EDIT.

`events_pb2` holds the event contract (`Event` and its payloads),
`service_pb2` the query messages and `service_pb2_grpc` the
`LineageServiceStub`. Their siblings are imported relatively, so this
package works wherever `lineage_client` is installed.
"""
PY

mkdir -p "$out"
rm -f "$out"/*_pb2.py "$out"/*_pb2.pyi "$out"/*_pb2_grpc.py "$out"/__init__.py
cp "$generated"/*.py "$generated"/*.pyi "$out/"
