# Drives smbts's lsarpc (lsat/lsad, dssetup), samr and the newer srvsvc calls with impacket and
# prints one JSON object of observations for test/interop/rpc.test.ts to check.
# Arguments: port user password shared-path
import json
import sys

from impacket.smbconnection import SMBConnection
from impacket.smb3structs import SMB2_DIALECT_30
from impacket.dcerpc.v5 import transport, srvs, lsat, lsad, samr, dssp, wkst
from impacket.dcerpc.v5.rpcrt import DCERPCException

port, user, password, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port, preferredDialect=SMB2_DIALECT_30)
c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
c.login(user, password)


def dce(pipe, iface):
    t = transport.SMBTransport('127.0.0.1', port, pipe, smb_connection=c)
    d = t.get_dce_rpc()
    d.connect()
    d.bind(iface)
    return d


def err(f):
    try:
        f()
        return 'ok?'
    except DCERPCException as e:
        return e.get_error_code() if e.get_error_code() is not None else str(e)


d = dce(r'\srvsvc', srvs.MSRPC_UUID_SRVS)
out['shareCheck'] = srvs.hNetrShareCheck(d, path)['Type']
out['shareCheckMissing'] = err(lambda: srvs.hNetrShareCheck(d, '/nonexistent'))
tod = srvs.hNetrRemoteTOD(d)['BufferPtr']
out['tod'] = [tod['tod_elapsedt'], tod['tod_year'], tod['tod_month'], tod['tod_day']]

# Every level of the list, through impacket's decoders.
out['enumLevels'] = {}
for lv in (0, 1, 2, 501, 502):
    r = srvs.hNetrShareEnum(d, lv)
    arm = r['InfoStruct']['ShareInfo']['Level%d' % lv]['Buffer']
    out['enumLevels'][lv] = sorted(x['shi%d_netname' % (lv if lv < 500 else lv)][:-1] for x in arm)
out['getLevels'] = {}
for lv in (0, 1, 2, 501, 502, 1005):
    r = srvs.hNetrShareGetInfo(d, 'share\x00', lv)
    out['getLevels'][lv] = r['InfoStruct']['ShareInfo%d' % lv]['shi%d_netname' % lv][:-1] if lv != 1005 else r['InfoStruct']['ShareInfo1005']['shi1005_flags']
out['serverLevels'] = [srvs.hNetrServerGetInfo(d, lv)['InfoStruct']['ServerInfo%d' % lv]['sv%d_platform_id' % lv] for lv in (100, 101, 102)]
w = dce(r'\wkssvc', wkst.MSRPC_UUID_WKST)
out['wkstaLevels'] = [wkst.hNetrWkstaGetInfo(w, lv)['WkstaInfo']['WkstaInfo%d' % lv]['wki%d_platform_id' % lv] for lv in (100, 101, 102)]

l = dce(r'\lsarpc', lsat.MSRPC_UUID_LSAT)
h = lsad.hLsarOpenPolicy2(l, lsad.POLICY_LOOKUP_NAMES)['PolicyHandle']
r = lsad.hLsarQueryInformationPolicy2(l, h, lsad.POLICY_INFORMATION_CLASS.PolicyAccountDomainInformation)
out['accountDomain'] = [r['PolicyInformation']['PolicyAccountDomainInfo']['DomainName'], r['PolicyInformation']['PolicyAccountDomainInfo']['DomainSid'].formatCanonical()]
r = lsad.hLsarQueryInformationPolicy(l, h, lsad.POLICY_INFORMATION_CLASS.PolicyPrimaryDomainInformation)
out['primaryDomain'] = r['PolicyInformation']['PolicyPrimaryDomainInfo']['Name']
r = lsat.hLsarLookupNames3(l, h, [user, 'root', 'Everyone'])
out['names3'] = [[x['Use'], x['Sid'].formatCanonical()] for x in r['TranslatedSids']['Sids']]
r = lsat.hLsarLookupNames2(l, h, [user])
out['names2'] = [[x['Use'], x['RelativeId'], x['DomainIndex']] for x in r['TranslatedSids']['Sids']]
out['namesNone'] = err(lambda: lsat.hLsarLookupNames(l, h, ['no-such-name']))
r = lsat.hLsarLookupSids2(l, h, ['S-1-22-1-0', 'S-1-5-32-545', out['names3'][0][1]])
out['sids2'] = [[x['Use'], x['Name'], r['ReferencedDomains']['Domains'][x['DomainIndex']]['Name']] for x in r['TranslatedNames']['Names']]
r = lsat.hLsarLookupSids(l, h, ['S-1-1-0'])
out['sids'] = [x['Name'] for x in r['TranslatedNames']['Names']]
lsad.hLsarClose(l, h)
out['closeTwice'] = err(lambda: lsad.hLsarClose(l, h))
out['closedHandle'] = err(lambda: lsat.hLsarLookupSids(l, h, ['S-1-1-0']))

