// Named pipes on IPC$ and the RPC services a browsing client needs, driven by real clients:
// smbclient -L (srvsvc NetShareEnumAll), rpcclient (netshareenumall, netsharegetinfo, srvinfo,
// wkssvc_wkstagetinfo) and impacket's SMBConnection.listShares() on SMB 3.0.
import t from 'tap'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startLive, run, type LiveServer } from '../helpers/live.js'

let live: LiveServer
t.before(async () => {
  live = await startLive({
    shareLines: ['comment = the test share'],
    shares: { hidden: ['browseable = no'], other: ['comment = another one', 'read only = yes'] },
  })
})
t.teardown(async () => { await live.stop() })

const creds = (): string[] => ['-U', `${live.user}%${live.password}`]

t.test('smbclient -L lists browseable shares and IPC$', async t => {
  for (const proto of ['SMB2_02', 'SMB3_11']) {
    const r = await run('smbclient', ['-L', '//127.0.0.1', '-p', String(live.port), ...creds(), '-m', proto, '--option=client min protocol=SMB2_02'])
    t.equal(r.code, 0, `${proto}: exit 0\n${r.stdout}\n${r.stderr}`)
    t.match(r.stdout, /^\s+share\s+Disk\s+the test share$/m, `${proto}: share listed with its comment`)
    t.match(r.stdout, /^\s+other\s+Disk\s+another one$/m, `${proto}: other listed`)
    t.match(r.stdout, /^\s+IPC\$\s+IPC\s+IPC Service/m, `${proto}: IPC$ listed`)
    t.notMatch(r.stdout, /hidden/, `${proto}: browseable = no share not listed`)
  }
})

const rpcclient = (cmd: string): ReturnType<typeof run> =>
  run('rpcclient', ['-p', String(live.port), ...creds(), '--option=client min protocol=SMB2_02', '-c', cmd, '127.0.0.1'])

t.test('rpcclient netshareenumall', async t => {
  const r = await rpcclient('netshareenumall')
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /netname:\s+share\s*\n\s*remark:\s+the test share/, 'share and remark')
  t.match(r.stdout, /netname:\s+IPC\$/, 'IPC$')
  t.notMatch(r.stdout, /hidden/, 'hidden share not enumerated')
  const r2 = await rpcclient('netshareenumall 2')
  t.equal(r2.code, 0, r2.stdout + r2.stderr)
  t.match(r2.stdout, /path:\s+C:[^\n]*\\share/, 'level 2 path')
  // NetrShareEnumSticky (opnum 36): the same without the special ($) shares.
  const sticky = await rpcclient('netshareenum')
  t.equal(sticky.code, 0, sticky.stdout + sticky.stderr)
  t.match(sticky.stdout, /netname:\s+share\n/)
  t.notMatch(sticky.stdout, /IPC\$/, 'no IPC$')
})

t.test('rpcclient netsharegetinfo', async t => {
  const r = await rpcclient('netsharegetinfo share')
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /netname:\s+share/)
  t.match(r.stdout, /remark:\s+the test share/)
  const h = await rpcclient('netsharegetinfo hidden 1')
  t.equal(h.code, 0, h.stdout + h.stderr)
  t.match(h.stdout, /netname:\s+hidden/, 'a hidden share is found by name')
  const n = await rpcclient('netsharegetinfo nosuch')
  t.match(n.stdout + n.stderr, /WERR_NERR_NETNAMENOTFOUND|NET_NAME_NOT_FOUND|2310/i, 'unknown share → NERR_NetNameNotFound')
})

t.test('rpcclient srvinfo and wkssvc_wkstagetinfo', async t => {
  const r = await rpcclient('srvinfo')
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /SMBTS-TEST/i, 'server name')
  t.match(r.stdout, /platform_id\s*:\s*500/)
  t.match(r.stdout, /os version\s*:\s*6\.1/)
  // rpcclient prints nothing for this one; impacket checks the fields below.
  const w = await rpcclient('wkssvc_wkstagetinfo')
  t.equal(w.code, 0, w.stdout + w.stderr)
})

