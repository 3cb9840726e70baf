// SMB security end to end, the whole server in memory: tampered signed and encrypted requests
// (refused, nothing done, other sessions unaffected), `server signing = mandatory`,
// `smb3 encryption = mandatory` globally and per share (Samba spellings too), re-authentication
// and session expiry (MS-SMB2 3.3.5.5.2, 3.3.5.2.9), and no dialect or cipher downgrade.
//
// Backend: memory (the default); nothing here depends on a file system.
import t, { type Test } from 'tap'
import {
  Access, Command, Disposition, MemClient, memServer, negotiateContexts, readData, smallBody, Status, writeBody, Ctx, listContext,
  preauthContext, type FileId, type MemServer,
} from '../helpers/mem-client.js'
import { SessionState } from '../../src/session/model.js'

const DIALECTS = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311]
const SIGNED = 0x8
const ENCRYPT_DATA = 0x4
const hex = (d: number): string => `0x${d.toString(16)}`

function server (t: Test, o: Parameters<typeof memServer>[0] = {}): MemServer {
  const srv = memServer(o)
  t.teardown(srv.cleanup)
  return srv
}

/** A file with known content, opened for writing on `c`. */
async function openWith (c: MemClient, name: string, content: string): Promise<FileId> {
  const fid = await c.open(name, { access: Access.GENERIC_READ | Access.GENERIC_WRITE, disposition: Disposition.OVERWRITE_IF })
  const w = await c.write(fid, 0, Buffer.from(content))
  if (w.status !== 0) throw new Error(`write: ${hex(w.status)}`)
  return fid
}

t.test('a signed WRITE with a flipped byte anywhere is refused with ACCESS_DENIED and changes nothing', async (t) => {
  const srv = server(t)
  for (const d of DIALECTS) {
    const c = await new MemClient(srv.state).connect({ dialect: d, signAll: true })
    const other = await new MemClient(srv.state, 'mem:other').connect({ dialect: d, signAll: true })
    const name = `signed-${hex(d)}.txt`
    const fid = await openWith(c, name, 'original')
    /** A correctly signed WRITE with a fresh MessageId. */
    const signedWrite = (): Buffer => {
      const m = c.message({ cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.from('TAMPERED')) })
      m.writeUInt32LE(m.readUInt32LE(16) | SIGNED, 16)
      c.signer!.sign(m).copy(m, 48)
      return m
    }
    // Header fields a MITM would change, the signature itself, the body and the data.
    for (const at of [
      12 /* Command */, 24 /* MessageId */, 36 /* TreeId */, 48, 63 /* Signature */, 64 + 8 /* Offset */, 64 + 48 + 7 /* data */,
    ]) {
      const bad = signedWrite()
      if (at === 24) { bad.writeBigUInt64LE(c.nextMid++, 24) } else bad[at] ^= 0x01
      const [pdu] = await c.raw(bad)
      t.ok(pdu !== undefined, `${hex(d)} byte ${at}: answered`)
      const status = pdu!.readUInt32LE(8)
      t.ok(status === Status.ACCESS_DENIED || (at === 12 && status !== 0), `${hex(d)} byte ${at}: refused (${hex(status)})`)
    }
    t.equal(srv.files.read(`${name}`).toString(), 'original', `${hex(d)}: the file is unchanged`)
    t.notOk(c.closed, 'a bad signature does not end the connection')
    // The untampered request still works, and so does another session.
    const [ok] = await c.raw(signedWrite())
    t.equal(ok!.readUInt32LE(8), 0, `${hex(d)}: the genuine request succeeds`)
    t.equal(srv.files.read(`${name}`).toString(), 'TAMPERED')
    t.equal((await other.echo()).status, 0, 'another session is unaffected')
    t.same(await other.readFile(name), Buffer.from('TAMPERED'))
  }
})

