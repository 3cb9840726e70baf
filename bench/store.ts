// The state store's candidates side by side, behind one update(key, fn) (read the record, change
// it, write it back, under a lock every process respects), each holding the same ~200-byte JSON
// record (docs/state-store.md reads the result):
//
//   shm      the native shared store (native/src/shmstore.c through ShmRecordDb) on /dev/shm
//   lmdb     LMDB (npm lmdb) on /dev/shm, noSync: one transactionSync per update
//   lockmgr  a lock-manager process owning a Map; each update asks it over a unix stream socket
//            (LOCK, answered with the value; then PUT/DEL/UNLOCK, unanswered)
//   memory   MemoryRecordDb, the one-process server's Maps (single-process rows only)
//
// Each row runs with the record as JSON (jsonCodec) and as fixed bytes (no JSON: the store's own
// cost). Rows: (1) latency of one update in one process, median and p99; (2) updates of ONE key from
// TWO processes at once, total per second (the final count is checked against the sum); (3) three
// updates on three keys, what a CREATE+CLOSE does to the store; (4) a process SIGKILLed inside an
// update: how long the other process's waiting update takes from the kill, and what it sees.
//
//   bash scripts/build.sh && node bench/store.ts [--quick]
//
// Runs under Node 24 (type stripping) on the built dist/ (`#dist/`: package.json "imports");
// ~20 s on 2 cores. It spawns itself for the second processes (`node bench/store.ts child ...`).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { createServer, createConnection, type Socket } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open as lmdbOpen, type RootDatabase } from 'lmdb'
import { MemoryRecordDb, ShmRecordDb, UNCHANGED, jsonCodec, type Codec, type Update } from '#dist/locking/record-db.js'

const SELF = fileURLToPath(import.meta.url)

interface Rec { n: number, opens: Array<{ access: number, share: number, lease: string, worker: number }>, deletePending: boolean }
type Fn = (old: Rec | undefined) => Update<Rec>

const record = (n: number): Rec => ({
  n,
  opens: [
    { access: 0x12019f, share: 7, lease: '00000000-0000-0000-0000-00000000abcd', worker: 1 },
    { access: 0x120089, share: 3, lease: '', worker: 2 },
  ],
  deletePending: false,
})
const json = jsonCodec<Rec>()
const RECORD_BYTES = json.encode(record(123456)).length
// The same record as fixed bytes with the count in front: what the store costs without JSON (a
// binary codec the hot records could have). Decoding reads the count only.
const TEMPLATE = Buffer.alloc(RECORD_BYTES, 0x20)
const binary: Codec<Rec> = {
  encode (v) {
    const b = Buffer.allocUnsafe(RECORD_BYTES)
    TEMPLATE.copy(b)
    b.writeInt32LE(v.n, 0)
    return b
  },
  decode (b) { return { n: b.readInt32LE(0), opens: [], deletePending: false } },
}
const codecs: Record<string, Codec<Rec>> = { json, binary }
let codec = json

/** One candidate: update() is synchronous except for the lock manager's (a round trip). */
interface Backend {
  update (key: string, fn: Fn): void | Promise<void>
  close (): void
}

const bump: Fn = old => {
  if (old === undefined) return record(1)
  old.n++
  return old
}

// ---------------------------------------------------------------- lmdb

function lmdbBackend (path: string): Backend & { raw: RootDatabase<Buffer, string> } {
  const db: RootDatabase<Buffer, string> = lmdbOpen({
    path, noSync: true, noMetaSync: true, overlappingSync: false, encoding: 'binary', mapSize: 256 << 20, noMemInit: true,
  })
  return {
    update (key, fn) {
      db.transactionSync(() => {
        const b = db.getBinary(key)
        const next = fn(b === undefined ? undefined : codec.decode(b))
        if (next === UNCHANGED) return
        if (next === undefined) db.removeSync(key)
        else db.putSync(key, codec.encode(next))
      })
    },
    close () { void db.close() },
    raw: db,
  }
}

// ---------------------------------------------------------------- lock manager

// Frames: u32 length of the rest, u8 op, u16 key length, key, value.
const LOCK = 1; const PUT = 2; const DEL = 3; const UNLOCK = 4
// Replies to LOCK: u32 length of the rest, u8 1 (a value follows) or 0 (none), value.

function frame (op: number, key: string, value?: Buffer): Buffer {
  const k = Buffer.from(key)
  const b = Buffer.allocUnsafe(7 + k.length + (value?.length ?? 0))
  b.writeUInt32LE(b.length - 4, 0)
  b[4] = op
  b.writeUInt16LE(k.length, 5)
  k.copy(b, 7)
  value?.copy(b, 7 + k.length)
  return b
}

