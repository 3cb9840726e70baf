import t from 'tap'
import { ntHash } from '../../../src/crypto/md4.js'
import { SpnegoServer } from '../../../src/auth/spnego-server.js'
import type { NtlmServerOptions } from '../../../src/auth/ntlmssp.js'
import { encodeInit, encodeMechTypes, encodeResp, NegState, OID_KRB5, OID_MS_KRB5, OID_NTLMSSP, parseResp } from '../../../src/auth/spnego.js'
import { authenticateMessage, negotiateMessage, ntlmMac, type ClientOptions } from '../../helpers/ntlm-client.js'

const opts = (): NtlmServerOptions => ({
  netbiosName: 'SMBTS',
  dnsName: 'smbts.local',
  netbiosDomain: 'WORKGROUP',
  dnsDomain: 'local',
  lookup: (u) => u === 'bob' ? ntHash('hunter2') : undefined
})
const BOB: ClientOptions = { user: 'Bob', domain: 'WORKGROUP', password: 'hunter2', randomSessionKey: Buffer.alloc(16, 0x3c), withMic: true }

interface Run { server: SpnegoServer, negotiate: Buffer, challenge: Buffer, mechTypes: string[] }
function firstLeg (mechTypes = [OID_NTLMSSP]): Run {
  const server = new SpnegoServer(opts())
  const negotiate = negotiateMessage()
  const s1 = server.step(encodeInit({ mechTypes, mechToken: negotiate }))
  if (s1.state !== 'more') throw new Error('expected more')
  const r1 = parseResp(s1.token)
  if (r1.negState !== NegState.AcceptIncomplete || r1.supportedMech !== OID_NTLMSSP || r1.responseToken === undefined) throw new Error('bad first reply')
  return { server, negotiate, challenge: r1.responseToken, mechTypes }
}

t.test('SPNEGO round trip with mechListMIC in both directions', async (t) => {
  const { server, negotiate, challenge, mechTypes } = firstLeg()
  const a = authenticateMessage(BOB, negotiate, challenge)
  const mechTypesDer = encodeMechTypes(mechTypes)
  const clientMic = ntlmMac(a.exportedSessionKey, 'client-to-server', 0, mechTypesDer)
  const s2 = server.step(encodeResp({ responseToken: a.message, mechListMIC: clientMic }))
  if (s2.state !== 'done') throw new Error(`expected done, got ${JSON.stringify(s2)}`)
  t.same(s2.result, { user: 'Bob', domain: 'WORKGROUP', workstation: 'COMPUTER', anonymous: false, sessionKey: Buffer.alloc(16, 0x3c) })
  const r2 = parseResp(s2.token)
  t.equal(r2.negState, NegState.AcceptCompleted)
  t.same(r2.mechListMIC, ntlmMac(a.exportedSessionKey, 'server-to-client', 0, mechTypesDer), 'server MIC verifies on the client')
  t.equal(server.step(Buffer.alloc(0)).state, 'failed', 'a finished exchange stays finished')
})

t.test('a bad client mechListMIC is refused', async (t) => {
  const { server, negotiate, challenge } = firstLeg()
  const a = authenticateMessage(BOB, negotiate, challenge)
  const s2 = server.step(encodeResp({ responseToken: a.message, mechListMIC: Buffer.alloc(16, 1) }))
  t.equal(s2.state, 'failed')
  if (s2.state === 'failed') {
    t.equal(s2.reason, 'mic-mismatch')
    t.equal(parseResp(s2.token!).negState, NegState.Reject)
  }
})

t.test('NTLM MIC without mechListMIC: server still sends its MIC', async (t) => {
  const { server, negotiate, challenge } = firstLeg()
  const a = authenticateMessage(BOB, negotiate, challenge)
  const s2 = server.step(encodeResp({ responseToken: a.message }))
  if (s2.state !== 'done') throw new Error('expected done')
  t.ok(parseResp(s2.token).mechListMIC)
  // without any MIC, a plain accept-completed
  const b = firstLeg()
  const a2 = authenticateMessage({ ...BOB, withMic: false }, b.negotiate, b.challenge)
  const s3 = b.server.step(encodeResp({ responseToken: a2.message }))
  if (s3.state !== 'done') throw new Error('expected done')
  t.same(parseResp(s3.token), { negState: NegState.AcceptCompleted })
})

