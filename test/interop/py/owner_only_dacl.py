#!/usr/bin/python3
"""impacket driver for test/interop/acl-access.test.ts: a DACL that lets only the owner in.

Usage: owner_only_dacl.py PORT USER PASSWORD SHARE NAME
On SMB 3.0: creates NAME with a few bytes, reads its owner, sets a DACL with one ACE (the owner,
FILE_ALL_ACCESS), reads the descriptor back. Prints one JSON object {"owner", "aces"} or {"error"}.
"""
import json
import sys

from impacket import smb3structs
from impacket.ldap import ldaptypes
from impacket.smbconnection import SMBConnection

INFO_SECURITY = 3
OWNER_GROUP_DACL = 0x7
DACL = 0x4


def main():
    port, user, password, share, name = sys.argv[1:6]
    try:
        c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=int(port), preferredDialect=smb3structs.SMB2_DIALECT_30)
        c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
        c.login(user, password)
        tid = c.connectTree(share)
        fid = c.createFile(tid, name, desiredAccess=0x001f01ff, creationDisposition=smb3structs.FILE_OVERWRITE_IF)
        c.writeFile(tid, fid, b'only the owner reads this\n')
        smb = c.getSMBServer()
        sd = ldaptypes.SR_SECURITY_DESCRIPTOR(data=smb.queryInfo(tid, fid, infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=OWNER_GROUP_DACL))
        body = ldaptypes.ACCESS_ALLOWED_ACE()
        body['Mask'] = ldaptypes.ACCESS_MASK()
        body['Mask']['Mask'] = 0x001f01ff
        body['Sid'] = ldaptypes.LDAP_SID()
        body['Sid'].fromCanonical(sd['OwnerSid'].formatCanonical())
        ace = ldaptypes.ACE()
        ace['AceType'] = ldaptypes.ACCESS_ALLOWED_ACE.ACE_TYPE
        ace['AceFlags'] = 0
        ace['Ace'] = body
        sd['Dacl'].aces = [ace]
        smb.setInfo(tid, fid, inputBlob=sd.getData(), infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=DACL)
        back = ldaptypes.SR_SECURITY_DESCRIPTOR(data=smb.queryInfo(tid, fid, infoType=INFO_SECURITY, fileInfoClass=0, additionalInformation=OWNER_GROUP_DACL))
        c.closeFile(tid, fid)
        c.close()
        print(json.dumps({
            'owner': back['OwnerSid'].formatCanonical(),
            'aces': [[a['Ace']['Sid'].formatCanonical(), a['Ace']['Mask']['Mask'], a['AceType']] for a in back['Dacl'].aces],
        }))
    except Exception as e:  # noqa: BLE001 - every failure is data
        print(json.dumps({'error': '%s: %s' % (type(e).__name__, e)}))


if __name__ == '__main__':
    main()
