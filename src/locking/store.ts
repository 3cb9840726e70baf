// The locking store (ARCHITECTURE: state shared across workers goes through it): everything about
// a file that a client of another worker can see — share modes and delete-pending (MS-FSA
// 2.1.5.1.2.1), oplocks and their breaks (MS-SMB2 3.3.1.10, MS-FSA 2.1.4.12), the name locks of
// CREATE — kept as records in one RecordDb, so that one db shared by every worker gives two
// clients on two workers the semantics two clients of one worker have.
//
// A file's record lists its opens, each owned by (worker slot, generation, id). Whoever changes
// a record does so under the record's lock (RecordDb.update) and then tells the workers that must
// act: the holder's worker sends OPLOCK_BREAK to its client and runs the acknowledgment timer;
// a waiter's worker resumes the CREATE that waits. Those are messages (Peers.send), never polls.
// An entry whose worker died (its generation is no longer the live one) is dropped by the next
// update of its record; the death wakes every waiter, so nothing waits on it.
//
// Beside files, the records every worker admits and routes connections by: server-wide counts
// (the limits) and, per client (its ClientGuid), the worker that serves it.
import { OplockLevel } from '../wire/constants.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import {
  OPLOCK_BREAK_TIMEOUT_MS, OplockState, exclusiveLevel, transition,
  type GrantRequest, type OpenIntent, type OpenTicket, type OplockFields, type OplockHolder,
} from './oplocks.js'
import { sharingConflict, type ShareModeEntry } from './share-modes.js'
import { UNCHANGED, type RecordDb } from './record-db.js'
import { ioConflicts, lockConflicts, type HeldLock, type Range } from './byte-range.js'
import {
  LEASE_BREAK_TIMEOUT_MS, LEASE_STAT_OPEN_ACCESS, LeaseFlags, LeaseState, acknowledgeLease, breakLease, contend, grantFor, leaseStateName,
  leaseTimedOut, newLease, upgrade, type LeaseBreak, type LeaseRec, type LeaseRequest,
} from './leases.js'

/** Who holds an entry: a worker (its slot and the generation of the process in it) and an id unique in that process. */
export interface Owner { w: number, g: number, id: number }

/** One open of a file: its share-mode entry and its oplock. */
export interface OpenRec extends Owner, OplockFields {
  access: number
  share: number
  /**
   * Closing: the open's share mode is released (its CLOSE is under way), but the file is not
   * closed (nor, with delete on close, deleted) yet, so its oplock still holds opens back.
   */
  closing?: true
  /** The open's lease (LeaseRec.lk), when it was opened with one; its oplock fields stay None. */
  lk?: string
}

export interface FileRec {
  kind: 'file'
  opens: OpenRec[]
  /** MS-FSA 2.1.5.4: new opens get DELETE_PENDING; the last close deletes the file. */
  deletePending?: true
  /** The close that is deleting the file (deletePending holds while it does). */
  deleting?: Owner
  /** Opens past their breaks, not registered yet (OpenTicket): no oplock is granted meanwhile. */
  inFlight?: Owner[]
  /** Waits to resume when a break of this file ends, an open of it closes or a lock goes. */
  watchers?: Owner[]
  /** Byte-range locks (MS-FSA 2.1.5.8) in the order taken, each owned by its open (`id`: the open's). */
  locks?: RangeLockRec[]
  /** The leases on the file (MS-SMB2 3.3.1.4), each while an open under its key remains. */
  leases?: LeaseRec[]
}

/** A byte-range lock held by the open named by its owner fields. */
export interface RangeLockRec extends Owner, Range { x: boolean }

/** A byte-range lock asked for: its range, exclusive or shared. */
export interface LockRequest extends Range { exclusive: boolean }

/** A name being created: one CREATE at a time (create.ts), the others queued. */
export interface NameRec { kind: 'name', holder?: Owner, queue: Owner[] }

/** One worker's part of a count: how many it holds. */
export interface Part { w: number, g: number, n: number }

/** A server-wide count (connections, sessions, a share's uses): each worker's part. */
export interface CountRec { kind: 'count', by: Part[] }

/**
 * The workers serving one client (MS-SMB2 2.2.3 ClientGuid), each with its count of that client's
 * connections: normally one, since a connection of a client another worker serves is handed to
 * that worker (src/transport/handoff.ts); two only after two first connections raced or a
 * hand-over failed.
 */
export interface GuidRec { kind: 'guid', by: Part[] }

export type LockRecord = FileRec | NameRec | CountRec | GuidRec

/** Messages between the workers' stores. */
export type StoreMessage =
  /** To the holder's worker: send OPLOCK_BREAK for open `id` (and time the acknowledgment). */
  | { t: 'break', key: string, id: number, to: OplockLevel }
  /** To a waiter's worker: the record it watches changed; look again. */
  | { t: 'wake', id: number }
  /** To the worker serving the lease's client: send LEASE_BREAK (and time the acknowledgment). */
  | { t: 'lbreak', key: string, b: LeaseBreak }
  /** To the worker of open `id`: its file became pending deletion (its waiting notifies end). */
  | { t: 'dpend', id: number }

/** The workers this store shares its db with. One process: `soloPeers`. */
export interface Peers {
  readonly slot: number
  readonly generation: number
  /** Whether (slot, generation) is a live worker, as far as this process has been told. */
  alive (slot: number, generation: number): boolean
  /** Delivers a message to the store of worker `slot` (dropped when it is gone). */
  send (slot: number, msg: StoreMessage): void
}

/** The one-process server: nobody else, nobody dies. */
export const soloPeers: Peers = {
  slot: 0,
  generation: 0,
  alive: () => true,
  send: () => { throw new Error('a one-process store has no peers') },
}

/** An open registered with the store (Open.oplock): its key and id, and the oplock it was granted. */
export interface FileOpen {
  readonly key: string
  readonly id: number
  /** The level granted at open (the CREATE response says it); LEASE for a lease request. */
  readonly granted: OplockLevel
  /** The lease the open was made under: its key, and what the CREATE response says of it. */
  readonly lease?: GrantedLease
}

/** A lease as a CREATE response reports it (MS-SMB2 2.2.14.2.10/11). */
export interface GrantedLease {
  lk: string
  state: number
  /** LeaseFlags.BREAK_IN_PROGRESS when the lease is breaking. */
  flags: number
  epoch: number
  /** The lease's version: a response is in it, whatever the re-opening request's (smb2.lease.v2_epoch2/3). */
  v: number
}

/** What a LEASE_BREAK acknowledgment found (MS-SMB2 3.3.5.22.2). */
export type LeaseAckOutcome = { ok: true } | { ok: false, status: number }

/** What an oplock acknowledgment found (MS-SMB2 3.3.5.22.1); the caller answers the client. */
export type AckResult =
  | { ok: true }
  /** No break outstanding: INVALID_OPLOCK_PROTOCOL. */
  | { ok: false, reason: 'no-break' }
  /** More than the break left, or a lease level: the break completed to none; the ack fails. */
  | { ok: false, reason: 'above', breakTo: OplockLevel }

/** What closing an open decided, atomically with releasing its share mode (MS-FSA 2.1.5.4). */
export interface CloseDecision {
  /** No other open of the file has its share mode. */
  lastOne: boolean
  /** The file is to be deleted now (this open or an earlier one asked; this is the last). */
  deleteNow: boolean
}

const fileK = (key: string): string => `f:${key}`
const nameK = (key: string): string => `n:${key}`
const countK = (name: string): string => `c:${name}`
const guidK = (guid: string): string => `g:${guid}`
const same = (a: Owner, b: Owner): boolean => a.id === b.id && a.w === b.w && a.g === b.g

interface LocalOpen { holder: OplockHolder, timer?: NodeJS.Timeout, lk?: string }

/** This worker's opens under one lease on one file, and the lease's break timer. */
interface LocalLease { ids: Set<number>, timer?: NodeJS.Timeout }

const leaseK = (key: string, lk: string): string => `${key}\0${lk}`
/** The count of directory leases (each worker's part). */
const DIR_LEASES = 'dirleases'

