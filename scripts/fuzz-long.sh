#!/usr/bin/env bash
# The long fuzz run (issue: hardening): test/fuzz with 100 times CI's budget and a random seed
# unless one is given. A failure saves its input under test/fixtures/fuzz/<area>/ (replayed by
# every later run, CI's included) and prints the seed to reproduce it.
#   bash scripts/fuzz-long.sh              # SMBTS_FUZZ_RUNS=40000, random seed
#   SMBTS_FUZZ_RUNS=4000 SMBTS_FUZZ_SEED=1234 bash scripts/fuzz-long.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export SMBTS_FUZZ_RUNS="${SMBTS_FUZZ_RUNS:-40000}"
export SMBTS_FUZZ_SEED="${SMBTS_FUZZ_SEED:-random}"
exec tap --timeout 0 test/fuzz "$@"
