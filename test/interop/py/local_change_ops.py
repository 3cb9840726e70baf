#!/usr/bin/python3
"""impacket driver: a client caching a file sees its oplock broken by a program on the server.

Usage: local_change_ops.py PORT USER PASSWORD SHARE
Opens "cached.txt" (which the test made) with a level II oplock, prints {"held": true} and
waits (20 s at most) for the next message the server sends unasked, which the test expects to be
the OPLOCK_BREAK caused by a program on the server appending to the file meanwhile. Then reads the
file through its handle. Prints one JSON object at the end:
{"steps": {...}, "break": {"command", "level", "fid_matches"}, "content"}.
"""
import json
import sys

from impacket import smb3structs as s
from impacket.smbconnection import SMBConnection

from steps import Steps

UNSOLICITED = 0xFFFFFFFFFFFFFFFF


def main():
    port, user, password, share = sys.argv[1:5]
    steps = Steps(keep_values=False)
    step = steps.run
    out = {'steps': steps.results}

    c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=int(port), preferredDialect=s.SMB2_DIALECT_30)  # impacket 0.10 cannot sign 3.1.1 (impacket.test.ts)
    c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases
    c.login(user, password)
    tid = c.connectTree(share)
    smb = c.getSMBServer()
    rw = s.FILE_READ_DATA | s.FILE_WRITE_DATA
    everyone = s.FILE_SHARE_READ | s.FILE_SHARE_WRITE | s.FILE_SHARE_DELETE
    # No WRITE through it: a WRITE breaks every level II oplock, the writer's own included.
    fid = step('open cached.txt with a level II oplock', lambda: smb.create(
        tid, 'cached.txt', rw, everyone, 0, s.FILE_OPEN, 0, oplockLevel=s.SMB2_OPLOCK_LEVEL_II))
    if fid is not None:
        print(json.dumps({'held': True}), flush=True)
        smb._timeout = 20

        def wait_break():
            p = smb.recvSMB(UNSOLICITED)
            # impacket 0.10 counts an unasked message's CreditCharge (0) as a response's: its next
            # MessageId would repeat the last one (the server disconnects for it). Undone here.
            smb._Connection['SequenceWindow'] += 1 - p['CreditCharge']
            body = p['Data']
            out['break'] = {'command': p['Command'], 'level': body[2] if len(body) > 2 else None,
                            'fid_matches': bytes(body[8:24]) == bytes(fid)}
        step('an unasked message arrives', wait_break)
        out['content'] = (step('read through the handle', lambda: smb.read(tid, fid, 0, 200)) or b'').decode('utf8', 'replace')
        step('close', lambda: smb.close(tid, fid))
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