export class LockingStore {
  /** MS-SMB2 3.3.2.1 Oplock Break Acknowledgment Timer, ms; settable for tests. */
  breakTimeoutMs = OPLOCK_BREAK_TIMEOUT_MS
  /** MS-SMB2 3.3.2.5 Lease Break Acknowledgment Timer, ms; settable for tests. */
  leaseBreakTimeoutMs = LEASE_BREAK_TIMEOUT_MS
  /** This process's leases by file and key: the opens under each, and its break timer. */
  private readonly localLeases = new Map<string, LocalLease>()
  /**
   * MS-SMB2 3.3.1.4 LeaseTable, as far as this worker's clients go: the file each lease key is
   * bound to while opens under it remain here (a client is served by one worker: handoff.ts), and
   * how many. The lease's state itself is in the file's record.
   */
  private readonly leaseFiles = new Map<string, { key: string, n: number }>()
  private lastId = 0
  /** This process's opens: how to reach their clients, and their break timers. */
  private readonly local = new Map<number, LocalOpen>()
  /** Opens whose entry beginClose already removed (closed() then updates nothing). */
  private readonly closedEarly = new Set<number>()
  /** This process's waits, by id: each resolves when woken (a record changed, a worker died). */
  private readonly waiters = new Map<number, () => void>()

  constructor (
    private readonly db: RecordDb<LockRecord>,
    readonly peers: Peers = soloPeers,
    private readonly log: (msg: string) => void = () => {}
  ) {}

  private owner (): Owner { return { w: this.peers.slot, g: this.peers.generation, id: ++this.lastId } }
  private live (o: { w: number, g: number }): boolean { return this.peers.alive(o.w, o.g) }

  // --- records --------------------------------------------------------------------------------

  /** Drops what dead workers left in `r`; true when something was dropped. */
  private purge (r: FileRec): boolean {
    const before = r.opens.length + (r.inFlight?.length ?? 0) + (r.watchers?.length ?? 0) + (r.locks?.length ?? 0)
    r.opens = r.opens.filter(o => this.live(o))
    if (r.inFlight !== undefined) r.inFlight = r.inFlight.filter(o => this.live(o))
    if (r.watchers !== undefined) r.watchers = r.watchers.filter(o => this.live(o))
    if (r.locks !== undefined) r.locks = nonEmpty(r.locks.filter(o => this.live(o)))
    let dropped = before !== r.opens.length + (r.inFlight?.length ?? 0) + (r.watchers?.length ?? 0) + (r.locks?.length ?? 0)
    // A lease lasts while an open under its key does (MS-SMB2 3.3.4.17 / 3.3.5.10).
    if (r.leases !== undefined) {
      const n = r.leases.length
      r.leases = nonEmpty(r.leases.filter(l => r.opens.some(o => o.lk === l.lk)))
      if ((r.leases?.length ?? 0) !== n) dropped = true
    }
    if (r.deleting !== undefined && !this.live(r.deleting)) { r.deleting = undefined; dropped = true }
    // Pending deletion needs an open to carry it out at its close (or a close doing it).
    if (r.deletePending && r.deleting === undefined && r.opens.length === 0) { r.deletePending = undefined; dropped = true }
    return dropped
  }

  /** The record to store: none once nothing is left in it. */
  private kept (r: FileRec): FileRec | undefined {
    if (r.opens.length > 0 || r.deletePending || (r.inFlight?.length ?? 0) > 0 || (r.watchers?.length ?? 0) > 0) return r
    return undefined
  }

  private readFile (key: string): FileRec | undefined {
    const r = this.db.read(fileK(key))
    return r?.kind === 'file' ? r : undefined
  }

  /** Share-mode entries of live opens that are not closing. */
  private sharing (r: FileRec | undefined): OpenRec[] {
    return r === undefined ? [] : r.opens.filter(o => o.closing === undefined && this.live(o))
  }

  /** Updates `key`'s file record; fn sees it purged of dead workers' entries. */
  private updateFile<T> (key: string, fn: (r: FileRec) => T): T {
    let out!: T
    this.db.update(fileK(key), (old) => {
      const r: FileRec = old?.kind === 'file' ? old : { kind: 'file', opens: [] }
      this.purge(r)
      out = fn(r)
      return this.kept(r)
    })
    return out
  }

  // --- share modes (MS-FSA 2.1.5.1.2.1) --------------------------------------------------------

  isDeletePending (key: string): boolean {
    const r = this.readFile(key)
    if (r === undefined || !r.deletePending) return false
    // What a dead worker left pending, with nobody left to delete it, is not pending (purge()).
    return (r.deleting !== undefined && this.live(r.deleting)) || r.opens.some(o => this.live(o))
  }

  /** Whether an open with `entry`'s access and sharing would conflict with the opens of `key`. */
  conflicts (key: string, entry: ShareModeEntry): boolean {
    return this.sharing(this.readFile(key)).some(o => sharingConflict({ access: o.access, shareAccess: o.share }, entry))
  }

  /**
   * Throws STATUS_SHARING_VIOLATION if an open with `entry`'s access and sharing would conflict
   * with the opens of `key`, registering nothing (an open made for an instant, such as the target
   * directory of a rename).
   */
  check (key: string, entry: ShareModeEntry): void {
    if (this.conflicts(key, entry)) throw new NtStatusError(NtStatus.SHARING_VIOLATION)
  }

  /** Opens of `key` holding a share mode. */
  openCount (key: string): number { return this.sharing(this.readFile(key)).length }

  /**
   * Opens of `key` that asked for some access, closing ones included: a stream's open is also an
   * entry on its file's record that asks for none (create.ts), so these are the opens of the
   * file's unnamed stream itself.
   */
  accessOpenCount (key: string): number {
    return (this.readFile(key)?.opens ?? []).filter(o => o.access !== 0 && this.live(o)).length
  }

  /** MS-FSA 2.1.5.14.3 FileDispositionInformation: set or clear the file's pending deletion. */
  setDeletePending (key: string, pending: boolean): void {
    const told = this.updateFile(key, (r) => {
      if (pending && r.opens.length > 0) {
        r.deletePending = true
        return this.liveOpens(r)
      }
      if (!pending && r.deleting === undefined) r.deletePending = undefined
      return []
    })
    this.deliverDeletePending(told)
  }

  // --- oplocks -------------------------------------------------------------------------------

  /**
   * Breaks what an open of `key` contends with and waits until no break it depends on is
   * outstanding. `goAsync` is called once, before the wait, and returns the signal that aborts it
   * (CANCEL, LOGOFF, disconnect). Resolves undefined when it waited (the caller then looks at the
   * file again: the holder may have closed or deleted it); otherwise an OpenTicket, taken before
   * anything could be awaited.
   */
  async breakForOpen (key: string, intent: OpenIntent, goAsync: () => AbortSignal): Promise<OpenTicket | undefined> {
    const r = await this.breakAndWait(key, () => intent, goAsync)
    return r?.ticket
  }

  /**
   * A CREATE's checks of an existing file, in one update: DELETE_PENDING (thrown, MS-FSA
   * 2.1.5.1.2.1: before any oplock is looked at), whether `entry` conflicts with the file's share
   * modes, then breakForOpen with that answer. Resolves undefined when it waited (look again),
   * else the ticket and whether sharing failed (the caller fails the open, after the breaks).
   */
  async prepareOpen (key: string, entry: ShareModeEntry, intent: Omit<OpenIntent, 'sharingViolation'>, goAsync: () => AbortSignal): Promise<{ ticket: OpenTicket, sharingViolation: boolean } | undefined> {
    return await this.breakAndWait(key, (r) => {
      if (r.deletePending) throw new NtStatusError(NtStatus.DELETE_PENDING)
      const sharingViolation = r.opens.some(o => o.closing === undefined && sharingConflict({ access: o.access, shareAccess: o.share }, entry))
      return { ...intent, sharingViolation }
    }, goAsync)
  }

