#!/usr/bin/env bash
# The peers written by others that the tests talk to, installed first so that every later
# step has them (in CI, CI=true, a test whose peer is missing fails instead of skipping):
# the Node.js `ws` package (npm, into tests/interop/node_modules, from the committed lock
# file), the Python `websockets` package (pip, into the .venv-interop/ virtualenv), the
# proxy servers and the network-namespace tools (Debian packages).
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

# The real proxy servers (tests/real_proxies.rs) and the namespace tools of the Happy Eyeballs
# test (tests/happy_eyeballs_netns.rs), from Debian's packages.
missing=()
command -v tinyproxy >/dev/null || missing+=(tinyproxy)
command -v microsocks >/dev/null || missing+=(microsocks)
command -v stunnel4 >/dev/null || missing+=(stunnel4)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    # policy-rc.d 101: the packages' maintainer scripts must not start system-wide daemons
    # (only when the machine has no policy of its own, which is then left alone).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "05-peers: missing ${missing[*]} and cannot install (not root or no apt-get)" >&2
    exit 1
  fi
fi

echo "interop peers: node $(node --version), ws $(node -p "require('./tests/interop/node_modules/ws/package.json').version"), python websockets $(.venv-interop/bin/python -c 'import websockets; print(websockets.__version__)')"
