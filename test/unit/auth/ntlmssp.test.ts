import t from 'tap'
import { ntHash } from '../../../src/crypto/md4.js'
import { NtlmServer, NtlmSessionSecurity, ntowfv2 as serverNtowfv2, type NtlmServerOptions } from '../../../src/auth/ntlmssp.js'
import { authenticateMessage, negotiateMessage, parseChallenge, ntowfv2, ntlmMac, DEFAULT_FLAGS, F } from '../../helpers/ntlm-client.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const SERVER_CHALLENGE = hex('0123456789abcdef')

// MS-NLMP 4.2.4.3 AUTHENTICATE_MESSAGE (user "User", domain "Domain", workstation "COMPUTER",
// password "Password", server challenge 0123456789abcdef, client challenge aa..aa, time 0,
// RandomSessionKey 55..55 under key exchange).
const SPEC_AUTHENTICATE = hex(`
4e544c4d535350000300000018001800 6c00000054005400840000000c000c00
48000000080008005400000010001000 5c00000010001000d8000000358288e2
0501280a0000000f44006f006d006100 69006e00550073006500720043004f00
4d005000550054004500520086c35097 ac9cec102554764a57cccc19aaaaaaaa
aaaaaaaa68cd0ab851e51c96aabc927b ebef6a1c010100000000000000000000
00000000aaaaaaaaaaaaaaaa00000000 02000c0044006f006d00610069006e00
01000c00530065007200760065007200 0000000000000000c5dad2544fc97990
94ce1ce90bc9d03e`)
const SPEC_FLAGS = 0xe2888235

const ACCOUNTS = new Map<string, Buffer>([['user', ntHash('Password')], ['alice', ntHash('s3cret!')]])
function options (over: Partial<NtlmServerOptions> = {}): NtlmServerOptions {
  return {
    netbiosName: 'SERVER',
    dnsName: 'server.example.test',
    netbiosDomain: 'DOMAIN',
    dnsDomain: 'example.test',
    lookup: (user) => ACCOUNTS.get(user),
    randomBytes: (n) => n === 8 ? Buffer.from(SERVER_CHALLENGE) : Buffer.alloc(n, 1),
    now: () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
    ...over
  }
}
function serverAfterChallenge (negFlags = SPEC_FLAGS, over: Partial<NtlmServerOptions> = {}): { server: NtlmServer, negotiate: Buffer, challenge: Buffer } {
  const server = new NtlmServer(options(over))
  const negotiate = negotiateMessage(negFlags)
  const challenge = server.challenge(negotiate)
  return { server, negotiate, challenge }
}

t.test('MS-NLMP 4.2.4.1.1 NTOWFv2 and the 4.2.4.2 responses from the test client', async (t) => {
  t.equal(serverNtowfv2(ntHash('Password'), 'User', 'Domain').toString('hex'), '0c868a403bfd7a93a3001ef22ef02e3f')
  t.equal(ntowfv2('Password', 'User', 'Domain').toString('hex'), '0c868a403bfd7a93a3001ef22ef02e3f')
  // A CHALLENGE carrying the spec's values: 4.2.4 target info = NbDomainName "Domain", NbComputerName "Server"
  const ti = hex('02000c0044006f006d00610069006e0001000c005300650072007600650072000000 0000')
  const ch = Buffer.alloc(56 + ti.length)
  Buffer.from('NTLMSSP\0', 'latin1').copy(ch); ch.writeUInt32LE(2, 8)
  ch.writeUInt32LE(SPEC_FLAGS, 20); SERVER_CHALLENGE.copy(ch, 24)
  ch.writeUInt16LE(ti.length, 40); ch.writeUInt16LE(ti.length, 42); ch.writeUInt32LE(56, 44); ti.copy(ch, 56)
  const a = authenticateMessage({ user: 'User', domain: 'Domain', password: 'Password' }, negotiateMessage(), ch)
  t.equal(a.lmResponse.toString('hex'), '86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa') // 4.2.4.2.1
  t.equal(a.ntResponse.subarray(0, 16).toString('hex'), '68cd0ab851e51c96aabc927bebef6a1c') // 4.2.4.2.2
  t.equal(a.encryptedRandomSessionKey.toString('hex'), 'c5dad2544fc9799094ce1ce90bc9d03e') // 4.2.4.2.3
})