t.test('a tampered encrypted WRITE ends the connection and changes nothing; other sessions go on', async (t) => {
  const srv = server(t)
  for (const [d, ciphers] of [[0x0300, [1]], [0x0302, [1]], [0x0311, [1]], [0x0311, [2]], [0x0311, [3]], [0x0311, [4]]] as Array<[number, number[]]>) {
    const ctxs = [preauthContext(), listContext(Ctx.ENCRYPTION, ciphers), listContext(Ctx.SIGNING, [2, 1])]
    const mk = async (remote: string): Promise<MemClient> => {
      const c = new MemClient(srv.state, remote)
      await c.negotiate({ dialects: [d], contexts: ctxs })
      await c.login()
      t.ok(c.encryptor, `${hex(d)} cipher ${ciphers[0]}: keys`)
      c.encryptAll = true
      t.equal((await c.treeConnect('share')).status, 0)
      return c
    }
    const c = await mk('mem:victim')
    const other = await mk('mem:bystander')
    const name = `enc-${hex(d)}-${ciphers[0]}.txt`
    const fid = await openWith(c, name, 'original')
    t.ok(c.encryptedResponses > 0, 'responses to encrypted requests are encrypted')
    const plain = c.message({ cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.from('TAMPERED')) })
    const sealed = Buffer.concat(c.encryptor!.encrypt(c.sessionId, [plain]))
    for (const at of [4 /* Signature */, 20 /* Nonce */, 36 /* OriginalMessageSize */, 44 /* SessionId */, 52 + 12 /* Command */, sealed.length - 1]) {
      const victim = await mk(`mem:victim-${at}`)
      const fid2 = await victim.open(name, { access: Access.GENERIC_WRITE, disposition: Disposition.OPEN })
      const m = victim.message({ cmd: Command.WRITE, body: writeBody(fid2, 0, Buffer.from('TAMPERED')) })
      const bad = Buffer.concat(victim.encryptor!.encrypt(victim.sessionId, [m]))
      bad[at] ^= 0x01
      const out = await victim.raw(bad)
      t.same(out, [], `byte ${at}: no answer`)
      t.ok(victim.closed, `byte ${at}: the connection is closed (${victim.closedReason})`)
    }
    t.equal(srv.files.read(`${name}`).toString(), 'original', 'the file is unchanged')
    const [ok] = await c.raw(sealed)
    t.equal(c.decryptor!.decrypt(ok!).readUInt32LE(8), 0, 'the genuine sealed request succeeds')
    t.equal(srv.files.read(`${name}`).toString(), 'TAMPERED')
    t.equal((await other.echo()).status, 0, 'the bystander session is unaffected')
    t.same(await other.readFile(name), Buffer.from('TAMPERED'))
  }
})

t.test('server signing = mandatory: unsigned requests refused and nothing done, on every dialect', async (t) => {
  for (const spelling of ['server signing = mandatory', 'server signing = required']) {
    const srv = server(t, { global: [spelling] })
    for (const d of DIALECTS) {
      const c = new MemClient(srv.state)
      const n = await c.negotiate({ dialects: [d], securityMode: 1 })
      t.equal(n.body.readUInt16LE(2) & 0x2, 0x2, `${spelling} ${hex(d)}: NEGOTIATE says SIGNING_REQUIRED`)
      const l = await c.login({ securityMode: 1 }) // the client only enables signing
      t.equal(l.last.status, 0)
      t.ok(l.finalSigned, 'the final SESSION_SETUP response is signed')
      t.equal((await c.request({ cmd: Command.TREE_CONNECT, body: Buffer.from(''), sign: false }).catch(() => ({ status: -1 }))).status !== 0, true)
      c.signAll = true
      t.equal((await c.treeConnect('share')).status, 0)
      const name = `must-sign-${hex(d)}.txt`
      const fid = await openWith(c, name, 'original')
      const w = await c.request({ cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.from('UNSIGNED')), sign: false })
      t.equal(w.status, Status.ACCESS_DENIED, `${hex(d)}: unsigned WRITE refused`)
      const cr = await c.request({ cmd: Command.CREATE, body: (await import('../helpers/mem-client.js')).createBody(`unsigned-${hex(d)}.txt`, { disposition: Disposition.CREATE }), sign: false })
      t.equal(cr.status, Status.ACCESS_DENIED, 'unsigned CREATE refused')
      t.notOk(srv.files.exists(`unsigned-${hex(d)}.txt`), 'and nothing was created')
      t.equal(srv.files.read(`${name}`).toString(), 'original', 'the file is unchanged')
      const r = await c.read(fid, 0, 100)
      t.ok(c.verify(r), 'signed requests get verifiable signed answers')
      t.same(readData(r), Buffer.from('original'))
    }
  }
})

