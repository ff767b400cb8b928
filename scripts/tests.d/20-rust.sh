#!/usr/bin/env bash
# Unit, integration and doc tests of every workspace crate (in-process servers on 127.0.0.1;
# the C and C++ tests of ffi/ need gcc and g++).
set -euo pipefail
if [ -n "${WSBEAT_TEST_ALL:-}" ]; then
  # From test-all.sh: 05-peers.sh installed every peer, so none may be missing here (steps 60
  # and 65 do not run these tests again).
  export WSBEAT_INTEROP_REQUIRED=1 WSBEAT_PROXIES_REQUIRED=1 WSBEAT_NETNS_REQUIRED=1
fi
cargo test --workspace --all-targets
cargo test --workspace --doc
# The behaviour suites again with every client on one shared runtime thread (wsbeat::Runtime;
# the suites build clients through wsbeat_testkit::builder, which reads this variable).
WSBEAT_TEST_RUNTIME=1 cargo test -p wsbeat \
  --test core --test faults --test weak_network --test final_events --test regressions \
  --test endpoints --test proxy --test direct_write --test no_spin --test protocol_errors
