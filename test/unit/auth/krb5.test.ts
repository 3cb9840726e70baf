// SPNEGO with the krb5 mechanisms: smbclient's NegTokenInit decoded (bytes captured from smbclient
// 4.17), the exchange with a stand-in acceptor (optimistic AP-REQ, krb5 not the client's first
// choice and the mechListMICs of RFC 4178 5, refusals), principals mapped to users, the username
// map, the refusal reasons, and which bytes of the GSS key each SMB key comes from.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { SMBCLIENT_KRB5_INIT } from '../../fixtures/krb5-smbclient.js'
import { AuthFormatError } from '../../../src/auth/errors.js'
import {
  encodeInit, encodeMechTypes, encodeResp, NegState, negTokenInitForNegotiate, OID_KRB5, OID_MS_KRB5, OID_NTLMSSP, parseInit, parseResp
} from '../../../src/auth/spnego.js'
import { isKrb5ApReq, krb5FailureReason, parseUsernameMap, principalToUser, type Krb5Acceptor, type Krb5AcceptResult } from '../../../src/auth/krb5.js'
import { offeredMechs, SpnegoServer, SpnegoState, type SpnegoKerberos } from '../../../src/auth/spnego-server.js'
import { deriveSessionKeys, smb3Kdf } from '../../../src/crypto/kdf.js'
import { negotiateMessage } from '../../helpers/ntlm-client.js'

const NEGOEX = '1.3.6.1.4.1.311.2.2.30'
const AP_REP = Buffer.from('6f0a3008a003020105a1030201', 'hex')
const KEY32 = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex')

/** A krb5 InitialContextToken with an AP-REQ's TOK_ID and some body (RFC 4121 4.1). */
function apReq (body = Buffer.alloc(20, 0x61)): Buffer {
  const inner = Buffer.concat([Buffer.from('06092a864886f712010202', 'hex'), Buffer.from([1, 0]), body])
  return Buffer.concat([Buffer.from([0x60, inner.length]), inner])
}

interface Fake extends Krb5Acceptor { seen: Buffer[], released: number, live: number }
/** An acceptor standing in for GSSAPI: `result` for every token; MICs are HMACs with KEY32. */
function fakeAcceptor (result: Partial<Krb5AcceptResult> = {}): Fake {
  const mic = (m: Buffer): Buffer => createHmac('sha256', KEY32).update(m).digest()
  const f: Fake = {
    seen: [],
    released: 0,
    live: 0,
    async accept (token) {
      f.seen.push(token)
      await new Promise(resolve => setImmediate(resolve)) // settles later, as the threadpool's would
      if (result.ok === false) return result as Krb5AcceptResult
      f.live++
      return { ok: true, principal: 'alice@SMBTS.TEST', sessionKey: KEY32, output: AP_REP, lifetime: 3600, context: {}, ...result } as Krb5AcceptResult
    },
    getMic: (_ctx, m) => mic(m),
    verifyMic: (_ctx, m, c) => mic(m).equals(c),
    release () { f.released++; f.live-- },
  }
  return f
}

const krb = (acceptor: Krb5Acceptor, extra: Partial<SpnegoKerberos> = {}): SpnegoKerberos => ({ acceptor, realm: 'SMBTS.TEST', ...extra })
const server = (k?: SpnegoKerberos): SpnegoServer => new SpnegoServer({
  netbiosName: 'SMBTS', dnsName: 'smbts', netbiosDomain: 'WORKGROUP', dnsDomain: 'workgroup', lookup: () => undefined, ...(k !== undefined ? { krb5: k } : {}),
})

t.test("smbclient's NegTokenInit", async t => {
  const init = parseInit(SMBCLIENT_KRB5_INIT)
  if (init.kind !== 'spnego') throw new Error('not SPNEGO')
  t.same(init.mechTypes, [OID_MS_KRB5, OID_KRB5], 'MS krb5 first, then krb5')
  t.ok(init.mechTypesDer.equals(encodeMechTypes([OID_MS_KRB5, OID_KRB5])), 'the MechTypeList as sent (the mechListMIC input)')
  t.equal(init.mechListMIC, undefined, 'no mechListMIC')
  t.equal(init.reqFlags, undefined)
  t.ok(init.mechToken !== undefined && isKrb5ApReq(init.mechToken), 'the optimistic token is a krb5 AP-REQ')
  t.equal(init.mechToken!.readUInt16BE(15), 0x0100, 'TOK_ID after the krb5 OID')
  // Every truncation fails cleanly.
  for (let n = 0; n < SMBCLIENT_KRB5_INIT.length; n++) {
    try { parseInit(SMBCLIENT_KRB5_INIT.subarray(0, n)) } catch (e) { if (!(e instanceof AuthFormatError)) t.fail(`cut at ${n}: ${String(e)}`) }
  }
})

