// Connection-oriented DCE/RPC PDUs (C706 12.6, MS-RPCE 2.2.2): the common header, BIND /
// ALTER_CONTEXT and their answers, REQUEST, RESPONSE and FAULT. Decoders check every length
// against the buffer and throw only RpcPduError.

/** A PDU that does not parse. */
export class RpcPduError extends Error {
  readonly code = 'SMBTS_ERR_RPC_PDU'
  constructor (message: string) {
    super(message)
    this.name = 'RpcPduError'
  }
}

/** C706 12.6.4.1 PTYPE (the connection-oriented ones). */
export const PType = {
  REQUEST: 0,
  RESPONSE: 2,
  FAULT: 3,
  BIND: 11,
  BIND_ACK: 12,
  BIND_NAK: 13,
  ALTER_CONTEXT: 14,
  ALTER_CONTEXT_RESP: 15,
  AUTH3: 16,
  SHUTDOWN: 17,
  CO_CANCEL: 18,
  ORPHANED: 19,
} as const

/** C706 12.6.3.1 pfc_flags; MS-RPCE 2.2.2.3 reuses 0x04 in BIND as PFC_SUPPORT_HEADER_SIGN. */
export const PfcFlags = {
  FIRST_FRAG: 0x01,
  LAST_FRAG: 0x02,
  PENDING_CANCEL: 0x04,
  CONC_MPX: 0x10,
  DID_NOT_EXECUTE: 0x20,
  MAYBE: 0x40,
  OBJECT_UUID: 0x80,
} as const

/** C706 12.6.3.1: rpc_vers 5, rpc_vers_minor 0 (or 1). */
export const RPC_VERS = 5
/** C706 14.1 NDR format label: little-endian integers, ASCII characters, IEEE floats. */
export const DREP_LE = Buffer.from([0x10, 0x00, 0x00, 0x00])
export const COMMON_HEADER_LENGTH = 16
/** REQUEST header: common header, alloc_hint, p_cont_id, opnum (C706 12.6.4.9). */
export const REQUEST_HEADER_LENGTH = 24
/** RESPONSE header: common header, alloc_hint, p_cont_id, cancel_count, reserved (C706 12.6.4.10). */
export const RESPONSE_HEADER_LENGTH = 24
/** C706 12.6.4.3 p_cont_def_result_t. */
export const ContResult = { ACCEPTANCE: 0, USER_REJECTION: 1, PROVIDER_REJECTION: 2, NEGOTIATE_ACK: 3 /* MS-RPCE 2.2.2.4 */ } as const
/** C706 12.6.4.3 p_provider_reason_t. */
export const ProviderReason = {
  NOT_SPECIFIED: 0,
  ABSTRACT_SYNTAX_NOT_SUPPORTED: 1,
  PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED: 2,
  LOCAL_LIMIT_EXCEEDED: 3,
} as const
/** C706 12.6.4.5 p_reject_reason_t (BIND_NAK), MS-RPCE 2.2.2.5 additions. */
export const RejectReason = {
  NOT_SPECIFIED: 0,
  TEMPORARY_CONGESTION: 1,
  LOCAL_LIMIT_EXCEEDED: 2,
  PROTOCOL_VERSION_NOT_SUPPORTED: 4,
  AUTHENTICATION_TYPE_NOT_RECOGNIZED: 8,
  INVALID_CHECKSUM: 9,
} as const
/** C706 appendix E / MS-RPCE 3.1.1.5.5 fault status codes. */
export const FaultStatus = {
  OP_RNG_ERROR: 0x1c010002, // nca_s_op_rng_error: opnum out of range
  UNKNOWN_IF: 0x1c010003, // nca_s_unknown_if: no such presentation context
  PROTO_ERROR: 0x1c01000b, // nca_s_proto_error
  FAULT_NDR: 0x000006f7, // RPC_X_BAD_STUB_DATA (nca_s_fault_ndr as Windows reports it)
  FAULT_REMOTE_NO_MEMORY: 0x1c000007,
  ACCESS_DENIED: 0x00000005,
  /** nca_s_fault_unspec: the call failed for a reason of the server's (the data plane did not answer). */
  FAULT_UNSPEC: 0x1c000012,
} as const