t.test('server accepts the MS-NLMP 4.2.4.3 AUTHENTICATE message', async (t) => {
  const { server } = serverAfterChallenge()
  const r = server.authenticate(SPEC_AUTHENTICATE)
  t.same(r, {
    ok: true, user: 'User', domain: 'Domain', workstation: 'COMPUTER', anonymous: false,
    sessionKey: Buffer.alloc(16, 0x55) // the RandomSessionKey, recovered by key exchange
  })
  t.ok(server.security, 'session security set up')
  t.notOk(server.micPresent)
})

t.test('a second authenticate on the same exchanger is refused', async (t) => {
  const { server } = serverAfterChallenge()
  t.equal(server.authenticate(SPEC_AUTHENTICATE).ok, true)
  t.same(server.authenticate(SPEC_AUTHENTICATE), { ok: false, reason: 'malformed' })
  t.same(new NtlmServer(options()).authenticate(SPEC_AUTHENTICATE), { ok: false, reason: 'malformed' }, 'no challenge yet')
})

t.test('wrong password, unknown user, case-insensitive lookup', async (t) => {
  {
    const { server } = serverAfterChallenge(SPEC_FLAGS, { lookup: () => ntHash('password') })
    t.same(server.authenticate(SPEC_AUTHENTICATE), { ok: false, reason: 'wrong-password' })
  }
  {
    const { server } = serverAfterChallenge(SPEC_FLAGS, { lookup: () => undefined })
    t.same(server.authenticate(SPEC_AUTHENTICATE), { ok: false, reason: 'no-such-user' })
  }
  {
    const seen: string[] = []
    const { server } = serverAfterChallenge(SPEC_FLAGS, { lookup: (u) => { seen.push(u); return ACCOUNTS.get(u) } })
    t.equal(server.authenticate(SPEC_AUTHENTICATE).ok, true)
    t.same(seen, ['user'], 'looked up lower-cased')
  }
})

t.test('every truncation of the spec message is malformed, never a throw', async (t) => {
  for (let n = 0; n < SPEC_AUTHENTICATE.length; n++) {
    const { server } = serverAfterChallenge()
    const r = server.authenticate(SPEC_AUTHENTICATE.subarray(0, n))
    if (r.ok || r.reason !== 'malformed') t.fail(`length ${n}: ${JSON.stringify(r)}`)
  }
  t.pass('all truncations malformed')
})

t.test('garbled messages never throw', async (t) => {
  let seed = 12345
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  for (let i = 0; i < 3000; i++) {
    const m = Buffer.from(SPEC_AUTHENTICATE)
    for (let k = 0; k <= rnd() % 4; k++) m[rnd() % m.length] = rnd() & 0xff
    const { server } = serverAfterChallenge()
    server.authenticate(m)
  }
  const { server } = serverAfterChallenge()
  const bad = Buffer.from(SPEC_AUTHENTICATE); bad[0] = 0x4f
  t.same(server.authenticate(bad), { ok: false, reason: 'malformed' })
  const big = Buffer.from(SPEC_AUTHENTICATE); big.writeUInt32LE(0xfffffff0, 24) // NT response offset
  t.same(serverAfterChallenge().server.authenticate(big), { ok: false, reason: 'malformed' })
  t.throws(() => new NtlmServer(options()).challenge(Buffer.from('NTLMSSP\0', 'latin1')), { name: 'AuthFormatError' })
})

t.test('CHALLENGE carries the requested flags and target info', async (t) => {
  const { challenge } = serverAfterChallenge(DEFAULT_FLAGS)
  const ch = parseChallenge(challenge)
  t.same(ch.serverChallenge, SERVER_CHALLENGE)
  for (const f of [F.UNICODE, F.NTLM, F.ESS, F.TARGET_INFO, F.N128, F.KEY_EXCH, F.SIGN, F.SEAL, F.VERSION]) {
    t.ok((ch.flags & f) !== 0, `flag 0x${f.toString(16)}`)
  }
  t.equal(ch.targetName.toString('utf16le'), 'DOMAIN')
  const u = (b: Buffer | undefined): string | undefined => b?.toString('utf16le')
  t.equal(u(ch.avPairs.get(2)), 'DOMAIN')
  t.equal(u(ch.avPairs.get(1)), 'SERVER')
  t.equal(u(ch.avPairs.get(4)), 'example.test')
  t.equal(u(ch.avPairs.get(3)), 'server.example.test')
  t.equal(ch.avPairs.get(7)!.readBigUInt64LE(), (BigInt(Date.UTC(2024, 0, 2, 3, 4, 5)) + 11644473600000n) * 10000n)
  t.same([...ch.avPairs.keys()], [2, 1, 4, 3, 7])
  // without KEY_EXCH/SEAL requested, they are not offered
  const plain = parseChallenge(serverAfterChallenge((F.UNICODE | F.NTLM | F.ESS) >>> 0).challenge)
  t.equal(plain.flags & (F.KEY_EXCH | F.SEAL | F.SIGN), 0)
})

