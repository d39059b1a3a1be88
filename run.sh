#!/usr/bin/env bash
# Builds the browser client (installing the wasm toolchain if this machine has none) and runs
# the game server on http://127.0.0.1:8080/ with the embedded defaults (4,000 asteroids, 20
# snapshots per second). Extra arguments go to the server: ./run.sh --asteroids 10000
set -euo pipefail
cd "$(dirname "$0")"
if ! scripts/build-client.sh; then
  echo "run.sh: the browser client could not be built; the server will say so on its page" >&2
fi
exec cargo run --release -p asteroids-server --bin asteroids-server -- "$@"
