// MS-SMB2 2.2.1: the 64-byte SMB2 packet header, sync and async forms.
import { HeaderFlags, SMB2_HEADER_SIZE, SMB2_MAGIC } from './constants.js'

export interface Smb2Header {
  creditCharge: number
  /** ChannelSequence/Reserved in requests (3.x), Status in responses. */
  status: number
  command: number
  creditRequest: number
  flags: number
  nextCommand: number
  messageId: bigint
  /** Async form only. */
  asyncId: bigint
  /** Sync form only. */
  treeId: number
  sessionId: bigint
}

/** Decodes the header at `off`; the caller has checked that 64 bytes and the magic are there. */
export function decodeHeader (buf: Buffer, off = 0): Smb2Header {
  const flags = buf.readUInt32LE(off + 16)
  const isAsync = (flags & HeaderFlags.ASYNC_COMMAND) !== 0
  return {
    creditCharge: buf.readUInt16LE(off + 6),
    status: buf.readUInt32LE(off + 8),
    command: buf.readUInt16LE(off + 12),
    creditRequest: buf.readUInt16LE(off + 14),
    flags,
    nextCommand: buf.readUInt32LE(off + 20),
    messageId: buf.readBigUInt64LE(off + 24),
    asyncId: isAsync ? buf.readBigUInt64LE(off + 32) : 0n,
    treeId: isAsync ? 0 : buf.readUInt32LE(off + 36),
    sessionId: buf.readBigUInt64LE(off + 40),
  }
}

export function isSmb2 (buf: Buffer, off = 0): boolean {
  return buf.length - off >= SMB2_HEADER_SIZE && buf.readUInt32LE(off) === SMB2_MAGIC
}

/** Writes a header; Signature (offset 48) is zeroed, to be filled by signing. */
export function encodeHeader (h: Smb2Header, buf: Buffer, off = 0): void {
  buf.writeUInt32LE(SMB2_MAGIC, off)
  buf.writeUInt16LE(SMB2_HEADER_SIZE, off + 4)
  buf.writeUInt16LE(h.creditCharge, off + 6)
  buf.writeUInt32LE(h.status >>> 0, off + 8)
  buf.writeUInt16LE(h.command, off + 12)
  buf.writeUInt16LE(h.creditRequest, off + 14)
  buf.writeUInt32LE(h.flags >>> 0, off + 16)
  buf.writeUInt32LE(h.nextCommand, off + 20)
  buf.writeBigUInt64LE(h.messageId, off + 24)
  if ((h.flags & HeaderFlags.ASYNC_COMMAND) !== 0) {
    buf.writeBigUInt64LE(h.asyncId, off + 32)
  } else {
    buf.writeUInt32LE(0xfeff, off + 32) // Reserved (Samba and Windows send 0x0000FEFF)
    buf.writeUInt32LE(h.treeId >>> 0, off + 36)
  }
  buf.writeBigUInt64LE(h.sessionId, off + 40)
  buf.fill(0, off + 48, off + 64)
}

export const SIGNATURE_OFFSET = 48
export const SIGNATURE_SIZE = 16
