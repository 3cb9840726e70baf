// Oplocks (MS-SMB2 3.3.1.10 Open.OplockLevel/OplockState, MS-FSA 2.1.4.12 and 2.1.5.17/18): what
// each open of a file may cache, and the break state machine that takes that right away again.
// The SMB2 layer decides *when* (CREATE, WRITE, SET_INFO, the acknowledgment) and delivers the
// notifications; this module decides *what*: which level an open gets, which oplocks an operation
// breaks, and when an operation that must wait for a break may go on. It sits behind the
// `OplockStore` interface (ARCHITECTURE: state shared across workers goes through the locking
// store); `MemoryOplockStore` keeps it in this process.

import { OplockLevel } from '../wire/constants.js'

/**
 * MS-SMB2 3.3.2.1 Oplock Break Acknowledgment Timer: how long a break waits for the holder's
 * acknowledgment before the server considers the oplock broken. Windows waits 35 s (<213>), and
 * smbtorture's smb2.oplock.batch22a measures exactly that.
 */
export const OPLOCK_BREAK_TIMEOUT_MS = 35_000

/**
 * MS-SMB2 3.3.1.10 Open.OplockState, plus Closed (the open is gone; a dead entry stays dead,
 * CONVENTIONS 9). `level` says what the open holds (while Breaking: what it held until the break
 * is acknowledged); `breakTo` is the level a break is taking it to.
 */
export enum OplockState { None = 'None', Held = 'Held', Breaking = 'Breaking', Closed = 'Closed' }

export type OplockEvent =
  | { type: 'grant', level: OplockLevel }
  /** Exclusive/batch → Breaking (acknowledgment required); level II → None at once (none required). */
  | { type: 'break', to: OplockLevel }
  /** MS-SMB2 3.3.5.22.1: the holder accepted `level` (≤ breakTo). */
  | { type: 'ack', level: OplockLevel }
  /** MS-SMB2 3.3.2.1: no acknowledgment in time; the oplock is broken to `breakTo` anyway. */
  | { type: 'timeout' }
  | { type: 'close' }

/** Where a break notification goes: the SMB2 layer sends OPLOCK_BREAK (MS-SMB2 3.3.4.6). */
export interface OplockHolder {
  notifyBreak (newLevel: OplockLevel): void
  /** For logs. */
  readonly name: string
}

export interface OplockEntry {
  readonly key: string
  readonly holder: OplockHolder
  state: OplockState
  level: OplockLevel
  breakTo: OplockLevel
  timer?: NodeJS.Timeout
}

export class IllegalOplockTransition extends Error {
  readonly code = 'SMBTS_ERR_OPLOCK_TRANSITION'
}

const exclusiveLevel = (l: OplockLevel): boolean => l === OplockLevel.EXCLUSIVE || l === OplockLevel.BATCH

/**
 * The one transition function of the oplock state machine (CONVENTIONS 9). Illegal moves throw;
 * callers check the protocol-level conditions first (MS-SMB2 3.3.5.22.1) and never rely on it.
 */
export function transition (e: OplockEntry, ev: OplockEvent): void {
  if (e.state === OplockState.Closed) throw new IllegalOplockTransition(`${ev.type} on a closed open`)
  switch (ev.type) {
    case 'grant':
      if (e.state !== OplockState.None) throw new IllegalOplockTransition(`grant in state ${e.state}`)
      e.level = ev.level
      e.state = ev.level === OplockLevel.NONE ? OplockState.None : OplockState.Held
      return
    case 'break':
      if (e.state === OplockState.Held) {
        if (exclusiveLevel(e.level)) {
          e.state = OplockState.Breaking
          e.breakTo = ev.to
        } else {
          // MS-FSA 2.1.4.12: a level II oplock breaks straight to none; nobody acknowledges it.
          if (ev.to !== OplockLevel.NONE) throw new IllegalOplockTransition('level II can only break to none')
          e.state = OplockState.None
          e.level = OplockLevel.NONE
        }
        return
      }
      if (e.state === OplockState.Breaking) {
        // A second break while the first is outstanding can only lower the target (MS-FSA
        // 2.1.4.12: BREAK_TO_TWO becomes BREAK_TO_NONE); the holder still acknowledges once.
        if (ev.to < e.breakTo) e.breakTo = ev.to
        return
      }
      throw new IllegalOplockTransition(`break in state ${e.state}`)
    case 'ack':
      if (e.state !== OplockState.Breaking) throw new IllegalOplockTransition(`ack in state ${e.state}`)
      if (ev.level > e.breakTo) throw new IllegalOplockTransition(`ack to ${ev.level} above break target ${e.breakTo}`)
      e.level = ev.level
      e.state = ev.level === OplockLevel.NONE ? OplockState.None : OplockState.Held
      return
    case 'timeout':
      if (e.state !== OplockState.Breaking) throw new IllegalOplockTransition(`timeout in state ${e.state}`)
      e.level = e.breakTo
      e.state = e.breakTo === OplockLevel.NONE ? OplockState.None : OplockState.Held
      return
    case 'close':
      e.state = OplockState.Closed
      e.level = OplockLevel.NONE
  }
}

