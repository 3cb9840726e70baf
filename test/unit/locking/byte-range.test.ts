// src/locking/byte-range.ts: the range arithmetic of byte-range locks (MS-FSA 2.1.4.10, 2.1.5.8),
// with the cases Windows is known to answer (smbtorture smb2.lock.zerobytelength, stacking,
// rw-shared, rw-exclusive, range) written as plain expectations.
import t from 'tap'
import { ioConflicts, lockConflicts, MAX_U64, rangesOverlap, validLockRange, type HeldLock } from '../../../src/locking/byte-range.js'

const r = (off: number | bigint, len: number | bigint): { off: bigint, len: bigint } => ({ off: BigInt(off), len: BigInt(len) })
const held = (off: number | bigint, len: number | bigint, exclusive: boolean, mine = false): HeldLock => ({ ...r(off, len), exclusive, mine })

t.test('overlap: shared bytes, zero-length ranges, {0,0}, the end of the 64-bit space', async (t) => {
  t.ok(rangesOverlap(r(0, 10), r(9, 1)), 'the last byte')
  t.notOk(rangesOverlap(r(0, 10), r(10, 1)), 'adjacent ranges do not overlap')
  t.notOk(rangesOverlap(r(10, 1), r(0, 10)), 'either way round')
  t.ok(rangesOverlap(r(0, 10), r(5, 0)), 'a zero-length range strictly inside')
  t.notOk(rangesOverlap(r(0, 10), r(0, 0)), '{0,0} overlaps nothing')
  t.notOk(rangesOverlap(r(5, 10), r(5, 0)), 'a zero-length range at the first byte does not')
  t.ok(rangesOverlap(r(5, 10), r(14, 0)), 'one at the last byte does (it and the byte before it are inside)')
  t.notOk(rangesOverlap(r(5, 10), r(15, 0)), 'one just past the last byte does not')
  t.ok(rangesOverlap(r(MAX_U64, 1), r(MAX_U64 - 5n, 6)), 'the very last byte')
})

t.test('valid lock ranges: none past the last 64-bit byte (STATUS_INVALID_LOCK_RANGE)', async (t) => {
  t.ok(validLockRange(r(MAX_U64, 1)), 'the last byte alone')
  t.notOk(validLockRange(r(MAX_U64, 2)), 'one byte past it')
  t.notOk(validLockRange(r(1n << 63n, 1n << 63n + 1n)))
  t.ok(validLockRange(r(MAX_U64, 0)), 'a zero-length range anywhere')
})

t.test('zero-length locks (smbtorture smb2.lock.zerobytelength): a lock at 10 of length 0, then', async (t) => {
  const first = [held(10, 0, true)]
  const cases: Array<[number, number, boolean]> = [[10, 0, false], [9, 1, false], [10, 1, false], [11, 1, false], [9, 2, true], [10, 2, false], [9, 3, true]]
  for (const [off, len, conflict] of cases) {
    t.equal(lockConflicts(first, { ...r(off, len), exclusive: true }), conflict, `{${off}, ${len}} ${conflict ? 'conflicts' : 'is granted'}`)
    // the other order: the second lock first
    t.equal(lockConflicts([held(off, len, true)], { ...r(10, 0), exclusive: true }), conflict, `{10, 0} after {${off}, ${len}}`)
  }
  t.notOk(lockConflicts([held(0, 0, true)], { ...r(0, 0), exclusive: true }), '{0,0} twice')
})

t.test('stacking (smbtorture smb2.lock.stacking): what one open may pile on its own locks', async (t) => {
  t.notOk(lockConflicts([held(0, 10, false, true)], { ...r(0, 10), exclusive: false }), 'shared on its own shared')
  t.notOk(lockConflicts([held(0, 10, true, true)], { ...r(0, 10), exclusive: false }), 'shared on its own exclusive')
  t.ok(lockConflicts([held(0, 10, false, true)], { ...r(0, 10), exclusive: true }), 'not exclusive on its own shared')
  t.ok(lockConflicts([held(0, 10, true, true)], { ...r(0, 10), exclusive: true }), 'nor exclusive on its own exclusive')
  t.ok(lockConflicts([held(0, 10, true)], { ...r(0, 10), exclusive: false }), 'another open\'s exclusive refuses a shared lock')
  t.notOk(lockConflicts([held(0, 10, false)], { ...r(5, 10), exclusive: false }), 'shared beside another open\'s shared')
  t.notOk(lockConflicts([held(0, 10, true)], { ...r(10, 10), exclusive: true }), 'adjacent exclusive locks')
})

t.test('reads and writes (smbtorture smb2.lock.rw-shared, rw-exclusive)', async (t) => {
  const x = (mine: boolean): HeldLock[] => [held(0, 10, true, mine)]
  const s = (mine: boolean): HeldLock[] => [held(0, 10, false, mine)]
  t.ok(ioConflicts(x(false), r(5, 2), false), 'another open\'s exclusive lock refuses a read')
  t.ok(ioConflicts(x(false), r(5, 2), true), 'and a write')
  t.notOk(ioConflicts(x(true), r(5, 2), true), 'its own open reads and writes through it')
  t.notOk(ioConflicts(s(false), r(5, 2), false), 'a shared lock lets everyone read')
  t.ok(ioConflicts(s(false), r(5, 2), true), 'and nobody write')
  t.ok(ioConflicts(s(true), r(5, 2), true), 'its own open included')
  t.notOk(ioConflicts(x(false), r(5, 0), false), 'a read of nothing is never refused (smb2.lock.zerobyteread)')
  t.notOk(ioConflicts(x(false), r(10, 5), true), 'a write past the lock')
  t.ok(ioConflicts(x(false), r(8, 5), false), 'a read that runs into it')
})
