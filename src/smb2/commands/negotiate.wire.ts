// MS-SMB2 2.2.3 NEGOTIATE Request, 2.2.3.1 contexts, 2.2.4 NEGOTIATE Response.
import { Command, Dialect, HeaderFlags, NegotiateContextType, SMB2_HEADER_SIZE, SMB2_MAGIC } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'

export interface NegotiateContext { type: number, data: Buffer }

/**
 * What a request's negotiate context says, for the types smbts reads (MS-SMB2 2.2.3.1.x), each
 * checked against its DataLength; `ids` is the context's list (hash algorithms, ciphers,
 * compression algorithms, RDMA transforms, signing algorithms).
 */
export type NegotiateContextValue =
  | { type: NegotiateContextType.PREAUTH_INTEGRITY_CAPABILITIES, ids: number[], salt: Buffer }
  | { type: NegotiateContextType.ENCRYPTION_CAPABILITIES | NegotiateContextType.SIGNING_CAPABILITIES, ids: number[] }
  | { type: NegotiateContextType.COMPRESSION_CAPABILITIES, ids: number[], flags: number }
  | { type: NegotiateContextType.RDMA_TRANSFORM_CAPABILITIES, ids: number[] }
  | { type: NegotiateContextType.NETNAME_NEGOTIATE_CONTEXT_ID, netName: string }
  | { type: NegotiateContextType.TRANSPORT_CAPABILITIES, flags: number }
  | { type: NegotiateContextType.POSIX_EXTENSIONS_AVAILABLE, ids: Buffer[] }

export interface RequestNegotiateContext extends NegotiateContext {
  /** Undefined for a type smbts does not know (MS-SMB2 3.3.5.4: ignored). */
  value?: NegotiateContextValue
}

export interface NegotiateRequest {
  securityMode: number
  capabilities: number
  clientGuid: Buffer
  dialects: number[]
  contexts: RequestNegotiateContext[]
}

const bad = (why: string): NtStatusError => new NtStatusError(NtStatus.INVALID_PARAMETER, `NEGOTIATE: ${why}`)

/** `msg` starts at the SMB2 header; offsets in the request are relative to it. */
export function decodeNegotiateRequest (msg: Buffer): NegotiateRequest {
  const b = 64
  if (msg.length < b + 36) throw bad('short body')
  const dialectCount = msg.readUInt16LE(b + 2)
  if (dialectCount === 0) throw bad('no dialects')
  if (b + 36 + dialectCount * 2 > msg.length) throw bad('dialects past the end')
  const dialects: number[] = []
  for (let i = 0; i < dialectCount; i++) dialects.push(msg.readUInt16LE(b + 36 + i * 2))
  const contexts: RequestNegotiateContext[] = []
  if (dialects.includes(Dialect.SMB3_11)) {
    const ctxOff = msg.readUInt32LE(b + 28)
    const ctxCount = msg.readUInt16LE(b + 32)
    // A NegotiateContextOffset past the message (up to 2^32-1) must fail here: aligning it with
    // 32-bit `& ~7` would wrap negative and index before the buffer.
    if (ctxCount > 0 && ctxOff > msg.length) throw bad('contexts past the end')
    // MS-SMB2 2.2.3: the list follows the Dialects array; one that overlaps it or the fixed part is
    // no list.
    if (ctxCount > 0 && ctxOff < b + 36 + dialectCount * 2) throw bad('contexts overlap the dialects')
    let off = ctxOff
    for (let i = 0; i < ctxCount; i++) {
      off += (8 - (off % 8)) % 8 // MS-SMB2 2.2.3.1: each context starts 8-byte aligned
      if (off + 8 > msg.length) throw bad('context header past the end')
      const type = msg.readUInt16LE(off)
      const len = msg.readUInt16LE(off + 2)
      if (off + 8 + len > msg.length) throw bad('context data past the end')
      const data = msg.subarray(off + 8, off + 8 + len)
      contexts.push({ type, data, value: decodeContextData(type, data) })
      off += 8 + len
    }
  }
  return {
    securityMode: msg.readUInt16LE(b + 4),
    capabilities: msg.readUInt32LE(b + 8),
    clientGuid: Buffer.from(msg.subarray(b + 12, b + 28)),
    dialects,
    contexts,
  }
}

