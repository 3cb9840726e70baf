#!/usr/bin/env bash
# The inner loop (npm run test:fast): unit and protocol tests (the whole server in memory), after
# building TypeScript when a source is newer than dist/ (so type errors in src/ stop it early) and,
# unless test files are named, npm run lint's checks: tsc on tsconfig.test.json and ESLint, with
# caches in node_modules/.cache/smbts (a few seconds once warm; ESLint's cache can miss a
# type-aware finding in a file that did not change, which npm run lint and npm test, uncached, do
# not). No interop, system, native C or fuzz tests, no native/BPF build. The tests run on Node's
# own TypeScript support (test/helpers/strip-types.mjs), as npm test's do, rather than tap's
# ts-node: each test process starts in ~1 s instead of ~5, since ts-node transpiles the whole
# import graph again in every process. Both only transpile; tsc is what checks types. Arguments go to tap; test files
# or directories among them replace test/unit test/protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
if [ ! -x node_modules/.bin/tap ]; then echo "smbts test:fast: no node_modules; run 'npm run setup' first" >&2; exit 1; fi
if [ ! -f dist/server.js ] || [ -n "$(find src scripts/ntstatus.txt tsconfig.json -newer dist/server.js -print -quit)" ]; then
  echo "# building TypeScript (dist/ is older than src/)"
  node scripts/gen-ntstatus.mjs
  tsc -p tsconfig.json
fi
what=(test/unit test/protocol)
for a in "$@"; do case "$a" in -*) ;; *) what=(); break ;; esac; done
rc=0
if [ ${#what[@]} -gt 0 ]; then
  # A failure fails the run at the end; the tests run all the same.
  cache=node_modules/.cache/smbts
  mkdir -p "$cache"
  echo "# typecheck and lint (cached in $cache)"
  tsc -p tsconfig.test.json --incremental --tsBuildInfoFile "$cache/tsconfig.test.tsbuildinfo" || rc=$?
  eslint --cache --cache-location "$cache/eslint" . || rc=$?
fi
export TAP_TYPE_STRIP_ONLY=1 # @tapjs/typescript steps aside (no ts-node)
tap --node-arg=--experimental-transform-types --node-arg=--disable-warning=ExperimentalWarning \
  --node-arg="--import=$PWD/test/helpers/strip-types.mjs" "${what[@]}" "$@" || rc=$?
exit "$rc"
