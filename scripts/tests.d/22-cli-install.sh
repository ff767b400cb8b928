#!/usr/bin/env bash
# The CLI's install recipe from README.md and docs/CLI.md, run as documented:
# `cargo install --path cli --locked` (here with --debug and the workspace's target directory,
# so it reuses what 20-rust.sh built, into a temporary --root), then the installed `wsbeat`
# prints its version and talks to its own embedded server.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
CARGO_TARGET_DIR="$PWD/target" cargo install --path cli --locked --debug --root "$root" --quiet
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
test "$("$root/bin/wsbeat" --version)" = "wsbeat $version"
test "$(echo hi | "$root/bin/wsbeat" --linger 0 2>/dev/null)" = "hi"
echo "cargo install --path cli --locked: $("$root/bin/wsbeat" --version) installed and ran"
