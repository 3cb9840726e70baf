#!/usr/bin/python3
"""impacket driver: a persistent handle across a SIGKILL and restart of smbts
(test/interop/persistent-handles.test.ts).

Usage: persistent_ops.py before PORT USER PASSWORD SHARE
       persistent_ops.py after PORT USER PASSWORD SHARE FID CREATEGUID

before: client A (SMB 3.0, a fixed ClientGuid) opens "persist.dat" with a DH2Q asking
SMB2_DHANDLE_FLAG_PERSISTENT, writes DATA in 16 KiB WRITEs (each acknowledged), takes an
exclusive byte-range lock on bytes 0..99, prints {"steps", "fid", "createGuid"} and keeps its
connection open until a line arrives on standard input (the server is killed meanwhile).
after: a new connection of the same client (same ClientGuid) reconnects with DH2C naming FID and
CREATEGUID, reads DATA back, writes through the handle; client B (another ClientGuid) opens the
file and finds the lock held (LOCK_NOT_GRANTED, FILE_LOCK_CONFLICT on a read of the range);
A unlocks (once), closes, deletes. Prints {"steps": {name: {"ok", "value"?, "status"?}}}.
"""
import json
import struct
import sys
import uuid

from impacket import smb3structs as s

from steps import Steps, connect, create_context, lock_one, status_name

DATA = bytes((i * 7 + 3) % 251 for i in range(256 * 1024))
PERSISTENT = 0x2


def before(port, user, password, share):
    steps = Steps()
    step = steps.run
    st = {'guid': uuid.uuid4().bytes}

    def open_a():
        st['a'], st['ta'] = connect(port, user, password, share, 0x5eed)
        dh2q = struct.pack('<II8s16s', 60000, PERSISTENT, b'\x00' * 8, st['guid'])
        st['fid'] = st['a']._SMBConnection.create(
            st['ta'], 'persist.dat', s.FILE_READ_DATA | s.FILE_WRITE_DATA | s.DELETE, s.FILE_SHARE_READ | s.FILE_SHARE_WRITE, 0,
            s.FILE_OVERWRITE_IF, 0, oplockLevel=s.SMB2_OPLOCK_LEVEL_NONE, createContexts=[create_context(b'DH2Q', dh2q)])
    step('open_persistent', open_a)

    def write():
        for off in range(0, len(DATA), 16384):
            n = st['a'].writeFile(st['ta'], st['fid'], DATA[off:off + 16384], off)
            if n != 16384:
                raise Exception(f'short write at {off}: {n}')
        return len(DATA)
    step('write', write)
    step('lock', lambda: status_name(lock_one(st['a'], st['ta'], st['fid'], 0, 100, s.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | s.SMB2_LOCKFLAG_FAIL_IMMEDIATELY)))
    print(json.dumps({'steps': steps.results, 'fid': st.get('fid', b'').hex(), 'createGuid': st['guid'].hex()}), flush=True)
    sys.stdin.readline()  # the connection stays up until the test has killed the server


def after(port, user, password, share, fid_hex, guid_hex):
    steps = Steps()
    step = steps.run
    st = {}
    fid = bytes.fromhex(fid_hex)

    def reconnect():
        st['a'], st['ta'] = connect(port, user, password, share, 0x5eed)
        dh2c = fid + bytes.fromhex(guid_hex) + struct.pack('<I', PERSISTENT)
        st['fid'] = st['a']._SMBConnection.create(st['ta'], 'persist.dat', 0, 0, 0, 0, 0, createContexts=[create_context(b'DH2C', dh2c)])
        return st['fid'] == fid
    step('reconnect', reconnect)

    def read_back():
        got = b''
        while len(got) < len(DATA):
            chunk = st['a'].readFile(st['ta'], st['fid'], len(got), 65536)
            if not chunk:
                break
            got += chunk
        return got == DATA
    step('read_back', read_back)

    def open_b():
        st['b'], st['tb'] = connect(port, user, password, share, 0xb0b)
        st['fidb'] = st['b']._SMBConnection.create(
            st['tb'], 'persist.dat', s.FILE_READ_DATA, s.FILE_SHARE_READ | s.FILE_SHARE_WRITE | s.FILE_SHARE_DELETE, 0, s.FILE_OPEN, 0)
    step('open_other', open_b)

    def other_writer():
        st['b']._SMBConnection.create(st['tb'], 'persist.dat', s.FILE_WRITE_DATA, s.FILE_SHARE_READ, 0, s.FILE_OPEN, 0)
    step('other_writer_refused', other_writer)
    step('other_lock', lambda: status_name(lock_one(st['b'], st['tb'], st['fidb'], 10, 10, s.SMB2_LOCKFLAG_SHARED_LOCK | s.SMB2_LOCKFLAG_FAIL_IMMEDIATELY)))
    step('other_read_locked', lambda: st['b'].readFile(st['tb'], st['fidb'], 0, 10))
    step('other_read_unlocked', lambda: st['b'].readFile(st['tb'], st['fidb'], 1000, 10) == DATA[1000:1010])
    step('own_write', lambda: st['a'].writeFile(st['ta'], st['fid'], b'after the restart', len(DATA)))
    step('own_read', lambda: st['a'].readFile(st['ta'], st['fid'], len(DATA), 17) == b'after the restart')
    step('unlock', lambda: status_name(lock_one(st['a'], st['ta'], st['fid'], 0, 100, s.SMB2_LOCKFLAG_UNLOCK)))
    step('unlock_again', lambda: status_name(lock_one(st['a'], st['ta'], st['fid'], 0, 100, s.SMB2_LOCKFLAG_UNLOCK)))
    step('close_other', lambda: st['b'].closeFile(st['tb'], st['fidb']))
    step('close', lambda: st['a'].closeFile(st['ta'], st['fid']))
    step('delete', lambda: st['a'].deleteFile(share, 'persist.dat'))
    print(json.dumps({'steps': steps.results}))


if __name__ == '__main__':
    if sys.argv[1] == 'before':
        before(*sys.argv[2:6])
    else:
        after(*sys.argv[2:8])
