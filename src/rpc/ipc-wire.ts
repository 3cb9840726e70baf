// The message format between the data plane and the RPC process (src/rpc/host.ts ⇄
// src/rpc/child.ts), over the socket pair the data plane makes when it starts the RPC process.
// Small on purpose: each side treats the other as untrusted input, so every frame is
// length-checked before it is looked at, and anything that does not decode ends the link (the
// data plane then restarts the RPC process; the RPC process exits).
//
// Frame (little-endian):
//   u32 length      bytes that follow this field (8 + payload), 8..MAX_FRAME
//   u8  version     IPC_VERSION; another version is refused, not guessed at
//   u8  type        IpcType
//   u16 flags       0 (reserved)
//   u32 id          the pipe handle (OPEN..CLOSE) or the question id (ASK/ANSWER)
//   ... payload

export const IPC_VERSION = 1
/** Bytes of a frame's header, its length field included. */
export const IPC_HEADER = 12
/** Largest payload either side sends: a pipe write is cut into DATA_IN frames of this size. */
export const IPC_MAX_PAYLOAD = 256 * 1024
const MAX_FRAME = IPC_MAX_PAYLOAD + 8

export const IpcType = {
  /** rpc → data plane, once, first: JSON of what the process dropped (IpcHello). */
  HELLO: 1,
  /** data plane → rpc: open a pipe; payload str(name) str(user). */
  OPEN: 2,
  /** rpc → data plane: u32 OpenStatus, str(canonical name). */
  OPEN_REPLY: 3,
  /** data plane → rpc: bytes the client wrote to the pipe. */
  DATA_IN: 4,
  /** rpc → data plane: one message (an RPC PDU) for the client to read. */
  DATA_OUT: 5,
  /** rpc → data plane: the DATA_IN is processed; u32 flags (DONE_BROKEN). */
  DATA_DONE: 6,
  /** data plane → rpc: the client closed the pipe. No reply. */
  CLOSE: 7,
  /** rpc → data plane: a question (JSON IpcQuestion). */
  ASK: 8,
  /** data plane → rpc: its answer (JSON), or an error ({ error }). */
  ANSWER: 9,
  /** rpc → data plane: u8 level (IpcLogLevel), a log line (UTF-8). */
  LOG: 10,
} as const

export const OpenStatus = { OK: 0, NOT_FOUND: 1 } as const
/** DATA_DONE flag: the pipe is broken (framing lost or closed); later writes fail. */
export const DONE_BROKEN = 0x1
export const IpcLogLevel = { ERROR: 0, WARN: 1, INFO: 2, DEBUG: 3 } as const

/** A frame that does not decode: the link is over. */
export class IpcWireError extends Error {
  readonly code = 'SMBTS_ERR_RPC_IPC'
  constructor (message: string) {
    super(message)
    this.name = 'IpcWireError'
  }
}

export interface IpcFrame {
  type: number
  id: number
  payload: Buffer
}

const KNOWN_TYPES = new Set<number>(Object.values(IpcType))

export function encodeFrame (type: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > IPC_MAX_PAYLOAD) throw new RangeError(`IPC payload of ${payload.length} bytes > ${IPC_MAX_PAYLOAD}`)
  const b = Buffer.allocUnsafe(IPC_HEADER + payload.length)
  b.writeUInt32LE(8 + payload.length, 0)
  b[4] = IPC_VERSION
  b[5] = type
  b.writeUInt16LE(0, 6)
  b.writeUInt32LE(id >>> 0, 8)
  payload.copy(b, IPC_HEADER)
  return b
}

/** Reassembles frames from a byte stream; throws IpcWireError on the first bad header. */
export class IpcDecoder {
  private buf: Buffer = Buffer.alloc(0)

  push (chunk: Buffer): IpcFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const out: IpcFrame[] = []
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0)
      if (len < 8 || len > MAX_FRAME) throw new IpcWireError(`frame length ${len} outside 8..${MAX_FRAME}`)
      if (this.buf.length < 4 + len) break
      const version = this.buf[4]
      const type = this.buf[5]
      if (version !== IPC_VERSION) throw new IpcWireError(`version ${version} (this side speaks ${IPC_VERSION})`)
      if (!KNOWN_TYPES.has(type)) throw new IpcWireError(`unknown message type ${type}`)
      if (this.buf.readUInt16LE(6) !== 0) throw new IpcWireError('reserved flags set')
      // A copy: the frame outlives the socket's chunk, which may be a view of a larger one.
      out.push({ type, id: this.buf.readUInt32LE(8), payload: Buffer.from(this.buf.subarray(IPC_HEADER, 4 + len)) })
      this.buf = this.buf.subarray(4 + len)
    }
    return out
  }

  /** Bytes held for a frame not yet complete. */
  get pending (): number { return this.buf.length }
}

// ---- payload pieces: u16-length-prefixed UTF-8 strings, read with bounds checks ----

const MAX_STR = 1024

export function encodeStrings (...strs: string[]): Buffer {
  const parts: Buffer[] = []
  for (const s of strs) {
    const b = Buffer.from(s, 'utf8')
    if (b.length > MAX_STR) throw new RangeError(`IPC string of ${b.length} bytes > ${MAX_STR}`)
    const len = Buffer.alloc(2)
    len.writeUInt16LE(b.length)
    parts.push(len, b)
  }
  return Buffer.concat(parts)
}

/** Exactly `count` strings filling `payload` from `off`; anything else throws IpcWireError. */
export function decodeStrings (payload: Buffer, count: number, off = 0): string[] {
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    if (off + 2 > payload.length) throw new IpcWireError('string length past the payload')
    const n = payload.readUInt16LE(off)
    off += 2
    if (n > MAX_STR || off + n > payload.length) throw new IpcWireError(`string of ${n} bytes past the payload`)
    out.push(payload.toString('utf8', off, off + n))
    off += n
  }
  if (off !== payload.length) throw new IpcWireError(`${payload.length - off} bytes after the strings`)
  return out
}

export function encodeU32 (v: number, rest: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(4 + rest.length)
  b.writeUInt32LE(v >>> 0, 0)
  rest.copy(b, 4)
  return b
}

export function decodeU32 (payload: Buffer): number {
  if (payload.length < 4) throw new IpcWireError('u32 past the payload')
  return payload.readUInt32LE(0)
}

/** JSON in a frame, parsed; a payload that is not JSON throws IpcWireError. */
export function decodeJson (payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch (e) {
    throw new IpcWireError(`payload is not JSON: ${(e as Error).message}`)
  }
}

export const encodeJson = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8')

/** What the RPC process says of itself first (HELLO). */
export interface IpcHello {
  pid: number
  uid: number
  gid: number
  chrooted: boolean
  noNewPrivs: boolean
  capEffective: number
  /** A seccomp filter refuses the system calls an RPC process never needs. */
  seccomp: boolean
  /** Why something could not be dropped, when it could not. */
  note?: string
}

export function isIpcHello (v: unknown): v is IpcHello {
  if (typeof v !== 'object' || v === null) return false
  const h = v as Record<string, unknown>
  return typeof h.pid === 'number' && typeof h.uid === 'number' && typeof h.gid === 'number' && typeof h.chrooted === 'boolean' &&
    typeof h.noNewPrivs === 'boolean' && typeof h.capEffective === 'number' && typeof h.seccomp === 'boolean' && (h.note === undefined || typeof h.note === 'string')
}