  private async breakAndWait (key: string, decide: (r: FileRec) => OpenIntent, goAsync: () => AbortSignal): Promise<{ ticket: OpenTicket, sharingViolation: boolean } | undefined> {
    const me = this.owner()
    const breaks: OpenRec[] = []
    const leaseBreaks: Array<{ to: Owner, b: LeaseBreak }> = []
    let intent!: OpenIntent
    let counts = false
    const mustWait = this.updateFile(key, (r) => {
      intent = decide(r)
      const to = intent.overwrite || !intent.level2 ? OplockLevel.NONE : OplockLevel.II
      // A stat open that does not overwrite never needs a break, so it holds nobody back.
      counts = !(intent.statOpen && !intent.overwrite) && !intent.sharingViolation && intent.leasesOnly !== true
      let wait = false
      for (const e of r.opens) {
        if (e.state === OplockState.None || intent.leasesOnly === true) continue
        const exclusive = exclusiveLevel(e.level)
        if (intent.sharingViolation) {
          // MS-FSA 2.1.5.1.2.1: on a sharing violation only a batch oplock is broken (its holder
          // may be about to close); an exclusive one is not, and the open fails at once.
          if (e.level !== OplockLevel.BATCH) continue
        } else if (intent.statOpen && !intent.overwrite) {
          continue
        }
        if (e.closing !== undefined) {
          // Its CLOSE is under way: nothing to tell the client, but an exclusive oplock holds
          // this open back until the file is closed (and deleted, if it is to be).
          if (exclusive) wait = true
          continue
        }
        if (exclusive) {
          if (e.state === OplockState.Held) { transition(e, { type: 'break', to }); breaks.push(e) } else if (to < e.breakTo) transition(e, { type: 'break', to }) // lower an outstanding break
          wait = true
        } else if (intent.overwrite && !intent.sharingViolation) {
          transition(e, { type: 'break', to: OplockLevel.NONE }) // level II: no acknowledgment, no wait
          breaks.push(e)
        }
      }
      // Leases of other keys (smbtorture smb2.lease.break/breaking*; Samba's delay_for_oplock):
      // W goes (H too when sharing failed, everything for an overwrite); the open waits for the
      // acknowledgment of what it took, or for a break still under way from an earlier open.
      if (!(intent.statOpen && !intent.overwrite) && intent.leaseStatOpen !== true) {
        for (const l of r.leases ?? []) {
          if (l.lk === intent.lk) continue
          const c = contend(l, intent, intent.firstAttempt !== false)
          if (c.wait) wait = true
          if (c.to === l.state) continue
          const b = breakLease(l, c.to)
          const to = this.leaseHolder(r, l.lk)
          if (b !== undefined && to !== undefined) leaseBreaks.push({ to, b })
        }
      }
      if (wait) (r.watchers ??= []).push(me)
      else if (counts) (r.inFlight ??= []).push(me)
      return wait
    })
    this.deliverBreaks(key, breaks)
    this.deliverLeaseBreaks(key, leaseBreaks)
    if (!mustWait) return { ticket: this.ticket(key, counts ? me : undefined), sharingViolation: intent.sharingViolation }
    const woken = this.waitFor(me.id)
    let signal: AbortSignal
    try {
      signal = goAsync()
    } catch (e) {
      this.forgetWatcher(key, me)
      throw e
    }
    await this.untilWoken(woken, signal, () => { this.forgetWatcher(key, me) })
    return undefined
  }

  private ticket (key: string, me: Owner | undefined): Ticket {
    return new Ticket(key, me, (owner) => {
      this.updateFile(key, (r) => { r.inFlight = r.inFlight?.filter(o => !same(o, owner)) })
    })
  }

  private forgetWatcher (key: string, me: Owner): void {
    this.waiters.delete(me.id)
    this.updateFile(key, (r) => { r.watchers = r.watchers?.filter(o => !same(o, me)) })
  }

