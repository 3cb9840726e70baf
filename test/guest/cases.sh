#!/bin/sh
# The cases run inside the qemu guest (busybox ash, Debian's kernel and its cifs.ko) by
# test/guest/cifs.test.ts, which appends this file as /run/guest.sh and /run/env (the server, the
# credentials, the cases, the scale) to the cached initramfs. Each case reports on the serial
# console between two markers, which the test file parses into one subtest per case:
#   @@@ BEGIN <case>
#   ... (its output; on failure the guest's dmesg since the case began)
#   @@@ END <case> pass|fail|skip <seconds> [reason]
# and `@@@ RESTART` asks the host to restart the server; the host answers `restarted` on the
# console's input once the new one listens (`@@@ CRASH`: killed with SIGKILL, not stopped; the
# answer adds the open and lock counts of the persistent handle records the crash left;
# `@@@ LOGCOUNT <regex>`: how many lines of the server's log during the case match, or with a
# capture group how many distinct values it captures). `@@@ SHA256 <path> <hash>` lets the host check a file
# in the share's directory against what the guest wrote. `@@@ DONE` ends the run.
# A case exits 0 (pass), 77 (skip, reason in /tmp/skip) or anything else (fail); it runs in its
# own shell under `timeout`, so a hung one fails alone.
. /run/env
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail () { echo "FAIL: $*"; exit 1; }
skip () { echo "$*" > /tmp/skip; exit 77; }
# mnt DIR OPTIONS: the share on DIR with these mount options besides the credentials.
mnt () {
  mkdir -p "$1"
  mount -t cifs "//$SERVER/$SHARE" "$1" -o "username=$SMB_USER,password=$SMB_PASS,port=$PORT,$2" || fail "mount -o $2"
  grep " $1 cifs " /proc/mounts
}
# What /proc/fs/cifs/DebugData says of the session (the dialect, signing, encryption, channels).
debugdata () { grep -E 'Dialect|SessionId|Share:|Signed|Encrypt|channel|Channel' /proc/fs/cifs/DebugData | head -20; }
dialect_of () {
  case "$1" in 3.1.1) echo 0x311 ;; 3.0.2) echo 0x302 ;; 3.0) echo 0x300 ;; 2.1) echo 0x210 ;; 2.0) echo 0x202 ;; esac
}
# Fresh page cache, so what is read next comes from the server.
dropcache () { sync; echo 3 > /proc/sys/vm/drop_caches; }
same () { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
sha () { sha256sum "$1" | cut -d' ' -f1; }
# The host hashes the file in the share's directory (a path under the share) and answers.
hostsha () { echo "@@@ SHA256 $1 $2"; read -r reply; same "$reply" match "the host's sha256 of $1 in the share's directory"; }

# Data written, read back through a cold cache, listed, renamed, removed: what every mount must do.
roundtrip () {
  d=$1
  mkdir "$d/rt" || fail "mkdir"
  printf 'hello from the guest\n' > "$d/rt/hello.txt" || fail "write"
  same "$(cat "$d/rt/hello.txt")" 'hello from the guest' 'read back'
  dd if=/dev/urandom of=/tmp/rnd bs=64k count=32 2>/dev/null
  cp /tmp/rnd "$d/rt/rnd" || fail "cp of 2 MiB"
  dropcache
  same "$(sha "$d/rt/rnd")" "$(sha /tmp/rnd)" '2 MiB read back'
  same "$(stat -c %s "$d/rt/rnd")" 2097152 'size'
  mkdir "$d/rt/sub" && mv "$d/rt/hello.txt" "$d/rt/sub/h" || fail "mkdir and rename"
  same "$(ls "$d/rt/sub")" h 'listing after rename'
  rm -r "$d/rt" || fail "rm -r"
  [ ! -e "$d/rt" ] || fail "the directory is still there"
}

case_vers () {
  mnt /mnt/a "vers=$1"
  debugdata
  grep -q "Dialect $(dialect_of "$1")" /proc/fs/cifs/DebugData || fail "DebugData names no dialect $(dialect_of "$1")"
  roundtrip /mnt/a
}
case_seal () {
  mnt /mnt/a "vers=$1,seal"
  debugdata
  grep " /mnt/a cifs " /proc/mounts | grep -q ',seal' || fail "mounted without seal"
  roundtrip /mnt/a
}
case_sign () {
  mnt /mnt/a "vers=$1,sign"
  debugdata
  # /proc/mounts does not say `sign`; DebugData marks the session signed.
  grep -q 'SessionId: .* signed' /proc/fs/cifs/DebugData || fail "the session is not signed"
  roundtrip /mnt/a
}

case_mfsymlinks () {
  mnt /mnt/a "vers=3.1.1,mfsymlinks"
  d=/mnt/a/mfsymlinks; mkdir "$d" || fail mkdir
  echo target-data > "$d/target"
  ln -s target "$d/link" || fail "ln -s"
  ln -s ../elsewhere/none "$d/dangling" || fail "ln -s (dangling)"
  same "$(readlink "$d/link")" target 'readlink'
  same "$(readlink "$d/dangling")" ../elsewhere/none 'readlink (dangling)'
  same "$(cat "$d/link")" target-data 'read through the link'
  [ -L "$d/link" ] || fail "not a symbolic link"
  umount /mnt/a; mnt /mnt/a "vers=3.1.1,mfsymlinks"
  same "$(readlink "$d/link")" target 'readlink after a new mount'
  rm "$d/link" "$d/dangling" "$d/target" && rmdir "$d" || fail "rm"
}

case_cifsacl () {
  mnt /mnt/a "vers=3.1.1,cifsacl"
  d=/mnt/a/cifsacl; mkdir "$d" || fail mkdir
  echo x > "$d/f" || fail create
  ls -ln "$d"
  chmod 640 "$d/f" || fail "chmod 640"
  same "$(stat -c %a "$d/f")" 640 'mode after chmod 640'
  chmod 755 "$d/f" || fail "chmod 755"
  umount /mnt/a; mnt /mnt/a "vers=3.1.1,cifsacl"
  same "$(stat -c %a "$d/f")" 755 'mode after chmod 755, on a new mount'
  rm "$d/f" && rmdir "$d" || fail rm
}

# Two mounts (two connections: nosharesock) with cache=strict: what one writes, the other reads,
# which takes the server breaking the writer's oplock or lease (and the writer flushing first).
case_cache_strict () {
  mnt /mnt/a "vers=3.1.1,cache=strict,nosharesock"
  mnt /mnt/b "vers=3.1.1,cache=strict,nosharesock"
  echo start > /mnt/a/strict.txt
  exec 3<> /mnt/a/strict.txt
  printf 'written-by-a' >&3
  same "$(cat /mnt/b/strict.txt)" written-by-a 'B reads what A wrote through a handle still open'
  exec 3>&-
  i=0; while [ $i -lt 5 ]; do
    printf "a$i" > /mnt/a/strict.txt; same "$(cat /mnt/b/strict.txt)" "a$i" "round $i: B reads A's write"
    printf "b$i" > /mnt/b/strict.txt; same "$(cat /mnt/a/strict.txt)" "b$i" "round $i: A reads B's write"
    i=$((i + 1))
  done
  rm /mnt/a/strict.txt
}

# The same, with A's handle still open when B writes: A's next read must not come from its page
# cache. cifs.ko gets that right with leases; with oplocks alone it keeps the stale pages (Samba
# with `smb2 leases = no` fails this too).
case_cache_strict_held () {
  mnt /mnt/a "vers=3.1.1,cache=strict,nosharesock"
  mnt /mnt/b "vers=3.1.1,cache=strict,nosharesock"
  echo start > /mnt/a/held.txt
  exec 3<> /mnt/a/held.txt
  printf 'written-by-a' >&3
  same "$(cat /mnt/b/held.txt)" written-by-a 'B reads what A wrote through a handle still open'
  printf 'written-by-b' > /mnt/b/held.txt
  got=$(cat /mnt/a/held.txt)
  if [ "$got" != written-by-b ]; then
    echo "A read '$got'; B reads '$(cat /mnt/b/held.txt)'; after drop_caches A reads '$(dropcache; cat /mnt/a/held.txt)'"
    fail "A reads what B wrote while A's handle is open: expected 'written-by-b', got '$got'"
  fi
  exec 3>&-
  rm /mnt/a/held.txt
}

case_restart () {
  mnt /mnt/a "vers=3.1.1"
  d=/mnt/a/restart; mkdir -p "$d"
  echo before > "$d/before" || fail write
  echo "@@@ RESTART"
  read -r reply
  same "$reply" restarted 'the host'
  # The client notices the closed connection and reconnects; give it 60 s to do so.
  i=0; until ls "$d" >/dev/null 2>&1; do i=$((i + 1)); [ $i -lt 60 ] || fail "no listing 60 s after the restart"; sleep 1; done
  echo "listing again after ~$i s"
  same "$(cat "$d/before")" before 'a file written before the restart'
  echo after > "$d/after" || fail "write after the restart"
  dropcache
  same "$(cat "$d/after")" after 'a file written after the restart'
  same "$(ls "$d" | tr '\n' ' ')" 'after before ' 'listing'
  debugdata
  rm -r "$d" || fail rm
}

# BIG_MIB MiB written and read back with checksums: a 64 MiB random block repeated (the guest's
# memory holds the block, not the file); the host checks the MD5 of every 64 MiB of the file in the
# share's directory and answers with the whole file's, which the guest checks against what it reads
# back through a cold cache. (MD5, not SHA-256: busybox hashes 64 MiB in ~1 s under TCG, SHA-256
# in 2.5 s.)
case_big () {
  mnt /mnt/a "vers=3.1.1"
  dd if=/dev/urandom of=/tmp/block bs=1M count=64 2>/dev/null
  want=$(md5sum /tmp/block | cut -d' ' -f1)
  n=$((BIG_MIB / 64))
  t0=$(date +%s)
  i=0; while [ $i -lt $n ]; do cat /tmp/block || exit 1; i=$((i + 1)); done > /mnt/a/big || fail "write"
  sync
  t1=$(date +%s)
  same "$(stat -c %s /mnt/a/big)" $((n * 67108864)) 'size'
  # The host answers `match <MD5 of the whole file>` once every 64 MiB has the block's MD5.
  echo "@@@ CHUNKMD5 big 67108864 $want"; read -r reply whole
  same "$reply" match "the host's MD5 of each 64 MiB of big in the share's directory"
  t2=$(date +%s)
  dropcache
  same "$(md5sum /mnt/a/big | cut -d' ' -f1)" "$whole" 'MD5 of the whole file read back'
  t3=$(date +%s)
  echo "measure: $BIG_MIB MiB written in $((t1 - t0)) s, read back and hashed in $((t3 - t2)) s"
  rm /mnt/a/big /tmp/block
}

# par N FN: FN 0..N-1 in N background jobs (the guest has 2 vCPUs and each SMB round trip waits on
# the network, so 4 streams go ~3x faster than one); fails if any job fails.
par () {
  pids=''; k=0; while [ $k -lt "$1" ]; do "$2" "$k" "$1" & pids="$pids $!"; k=$((k + 1)); done
  st=0; for p in $pids; do wait "$p" || st=1; done
  return $st
}
create_slice () { i=$1; while [ $i -lt "$NFILES" ]; do echo "file $i" > "$d/f$i" || { echo "create f$i failed"; return 1; }; i=$((i + $2)); done; }
check_slice () { i=$1; while [ $i -lt "$NFILES" ]; do read -r line < "$d/f$i"; [ "$line" = "file $i" ] || { echo "f$i reads '$line'"; return 1; }; i=$((i + $2)); done; }
# (one rm per few thousand names, through xargs: a fork per file costs more than its unlink under TCG)
remove_slice () { i=$1; while [ $i -lt "$NFILES" ]; do echo "$d/f$i"; i=$((i + $2)); done | xargs rm || { echo "rm of slice $1 failed"; return 1; }; }

# NFILES small files, each with its own content, in 4 streams, read back through a cold cache,
# then removed.
case_small_files () {
  mnt /mnt/a "vers=3.1.1"
  d=/mnt/a/many; rm -rf "$d"; mkdir "$d" || fail mkdir
  t0=$(date +%s)
  par 4 create_slice || fail "creating $NFILES files"
  t1=$(date +%s)
  echo "measure: $NFILES files created in $((t1 - t0)) s (4 streams)"
  dropcache
  par 4 check_slice || fail "reading $NFILES files back"
  t2=$(date +%s)
  echo "measure: read back in $((t2 - t1)) s"
  same "$(ls "$d" | wc -l)" "$NFILES" 'entries listed'
  par 4 remove_slice || fail "removing $NFILES files"
  rmdir "$d" || fail "rmdir"
  t3=$(date +%s)
  echo "measure: listed and removed in $((t3 - t2)) s"
}

# A directory of DIR_ENTRIES entries, made by the host in the share's directory (creating them
# through the guest costs ~15 ms a file under TCG), listed on a fresh mount.
case_big_dir () {
  echo "@@@ MKFILES bigdir $DIR_ENTRIES"; read -r reply; same "$reply" made 'the host'
  mnt /mnt/a "vers=3.1.1"
  d=/mnt/a/bigdir
  t0=$(date +%s)
  same "$(ls "$d" | wc -l)" "$DIR_ENTRIES" 'entries listed'
  same "$(ls "$d" | sort -u | wc -l)" "$DIR_ENTRIES" 'distinct entries listed'
  same "$(ls -l "$d" | grep -c ' e[0-9]*$')" "$DIR_ENTRIES" 'entries with their attributes (ls -l)'
  ls "$d" | grep -qx "e$((DIR_ENTRIES - 1))" || fail "e$((DIR_ENTRIES - 1)) is not listed"
  same "$(cat "$d/e$((DIR_ENTRIES / 2))")" "entry $((DIR_ENTRIES / 2))" 'an entry'"'"'s content'
  t1=$(date +%s)
  echo "measure: $DIR_ENTRIES entries listed (ls, ls -l) in $((t1 - t0)) s"
}

# Persistent handles (continuous availability, MS-SMB2 3.3.5.9.10) across a crash of the server:
# files held open in this shell on a CA share (vers=3.1.1,persistenthandles: cifs.ko asks a DH2Q
# with the PERSISTENT flag of every open), written to, one of them locked (flock: an SMB2 LOCK of
# the whole file), then the server is killed with SIGKILL and started again on the same port and
# record directory. The client reconnects (DH2C), and the same descriptors go on: a write through
# the first lands after what it wrote before, a read through the second (opened before the crash)
# gives every byte back, and the lock still shuts the other mount out. The second mount
# (nosharesock: another connection, another client to the server) opens the file before the lock
# is taken, which breaks the first mount's lease down from write caching, so cifs sends its locks
# to the server at once rather than keeping them to itself; the host counts the records the crash
# left (opens, locks). Samba 4.17 has no persistent handles: cifs refuses the mount, the case skips.
case_persistent () {
  mkdir -p /mnt/a /mnt/b
  o="username=$SMB_USER,password=$SMB_PASS,port=$PORT,vers=3.1.1,persistenthandles"
  if ! mount -t cifs "//$SERVER/$CA_SHARE" /mnt/a -o "$o" 2>/tmp/mount.err; then
    dmesg | grep -qi 'persistent handles not supported' && skip "the server offers no persistent handles (no SMB2_GLOBAL_CAP_PERSISTENT_HANDLES), cifs says: $(dmesg | grep -i persistent | tail -1 | sed "s/^\[[^]]*\] //")"
    fail "mount -o persistenthandles: $(cat /tmp/mount.err)"
  fi
  mount -t cifs "//$SERVER/$CA_SHARE" /mnt/b -o "$o,nosharesock" || fail "second mount"
  grep " /mnt/a cifs " /proc/mounts | grep -q persistenthandles || fail "mounted without persistenthandles"
  f=/mnt/a/persist.bin
  dd if=/dev/urandom of=/tmp/p1 bs=64k count=4 2>/dev/null
  dd if=/dev/urandom of=/tmp/p2 bs=64k count=4 2>/dev/null
  exec 3<> "$f" || fail "open for writing"
  cat /tmp/p1 >&3 || fail "write before the crash"
  exec 6< "$f" || fail "open for reading"
  exec 4< /mnt/b/persist.bin || fail "open through the second mount"
  flock -x 3 || fail "flock through the first mount"
  flock -n -x 4 2>/dev/null && fail "the second mount took a lock the first holds (before the crash)"
  sync
  hostsha ca:persist.bin "$(sha /tmp/p1)"
  echo "@@@ CRASH"; read -r reply opens locks
  same "$reply" restarted 'the host'
  echo "the crash left $opens open records with $locks locks"
  [ "$opens" -ge 3 ] || fail "the crash left $opens records of opens, not 3 (two descriptors here, one on the second mount)"
  same "$locks" 1 'locks in the records the crash left'
  t0=$(date +%s)
  cat /tmp/p2 >&3 || fail "write through the descriptor opened before the crash"
  sync
  echo "measure: the write after the crash took $(( $(date +%s) - t0 )) s (reconnect included)"
  cat /tmp/p1 /tmp/p2 > /tmp/p12
  # Each of the three opens taken back by its DH2C (smbts logs each reconnect; cifs may reconnect
  # one more than once), none opened anew.
  echo "@@@ LOGCOUNT persistent handle ca/persist.bin .fid ([0-9]+). reconnected by"; read -r n
  same "$n" 3 'handles (FileIds) the server logs as reconnected'
  hostsha ca:persist.bin "$(sha /tmp/p12)"
  flock -n -x 4 2>/tmp/flock.err && fail "the second mount took a lock the first held across the crash"
  echo "the second mount's flock, refused: $(cat /tmp/flock.err)"
  # (The lock is fd 3's open's: until it goes, a read through any other open, fd 6 too, is refused.)
  flock -u 3 || fail "unlock"
  dropcache
  same "$(sha256sum <&6 | cut -d' ' -f1)" "$(sha /tmp/p12)" 'every byte read back through the descriptor opened before the crash'
  flock -n -x 4 || fail "the second mount cannot lock once the first unlocked"
  flock -u 4
  grep -iE 'persistent|reconnect|reopen' /proc/fs/cifs/DebugData | head -5
  exec 3>&- 4<&- 6<&-
  rm "$f" || fail rm
}

