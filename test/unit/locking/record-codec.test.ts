// The locking store's binary record layout (src/locking/record-codec.ts): every kind of record
// comes back as it went in, and the store's behaviour over a shared db with this codec is the
// one its own tests check in one process (test/unit/locking/store.test.ts).
import t from 'tap'
import { lockRecordCodec } from '../../../src/locking/record-codec.js'
import type { LockRecord } from '../../../src/locking/store.js'
import { OplockState } from '../../../src/locking/oplocks.js'

const roundTrip = (r: LockRecord): LockRecord => lockRecordCodec.decode(Buffer.from(lockRecordCodec.encode(r)))

t.test('every record kind round-trips', async (t) => {
  const owner = (w: number, g: number, id: number): { w: number, g: number, id: number } => ({ w, g, id })
  const records: LockRecord[] = [
    { kind: 'file', opens: [] },
    {
      kind: 'file',
      deletePending: true,
      deleting: owner(1, 7, 2 ** 40 + 3),
      opens: [
        { ...owner(0, 1, 1), access: 0x12019f, share: 7, state: OplockState.Held, level: 9, breakTo: 0 },
        { ...owner(1, 2, 5), access: 0x80, share: 0, state: OplockState.Breaking, level: 8, breakTo: 1, closing: true },
        { ...owner(63, 4294967295, 9), access: 0xffffffff, share: 1, state: OplockState.None, level: 0, breakTo: 0 },
      ],
      inFlight: [owner(0, 1, 77)],
      watchers: [owner(1, 2, 78), owner(-1, 0, 3)],
      locks: [
        { ...owner(0, 1, 1), off: 0n, len: 0n, x: false },
        { ...owner(1, 2, 5), off: (1n << 64n) - 1n, len: 1n, x: true },
        { ...owner(1, 2, 5), off: 100n, len: (1n << 63n) + 7n, x: false },
      ],
    },
    {
      kind: 'file',
      opens: [
        { ...owner(0, 1, 1), access: 0x12019f, share: 7, state: OplockState.None, level: 0, breakTo: 0, lk: 'ab'.repeat(32) },
        { ...owner(1, 1, 2), access: 0x80, share: 7, state: OplockState.None, level: 0, breakTo: 0, lk: '0123456789abcdef'.repeat(4), closing: true },
      ],
      leases: [
        { lk: 'ab'.repeat(32), state: 7, breaking: true, breakTo: 3, breakToReq: 3, epoch: 0xffff, v: 2 },
        { lk: '0123456789abcdef'.repeat(4), state: 1, breaking: false, breakTo: 0, breakToReq: 0, epoch: 0, v: 1 },
        { lk: 'cd'.repeat(32), state: 3, breaking: false, breakTo: 0, breakToReq: 0, epoch: 9, v: 2, dir: true },
      ],
    },
    { kind: 'name', queue: [] },
    { kind: 'name', holder: owner(0, 1, 4), queue: [owner(1, 1, 5), owner(1, 1, 6)] },
    { kind: 'count', by: [{ w: 0, g: 1, n: 3 }, { w: 1, g: 2, n: 100000 }] },
    { kind: 'guid', by: [{ w: 1, g: 3, n: 2 }] },
  ]
  for (const r of records) t.same(roundTrip(r), r, `${r.kind}: ${JSON.stringify(r, (_k, v: unknown) => typeof v === 'bigint' ? `${v}n` : v).slice(0, 60)}`)
  // Thousands of opens of one file: the buffer grows as it goes.
  const many: LockRecord = { kind: 'file', opens: Array.from({ length: 5000 }, (_, i) => ({ w: i % 2, g: 1, id: i, access: i, share: 7, state: OplockState.None, level: 0, breakTo: 0 })) }
  t.same(roundTrip(many), many, '5,000 opens')
  t.throws(() => lockRecordCodec.decode(Buffer.from([9])), /unknown kind 9/)
})
