// smbclient against a live smbts whose share holds a FIFO: `get` of it fails at once (STATUS_IO_REPARSE_TAG_NOT_HANDLED,
// as from Samba) instead of hanging a server thread on a FIFO with no writer, over the io_uring fast
// path and over node:fs (--no-uring), with the inline metadata calls on and off; `ls` still lists
// it, and the share serves its other files after.
import t from 'tap'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { startLive, smbclient, type LiveServer } from '../helpers/live.js'

const mkfifo = spawnSync('mkfifo', ['--help']).status === 0
const haveSmbclient = spawnSync('smbclient', ['--version']).status === 0

for (const useUring of [true, false]) {
  for (const inline of ['auto', 'no'] as const) {
    t.test(`${useUring ? 'io_uring' : '--no-uring'}, inline metadata ${inline}`, { skip: !mkfifo ? 'no mkfifo' : !haveSmbclient ? 'no smbclient' : false }, async (t) => {
      const live: LiveServer = await startLive({ useUring, shareLines: inline === 'no' ? ['inline metadata = no'] : [] })
      const fifo = join(live.share, 'fifo')
      t.teardown(async () => {
        // Should an open still wait on the FIFO, a writer frees it so the server can stop (O_RDWR
        // never waits on a FIFO).
        try { closeSync(openSync(fifo, 'r+')) } catch { /* gone or nobody waiting */ }
        await live.stop()
      })
      t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo')
      writeFileSync(join(live.share, 'plain.txt'), 'plain data')
      const out = join(live.root, 'got')
      const t0 = performance.now()
      const r = await smbclient(live, `get fifo ${out}`)
      const ms = performance.now() - t0
      t.ok(ms < 10_000, `get of a FIFO answered in ${Math.round(ms)} ms`)
      t.not(r.code, 0, 'and failed')
      t.match(r.stdout + r.stderr, /NT_STATUS_IO_REPARSE_TAG_NOT_HANDLED/, 'with IO_REPARSE_TAG_NOT_HANDLED')
      const l = await smbclient(live, `ls; get plain.txt ${out}`)
      t.equal(l.code, 0, l.code === 0 ? 'ls and get of a file work' : `ls and get of a file\n${l.stdout}\n${l.stderr}`)
      t.match(l.stdout, /\bfifo\b/, 'the FIFO is listed')
      t.equal(readFileSync(out, 'utf8'), 'plain data')
    })
  }
}
