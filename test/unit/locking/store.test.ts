// The locking store (src/locking/store.ts) without the SMB2 layer: grants, breaks and waits, share
// modes and delete-pending, name locks; then two stores on one db, as two workers are: breaks and
// wake-ups cross as messages, and what a dead worker held is dropped.
import t from 'tap'
import { LockingStore, type Peers, type StoreMessage, type LockRecord } from '../../../src/locking/store.js'
import { MemoryRecordDb, ShmRecordDb, type RecordDb } from '../../../src/locking/record-db.js'
import { lockRecordCodec } from '../../../src/locking/record-codec.js'
import { nativeAvailable } from '../../../src/io/native.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OplockState, type OplockHolder } from '../../../src/locking/oplocks.js'
import { OplockLevel, AccessMask, ShareAccess } from '../../../src/wire/constants.js'
import { NtStatusError } from '../../../src/wire/errors.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'

const RW = { access: AccessMask.FILE_READ_DATA | AccessMask.FILE_WRITE_DATA, shareAccess: ShareAccess.READ | ShareAccess.WRITE }
const EXCL = { access: AccessMask.FILE_READ_DATA, shareAccess: 0 }
const ATTR = { access: AccessMask.FILE_READ_ATTRIBUTES, shareAccess: 0 }
const grant = (requested: number): { requested: number, eligible: boolean, level2: boolean } => ({ requested, eligible: true, level2: true })
const intent = { sharingViolation: false, statOpen: false, overwrite: false, level2: true }
const noWait = (): AbortSignal => { throw new Error('no wait expected') }
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function recorder (): { sent: Array<[string, number]>, holder: (name: string) => OplockHolder } {
  const sent: Array<[string, number]> = []
  return { sent, holder: (name) => ({ name, notifyBreak: (l) => { sent.push([name, l]) } }) }
}

t.test('one store: grants, a break with its wait, acknowledgment, close and timeout', async (t) => {
  const store = new LockingStore(new MemoryRecordDb<LockRecord>())
  store.breakTimeoutMs = 60_000
  const { sent, holder } = recorder()
  const a = store.addOpen('f', RW, holder('a'), grant(OplockLevel.BATCH))
  t.equal(a.granted, OplockLevel.BATCH)
  const stat = store.addOpen('f', ATTR, holder('s'), grant(OplockLevel.II))
  t.equal(stat.granted, OplockLevel.NONE, 'nothing beside a batch holder')
  const statTicket = await store.breakForOpen('f', { ...intent, statOpen: true }, noWait)
  t.ok(statTicket !== undefined, 'a stat open waits for nothing')
  statTicket!.done()

  const ac = new AbortController()
  let asyncCalls = 0
  const waiting = store.breakForOpen('f', intent, () => { asyncCalls++; return ac.signal })
  t.same(sent, [['a', OplockLevel.II]], 'the batch holder is told to go to level II')
  t.equal(asyncCalls, 1, 'the opener goes async once')
  t.same(store.acknowledge(a, OplockLevel.II), { ok: true })
  t.equal(await waiting, undefined, 'the wait ends with the acknowledgment (look again)')
  t.same(store.acknowledge(a, OplockLevel.NONE), { ok: false, reason: 'no-break' }, 'nothing to acknowledge now')
  const b = store.addOpen('f', RW, holder('b'), grant(OplockLevel.BATCH))
  t.equal(b.granted, OplockLevel.II, 'level II beside others')

  store.breakLevelII('f')
  t.same(sent.slice(1), [['a', OplockLevel.NONE], ['b', OplockLevel.NONE]], 'a write breaks every level II')
  t.same(store.snapshot('f').map(x => x.level), [0, 0, 0])
  for (const o of [a, stat, b]) { store.beginClose(o, false); store.closed(o) }
  t.same(store.snapshot('f'), [], 'nothing left once every open closed')

  // An aborted wait rejects with the abort reason; the break goes on.
  const c = store.addOpen('g', RW, holder('c'), grant(OplockLevel.EXCLUSIVE))
  const ac2 = new AbortController()
  const w2 = store.breakForOpen('g', { ...intent, overwrite: true }, () => ac2.signal)
  t.match(store.oplockOf(c), { state: OplockState.Breaking, breakTo: OplockLevel.NONE }, 'an overwrite breaks to none')
  ac2.abort(new Error('cancelled'))
  await t.rejects(w2, /cancelled/)
  t.match(store.oplockOf(c), { state: OplockState.Breaking }, 'the holder still owes its acknowledgment')
  t.same(store.acknowledge(c, OplockLevel.II), { ok: false, reason: 'above', breakTo: OplockLevel.NONE }, 'more than the break left: completed to none, refused')
  t.match(store.oplockOf(c), { state: OplockState.None, level: OplockLevel.NONE })
  store.beginClose(c, false); store.closed(c)

  // No acknowledgment: the timer ends the break.
  store.breakTimeoutMs = 30
  const d = store.addOpen('h', RW, holder('d'), grant(OplockLevel.BATCH))
  const started = Date.now()
  t.equal(await store.breakForOpen('h', { ...intent, sharingViolation: true }, () => new AbortController().signal), undefined)
  t.ok(Date.now() - started >= 25, 'waited for the timer')
  t.match(store.oplockOf(d), { state: OplockState.Held, level: OplockLevel.II })
  store.beginClose(d, false); store.closed(d)
  t.equal(store.trackedRecords, 0, 'no record is left for files nobody holds')
})

