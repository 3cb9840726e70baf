#!/usr/bin/python3
"""impacket driver for test/interop/samba-moves.test.ts: the metadata a share carries from one server to another.

Usage: moves_ops.py write|read PORT USER PASSWORD SHARE NAME
write: creates NAME ("main" as data), writes the stream NAME:meta, sets its attributes
(HIDDEN|SYSTEM|ARCHIVE) and CreationTime (2001-02-03 04:05:06 UTC) with FileBasicInformation, and
adds an ACCESS_ALLOWED ACE for S-1-5-7 (0x1200a9) to its DACL.
read: opens NAME and reports its FileBasicInformation, its data, the stream's data and its DACL.
SMB 3.0, where impacket 0.10 is reliable. Prints one JSON object {"steps": {name: {"ok", "value"?, "status"?, "error"?}}}.
"""
import json
import struct
import sys

from impacket import smb3structs, nt_errors
from impacket.ldap import ldaptypes
from impacket.smbconnection import SMBConnection

INFO_FILE = 1
INFO_SECURITY = 3
FILE_BASIC_INFORMATION = 4
DACL = 0x4
OWNER_GROUP_DACL = 0x7
CREATION_TIME = 126256467060000000  # 2001-02-03 04:05:06 UTC as a FILETIME
ATTRIBUTES = 0x26  # HIDDEN | SYSTEM | ARCHIVE


def status_name(code):
    name = nt_errors.ERROR_MESSAGES.get(code)
    return name[0] if name else hex(code)


def main():
    op, port, user, password, share, name = sys.argv[1:7]
    results = {}

    def step(key, fn):
        try:
            v = fn()
            results[key] = {'ok': True, 'value': v}
            return v
        except Exception as e:  # noqa: BLE001 - every failure is data
            code = getattr(e, 'getErrorCode', None) or getattr(e, 'get_error_code', None)
            if code is not None:
                results[key] = {'ok': False, 'status': status_name(code()), 'error': str(e)}
            else:
                results[key] = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
        return None

    conn = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=int(port), preferredDialect=smb3structs.SMB2_DIALECT_30)
    conn._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 and directory leases, see secdesc_ops.py
    conn.login(user, password)
    smb = conn.getSMBServer()
    tid = conn.connectTree(share)

    if op == 'write':
        def create():
            fid = conn.createFile(tid, name, desiredAccess=0x001f01ff, creationDisposition=smb3structs.FILE_OVERWRITE_IF)
            conn.writeFile(tid, fid, b'main')
            conn.closeFile(tid, fid)
        step('create', create)

        def stream():
            fid = conn.createFile(tid, name + ':meta', desiredAccess=0x0012019f, creationDisposition=smb3structs.FILE_OVERWRITE_IF)
            conn.writeFile(tid, fid, b'stream data')
            conn.closeFile(tid, fid)
        step('stream', stream)

        def basic():
            fid = conn.openFile(tid, name, desiredAccess=0x00120180)  # FILE_READ/WRITE_ATTRIBUTES, READ_CONTROL, SYNCHRONIZE
            blob = struct.pack('<qqqqII', CREATION_TIME, 0, 0, 0, ATTRIBUTES, 0)
            smb.setInfo(tid, fid, inputBlob=blob, infoType=INFO_FILE, fileInfoClass=FILE_BASIC_INFORMATION)
            conn.closeFile(tid, fid)
        step('basic', basic)

        def acl():
            fid = conn.openFile(tid, name, desiredAccess=0x00060000)  # READ_CONTROL | WRITE_DAC
            sd = ldaptypes.SR_SECURITY_DESCRIPTOR(data=smb.queryInfo(tid, fid, infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=OWNER_GROUP_DACL))
            body = ldaptypes.ACCESS_ALLOWED_ACE()
            body['Mask'] = ldaptypes.ACCESS_MASK()
            body['Mask']['Mask'] = 0x001200a9
            body['Sid'] = ldaptypes.LDAP_SID()
            body['Sid'].fromCanonical('S-1-5-7')
            ace = ldaptypes.ACE()
            ace['AceType'] = ldaptypes.ACCESS_ALLOWED_ACE.ACE_TYPE
            ace['AceFlags'] = 0
            ace['Ace'] = body
            sd['Dacl'].aces.append(ace)
            smb.setInfo(tid, fid, inputBlob=sd.getData(), infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=DACL)
            conn.closeFile(tid, fid)
        step('acl', acl)
    else:
        def basic():
            fid = conn.openFile(tid, name, desiredAccess=0x00120089)  # FILE_READ_DATA/ATTRIBUTES, READ_CONTROL, SYNCHRONIZE
            b = smb.queryInfo(tid, fid, infoType=INFO_FILE, fileInfoClass=FILE_BASIC_INFORMATION)
            data = conn.readFile(tid, fid, 0, 100)
            conn.closeFile(tid, fid)
            created, _a, _w, _c, attrs = struct.unpack('<qqqqI', b[:36])
            return {'creationTime': created, 'attributes': attrs, 'data': data.decode('latin1')}
        step('basic', basic)

        def stream():
            fid = conn.openFile(tid, name + ':meta', desiredAccess=0x00120089)
            data = conn.readFile(tid, fid, 0, 100)
            conn.closeFile(tid, fid)
            return data.decode('latin1')
        step('stream', stream)

        def acl():
            fid = conn.openFile(tid, name, desiredAccess=0x00020000)
            sd = ldaptypes.SR_SECURITY_DESCRIPTOR(data=smb.queryInfo(tid, fid, infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=OWNER_GROUP_DACL))
            conn.closeFile(tid, fid)
            return [[a['Ace']['Sid'].formatCanonical(), a['Ace']['Mask']['Mask'], a['AceType']] for a in sd['Dacl'].aces] if sd['Dacl'] else None
        step('acl', acl)
    conn.close()
    print(json.dumps({'steps': results}))


if __name__ == '__main__':
    main()
