// libsmbclient (python3-smbc) against a live smbts on every dialect: reads and writes at offsets
// through one handle (0, 1, 4095, 4096, 65537, 1 MiB + 3, a hole past EOF), checked against a local
// model of the file and against the server's copy on disk; fstat/stat sizes; O_TRUNC; O_EXCL;
// opendir/getdents; rename; unlink; rmdir (and the errors of the refusals).
// The port goes in the URL (smb://127.0.0.1:PORT/share); the dialect is pinned through the
// smb.conf libsmbclient reads from $HOME/.smb/smb.conf. pysmbc exposes no ftruncate, so truncation
// is tested through O_TRUNC only.
import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { startLive, type LiveServer } from '../helpers/live.js'
import { pythonModuleMissing, runPy } from '../helpers/py.js'

interface Check { name: string, ok: boolean, detail?: unknown }
interface Result { checks: Check[], file?: { name: string, sha256: string, size: number }, error?: string }

const DIALECTS: Record<string, string> = {
  SMB2_02: '0x202', SMB2_10: '0x210', SMB3_00: '0x300', SMB3_02: '0x302', SMB3_11: '0x311',
}
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

const missing = pythonModuleMissing('smbc')
if (missing) {
  t.plan(0, `python3-smbc not available: ${missing}`)
} else {
  let live: LiveServer
  t.before(async () => { live = await startLive({ debug: ['smb'] }) })
  t.teardown(async () => { await live.stop() })

  let seed = 1
  for (const [proto, wire] of Object.entries(DIALECTS)) {
    t.test(`offsets, sizes, listing and deletes on ${proto}`, async t => {
      const home = join(live.root, `home-${proto}`)
      mkdirSync(join(home, '.smb'), { recursive: true })
      writeFileSync(join(home, '.smb', 'smb.conf'),
        `[global]\nclient min protocol = ${proto}\nclient max protocol = ${proto}\n`)
      const dir = `smbc-${proto}`
      const logStart = live.logs.length
      const r = await runPy<Result>('smbc_ops.py', [
        `smb://127.0.0.1:${live.port}/share/${dir}`, live.user, live.password, String(seed++),
      ], { env: { HOME: home } })
      t.equal(r.error, undefined, 'driver ran to the end')
      t.ok(r.checks.length > 40, `${r.checks.length} checks ran`)
      for (const c of r.checks) t.ok(c.ok, c.name, c.detail !== undefined ? { detail: c.detail } : {})
      t.ok(live.logs.slice(logStart).some(l => l.includes(`negotiated ${wire} `)), `dialect ${wire} negotiated`)
      if (r.file) {
        const onDisk = readFileSync(join(live.share, dir, r.file.name))
        t.equal(onDisk.length, r.file.size, 'server copy has the model\'s size')
        t.equal(sha(onDisk), r.file.sha256, 'server copy matches the model')
      }
      t.same(readdirSync(join(live.share, dir)), ['offsets.bin'], 'only the offsets file is left on disk')
    })
  }
}