case_open_rename_unlink () {
  mnt /mnt/a "vers=3.1.1"
  d=/mnt/a/openren; mkdir "$d" || fail mkdir
  echo content > "$d/a"
  exec 3< "$d/a"
  mv "$d/a" "$d/b" || fail "rename of an open file"
  same "$(ls "$d")" b 'listing after the rename'
  same "$(cat <&3)" content 'read through the handle opened before the rename'
  exec 3>&-
  exec 4<> "$d/b"
  rm "$d/b" || fail "unlink of an open file"
  # SMB keeps the name of a file deleted while open (delete pending) until its last close, Samba
  # as Windows; what was open still reads.
  echo "after unlink, still open: $(ls "$d" | tr '\n' ' ')"
  same "$(cat <&4)" content 'read through the handle open across the unlink'
  exec 4>&-
  dropcache
  same "$(ls "$d" | wc -l)" 0 'entries once the handle is closed'
  rmdir "$d" || fail rmdir
}

case_fsync () {
  mnt /mnt/a "vers=3.1.1"
  xfs_io -f -c 'pwrite -q -S 0x61 0 1m' -c fsync -c 'pwrite -q -S 0x62 1m 64k' -c fdatasync /mnt/a/fsync.bin || fail "pwrite and fsync"
  same "$(stat -c %s /mnt/a/fsync.bin)" 1114112 size
  hostsha fsync.bin "$(sha /mnt/a/fsync.bin)"
  sync -f /mnt/a/fsync.bin || fail "syncfs"
  rm /mnt/a/fsync.bin
}

