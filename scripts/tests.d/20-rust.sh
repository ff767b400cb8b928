#!/usr/bin/env bash
# Unit, integration and doc tests of the crate (in-process servers on 127.0.0.1).
set -euo pipefail
cargo test --all-targets
cargo test --doc
