#!/usr/bin/env bash
# Python package (python/): builds the cdylib (`cargo build -p wsbeat-ffi`, target/debug/libwsbeat.so,
# already built by the earlier steps, so CI does not pay for a release build), creates the
# venv .venv-py/ (pytest, websockets, mypy from PyPI),
# installs the package into it, type-checks it (mypy --strict) and runs its pytest suite
# against real websockets servers (and a TLS one, with certificates made by the openssl CLI).
# "No tests collected" (pytest exit code 5) counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build -p wsbeat-ffi --quiet
case "$(uname -s)" in
  Darwin) lib=target/debug/libwsbeat.dylib ;;
  *) lib=target/debug/libwsbeat.so ;;
esac
test -f "$lib" || { echo "50-python: $lib was not built" >&2; exit 1; }

venv=.venv-py
py=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest websockets mypy
# A regular (non-editable) install: the tests import the installed package, which finds the
# library through WSBEAT_LIBRARY like a user's would.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python

# The package's type hints are checked strictly (it ships py.typed).
(cd python && "../$venv/bin/mypy" --strict --no-error-summary wsbeat)

export WSBEAT_LIBRARY="$PWD/$lib"
set +e
(cd python && timeout 900 "../$venv/bin/pytest" -q -p no:cacheprovider tests "$@")
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "50-python: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
