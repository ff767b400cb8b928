#!/usr/bin/env bash
# The C ABI: the committed header is what the pinned cbindgen generates from ffi/src/ (drift
# fails, as in rustls-ffi's CI), and the C test suite is clean under valgrind. (The C/C++ tests
# and examples themselves also run in 20-rust.sh as ffi/tests/ffi_c.rs; they need gcc and g++.)
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v g++ >/dev/null || missing+=(g++)
command -v valgrind >/dev/null || missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

cargo run --quiet -p wsbeat-tools --bin gen-header -- --check

WSBEAT_VALGRIND=1 cargo test --quiet -p wsbeat-ffi --test ffi_c c_api_test_suite -- --exact --nocapture
WSBEAT_VALGRIND=1 cargo test --quiet -p wsbeat-ffi --test ffi_c c_compression -- --exact --nocapture

# The shared runtime (ws_runtime: 50 clients on 2 threads, freed before its clients, ...).
WSBEAT_VALGRIND=1 cargo test --quiet -p wsbeat-ffi --test ffi_c c_runtime -- --exact --nocapture