  /**
   * Registers an open of `key`: its share mode (throws SHARING_VIOLATION or DELETE_PENDING when the
   * file changed since the checks) and its oplock, granted as MS-FSA allows given the file's other
   * opens, in one update. `ticket` (from breakForOpen) ends here.
   */
  addOpen (key: string, entry: ShareModeEntry, holder: OplockHolder, req: GrantRequest, ticket?: OpenTicket): FileOpen {
    const me = this.owner()
    // A directory's lease (MS-SMB2 3.3.5.9.11): R and H at most, never W.
    const wantLease = req.lease === undefined ? undefined : req.eligible ? req.lease : req.dirLease === true ? { ...req.lease, state: req.lease.state & (LeaseState.READ | LeaseState.HANDLE) } : undefined
    let newDirLease = false
    // MS-SMB2 3.3.5.9.8: a lease key names one file; asked for with another, the open fails.
    // (A directory, which gets no lease, included: smbtorture smb2.lease.request.)
    const bound = req.lease !== undefined ? this.leaseFiles.get(req.lease.lk) : undefined
    if (bound !== undefined && bound.key !== key) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'lease key already in use for another file')
    let lease: GrantedLease | undefined
    const granted = this.updateFile(key, (r) => {
      if (r.deletePending) throw new NtStatusError(NtStatus.DELETE_PENDING)
      for (const o of r.opens) {
        if (o.closing === undefined && sharingConflict({ access: o.access, shareAccess: o.share }, entry)) throw new NtStatusError(NtStatus.SHARING_VIOLATION)
      }
      const e: OpenRec = { ...me, access: entry.access, share: entry.shareAccess, state: OplockState.None, level: OplockLevel.NONE, breakTo: OplockLevel.NONE }
      // The ticket's own flight ends as this open lands; others still in flight hold grants back.
      const mine = ticket instanceof Ticket && ticket.key === key ? ticket.owner : undefined
      if (mine !== undefined) r.inFlight = r.inFlight?.filter(o => !same(o, mine))
      if (wantLease !== undefined) {
        const had = r.leases?.some(l => l.lk === wantLease.lk) === true
        lease = grantLease(r, wantLease, req.level2, (r.inFlight?.length ?? 0) > 0)
        if (req.dirLease === true && !had) {
          r.leases!.find(l => l.lk === wantLease.lk)!.dir = true
          newDirLease = true
        }
        e.lk = wantLease.lk
        r.opens.push(e)
        return OplockLevel.LEASE
      }
      transition(e, { type: 'grant', level: decide(r, req, (r.inFlight?.length ?? 0) > 0) })
      r.opens.push(e)
      return e.level
    })
    if (ticket instanceof Ticket && ticket.key === key) ticket.landed()
    else ticket?.done()
    this.holdLocally(key, me.id, holder, wantLease?.lk)
    // Changes inside directories look for directory leases only while some exist (dirLeases()).
    if (newDirLease) this.updateCount(DIR_LEASES, (mine) => { mine.n++ })
    if (wantLease !== undefined) {
      this.log(`lease ${leaseStateName(lease!.state)}${(lease!.flags & LeaseFlags.BREAK_IN_PROGRESS) !== 0 ? ' (breaking)' : ''} epoch ${lease!.epoch} to ${holder.name} (asked ${leaseStateName(wantLease.state)})`)
    } else if (granted !== OplockLevel.NONE) {
      this.log(`grant ${granted} to ${holder.name}`)
    }
    return { key, id: me.id, granted, lease }
  }

  /**
   * A persistent open read back at start (src/session/persistent.ts): its share-mode entry, its
   * oplock (the level it held; a break in progress is taken as completed to its target) or its
   * lease, and its byte-range locks, as they were before the restart. Throws SHARING_VIOLATION
   * when an open restored before conflicts with it (two records that cannot both be true).
   */
  restoreOpen (key: string, entry: ShareModeEntry, holder: OplockHolder, held: { level: OplockLevel, lease?: LeaseRec }, locks: readonly LockRequest[]): FileOpen {
    const me = this.owner()
    const lease = held.lease
    const bound = lease !== undefined ? this.leaseFiles.get(lease.lk) : undefined
    if (bound !== undefined && bound.key !== key) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'lease key already in use for another file')
    let granted: GrantedLease | undefined
    this.updateFile(key, (r) => {
      for (const o of r.opens) {
        if (o.closing === undefined && sharingConflict({ access: o.access, shareAccess: o.share }, entry)) throw new NtStatusError(NtStatus.SHARING_VIOLATION, 'a restored open conflicts with another')
      }
      const e: OpenRec = { ...me, access: entry.access, share: entry.shareAccess, state: OplockState.None, level: OplockLevel.NONE, breakTo: OplockLevel.NONE }
      if (lease !== undefined) {
        let l = r.leases?.find(x => x.lk === lease.lk)
        if (l === undefined) {
          l = { ...lease, breaking: false, breakTo: 0, breakToReq: 0 }
          ;(r.leases ??= []).push(l)
        }
        e.lk = lease.lk
        granted = { lk: l.lk, state: l.state, flags: 0, epoch: l.epoch, v: l.v }
      } else {
        transition(e, { type: 'grant', level: held.level })
      }
      r.opens.push(e)
      if (locks.length > 0) r.locks = [...(r.locks ?? []), ...locks.map(l => ({ ...me, off: l.off, len: l.len, x: l.exclusive }))]
    })
    this.holdLocally(key, me.id, holder, lease?.lk)
    return { key, id: me.id, granted: lease !== undefined ? OplockLevel.LEASE : held.level, lease: granted }
  }

  /** Open `id` of `key` is this process's: its holder, and (`lk`) its lease's local bookkeeping. */
  private holdLocally (key: string, id: number, holder: OplockHolder, lk: string | undefined): void {
    this.local.set(id, { holder, lk })
    if (lk === undefined) return
    const k = leaseK(key, lk)
    let ll = this.localLeases.get(k)
    if (ll === undefined) { ll = { ids: new Set() }; this.localLeases.set(k, ll) }
    ll.ids.add(id)
    const b = this.leaseFiles.get(lk)
    if (b !== undefined) b.n++
    else this.leaseFiles.set(lk, { key, n: 1 })
  }

  /** The byte-range locks open `o` holds (what a persistent open's record keeps). */
  locksHeldBy (o: FileOpen): LockRequest[] {
    const me = this.ownerOf(o)
    return (this.readFile(o.key)?.locks ?? []).filter(l => same(l, me)).map(l => ({ off: l.off, len: l.len, exclusive: l.x }))
  }

  /** MS-FSA 2.1.4.12 (WRITE, SET EOF/allocation): every level II oplock of `key` breaks to none. */
  breakLevelII (key: string, writer?: FileOpen): void {
    const r = this.readFile(key)
    const lk = writer?.lease?.lk
    const readLease = (l: LeaseRec): boolean => l.lk !== lk && (l.state & LeaseState.READ) !== 0 && (l.state & LeaseState.WRITE) === 0
    // The common case (a WRITE to a file nobody else caches) reads the record and nothing more.
    if (r === undefined || !(r.opens.some(o => o.state === OplockState.Held && o.level === OplockLevel.II) || r.leases?.some(readLease) === true)) return
    const breaks: OpenRec[] = []
    const leaseBreaks: Array<{ to: Owner, b: LeaseBreak }> = []
    this.updateFile(key, (r) => {
      for (const e of r.opens) {
        if (e.state === OplockState.Held && e.level === OplockLevel.II && e.closing === undefined) {
          transition(e, { type: 'break', to: OplockLevel.NONE })
          breaks.push(e)
        }
      }
      // MS-FSA 2.1.4.12: read caching of other lease keys goes (the writer's own lease stays).
      for (const l of r.leases ?? []) {
        if (!readLease(l)) continue
        const b = breakLease(l, LeaseState.NONE)
        const to = this.leaseHolder(r, l.lk)
        if (b !== undefined && to !== undefined) leaseBreaks.push({ to, b })
      }
    })
    this.deliverBreaks(key, breaks)
    this.deliverLeaseBreaks(key, leaseBreaks)
  }

  /**
   * A program other than smbts changed `key`'s data on the server's disk (src/vfs/local-changes.ts
   * sees it after the fact): nobody may go on caching what it read or wrote. Every oplock breaks to
   * none (an exclusive one owes an acknowledgment, as for a contending open) and so does every
   * lease with R or W caching (its H too: no lease state has H without R). Nothing waits on these
   * breaks: the change was made already.
   */
  breakForLocalChange (key: string): number {
    const caches = (l: LeaseRec): boolean => (l.state & (LeaseState.READ | LeaseState.WRITE)) !== 0 && !(l.breaking === true && (l.breakTo & (LeaseState.READ | LeaseState.WRITE)) === 0)
    const r = this.readFile(key)
    if (r === undefined || !(r.opens.some(o => o.state === OplockState.Held && o.level !== OplockLevel.LEASE) || r.leases?.some(caches) === true)) return 0
    const breaks: OpenRec[] = []
    const leaseBreaks: Array<{ to: Owner, b: LeaseBreak }> = []
    this.updateFile(key, (r) => {
      for (const e of r.opens) {
        if (e.state !== OplockState.Held || e.level === OplockLevel.LEASE || e.closing !== undefined) continue
        transition(e, { type: 'break', to: OplockLevel.NONE })
        breaks.push(e)
      }
      for (const l of r.leases ?? []) {
        if (!caches(l)) continue
        const b = breakLease(l, LeaseState.NONE)
        const to = this.leaseHolder(r, l.lk)
        if (b !== undefined && to !== undefined) leaseBreaks.push({ to, b })
      }
    })
    this.deliverBreaks(key, breaks)
    this.deliverLeaseBreaks(key, leaseBreaks)
    return breaks.length + leaseBreaks.length
  }

  /**
   * MS-SMB2 3.3.5.22.2: the client `lk` (ClientGuid and LeaseKey) acknowledges a break of its
   * lease with `state`. A break whose target fell meanwhile continues with its next step.
   */
  acknowledgeLease (lk: string, state: number): LeaseAckOutcome {
    const bound = this.leaseFiles.get(lk)
    if (bound === undefined) return { ok: false, status: NtStatus.OBJECT_NAME_NOT_FOUND }
    const key = bound.key
    let out: LeaseAckOutcome = { ok: false, status: NtStatus.OBJECT_NAME_NOT_FOUND }
    let next: { to: Owner, b: LeaseBreak } | undefined
    let still = false
    const woken = this.updateFile(key, (r) => {
      const l = r.leases?.find(x => x.lk === lk)
      if (l === undefined) return []
      const before = leaseStateName(l.state)
      const res = acknowledgeLease(l, state)
      if (!res.ok) {
        out = { ok: false, status: res.reason === 'not-breaking' ? NtStatus.UNSUCCESSFUL : NtStatus.REQUEST_NOT_ACCEPTED }
        this.log(`lease ${lk.slice(32)} acknowledged ${leaseStateName(state)} from ${before}: refused (${res.reason})`)
        return []
      }
      out = { ok: true }
      still = l.breaking
      const to = this.leaseHolder(r, lk)
      if (res.next !== undefined && to !== undefined) next = { to, b: res.next }
      this.log(`lease ${lk.slice(32)} acknowledged ${leaseStateName(state)}${res.next !== undefined ? `; breaking on to ${leaseStateName(res.next.to)}` : ''}`)
      return takeWatchers(r)
    })
    if (!still) this.stopLeaseTimer(key, lk)
    if (next !== undefined) this.deliverLeaseBreaks(key, [next])
    this.wake(woken)
    return out
  }

  /**
   * Whether any directory lease exists on the server (one read of a count record): changes inside
   * directories look up their parent only then.
   */
  dirLeases (): boolean {
    const r = this.db.read(countK(DIR_LEASES))
    return r?.kind === 'count' && r.by.some(x => x.n > 0 && this.live(x))
  }

  /**
   * Something inside the directory `key` changed (a file created, deleted, renamed, written):
   * its directory leases go to none, except the one named by the changer's ParentLeaseKey
   * (`except`). Nobody waits for these breaks (smbtorture smb2.lease.v2_request).
   */
  breakDirLeases (key: string, except?: string): void {
    const r = this.readFile(key)
    if (r?.leases?.some(l => l.dir === true && l.lk !== except && l.state !== LeaseState.NONE) !== true) return
    const leaseBreaks: Array<{ to: Owner, b: LeaseBreak }> = []
    this.updateFile(key, (r) => {
      for (const l of r.leases ?? []) {
        if (l.dir !== true || l.lk === except) continue
        const b = breakLease(l, LeaseState.NONE)
        const to = this.leaseHolder(r, l.lk)
        if (b !== undefined && to !== undefined) leaseBreaks.push({ to, b })
      }
    })
    this.deliverLeaseBreaks(key, leaseBreaks)
  }

  /**
   * MS-FSA 2.1.4.12 (the file set to be deleted while others hold it open): handle caching of
   * the other lease keys goes, so their holders close the handles they keep (smbtorture
   * smb2.lease.unlink). Nobody waits: the deletion happens at the last close.
   */
  breakHandleCaching (key: string, except?: string): void {
    const r = this.readFile(key)
    if (r?.leases?.some(l => l.lk !== except && (l.state & LeaseState.HANDLE) !== 0) !== true) return
    const leaseBreaks: Array<{ to: Owner, b: LeaseBreak }> = []
    this.updateFile(key, (r) => {
      for (const l of r.leases ?? []) {
        if (l.lk === except || (l.state & LeaseState.HANDLE) === 0) continue
        const b = breakLease(l, l.state & ~LeaseState.HANDLE)
        const to = this.leaseHolder(r, l.lk)
        if (b !== undefined && to !== undefined) leaseBreaks.push({ to, b })
      }
    })
    this.deliverLeaseBreaks(key, leaseBreaks)
  }

  /** Whether any lease is held on `key` (a read of its record). */
  hasLeases (key: string): boolean {
    return (this.readFile(key)?.leases?.length ?? 0) > 0
  }

  /** The lease `lk` on `key` now (tests, diagnostics). */
  leaseOf (key: string, lk: string): LeaseRec | undefined {
    const l = this.readFile(key)?.leases?.find(x => x.lk === lk)
    return l === undefined ? undefined : { ...l }
  }

  /** Every lease of every file, with the file's key (status.json). */
  allLeases (): Array<{ key: string, lease: LeaseRec }> {
    const out: Array<{ key: string, lease: LeaseRec }> = []
    for (const k of this.db.keys()) {
      if (!k.startsWith('f:')) continue
      const r = this.db.read(k)
      if (r?.kind !== 'file') continue
      for (const l of r.leases ?? []) if (r.opens.some(o => o.lk === l.lk && this.live(o))) out.push({ key: k.slice(2), lease: { ...l } })
    }
    return out
  }

  /**
   * MS-SMB2 3.3.5.22.1: the holder of `o` acknowledges a break with `level` (LEASE: an oplock is
   * not a lease; the break completes to none and the ack fails).
   */
  acknowledge (o: FileOpen, level: number): AckResult {
    let result = { ok: false, reason: 'no-break' } as AckResult
    const woken = this.updateFile(o.key, (r) => {
      const e = r.opens.find(x => x.id === o.id && x.w === this.peers.slot && x.g === this.peers.generation)
      if (e === undefined || e.state !== OplockState.Breaking) return []
      const valid = level !== OplockLevel.LEASE && level <= e.breakTo
      result = valid ? { ok: true } : { ok: false, reason: 'above', breakTo: e.breakTo }
      transition(e, { type: 'ack', level: valid ? level as OplockLevel : OplockLevel.NONE })
      return takeWatchers(r)
    })
    if (result.ok || result.reason === 'above') {
      this.stopTimer(o.id)
      this.log(`${this.local.get(o.id)?.holder.name ?? o.id} acknowledged`)
    }
    this.wake(woken)
    return result
  }

  /** The oplock of `o` now: state, level, break target (tests, diagnostics). */
  /**
   * A durable open changed hands (MS-SMB2 3.3.5.9.7: its client reconnected; or it lost its
   * connection): its breaks go to `holder` from now on. Its entries in the file's record (share
   * mode, oplock, lease, byte-range locks) are the open's and stay as they are.
   */
  rebind (o: FileOpen, holder: OplockHolder): void {
    const l = this.local.get(o.id)
    if (l !== undefined) l.holder = holder
  }

  oplockOf (o: FileOpen): OplockFields | undefined {
    const e = this.readFile(o.key)?.opens.find(x => x.id === o.id && x.w === this.peers.slot && x.g === this.peers.generation)
    return e === undefined ? undefined : { state: e.state, level: e.level, breakTo: e.breakTo }
  }

  // --- a stream's rename ----------------------------------------------------------------------

  /**
   * A named stream renamed (stream-info.ts): its key is made of its name (streams.ts streamKey),
   * unlike a file's, which is its inode's and outlives a rename. Everything the old name's record
   * holds moves to the new name's: its opens with their share modes and oplocks, their byte-range
   * locks, their leases (and this worker's bookkeeping of those leases), so the stream's opens go
   * on as they were under the new name, and the old name is free.
   *
   * Refused with SHARING_VIOLATION, before anything moved, when an open of the stream is another
   * worker's (that worker's opens would keep naming the old key), when a break of it or a close
   * is under way or an open is landing (their timers and waits name the old key), or when an open
   * already under the new name conflicts with a moving one; DELETE_PENDING when it is.
   * `only`: move these opens and nothing else (undoing a move whose rename then failed).
   * Returns the opens moved; re-pointing the Open objects holding them is the caller's part
   * (FileOpen.key, Open.shareModeKey: `movedTo`).
   */
  moveRecord (from: string, to: string, only?: readonly Owner[]): Owner[] {
    if (from === to) return []
    const r = this.readFile(from)
    if (r === undefined) return []
    const mine = (o: Owner): boolean => this.live(o) && (only === undefined || only.some(x => same(x, o)))
    const opens = r.opens.filter(mine)
    if (opens.length === 0) return []
    if (only === undefined) {
      if (r.deletePending === true) throw new NtStatusError(NtStatus.DELETE_PENDING, 'the stream is pending deletion')
      if (opens.some(o => o.w !== this.peers.slot || o.g !== this.peers.generation)) throw new NtStatusError(NtStatus.SHARING_VIOLATION, 'another worker has the stream open')
      if ((r.inFlight ?? []).some(o => this.live(o)) || (r.watchers ?? []).some(o => this.live(o)) || opens.some(o => o.closing === true || o.state === OplockState.Breaking) ||
        (r.leases ?? []).some(l => l.breaking)) throw new NtStatusError(NtStatus.SHARING_VIOLATION, 'a break, close or open of the stream is under way')
    }
    const lks = new Set(opens.flatMap(o => o.lk !== undefined ? [o.lk] : []))
    const locks = (r.locks ?? []).filter(l => opens.some(o => same(o, l)))
    const leases = (r.leases ?? []).filter(l => lks.has(l.lk))
    this.updateFile(to, (t) => {
      for (const o of opens) {
        if (t.opens.some(x => x.closing === undefined && sharingConflict({ access: x.access, shareAccess: x.share }, { access: o.access, shareAccess: o.share }))) {
          throw new NtStatusError(NtStatus.SHARING_VIOLATION, 'an open of the new name conflicts')
        }
      }
      t.opens.push(...opens)
      if (locks.length > 0) t.locks = [...(t.locks ?? []), ...locks]
      if (leases.length > 0) t.leases = [...(t.leases ?? []).filter(l => !lks.has(l.lk)), ...leases]
    })
    this.updateFile(from, (f) => {
      f.opens = f.opens.filter(o => !opens.some(x => same(x, o)))
      if (f.locks !== undefined) f.locks = nonEmpty(f.locks.filter(l => !opens.some(x => same(x, l))))
      if (f.leases !== undefined) f.leases = nonEmpty(f.leases.filter(l => !lks.has(l.lk)))
    })
    for (const lk of lks) {
      const ll = this.localLeases.get(leaseK(from, lk))
      if (ll !== undefined) { this.localLeases.delete(leaseK(from, lk)); this.localLeases.set(leaseK(to, lk), ll) }
      const b = this.leaseFiles.get(lk)
      if (b !== undefined && b.key === from) b.key = to
    }
    return opens.map(o => ({ w: o.w, g: o.g, id: o.id }))
  }

  /** The FileOpen an Open holds, once `moveRecord` moved it to `to`. */
  movedTo (o: FileOpen, to: string): FileOpen { return { ...o, key: to } }

  // --- close ----------------------------------------------------------------------------------

  /**
   * The first half of a close: the open's share mode is released and, with it, whether the file
   * is deleted now is decided (MS-FSA 2.1.5.4: a delete-on-close open that is not the last leaves
   * the file pending deletion; the last close deletes it, and new opens get DELETE_PENDING until
   * it did). The oplock holds until `closed()`.
   */
  beginClose (o: FileOpen, deleteOnClose: boolean): CloseDecision {
    const me: Owner = { w: this.peers.slot, g: this.peers.generation, id: o.id }
    let dirGone = false
    const d = this.updateFile(o.key, (r) => {
      // Its byte-range locks go with its share mode; whoever waits for one looks again.
      const woken = releaseLocks(r, me)
      const i = r.opens.findIndex(x => same(x, me))
      const e = i >= 0 ? r.opens[i] : undefined
      if (e !== undefined) e.closing = true
      const lastOne = !r.opens.some(x => x.closing === undefined)
      const told = deleteOnClose && !lastOne ? this.liveOpens(r) : []
      if (deleteOnClose && !lastOne) r.deletePending = true
      const deleteNow = (deleteOnClose || r.deletePending === true) && lastOne
      if (deleteNow) { r.deletePending = true; r.deleting = me }
      // Nobody waits for an open without an exclusive oplock (waits are for exclusive oplocks'
      // breaks, and for the closes of their holders): when this close deletes nothing, its entry
      // goes now, and closed() has nothing left to update.
      const done = e !== undefined && !deleteNow && !(e.state !== OplockState.None && exclusiveLevel(e.level))
      if (done) {
        transition(e, { type: 'close' })
        r.opens.splice(i, 1)
        // The lease's last open: the lease goes, and whoever waited for its break looks again.
        const gone = e.lk !== undefined ? dropLease(r, e.lk) : undefined
        if (gone !== undefined) woken.push(...takeWatchers(r))
        if (gone?.dir === true) dirGone = true
      }
      return { lastOne, deleteNow, done, woken, told }
    })
    this.deliverDeletePending(d.told)
    if (d.done) this.closedEarly.add(o.id)
    if (dirGone) this.uncount(DIR_LEASES)
    this.wake(d.woken)
    return { lastOne: d.lastOne, deleteNow: d.deleteNow }
  }

  /**
   * The second half: the file is closed (and deleted, if beginClose said so). The open's oplock
   * ends, and every open waiting on the file looks again.
   */
  closed (o: FileOpen): void {
    const me: Owner = { w: this.peers.slot, g: this.peers.generation, id: o.id }
    this.stopTimer(o.id)
    this.local.delete(o.id)
    if (o.lease !== undefined) this.forgetLeaseOpen(o.key, o.id, o.lease.lk)
    if (this.closedEarly.delete(o.id)) return
    let dirGone = false
    const woken = this.updateFile(o.key, (r) => {
      const i = r.opens.findIndex(x => same(x, me))
      if (i >= 0) {
        const lk = r.opens[i]!.lk
        transition(r.opens[i]!, { type: 'close' })
        r.opens.splice(i, 1)
        if (lk !== undefined && dropLease(r, lk)?.dir === true) dirGone = true
      }
      if (r.deleting !== undefined && same(r.deleting, me)) { r.deleting = undefined; r.deletePending = undefined }
      return takeWatchers(r)
    })
    if (dirGone) this.uncount(DIR_LEASES)
    this.wake(woken)
  }

  // --- byte-range locks (MS-FSA 2.1.5.8, 2.1.5.9; byte-range.ts) ---------------------------------

  /** The live locks of `r`, as seen by the open `me`. */
  private heldBy (r: FileRec | undefined, me: Owner): HeldLock[] {
    const out: HeldLock[] = []
    for (const l of r?.locks ?? []) if (this.live(l)) out.push({ off: l.off, len: l.len, exclusive: l.x, mine: same(l, me) })
    return out
  }

  private ownerOf (o: FileOpen): Owner { return { w: this.peers.slot, g: this.peers.generation, id: o.id } }

  /**
   * Takes `locks` for open `o`, all or none, in one update (nobody sees half of them): -1 when
   * taken, else the index of the first that conflicts with the file's locks or with one before
   * it in `locks`.
   */
  tryLock (o: FileOpen, locks: readonly LockRequest[]): number {
    const me = this.ownerOf(o)
    return this.updateFile(o.key, (r) => {
      const held = this.heldBy(r, me)
      for (const [i, l] of locks.entries()) {
        if (lockConflicts(held, l)) return i
        held.push({ ...l, mine: true })
      }
      r.locks = [...(r.locks ?? []), ...locks.map(l => ({ ...me, off: l.off, len: l.len, x: l.exclusive }))]
      return -1
    })
  }

  /**
   * A lock that waits (MS-SMB2 3.3.5.14.2 without FAIL_IMMEDIATELY): taken at once when it can
   * be; otherwise `goAsync` is called (once) and the lock is taken when the range frees — an
   * unlock, a close, the death of the holder's worker — or the wait is aborted (CANCEL, LOGOFF,
   * disconnect: the signal's reason is thrown).
   */
  async lock (o: FileOpen, lock: LockRequest, goAsync: () => AbortSignal): Promise<void> {
    const open = this.ownerOf(o)
    const me = this.owner()
    let signal: AbortSignal | undefined
    for (;;) {
      // Woken and aborted in one turn (the open's close aborts its waits, then releases its
      // locks): the abort wins, or the lock would outlive the close that already released the rest.
      if (signal?.aborted === true) throw signal.reason
      const got = this.updateFile(o.key, (r) => {
        r.watchers = r.watchers?.filter(x => !same(x, me))
        // An open that is closing takes no new lock (its close has released the others).
        if (!r.opens.some(x => same(x, open) && x.closing === undefined)) throw new NtStatusError(NtStatus.RANGE_NOT_LOCKED, 'the open closed while its lock waited')
        if (lockConflicts(this.heldBy(r, open), lock)) {
          (r.watchers ??= []).push(me)
          return false
        }
        (r.locks ??= []).push({ ...open, off: lock.off, len: lock.len, x: lock.exclusive })
        return true
      })
      if (got) return
      const woken = this.waitFor(me.id)
      try {
        signal ??= goAsync()
      } catch (e) {
        this.forgetWatcher(o.key, me)
        throw e
      }
      await this.untilWoken(woken, signal, () => { this.forgetWatcher(o.key, me) })
    }
  }

  /**
   * MS-FSA 2.1.5.9: removes the lock of `o` on exactly `range` (an exclusive one before a shared
   * one on the same range); false when it holds none there (STATUS_RANGE_NOT_LOCKED).
   */
  unlock (o: FileOpen, range: Range): boolean {
    const me = this.ownerOf(o)
    const woken = this.updateFile(o.key, (r) => {
      const mine = (r.locks ?? []).filter(l => same(l, me) && l.off === range.off && l.len === range.len)
      const gone = mine.find(l => l.x) ?? mine[0]
      if (gone === undefined) return undefined
      r.locks = nonEmpty(r.locks!.filter(l => l !== gone))
      return takeWatchers(r)
    })
    if (woken === undefined) return false
    this.wake(woken)
    return true
  }

  /** Whether a read (or write) of `range` through `o` conflicts with the file's locks (FILE_LOCK_CONFLICT). */
  ioConflict (o: FileOpen, range: Range, write: boolean): boolean {
    const r = this.readFile(o.key)
    if (r?.locks === undefined) return false
    return ioConflicts(this.heldBy(r, this.ownerOf(o)), range, write)
  }

  /** The locks of `key` (tests, diagnostics). */
  locksOf (key: string): Array<Range & { w: number, id: number, exclusive: boolean }> {
    return (this.readFile(key)?.locks ?? []).filter(l => this.live(l)).map(l => ({ w: l.w, id: l.id, off: l.off, len: l.len, exclusive: l.x }))
  }

  // --- name locks -----------------------------------------------------------------------------

  /**
   * One CREATE at a time per name (create.ts): waits for every earlier holder of `key`, in
   * arrival order; the returned function releases it (once).
   */
  async lockName (key: string): Promise<() => void> {
    const me = this.owner()
    for (;;) {
      const woken = this.waitFor(me.id)
      let got = false
      this.db.update(nameK(key), (old) => {
        const r: NameRec = old?.kind === 'name' ? old : { kind: 'name', queue: [] }
        r.queue = r.queue.filter(o => this.live(o))
        if (r.holder !== undefined && !this.live(r.holder)) r.holder = r.queue.shift()
        if (r.holder === undefined || same(r.holder, me)) {
          r.holder = me
          r.queue = r.queue.filter(o => !same(o, me))
          got = true
        } else if (!r.queue.some(o => same(o, me))) {
          r.queue.push(me)
        }
        return r
      })
      if (got) {
        this.waiters.delete(me.id)
        let released = false
        return () => {
          if (released) return
          released = true
          this.unlockName(key, me)
        }
      }
      await woken
    }
  }

  private unlockName (key: string, me: Owner): void {
    let next: Owner | undefined
    this.db.update(nameK(key), (old) => {
      if (old?.kind !== 'name' || old.holder === undefined || !same(old.holder, me)) return UNCHANGED
      old.queue = old.queue.filter(o => this.live(o))
      next = old.queue.shift()
      old.holder = next
      return next === undefined ? undefined : old
    })
    if (next !== undefined) this.wake([next])
  }

  // --- parts: server-wide counts, and the workers serving a client ------------------------------

  /**
   * Updates the parts record `key` of `kind`: `fn` sees it with dead workers' parts dropped and
   * this worker's part present (n 0 when new); parts left at 0 go, and so does the record once
   * none is left.
   */
  private updateParts<T> (key: string, kind: 'count' | 'guid', fn: (by: Part[], mine: Part) => T): T {
    let out!: T
    this.db.update(key, (old) => {
      const by = old?.kind === kind ? old.by.filter(x => this.live(x)) : []
      let mine = by.find(x => x.w === this.peers.slot && x.g === this.peers.generation)
      if (mine === undefined) { mine = { w: this.peers.slot, g: this.peers.generation, n: 0 }; by.push(mine) }
      out = fn(by, mine)
      const kept = by.filter(x => x.n > 0)
      return kept.length > 0 ? { kind, by: kept } : undefined
    })
    return out
  }

  private updateCount<T> (name: string, fn: (mine: Part, others: number) => T): T {
    return this.updateParts(countK(name), 'count', (by, mine) => {
      let others = 0
      for (const x of by) if (x !== mine) others += x.n
      return fn(mine, others)
    })
  }

  /** Counts one more of `name` for this worker unless all workers' together already reach `max`. */
  tryCount (name: string, max: number): boolean {
    return this.updateCount(name, (mine, others) => {
      if (mine.n + others >= max) return false
      mine.n++
      return true
    })
  }

  /** One fewer of `name` for this worker. */
  uncount (name: string): void {
    this.updateCount(name, (mine) => { if (mine.n > 0) mine.n-- })
  }

  /**
   * Moves one of `name` from this worker's part to worker `to`'s, in one update (a connection
   * handed over: the total never dips, so no other connection slips in meanwhile). When `to` is
   * not alive, this worker's part drops alone.
   */
  moveCount (name: string, to: { w: number, g: number }): void {
    this.updateParts(countK(name), 'count', (by, mine) => {
      if (mine.n > 0) mine.n--
      if (!this.live(to) || (to.w === mine.w && to.g === mine.g)) return
      const theirs = by.find(x => x.w === to.w && x.g === to.g)
      if (theirs !== undefined) theirs.n++
      else by.push({ w: to.w, g: to.g, n: 1 })
    })
  }

  /**
   * Publishes `local`, this worker's own count of `name` (what it counts itself, such as its
   * active sessions), and returns the count of all workers together.
   */
  shareCount (name: string, local: number): number {
    return this.updateCount(name, (mine, others) => { mine.n = local; return local + others })
  }

  /**
   * A connection of client `guid` (its ClientGuid, hex) is negotiating here. When another live
   * worker serves that client, and this one does not, returns that worker and counts nothing (the
   * caller hands the connection over, or serveClient()s it); otherwise this worker serves the
   * client from now on, this connection counted, and returns undefined. One update: of two first
   * connections racing on two workers, one is first.
   */
  claimClient (guid: string): { w: number, g: number } | undefined {
    return this.updateParts(guidK(guid), 'guid', (by, mine) => {
      const other = mine.n > 0 ? undefined : by.find(x => x !== mine && x.n > 0)
      if (other !== undefined) return { w: other.w, g: other.g }
      mine.n++
      return undefined
    })
  }

  /** Counts one more connection of client `guid` here, whoever else serves it (an adopted connection, or a failed hand-over). */
  serveClient (guid: string): void {
    this.updateParts(guidK(guid), 'guid', (_by, mine) => { mine.n++ })
  }

  /** A connection of client `guid` counted here closed; this worker's part goes with its last one. */
  releaseClient (guid: string): void {
    this.updateParts(guidK(guid), 'guid', (_by, mine) => { if (mine.n > 0) mine.n-- })
  }

  /** The live workers serving client `guid`, with their connection counts (tests, diagnostics). */
  clientServers (guid: string): Part[] {
    const r = this.db.read(guidK(guid))
    return r?.kind === 'guid' ? r.by.filter(x => this.live(x)).map(x => ({ ...x })) : []
  }

  // --- messages, waits, timers -------------------------------------------------------------------

  /** A message from another worker's store. */
  deliver (msg: StoreMessage): void {
    if (msg.t === 'wake') this.waiters.get(msg.id)?.()
    else if (msg.t === 'lbreak') this.notifyLease(msg.key, msg.b)
    else if (msg.t === 'dpend') this.local.get(msg.id)?.holder.notifyDeletePending?.()
    else this.notifyLocal(msg.key, msg.id, msg.to)
  }

  /**
   * A worker died (or the view of who is alive changed otherwise): every wait here looks again,
   * and finds the dead worker's entries gone.
   */
  peersChanged (): void {
    for (const w of [...this.waiters.values()]) w()
  }

  /**
   * Drops what dead workers left in every record (the supervisor, after a worker died: records
   * nobody touches again would otherwise keep its entries). Returns how many records changed.
   */
  sweep (): number {
    let changed = 0
    const woken: Owner[] = []
    for (const k of this.db.keys()) {
      this.db.update(k, (old) => {
        if (old === undefined) return UNCHANGED
        if (old.kind === 'count' || old.kind === 'guid') {
          const before = old.by.length
          old.by = old.by.filter(x => this.live(x))
          if (old.by.length === before) return UNCHANGED
          changed++
          return old.by.length > 0 ? old : undefined
        }
        if (old.kind === 'name') {
          const before = old.queue.length + (old.holder !== undefined ? 1 : 0)
          old.queue = old.queue.filter(o => this.live(o))
          if (old.holder !== undefined && !this.live(old.holder)) {
            old.holder = old.queue.shift()
            if (old.holder !== undefined) woken.push(old.holder)
          }
          if (before === old.queue.length + (old.holder !== undefined ? 1 : 0)) return UNCHANGED
          changed++
          return old.holder === undefined ? undefined : old
        }
        if (!this.purge(old)) return UNCHANGED
        changed++
        woken.push(...takeWatchers(old))
        return this.kept(old)
      })
    }
    this.wake(woken)
    return changed
  }

  /** File and name records in the db (tests: nothing leaks once every open closed). */
  get trackedRecords (): number { return this.db.keys().filter(k => k.startsWith('f:') || k.startsWith('n:')).length }

  /** Opens of `key` with their oplocks (tests, diagnostics). */
  snapshot (key: string): Array<Pick<OpenRec, 'w' | 'id' | 'state' | 'level' | 'breakTo'> & { closing: boolean }> {
    return (this.readFile(key)?.opens ?? []).map(o => ({ w: o.w, id: o.id, state: o.state, level: o.level, breakTo: o.breakTo, closing: o.closing === true }))
  }

  /** The open a break of lease `lk` is sent through: one still open under it, else any. */
  private leaseHolder (r: FileRec, lk: string): Owner | undefined {
    const o = r.opens.find(x => x.lk === lk && x.closing === undefined) ?? r.opens.find(x => x.lk === lk)
    return o === undefined ? undefined : { w: o.w, g: o.g, id: o.id }
  }

  /** The opens of a record not closing, as owners (whom a change of the file concerns). */
  private liveOpens (r: FileRec): Owner[] {
    return r.opens.filter(x => x.closing === undefined).map(x => ({ w: x.w, g: x.g, id: x.id }))
  }

  /** Each open told: its file is pending deletion now. */
  private deliverDeletePending (to: readonly Owner[]): void {
    for (const o of to) {
      if (o.w === this.peers.slot && o.g === this.peers.generation) this.local.get(o.id)?.holder.notifyDeletePending?.()
      else this.peers.send(o.w, { t: 'dpend', id: o.id })
    }
  }

  private deliverLeaseBreaks (key: string, breaks: Array<{ to: Owner, b: LeaseBreak }>): void {
    for (const { to, b } of breaks) {
      if (to.w === this.peers.slot && to.g === this.peers.generation) this.notifyLease(key, b)
      else this.peers.send(to.w, { t: 'lbreak', key, b })
    }
  }

  /**
   * On the worker serving the lease's client: send LEASE_BREAK through one of its opens under
   * the lease, and time the acknowledgment when one is owed (MS-SMB2 3.3.4.7, 3.3.2.5).
   */
  private notifyLease (key: string, b: LeaseBreak): void {
    const ll = this.localLeases.get(leaseK(key, b.lk))
    if (ll === undefined) return // its opens closed meanwhile: the lease went with them
    let holder: OplockHolder | undefined
    for (const id of ll.ids) { holder = this.local.get(id)?.holder; if (holder !== undefined) break }
    if (holder === undefined) return
    this.log(`lease break ${holder.name} ${leaseStateName(b.from)} -> ${leaseStateName(b.to)} epoch ${b.epoch}${b.ackRequired ? ' (acknowledgment required)' : ''}`)
    if (b.ackRequired && ll.timer === undefined) ll.timer = setTimeout(() => { this.leaseTimedOut(key, b.lk) }, this.leaseBreakTimeoutMs)
    holder.notifyLeaseBreak?.(b)
  }

  /** MS-SMB2 3.3.2.5: no acknowledgment in time; the lease is taken down to none. */
  private leaseTimedOut (key: string, lk: string): void {
    const ll = this.localLeases.get(leaseK(key, lk))
    if (ll !== undefined) ll.timer = undefined
    const woken = this.updateFile(key, (r) => {
      const l = r.leases?.find(x => x.lk === lk)
      if (l === undefined || !leaseTimedOut(l)) return []
      this.log(`lease break of ${lk.slice(32)} timed out after ${this.leaseBreakTimeoutMs} ms; now NONE`)
      return takeWatchers(r)
    })
    this.wake(woken)
  }

  private stopLeaseTimer (key: string, lk: string): void {
    const ll = this.localLeases.get(leaseK(key, lk))
    if (ll?.timer !== undefined) { clearTimeout(ll.timer); ll.timer = undefined }
  }

  /** This worker's bookkeeping of open `id` under lease `lk` ends (its close). */
  private forgetLeaseOpen (key: string, id: number, lk: string): void {
    const k = leaseK(key, lk)
    const ll = this.localLeases.get(k)
    if (ll !== undefined) {
      ll.ids.delete(id)
      if (ll.ids.size === 0) {
        if (ll.timer !== undefined) clearTimeout(ll.timer)
        this.localLeases.delete(k)
      }
    }
    const b = this.leaseFiles.get(lk)
    if (b !== undefined && b.key === key && --b.n <= 0) this.leaseFiles.delete(lk)
  }

  private deliverBreaks (key: string, breaks: OpenRec[]): void {
    for (const e of breaks) {
      const to = e.state === OplockState.Breaking ? e.breakTo : OplockLevel.NONE
      if (e.w === this.peers.slot && e.g === this.peers.generation) this.notifyLocal(key, e.id, to)
      else this.peers.send(e.w, { t: 'break', key, id: e.id, to })
    }
  }

  /** On the holder's worker: tell the client, and time its acknowledgment when one is owed. */
  private notifyLocal (key: string, id: number, to: OplockLevel): void {
    const l = this.local.get(id)
    if (l === undefined) return // closed meanwhile: its close ends the break
    const breaking = this.readFile(key)?.opens.find(x => x.id === id && x.w === this.peers.slot && x.g === this.peers.generation)?.state === OplockState.Breaking
    this.log(`break ${l.holder.name} to ${to}${breaking ? ' (acknowledgment required)' : ''}`)
    if (breaking && l.timer === undefined) l.timer = setTimeout(() => { this.timedOut(key, id) }, this.breakTimeoutMs)
    l.holder.notifyBreak(to)
  }

  /** MS-SMB2 3.3.2.1: no acknowledgment in time; the oplock is broken to its target anyway. */
  private timedOut (key: string, id: number): void {
    const l = this.local.get(id)
    if (l !== undefined) l.timer = undefined
    const woken = this.updateFile(key, (r) => {
      const e = r.opens.find(x => x.id === id && x.w === this.peers.slot && x.g === this.peers.generation)
      if (e === undefined || e.state !== OplockState.Breaking) return []
      transition(e, { type: 'timeout' })
      this.log(`break of ${l?.holder.name ?? id} timed out after ${this.breakTimeoutMs} ms; now ${e.level}`)
      return takeWatchers(r)
    })
    this.wake(woken)
  }

  private stopTimer (id: number): void {
    const l = this.local.get(id)
    if (l?.timer !== undefined) { clearTimeout(l.timer); l.timer = undefined }
  }

  private wake (owners: Owner[]): void {
    for (const o of owners) {
      if (o.w === this.peers.slot && o.g === this.peers.generation) this.waiters.get(o.id)?.()
      else this.peers.send(o.w, { t: 'wake', id: o.id })
    }
  }

  /** A promise resolved when `id` is woken (registered before the record names it). */
  private waitFor (id: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiters.set(id, () => { this.waiters.delete(id); resolve() })
    })
  }

  private async untilWoken (woken: Promise<void>, signal: AbortSignal, onAbort: () => void): Promise<void> {
    if (signal.aborted) { onAbort(); throw signal.reason }
    let abort!: () => void
    const aborted = new Promise<never>((_resolve, reject) => {
      abort = () => { onAbort(); reject(signal.reason) }
      signal.addEventListener('abort', abort, { once: true })
    })
    try {
      await Promise.race([woken, aborted])
    } finally {
      signal.removeEventListener('abort', abort)
    }
  }
}

