// Per-session isolation (issue: hardening): a session never reaches another session's trees or
// files by naming their ids. TreeIds and FileIds are looked up in the requesting session only
// (MS-SMB2 3.3.5.2.11: TreeConnect in Session.TreeConnectTable; 3.3.5.2.9/3.3.1.10: Open in
// Session.OpenTable), and a SessionId is only good on a connection it was established on
// (3.3.5.2.9: Connection.SessionTable). Before authentication nothing is allocated in proportion
// to lengths the client claims.
//
// Backend: memory (the default); nothing here depends on a file system.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import {
  closeBody, Command, createBody, Disposition, flushBody, MemClient, memServer, negotiateBody, parseResponses,
  queryInfoBody, readBody, readData, sessionSetupBody, setInfoBody, smallBody, Status, writeBody, type FileId,
} from '../helpers/mem-client.js'
import { frameLimit } from '../../src/transport/tcp.js'

const SECRET = Buffer.from('alice private data\n')

async function world (): Promise<{ srv: ReturnType<typeof memServer>, a: MemClient, fidA: FileId, path: string }> {
  const srv = memServer({ users: { bob: 'Bob-pass-2' } })
  const path = 'alice.txt'
  srv.files.write(path, SECRET)
  const a = await new MemClient(srv.state, 'mem:alice').connect()
  // A second tree, so the TreeIds 1 and 2 both exist in the victim session.
  await a.treeConnect('share')
  const fidA = await a.open('alice.txt', { disposition: Disposition.OPEN })
  return { srv, a, fidA, path }
}

/** Every request that names a FileId, for the given one; none may succeed. */
function fileRequests (fid: FileId): Array<{ cmd: number, body: Buffer, creditCharge?: number }> {
  return [
    { cmd: Command.READ, body: readBody(fid, 0, 100) },
    { cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.from('PWNED')) },
    { cmd: Command.FLUSH, body: flushBody(fid) },
    { cmd: Command.QUERY_INFO, body: queryInfoBody(fid, 1, 5) },
    { cmd: Command.SET_INFO, body: setInfoBody(fid, 1, 20, Buffer.alloc(8)) }, // EndOfFile 0
    { cmd: Command.CLOSE, body: closeBody(fid) },
  ]
}

async function intruders (srv: ReturnType<typeof memServer>, a: MemClient): Promise<Array<{ who: string, c: MemClient }>> {
  // Same user on the victim's connection (a second session), same user and another user on other connections.
  const out: Array<{ who: string, c: MemClient }> = []
  const same = await new MemClient(srv.state, 'mem:alice2').connect()
  const bob = await new MemClient(srv.state, 'mem:bob').connect({ user: 'bob', password: 'Bob-pass-2' })
  out.push({ who: 'same user, other connection', c: same }, { who: 'other user, other connection', c: bob })
  void a
  return out
}

t.test("another session's FileId with my session and tree: FILE_CLOSED, nothing read or written", async (t) => {
  const { srv, a, fidA, path } = await world()
  t.teardown(srv.cleanup)
  for (const { who, c } of await intruders(srv, a)) {
    // The intruder has its own open on TreeId 1 so its tree is real, and the FileId is exact.
    for (const req of fileRequests(fidA)) {
      const r = await c.request(req)
      t.equal(r.status, Status.FILE_CLOSED, `${who}: command ${req.cmd}`)
      if (req.cmd === Command.READ) t.equal(r.body.length, 9, 'error body, no data')
    }
  }
  t.same(srv.files.read(path), SECRET, 'victim file untouched')
  t.equal((await a.read(fidA, 0, 100)).status, 0, 'victim handle still works')
})

t.test('a second session on the same connection cannot use the first one\'s FileId', async (t) => {
  const { srv, a, fidA, path } = await world()
  t.teardown(srv.cleanup)
  // Second session set up on the victim's connection.
  const first = a.sessionId
  const firstTree = a.treeId
  const firstSigner = a.signer
  a.sessionId = 0n
  a.preauth = (await import('../../src/crypto/preauth.js')).PREAUTH_INITIAL
  // (Preauth for a second session on 3.1.1 starts from the connection's hash; we do not sign, so it does not matter.)
  const l = await a.login({ user: 'bob', password: 'Bob-pass-2' })
  t.equal(l.last.status, 0, 'second session')
  const bobSid = a.sessionId
  t.not(bobSid, first)
  await a.treeConnect('share')
  t.equal(a.treeId, 1, 'TreeIds are per session: the new session\'s first tree is 1 again')
  for (const req of fileRequests(fidA)) {
    t.equal((await a.request(req)).status, Status.FILE_CLOSED, `bob's session, alice's FileId: command ${req.cmd}`)
  }
  // Bob's own open gets a FileId alice cannot use either.
  const fidB = await a.open('bob.txt', { disposition: Disposition.CREATE })
  a.sessionId = first; a.treeId = firstTree; a.signer = firstSigner
  for (const req of fileRequests(fidB)) {
    t.equal((await a.request(req)).status, Status.FILE_CLOSED, `alice's session, bob's FileId: command ${req.cmd}`)
  }
  t.same(srv.files.read(path), SECRET)
})

