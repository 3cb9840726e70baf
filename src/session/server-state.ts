// What every connection of one server shares: configuration, accounts, shares, the global
// session table (MS-SMB2 3.3.1.5 Server), the locking store (share modes, oplocks, name locks),
// buffer pools, and the
// connection limits every transport admits connections by.
import type { PipeService } from '../rpc/host.js'
import { randomBytes } from 'node:crypto'
import type { Config, ShareConfig } from '../config/config.js'
import type { Backend, ShareFs } from '../vfs/backend.js'
import { SessionState, type Open, type Session } from './model.js'
import { LockingStore } from '../locking/store.js'
import { DurableTable } from './durable.js'
import type { PersistentStore } from './persistent-store.js'
import { MemoryRecordDb } from '../locking/record-db.js'
import { RepeatLimiter, type Logger } from '../control/log.js'
import { filetimeNow } from '../wire/filetime.js'
import { BufferPool, type BufferRegistry } from '../io/buffer-pool.js'
import { ServerStats, type StatsSnapshot } from '../control/stats.js'
import { DirectoryWatcher } from '../vfs/watch.js'
import { LocalChangeWatcher } from '../vfs/local-changes.js'
import { posixFileFd } from '../vfs/posix.js'
import { LeaseState } from '../locking/leases.js'
import { OplockLevel } from '../wire/constants.js'
import { publishEvent } from '../control/channels.js'
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
  /** Durable opens waiting for their client, and durable v2 opens by CreateGuid (durable.ts). */
  readonly durable = new DurableTable()
  /** Where persistent handles' records are kept (persistent.ts); undefined: no share is CA. */
  persistent?: PersistentStore
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
  /** Where IPC$ pipes are served: the RPC process (src/rpc/host.ts); undefined: in this process (servers built in memory). */
  rpc?: PipeService
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

  private watcher?: DirectoryWatcher

  /**
   * The process's directory watcher (CHANGE_NOTIFY), made at the first use; undefined where the
   * shares are not on a real file system (the memory backend) or inotify is not there (no addon).
   */
  dirWatcher (): DirectoryWatcher | undefined {
    if (this.watcher === undefined && this.backend.name !== 'memory' && DirectoryWatcher.available) {
      this.watcher = new DirectoryWatcher({ onError: (what, e) => { this.log.debug('vfs', `${what}: ${e.message}`) } })
    }
    return this.watcher
  }

  private localChanges?: LocalChangeWatcher

  /**
   * An open that caches its file (an oplock, or a lease with read caching) has the file marked,
   * so a program on the server's disk writing it breaks that cache (src/vfs/local-changes.ts);
   * the mark goes at the open's close (Open.unwatchLocal). `ino`: the file's inode.
   */
  watchLocalChanges (open: Open, ino: bigint): void {
    const o = open.oplock
    if (o === undefined || open.file === undefined || open.isDirectory || this.backend.name === 'memory') return
    const caches = o.lease !== undefined ? (o.lease.state & LeaseState.READ) !== 0 : o.granted !== OplockLevel.NONE
    const fd = caches ? posixFileFd(open.file) : undefined
    if (fd === undefined || !LocalChangeWatcher.available) return
    this.localChanges ??= new LocalChangeWatcher({
      onChange: (key) => {
        const n = this.locks.breakForLocalChange(key)
        if (n > 0) this.log.info(`a program on the server changed ${key.replace('\0', ' inode ')}: ${n} oplock/lease break${n === 1 ? '' : 's'} sent to the clients caching it`)
      },
      onUnavailable: (why) => { this.log.warn(`changes made on the server's disk by other programs will not break client caches: ${why}`) },
    })
    open.unwatchLocal = this.localChanges.watch(fd, ino, o.key)
  }

  /** Stops watching for local changes (the server's close). */
  closeWatchers (): void {
    this.localChanges?.close()
    this.localChanges = undefined
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

  /** A FileId restored from before a restart (persistent.ts): new ones are handed out above it. */
  reserveFileId (id: bigint): void {
    if (id > this.lastFileId) this.lastFileId = id
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
 * What eviction needs of an admitted connection (Smb2Connection has it; this file cannot import
 * it without a cycle).
 */
export interface Evictable {
  /** It holds a session that completed SESSION_SETUP (valid, or expired awaiting re-authentication). */
  readonly authenticated: boolean
  /** When it last delivered a whole request (Date.now()); its creation before any. */
  readonly lastRequestAt: number
  close (reason: string): void
}

/**
 * The other workers of a server with workers (src/transport/evict.ts): asked, in turn, to drop
 * one of their unauthenticated connections for a new one here when this worker has none to drop.
 */
export interface EvictionPeers {
  /**
   * Resolves true once a worker dropped one and moved its `connections` slot in the store to this
   * worker (LockingStore.moveCount), with its `ip:<addr>` slot when `addr` is given (it dropped a
   * connection of that address): the new connection holds them. False: none had one to drop.
   */
  ask (remote: string, why: string, addr?: string): Promise<boolean>
}

/**
 * One connection the limits admitted: its address, whether it counts against `max ip
 * connections` in the store, and (once the transport made it) the connection itself.
 */
export class Admission {
  /** The transport's connection, set as soon as it exists. */
  conn?: Evictable
  /** Its counts are gone already (released, moved to another worker, or inherited by the
   *  connection that evicted it): a later release does nothing. */
  done = false
  constructor (readonly addr: string, readonly remote: string, readonly ipCounted: boolean) {}
}

/**
 * How many connections the server holds, in all and per client address (`max connections`,
 * `max ip connections`): every transport admits a connection here first (enter), so one client
 * can never take what all share. Counted in the locking store, so the limits hold for all
 * workers together.
 *
 * At a limit, a new connection is not simply refused (issue 20: a flood of connections that never
 * authenticate would then lock every real client out): the connection of this process that has
 * not completed a SESSION_SETUP and has been idle longest (no whole request for the longest time;
 * the oldest of equals) is dropped, logged, and the new one takes its place — its slot in the
 * store passes straight to the newcomer, so no other admission slips in between. Only a
 * connection of the same address makes room under `max ip connections`. An authenticated
 * connection is never dropped for a new, unauthenticated one; with none to drop, the new one is
 * refused as before. With workers, a worker with none of its own to drop asks the others
 * (`peers`, src/transport/evict.ts).
 */
export class ConnectionLimits {
  private total = 0
  /** This process's admitted connections, oldest first. */
  private readonly live = new Set<Admission>()
  /** With workers: the others, asked when this one has no connection to drop (evict.ts). */
  peers?: EvictionPeers

  constructor (private readonly server: ServerState) {}

  /** Connections this process holds. */
  get count (): number { return this.total }

  /**
   * A new connection from `remote` (client address `addr`), as every transport takes one: moved
   * here with its counts when another worker handed it over (`moved.ip`: its address was counted
   * there), else admitted, making room by dropping an unauthenticated connection at a limit. A
   * refusal is logged and answers undefined (the caller closes the socket). A promise when the
   * other workers are asked to make room (the caller waits, reading nothing meanwhile).
   */
  enter (addr: string, remote: string, moved?: { ip: boolean }): Admission | undefined | Promise<Admission | undefined> {
    if (moved !== undefined) return this.adopt(addr, remote, moved.ip)
    const g = this.server.config.global
    const locks = this.server.locks
    let taken: Admission | undefined
    let why = ''
    let sameAddr = false
    if (g.maxIpConnections > 0 && !locks.tryCount(`ip:${addr}`, g.maxIpConnections)) {
      why = `max ip connections (${g.maxIpConnections}) reached for ${addr}`
      taken = this.victim(addr)
      if (taken === undefined) {
        // Its connections may be on other workers (no steering program): one of them drops one.
        if (this.peers !== undefined) return this.askPeers(this.peers, addr, remote, false, why, true)
        return this.refuse(addr, remote, why)
      }
      sameAddr = true
    }
    const ipCounted = g.maxIpConnections > 0
    if (taken === undefined && !locks.tryCount('connections', g.maxConnections)) {
      why = `max connections (${g.maxConnections}) reached`
      taken = this.victim()
      if (taken === undefined) {
        if (this.peers !== undefined) return this.askPeers(this.peers, addr, remote, ipCounted, why, false)
        if (ipCounted) locks.uncount(`ip:${addr}`)
        return this.refuse(addr, remote, why)
      }
    }
    if (taken !== undefined) this.evict(taken, sameAddr, remote, why)
    return this.adopt(addr, remote, ipCounted)
  }

  /**
   * No connection here to drop: another worker may drop one of its own and pass its slot here;
   * `sameAddr`: one of `addr` (at its `max ip connections`), whose address slot comes too.
   */
  private async askPeers (peers: EvictionPeers, addr: string, remote: string, ipCounted: boolean, why: string, sameAddr: boolean): Promise<Admission | undefined> {
    if (await peers.ask(remote, why, sameAddr ? addr : undefined)) return this.adopt(addr, remote, ipCounted || sameAddr)
    if (ipCounted) this.server.locks.uncount(`ip:${addr}`)
    return this.refuse(addr, remote, why)
  }

  /**
   * Another worker (`to`) is at `max connections` (or `addr` at its `max ip connections`) with no
   * connection of its own to drop (evict.ts): drops this worker's unauthenticated connection idle
   * longest (of `addr` when given) and moves its slots in the store to `to`, for `remote`'s
   * connection there. False when there is none.
   */
  dropFor (to: { w: number, g: number }, remote: string, why: string, addr?: string): boolean {
    const v = this.victim(addr)
    if (v === undefined) return false
    this.forget(v)
    this.server.locks.moveCount('connections', to)
    // Asked for a connection of `addr` (its address at its limit): that slot goes to `to` too.
    if (addr !== undefined) this.server.locks.moveCount(`ip:${v.addr}`, to)
    else if (v.ipCounted) this.server.locks.uncount(`ip:${v.addr}`)
    this.closeVictim(v, `${remote} (on w${to.w})`, why, `for w${to.w}`)
    return true
  }

  /** The connection's counts go (it closed); once only. */
  release (a: Admission): void {
    if (!this.forget(a)) return
    this.server.locks.uncount('connections')
    if (a.ipCounted) this.server.locks.uncount(`ip:${a.addr}`)
  }

  /**
   * The connection goes to worker `to` (handed over): its counts move there in the store
   * (LockingStore.moveCount), so the totals never dip while it travels; `to` adopts it.
   */
  moveTo (a: Admission, to: { w: number, g: number }): void {
    if (!this.forget(a)) return
    this.server.locks.moveCount('connections', to)
    if (a.ipCounted) this.server.locks.moveCount(`ip:${a.addr}`, to)
  }

  /** A connection from `addr` another worker moved here (moveTo): counted in the store already. */
  adopt (addr: string, remote: string, ip: boolean): Admission {
    const a = new Admission(addr, remote, ip)
    this.live.add(a)
    this.total++
    return a
  }

  private forget (a: Admission): boolean {
    if (a.done) return false
    a.done = true
    this.live.delete(a)
    this.total--
    return true
  }

  private refuse (addr: string, remote: string, why: string): undefined {
    this.server.warnRefusal(`accept ${addr} ${why}`, `connection from ${remote} refused: ${why}, and no unauthenticated connection to drop`)
    return undefined
  }

  /**
   * The connection to drop for a new one: not authenticated, idle longest (oldest first among
   * equals); from `addr` only when given and counted against its `max ip connections`.
   */
  private victim (addr?: string): Admission | undefined {
    let best: Admission | undefined
    let bestAt = Infinity
    for (const a of this.live) {
      const c = a.conn
      if (c === undefined || c.authenticated || (addr !== undefined && (a.addr !== addr || !a.ipCounted))) continue
      if (c.lastRequestAt < bestAt) { best = a; bestAt = c.lastRequestAt }
    }
    return best
  }

  /**
   * Drops `v` for a new connection from `remote`: its slot in the store passes to the newcomer
   * (nothing is counted again, so no admission elsewhere takes it meanwhile); so does its
   * address's slot when the newcomer, of the same address, came in under `max ip connections`
   * (`sameAddr`); otherwise v's address count goes (the newcomer counted its own).
   */
  private evict (v: Admission, sameAddr: boolean, remote: string, why: string): void {
    this.forget(v)
    if (!sameAddr && v.ipCounted) this.server.locks.uncount(`ip:${v.addr}`)
    this.closeVictim(v, remote, why, 'here')
  }

  /** Closes a dropped connection; logged once per 10 s per limit (a flood drops one per connection). */
  private closeVictim (v: Admission, remote: string, why: string, where: string): void {
    const conn = v.conn!
    const idle = ((Date.now() - conn.lastRequestAt) / 1000).toFixed(1)
    const line = this.server.refusals.pass(`drop ${where} ${why}`, `connection from ${v.remote} (not authenticated, idle ${idle} s) dropped to admit ${remote}: ${why}`)
    if (line !== undefined) this.server.log.info(line)
    conn.close(`dropped for a new connection from ${remote}: ${why}`)
  }
}
