#!/usr/bin/env bash
# Builds everything: TypeScript (dist/), the native addon (native/build), the BPF object (bpf/;
# skipped, saying so, on a machine without the BPF tooling).
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

# The BPF steering program (bpf/steer.bpf.o) needs clang, bpftool, libbpf's headers and (for
# bpf/vmlinux.h) the running kernel's BTF. Nothing needs the object to build or run the server
# (it runs one process; steering comes with worker processes) and test/native/steer.test.ts skips
# without it, so without that tooling the step is skipped, saying so; with it, a failure fails.
if [ -f bpf/Makefile ]; then
  clang=${CLANG:-clang}
  bpftool=${BPFTOOL:-bpftool}
  missing=()
  command -v "$clang" >/dev/null 2>&1 || missing+=("$clang")
  "$bpftool" version >/dev/null 2>&1 || missing+=("$bpftool")
  if [ ${#missing[@]} = 0 ] && ! printf '#include <bpf/bpf_helpers.h>\n' | "$clang" -target bpf -E -x c - >/dev/null 2>&1; then
    missing+=("libbpf headers (<bpf/bpf_helpers.h>, Debian libbpf-dev)")
  fi
  if [ ! -f bpf/vmlinux.h ] && [ ! -r /sys/kernel/btf/vmlinux ]; then missing+=("kernel BTF (/sys/kernel/btf/vmlinux)"); fi
  if [ ${#missing[@]} = 0 ]; then
    make -s -C bpf
  else
    have=$([ -f bpf/steer.bpf.o ] && echo "the object built before is left as it is" || echo "there is no bpf/steer.bpf.o")
    printf 'smbts build: skipping the BPF steering program (bpf/steer.bpf.o): missing %s; %s.\n' "$(IFS=,; echo "${missing[*]}" | sed 's/,/, /g')" "$have" >&2
    printf 'smbts build: the server runs without it; test/native/steer.test.ts skips. scripts/setup.sh installs the tooling (clang llvm libbpf-dev bpftool).\n' >&2
  fi
fi