t.test('one store: an open in flight keeps others from an oplock; share modes; delete on close', async (t) => {
  const store = new LockingStore(new MemoryRecordDb<LockRecord>())
  const holder = (name: string): OplockHolder => ({ name, notifyBreak () { t.fail(`no break expected for ${name}`) } })
  const ticket = await store.breakForOpen('f', { ...intent, overwrite: true }, noWait)
  const a = store.addOpen('f', RW, holder('a'), grant(OplockLevel.BATCH))
  t.equal(a.granted, OplockLevel.NONE, 'no oplock while another open is in flight')
  const b = store.addOpen('f', RW, holder('b'), grant(OplockLevel.II), ticket)
  t.equal(b.granted, OplockLevel.II, 'the ticket lands with its own open')
  ticket!.done() // idempotent after landing

  t.ok(store.conflicts('f', EXCL), 'an exclusive open conflicts with readers')
  t.notOk(store.conflicts('f', ATTR), 'an attributes-only open conflicts with nobody')
  t.throws(() => store.addOpen('f', EXCL, holder('x'), grant(0)), new NtStatusError(NtStatus.SHARING_VIOLATION), 'SHARING_VIOLATION')
  t.equal(store.openCount('f'), 2)

  // MS-FSA 2.1.5.4: delete on close of one of two opens leaves the file pending deletion.
  t.same(store.beginClose(a, true), { lastOne: false, deleteNow: false })
  t.ok(store.isDeletePending('f'))
  t.throws(() => store.addOpen('f', RW, holder('y'), grant(0)), new NtStatusError(NtStatus.DELETE_PENDING), 'DELETE_PENDING')
  store.closed(a)
  t.same(store.beginClose(b, false), { lastOne: true, deleteNow: true }, 'the last close deletes it')
  t.ok(store.isDeletePending('f'), 'and new opens are refused while it does')
  store.closed(b)
  t.notOk(store.isDeletePending('f'))
  t.equal(store.trackedRecords, 0)
})

t.test('one store: name locks run holders of one key in turn, other keys free', async (t) => {
  const store = new LockingStore(new MemoryRecordDb<LockRecord>())
  const order: string[] = []
  const holder = async (name: string, work: number): Promise<void> => {
    const release = await store.lockName('share\0dir\0A.TXT')
    order.push(`${name} in`)
    for (let i = 0; i < work; i++) await tick()
    order.push(`${name} out`)
    release()
    release() // a second release changes nothing
  }
  const other = store.lockName('share\0B')
  await Promise.all([holder('a', 3), holder('b', 1), holder('c', 0)])
  ;(await other)()
  t.same(order, ['a in', 'a out', 'b in', 'b out', 'c in', 'c out'], 'in arrival order')
  t.equal(store.trackedRecords, 0, 'no key kept')
})

/** Two workers' stores on one db; messages go through setImmediate, as over a socket. */
function twoWorkers (dbs?: [RecordDb<LockRecord>, RecordDb<LockRecord>]): { w: [LockingStore, LockingStore], kill: (slot: number) => void, dropped: StoreMessage[], db: MemoryRecordDb<LockRecord>, alive: Peers['alive'] } {
  const db = new MemoryRecordDb<LockRecord>()
  const gens = [1, 1]
  const dead = new Set<number>()
  const stores: LockingStore[] = []
  const dropped: StoreMessage[] = []
  const peers = (slot: number): Peers => ({
    slot,
    generation: 1,
    alive: (s, g) => !dead.has(s) && gens[s] === g,
    send: (s, msg) => {
      setImmediate(() => { if (dead.has(s)) dropped.push(msg); else stores[s]!.deliver(msg) })
    },
  })
  stores.push(new LockingStore(dbs?.[0] ?? db, peers(0)), new LockingStore(dbs?.[1] ?? db, peers(1)))
  return {
    w: stores as [LockingStore, LockingStore],
    dropped,
    db,
    alive: (s, g) => !dead.has(s) && gens[s] === g,
    kill: (slot) => {
      dead.add(slot)
      for (const [i, s] of stores.entries()) if (i !== slot) s.peersChanged()
    },
  }
}

