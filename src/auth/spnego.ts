// Minimal DER codec for SPNEGO as SMB uses it (RFC 4178, RFC 2743 3.1, MS-SPNG).
// Every read is bounds-checked; any malformed input throws AuthFormatError.
import { AuthFormatError } from './errors.js'
import { NTLMSSP_SIGNATURE } from './ntlmssp.js'

export const OID_SPNEGO = '1.3.6.1.5.5.2'
export const OID_NTLMSSP = '1.3.6.1.4.1.311.2.2.10'
export const OID_KRB5 = '1.2.840.113554.1.2.2'
export const OID_MS_KRB5 = '1.2.840.48018.1.2.2'

/** RFC 4178 4.2.2 negState. */
export const NegState = {
  AcceptCompleted: 0,
  AcceptIncomplete: 1,
  Reject: 2,
  RequestMic: 3
} as const
export type NegStateValue = typeof NegState[keyof typeof NegState]

// DER tags used here (X.690)
const TAG_OID = 0x06
const TAG_OCTET_STRING = 0x04
const TAG_ENUMERATED = 0x0a
const TAG_BIT_STRING = 0x03
const TAG_SEQUENCE = 0x30
const TAG_APPLICATION_0 = 0x60 // GSS-API InitialContextToken (RFC 2743 3.1)
const ctx = (n: number): number => 0xa0 | n // [n] EXPLICIT, constructed

// ---------------------------------------------------------------- DER reading

interface Tlv { tag: number, value: Buffer, /** the whole element, header included */ raw: Buffer, end: number }

function readTlv (buf: Buffer, pos: number): Tlv {
  if (pos + 2 > buf.length) throw new AuthFormatError('DER: truncated header')
  const tag = buf[pos]!
  if ((tag & 0x1f) === 0x1f) throw new AuthFormatError('DER: high tag numbers are not used here')
  let len = buf[pos + 1]!
  let p = pos + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0) throw new AuthFormatError('DER: indefinite length')
    if (n > 4) throw new AuthFormatError('DER: length too large')
    if (p + n > buf.length) throw new AuthFormatError('DER: truncated length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!
    p += n
  }
  if (len > buf.length - p) throw new AuthFormatError('DER: value runs past the end')
  return { tag, value: buf.subarray(p, p + len), raw: buf.subarray(pos, p + len), end: p + len }
}

/** The elements of a constructed value, in order. */
function children (value: Buffer): Tlv[] {
  const out: Tlv[] = []
  let p = 0
  while (p < value.length) {
    const t = readTlv(value, p)
    out.push(t)
    p = t.end
  }
  return out
}

function expect (t: Tlv, tag: number, what: string): Tlv {
  if (t.tag !== tag) throw new AuthFormatError(`DER: ${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`)
  return t
}

/** A single element filling the whole of `buf` (the content of an explicit tag). */
function only (buf: Buffer, tag: number, what: string): Tlv {
  const t = readTlv(buf, 0)
  if (t.end !== buf.length) throw new AuthFormatError(`DER: ${what}: trailing bytes`)
  return expect(t, tag, what)
}

export function decodeOid (value: Buffer): string {
  if (value.length === 0) throw new AuthFormatError('DER: empty OID')
  const arcs: number[] = []
  let acc = 0
  let started = false
  for (let i = 0; i < value.length; i++) {
    const b = value[i]!
    if (!started && b === 0x80) throw new AuthFormatError('DER: OID arc with leading zero')
    started = true
    acc = acc * 128 + (b & 0x7f)
    if (acc > Number.MAX_SAFE_INTEGER / 256) throw new AuthFormatError('DER: OID arc too large')
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = acc < 80 ? Math.floor(acc / 40) : 2
        arcs.push(first, acc - first * 40)
      } else arcs.push(acc)
      acc = 0
      started = false
    }
  }
  if (started) throw new AuthFormatError('DER: truncated OID')
  return arcs.join('.')
}

