// SMB 3.1.1 preauthentication integrity (MS-SMB2 3.3.5.4, 3.3.5.5): SHA-512 chained
// over the NEGOTIATE and SESSION_SETUP messages.
import { createHash } from 'node:crypto'

/** Connection.PreauthIntegrityHashValue starts as 64 zero bytes (MS-SMB2 3.3.5.4). */
export const PREAUTH_INITIAL: Buffer = Buffer.alloc(64)

/** SHA-512(prev || message); the message may be given as chunks (header+body, payload). */
export function preauthUpdate (prev: Buffer, message: Buffer | readonly Buffer[]): Buffer {
  const h = createHash('sha512')
  h.update(prev)
  if (Buffer.isBuffer(message)) h.update(message)
  else for (const chunk of message) h.update(chunk)
  return h.digest()
}
