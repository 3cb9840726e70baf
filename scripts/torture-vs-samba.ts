// smbtorture suites against smbts and against Debian's Samba smbd, one after the other, each server
// serving a fresh directory on the same file system with the same user: the pass counts issue
// notes put beside each other, made the same way every time.
//
//   node scripts/torture-vs-samba.ts smb2.notify smb2.replay
//   node scripts/torture-vs-samba.ts --servers samba --dir /var/tmp smb2.durable-open
//   node scripts/torture-vs-samba.ts --smbts-option 'continuous availability = yes' smb2.durable-v2-open
//
// Needs root (a Unix user for smbd), smbtorture, smbd, smbpasswd, and dist/ built (npm run build).
// Samba runs with what its own selftest sets for these suites (kernel oplocks, kernel share modes
// and posix locking off, so durable handles are granted; acl_xattr and streams_xattr). Each test
// of a suite runs alone (smbtorture --list), as test/interop/smbtorture.test.ts runs them: it
// passes when smbtorture exits 0 and says only `success:`.
// Runs under Node 24 (type stripping): no imports from src/.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..')
const USER = 'smbtorture1'
const PASS = 'Torture-pass1'
/** Longer than the slowest test that passes (smb2.notify.mask: 200 ms per case, 80 s). */
const TEST_TIMEOUT_MS = 150_000

interface Opts { suites: string[], servers: string[], dir: string, smbtsOptions: string[], sambaOptions: string[] }

function parseArgs (argv: string[]): Opts {
  const o: Opts = { suites: [], servers: ['smbts', 'samba'], dir: tmpdir(), smbtsOptions: [], sambaOptions: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const next = (): string => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v }
    if (a === '--servers') o.servers = next().split(',').filter(Boolean)
    else if (a === '--dir') o.dir = next()
    else if (a === '--smbts-option') o.smbtsOptions.push(next())
    else if (a === '--samba-option') o.sambaOptions.push(next())
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
    else o.suites.push(a)
  }
  if (o.suites.length === 0) throw new Error('name at least one smbtorture suite or test (smb2.notify, smb2.lock.rw-shared ...)')
  for (const s of o.servers) if (s !== 'smbts' && s !== 'samba') throw new Error(`--servers: smbts or samba, not ${s}`)
  return o
}

function sh (cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`)
  return r.stdout
}

async function waitPort (port: number, ms: number): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => { s.destroy(); resolve(false) })
    })
    if (ok) return
    if (Date.now() > end) throw new Error(`port ${port} never opened`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

function stop (c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) { resolve(); return }
    const t = setTimeout(() => { c.kill('SIGKILL') }, 10_000)
    c.once('exit', () => { clearTimeout(t); resolve() })
    c.kill('SIGTERM')
  })
}

interface Server { name: string, port: number, proc: ChildProcess, log: string }

async function startSmbts (base: string, share: string, port: number, extra: string[]): Promise<Server> {
  const conf = join(base, 'smb.conf')
  writeFileSync(conf, ['[global]', 'netbios name = SMBTS-TORTURE', 'interfaces = 127.0.0.1', 'bind interfaces only = yes',
    '[share]', `path = ${share}`, 'read only = no', ...extra, ''].join('\n'))
  const pwddb = join(base, 'ksmbdpwd.db')
  sh(join(repo, 'bin/smbts'), ['adduser', '-a', '-p', PASS, '-P', pwddb, '-C', conf, '--pid-file', join(base, 'none.pid'), USER])
  const log = join(base, 'smbts.log')
  const fd = openSync(log, 'w')
  const proc = spawn(join(repo, 'bin/smbts'), ['start', '-n', '-p', String(port), '-C', conf, '-P', pwddb, '--pid-file', join(base, 'smbts.pid')], { stdio: ['ignore', fd, fd] })
  closeSync(fd)
  await waitPort(port, 20_000)
  return { name: 'smbts', port, proc, log }
}

async function startSamba (base: string, share: string, port: number, extra: string[]): Promise<Server> {
  const dirs = ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc']
  for (const d of dirs) mkdirSync(join(base, d), { recursive: true })
  const conf = join(base, 'smb.conf')
  writeFileSync(conf, [
    '[global]', 'server role = standalone server', `smb ports = ${port}`, 'interfaces = 127.0.0.1', 'bind interfaces only = yes',
    `private dir = ${join(base, 'private')}`, ...['lock', 'state', 'cache', 'pid'].map(d => `${d} directory = ${join(base, d)}`),
    `ncalrpc dir = ${join(base, 'ncalrpc')}`, `log file = ${join(base, 'log.smbd')}`, 'log level = 1',
    `passdb backend = tdbsam:${join(base, 'private/passdb.tdb')}`,
    'load printers = no', 'printing = bsd', 'printcap name = /dev/null', 'disable spoolss = yes',
    '[share]', `path = ${share}`, 'read only = no', 'vfs objects = acl_xattr streams_xattr',
    'kernel oplocks = no', 'kernel share modes = no', 'posix locking = no', ...extra, ''].join('\n'))
  sh('smbpasswd', ['-c', conf, '-a', '-s', USER], `${PASS}\n${PASS}\n`)
  const log = join(base, 'smbd.out')
  const fd = openSync(log, 'w')
  // A process group of its own: smbd signals its whole group as it stops, which would be ours.
  const proc = spawn('smbd', ['--foreground', '--no-process-group', '-s', conf], { stdio: ['ignore', fd, fd], detached: true })
  closeSync(fd)
  await waitPort(port, 20_000)
  return { name: 'Samba', port, proc, log }
}

interface SuiteResult { pass: number, total: number, failed: string[] }

function runTorture (s: Server, args: string[], timeoutMs: number): Promise<{ code: number | null, out: string }> {
  return new Promise((resolve) => {
    const c = spawn('smbtorture', ['//127.0.0.1/share', '-p', String(s.port), '-U', `${USER}%${PASS}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout.on('data', (b: Buffer) => { out += b.toString() })
    c.stderr.on('data', (b: Buffer) => { out += b.toString() })
    const t = setTimeout(() => { c.kill('SIGKILL') }, timeoutMs)
    c.on('close', (code) => { clearTimeout(t); resolve({ code, out }) })
  })
}

