// Multichannel, the whole server in memory (MS-SMB2 3.3.5.5.2 binding, 3.3.7.1 channel loss,
// 3.3.4.6 breaks on a live channel, 3.3.5.15.11 interface list): a second connection of the
// same client binds to a session with its own signing key; the session's trees and opens serve
// on every channel; it outlives the loss of one channel and goes with the last; a LOGOFF on one
// ends it on all; the refusals of a binding leave the session as it was.
//
// Backend: memory (the default); nothing here depends on a file system.
import t from 'tap'
import {
  ALL_ONES_FID, Command, MemClient, Oplock, Status, closeBody, fileIdOf, ioctlBody, leaseAckBody, leaseBreakOf, leaseOf, LockFlag, lockBody, memServer, oplockBreakBody, queryInfoBody, smallBody, writeBody, type Resp,
} from '../helpers/mem-client.js'
import { Fsctl } from '../../src/wire/constants.js'
import { decodeNetworkInterfaceInfo } from '../../src/smb2/commands/interface-info.wire.js'

const REQUEST_NOT_ACCEPTED = 0xc00000d0
const USER_SESSION_DELETED = 0xc0000203
const INVALID_PARAMETER = 0xc000000d
const ACCESS_DENIED = 0xc0000022
const LOGON_FAILURE = 0xc000006d
const MULTI_CHANNEL = 0x8
const REQUEST_OUT_OF_SEQUENCE = 0xc000042a
const FILE_NOT_AVAILABLE = 0xc0000467
const LOCK_NOT_GRANTED = 0xc0000055

/** A second connection of `c`'s client (same ClientGuid), negotiated. */
async function sibling (c: MemClient, dialect: number, remote = 'mem:2'): Promise<MemClient> {
  const d = new MemClient(c.server, remote)
  d.clientGuid = c.clientGuid
  await d.negotiate({ dialects: [dialect] })
  return d
}

/** MS-SMB2 2.2.32: the IOCTL response's output buffer. */
const ioctlOutput = (r: Resp): Buffer => r.msg.subarray(r.body.readUInt32LE(32), r.body.readUInt32LE(32) + r.body.readUInt32LE(36))
const positionInfo = (fid: { persistent: bigint, volatile: bigint }): Buffer => queryInfoBody(fid, 1, 14, 8)

for (const dialect of [0x0300, 0x0302, 0x0311]) {
  t.test(`0x${dialect.toString(16)}: a bound channel signs with its own key and reaches the session's trees and opens`, async (t) => {
    const srv = memServer()
    t.teardown(srv.cleanup)
    const a = await new MemClient(srv.state, 'mem:1').connect({ dialect, signAll: true })
    t.ok((a.negotiateResp!.body.readUInt32LE(24) & MULTI_CHANNEL) !== 0, 'NEGOTIATE offers MULTI_CHANNEL')
    const fid = await a.open('f.txt')
    const b = await sibling(a, dialect)
    const { first, last, finalSigned } = await b.bind(a)
    t.equal(first.status, Status.MORE_PROCESSING_REQUIRED, 'first leg')
    t.equal(last.status, 0, 'binding succeeds')
    t.ok(finalSigned, 'the final response is signed with the new channel\'s key')
    const q = await b.request({ cmd: Command.QUERY_INFO, body: positionInfo(fid) })
    t.equal(q.status, 0, 'an open of the first channel answers on the second')
    t.ok(b.verify(q), 'and the answer is signed with the channel key')
    t.notOk(a.verify(q), 'not with the first channel\'s: each channel has a key of its own')
    const e = await a.request({ cmd: Command.ECHO, body: smallBody() })
    t.equal(e.status, 0, 'the first channel goes on')
    t.equal(srv.state.sessions.get(a.sessionId)?.channels.size, 2, 'two channels')
  })
}

t.test('a lost channel leaves the session; the last one takes it along', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const fid = await a.open('keep.txt')
  const b = await sibling(a, 0x0311)
  t.equal((await b.bind(a)).last.status, 0)
  a.conn.close('test: first channel lost')
  const q = await b.request({ cmd: Command.QUERY_INFO, body: positionInfo(fid) })
  t.equal(q.status, 0, 'the open lives on through the second channel')
  t.ok(srv.state.sessions.has(b.sessionId), 'the session is there')
  t.equal(srv.state.sessions.get(b.sessionId)?.channels.size, 1, 'one channel left')
  const c = await b.request({ cmd: Command.CLOSE, body: closeBody(fid) })
  t.equal(c.status, 0)
  b.conn.close('test: last channel lost')
  await new Promise(resolve => setImmediate(resolve))
  t.notOk(srv.state.sessions.has(b.sessionId), 'gone with its last channel')
})