export interface SyntaxId { uuid: string, version: number /* major in low 16 bits, minor in high */ }

/** NDR 2.0 transfer syntax (C706 appendix I). */
export const NDR20: SyntaxId = { uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2 }
/** NDR64 transfer syntax (MS-RPCE 2.2.5.2). */
export const NDR64: SyntaxId = { uuid: '71710533-beba-4937-8319-b5dbef9ccc36', version: 1 }
/** MS-RPCE 3.3.1.5.3: bind time feature negotiation: this prefix, the last 8 bytes carry the bitmask. */
export const BIND_TIME_FEATURE_PREFIX = '6cb71c2c-9812-4540-'

export interface CommonHeader {
  rpcVers: number
  rpcVersMinor: number
  ptype: number
  pfcFlags: number
  drep: Buffer
  fragLength: number
  authLength: number
  callId: number
}

// ---- UUIDs (MS-DTYP 2.3.4.2: Data1..3 little-endian, Data4 as bytes) ----

export function uuidToBytes (uuid: string): Buffer {
  const hex = uuid.replaceAll('-', '')
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RpcPduError(`bad UUID ${uuid}`)
  const b = Buffer.from(hex, 'hex')
  const out = Buffer.alloc(16)
  out.writeUInt32LE(b.readUInt32BE(0), 0)
  out.writeUInt16LE(b.readUInt16BE(4), 4)
  out.writeUInt16LE(b.readUInt16BE(6), 6)
  b.copy(out, 8, 8, 16)
  return out
}

export function uuidFromBytes (b: Buffer, off: number): string {
  const h = (n: number, w: number): string => n.toString(16).padStart(w, '0')
  const tail = b.subarray(off + 8, off + 16).toString('hex')
  return `${h(b.readUInt32LE(off), 8)}-${h(b.readUInt16LE(off + 4), 4)}-${h(b.readUInt16LE(off + 6), 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`
}

// ---- common header ----

function need (buf: Buffer, end: number, what: string): void {
  if (end > buf.length) throw new RpcPduError(`${what}: needs ${end} bytes, PDU has ${buf.length}`)
}

/** Decodes and checks the 16-byte common header (C706 12.6.3.1). */
export function decodeCommonHeader (buf: Buffer): CommonHeader {
  need(buf, COMMON_HEADER_LENGTH, 'common header')
  const h: CommonHeader = {
    rpcVers: buf[0],
    rpcVersMinor: buf[1],
    ptype: buf[2],
    pfcFlags: buf[3],
    drep: buf.subarray(4, 8),
    fragLength: buf.readUInt16LE(8),
    authLength: buf.readUInt16LE(10),
    callId: buf.readUInt32LE(12),
  }
  if (h.rpcVers !== RPC_VERS) throw new RpcPduError(`rpc_vers ${h.rpcVers}`)
  if (h.fragLength < COMMON_HEADER_LENGTH) throw new RpcPduError(`frag_length ${h.fragLength} < 16`)
  // Only little-endian integers are accepted; every client we serve sends them.
  if ((h.drep[0] & 0xf0) !== 0x10) throw new RpcPduError('big-endian data representation')
  return h
}

function encodeCommonHeader (out: Buffer, ptype: number, pfcFlags: number, callId: number): void {
  out[0] = RPC_VERS
  out[1] = 0
  out[2] = ptype
  out[3] = pfcFlags
  DREP_LE.copy(out, 4)
  out.writeUInt16LE(out.length, 8)
  out.writeUInt16LE(0, 10) // auth_length: no security providers
  out.writeUInt32LE(callId >>> 0, 12)
}

// ---- BIND / ALTER_CONTEXT (C706 12.6.4.3, 12.6.4.1) ----

