#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command; .ci/run calls it too.
# Each step is a script in scripts/tests.d/, run in name order. Every step runs even when an
# earlier one failed, so the summary says exactly which failed; the exit status is non-zero
# if any did.
#
# WSBEAT_TEST_ALL=1 tells the steps they run in this sequence: 05-peers.sh has installed every
# peer first, so step 20 runs the peer tests (interop, real proxies, the namespace test) with
# their peers required, and steps 60 and 65 run only what step 20 does not (other feature
# sets, the benchmark command) instead of the same tests a second time.
set -uo pipefail
cd "$(dirname "$0")/.."
export WSBEAT_TEST_ALL=1
passed=0
failed=0
failures=()
for step in scripts/tests.d/*.sh; do
  echo "==> ${step}"
  start=$(date +%s)
  if bash "${step}"; then
    echo "<== ${step} ok ($(( $(date +%s) - start ))s)"
    passed=$((passed + 1))
  else
    rc=$?
    echo "<== ${step} FAILED with exit code ${rc} ($(( $(date +%s) - start ))s)"
    failed=$((failed + 1))
    failures+=("${step}")
  fi
done
if [ "${failed}" -gt 0 ]; then
  echo "failed steps: ${failures[*]}"
fi
echo "steps: ${passed} passed, ${failed} failed"
[ "${failed}" -eq 0 ]