t.test('an oplock break goes to a channel that is alive', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const r = await a.create('o.bin', { oplock: Oplock.BATCH })
  t.equal(r.body[2], Oplock.BATCH)
  const fid = fileIdOf(r)
  const b = await sibling(a, 0x0311)
  t.equal((await b.bind(a)).last.status, 0)
  a.conn.close('test: the opener\'s channel lost')
  const other = await new MemClient(srv.state, 'mem:3').connect()
  const pending = other.create('o.bin', { oplock: Oplock.NONE })
  const brk = await b.nextBreak()
  t.same(brk.fileId, fid, 'the break for the open arrives on the surviving channel')
  t.equal((await b.request({ cmd: Command.OPLOCK_BREAK, body: oplockBreakBody(fid, Oplock.II) })).status, 0, 'acknowledged there')
  t.equal((await pending).status, 0, 'the other client\'s open goes through')
})

t.test('LOGOFF on one channel ends the session on every channel', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const b = await sibling(a, 0x0311)
  t.equal((await b.bind(a)).last.status, 0)
  t.equal((await b.request({ cmd: Command.LOGOFF, body: smallBody() })).status, 0)
  t.equal((await a.request({ cmd: Command.ECHO, body: smallBody(), sign: false })).status, USER_SESSION_DELETED, 'the first channel sees it gone')
  t.equal(a.conn.sessions.size, 0, 'no connection holds the dead session')
})

t.test('refused bindings leave the session as it was', async (t) => {
  const srv = memServer({ users: { other: 'Other-pass1' } })
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const fid = await a.open('r.txt')
  const alive = async (): Promise<number> => (await a.request({ cmd: Command.QUERY_INFO, body: positionInfo(fid) })).status

  const unsigned = await sibling(a, 0x0311)
  t.equal((await unsigned.bind(a, { unsigned: true })).last.status, INVALID_PARAMETER, 'unsigned binding: INVALID_PARAMETER')
  const cmac = await sibling(a, 0x0300)
  t.equal((await cmac.bind(a)).last.status, REQUEST_OUT_OF_SEQUENCE, 'a GMAC session, a CMAC connection: REQUEST_OUT_OF_SEQUENCE')
  const stranger = new MemClient(srv.state, 'mem:9')
  await stranger.negotiate({ dialects: [0x0311] })
  t.equal((await stranger.bind(a)).last.status, USER_SESSION_DELETED, 'another ClientGuid: USER_SESSION_DELETED')
  const otherUser = await sibling(a, 0x0311)
  t.equal((await otherUser.bind(a, { user: 'other', password: 'Other-pass1' })).last.status, ACCESS_DENIED, 'another user: ACCESS_DENIED')
  const wrong = await sibling(a, 0x0311)
  t.equal((await wrong.bind(a, { password: 'wrong' })).last.status, LOGON_FAILURE, 'a wrong password: LOGON_FAILURE')
  t.equal((await otherUser.bind(a)).last.status, 0, 'the right user binds on the connection that was refused')
  t.equal((await otherUser.bind(otherUser)).first.status, REQUEST_NOT_ACCEPTED, 'a binding of a connection that is a channel already: REQUEST_NOT_ACCEPTED')
  t.equal((await otherUser.bind(a)).first.status, ACCESS_DENIED, 'one signed with the session\'s key and not the channel\'s: ACCESS_DENIED (a bad signature)')

  // A 3.0 session (AES-CMAC): the dialect is checked.
  const c30 = await new MemClient(srv.state, 'mem:4').connect({ dialect: 0x0300, signAll: true })
  const old = await sibling(c30, 0x0210)
  t.equal((await old.bind(c30)).last.status, REQUEST_NOT_ACCEPTED, 'a 2.1 connection: REQUEST_NOT_ACCEPTED')
  const c302 = await sibling(c30, 0x0302)
  t.equal((await c302.bind(c30)).last.status, INVALID_PARAMETER, 'another 3.x dialect: INVALID_PARAMETER')
  t.equal(await alive(), 0, 'the session and its open are untouched')
})