async function encryptedClient (srv: MemServer, d: number, share = 'share'): Promise<MemClient> {
  const c = new MemClient(srv.state)
  await c.negotiate({ dialects: [d] })
  const l = await c.login()
  if (l.last.status !== 0) throw new Error(`login ${hex(l.last.status)}`)
  const tc = await c.treeConnect(share)
  if (tc.status !== 0) throw new Error(`tree connect ${hex(tc.status)}`)
  return c
}

t.test('smb3 encryption = mandatory in [global] (and Samba spellings): 3.x encrypts everything, 2.x refused', async (t) => {
  for (const spelling of ['smb3 encryption = mandatory', 'server smb encrypt = required', 'smb encrypt = mandatory']) {
    const srv = server(t, { global: [spelling], shares: { plain: ['read only = no', 'smb3 encryption = disabled'] } })
    for (const d of [0x0300, 0x0302, 0x0311]) {
      const c = await encryptedClient(srv, d)
      t.equal(c.sessionFlags & ENCRYPT_DATA, ENCRYPT_DATA, `${spelling} ${hex(d)}: SESSION_FLAG_ENCRYPT_DATA`)
      t.ok(c.encryptAll)
      const before = c.encryptedResponses
      const name = `g-${hex(d)}.txt`
      const fid = await openWith(c, name, 'original')
      t.ok(c.encryptedResponses > before, 'answers are encrypted')
      // A plain request on the encrypted session: refused, nothing done.
      const w = await c.request({ cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.from('PLAINTXT')), encrypt: false })
      t.equal(w.status, Status.ACCESS_DENIED, `${hex(d)}: unencrypted WRITE refused`)
      t.equal(srv.files.read(`${name}`).toString(), 'original', 'nothing written')
      t.equal((await c.request({ cmd: Command.ECHO, body: smallBody(), encrypt: false, sessionId: c.sessionId })).status, Status.ACCESS_DENIED, 'even ECHO naming the session')
      // Global mandatory wins over a share's `disabled`: a share can require more, never less.
      const p = await encryptedClient(srv, d, 'plain')
      const pf = await openWith(p, 'x.txt', 'x')
      t.equal((await p.request({ cmd: Command.READ, body: (await import('../helpers/mem-client.js')).readBody(pf, 0, 1), encrypt: false })).status, Status.ACCESS_DENIED, 'the relaxed share still refuses plain requests')
    }
    for (const d of [0x0202, 0x0210]) {
      const c = new MemClient(srv.state)
      await c.negotiate({ dialects: [d] })
      const l = await c.login()
      t.equal(l.last.status, Status.ACCESS_DENIED, `${spelling} ${hex(d)}: a client that cannot encrypt is refused`)
    }
    // A 3.1.1 client that offers no cipher the server allows cannot encrypt either.
    const nc = new MemClient(srv.state)
    await nc.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.ENCRYPTION, [0x0009])] })
    t.equal(nc.cipherId, 0)
    t.equal((await nc.login()).last.status, Status.ACCESS_DENIED, '3.1.1 without a common cipher is refused')
  }
})

t.test('a share with smb3 encryption = mandatory under global auto: only that share is encrypted', async (t) => {
  const srv = server(t, { shares: { secret: ['read only = no', 'smb3 encryption = mandatory'] } })
  const c = new MemClient(srv.state)
  await c.negotiate({ dialects: [0x0311] })
  await c.login()
  t.equal(c.sessionFlags & ENCRYPT_DATA, 0, 'the session itself is not encrypted')
  const tc = await c.treeConnect('secret')
  t.equal(tc.status, 0)
  t.equal(tc.body.readUInt32LE(4) & 0x8000, 0x8000, 'SMB2_SHAREFLAG_ENCRYPT_DATA')
  const plain = await c.request({ cmd: Command.CREATE, body: (await import('../helpers/mem-client.js')).createBody('s.txt'), encrypt: false })
  t.equal(plain.status, Status.ACCESS_DENIED, 'a plain request on the share is refused')
  t.notOk(srv.filesOf('secret').exists('s.txt'), 'nothing created')
  const enc = await c.request({ cmd: Command.CREATE, body: (await import('../helpers/mem-client.js')).createBody('s.txt'), encrypt: true })
  t.equal(enc.status, 0, 'an encrypted one works')
  t.ok(srv.filesOf('secret').exists('s.txt'))
  const old = new MemClient(srv.state)
  await old.negotiate({ dialects: [0x0210] })
  await old.login()
  t.equal((await old.treeConnect('secret')).status, Status.ACCESS_DENIED, 'an SMB 2.1 session cannot connect to it')
  t.equal((await old.treeConnect('share')).status, 0, 'but can use the other share')
})

