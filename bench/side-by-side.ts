// The side-by-side benchmark: smbts (built dist/, a separate process through bin/smbts) and
// Debian's Samba smbd, each serving a share on the same tmpfs, driven by the same clients in
// alternating order (A B A B ...), medians over the rounds. Writes bench/RESULTS.md.
//
//   npm run bench                      # full: 1 GiB, 5,000 files, 3 rounds (~15 min on 2 cores)
//   npm run bench -- --quick           # 64 MiB, 500 files, 1 round, 2 s torture runs
//   npm run bench -- --variants uring  # smbts variants: uring (default start: one worker per core), uring-plain (SMBTS_RING=plain), net (--no-uring), w1 (--workers 1), w2 (--workers 2)
//   npm run bench -- --only multi --variants uring,w2   # 8 clients from 8 loopback addresses (bench/bind-src.c)
//   npm run bench -- --no-build --out /tmp/r.md --note "text"
//   npm run bench -- --smbts-option 'busy poll = 0'    # a line for smbts's [global] (repeatable)
//
// Needs root (tmpfs mount, a Unix user for smbd), smbclient, smbtorture, smbd, python3-impacket.
// CPU is utime+stime (+ reaped children's) of every process of the server's tree, from
// /proc/<pid>/stat: smbd forks one child per client and reaps it, so its cutime covers them.
// Memory is summed over the tree: RSS (shared pages counted per process) and PSS.
// Runs under Node 24 (type stripping): no imports from src/.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, openSync, writeSync, closeSync, fstatSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { createConnection } from 'node:net'
import { tmpdir, cpus, totalmem } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..')
const USER = 'smbbench'
const PASS = 'Bench-pass1'
const CLK_TCK = 100

// ---------------------------------------------------------------- options

interface Opts {
  quick: boolean
  rounds: number
  sizeMiB: number
  smallFiles: number
  tortureSecs: number
  idleConns: number
  variants: string[]
  build: boolean
  out: string
  /** Every server's figures of every round, as JSON (--raw FILE): the report keeps medians only. */
  raw?: string
  note: string
  only?: Set<string>
  /** Lines added to smbts's [global] section (--smbts-option 'busy poll = 0'). */
  smbtsOptions: string[]
}

function parseArgs (argv: string[]): Opts {
  const o: Opts = { quick: false, rounds: 3, sizeMiB: 1024, smallFiles: 5000, tortureSecs: 5, idleConns: 100, variants: ['uring', 'uring-plain', 'net'], build: true, out: join(repo, 'bench/RESULTS.md'), note: '', smbtsOptions: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = (): string => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v }
    if (a === '--quick') Object.assign(o, { quick: true, rounds: 1, sizeMiB: 64, smallFiles: 500, tortureSecs: 2, idleConns: 20 })
    else if (a === '--rounds') o.rounds = Number(next())
    else if (a === '--size-mib') o.sizeMiB = Number(next())
    else if (a === '--files') o.smallFiles = Number(next())
    else if (a === '--torture-secs') o.tortureSecs = Number(next())
    else if (a === '--idle-conns') o.idleConns = Number(next())
    else if (a === '--variants') o.variants = next().split(',').filter(Boolean)
    else if (a === '--no-build') o.build = false
    else if (a === '--out') o.out = next()
    else if (a === '--note') o.note = next()
    else if (a === '--raw') o.raw = next()
    else if (a === '--only') o.only = new Set(next().split(','))
    else if (a === '--smbts-option') o.smbtsOptions.push(next())
    else throw new Error(`unknown option ${a}`)
  }
  return o
}

// ---------------------------------------------------------------- processes and /proc

