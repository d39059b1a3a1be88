#!/usr/bin/env bash
# Builds the browser client into www/pkg: the client-wasm crate for wasm32 (rustup's target or
# Debian's toolchain, see scripts/wasm-env.sh), then wasm-bindgen --target web. Installs the
# wasm-bindgen CLI at exactly the version in Cargo.lock when it is missing (once, ~5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$version" ]; then echo "build-client: no wasm-bindgen in Cargo.lock" >&2; exit 1; fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $version\$"; then
  echo "build-client: installing wasm-bindgen-cli $version"
  cargo install wasm-bindgen-cli --version "$version"
fi

# shellcheck source=scripts/wasm-env.sh
if ! source scripts/wasm-env.sh 2>/dev/null; then
  echo "build-client: no wasm32 toolchain yet; installing one (scripts/setup.sh)"
  bash scripts/setup.sh
  source scripts/wasm-env.sh
fi
CARGO_TARGET_DIR="$WASM_TARGET_DIR" $WASM_CARGO build --release --target wasm32-unknown-unknown $WASM_CARGO_FLAGS -p asteroids-client
rm -rf www/pkg
wasm-bindgen --target web --no-typescript --out-dir www/pkg "$WASM_TARGET_DIR/wasm32-unknown-unknown/release/asteroids_client.wasm"
echo "build-client: www/pkg ready ($(du -h www/pkg/asteroids_client_bg.wasm | cut -f1) of wasm)"
