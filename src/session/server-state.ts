// What every connection of one server shares: configuration, accounts, shares, the global
// session table (MS-SMB2 3.3.1.5 Server), the locking store (share modes, oplocks, name locks),
// buffer pools, and the
// connection limits every transport admits connections by.
import { randomBytes } from 'node:crypto'
import type { Config, ShareConfig } from '../config/config.js'
import type { Backend, ShareFs } from '../vfs/backend.js'
import { SessionState, type Session } from './model.js'
import { LockingStore } from '../locking/store.js'
import { MemoryRecordDb } from '../locking/record-db.js'
import { RepeatLimiter, type Logger } from '../control/log.js'
import { filetimeNow } from '../wire/filetime.js'
import { BufferPool, type BufferRegistry } from '../io/buffer-pool.js'
import { ServerStats, type StatsSnapshot } from '../control/stats.js'
import { publishEvent } from '../control/channels.js'

export interface ShareEntry { config: ShareConfig, fs?: Promise<ShareFs> }

/** What status and shutdown need of a connection (Smb2Connection). */
export interface ConnectionView {
  readonly io: { readonly remoteAddress: string }
  readonly sessions: ReadonlySet<Session>
  close (reason: string): void
}

export class ServerState {
  readonly serverGuid = randomBytes(16)
  readonly startTime = filetimeNow()
  readonly sessions = new Map<bigint, Session>()
  /**
   * Share modes, delete-pending, oplocks and the name locks of CREATE: one process's records
   * unless the server runs workers, which share one db (store.ts).
   */
  locks: LockingStore
  shares = new Map<string, ShareEntry>()
  private lastSessionId = 0n
  private lastFileId = 0n
  readonly limits: ConnectionLimits = new ConnectionLimits(this)
  /** Open connections on the ring transport (the node:net one counts through `limits`). */
  connections = 0
  /** Buffers READ data is read into and sent from (registered with the ring when there is one). */
  readonly readBuffers: BufferPool
  /** Buffers large frames (WRITEs) are received into. */
  readonly frameBuffers = new BufferPool()
  /**
   * How long one minute of smb.conf `deadtime` lasts. Always 60 000 in service; a test shortens
   * it (StartServerOptions.deadtimeMinuteMs) rather than idle for minutes, and the config keeps
   * ksmbd/Samba syntax (whole minutes).
   */
  deadtimeMinuteMs = 60_000
  /** Refusals a client can repeat at request rate are logged through this (RepeatLimiter). */
  readonly refusals = new RepeatLimiter()
  /** Counts of requests, latencies and bytes: the control mount's `stats`. */
  readonly stats = new ServerStats()
  /** The SMB connections of this process, whatever their transport (status.json). */
  readonly conns = new Set<ConnectionView>()

  /** What this process holds and has counted, for `stats` (taken when someone reads it). */
  statsSnapshot (): StatsSnapshot {
    let trees = 0
    let opens = 0
    for (const s of this.sessions.values()) { trees += s.trees.size; opens += s.opens.size }
    return {
      pid: process.pid,
      connections: this.limits.count,
      sessions: this.sessions.size,
      treeConnects: trees,
      openFiles: opens,
      bytesRead: this.stats.bytesRead,
      bytesWritten: this.stats.bytesWritten,
      requests: this.stats.requests,
      lastActivity: this.stats.lastActivity,
      commands: this.stats.commandCounts(),
    }
  }

  /** Logs a refusal at warn level, at most once per interval per `key`. */
  warnRefusal (key: string, line: string): void {
    const l = this.refusals.pass(key, line)
    if (l !== undefined) this.log.warn(l)
    publishEvent(() => ({ type: 'limit', what: line }))
  }

  constructor (
    public config: Config,
    public accounts: Map<string, Buffer>,
    readonly backend: Backend,
    readonly log: Logger,
    readBufferRegistry?: BufferRegistry
  ) {
    this.readBuffers = new BufferPool({ registry: readBufferRegistry })
    this.locks = new LockingStore(new MemoryRecordDb(), undefined, (m) => { log.debug('oplock', m) })
    this.setShares(config)
  }

  /** (Re)builds the share table; shares still in use keep their opened root. */
  setShares (config: Config): void {
    const old = this.shares
    this.shares = new Map()
    for (const [name, share] of config.shares) {
      const prev = old.get(name)
      this.shares.set(name, { config: share, fs: prev?.config.path === share.path ? prev.fs : undefined })
    }
    this.config = config
  }

