#!/usr/bin/env bash
# Real proxy servers: tinyproxy (HTTP CONNECT, BasicAuth), microsocks (SOCKS5, with and
# without username/password) and stunnel4 (TLS in front of tinyproxy: an https:// proxy),
# installed by 05-peers.sh; runs
# tests/real_proxies.rs with them required (a missing server fails instead of being skipped).
# The tests start each server themselves on an ephemeral 127.0.0.1 port with a generated
# configuration and stop it by PID; nothing here starts a daemon.
# Also the Happy Eyeballs test in a private network namespace (tests/happy_eyeballs_netns.rs:
# `unshare` from util-linux, `ip` from iproute2), required here too.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The servers are installed by 05-peers.sh (step 20's tests need them too).
echo "proxies: $(tinyproxy -v 2>&1 | head -1), $(stunnel4 -version 2>&1 | grep -m1 '^stunnel'), microsocks $(dpkg-query -W -f '${Version}' microsocks 2>/dev/null || echo '(not from dpkg)')"
# From test-all.sh (WSBEAT_TEST_ALL) step 20 has run the default-feature tests with the
# servers required already: only the native-tls run is new here.
if [ -z "${WSBEAT_TEST_ALL:-}" ]; then
  WSBEAT_PROXIES_REQUIRED=1 cargo test --test real_proxies
  cargo test --test proxy
  WSBEAT_NETNS_REQUIRED=1 cargo test --test happy_eyeballs_netns
fi
if pkg-config --exists openssl 2>/dev/null; then
  # The https:// proxy (TLS in TLS for wss://) with the native-tls backend too.
  WSBEAT_PROXIES_REQUIRED=1 cargo test --features native-tls --test real_proxies https
fi