/** What an open asks for and may get (MS-SMB2 3.3.5.9, MS-FSA 2.1.5.17). */
export interface GrantRequest {
  requested: number
  /** Directories, pipes, and shares with `oplocks = no` get none. */
  eligible: boolean
  /** `level2 oplocks = no`: no level II grants, and breaks go to none. */
  level2: boolean
}

/** What an open about to happen contends with (MS-FSA 2.1.5.1.2.1, 2.1.4.12 Operation OPEN). */
export interface OpenIntent {
  /** The sharing check failed: only a batch oplock is broken (the holder may close), then re-check. */
  sharingViolation: boolean
  /** Access only to attributes and SYNCHRONIZE: contends with no oplock (unless it overwrites). */
  statOpen: boolean
  /** SUPERSEDE/OVERWRITE/OVERWRITE_IF of an existing file: breaks to none, level II included. */
  overwrite: boolean
  level2: boolean
}

export interface OplockStore {
  /** Break timer in ms (MS-SMB2 3.3.2.1); settable for tests. */
  breakTimeoutMs: number
  /**
   * Breaks what an open of `key` contends with and waits until no break it depends on is
   * outstanding. `goAsync` is called once, before the first wait, and returns the signal that
   * aborts the wait (CANCEL, LOGOFF, disconnect). Resolves undefined when it waited (the caller
   * then looks at the file again: the holder may have closed or deleted it); otherwise an
   * `OpenTicket`, taken before anything could be awaited.
   */
  breakForOpen (key: string, intent: OpenIntent, goAsync: () => AbortSignal): Promise<OpenTicket | undefined>
  /** Registers an open of `key` and grants it what MS-FSA allows, given the file's other opens. */
  register (key: string, holder: OplockHolder, req: GrantRequest): OplockEntry
  /** MS-FSA 2.1.4.12 (WRITE, SET EOF/allocation): every level II oplock of `key` breaks to none. */
  breakLevelII (key: string): void
  /** MS-SMB2 3.3.5.22.1: a valid acknowledgment (the caller checked it) ends the break. */
  acknowledge (e: OplockEntry, level: OplockLevel): void
  /** The open is closed: its oplock (and any break of it) ends; waiters look again. */
  release (e: OplockEntry): void
}

/**
 * An open that passed `breakForOpen` and is on its way to `register` (opening, truncating the
 * file). While it is in flight no other open is granted an oplock: that open's breaks were
 * decided before this one existed, and nothing would break it for this one (a lost break).
 * `done()` (idempotent) ends it: right before `register`, or when the open fails.
 */
export interface OpenTicket { done (): void }

interface FileOplocks { entries: Set<OplockEntry>, waiters: Set<() => void>, inFlight: number }

export class MemoryOplockStore implements OplockStore {
  private readonly files = new Map<string, FileOplocks>()

  constructor (public breakTimeoutMs = OPLOCK_BREAK_TIMEOUT_MS, private readonly log: (msg: string) => void = () => {}) {}

  private file (key: string): FileOplocks {
    let f = this.files.get(key)
    if (f === undefined) {
      f = { entries: new Set(), waiters: new Set(), inFlight: 0 }
      this.files.set(key, f)
    }
    return f
  }

  private gc (key: string, f: FileOplocks): void {
    if (f.entries.size === 0 && f.waiters.size === 0 && f.inFlight === 0 && this.files.get(key) === f) this.files.delete(key)
  }

  /** How many files the store keeps state for (tests check nothing leaks). */
  get trackedFiles (): number { return this.files.size }

  /** Levels and states of `key`'s opens, for tests and diagnostics. */
  snapshot (key: string): Array<{ holder: string, state: OplockState, level: OplockLevel, breakTo: OplockLevel }> {
    return [...(this.files.get(key)?.entries ?? [])].map(e => ({ holder: e.holder.name, state: e.state, level: e.level, breakTo: e.breakTo }))
  }

  register (key: string, holder: OplockHolder, req: GrantRequest): OplockEntry {
    const f = this.file(key)
    const e: OplockEntry = { key, holder, state: OplockState.None, level: OplockLevel.NONE, breakTo: OplockLevel.NONE }
    transition(e, { type: 'grant', level: this.decide(f, req) })
    f.entries.add(e)
    if (e.level !== OplockLevel.NONE) this.log(`grant ${e.level} to ${holder.name}`)
    return e
  }