t.test('rpcclient on an unserved interface fails cleanly', async t => {
  const r = await rpcclient('enumprinters')
  t.match(r.stdout + r.stderr, /Could not initialise spoolss\. Error was NT_STATUS_OBJECT_NAME_NOT_FOUND/, 'spoolss is not served')
  // and the server is still fine afterwards
  const ok = await rpcclient('srvinfo')
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
})

t.test('rpcclient lsarpc: lsaquery, lookupnames, lookupsids, dsroledominfo', async t => {
  const q = await rpcclient('lsaquery')
  t.equal(q.code, 0, q.stdout + q.stderr)
  t.match(q.stdout, /Domain Name: WORKGROUP\nDomain Sid: \(NULL SID\)/, 'primary domain: the workgroup, no SID (standalone)')
  const q5 = await rpcclient('lsaquery 5')
  const dom = /Domain Name: (\S+)\nDomain Sid: (S-1-5-21-\d+-\d+-\d+)/.exec(q5.stdout)
  t.ok(dom, `account domain with a machine SID\n${q5.stdout}`)
  t.equal(dom?.[1], 'SMBTS-TEST')
  const n = await rpcclient(`lookupnames ${live.user} root Everyone Administrators no-such-name`)
  t.equal(n.code, 0, n.stdout + n.stderr)
  const user = new RegExp(`^${live.user} (${dom?.[2] ?? 'S-1-5-21-x'}-(\\d+)) \\(User: 1\\)$`, 'm').exec(n.stdout)
  t.ok(user, `the password db's user is in the server's domain\n${n.stdout}`)
  t.match(n.stdout, /^root S-1-22-1-0 \(User: 1\)$/m, 'a Unix user is S-1-22-1-uid, as in the security descriptors')
  t.match(n.stdout, /^Everyone S-1-1-0 \(Well-known Group: 5\)$/m)
  t.match(n.stdout, /^Administrators S-1-5-32-544 \(Local Group: 4\)$/m)
  t.match(n.stdout, /^no-such-name S-0-0 \(UNKNOWN: 8\)$/m)
  const s = await rpcclient(`lookupsids ${user?.[1] ?? 'S-1-1-0'} S-1-22-1-0 S-1-22-2-0 S-1-5-32-545 S-1-5-21-1-2-3-4`)
  t.equal(s.code, 0, s.stdout + s.stderr)
  t.match(s.stdout, new RegExp(`^\\S+ SMBTS-TEST\\\\${live.user} \\(1\\)$`, 'm'), 'the user, back from its SID')
  t.match(s.stdout, /^S-1-22-1-0 Unix User\\root \(1\)$/m)
  t.match(s.stdout, /^S-1-22-2-0 Unix Group\\root \(2\)$/m)
  t.match(s.stdout, /^S-1-5-32-545 BUILTIN\\Users \(4\)$/m)
  t.match(s.stdout, /^S-1-5-21-1-2-3-4 \*unknown\*\\\*unknown\* \(8\)$/m, 'an unknown SID stays unknown')
  const who = await rpcclient('getusername')
  t.match(who.stdout, new RegExp(`Account Name: ${live.user}, Authority Name: SMBTS-TEST`), 'LsarGetUserName: the pipe\'s user')
  const ds = await rpcclient('dsroledominfo')
  t.match(ds.stdout, /Machine Role = \[2\]/, 'a standalone server')
})