t.test('re-authentication keeps trees, opens and keys; another user is refused and the session removed', async (t) => {
  const srv = server(t, { users: { other: 'Other-pass2' } })
  for (const d of DIALECTS) {
    const c = await new MemClient(srv.state).connect({ dialect: d, signAll: true })
    const fid = await openWith(c, `reauth-${hex(d)}.txt`, 'before')
    const session = srv.state.sessions.get(c.sessionId)!
    const keysBefore = Buffer.from(session.keys!.signingKey)
    const r = await c.login({ reauth: true })
    t.equal(r.last.status, 0, `${hex(d)}: re-authentication succeeds`)
    t.equal(r.last.hdr.sessionId, c.sessionId, 'same SessionId')
    t.ok(r.finalSigned, 'the response is signed with the session\'s (unchanged) signing key')
    t.same(session.keys!.signingKey, keysBefore, 'signing key unchanged (MS-SMB2 3.3.5.5.2)')
    const w = await c.write(fid, 0, Buffer.from('after!'))
    t.equal(w.status, 0, 'the open survives')
    t.ok(c.verify(w), 'and signing still uses the first key')
    t.same(await c.readFile(`reauth-${hex(d)}.txt`), Buffer.from('after!'), 'the tree survives')
    // Another user: refused, and the session is gone.
    const bad = await c.login({ reauth: true, user: 'other', password: 'Other-pass2' })
    t.equal(bad.last.status, Status.ACCESS_DENIED, `${hex(d)}: re-authentication as another user is refused`)
    t.notOk(srv.state.sessions.has(c.sessionId), 'the session is removed')
    t.equal((await c.request({ cmd: Command.READ, body: (await import('../helpers/mem-client.js')).readBody(fid, 0, 1) })).status, Status.USER_SESSION_DELETED, 'its requests fail')
  }
})

t.test('anonymous re-authentication: accepted, the session keeps its user, keys, lifetime and opens', async (t) => {
  const srv = server(t, { global: ['session lifetime = 3600'] })
  for (const d of DIALECTS) {
    const c = await new MemClient(srv.state).connect({ dialect: d, signAll: true })
    const name = `anon-${hex(d)}.txt`
    const fid = await openWith(c, name, 'before')
    const session = srv.state.sessions.get(c.sessionId)!
    const userBefore = session.user
    const keysBefore = Buffer.from(session.keys!.signingKey)
    const expiresBefore = session.expiresAt
    const r = await c.login({ reauth: true, anonymous: true })
    t.equal(r.last.status, 0, `${hex(d)}: anonymous re-authentication succeeds`)
    t.equal(r.last.hdr.sessionId, c.sessionId, 'same SessionId')
    t.ok(r.finalSigned, 'the response is signed with the session\'s unchanged key')
    t.equal(r.last.body.readUInt16LE(2) & 0x3, 0, 'neither IS_GUEST nor IS_NULL: the session did not become anonymous')
    t.equal(session.user, userBefore, 'the identity did not change')
    t.notOk(session.isAnonymous, 'not anonymous')
    t.same(session.keys!.signingKey, keysBefore, 'no key change')
    t.equal(session.expiresAt, expiresBefore, 'the lifetime is not renewed by a null logon')
    const w = await c.write(fid, 0, Buffer.from('after!'))
    t.equal(w.status, 0, 'the open still works')
    t.ok(c.verify(w), 'signed with the first key')
    t.same(await c.readFile(name), Buffer.from('after!'), 'new opens work with the same rights')
    const again = await c.login({ reauth: true })
    t.equal(again.last.status, 0, 'then re-authenticating as the user works')
    t.ok(session.expiresAt! >= expiresBefore!, 'and that renews the lifetime')
  }
})