t.test('server multi channel support = no: no MULTI_CHANNEL, binding refused, no interface list', async (t) => {
  const srv = memServer({ global: ['server multi channel support = no'] })
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  t.equal(a.negotiateResp!.body.readUInt32LE(24) & MULTI_CHANNEL, 0, 'MULTI_CHANNEL not offered')
  const b = await sibling(a, 0x0311)
  t.equal((await b.bind(a)).last.status, REQUEST_NOT_ACCEPTED)
  const r = await a.request({ cmd: Command.IOCTL, body: ioctlBody(Fsctl.QUERY_NETWORK_INTERFACE_INFO, ALL_ONES_FID, Buffer.alloc(0)) })
  t.equal(r.status, 0xc00000bb, 'FSCTL_QUERY_NETWORK_INTERFACE_INFO: NOT_SUPPORTED')
})

t.test('FSCTL_QUERY_NETWORK_INTERFACE_INFO lists the configured addresses with speed and capability', async (t) => {
  const srv = memServer({ global: ['interfaces = "127.0.0.1;speed=10000000000,capability=RSS"'] })
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const r = await a.request({ cmd: Command.IOCTL, body: ioctlBody(Fsctl.QUERY_NETWORK_INTERFACE_INFO, ALL_ONES_FID, Buffer.alloc(0)) })
  t.equal(r.status, 0)
  const list = decodeNetworkInterfaceInfo(ioctlOutput(r))
  t.equal(list.length, 1, 'one address')
  t.same({ ...list[0], address: list[0].address.toString('hex') }, { ifIndex: 1, capability: 1, linkSpeed: 10_000_000_000n, family: 'IPv4', address: '7f000001' })
  const small = await a.request({ cmd: Command.IOCTL, body: ioctlBody(Fsctl.QUERY_NETWORK_INTERFACE_INFO, ALL_ONES_FID, Buffer.alloc(0), 100) })
  t.equal(small.status, 0xc0000023, 'MaxOutputResponse too small: BUFFER_TOO_SMALL')
  const input = await a.request({ cmd: Command.IOCTL, body: ioctlBody(Fsctl.QUERY_NETWORK_INTERFACE_INFO, ALL_ONES_FID, Buffer.alloc(4)) })
  t.equal(input.status, INVALID_PARAMETER, 'input given: INVALID_PARAMETER')
})

t.test('ChannelSequence: a WRITE from a sequence the open has moved past, or a replay behind older requests, is FILE_NOT_AVAILABLE', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const fid = await a.open('seq.bin')
  const write = (channelSequence: number, flags = 0): Promise<Resp> => a.request({ cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.from('x')), channelSequence, flags })
  const REPLAY = 0x20000000
  t.equal((await write(0)).status, 0, 'the sequence the open was made with')
  t.equal((await write(0x8000)).status, FILE_NOT_AVAILABLE, 'more than 0x7FFF ahead reads as behind: refused')
  t.equal((await write(5)).status, 0, 'a channel with a higher sequence (a retry on another channel)')
  t.equal((await write(4)).status, FILE_NOT_AVAILABLE, 'the abandoned channel\'s sequence: refused')
  t.equal((await write(4, REPLAY)).status, FILE_NOT_AVAILABLE, 'also as a replay')
  t.equal((await a.request({ cmd: Command.QUERY_INFO, body: positionInfo(fid), channelSequence: 4 })).status, 0, 'a request that changes nothing goes through')
  t.equal((await write(5, REPLAY)).status, 0, 'a replay on the current sequence with nothing older in flight')
  const open = srv.state.sessions.get(a.sessionId)!.opens.get(fid.volatile)!
  t.same([open.channelSequence, open.outstandingRequestCount, open.outstandingPreRequestCount], [5, 0, 0], 'every answered request left the counts')
  const b = await sibling(a, 0x0311)
  t.equal((await b.bind(a)).last.status, 0)
  t.equal((await b.request({ cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.from('y')), channelSequence: 6, flags: REPLAY })).status, 0, 'the retry on the second channel')
  t.equal((await write(5)).status, FILE_NOT_AVAILABLE, 'the first channel\'s late WRITE cannot overwrite it')
})

t.test('LockSequence: a LOCK sent again with its bucket\'s number is answered without being done again', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const fid = await a.open('lock.bin')
  const lock = (seq: number, flags: number): Promise<Resp> => {
    const body = lockBody(fid, [{ off: 100, len: 100, flags }])
    body.writeUInt32LE(seq, 4)
    return a.request({ cmd: Command.LOCK, body })
  }
  const X = LockFlag.EXCLUSIVE | LockFlag.FAIL_IMMEDIATELY
  t.equal((await lock(0x11, X)).status, 0, 'bucket 1, number 1: locked')
  t.equal((await lock(0x11, X)).status, 0, 'the same again: a replay, answered SUCCESS')
  t.equal((await lock(0x11, LockFlag.UNLOCK)).status, 0, 'an unlock with the same pair is a replay too: nothing unlocked')
  t.equal((await lock(0x12, X)).status, LOCK_NOT_GRANTED, 'number 2: really done, and the range is still locked')
  t.equal((await lock(0x12, X)).status, LOCK_NOT_GRANTED, 'a failure is not remembered')
  t.equal((await lock(0x13, LockFlag.UNLOCK)).status, 0, 'number 3 unlocks')
  t.equal((await lock(0x01, X)).status, 0, 'index 0: no verification')
  t.equal((await lock(0x01, X)).status, LOCK_NOT_GRANTED, 'and so done twice')
})

