#!/usr/bin/env bash
# The C ABI: the committed header matches what build.rs generates, and the C test suite is
# clean under valgrind. (The C/C++ tests and examples themselves run in 20-rust.sh as
# tests/ffi_c.rs; they need gcc and g++.)
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

# build.rs regenerates include/wsbeat.h; a difference means the committed header is stale.
WSBEAT_STRICT_HEADER=1 cargo build --lib --quiet
if git rev-parse --git-dir >/dev/null 2>&1; then
  git diff --exit-code -- include/wsbeat.h \
    || { echo "include/wsbeat.h is stale: commit the regenerated header"; exit 1; }
fi

WSBEAT_VALGRIND=1 cargo test --quiet --test ffi_c c_api_test_suite -- --exact --nocapture
