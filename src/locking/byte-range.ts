// Byte-range lock arithmetic (MS-FSA 2.1.4.10, 2.1.5.8, 2.1.5.9), apart from where the locks are
// kept (the locking store) and how they arrive (SMB2 LOCK): which ranges overlap, which lock
// requests and which reads and writes a file's locks refuse. Offsets and lengths are unsigned
// 64-bit, as bigint.
//
// The rules, as Windows applies them (LockFileEx's documentation says the same):
// - Two ranges overlap when they share a byte; a zero-length range at X "overlaps" a range that
//   holds X and the byte before it (MS-FSA's last-byte arithmetic: X-1 >= start and X <= last),
//   and the range {0, 0} overlaps nothing.
// - An exclusive lock refuses every overlapping lock request — its own open's too — and the
//   reads and writes of every other open; its own open reads and writes through it.
// - A shared lock refuses overlapping exclusive lock requests (its own open's too) and every
//   write (its own open's too); shared locks stack on it, and a shared lock may stack on its own
//   open's exclusive lock.

export const MAX_U64 = (1n << 64n) - 1n

export interface Range { off: bigint, len: bigint }

/** A lock held on a file; `mine`: held by the open asking. */
export interface HeldLock extends Range { exclusive: boolean, mine: boolean }

/** MS-FSA 2.1.5.8: a range whose last byte is past 2^64 - 1 cannot be locked (STATUS_INVALID_LOCK_RANGE). */
export function validLockRange (r: Range): boolean {
  return r.len === 0n || r.off + r.len - 1n <= MAX_U64
}

/** MS-FSA 2.1.4.10's overlap, {0, 0} on either side overlapping nothing. */
export function rangesOverlap (a: Range, b: Range): boolean {
  if ((a.off === 0n && a.len === 0n) || (b.off === 0n && b.len === 0n)) return false
  const aLast = a.off + a.len - 1n
  const bLast = b.off + b.len - 1n
  return a.off <= bLast && aLast >= b.off
}

/** Whether a lock request on `req` (exclusive or shared) conflicts with `held`. */
export function lockConflicts (held: readonly HeldLock[], req: Range & { exclusive: boolean }): boolean {
  for (const h of held) {
    if (!rangesOverlap(h, req)) continue
    if (req.exclusive) return true
    if (h.exclusive && !h.mine) return true
  }
  return false
}

/**
 * Whether a read (or a write) of `r` by the open asking conflicts with `held`. A read or write of
 * nothing touches no byte, wherever it is (Windows answers it inside another open's exclusive
 * lock; smbtorture smb2.lock.zerobyteread).
 */
export function ioConflicts (held: readonly HeldLock[], r: Range, write: boolean): boolean {
  if (r.len === 0n) return false
  for (const h of held) {
    if (!rangesOverlap(h, r)) continue
    if (h.exclusive ? !h.mine : write) return true
  }
  return false
}
