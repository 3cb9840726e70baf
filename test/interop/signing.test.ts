// SMB signing against smbclient with `server signing = mandatory`: --client-protection=sign on
// every dialect family (HMAC-SHA256 on 2.0.2/2.1, AES-CMAC on 3.0, AES-CMAC and AES-GMAC pinned
// on 3.1.1 with `client smb3 signing algorithms`), put/get with checksums, and the server's own
// log says which algorithm each session negotiated.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startLive, smbclient, type LiveServer } from '../helpers/live.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

let live: LiveServer
t.before(async () => {
  live = await startLive({ global: ['server signing = mandatory'] })
  writeFileSync(join(live.root, 'payload.bin'), randomBytes(3 * 1024 * 1024 + 17))
})
t.teardown(async () => { await live.stop() })

const CASES: Array<{ protocol: string, extra?: string[], algorithm: string }> = [
  { protocol: 'SMB2_02', algorithm: 'HmacSha256' },
  { protocol: 'SMB2_10', algorithm: 'HmacSha256' },
  { protocol: 'SMB3_00', algorithm: 'AesCmac' },
  { protocol: 'SMB3_11', extra: ['--option=client smb3 signing algorithms=AES-128-CMAC'], algorithm: 'AesCmac' },
  { protocol: 'SMB3_11', extra: ['--option=client smb3 signing algorithms=AES-128-GMAC'], algorithm: 'AesGmac' },
  { protocol: 'SMB3_11', algorithm: 'AesGmac' }, // smbclient's default list; the server prefers GMAC
]

for (const c of CASES) {
  const label = `${c.protocol}${c.extra ? ' ' + c.extra[0].replace(/.*=/, '') : ''}`
  t.test(`signed put/get on ${label}`, async t => {
    const name = `signed-${label.replace(/\W+/g, '_')}.bin`
    const before = live.logs.length
    const r = await smbclient(live, `lcd ${live.root}; put payload.bin ${name}; get ${name} ${name}.back; ls`, {
      protocol: c.protocol, extra: ['--client-protection=sign', ...(c.extra ?? [])],
    })
    t.equal(r.code, 0, r.stdout + r.stderr)
    const want = sha(readFileSync(join(live.root, 'payload.bin')))
    t.equal(sha(readFileSync(join(live.share, name))), want, 'server copy intact')
    t.equal(sha(readFileSync(join(live.root, `${name}.back`))), want, 'fetched copy intact')
    const session = live.logs.slice(before).find(l => /session 0x[0-9a-f]+: .*tester/.test(l))
    t.ok(session, 'the server logged the session')
    t.match(session, new RegExp(`signing ${c.algorithm} \\(required\\)`), `negotiated ${c.algorithm}, signing required`)
  })
}

t.test('a wrong password is still a logon failure (no unsigned fallback)', async t => {
  const r = await smbclient(live, 'ls', { protocol: 'SMB3_11', password: 'wrong', extra: ['--client-protection=sign'] })
  t.not(r.code, 0)
  t.match(r.stdout + r.stderr, /NT_STATUS_LOGON_FAILURE/)
})
