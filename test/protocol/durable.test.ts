// Durable handles through the whole server in memory (MS-SMB2 3.3.5.9.6/7/10/12; teardown.ts
// disconnectOpen; create-durable.ts): which opens become durable, a reconnect after the
// connection is lost (data, position and byte-range locks kept), the scavenger, a break to a
// disconnected holder, LOGOFF, replay of a CREATE, and the refusals. smbtorture's
// smb2.durable-open / durable-v2-open suites run against a live server (smbtorture-pass.txt).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { renderStatusJson, statusSlice } from '../../src/control/status.js'
import { contextsOf, createBody, Disposition, fileIdOf, lockBody, MemClient, memServer, readData, type MemServer, type MemServerOptions } from '../helpers/mem-client.js'

const BATCH = 0x09
const LEASE = 0xff
const REPLAY_OPERATION = 0x20000000
const NOT_FOUND = 0xc0000034
const settle = (ms = 20): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function server (t: { teardown: (fn: () => void) => void }, o: MemServerOptions = {}): MemServer {
  const srv = memServer({ log: true, ...o })
  t.teardown(srv.cleanup)
  return srv
}

const dhnq = { name: 'DHnQ', data: Buffer.alloc(16) }
function dh2q (createGuid: Buffer, timeout = 0): { name: string, data: Buffer } {
  const d = Buffer.alloc(32)
  d.writeUInt32LE(timeout, 0)
  createGuid.copy(d, 16)
  return { name: 'DH2Q', data: d }
}
function dhnc (fid: { persistent: bigint, volatile: bigint }): { name: string, data: Buffer } {
  const d = Buffer.alloc(16)
  d.writeBigUInt64LE(fid.persistent, 0); d.writeBigUInt64LE(fid.volatile, 8)
  return { name: 'DHnC', data: d }
}
function dh2c (fid: { persistent: bigint, volatile: bigint }, createGuid: Buffer): { name: string, data: Buffer } {
  const d = Buffer.alloc(36)
  d.writeBigUInt64LE(fid.persistent, 0); d.writeBigUInt64LE(fid.volatile, 8)
  createGuid.copy(d, 16)
  return { name: 'DH2C', data: d }
}

t.test('a v1 durable open survives its connection: data, position and lock are there after DHnC', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const r = await a.create('d.txt', { oplock: BATCH, contexts: [dhnq] })
  t.equal(r.status, 0)
  t.equal(r.body[2], BATCH)
  t.same(contextsOf(r).get('DHnQ'), Buffer.alloc(8), 'DHnQ response: 8 reserved bytes')
  const fid = fileIdOf(r)
  t.equal((await a.write(fid, 0, Buffer.from('hello durable'))).status, 0)
  t.equal((await a.lock(fid, [{ off: 0, len: 5, flags: 0x12 }])).status, 0, 'exclusive lock, fail immediately')
  a.conn.close('test: the network went away')
  await settle()
  t.ok(srv.logs.some(l => /durable handle share\/d\.txt .* kept for 960000 ms/.test(l)), 'the disconnect is logged with the timeout')
  const served = (): number => srv.state.locks.clientServers(a.clientGuid.toString('hex')).reduce((n, p) => n + p.n, 0)
  t.equal(served(), 1, 'this worker goes on serving the client while its open waits (its reconnect is handed here)')
  const status = statusSlice(srv.state, [])
  const shown = status.opens.find(o => o.path === 'd.txt')
  t.same(shown?.durable, { version: 1, timeoutMs: 960000, resilient: false, disconnected: true }, 'status.json shows the open waiting for its client')
  t.equal(status.locks.filter(l => l.path === 'd.txt').length, 1, '...and its lock')
  t.match(renderStatusJson([{ ...status, pid: 1 }]), /"disconnected": true/)

  // Meanwhile another client may look at the file (a stat open breaks nothing).
  const c = await new MemClient(srv.state, 'mem:c').connect()
  const stat = await c.create('d.txt', { access: 0x80, disposition: Disposition.OPEN })
  t.equal(stat.status, 0, 'a stat open beside the disconnected one')
  await c.close(fileIdOf(stat))

  const b = await new MemClient(srv.state, 'mem:b').connect()
  t.equal((await b.create('d.txt', { contexts: [dhnc({ persistent: 999n, volatile: 999n })] })).status, NOT_FOUND, 'an unknown FileId')
  const again = await b.create('whatever-name', { contexts: [dhnc(fid)], disposition: 0x1234 })
  t.equal(again.status, 0, 'reconnected; name and disposition ignored')
  t.equal(again.body.readUInt32LE(4), 1, 'CreateAction OPENED')
  t.equal(again.body[2], BATCH, 'the batch oplock is still held')
  t.notOk(contextsOf(again).has('DHnQ'), 'no DHnQ response on a reconnect')
  const fid2 = fileIdOf(again)
  t.equal(fid2.persistent, fid.persistent)
  const rd = await b.read(fid2, 0, 100)
  t.equal(readData(rd).toString(), 'hello durable', 'what was written is there')
  t.equal((await b.lock(fid2, [{ off: 0, len: 5, flags: 0x4 }])).status, 0, 'the lock is still this open\'s: it unlocks')
  t.equal((await b.create('d.txt', { contexts: [dhnc(fid)] })).status, NOT_FOUND, 'a connected open is not reconnected to')
  t.equal(served(), 0, 'no longer once it is reconnected')
  t.equal((await b.close(fid2)).status, 0)
  t.ok(srv.logs.some(l => /reconnected by tester/.test(l)))
})

