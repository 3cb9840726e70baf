// smbtorture conformance against one live smbts, each test its own subtest.
// - smbtorture-pass.txt: every test must report success (exit 0, a `success:` line, no
//   `failure:`/`error:`/`skip:`). This list only grows.
// - smbtorture-knownfail.txt: tests that still fail, each with its reason. They run too (same
//   per-test timeout): one that still fails is an expected failure (a passing assertion that
//   names the reason; a timeout counts as still failing), and one that now passes FAILS this file
//   until it is moved to smbtorture-pass.txt. This list only shrinks.
// A name in both lists, twice in one, or a knownfail entry without a reason, fails the file.
// scripts/test.sh runs the interop suite three times (io_uring, the node:net fallback, two
// workers). A test whose line carries the option `once` runs in the first of them only: slow ones
// about server state (leases, notify, limits, break timeouts), which the transport and the worker
// count do not change (smbtorture's connections all come from one address, so one worker).
// A test whose line carries `apart` runs in a second lane, beside the others, against a server of
// its own: the few that spend most of their time waiting (a 35 s break timeout, notify.mask's
// 200 ms sleeps), so that the file's wall time is not their sum with the rest's, and a few slow
// ones without `once` (smb2.dir.many...), so that the later passes run two lanes too. A server of
// its own, because smbtorture's tests of one suite reuse their file names, and smb2.maxfid fills
// the open-file table. In the first pass the second lane's server has a plain ring (the main
// lane's took DEFER_TASKRUN, below): a test marked both `once` and `apart` never runs on
// DEFER_TASKRUN, so `apart` without `once` is the cheaper way to even the lanes.
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { startLive, run, testWorkers, type LiveServer } from '../helpers/live.js'

const here = dirname(fileURLToPath(import.meta.url))
const PER_TEST_TIMEOUT_MS = Number(process.env.SMBTS_TORTURE_TIMEOUT_MS ?? 120_000)

export interface TortureEntry { name: string, options: string[], reason: string, line: number }

/**
 * One smbtorture test name per line; `#` starts a comment; names may contain spaces. Options for
 * that one test follow ` :: `, separated by spaces (`smb2.read.position :: --option=torture:windows=true`;
 * `share=NAME` runs it against share NAME, not `share`); a reason (the knownfail list's) follows ` -- ` at the end of the line.
 */