t.test('anonymous re-authentication of an expired session is refused and removes it', async (t) => {
  const srv = server(t, { global: ['session lifetime = 1'] })
  const c = await new MemClient(srv.state).connect({ dialect: 0x0311, signAll: true })
  const fid = await openWith(c, 'exp-anon.txt', 'x')
  const session = srv.state.sessions.get(c.sessionId)!
  session.expiresAt = Date.now() - 1
  t.equal((await c.write(fid, 0, Buffer.from('y'))).status, Status.NETWORK_SESSION_EXPIRED)
  const r = await c.login({ reauth: true, anonymous: true })
  t.equal(r.last.status, Status.ACCESS_DENIED, 'a null logon cannot bring an expired session back')
  t.notOk(srv.state.sessions.has(c.sessionId), 'the session is removed (MS-SMB2 3.3.5.5.3)')
  t.equal(srv.files.read('exp-anon.txt').toString(), 'x')
})

t.test('an anonymous session cannot be upgraded by re-authenticating as a named user', async (t) => {
  const srv = server(t)
  const c = new MemClient(srv.state)
  await c.negotiate({ dialects: [0x0311] })
  const l = await c.login({ anonymous: true })
  t.equal(l.last.status, 0, 'an anonymous logon')
  t.equal(l.last.body.readUInt16LE(2) & 0x2, 0x2, 'SMB2_SESSION_FLAG_IS_NULL')
  const session = srv.state.sessions.get(c.sessionId)!
  t.ok(session.isAnonymous)
  const r = await c.login({ reauth: true })
  t.equal(r.last.status, Status.ACCESS_DENIED, 're-authentication as a user: refused')
  t.notOk(srv.state.sessions.has(c.sessionId), 'and the session removed')
})

t.test('a failed re-authentication (wrong password) removes the session and closes its opens', async (t) => {
  const srv = server(t)
  const c = await new MemClient(srv.state).connect({ dialect: 0x0311, signAll: true })
  const fid = await openWith(c, 'f.txt', 'x')
  const r = await c.login({ reauth: true, password: 'wrong' })
  t.equal(r.last.status, Status.LOGON_FAILURE)
  t.notOk(srv.state.sessions.has(c.sessionId), 'MS-SMB2 3.3.5.5.3: the session is removed')
  t.equal((await c.request({ cmd: Command.READ, body: (await import('../helpers/mem-client.js')).readBody(fid, 0, 1) })).status, Status.USER_SESSION_DELETED)
  const d = await new MemClient(srv.state).connect({ dialect: 0x0311 })
  const o = await d.open('f.txt', { access: Access.GENERIC_READ | Access.GENERIC_WRITE | Access.DELETE, share: 0, disposition: Disposition.OPEN })
  t.ok(o, 'the old open no longer holds the file (an exclusive open succeeds)')
})

t.test('session lifetime: requests get NETWORK_SESSION_EXPIRED until re-authentication', async (t) => {
  const srv = server(t, { global: ['session lifetime = 1'] })
  for (const d of [0x0210, 0x0311]) {
    const c = await new MemClient(srv.state).connect({ dialect: d, signAll: true })
    const name = `exp-${hex(d)}.txt`
    const fid = await openWith(c, name, 'before')
    const fid2 = await c.open(`exp2-${hex(d)}.txt`)
    const session = srv.state.sessions.get(c.sessionId)!
    session.expiresAt = Date.now() - 1 // as if the lifetime had run out
    const w = await c.write(fid, 0, Buffer.from('EXPIRED'))
    t.equal(w.status, Status.NETWORK_SESSION_EXPIRED, `${hex(d)}: WRITE on an expired session`)
    t.equal(session.state, SessionState.Expired)
    t.equal(srv.files.read(`${name}`).toString(), 'before', 'nothing written')
    t.equal((await c.treeConnect('share')).status, Status.NETWORK_SESSION_EXPIRED, 'TREE_CONNECT too')
    t.equal((await c.close(fid2)).status, 0, 'CLOSE is still processed (MS-SMB2 3.3.5.2.9)')
    const r = await c.login({ reauth: true })
    t.equal(r.last.status, 0, 're-authentication succeeds')
    t.ok(session.expiresAt! > Date.now(), 'with a fresh lifetime')
    const w2 = await c.write(fid, 0, Buffer.from('renewed'))
    t.equal(w2.status, 0, 'the open works again')
    t.ok(c.verify(w2), 'signed with the first key')
    t.equal(srv.files.read(`${name}`).toString(), 'renewed')
  }
  // The real clock: a one-second lifetime.
  const c = await new MemClient(srv.state).connect({ dialect: 0x0311 })
  t.equal((await c.echo()).status, 0)
  await new Promise(resolve => setTimeout(resolve, 1100))
  t.equal((await c.request({ cmd: Command.ECHO, body: smallBody(), sessionId: c.sessionId })).status, Status.NETWORK_SESSION_EXPIRED, 'after a second the session has expired')
  t.equal((await c.logoff()).status, 0, 'LOGOFF still works')
})

