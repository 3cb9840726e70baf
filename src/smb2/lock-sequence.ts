// MS-SMB2 3.3.5.14 lock sequence verification. A LOCK carries LockSequence: a 4-bit
// LockSequenceNumber and a 28-bit LockSequenceIndex naming one of 64 buckets of the open. A
// client that sends a LOCK again (on another channel, after it lost the first) sends the same
// pair: when the bucket holds that number from a LOCK that succeeded, the server answers
// SUCCESS without locking or unlocking again (doing an unlock twice would free a range the
// client holds again by then). Index 0 or above 64: no verification.
//
// When (MS-SMB2 3.3.5.14): on 2.1 and later for resilient, durable and persistent opens (they
// carry Open.LockSequenceArray from their grant: create-durable.ts, resiliency.ts; smbtorture
// smb2.lock.replay_smb3_specification_durable), and for every open of a 3.x connection that
// offers SMB2_GLOBAL_CAP_MULTI_CHANNEL (smb2.lock.replay_smb3_specification_multi).
import { Capabilities, Dialect } from '../wire/constants.js'
import type { Open } from '../session/model.js'
import type { RequestContext } from './context.js'

export interface LockSequence { index: number, number: number }

/** The request's LockSequence when it is to be verified, else undefined. */
export function lockSequenceOf (ctx: RequestContext): LockSequence | undefined {
  const { conn } = ctx
  const kept = ctx.open?.lockSequences !== undefined && conn.dialect >= Dialect.SMB2_10
  const multichannel = conn.dialect >= Dialect.SMB3_00 && (conn.serverCapabilities & Capabilities.MULTI_CHANNEL) !== 0
  if (!kept && !multichannel) return undefined
  // MS-SMB2 2.2.26: LockSequenceNumber (4 bits), LockSequenceIndex (28 bits), at body offset 4.
  const v = ctx.body.readUInt32LE(4)
  const index = v >>> 4
  if (index < 1 || index > 64) return undefined
  return { index, number: v & 0xf }
}

/**
 * True when this LOCK repeats the last one that succeeded in its bucket (answer SUCCESS, do
 * nothing). Otherwise the bucket is invalid until this one succeeds.
 */
export function replayedLock (open: Open, seq: LockSequence): boolean {
  if (open.lockSequences?.get(seq.index) === seq.number) return true
  open.lockSequences?.delete(seq.index)
  return false
}

/** The LOCK succeeded: its bucket holds its number. */
export function lockDone (open: Open, seq: LockSequence): void {
  (open.lockSequences ??= new Map()).set(seq.index, seq.number)
}
