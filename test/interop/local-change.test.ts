// A program on the server's own disk writing a file a client caches breaks that cache (issue 16:
// "a local change also breaks the leases it invalidates"; src/vfs/local-changes.ts): an impacket
// client holding a level II oplock on a file receives OPLOCK_BREAK to none when `sh` appends to
// the file beside smbts, and reads the appended bytes through its handle. Runs on the transport
// and worker count the suite is run with.
import t from 'tap'
import { spawn, execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startLive, type LiveServer } from '../helpers/live.js'
import { PYTHON, PY_DIR, pythonModuleMissing } from '../helpers/py.js'

const missing = pythonModuleMissing('impacket')
if (missing !== undefined) {
  t.plan(0, `impacket not available: ${missing}`)
} else {
  let live: LiveServer
  t.before(async () => { live = await startLive() })
  t.teardown(async () => { await live.stop() })

  t.test('a level II oplock is broken by a local program\'s write', async t => {
    writeFileSync(join(live.share, 'cached.txt'), 'from before\n')
    const c = spawn(PYTHON, [join(PY_DIR, 'local_change_ops.py'), String(live.port), live.user, live.password, 'share'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    c.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
    const closed = new Promise<void>(resolve => c.once('close', () => { resolve() }))
    t.teardown(() => { c.kill() })
    const end = Date.now() + 20_000
    while (!out.includes('"held"') && Date.now() < end && c.exitCode === null) await new Promise(resolve => setTimeout(resolve, 50))
    t.match(out, /"held": true/, `the client holds its oplock (${err})`)
    // Another program: a shell beside the server appends to the file.
    execFileSync('sh', ['-c', `echo 'from a local program' >> '${join(live.share, 'cached.txt')}'`])
    await closed
    const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { steps: Record<string, { ok: boolean }>, break?: { command: number, level: number, fid_matches: boolean }, content?: string }
    for (const [name, s] of Object.entries(r.steps)) t.ok(s.ok, `${name}: ${JSON.stringify(s)}`)
    t.equal(r.break?.command, 0x12, 'the unasked message is an OPLOCK_BREAK')
    t.equal(r.break?.level, 0, 'to none')
    t.equal(r.break?.fid_matches, true, 'for the open file')
    t.equal(r.content, 'from before\nfrom a local program\n', 'the client reads what the local program wrote')
  })
}