/** `count` 16-bit ids at `off` of `data`; the count must be non-zero and the ids present. */
function idList (data: Buffer, off: number, count: number, what: string): number[] {
  if (count === 0) throw bad(`${what}: count 0`)
  if (off + count * 2 > data.length) throw bad(`${what}: ${count} ids in ${data.length - off} bytes`)
  const ids = new Array<number>(count)
  for (let i = 0; i < count; i++) ids[i] = data.readUInt16LE(off + i * 2)
  return ids
}

/**
 * MS-SMB2 2.2.3.1.x: the Data of one negotiate context, every count and length inside it checked
 * against the DataLength the context has (MS-SMB2 3.3.5.4: STATUS_INVALID_PARAMETER otherwise).
 * An unknown type is ignored (undefined).
 */
export function decodeContextData (type: number, data: Buffer): NegotiateContextValue | undefined {
  const need = (n: number, what: string): void => { if (data.length < n) throw bad(`${what}: DataLength ${data.length} < ${n}`) }
  switch (type) {
    case NegotiateContextType.PREAUTH_INTEGRITY_CAPABILITIES: {
      // 2.2.3.1.1: HashAlgorithmCount (> 0), SaltLength, HashAlgorithms, Salt.
      need(4, 'preauth context')
      const count = data.readUInt16LE(0)
      const saltLength = data.readUInt16LE(2)
      const ids = idList(data, 4, count, 'preauth context')
      const saltOff = 4 + count * 2
      if (saltOff + saltLength > data.length) throw bad(`preauth context: SaltLength ${saltLength} past DataLength ${data.length}`)
      return { type, ids, salt: data.subarray(saltOff, saltOff + saltLength) }
    }
    case NegotiateContextType.ENCRYPTION_CAPABILITIES:
    case NegotiateContextType.SIGNING_CAPABILITIES: {
      // 2.2.3.1.2 CipherCount, 2.2.3.1.7 SigningAlgorithmCount (> 0), then the ids.
      const what = type === NegotiateContextType.ENCRYPTION_CAPABILITIES ? 'encryption context' : 'signing context'
      need(2, what)
      return { type, ids: idList(data, 2, data.readUInt16LE(0), what) }
    }
    case NegotiateContextType.COMPRESSION_CAPABILITIES: {
      // 2.2.3.1.3: CompressionAlgorithmCount (> 0, 3.3.5.4), Padding, Flags, the algorithms.
      need(8, 'compression context')
      return { type, ids: idList(data, 8, data.readUInt16LE(0), 'compression context'), flags: data.readUInt32LE(4) }
    }
    case NegotiateContextType.RDMA_TRANSFORM_CAPABILITIES: {
      // 2.2.3.1.6: TransformCount (> 0), Reserved1, Reserved2, the transform ids.
      need(8, 'RDMA transform context')
      return { type, ids: idList(data, 8, data.readUInt16LE(0), 'RDMA transform context') }
    }
    case NegotiateContextType.NETNAME_NEGOTIATE_CONTEXT_ID:
      // 2.2.3.1.4: NetName, Unicode: whole 16-bit code units.
      if (data.length % 2 !== 0) throw bad(`netname context: odd DataLength ${data.length}`)
      return { type, netName: data.toString('utf16le') }
    case NegotiateContextType.TRANSPORT_CAPABILITIES:
      // 2.2.3.1.5: Flags.
      need(4, 'transport context')
      return { type, flags: data.readUInt32LE(0) }
    case NegotiateContextType.POSIX_EXTENSIONS_AVAILABLE: {
      // SMB 3.1.1 POSIX extensions (Samba smb2_negprot.c): a list of 16-byte identifiers of the
      // variants the client speaks; a length that is no whole list is refused as Samba refuses it.
      if (data.length % 16 !== 0) throw bad(`POSIX extensions context: DataLength ${data.length} not a multiple of 16`)
      const ids: Buffer[] = []
      for (let off = 0; off < data.length; off += 16) ids.push(data.subarray(off, off + 16))
      return { type, ids }
    }
    default:
      return undefined
  }
}

