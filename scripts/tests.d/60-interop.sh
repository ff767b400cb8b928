#!/usr/bin/env bash
# Interop with real peers written by others: installs the Node.js `ws` package (npm, into
# tests/interop/node_modules, from the committed lock file) and the Python `websockets`
# package (pip, into the .venv-interop/ virtualenv), then runs tests/interop.rs and the CLI's
# cli/tests/eof_echo.rs with the peers required (a missing peer fails instead of being skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "60-interop: missing $* and cannot install it (not root or no apt-get)" >&2
    exit 1
  fi
}

command -v npm >/dev/null || apt_install nodejs npm
if [ ! -f tests/interop/node_modules/ws/package.json ]; then
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi

if [ ! -x .venv-interop/bin/python ]; then
  python3 -m venv .venv-interop || { apt_install python3-venv && python3 -m venv .venv-interop; }
fi
if ! .venv-interop/bin/python -c 'import websockets' 2>/dev/null; then
  .venv-interop/bin/pip install --quiet --disable-pip-version-check 'websockets>=13,<16'
fi

echo "interop peers: node $(node --version), ws $(node -p "require('./tests/interop/node_modules/ws/package.json').version"), python websockets $(.venv-interop/bin/python -c 'import websockets; print(websockets.__version__)')"
WSBEAT_INTEROP_REQUIRED=1 cargo test --test interop
# `echo hi | wsbeat URL`, 200 runs against each peer and the embedded server (issue 12 §6);
# one test at a time: each runs its batches of processes in parallel already.
WSBEAT_INTEROP_REQUIRED=1 cargo test -p wsbeat-cli --test eof_echo -- --test-threads=1
