#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command; .ci/run calls it too.
# Each step is a script in scripts/tests.d/, run in name order; the first failure stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
passed=0
for step in scripts/tests.d/*.sh; do
  echo "==> ${step}"
  start=$(date +%s)
  bash "${step}"
  echo "<== ${step} ok ($(( $(date +%s) - start ))s)"
  passed=$((passed + 1))
done
echo "steps: ${passed} passed, 0 failed"