/** The locks of `me` removed from `r`; the watchers to wake when there were any. */
function releaseLocks (r: FileRec, me: Owner): Owner[] {
  if (r.locks === undefined || !r.locks.some(l => same(l, me))) return []
  r.locks = nonEmpty(r.locks.filter(l => !same(l, me)))
  return takeWatchers(r)
}

/** A list kept only while it holds something (records stay small). */
function nonEmpty<T> (a: T[]): T[] | undefined { return a.length > 0 ? a : undefined }

/** The watchers of `r`, taken from it: each will look again. */
function takeWatchers (r: FileRec): Owner[] {
  const w = r.watchers ?? []
  r.watchers = undefined
  return w
}

/** An open in flight (OpenTicket): its entry in the record's inFlight, until done or landed. */
class Ticket implements OpenTicket {
  private open: boolean
  constructor (readonly key: string, readonly owner: Owner | undefined, private readonly end: (o: Owner) => void) {
    this.open = owner !== undefined
  }

  done (): void {
    if (!this.open) return
    this.open = false
    this.end(this.owner!)
  }

  /** addOpen took the entry out of the record itself, in the update that registered the open. */
  landed (): void { this.open = false }
}

/**
 * MS-FSA 2.1.5.17 as Windows answers it (smbtorture smb2.oplock.*): exclusive and batch only to
 * the file's only open; level II to any other open that asks for at least level II, unless
 * another open still holds (or is breaking) an exclusive or batch oplock.
 */
