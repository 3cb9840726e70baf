// The supervisor (ARCHITECTURE "Steering" and "Processes"): with `server workers = N` it holds,
// for each listen address, N listening sockets on one port (SO_REUSEPORT), the SK_REUSEPORT
// program (bpf/steer.bpf.o) that sends every connection of one client address to the same one of
// them, and N worker processes, worker i serving socket i. It serves no client itself.
//
// The supervisor keeps its copy of every listener open for its whole life. That is what makes a
// worker's death cheap: its socket stays in the reuseport group and in slot i of the program's
// sockarray (the kernel drops a socket from the array only when it is closed for good), so the
// clients the program picks for slot i still complete their handshake and wait in that socket's
// accept queue until the slot's next worker — started at once, generation + 1 — accepts them. No
// slot is ever re-put, and no client is moved to another worker behind its back.
//
// Without the program (no CAP_BPF, no object file, the kernel refuses it, or --no-bpf) the
// sockets still share the port through the kernel's own reuseport hash of the 4-tuple: every
// connection is served, but one client's connections may meet different workers. The log says so.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { Logger } from '../control/log.js'
import { publishEvent } from '../control/channels.js'
import { native, nativeAvailable, nativeLoadError } from '../io/native.js'
import { loadSteering, SMBTS_MAX_WORKERS, SteeringError, type Steering, type SteerStats } from './steer.js'
import type { PeerMessage, WorkerEvent } from './messenger.js'
import { LiveTable, STORE_MESSAGE, STORE_SIZE_BYTES, storePath } from './worker-store.js'
import { LockingStore, type LockRecord } from '../locking/store.js'
import { ShmRecordDb } from '../locking/record-db.js'
import { lockRecordCodec } from '../locking/record-codec.js'
import {
  encodeWorkerSpec, FIRST_LISTEN_FD, WORKER_ENV, workerTag,
  type FromWorker, type InheritedListener, type ToWorker, type WorkerServerOptions, type WorkerSpec
} from './worker.js'

export interface SupervisorOptions {
  /** 2..SMBTS_MAX_WORKERS (1 needs no supervisor, but works). */
  workers: number
  /** Listen addresses (listenHosts); a name is resolved once, here. */
  hosts: string[]
  /** 0: the kernel picks one for the first socket, and every other socket takes the same. */
  port: number
  /** false: --no-bpf; the kernel's reuseport hash spreads connections. */
  bpf: boolean
  /** The steering object (default: bpf/steer.bpf.o of this package). */
  bpfObject?: string
  log: Logger
  /** How to start a worker: a program and its arguments (the smbts CLI's hidden `worker` command). */
  command: { file: string, args: string[] }
  /** Passed to every worker's startServer. */
  server: WorkerServerOptions
  env?: NodeJS.ProcessEnv
  /** Where the workers' output goes, line by line (default: straight to this process's stderr). */
  workerOutput?: (line: string) => void
  /** Where the private run directory is made (default: /run/smbts-workers as root, else the temp dir). */
  runDirParent?: string
  /** How long the first start of every worker may take (default 60 s). */
  startTimeoutMs?: number
  /** How long a worker may take to close before it is killed (default 15 s). */
  stopTimeoutMs?: number
  /** A worker's request record or event (while the control mount watches them). */
  onPublished?: (slot: number, channel: 'request' | 'event', data: unknown) => void
}

export interface WorkerStatus {
  slot: number
  generation: number
  pid: number | undefined
  ready: boolean
}

export interface Supervisor {
  readonly port: number
  readonly runDir: string
  /** Client affinity: on when the steering program is attached to every listen address's group. */
  readonly affinity: { on: true } | { on: false, reason: string }
  workers (): WorkerStatus[]
  /** The steering program's counters summed over listen addresses (undefined: not attached). */
  steeringStats (): SteerStats | undefined
  /** Every live worker re-reads the configuration and the user database. */
  reload (): void
  /**
   * An order every worker keeps (the control mount's debug components, its watches): sent to
   * every ready worker now, and to each worker that becomes ready later; a later order of the
   * same kind replaces it.
   */
  setSticky (m: ToWorker): void
  /** Each ready worker's answer to `collect` (stats or status); one that does not answer in time is left out. */
  collect (kind: 'stats' | 'status', timeoutMs?: number): Promise<unknown[]>
  /** Stops every worker, then closes the listeners and removes the run directory. */
  close (): Promise<void>
}

/** A worker that dies sooner than this after its start counts as crash-looping: its restart waits. */
const HEALTHY_MS = 5_000
const RESTART_DELAY_MAX_MS = 10_000