t.test("another session's TreeId: only trees of my own session resolve", async (t) => {
  const { srv, a, path } = await world()
  t.teardown(srv.cleanup)
  const [{ c }] = await intruders(srv, a)
  // The intruder has TreeId 1 only; alice's TreeId 2 does not exist in its session.
  const rs = await c.send({ cmd: Command.CREATE, body: createBody('alice.txt', { disposition: Disposition.OPEN }), treeId: 2 })
  t.equal(rs[0].status, Status.NETWORK_NAME_DELETED, 'TreeId of another session')
  for (const tid of [0, 3, 0xffff, 0xfffffffe, 0xffffffff]) {
    const r = await c.request({ cmd: Command.CREATE, body: createBody('alice.txt', { disposition: Disposition.OPEN }), treeId: tid })
    t.equal(r.status, Status.NETWORK_NAME_DELETED, `TreeId ${tid}`)
  }
  t.same(srv.files.read(path), SECRET)
})

t.test("another session's SessionId on my connection: USER_SESSION_DELETED (not bound here)", async (t) => {
  const { srv, a, fidA, path } = await world()
  t.teardown(srv.cleanup)
  const [same, bob] = await intruders(srv, a)
  for (const { who, c } of [same, bob]) {
    for (const req of [...fileRequests(fidA), { cmd: Command.TREE_CONNECT, body: (await import('../helpers/mem-client.js')).treeConnectBody('\\\\mem\\share') },
      { cmd: Command.CREATE, body: createBody('alice.txt', { disposition: Disposition.OPEN }) },
      { cmd: Command.TREE_DISCONNECT, body: smallBody() }, { cmd: Command.LOGOFF, body: smallBody() }, { cmd: Command.ECHO, body: smallBody() }]) {
      const r = await c.request({ ...req, sessionId: a.sessionId, treeId: a.treeId })
      t.equal(r.status, Status.USER_SESSION_DELETED, `${who}: command ${req.cmd} with alice's SessionId`)
    }
    // SESSION_SETUP naming alice's session from elsewhere (a re-authentication or binding attempt).
    const r = await c.request({ cmd: Command.SESSION_SETUP, body: sessionSetupBody(Buffer.from('4e544c4d53535000', 'hex')), sessionId: a.sessionId })
    t.equal(r.status, Status.USER_SESSION_DELETED, `${who}: SESSION_SETUP with alice's SessionId`)
  }
  // Still alive and private.
  t.equal((await a.read(fidA, 0, 100)).status, 0)
  t.equal((await a.echo()).status, 0)
  t.ok(srv.state.sessions.get(a.sessionId)?.alive)
  t.same(srv.files.read(path), SECRET)
})

t.test('guessing: sequential and random Session/Tree/FileIds from another session never hit', async (t) => {
  const { srv, a, fidA, path } = await world()
  t.teardown(srv.cleanup)
  const [{ c }] = await intruders(srv, a)
  const hits: string[] = []
  const fileIds: FileId[] = []
  for (let v = 0n; v < 200n; v++) fileIds.push({ persistent: v, volatile: v })
  for (let i = 0; i < 200; i++) fileIds.push({ persistent: randomBytes(8).readBigUInt64LE(), volatile: randomBytes(8).readBigUInt64LE() })
  fileIds.push({ persistent: fidA.persistent, volatile: fidA.volatile }, { persistent: 0n, volatile: fidA.volatile }, { persistent: fidA.volatile, volatile: 0n })
  const mine = new Set<bigint>((srv.state.sessions.get(c.sessionId)!.opens.keys()))
  for (const fid of fileIds) {
    if (mine.has(fid.volatile)) continue
    const r = await c.request({ cmd: Command.READ, body: readBody(fid, 0, 100) })
    if (r.status !== Status.FILE_CLOSED) hits.push(`READ ${fid.persistent}/${fid.volatile}: 0x${r.status.toString(16)}`)
  }
  // SessionIds around alice's, and random ones.
  const sids: bigint[] = []
  for (let d = -50n; d <= 50n; d++) sids.push(a.sessionId + d)
  for (let i = 0; i < 100; i++) sids.push(randomBytes(8).readBigUInt64LE())
  for (const sid of sids) {
    if (sid === c.sessionId) continue
    const r = await c.request({ cmd: Command.READ, body: readBody(fidA, 0, 100), sessionId: sid, treeId: 1 })
    if (r.status !== Status.USER_SESSION_DELETED) hits.push(`SessionId 0x${sid.toString(16)}: 0x${r.status.toString(16)}`)
  }
  t.same(hits, [], 'no guess resolved')
  t.same(srv.files.read(path), SECRET)
  t.notOk(c.closed, 'the guesser is answered, not a crash')
})