# A sparse file (truncated up, one block written in the middle), fallocate past the end and with
# KEEP_SIZE, SEEK_DATA.
case_sparse () {
  mnt /mnt/a "vers=3.1.1"
  f=/mnt/a/sparse.bin
  xfs_io -f -c 'truncate 64m' -c 'pwrite -q -S 0x41 32m 4k' "$f" || fail "truncate and pwrite"
  same "$(stat -c %s "$f")" 67108864 'size'
  echo "blocks: $(stat -c %b "$f")"
  xfs_io -c 'falloc 64m 1m' "$f" || fail "fallocate past the end"
  same "$(stat -c %s "$f")" 68157440 'size after fallocate past the end'
  xfs_io -c 'falloc -k 70m 1m' "$f" || fail "fallocate KEEP_SIZE"
  same "$(stat -c %s "$f")" 68157440 'size after fallocate KEEP_SIZE'
  dropcache
  same "$(dd if="$f" bs=4k skip=8192 count=1 2>/dev/null | tr -d 'A' | wc -c)" 0 'the written block reads back'
  same "$(dd if="$f" bs=4k skip=100 count=1 2>/dev/null | tr -d '\0' | wc -c)" 0 'a hole reads zeros'
  xfs_io -c 'seek -d 0' "$f"
  rm "$f"
}

