// MS-SMB2 2.2.23.1 Oplock Break Notification, 2.2.24.1 Acknowledgment, 2.2.25.1 Response: the
// same 24-byte shape (StructureSize 24, OplockLevel, Reserved, Reserved2, FileId).
import { zeroed } from '../../wire/buffers.js'

export interface OplockBreakBody {
  oplockLevel: number
  fileId: { persistent: bigint, volatile: bigint }
}

export const OPLOCK_BREAK_STRUCTURE_SIZE = 24

/** The acknowledgment's fields; the dispatcher has checked StructureSize and the 24 bytes. */
export function decodeOplockBreakAck (body: Buffer): OplockBreakBody {
  return {
    oplockLevel: body[2],
    fileId: { persistent: body.readBigUInt64LE(8), volatile: body.readBigUInt64LE(16) },
  }
}

/** The notification (server → client) and the response to an acknowledgment. */
export function encodeOplockBreak (b: OplockBreakBody): Buffer {
  const out = zeroed(OPLOCK_BREAK_STRUCTURE_SIZE)
  out.writeUInt16LE(OPLOCK_BREAK_STRUCTURE_SIZE, 0)
  out[2] = b.oplockLevel
  out.writeBigUInt64LE(b.fileId.persistent, 8)
  out.writeBigUInt64LE(b.fileId.volatile, 16)
  return out
}
