#!/usr/bin/env bash
# Builds rust/ (crate ig_core) for wasm32-unknown-unknown and writes src/wasm/ig_core.wasm, which
# rollup copies into dist/. Toolchain choice, in order:
#   1. a rustup toolchain that already has the wasm32-unknown-unknown target installed;
#   2. Debian's rustc/cargo with libstd-rust-dev-wasm32 (what scripts/setup.sh installs), called by
#      absolute path so that a rustup `cargo` earlier in PATH cannot shadow it.
# wasm-bindgen/wasm-pack are not used: neither installs offline (docs/runtimes.md, "Why no wasm-pack").
# With --test, runs the crate's native unit tests instead.
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-unknown-unknown
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  cargo=(cargo)
elif [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/$target ]; then
  cargo=(env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc /usr/bin/cargo)
else
  echo "build-wasm: no Rust toolchain with the $target standard library." >&2
  echo "  Run scripts/setup.sh (installs Debian rustc, cargo, libstd-rust-dev-wasm32, lld)," >&2
  echo "  or 'rustup target add $target' where rustup can download." >&2
  exit 1
fi

if [ "${1:-}" = "--test" ]; then
  # Native unit tests of the crate (same toolchain; Debian's rustc ships the host std too).
  exec "${cargo[@]}" test --offline --release --manifest-path rust/Cargo.toml --target-dir rust/target
fi

# Debian's rustc links wasm32 with rust-lld from the lld package; offline, no crates are fetched.
"${cargo[@]}" build --offline --release --target "$target" --manifest-path rust/Cargo.toml \
  --target-dir rust/target
raw=rust/target/$target/release/ig_core.wasm
out=src/wasm/ig_core.wasm
if command -v wasm-opt >/dev/null 2>&1; then
  wasm-opt -Oz --strip-debug --strip-producers "$raw" -o "$out"
else
  cp "$raw" "$out"
fi
echo "build-wasm: $out $(wc -c <"$out") bytes"
