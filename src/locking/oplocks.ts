// Oplocks (MS-SMB2 3.3.1.10 Open.OplockLevel/OplockState, MS-FSA 2.1.4.12 and 2.1.5.17/18): what
// each open of a file may cache, and the break state machine that takes that right away again.
// The SMB2 layer decides *when* (CREATE, WRITE, SET_INFO, the acknowledgment) and delivers the
// notifications; this module holds the state machine and the vocabulary, and the locking store
// (store.ts) applies them to the opens of a file, whichever worker holds each.

import { OplockLevel } from '../wire/constants.js'
import type { LeaseBreak, LeaseRequest } from './leases.js'

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
  /** MS-SMB2 3.3.4.7: a LEASE_BREAK notification for the lease the open was made under. */
  notifyLeaseBreak?: (b: LeaseBreak) => void
  /**
   * The file became pending deletion through another open (or this one): a CHANGE_NOTIFY waiting
   * on this open completes with STATUS_DELETE_PENDING (what Windows and Samba do).
   */
  notifyDeletePending?: () => void
  /** For logs. */
  readonly name: string
}

/** An open's oplock: what it holds (while Breaking: until acknowledged) and where a break takes it. */
export interface OplockFields {
  state: OplockState
  level: OplockLevel
  breakTo: OplockLevel
}

export class IllegalOplockTransition extends Error {
  readonly code = 'SMBTS_ERR_OPLOCK_TRANSITION'
}

export const exclusiveLevel = (l: OplockLevel): boolean => l === OplockLevel.EXCLUSIVE || l === OplockLevel.BATCH

/**
 * The one transition function of the oplock state machine (CONVENTIONS 9). Illegal moves throw;
 * callers check the protocol-level conditions first (MS-SMB2 3.3.5.22.1) and never rely on it.
 */
export function transition (e: OplockFields, ev: OplockEvent): void {
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
  /** A lease asked for (RequestedOplockLevel LEASE with an RqLs context). */
  lease?: LeaseRequest
  /** The open is of a directory that may have a lease (v2, directory leasing offered). */
  dirLease?: boolean
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
  /** The opener's own lease (LeaseRec.lk): never broken by its own opens (smb2.lease.nobreakself). */
  lk?: string
  /** Rights only to attributes, SYNCHRONIZE and READ_CONTROL: contends with no lease. */
  leaseStatOpen?: boolean
  /** The CREATE's first look at the file (a lease still breaking from before holds later looks back). */
  firstAttempt?: boolean
  /** Breaks leases only, and holds no open back (not an open: a rename taking handle caching). */
  leasesOnly?: boolean
}

/**
 * An open that passed `breakForOpen` and is on its way to `addOpen` (opening, truncating the
 * file). While it is in flight no other open is granted an oplock: that open's breaks were
 * decided before this one existed, and nothing would break it for this one (a lost break).
 * `done()` (idempotent) ends it when the open fails; `addOpen` ends it as the open lands.
 */
export interface OpenTicket { done (): void }
