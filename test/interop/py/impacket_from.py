#!/usr/bin/python3
"""impacket from a chosen source address, for test/system/workers.test.ts.

Usage: impacket_from.py SOURCE PORT USER PASSWORD SHARE
Connects from SOURCE (a local address, e.g. 127.0.0.3: impacket has no option for it, so the
TCP socket it makes binds there before it connects), logs in on SMB 3.0, lists the share's root
and prints one JSON object {"ok": true, "files": [...]} or {"ok": false, "error": "..."}.
"""
import json
import socket
import sys

SOURCE, PORT, USER, PASSWORD, SHARE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

_socket = socket.socket


class SourceBound(_socket):
    def connect(self, address):
        if self.family == socket.AF_INET and self.type == socket.SOCK_STREAM:
            self.bind((SOURCE, 0))
        return super().connect(address)


socket.socket = SourceBound

from impacket import smb3structs  # noqa: E402 (after the patch, which it must see)
from impacket.smbconnection import SMBConnection  # noqa: E402

try:
    c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=PORT, preferredDialect=smb3structs.SMB2_DIALECT_30)
    c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
    c.login(USER, PASSWORD)
    files = sorted(f.get_longname() for f in c.listPath(SHARE, '*'))
    c.logoff()
    print(json.dumps({'ok': True, 'files': files}))
except Exception as e:  # noqa: BLE001 (the test wants the reason, whatever it is)
    print(json.dumps({'ok': False, 'error': f'{type(e).__name__}: {e}'}))
