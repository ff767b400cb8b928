#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command; .ci/run calls it too.
# Each step is a script in scripts/tests.d/, run in name order. Every step runs even when an
# earlier one failed, so the summary says exactly which failed; the exit status is non-zero
# if any did.
set -uo pipefail
cd "$(dirname "$0")/.."
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
