#!/bin/bash
# bench/ab-echo.sh ROUNDS DIR_A DIR_B : smbtorture smb2.bench.echo (1 and 4 connections, 3 s) against
# `smbts start -n --workers 1` built in DIR_A and in DIR_B, alternating A B B A ...
rounds=$1; A=$2; B=$3
t=$(mktemp -d); port=$((20000 + RANDOM % 20000)); mkdir -p "$t/s"; chmod 777 "$t/s"
printf '[global]\n\tserver min protocol = SMB2_02\n[s]\n\tpath = %s/s\n\twriteable = yes\n' "$t" > "$t/c"
$A/bin/smbts adduser -P "$t/p" -a -p hookpass hook >/dev/null 2>&1
run() { # dir label
  (exec setsid $1/bin/smbts start -n --workers 1 -p "$port" -C "$t/c" -P "$t/p" --pid-file "$t/pid" --control-dir "$t/ctl") >"$t/log" 2>&1 </dev/null &
  for i in $(seq 1 40); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.25; done
  sleep 1
  for n in 1 4; do
    r=$(timeout 30 smbtorture "//127.0.0.1/s" -p "$port" -U hook%hookpass smb2.bench.echo --option=torture:timelimit=3 --option=torture:nprocs=$n --option=torture:progress=no 2>&1 | sed -n 's/.*echo\[num\/s=\([0-9]*\).*/\1/p' | tail -1)
    echo "$2 conns=$n $r"
  done
  [ -f "$t/pid" ] && kill "$(cat "$t/pid")" 2>/dev/null; while [ -f "$t/pid" ]; do sleep 0.2; done; sleep 0.5
}
for i in $(seq 1 $rounds); do
  if [ $((i % 2)) = 1 ]; then run $A A; run $B B; else run $B B; run $A A; fi
done
rm -rf "$t"