t.test('two workers: a batch oplock on one is broken by the other\'s open, which resumes after the acknowledgment', async (t) => {
  const { w: [w0, w1] } = twoWorkers()
  const { sent, holder } = recorder()
  const a = w0.addOpen('f', RW, holder('a'), grant(OplockLevel.BATCH))
  t.equal(a.granted, OplockLevel.BATCH)
  let resumed = false
  const waiting = w1.breakForOpen('f', intent, () => new AbortController().signal).then((r) => { resumed = true; return r })
  await tick(); await tick()
  t.same(sent, [['a', OplockLevel.II]], 'worker 0 told its client, on worker 1\'s open')
  t.notOk(resumed, 'worker 1 waits')
  t.same(w0.acknowledge(a, OplockLevel.II), { ok: true })
  t.equal(await waiting, undefined, 'and resumes once the holder acknowledged')
  const b = w1.addOpen('f', RW, holder('b'), grant(OplockLevel.BATCH))
  t.equal(b.granted, OplockLevel.II, 'level II beside worker 0\'s open')
  t.ok(w1.conflicts('f', EXCL) && w0.conflicts('f', EXCL), 'both see both share modes')
  t.equal(w0.openCount('f'), 2)
  // A write on worker 0 breaks worker 1's level II.
  w0.breakLevelII('f')
  await tick(); await tick()
  t.same(sent.slice(1), [['a', OplockLevel.NONE], ['b', OplockLevel.NONE]])
  // Delete on close on worker 1, while worker 0 still has it open.
  t.same(w1.beginClose(b, true), { lastOne: false, deleteNow: false })
  w1.closed(b)
  t.ok(w0.isDeletePending('f'), 'worker 0 sees the pending deletion')
  t.same(w0.beginClose(a, false), { lastOne: true, deleteNow: true }, 'and its last close deletes the file')
  w0.closed(a)
  t.equal(w0.trackedRecords, 0)
})

t.test('two workers: a close on the holder\'s worker wakes the other\'s wait; a timeout there too', async (t) => {
  const { w: [w0, w1] } = twoWorkers()
  const { holder } = recorder()
  const a = w0.addOpen('f', RW, holder('a'), grant(OplockLevel.EXCLUSIVE))
  const waiting = w1.breakForOpen('f', intent, () => new AbortController().signal)
  await tick(); await tick()
  w0.beginClose(a, false)
  w0.closed(a)
  t.equal(await waiting, undefined, 'the close woke worker 1')

  w0.breakTimeoutMs = 20
  const b = w0.addOpen('g', RW, holder('b'), grant(OplockLevel.BATCH))
  t.equal(await w1.breakForOpen('g', intent, () => new AbortController().signal), undefined, 'the holder worker\'s timer ended the break')
  t.match(w0.oplockOf(b), { state: OplockState.Held, level: OplockLevel.II })
  w0.beginClose(b, false); w0.closed(b)
})

t.test('two workers: what a dead worker held is dropped, and its waits do not hold anyone', async (t) => {
  const { w: [w0, w1], kill } = twoWorkers()
  w0.breakTimeoutMs = 50 // its timer outlives it in this one process, not in a dead worker
  const { holder } = recorder()
  w0.addOpen('f', EXCL, holder('a'), grant(OplockLevel.BATCH))
  const release = await w0.lockName('share\0NEW.TXT')
  t.ok(w1.conflicts('f', RW), 'worker 0\'s exclusive open blocks worker 1')
  const waiting = w1.breakForOpen('f', intent, () => new AbortController().signal)
  const nameWait = w1.lockName('share\0NEW.TXT')
  await tick(); await tick()
  kill(0)
  t.equal(await waiting, undefined, 'the death woke the wait')
  t.notOk(w1.conflicts('f', RW), 'the dead worker\'s share mode is gone')
  const ticket = await w1.breakForOpen('f', intent, noWait)
  const b = w1.addOpen('f', RW, holder('b'), grant(OplockLevel.BATCH), ticket)
  t.equal(b.granted, OplockLevel.BATCH, 'and its oplock too')
  ;(await nameWait)()
  release() // the dead worker's release (never sent in life) changes nothing
  w1.beginClose(b, false); w1.closed(b)
  t.equal(w1.trackedRecords, 0, 'nothing of the dead worker is left')
})

t.test('two workers: server-wide counts (the limits) add up across workers; a dead worker\'s part goes', async (t) => {
  const { w: [w0, w1], kill } = twoWorkers()
  t.ok(w0.tryCount('connections', 3) && w0.tryCount('connections', 3), 'w0 takes two of three')
  t.ok(w1.tryCount('connections', 3), 'w1 the third')
  t.notOk(w1.tryCount('connections', 3), 'a fourth is refused, whichever worker asks')
  w0.uncount('connections')
  t.ok(w1.tryCount('connections', 3), 'a slot freed on w0 is free for w1')
  t.equal(w1.shareCount('sessions', 2), 2)
  t.equal(w0.shareCount('sessions', 5), 7, 'published counts add up')
  kill(0)
  t.equal(w1.shareCount('sessions', 2), 2, 'a dead worker\'s sessions count no more')
  t.ok(w1.tryCount('connections', 3), 'nor its connections')
  w1.shareCount('sessions', 0)
  for (let i = 0; i < 3; i++) w1.uncount('connections')
  t.equal(w1.trackedRecords, 0)
})

