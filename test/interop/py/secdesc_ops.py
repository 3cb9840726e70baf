#!/usr/bin/python3
"""impacket driver for test/interop/security.test.ts: security descriptors through a real client.

Usage: secdesc_ops.py PORT USER PASSWORD SHARE NAME
On SMB 3.0 (where impacket 0.10 is reliable): creates NAME, queries its security descriptor
(owner, group, DACL), adds an ACCESS_ALLOWED ACE for S-1-5-7 with impacket's own SD encoder,
sets the DACL, queries again; sets a malformed descriptor; then on a second connection queries
once more. Prints one JSON object {"steps": {name: {"ok", "value"?, "status"?, "error"?}}}.
"""
import json
import sys

from impacket import smb3structs
from impacket.ldap import ldaptypes
from impacket.smbconnection import SMBConnection

from steps import Steps

INFO_SECURITY = 3
OWNER_GROUP_DACL = 0x7
DACL = 0x4


def aces(raw):
    sd = ldaptypes.SR_SECURITY_DESCRIPTOR(data=raw)
    return {
        'owner': sd['OwnerSid'].formatCanonical() if sd['OwnerSid'] else None,
        'aces': [[a['Ace']['Sid'].formatCanonical(), a['Ace']['Mask']['Mask'], a['AceType']] for a in sd['Dacl'].aces] if sd['Dacl'] else None,
    }


def main():
    port, user, password, share, name = sys.argv[1:6]
    port = int(port)
    steps = Steps()
    results = steps.results
    step = steps.run

    def connect():
        c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port, preferredDialect=smb3structs.SMB2_DIALECT_30)
        c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
        c.login(user, password)
        return c

    conn = step('connect', connect)
    if conn is None:
        print(json.dumps({'steps': results}))
        return
    results['connect']['value'] = None
    smb = conn.getSMBServer()
    tid = conn.connectTree(share)
    fid = conn.createFile(tid, name, desiredAccess=0x001f01ff, creationDisposition=smb3structs.FILE_OVERWRITE_IF)
    raw = step('query1', lambda: smb.queryInfo(tid, fid, infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=OWNER_GROUP_DACL))
    if raw is not None:
        results['query1']['value'] = aces(raw)
        sd = ldaptypes.SR_SECURITY_DESCRIPTOR(data=raw)
        body = ldaptypes.ACCESS_ALLOWED_ACE()
        body['Mask'] = ldaptypes.ACCESS_MASK()
        body['Mask']['Mask'] = 0x001f01ff
        body['Sid'] = ldaptypes.LDAP_SID()
        body['Sid'].fromCanonical('S-1-5-7')
        ace = ldaptypes.ACE()
        ace['AceType'] = ldaptypes.ACCESS_ALLOWED_ACE.ACE_TYPE
        ace['AceFlags'] = 0
        ace['Ace'] = body
        sd['Dacl'].aces.append(ace)
        step('set', lambda: smb.setInfo(tid, fid, inputBlob=sd.getData(), infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=DACL) and None)
        step('query2', lambda: aces(smb.queryInfo(tid, fid, infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=OWNER_GROUP_DACL)))
        bad = bytearray(sd.getData())
        bad[0] = 2  # Revision 2: not a SECURITY_DESCRIPTOR
        step('setMalformed', lambda: smb.setInfo(tid, fid, inputBlob=bytes(bad), infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=DACL) and None)
    conn.closeFile(tid, fid)
    conn.close()

    def again():
        c = connect()
        t = c.connectTree(share)
        f = c.openFile(t, name, desiredAccess=0x00020000)  # READ_CONTROL only
        v = aces(c.getSMBServer().queryInfo(t, f, infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=OWNER_GROUP_DACL))
        c.closeFile(t, f)
        c.close()
        return v
    step('query3', again)
    print(json.dumps({'steps': results}))


if __name__ == '__main__':
    main()