t.test('round trip with the test client: key exchange and MIC', async (t) => {
  const { server, negotiate, challenge } = serverAfterChallenge(DEFAULT_FLAGS)
  const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
  const a = authenticateMessage({ user: 'Alice', domain: 'WORKGROUP', password: 's3cret!', workstation: 'WS1', randomSessionKey: key, withMic: true }, negotiate, challenge)
  const r = server.authenticate(a.message)
  t.same(r, { ok: true, user: 'Alice', domain: 'WORKGROUP', workstation: 'WS1', anonymous: false, sessionKey: key })
  t.ok(server.micPresent)
  // the server's session security verifies the client's MIC and produces one the client accepts
  const msg = Buffer.from('mechTypes DER goes here')
  t.ok(server.security!.verify(msg, ntlmMac(key, 'client-to-server', 0, msg)))
  t.same(server.security!.sign(msg), ntlmMac(key, 'server-to-client', 0, msg))
})

t.test('a tampered MIC fails; without key exchange the session base key is exported', async (t) => {
  {
    const { server, negotiate, challenge } = serverAfterChallenge(DEFAULT_FLAGS)
    const a = authenticateMessage({ user: 'alice', domain: 'X', password: 's3cret!', withMic: true }, negotiate, challenge)
    a.message[80] ^= 1
    t.same(server.authenticate(a.message), { ok: false, reason: 'wrong-password' })
  }
  {
    const flags = (DEFAULT_FLAGS & ~F.KEY_EXCH) >>> 0
    const { server, negotiate, challenge } = serverAfterChallenge(flags)
    const a = authenticateMessage({ user: 'alice', domain: 'X', password: 's3cret!' }, negotiate, challenge)
    const r = server.authenticate(a.message)
    t.ok(r.ok)
    if (r.ok) t.same(r.sessionKey, a.exportedSessionKey)
  }
})

t.test('LM/NTLMv1 responses are refused; anonymous is accepted', async (t) => {
  {
    const { server, negotiate, challenge } = serverAfterChallenge(DEFAULT_FLAGS)
    const a = authenticateMessage({ user: 'alice', domain: 'X', password: 's3cret!', ntResponse: Buffer.alloc(24, 7) }, negotiate, challenge)
    t.same(server.authenticate(a.message), { ok: false, reason: 'wrong-password' })
  }
  {
    const { server } = serverAfterChallenge(DEFAULT_FLAGS)
    const m = Buffer.alloc(88)
    Buffer.from('NTLMSSP\0', 'latin1').copy(m); m.writeUInt32LE(3, 8)
    for (const at of [12, 20, 28, 36, 44, 52]) m.writeUInt32LE(88, at + 4)
    m.writeUInt32LE((DEFAULT_FLAGS | 0x800) >>> 0, 60)
    t.same(server.authenticate(m), { ok: true, user: '', domain: '', workstation: '', anonymous: true, sessionKey: Buffer.alloc(16) })
  }
})

t.test('MS-NLMP 4.2.4.4 GSS_WrapEx example (client side)', async (t) => {
  const sec = new NtlmSessionSecurity(Buffer.alloc(16, 0x55), SPEC_FLAGS, 'client')
  const { data, signature } = sec.seal(Buffer.from('Plaintext', 'utf16le'))
  t.equal(data.toString('hex'), '54e50165bf1936dc996020c1811b0f06fb5f')
  t.equal(signature.toString('hex'), '010000007fb38ec5c55d497600000000')
  t.throws(() => new NtlmSessionSecurity(Buffer.alloc(16), F.N128, 'server'), { name: 'AuthFormatError' })
})