function sh (cmd: string, args: string[], opts: { input?: string, allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, maxBuffer: 64 << 20 })
  if (r.error) throw r.error
  if (r.status !== 0 && opts.allowFail !== true) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`)
  return r.stdout
}

interface RunOut { code: number | null, stdout: string, stderr: string, secs: number }

function run (cmd: string, args: string[], input?: string, timeoutMs = 30 * 60_000): Promise<RunOut> {
  return runEnv(cmd, args, {}, input, timeoutMs)
}

/** `run` with variables added to the environment. */
function runEnv (cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string, timeoutMs = 30 * 60_000): Promise<RunOut> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => { c.kill('SIGKILL') }, timeoutMs)
    c.on('error', reject)
    c.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, secs: Number(process.hrtime.bigint() - t0) / 1e9 })
    })
    c.stdin.end(input ?? '')
  })
}

/** pid → ppid for every process. */
function processTable (): Map<number, number> {
  const m = new Map<number, number>()
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8')
      const rest = s.slice(s.lastIndexOf(')') + 2).split(' ')
      m.set(Number(e), Number(rest[1]))
    } catch { /* gone */ }
  }
  return m
}

function tree (root: number): number[] {
  const t = processTable()
  const out = [root]
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of t) if (ppid === out[i]) out.push(pid)
  return out.filter(p => t.has(p))
}

/** utime+stime+cutime+cstime of every process in the tree, in seconds. */
function cpuSecs (root: number): number {
  let ticks = 0
  for (const pid of tree(root)) {
    try {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
      // fields 14..17 of stat(5); `f` starts at field 3 (state)
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
    } catch { /* exited between listing and reading */ }
  }
  return ticks / CLK_TCK
}

interface Mem { rss: number, pss: number }
/** RSS and PSS (MiB) summed over the tree. */
function memOf (root: number): Mem {
  let rss = 0
  let pss = 0
  for (const pid of tree(root)) {
    try {
      const r = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
      rss += Number(/^Rss:\s+(\d+)/m.exec(r)?.[1] ?? 0)
      pss += Number(/^Pss:\s+(\d+)/m.exec(r)?.[1] ?? 0)
    } catch { /* gone */ }
  }
  return { rss: rss / 1024, pss: pss / 1024 }
}

function waitPort (port: number, ms: number): Promise<void> {
  const end = Date.now() + ms
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = createConnection({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve() })
      s.once('error', () => {
        s.destroy()
        if (Date.now() > end) reject(new Error(`port ${port} never opened`))
        else setTimeout(attempt, 100)
      })
    }
    attempt()
  })
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

// ---------------------------------------------------------------- servers

interface Server {
  /** Column name. */
  name: string
  port: number
  share: string
  /** Shares directory on the tmpfs. */
  dir: string
  pid: number
  encrypts: boolean
  stop (): Promise<void>
  /** What the server said about itself at start (smbts: its transport, the ring self-check). */
  about?: string[]
}

function stopChild (c: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) { resolve(); return }
    const t = setTimeout(() => { c.kill('SIGKILL') }, 10_000)
    c.once('exit', () => { clearTimeout(t); resolve() })
    c.kill('SIGTERM')
    void name
  })
}

async function startSmbts (work: string, mnt: string, variant: string, port: number, options: string[]): Promise<Server> {
  const base = join(work, `smbts-${variant}`)
  mkdirSync(base)
  const dir = join(mnt, `smbts-${variant}`)
  mkdirSync(dir)
  chmodSync(dir, 0o777)
  const conf = join(base, 'smb.conf')
  // max ip connections: the 100 idle connections all come from 127.0.0.1, past the per-address
  // default (64) that Samba has no counterpart of: the row measures memory, not that limit.
  writeFileSync(conf, ['[global]', 'netbios name = SMBTS-BENCH', 'interfaces = 127.0.0.1', 'bind interfaces only = yes', 'max ip connections = 0', ...options,
    '[bench]', `path = ${dir}`, 'read only = no', ''].join('\n'))
  const pwddb = join(base, 'ksmbdpwd.db')
  sh(join(repo, 'bin/smbts'), ['adduser', '-a', '-p', PASS, '-P', pwddb, '-C', conf, '--pid-file', join(base, 'none.pid'), USER])
  const args = ['start', '-n', '-p', String(port), '-C', conf, '-P', pwddb, '--pid-file', join(base, 'smbts.pid')]
  if (variant === 'net') args.push('--no-uring')
  // w2: two worker processes behind the steering program, one locking store (issue 13).
  if (variant === 'w2') args.push('--workers', '2')
  // w1: one process, no supervisor (the default before workers were).
  if (variant === 'w1') args.push('--workers', '1')
  // uring: the default start (the self-check picks the ring); uring-plain: a ring without DEFER_TASKRUN.
  const ringEnv = variant === 'uring-plain' ? { SMBTS_RING: 'plain' } : {}
  const logPath = join(base, 'smbts.log')
  const log = openSync(logPath, 'w')
  const c = spawn(join(repo, 'bin/smbts'), args, { stdio: ['ignore', log, log], env: { ...process.env, ...ringEnv, ...(process.env.SMBTS_BENCH_PROF ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.SMBTS_BENCH_PROF}` } : {}) } })
  closeSync(log)
  await waitPort(port, 20_000)
  // With workers the supervisor listens first; the workers' start-up lines come once they are ready.
  for (let i = 0; i < 200 && readFileSync(logPath, 'utf8').includes('[sup]') && !readFileSync(logPath, 'utf8').includes('workers ready'); i++) await sleep(100)
  const name = variant === 'uring' ? 'smbts' : `smbts (${variant})`
  // What the server's start-up self-check measured and chose, and which transport it runs.
  const startLog = readFileSync(logPath, 'utf8').split('\n')
  // 'transport: io_uring, <ring> (multishot ...)' or '... running the fallback, transport node:net, file I/O ...'
  const transport = /transport:? ([^(,]+(?:, [^(,]+ ring[^(]*)?)/.exec(startLog.find(l => /transport[: ]/.test(l)) ?? '')?.[1]?.trim() ?? '?'
  const checks = startLog.filter(l => l.includes('self-check:')).map(l => l.replace(/^.*self-check: /, ''))
  const s: Server = { name, port, share: 'bench', dir, pid: c.pid!, encrypts: false, stop: async () => { await stopChild(c, name) }, about: [`transport ${transport}`, ...checks] }
  s.encrypts = await probeEncryption(s)
  return s
}

async function startSamba (work: string, mnt: string, port: number): Promise<Server> {
  const base = join(work, 'samba')
  for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc']) mkdirSync(join(base, d), { recursive: true })
  const dir = join(mnt, 'samba')
  mkdirSync(dir)
  chmodSync(dir, 0o777)
  const conf = join(base, 'smb.conf')
  writeFileSync(conf, [
    '[global]', 'server role = standalone server', `smb ports = ${port}`, 'interfaces = 127.0.0.1', 'bind interfaces only = yes',
    ...['private', 'lock', 'state', 'cache', 'pid'].map(d => `${d} directory = ${join(base, d)}`).map(l => l.replace('private directory', 'private dir')),
    `ncalrpc dir = ${join(base, 'ncalrpc')}`, `log file = ${join(base, 'log.smbd')}`, 'log level = 0',
    `passdb backend = tdbsam:${join(base, 'private/passdb.tdb')}`,
    'load printers = no', 'printing = bsd', 'printcap name = /dev/null', 'disable spoolss = yes',
    '[bench]', `path = ${dir}`, 'read only = no', ''].join('\n'))
  sh('smbpasswd', ['-c', conf, '-a', '-s', USER], { input: `${PASS}\n${PASS}\n` })
  const log = openSync(join(base, 'smbd.out'), 'w')
  // A process group of its own: smbd signals its whole group as it stops, which would be ours.
  const c = spawn('smbd', ['--foreground', '--no-process-group', '-s', conf], { stdio: ['ignore', log, log], detached: true })
  closeSync(log)
  await waitPort(port, 20_000)
  return { name: 'Samba', port, share: 'bench', dir, pid: c.pid!, encrypts: true, stop: async () => { await stopChild(c, 'smbd') } }
}

function smbclientArgs (s: Server, extra: string[] = []): string[] {
  return [`//127.0.0.1/${s.share}`, '-p', String(s.port), '-U', `${USER}%${PASS}`, '-m', 'SMB3_11',
    '--option=client min protocol=SMB3_11', ...extra]
}

async function probeEncryption (s: Server): Promise<boolean> {
  const r = await run('smbclient', [...smbclientArgs(s, ['--client-protection=encrypt']), '-c', 'ls'], undefined, 30_000)
  return r.code === 0
}

// ---------------------------------------------------------------- workloads

/** One measured figure: name, unit, whether higher is better. */
interface Figure { row: string, unit: string, better: 'higher' | 'lower', value: number | string }

interface Ctx { o: Opts, work: string, srcFile: string, smallDir: string, shim?: string }

/** The clients of the multi-address runs, and their source addresses (bench/bind-src.c). */
const MULTI_SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`)

/** Compiles bench/bind-src.c into the work directory; undefined (said) when there is no compiler. */
/**
 * The kernel's floor for a plain sequential write into the benchmark's tmpfs (bench/write-floor.c:
 * loopback recv + pwrite in C, nothing else): the CPU per GiB no server can go below here. Best
 * of three, like a server's quietest round.
 */
function writeFloor (work: string, mnt: string, mib: number): string | undefined {
  const bin = join(work, 'write-floor')
  const cc = spawnSync('cc', ['-O2', '-o', bin, join(repo, 'bench/write-floor.c')], { encoding: 'utf8' })
  if (cc.status !== 0) return undefined
  let best: { cpu: number, wall: number } | undefined
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(bin, [join(mnt, 'write-floor.bin'), String(mib)], { encoding: 'utf8' })
    const [cpu, wall] = r.stdout.trim().split(' ').map(Number)
    if (r.status === 0 && cpu !== undefined && wall !== undefined && (best === undefined || cpu < best.cpu)) best = { cpu, wall }
  }
  if (best === undefined) return undefined
  const gib = mib / 1024
  return `write floor (bench/write-floor.c: loopback recv + pwrite into this tmpfs, in C, best of 3): ${(best.cpu / gib).toFixed(2)} CPU s/GiB, ${(mib / best.wall).toFixed(0)} MiB/s — no server's plain write can cost less CPU per GiB here`
}

/**
 * The kernel's floor for a plain sequential read from the benchmark's tmpfs (bench/read-floor.c:
 * a cached file sent over loopback TCP in C), both ways a server can send it: pread + send (two
 * copies: what a signed or encrypted READ needs, and Samba's default) and splice through a pipe
 * (no copy: smbts's unsigned READs on io_uring). Best of three each, alternating.
 */
function readFloor (work: string, mnt: string, mib: number): string | undefined {
  const bin = join(work, 'read-floor')
  const cc = spawnSync('cc', ['-O2', '-o', bin, join(repo, 'bench/read-floor.c')], { encoding: 'utf8' })
  if (cc.status !== 0) return undefined
  const file = join(mnt, 'read-floor.bin')
  const chunk = Buffer.alloc(1 << 20, 0x5a)
  const fd = openSync(file, 'w')
  try { for (let i = 0; i < mib; i++) writeSync(fd, chunk) } finally { closeSync(fd) }
  const best: Record<'copy' | 'splice', number | undefined> = { copy: undefined, splice: undefined }
  try {
    for (let i = 0; i < 3; i++) {
      for (const way of ['copy', 'splice'] as const) {
        const r = spawnSync(bin, [file, way], { encoding: 'utf8' })
        const cpu = Number(r.stdout.trim().split(' ')[0])
        if (r.status === 0 && Number.isFinite(cpu) && (best[way] === undefined || cpu < best[way])) best[way] = cpu
      }
    }
  } finally { rmSync(file, { force: true }) }
  if (best.copy === undefined || best.splice === undefined) return undefined
  const gib = mib / 1024
  return `read floor (bench/read-floor.c: a cached file of this tmpfs to loopback TCP, in C, best of 3): pread + send ${(best.copy / gib).toFixed(2)} CPU s/GiB, splice through a pipe ${(best.splice / gib).toFixed(2)}`
}

function buildShim (work: string): string | undefined {
  const so = join(work, 'bind-src.so')
  const r = spawnSync('cc', ['-O2', '-shared', '-fPIC', '-o', so, join(repo, 'bench/bind-src.c'), '-ldl'], { encoding: 'utf8' })
  if (r.status !== 0) { process.stderr.write(`bench: no bind-src shim (${r.stderr || r.error?.message}): multi-address runs skipped\n`); return undefined }
  return so
}

/** Runs `cmd` once per source address at the same time, each with its connections from that address. */
async function fromEachSource (ctx: Ctx, cmd: string, args: (i: number) => string[]): Promise<RunOut[]> {
  return await Promise.all(MULTI_SOURCES.map((src, i) => runEnv(cmd, args(i), { LD_PRELOAD: ctx.shim!, SMBTS_BIND_SRC: src })))
}

/**
 * 8 clients from 8 addresses at once (one connection each): smbtorture echo and open/close of one
 * shared path (contended across workers: the locking store), then 8 smbclient puts and gets of
 * size/8 each. The clients share the 2 cores with the server.
 */
async function multi (s: Server, ctx: Ctx, out: Figure[]): Promise<void> {
  if (ctx.shim === undefined) return
  for (const test of ['echo', 'path-contention-shared'] as const) {
    const m = await measured(s, async () => await fromEachSource(ctx, 'smbtorture', () => [`//127.0.0.1/${s.share}`, '-p', String(s.port), '-U', `${USER}%${PASS}`,
      `smb2.bench.${test}`, `--option=torture:timelimit=${ctx.o.tortureSecs}`, '--option=torture:nprocs=1']))
    const row = `smb2.bench.${test}, 8 conn from 8 addresses`
    const bad = m.r.find(r => r.code !== 0 || !/^success: /m.test(r.stdout))
    if (bad !== undefined) {
      const why = `failed: ${(/^(failure|error): .*/m.exec(bad.stdout)?.[0] ?? `exit ${bad.code}`).slice(0, 80)}`
      out.push({ row, unit: 'req/s', better: 'higher', value: why }, { row, unit: 'CPU s/1k req', better: 'lower', value: why })
      continue
    }
    let total = 0
    let perSec = 0
    for (const r of m.r) {
      const c = tortureCounts(r.stdout + r.stderr, test === 'echo' ? ['echo'] : ['open', 'close'])
      total += c.total
      perSec += c.perSec
    }
    out.push({ row, unit: 'req/s', better: 'higher', value: perSec }, { row, unit: 'CPU s/1k req', better: 'lower', value: total > 0 ? m.cpu / (total / 1000) : NaN })
  }
  const each = Math.max(1, Math.floor(ctx.o.sizeMiB / MULTI_SOURCES.length))
  const part = join(dirname(ctx.srcFile), `part-${each}.bin`)
  if (!existsSync(part)) sh('dd', [`if=${ctx.srcFile}`, `of=${part}`, 'bs=1M', `count=${each}`, 'status=none'])
  for (const phase of ['put', 'get'] as const) {
    if (phase === 'put') warmShare(s.dir, each * MULTI_SOURCES.length + 64)
    const m = await measured(s, async () => await fromEachSource(ctx, 'smbclient', (i) => [...smbclientArgs(s), '-c', phase === 'put' ? `put ${part} multi${i}.bin` : `get multi${i}.bin /dev/null`]))
    for (const r of m.r) check(r, `multi ${phase} (${s.name})`)
    const mib = each * MULTI_SOURCES.length
    const row = `8 × ${each} MiB ${phase} from 8 addresses`
    out.push({ row, unit: 'MiB/s', better: 'higher', value: mib / m.secs }, { row, unit: 'CPU s/GiB', better: 'lower', value: m.cpu / (mib / 1024) })
  }
  sh('rm', ['-f', ...MULTI_SOURCES.map((_, i) => join(s.dir, `multi${i}.bin`))])
}

async function measured<T> (s: Server, f: () => Promise<T>, sampleMem = false): Promise<{ r: T, cpu: number, secs: number, peak: Mem }> {
  const c0 = cpuSecs(s.pid)
  const peak: Mem = { rss: 0, pss: 0 }
  let timer: NodeJS.Timeout | undefined
  if (sampleMem) {
    timer = setInterval(() => {
      const m = memOf(s.pid)
      peak.rss = Math.max(peak.rss, m.rss)
      peak.pss = Math.max(peak.pss, m.pss)
    }, 100)
  }
  const t0 = process.hrtime.bigint()
  const r = await f()
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  if (timer) clearInterval(timer)
  // Let smbd reap the per-client child so its CPU shows up in cutime.
  await sleep(300)
  return { r, cpu: cpuSecs(s.pid) - c0, secs, peak }
}

function check (r: RunOut, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`)
}

/**
 * Warms the share's tmpfs before a timed write: a file of `mib` MiB is written and deleted, so
 * the pages the server then writes into were touched a moment ago. On this kind of VM a guest
 * page left untouched for a while costs a fault in the host on its next first touch, charged to
 * whatever touches it: the server's copy into the page cache. Unwarmed, the 8-put row measured
 * 0.9 to 3.3 CPU s/GiB for either server at random (perf: 67% of a worker's time in
 * copy_folio_from_iter_atomic against 17% warm). Done the same way for every server.
 */
function warmShare (dir: string, mib: number): void {
  const file = join(dir, '.warm.bin')
  const chunk = Buffer.alloc(1 << 20, 0x5a)
  const fd = openSync(file, 'w')
  try { for (let i = 0; i < mib; i++) writeSync(fd, chunk) } finally { closeSync(fd) }
  rmSync(file)
}

type TransferMode = 'plain' | 'sign' | 'encrypt-gcm' | 'encrypt-ccm'
/** smbclient options per mode: signing is AES-GMAC on 3.1.1 (both servers prefer it); each
 *  encrypted mode pins its cipher. */
const MODE_OPTIONS: Record<TransferMode, string[]> = {
  plain: [],
  sign: ['--client-protection=sign'],
  'encrypt-gcm': ['--client-protection=encrypt', '--option=client smb3 encryption algorithms=AES-128-GCM'],
  'encrypt-ccm': ['--client-protection=encrypt', '--option=client smb3 encryption algorithms=AES-128-CCM'],
}
const MODE_LABEL: Record<TransferMode, string> = { plain: '', sign: ', signed (GMAC)', 'encrypt-gcm': ', encrypted AES-128-GCM', 'encrypt-ccm': ', encrypted AES-128-CCM' }

async function transfers (s: Server, ctx: Ctx, mode: TransferMode, out: Figure[]): Promise<void> {
  const label = MODE_LABEL[mode]
  const size = ctx.o.sizeMiB
  const rowW = `seq write ${size >= 1024 ? `${size / 1024} GiB` : `${size} MiB`}${label}`
  const rowR = `seq read ${size >= 1024 ? `${size / 1024} GiB` : `${size} MiB`}${label}`
  if (mode.startsWith('encrypt') && !s.encrypts) {
    const na = 'n/a (encryption not implemented yet)'
    out.push({ row: rowW, unit: 'MiB/s', better: 'higher', value: na }, { row: rowW, unit: 'CPU s/GiB', better: 'lower', value: na },
      { row: rowR, unit: 'MiB/s', better: 'higher', value: na }, { row: rowR, unit: 'CPU s/GiB', better: 'lower', value: na })
    return
  }
  const extra = MODE_OPTIONS[mode]
  const remote = `big-${mode}.bin`
  warmShare(s.dir, size + 64)
  const w = await measured(s, async () => await run('smbclient', [...smbclientArgs(s, extra), '-c', `put ${ctx.srcFile} ${remote}`]))
  check(w.r, `put (${s.name})`)
  const r = await measured(s, async () => await run('smbclient', [...smbclientArgs(s, extra), '-c', `get ${remote} /dev/null`]))
  check(r.r, `get (${s.name})`)
  rmSync(join(s.dir, remote), { force: true })
  const gib = size / 1024
  out.push(
    { row: rowW, unit: 'MiB/s', better: 'higher', value: size / w.r.secs },
    { row: rowW, unit: 'CPU s/GiB', better: 'lower', value: w.cpu / gib },
    { row: rowR, unit: 'MiB/s', better: 'higher', value: size / r.r.secs },
    { row: rowR, unit: 'CPU s/GiB', better: 'lower', value: r.cpu / gib }
  )
}

/** Peak memory during a plain put and get, sampled every 100 ms: untimed, so that reading
 *  /proc/<pid>/smaps_rollup (which takes each process's mmap lock) never runs beside a timed
 *  transfer. */
async function peakMemory (s: Server, ctx: Ctx, out: Figure[]): Promise<void> {
  const remote = 'big-peak.bin'
  const w = await measured(s, async () => await run('smbclient', [...smbclientArgs(s), '-c', `put ${ctx.srcFile} ${remote}`]), true)
  check(w.r, `put (${s.name})`)
  const r = await measured(s, async () => await run('smbclient', [...smbclientArgs(s), '-c', `get ${remote} /dev/null`]), true)
  check(r.r, `get (${s.name})`)
  rmSync(join(s.dir, remote), { force: true })
  const row = `memory, peak during ${ctx.o.sizeMiB >= 1024 ? `${ctx.o.sizeMiB / 1024} GiB` : `${ctx.o.sizeMiB} MiB`} transfers`
  out.push({ row, unit: 'RSS MiB', better: 'lower', value: Math.max(w.peak.rss, r.peak.rss) },
    { row, unit: 'PSS MiB', better: 'lower', value: Math.max(w.peak.pss, r.peak.pss) })
}

/**
 * smbtorture smb2.bench.oplock1 (issue 16): 4 connections open one file with a batch oplock in
 * turn, each open breaking the previous holder's oplock, which the holder acknowledges; the rate
 * of these opens is the rate of oplock breaks served. It prints "N ops/second" at its end.
 */
async function oplockBreaks (s: Server, ctx: Ctx, out: Figure[]): Promise<void> {
  const m = await measured(s, async () => await run('smbtorture', [`//127.0.0.1/${s.share}`, '-p', String(s.port), '-U', `${USER}%${PASS}`,
    'smb2.bench.oplock1', `--option=torture:timelimit=${ctx.o.tortureSecs}`, '--option=torture:nprocs=4']))
  const row = 'smb2.bench.oplock1 (batch oplock breaks), 4 conn'
  const rates = [...(m.r.stdout + m.r.stderr).matchAll(/([\d.]+) ops\/second\n/g)].map(x => Number(x[1]))
  const ok = m.r.code === 0 && /^success: /m.test(m.r.stdout) && rates.length > 0
  if (!ok) {
    const why = `failed: ${(/^(failure|error): .*/m.exec(m.r.stdout)?.[0] ?? `exit ${m.r.code}`).slice(0, 80)}`
    out.push({ row, unit: 'breaks/s', better: 'higher', value: why })
    return
  }
  const rate = rates[rates.length - 1]!
  out.push({ row, unit: 'breaks/s', better: 'higher', value: rate },
    { row, unit: 'CPU s/1k breaks', better: 'lower', value: rate > 0 ? m.cpu / (rate * ctx.o.tortureSecs / 1000) : NaN })
}