t.test('rpcclient samr: enumdomains, enumdomusers, queryuser, queryusergroups, getusrdompwinfo', async t => {
  const d = await rpcclient('enumdomains')
  t.equal(d.code, 0, d.stdout + d.stderr)
  t.match(d.stdout, /name:\[SMBTS-TEST\] idx:\[0x0\]\nname:\[Builtin\] idx:\[0x1\]/)
  const u = await rpcclient('enumdomusers')
  const rid = new RegExp(`user:\\[${live.user}\\] rid:\\[(0x[0-9a-f]+)\\]`).exec(u.stdout)?.[1]
  t.ok(rid, u.stdout + u.stderr)
  const q = await rpcclient(`queryuser ${rid ?? '0'}`)
  t.equal(q.code, 0, q.stdout + q.stderr)
  t.match(q.stdout, new RegExp(`User Name\\s+:\\s+${live.user}\\n`))
  t.match(q.stdout, new RegExp(`user_rid :\\s+${rid ?? '?'}\\n\\s+group_rid:\\s+0x201`), 'RID and the primary group None (513)')
  t.match(q.stdout, /acb_info :\s+0x00000210/, 'a normal account whose password does not expire')
  const g = await rpcclient(`queryusergroups ${rid ?? '0'}`)
  t.match(g.stdout, /group rid:\[0x201\] attr:\[0x7\]/)
  const p = await rpcclient(`getusrdompwinfo ${rid ?? '0'}`)
  t.equal(p.code, 0, p.stdout + p.stderr)
  t.match(p.stdout, /min_password_length\s+: 0x0000/)
  const missing = await rpcclient('queryuser 0x7fff0001')
  t.match(missing.stdout + missing.stderr, /NT_STATUS_NO_SUCH_USER/)
  const info = await rpcclient('querydominfo')
  t.match(info.stdout, /Domain:\s+SMBTS-TEST\n/)
  t.match((await rpcclient('enumdomgroups')).stdout, /group:\[None\] rid:\[0x201\]/)
  t.match((await rpcclient('enumalsgroups builtin')).stdout, /group:\[Administrators\] rid:\[0x220\]\ngroup:\[Users\] rid:\[0x221\]/)
  const rids = await rpcclient(`samlookuprids domain ${rid ?? '0'} 0x201 0x7`)
  t.match(rids.stdout, new RegExp(`rid ${rid ?? '?'}: ${live.user} \\(1\\)\\nrid 0x201: None \\(2\\)\\nrid 0x7:  \\(8\\)`), 'LookupIds: a user, the group, an unknown RID')
  t.match((await rpcclient('getdompwinfo')).stdout, /min_password_length: 0/)
  const disp = await rpcclient('querydispinfo')
  t.match(disp.stdout, new RegExp(`RID: ${rid ?? '?'} acb: 0x00000210 Account: ${live.user}\\b`), 'QueryDisplayInformation level 1: the users')
  t.match((await rpcclient('querydispinfo2 3')).stdout, /RID: 0x201 acb: 0x00000007 Account: None/, 'level 3: the group')
  t.match((await rpcclient('querygroup 0x201')).stdout, /Group Name:\s+None\n[^]*Group Attribute:7\n\s+Num Members:\d+/, 'QueryInformationGroup')
  t.match((await rpcclient('querygroupmem 0x201')).stdout, new RegExp(`rid:\\[${rid ?? '?'}\\] attr:\\[0x7\\]`), 'GetMembersInGroup: every user is in None')
  t.match((await rpcclient('queryaliasmem builtin 0x221')).stdout, new RegExp(`sid:\\[S-1-5-21-\\d+-\\d+-\\d+-${parseInt(rid ?? '0', 16)}\\]`), 'GetMembersInAlias: every user is in BUILTIN\\Users')
  t.match((await rpcclient('querygroup 0x202')).stdout + (await rpcclient('querygroup 0x202')).stderr, /NT_STATUS_NO_SUCH_GROUP/)
})

const PY = '/usr/bin/python3'

