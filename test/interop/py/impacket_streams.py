#!/usr/bin/python3
"""impacket driver for test/interop/streams.test.ts: alternate data streams.

Usage: impacket_streams.py PORT DIALECT USER PASSWORD SHARE NAME DATA_HEX
Creates NAME (a file), writes DATA into its stream NAME:meta, reads it back through a new open,
lists the file's streams (QUERY_INFO FileStreamInformation, class 22), renames the stream to
:renamed, and deletes it (delete on close). Prints one JSON object
{"steps": {name: {"ok": bool, "value"?: ..., "error"?: str, "status"?: "STATUS_..."}}}.
"""
import json
import struct
import sys

from impacket import smb3structs, nt_errors
from impacket.smb3structs import (FILE_READ_DATA, FILE_WRITE_DATA, FILE_READ_ATTRIBUTES, DELETE, FILE_SHARE_READ,
                                  FILE_SHARE_WRITE, FILE_SHARE_DELETE, FILE_OPEN, FILE_OPEN_IF, FILE_OVERWRITE_IF,
                                  FILE_NON_DIRECTORY_FILE, FILE_DELETE_ON_CLOSE, SMB2_0_INFO_FILE)
from impacket.smbconnection import SMBConnection, SessionError

DIALECTS = {'2.0.2': smb3structs.SMB2_DIALECT_002, '2.1': smb3structs.SMB2_DIALECT_21, '3.0': smb3structs.SMB2_DIALECT_30}
FILE_STREAM_INFORMATION = 22
FILE_RENAME_INFORMATION = 10


def status_name(code):
    name = nt_errors.ERROR_MESSAGES.get(code)
    return name[0] if name else hex(code)


def streams_of(buf):
    out = []
    off = 0
    while True:
        nxt, nlen, size, _alloc = struct.unpack_from('<IIqq', buf, off)
        out.append([buf[off + 24:off + 24 + nlen].decode('utf-16le'), size])
        if nxt == 0:
            return out
        off += nxt


def main():
    port, dialect, user, password, share, name, data_hex = sys.argv[1:8]
    data = bytes.fromhex(data_hex)
    steps = {}
    conn = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=int(port), preferredDialect=DIALECTS[dialect])
    conn._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
    conn.login(user, password)
    smb = conn.getSMBServer()
    tid = conn.connectTree(share)
    share_all = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE

    def step(label, fn):
        try:
            steps[label] = {'ok': True, 'value': fn()}
        except SessionError as e:
            steps[label] = {'ok': False, 'status': status_name(e.getErrorCode()), 'error': str(e)}
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            steps[label] = {'ok': False, 'error': repr(e)}

    def create_file():
        fid = conn.createFile(tid, name, desiredAccess=FILE_WRITE_DATA, creationDisposition=FILE_OVERWRITE_IF)
        conn.writeFile(tid, fid, b'main')
        conn.closeFile(tid, fid)
    step('create', create_file)

    def write_stream():
        fid = conn.createFile(tid, name + ':meta', desiredAccess=FILE_WRITE_DATA | FILE_READ_DATA,
                              shareMode=share_all, creationDisposition=FILE_OPEN_IF, creationOption=FILE_NON_DIRECTORY_FILE)
        n = conn.writeFile(tid, fid, data)
        conn.closeFile(tid, fid)
        return n
    step('write', write_stream)

    def read_stream():
        fid = conn.openFile(tid, name + ':meta:$DATA', desiredAccess=FILE_READ_DATA, shareMode=share_all)
        got = conn.readFile(tid, fid, 0, len(data) + 10)
        conn.closeFile(tid, fid)
        return got.hex()
    step('read', read_stream)

    def list_streams():
        fid = conn.openFile(tid, name, desiredAccess=FILE_READ_ATTRIBUTES, shareMode=share_all)
        buf = smb.queryInfo(tid, fid, infoType=SMB2_0_INFO_FILE, fileInfoClass=FILE_STREAM_INFORMATION)
        conn.closeFile(tid, fid)
        return streams_of(buf)
    step('list', list_streams)

    def rename_stream():
        fid = conn.openFile(tid, name + ':meta', desiredAccess=DELETE | FILE_READ_DATA, shareMode=share_all)
        new = ':renamed:$DATA'.encode('utf-16le')
        info = struct.pack('<B7sQI', 0, b'\0' * 7, 0, len(new)) + new
        smb.setInfo(tid, fid, inputBlob=info, infoType=SMB2_0_INFO_FILE, fileInfoClass=FILE_RENAME_INFORMATION)
        conn.closeFile(tid, fid)
        fid = conn.openFile(tid, name, desiredAccess=FILE_READ_ATTRIBUTES, shareMode=share_all)
        buf = smb.queryInfo(tid, fid, infoType=SMB2_0_INFO_FILE, fileInfoClass=FILE_STREAM_INFORMATION)
        conn.closeFile(tid, fid)
        return streams_of(buf)
    step('rename', rename_stream)

    def delete_stream():
        fid = conn.createFile(tid, name + ':renamed', desiredAccess=DELETE | FILE_READ_DATA, shareMode=share_all,
                              creationDisposition=FILE_OPEN, creationOption=FILE_DELETE_ON_CLOSE)
        conn.closeFile(tid, fid)
        fid = conn.openFile(tid, name, desiredAccess=FILE_READ_ATTRIBUTES, shareMode=share_all)
        buf = smb.queryInfo(tid, fid, infoType=SMB2_0_INFO_FILE, fileInfoClass=FILE_STREAM_INFORMATION)
        conn.closeFile(tid, fid)
        return streams_of(buf)
    step('delete', delete_stream)

    step('open-deleted', lambda: conn.openFile(tid, name + ':renamed', desiredAccess=FILE_READ_DATA, shareMode=share_all))
    step('bad-type', lambda: conn.openFile(tid, name + ':meta:$FOO', desiredAccess=FILE_READ_DATA, shareMode=share_all))
    conn.logoff()
    print(json.dumps({'steps': steps}))


main()