t.test('an encrypted session: the bound channel speaks encrypted with the session\'s keys', async (t) => {
  const srv = memServer({ global: ['server smb encrypt = required'] })
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect()
  t.ok(a.encryptAll, 'the session requires encryption')
  const fid = await a.open('enc.txt')
  const b = await sibling(a, 0x0311)
  t.equal((await b.bind(a)).last.status, 0, 'the binding (SESSION_SETUP is never encrypted)')
  const before = b.encryptedResponses
  const q = await b.request({ cmd: Command.QUERY_INFO, body: positionInfo(fid) })
  t.equal(q.status, 0, 'an encrypted request on the new channel')
  t.equal(b.encryptedResponses, before + 1, 'answered encrypted')
  t.equal((await b.request({ cmd: Command.QUERY_INFO, body: positionInfo(fid), encrypt: false, sign: true })).status, ACCESS_DENIED, 'a plain one is refused')
  // A connection that has not bound sends encrypted with the session's keys: refused as for a
  // session that is not its own, the connection kept (as Samba).
  const unbound = await sibling(a, 0x0311)
  unbound.sessionId = a.sessionId
  unbound.treeId = a.treeId
  unbound.encryptor = a.encryptor
  unbound.decryptor = a.decryptor
  const u = await unbound.request({ cmd: Command.QUERY_INFO, body: positionInfo(fid), encrypt: true })
  t.equal(u.status, USER_SESSION_DELETED, 'an encrypted request on a connection not bound: USER_SESSION_DELETED')
  t.equal(unbound.encryptedResponses, 1, 'answered encrypted')
  t.notOk(unbound.closed, 'the connection stays')
})

t.test('a break not acknowledged when its channel is lost is sent again on another channel', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const r = await a.create('again.bin', { oplock: Oplock.BATCH })
  t.equal(r.body[2], Oplock.BATCH)
  const fid = fileIdOf(r)
  const b = await sibling(a, 0x0311)
  t.equal((await b.bind(a)).last.status, 0)
  const other = await new MemClient(srv.state, 'mem:3').connect()
  const pending = other.create('again.bin', { oplock: Oplock.NONE })
  const first = await a.nextBreak()
  t.same(first.fileId, fid, 'the break goes out on the channel the open was made on')
  a.conn.close('test: lost before the client acknowledged')
  const again = await b.nextBreak()
  t.same([again.fileId, again.oplockLevel], [fid, first.oplockLevel], 'the same break again on the surviving channel')
  t.equal((await b.request({ cmd: Command.OPLOCK_BREAK, body: oplockBreakBody(fid, Oplock.II) })).status, 0, 'acknowledged there')
  t.equal((await pending).status, 0, 'the waiting open goes through without the break timing out')
})

t.test('a lease break not acknowledged when its channel is lost is sent again on another channel', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:1').connect({ signAll: true })
  const key = Buffer.alloc(16, 0x4c)
  const RWH = 7
  const r = await a.create('lease.bin', { lease: { key, state: RWH } })
  t.equal(leaseOf(r)?.state, RWH)
  const b = await sibling(a, 0x0311)
  t.equal((await b.bind(a)).last.status, 0)
  const other = await new MemClient(srv.state, 'mem:3').connect()
  const pending = other.create('lease.bin', { oplock: Oplock.NONE, access: 0x12019f, share: 7 })
  const first = leaseBreakOf(await a.nextBreak())!
  a.conn.close('test: lost before the client acknowledged')
  const again = leaseBreakOf(await b.nextBreak())!
  t.same([again.key, again.from, again.to], [first.key, first.from, first.to], 'the same lease break again on the surviving channel')
  t.equal((await b.request({ cmd: Command.OPLOCK_BREAK, body: leaseAckBody(key, again.to) })).status, 0, 'acknowledged there')
  t.equal((await pending).status, 0, 'the waiting open goes through')
})