t.test('isKrb5ApReq', async t => {
  t.ok(isKrb5ApReq(apReq()))
  const ms = apReq()
  Buffer.from('06092a864882f712010202', 'hex').copy(ms, 2) // the MS krb5 OID
  t.ok(isKrb5ApReq(ms), 'with the MS krb5 OID')
  const apRep = apReq(); apRep[13] = 2 // TOK_ID 02 00: an AP-REP
  t.notOk(isKrb5ApReq(apRep), 'an AP-REP is not an AP-REQ')
  t.notOk(isKrb5ApReq(negotiateMessage()), 'NTLMSSP')
  t.notOk(isKrb5ApReq(apReq().subarray(0, 15)), 'truncated')
  t.notOk(isKrb5ApReq(Buffer.from('6003060100', 'hex')), 'another OID')
  t.notOk(isKrb5ApReq(Buffer.alloc(0)))
})

t.test('the NEGOTIATE token offers krb5 only with an acceptor', async t => {
  const withK = parseInit(negTokenInitForNegotiate(offeredMechs(true)))
  t.same(withK.kind === 'spnego' && withK.mechTypes, [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP])
  const without = parseInit(negTokenInitForNegotiate(offeredMechs(false)))
  t.same(without.kind === 'spnego' && without.mechTypes, [OID_NTLMSSP])
  // An empty first SESSION_SETUP gets the same list.
  const s = await server(krb(fakeAcceptor())).stepAsync(Buffer.alloc(0))
  t.same(s.state === 'more' && parseInit(s.token).kind === 'spnego' ? (parseInit(s.token) as { mechTypes: string[] }).mechTypes : [], [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP])
})

t.test("smbclient's optimistic AP-REQ: accept-completed with the AP-REP, no MIC", async t => {
  const a = fakeAcceptor()
  const srv = server(krb(a))
  const step = await srv.stepAsync(SMBCLIENT_KRB5_INIT)
  if (step.state !== 'done') throw new Error(JSON.stringify(step))
  const init = parseInit(SMBCLIENT_KRB5_INIT) as { mechToken: Buffer }
  t.ok(a.seen[0]!.equals(init.mechToken), 'the acceptor got the mechToken itself')
  t.same(parseResp(step.token), { negState: NegState.AcceptCompleted, supportedMech: OID_MS_KRB5, responseToken: AP_REP })
  t.equal(step.result.user, 'alice')
  t.equal(step.result.domain, 'SMBTS.TEST')
  t.equal(step.result.principal, 'alice@SMBTS.TEST')
  t.equal(step.result.lifetime, 3600)
  t.ok(step.result.sessionKey.equals(KEY32), 'the whole 32-byte key')
  t.equal(a.live, 0, 'the context released')
  t.equal(srv.state, SpnegoState.Done)
})

t.test('no AP-REP (no mutual authentication): no responseToken', async t => {
  const step = await server(krb(fakeAcceptor({ output: undefined }))).stepAsync(encodeInit({ mechTypes: [OID_MS_KRB5], mechToken: apReq() }))
  t.same(step.state === 'done' && parseResp(step.token), { negState: NegState.AcceptCompleted, supportedMech: OID_MS_KRB5 })
})

t.test('without Kerberos the krb5-only offer is refused', async t => {
  const step = await server().stepAsync(SMBCLIENT_KRB5_INIT)
  t.equal(step.state, 'failed')
  t.equal(step.state === 'failed' && step.reason, 'mechanism-unsupported')
})

t.test('a client that prefers NTLMSSP gets NTLMSSP even with Kerberos', async t => {
  const a = fakeAcceptor()
  const step = await server(krb(a)).stepAsync(encodeInit({ mechTypes: [OID_NTLMSSP, OID_KRB5], mechToken: negotiateMessage() }))
  t.equal(step.state, 'more')
  t.equal(step.state === 'more' && parseResp(step.token).supportedMech, OID_NTLMSSP)
  t.equal(a.seen.length, 0)
})