t.test('only an open caching its handle becomes durable; durable handles = no grants none', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const none = await a.create('n.txt', { contexts: [dhnq] })
  t.equal(none.status, 0)
  t.notOk(contextsOf(none).has('DHnQ'), 'no oplock: not durable')
  await a.close(fileIdOf(none))
  const rh = await a.create('l.txt', { lease: { key: Buffer.alloc(16, 1), state: 3 }, contexts: [dh2q(randomBytes(16), 0xffffffff)] })
  t.equal(rh.body[2], LEASE)
  const v2 = contextsOf(rh).get('DH2Q')
  t.ok(v2 !== undefined, 'a lease with H: durable v2')
  t.equal(v2?.readUInt32LE(0), 300000, 'Timeout at most 300 s')
  t.equal(v2?.readUInt32LE(4), 0, 'not persistent')
  const r = await a.create('l2.txt', { lease: { key: Buffer.alloc(16, 2), state: 5 }, contexts: [dh2q(randomBytes(16))] })
  t.notOk(contextsOf(r).has('DH2Q'), 'a lease without H: not durable')
  t.equal((await a.create('x.txt', { oplock: BATCH, contexts: [dhnq, dh2q(randomBytes(16))] })).status, 0xc000000d, 'DHnQ with DH2Q: INVALID_PARAMETER')

  const off = server(t, { global: ['durable handles = no'] })
  const b = await new MemClient(off.state, 'mem:b').connect()
  const nd = await b.create('d.txt', { oplock: BATCH, contexts: [dhnq] })
  t.equal(nd.body[2], BATCH)
  t.notOk(contextsOf(nd).has('DHnQ'), '`durable handles = no`')
})

t.test('the scavenger closes a durable open its client does not come back to', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const guid = randomBytes(16)
  const r = await a.create('s.txt', { oplock: BATCH, share: 0, contexts: [dh2q(guid, 50)] })
  t.equal(contextsOf(r).get('DH2Q')?.readUInt32LE(0), 50, 'the Timeout asked for')
  a.conn.close('test')
  await settle(200)
  t.ok(srv.logs.some(l => /durable handle share\/s\.txt .* closed: its client did not reconnect within 50 ms/.test(l)), 'the scavenger says so')
  const b = await new MemClient(srv.state, 'mem:b').connect()
  t.equal((await b.create('s.txt', { contexts: [dh2c(fileIdOf(r), guid)] })).status, NOT_FOUND, 'gone')
  const o = await b.create('s.txt', { share: 0, disposition: Disposition.OPEN })
  t.equal(o.status, 0, 'its share mode went with it')
})

