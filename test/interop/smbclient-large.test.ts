// Big transfers with smbclient: a 200 MiB file put and fetched on every dialect, from SMB3_11 (8 MiB I/O)
// to SMB2_02 (which caps READ/WRITE at 64 KiB, so ~3200 requests each way, with credits in play),
// plain and signed, with sha256 checks of the server's copy and of the fetched copy. Files live on tmpfs when
// /dev/shm has room, so the run measures the server and not the disk.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, rmSync, statfsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { startLive, smbclient, type LiveServer } from '../helpers/live.js'

const SIZE = 200 * 1024 * 1024
// [dialect, signed]: signing covers the whole 8 MiB (AES-CMAC/GMAC) or 64 KiB (HMAC-SHA256) messages.
// Every dialect plain, the two extremes signed too.
const RUNS: Array<[string, boolean]> = [
  ['SMB3_11', false], ['SMB3_02', false], ['SMB3_00', false], ['SMB2_10', false], ['SMB2_02', false],
  ['SMB3_11', true], ['SMB2_02', true],
]

async function fileSha (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) h.update(chunk as Buffer)
  return h.digest('hex')
}

/** Writes `size` random bytes (plus 3, so the tail is not a whole block) and returns their sha256. */
async function writeRandom (path: string, size: number): Promise<string> {
  const h = createHash('sha256')
  const ws = createWriteStream(path)
  const CHUNK = 8 * 1024 * 1024
  for (let left = size; left > 0; left -= CHUNK) {
    const b = randomBytes(Math.min(CHUNK, left))
    h.update(b)
    if (!ws.write(b)) await new Promise<void>(resolve => ws.once('drain', () => { resolve() }))
  }
  await new Promise<void>((resolve, reject) => { ws.end(() => resolve()); ws.once('error', reject) })
  return h.digest('hex')
}

function tmpfsRoot (): string | undefined {
  try {
    const s = statfsSync('/dev/shm')
    return s.bavail * s.bsize > 4 * SIZE ? '/dev/shm' : undefined
  } catch {
    return undefined
  }
}

if (spawnSync('smbclient', ['--version']).status !== 0) {
  t.plan(0, 'smbclient not installed')
} else {
  let live: LiveServer
  let want: string
  const name = 'big200.bin'
  t.before(async () => {
    live = await startLive({ tmpRoot: tmpfsRoot() })
    want = await writeRandom(join(live.root, name), SIZE + 3)
  })
  t.teardown(async () => { await live.stop() })

  for (const [proto, signed] of RUNS) {
    const label = `${proto}${signed ? ' signed' : ''}`
    t.test(`200 MiB put and get on ${label}`, async t => {
      const tag = `${proto}${signed ? '-signed' : ''}`
      const remote = `${tag}-${name}`
      const back = join(live.root, `${tag}.back`)
      const started = Date.now()
      const r = await smbclient(live, `lcd ${live.root}; put ${name} ${remote}; get ${remote} ${tag}.back`, {
        protocol: proto, extra: signed ? ['--client-protection=sign'] : [],
      })
      const secs = (Date.now() - started) / 1000
      t.equal(r.code, 0, `smbclient exit 0\n${r.stdout}\n${r.stderr}`)
      t.comment(`${label}: put + get of ${SIZE + 3} bytes in ${secs.toFixed(1)} s (${(2 * SIZE / 1048576 / secs).toFixed(0)} MiB/s both ways)`)
      const onServer = join(live.share, remote)
      t.equal(statSync(onServer).size, SIZE + 3, 'server copy has the size')
      t.equal(await fileSha(onServer), want, 'server copy intact')
      t.equal(statSync(back).size, SIZE + 3, 'fetched copy has the size')
      t.equal(await fileSha(back), want, 'fetched copy intact')
      rmSync(back)
      rmSync(onServer)
    })
  }
}