function decide (r: FileRec, req: GrantRequest, othersInFlight: boolean): OplockLevel {
  const q = req.requested
  if (!req.eligible || (q !== OplockLevel.II && q !== OplockLevel.EXCLUSIVE && q !== OplockLevel.BATCH)) return OplockLevel.NONE
  if (othersInFlight) return OplockLevel.NONE
  // Handle caching under a lease leaves no room for an oplock (smbtorture smb2.lease.oplock).
  if (r.leases?.some(l => (l.state & LeaseState.HANDLE) !== 0) === true) return OplockLevel.NONE
  // An entry with no access is a stream's open registered on its file (create.ts): oplocks are
  // per stream (MS-FSA 2.1.5.17), so it holds no grant on the file back.
  if (!r.opens.some(o => o.access !== 0)) return q as OplockLevel
  for (const o of r.opens) {
    if (o.state !== OplockState.None && exclusiveLevel(o.level)) return OplockLevel.NONE
  }
  return req.level2 ? OplockLevel.II : OplockLevel.NONE
}

/**
 * MS-SMB2 3.3.5.9.8/11 with MS-FSA 2.1.5.17.2 as Windows answers it (smbtorture smb2.lease.*):
 * the state `want` gets beside the file's other opens, in the lease of its key (upgraded when
 * that can be had as asked) or in a new one. The open is not in `r.opens` yet.
 */
