// SESSION_SETUP and signing, the whole server in memory: NTLMv2 over SPNEGO on every dialect,
// failures, guest mapping, signed responses verified with the client's own derived key, bad and
// missing signatures, LOGOFF.
//
// Backend: memory (the default); nothing here depends on a file system.
import t from 'tap'
import { Command, MemClient, memServer, parseResponses, smallBody, Status, treeConnectBody } from '../helpers/mem-client.js'

const DIALECTS = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311]
const IS_GUEST = 0x1

t.test('NTLMv2 session setup on each dialect; the final response is signed with the derived key', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const d of DIALECTS) {
    const c = new MemClient(srv.state)
    await c.negotiate({ dialects: [d] })
    const { first, last, finalSigned } = await c.login()
    t.equal(first.status, Status.MORE_PROCESSING_REQUIRED, `0x${d.toString(16)}: first leg`)
    t.not(first.hdr.sessionId, 0n, 'a SessionId is assigned on the first leg')
    t.equal(last.status, Status.SUCCESS, 'second leg')
    t.equal(last.hdr.sessionId, first.hdr.sessionId, 'same SessionId')
    t.equal(last.body.readUInt16LE(2) & IS_GUEST, 0, 'not a guest')
    t.ok(finalSigned, 'final SESSION_SETUP response verifies with the client-derived signing key')
    // a signed request on the session verifies and gets a signed answer
    const e = await c.request({ cmd: Command.ECHO, body: smallBody(), sign: true })
    t.equal(e.status, 0)
    t.ok(c.verify(e), 'signed request → signed response that verifies')
    const tc = await c.request({ cmd: Command.TREE_CONNECT, body: treeConnectBody('\\\\mem\\share'), sign: true })
    t.equal(tc.status, 0)
    t.ok(c.verify(tc), 'TREE_CONNECT response verifies')
  }
})

t.test('wrong password, unknown user: STATUS_LOGON_FAILURE and the session is gone', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const o of [{ password: 'wrong' }, { user: 'nobody' }]) {
    const c = new MemClient(srv.state)
    await c.negotiate({ dialects: [0x0311] })
    const { first, last } = await c.login(o)
    t.equal(last.status, Status.LOGON_FAILURE, JSON.stringify(o))
    t.equal(srv.state.sessions.has(first.hdr.sessionId), false, 'session removed')
    const tc = await c.request({ cmd: Command.TREE_CONNECT, body: treeConnectBody('\\\\mem\\share'), sessionId: first.hdr.sessionId })
    t.equal(tc.status, Status.USER_SESSION_DELETED, 'the failed session cannot be used')
    t.notOk(c.closed)
  }
})

t.test('guest: only with map to guest = bad user, and only on guest ok shares', async (t) => {
  const never = memServer({ shares: { pub: ['guest ok = yes'] } })
  t.teardown(never.cleanup)
  const c0 = new MemClient(never.state)
  await c0.negotiate({ dialects: [0x0311] })
  t.equal((await c0.login({ user: 'stranger' })).last.status, Status.LOGON_FAILURE, 'map to guest = never (default)')

  const srv = memServer({ global: ['map to guest = bad user'], shares: { pub: ['guest ok = yes'] } })
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  await c.negotiate({ dialects: [0x0311] })
  const { last } = await c.login({ user: 'stranger' })
  t.equal(last.status, 0, 'unknown user becomes guest')
  t.equal(last.body.readUInt16LE(2) & IS_GUEST, IS_GUEST, 'SESSION_FLAG_IS_GUEST')
  t.equal((await c.treeConnect('share')).status, Status.ACCESS_DENIED, 'not on a share without guest ok')
  t.equal((await c.treeConnect('pub')).status, 0, 'guest ok share')
  // a known user with a wrong password is not mapped to guest ("bad user" only)
  const c2 = new MemClient(srv.state)
  await c2.negotiate({ dialects: [0x0311] })
  t.equal((await c2.login({ password: 'wrong' })).last.status, Status.LOGON_FAILURE, 'bad password is not bad user')
})

t.test('signing: a bad signature is refused with STATUS_ACCESS_DENIED', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const d of [0x0210, 0x0300, 0x0311]) {
    const c = new MemClient(srv.state)
    await c.negotiate({ dialects: [d] })
    await c.login()
    const msg = c.message({ cmd: Command.ECHO, body: smallBody() })
    msg.writeUInt32LE(msg.readUInt32LE(16) | 0x8, 16)
    msg.fill(0x33, 48, 64)
    const [pdu] = await c.raw(msg)
    t.ok(pdu, `0x${d.toString(16)}: answered`)
    t.equal(pdu.readUInt32LE(8), Status.ACCESS_DENIED, 'bad signature → ACCESS_DENIED')
    // Signed with the session's key, as Samba answers: a client that signs drops an unsigned answer
    // (smbXcli), and the key proves nothing about the forged request.
    t.ok(c.verify(parseResponses(pdu)[0]), 'the error is signed with the session\'s key')
    t.equal((await c.echo()).status, 0, 'the session keeps working')
  }
})

