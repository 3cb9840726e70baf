# Holds a bound srvsvc pipe open across the death of smbts's RPC process: one call before
# ("ready" on stdout), then waits for a line on stdin (the test kills the RPC process meanwhile),
# then calls again on the same pipe and on a new one, and prints one JSON line of what it saw.
import json
import sys

from impacket.smbconnection import SMBConnection
from impacket.smb3structs import SMB2_DIALECT_30
from impacket.dcerpc.v5 import transport, srvs

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}


def dce(conn):
    t = transport.SMBTransport('127.0.0.1', port, r'\srvsvc', smb_connection=conn)
    d = t.get_dce_rpc()
    d.connect()
    d.bind(srvs.MSRPC_UUID_SRVS)
    return d


c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port, preferredDialect=SMB2_DIALECT_30)
c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
c.login(user, password)
d = dce(c)
out['before'] = srvs.hNetrServerGetInfo(d, 101)['InfoStruct']['ServerInfo101']['sv101_platform_id']
print('ready', flush=True)
sys.stdin.readline()
try:
    srvs.hNetrServerGetInfo(d, 101)
    out['after'] = 'ok?'
except Exception as e:  # the SMB error of the broken pipe
    out['after'] = str(e)
# The same session opens a new pipe: served by the restarted RPC process.
d2 = dce(c)
out['reopened'] = srvs.hNetrServerGetInfo(d2, 101)['InfoStruct']['ServerInfo101']['sv101_platform_id']
print(json.dumps(out), flush=True)