# A hole punched in written data (FALLOC_FL_PUNCH_HOLE: FSCTL_SET_SPARSE, FSCTL_SET_ZERO_DATA).
case_punch_hole () {
  mnt /mnt/a "vers=3.1.1"
  f=/mnt/a/punch.bin
  xfs_io -f -c 'pwrite -q -S 0x41 0 1m' "$f" || fail "pwrite"
  xfs_io -c 'fpunch 256k 64k' "$f" || fail "punch a hole"
  same "$(stat -c %s "$f")" 1048576 'size after punching'
  dropcache
  same "$(dd if="$f" bs=64k skip=4 count=1 2>/dev/null | tr -d '\0' | wc -c)" 0 'the punched range reads zeros'
  same "$(dd if="$f" bs=64k skip=5 count=1 2>/dev/null | tr -d 'A' | wc -c)" 0 'the data after it is intact'
  rm "$f"
}

case_xattr () {
  mnt /mnt/a "vers=3.1.1"
  f=/mnt/a/xattr.txt; echo x > "$f"
  setfattr -n user.colour -v blue "$f" || fail "setfattr"
  setfattr -n user.size -v large "$f" || fail "setfattr (second)"
  same "$(getfattr --only-values -n user.colour "$f")" blue 'getfattr'
  getfattr -d "$f" | grep -q 'user.size="large"' || fail "getfattr -d lists no user.size: $(getfattr -d "$f")"
  setfattr -x user.colour "$f" || fail "setfattr -x"
  ! getfattr -n user.colour "$f" 2>/dev/null || fail "user.colour still there after removal"
  rm "$f"
}