t.test('two workers over the shared db (two handles of one file, the binary codec): a break across them, a dead worker\'s open dropped', { skip: !nativeAvailable && 'the native addon is not built' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-store-'))
  const path = join(dir, 'locking.db')
  const created = ShmRecordDb.create<LockRecord>(path, { sizeBytes: 4 * 1024 * 1024, codec: lockRecordCodec })
  const other = ShmRecordDb.open<LockRecord>(path, { codec: lockRecordCodec })
  t.teardown(() => { created.close(); other.close(); rmSync(dir, { recursive: true, force: true }) })
  const { w: [w0, w1], kill } = twoWorkers([created, other])
  w0.breakTimeoutMs = 50
  const { sent, holder } = recorder()
  const a = w0.addOpen('f', RW, holder('a'), grant(OplockLevel.BATCH))
  t.equal(a.granted, OplockLevel.BATCH)
  const waiting = w1.breakForOpen('f', intent, () => new AbortController().signal)
  await tick(); await tick()
  t.same(sent, [['a', OplockLevel.II]], 'w0 told its client')
  t.same(w0.acknowledge(a, OplockLevel.II), { ok: true })
  t.equal(await waiting, undefined, 'w1 resumed')
  const b = w1.addOpen('f', RW, holder('b'), grant(OplockLevel.BATCH))
  t.equal(b.granted, OplockLevel.II, 'level II beside w0\'s')
  t.equal(w0.openCount('f'), 2, 'both opens, seen from w0')
  kill(1)
  t.equal(w0.sweep(), 1, 'the sweep drops w1\'s open')
  t.same(w0.snapshot('f').map(o => o.w), [0], 'only w0\'s is left')
  w0.beginClose(a, false); w0.closed(a)
  t.equal(w0.trackedRecords, 0)
})

t.test('two workers: one worker serves a client (ClientGuid); its part goes with its last connection, or its death', async (t) => {
  const { w: [w0, w1], kill, db } = twoWorkers()
  const guid = 'aa'.repeat(16)
  t.equal(w0.claimClient(guid), undefined, 'the first connection: w0 serves the client now')
  t.same(w1.claimClient(guid), { w: 0, g: 1 }, 'a connection on w1 learns that w0 serves it')
  t.same(w0.clientServers(guid), [{ w: 0, g: 1, n: 1 }], 'and counts nothing there')
  t.equal(w0.claimClient(guid), undefined, 'w0 takes another of its connections')
  t.equal(w1.claimClient('bb'.repeat(16)), undefined, 'another client is w1\'s')
  w1.serveClient(guid)
  t.same(w0.clientServers(guid).map(p => [p.w, p.n]), [[0, 2], [1, 1]], 'a failed hand-over counts on w1 too')
  t.equal(w1.claimClient(guid), undefined, 'and then w1 serves its next one itself')
  w1.releaseClient(guid); w1.releaseClient(guid)
  t.same(w1.claimClient(guid), { w: 0, g: 1 }, 'w1\'s last connection closed: w0 again')
  w0.releaseClient(guid)
  t.same(w0.clientServers(guid), [{ w: 0, g: 1, n: 1 }])
  w0.releaseClient(guid)
  t.same(w0.clientServers(guid), [], 'w0\'s last connection closed: nobody serves it')
  t.notOk(db.keys().includes(`g:${guid}`), 'and the record is gone')
  w0.releaseClient(guid)
  t.same(w0.clientServers(guid), [], 'a release too many changes nothing')

  t.equal(w0.claimClient(guid), undefined)
  kill(0)
  t.equal(w1.claimClient(guid), undefined, 'a dead worker serves nobody: w1 takes the client')
  t.same(w1.clientServers(guid), [{ w: 1, g: 1, n: 1 }])
  w1.releaseClient(guid)
  w1.releaseClient('bb'.repeat(16))
  t.equal(db.keys().length, 0, 'nothing is left')
})

t.test('two workers: the supervisor\'s sweep drops a dead worker\'s clients and counts', async (t) => {
  const { w: [w0, w1], kill, db, alive } = twoWorkers()
  const sweeper = new LockingStore(db, { slot: 99, generation: 1, alive, send: () => {} })
  w0.claimClient('cc'.repeat(16))
  w0.tryCount('connections', 10)
  w1.claimClient('dd'.repeat(16))
  kill(0)
  t.equal(sweeper.sweep(), 2, 'w0\'s client and its connections count')
  t.same(db.keys(), ['g:' + 'dd'.repeat(16)], 'w1\'s client is left')
})

