// Composition root: reads configuration and accounts, builds the server state, starts the
// listeners. Holds no protocol logic.
import { existsSync, mkdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { defaultConfig, loadConfig, type Config } from './config/config.js'
import { readPwdDb, hashPassword } from './config/pwddb.js'
import { DEFAULT_SHARE_DIR, DEFAULT_USER } from './config/paths.js'
import { ServerState } from './session/server-state.js'
import { closeOpen, teardownSession } from './session/teardown.js'
import { posixBackend } from './vfs/posix.js'
import { createLogger, type Logger, type LogComponent } from './control/log.js'
import { adoptSocket, listenTcp, listenTcpFd } from './transport/tcp.js'
import { adoptRingFd, closeSplicePipes, listenUring, serveUringListener, type Listener } from './transport/uring.js'
import { wireEviction } from './transport/evict.js'
import { Handoff } from './transport/handoff.js'
import { listenHosts, type InheritedListener, type WorkerContext } from './transport/worker.js'
import { openWorkerStore } from './transport/worker-store.js'
import { joinSessionPeers } from './transport/worker-sessions.js'
import type { BufferRegistry } from './io/buffer-pool.js'
import { IdleGc } from './io/idle-gc.js'
import { tuneHeapForRequests } from './io/request-heap.js'
import { posixUringBackend } from './vfs/posix-uring.js'
import { Ring, ringBufferRegistry, ringUnavailableReason } from './io/ring.js'
import { openCheckedRing, RING_KINDS, RING_KIND_LABEL, type CheckedRing, type RingKind, type WakeCheck } from './io/ring-check.js'
import { nativeAvailable, nativeLoadError } from './io/native.js'
import { kerberosService } from './io/gss.js'
import type { StatsSnapshot } from './control/stats.js'
import { statusSlice, type StatusSlice } from './control/status.js'
import { RpcHost } from './rpc/host.js'
import { rpcEnv } from './smb2/pipes.js'
import { openPersistentStore, restorePersistent } from './session/persistent.js'

export interface StartServerOptions {
  configPath?: string
  pwddbPath?: string
  port?: number
  /** Listen address; default: every interface, or the config's `interfaces`. */
  host?: string
  controlDir?: string
  useUring: boolean
  log: (line: string) => void
  /** Debug components enabled from the start (tests, `SMBTS_DEBUG=smb,auth`). */
  debug?: LogComponent[]
  /** Embedded default share directory when no config file is given. */
  defaultShareDir?: string
  /** Test hook: the length of a `deadtime` minute in ms (default 60 000). Not a config parameter. */
  deadtimeMinuteMs?: number
  /**
   * Serve these listening sockets (a worker's, made by its supervisor) instead of binding
   * `host`/`port`: the ring's multishot accept takes any listening fd, node:net adopts it.
   */
  listenFds?: InheritedListener[]
  /** This process is worker `slot` of a supervisor (src/transport/worker.ts). */
  worker?: WorkerContext
  /** No config file: the embedded default's password (a supervisor picks one for all its workers,
   *  and prints it itself); default: a new one, printed here. */
  defaultPassword?: string
}

export interface RunningServer {
  readonly port: number
  readonly state: ServerState
  /** The io_uring ring carrying sockets and file data, when the fast path runs. */
  readonly ring?: Ring
  /** What carries the bytes, and why the fallback runs when it does. */
  readonly io: {
    transport: 'io_uring' | 'node:net'
    files: string
    /** The ring configuration chosen (io_uring only). */
    ring?: RingKind
    /** What the start-up self-check measured, for each configuration it tried. */
    ringChecks?: WakeCheck[]
    fallbackReason?: string
  }
  /** Which worker this is, when a supervisor started it. */
  readonly worker?: WorkerContext
  /** The RPC process this process's IPC$ pipes are served by. */
  readonly rpc: RpcHost
  /** This process's numbers and holdings (the control mount's stats and status). */
  statsSnapshot (): StatsSnapshot
  statusSlice (): StatusSlice
  close (): Promise<void>
  reload (): Promise<void>
}

/**
 * The server's ring, self-checked (src/io/ring-check.ts): DEFER_TASKRUN where the kernel has it
 * (6.1+), so the work a completion needs (a socket recv once data arrived) runs when this thread
 * asks for its completions, in one go, instead of interrupting it the moment the data lands —
 * measured here, that interruption made the recv spin on the socket lock the sender still held
 * (4 connections of open/close: 13k → 17k requests/s); else a plain ring. A configuration whose
 * wake-ups stall is not used. `SMBTS_RING=defer|plain` (a comma list) narrows the choice;
 * `SMBTS_TEST_RING_STALL=<kinds>` (tests) makes those configurations stall.
 */
async function createServerRing (log: Logger): Promise<CheckedRing> {
  const kinds = parseRingKinds(process.env.SMBTS_RING, 'SMBTS_RING', log) ?? RING_KINDS
  const stalled = parseRingKinds(process.env.SMBTS_TEST_RING_STALL, 'SMBTS_TEST_RING_STALL', log)
  return await openCheckedRing({
    entries: RING_ENTRIES,
    kinds,
    stall: stalled === undefined ? undefined : { kinds: stalled, ms: 5 },
    say: (level, line) => { log[level](line) },
  })
}

function parseRingKinds (v: string | undefined, name: string, log: Logger): RingKind[] | undefined {
  if (v === undefined || v === '') return undefined
  const kinds = v.split(',').map(k => k.trim()).filter(k => k !== '')
  const bad = kinds.filter(k => !(RING_KINDS as readonly string[]).includes(k))
  if (bad.length > 0) log.warn(`${name}: unknown ring configuration ${bad.join(', ')} (known: ${RING_KINDS.join(', ')}): ignored`)
  return kinds.filter((k): k is RingKind => (RING_KINDS as readonly string[]).includes(k))
}

/** `busy poll` (smb.conf, µs): the ring's event loop polls that long after a wake-up before it sleeps. */
function applyBusyPoll (ring: Ring, usec: number, log: Logger): void {
  ring.setBusyPoll(usec)
  log.info(usec > 0
    ? `busy poll: ${usec} µs after each wake-up before the loop sleeps (adaptive; \`busy poll = 0\` turns it off)`
    : 'busy poll: off (the loop sleeps as soon as it has nothing to do)')
}

/** SQ entries of the server's ring (CQ twice that); more ops wait in Ring's backlog. */
const RING_ENTRIES = 1024
/** Registered-buffer slots for pooled READ buffers (more pooled buffers than this read unregistered). */
const READ_BUFFER_SLOTS = 64

export { DEFAULT_SHARE_DIR, DEFAULT_USER }

function lowerKeys (m: Map<string, Buffer>): Map<string, Buffer> {
  return new Map([...m].map(([k, v]) => [k.toLowerCase(), v]))
}

/** No config file: one share and one user with a generated password, printed for the admin. */
function embeddedDefault (opts: StartServerOptions, log: Logger): { config: Config, accounts: Map<string, Buffer> } {
  const config = defaultConfig()
  const dir = opts.defaultShareDir ?? DEFAULT_SHARE_DIR
  mkdirSync(dir, { recursive: true })
  const share = parseShareDefaults(dir)
  config.shares.set('share', share)
  log.info('no config file: serving the embedded default')
  const password = opts.defaultPassword ?? randomBytes(12).toString('base64url')
  if (opts.defaultPassword === undefined) {
    opts.log(`smbts: share "share" -> ${dir}`)
    opts.log(`smbts: user "${DEFAULT_USER}" password "${password}"`)
  }
  return { config, accounts: new Map([[DEFAULT_USER, hashPassword(password)]]) }
}

function parseShareDefaults (dir: string): ReturnType<typeof defaultConfig>['shares'] extends Map<string, infer S> ? S : never {
  // The share section the config parser would build from "[share] path = DIR; read only = no".
  const { parseConfigText } = configModule
  const c = parseConfigText(`[share]\npath = ${dir}\nread only = no\n`)
  return c.shares.get('share')!
}

let configModule: typeof import('./config/config.js')

export async function startServer (opts: StartServerOptions): Promise<RunningServer> {
  // Before any request runs: V8 must not learn to allocate a request's objects as long-lived.
  tuneHeapForRequests()
  configModule = await import('./config/config.js')
  // SMBTS_DEBUG is the CLI's (src/cli/start.ts turns those components on through their channels).
  const log = createLogger(opts.log, opts.debug ?? [])
  const load = (): { config: Config, accounts: Map<string, Buffer> } => {
    if (opts.configPath === undefined) return embeddedDefault(opts, log)
    const config = loadConfig(opts.configPath)
    for (const w of config.warnings) log.warn(w)
    const accounts = opts.pwddbPath !== undefined && existsSync(opts.pwddbPath) ? lowerKeys(readPwdDb(opts.pwddbPath)) : new Map<string, Buffer>()
    if (opts.pwddbPath !== undefined && !existsSync(opts.pwddbPath)) log.warn(`password db ${opts.pwddbPath} does not exist: no user can log in`)
    return { config, accounts }
  }
  const { config, accounts } = load()
  if (!nativeAvailable) {
    log.error(`native addon unavailable (${nativeLoadError?.message ?? 'not built'}): disk shares cannot be served; run npm run build`)
  }
  // The fast path when asked for and the kernel allows it; else the fallback, said out loud.
  let ring: Ring | undefined
  let busyPoll = config.global.busyPoll
  let fallbackReason: string | undefined = opts.useUring ? await ringUnavailableReason() : '--no-uring given'
  let checked: CheckedRing | undefined
  if (fallbackReason === undefined) {
    checked = await createServerRing(log)
    ring = checked.ring
    if (ring === undefined) {
      fallbackReason = checked.checks.length > 0
        ? 'every io_uring configuration stalled in the start-up self-check'
        : 'io_uring setup failed (see above)'
    }
  }
  const io = ring !== undefined
    ? { transport: 'io_uring' as const, files: 'posix-uring', ring: checked?.kind, ringChecks: checked?.checks }
    : { transport: 'node:net' as const, files: 'posix', ringChecks: checked?.checks, fallbackReason }
  if (ring !== undefined) {
    log.info(`transport: io_uring, ${RING_KIND_LABEL[checked!.kind!]} (multishot accept, recv and sendmsg on the ring); file I/O: posix-uring (pread/pwrite/fsync on the ring, paths confined with openat2)`)
    applyBusyPoll(ring, busyPoll, log)
  } else {
    log.warn(`io_uring fast path off (${fallbackReason ?? '?'}): running the fallback, transport node:net, file I/O node:fs (paths confined with openat2)`)
  }
  // READ buffers registered with the ring (READ_FIXED: their pages pinned once, not per read).
  let registry: BufferRegistry | undefined
  if (ring !== undefined) {
    try { registry = ringBufferRegistry(ring, READ_BUFFER_SLOTS) } catch (e) { log.warn(`registered buffers unavailable (${(e as Error).message}): READs use plain buffers`) }
  }
  const state = new ServerState(config, accounts, ring !== undefined ? posixUringBackend(ring) : posixBackend, log, registry)
  state.kerberos = kerberosService(config.global, log)
  if (opts.deadtimeMinuteMs !== undefined) state.deadtimeMinuteMs = opts.deadtimeMinuteMs
  // DCE/RPC runs apart, unprivileged (src/rpc/host.ts); this process answers its questions. It
  // starts once the listeners are up (a pipe opened before it said HELLO waits for it).
  const rpc = new RpcHost({ env: rpcEnv(state), log })
  state.rpc = rpc
  const port = opts.port ?? config.global.tcpPort
  const listeners: Listener[] = []
  let bound = port
  const w = opts.worker
  if (w !== undefined) log.info(`worker w${w.slot} of ${w.count}, generation ${w.generation} (pid ${process.pid})`)
  if (w?.store !== undefined) {
    // Share modes, oplocks and name locks in the db every worker shares: a client of another
    // worker sees this one's opens as its own worker's.
    state.locks = openWorkerStore({ path: w.store, slot: w.slot, generation: w.generation, live: w.live, messenger: w.messenger, log: (m) => { log.debug('oplock', m) } })
    log.info(`locking store: ${w.store}, shared by ${w.count} workers`)
  }
  if (w !== undefined) joinSessionPeers(state, w)
  // One client, one worker: a connection of a client another worker serves goes there, with its
  // socket (src/transport/handoff.ts); one handed here is served by this worker's transport.
  let handoff: Handoff | undefined
  if (w?.store !== undefined && nativeAvailable) {
    handoff = Handoff.open({ runDir: w.runDir, slot: w.slot, generation: w.generation, messenger: w.messenger, log })
    const h = handoff
    h.onAdopt = ring !== undefined ? (a) => { adoptRingFd(state, ring!, a, h) } : (a) => { adoptSocket(state, a, h) }
  }
  // At a connection limit with nothing of its own to drop, a worker asks the others (evict.ts).
  if (w?.store !== undefined) wireEviction(state, { messenger: w.messenger, slot: w.slot, generation: w.generation, count: w.count })
  // Persistent handles kept from before a restart wait for their clients again (persistent.ts),
  // before any client can connect.
  state.persistent = openPersistentStore(state)
  if (state.persistent !== undefined) await restorePersistent(state, w !== undefined ? { slot: w.slot, count: w.count } : undefined)
  if (opts.listenFds !== undefined) {
    for (const l of opts.listenFds) {
      listeners.push(ring !== undefined ? serveUringListener(state, ring, l.fd, l.host, l.port, handoff) : await listenTcpFd(state, l.fd, handoff))
      bound = l.port
      log.info(`serving ${l.host}:${l.port} (listening socket fd ${l.fd}, from the supervisor)`)
    }
  } else {
    for (const h of listenHosts(config.global, opts.host)) {
      const srv = ring !== undefined ? await listenUring(state, ring, h, bound) : await listenTcp(state, h, bound)
      const addr = srv.address()
      if (typeof addr === 'object' && addr !== null) bound = addr.port
      listeners.push(srv)
      log.info(`listening on ${h}:${bound}`)
    }
  }
  for (const [, s] of config.shares) log.info(`share ${s.name} -> ${s.path}${s.readOnly ? ' (read only)' : ''}`)
  // The RPC process starts at the first pipe open (RpcHost.open): a server nobody lists or
  // administers does not carry one (~50 MiB per data-plane process).
  // Memory back to the kernel once start-up is over and after each busy spell (src/io/idle-gc.ts).
  const idle = new IdleGc({
    activity: () => state.stats.requests,
    beforeCollect: () => { state.frameBuffers.trim(); state.readBuffers.trim() },
  })
  idle.settled()

  return {
    port: bound,
    state,
    ring,
    io,
    worker: opts.worker,
    rpc,
    statsSnapshot () {
      const snap = state.statsSnapshot()
      if (w !== undefined) snap.worker = w.slot
      return snap
    },
    statusSlice () {
      const slice = statusSlice(state, state.conns)
      if (w !== undefined) slice.worker = w.slot
      return slice
    },
    async close () {
      idle.close()
      const closed = Promise.all(listeners.map(l => new Promise<void>((resolve) => {
        l.close(() => { resolve() })
        // Existing node:net connections end with the process; close() only stops accepting.
      })))
      handoff?.close()
      // Every session ends and its files are closed (delete on close applied, handles released)
      // before the connections go, so a shutdown (kill_server, SIGTERM) leaves nothing half done.
      const ending = [...state.conns]
      // Persistent handles outlive a shutdown as they outlive a crash: their records stay for the next start.
      const kept = state.persistent?.freeze() ?? 0
      if (kept > 0) log.info(`persistent handles: ${kept} kept in ${state.persistent!.dir} for the next start`)
      await Promise.allSettled(ending.flatMap(c => [...c.sessions]).map(s => teardownSession(state, s)))
      // Durable opens still waiting for their clients are closed too.
      await Promise.allSettled(state.durable.parkedOpens().map(o => { state.durable.unpark(o); return closeOpen(state, o) }))
      for (const c of ending) c.close('the server is shutting down')
      // Closing the ring cancels every in-flight op: ring connections end, their sockets close.
      await ring?.close()
      if (ring !== undefined) closeSplicePipes(ring)
      await closed
      state.closeWatchers()
      await rpc.close()
    },
    async reload () {
      const next = load()
      if (ring !== undefined && next.config.global.busyPoll !== busyPoll) {
        busyPoll = next.config.global.busyPoll
        applyBusyPoll(ring, busyPoll, log)
      }
      state.setShares(next.config)
      // A share made continuously available by the reload grants persistent handles from now on
      // (records of before are restored at the next start only).
      state.persistent ??= openPersistentStore(state)
      state.accounts = next.accounts
      state.kerberos = kerberosService(next.config.global, log)
      log.info(`reloaded: ${next.config.shares.size} shares, ${next.accounts.size} users`)
    },
  }
}
