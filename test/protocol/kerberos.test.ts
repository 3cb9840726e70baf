// Kerberos sessions end to end with the whole server in memory and a stand-in acceptor (the real
// one, MIT GSSAPI against a KDC, is test/interop/kerberos.test.ts): the NEGOTIATE offer follows
// ServerState.kerberos; a 32-byte GSS key encrypts with AES-256-GCM from all its bytes; a user
// without a password db entry; and a session that lasts no longer than its ticket.
import t, { type Test } from 'tap'
import { Access, Ctx, Disposition, listContext, MemClient, memServer, preauthContext, type MemServer } from '../helpers/mem-client.js'
import { encodeInit, OID_KRB5, OID_MS_KRB5, OID_NTLMSSP, parseInit } from '../../src/auth/spnego.js'
import type { Krb5Acceptor } from '../../src/auth/krb5.js'
import { deriveSessionKeys } from '../../src/crypto/kdf.js'
import { Signer } from '../../src/crypto/signing.js'
import { SessionCipher } from '../../src/crypto/encryption.js'

const KEY32 = Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff', 'hex')
/** Any krb5 AP-REQ shape (RFC 4121 4.1): the stand-in acceptor does not look inside. */
const AP_REQ = Buffer.concat([Buffer.from([0x60, 0x1f]), Buffer.from('06092a864886f712010202', 'hex'), Buffer.from([1, 0]), Buffer.alloc(18, 0x61)])

function acceptor (lifetime: number, principal = 'alice@SMBTS.TEST'): Krb5Acceptor {
  return {
    accept: async () => ({ ok: true, principal, sessionKey: KEY32, lifetime, context: {} }),
    getMic: () => Buffer.alloc(16),
    verifyMic: () => false,
    release: () => {},
  }
}

function server (t: Test, lifetime = 36000, global: string[] = []): MemServer {
  const srv = memServer({ global })
  srv.state.kerberos = { acceptor: acceptor(lifetime), realm: 'SMBTS.TEST' }
  t.teardown(srv.cleanup)
  return srv
}

/** NEGOTIATE 3.1.1 offering only AES-256-GCM, then SESSION_SETUP with the AP-REQ; keys as a client derives them. */
async function krbLogin (srv: MemServer): Promise<{ c: MemClient, status: number, signed: boolean }> {
  const c = new MemClient(srv.state)
  await c.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.ENCRYPTION, [4]), listContext(Ctx.SIGNING, [1])] })
  const r = await c.sessionSetupLeg(encodeInit({ mechTypes: [OID_MS_KRB5, OID_KRB5], mechToken: AP_REQ }))
  if (r.status !== 0) return { c, status: r.status, signed: false }
  c.sessionId = r.hdr.sessionId
  const keys = deriveSessionKeys(0x0311, KEY32, c.preauth, 256)
  c.signer = new Signer(c.signingAlgorithm, keys.signingKey)
  c.encryptor = new SessionCipher(c.cipherId, keys.decryptionKey!)
  c.decryptor = new SessionCipher(c.cipherId, keys.encryptionKey!)
  return { c, status: r.status, signed: c.verify(r) }
}

t.test('NEGOTIATE offers krb5 only when Kerberos is configured', async t => {
  const offer = async (srv: MemServer): Promise<string[]> => {
    const r = await new MemClient(srv.state).negotiate({ dialects: [0x0311] })
    const init = parseInit(r.msg.subarray(r.body.readUInt16LE(56), r.body.readUInt16LE(56) + r.body.readUInt16LE(58)))
    return init.kind === 'spnego' ? init.mechTypes : []
  }
  t.same(await offer(server(t)), [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP])
  const plain = memServer()
  t.teardown(plain.cleanup)
  t.same(await offer(plain), [OID_NTLMSSP])
})

t.test('the whole 32-byte key: AES-256-GCM encryption, signing from its first 16 bytes', async t => {
  const srv = server(t)
  const { c, status, signed } = await krbLogin(srv)
  t.equal(status, 0, 'logged in')
  t.equal(c.cipherId, 4, 'AES-256-GCM negotiated')
  t.ok(signed, 'the final response is signed with the key from its first 16 bytes')
  t.notOk(srv.state.accounts.has('alice'), 'alice has no password db entry')
  const s = srv.state.sessions.get(c.sessionId)!
  t.equal(s.user, 'alice')
  t.equal(s.domain, 'SMBTS.TEST')
  t.ok(s.keys!.sessionKey.equals(KEY32), 'the session keeps all 32 bytes')
  c.encryptAll = true
  t.equal((await c.treeConnect('share')).status, 0, 'an encrypted TREE_CONNECT')
  const fid = await c.open('krb.txt', { access: Access.GENERIC_READ | Access.GENERIC_WRITE, disposition: Disposition.OVERWRITE_IF })
  t.equal((await c.write(fid, 0, Buffer.from('sealed with 256 bits'))).status, 0, 'an encrypted WRITE')
  t.equal(srv.files.read('krb.txt').toString(), 'sealed with 256 bits')
})

t.test('a session lasts no longer than its ticket', async t => {
  const short = server(t, 60, ['session lifetime = 3600'])
  const a = await krbLogin(short)
  const sa = short.state.sessions.get(a.c.sessionId)!
  t.ok(sa.expiresAt! <= Date.now() + 60_000 && sa.expiresAt! > Date.now() + 50_000, 'the ticket ends first: 60 s')
  const long = server(t, 36000, ['session lifetime = 600'])
  const b = await krbLogin(long)
  const sb = long.state.sessions.get(b.c.sessionId)!
  t.ok(sb.expiresAt! <= Date.now() + 600_000 && sb.expiresAt! > Date.now() + 590_000, '`session lifetime` ends first: 600 s')
})
