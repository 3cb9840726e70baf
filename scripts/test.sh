#!/usr/bin/env bash
# The whole test suite: unit, protocol (in memory), native, interop (real clients against a live
# smbts on 127.0.0.1), smbtorture pass list. Extra arguments go to tap.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
dirs=()
for d in test/unit test/protocol test/native test/fuzz test/interop; do
  if compgen -G "$d/**/*.test.ts" >/dev/null || compgen -G "$d/*.test.ts" >/dev/null; then dirs+=("$d"); fi
done
exec tap "${dirs[@]}" "$@"
