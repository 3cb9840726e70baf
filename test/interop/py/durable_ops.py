#!/usr/bin/python3
"""impacket driver: a durable handle kept over a lost TCP connection (test/interop/durable.test.ts).

Usage: durable_ops.py PORT USER PASSWORD SHARE
Client A (SMB 3.0) opens "durable.txt" with a batch oplock and a DHnQ context, writes to it and
takes an exclusive byte-range lock, then its TCP connection is cut (shutdown of the socket: no
LOGOFF, no CLOSE). Client B, a new connection of the same user, reconnects to the open with a
DHnC context naming A's FileId, reads the data back, and finds the lock still held by the open
(an unlock of the range succeeds once, then RANGE_NOT_LOCKED). A DHnC naming no open is refused.
Prints one JSON object {"steps": {name: {"ok", "value"?, "status"?, "error"?}}}.
"""
import json
import socket
import struct
import sys
import time

from impacket import smb3structs as s

from steps import Steps, connect, create_context, lock_one, status_name

DATA = b'kept across the reconnect\n' * 100


def main():
    port, user, password, share = sys.argv[1:5]
    steps = Steps()
    step = steps.run

    st = {}

    def open_a():
        st['a'], st['ta'] = connect(port, user, password, share)
        st['fid'] = st['a']._SMBConnection.create(
            st['ta'], 'durable.txt', s.FILE_READ_DATA | s.FILE_WRITE_DATA | s.DELETE, 0, 0, s.FILE_OVERWRITE_IF, 0,
            oplockLevel=s.SMB2_OPLOCK_LEVEL_BATCH, createContexts=[create_context(b'DHnQ', b'\x00' * 16)])
    step('open_durable', open_a)
    step('write', lambda: st['a'].writeFile(st['ta'], st['fid'], DATA, 0))
    step('lock', lambda: status_name(lock_one(st['a'], st['ta'], st['fid'], 0, 10, s.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | s.SMB2_LOCKFLAG_FAIL_IMMEDIATELY)))

    def cut():
        sock = st['a']._SMBConnection._NetBIOSSession.get_socket()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        time.sleep(0.3)  # the server notices the connection is gone
    step('cut_tcp', cut)

    def reconnect():
        st['b'], st['tb'] = connect(port, user, password, share)
        st['fid2'] = st['b']._SMBConnection.create(
            st['tb'], 'durable.txt', 0, 0, 0, 0, 0, createContexts=[create_context(b'DHnC', st['fid'])])
        return st['fid2'] == st['fid']
    step('reconnect', reconnect)
    step('read_back', lambda: st['b'].readFile(st['tb'], st['fid2'], 0, len(DATA)) == DATA)
    step('unlock', lambda: status_name(lock_one(st['b'], st['tb'], st['fid2'], 0, 10, s.SMB2_LOCKFLAG_UNLOCK)))
    step('unlock_again', lambda: status_name(lock_one(st['b'], st['tb'], st['fid2'], 0, 10, s.SMB2_LOCKFLAG_UNLOCK)))

    def bogus():
        bad = struct.pack('<QQ', 0x7777, 0x7777)
        st['b']._SMBConnection.create(st['tb'], 'durable.txt', 0, 0, 0, 0, 0, createContexts=[create_context(b'DHnC', bad)])
    step('reconnect_unknown', bogus)
    step('close', lambda: st['b'].closeFile(st['tb'], st['fid2']))
    step('delete', lambda: st['b'].deleteFile(share, 'durable.txt'))
    print(json.dumps({'steps': steps.results}))


if __name__ == '__main__':
    main()
