// SMB3 encryption (MS-SMB2 3.1.4.3, 2.2.41 TRANSFORM_HEADER): AES-128/256-CCM and -GCM through
// node:crypto (OpenSSL, AES-NI). The transform header's bytes from Nonce to SessionId are the AAD;
// the AEAD tag is the header's Signature. Nonces come from a per-session counter and never repeat.
import { createCipheriv, createDecipheriv, randomBytes, type CipherCCMTypes, type CipherGCMTypes } from 'node:crypto'

export const TRANSFORM_HEADER_SIZE = 52
export const TRANSFORM_MAGIC = 0x424d53fd
/** MS-SMB2 2.2.41: Flags (3.1.1) / EncryptionAlgorithm (3.0.x): 0x0001 = encrypted. */
export const TRANSFORM_FLAG_ENCRYPTED = 0x0001

export const CIPHER_NAMES: Record<number, string> = { 1: 'AES-128-CCM', 2: 'AES-128-GCM', 3: 'AES-256-CCM', 4: 'AES-256-GCM' }
export const cipherKeyBits = (cipher: number): 128 | 256 => (cipher === 3 || cipher === 4) ? 256 : 128
const isGcm = (cipher: number): boolean => cipher === 2 || cipher === 4
const nonceLength = (cipher: number): number => isGcm(cipher) ? 12 : 11

export class DecryptError extends Error {
  override readonly name = 'DecryptError'
  readonly code = 'SMBTS_ERR_DECRYPT'
}

export interface TransformHeader { signature: Buffer, nonce: Buffer, originalMessageSize: number, flags: number, sessionId: bigint }

export function decodeTransformHeader (msg: Buffer): TransformHeader {
  if (msg.length < TRANSFORM_HEADER_SIZE || msg.readUInt32LE(0) !== TRANSFORM_MAGIC) throw new DecryptError('short or foreign transform header')
  return {
    signature: msg.subarray(4, 20),
    nonce: msg.subarray(20, 36),
    originalMessageSize: msg.readUInt32LE(36),
    flags: msg.readUInt16LE(42),
    sessionId: msg.readBigUInt64LE(44),
  }
}

/** One direction of one session's encryption. */
export class SessionCipher {
  private counter = 0n
  private readonly salt: Buffer

  constructor (readonly cipher: number, private readonly key: Buffer) {
    const bits = cipherKeyBits(cipher)
    if (key.length * 8 !== bits) throw new RangeError(`${CIPHER_NAMES[cipher] ?? cipher} needs a ${bits}-bit key`)
    // Nonce = 8-byte message counter || a random per-session tail: unique for 2^64 messages.
    this.salt = randomBytes(nonceLength(cipher) - 8)
  }

  private nextNonce (): Buffer {
    const n = Buffer.alloc(16)
    n.writeBigUInt64LE(this.counter++, 0)
    this.salt.copy(n, 8)
    return n
  }

  /**
   * Encrypts a whole (possibly compound) message given as chunks. Returns [transform header,
   * ciphertext]: the one copy encryption needs is the ciphertext itself.
   */
  encrypt (sessionId: bigint, chunks: Buffer[]): Buffer[] {
    return sealTransform(this.cipher, this.key, this.nextNonce(), sessionId, chunks)
  }

  /** Decrypts a whole transform message; throws DecryptError when it doesn't authenticate. */
  decrypt (msg: Buffer): Buffer {
    return openTransform(this.cipher, this.key, msg)
  }
}

/**
 * MS-SMB2 3.1.4.3 with a given 16-byte Nonce field (its first 11 or 12 bytes are the AEAD nonce):
 * the transform header is filled, the header from Nonce to SessionId is the AAD, the tag becomes
 * the Signature. SessionCipher supplies never-repeating nonces; tests supply published ones.
 */
