#!/usr/bin/env bash
# Formatting, lints and docs of every workspace crate: warnings are errors.
set -euo pipefail
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