export interface PresentationContext {
  contextId: number
  abstractSyntax: SyntaxId
  transferSyntaxes: SyntaxId[]
}

export interface BindPdu {
  header: CommonHeader
  maxXmitFrag: number
  maxRecvFrag: number
  assocGroupId: number
  contexts: PresentationContext[]
}

function readSyntax (buf: Buffer, off: number): SyntaxId {
  return { uuid: uuidFromBytes(buf, off), version: buf.readUInt32LE(off + 16) }
}

/** BIND and ALTER_CONTEXT share a body. */
export function decodeBind (buf: Buffer): BindPdu {
  const header = decodeCommonHeader(buf)
  if (header.ptype !== PType.BIND && header.ptype !== PType.ALTER_CONTEXT) throw new RpcPduError(`PTYPE ${header.ptype} is not BIND/ALTER_CONTEXT`)
  need(buf, header.fragLength, 'BIND')
  if (header.authLength + 8 > header.fragLength) throw new RpcPduError('auth_length larger than the PDU')
  const end = header.authLength > 0 ? header.fragLength - header.authLength - 8 : header.fragLength
  if (end < 28) throw new RpcPduError('BIND body truncated')
  const pdu: BindPdu = {
    header,
    maxXmitFrag: buf.readUInt16LE(16),
    maxRecvFrag: buf.readUInt16LE(18),
    assocGroupId: buf.readUInt32LE(20),
    contexts: [],
  }
  const n = buf[24]
  let off = 28
  for (let i = 0; i < n; i++) {
    if (off + 24 > end) throw new RpcPduError('presentation context truncated')
    const contextId = buf.readUInt16LE(off)
    const nTransfer = buf[off + 2]
    const abstractSyntax = readSyntax(buf, off + 4)
    off += 24
    if (off + nTransfer * 20 > end) throw new RpcPduError('transfer syntaxes truncated')
    const transferSyntaxes: SyntaxId[] = []
    for (let j = 0; j < nTransfer; j++, off += 20) transferSyntaxes.push(readSyntax(buf, off))
    pdu.contexts.push({ contextId, abstractSyntax, transferSyntaxes })
  }
  return pdu
}

export interface ContextResult {
  result: number
  reason: number
  transferSyntax: SyntaxId
}

export interface BindAck {
  ptype: typeof PType.BIND_ACK | typeof PType.ALTER_CONTEXT_RESP
  callId: number
  maxXmitFrag: number
  maxRecvFrag: number
  assocGroupId: number
  /** The secondary address (port_spec), e.g. `\PIPE\srvsvc`; empty in ALTER_CONTEXT_RESP. */
  secondaryAddress: string
  results: ContextResult[]
}

const NULL_SYNTAX: SyntaxId = { uuid: '00000000-0000-0000-0000-000000000000', version: 0 }
export { NULL_SYNTAX }

/** BIND_ACK / ALTER_CONTEXT_RESP (C706 12.6.4.4, 12.6.4.2). */
export function encodeBindAck (a: BindAck): Buffer {
  const addr = a.secondaryAddress === '' ? Buffer.alloc(0) : Buffer.from(a.secondaryAddress + '\0', 'latin1')
  let off = 24 + 2 + addr.length
  off = (off + 3) & ~3 // p_result_list is 4-aligned from the PDU start
  const out = Buffer.alloc(off + 4 + a.results.length * 24)
  encodeCommonHeader(out, a.ptype, PfcFlags.FIRST_FRAG | PfcFlags.LAST_FRAG, a.callId)
  out.writeUInt16LE(a.maxXmitFrag, 16)
  out.writeUInt16LE(a.maxRecvFrag, 18)
  out.writeUInt32LE(a.assocGroupId >>> 0, 20)
  out.writeUInt16LE(addr.length, 24)
  addr.copy(out, 26)
  out[off] = a.results.length
  off += 4
  for (const r of a.results) {
    out.writeUInt16LE(r.result, off)
    out.writeUInt16LE(r.reason, off + 2)
    uuidToBytes(r.transferSyntax.uuid).copy(out, off + 4)
    out.writeUInt32LE(r.transferSyntax.version >>> 0, off + 20)
    off += 24
  }
  return out
}