t.test('a break owed to a disconnected holder closes its open; the opener does not wait', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const guid = randomBytes(16)
  const r = await a.create('b.txt', { lease: { key: Buffer.alloc(16, 7), state: 7 }, contexts: [dh2q(guid)] })
  t.ok(contextsOf(r).has('DH2Q'))
  a.conn.close('test')
  await settle()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const started = Date.now()
  const o = await b.create('b.txt', { share: 0, disposition: Disposition.OPEN })
  t.equal(o.status, 0, 'opened (sharing nothing) once the disconnected open was closed')
  t.ok(Date.now() - started < 2000, 'without waiting for an acknowledgment')
  t.ok(srv.logs.some(l => /durable handle share\/b\.txt .* closed: its oplock or lease had to break/.test(l)))
  const c = await new MemClient(srv.state, 'mem:c').connect()
  c.clientGuid = a.clientGuid
  t.equal((await c.create('b.txt', { lease: { key: Buffer.alloc(16, 7), state: 7 }, contexts: [dh2c(fileIdOf(r), guid)] })).status, NOT_FOUND)
})

t.test('v2: reconnect checks CreateGuid and lease key; LOGOFF keeps the open; replay answers it again', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const guid = randomBytes(16)
  const lease = { key: Buffer.alloc(16, 9), state: 7 }
  const r = await a.create('v2.txt', { lease, contexts: [dh2q(guid)] })
  const fid = fileIdOf(r)
  t.equal(contextsOf(r).get('DH2Q')?.readUInt32LE(0), 60000, 'Timeout 0: 60 s')

  // The same CreateGuid again: a replay answers the open; without the flag it is a duplicate.
  const dup = await a.create('v2.txt', { lease, contexts: [dh2q(guid)] })
  t.equal(dup.status, 0xc000022a, 'DUPLICATE_OBJECTID')
  const replay = await a.request({ cmd: 5, body: createBody('v2.txt', { lease, contexts: [dh2q(guid)] }), flags: REPLAY_OPERATION })
  t.equal(replay.status, 0)
  t.same(fileIdOf(replay), fid, 'the replay names the same open')
  t.equal(replay.body.readUInt32LE(4), 2, 'with the first answer\'s CreateAction (CREATED)')
  t.equal(replay.body[2], LEASE)
  const otherKey = await a.request({ cmd: 5, body: createBody('v2.txt', { lease: { ...lease, key: Buffer.alloc(16, 3) }, contexts: [dh2q(guid)] }), flags: REPLAY_OPERATION })
  t.equal(otherKey.status, 0xc0000022, 'a replay under another lease key: ACCESS_DENIED')

  t.equal((await a.logoff()).status, 0)
  await settle()
  const b = new MemClient(srv.state, 'mem:b')
  b.clientGuid = a.clientGuid
  await b.connect()
  t.equal((await b.create('v2.txt', { lease, contexts: [dh2c(fid, randomBytes(16))] })).status, NOT_FOUND, 'another CreateGuid')
  t.equal((await b.create('v2.txt', { lease: { ...lease, key: Buffer.alloc(16, 8) }, contexts: [dh2c(fid, guid)] })).status, NOT_FOUND, 'another lease key')
  t.equal((await b.create('v2.txt', { contexts: [dh2c(fid, guid)] })).status, NOT_FOUND, 'no lease')
  t.equal((await b.create('other.txt', { lease, contexts: [dh2c(fid, guid)] })).status, 0xc000000d, 'another name under the lease: INVALID_PARAMETER')
  const ok = await b.create('v2.txt', { lease: { ...lease, state: 0 }, contexts: [dh2c(fid, guid)] })
  t.equal(ok.status, 0, 'reconnected after LOGOFF')
  t.equal(ok.body[2], LEASE)
  t.equal(contextsOf(ok).get('RqLs')?.readUInt32LE(16), 7, 'the lease as it stands: RWH')
  t.equal((await b.close(fileIdOf(ok))).status, 0)
})

t.test('another user cannot reconnect to a durable open', async (t) => {
  const srv = server(t, { users: { other: 'Other-pass1' } })
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const r = await a.create('u.txt', { oplock: BATCH, contexts: [dhnq] })
  a.conn.close('test')
  await settle()
  const b = await new MemClient(srv.state, 'mem:b').connect({ user: 'other', password: 'Other-pass1' })
  t.equal((await b.create('u.txt', { contexts: [dhnc(fileIdOf(r))] })).status, 0xc0000022, 'ACCESS_DENIED')
  const c = await new MemClient(srv.state, 'mem:c').connect()
  t.equal((await c.create('u.txt', { contexts: [dhnc(fileIdOf(r))] })).status, 0, 'its own user can')
})