function grantLease (r: FileRec, want: LeaseRequest, level2: boolean, othersInFlight: boolean): GrantedLease {
  const others = r.opens.filter(o => o.lk !== want.lk && o.closing === undefined)
  const granted = grantFor(want.state, {
    // Another lease's open, or a plain open that is not a stat open: there can be one writer.
    otherOpen: othersInFlight || others.some(o => o.lk !== undefined || (o.access & ~LEASE_STAT_OPEN_ACCESS) !== 0),
    otherOplock: others.some(o => o.lk === undefined && o.state !== OplockState.None),
    rangeLocks: (r.locks?.length ?? 0) > 0,
    level2,
  })
  let l = r.leases?.find(x => x.lk === want.lk)
  if (l !== undefined) {
    upgrade(l, want.state, granted)
  } else {
    l = newLease(want.lk, granted, want.v, want.epoch)
    ;(r.leases ??= []).push(l)
  }
  return { lk: l.lk, state: l.state, flags: l.breaking ? LeaseFlags.BREAK_IN_PROGRESS : 0, epoch: l.epoch, v: l.v }
}

/** Removes lease `lk` from `r` when no open under it is left; the lease, when it went. */
function dropLease (r: FileRec, lk: string): LeaseRec | undefined {
  if (r.leases === undefined || r.opens.some(o => o.lk === lk)) return undefined
  const gone = r.leases.find(l => l.lk === lk)
  r.leases = nonEmpty(r.leases.filter(l => l.lk !== lk))
  return gone
}
