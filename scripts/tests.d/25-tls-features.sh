#!/usr/bin/env bash
# The TLS feature matrix (20-rust.sh covers the default, rustls): no TLS at all, platform roots,
# native-tls beside rustls and alone. tests/tls.rs runs every scenario on every built backend.
set -euo pipefail
cargo build -p wsbeat --no-default-features
cargo clippy -p wsbeat --no-default-features --all-targets -- -D warnings
cargo test --features native-roots --test tls
if ! pkg-config --exists openssl 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # CI runs as root on a fresh machine: install what the native-tls backend builds against.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi
if pkg-config --exists openssl 2>/dev/null; then
  cargo clippy -p wsbeat --all-targets --features native-tls -- -D warnings
  cargo test --features native-tls --test tls
  cargo test --no-default-features --features native-tls --test tls
else
  echo "SKIPPED native-tls: OpenSSL development files not found (apt-get install libssl-dev pkg-config)"
fi
