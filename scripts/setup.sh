#!/usr/bin/env bash
# Installs what building the project needs on a fresh Debian 12 machine: the wasm32
# toolchain (rustup's target where it is installed, otherwise Debian's rustc-web with the std
# sources and lld-19), and what `cargo test` needs: PostgreSQL's server binaries and
# redis-server (the tests start their own servers, on free loopback ports, in temporary
# directories; nothing here starts them). With --browser-test, also what the browser test
# needs: Debian's Chromium, Node.js and the npm packages (playwright-core).
# Idempotent: skips what is already there. Needs root (or sudo) only to install packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have_rustup_wasm() { command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; }
if ! have_rustup_wasm; then
  # rustup cannot download targets on machines that reach only package registries; Debian's
  # rustc-web ships a compiler new enough for -Zbuild-std, and rust-web-src the std sources.
  [ -x /usr/bin/rustc ] && /usr/bin/rustc --version | grep -q '^rustc 1\.9' || need_apt+=(rustc-web cargo-web)
  [ -d /usr/lib/rustlib/src/rust/library ] || need_apt+=(rust-web-src)
  command -v wasm-ld-19 >/dev/null || need_apt+=(lld-19)
fi
# The store's tests run against a real PostgreSQL (tests/src/services.rs finds its newest
# /usr/lib/postgresql/<version>/bin), and the universe's against a real Redis.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
command -v redis-server >/dev/null || need_apt+=(redis-server)
browser_test=false
[ "${1:-}" = "--browser-test" ] && browser_test=true
if $browser_test; then
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  command -v node >/dev/null || need_apt+=(nodejs npm)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi

if $browser_test && [ ! -d node_modules/playwright-core ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund
fi
echo "setup: done"