t.test('TREE_DISCONNECT closes a durable open', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const r = await a.create('td.txt', { oplock: BATCH, contexts: [dhnq] })
  t.equal((await a.treeDisconnect()).status, 0)
  a.conn.close('test')
  await settle()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  t.equal((await b.create('td.txt', { contexts: [dhnc(fileIdOf(r))] })).status, NOT_FOUND)
  t.equal(srv.state.durable.parkedCount, 0)
})

/** A LOCK of one range under LockSequenceIndex `index`, LockSequenceNumber `n` (MS-SMB2 2.2.26). */
async function lockSeq (c: MemClient, fid: { persistent: bigint, volatile: bigint }, index: number, n: number, flags: number): Promise<number> {
  const body = lockBody(fid, [{ off: 100, len: 100, flags }])
  body.writeUInt32LE(((index << 4) | n) >>> 0, 4)
  return (await c.request({ cmd: 10, body })).status
}
const X = 0x12 // EXCLUSIVE | FAIL_IMMEDIATELY
const U = 0x04
const NOT_GRANTED = 0xc0000055
const NOT_LOCKED = 0xc000007e

t.test('lock sequence replay on a durable open (MS-SMB2 3.3.5.14)', async (t) => {
  // Without multichannel, where every open of a 3.x connection would verify LockSequence.
  const srv = server(t, { global: ['server multi channel support = no'] })
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const fid = fileIdOf(await a.create('ls.txt', { oplock: BATCH, contexts: [dhnq] }))
  t.equal(await lockSeq(a, fid, 1, 1, X), 0)
  t.equal(await lockSeq(a, fid, 1, 1, X), 0, 'the same index and number again: a replay, success')
  t.equal(await lockSeq(a, fid, 1, 1, U), 0, 'an unlock under that number is a replay too: nothing unlocked')
  t.equal(await lockSeq(a, fid, 1, 2, X), NOT_GRANTED, 'another number: done, and the range is still locked')
  t.equal(await lockSeq(a, fid, 0, 1, X), NOT_GRANTED, 'index 0 is not checked')
  t.equal(await lockSeq(a, fid, 65, 1, U), 0, 'index 65 is not checked: unlocked')
  t.equal(await lockSeq(a, fid, 65, 1, U), NOT_LOCKED)
  // The array goes with the open over a reconnect.
  t.equal(await lockSeq(a, fid, 64, 3, X), 0)
  a.conn.close('test')
  await settle()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fid2 = fileIdOf(await b.create('ls.txt', { contexts: [dhnc(fid)] }))
  t.equal(await lockSeq(b, fid2, 64, 3, X), 0, 'the lock the client resends after reconnecting is a replay')
  t.equal(await lockSeq(b, fid2, 64, 4, U), 0)
  t.equal(await lockSeq(b, fid2, 64, 5, U), NOT_LOCKED, 'one lock was held, not two')

  const plain = fileIdOf(await b.create('plain.txt'))
  t.equal(await lockSeq(b, plain, 1, 1, X), 0)
  t.equal(await lockSeq(b, plain, 1, 1, X), NOT_GRANTED, 'an open neither durable nor resilient has no replay detection')
})

t.test('FSCTL_LMR_REQUEST_RESILIENCY: the open is kept over a disconnect and gets lock replay', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const fid = fileIdOf(await a.create('r.txt', { share: 0 }))
  const LMR_REQUEST_RESILIENCY = 0x001401d4
  t.equal((await a.ioctl(LMR_REQUEST_RESILIENCY, fid, Buffer.alloc(4))).status, 0xc000000d, 'a short request: INVALID_PARAMETER')
  const tooLong = Buffer.alloc(8); tooLong.writeUInt32LE(301_000, 0)
  t.equal((await a.ioctl(LMR_REQUEST_RESILIENCY, fid, tooLong)).status, 0xc000000d, 'a Timeout above 300 s: INVALID_PARAMETER')
  const req = Buffer.alloc(8); req.writeUInt32LE(5000, 0)
  t.equal((await a.ioctl(LMR_REQUEST_RESILIENCY, fid, req)).status, 0)
  t.equal(await lockSeq(a, fid, 3, 1, X), 0)
  t.equal(await lockSeq(a, fid, 3, 1, X), 0, 'replay detected')
  a.conn.close('test')
  await settle()
  t.ok(srv.logs.some(l => /resilient handle share\/r\.txt .* kept for 5000 ms/.test(l)))
  const b = await new MemClient(srv.state, 'mem:b').connect()
  t.equal((await b.create('r.txt', { disposition: Disposition.OPEN })).status, 0xc0000043, 'its share mode holds while it waits: SHARING_VIOLATION')
  const again = await b.create('r.txt', { contexts: [dhnc(fid)] })
  t.equal(again.status, 0, 'reconnected with DHnC')
  t.equal(await lockSeq(b, fileIdOf(again), 3, 2, U), 0, 'its lock is there to unlock')
})