export function sealTransform (cipher: number, key: Buffer, nonce: Buffer, sessionId: bigint, chunks: Buffer[]): Buffer[] {
  let size = 0
  for (const c of chunks) size += c.length
  const head = Buffer.alloc(TRANSFORM_HEADER_SIZE)
  head.writeUInt32LE(TRANSFORM_MAGIC, 0)
  nonce.copy(head, 20, 0, 16)
  head.writeUInt32LE(size, 36)
  head.writeUInt16LE(TRANSFORM_FLAG_ENCRYPTED, 42)
  head.writeBigUInt64LE(sessionId, 44)
  const { out, tag } = aeadSeal(cipher, key, head.subarray(20, 20 + nonceLength(cipher)), head.subarray(20, 52), chunks, size)
  tag.copy(head, 4)
  return [head, ...out]
}

/** MS-SMB2 3.3.5.2.1.1: authenticates and decrypts one transform message. */
export function openTransform (cipher: number, key: Buffer, msg: Buffer): Buffer {
  const h = decodeTransformHeader(msg)
  const body = msg.subarray(TRANSFORM_HEADER_SIZE)
  if (h.originalMessageSize !== body.length) throw new DecryptError('OriginalMessageSize does not match')
  return aeadOpen(cipher, key, h.nonce.subarray(0, nonceLength(cipher)), msg.subarray(20, 52), body, h.signature)
}

const algName = (cipher: number, key: Buffer): string => `aes-${key.length * 8}-${isGcm(cipher) ? 'gcm' : 'ccm'}`

/**
 * The AEAD primitive under SMB3 encryption: node:crypto AES-GCM or AES-CCM. `tagLength` is 16 for
 * SMB; other lengths (and nonce lengths) exist for the NIST/RFC known-answer tests. The ciphertext
 * comes back as chunks to be sent as they are: GCM encrypts each plaintext chunk into its own
 * output (a READ's payload is encrypted once and never copied again, CONVENTIONS 4); CCM needs
 * the plaintext whole.
 */
export function aeadSeal (cipher: number, key: Buffer, iv: Buffer, aad: Buffer, chunks: Buffer[], size?: number, tagLength = 16): { out: Buffer[], tag: Buffer } {
  size ??= chunks.reduce((n, c) => n + c.length, 0)
  if (isGcm(cipher)) {
    const c = createCipheriv(algName(cipher, key) as CipherGCMTypes, key, iv, { authTagLength: tagLength })
    c.setAAD(aad)
    const out: Buffer[] = []
    for (const chunk of chunks) if (chunk.length > 0) out.push(c.update(chunk))
    c.final()
    return { out, tag: c.getAuthTag() }
  }
  // CCM takes the whole plaintext in one update.
  const plain = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)
  const c = createCipheriv(algName(cipher, key) as CipherCCMTypes, key, iv, { authTagLength: tagLength })
  c.setAAD(aad, { plaintextLength: size })
  const out = c.update(plain)
  c.final()
  return { out: [out], tag: c.getAuthTag() }
}

/** Inverse of aeadSeal; throws DecryptError when the tag does not verify. */
export function aeadOpen (cipher: number, key: Buffer, iv: Buffer, aad: Buffer, body: Buffer, tag: Buffer): Buffer {
  try {
    if (isGcm(cipher)) {
      const d = createDecipheriv(algName(cipher, key) as CipherGCMTypes, key, iv, { authTagLength: tag.length })
      d.setAAD(aad)
      d.setAuthTag(tag)
      const a = d.update(body)
      const b = d.final()
      return b.length === 0 ? a : Buffer.concat([a, b])
    }
    const d = createDecipheriv(algName(cipher, key) as CipherCCMTypes, key, iv, { authTagLength: tag.length })
    d.setAuthTag(tag)
    d.setAAD(aad, { plaintextLength: body.length })
    const out = d.update(body)
    d.final()
    return out
  } catch (e) {
    throw new DecryptError(`message does not authenticate (${(e as Error).message})`)
  }
}