/** BIND_NAK (C706 12.6.4.5): the reason, then the protocol versions supported (5.0). */
export function encodeBindNak (callId: number, reason: number): Buffer {
  const out = Buffer.alloc(16 + 2 + 1 + 2)
  encodeCommonHeader(out, PType.BIND_NAK, PfcFlags.FIRST_FRAG | PfcFlags.LAST_FRAG, callId)
  out.writeUInt16LE(reason, 16)
  out[18] = 1
  out[19] = RPC_VERS
  out[20] = 0
  return out
}

// ---- REQUEST / RESPONSE / FAULT (C706 12.6.4.9, 12.6.4.10, 12.6.4.7) ----

export interface RequestPdu {
  header: CommonHeader
  allocHint: number
  contextId: number
  opnum: number
  object?: string
  stub: Buffer
}

export function decodeRequest (buf: Buffer): RequestPdu {
  const header = decodeCommonHeader(buf)
  if (header.ptype !== PType.REQUEST) throw new RpcPduError(`PTYPE ${header.ptype} is not REQUEST`)
  need(buf, header.fragLength, 'REQUEST')
  let off = REQUEST_HEADER_LENGTH
  if (header.fragLength < off) throw new RpcPduError('REQUEST header truncated')
  let object: string | undefined
  if (header.pfcFlags & PfcFlags.OBJECT_UUID) {
    if (header.fragLength < off + 16) throw new RpcPduError('object UUID truncated')
    object = uuidFromBytes(buf, off)
    off += 16
  }
  let end = header.fragLength
  if (header.authLength > 0) {
    // sec_trailer (8 bytes) + auth_value close the PDU (C706 13.2.6.1).
    end -= header.authLength + 8
    if (end < off) throw new RpcPduError('auth trailer overlaps the REQUEST header')
    end -= buf[end + 2] // auth_pad_length
    if (end < off) throw new RpcPduError('auth padding overlaps the REQUEST header')
  }
  return {
    header,
    allocHint: buf.readUInt32LE(16),
    contextId: buf.readUInt16LE(20),
    opnum: buf.readUInt16LE(22),
    object,
    stub: buf.subarray(off, end),
  }
}

/** One RESPONSE fragment carrying `stub` (C706 12.6.4.10). */
export function encodeResponse (callId: number, contextId: number, allocHint: number, stub: Buffer, pfcFlags: number): Buffer {
  const out = Buffer.alloc(RESPONSE_HEADER_LENGTH + stub.length)
  encodeCommonHeader(out, PType.RESPONSE, pfcFlags, callId)
  out.writeUInt32LE(allocHint >>> 0, 16)
  out.writeUInt16LE(contextId, 20)
  stub.copy(out, 24)
  return out
}

/**
 * A whole response cut into fragments no longer than maxFrag (C706 12.6.4.10 / 12.4.2.5): every
 * fragment but the last carries a multiple of 8 stub bytes; alloc_hint is what remains.
 */
export function encodeResponseFragments (callId: number, contextId: number, stub: Buffer, maxFrag: number): Buffer[] {
  const room = Math.max(8, (maxFrag - RESPONSE_HEADER_LENGTH) & ~7)
  const frags: Buffer[] = []
  let off = 0
  do {
    const n = Math.min(room, stub.length - off)
    let flags = 0
    if (off === 0) flags |= PfcFlags.FIRST_FRAG
    if (off + n >= stub.length) flags |= PfcFlags.LAST_FRAG
    frags.push(encodeResponse(callId, contextId, stub.length - off, stub.subarray(off, off + n), flags))
    off += n
  } while (off < stub.length)
  return frags
}