/**
 * The ClientGuid of `frame` when it is a lone SMB2 NEGOTIATE request that carries one (MS-SMB2
 * 2.2.3: all zero when the client offers 2.0.2 only), read without processing it: the transport
 * asks before the request is handled, to serve a client's connections on one worker. Nothing
 * else is checked; the NEGOTIATE itself is, when it is processed.
 */
export function peekNegotiateClientGuid (frame: Buffer): Buffer | undefined {
  const b = SMB2_HEADER_SIZE
  if (frame.length < b + 36 || frame.readUInt32LE(0) !== SMB2_MAGIC || frame.readUInt16LE(4) !== SMB2_HEADER_SIZE ||
    frame.readUInt16LE(12) !== Command.NEGOTIATE || (frame.readUInt32LE(16) & HeaderFlags.SERVER_TO_REDIR) !== 0 ||
    frame.readUInt32LE(20) !== 0) return undefined
  const guid = frame.subarray(b + 12, b + 28)
  return guid.some(x => x !== 0) ? guid : undefined
}

export interface NegotiateResponse {
  securityMode: number
  dialect: number
  serverGuid: Buffer
  capabilities: number
  maxTransactSize: number
  maxReadSize: number
  maxWriteSize: number
  systemTime: bigint
  serverStartTime: bigint
  securityBuffer: Buffer
  contexts: NegotiateContext[]
}

/** The response body (after the header): fixed 64 bytes, security buffer, then 8-aligned contexts. */
export function encodeNegotiateResponse (r: NegotiateResponse): Buffer {
  const secOff = 64 + 64
  let len = 64 + r.securityBuffer.length
  let ctxOff = 0
  if (r.contexts.length > 0) {
    ctxOff = (64 + len + 7) & ~7
    len = ctxOff - 64
    for (let i = 0; i < r.contexts.length; i++) {
      len += 8 + r.contexts[i].data.length
      if (i < r.contexts.length - 1) len = ((len + 64 + 7) & ~7) - 64
    }
  }
  const body = Buffer.alloc(len)
  body.writeUInt16LE(65, 0)
  body.writeUInt16LE(r.securityMode, 2)
  body.writeUInt16LE(r.dialect, 4)
  body.writeUInt16LE(r.contexts.length, 6)
  r.serverGuid.copy(body, 8)
  body.writeUInt32LE(r.capabilities >>> 0, 24)
  body.writeUInt32LE(r.maxTransactSize, 28)
  body.writeUInt32LE(r.maxReadSize, 32)
  body.writeUInt32LE(r.maxWriteSize, 36)
  body.writeBigUInt64LE(r.systemTime, 40)
  body.writeBigUInt64LE(r.serverStartTime, 48)
  body.writeUInt16LE(r.securityBuffer.length > 0 ? secOff : 0, 56)
  body.writeUInt16LE(r.securityBuffer.length, 58)
  body.writeUInt32LE(ctxOff, 60)
  r.securityBuffer.copy(body, 64)
  let off = ctxOff - 64
  for (const c of r.contexts) {
    body.writeUInt16LE(c.type, off)
    body.writeUInt16LE(c.data.length, off + 2)
    c.data.copy(body, off + 8)
    off = ((off + 8 + c.data.length + 64 + 7) & ~7) - 64
  }
  return body
}