interface Slot {
  slot: number
  generation: number
  proc?: ChildProcess
  ready: boolean
  startedAt: number
  /** Consecutive deaths within HEALTHY_MS of a start. */
  quickDeaths: number
  restartTimer?: NodeJS.Timeout
  /** Resolves when the current process has exited (closing waits for it). */
  exited?: Promise<void>
}

function defaultRunDirParent (): string {
  // Not /run/smbts: the control mount (DEFAULT_CONTROL_DIR) would cover it.
  if (process.getuid?.() === 0 && existsSync('/run')) return '/run/smbts-workers'
  return tmpdir()
}

async function numericHost (host: string): Promise<string> {
  if (isIP(host.split('%')[0]!) !== 0) return host
  return (await lookup(host)).address
}

function lines (stream: Readable | null, sink: (line: string) => void): void {
  if (stream === null) return
  let partial = ''
  stream.setEncoding('utf8').on('data', (d: string) => {
    const all = (partial + d).split('\n')
    partial = all.pop()!
    for (const l of all) sink(l)
  })
  stream.on('end', () => { if (partial !== '') sink(partial) })
}

/** Run directories of supervisors that were killed (their pid is gone): nothing else removes them. */
function removeStaleRunDirs (parent: string, log: Logger): void {
  let names: string[]
  try { names = readdirSync(parent) } catch { return }
  for (const name of names) {
    const pid = /^workers-(\d+)-/.exec(name)?.[1]
    if (pid === undefined || Number(pid) === process.pid) continue
    try { process.kill(Number(pid), 0); continue } catch (e) { if ((e as NodeJS.ErrnoException).code === 'EPERM') continue }
    try {
      rmSync(join(parent, name), { recursive: true, force: true })
      log.info(`removed ${join(parent, name)}, left by a supervisor that is gone`)
    } catch { /* not ours to remove */ }
  }
}

function closeFds (fds: number[]): void {
  for (const fd of fds) { try { closeSync(fd) } catch { /* already closed */ } }
}

/**
 * Makes the listeners, attaches the steering program, starts every worker and resolves once all
 * of them serve. Fails (and undoes everything) when a socket cannot be made or a worker's first
 * start fails.
 */
