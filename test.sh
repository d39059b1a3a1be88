#!/usr/bin/env bash
# Runs every test: the workspace's Rust tests (unit, property, and integration tests against
# the real server on 127.0.0.1), the browser client's wasm32 build, and the end-to-end test
# of the real page in headless Chromium against the real server, and the crash-safety test
# (SIGKILL during score writes) on the real binaries.
set -euo pipefail
cd "$(dirname "$0")"

echo "== setup: what cargo test needs (PostgreSQL's and Redis's binaries; the tests start their own)"
bash scripts/setup.sh

echo "== cargo test --workspace"
cargo test --workspace

echo "== browser client: wasm32 build (also proves shared builds for wasm32)"
scripts/build-client.sh

echo "== browser end-to-end test"
bash scripts/setup.sh --browser-test
cargo build --release -p asteroids-server --bin asteroids-server -p asteroids-bots --bin asteroids-bots --bin asteroids-link
node --test tests/e2e/
echo "test.sh: all passed"