// ---------------------------------------------------------------- DER writing

function encodeLength (n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function tlv (tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body])
}

export function encodeOid (oid: string): Buffer {
  const arcs = oid.split('.').map((s) => {
    if (!/^\d+$/.test(s)) throw new RangeError(`bad OID ${oid}`)
    return Number(s)
  })
  if (arcs.length < 2) throw new RangeError(`bad OID ${oid}`)
  const bytes: number[] = []
  const push = (v: number): void => {
    const group: number[] = [v & 0x7f]
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) group.unshift(0x80 | (v & 0x7f))
    bytes.push(...group)
  }
  push(arcs[0]! * 40 + arcs[1]!)
  for (const a of arcs.slice(2)) push(a)
  return tlv(TAG_OID, Buffer.from(bytes))
}

/** DER MechTypeList (SEQUENCE OF MechType): also the input of the mechListMIC. */
export function encodeMechTypes (oids: readonly string[]): Buffer {
  return tlv(TAG_SEQUENCE, ...oids.map(encodeOid))
}

// ---------------------------------------------------------------- SPNEGO tokens

/**
 * The server's SMB2 NEGOTIATE security buffer: an InitialContextToken holding a
 * NegTokenInit2 (MS-SPNG 2.2.1) that offers NTLMSSP only. negHints is omitted.
 */
export function negTokenInitForNegotiate (mechs: readonly string[] = [OID_NTLMSSP]): Buffer {
  const negTokenInit = tlv(TAG_SEQUENCE, tlv(ctx(0), encodeMechTypes(mechs)))
  return tlv(TAG_APPLICATION_0, encodeOid(OID_SPNEGO), tlv(ctx(0), negTokenInit))
}

export type InitToken =
  | { kind: 'raw-ntlmssp', mechToken: Buffer }
  | {
    kind: 'spnego'
    mechTypes: string[]
    /** DER of the MechTypeList exactly as the client sent it (the mechListMIC covers it). */
    mechTypesDer: Buffer
    reqFlags?: Buffer
    mechToken?: Buffer
    mechListMIC?: Buffer
  }

/**
 * The client's first SESSION_SETUP token: an InitialContextToken with a NegTokenInit
 * (RFC 4178 4.2.1), a bare NegTokenInit, or a raw NTLMSSP message.
 */
export function parseInit (token: Buffer): InitToken {
  if (token.length >= 8 && token.subarray(0, 8).equals(NTLMSSP_SIGNATURE)) {
    return { kind: 'raw-ntlmssp', mechToken: token }
  }
  const outer = readTlv(token, 0)
  if (outer.end !== token.length) throw new AuthFormatError('SPNEGO: trailing bytes after token')
  let negTokenInit: Tlv
  if (outer.tag === TAG_APPLICATION_0) {
    const parts = children(outer.value)
    if (parts.length !== 2) throw new AuthFormatError('SPNEGO: InitialContextToken must hold mech OID and token')
    if (decodeOid(expect(parts[0]!, TAG_OID, 'thisMech').value) !== OID_SPNEGO) {
      throw new AuthFormatError('SPNEGO: not a SPNEGO token')
    }
    negTokenInit = expect(parts[1]!, ctx(0), 'negTokenInit')
  } else {
    negTokenInit = expect(outer, ctx(0), 'negTokenInit')
  }
  const seq = only(negTokenInit.value, TAG_SEQUENCE, 'NegTokenInit')
  const out: InitToken & { kind: 'spnego' } = { kind: 'spnego', mechTypes: [], mechTypesDer: Buffer.alloc(0) }
  let lastTag = -1
  let sawMechTypes = false
  for (const el of children(seq.value)) {
    if (el.tag <= lastTag) throw new AuthFormatError('SPNEGO: NegTokenInit fields out of order')
    lastTag = el.tag
    switch (el.tag) {
      case ctx(0): {
        const list = only(el.value, TAG_SEQUENCE, 'mechTypes')
        out.mechTypes = children(list.value).map((m) => decodeOid(expect(m, TAG_OID, 'MechType').value))
        out.mechTypesDer = Buffer.from(list.raw)
        sawMechTypes = true
        break
      }
      case ctx(1): out.reqFlags = only(el.value, TAG_BIT_STRING, 'reqFlags').value; break
      case ctx(2): out.mechToken = only(el.value, TAG_OCTET_STRING, 'mechToken').value; break
      case ctx(3): out.mechListMIC = only(el.value, TAG_OCTET_STRING, 'mechListMIC').value; break
      default: throw new AuthFormatError(`SPNEGO: unexpected NegTokenInit field 0x${el.tag.toString(16)}`)
    }
  }
  if (!sawMechTypes) throw new AuthFormatError('SPNEGO: NegTokenInit without mechTypes')
  return out
}