t.test('impacket: lsat, lsad, dssetup, samr and srvsvc NetrShareCheck / NetrRemoteTOD', { skip: existsSync(PY) ? false : 'no /usr/bin/python3' }, async t => {
  const script = fileURLToPath(new URL('./rpc/impacket-accounts.py', import.meta.url))
  const r = await run(PY, [script, String(live.port), live.user, live.password, live.share])
  t.equal(r.code, 0, r.stdout + r.stderr)
  const o = JSON.parse(r.stdout) as Record<string, any>
  for (const lv of ['0', '1', '2', '501', '502']) t.same(o.enumLevels[lv], ['IPC$', 'other', 'share'], `NetrShareEnum level ${lv}`)
  for (const lv of ['0', '1', '2', '501', '502']) t.equal(o.getLevels[lv], 'share', `NetrShareGetInfo level ${lv}`)
  t.equal(o.getLevels['1005'], 0, 'NetrShareGetInfo level 1005: no caching flags')
  t.same(o.serverLevels, [500, 500, 500], 'NetrServerGetInfo 100, 101, 102')
  t.same(o.wkstaLevels, [500, 500, 500], 'NetrWkstaGetInfo 100, 101, 102')
  t.equal(o.shareCheck, 0, 'the share\'s path is shared, as a disk')
  t.equal(o.shareCheckMissing, 2311, 'NERR_DeviceNotShared')
  t.ok(Math.abs(o.tod[0] - Date.now() / 1000) < 60, 'the server\'s clock')
  t.equal(o.accountDomain[0], 'SMBTS-TEST')
  t.match(o.accountDomain[1], /^S-1-5-21-\d+-\d+-\d+$/)
  t.equal(o.primaryDomain, 'WORKGROUP')
  t.equal(o.names3[0][1].startsWith(o.accountDomain[1] + '-'), true, 'LookupNames3: the user in the account domain')
  t.same(o.names3.slice(1), [[1, 'S-1-22-1-0'], [5, 'S-1-1-0']])
  t.equal(o.names2[0][1], Number(o.names3[0][1].split('-').at(-1)), 'LookupNames2: the RID')
  t.equal(o.namesNone, 0xC0000073, 'STATUS_NONE_MAPPED')
  t.same(o.sids2, [[1, 'root', 'Unix User'], [4, 'Users', 'BUILTIN'], [1, live.user, 'SMBTS-TEST']])
  t.same(o.sids, ['Everyone'])
  t.equal(o.closeTwice, 0xC0000008, 'a closed handle: STATUS_INVALID_HANDLE')
  t.match(String(o.closedHandle), /context_mismatch|0x1c00001a/i, 'a call on a closed handle faults')
  t.same(o.dsrole, [2, 'WORKGROUP\u0000'], 'DsRoleStandaloneServer in WORKGROUP')
  t.same(o.domains, ['SMBTS-TEST', 'Builtin'])
  t.equal(o.lookupDomain, o.accountDomain[1], 'samr and lsarpc agree on the domain SID')
  t.equal(o.lookupDomainMissing, 0xC00000DF, 'STATUS_NO_SUCH_DOMAIN')
  t.equal(o.domainGeneral[0], 'SMBTS-TEST')
  t.ok(o.users.includes(live.user), 'EnumerateUsersInDomain lists the password db')
  t.same(o.userAll.slice(0, 1), [live.user])
  t.equal(o.userAll[1], o.names2[0][1], 'samr and lsarpc agree on the RID')
  t.same(o.userAll.slice(2), [513, 0x210])
  t.same(o.groups, [[513, 7]])
  t.ok(o.secLength > 20, 'a security descriptor')
  t.same(o.aliases, [545], 'in BUILTIN\\Users')
  t.equal(o.domainAliases, 0)
  t.equal(o.openMissingUser, 0xC0000064, 'STATUS_NO_SUCH_USER')
  t.same(o.aliasInfo, ['Users', o.users.length], 'BUILTIN\\Users holds every user')
  t.ok(o.aliasMembers.includes(`${o.lookupDomain}-${o.userAll[1]}`), 'the user among its members')
  t.equal(o.openMissingAlias, 0xC0000151, 'STATUS_NO_SUCH_ALIAS')
})

