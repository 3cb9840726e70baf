// Leases (MS-SMB2 3.3.1.4 Lease, 3.3.4.7 lease breaks, 3.3.5.9.8/11 requests, 3.3.5.22.2
// acknowledgments; MS-FSA 2.1.5.17.2 granular oplocks): what a client may cache for a file under
// one lease key, shared by every open the client makes with that key. This module holds the
// lease's state machine as pure functions over a LeaseRec; the locking store (store.ts) keeps
// LeaseRecs in the file's record, so every worker decides against the same state, and delivers
// the notifications these functions ask for.

/** MS-SMB2 2.2.13.2.8 LeaseState bits. */
export enum LeaseState {
  NONE = 0x00,
  READ = 0x01,
  HANDLE = 0x02,
  WRITE = 0x04,
}
export const LEASE_RWH = LeaseState.READ | LeaseState.HANDLE | LeaseState.WRITE

/** MS-SMB2 2.2.13.2.8 / 2.2.14.2.10 LeaseFlags. */
export enum LeaseFlags {
  BREAK_IN_PROGRESS = 0x02,
  PARENT_LEASE_KEY_SET = 0x04,
}

/** MS-SMB2 2.2.23.2 Flags of a lease break notification. */
export const NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED = 0x01

/** MS-SMB2 3.3.2.5 Lease Break Acknowledgment Timer: as Windows, 35 s (<213>, as oplocks). */
export const LEASE_BREAK_TIMEOUT_MS = 35_000

/**
 * Rights only to attributes, SYNCHRONIZE and READ_CONTROL: an open that contends with no lease
 * (smbtorture smb2.lease.statopen4; MS-FSA 2.1.5.1.2.1 with READ_CONTROL as Windows counts it).
 */
export const LEASE_STAT_OPEN_ACCESS = 0x80 | 0x100 | 0x00100000 | 0x00020000

/**
 * One lease on one file (MS-SMB2 3.3.1.4), identified by `lk`: the client's ClientGuid and the
 * LeaseKey, as 64 hex digits. While `breaking`, `state` is what the client still holds and
 * `breakTo` the least the break requires; `breakToReq` is what the notification asked for
 * (a break may go in steps: the client acknowledges the first step, the next is sent then).
 */
export interface LeaseRec {
  lk: string
  state: number
  breaking: boolean
  breakTo: number
  breakToReq: number
  epoch: number
  /** 1 or 2: the create context the lease was made with (v2 breaks carry the epoch). */
  v: number
  /** A directory's lease (v2, R and H at most): broken by changes inside the directory. */
  dir?: boolean
}

/** A lease asked for with an open (MS-SMB2 2.2.13.2.8/10). */
export interface LeaseRequest {
  /** ClientGuid and LeaseKey, 64 hex digits. */
  lk: string
  state: number
  /** 1 or 2 (RqLs v1 or v2). */
  v: number
  /** The client's Epoch (v2; 0 for v1). */
  epoch: number
}

/** A LEASE_BREAK notification to send (MS-SMB2 2.2.23.2). */
export interface LeaseBreak {
  lk: string
  from: number
  to: number
  epoch: number
  v: number
  ackRequired: boolean
}

const hasRW = (s: number): boolean => (s & (LeaseState.WRITE | LeaseState.HANDLE)) !== 0

/**
 * What a lease request may be granted, before other opens are looked at: R, RH, RW and RWH as
 * asked; anything without R (H, W, HW) is granted nothing (smbtorture smb2.lease.request).
 */
export function requestable (requested: number): number {
  const s = requested & LEASE_RWH
  return (s & LeaseState.READ) !== 0 ? s : LeaseState.NONE
}

/** What the other opens of the file take away from a lease request (MS-FSA 2.1.5.17.2). */
export interface GrantContext {
  /** Another open (not a stat open) under another lease key, or with no lease: only one writer. */
  otherOpen: boolean
  /** Another open holds an oplock: handle caching is not granted beside it. */
  otherOplock: boolean
  /** The file has byte-range locks: no read caching (Samba: cached reads would skip them). */
  rangeLocks: boolean
  /** `level2 oplocks` on: read caching without write caching may be granted. */
  level2: boolean
}

/** The state a new lease request gets on a file, given the other opens. */
export function grantFor (requested: number, c: GrantContext): number {
  let g = requestable(requested)
  if (c.rangeLocks) g &= ~LeaseState.READ
  if (c.otherOpen) g &= ~LeaseState.WRITE
  if ((g & LeaseState.READ) !== 0 && (g & LeaseState.WRITE) === 0 && !c.level2) g = LeaseState.NONE
  if (c.otherOplock) g &= ~LeaseState.HANDLE
  return requestable(g)
}

/** A new lease (MS-SMB2 3.3.5.9.8/11): its epoch one past the client's (v2). */
export function newLease (lk: string, granted: number, v: number, clientEpoch: number): LeaseRec {
  return { lk, state: granted, breaking: false, breakTo: 0, breakToReq: 0, epoch: (clientEpoch + 1) & 0xffff, v }
}

/**
 * Another open under the same lease key asks for `requested` and could be granted `granted`: the
 * lease is upgraded only to a strict superset of what it holds, only when the request can be had
 * as asked, and never while it is breaking (smbtorture smb2.lease.upgrade2/upgrade3). True when it changed.
 */
