#!/usr/bin/env bash
# Runs the game server on http://127.0.0.1:8080/ with the embedded defaults (4,000 asteroids,
# 20 snapshots per second). Extra arguments go to the server: ./run.sh --asteroids 10000
set -euo pipefail
cd "$(dirname "$0")"
exec cargo run --release -p asteroids-server --bin asteroids-server -- "$@"
