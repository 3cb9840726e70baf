#!/usr/bin/python3
"""impacket driver: two clients contending for files, for the control mount's events.

Usage: contention_ops.py PORT USER PASSWORD SHARE LIMITED_SHARE GO_FILE
Client A opens "held.txt" with a level II oplock and "excl.txt" allowing no sharing; then A
prints {"held": true} and waits until GO_FILE exists (the test reads status.json meanwhile).
Client B then opens held.txt and writes it (A's level II oplock is broken to none), opens
excl.txt (a sharing violation) and connects LIMITED_SHARE twice (its `max connections = 1` refuses
the second). Prints one JSON object {"steps": {name: {"ok", "status"?, "error"?}}} at the end.
"""
import json
import os
import sys
import time

from impacket import smb3structs as s
from impacket.smbconnection import SMBConnection

from steps import Steps


def main():
    port, user, password, share, limited, go = sys.argv[1:7]
    steps = Steps(keep_values=False)
    step = steps.run

    def connect():
        c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=int(port), preferredDialect=s.SMB2_DIALECT_30)  # impacket 0.10 cannot sign 3.1.1 (impacket.test.ts)
        c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
        c.login(user, password)
        return c

    a = connect()
    b = connect()
    ta = a.connectTree(share)
    tb = b.connectTree(share)
    rw = s.FILE_READ_DATA | s.FILE_WRITE_DATA
    everyone = s.FILE_SHARE_READ | s.FILE_SHARE_WRITE | s.FILE_SHARE_DELETE
    sa = a.getSMBServer()
    step('A opens held.txt with a level II oplock', lambda: sa.create(
        ta, 'held.txt', rw, everyone, 0, s.FILE_OVERWRITE_IF, 0, oplockLevel=s.SMB2_OPLOCK_LEVEL_II))
    step('A opens excl.txt sharing nothing', lambda: sa.create(ta, 'excl.txt', rw, 0, 0, s.FILE_OVERWRITE_IF, 0))
    print(json.dumps({'held': True}), flush=True)
    end = time.time() + 30
    while not os.path.exists(go) and time.time() < end:
        time.sleep(0.05)
    sb = b.getSMBServer()
    fid = step('B opens held.txt for writing', lambda: sb.create(tb, 'held.txt', rw, everyone, 0, s.FILE_OPEN, 0))
    step('B writes held.txt', lambda: sb.write(tb, fid, b'written by B', 0, 12))
    step('B opens excl.txt', lambda: sb.create(tb, 'excl.txt', s.FILE_READ_DATA, everyone, 0, s.FILE_OPEN, 0))
    step('B connects the limited share', lambda: b.connectTree(limited))
    step('A connects the limited share too', lambda: a.connectTree(limited))
    print(json.dumps({'steps': steps.results}), flush=True)


if __name__ == '__main__':
    main()