t.test('krb5 not the first choice: request-mic, the AP-REQ, both MICs (RFC 4178 5)', async t => {
  const mechTypes = [NEGOEX, OID_KRB5, OID_NTLMSSP]
  const der = encodeMechTypes(mechTypes)
  const clientMic = createHmac('sha256', KEY32).update(der).digest()
  const run = async (finalMic: Buffer | undefined): Promise<{ a: Fake, last: Awaited<ReturnType<SpnegoServer['stepAsync']>> }> => {
    const a = fakeAcceptor()
    const srv = server(krb(a))
    const first = await srv.stepAsync(encodeInit({ mechTypes, mechToken: Buffer.from('negoex message') }))
    t.same(first.state === 'more' && parseResp(first.token), { negState: NegState.RequestMic, supportedMech: OID_KRB5 }, 'krb5 selected, MIC requested')
    const second = await srv.stepAsync(encodeResp({ responseToken: apReq() }))
    if (second.state !== 'more') throw new Error(JSON.stringify(second))
    const r = parseResp(second.token)
    t.equal(r.negState, NegState.AcceptIncomplete, 'incomplete until the client MIC comes')
    t.equal(r.supportedMech, undefined, 'supportedMech only in the first reply')
    t.ok(r.responseToken?.equals(AP_REP), 'the AP-REP')
    t.ok(r.mechListMIC?.equals(clientMic), 'our MIC over the client\'s MechTypeList')
    const last = await srv.stepAsync(encodeResp(finalMic !== undefined ? { mechListMIC: finalMic } : {}))
    return { a, last }
  }
  const good = await run(clientMic)
  t.equal(good.last.state, 'done')
  t.same(good.last.state === 'done' && parseResp(good.last.token), { negState: NegState.AcceptCompleted })
  t.equal(good.a.live, 0, 'released')
  const bad = await run(Buffer.alloc(32))
  t.equal(bad.last.state === 'failed' && bad.last.reason, 'mic-mismatch')
  t.equal(bad.a.live, 0, 'released after a bad MIC too')
  const none = await run(undefined)
  t.equal(none.last.state === 'failed' && none.last.reason, 'mic-mismatch', 'a missing MIC fails')
})

t.test('a MIC the client sends with its AP-REQ is checked and answered', async t => {
  const mechTypes = [OID_MS_KRB5, OID_NTLMSSP]
  const der = encodeMechTypes(mechTypes)
  const mic = createHmac('sha256', KEY32).update(der).digest()
  const ok = await server(krb(fakeAcceptor())).stepAsync(encodeInit({ mechTypes, mechToken: apReq(), mechListMIC: mic }))
  t.ok(ok.state === 'done' && parseResp(ok.token).mechListMIC?.equals(mic), 'our MIC in the accept-completed reply')
  const a = fakeAcceptor()
  const bad = await server(krb(a)).stepAsync(encodeInit({ mechTypes, mechToken: apReq(), mechListMIC: Buffer.alloc(32, 1) }))
  t.equal(bad.state === 'failed' && bad.reason, 'mic-mismatch')
  t.equal(a.live, 0)
})

t.test('refusals', async t => {
  const refused = fakeAcceptor({ ok: false, reason: 'replay', message: 'Request is a replay' } as Krb5AcceptResult)
  const r = await server(krb(refused)).stepAsync(SMBCLIENT_KRB5_INIT)
  t.same(r.state === 'failed' && [r.reason, r.detail], ['replay', 'Request is a replay'])
  t.same(r.state === 'failed' && r.token !== undefined && parseResp(r.token), { negState: NegState.Reject }, 'a reject token')

  const other = fakeAcceptor({ principal: 'mallory@EVIL.TEST' })
  const u = await server(krb(other)).stepAsync(SMBCLIENT_KRB5_INIT)
  t.equal(u.state === 'failed' && u.reason, 'unmapped-principal', 'another realm without a map entry')
  t.equal(other.live, 0, 'its context released')

  const a = fakeAcceptor()
  const m = await server(krb(a)).stepAsync(encodeInit({ mechTypes: [OID_KRB5], mechToken: negotiateMessage() }))
  t.equal(m.state === 'failed' && m.reason, 'malformed', 'not an AP-REQ')
  t.equal(a.seen.length, 0, 'never handed to GSSAPI')

  const srv = server(krb(fakeAcceptor()))
  const [first, second] = await Promise.all([srv.stepAsync(SMBCLIENT_KRB5_INIT), srv.stepAsync(SMBCLIENT_KRB5_INIT)])
  t.equal(first.state, 'done')
  t.equal(second.state === 'failed' && second.reason, 'malformed', 'a second token while the first is being accepted')

  const junk = await server(krb(fakeAcceptor())).stepAsync(Buffer.from('a0 03 30 01'.replace(/ /g, ''), 'hex'))
  t.equal(junk.state === 'failed' && junk.reason, 'malformed')
})

