// The send pipeline (ARCHITECTURE 6): error bodies built in one place, headers, compound chaining
// with 8-byte padding, preauth hook, signing. Output is a list of chunks for one writev.
import { encodeHeader, SIGNATURE_OFFSET, type Smb2Header } from '../wire/header.js'
import { HeaderFlags, SMB2_HEADER_SIZE } from '../wire/constants.js'
import type { Reply } from './context.js'
import type { Session } from '../session/model.js'
import { zeroed } from '../wire/buffers.js'

/** MS-SMB2 2.2.2: SMB2 ERROR Response, no error contexts (StructureSize 9, one zero byte of ErrorData). */
export function errorBody (): Buffer {
  const b = zeroed(9)
  b.writeUInt16LE(9, 0)
  return b
}

export interface OutMessage {
  hdr: Smb2Header
  reply: Reply
  /** Sign with this session's key. */
  signer?: Session
  /** Encrypt the response chain with this session's key. */
  encryptWith?: Session
}

/**
 * Lays out one compound response: each message padded to 8 bytes except the last, NextCommand
 * chained, then signed (padding included, MS-SMB2 3.3.4.1.1). A payload stays a separate chunk
 * unless the message must be padded after it.
 */
export function encodeResponses (msgs: OutMessage[]): Buffer[] {
  const chunks: Buffer[] = []
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]
    const last = i === msgs.length - 1
    const bodyLen = m.reply.body.length
    const payloadLen = m.reply.payload?.length ?? 0
    const len = SMB2_HEADER_SIZE + bodyLen + payloadLen
    const padded = last ? len : (len + 7) & ~7
    m.hdr.nextCommand = last ? 0 : padded
    let parts: Buffer[]
    if (payloadLen > 0 && last) {
      const head = Buffer.allocUnsafe(SMB2_HEADER_SIZE + bodyLen)
      encodeHeader(m.hdr, head, 0)
      m.reply.body.copy(head, SMB2_HEADER_SIZE)
      parts = [head, m.reply.payload!]
    } else {
      const whole = zeroed(padded)
      encodeHeader(m.hdr, whole, 0)
      m.reply.body.copy(whole, SMB2_HEADER_SIZE)
      m.reply.payload?.copy(whole, SMB2_HEADER_SIZE + bodyLen)
      parts = [whole]
    }
    m.reply.onEncoded?.(parts.length === 1 ? parts[0] : Buffer.concat(parts))
    if (m.signer?.signer) {
      const head = parts[0]
      head.writeUInt32LE((head.readUInt32LE(16) | HeaderFlags.SIGNED) >>> 0, 16)
      const sig = m.signer.signer.sign(parts)
      sig.copy(head, SIGNATURE_OFFSET)
    }
    chunks.push(...parts)
  }
  return chunks
}