t.test('two workers: a count moved to another worker (a connection handed over) never dips', async (t) => {
  const { w: [w0, w1], kill } = twoWorkers()
  t.ok(w0.tryCount('connections', 2) && w0.tryCount('connections', 2))
  w0.moveCount('connections', { w: 1, g: 1 })
  t.notOk(w1.tryCount('connections', 2), 'the total stays at the limit')
  w1.uncount('connections')
  t.ok(w1.tryCount('connections', 2), 'the moved one is w1\'s to release')
  w1.uncount('connections')
  kill(1)
  w0.moveCount('connections', { w: 1, g: 1 })
  t.ok(w0.tryCount('connections', 2) && w0.tryCount('connections', 2), 'moved to a dead worker: dropped')
  t.notOk(w0.tryCount('connections', 2))
})

t.test('byte-range locks: all or none, unlock exactly, reads and writes, released at close', async (t) => {
  const s = new LockingStore(new MemoryRecordDb())
  const { holder } = recorder()
  const a = s.addOpen('f', RW, holder('a'), grant(OplockLevel.NONE))
  const b = s.addOpen('f', RW, holder('b'), grant(OplockLevel.NONE))
  const x = (off: number, len: number): { off: bigint, len: bigint, exclusive: boolean } => ({ off: BigInt(off), len: BigInt(len), exclusive: true })
  t.equal(s.tryLock(a, [x(0, 10), x(20, 10)]), -1, 'two ranges taken')
  t.equal(s.tryLock(b, [x(40, 10), x(25, 1), x(60, 1)]), 1, 'the second of three conflicts')
  t.same(s.locksOf('f').map(l => Number(l.off)), [0, 20], 'and none of the three was taken')
  t.equal(s.tryLock(a, [x(30, 5), x(32, 5)]), 1, 'an element conflicting with one before it in the same request')
  t.ok(s.ioConflict(b, { off: 5n, len: 1n }, false), 'b cannot read inside a\'s exclusive range')
  t.notOk(s.ioConflict(a, { off: 5n, len: 1n }, true), 'a writes through its own')
  t.notOk(s.unlock(a, { off: 0n, len: 5n }), 'an unlock names the exact range')
  t.notOk(s.unlock(b, { off: 0n, len: 10n }), 'and the open that holds it')
  t.ok(s.unlock(a, { off: 0n, len: 10n }))
  t.notOk(s.ioConflict(b, { off: 5n, len: 1n }, false), 'unlocked')
  s.beginClose(a, false); s.closed(a)
  t.same(s.locksOf('f'), [], 'a\'s close released its other lock')
  s.beginClose(b, false); s.closed(b)
  t.equal(s.trackedRecords, 0)
})

t.test('a record moved to another key (a stream renamed): opens, locks and share modes go along; undone by owners; refused across workers', async (t) => {
  const s = new LockingStore(new MemoryRecordDb())
  const { holder } = recorder()
  const a = s.addOpen('f:S1', RW, holder('a'), grant(OplockLevel.NONE))
  const b = s.addOpen('f:S1', RW, holder('b'), grant(OplockLevel.NONE))
  const x = { off: 0n, len: 10n, exclusive: true }
  t.equal(s.tryLock(a, [x]), -1)
  const moved = s.moveRecord('f:S1', 'f:S2')
  t.same(moved.map(o => o.id).sort(), [a.id, b.id].sort(), 'both opens moved')
  t.equal(s.openCount('f:S1'), 0, 'the old key is free')
  t.equal(s.openCount('f:S2'), 2)
  const a2 = s.movedTo(a, 'f:S2')
  const b2 = s.movedTo(b, 'f:S2')
  t.same(s.locksOf('f:S2').map(l => [l.id, Number(l.off), Number(l.len)]), [[a.id, 0, 10]], 'the lock went along')
  t.ok(s.ioConflict(b2, { off: 5n, len: 1n }, false), 'and still refuses the other open')
  t.throws(() => s.check('f:S2', EXCL), NtStatusError, 'share modes are held under the new key')

  const c = s.addOpen('f:S3', EXCL, holder('c'), grant(OplockLevel.NONE))
  t.throws(() => s.moveRecord('f:S2', 'f:S3'), NtStatusError, 'onto a key whose open conflicts: refused')
  t.equal(s.openCount('f:S2'), 2, 'nothing moved')
  s.beginClose(c, false); s.closed(c)

  // Undone with the owners moved: only those go back, whatever else came to the new key.
  const d = s.addOpen('f:S2', RW, holder('d'), grant(OplockLevel.NONE))
  s.moveRecord('f:S2', 'f:S1', moved)
  t.equal(s.openCount('f:S1'), 2)
  t.same(s.snapshot('f:S2').map(o => o.id), [d.id], 'the open made after the move stays')
  t.equal(s.locksOf('f:S1').length, 1, 'the lock came back')
  for (const o of [s.movedTo(a2, 'f:S1'), s.movedTo(b2, 'f:S1'), d]) { s.beginClose(o, false); s.closed(o) }
  t.equal(s.trackedRecords, 0)

  const { w: [w0, w1] } = twoWorkers()
  const mine = w0.addOpen('g:S1', RW, holder('m'), grant(OplockLevel.NONE))
  const theirs = w1.addOpen('g:S1', RW, holder('t'), grant(OplockLevel.NONE))
  t.throws(() => w0.moveRecord('g:S1', 'g:S2'), NtStatusError, 'another worker holds an open of it: refused')
  t.equal(w0.openCount('g:S1'), 2, 'nothing moved')
  w0.beginClose(mine, false); w0.closed(mine)
  w1.beginClose(theirs, false); w1.closed(theirs)
})

