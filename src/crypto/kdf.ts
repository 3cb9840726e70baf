// SMB 3.x key derivation: SP800-108 counter mode with HMAC-SHA256 (MS-SMB2 3.1.4.2),
// and the per-dialect labels/contexts of MS-SMB2 3.3.5.5.3.
import { createHmac } from 'node:crypto'
import { Dialect } from '../wire/constants.js'

const ZERO_BYTE = Buffer.alloc(1)

/**
 * KDF(Ki, Label, Context, L) with r = 32 and a single iteration i = 1: one HMAC-SHA256
 * yields 256 bits, enough for every key SMB derives (L is 128 or 256).
 * The label and context are used as given: the SMB labels carry their own terminating NUL.
 */
export function smb3Kdf (key: Buffer, label: Buffer, context: Buffer, lengthBits = 128): Buffer {
  if (lengthBits <= 0 || lengthBits > 256 || lengthBits % 8 !== 0) {
    throw new RangeError(`smb3Kdf: unsupported output length ${lengthBits} bits`)
  }
  const counterAndLength = Buffer.alloc(4)
  const h = createHmac('sha256', key)
  counterAndLength.writeUInt32BE(1, 0) // i
  h.update(counterAndLength)
  h.update(label)
  h.update(ZERO_BYTE) // the 0x00 separator of SP800-108 5.1
  h.update(context)
  counterAndLength.writeUInt32BE(lengthBits, 0) // [L]2
  h.update(counterAndLength)
  return h.digest().subarray(0, lengthBits / 8)
}

export interface SessionKeys {
  /** Session.SigningKey (for 2.x: the session key itself). */
  signingKey: Buffer
  /** Session.EncryptionKey: protects server-to-client messages. Absent before 3.0. */
  encryptionKey?: Buffer
  /** Session.DecryptionKey: protects client-to-server messages. Absent before 3.0. */
  decryptionKey?: Buffer
  /** Session.ApplicationKey (for 2.x: the session key, as used by RPC over named pipes). */
  applicationKey: Buffer
}

// Every label and context is a NUL-terminated ASCII string (MS-SMB2 3.3.5.5.3).
const z = (s: string): Buffer => Buffer.from(s + '\0', 'latin1')
const L300 = {
  signing: [z('SMB2AESCMAC'), z('SmbSign')],
  app: [z('SMB2APP'), z('SmbRpc')],
  enc: [z('SMB2AESCCM'), z('ServerOut')], // server -> client
  dec: [z('SMB2AESCCM'), z('ServerIn ')] // client -> server; the space is part of the label
} as const
const L311 = {
  signing: z('SMBSigningKey'),
  app: z('SMBAppKey'),
  enc: z('SMBS2CCipherKey'),
  dec: z('SMBC2SCipherKey')
} as const

/**
 * Derives the session's keys as a server (MS-SMB2 3.3.5.5.3).
 * `sessionKey` is the key exported by the GSS mechanism. Session.SessionKey is its first
 * 16 bytes (zero-padded); for AES-256 ciphers the encryption keys come from the full key
 * (Session.FullSessionKey) with L = 256. Signing and application keys are always 128 bits.
 */
export function deriveSessionKeys (
  dialect: number,
  sessionKey: Buffer,
  preauthHash: Buffer | undefined,
  cipherKeyBits: 128 | 256 = 128
): SessionKeys {
  const key16 = Buffer.alloc(16)
  sessionKey.copy(key16, 0, 0, Math.min(16, sessionKey.length))
  if (dialect < Dialect.SMB3_00) {
    return { signingKey: key16, applicationKey: key16 }
  }
  const cipherKey = cipherKeyBits === 256 ? sessionKey : key16
  if (dialect >= Dialect.SMB3_11) {
    if (preauthHash === undefined || preauthHash.length !== 64) {
      throw new RangeError('deriveSessionKeys: 3.1.1 needs the 64-byte preauth integrity hash')
    }
    return {
      signingKey: smb3Kdf(key16, L311.signing, preauthHash),
      encryptionKey: smb3Kdf(cipherKey, L311.enc, preauthHash, cipherKeyBits),
      decryptionKey: smb3Kdf(cipherKey, L311.dec, preauthHash, cipherKeyBits),
      applicationKey: smb3Kdf(key16, L311.app, preauthHash)
    }
  }
  return {
    signingKey: smb3Kdf(key16, L300.signing[0], L300.signing[1]),
    encryptionKey: smb3Kdf(cipherKey, L300.enc[0], L300.enc[1], cipherKeyBits),
    decryptionKey: smb3Kdf(cipherKey, L300.dec[0], L300.dec[1], cipherKeyBits),
    applicationKey: smb3Kdf(key16, L300.app[0], L300.app[1])
  }
}