t.test('impacket: listShares on SMB 3.0, srvsvc and wkssvc calls, raw pipe I/O', { skip: existsSync(PY) ? false : 'no /usr/bin/python3' }, async t => {
  const script = fileURLToPath(new URL('./rpc/impacket-rpc.py', import.meta.url))
  const r = await run(PY, [script, String(live.port), live.user, live.password])
  t.equal(r.code, 0, r.stdout + r.stderr)
  const o = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}')
  t.same(o.listShares, [['share', 0, 'the test share'], ['other', 0, 'another one'], ['IPC$', 0x80000003, 'IPC Service (SMB SERVER)']], 'listShares: browseable shares, IPC$ as STYPE_IPC|STYPE_SPECIAL')
  t.equal(o.getinfo1005, 0, 'level 1005 flags')
  t.same(o.getinfo2.slice(0, 4), ['share', 0, 'the test share', 0], 'level 2 by a differently-cased name')
  t.match(o.getinfo2[5], /^C:\\.*\\share$/, 'level 2 path as a DOS path')
  t.same(o.server102, [500, 'SMBTS-TEST', 6, 1, 'SMB SERVER'], 'NetrServerGetInfo 102')
  t.same(o.enum0, ['share', 'other', 'IPC$'], 'NetrShareEnum level 0')
  t.same(o.enum1Fragmented, ['share', 'other', 'IPC$'], 'a request cut into 16-byte fragments is reassembled')
  t.equal(o.getinfoMissing, 2310, 'NERR_NetNameNotFound')
  t.equal(o.badLevel, 124, 'ERROR_INVALID_LEVEL')
  t.match(o.badOpnum, /nca_s_op_rng_error/, 'unknown opnum → fault nca_s_op_rng_error')
  t.same(o.wksta100, [500, 'SMBTS-TEST', 'WORKGROUP', 6, 1], 'NetrWkstaGetInfo 100')
  t.equal(o.wksta102, 'SMBTS-TEST', 'NetrWkstaGetInfo 102')
  t.match(o.wrongInterface, /provider_rejection; abstract_syntax_not_supported/, 'samr on srvsvc: provider rejection')
  t.equal(o.samrPipe, 0xC0000034, 'an unserved pipe → STATUS_OBJECT_NAME_NOT_FOUND')
  t.same(o.transceiveSmall, [0x80000005, 20], 'TRANSCEIVE larger than MaxOutputResponse → STATUS_BUFFER_OVERFLOW with what fits')
  t.same(o.readSmall, [0x80000005, 8], 'a short READ of the rest → STATUS_BUFFER_OVERFLOW again')
  t.equal(o.bindAckLength[0], o.bindAckLength[1], 'the pieces add up to frag_length')
  t.equal(o.readEmpty, 0xC00000D9, 'READ with nothing pending → STATUS_PIPE_EMPTY')
  t.equal(o.standardInfo, '001000000000000000000000000000000100000001000000', 'FileStandardInformation of a pipe')
})

t.test('a share list larger than one fragment (responses fragmented, read back with READ)', async t => {
  const shares: Record<string, string[]> = {}
  for (let i = 0; i < 150; i++) shares[`s${String(i).padStart(3, '0')}`] = [`comment = share number ${i} with a longer comment to fill fragments`]
  const big = await startLive({ shares })
  t.teardown(() => big.stop())
  const r = await run('smbclient', ['-L', '//127.0.0.1', '-p', String(big.port), '-U', `${big.user}%${big.password}`, '-m', 'SMB3_00', '--option=client min protocol=SMB2_02'])
  t.equal(r.code, 0, r.stderr)
  const listed = r.stdout.split('\n').filter(l => /^\s+s\d{3}\s+Disk\s+share number \d+ /.test(l))
  t.equal(listed.length, 150, 'all 150 shares listed')
  const p = await run(PY, ['-c', `
import sys
from impacket.smbconnection import SMBConnection
c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=int(sys.argv[1]))
c._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10: see test/interop/py/impacket_ops.py
c.login(sys.argv[2], sys.argv[3])
print(len(c.listShares()))
`, String(big.port), big.user, big.password])
  t.equal(p.stdout.trim(), '152', `impacket sees 150 + share + IPC$\n${p.stderr}`)
})