t.test('a client that leaves with a break unacknowledged loses its durable open at once', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const r = await a.create('p.txt', { oplock: BATCH, contexts: [dhnq] })
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const pending = b.create('p.txt', { disposition: Disposition.OPEN })
  await a.nextBreak()
  const started = Date.now()
  a.conn.close('test: gone before acknowledging')
  t.equal((await pending).status, 0, 'the other open goes on')
  t.ok(Date.now() - started < 2000, 'without the acknowledgment timer')
  t.ok(srv.logs.some(l => /durable handle share\/p\.txt .* closed: its client left with a break unacknowledged/.test(l)))
  const c = await new MemClient(srv.state, 'mem:c').connect()
  t.equal((await c.create('p.txt', { contexts: [dhnc(fileIdOf(r))] })).status, NOT_FOUND)
})

t.test('SMB2_CREATE_APP_INSTANCE_ID: the same application instance from another client takes the file over', async (t) => {
  const srv = server(t)
  const appId = randomBytes(16)
  const app = (): { name: string, data: Buffer } => {
    const d = Buffer.alloc(20)
    d.writeUInt16LE(20, 0)
    appId.copy(d, 4)
    return { name: Buffer.from('45bca66aefa7f74a9008fa462e144d74', 'hex').toString('latin1'), data: d }
  }
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const ra = await a.create('app.txt', { oplock: BATCH, share: 0, contexts: [dh2q(randomBytes(16)), app()] })
  t.ok(contextsOf(ra).has('DH2Q'))
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const rb = await b.create('app.txt', { oplock: BATCH, share: 0, contexts: [dh2q(randomBytes(16)), app()] })
  t.equal(rb.status, 0, 'the other client\'s open of the same instance succeeds')
  t.equal(rb.body[2], BATCH, 'with the batch oplock')
  t.equal(a.unreadBreaks, 0, 'the old open was closed, not broken')
  t.equal((await a.close(fileIdOf(ra))).status, 0xc0000128, 'the old handle: FILE_CLOSED')
  t.ok(srv.logs.some(l => /app\.txt .* closed: opened again by its application instance/.test(l)))
  t.equal((await b.create('app.txt', { contexts: [{ name: app().name, data: Buffer.alloc(8) }] })).status, 0xc000000d, 'a malformed context: INVALID_PARAMETER')
})

t.test('a replay of a CREATE still running is refused; a request on the open ends its replay eligibility', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const ha = fileIdOf(await a.create('pr.txt', { oplock: BATCH }))
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const guid = randomBytes(16)
  const body = (): Buffer => createBody('pr.txt', { disposition: Disposition.OPEN, contexts: [dh2q(guid)] })
  const pending = b.request({ cmd: 5, body: body() })
  await a.nextBreak()
  const early = await b.request({ cmd: 5, body: body(), flags: REPLAY_OPERATION })
  t.equal(early.status, 0xc0000467, 'FILE_NOT_AVAILABLE while the first waits for the break')
  t.equal((await a.ack(ha, 0)).status, 0)
  const first = await pending
  t.equal(first.status, 0)
  t.notOk(contextsOf(first).has('DH2Q'), 'no oplock: not durable, but replayable')
  const again = await b.request({ cmd: 5, body: body(), flags: REPLAY_OPERATION })
  t.same(fileIdOf(again), fileIdOf(first), 'a replay answers the same open')
  t.equal((await b.queryInfo(fileIdOf(first), 1, 5)).status, 0, 'a request on the open')
  const fresh = await b.request({ cmd: 5, body: body(), flags: REPLAY_OPERATION })
  t.equal(fresh.status, 0)
  t.not(fileIdOf(fresh).volatile, fileIdOf(first).volatile, 'no longer replay eligible: a new open')
})