t.test('signing required: an unsigned request is refused, a signed one works', async (t) => {
  const srv = memServer({ global: ['server signing = mandatory'] })
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  const n = await c.negotiate({ dialects: [0x0300] })
  t.equal(n.body.readUInt16LE(2) & 0x2, 0x2, 'SIGNING_REQUIRED advertised')
  const l = await c.login()
  t.ok(l.finalSigned)
  const tc = await c.request({ cmd: Command.TREE_CONNECT, body: treeConnectBody('\\\\mem\\share'), sign: false })
  t.equal(tc.status, Status.ACCESS_DENIED, 'unsigned TREE_CONNECT refused')
  const tc2 = await c.request({ cmd: Command.TREE_CONNECT, body: treeConnectBody('\\\\mem\\share'), sign: true })
  t.equal(tc2.status, 0)
  t.ok(c.verify(tc2))

  // client-required signing on a server that does not insist: every response is signed
  const srv2 = memServer()
  t.teardown(srv2.cleanup)
  const c2 = new MemClient(srv2.state)
  await c2.negotiate({ dialects: [0x0311], securityMode: 2 })
  await c2.login({ securityMode: 2 })
  const e = await c2.request({ cmd: Command.ECHO, body: smallBody(), sign: false })
  t.equal(e.status, Status.ACCESS_DENIED, 'unsigned request on a session the client asked to sign')
  const e2 = await c2.request({ cmd: Command.ECHO, body: smallBody(), sign: true })
  t.ok(c2.verify(e2))
})

t.test('LOGOFF: signed answer, then the session is gone', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect({ signAll: true })
  const fid = await c.open('a.txt')
  const lo = await c.logoff()
  t.equal(lo.status, 0)
  t.ok(c.verify(lo), 'LOGOFF response signed with the session key')
  t.equal((await c.request({ cmd: Command.ECHO, body: smallBody(), sign: false, sessionId: 0n })).status, 0, 'ECHO with SessionId 0 needs no session')
  t.equal((await c.request({ cmd: Command.ECHO, body: smallBody(), sign: false })).status, Status.USER_SESSION_DELETED, 'ECHO naming the logged-off session: MS-SMB2 3.3.5.17 verifies it')
  t.equal((await c.close(fid)).status, Status.USER_SESSION_DELETED, 'the session is deleted')
  t.notOk(c.closed)
})

t.test('a session cannot be used from another connection', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state).connect()
  const b = new MemClient(srv.state)
  await b.negotiate({ dialects: [0x0311] })
  const r = await b.request({ cmd: Command.TREE_CONNECT, body: treeConnectBody('\\\\mem\\share'), sessionId: a.sessionId })
  t.equal(r.status, Status.USER_SESSION_DELETED)
})

t.test('PreviousSessionId: the same user\'s old session is removed with its trees; another user\'s is left alone', async (t) => {
  const srv = memServer({ users: { other: 'Other-pass1' } })
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state).connect()
  const oldId = a.sessionId
  const oldSession = srv.state.sessions.get(oldId)!
  t.equal(oldSession.trees.size, 1, 'the old session has its tree')
  t.equal((await a.request({ cmd: Command.ECHO, body: smallBody() })).status, 0)

  // Another user names it: ignored, the old session carries on.
  const b = new MemClient(srv.state)
  await b.negotiate({ dialects: [0x0311] })
  t.equal((await b.login({ user: 'other', password: 'Other-pass1', previousSessionId: oldId })).last.status, 0, 'another user logs on')
  t.ok(srv.state.sessions.has(oldId), 'another user\'s PreviousSessionId leaves the session alone')
  t.equal((await a.treeConnect('share')).status, 0, 'the old session still works')

  // The same user reconnecting: the old session goes, its trees and opens with it.
  const c = new MemClient(srv.state)
  await c.negotiate({ dialects: [0x0311] })
  t.equal((await c.login({ previousSessionId: oldId })).last.status, 0, 'the same user logs on again')
  t.notOk(srv.state.sessions.has(oldId), 'the old session is removed')
  t.equal(oldSession.trees.size, 0, 'its trees (and their opens) are torn down')
  t.equal((await a.treeConnect('share')).status, Status.USER_SESSION_DELETED, 'a request on the old session: USER_SESSION_DELETED')
  t.equal((await c.treeConnect('share')).status, 0, 'the new session works')
})
