#!/usr/bin/env bash
# Sourced, not run: puts into the environment what `cargo build --target wasm32-unknown-unknown`
# needs on this machine, and sets WASM_CARGO_FLAGS. Prefers rustup's installed target; falls
# back to Debian's rustc-web + rust-web-src + lld-19 with -Zbuild-std (see scripts/setup.sh).
# Returns non-zero, with a message, when neither is usable.
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  WASM_CARGO=cargo
  WASM_CARGO_FLAGS=""
elif [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ] && command -v wasm-ld-19 >/dev/null; then
  WASM_CARGO=/usr/bin/cargo
  export RUSTC=/usr/bin/rustc
  export RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19
  WASM_CARGO_FLAGS="-Zbuild-std=std,panic_abort"
else
  echo "no wasm32 toolchain: install rustup's wasm32-unknown-unknown target, or run scripts/setup.sh (Debian rustc-web, rust-web-src, lld-19)" >&2
  return 1 2>/dev/null || exit 1
fi
# A separate target directory: the two toolchains must not share build artefacts.
export WASM_TARGET_DIR="${WASM_TARGET_DIR:-$(pwd)/target/wasm}"
export WASM_CARGO WASM_CARGO_FLAGS
