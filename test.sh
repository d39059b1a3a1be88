#!/usr/bin/env bash
# Runs every test: the workspace's Rust tests (unit, property and integration tests against
# the real server on 127.0.0.1), and a check that `shared` builds for wasm32.
set -euo pipefail
cd "$(dirname "$0")"

echo "== cargo test --workspace"
cargo test --workspace

echo "== shared builds for wasm32-unknown-unknown"
# shellcheck source=scripts/wasm-env.sh
source scripts/wasm-env.sh
CARGO_TARGET_DIR="$WASM_TARGET_DIR" $WASM_CARGO build --release --target wasm32-unknown-unknown $WASM_CARGO_FLAGS -p asteroids-shared
echo "test.sh: all passed"
