#!/usr/bin/env bash
# The benchmark command (BENCHMARKS.md): builds in release mode, installs the comparison
# clients (Python websocket-client into bench/.venv, Node ws into bench/node/node_modules)
# unless they are there already, raises the open-file limit for the 1,000-connection
# measure, and runs every measure. Prints the table; writes bench-results/*.json (git-ignored).
#
#   scripts/bench.sh [--quick] [--no-install] [bench options, see --help]
#
# A registry that cannot be reached only skips that client's rows, with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
args=()
for a in "$@"; do
  case "$a" in
    --no-install) install=0 ;;
    *) args+=("$a") ;;
  esac
done

# 1,000 clients need ~3,000 descriptors in the measuring process, the server ~2,000.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Two builds: with `--bin bench` in one command, cargo builds only targets named `bench` in
# every package given, and libwsbeat.so (the C and Python rows' library) stayed stale.
cargo build --release -p wsbeat-ffi
cargo build --release -p wsbeat-tools --bin bench

# The C layer's client (bench/c/wsbeat_client.c) against target/release/libwsbeat.so. The
# loader looks for the SONAME (libwsbeat.so.0.1, set by build.rs), which cargo does not make:
# link it next to the library, as an install does.
soname="$(objdump -p target/release/libwsbeat.so 2>/dev/null | awk '/SONAME/ {print $2}')"
if [[ -n "${soname}" && "${soname}" != libwsbeat.so ]]; then
  ln -sf libwsbeat.so "target/release/${soname}"
fi
if [[ -f include/wsbeat.h ]] && command -v cc >/dev/null; then
  cc -O2 -Wall -Wextra -Iinclude bench/c/wsbeat_client.c -Ltarget/release -lwsbeat -lm \
    -lpthread -Wl,-rpath,"$PWD/target/release" -o target/release/bench-c-client
else
  echo "bench.sh: skipped: C bench client not built (no include/wsbeat.h or no cc)" >&2
fi

if [[ $install == 1 ]]; then
  if ! bench/.venv/bin/python -c 'import websocket' 2>/dev/null; then
    echo "bench.sh: installing websocket-client into bench/.venv" >&2
    if ! { python3 -m venv bench/.venv &&
           timeout 300 bench/.venv/bin/pip install --quiet --disable-pip-version-check \
             -r bench/python/requirements.txt; }; then
      echo "bench.sh: skipped: could not install websocket-client (registry unreachable?)" >&2
    fi
  fi
  if [[ ! -f bench/node/node_modules/ws/package.json ]]; then
    if command -v npm >/dev/null; then
      echo "bench.sh: installing ws into bench/node/node_modules" >&2
      if ! (cd bench/node && timeout 300 npm install --silent --no-audit --no-fund \
              --no-package-lock); then
        echo "bench.sh: skipped: could not install ws (registry unreachable?)" >&2
      fi
    else
      echo "bench.sh: skipped: npm is not installed (no Node.js ws figures)" >&2
    fi
  fi
fi

exec target/release/bench "${args[@]}"
