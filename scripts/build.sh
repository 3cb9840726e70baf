#!/usr/bin/env bash
# Builds everything: TypeScript (dist/), the native addon (native/build), the BPF object (bpf/).
# Every step is incremental, so running it again is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export npm_config_nodedir="${npm_config_nodedir:-/usr}"

node scripts/gen-ntstatus.mjs
tsc -p tsconfig.json
if [ -f native/binding.gyp ]; then
  (cd native && if [ -f build/Makefile ]; then node-gyp build --loglevel=warn --nodedir="$npm_config_nodedir" >/dev/null; else node-gyp rebuild --loglevel=warn --nodedir="$npm_config_nodedir" >/dev/null; fi)
fi
if [ -f bpf/Makefile ]; then make -s -C bpf; fi
