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
  const r = await rpcclient('enumdomusers')
  t.not(r.code, 0, 'samr is not served')
  // and the server is still fine afterwards
  const ok = await rpcclient('srvinfo')
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
})

const PY = '/usr/bin/python3'
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
c.login(sys.argv[2], sys.argv[3])
print(len(c.listShares()))
`, String(big.port), big.user, big.password])
  t.equal(p.stdout.trim(), '152', `impacket sees 150 + share + IPC$\n${p.stderr}`)
})