export function parseList (text: string): TortureEntry[] {
  const out: TortureEntry[] = []
  text.split('\n').forEach((raw, i) => {
    const l = raw.replace(/#.*/, '').trim()
    if (l === '') return
    const [test, ...why] = l.split(' -- ')
    const [name, opts] = test.split(' :: ')
    out.push({ name: name.trim(), options: (opts ?? '').split(' ').filter(o => o !== ''), reason: why.join(' -- ').trim(), line: i + 1 })
  })
  return out
}

export function readList (path: string): TortureEntry[] {
  return parseList(readFileSync(path, 'utf8'))
}

/** What is wrong with the two lists together: a name in both, a name twice, a knownfail without a reason. */
export function listProblems (pass: TortureEntry[], knownfail: TortureEntry[]): string[] {
  const problems: string[] = []
  const twice = (list: TortureEntry[], file: string): void => {
    const seen = new Map<string, number>()
    for (const e of list) {
      const first = seen.get(e.name)
      if (first !== undefined) problems.push(`${e.name} is twice in ${file} (lines ${first} and ${e.line})`)
      else seen.set(e.name, e.line)
    }
  }
  twice(pass, 'smbtorture-pass.txt')
  twice(knownfail, 'smbtorture-knownfail.txt')
  const passing = new Map(pass.map(e => [e.name, e.line]))
  for (const e of knownfail) {
    const p = passing.get(e.name)
    if (p !== undefined) problems.push(`${e.name} is in both smbtorture-pass.txt (line ${p}) and smbtorture-knownfail.txt (line ${e.line}): keep it in one`)
    if (e.reason === '') problems.push(`${e.name} (smbtorture-knownfail.txt line ${e.line}) gives no reason after " -- "`)
  }
  return problems
}

export interface TortureVerdict { successes: string[], problems: string[] }

/**
 * smbtorture's subunit-like lines: `success: x`, `failure: x [`, `error: x [`, `skip: x [`; a
 * problem ending in ` [` is followed by its detail lines up to `]`, of which the first is kept.
 */
export function parseTortureOutput (out: string): TortureVerdict {
  const successes: string[] = []
  const problems: string[] = []
  const lines = out.split('\n')
  lines.forEach((line, i) => {
    const m = /^(success|failure|error|skip|xfail|uxsuccess): (.*)$/.exec(line)
    if (m === null) return
    if (m[1] === 'success') { successes.push(m[2]); return }
    const detail = m[2].endsWith(' [') && lines[i + 1] !== undefined && lines[i + 1] !== ']' ? ' ' + lines[i + 1].trim() : ''
    problems.push(`${m[1]}: ${detail === '' ? m[2] : m[2].slice(0, -2) + ':' + detail}`)
  })
  return { successes, problems }
}

const passList = readList(join(here, 'smbtorture-pass.txt'))
const knownfailList = readList(join(here, 'smbtorture-knownfail.txt'))
const listTrouble = listProblems(passList, knownfailList)
t.same(listTrouble, [], 'smbtorture-pass.txt and smbtorture-knownfail.txt are consistent (no name in both, none twice, every knownfail has a reason)')

const have = spawnSync('smbtorture', ['--version'], { encoding: 'utf8' })
if (have.error !== undefined || have.status !== 0) {
  t.comment('smbtorture is not installed: the lists are checked, no test runs')
} else {
  const only = process.env.SMBTS_TORTURE_ONLY // a substring filter, for local runs
  // The fallback and workers passes of scripts/test.sh skip the tests marked `once`.
  const again = process.env.SMBTS_TEST_TRANSPORT === 'net' || testWorkers() > 1
  const selected = (e: TortureEntry): boolean => (only === undefined || e.name.includes(only)) && !(again && e.options.includes('once'))
  const inBoth = new Set(passList.map(e => e.name).filter(n => knownfailList.some(k => k.name === n)))

  // [nostreams]: a share without alternate data streams, for the tests about such a share
  // (`:: share=nostreams` on their line).
  // user2 (`tester2`): for the tests that bind or re-authenticate as another user
  // (smb2.session.bind_different_user).
  // [acls_non_canonical]: a DACL set keeps SE_DACL_AUTO_INHERITED as given (Samba's selftest
  // share of that name: smb2.acls_non_canonical.flags, `:: share=acls_non_canonical`).
  // [ca]: a continuously available share (persistent handles: smb2.durable-v2-open.persistent-*
  // under their long names, `:: share=ca`), its records in a temporary directory.
  /** A server for one lane, its persistent-handle records in a temporary directory of its own. */
  const startTortureServer = async (): Promise<LiveServer> => {
    const records = mkdtempSync(join(tmpdir(), 'smbts-torture-persistent-'))
    const live = await startLive({
      users: { tester2: 'Secret-pass2' },
      global: [`persistent handle directory = ${records}`],
      shares: {
        nostreams: ['read only = no', 'streams = no'],
        ca: ['read only = no', 'continuous availability = yes'],
        acls_non_canonical: ['read only = no', 'acl flag inherited canonicalization = no'],
      },
    })
    t.teardown(async () => {
      await live.stop()
      rmSync(records, { recursive: true, force: true })
    })
    return live
  }

  interface Outcome { passed: boolean, timedOut: boolean, ms: number, code: number | null, v: TortureVerdict, diag: { output: string } }
  let ran = 0 // smbtorture runs finished, checked against the tests chosen when the file ends
  const torture = async (live: LiveServer, { name, options }: TortureEntry): Promise<Outcome> => {
    // `share=NAME` among a line's options is the runner's: the share the test runs against.
    // `once` and `apart` are the runner's too (above).
    const shareOpt = options.find(o => o.startsWith('share='))
    const args = [
      `//127.0.0.1/${shareOpt?.slice(6) ?? 'share'}`, '-p', String(live.port), '-U', `${live.user}%${live.password}`,
      ...options.filter(o => o !== shareOpt && o !== 'once' && o !== 'apart'), name,
    ]
    const started = Date.now()
    const r = await run('smbtorture', args, { timeoutMs: PER_TEST_TIMEOUT_MS })
    ran++
    const out = r.stdout + r.stderr
    const tail = out.length > 6000 ? '…' + out.slice(-6000) : out
    const v = parseTortureOutput(out)
    const passed = r.code === 0 && v.successes.length > 0 && v.problems.length === 0
    return { passed, timedOut: r.code === null, ms: Date.now() - started, code: r.code, v, diag: { output: tail } }
  }

  const knownfail = new Set(knownfailList)
  /** One lane: its tests one after the other against `live` (the lane's own server), each a subtest of `t`. */
  const lane = (t: Test, live: LiveServer, entries: TortureEntry[]): void => {
    for (const e of entries) {
      if (knownfail.has(e)) {
        t.test(`${e.name} (knownfail)`, async t => {
          const o = await torture(live, e)
          if (o.passed) {
            t.fail(`${e.name} passes now: move it to smbtorture-pass.txt (took ${o.ms} ms)`, o.diag)
            return
          }
          const how = o.timedOut ? `timed out after ${PER_TEST_TIMEOUT_MS} ms` : (o.v.problems[0] ?? `exit ${String(o.code)}, no success line`)
          t.pass(`still fails, as expected (${how}; ${o.ms} ms): ${e.reason}`)
        })
        continue
      }
      t.test(e.name, async t => {
        const o = await torture(live, e)
        t.not(o.code, null, `finished within ${PER_TEST_TIMEOUT_MS} ms (took ${o.ms} ms)`, o.diag) // diag printed only when an assertion fails
        t.equal(o.code, 0, 'smbtorture exits 0', o.diag)
        t.ok(o.v.successes.length > 0, 'reports success', o.diag)
        t.same(o.v.problems, [], 'reports no failure, error or skip', o.diag)
      })
    }
  }

  const chosen = [...passList, ...knownfailList].filter(e => selected(e) && !inBoth.has(e.name))
  const besides = chosen.filter(e => e.options.includes('apart'))
  const main = chosen.filter(e => !e.options.includes('apart'))
  // A lane whose tests tap never ran would leave the file green with one assertion: the file
  // fails unless every chosen test ran smbtorture once.
  t.teardown(() => {
    if (ran === chosen.length) return
    console.error(`# smbtorture ran ${ran} of the ${chosen.length} tests chosen`)
    process.exitCode = 1
  })
  // The main lane's server starts first: in one process only the first ring gets DEFER_TASKRUN
  // (the default start's configuration), and a second one is a plain ring (native/src/ring-wait.c).
  const mainServer = await startTortureServer()
  if (besides.length === 0) {
    lane(t, mainServer, main)
  } else {
    const apartServer = await startTortureServer()
    t.jobs = 2 // the two lanes below run at once (their callbacks async: with plain ones, tap 21 reported none of the lanes' tests)
    t.test('the tests marked `apart`, on a server of their own', async t => { lane(t, apartServer, besides) })
    t.test('the other tests', async t => { lane(t, mainServer, main) })
  }
}
