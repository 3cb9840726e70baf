// SMB3 encryption against smbclient: each dialect that has it, each 3.1.1 cipher pinned, 1 MiB
// and 200 MiB transfers with checksums; a share that requires encryption refuses a client that
// cannot encrypt; the server really encrypted (its log says so and plain requests are refused).
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { startLive, smbclient, type LiveServer } from '../helpers/live.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

let live: LiveServer
t.before(async () => {
  live = await startLive({ shares: { secret: ['read only = no', 'smb3 encryption = mandatory'] } })
  writeFileSync(join(live.root, 'one-mib.bin'), randomBytes(1024 * 1024))
})
t.teardown(async () => { await live.stop() })

const roundTrip = async (t: Test, name: string, opts: { protocol: string, extra?: string[], share?: string }): Promise<void> => {
  const src = join(live.root, 'one-mib.bin')
  const back = join(live.root, `${name}.back`)
  const r = await smbclient(live, `lcd ${live.root}; put one-mib.bin ${name}; get ${name} ${name}.back`, { ...opts, extra: ['--client-protection=encrypt', ...(opts.extra ?? [])] })
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.equal(sha(readFileSync(back)), sha(readFileSync(src)), 'fetched copy intact')
  t.equal(sha(readFileSync(join(opts.share === 'secret' ? join(live.root, 'secret') : live.share, name))), sha(readFileSync(src)), 'server copy intact')
}

for (const protocol of ['SMB3_00', 'SMB3_02', 'SMB3_11']) {
  t.test(`encrypted put/get on ${protocol}`, async t => { await roundTrip(t, `enc-${protocol}.bin`, { protocol }) })
}

for (const cipher of ['AES-128-CCM', 'AES-128-GCM', 'AES-256-CCM', 'AES-256-GCM']) {
  t.test(`SMB3_11 with ${cipher} only`, async t => {
    await roundTrip(t, `enc-${cipher}.bin`, { protocol: 'SMB3_11', extra: [`--option=client smb3 encryption algorithms=${cipher}`] })
  })
}

// 200 MiB each way with every cipher: the data path (decrypted over the frame, READs encrypted over
// their buffer, in place through the OpenSSL inside Node) against smbclient's own implementation.
/** The 200 MiB source file (made once, at the first test that needs it) and its checksum. */
let bigFile: Promise<string> | undefined
async function makeBig (): Promise<string> {
  const big = join(live.root, 'big200.bin')
  await new Promise<void>((resolve, reject) => {
    const ws = createWriteStream(big)
    const chunk = randomBytes(1024 * 1024)
    let i = 0
    const write = (): void => {
      while (i < 200) { chunk[0] = i; i++; if (!ws.write(Buffer.from(chunk))) { ws.once('drain', write); return } }
      ws.end(resolve)
    }
    ws.on('error', reject)
    write()
  })
  return sha(readFileSync(big))
}
for (const cipher of ['AES-128-GCM', 'AES-256-GCM', 'AES-128-CCM', 'AES-256-CCM']) {
  t.test(`200 MiB encrypted with ${cipher}`, async t => {
    const bigSha = await (bigFile ??= makeBig())
    const name = `big200-${cipher}.bin`
    const r = await smbclient(live, `lcd ${live.root}; put big200.bin ${name}; get ${name} ${name}.back`, { protocol: 'SMB3_11', extra: ['--client-protection=encrypt', `--option=client smb3 encryption algorithms=${cipher}`] })
    t.equal(r.code, 0, r.stdout + r.stderr)
    t.equal(sha(readFileSync(join(live.share, name))), bigSha, 'server copy intact')
    t.equal(sha(readFileSync(join(live.root, `${name}.back`))), bigSha, 'fetched copy intact')
    rmSync(join(live.share, name))
    rmSync(join(live.root, `${name}.back`))
  })
}

t.test('a share with smb3 encryption = mandatory', async t => {
  const ok = await smbclient(live, `lcd ${live.root}; put one-mib.bin s.bin; get s.bin s.back`, { share: 'secret', protocol: 'SMB3_11' })
  t.equal(ok.code, 0, 'a 3.1.1 client that can encrypt is served (smbclient encrypts when the share asks)' + ok.stdout + ok.stderr)
  t.equal(sha(readFileSync(join(live.root, 's.back'))), sha(readFileSync(join(live.root, 'one-mib.bin'))))
  const old = await smbclient(live, 'ls', { share: 'secret', protocol: 'SMB2_10' })
  t.not(old.code, 0, 'an SMB 2.1 client (no encryption) is refused')
  t.match(old.stdout + old.stderr, /NT_STATUS_ACCESS_DENIED/)
  t.ok(await live.logged(/requires encryption/), 'the log says why')
})
