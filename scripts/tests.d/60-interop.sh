#!/usr/bin/env bash
# Interop with real peers written by others (installed by 05-peers.sh): tests/interop.rs and
# the CLI's cli/tests/eof_echo.rs with the peers required (a missing peer fails instead of
# being skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/tests.d/05-peers.sh >/dev/null
# From test-all.sh (WSBEAT_TEST_ALL) step 20 has run these with the peers required already.
if [ -z "${WSBEAT_TEST_ALL:-}" ]; then
  WSBEAT_INTEROP_REQUIRED=1 cargo test --test interop
  # `echo hi | wsbeat URL`, 200 runs against each peer and the embedded server (issue 12 §6);
  # one test at a time: each runs its batches of processes in parallel already.
  WSBEAT_INTEROP_REQUIRED=1 cargo test -p wsbeat-cli --test eof_echo -- --test-threads=1
  # permessage-deflate against the same peers (and a raw in-test server).
  WSBEAT_INTEROP_REQUIRED=1 cargo test --test deflate
fi
# The many-connections benchmark's command (scripts/bench-many.sh), small: 500 clients on a
# runtime against the Node `ws` server, 1 s heartbeat, a server restart; it exits non-zero if a
# client does not come back or a message sent while the server was down is lost.
ulimit -n 4096 2>/dev/null || true
cargo run -q -p wsbeat-tools --bin many -- --clients 500 --interval 1 --windows 1 --window 2
