#!/usr/bin/env bash
# Protocol conformance: Autobahn|Testsuite's fuzzing server (`wstest -m fuzzingserver`, Python
# 2.7) runs its client cases against wsbeat and, in the same run, against raw blocking
# tungstenite (the reference); tools/autobahn/src/main.rs drives both and checks the servers'
# reports: the step fails if a wsbeat case is worse than tests/autobahn/expected.txt, or worse
# than tungstenite's result in this run without a note naming the issue that explains it.
#
# Installs what it needs when missing: Python 2.7 is found through pyenv (these machines ship
# it; `WSBEAT_PYTHON2` overrides), then the virtualenv .venv-autobahn/ gets the pinned
# tests/autobahn/requirements.txt from PyPI. Anything missing fails the step; it never skips.
#
# Cases: all 517, wsbeat offering permessage-deflate (tools/autobahn/src/main.rs), including
# the 216 compression cases 12.* and 13.* (1000 messages each, up to 128 KiB, which the Python
# 2 server compresses, hashes and checks one round trip at a time). The fuzzing server is
# single-threaded and the bottleneck (60-80 % of a case's time), so the cases are split between
# two servers on two ports (WSBEAT_AUTOBAHN_SHARDS, default 2: this machine's cores), each
# with its own driver; the check merges their reports. The servers' hashlib.sha1 uses OpenSSL
# (tests/autobahn/pyshim/sitecustomize.py: pyenv's 2.7 has only the slow fallback). Timings
# are in RELIABILITY.md. tungstenite does not negotiate compression: UNIMPLEMENTED, at once.
#
# `--quick` leaves out the 144 large-message compression cases 12.*.7-18 and 13.*.7-18 (a
# development loop; the check then skips exactly those). `--write` rewrites
# tests/autobahn/expected.txt from the run (not with --quick: the left-out cases' lines would
# be dropped).
#
# Each server listens on 127.0.0.1 only, on a free port picked at start, without its web UI,
# and is killed by PID on exit. Reports: target/autobahn/shard-N/reports/clients/index.html.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
write=()
quick=0
for arg in "$@"; do
  case "$arg" in
    --write) write=(--write) ;;
    --quick) quick=1 ;;
    *) echo "usage: $0 [--quick] [--write]" >&2; exit 2 ;;
  esac
done
if [ "$quick" = 1 ] && [ ${#write[@]} -gt 0 ]; then
  echo "usage: --write needs every case (not with --quick)" >&2
  exit 2
fi
shards=${WSBEAT_AUTOBAHN_SHARDS:-2}
case "$shards" in
  [1-9]) ;;
  *) echo "70-autobahn: WSBEAT_AUTOBAHN_SHARDS must be 1-9, got $shards" >&2; exit 2 ;;
esac

fail() {
  echo "70-autobahn: $*" >&2
  exit 1
}

# --- Python 2.7 ---------------------------------------------------------------------------
py2=${WSBEAT_PYTHON2:-}
if [ -z "$py2" ]; then
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7 \
    /root/.pyenv/versions/2.7*/bin/python2.7 \
    "$(command -v python2.7 || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      py2=$candidate
      break
    fi
  done
fi
[ -n "$py2" ] || fail "Python 2.7 not found (looked in pyenv's versions and PATH; set WSBEAT_PYTHON2)"
"$py2" -c 'import sys; assert sys.version_info[:2] == (2, 7), sys.version' ||
  fail "$py2 is not Python 2.7"

# --- wstest in .venv-autobahn/ ------------------------------------------------------------
venv=.venv-autobahn
reqs=tests/autobahn/requirements.txt
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/wstest" ] || ! cmp -s "$reqs" "$stamp"; then
  echo "70-autobahn: installing Autobahn|Testsuite into $venv (Python $("$py2" -c 'import platform; print(platform.python_version())'))"
  rm -rf "$venv" "$venv.tool"
  # Python 2.7 has no venv module: virtualenv (the last line that creates 2.7 environments),
  # kept beside the venv rather than installed into pyenv's interpreter.
  "$py2" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$venv.tool" 'virtualenv==20.15.1' || fail "could not install virtualenv for Python 2.7"
  PYTHONPATH="$venv.tool" "$py2" -m virtualenv --quiet "$venv" || fail "could not create $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-warn-script-location \
    --no-deps -r "$reqs" || fail "could not install $reqs"
  cp "$reqs" "$stamp"
fi
"$venv/bin/wstest" --autobahnversion >/dev/null 2>&1 || fail "$venv/bin/wstest does not run"

# --- the driver ---------------------------------------------------------------------------
# Release: the compression cases (12.*, 13.*) push ~1,000 messages of up to 128 KiB through
# the deflate layer each; a debug build's per-byte masking made them take ~25 minutes on 2
# cores. The driver is a package of its own (tools/autobahn/) that depends only on what
# libwsbeat does, with the same features: the release build 50-python made for the wheel is
# reused, only the driver compiles (~10 s; as a wsbeat-tools binary it was ~3 minutes).
cargo build --release -p wsbeat-autobahn --quiet
driver="$root/target/release/autobahn"

