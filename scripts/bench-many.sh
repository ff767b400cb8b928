#!/usr/bin/env bash
# Many connections in one process (BENCHMARKS.md, "Many connections"): 10,000 idle
# heartbeating clients (ping every 20 s) on a runtime of 2 threads against one Node.js `ws`
# server, then 2,000 with a thread each for comparison. Prints, for each: RSS, idle CPU
# (every window: min, median, max), heartbeats answered, threads, descriptors, and a server
# restart (every client back, every message sent while it was down echoed).
#
#   scripts/bench-many.sh [many options, see tools/src/bin/many.rs; e.g. --clients 1000]
#
# Needs Node.js (the `ws` package is installed into tests/interop/node_modules if missing)
# and ~2 descriptors per client in each process: the open-file limit is raised here.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f tests/interop/node_modules/ws/package.json ]; then
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open-file limit: $(ulimit -n); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
cargo build --release -q -p wsbeat-tools --bin many
target/release/many --mode runtime --threads 2 --clients 10000 "$@"
target/release/many --mode threads --clients 2000 "$@"