/** Sums the per-second `name[num/s=N` counts smbtorture's bench tests print. */
function tortureCounts (text: string, names: string[]): { total: number, perSec: number } {
  let total = 0
  let seconds = 0
  const re = /(\d+\.\d+) second: /g
  for (const m of text.matchAll(re)) seconds = Math.max(seconds, Number(m[1]))
  for (const n of names) for (const m of text.matchAll(new RegExp(`${n}\\[num/s=(\\d+)`, 'g'))) total += Number(m[1])
  return { total, perSec: seconds > 0 ? total / seconds : 0 }
}

async function torture (s: Server, ctx: Ctx, test: 'echo' | 'path-contention-shared', nprocs: number, out: Figure[]): Promise<void> {
  const m = await measured(s, async () => await run('smbtorture', [`//127.0.0.1/${s.share}`, '-p', String(s.port), '-U', `${USER}%${PASS}`,
    `smb2.bench.${test}`, `--option=torture:timelimit=${ctx.o.tortureSecs}`, `--option=torture:nprocs=${nprocs}`]))
  const ok = m.r.code === 0 && /^success: /m.test(m.r.stdout)
  const row = `smb2.bench.${test}, ${nprocs} conn`
  if (!ok) {
    const why = `failed: ${(/^(failure|error): .*/m.exec(m.r.stdout)?.[0] ?? `exit ${m.r.code}`).slice(0, 80)}`
    out.push({ row, unit: 'req/s', better: 'higher', value: why }, { row, unit: 'CPU s/1k req', better: 'lower', value: why })
    return
  }
  // The per-second lines go to stderr, the verdict to stdout.
  const c = tortureCounts(m.r.stdout + m.r.stderr, test === 'echo' ? ['echo'] : ['open', 'close'])
  out.push({ row, unit: 'req/s', better: 'higher', value: c.perSec },
    { row, unit: 'CPU s/1k req', better: 'lower', value: c.total > 0 ? m.cpu / (c.total / 1000) : NaN })
}