t.test('wrong password and unknown user fail with a reject token', async (t) => {
  for (const [o, reason] of [[{ ...BOB, password: 'nope' }, 'wrong-password'], [{ ...BOB, user: 'eve' }, 'no-such-user']] as const) {
    const { server, negotiate, challenge } = firstLeg()
    const a = authenticateMessage(o, negotiate, challenge)
    const s = server.step(encodeResp({ responseToken: a.message }))
    t.equal(s.state, 'failed')
    if (s.state === 'failed') {
      t.equal(s.reason, reason)
      t.equal(parseResp(s.token!).negState, NegState.Reject)
    }
  }
})

t.test('raw NTLMSSP is answered in raw NTLMSSP', async (t) => {
  const server = new SpnegoServer(opts())
  const negotiate = negotiateMessage()
  const s1 = server.step(negotiate)
  if (s1.state !== 'more') throw new Error('expected more')
  t.equal(s1.token.subarray(0, 8).toString('latin1'), 'NTLMSSP\0')
  const a = authenticateMessage(BOB, negotiate, s1.token)
  const s2 = server.step(a.message)
  if (s2.state !== 'done') throw new Error('expected done')
  t.equal(s2.token.length, 0)
  t.equal(s2.result.user, 'Bob')
})

t.test('Kerberos preferred: NTLMSSP selected with request-mic, MICs required', async (t) => {
  const server = new SpnegoServer(opts())
  const mechTypes = [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP]
  const s1 = server.step(encodeInit({ mechTypes, mechToken: Buffer.from('a kerberos AP-REQ') }))
  if (s1.state !== 'more') throw new Error('expected more')
  t.same(parseResp(s1.token), { negState: NegState.RequestMic, supportedMech: OID_NTLMSSP })
  const negotiate = negotiateMessage()
  const s2 = server.step(encodeResp({ responseToken: negotiate }))
  if (s2.state !== 'more') throw new Error('expected more')
  const challenge = parseResp(s2.token).responseToken!
  const a = authenticateMessage({ ...BOB, withMic: false }, negotiate, challenge)
  const der = encodeMechTypes(mechTypes)
  const s3 = server.step(encodeResp({ responseToken: a.message, mechListMIC: ntlmMac(a.exportedSessionKey, 'client-to-server', 0, der) }))
  if (s3.state !== 'done') throw new Error(`expected done, got ${JSON.stringify(s3)}`)
  t.same(parseResp(s3.token).mechListMIC, ntlmMac(a.exportedSessionKey, 'server-to-client', 0, der))
})

t.test('no NTLMSSP in the mech list: rejected', async (t) => {
  const s = new SpnegoServer(opts()).step(encodeInit({ mechTypes: [OID_KRB5] }))
  t.equal(s.state, 'failed')
  if (s.state === 'failed') t.equal(s.reason, 'mechanism-unsupported')
})

t.test('every truncation of every client token gives a failed step, never a throw', async (t) => {
  const { negotiate, challenge, mechTypes } = firstLeg()
  const init = encodeInit({ mechTypes, mechToken: negotiate })
  const a = authenticateMessage(BOB, negotiate, challenge)
  const resp = encodeResp({ responseToken: a.message, mechListMIC: ntlmMac(a.exportedSessionKey, 'client-to-server', 0, encodeMechTypes(mechTypes)) })
  for (let n = 1; n < init.length; n++) {
    const s = new SpnegoServer(opts()).step(init.subarray(0, n))
    if (s.state !== 'failed') t.fail(`init cut at ${n}: ${s.state}`)
  }
  for (let n = 0; n < resp.length; n++) {
    // replay the same first leg (fixed server challenge) so that only the cut differs
    const server = new SpnegoServer({ ...opts(), randomBytes: (k) => Buffer.alloc(k, 0x11) })
    server.step(init)
    const s = server.step(resp.subarray(0, n))
    if (s.state !== 'failed') t.fail(`resp cut at ${n}: ${s.state}`)
  }
  t.pass('all truncations failed cleanly')
})