case_mmap () {
  mnt /mnt/a "vers=3.1.1"
  f=/mnt/a/mmap.bin
  xfs_io -f -c 'truncate 256k' -c 'mmap -w 0 256k' -c 'mwrite -S 0x5a 0 128k' -c 'mwrite -S 0x33 128k 128k' -c 'msync -s 0 256k' -c munmap "$f" || fail "mmap writes"
  umount /mnt/a; mnt /mnt/a "vers=3.1.1"
  same "$(dd if="$f" bs=128k count=1 2>/dev/null | tr -d 'Z' | wc -c)" 0 'the first 128 KiB read back as 0x5a'
  same "$(dd if="$f" bs=128k skip=1 count=1 2>/dev/null | tr -d '3' | wc -c)" 0 'the second 128 KiB read back as 0x33'
  same "$(stat -c %s "$f")" 262144 size
  rm "$f"
}

case_truncate () {
  mnt /mnt/a "vers=3.1.1"
  f=/mnt/a/trunc.bin
  dd if=/dev/urandom of="$f" bs=64k count=16 2>/dev/null || fail write
  truncate -s 1000 "$f" || fail "truncate to 1000"
  same "$(stat -c %s "$f")" 1000 'size after shrinking'
  truncate -s 2097152 "$f" || fail "truncate to 2 MiB"
  dropcache
  same "$(stat -c %s "$f")" 2097152 'size after growing'
  same "$(dd if="$f" bs=1000 skip=1 2>/dev/null | tr -d '\0' | wc -c)" 0 'what growing added reads zeros'
  : > "$f"
  same "$(stat -c %s "$f")" 0 'size after O_TRUNC'
  rm "$f"
}

