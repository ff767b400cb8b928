#!/usr/bin/env bash
# The peers written by others that the tests talk to, installed first so that every later
# step has them (in CI, CI=true, a test whose peer is missing fails instead of skipping):
# the Node.js `ws` package (npm, into tests/interop/node_modules, from the committed lock
# file) and the Python `websockets` package (pip, into the .venv-interop/ virtualenv).
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "05-peers: missing $* and cannot install it (not root or no apt-get)" >&2
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
