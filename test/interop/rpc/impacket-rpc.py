# Drives smbts's IPC$ pipes with impacket (a second, independent DCE/RPC client) and prints one
# JSON object of observations for test/interop/rpc.test.ts to check.
import json
import sys

from impacket.smbconnection import SMBConnection, SessionError
from impacket import smb3 as smb3mod
from impacket.smb3structs import SMB2_DIALECT_30, SMB2_DIALECT_21, FSCTL_PIPE_TRANSCEIVE, SMB2_0_IOCTL_IS_FSCTL, SMB2Ioctl_Response, SMB2Read_Response
from impacket.dcerpc.v5 import transport, srvs, wkst, samr
from impacket.dcerpc.v5.rpcrt import DCERPCException, MSRPCBind, MSRPCHeader, CtxItem, MSRPC_BIND
from impacket.uuid import uuidtup_to_bin

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}


def s(v):
    return v[:-1] if isinstance(v, str) and v.endswith('\x00') else v


def dce_for(pipe, iface, dialect=SMB2_DIALECT_30):
    conn = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port, preferredDialect=dialect)
    conn._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
    conn.login(user, password)
    t = transport.SMBTransport('127.0.0.1', port, r'\%s' % pipe, smb_connection=conn)
    d = t.get_dce_rpc()
    d.connect()
    d.bind(iface)
    return d


c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port, preferredDialect=SMB2_DIALECT_30)
c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
c.login(user, password)
out['listShares'] = [[s(x['shi1_netname']), x['shi1_type'], s(x['shi1_remark'])] for x in c.listShares()]

d = dce_for('srvsvc', srvs.MSRPC_UUID_SRVS, SMB2_DIALECT_21)
r = srvs.hNetrShareGetInfo(d, 'share\x00', 1005)
out['getinfo1005'] = r['InfoStruct']['ShareInfo1005']['shi1005_flags']
r = srvs.hNetrShareGetInfo(d, 'SHARE\x00', 2)
i2 = r['InfoStruct']['ShareInfo2']
out['getinfo2'] = [s(i2['shi2_netname']), i2['shi2_type'], s(i2['shi2_remark']), i2['shi2_permissions'], i2['shi2_max_uses'], s(i2['shi2_path'])]
r = srvs.hNetrServerGetInfo(d, 102)
i = r['InfoStruct']['ServerInfo102']
out['server102'] = [i['sv102_platform_id'], s(i['sv102_name']), i['sv102_version_major'], i['sv102_version_minor'], s(i['sv102_comment'])]
r = srvs.hNetrShareEnum(d, 0)
out['enum0'] = [s(x['shi0_netname']) for x in r['InfoStruct']['ShareInfo']['Level0']['Buffer']]
# Requests cut into small fragments: the endpoint must reassemble them.
d.set_max_fragment_size(16)
r = srvs.hNetrShareEnum(d, 1)
out['enum1Fragmented'] = [s(x['shi1_netname']) for x in r['InfoStruct']['ShareInfo']['Level1']['Buffer']]
d.set_max_fragment_size(4280)
try:
    srvs.hNetrShareGetInfo(d, 'nosuch\x00', 1)
    out['getinfoMissing'] = 'ok?'
except DCERPCException as e:
    out['getinfoMissing'] = e.get_error_code()
try:
    d.call(99, b'')
    d.recv()
    out['badOpnum'] = 'ok?'
except DCERPCException as e:
    out['badOpnum'] = str(e)
try:
    srvs.hNetrShareGetInfo(d, 'share\x00', 7)
    out['badLevel'] = 'ok?'
except DCERPCException as e:
    out['badLevel'] = e.get_error_code()
d.disconnect()

d = dce_for('wkssvc', wkst.MSRPC_UUID_WKST)
r = wkst.hNetrWkstaGetInfo(d, 100)
w = r['WkstaInfo']['WkstaInfo100']
out['wksta100'] = [w['wki100_platform_id'], s(w['wki100_computername']), s(w['wki100_langroup']), w['wki100_ver_major'], w['wki100_ver_minor']]
r = wkst.hNetrWkstaGetInfo(d, 102)
out['wksta102'] = s(r['WkstaInfo']['WkstaInfo102']['wki102_computername'])
d.disconnect()

# An interface the pipe does not serve: the bind is refused per context.
try:
    dce_for('srvsvc', samr.MSRPC_UUID_SAMR)
    out['wrongInterface'] = 'bound?'
except DCERPCException as e:
    out['wrongInterface'] = str(e)

# A pipe nobody serves.
tid = c.connectTree('IPC$')
try:
    c.openFile(tid, 'spoolss')
    out['samrPipe'] = 'opened?'
except SessionError as e:
    out['samrPipe'] = e.getErrorCode()

# Raw SMB: TRANSCEIVE with a small MaxOutputResponse, the rest by READ; READ of an empty pipe.
fid = c.openFile(tid, 'srvsvc')
bind = MSRPCBind()
item = CtxItem()
item['AbstractSyntax'] = srvs.MSRPC_UUID_SRVS
item['TransferSyntax'] = uuidtup_to_bin(('8a885d04-1ceb-11c9-9fe8-08002b104860', '2.0'))
item['ContextID'] = 0
item['TransItems'] = 1
bind.addCtxItem(item)
pkt = MSRPCHeader()
pkt['type'] = MSRPC_BIND
pkt['pduData'] = bind.getData()
pkt['call_id'] = 1
smb3 = c.getSMBServer()
try:
    smb3.ioctl(tid, fid, FSCTL_PIPE_TRANSCEIVE, SMB2_0_IOCTL_IS_FSCTL, pkt.getData(), maxOutputResponse=20)
    out['transceiveSmall'] = 'success?'
except smb3mod.SessionError as e:
    first = SMB2Ioctl_Response(e.get_error_packet()['Data'])['Buffer']
    out['transceiveSmall'] = [e.get_error_code(), len(first)]
    rest = b''
    try:
        rest = smb3.read(tid, fid, 0, 8)
        out['readSmall'] = 'success?'
    except smb3mod.SessionError as e2:
        out['readSmall'] = [e2.get_error_code(), len(SMB2Read_Response(e2.get_error_packet()['Data'])['Buffer'])]
        rest = smb3.read(tid, fid, 0, 4280)
    out['bindAckLength'] = [len(first) + 8 + len(rest), int.from_bytes(first[8:10], 'little')]
try:
    smb3.read(tid, fid, 0, 4280)
    out['readEmpty'] = 'success?'
except smb3mod.SessionError as e:
    out['readEmpty'] = e.get_error_code()
info = smb3.queryInfo(tid, fid, fileInfoClass=5)  # FileStandardInformation
out['standardInfo'] = info.hex()
c.closeFile(tid, fid)
c.logoff()
print(json.dumps(out))
