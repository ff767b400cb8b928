#!/usr/bin/env bash
# Formatting, lints and docs: warnings are errors.
set -euo pipefail
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
