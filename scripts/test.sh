#!/usr/bin/env bash
# The whole test suite: no import cycle in src (scripts/cycles.ts), then unit, protocol (in
# memory), native, fuzz, system (the built CLI spawned, mounts), interop (real clients against a
# live smbts on 127.0.0.1, on the io_uring fast path), smbtorture pass and knownfail lists; then
# the interop suite once more on the fallback (node:net + node:fs), so both paths stay green.
# Extra arguments go to tap. Each tap run ends with its own "# { total: ... }" line; .ci/run adds
# them up.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
dirs=()
for d in test/unit test/protocol test/native test/fuzz test/system test/interop; do
  if compgen -G "$d/**/*.test.ts" >/dev/null || compgen -G "$d/*.test.ts" >/dev/null; then dirs+=("$d"); fi
done
rc=0
# No import cycle in src (npm run cycles): a second, so first.
node scripts/cycles.ts || rc=$?
tap "${dirs[@]}" "$@" || rc=$?
if [ -d test/interop ] && [ "${SMBTS_SKIP_FALLBACK_RUN:-}" != 1 ]; then
  echo "# the interop suite again on the fallback transport (SMBTS_TEST_TRANSPORT=net)"
  SMBTS_TEST_TRANSPORT=net tap test/interop "$@" || rc=$?
fi
exit "$rc"