  shareFs (entry: ShareEntry): Promise<ShareFs> {
    entry.fs ??= this.backend.openShare(entry.config.path, {
      followSymlinks: entry.config.followSymlinks,
      hideDotFiles: entry.config.hideDotFiles,
      storeDosAttributes: entry.config.storeDosAttributes,
      inline: { mode: entry.config.inlineMetadata ? 'auto' : 'no' },
      warn: (m) => { this.log.warn(`share ${entry.config.path}: ${m}`) },
    })
    entry.fs.catch(() => { entry.fs = undefined })
    return entry.fs
  }

  /** MS-SMB2 3.3.5.5.1: a new SessionId, never 0 nor -1, never reused while the server runs. */
  newSessionId (): bigint {
    this.lastSessionId += 1n + BigInt(randomBytes(1)[0] & 0x0f)
    return this.lastSessionId | 0x0000_4000_0000_0000n
  }

  newFileId (): bigint {
    return ++this.lastFileId
  }

  /** Sessions of this process that count against `max active sessions` (valid or expired). */
  activeSessions (): number {
    let n = 0
    for (const s of this.sessions.values()) if (s.state === SessionState.Valid || s.state === SessionState.Expired) n++
    return n
  }

  /** Tree connects of this process to `share` (its `max connections`). */
  shareUses (share: ShareConfig): number {
    const name = share.name.toLowerCase()
    let n = 0
    for (const s of this.sessions.values()) for (const t of s.trees.values()) if (t.alive && t.share?.name.toLowerCase() === name) n++
    return n
  }
}

/**
 * How many connections the server holds, in all and per client address (`max connections`,
 * `max ip connections`): every transport admits a connection here first, so one client can never
 * take what all share. The transport logs a refusal.
 */
export class ConnectionLimits {
  private total = 0
  /** Addresses counted in the store per connection (`max ip connections` was set when admitted). */
  private readonly counted = new Map<string, number>()

  constructor (private readonly server: ServerState) {}

  /** Connections this process holds. */
  get count (): number { return this.total }

  /**
   * Admits a new connection from `addr`, or says why not (the caller closes the socket). Counted
   * in the locking store, so the limits hold for all workers together.
   */
  admit (addr: string): string | undefined {
    const g = this.server.config.global
    const locks = this.server.locks
    if (!locks.tryCount('connections', g.maxConnections)) return `max connections (${g.maxConnections}) reached`
    if (g.maxIpConnections > 0) {
      if (!locks.tryCount(`ip:${addr}`, g.maxIpConnections)) {
        locks.uncount('connections')
        return `max ip connections (${g.maxIpConnections}) reached for ${addr}`
      }
      this.counted.set(addr, (this.counted.get(addr) ?? 0) + 1)
    }
    this.total++
    return undefined
  }

  release (addr: string): void {
    this.total--
    this.server.locks.uncount('connections')
    if (this.uncountIp(addr)) this.server.locks.uncount(`ip:${addr}`)
  }

  /** Whether this connection from `addr` counts against `max ip connections` in the store. */
  ipCounted (addr: string): boolean { return this.counted.has(addr) }

  /**
   * A connection from `addr` goes to worker `to` (handed over): its counts move there in the
   * store (LockingStore.moveCount), so the totals never dip while it travels; `to` adopts it.
   */
  moveTo (addr: string, to: { w: number, g: number }): void {
    this.total--
    this.server.locks.moveCount('connections', to)
    if (this.uncountIp(addr)) this.server.locks.moveCount(`ip:${addr}`, to)
  }

  /** A connection from `addr` another worker moved here (moveTo): counted in the store already. */
  /**
   * A new connection from `remote` (client address `addr`), as every transport takes one: moved
   * here with its counts when another worker handed it over (`moved.ip`: its address was counted
   * there), else admitted; a refusal is logged and answers false (the caller closes the socket).
   */
  enter (addr: string, remote: string, moved?: { ip: boolean }): boolean {
    if (moved !== undefined) {
      this.adopt(addr, moved.ip)
      return true
    }
    const refused = this.admit(addr)
    if (refused === undefined) return true
    this.server.warnRefusal(`accept ${addr} ${refused}`, `connection from ${remote} refused: ${refused}`)
    return false
  }

  adopt (addr: string, ip: boolean): void {
    this.total++
    if (ip) this.counted.set(addr, (this.counted.get(addr) ?? 0) + 1)
  }

  /** One fewer of `addr`'s connections counted in the store; false when it was not counted there. */
  private uncountIp (addr: string): boolean {
    const n = this.counted.get(addr)
    if (n === undefined) return false
    if (n <= 1) this.counted.delete(addr)
    else this.counted.set(addr, n - 1)
    return true
  }
}
