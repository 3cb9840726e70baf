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
import random
import socket
import struct
import sys
import time

from impacket import nt_errors, smb3structs as s
from impacket.smbconnection import SMBConnection, SessionError
from impacket.smb3 import SessionError as Smb3Error

DATA = b'kept across the reconnect\n' * 100


def status_name(code):
    name = nt_errors.ERROR_MESSAGES.get(code)
    return name[0] if name else hex(code)


def context(name, data):
    c = s.SMB2CreateContext()
    c['Next'] = 0
    c['NameOffset'] = 16
    c['NameLength'] = len(name)
    c['DataOffset'] = 24
    c['DataLength'] = len(data)
    c['Buffer'] = name + b'\x00' * (8 - len(name)) + data
    return c


def connect(port, user, password, share):
    # One client machine, one ClientGuid on all its connections (MS-SMB2 3.2.1.1), as Windows and
    # Linux send it: impacket draws its ClientGuid from `random`, so the same seed gives the same
    # one. With worker processes, that is what brings the reconnect to the worker holding the open.
    random.seed(0x5eed)
    conn = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=int(port), preferredDialect=s.SMB2_DIALECT_30)
    conn._SMBConnection._Connection['SupportsDirectoryLeasing'] = False
    conn.login(user, password)
    return conn, conn.connectTree(share)


def lock(conn, tid, fid, off, length, flags):
    """One LOCK element, sent by hand; returns the NTSTATUS."""
    smb = conn._SMBConnection
    packet = smb.SMB_PACKET()
    packet['Command'] = s.SMB2_LOCK
    packet['TreeID'] = tid
    body = s.SMB2Lock()
    body['FileID'] = fid
    body['LockCount'] = 1
    body['LockSequence'] = 0
    el = s.SMB2_LOCK_ELEMENT()
    el['Offset'] = off
    el['Length'] = length
    el['Flags'] = flags
    body['Locks'] = el.getData()
    packet['Data'] = body
    ans = smb.recvSMB(smb.sendSMB(packet))
    return ans['Status']


def main():
    port, user, password, share = sys.argv[1:5]
    steps = {}

    def step(name, fn):
        try:
            v = fn()
            steps[name] = {'ok': True} if v is None else {'ok': True, 'value': v}
        except SessionError as e:
            steps[name] = {'ok': False, 'status': status_name(e.getErrorCode()), 'error': str(e)}
        except Smb3Error as e:
            steps[name] = {'ok': False, 'status': status_name(e.get_error_code()), 'error': str(e)}
        except Exception as e:  # noqa: BLE001 - the step's failure is the result
            steps[name] = {'ok': False, 'error': f'{type(e).__name__}: {e}'}

    st = {}

    def open_a():
        st['a'], st['ta'] = connect(port, user, password, share)
        st['fid'] = st['a']._SMBConnection.create(
            st['ta'], 'durable.txt', s.FILE_READ_DATA | s.FILE_WRITE_DATA | s.DELETE, 0, 0, s.FILE_OVERWRITE_IF, 0,
            oplockLevel=s.SMB2_OPLOCK_LEVEL_BATCH, createContexts=[context(b'DHnQ', b'\x00' * 16)])
    step('open_durable', open_a)
    step('write', lambda: st['a'].writeFile(st['ta'], st['fid'], DATA, 0))
    step('lock', lambda: status_name(lock(st['a'], st['ta'], st['fid'], 0, 10, s.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | s.SMB2_LOCKFLAG_FAIL_IMMEDIATELY)))

    def cut():
        sock = st['a']._SMBConnection._NetBIOSSession.get_socket()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        time.sleep(0.3)  # the server notices the connection is gone
    step('cut_tcp', cut)

    def reconnect():
        st['b'], st['tb'] = connect(port, user, password, share)
        st['fid2'] = st['b']._SMBConnection.create(
            st['tb'], 'durable.txt', 0, 0, 0, 0, 0, createContexts=[context(b'DHnC', st['fid'])])
        return st['fid2'] == st['fid']
    step('reconnect', reconnect)
    step('read_back', lambda: st['b'].readFile(st['tb'], st['fid2'], 0, len(DATA)) == DATA)
    step('unlock', lambda: status_name(lock(st['b'], st['tb'], st['fid2'], 0, 10, s.SMB2_LOCKFLAG_UNLOCK)))
    step('unlock_again', lambda: status_name(lock(st['b'], st['tb'], st['fid2'], 0, 10, s.SMB2_LOCKFLAG_UNLOCK)))

    def bogus():
        bad = struct.pack('<QQ', 0x7777, 0x7777)
        st['b']._SMBConnection.create(st['tb'], 'durable.txt', 0, 0, 0, 0, 0, createContexts=[context(b'DHnC', bad)])
    step('reconnect_unknown', bogus)
    step('close', lambda: st['b'].closeFile(st['tb'], st['fid2']))
    step('delete', lambda: st['b'].deleteFile(share, 'durable.txt'))
    print(json.dumps({'steps': steps}))


if __name__ == '__main__':
    main()
