// MS-SMB2 2.2.13 CREATE Request, 2.2.13.2 create contexts, 2.2.14 CREATE Response.
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import type { FileInfo } from '../../wire/fscc/types.js'
import { zeroed } from '../../wire/buffers.js'

export interface CreateContext { name: string, data: Buffer }

export interface CreateRequest {
  requestedOplockLevel: number
  impersonationLevel: number
  desiredAccess: number
  fileAttributes: number
  shareAccess: number
  createDisposition: number
  createOptions: number
  name: string
  contexts: CreateContext[]
}

const bad = (why: string): NtStatusError => new NtStatusError(NtStatus.INVALID_PARAMETER, `CREATE: ${why}`)

export function decodeCreateRequest (msg: Buffer): CreateRequest {
  const b = 64
  const nameOff = msg.readUInt16LE(b + 44)
  const nameLen = msg.readUInt16LE(b + 46)
  let name = ''
  if (nameLen > 0) {
    if (nameOff < b + 56 || nameOff + nameLen > msg.length || nameLen % 2 !== 0) throw bad('name outside the message')
    name = msg.toString('utf16le', nameOff, nameOff + nameLen)
  }
  const ctxOff = msg.readUInt32LE(b + 48)
  const ctxLen = msg.readUInt32LE(b + 52)
  const contexts: CreateContext[] = []
  if (ctxLen > 0) {
    if (ctxOff < b + 56 || ctxOff % 8 !== 0 || ctxOff + ctxLen > msg.length) throw bad('create contexts outside the message')
    let off = ctxOff
    const end = ctxOff + ctxLen
    for (;;) {
      if (off + 16 > end) throw bad('truncated create context')
      const next = msg.readUInt32LE(off)
      const nOff = msg.readUInt16LE(off + 4)
      const nLen = msg.readUInt16LE(off + 6)
      const dOff = msg.readUInt16LE(off + 10)
      const dLen = msg.readUInt32LE(off + 12)
      const ctxEnd = next === 0 ? end : off + next
      if (next !== 0 && (next % 8 !== 0 || off + next > end)) throw bad('bad create context chain')
      // Every tag is at least four bytes (MS-SMB2 2.2.13.2); Windows and Samba refuse a shorter
      // one, and take a longer unknown one (smbtorture smb2.create.blob).
      if (nLen < 4) throw bad(`create context name of ${nLen} bytes`)
      if (off + nOff + nLen > ctxEnd) throw bad('create context name outside')
      if (dLen > 0 && off + dOff + dLen > ctxEnd) throw bad('create context data outside')
      contexts.push({ name: msg.toString('latin1', off + nOff, off + nOff + nLen), data: msg.subarray(off + dOff, off + dOff + dLen) })
      if (next === 0) break
      off += next
    }
  }
  return {
    requestedOplockLevel: msg[b + 3],
    impersonationLevel: msg.readUInt32LE(b + 4),
    desiredAccess: msg.readUInt32LE(b + 24),
    fileAttributes: msg.readUInt32LE(b + 28),
    shareAccess: msg.readUInt32LE(b + 32),
    createDisposition: msg.readUInt32LE(b + 36),
    createOptions: msg.readUInt32LE(b + 40),
    name,
    contexts,
  }
}

export interface CreateResponse {
  oplockLevel: number
  createAction: number
  info: FileInfo
  fileId: { persistent: bigint, volatile: bigint }
  contexts: CreateContext[]
}

export function encodeCreateResponse (r: CreateResponse): Buffer {
  // Contexts start 8-aligned after the 88-byte fixed part (offset 64 + 88 = 152 from the header).
  const ctxs = r.contexts.map(c => {
    const nameOff = 16
    // The data 8-aligned after the name (4 bytes for MS-SMB2's own tags, 16 for the POSIX one).
    const dataOff = (nameOff + c.name.length + 7) & ~7
    const len = dataOff + c.data.length
    return { c, nameOff, dataOff, len, padded: (len + 7) & ~7 }
  })
  const ctxLen = ctxs.reduce((a, x, i) => a + (i === ctxs.length - 1 ? x.len : x.padded), 0)
  const body = zeroed(88 + (ctxLen > 0 ? ctxLen : 1))
  body.writeUInt16LE(89, 0)
  body[2] = r.oplockLevel
  body.writeUInt32LE(r.createAction, 4)
  body.writeBigUInt64LE(r.info.creationTime, 8)
  body.writeBigUInt64LE(r.info.lastAccessTime, 16)
  body.writeBigUInt64LE(r.info.lastWriteTime, 24)
  body.writeBigUInt64LE(r.info.changeTime, 32)
  body.writeBigUInt64LE(r.info.allocationSize, 40)
  body.writeBigUInt64LE(r.info.endOfFile, 48)
  body.writeUInt32LE(r.info.fileAttributes >>> 0, 56)
  body.writeBigUInt64LE(r.fileId.persistent, 64)
  body.writeBigUInt64LE(r.fileId.volatile, 72)
  body.writeUInt32LE(ctxLen > 0 ? 64 + 88 : 0, 80)
  body.writeUInt32LE(ctxLen, 84)
  let off = 88
  ctxs.forEach((x, i) => {
    body.writeUInt32LE(i === ctxs.length - 1 ? 0 : x.padded, off)
    body.writeUInt16LE(x.nameOff, off + 4)
    body.writeUInt16LE(x.c.name.length, off + 6)
    body.writeUInt16LE(x.dataOff, off + 10)
    body.writeUInt32LE(x.c.data.length, off + 12)
    body.write(x.c.name, off + 16, 'latin1')
    x.c.data.copy(body, off + x.dataOff)
    off += x.padded
  })
  return body
}

