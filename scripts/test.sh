#!/usr/bin/env bash
# The whole test suite: no import cycle in src (scripts/cycles.ts), the types of test/, bench/ and
# scripts/ (tsconfig.test.json) and the linter (eslint.config.js), then unit, protocol (in
# memory), native, fuzz, system (the built CLI spawned, mounts), interop (real clients against a
# live smbts on 127.0.0.1, on the io_uring fast path), smbtorture pass and knownfail lists; then
# the interop suite once more on the fallback (node:net + node:fs), so both paths stay green, and
# once more with the server as the built program with 2 worker processes (SMBTS_TEST_WORKERS=2:
# a supervisor and two workers sharing the port and the locking store; the tests that look inside
# an in-process server skip there), so what the workers share stays right. Last, the Linux kernel's
# cifs client in a qemu guest against the built server (test/guest, once; SMBTS_SKIP_GUEST=1 skips it).
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
failed=()
# Every tap run below runs the TypeScript on Node's own support (--experimental-transform-types,
# with test/helpers/strip-types.mjs mapping ./x.js to ./x.ts), as npm run test:fast does, instead
# of @tapjs/typescript's ts-node, which transpiled the whole import graph again in every test
# process: the CI run went from 1,737 s to 1,566 s (stop 32, ~230 test files). Only tsc (above)
# checks the types either way. tap runs one file at a time on 2 cores (its jobs
# default is the cores less one).
export TAP_TYPE_STRIP_ONLY=1
ts=(--node-arg=--experimental-transform-types --node-arg=--disable-warning=ExperimentalWarning
    "--node-arg=--import=$PWD/test/helpers/strip-types.mjs")
# Each step's wall time, in a line of its own (.ci/run lists them at the end): "# took N s: what".
step_start=$SECONDS
took () { echo "# took $(( SECONDS - step_start )) s: $1"; step_start=$SECONDS; }
# No import cycle in src (npm run cycles): a second, so first.
node scripts/cycles.ts || { rc=$?; failed+=(cycles); }
took 'the import-cycle check'
# npm run lint, less tsconfig.json, which the build npm test starts with has just checked: the
# types of everything else (src/ again, with test/, bench/, scripts/), then ESLint (~30 s).
# A failure fails the run at the end; the tests run all the same.
echo "# typecheck: tsc -p tsconfig.test.json"
tsc -p tsconfig.test.json || { rc=$?; failed+=(typecheck); }
echo "# lint: eslint ."
eslint . || { rc=$?; failed+=(lint); }
took 'the typecheck and lint'
tap "${ts[@]}" "${dirs[@]}" "$@" || rc=$?
took 'the first pass (unit to interop, io_uring)'
if [ -d test/interop ] && [ "${SMBTS_SKIP_FALLBACK_RUN:-}" != 1 ]; then
  echo "# the interop suite again on the fallback transport (SMBTS_TEST_TRANSPORT=net)"
  SMBTS_TEST_TRANSPORT=net tap "${ts[@]}" test/interop "$@" || rc=$?
  took 'the interop suite on the fallback transport'
fi
# .ci/run labels the files of the two runs below by these lines: keep their wording.
if [ -d test/interop ] && [ "${SMBTS_SKIP_WORKERS_RUN:-}" != 1 ]; then
  echo "# the interop suite again with 2 worker processes (SMBTS_TEST_WORKERS=2)"
  SMBTS_TEST_WORKERS=2 tap "${ts[@]}" test/interop "$@" || rc=$?
  took 'the interop suite with 2 worker processes'
fi
# The Linux kernel's cifs client in a qemu guest (test/guest, ~4 min): once, not per transport.
if [ -d test/guest ] && [ "${SMBTS_SKIP_GUEST:-}" != 1 ]; then
  echo "# the kernel's cifs client in a qemu guest (test/guest)"
  tap "${ts[@]}" test/guest "$@" || rc=$?
  took 'the qemu guest'
fi
if [ ${#failed[@]} -gt 0 ]; then echo "# failed before the tests ran (see the top of the log): ${failed[*]}"; fi
exit "$rc"
