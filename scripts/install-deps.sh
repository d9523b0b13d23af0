#!/usr/bin/env bash
# Installs what the service and its tests need beyond Rust: nats-server with
# JetStream (Debian's package). protoc needs nothing: the build uses the
# protoc-bin-vendored crate. Safe to run again; does nothing when all is there.
set -euo pipefail

if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "nats-server is missing and this is not root: install Debian's nats-server package" >&2
    exit 1
  fi
fi

echo "installing nats-server (Debian package)..." >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends nats-server >/dev/null
# The package enables a system service; the project starts its own servers on
# loopback, so keep the packaged one from competing for port 4222.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  "${as_root[@]}" systemctl disable --now nats-server >/dev/null 2>&1 || true
fi
command -v nats-server >/dev/null