/** MS-SMB2 2.2.13.2.11 / 2.2.14.2.12 Flags: SMB2_DHANDLE_FLAG_PERSISTENT. */
export const DHANDLE_FLAG_PERSISTENT = 0x00000002

/**
 * The durable-handle contexts of a CREATE (MS-SMB2 2.2.13.2.3/4/11/12), checked for size only:
 * what their combination means is the handler's (create.ts, MS-SMB2 3.3.5.9.6/7/10/12).
 * DHnQ: 16 reserved bytes. DHnC: the FileId (persistent, volatile). DH2Q: Timeout, Flags,
 * 8 reserved bytes, CreateGuid. DH2C: FileId, CreateGuid, Flags.
 */
export interface DurableContexts {
  v1Request?: true
  v1Reconnect?: { persistent: bigint, volatile: bigint }
  v2Request?: { timeout: number, flags: number, createGuid: Buffer }
  v2Reconnect?: { persistent: bigint, volatile: bigint, createGuid: Buffer, flags: number }
  /** MS-SMB2 2.2.13.2.13 SMB2_CREATE_APP_INSTANCE_ID: AppInstanceId. */
  appInstanceId?: Buffer
}

/** MS-SMB2 2.2.13.2: the SMB2_CREATE_APP_INSTANCE_ID context's name, 16 bytes (as a latin1 string). */
export const APP_INSTANCE_ID_NAME = Buffer.from('45bca66aefa7f74a9008fa462e144d74', 'hex').toString('latin1')

export function decodeDurableContexts (contexts: readonly CreateContext[]): DurableContexts {
  const out: DurableContexts = {}
  for (const c of contexts) {
    const d = c.data
    switch (c.name) {
      case 'DHnQ':
        if (d.length !== 16) throw bad(`DHnQ of ${d.length} bytes`)
        out.v1Request = true
        break
      case 'DHnC':
        if (d.length !== 16) throw bad(`DHnC of ${d.length} bytes`)
        out.v1Reconnect = { persistent: d.readBigUInt64LE(0), volatile: d.readBigUInt64LE(8) }
        break
      case 'DH2Q':
        if (d.length !== 32) throw bad(`DH2Q of ${d.length} bytes`)
        out.v2Request = { timeout: d.readUInt32LE(0), flags: d.readUInt32LE(4), createGuid: Buffer.from(d.subarray(16, 32)) }
        break
      case 'DH2C':
        if (d.length !== 36) throw bad(`DH2C of ${d.length} bytes`)
        out.v2Reconnect = { persistent: d.readBigUInt64LE(0), volatile: d.readBigUInt64LE(8), createGuid: Buffer.from(d.subarray(16, 32)), flags: d.readUInt32LE(32) }
        break
      case APP_INSTANCE_ID_NAME:
        // StructureSize (20), Reserved, AppInstanceId.
        if (d.length !== 20 || d.readUInt16LE(0) !== 20) throw bad(`APP_INSTANCE_ID of ${d.length} bytes`)
        out.appInstanceId = Buffer.from(d.subarray(4, 20))
        break
    }
  }
  return out
}

/** MS-SMB2 2.2.14.2.3 SMB2_CREATE_DURABLE_HANDLE_RESPONSE: 8 reserved bytes. */
export function encodeDurableResponse (): Buffer {
  return zeroed(8)
}

/** MS-SMB2 2.2.14.2.12 SMB2_CREATE_DURABLE_HANDLE_RESPONSE_V2: Timeout (ms), Flags. */
export function encodeDurableResponseV2 (timeoutMs: number, flags: number): Buffer {
  const b = zeroed(8)
  b.writeUInt32LE(timeoutMs >>> 0, 0)
  b.writeUInt32LE(flags >>> 0, 4)
  return b
}