/** Calls onFrame with each complete frame's body (after its length). */
function framer (onFrame: (body: Buffer) => void): (d: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0)
  return d => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d])
    while (pending.length >= 4) {
      const len = pending.readUInt32LE(0)
      if (pending.length < 4 + len) break
      onFrame(pending.subarray(4, 4 + len))
      pending = pending.subarray(4 + len)
    }
  }
}

function runLockManager (sockPath: string): void {
  const values = new Map<string, Buffer>()
  const locks = new Map<string, { owner: Socket, waiters: Socket[] }>()
  const reply = (s: Socket, key: string): void => {
    const v = values.get(key)
    const b = Buffer.allocUnsafe(5 + (v?.length ?? 0))
    b.writeUInt32LE(b.length - 4, 0)
    b[4] = v === undefined ? 0 : 1
    v?.copy(b, 5)
    s.write(b)
  }
  const release = (key: string): void => {
    const l = locks.get(key)!
    const next = l.waiters.shift()
    if (next === undefined) locks.delete(key)
    else { l.owner = next; reply(next, key) }
  }
  const server = createServer(s => {
    const held = new Set<string>()
    s.on('data', framer(body => {
      const op = body[0]
      const klen = body.readUInt16LE(1)
      const key = body.toString('utf8', 3, 3 + klen)
      if (op === LOCK) {
        const l = locks.get(key)
        held.add(key)
        if (l === undefined) { locks.set(key, { owner: s, waiters: [] }); reply(s, key) } else l.waiters.push(s)
        return
      }
      if (locks.get(key)?.owner !== s) { s.destroy(); return }
      if (op === PUT) values.set(key, Buffer.from(body.subarray(3 + klen)))
      else if (op === DEL) values.delete(key)
      held.delete(key)
      release(key)
    }))
    // A client gone (dead, or closed): its locks are released with nothing written.
    s.on('close', () => {
      for (const key of held) {
        const l = locks.get(key)
        if (l === undefined) continue
        l.waiters = l.waiters.filter(w => w !== s)
        if (l.owner === s) release(key)
      }
    })
    s.on('error', () => {})
  })
  server.listen(sockPath, () => writeSync(1, 'listening\n'))
}

async function lockmgrBackend (sockPath: string): Promise<Backend> {
  const sock = createConnection(sockPath)
  sock.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
  const waiting: Array<(v: Buffer | undefined) => void> = []
  sock.on('data', framer(body => waiting.shift()!(body[0] === 1 ? body.subarray(1) : undefined)))
  return {
    async update (key, fn) {
      const v = await new Promise<Buffer | undefined>(resolve => { waiting.push(resolve); sock.write(frame(LOCK, key)) })
      let next: Update<Rec>
      try {
        next = fn(v === undefined ? undefined : codec.decode(v))
      } catch (e) {
        sock.write(frame(UNLOCK, key))
        throw e
      }
      sock.write(next === UNCHANGED ? frame(UNLOCK, key) : next === undefined ? frame(DEL, key) : frame(PUT, key, codec.encode(next)))
    },
    close () { sock.end() },
  }
}

// ---------------------------------------------------------------- backends by name

interface Env { shmPath: string, lmdbPath: string, sockPath: string }

async function backend (name: string, env: Env): Promise<Backend> {
  if (name === 'shm') return ShmRecordDb.open<Rec>(env.shmPath, { codec })
  if (name === 'lmdb') return lmdbBackend(env.lmdbPath)
  if (name === 'lockmgr') return await lockmgrBackend(env.sockPath)
  if (name === 'memory') return new MemoryRecordDb<Rec>()
  throw new Error(`unknown backend ${name}`)
}

// ---------------------------------------------------------------- child processes

