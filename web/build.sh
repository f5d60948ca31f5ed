#!/usr/bin/env bash
# Builds the web page into web/dist/ — index.html, app.js, the WebAssembly module and wasm-bindgen's
# JavaScript glue — installing what it needs (the wasm32 target, the wasm-bindgen CLI of the version
# Cargo.toml pins). Serve web/dist/ from any static server, e.g. `python3 -m http.server -d web/dist`.
set -euo pipefail
cd "$(dirname "$0")"
WASM_BINDGEN=0.2.130

rustup target add wasm32-unknown-unknown
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$WASM_BINDGEN" ]; then
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN"
fi
cargo build --lib --release --target wasm32-unknown-unknown
# Wherever cargo put it: CARGO_TARGET_DIR (or a config's build.target-dir) may move the target folder.
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
rm -rf dist
mkdir -p dist
wasm-bindgen --target web --no-typescript --out-dir dist --out-name vanish \
  "$target_dir/wasm32-unknown-unknown/release/vanish_web.wasm"
cp index.html app.js network.js dist/
echo "web/dist: $(du -sh dist | cut -f1) ($(ls dist | tr '\n' ' '))"
