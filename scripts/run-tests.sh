#!/usr/bin/env bash
# `make test`: the forge suites run in the background while pytest runs in the foreground.
# Forge's time is mostly solc-js compiling via IR on one core, so the two overlap well on a
# 2-core machine. Forge's output is printed when both are done, then pytest's closing line
# again, so that the run ends with the test summary. Exits non-zero if either failed.
set -u
cd "$(dirname "$0")/.."
mkdir -p build
forge=node_modules/@foundry-rs/forge-linux-amd64/bin/forge
"$forge" test > build/forge-test.log 2>&1 &
forge_pid=$!
set -o pipefail
.venv/bin/python -m pytest -q "$@" 2>&1 | tee build/pytest.log
py_rc=$?
wait "$forge_pid"
forge_rc=$?
echo
echo "==== forge test (ran alongside pytest), exit $forge_rc ===="
cat build/forge-test.log
echo "==== pytest, exit $py_rc ===="
tail -n 1 build/pytest.log
[ "$py_rc" -eq 0 ] && [ "$forge_rc" -eq 0 ]