async function child (role: string, name: string, envJson: string, arg: string, codecName: string): Promise<void> {
  const env = JSON.parse(envJson) as Env
  codec = codecs[codecName]
  if (role === 'lockmgr') { runLockManager(env.sockPath); return }
  const b = await backend(name, env)
  if (role === 'hammer') {
    // Wait for "go" (both processes start together), then update one key for `arg` ms.
    writeSync(1, 'ready\n')
    await new Promise(resolve => process.stdin.once('data', resolve))
    const end = performance.now() + Number(arg)
    let n = 0
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) {
        const r = b.update('hot', bump)
        if (r !== undefined) await r
      }
      n += 64
    }
    b.close()
    writeSync(1, `${n}\n`)
    process.exit(0)
  }
  if (role === 'die') {
    // Inside an update of 'victim', having changed it (and, for LMDB, written it in the open
    // transaction), say so and wait to be killed.
    const r = b.update('victim', old => {
      const next = record(-1)
      if ('raw' in b) (b.raw as RootDatabase<Buffer, string>).putSync('victim', codec.encode(next))
      if (old !== undefined) old.n = -1
      writeSync(1, 'holding\n')
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000)
      return next
    })
    if (r !== undefined) {
      // The lock manager's update gets its value after a round trip: the function runs then.
      await r
    }
    process.exit(3)
  }
}