case_timestamps () {
  mnt /mnt/a "vers=3.1.1"
  f=/mnt/a/times.txt; echo x > "$f"
  touch -m -d '2001-02-03 04:05:06' "$f" || fail "touch -m"
  touch -a -d '2002-03-04 05:06:07' "$f" || fail "touch -a"
  mkdir /mnt/a/timesdir && touch -d '1999-12-31 23:59:59' /mnt/a/timesdir || fail "touch on a directory"
  umount /mnt/a; mnt /mnt/a "vers=3.1.1,actimeo=0"
  same "$(stat -c %Y "$f")" 981173106 'mtime'
  same "$(stat -c %X "$f")" 1015218367 'atime'
  same "$(stat -c %Y /mnt/a/timesdir)" 946684799 'a directory'"'"'s mtime'
  t=$(date +%s); sleep 1; echo more >> "$f"
  m=$(stat -c %Y "$f"); [ "$m" -ge "$t" ] || fail "mtime $m did not move on a write at $t"
  rm "$f"; rmdir /mnt/a/timesdir
}

# SMB 3.1.1 POSIX extensions: modes, owners, hard links, special files.
# SMB 3.1.1 POSIX extensions (mount -o posix): the mode a program creates a file or directory with
# is its mode on the server (the POSIX create context; no server umask), the owner and group the
# client shows are the server's (Unix SIDs S-1-22-1-uid / S-1-22-2-gid, with idsfromsid), a hard link is a real one
# (FileLinkInformation: link(2) on the server), names are case-sensitive, and a FIFO made on the
# server is listed. This client (6.1) sends no chmod on a posix mount (cifs_setattr_nounix: only
# with cifsacl or modefromsid; the cifsacl case covers chmod), and creates special files only with
# `sfu` (smb2_make_node; reparse points from 6.8 on): where mkfifo is refused, that is noted.
# (`mkdir -m` is mkdir then chmod in busybox: the umask is what reaches the server. The FIFO's
# mode carries its type, as from Samba 4.23, which 6.1 shows as `?` and logs as a bogus i_mode.)
hoststat () { echo "@@@ STAT $1"; read -r reply; same "$reply" "$2" "the host's view of $1 (mode links owner type)"; }
case_posix () {
  mnt /mnt/a "vers=3.1.1,posix"
  grep " /mnt/a cifs " /proc/mounts | grep -q ',posix' || fail "mounted without posix"
  d=/mnt/a/posix; mkdir "$d" || fail mkdir
  ( umask 027; echo x > "$d/f" ) || fail create
  ( umask 027; mkdir "$d/sub" ) || fail "mkdir with umask 027"
  hoststat posix/f "640 1 0:0 file"
  hoststat posix/sub "750 2 0:0 dir"
  same "$(stat -c %a "$d/f")" 640 'mode of the new file'
  ln "$d/f" "$d/hard" || fail "hard link"; same "$(stat -c %h "$d/f")" 2 'link count'
  hoststat posix/hard "640 2 0:0 file"
  same "$(cat "$d/hard")" x 'data through the hard link'
  echo y > "$d/F" || fail "create F beside f"
  same "$(cat "$d/f")" x 'f is not F (POSIX names are case-sensitive)'
  echo "@@@ CHOWN posix/f 1234 5678"; read -r reply
  echo "@@@ MKFIFO posix/hostfifo"; read -r reply; same "$reply" made 'host mkfifo'
  # The client maps the owner SIDs of a listing to ids itself with idsfromsid (else through a
  # cifs.idmap upcall, which this guest has not got, showing the mount's uid and gid; 6.1 maps
  # them only from listings, not from a stat's FilePosixInformation).
  umount /mnt/a; mnt /mnt/a "vers=3.1.1,posix,idsfromsid"
  same "$(ls -ln "$d" | awk '$NF == "hard" { print $1, $2, $3 ":" $4 }')" '-rw-r----- 2 1234:5678' 'mode, links and owner in a listing on a new mount'
  ls "$d" | grep -qx hostfifo || fail "the server's FIFO is not listed"
  if mkfifo "$d/fifo" 2>/tmp/mkfifo.err; then
    [ -p "$d/fifo" ] || fail "mkfifo made no FIFO"
  else
    echo "note: this client ($(uname -r)) does not create a FIFO on a posix mount: $(cat /tmp/mkfifo.err)"
  fi
  rm -r "$d" || fail "rm -r"
}