t.test('two workers: a lock that waits is granted when the other worker unlocks, closes or dies; CANCEL ends it', async (t) => {
  const { w: [w0, w1], kill } = twoWorkers()
  const { holder } = recorder()
  const range = { off: 100n, len: 10n, exclusive: true }
  const a = w0.addOpen('f', RW, holder('a'), grant(OplockLevel.NONE))
  const b = w1.addOpen('f', RW, holder('b'), grant(OplockLevel.NONE))
  t.equal(w0.tryLock(a, [range]), -1)
  t.equal(w1.tryLock(b, [range]), 0, 'worker 1 sees worker 0\'s lock')
  t.ok(w1.ioConflict(b, { off: 105n, len: 1n }, false), 'and cannot read under it')

  let asyncCalls = 0
  let granted = false
  const waiting = w1.lock(b, range, () => { asyncCalls++; return new AbortController().signal }).then(() => { granted = true })
  await tick(); await tick()
  t.equal(asyncCalls, 1, 'it went async')
  t.notOk(granted, 'and waits')
  t.ok(w0.unlock(a, range))
  await waiting
  t.ok(granted, 'granted once worker 0 unlocked')
  t.same(w0.locksOf('f').map(l => l.w), [1], 'worker 1 holds it now')

  // Worker 0 waits for worker 1's lock; worker 1 closes its open.
  const second = w0.lock(a, range, () => new AbortController().signal)
  await tick(); await tick()
  w1.beginClose(b, false); w1.closed(b)
  await second
  t.same(w1.locksOf('f').map(l => l.w), [0], 'a close releases the lock and wakes the waiter')

  // A CANCEL: the wait ends with the signal's reason, nothing taken.
  const c = w1.addOpen('f', RW, holder('c'), grant(OplockLevel.NONE))
  const ac = new AbortController()
  const cancelled = w1.lock(c, range, () => ac.signal)
  await tick()
  ac.abort(new NtStatusError(NtStatus.CANCELLED))
  await t.rejects(cancelled, /STATUS_CANCELLED/)
  t.same(w1.locksOf('f').map(l => l.w), [0], 'nothing taken')

  // Worker 0 dies holding the lock: worker 1's wait is granted.
  const last = w1.lock(c, range, () => new AbortController().signal)
  await tick()
  kill(0)
  await last
  t.same(w1.locksOf('f').map(l => l.w), [1], 'the dead worker\'s lock is gone and the waiter has it')
  w1.beginClose(c, false); w1.closed(c)
  t.equal(w1.trackedRecords, 0)
})

t.test('byte-range locks: a wait woken in the same turn as its open\'s close takes nothing', async (t) => {
  const s = new LockingStore(new MemoryRecordDb())
  const { holder } = recorder()
  const a = s.addOpen('f', RW, holder('a'), grant(OplockLevel.NONE))
  const b = s.addOpen('f', RW, holder('b'), grant(OplockLevel.NONE))
  const range = { off: 0n, len: 10n, exclusive: true }
  t.equal(s.tryLock(a, [range]), -1)
  const waiting = s.lock(b, range, () => new AbortController().signal)
  await tick()
  t.ok(s.unlock(a, range), 'a unlocks: b\'s wait is woken')
  s.beginClose(b, false) // and b closes before the woken wait runs again
  await t.rejects(waiting, /the open closed while its lock waited/)
  t.same(s.locksOf('f'), [], 'no lock outlives the close')
  s.closed(b)
  s.beginClose(a, false); s.closed(a)
  t.equal(s.trackedRecords, 0)
})

