#!/usr/bin/env bash
# Interop with real peers written by others (installed by 05-peers.sh): tests/interop.rs with
# the peers required (a missing peer fails instead of being skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/tests.d/05-peers.sh >/dev/null
WSBEAT_INTEROP_REQUIRED=1 cargo test --test interop