export async function startSupervisor (opts: SupervisorOptions): Promise<Supervisor> {
  const { log, workers: count } = opts
  if (!Number.isInteger(count) || count < 1 || count > SMBTS_MAX_WORKERS) throw new RangeError(`workers must be an integer in 1..${SMBTS_MAX_WORKERS}, got ${count}`)
  if (!nativeAvailable) {
    // The listeners must be sockets libuv never watches (or the supervisor would accept clients).
    throw new Error(`worker processes need the native addon (${nativeLoadError?.message ?? 'not built'}); run npm run build, or start with --workers 1`)
  }

  // One socket per worker and listen address; the first picks the port when it is 0.
  const groups: Array<{ host: string, fds: number[] }> = []
  let port = opts.port
  try {
    for (const host of opts.hosts) {
      const addr = await numericHost(host)
      const fds: number[] = []
      groups.push({ host, fds })
      for (let i = 0; i < count; i++) {
        const l = native.listenTcp(addr, port, 511, 1)
        fds.push(l.fd)
        port = l.port
      }
      log.info(`listening on ${host}:${port}: ${count} sockets (SO_REUSEPORT), one per worker`)
    }
  } catch (e) {
    closeFds(groups.flatMap(g => g.fds))
    throw e
  }

  // Client affinity: the program in each group, slot i = worker i's socket.
  const steerings: Steering[] = []
  let affinity: Supervisor['affinity'] = { on: true }
  if (!opts.bpf) {
    affinity = { on: false, reason: '--no-bpf given' }
  } else {
    try {
      for (const g of groups) {
        const s = loadSteering({ workers: count, objectPath: opts.bpfObject })
        steerings.push(s)
        g.fds.forEach((fd, i) => { s.setWorker(i, fd) })
        s.attach(g.fds[0]!)
      }
    } catch (e) {
      for (const s of steerings) s.close()
      steerings.length = 0
      if (!(e instanceof SteeringError)) throw e
      affinity = { on: false, reason: e.message }
    }
  }
  if (affinity.on) {
    log.info(`client affinity on: the BPF program smbts_steer sends every connection of a client address to one of ${count} workers`)
  } else {
    log.warn(`client affinity off (${affinity.reason}): the kernel's reuseport hash spreads connections over ${count} workers, so one client's connections may meet different workers`)
  }

  const runDirParent = opts.runDirParent ?? defaultRunDirParent()
  mkdirSync(runDirParent, { recursive: true, mode: 0o755 })
  removeStaleRunDirs(runDirParent, log)
  // mkdtemp makes it 0700: only this user reaches the workers' messenger sockets.
  const runDir = mkdtempSync(join(runDirParent, `workers-${process.pid}-`))
  log.info(`run directory ${runDir} (the workers' messenger sockets)`)

  // The locking store's db, shared by every worker; this process keeps it too, to sweep what a
  // dead worker left (src/locking/store.ts) and to remove it at shutdown.
  const dbPath = storePath(runDir)
  const db = ShmRecordDb.create<LockRecord>(dbPath, { sizeBytes: STORE_SIZE_BYTES, codec: lockRecordCodec })
  const live = new LiveTable(new Array<number>(count).fill(1))
  const sweeper = new LockingStore(db, {
    slot: -1,
    generation: 0,
    alive: (s, g) => live.alive(s, g),
    send: (s, m) => { const w = slots[s]; if (w !== undefined) sendTo(w, { smbts: 'event', event: { type: STORE_MESSAGE, m } }) },
  })
  log.info(`locking store ${dbPath} (${STORE_SIZE_BYTES / 1024 / 1024} MiB), shared by the workers`)

  const sticky = new Map<string, ToWorker>()
  let nextCollect = 1
  const collecting = new Map<number, { got: unknown[], left: number, done: () => void }>()
  const slots: Slot[] = Array.from({ length: count }, (_, slot) => ({ slot, generation: 0, ready: false, startedAt: 0, quickDeaths: 0 }))
  let closing = false
  let started = false
  let failStart: ((e: Error) => void) | undefined
  let readyCount = 0
  let allReady: (() => void) | undefined

  const sendTo = (w: Slot, m: ToWorker): boolean => {
    if (w.proc === undefined || !w.proc.connected) return false
    try { w.proc.send(m); return true } catch { return false }
  }
  // To every worker running, ready or not yet (a worker queues what comes before it is up), so
  // that none keeps a dead worker for alive.
  const broadcast = (event: WorkerEvent | PeerMessage, except: number): void => {
    for (const w of slots) if (w.slot !== except) sendTo(w, { smbts: 'event', event })
  }

  const spawnWorker = (w: Slot): void => {
    w.generation++
    w.ready = false
    w.startedAt = Date.now()
    const listen: InheritedListener[] = groups.map((g, j) => ({ fd: FIRST_LISTEN_FD + j, host: g.host, port }))
    live.apply({ type: 'worker-started', slot: w.slot, generation: w.generation })
    const spec: WorkerSpec = { slot: w.slot, generation: w.generation, count, runDir, listen, server: opts.server, store: dbPath, live: live.table }
    // stdio: the worker logs to our stderr; fd 3 is the IPC channel; from fd 4 its listeners
    // (dup2'd into place in the child, so they survive the exec though ours are close-on-exec).
    const out = opts.workerOutput === undefined ? 'inherit' : 'pipe'
    const proc = spawn(opts.command.file, opts.command.args, {
      stdio: ['ignore', out, out, 'ipc', ...groups.map(g => g.fds[w.slot]!)],
      env: { ...(opts.env ?? process.env), [WORKER_ENV]: encodeWorkerSpec(spec) },
    })
    w.proc = proc
    if (opts.workerOutput !== undefined) for (const stream of [proc.stdout, proc.stderr]) lines(stream, opts.workerOutput)
    const generation = w.generation
    const tag = workerTag(w.slot)
    w.exited = new Promise<void>((resolve) => {
      let gone = false
      const onGone = (how: string): void => {
        if (gone) return
        gone = true
        resolve()
        if (!closing) publishEvent(() => ({ type: 'worker-exit', worker: w.slot, pid: proc.pid, generation, how }))
        const wasReady = w.ready
        w.ready = false
        if (wasReady) readyCount--
        if (w.proc === proc) w.proc = undefined
        if (closing) return
        if (!started) {
          failStart?.(new Error(`worker ${tag} ${how} before it was ready (its log says why)`))
          return
        }
        log.warn(`worker ${tag} (pid ${proc.pid ?? '?'}, generation ${generation}) ${how}; its clients are cut off, its socket stays open: new connections wait for generation ${generation + 1}`)
        broadcast({ type: 'worker-died', slot: w.slot, generation }, w.slot)
        // What it held (share modes, oplocks, name locks, waits) goes now, not when someone next
        // opens each file; the workers' waits look again on the event above.
        live.apply({ type: 'worker-died', slot: w.slot, generation })
        try {
          const n = sweeper.sweep()
          log.info(`locking store: ${n} records held by ${tag} generation ${generation} released`)
        } catch (e) {
          log.warn(`locking store: sweep after ${tag} died failed: ${(e as Error).message}`)
        }
        w.quickDeaths = Date.now() - w.startedAt < HEALTHY_MS ? w.quickDeaths + 1 : 0
        const delay = w.quickDeaths === 0 ? 0 : Math.min(RESTART_DELAY_MAX_MS, 100 * 2 ** (w.quickDeaths - 1))
        if (delay > 0) log.warn(`worker ${tag} died ${w.quickDeaths} times in a row within ${HEALTHY_MS / 1000} s of its start: restarting it in ${delay} ms`)
        w.restartTimer = setTimeout(() => { w.restartTimer = undefined; if (!closing) spawnWorker(w) }, delay)
      }
      proc.once('exit', (code, signal) => { onGone(signal !== null ? `was killed by ${signal}` : `exited with status ${code ?? '?'}`) })
      proc.once('error', (e) => { onGone(`could not be started (${e.message})`) })
    })
    proc.on('message', (m: FromWorker) => {
      if (m?.smbts === 'ready') {
        if (w.proc !== proc || w.ready) return
        w.ready = true
        readyCount++
        log.info(`worker ${tag} ready (pid ${proc.pid ?? '?'}, generation ${generation}, ${m.transport})`)
        for (const order of sticky.values()) sendTo(w, order)
        publishEvent(() => ({ type: 'worker-start', worker: w.slot, pid: proc.pid, generation }))
        if (started) broadcast({ type: 'worker-started', slot: w.slot, generation }, w.slot)
        if (readyCount === count) allReady?.()
      } else if (m?.smbts === 'reloaded' && m.error !== undefined) {
        log.warn(`worker ${tag}: reload failed: ${m.error}`)
      } else if (m?.smbts === 'collected') {
        const c = collecting.get(m.id)
        if (c === undefined) return
        c.got.push(m.data)
        if (--c.left === 0) c.done()
      } else if (m?.smbts === 'published') {
        opts.onPublished?.(w.slot, m.channel, m.data)
      }
    })
  }

  const stopAll = async (): Promise<void> => {
    closing = true
    const timeout = opts.stopTimeoutMs ?? 15_000
    await Promise.all(slots.map(async (w) => {
      if (w.restartTimer !== undefined) { clearTimeout(w.restartTimer); w.restartTimer = undefined }
      const proc = w.proc
      if (proc === undefined || w.exited === undefined) return
      if (!sendTo(w, { smbts: 'shutdown' })) proc.kill('SIGTERM')
      const killer = setTimeout(() => {
        log.warn(`worker ${workerTag(w.slot)} did not stop within ${timeout / 1000} s: killing it`)
        proc.kill('SIGKILL')
      }, timeout)
      await w.exited
      clearTimeout(killer)
    }))
    for (const s of steerings) s.close()
    closeFds(groups.flatMap(g => g.fds))
    db.close()
    rmSync(runDir, { recursive: true, force: true })
  }

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`the workers did not start within ${(opts.startTimeoutMs ?? 60_000) / 1000} s`)) }, opts.startTimeoutMs ?? 60_000)
      allReady = () => { clearTimeout(timer); resolve() }
      failStart = (e) => { clearTimeout(timer); reject(e) }
      for (const w of slots) spawnWorker(w)
    })
  } catch (e) {
    await stopAll()
    throw e
  }
  started = true
  log.info(`${count} workers ready on port ${port}`)

  let closed: Promise<void> | undefined
  const steeringStats = (): SteerStats | undefined => {
    if (steerings.length === 0) return undefined
    const sum: SteerStats = { steered: 0n, fallback: 0n }
    for (const s of steerings) {
      const st = s.stats()
      sum.steered += st.steered
      sum.fallback += st.fallback
    }
    return sum
  }
  return {
    port,
    runDir,
    affinity,
    workers: () => slots.map(w => ({ slot: w.slot, generation: w.generation, pid: w.proc?.pid, ready: w.ready })),
    steeringStats,
    reload () {
      let n = 0
      for (const w of slots) if (w.ready && sendTo(w, { smbts: 'reload' })) n++
      log.info(`reload: asked ${n} of ${count} workers to re-read the configuration and user database`)
      const st = steeringStats()
      if (st !== undefined) log.info(`steering: ${st.steered} connections steered by client address, ${st.fallback} left to the kernel's hash (an empty slot)`)
    },
    setSticky (m) {
      sticky.set(m.smbts, m)
      for (const w of slots) if (w.ready) sendTo(w, m)
    },
    collect (kind, timeoutMs = 3000) {
      const id = nextCollect++
      const ready = slots.filter(w => w.ready)
      return new Promise((resolve) => {
        const got: unknown[] = []
        const done = (): void => { clearTimeout(timer); collecting.delete(id); resolve(got) }
        const timer = setTimeout(done, timeoutMs)
        collecting.set(id, { got, left: ready.length, done })
        let asked = 0
        for (const w of ready) if (sendTo(w, { smbts: 'collect', id, kind })) asked++
        if (asked === 0) done()
        else collecting.get(id)!.left = asked
      })
    },
    close () {
      closed ??= stopAll()
      return closed
    },
  }
}