t.test('two workers: leases — grant, a break from the other worker, acknowledgment with a next step, upgrade, close', async (t) => {
  const { w: [w0, w1] } = twoWorkers()
  const breaks: Array<[string, string, number, number, boolean]> = []
  const holder = (name: string): OplockHolder => ({
    name,
    notifyBreak () { t.fail(`no oplock break expected for ${name}`) },
    notifyLeaseBreak: (b) => { breaks.push([name, b.lk.slice(0, 2), b.from, b.to, b.ackRequired]) },
  })
  const K1 = 'a1'.repeat(32)
  const K2 = 'b2'.repeat(32)
  const lease = (lk: string, state: number, epoch = 0): { lk: string, state: number, v: number, epoch: number } => ({ lk, state, v: 2, epoch })
  const a = w0.addOpen('f', RW, holder('a'), { ...grant(OplockLevel.LEASE), lease: lease(K1, 7, 0x10) })
  t.equal(a.granted, OplockLevel.LEASE)
  t.same(a.lease, { lk: K1, state: 7, flags: 0, epoch: 0x11, v: 2 }, 'RWH, epoch one past the client\'s')
  t.throws(() => w0.addOpen('g', RW, holder('x'), { ...grant(OplockLevel.LEASE), lease: lease(K1, 1) }), new NtStatusError(NtStatus.INVALID_PARAMETER, 'lease key already in use for another file'), 'one lease key, one file')

  // Worker 1's client opens with another key: worker 0's lease breaks RWH -> RH; the open waits.
  let resumed = false
  const waiting = w1.breakForOpen('f', { ...intent, lk: K2 }, () => new AbortController().signal).then((r) => { resumed = true; return r })
  await tick(); await tick()
  t.same(breaks, [['a', 'a1', 7, 3, true]], 'worker 0 told its client')
  t.notOk(resumed)
  // An overwrite on worker 1 meanwhile lowers the target without a second notification.
  const ow = w1.breakForOpen('f', { ...intent, overwrite: true, lk: K2, firstAttempt: true }, () => new AbortController().signal)
  await tick(); await tick()
  t.equal(breaks.length, 1)
  t.same(w0.acknowledgeLease(K1, 7), { ok: false, status: NtStatus.REQUEST_NOT_ACCEPTED }, 'more than asked')
  t.same(w0.acknowledgeLease(K1, 3), { ok: true })
  t.equal(await waiting, undefined, 'the acknowledgment woke worker 1')
  t.equal(await ow, undefined)
  t.same(breaks[1], ['a', 'a1', 3, 1, true], 'the next step, sent at once: RH -> R')
  t.same(w0.acknowledgeLease(K1, 1), { ok: true })
  await tick()
  t.same(breaks[2], ['a', 'a1', 1, 0, false], 'and R -> none without acknowledgment')
  t.same(w0.acknowledgeLease(K1, 0), { ok: false, status: NtStatus.UNSUCCESSFUL }, 'nothing to acknowledge')
  t.same(w1.acknowledgeLease(K1, 0), { ok: false, status: NtStatus.OBJECT_NAME_NOT_FOUND }, 'worker 1 serves no open under that key')

  const b = w1.addOpen('f', RW, holder('b'), { ...grant(OplockLevel.LEASE), lease: lease(K2, 7) })
  t.same(b.lease?.state, 3, 'RH beside worker 0\'s open')
  const a2 = w0.addOpen('f', RW, holder('a2'), { ...grant(OplockLevel.LEASE), lease: lease(K1, 3) })
  t.same(a2.lease?.state, 3, 'the same key upgrades from none to RH')
  // A write under K2 breaks K1's RH to none (acknowledgment required), not K2 itself.
  w1.breakLevelII('f', b)
  await tick(); await tick()
  t.same(breaks[3], ['a', 'a1', 3, 0, true])
  t.same(w0.acknowledgeLease(K1, 0), { ok: true })
  t.equal(w1.allLeases().length, 2, 'status: both leases, seen from either worker')
  for (const o of [a, a2]) { w0.beginClose(o, false); w0.closed(o) }
  t.equal(w0.leaseOf('f', K1), undefined, 'the lease went with its last open')
  w1.beginClose(b, false); w1.closed(b)
  t.equal(w0.trackedRecords, 0)
})

t.test('a lease break not acknowledged in time goes to none and wakes the waiter', async (t) => {
  const store = new LockingStore(new MemoryRecordDb<LockRecord>())
  store.leaseBreakTimeoutMs = 20
  const K1 = 'c3'.repeat(32)
  const a = store.addOpen('f', RW, { name: 'a', notifyBreak () {}, notifyLeaseBreak () {} }, { ...grant(OplockLevel.LEASE), lease: { lk: K1, state: 5, v: 1, epoch: 0 } })
  t.equal(a.lease?.state, 5)
  t.equal(await store.breakForOpen('f', intent, () => new AbortController().signal), undefined, 'woken by the timeout')
  t.equal(store.leaseOf('f', K1)?.state, 0)
  store.beginClose(a, false); store.closed(a)
})