  /**
   * MS-FSA 2.1.5.17 as Windows answers it (smbtorture smb2.oplock.*): exclusive and batch only to
   * the file's only open; level II to any other open that asks for at least level II, unless
   * another open still holds (or is breaking) an exclusive or batch oplock.
   */
  private decide (f: FileOplocks, req: GrantRequest): OplockLevel {
    const r = req.requested
    if (!req.eligible || (r !== OplockLevel.II && r !== OplockLevel.EXCLUSIVE && r !== OplockLevel.BATCH)) return OplockLevel.NONE
    if (f.inFlight > 0) return OplockLevel.NONE
    let others = 0
    for (const o of f.entries) {
      if (o.state === OplockState.Closed) continue
      others++
      if (o.state !== OplockState.None && exclusiveLevel(o.level)) return OplockLevel.NONE
    }
    if (others === 0) return r as OplockLevel
    return req.level2 ? OplockLevel.II : OplockLevel.NONE
  }

  async breakForOpen (key: string, intent: OpenIntent, goAsync: () => AbortSignal): Promise<OpenTicket | undefined> {
    const f = this.file(key)
    const to = intent.overwrite || !intent.level2 ? OplockLevel.NONE : OplockLevel.II
    let mustWait = false
    for (const e of f.entries) {
      if (e.state === OplockState.Closed || e.state === OplockState.None) continue
      const exclusive = exclusiveLevel(e.level)
      if (intent.sharingViolation) {
        // MS-FSA 2.1.5.1.2.1: on a sharing violation only a batch oplock is broken (its holder
        // may be about to close); an exclusive one is not, and the open fails at once.
        if (e.level !== OplockLevel.BATCH) continue
      } else if (intent.statOpen && !intent.overwrite) {
        continue
      }
      if (exclusive) {
        if (e.state === OplockState.Held) this.startBreak(e, to)
        else if (to < e.breakTo) transition(e, { type: 'break', to }) // lower an outstanding break
        mustWait = true
      } else if (intent.overwrite && !intent.sharingViolation) {
        this.startBreak(e, OplockLevel.NONE) // level II: no acknowledgment, no wait
      }
    }
    if (!mustWait) return this.ticket(key, f, intent)
    const signal = goAsync()
    await this.waitForChange(key, f, signal)
    return undefined
  }

  private ticket (key: string, f: FileOplocks, intent: OpenIntent): OpenTicket {
    // A stat open that does not overwrite never needs a break, so it holds nobody back.
    const counts = !(intent.statOpen && !intent.overwrite) && !intent.sharingViolation
    if (counts) f.inFlight++
    else this.gc(key, f) // nothing to remember for it
    let open = counts
    return {
      done: () => {
        if (!open) return
        open = false
        f.inFlight--
        this.gc(key, f)
      },
    }
  }

  breakLevelII (key: string): void {
    const f = this.files.get(key)
    if (f === undefined) return
    for (const e of f.entries) {
      if (e.state === OplockState.Held && e.level === OplockLevel.II) this.startBreak(e, OplockLevel.NONE)
    }
  }

  acknowledge (e: OplockEntry, level: OplockLevel): void {
    transition(e, { type: 'ack', level })
    this.endBreak(e)
    this.log(`${e.holder.name} acknowledged, now ${e.level}`)
  }

  release (e: OplockEntry): void {
    if (e.state === OplockState.Closed) return
    const wasBreaking = e.state === OplockState.Breaking
    transition(e, { type: 'close' })
    const f = this.files.get(e.key)
    if (f === undefined) return
    f.entries.delete(e)
    if (wasBreaking || f.waiters.size > 0) this.endBreak(e)
    this.gc(e.key, f)
  }

  private startBreak (e: OplockEntry, to: OplockLevel): void {
    transition(e, { type: 'break', to })
    this.log(`break ${e.holder.name} to ${to}${e.state === OplockState.Breaking ? ' (acknowledgment required)' : ''}`)
    if (e.state === OplockState.Breaking) {
      e.timer = setTimeout(() => {
        if (e.state !== OplockState.Breaking) return
        transition(e, { type: 'timeout' })
        this.log(`break of ${e.holder.name} timed out after ${this.breakTimeoutMs} ms; now ${e.level}`)
        this.endBreak(e)
      }, this.breakTimeoutMs)
    }
    e.holder.notifyBreak(to)
  }

  /** A break ended (acknowledged, timed out, or its open closed): waiters look again. */
  private endBreak (e: OplockEntry): void {
    if (e.timer !== undefined) { clearTimeout(e.timer); e.timer = undefined }
    const f = this.files.get(e.key)
    if (f === undefined) return
    const ws = [...f.waiters]
    f.waiters.clear()
    for (const w of ws) w()
  }

  private async waitForChange (key: string, f: FileOplocks, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason
    await new Promise<void>((resolve, reject) => {
      const done = (): void => { signal.removeEventListener('abort', onAbort); resolve() }
      const onAbort = (): void => {
        f.waiters.delete(done)
        this.gc(key, f)
        reject(signal.reason)
      }
      f.waiters.add(done)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}
