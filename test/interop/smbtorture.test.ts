// smbtorture conformance: every test named in smbtorture-pass.txt runs against one live smbts as
// its own subtest and must report success (exit 0, a `success:` line, no `failure:`/`error:`/`skip:`).
// The list only grows; tests that still fail are in smbtorture-knownfail.txt with the reason.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { startLive, run, type LiveServer } from '../helpers/live.js'

const here = dirname(fileURLToPath(import.meta.url))
const PER_TEST_TIMEOUT_MS = Number(process.env.SMBTS_TORTURE_TIMEOUT_MS ?? 120_000)

export interface TortureEntry { name: string, options: string[] }

/**
 * One smbtorture test name per line; `#` starts a comment; names may contain spaces. Options for
 * that one test follow ` :: `, separated by spaces (`smb2.read.position :: --option=torture:windows=true`).
 */
export function readList (path: string): TortureEntry[] {
  return readFileSync(path, 'utf8').split('\n')
    .map(l => l.replace(/#.*/, '').trim())
    .filter(l => l !== '')
    .map(l => {
      const [name, opts] = l.split(' :: ')
      return { name: name.trim(), options: (opts ?? '').split(' ').filter(o => o !== '') }
    })
}

export interface TortureVerdict { successes: string[], problems: string[] }

/** smbtorture's subunit-like lines: `success: x`, `failure: x [`, `error: x [`, `skip: x [`. */
export function parseTortureOutput (out: string): TortureVerdict {
  const successes: string[] = []
  const problems: string[] = []
  for (const line of out.split('\n')) {
    const m = /^(success|failure|error|skip|xfail|uxsuccess): (.*)$/.exec(line)
    if (m === null) continue
    if (m[1] === 'success') successes.push(m[2])
    else problems.push(`${m[1]}: ${m[2]}`)
  }
  return { successes, problems }
}

const have = spawnSync('smbtorture', ['--version'], { encoding: 'utf8' })
if (have.error !== undefined || have.status !== 0) {
  t.plan(0, 'smbtorture is not installed')
} else {
  const tests = readList(join(here, 'smbtorture-pass.txt'))
  const only = process.env.SMBTS_TORTURE_ONLY // a substring filter, for local runs

  let live: LiveServer
  t.before(async () => { live = await startLive() })
  t.teardown(async () => { await live.stop() })

  for (const { name, options } of tests) {
    if (only !== undefined && !name.includes(only)) continue
    t.test(name, async t => {
      const args = [
        '//127.0.0.1/share', '-p', String(live.port), '-U', `${live.user}%${live.password}`,
        ...options, name,
      ]
      const started = Date.now()
      const r = await run('smbtorture', args, { timeoutMs: PER_TEST_TIMEOUT_MS })
      const out = r.stdout + r.stderr
      const tail = out.length > 6000 ? '…' + out.slice(-6000) : out
      const v = parseTortureOutput(out)
      const diag = { output: tail } // printed only when an assertion fails
      t.not(r.code, null, `finished within ${PER_TEST_TIMEOUT_MS} ms (took ${Date.now() - started} ms)`, diag)
      t.equal(r.code, 0, 'smbtorture exits 0', diag)
      t.ok(v.successes.length > 0, 'reports success', diag)
      t.same(v.problems, [], 'reports no failure, error or skip', diag)
    })
  }
}