# --- the fuzzing servers ------------------------------------------------------------------
work=target/autobahn
rm -rf "$work"
mkdir -p "$work"
# The split: tests/autobahn/expected.txt lists every case. Compression case 12.X.Y / 13.X.Y
# goes to shard (G + Y) mod N, G = X for 12.*, 5 + X for 13.*: within a group the message
# sizes grow with Y, so alternating both ways gives each shard the same mix of sizes and test
# data. Every other case goes round-robin. Shards 0..N-2 get their cases by id; the last one
# gets "*" less the others' cases, so a case the suite has and the expectation lacks still
# runs (and fails the check as "not in expected.txt").
large='"12.*.7", "12.*.8", "12.*.9", "12.*.10", "12.*.11", "12.*.12", "12.*.13", "12.*.14", "12.*.15", "12.*.16", "12.*.17", "12.*.18", "13.*.7", "13.*.8", "13.*.9", "13.*.10", "13.*.11", "13.*.12", "13.*.13", "13.*.14", "13.*.15", "13.*.16", "13.*.17", "13.*.18"'
left_out=
[ "$quick" = 1 ] && left_out=$large
# The check skips the cases left out here, and only those: a case missing from every report
# otherwise fails it.
printf '{"exclude-cases": [%s]}\n' "$left_out" >"$work/left-out.json"
export AUTOBAHN_SPEC="$root/$work/left-out.json"
awk -v n="$shards" '
  /^[0-9]/ {
    split($1, p, ".")
    if ((p[1] == 12 || p[1] == 13) && p[3] != "") shard = ((p[1] == 12 ? p[2] : 5 + p[2]) + p[3]) % n
    else shard = other++ % n
    print shard, $1
  }' tests/autobahn/expected.txt >"$work/split.txt"
quoted() { # the quoted case ids of the shards for which `$1` (an awk condition on k) holds
  awk "\$1 $1 { printf \"%s\\\"%s\\\"\", (n++ ? \", \" : \"\"), \$2 }" "$work/split.txt"
}

pids=()
stop_servers() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap stop_servers EXIT
start=$(date +%s)
ports=()
last=$((shards - 1))
for k in $(seq 0 "$last"); do
  dir=$work/shard-$k
  mkdir -p "$dir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if [ "$k" -lt "$last" ]; then
    cases=$(quoted "== $k")
    exclude=$left_out
  else
    cases='"*"'
    exclude=$(quoted "!= $k")
    [ -n "$left_out" ] && exclude="${exclude:+$exclude, }$left_out"
  fi
  printf '{\n  "url": "ws://127.0.0.1:%s",\n  "outdir": "./reports/clients",\n  "cases": [%s],\n  "exclude-cases": [%s],\n  "exclude-agent-cases": {}\n}\n' \
    "$port" "$cases" "$exclude" >"$dir/fuzzingserver.json"
  (cd "$dir" && PYTHONPATH="$root/tests/autobahn/pyshim" exec "$root/$venv/bin/wstest" \
    -m fuzzingserver -s fuzzingserver.json -u 0 >server.log 2>&1) &
  pids+=($!)
  ports+=("$port")
done
for k in $(seq 0 "$last"); do
  dir=$work/shard-$k
  # Ready when it says so (bounded: it prints the line within a second or two), or gone.
  if ! timeout 60 grep -q -m1 'Fuzzing Server' <(tail --pid="${pids[$k]}" -n +1 -f "$dir/server.log" 2>/dev/null); then
    cat "$dir/server.log" >&2
    fail "fuzzing server $k did not start on 127.0.0.1:${ports[$k]}"
  fi
  kill -0 "${pids[$k]}" 2>/dev/null || { cat "$dir/server.log" >&2; fail "fuzzing server $k exited"; }
  grep -q 'Using UTF8 Validator class .*wsaccel' "$dir/server.log" ||
    { cat "$dir/server.log" >&2; fail "fuzzing server $k does not use wsaccel's C validator"; }
done
# What the servers run with: the OpenSSL sha1, checked against the slow one by the shim itself.
PYTHONPATH="$root/tests/autobahn/pyshim" "$venv/bin/python" -c \
  'import hashlib; assert hashlib.sha1.__module__ == "sitecustomize", hashlib.sha1' ||
  fail "tests/autobahn/pyshim/sitecustomize.py did not replace hashlib.sha1"

# --- run and check ------------------------------------------------------------------------
drivers=()
for k in $(seq 0 "$last"); do
  timeout 5400 "$driver" run "ws://127.0.0.1:${ports[$k]}" wsbeat tungstenite \
    2>"$work/shard-$k/driver.log" &
  drivers+=($!)
done
failed=()
for k in $(seq 0 "$last"); do
  wait "${drivers[$k]}" || failed+=("$k")
done
for k in "${failed[@]}"; do
  tail -n 50 "$work/shard-$k/driver.log" >&2
done
[ ${#failed[@]} -eq 0 ] || fail "the driver failed on shard ${failed[*]} (log: $work/shard-N/driver.log)"
stop_servers
indexes=()
for k in $(seq 0 "$last"); do
  grep -E 'cases in' "$work/shard-$k/driver.log" | sed "s/^/shard $k: /" || true
  indexes+=("$work/shard-$k/reports/clients/index.json")
done
"$driver" check "${indexes[@]}" tests/autobahn/expected.txt "${write[@]}"
echo "70-autobahn: done in $(($(date +%s) - start))s on $shards fuzzing servers (reports: $work/shard-N/reports/clients/index.html)"