async function smallFiles (s: Server, ctx: Ctx, out: Figure[]): Promise<void> {
  const n = ctx.o.smallFiles
  const dir = `small-${process.pid}`
  const phases: Array<[string, string]> = [
    ['create', `mkdir ${dir}; cd ${dir}; prompt off; lcd ${ctx.smallDir}; mput *`],
    ['list', `cd ${dir}; ls`],
    ['delete', `cd ${dir}; del *; cd ..; rmdir ${dir}`],
  ]
  for (const [phase, cmds] of phases) {
    const m = await measured(s, async () => await run('smbclient', [...smbclientArgs(s), '-c', cmds]))
    check(m.r, `${phase} small files (${s.name})`)
    if (phase === 'list') {
      const listed = m.r.stdout.split('\n').filter(l => /^\s+f\d+\.bin\s/.test(l)).length
      if (listed !== n) throw new Error(`list on ${s.name}: ${listed} of ${n} files`)
    }
    const row = `${n} small files: ${phase}`
    out.push({ row, unit: 'files/s', better: 'higher', value: n / m.r.secs },
      { row, unit: 'CPU s/1k files', better: 'lower', value: m.cpu / (n / 1000) })
  }
}

/**
 * How long a server has had no client before its idle rows are read. A server that has just
 * worked still holds what the work took: smbts's buffer pools free what was not taken for 10 s
 * (src/io/buffer-pool.ts) and its idle collection comes within 20 s of the last request
 * (src/io/idle-gc.ts). The last server of one round is the first of the next: measured at once,
 * its "idle" rows were those of its busy round (stop 33: 0.437× of Samba's RSS with 100 idle
 * connections in round 3, against 0.135× in round 1).
 */