function spawnChild (role: string, name: string, env: Env, arg = ''): { proc: ChildProcess, line: () => Promise<string> } {
  const proc = spawn(process.execPath, ['--no-warnings', SELF, 'child', role, name, JSON.stringify(env), arg, codec === json ? 'json' : 'binary'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines: string[] = []
  const wake: Array<() => void> = []
  let rest = ''
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (rest + d).split('\n')
    rest = parts.pop()!
    lines.push(...parts)
    wake.splice(0).forEach(w => w())
  })
  const line = async (): Promise<string> => {
    while (lines.length === 0) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child ${role} ${name} exited`)
      await new Promise<void>(resolve => { wake.push(resolve); setTimeout(resolve, 100) })
    }
    return lines.shift()!
  }
  return { proc, line }
}

// ---------------------------------------------------------------- measurements

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]

async function latency (b: Backend, n: number, keysPer: number): Promise<{ median: number, p99: number }> {
  const keys = Array.from({ length: 1000 }, (_, i) => `share\0${1_000_000 + i}`)
  for (const k of keys) { const r = b.update(k, () => record(0)); if (r !== undefined) await r }
  const us: number[] = []
  for (let i = 0; i < n + 2000; i++) {
    const t0 = performance.now()
    for (let j = 0; j < keysPer; j++) {
      const r = b.update(keys[(i * keysPer + j) % keys.length], bump)
      if (r !== undefined) await r
    }
    if (i >= 2000) us.push((performance.now() - t0) * 1000)
  }
  us.sort((a, c) => a - c)
  for (const k of keys) { const r = b.update(k, () => undefined); if (r !== undefined) await r }
  return { median: pct(us, 0.5), p99: pct(us, 0.99) }
}

async function twoProcesses (name: string, env: Env, ms: number): Promise<{ opsPerSec: number, exact: boolean, share: number }> {
  const b = await backend(name, env)
  const r0 = b.update('hot', () => record(0))
  if (r0 !== undefined) await r0
  const kids = [spawnChild('hammer', name, env, String(ms)), spawnChild('hammer', name, env, String(ms))]
  for (const k of kids) if (await k.line() !== 'ready') throw new Error('child not ready')
  for (const k of kids) k.proc.stdin!.end('go\n')
  const counts = await Promise.all(kids.map(async k => Number(await k.line())))
  await Promise.all(kids.map(async k => await new Promise(resolve => k.proc.exitCode !== null ? resolve(0) : k.proc.once('exit', resolve))))
  let final = -1
  const r1 = b.update('hot', old => { final = old?.n ?? -1; return undefined })
  if (r1 !== undefined) await r1
  b.close()
  const total = counts[0] + counts[1]
  return { opsPerSec: total / (ms / 1000), exact: final === total, share: Math.min(...counts) / total }
}

async function death (name: string, env: Env): Promise<{ ms: number, seen: string }> {
  const b = await backend(name, env)
  const r0 = b.update('victim', () => record(41))
  if (r0 !== undefined) await r0
  const k = spawnChild('die', name, env)
  if (await k.line() !== 'holding') throw new Error('child did not take the lock')
  const t0 = performance.now()
  k.proc.kill('SIGKILL')
  let seen = 'nothing'
  const r = b.update('victim', old => { seen = old === undefined ? 'no record' : old.n === 41 ? 'the value from before' : `n=${old.n}`; return UNCHANGED })
  if (r !== undefined) await r
  const ms = performance.now() - t0
  b.close()
  return { ms, seen }
}

// ---------------------------------------------------------------- main

/** What the JSON codec alone costs per update (one decode and one encode of the record). */
function codecUs (): number {
  const rec = record(5)
  const n = 100_000
  let t0 = 0
  for (let r = 0; r < 2; r++) {
    t0 = performance.now()
    for (let i = 0; i < n; i++) json.encode(json.decode(json.encode(rec)))
  }
  // Two encodes and a decode were timed: take one encode off.
  const both = (performance.now() - t0) * 1000 / n
  t0 = performance.now()
  for (let i = 0; i < n; i++) json.encode(rec)
  return both - (performance.now() - t0) * 1000 / n
}

function lmdbVersion (): string {
  try {
    return (JSON.parse(readFileSync(fileURLToPath(import.meta.resolve('lmdb')).replace(/dist\/.*$|[^/]*$/, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}

function machine (): string[] {
  const sh = (c: string, a: string[]): string => spawnSync(c, a, { encoding: 'utf8' }).stdout?.trim() ?? '?'
  return [
    `kernel ${sh('uname', ['-r'])} (${sh('uname', ['-v'])})`,
    `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`,
    `record: ${RECORD_BYTES} bytes of JSON (jsonCodec: encode + decode ${codecUs().toFixed(2)} µs of each update); lmdb ${lmdbVersion()}`,
  ]
}

async function main (): Promise<void> {
  const quick = process.argv.includes('--quick')
  const N = quick ? 5_000 : 20_000
  const HAMMER_MS = quick ? 500 : 1500
  const DEATHS = quick ? 1 : 5
  const dir = mkdtempSync(join(tmpdir(), 'smbts-storebench-'))
  const shmDir = mkdtempSync('/dev/shm/smbts-storebench-')
  const env: Env = { shmPath: join(shmDir, 'store'), lmdbPath: join(shmDir, 'lmdb'), sockPath: join(dir, 'lockmgr.sock') }
  const owner = ShmRecordDb.create<Rec>(env.shmPath, { sizeBytes: 64 << 20 })
  const mgr = spawnChild('lockmgr', '-', env)
  if (await mgr.line() !== 'listening') throw new Error('lock manager did not start')
  try {
    for (const l of machine()) console.log(`# ${l}`)
    const names = ['shm', 'lmdb', 'lockmgr']
    const rows: string[][] = []
    for (const c of ['json', 'binary']) {
      codec = codecs[c]
      const one: Record<string, string> = {}
      const three: Record<string, string> = {}
      for (const name of [...names, 'memory']) {
        const b = await backend(name, env)
        const l = await latency(b, N, 1)
        const t = await latency(b, Math.floor(N / 3), 3)
        b.close()
        one[name] = `${l.median.toFixed(2)} / ${l.p99.toFixed(2)}`
        three[name] = t.median.toFixed(2)
      }
      const two: Record<string, string> = {}
      for (const name of names) {
        const r = await twoProcesses(name, env, HAMMER_MS)
        two[name] = `${Math.round(r.opsPerSec).toLocaleString('en-US')} (${Math.round(r.share * 100)}% by the slower)${r.exact ? '' : ' (COUNT WRONG)'}`
      }
      rows.push([`(1) one update, one process, ${c}: median / p99 µs`, ...names.map(n => one[n]), one.memory])
      rows.push([`(2) one key, two processes, ${c}: updates/s in all (the slower one's part)`, ...names.map(n => two[n]), '-'])
      rows.push([`(3) CREATE+CLOSE = 3 updates, one process, ${c}: median µs`, ...names.map(n => three[n]), three.memory])
    }
    codec = json
    const dead: Record<string, string> = {}
    for (const name of names) {
      const tries: number[] = []
      const seen = new Set<string>()
      for (let i = 0; i < DEATHS; i++) {
        const r = await death(name, env)
        tries.push(r.ms)
        seen.add(r.seen)
      }
      tries.sort((a, c) => a - c)
      dead[name] = `${pct(tries, 0.5).toFixed(1)} ms (max ${tries.at(-1)!.toFixed(1)}), ${[...seen].join('; ')}`
    }
    rows.push([`(4) holder SIGKILLed in an update, ${DEATHS} times: kill → the other's update done, median; it sees`, ...names.map(n => dead[n]), '-'])
    const head = ['', 'shm (native)', 'lmdb', 'lockmgr (unix socket)', 'memory (1 process)']
    console.log(`| ${head.join(' | ')} |`)
    console.log(`|${head.map(() => '---').join('|')}|`)
    for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  } finally {
    mgr.proc.kill()
    owner.close()
    rmSync(shmDir, { recursive: true, force: true })
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'child') await child(process.argv[3], process.argv[4], process.argv[5], process.argv[6], process.argv[7])
else await main()
