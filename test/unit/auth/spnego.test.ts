import t, { type Test } from 'tap'
import { AuthFormatError } from '../../../src/auth/errors.js'
import {
  decodeOid, encodeInit, encodeMechTypes, encodeOid, encodeResp, negTokenInitForNegotiate, NegState,
  OID_KRB5, OID_MS_KRB5, OID_NTLMSSP, OID_SPNEGO, parseInit, parseResp
} from '../../../src/auth/spnego.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

// From "the anatomy of signing and cryptographic keys", Appendix (SMB 3.1.1 session setup):
// the client's first token, its second (AUTHENTICATE with a mechListMIC) and the server's last.
const WIN_INIT = hex(`604806062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A
04284E544C4D5353500001000000978208E200000000000000000000000000000000060380250000000F`)
const WIN_FINAL = hex('A11B3019A0030A0100A3120410010000003B453CDC3524164200000000')

function expectOnlyAuthFormatError (t: Test, fn: () => unknown, what: string): void {
  try { fn() } catch (e) {
    if (!(e instanceof AuthFormatError)) t.fail(`${what}: threw ${String(e)}`)
  }
}

t.test('OIDs', async (t) => {
  t.equal(encodeOid(OID_SPNEGO).toString('hex'), '06062b0601050502')
  t.equal(encodeOid(OID_NTLMSSP).toString('hex'), '060a2b06010401823702020a')
  t.equal(encodeOid(OID_KRB5).toString('hex'), '06092a864886f712010202')
  t.equal(encodeOid(OID_MS_KRB5).toString('hex'), '06092a864882f712010202')
  for (const o of [OID_SPNEGO, OID_NTLMSSP, OID_KRB5, OID_MS_KRB5, '2.999.1']) t.equal(decodeOid(encodeOid(o).subarray(2)), o)
  t.throws(() => decodeOid(hex('2b86')), AuthFormatError)
})

t.test('negTokenInitForNegotiate', async (t) => {
  const tok = negTokenInitForNegotiate()
  t.equal(tok.toString('hex'), '601c06062b0601050502a0123010a00e300c060a2b06010401823702020a')
  const p = parseInit(tok)
  t.equal(p.kind, 'spnego')
  if (p.kind === 'spnego') t.same(p.mechTypes, [OID_NTLMSSP])
})

t.test('parse a Windows client NegTokenInit', async (t) => {
  const p = parseInit(WIN_INIT)
  if (p.kind !== 'spnego') throw new Error('expected spnego')
  t.same(p.mechTypes, [OID_NTLMSSP])
  t.equal(p.mechTypesDer.toString('hex'), '300c060a2b06010401823702020a')
  t.equal(p.mechToken!.subarray(0, 8).toString('latin1'), 'NTLMSSP\0')
  t.equal(p.mechToken!.length, 40)
  t.equal(p.mechListMIC, undefined)
})

t.test('raw NTLMSSP is accepted as an init token', async (t) => {
  const raw = Buffer.concat([Buffer.from('NTLMSSP\0', 'latin1'), hex('01000000')])
  t.same(parseInit(raw), { kind: 'raw-ntlmssp', mechToken: raw })
})

t.test('NegTokenResp: Windows final token parses and re-encodes byte for byte', async (t) => {
  const r = parseResp(WIN_FINAL)
  t.equal(r.negState, NegState.AcceptCompleted)
  t.equal(r.mechListMIC!.toString('hex'), '010000003b453cdc3524164200000000')
  t.same(encodeResp(r), WIN_FINAL)
})

t.test('DER round trips, including long-form lengths', async (t) => {
  const big = Buffer.alloc(70000, 0x42)
  for (const r of [
    {},
    { negState: NegState.AcceptIncomplete, supportedMech: OID_NTLMSSP, responseToken: Buffer.from('abc') },
    { negState: NegState.Reject },
    { negState: NegState.RequestMic, supportedMech: OID_NTLMSSP },
    { responseToken: big, mechListMIC: Buffer.alloc(16, 9) },
    { responseToken: Buffer.alloc(200, 1) }
  ]) {
    t.same(parseResp(encodeResp(r)), r)
  }
  const init = { mechTypes: [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP], mechToken: Buffer.alloc(300, 3), mechListMIC: Buffer.alloc(16) }
  const p = parseInit(encodeInit(init))
  if (p.kind !== 'spnego') throw new Error('expected spnego')
  t.same(p.mechTypes, init.mechTypes)
  t.same(p.mechToken, init.mechToken)
  t.same(p.mechListMIC, init.mechListMIC)
  t.same(p.mechTypesDer, encodeMechTypes(init.mechTypes))
})

t.test('every truncation and many corruptions throw only AuthFormatError', async (t) => {
  const tokens = [WIN_INIT, WIN_FINAL, negTokenInitForNegotiate(),
    encodeInit({ mechTypes: [OID_KRB5, OID_NTLMSSP], mechToken: Buffer.alloc(200, 5), mechListMIC: Buffer.alloc(16) }),
    encodeResp({ negState: 1, supportedMech: OID_NTLMSSP, responseToken: Buffer.alloc(300, 7), mechListMIC: Buffer.alloc(16) })]
  for (const tok of tokens) {
    for (let n = 0; n < tok.length; n++) {
      const cut = tok.subarray(0, n)
      expectOnlyAuthFormatError(t, () => parseInit(cut), `init ${n}`)
      expectOnlyAuthFormatError(t, () => parseResp(cut), `resp ${n}`)
      if (n > 8) t.throws(() => parseResp(cut), AuthFormatError)
    }
    for (let i = 0; i < tok.length; i++) {
      for (const v of [0x00, 0x80, 0x84, 0xff, 0x1f]) {
        const c = Buffer.from(tok); c[i] = v
        expectOnlyAuthFormatError(t, () => parseInit(c), `init corrupt ${i}`)
        expectOnlyAuthFormatError(t, () => parseResp(c), `resp corrupt ${i}`)
      }
    }
  }
  t.throws(() => parseResp(hex('a180')), AuthFormatError, 'indefinite length')
  t.throws(() => parseResp(Buffer.alloc(0)), AuthFormatError)
})