# Symlinks made on the server (not mfsymlinks): a plain mount sees one whose target stays inside
# the share as a symlink and reads through it (the server answers an open of it with
# STATUS_STOPPED_ON_SYMLINK and its target, FSCTL_GET_REPARSE_POINT on FILE_OPEN_REPARSE_POINT);
# one leading outside the share is never followed.
case_symlinks () {
  mnt /mnt/a "vers=3.1.1"
  d=/mnt/a/symlinks; mkdir "$d" || fail mkdir
  echo hello > "$d/target" || fail create
  echo "@@@ SYMLINK target symlinks/in"; read -r reply; same "$reply" made 'host symlink'
  echo "@@@ SYMLINK outside symlinks/out"; read -r reply; same "$reply" made 'host symlink'
  [ -L "$d/in" ] || fail "not seen as a symlink"
  same "$(readlink "$d/in")" target 'readlink'
  same "$(cat "$d/in")" hello 'read through the symlink'
  # The link to a file beside the share is shown as a link (and can be removed), and followed, if
  # at all, by the client on its own side: its content never comes through the share.
  [ -L "$d/out" ] || fail "the link leading outside is not shown as a link"
  cat "$d/out" 2>/dev/null | grep -q 'outside the share' && fail "read outside the share through a symlink"
  rm -r "$d" || fail "rm -r"
}