/** FAULT (C706 12.6.4.7): alloc_hint, p_cont_id, cancel_count, reserved, status, reserved. */
export function encodeFault (callId: number, contextId: number, status: number, didNotExecute: boolean): Buffer {
  const out = Buffer.alloc(32)
  encodeCommonHeader(out, PType.FAULT, PfcFlags.FIRST_FRAG | PfcFlags.LAST_FRAG | (didNotExecute ? PfcFlags.DID_NOT_EXECUTE : 0), callId)
  out.writeUInt32LE(32, 16)
  out.writeUInt16LE(contextId, 20)
  out.writeUInt32LE(status >>> 0, 24)
  return out
}

// ---- encoders of client PDUs (tests, and a reference for the wire layout) ----

export function encodeBind (p: { ptype?: number, callId: number, maxXmitFrag: number, maxRecvFrag: number, assocGroupId: number, contexts: PresentationContext[] }): Buffer {
  const size = 28 + p.contexts.reduce((s, c) => s + 24 + 20 * c.transferSyntaxes.length, 0)
  const out = Buffer.alloc(size)
  encodeCommonHeader(out, p.ptype ?? PType.BIND, PfcFlags.FIRST_FRAG | PfcFlags.LAST_FRAG, p.callId)
  out.writeUInt16LE(p.maxXmitFrag, 16)
  out.writeUInt16LE(p.maxRecvFrag, 18)
  out.writeUInt32LE(p.assocGroupId >>> 0, 20)
  out[24] = p.contexts.length
  let off = 28
  for (const c of p.contexts) {
    out.writeUInt16LE(c.contextId, off)
    out[off + 2] = c.transferSyntaxes.length
    uuidToBytes(c.abstractSyntax.uuid).copy(out, off + 4)
    out.writeUInt32LE(c.abstractSyntax.version >>> 0, off + 20)
    off += 24
    for (const t of c.transferSyntaxes) {
      uuidToBytes(t.uuid).copy(out, off)
      out.writeUInt32LE(t.version >>> 0, off + 16)
      off += 20
    }
  }
  return out
}

export function encodeRequest (p: { callId: number, contextId: number, opnum: number, stub: Buffer, pfcFlags?: number, allocHint?: number }): Buffer {
  const out = Buffer.alloc(REQUEST_HEADER_LENGTH + p.stub.length)
  encodeCommonHeader(out, PType.REQUEST, p.pfcFlags ?? (PfcFlags.FIRST_FRAG | PfcFlags.LAST_FRAG), p.callId)
  out.writeUInt32LE((p.allocHint ?? p.stub.length) >>> 0, 16)
  out.writeUInt16LE(p.contextId, 20)
  out.writeUInt16LE(p.opnum, 22)
  p.stub.copy(out, 24)
  return out
}

export interface DecodedBindAck extends BindAck { header: CommonHeader }

export function decodeBindAck (buf: Buffer): DecodedBindAck {
  const header = decodeCommonHeader(buf)
  need(buf, header.fragLength, 'BIND_ACK')
  need(buf, 26, 'BIND_ACK')
  const addrLen = buf.readUInt16LE(24)
  let off = (26 + addrLen + 3) & ~3
  need(buf, off + 4, 'BIND_ACK result list')
  const n = buf[off]
  off += 4
  need(buf, off + n * 24, 'BIND_ACK results')
  const results: ContextResult[] = []
  for (let i = 0; i < n; i++, off += 24) results.push({ result: buf.readUInt16LE(off), reason: buf.readUInt16LE(off + 2), transferSyntax: readSyntax(buf, off + 4) })
  return {
    header,
    ptype: header.ptype as BindAck['ptype'],
    callId: header.callId,
    maxXmitFrag: buf.readUInt16LE(16),
    maxRecvFrag: buf.readUInt16LE(18),
    assocGroupId: buf.readUInt32LE(20),
    secondaryAddress: buf.toString('latin1', 26, 26 + Math.max(0, addrLen - 1)),
    results,
  }
}
