#!/usr/bin/python3
"""impacket driver for test/interop/impacket.test.ts.

Usage: impacket_ops.py SCENARIO PORT DIALECT USER PASSWORD SHARE WORKDIR [BASE]
SCENARIO: full (everything), roundtrip (mkdir, put, get, list), badpass (login only).
BASE is the remote directory the steps work in (default "imp").
Runs each step of SCENARIO, catching errors per step, and prints one JSON object
{"steps": {name: {"ok": bool, "value"?: ..., "error"?: str, "status"?: "STATUS_..."}}}.
WORKDIR is a local directory holding the files to upload (every regular file in it).
"""
import hashlib
import io
import json
import os
import sys

from impacket import smb3structs
from impacket.smbconnection import SMBConnection

from steps import Steps

DIALECTS = {
    '2.0.2': smb3structs.SMB2_DIALECT_002,
    '2.1': smb3structs.SMB2_DIALECT_21,
    '3.0': smb3structs.SMB2_DIALECT_30,
    '3.0.2': smb3structs.SMB2_DIALECT_302,
    '3.1.1': smb3structs.SMB2_DIALECT_311,
}


def main():
    scenario, port, dialect, user, password, share, workdir = sys.argv[1:8]
    base = sys.argv[8] if len(sys.argv) > 8 else 'imp'
    port = int(port)
    steps = Steps()
    step = steps.run

    conn = step('connect', lambda: SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port,
                                                 preferredDialect=DIALECTS[dialect]))
    if conn is not None:
        # impacket 0.10 cannot create a name at the root of a share of a server offering directory
        # leases (an unbound parentDir in smb3.create); it asks for none anyway.
        if conn.getDialect() >= smb3structs.SMB2_DIALECT_30:
            conn._SMBConnection._Connection['SupportsDirectoryLeasing'] = False
        steps.results['connect']['value'] = None
        step('dialect', lambda: hex(conn.getDialect()))
        step('signingRequired', lambda: bool(conn.isSigningRequired()))
        if scenario == 'badpass':
            step('login', lambda: conn.login(user, password, domain='') and None)
        else:
            run_session(conn, scenario, user, password, share, workdir, base, step)
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass
    print(json.dumps({'steps': steps.results}))


def run_session(conn, scenario, user, password, share, workdir, base, step):
    step('login', lambda: conn.login(user, password, domain='') and None)
    if not step.__self__.ok('login'):
        return

    def signing_active():
        s = conn.getSMBServer()
        return bool(s._Session['SigningActivated'])
    step('signingActive', signing_active)

    def encrypting():
        # impacket encrypts every request of a 3.x session once the server offers encryption.
        return bool(conn.getSMBServer()._Session['SessionFlags'] & smb3structs.SMB2_SESSION_FLAG_ENCRYPT_DATA)
    step('encrypting', encrypting)
    step('ntlmv2', lambda: bool(conn.doesSupportNTLMv2()))

    if scenario == 'full':
        step('listShares', lambda: sorted(s['shi1_netname'][:-1] for s in conn.listShares()))

    names = sorted(n for n in os.listdir(workdir) if os.path.isfile(os.path.join(workdir, n)))
    step('createDirectory', lambda: conn.createDirectory(share, base) and None)
    for n in names:
        def put(n=n):
            with open(os.path.join(workdir, n), 'rb') as f:
                conn.putFile(share, base + '\\' + n, f.read)
        step('put:' + n, put)
    for n in names:
        def get(n=n):
            buf = io.BytesIO()
            conn.getFile(share, base + '\\' + n, buf.write)
            return hashlib.sha256(buf.getvalue()).hexdigest()
        step('get:' + n, get)

    def ls():
        out = {}
        for f in conn.listPath(share, base + '\\*'):
            out[f.get_longname()] = {'size': f.get_filesize(), 'dir': bool(f.is_directory())}
        return out
    step('listPath', ls)

    if scenario == 'full' and names:
        first = names[0]
        step('rename', lambda: conn.rename(share, base + '\\' + first, base + '\\renamed-' + first) and None)
        step('listAfterRename', ls)
        step('createSubdir', lambda: conn.createDirectory(share, base + '\\sub') and None)
        step('deleteNonEmptyParent', lambda: conn.deleteDirectory(share, base) and None)
        step('deleteSubdir', lambda: conn.deleteDirectory(share, base + '\\sub') and None)
        step('listNoMatch', lambda: conn.listPath(share, base + '\\zz-no-match*') and None)
        step('getMissingPath', lambda: conn.getFile(share, base + '\\no-dir\\x', lambda d: None))
        step('deleteMissing', lambda: conn.deleteFile(share, base + '\\no-such-file') and None)
        step('deleteFile', lambda: conn.deleteFile(share, base + '\\renamed-' + first) and None)
        for n in names[1:]:
            step('delete:' + n, lambda n=n: conn.deleteFile(share, base + '\\' + n) and None)
        step('listAfterDelete', ls)
        step('deleteDirectory', lambda: conn.deleteDirectory(share, base) and None)
    step('logoff', lambda: conn.logoff() and None)


if __name__ == '__main__':
    main()