const IDLE_AFTER_MS = 25_000

async function idleMemory (s: Server, ctx: Ctx, out: Figure[]): Promise<void> {
  const idle = memOf(s.pid)
  out.push({ row: 'memory idle', unit: 'RSS MiB', better: 'lower', value: idle.rss }, { row: 'memory idle', unit: 'PSS MiB', better: 'lower', value: idle.pss })
  const n = ctx.o.idleConns
  const c = spawn('/usr/bin/python3', [join(repo, 'bench/idle-conns.py'), String(s.port), USER, PASS, String(n)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let so = ''
  let se = ''
  c.stdout.setEncoding('utf8').on('data', (d: string) => { so += d })
  c.stderr.setEncoding('utf8').on('data', (d: string) => { se += d })
  const ready = await new Promise<boolean>((resolve) => {
    const t = setInterval(() => { if (so.includes('ready')) { clearInterval(t); resolve(true) } }, 100)
    c.once('exit', () => { clearInterval(t); resolve(so.includes('ready')) })
  })
  const row = `memory, ${n} idle connections`
  if (!ready) {
    const why = `failed: ${se.trim().split('\n').pop()?.slice(0, 80) ?? ''}`
    out.push({ row, unit: 'RSS MiB', better: 'lower', value: why }, { row, unit: 'PSS MiB', better: 'lower', value: why })
  } else {
    await sleep(500)
    const m = memOf(s.pid)
    out.push({ row, unit: 'RSS MiB', better: 'lower', value: m.rss }, { row, unit: 'PSS MiB', better: 'lower', value: m.pss })
  }
  c.stdin.end()
  await new Promise<void>((resolve) => { if (c.exitCode !== null) resolve(); else c.once('exit', () => { resolve() }) })
  await sleep(500)
}

async function suite (s: Server, ctx: Ctx): Promise<Figure[]> {
  const out: Figure[] = []
  const want = (k: string): boolean => ctx.o.only === undefined || ctx.o.only.has(k)
  if (want('idle')) await idleMemory(s, ctx, out)
  if (want('io')) {
    for (const mode of ['plain', 'sign', 'encrypt-gcm', 'encrypt-ccm'] as const) await transfers(s, ctx, mode, out)
    await peakMemory(s, ctx, out)
  }
  if (want('torture')) {
    for (const test of ['echo', 'path-contention-shared'] as const) for (const n of [1, 4]) await torture(s, ctx, test, n, out)
    await oplockBreaks(s, ctx, out)
  }
  if (want('small')) await smallFiles(s, ctx, out)
  if (want('multi')) await multi(s, ctx, out)
  return out
}

// ---------------------------------------------------------------- machine facts

/**
 * What the ratios depend on, beside the code: two machines of one kind can run different builds
 * of one kernel (a ring stall on one build, issue 11), and on this paravirtualised VM page faults
 * and syscalls cost what a request does (FIELD-NOTES). Measured here, before the servers start.
 */
function machineFacts (): string[] {
  const read = (p: string): string => { try { return readFileSync(p, 'utf8').trim() } catch { return '?' } }
  let config = ''
  try { config = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8') } catch { /* no /proc/config.gz */ }
  const cfg = ['CONFIG_HZ', 'CONFIG_PREEMPT_DYNAMIC', 'CONFIG_PREEMPT_RCU', 'CONFIG_RCU_LAZY', 'CONFIG_NO_HZ_IDLE', 'CONFIG_NO_HZ_FULL']
    .map(k => new RegExp(`^${k}=(.*)$`, 'm').exec(config)?.[0]).filter((l): l is string => l !== undefined)
  // Touching fresh pages (first-touch page faults) and the same pages again.
  const mib = 256
  const touch = (b: Buffer): number => {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < b.length; i += 4096) b[i] = 1
    return mib / (Number(process.hrtime.bigint() - t0) / 1e9)
  }
  const buf = Buffer.allocUnsafeSlow(mib << 20)
  const fresh = touch(buf)
  const reused = touch(buf)
  // One cheap syscall through Node (fstat of fd 0), the wrapper included.
  const n = 100_000
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fstatSync(0)
  const syscallUs = Number(process.hrtime.bigint() - t0) / 1e3 / n
  return [
    `kernel ${sh('uname', ['-r']).trim()} (${sh('uname', ['-v']).trim()})${cfg.length > 0 ? `, ${cfg.join(', ')}` : ''}`,
    `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, clocksource ${read('/sys/devices/system/clocksource/clocksource0/current_clocksource')}, transparent hugepages ${read('/sys/kernel/mm/transparent_hugepage/enabled')}`,
    `page touch: fresh ${fresh.toFixed(0)} MiB/s, reused ${reused.toFixed(0)} MiB/s (one byte per 4 KiB page, ${mib} MiB); fs.fstatSync ${syscallUs.toFixed(2)} µs per call`,
  ]
}

// ---------------------------------------------------------------- report

function median (xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y)
  const m = a.length >> 1
  return a.length % 2 === 1 ? a[m] : (a[m - 1] + a[m]) / 2
}

function fmt (v: number): string {
  if (!Number.isFinite(v)) return '—'
  if (Math.abs(v) >= 100) return v.toFixed(0)
  if (Math.abs(v) >= 10) return v.toFixed(1)
  if (Math.abs(v) >= 1) return v.toFixed(2)
  return v.toFixed(3)
}

/** What is benchmarked, read when the servers start (the tree may change while the bench runs). */
function sourceState (): { commit: string, dirty: boolean } {
  const commit = sh('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { allowFail: true }).trim()
  const dirty = sh('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no', 'src', 'native'], { allowFail: true }).trim() !== ''
  return { commit, dirty }
}

function report (o: Opts, servers: string[], results: Map<string, Figure[][]>, started: Date, secs: number, source: { commit: string, dirty: boolean }, facts: string[], abouts: Map<string, string[]>): string {
  const samba = 'Samba'
  const smbtsCols = servers.filter(s => s !== samba)
  const key = (f: Figure): string => `${f.row}\u0000${f.unit}`
  const rows: Figure[] = []
  const seen = new Set<string>()
  for (const runs of results.values()) for (const r of runs) for (const f of r) if (!seen.has(key(f))) { seen.add(key(f)); rows.push(f) }
  const cell = (server: string, k: string): number | string => {
    const vals = (results.get(server) ?? []).map(r => r.find(f => key(f) === k)?.value).filter(v => v !== undefined)
    const nums = vals.filter((v): v is number => typeof v === 'number')
    if (nums.length > 0) return median(nums)
    return (vals[0] as string | undefined) ?? '—'
  }
  const head = ['workload', 'figure', ...servers, ...smbtsCols.map(c => `${c} / Samba`)]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const f of rows) {
    const k = key(f)
    const vals = servers.map(s => cell(s, k))
    const sv = cell(samba, k)
    const ratios = smbtsCols.map(c => {
      const v = cell(c, k)
      return typeof v === 'number' && typeof sv === 'number' && sv !== 0 && Number.isFinite(v / sv) ? `${fmt(v / sv)}×` : '—'
    })
    lines.push(`| ${f.row} | ${f.unit} (${f.better} is better) | ${vals.map(v => typeof v === 'number' ? fmt(v) : v).join(' | ')} | ${ratios.join(' | ')} |`)
  }
  /** The figure of each round, in round order (undefined where a round has none). */
  const rounds = (server: string, k: string): Array<number | undefined> =>
    (results.get(server) ?? []).map(r => { const v = r.find(f => key(f) === k)?.value; return typeof v === 'number' ? v : undefined })
  const targetLines = targets(rows, key, cell, rounds, smbtsCols[0] ?? 'smbts', samba)
  const { commit, dirty } = source
  const smbdVersion = sh('smbd', ['--version'], { allowFail: true }).trim()
  const nodeVersion = sh(join(repo, 'node_modules/.bin/node'), ['--version'], { allowFail: true }).trim()
  return [
    '# smbts vs Samba, side by side',
    '',
    `Generated by \`npm run bench${o.quick ? ' -- --quick' : ''}\` (bench/side-by-side.ts) on ${started.toISOString()}, ${fmt(secs / 60)} min.`,
    '',
    '- Machine (what the ratios depend on beside the code):',
    ...facts.map(f => `  - ${f}`),
    '  **The 2 cores are shared between the server under test and the client (smbclient/smbtorture)**, and with',
    '  whatever else runs on the machine: throughput is bounded by the client as much as by the server, and figures',
    '  are noisy (FIELD-NOTES: distrust differences under 20%).',
    `- smbts ${commit}${dirty ? ' (with uncommitted changes in src/ or native/)' : ''}, Node ${nodeVersion}; ${smbdVersion}.`,
    `- Variants: ${servers.map(s => `**${s}**`).join(', ')}. "smbts" is the default start (one worker process per core, io_uring when available, the ring its start-up self-check chose); "smbts (uring-plain)" is a ring without DEFER_TASKRUN (\`SMBTS_RING=plain\`); "smbts (net)" is \`--no-uring\` (node:net + node:fs); "smbts (w1)" and "smbts (w2)" are \`--workers 1\` (one process, no supervisor) and \`--workers 2\`.`,
    ...[...abouts].filter(([, a]) => a.length > 0).map(([name, a]) => `  - ${name}: ${a.join('; ')}`),
    ...(o.smbtsOptions.length > 0 ? [`  - every smbts variant with, in [global]: ${o.smbtsOptions.map(l => `\`${l}\``).join(', ')}`] : []),
    `- ${o.rounds} round(s), servers alternating order each round (A B A B …); each cell is the median over rounds.`,
    `- Share on one tmpfs for every server; smbclient on SMB3_11 (put from a file on the same tmpfs, get to /dev/null; before each timed put the tmpfs is warmed: a file of the put's size written and deleted, see warmShare); smbtorture ${o.tortureSecs} s per run (torture:timelimit, torture:nprocs = connections); small files: smbclient \`mput\`/\`ls\`/\`del *\` of ${o.smallFiles} × 1 KiB files.`,
    '- CPU: utime+stime of every server process (smbd: the parent, its live children and its reaped children\'s cutime/cstime), /proc/<pid>/stat. Request counts are what smbtorture reports (echo; open+close).',
    `- Memory: summed over the server's processes (RSS counts shared pages once per smbd process, PSS divides them); idle = no client for ${IDLE_AFTER_MS / 1000} s (a server measured right after its own previous round waits that long first); ${o.idleConns} idle connections = NEGOTIATE + SESSION_SETUP each (impacket, SMB 3.0); peak = highest 100 ms sample during an extra, untimed put and get (the timed transfers run with no sampler reading /proc beside them).`,
    ...(o.note !== '' ? ['', o.note] : []),
    '',
    ...lines,
    '',
    '## Against the targets (issue 3)',
    '',
    `Each figure of **${smbtsCols[0] ?? 'smbts'}** against its target, from the medians above; beside it, the ratio in each round (both servers ran in the same round, one after the other), to show how far the noise of this machine moves it.`,
    '',
    ...targetLines,
    '',
  ].join('\n')
}

/**
 * Issue 3's targets, checked figure by figure: server CPU per GiB of sequential transfer at most
 * 2/3 of Samba's; every throughput, request rate, open/close rate and small-file rate at least
 * Samba's; RSS with the idle connections under 150 MiB.
 */
function targets (rows: Figure[], key: (f: Figure) => string, cell: (server: string, k: string) => number | string,
  rounds: (server: string, k: string) => Array<number | undefined>, smbts: string, samba: string): string[] {
  const out = ['| target | figure | smbts | Samba | smbts / Samba | met | smbts / Samba in each round |', '|---|---|---|---|---|---|---|']
  let met = 0
  let total = 0
  for (const f of rows) {
    const k = key(f)
    const v = cell(smbts, k)
    const sv = cell(samba, k)
    if (typeof v !== 'number') continue
    let target: string | undefined
    let ok = false
    const ratio = typeof sv === 'number' && sv > 0 ? v / sv : NaN
    if (f.unit === 'CPU s/GiB') { target = 'CPU ≤ 2/3 of Samba'; ok = ratio <= 2 / 3 } else if (f.unit === 'MiB/s' || f.unit === 'req/s' || f.unit === 'files/s') { target = '≥ Samba'; ok = ratio >= 1 } else if (f.unit === 'RSS MiB' && /idle connections/.test(f.row)) { target = 'RSS < 150 MiB'; ok = v < 150 }
    if (target === undefined) continue
    total++
    if (ok) met++
    const mine = rounds(smbts, k)
    const theirs = rounds(samba, k)
    const each = mine.map((m, i) => { const t = theirs[i]; return m !== undefined && t !== undefined && t > 0 ? fmt(m / t) : '—' }).join(', ')
    out.push(`| ${target} | ${f.row}, ${f.unit} | ${fmt(v)} | ${typeof sv === 'number' ? fmt(sv) : sv} | ${Number.isFinite(ratio) ? `${fmt(ratio)}×` : '—'} | ${ok ? 'yes' : '**no**'} | ${each} |`)
  }
  out.push('', `${met} of ${total} targets met in this run.`)
  return out
}

// ---------------------------------------------------------------- main

async function main (): Promise<void> {
  const o = parseArgs(process.argv.slice(2))
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (tmpfs mount, a Unix user for smbd)')
  if (o.build) { process.stderr.write('building...\n'); sh('bash', [join(repo, 'scripts/build.sh')]) }
  if (!existsSync(join(repo, 'dist/cli/main.js'))) throw new Error('dist/ is not built: npm run build')
  if (spawnSync('id', [USER]).status !== 0) sh('useradd', ['-M', '-s', '/usr/sbin/nologin', USER])

  const work = mkdtempSync(join(tmpdir(), 'smbts-bench-'))
  chmodSync(work, 0o755)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const tmpfsMiB = o.sizeMiB * (o.variants.length + 3) + 512
  sh('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsMiB}m,mode=755`, 'tmpfs', mnt])
  const facts = machineFacts()
  const floor = writeFloor(work, mnt, Math.min(o.sizeMiB, 1024))
  if (floor !== undefined) facts.push(floor)
  const readFl = readFloor(work, mnt, Math.min(o.sizeMiB, 1024))
  if (readFl !== undefined) facts.push(readFl)
  const servers: Server[] = []
  const started = new Date()
  const source = sourceState()
  const cleanup = async (): Promise<void> => {
    for (const s of servers) await s.stop().catch(() => {})
    // smbd's helpers (notifyd, cleanupd) outlive the parent for a moment and keep the mount busy.
    let unmounted = false
    for (let i = 0; i < 50 && !unmounted; i++) {
      unmounted = spawnSync('umount', [mnt]).status === 0
      if (!unmounted) await sleep(200)
    }
    if (!unmounted) unmounted = spawnSync('umount', ['-l', mnt]).status === 0
    if (unmounted) rmSync(work, { recursive: true, force: true })
    else process.stderr.write(`bench: could not unmount ${mnt}; remove it by hand\n`)
  }
  process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)) })
  try {
    // The client's source file (on the tmpfs, so the client side does not touch a disk) and the small files.
    const srcFile = join(mnt, 'src.bin')
    const fd = openSync(srcFile, 'w')
    const chunk = Buffer.alloc(1 << 20)
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i)
    for (let i = 0; i < o.sizeMiB; i++) { chunk.writeUInt32LE(i, 0); writeSync(fd, chunk) }
    closeSync(fd)
    const smallDir = join(mnt, 'small-src')
    mkdirSync(smallDir)
    for (let i = 0; i < o.smallFiles; i++) writeFileSync(join(smallDir, `f${i}.bin`), chunk.subarray(i % 1000, i % 1000 + 1024))

    let port = 14450 + (process.pid % 1000)
    for (const v of o.variants) servers.push(await startSmbts(work, mnt, v, port++, o.smbtsOptions))
    servers.push(await startSamba(work, mnt, port++))
    await sleep(1000)
    const ctx: Ctx = { o, work, srcFile, smallDir, shim: o.only === undefined || o.only.has('multi') ? buildShim(work) : undefined }
    const results = new Map<string, Figure[][]>()
    // When each server last had a client (its start-up counts), for the idle rows.
    const lastClient = new Map(servers.map(s => [s, Date.now()]))
    for (let round = 0; round < o.rounds; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse()
      for (const s of order) {
        process.stderr.write(`round ${round + 1}/${o.rounds}: ${s.name}...\n`)
        if (o.only === undefined || o.only.has('idle')) await sleep(Math.max(0, lastClient.get(s)! + IDLE_AFTER_MS - Date.now()))
        const figs = await suite(s, ctx)
        lastClient.set(s, Date.now())
        results.set(s.name, [...(results.get(s.name) ?? []), figs])
      }
    }
    const secs = (Date.now() - started.getTime()) / 1000
    const md = report(o, servers.map(s => s.name), results, started, secs, source, facts, new Map(servers.map(s => [s.name, s.about ?? []])))
    writeFileSync(o.out, md)
    if (o.raw !== undefined) writeFileSync(o.raw, JSON.stringify(Object.fromEntries(results), null, 1))
    process.stdout.write(md)
    process.stderr.write(`wrote ${o.out}\n`)
  } finally {
    await cleanup()
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`)
  process.exit(1)
})
