#!/usr/bin/env bash
# The guest that test/guest/ boots: Debian's kernel (it has cifs.ko; this machine's kernel does
# not) and an initramfs of Debian userland: busybox-static, plus xfs_io (xfsprogs: mmap, fsync,
# fallocate, hole punching), setfattr/getfattr (attr) and flock (util-linux: flock(2) on a
# descriptor the shell holds, which cifs.ko sends as an SMB2 LOCK), which busybox lacks, with the shared
# libraries they link, from this machine's own Debian packages. See ../shared/FIELD-NOTES.md,
# "The Linux kernel SMB client, in a guest".
#
#   scripts/guest-image.sh [CACHE]   prints the image's directory (vmlinuz, initrd.gz, KEY)
#
# The image is cached under CACHE (default $SMBTS_GUEST_CACHE, else /var/cache/smbts-guest),
# keyed on the kernel package's version, the userland packages' versions and this script, so a
# new Debian kernel or a change here builds a new one (~20 s) and everything else reuses it.
# Exit status 2 with one line on standard error: the image cannot be had here (no apt, no
# package, no busybox): the caller skips, it does not fail.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${1:-${SMBTS_GUEST_CACHE:-/var/cache/smbts-guest}}
unavailable () { echo "$*" >&2; exit 2; }

for t in busybox xfs_io setfattr getfattr flock depmod cpio dpkg-deb apt-get gzip; do
  command -v "$t" >/dev/null 2>&1 || unavailable "no $t here (scripts/setup.sh installs busybox-static, xfsprogs, attr, kmod, cpio)"
done
busybox_bin=$(command -v busybox)
# A dynamically linked busybox would need its libc in the guest too; busybox-static's is not.
if ldd "$busybox_bin" >/dev/null 2>&1; then
  [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 && busybox_bin=/bin/busybox || unavailable "busybox is not the static build (apt-get install busybox-static)"
fi

# The kernel package linux-image-amd64 depends on now (apt's lists; apt-get update refreshes them).
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
kver_pkg=''
if [ -n "$kpkg" ]; then kver_pkg=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null | awk '/^Version:/ { print $2; exit }'); fi
pkgver () { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
users="busybox-static=$(pkgver busybox-static) xfsprogs=$(pkgver xfsprogs) attr=$(pkgver attr) util-linux=$(pkgver util-linux) libc6=$(pkgver libc6)"
self=$(sha256sum "$0" | cut -c1-16)
# The newest image already built, if any: what a run uses when apt cannot give the kernel.
newest () { ls -td "$cache"/linux-image-*/ 2>/dev/null | while read -r d; do [ -f "$d/initrd.gz" ] && [ -f "$d/vmlinuz" ] && echo "${d%/}" && break; done; }
if [ -z "$kpkg" ] || [ -z "$kver_pkg" ]; then
  n=$(newest); [ -n "$n" ] && { echo "$n"; exit 0; }
  unavailable "apt knows no package that linux-image-amd64 depends on (apt-get update?) and no guest image is cached in $cache"
fi
key=$(printf '%s\n' "$kpkg=$kver_pkg" "$users" "$self" | sha256sum | cut -c1-16)
out="$cache/$kpkg-$key"
if [ -f "$out/initrd.gz" ] && [ -f "$out/vmlinuz" ]; then touch "$out"; echo "$out"; exit 0; fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! ( cd "$work" && apt-get download -q "$kpkg=$kver_pkg" >/dev/null 2>apt.err ); then
  n=$(newest); [ -n "$n" ] && { echo "apt-get download $kpkg=$kver_pkg failed; using $n" >&2; echo "$n"; exit 0; }
  unavailable "apt-get download $kpkg=$kver_pkg failed: $(tail -1 "$work/apt.err")"
fi
deb=$(ls "$work"/*.deb)
kver=${kpkg#linux-image-}
m="lib/modules/$kver"
# Only what the guest needs: the kernel, and the modules of cifs, its crypto and the virtio NIC.
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards "./boot/vmlinuz-$kver" \
  "./$m/modules.builtin*" "./$m/modules.order" \
  "./$m/kernel/crypto/*" "./$m/kernel/lib/*" "./$m/kernel/arch/x86/crypto/*" \
  "./$m/kernel/fs/smb/*" "./$m/kernel/fs/netfs/*" "./$m/kernel/fs/fscache/*" \
  "./$m/kernel/net/dns_resolver/*" "./$m/kernel/net/core/failover.ko" \
  "./$m/kernel/drivers/virtio/*" "./$m/kernel/drivers/net/virtio_net.ko" "./$m/kernel/drivers/net/net_failover.ko"
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,lib,lib64,usr/bin,usr/sbin}
mv "$work/lib" "$root/"
depmod -b "$root" "$kver"
cp "$busybox_bin" "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
ln -s ../bin/busybox "$root/sbin/modprobe"
# The extra tools, with every library ldd finds for them (all from Debian packages of this machine).
for b in "$(command -v xfs_io)" "$(command -v setfattr)" "$(command -v getfattr)" "$(command -v flock)"; do
  cp "$b" "$root/bin/"
  for lib in $(ldd "$b" | awk '$1 ~ /^\// { print $1 } $3 ~ /^\// { print $3 }'); do
    d="$root$(dirname "$lib")"; mkdir -p "$d"; cp -L "$lib" "$d/"
  done
done
cat > "$root/init" <<'EOF'
#!/bin/sh
# The guest's first process: the mounts and modules every run needs, then the run's own script
# (/run/guest.sh, from the initramfs the harness appends), then power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
echo /sbin/modprobe > /proc/sys/kernel/modprobe
for mod in virtio_pci virtio_net cifs ccm gcm cmac aesni_intel sha512_generic sha256_generic md5 md4 arc4 ecb ctr hmac; do modprobe "$mod" 2>/dev/null; done
if [ -x /run/guest.sh ]; then /run/guest.sh; else echo "@@@ FATAL no /run/guest.sh"; fi
sync
poweroff -f
EOF
chmod +x "$root/init"
mkdir -p "$work/img"
( cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 > "$work/img/initrd.gz" )
cp "$work/boot/vmlinuz-$kver" "$work/img/vmlinuz"
printf '%s\n' "$kpkg=$kver_pkg" "$users" "script=$self" > "$work/img/KEY"
# A concurrent build of the same key may have finished first: then its image is as good.
mv -T "$work/img" "$out" 2>/dev/null || [ -f "$out/initrd.gz" ] || unavailable "cannot move the image to $out"
# Images not used for a week (another kernel, another version of this script) go.
find "$cache" -mindepth 1 -maxdepth 1 -name 'linux-image-*' -mtime +7 -exec rm -rf {} + 2>/dev/null || true
echo "$out"
