#!/usr/bin/env bash
# Unit, integration and doc tests of every workspace crate (in-process servers on 127.0.0.1;
# the C and C++ tests of ffi/ need gcc and g++).
set -euo pipefail
cargo test --workspace --all-targets
cargo test --workspace --doc
