// What every connection of one server shares: configuration, accounts, shares, the global
// session table (MS-SMB2 3.3.1.5 Server), the locking store (share modes, oplocks, name locks),
// buffer pools, and the
// connection limits every transport admits connections by.
import { randomBytes } from 'node:crypto'
import type { Config, ShareConfig } from '../config/config.js'
import type { Backend, ShareFs } from '../vfs/backend.js'
import { SessionState, type Open, type Session } from './model.js'
import { LockingStore } from '../locking/store.js'
import { MemoryRecordDb } from '../locking/record-db.js'
import { RepeatLimiter, type Logger } from '../control/log.js'
import { filetimeNow } from '../wire/filetime.js'
import { BufferPool, type BufferRegistry } from '../io/buffer-pool.js'
import type { SpnegoKerberos } from '../auth/spnego-server.js'

export interface ShareEntry { config: ShareConfig, fs?: Promise<ShareFs> }

/**
 * SessionId layout: bit 46 always set (never 0, never -1, and far from the small numbers a
 * client might guess), the worker's slot in bits 40-45 and the low byte of its generation in
 * bits 32-39, a counter advanced by a random step in bits 0-31. One process is slot 0,
 * generation 0. Two workers never hand out one id; a worker restarted in its slot does not
 * reissue its predecessor's ids (unless 256 generations came between).
 */
const SESSION_ID_MARK = 0x0000_4000_0000_0000n
const SESSION_COUNTER_MASK = 0xffff_ffffn

function sessionIdPrefix (slot: number, generation: number): bigint {
  return SESSION_ID_MARK | (BigInt(slot & 0x3f) << 40n) | (BigInt(generation & 0xff) << 32n)
}

/** The worker slot whose process made `id`, or undefined when no process of ours did. */
export function sessionIdSlot (id: bigint): number | undefined {
  return (id & ~0x3f_ff_ffff_ffffn) === SESSION_ID_MARK ? Number((id >> 40n) & 0x3fn) : undefined
}

/** What a worker can ask of the others about their sessions. */
export interface SessionPeers {
  readonly slot: number
  /**
   * MS-SMB2 3.3.5.5.3 across workers: worker `slot` drops its session `previous` if it belongs
   * to `user` (replaced by `by` on this worker). Best effort, like every message between workers.
   */
  dropPreviousSession (slot: number, previous: bigint, user: string, by: bigint): void
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
  private sessionIdPrefix = sessionIdPrefix(0, 0)
  /** The other workers' sessions, as far as this process can act on them (none: one process). */
  sessionPeers: SessionPeers | undefined
  private lastFileId = 0n
  readonly limits: ConnectionLimits = new ConnectionLimits(this)
  /** Open connections on the ring transport (the node:net one counts through `limits`). */
  connections = 0
  /** Buffers READ data is read into and sent from (registered with the ring when there is one). */
  readonly readBuffers: BufferPool
  /** Opens named by a server-side copy's resume key (copychunk.ts), by the key's hex. */
  readonly resumeKeys = new Map<string, Open>()
  /** Buffers large frames (WRITEs) are received into. */
  readonly frameBuffers = new BufferPool()
  /**
   * How long one minute of smb.conf `deadtime` lasts. Always 60 000 in service; a test shortens
   * it (StartServerOptions.deadtimeMinuteMs) rather than idle for minutes, and the config keeps
   * ksmbd/Samba syntax (whole minutes).
   */
  deadtimeMinuteMs = 60_000
  /** Kerberos logons (SPNEGO with krb5): the acceptor and how principals map to users; undefined: NTLMSSP only. */
  kerberos?: SpnegoKerberos
  /** Refusals a client can repeat at request rate are logged through this (RepeatLimiter). */
  readonly refusals = new RepeatLimiter()

  /** Logs a refusal at warn level, at most once per interval per `key`. */
  warnRefusal (key: string, line: string): void {
    const l = this.refusals.pass(key, line)
    if (l !== undefined) this.log.warn(l)
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

  /**
   * MS-SMB2 3.3.5.5.1: a new SessionId, never 0 nor -1, not reused while the server runs. Its
   * bits say which process made it (SessionIdLayout), so a worker can find another's session.
   */
  newSessionId (): bigint {
    do {
      this.lastSessionId = (this.lastSessionId + 1n + BigInt(randomBytes(1)[0] & 0x0f)) & SESSION_COUNTER_MASK
    } while (this.sessions.has(this.sessionIdPrefix | this.lastSessionId))
    return this.sessionIdPrefix | this.lastSessionId
  }

  /**
   * With worker processes: this process is worker `slot` of `generation`, and `peers` reaches the
   * others (a PreviousSessionId made by another worker is dropped there).
   */
  joinWorkers (slot: number, generation: number, peers: SessionPeers): void {
    this.sessionIdPrefix = sessionIdPrefix(slot, generation)
    this.sessionPeers = peers
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