t.test('related compound cannot carry another session\'s ids either', async (t) => {
  const { srv, a, fidA, path } = await world()
  t.teardown(srv.cleanup)
  const [{ c }] = await intruders(srv, a)
  const rs = await c.send(
    { cmd: Command.CREATE, body: createBody('mine.txt', { disposition: Disposition.CREATE }) },
    { cmd: Command.WRITE, body: writeBody(fidA, 0, Buffer.from('PWNED')), related: true },
    { cmd: Command.READ, body: readBody(fidA, 0, 100), related: true, sessionId: a.sessionId }
  )
  t.equal(rs[0].status, 0)
  t.equal(rs[1].status, Status.FILE_CLOSED, 'related WRITE naming alice\'s FileId explicitly')
  t.not(rs[2].status, 0, 'related READ: the header SessionId is ignored, the FileId still is not ours')
  t.same(srv.files.read(path), SECRET)
})

t.test('before authentication: claimed lengths are bounded by the message, the frame by 128 KiB', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  t.equal(frameLimit(c.conn), 128 * 1024, 'before NEGOTIATE')
  // NEGOTIATE claiming 65535 dialects in a 38-byte body.
  const nb = negotiateBody({ dialects: [0x0202] })
  nb.writeUInt16LE(0xffff, 2)
  const [pdu] = await c.raw(c.message({ cmd: Command.NEGOTIATE, body: nb }))
  if (pdu !== undefined) t.equal(parseResponses(pdu)[0].status, Status.INVALID_PARAMETER, 'DialectCount past the message')
  else t.ok(c.closed, 'or the connection is closed')
  // 3.1.1 NEGOTIATE claiming a huge context count and lengths.
  const d = new MemClient(srv.state, 'mem:2')
  const nb2 = negotiateBody({ dialects: [0x0311] })
  nb2.writeUInt16LE(0xffff, 32) // NegotiateContextCount
  const [p2] = await d.raw(d.message({ cmd: Command.NEGOTIATE, body: nb2 }))
  t.ok(p2 === undefined ? d.closed : parseResponses(p2)[0].status !== 0, 'context count past the message is refused')
  // SESSION_SETUP claiming a 64 KiB security buffer in a short message.
  const e = new MemClient(srv.state, 'mem:3')
  await e.negotiate({ dialects: [0x0311] })
  t.equal(frameLimit(e.conn), 128 * 1024, 'negotiated, no session: still 128 KiB')
  const sb = sessionSetupBody(Buffer.alloc(16))
  sb.writeUInt16LE(0xffff, 14)
  const r = await e.request({ cmd: Command.SESSION_SETUP, body: sb })
  t.equal(r.status, Status.INVALID_PARAMETER, 'SecurityBufferLength past the message')
  sb.writeUInt16LE(16, 14); sb.writeUInt16LE(0xfff0, 12)
  t.equal((await e.request({ cmd: Command.SESSION_SETUP, body: sb })).status, Status.INVALID_PARAMETER, 'SecurityBufferOffset past the message')
  // A garbage token is a logon failure, not an allocation.
  const garbage = sessionSetupBody(Buffer.from('604a0606', 'hex'))
  const g = await e.request({ cmd: Command.SESSION_SETUP, body: garbage })
  t.ok(g.status === Status.LOGON_FAILURE || g.status === Status.INVALID_PARAMETER, `garbage token: 0x${g.status.toString(16)}`)
  t.equal(srv.state.sessions.size, 0, 'failed setups leave no session behind')
  // In progress is still pre-auth.
  const f = new MemClient(srv.state, 'mem:4')
  await f.negotiate({ dialects: [0x0311] })
  await f.request({ cmd: Command.SESSION_SETUP, body: sessionSetupBody((await import('../../src/auth/spnego.js')).encodeInit({ mechTypes: [(await import('../../src/auth/spnego.js')).OID_NTLMSSP], mechToken: (await import('../helpers/ntlm-client.js')).negotiateMessage() })) })
  t.equal(frameLimit(f.conn), 128 * 1024, 'session in progress: still 128 KiB')
  const ok = await new MemClient(srv.state, 'mem:5').connect()
  t.ok(frameLimit(ok.conn) > 128 * 1024, 'after authentication: MaxWrite-sized frames')
  t.equal((await ok.write(await ok.open('x.txt'), 0, Buffer.alloc(1 << 20, 1))).status, 0, '1 MiB WRITE after authentication')
  t.same(readData(await ok.read(await ok.open('x.txt'), 0, 10)), Buffer.alloc(10, 1))
})