export function upgrade (l: LeaseRec, requested: number, granted: number): boolean {
  const wanted = requested & LEASE_RWH
  if (l.breaking || (l.state & wanted) !== l.state || granted === l.state || granted !== wanted) return false
  l.state = granted
  l.epoch = (l.epoch + 1) & 0xffff
  return true
}

/**
 * Breaks `l` down to at most `to` (MS-SMB2 3.3.4.7). A lease already breaking only has its
 * target lowered (the client acknowledges once; the rest follows its acknowledgment). A lease
 * holding only R is broken at once (no acknowledgment); one with H or W waits for one. Returns
 * the notification to send, if any.
 */
export function breakLease (l: LeaseRec, to: number): LeaseBreak | undefined {
  const target = to & l.state
  if (l.breaking) {
    l.breakTo &= target
    return undefined
  }
  if (target === l.state) return undefined
  const from = l.state
  l.epoch = (l.epoch + 1) & 0xffff
  if (!hasRW(from)) {
    l.state = target
    return { lk: l.lk, from, to: target, epoch: l.epoch, v: l.v, ackRequired: false }
  }
  l.breaking = true
  l.breakTo = target
  l.breakToReq = target
  return { lk: l.lk, from, to: target, epoch: l.epoch, v: l.v, ackRequired: true }
}

/** What a LEASE_BREAK acknowledgment found (MS-SMB2 3.3.5.22.2). */
export type LeaseAckResult =
  | { ok: true, next?: LeaseBreak }
  /** No break outstanding: STATUS_UNSUCCESSFUL. */
  | { ok: false, reason: 'not-breaking' }
  /** More than the break asked for: STATUS_REQUEST_NOT_ACCEPTED. */
  | { ok: false, reason: 'not-accepted' }

/**
 * The client acknowledges a break of `l` with `state`. When the break's target fell meanwhile
 * (another open needed more), the client is sent the next step at once: to the target with R
 * kept while it still held H or W (as Windows breaks in steps; smbtorture smb2.lease.breaking3).
 */
export function acknowledgeLease (l: LeaseRec, state: number): LeaseAckResult {
  if (!l.breaking) return { ok: false, reason: 'not-breaking' }
  if ((state & l.breakToReq) !== state) return { ok: false, reason: 'not-accepted' }
  l.state = state
  if ((state & ~l.breakTo) === 0) {
    l.breaking = false
    l.breakTo = 0
    l.breakToReq = 0
    return { ok: true }
  }
  const from = state
  let to = l.breakTo
  if (hasRW(from)) to |= LeaseState.READ
  if (hasRW(from)) {
    l.breakToReq = to
    return { ok: true, next: { lk: l.lk, from, to, epoch: l.epoch, v: l.v, ackRequired: true } }
  }
  // Only R left: broken at once, nothing more to acknowledge.
  l.state = LeaseState.NONE
  l.breaking = false
  l.breakTo = 0
  l.breakToReq = 0
  return { ok: true, next: { lk: l.lk, from, to: LeaseState.NONE, epoch: l.epoch, v: l.v, ackRequired: false } }
}

/** MS-SMB2 3.3.2.5: no acknowledgment in time; the server takes the lease down to none itself. */
export function leaseTimedOut (l: LeaseRec): boolean {
  if (!l.breaking) return false
  l.state = LeaseState.NONE
  l.breaking = false
  l.breakTo = 0
  l.breakToReq = 0
  return true
}

/** What an open about to happen takes from another lease (Samba's delay_for_oplock, MS-FSA 2.1.4.12). */
export interface LeaseContention {
  /** The open fails its sharing check unless handles are given up: H is broken, the rest kept. */
  sharingViolation: boolean
  /** SUPERSEDE/OVERWRITE/OVERWRITE_IF: everything goes. */
  overwrite: boolean
  level2: boolean
}

/**
 * The state another open leaves `l`, and whether that open must wait for the break: an open
 * breaks W (or, failing its sharing check, H), an overwrite everything; it waits when what it
 * breaks needs an acknowledgment, or when the lease is still breaking from an earlier open.
 */
export function contend (l: LeaseRec, c: LeaseContention, firstAttempt: boolean): { to: number, wait: boolean } {
  const mask = c.sharingViolation ? LeaseState.HANDLE : LeaseState.WRITE
  let to = l.state & ~mask
  if (c.overwrite) to &= ~(LeaseState.HANDLE | LeaseState.READ)
  if ((l.state & ~to) === 0) return { to: l.state, wait: l.breaking }
  if (c.overwrite) to = LeaseState.NONE
  if (!c.level2) to &= ~LeaseState.READ
  return { to, wait: (l.state & mask) !== 0 || (l.breaking && !firstAttempt) }
}

/** "RWH" style, for logs and status.json. */
export function leaseStateName (s: number): string {
  return ((s & LeaseState.READ) !== 0 ? 'R' : '') + ((s & LeaseState.WRITE) !== 0 ? 'W' : '') + ((s & LeaseState.HANDLE) !== 0 ? 'H' : '') || 'NONE'
}