t.test('no downgrade: a client offering 3.1.1 gets 3.1.1, and the server\'s preferred common cipher', async (t) => {
  const srv = server(t)
  const orders = [[0x0202, 0x0210, 0x0300, 0x0302, 0x0311], [0x0311, 0x0202], [0x0300, 0x0311, 0x0210], [0x0311]]
  for (const dialects of orders) {
    const c = new MemClient(srv.state)
    const n = await c.negotiate({ dialects })
    t.equal(n.body.readUInt16LE(4), 0x0311, `[${dialects.map(hex).join(',')}] → 3.1.1`)
  }
  // Without 3.1.1 the highest common dialect, never lower.
  const c30 = new MemClient(srv.state)
  t.equal((await c30.negotiate({ dialects: [0x0202, 0x0302, 0x0300] })).body.readUInt16LE(4), 0x0302)
  // server max protocol caps it, and the client learns it from VALIDATE_NEGOTIATE on 3.0.x.
  const capped = server(t, { global: ['server max protocol = SMB3_02'] })
  t.equal((await new MemClient(capped.state).negotiate({ dialects: [0x0300, 0x0302, 0x0311] })).body.readUInt16LE(4), 0x0302)

  // Cipher: the first of the server's preference (default GCM-128, CCM-128, GCM-256, CCM-256)
  // that the client offers, whatever the client's own order.
  const cases: Array<[number[], number]> = [[[1, 2], 2], [[2, 1], 2], [[4, 3, 1], 1], [[4, 3], 4], [[3], 3], [[1], 1], [[3, 4], 4]]
  for (const [offer, want] of cases) {
    const c = new MemClient(srv.state)
    const n = await c.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.ENCRYPTION, offer)] })
    const enc = negotiateContexts(n).find(x => x.type === Ctx.ENCRYPTION)!
    t.equal(enc.data.readUInt16LE(0), 1, 'one cipher in the answer')
    t.equal(enc.data.readUInt16LE(2), want, `client offers [${offer.join(',')}] → cipher ${want}`)
    const l = await c.login()
    t.equal(l.last.status, 0)
    t.equal(srv.state.sessions.get(c.sessionId)!.encryptor!.cipher, want, 'the session encrypts with it')
  }
  // An explicit server preference is followed the same way.
  const pref = server(t, { global: ['server smb3 encryption algorithms = AES-256-GCM, AES-128-CCM'] })
  for (const [offer, want] of [[[2, 1, 4], 4], [[2, 1], 1], [[2, 3], 0]] as Array<[number[], number]>) {
    const c = new MemClient(pref.state)
    const n = await c.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.ENCRYPTION, offer)] })
    t.equal(negotiateContexts(n).find(x => x.type === Ctx.ENCRYPTION)!.data.readUInt16LE(2), want, `preference AES-256-GCM, AES-128-CCM; offer [${offer.join(',')}] → ${want}`)
    t.equal(n.body.readUInt16LE(4), 0x0311, 'still 3.1.1')
  }
  // Signing: GMAC is preferred when offered, else CMAC, whatever the client's order.
  for (const [offer, want] of [[[0, 1, 2], 2], [[1, 2], 2], [[1, 0], 1], [[0], 0]] as Array<[number[], number]>) {
    const c = new MemClient(srv.state)
    const n = await c.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.SIGNING, offer)] })
    t.equal(negotiateContexts(n).find(x => x.type === Ctx.SIGNING)!.data.readUInt16LE(2), want, `signing offer [${offer.join(',')}] → ${want}`)
    const l = await c.login()
    t.ok(l.finalSigned, 'and the session signs with it')
  }
})