/**
 * One smbtorture run per test, as the test runner does: some tests wait without a timeout for
 * an answer a server never sends (smb2.notify.mask-change on a server that reports renames
 * otherwise), and one such test would stop the rest of its suite.
 */
async function runSuite (s: Server, suite: string): Promise<SuiteResult> {
  const listed = await runTorture(s, ['--list', suite], 60_000)
  // `--list` prints each test as `suite.test.test` (a test's name repeated as its only case).
  const tests = [...new Set(listed.out.split('\n').map(l => l.trim()).filter(l => l.startsWith(suite)).map(l => l.replace(/^(.*)\.([^.]+)\.\2$/, '$1.$2')))]
  if (tests.length === 0) tests.push(suite)
  const failed: string[] = []
  let pass = 0
  for (const test of tests) {
    const r = await runTorture(s, [test], TEST_TIMEOUT_MS)
    const verdicts = [...r.out.matchAll(/^(success|failure|error|skip|xfail|uxsuccess): /gm)].map(m => m[1])
    if (r.code === 0 && verdicts.length > 0 && verdicts.every(v => v === 'success')) { pass++; continue }
    failed.push(`${test} (${r.code === null ? `no answer within ${TEST_TIMEOUT_MS / 1000} s` : verdicts.find(v => v !== 'success') ?? `exit ${r.code}`})`)
  }
  return { pass, total: tests.length, failed }
}

async function main (): Promise<void> {
  const o = parseArgs(process.argv.slice(2))
  if (process.getuid?.() !== 0) throw new Error('needs root (a Unix user for smbd)')
  if (spawnSync('id', [USER]).status !== 0) sh('useradd', ['-M', '-s', '/usr/sbin/nologin', USER])
  const work = mkdtempSync(join(o.dir, 'smbts-torture-vs-'))
  chmodSync(work, 0o755)
  const results = new Map<string, Map<string, SuiteResult>>()
  let port = 24450 + (process.pid % 1000)
  try {
    for (const name of o.servers) {
      const base = join(work, name)
      const share = join(base, 'share')
      mkdirSync(share, { recursive: true })
      chmodSync(share, 0o777)
      const s = name === 'smbts' ? await startSmbts(base, share, port++, o.smbtsOptions) : await startSamba(base, share, port++, o.sambaOptions)
      const mine = new Map<string, SuiteResult>()
      results.set(s.name, mine)
      try {
        for (const suite of o.suites) {
          process.stderr.write(`${s.name}: ${suite}...\n`)
          const r = await runSuite(s, suite)
          mine.set(suite, r)
          process.stderr.write(`${s.name}: ${suite}: ${r.pass}/${r.total}\n`)
        }
      } finally {
        await stop(s.proc)
      }
      if (s.proc.exitCode !== 0 && s.proc.signalCode !== 'SIGTERM') process.stderr.write(`${s.name} exited ${String(s.proc.exitCode ?? s.proc.signalCode)}; its log: ${readFileSync(s.log, 'utf8').slice(-2000)}\n`)
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  const names = [...results.keys()]
  const lines = [`| suite | ${names.join(' | ')} |`, `|---|${names.map(() => '---|').join('')}`]
  for (const suite of o.suites) {
    lines.push(`| ${suite} | ${names.map(n => { const r = results.get(n)!.get(suite); return r === undefined ? '-' : `${r.pass}/${r.total}` }).join(' | ')} |`)
  }
  const version = (cmd: string): string => sh(cmd, ['--version']).split('\n').find(l => /\d/.test(l))?.trim() ?? '?'
  process.stdout.write(`smbtorture: ${version('smbtorture')}; smbd: ${version('smbd')}; shares under ${o.dir}\n\n${lines.join('\n')}\n`)
  for (const n of names) {
    for (const [suite, r] of results.get(n)!) if (r.failed.length > 0) process.stdout.write(`\n${n}, ${suite}: not passing: ${r.failed.join(', ')}\n`)
  }
}

main().catch((e: unknown) => { process.stderr.write(`torture-vs-samba: ${(e as Error).message}\n`); process.exit(1) })