ds = dce(r'\lsarpc', dssp.MSRPC_UUID_DSSP)
r = dssp.hDsRolerGetPrimaryDomainInformation(ds, 1)
out['dsrole'] = [r['DomainInfo']['DomainInfoBasic']['MachineRole'], r['DomainInfo']['DomainInfoBasic']['DomainNameFlat']]

s = dce(r'\samr', samr.MSRPC_UUID_SAMR)
sh = samr.hSamrConnect5(s)['ServerHandle']
samr.hSamrConnect2(s)
out['domains'] = [x['Name'] for x in samr.hSamrEnumerateDomainsInSamServer(s, sh)['Buffer']['Buffer']]
sid = samr.hSamrLookupDomainInSamServer(s, sh, out['accountDomain'][0])['DomainId']
out['lookupDomain'] = sid.formatCanonical()
out['lookupDomainMissing'] = err(lambda: samr.hSamrLookupDomainInSamServer(s, sh, 'NOSUCH'))
dh = samr.hSamrOpenDomain(s, sh, domainId=sid)['DomainHandle']
g = samr.hSamrQueryInformationDomain(s, dh, samr.DOMAIN_INFORMATION_CLASS.DomainGeneralInformation)['Buffer']['General']
out['domainGeneral'] = [g['DomainName'], g['UserCount']]
out['users'] = [x['Name'] for x in samr.hSamrEnumerateUsersInDomain(s, dh)['Buffer']['Buffer']]
rid = samr.hSamrLookupNamesInDomain(s, dh, [user])['RelativeIds']['Element'][0]['Data']
uh = samr.hSamrOpenUser(s, dh, userId=rid)['UserHandle']
a = samr.hSamrQueryInformationUser2(s, uh, samr.USER_INFORMATION_CLASS.UserAllInformation)['Buffer']['All']
out['userAll'] = [a['UserName'], a['UserId'], a['PrimaryGroupId'], a['UserAccountControl']]
out['groups'] = [[x['RelativeId'], x['Attributes']] for x in samr.hSamrGetGroupsForUser(s, uh)['Groups']['Groups']]
out['secLength'] = samr.hSamrQuerySecurityObject(s, uh, 7)['SecurityDescriptor']['Length']
bsid = samr.hSamrLookupDomainInSamServer(s, sh, 'Builtin')['DomainId']
bh = samr.hSamrOpenDomain(s, sh, domainId=bsid)['DomainHandle']
usid = samr.RPC_SID()
usid.fromCanonical(out['lookupDomain'] + '-' + str(rid))
sa = samr.SAMPR_PSID_ARRAY()
si = samr.PSAMPR_SID_INFORMATION()
si['SidPointer'] = usid
sa['Sids'].append(si)
sa['Count'] = 1
out['aliases'] = [x['Data'] for x in samr.hSamrGetAliasMembership(s, bh, sa)['Membership']['Element']]
out['domainAliases'] = samr.hSamrGetAliasMembership(s, dh, sa)['Membership']['Count']
ah = samr.hSamrOpenAlias(s, bh, aliasId=545)['AliasHandle']
g = samr.hSamrQueryInformationAlias(s, ah, 1)['Buffer']['General']
out['aliasInfo'] = [g['Name'], g['MemberCount']]
out['aliasMembers'] = [x['SidPointer'].formatCanonical() for x in samr.hSamrGetMembersInAlias(s, ah)['Members']['Sids']]
out['openMissingAlias'] = err(lambda: samr.hSamrOpenAlias(s, bh, aliasId=999))
out['openMissingUser'] = err(lambda: samr.hSamrOpenUser(s, dh, userId=12345))
samr.hSamrCloseHandle(s, uh)
print(json.dumps(out))
