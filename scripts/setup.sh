#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine, run as root: Debian packages, Node 24 in the
# project (npm's node@24 package), npm ci, and the build. Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log () { printf 'smbts setup: %s\n' "$*" >&2; }

# Toolchains for native/ and bpf/, and the real clients the interop tests drive; MIT Kerberos: the
# GSSAPI library native/src/gss.c opens, and the KDC and kinit the Kerberos tests run.
PKGS=(build-essential python3 pkg-config clang llvm libbpf-dev bpftool liburing-dev
      smbclient samba samba-vfs-modules samba-testsuite python3-impacket python3-smbc procps iproute2 fuse3 strace
      libgssapi-krb5-2 krb5-kdc krb5-admin-server krb5-user)
missing=()
# test/guest: qemu and what scripts/guest-image.sh builds the guest from (the kernel's cifs client).
PKGS+=(qemu-system-x86 busybox-static kmod cpio xfsprogs attr)
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then log "missing Debian packages (${missing[*]}); run as root"; exit 1; fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node_modules, keyed on the lockfile so a changed lockfile reinstalls.
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
stamp=node_modules/.smbts-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x node_modules/.bin/node ]; then
  log "npm ci"
  npm ci --no-audit --no-fund >/dev/null
  echo "$want" > "$stamp"
fi

bash scripts/build.sh
