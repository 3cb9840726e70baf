# A malformed PDU ends its own pipe only: garbage framing on one srvsvc pipe (a fragment length
# shorter than the header), then a write on that pipe and a call on a second pipe of the same
# session. Prints one JSON line.
import json
import sys

from impacket.smbconnection import SMBConnection, SessionError
from impacket.smb3structs import SMB2_DIALECT_30
from impacket.dcerpc.v5 import transport, srvs

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port, preferredDialect=SMB2_DIALECT_30)
c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
c.login(user, password)
tid = c.connectTree('IPC$')
fid = c.openFile(tid, 'srvsvc')
# rpc_vers 5, BIND, flags 3, NDR data rep, frag_length 4 (< 16): framing is lost.
c.writeFile(tid, fid, bytes.fromhex('05000b0310000000' + '0400' + '0000' + '01000000'))
try:
    c.writeFile(tid, fid, b'\x05\x00\x0b\x03' + b'\x00' * 12)
    out['after'] = 'ok?'
except SessionError as e:
    out['after'] = e.getErrorCode()
t = transport.SMBTransport('127.0.0.1', port, r'\srvsvc', smb_connection=c)
d = t.get_dce_rpc()
d.connect()
d.bind(srvs.MSRPC_UUID_SRVS)
out['other'] = srvs.hNetrServerGetInfo(d, 101)['InfoStruct']['ServerInfo101']['sv101_platform_id']
print(json.dumps(out))