t.test('a file left pending deletion takes handle caching from the other leases, without waiting', async (t) => {
  const store = new LockingStore(new MemoryRecordDb<LockRecord>())
  const breaks: Array<[number, number, boolean]> = []
  const holder: OplockHolder = { name: 'a', notifyBreak () {}, notifyLeaseBreak: (b) => { breaks.push([b.from, b.to, b.ackRequired]) } }
  const K1 = 'd4'.repeat(32)
  const K2 = 'e5'.repeat(32)
  const a = store.addOpen('f', RW, holder, { ...grant(OplockLevel.LEASE), lease: { lk: K1, state: 3, v: 1, epoch: 0 } })
  const b = store.addOpen('f', RW, holder, { ...grant(OplockLevel.LEASE), lease: { lk: K2, state: 3, v: 1, epoch: 0 } })
  store.breakHandleCaching('f', K2)
  t.same(breaks, [[3, 1, true]], 'K1: RH -> R; the deleter\'s own K2 keeps its H')
  for (const o of [a, b]) { store.beginClose(o, false); store.closed(o) }
})

t.test('two workers: a file becoming pending deletion is told to every other open, on either worker', async (t) => {
  const { w: [w0, w1] } = twoWorkers()
  const told: string[] = []
  const holder = (name: string): OplockHolder => ({ name, notifyBreak () {}, notifyDeletePending: () => { told.push(name) } })
  const a = w0.addOpen('d', RW, holder('a'), grant(OplockLevel.NONE))
  const b = w1.addOpen('d', { ...RW, shareAccess: RW.shareAccess | ShareAccess.DELETE }, holder('b'), grant(OplockLevel.NONE))
  const c = w1.addOpen('d', RW, holder('c'), grant(OplockLevel.NONE))
  // SET_INFO FileDispositionInformation through c: every open hears of it, c too (as in Samba).
  w1.setDeletePending('d', true)
  await tick()
  t.same(told.sort(), ['a', 'b', 'c'], 'each open, the one on the other worker through a message')
  told.length = 0
  w1.setDeletePending('d', false)
  await tick()
  t.same(told, [], 'clearing it tells nobody')
  // A delete-on-close open closing with others left: the others hear, not the closer.
  w1.beginClose(c, true); w1.closed(c)
  await tick()
  t.same(told.sort(), ['a', 'b'], 'the opens left')
  told.length = 0
  // The last close deletes: nobody is left to tell.
  w1.beginClose(b, false); w1.closed(b)
  const d = w0.beginClose(a, false)
  t.ok(d.deleteNow, 'the last close deletes')
  w0.closed(a)
  await tick()
  t.same(told, [], 'nobody told at the last close')
})

t.test('a program on the server wrote the file: every oplock and every caching lease breaks to none, nobody waits', async (t) => {
  const { w: [w0, w1] } = twoWorkers()
  const got: Array<[string, string, number]> = []
  const holder = (name: string): OplockHolder => ({
    name,
    notifyBreak: (l) => { got.push([name, 'oplock', l]) },
    notifyLeaseBreak: (b) => { got.push([name, `lease ${b.from}->${b.to}${b.ackRequired ? ' ack' : ''}`, b.to]) },
  })
  const a = w0.addOpen('f', RW, holder('a'), grant(OplockLevel.II))
  const b = w1.addOpen('f', RW, holder('b'), grant(OplockLevel.II))
  t.equal(a.granted, OplockLevel.II)
  t.equal(w0.breakForLocalChange('f'), 2, 'both level II oplocks, on either worker')
  await tick()
  t.same(got.sort(), [['a', 'oplock', OplockLevel.NONE], ['b', 'oplock', OplockLevel.NONE]])
  t.equal(w0.breakForLocalChange('f'), 0, 'nothing left to break')
  for (const [s, o] of [[w0, a], [w1, b]] as const) { s.beginClose(o, false); s.closed(o) }
  got.length = 0
  // A batch oplock: its holder owes an acknowledgment; a lease with W: to none, acknowledged.
  const c = w0.addOpen('g', RW, holder('c'), grant(OplockLevel.BATCH))
  t.equal(c.granted, OplockLevel.BATCH)
  t.equal(w0.breakForLocalChange('g'), 1)
  t.same(got, [['c', 'oplock', OplockLevel.NONE]])
  w0.acknowledge(c, OplockLevel.NONE)
  w0.beginClose(c, false); w0.closed(c)
  got.length = 0
  const K = 'f6'.repeat(32)
  const d = w0.addOpen('h', RW, holder('d'), { ...grant(OplockLevel.LEASE), lease: { lk: K, state: 7, v: 2, epoch: 0 } })
  t.equal(d.lease?.state, 7, 'RWH')
  t.equal(w0.breakForLocalChange('h'), 1)
  t.same(got, [['d', 'lease 7->0 ack', 0]], 'RWH to none, acknowledged')
  w0.beginClose(d, false); w0.closed(d)
})
