// The io_uring operations the addon builds on, tested in C (native/test/ops.c) over the same static
// liburing: compiled here with the system's cc, run, and each of its TAP lines taken as a test. An
// op this kernel lacks is a skip, not a failure; no cc or no liburing.a skips the whole file.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const source = new URL('../../native/test/ops.c', import.meta.url).pathname
const cc = spawnSync('cc', ['--version']).status === 0
const staticLib = ['/usr/lib/x86_64-linux-gnu/liburing.a', '/usr/lib/aarch64-linux-gnu/liburing.a', '/usr/lib/liburing.a', '/usr/local/lib/liburing.a'].some(existsSync)
const skip = !cc ? 'no C compiler (cc)' : !staticLib ? 'no static liburing (liburing-dev)' : false

t.test('io_uring ops in C: each works, or is skipped where this kernel lacks it', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-cops-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const bin = join(dir, 'ops')
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', bin, source, '-l:liburing.a'], { stdio: 'pipe' })
  const r = spawnSync(bin, [], { encoding: 'utf8', timeout: 60_000 })
  const lines = r.stdout.split('\n').filter(l => l !== '')
  const plan = /^1\.\.(\d+)/.exec(lines.at(-1) ?? '')
  if (plan !== null && plan[1] === '0') {
    t.plan(0, `io_uring unavailable: ${lines.at(-1)}`)
    return
  }
  const results = lines.filter(l => /^(not )?ok \d+ - /.test(l))
  const planned = plan !== null && Number(plan[1]) === results.length
  t.ok(planned, `the plan (${lines.at(-1)}) matches the ${results.length} results`)
  if (!planned) t.comment(r.stdout + r.stderr)
  for (const l of results) {
    const m = /^(not )?ok \d+ - (.*?)(?: # SKIP (.*))?$/.exec(l)!
    if (m[1] !== undefined) t.fail(m[2])
    else if (m[3] !== undefined) t.pass(m[2], { skip: m[3] })
    else t.pass(m[2])
  }
  // The ops the server's fast path cannot do without (the skipped points above say when a kernel lacks one).
  for (const must of ['nop', 'write', 'read', 'fsync', 'send/recv', 'sendmsg', 'cancel']) {
    t.ok(results.some(l => l.includes(` - ${must}`) && !l.startsWith('not ') && !l.includes('# SKIP')), `${must} works here`)
  }
  t.equal(r.status, 0, 'exit 0: no op failed')
})
