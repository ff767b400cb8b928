#!/usr/bin/env bash
# Real proxy servers: installs tinyproxy (HTTP CONNECT, BasicAuth), microsocks (SOCKS5,
# with and without username/password) and stunnel4 (TLS in front of tinyproxy: an https://
# proxy) from Debian's packages when missing, then runs
# tests/real_proxies.rs with them required (a missing server fails instead of being skipped).
# The tests start each server themselves on an ephemeral 127.0.0.1 port with a generated
# configuration and stop it by PID; nothing here starts a daemon.
# Also the Happy Eyeballs test in a private network namespace (tests/happy_eyeballs_netns.rs:
# `unshare` from util-linux, `ip` from iproute2), required here too.
set -euo pipefail
cd "$(dirname "$0")/../.."

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
    echo "65-proxies: missing ${missing[*]} and cannot install (not root or no apt-get)" >&2
    exit 1
  fi
fi

echo "proxies: $(tinyproxy -v 2>&1 | head -1), $(stunnel4 -version 2>&1 | grep -m1 '^stunnel'), microsocks $(dpkg-query -W -f '${Version}' microsocks 2>/dev/null || echo '(not from dpkg)')"
WSBEAT_PROXIES_REQUIRED=1 cargo test --test real_proxies
if pkg-config --exists openssl 2>/dev/null; then
  # The https:// proxy (TLS in TLS for wss://) with the native-tls backend too.
  WSBEAT_PROXIES_REQUIRED=1 cargo test --features native-tls --test real_proxies https
fi
cargo test --test proxy
WSBEAT_NETNS_REQUIRED=1 cargo test --test happy_eyeballs_netns