t.test('principals to users', async t => {
  t.equal(principalToUser('alice@SMBTS.TEST', 'smbts.test'), 'alice', 'our realm: the part before the @')
  t.equal(principalToUser('alice@OTHER.TEST', 'SMBTS.TEST'), undefined, 'another realm')
  t.equal(principalToUser('cifs/host@SMBTS.TEST', 'SMBTS.TEST'), undefined, 'a service principal')
  t.equal(principalToUser('noatsign', 'SMBTS.TEST'), undefined)
  const map = parseUsernameMap([
    '# comment', '; comment',
    'carol = dave@SMBTS.TEST "eve smith@SMBTS.TEST"',
    'guest = frank',
    '!bob = bob@OTHER.TEST',
    'nobody = bob@OTHER.TEST',
    'junk line without equals',
  ].join('\n'))
  t.same(map.map(r => r.user), ['carol', 'guest', 'bob', 'nobody'])
  t.equal(principalToUser('dave@SMBTS.TEST', 'SMBTS.TEST', map), 'carol', 'by the whole principal')
  t.equal(principalToUser('eve smith@SMBTS.TEST', 'SMBTS.TEST', map), 'carol', 'a quoted name')
  t.equal(principalToUser('frank@SMBTS.TEST', 'SMBTS.TEST', map), 'guest', 'by the name within our realm')
  t.equal(principalToUser('frank@OTHER.TEST', 'SMBTS.TEST', map), undefined, 'not by the name in another realm')
  t.equal(principalToUser('bob@OTHER.TEST', 'SMBTS.TEST', map), 'bob', '! stops at its line')
  t.equal(principalToUser('x@Y', 'SMBTS.TEST', parseUsernameMap('everyone = *')), 'everyone', '* matches every name')
})

t.test('refusal reasons from the mechanism status', async t => {
  const base = 2529638912
  t.equal(krb5FailureReason(base + 34, ''), 'replay')
  t.equal(krb5FailureReason(base + 37, ''), 'clock-skew')
  t.equal(krb5FailureReason(base + 32, ''), 'ticket-expired')
  t.equal(krb5FailureReason(base + 181, ''), 'wrong-principal')
  t.equal(krb5FailureReason(base + 31, ''), 'bad-integrity')
  t.equal(krb5FailureReason(-1765328350, ''), 'replay', 'a signed minor status too')
  t.equal(krb5FailureReason(1, 'ASN.1 structure is missing a required field'), 'malformed')
  t.equal(krb5FailureReason(1, 'something else'), 'krb5-error')
})

t.test('which bytes of the GSS key each SMB key comes from (MS-SMB2 3.3.5.5.3)', async t => {
  const preauth = Buffer.alloc(64, 9)
  const z = (s: string): Buffer => Buffer.from(s + '\0', 'latin1')
  const k256 = deriveSessionKeys(0x0311, KEY32, preauth, 256)
  const first16 = KEY32.subarray(0, 16)
  t.ok(k256.signingKey.equals(smb3Kdf(first16, z('SMBSigningKey'), preauth)), 'signing: Session.SessionKey, the first 16 bytes')
  t.ok(k256.applicationKey.equals(smb3Kdf(first16, z('SMBAppKey'), preauth)), 'application key: the first 16 bytes')
  t.ok(k256.encryptionKey!.equals(smb3Kdf(KEY32, z('SMBS2CCipherKey'), preauth, 256)), 'AES-256: all 32 bytes (FullSessionKey)')
  t.ok(k256.decryptionKey!.equals(smb3Kdf(KEY32, z('SMBC2SCipherKey'), preauth, 256)))
  t.equal(k256.encryptionKey!.length, 32)
  const k128 = deriveSessionKeys(0x0311, KEY32, preauth, 128)
  t.ok(k128.encryptionKey!.equals(smb3Kdf(first16, z('SMBS2CCipherKey'), preauth)), 'AES-128: the first 16 bytes')
  t.ok(k128.signingKey.equals(k256.signingKey), 'signing is the same whatever the cipher')
  const k21 = deriveSessionKeys(0x0210, KEY32, undefined)
  t.ok(k21.signingKey.equals(first16), 'SMB 2.x signs with the first 16 bytes')
  const short = deriveSessionKeys(0x0210, Buffer.alloc(8, 7), undefined)
  t.ok(short.signingKey.equals(Buffer.concat([Buffer.alloc(8, 7), Buffer.alloc(8)])), 'a shorter key is zero-padded to 16')
})