export interface NegTokenResp {
  negState?: NegStateValue
  supportedMech?: string
  responseToken?: Buffer
  mechListMIC?: Buffer
}

/** A NegTokenResp (RFC 4178 4.2.2), the [1]-tagged choice of NegotiationToken. */
export function parseResp (token: Buffer): NegTokenResp {
  const outer = only(token, ctx(1), 'negTokenResp')
  const seq = only(outer.value, TAG_SEQUENCE, 'NegTokenResp')
  const out: NegTokenResp = {}
  let lastTag = -1
  for (const el of children(seq.value)) {
    if (el.tag <= lastTag) throw new AuthFormatError('SPNEGO: NegTokenResp fields out of order')
    lastTag = el.tag
    switch (el.tag) {
      case ctx(0): {
        const v = only(el.value, TAG_ENUMERATED, 'negState').value
        if (v.length !== 1 || v[0]! > 3) throw new AuthFormatError('SPNEGO: bad negState')
        out.negState = v[0] as NegStateValue
        break
      }
      case ctx(1): out.supportedMech = decodeOid(only(el.value, TAG_OID, 'supportedMech').value); break
      case ctx(2): out.responseToken = only(el.value, TAG_OCTET_STRING, 'responseToken').value; break
      case ctx(3): out.mechListMIC = only(el.value, TAG_OCTET_STRING, 'mechListMIC').value; break
      default: throw new AuthFormatError(`SPNEGO: unexpected NegTokenResp field 0x${el.tag.toString(16)}`)
    }
  }
  return out
}

export function encodeResp (r: NegTokenResp): Buffer {
  const fields: Buffer[] = []
  if (r.negState !== undefined) fields.push(tlv(ctx(0), tlv(TAG_ENUMERATED, Buffer.from([r.negState]))))
  if (r.supportedMech !== undefined) fields.push(tlv(ctx(1), encodeOid(r.supportedMech)))
  if (r.responseToken !== undefined) fields.push(tlv(ctx(2), tlv(TAG_OCTET_STRING, r.responseToken)))
  if (r.mechListMIC !== undefined) fields.push(tlv(ctx(3), tlv(TAG_OCTET_STRING, r.mechListMIC)))
  return tlv(ctx(1), tlv(TAG_SEQUENCE, ...fields))
}

/** Client-side helper (tests, tools): NegTokenInit wrapped in an InitialContextToken. */
export function encodeInit (init: { mechTypes: readonly string[], mechToken?: Buffer, mechListMIC?: Buffer }): Buffer {
  const fields = [tlv(ctx(0), encodeMechTypes(init.mechTypes))]
  if (init.mechToken !== undefined) fields.push(tlv(ctx(2), tlv(TAG_OCTET_STRING, init.mechToken)))
  if (init.mechListMIC !== undefined) fields.push(tlv(ctx(3), tlv(TAG_OCTET_STRING, init.mechListMIC)))
  return tlv(TAG_APPLICATION_0, encodeOid(OID_SPNEGO), tlv(ctx(0), tlv(TAG_SEQUENCE, ...fields)))
}
