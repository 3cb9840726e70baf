// LOCK (MS-SMB2 3.3.5.14): byte-range locks, kept in the locking store (src/locking/store.ts) so
// that opens on every worker see them, with the range rules of src/locking/byte-range.ts.
//
// - Unlocks (the first element says UNLOCK): each element must be a bare UNLOCK and names a lock
//   this open holds on exactly that range; they are done in order, and the first that fails
//   (STATUS_RANGE_NOT_LOCKED) stops the rest, the earlier ones staying done (3.3.5.14.1).
// - Locks: all or none (3.3.5.14.2). Several elements must each fail immediately; they are taken
//   in one update of the store, so no other open ever sees part of them, and a conflict takes
//   none (STATUS_LOCK_NOT_GRANTED). A single lock without FAIL_IMMEDIATELY waits: STATUS_PENDING,
//   then success once the range frees; CANCEL ends it (STATUS_CANCELLED), and so do LOGOFF,
//   TREE_DISCONNECT, disconnect and the open's own close.
// - A lock breaks level II oplocks to none first (MS-FSA 2.1.4.12), an unlock breaks nothing.
// - Lock sequence replay (3.3.5.14, LockSequenceNumber/Index): on a durable or resilient open,
//   and on every open of a 3.x connection that offers MULTI_CHANNEL (a request may come again on
//   another channel), a LOCK whose bucket holds the same sequence number as the last successful
//   one is answered SUCCESS without being done again (smb2/lock-sequence.ts).
import { persistOpen } from '../../session/persistent.js'
import type { RequestContext, Reply } from '../context.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { zeroed } from '../../wire/buffers.js'
import { validLockRange } from '../../locking/byte-range.js'
import type { LockRequest } from '../../locking/store.js'
import { lockDone, lockSequenceOf, replayedLock } from '../lock-sequence.js'

/** MS-SMB2 2.2.26.1 Flags. */
export const LockFlags = {
  SHARED: 0x01,
  EXCLUSIVE: 0x02,
  UNLOCK: 0x04,
  FAIL_IMMEDIATELY: 0x10,
} as const

export interface LockElement { off: bigint, len: bigint, flags: number }

const ELEMENT_BYTES = 24
const ELEMENTS_AT = 24

/** MS-SMB2 2.2.26: LockCount elements of 24 bytes from offset 24 of the body, all present. */
export function decodeLockElements (body: Buffer): LockElement[] {
  const count = body.readUInt16LE(2)
  if (count === 0) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'LOCK with no element')
  if (ELEMENTS_AT + count * ELEMENT_BYTES > body.length) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `LOCK: ${count} elements do not fit in the request`)
  const out: LockElement[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const at = ELEMENTS_AT + i * ELEMENT_BYTES
    out[i] = { off: body.readBigUInt64LE(at), len: body.readBigUInt64LE(at + 8), flags: body.readUInt32LE(at + 16) }
  }
  return out
}

/** The lock an element asks for, or undefined for a combination 2.2.26.1 does not define. */
function lockOf (e: LockElement): (LockRequest & { wait: boolean }) | undefined {
  const kind = e.flags & ~LockFlags.FAIL_IMMEDIATELY
  if (kind !== LockFlags.SHARED && kind !== LockFlags.EXCLUSIVE) return undefined
  return { off: e.off, len: e.len, exclusive: kind === LockFlags.EXCLUSIVE, wait: (e.flags & LockFlags.FAIL_IMMEDIATELY) === 0 }
}

function response (): Reply {
  const out = zeroed(4)
  out.writeUInt16LE(4, 0)
  return { body: out }
}

export async function lock (ctx: RequestContext): Promise<Reply> {
  const seq = lockSequenceOf(ctx)
  if (seq !== undefined && replayedLock(ctx.open!, seq)) {
    if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `${ctx.open!.tree.shareName}/${ctx.open!.path}: LOCK replay (index ${seq.index}, sequence ${seq.number}) answered without locking again`)
    return response()
  }
  try {
    const r = await lockRanges(ctx)
    if (seq !== undefined) lockDone(ctx.open!, seq)
    return r
  } finally {
    // A persistent open's record keeps its locks and lock sequences (persistent.ts); an unlock
    // that failed part way changed them too.
    if (ctx.open!.durable?.persistent === true) persistOpen(ctx.server, ctx.open!)
  }
}

async function lockRanges (ctx: RequestContext): Promise<Reply> {
  const open = ctx.open!
  const elements = decodeLockElements(ctx.body)
  // MS-FSA 2.1.5.8/2.1.5.9: no byte-range locks on directories (nor on pipes, which have no bytes).
  if (open.isDirectory || open.pipe !== undefined || open.oplock === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'byte-range locks are for files')
  const held = open.oplock
  const locks = ctx.server.locks
  const name = `${open.tree.shareName}/${open.path}`

  if ((elements[0]!.flags & LockFlags.UNLOCK) !== 0) {
    for (const e of elements) {
      if (e.flags !== LockFlags.UNLOCK) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `LOCK: flags 0x${e.flags.toString(16)} among unlocks`)
      if (!validLockRange(e)) throw new NtStatusError(NtStatus.INVALID_LOCK_RANGE)
      if (!locks.unlock(held, e)) throw new NtStatusError(NtStatus.RANGE_NOT_LOCKED, `${name}: no lock at ${e.off}+${e.len} to unlock`)
      ctx.server.log.debug('vfs', `${name}: unlocked ${e.off}+${e.len}`)
    }
    return response()
  }

  const wanted = elements.map(lockOf)
  for (const [i, l] of wanted.entries()) {
    if (l === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `LOCK: flags 0x${elements[i]!.flags.toString(16)}`)
    if (wanted.length > 1 && l.wait) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'LOCK: several elements, one without FAIL_IMMEDIATELY')
    if (!validLockRange(l)) throw new NtStatusError(NtStatus.INVALID_LOCK_RANGE)
  }
  const asked = wanted as Array<LockRequest & { wait: boolean }>
  // MS-FSA 2.1.5.8 / 2.1.4.12 (BYTE_RANGE_LOCK): a lock breaks every level II oplock of the
  // file to none, the locker's own included, as a WRITE does (smbtorture smb2.oplock.brl1, brl3).
  locks.breakLevelII(held.key, held)
  const conflict = locks.tryLock(held, asked)
  if (conflict < 0) {
    ctx.server.log.debug('vfs', `${name}: locked ${asked.map(l => `${l.exclusive ? 'x' : 's'} ${l.off}+${l.len}`).join(', ')}`)
    return response()
  }
  const first = asked[0]!
  if (asked.length > 1 || !first.wait) throw new NtStatusError(NtStatus.LOCK_NOT_GRANTED, `${name}: ${asked[conflict]!.off}+${asked[conflict]!.len} is locked`)
  const goAsync = ctx.goAsync
  if (goAsync === undefined) throw new NtStatusError(NtStatus.INTERNAL_ERROR, 'LOCK cannot wait here')
  ctx.server.log.debug('vfs', `${name}: ${first.off}+${first.len} waits for the range to free`)
  await locks.lock(held, first, () => AbortSignal.any([goAsync(), open.closeSignal]))
  ctx.server.log.debug('vfs', `${name}: locked ${first.exclusive ? 'x' : 's'} ${first.off}+${first.len} after waiting`)
  return response()
}