case_multichannel () {
  mnt /mnt/a "vers=3.1.1,multichannel,max_channels=2"
  sleep 2
  debugdata
  # DebugData says "Extra Channels: 1" under the session once the second channel is up.
  grep -q 'Extra Channels: [1-9]' /proc/fs/cifs/DebugData || fail "no second channel"
  roundtrip /mnt/a
}

one () {
  case "$1" in
    vers-*) case_vers "${1#vers-}" ;;
    seal-*) case_seal "${1#seal-}" ;;
    sign-*) case_sign "${1#sign-}" ;;
    mfsymlinks) case_mfsymlinks ;;
    cifsacl) case_cifsacl ;;
    cache-strict-two-mounts) case_cache_strict ;;
    cache-strict-held-handle) case_cache_strict_held ;;
    server-restart) case_restart ;;
    persistent) case_persistent ;;
    big-file) case_big ;;
    small-files) case_small_files ;;
    big-directory) case_big_dir ;;
    open-rename-unlink) case_open_rename_unlink ;;
    fsync) case_fsync ;;
    sparse-fallocate) case_sparse ;;
    punch-hole) case_punch_hole ;;
    xattr) case_xattr ;;
    mmap-write) case_mmap ;;
    truncate) case_truncate ;;
    timestamps) case_timestamps ;;
    posix) case_posix ;;
    symlinks) case_symlinks ;;
    multichannel) case_multichannel ;;
    *) fail "no case named $1" ;;
  esac
}

if [ "$1" = one ]; then one "$2"; exit 0; fi

ip link set lo up; ip link set eth0 up; ip addr add "$GUEST_ADDR/24" dev eth0
echo "@@@ GUEST $(uname -r) $(nproc) cpu, $(free -m | awk '/Mem:/ { print $2 }') MiB"
i=0; until ping -c1 -W1 "$SERVER" >/dev/null 2>&1; do i=$((i + 1)); [ $i -lt 20 ] && sleep 0.5 || break; done
for c in $CASES; do
  echo "@@@ BEGIN $c"
  dmesg -c >/dev/null
  rm -f /tmp/skip
  t0=$(date +%s)
  # small-files makes NFILES files one by one through an emulated CPU: it gets twice the time.
  limit=$CASE_TIMEOUT; [ "$c" = small-files ] && limit=$((CASE_TIMEOUT * 2))
  timeout -s KILL "$limit" sh /run/guest.sh one "$c"
  rc=$?
  # What the case left running (its background jobs outlive a kill by timeout) goes first.
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = 1 ] || [ "$p" = $$ ] || [ -z "$(cat /proc/$p/cmdline 2>/dev/null)" ] || kill -9 "$p" 2>/dev/null
  done
  for m in $(awk '$3 == "cifs" { print $2 }' /proc/mounts); do umount "$m" 2>/dev/null || umount -f "$m" 2>/dev/null || umount -l "$m"; done
  t=$(( $(date +%s) - t0 ))
  if [ $rc = 0 ]; then echo "@@@ END $c pass $t"
  elif [ $rc = 77 ]; then echo "@@@ END $c skip $t $(cat /tmp/skip)"
  else
    [ $rc = 137 ] && echo "FAIL: killed after $limit s"
    echo "--- dmesg:"; dmesg | tail -40
    echo "@@@ END $c fail $t exit status $rc"
  fi
done
echo "@@@ DONE"
