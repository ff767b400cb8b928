#!/usr/bin/env bash
# The README's Rust quick start is examples/quickstart.rs, character for character (the README
# block is also compiled as a doctest through src/lib.rs), and it does what the README says:
# against `wsbeat --serve` it prints the echo and ends with `stopped: closed` (status 0); with
# no server listening it reports the connection errors and ends with `stopped: max_attempts`
# (status 1) instead of hanging.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
  echo "16-quickstart: FAIL: $*" >&2
  exit 1
}

readme_block="$(awk '/^## Rust quick start/{s=1} s && /^```rust/{on=1; next} on && /^```/{exit} on' README.md)"
[ -n "${readme_block}" ] || fail "README.md has no rust block under '## Rust quick start'"
[ "${readme_block}" = "$(cat examples/quickstart.rs)" ] ||
  fail "README.md's quick start differs from examples/quickstart.rs: $(diff <(echo "${readme_block}") examples/quickstart.rs || true)"

cargo build --quiet --example quickstart -p wsbeat
cargo build --quiet -p wsbeat-cli
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
quickstart="${target_dir}/debug/examples/quickstart"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "${server_pid}" ]; then kill "${server_pid}" 2>/dev/null || true; wait "${server_pid}" 2>/dev/null || true; fi
  rm -rf "${work}"
}
trap cleanup EXIT

# With a server: the echo, then a clean stop.
coproc SERVER { exec "${target_dir}/debug/wsbeat" --serve 127.0.0.1:0; }
server_pid="${SERVER_PID}"
IFS= read -r -t 60 -u "${SERVER[0]}" url || fail "wsbeat --serve printed no URL within 60 s"
timeout 30 "${quickstart}" "${url}" >"${work}/out" 2>"${work}/err" ||
  fail "quick start against ${url} failed: $(cat "${work}/out" "${work}/err")"
grep -qx 'open (reconnect: false)' "${work}/out" || fail "no open: $(cat "${work}/out")"
grep -qxF 'received {"ModeCode":"message","msg":"hello world"}' "${work}/out" || fail "no echo: $(cat "${work}/out")"
grep -qx 'stopped: closed (0 unsent)' "${work}/out" || fail "no clean stop: $(cat "${work}/out")"
echo "with a server: echo received, stopped: closed"

# Without one: the port the server had, now closed (nothing listens there any more).
kill "${server_pid}"
wait "${server_pid}" 2>/dev/null || true
server_pid=""
set +e
timeout 30 "${quickstart}" "${url}" >"${work}/out" 2>"${work}/err"
rc=$?
set -e
[ "${rc}" -eq 1 ] || fail "without a server: exit status ${rc} (124: it hung), want 1: $(cat "${work}/out" "${work}/err")"
[ "$(grep -c '^error (connect): ' "${work}/err")" -ge 3 ] || fail "without a server: no connection errors reported: $(cat "${work}/err")"
grep -qx 'stopped: max_attempts (1 unsent)' "${work}/out" || fail "without a server: $(cat "${work}/out")"
echo "without a server: $(grep -c '^error (connect): ' "${work}/err") connection errors, stopped: max_attempts, status 1"
echo "16-quickstart: all checks passed"
