// SMB3 encryption (MS-SMB2 3.1.4.3, 2.2.41 TRANSFORM_HEADER): AES-128/256-CCM and -GCM with
// OpenSSL (AES-NI): in place through the native addon where it can reach the OpenSSL inside Node
// (native/src/aead.c: no output buffer per message, nothing copied back), else node:crypto. The
// transform header's bytes from Nonce to SessionId are the AAD; the AEAD tag is the header's
// Signature. Nonces come from a per-session counter and never repeat.
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual, type Cipheriv, type CipherCCMTypes, type CipherGCMTypes } from 'node:crypto'
import { native, nativeAvailable } from '../io/native.js'
import { SMB2_TRANSFORM_MAGIC } from '../wire/constants.js'

/** Whether SMB-shaped AEAD (16-byte tag, 11/12-byte nonce) runs in place natively. */
let nativeAead = nativeAvailable && native.aeadAvailable === true

/** Switches the in-place native AEAD on or off (tests run both engines); returns what it was. */
export function useNativeAead (on: boolean): boolean {
  const was = nativeAead
  nativeAead = on && nativeAvailable && native.aeadAvailable === true
  return was
}

/** The native engine takes SMB's shapes only (known-answer tests use others). */
function nativeFits (cipher: number, key: Buffer, iv: Buffer, tagLength: number): boolean {
  return nativeAead && tagLength === 16 && iv.length === nonceLength(cipher) && key.length * 8 === cipherKeyBits(cipher)
}

export const TRANSFORM_HEADER_SIZE = 52
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
  if (msg.length < TRANSFORM_HEADER_SIZE || msg.readUInt32LE(0) !== SMB2_TRANSFORM_MAGIC) throw new DecryptError('short or foreign transform header')
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
   * ciphertext]: the one copy encryption needs is the ciphertext itself, except for the chunks in
   * `owned`, encrypted over themselves (see aeadSeal) and sent as they are.
   */
  encrypt (sessionId: bigint, chunks: Buffer[], owned?: ReadonlySet<Buffer>): Buffer[] {
    return sealTransform(this.cipher, this.key, this.nextNonce(), sessionId, chunks, owned)
  }

  /** Decrypts a whole transform message; throws DecryptError when it doesn't authenticate. */
  decrypt (msg: Buffer): Buffer {
    return openTransform(this.cipher, this.key, msg)
  }

  /**
   * Decrypts a whole transform message over its own ciphertext and returns the plaintext, a view
   * of `msg` after the transform header. Throws DecryptError when it doesn't authenticate; the
   * bytes after the header are then unauthenticated garbage and must not be used.
   */
  decryptInPlace (msg: Buffer): Buffer {
    return openTransformInPlace(this.cipher, this.key, msg)
  }
}

/**
 * MS-SMB2 3.1.4.3 with a given 16-byte Nonce field (its first 11 or 12 bytes are the AEAD nonce):
 * the transform header is filled, the header from Nonce to SessionId is the AAD, the tag becomes
 * the Signature. SessionCipher supplies never-repeating nonces; tests supply published ones.
 */
export function sealTransform (cipher: number, key: Buffer, nonce: Buffer, sessionId: bigint, chunks: Buffer[], owned?: ReadonlySet<Buffer>): Buffer[] {
  let size = 0
  for (const c of chunks) size += c.length
  const head = Buffer.alloc(TRANSFORM_HEADER_SIZE)
  head.writeUInt32LE(SMB2_TRANSFORM_MAGIC, 0)
  nonce.copy(head, 20, 0, 16)
  head.writeUInt32LE(size, 36)
  head.writeUInt16LE(TRANSFORM_FLAG_ENCRYPTED, 42)
  head.writeBigUInt64LE(sessionId, 44)
  const { out, tag } = aeadSeal(cipher, key, head.subarray(20, 20 + nonceLength(cipher)), head.subarray(20, 52), chunks, size, 16, owned)
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

/** openTransform over the message's own bytes: see SessionCipher.decryptInPlace. */
export function openTransformInPlace (cipher: number, key: Buffer, msg: Buffer): Buffer {
  const h = decodeTransformHeader(msg)
  const body = msg.subarray(TRANSFORM_HEADER_SIZE)
  if (h.originalMessageSize !== body.length) throw new DecryptError('OriginalMessageSize does not match')
  aeadOpenInPlace(cipher, key, h.nonce.subarray(0, nonceLength(cipher)), msg.subarray(20, 52), body, h.signature)
  return body
}

const algName = (cipher: number, key: Buffer): string => `aes-${key.length * 8}-${isGcm(cipher) ? 'gcm' : 'ccm'}`

/**
 * The AEAD primitive under SMB3 encryption: node:crypto AES-GCM or AES-CCM. `tagLength` is 16 for
 * SMB; other lengths (and nonce lengths) exist for the NIST/RFC known-answer tests. The ciphertext
 * comes back as chunks to be sent as they are: GCM encrypts each plaintext chunk into its own
 * output; OpenSSL's CCM needs the plaintext whole.
 *
 * A chunk in `owned` (a READ's payload in a lent buffer that only this reply views) is encrypted
 * over itself, slice by slice like aeadOpenInPlace, and comes back as the same Buffer: no output
 * of the payload's size is allocated (fresh pages, and a full GC every ~64 MiB of them). With an
 * owned chunk, CCM is the AES-CTR + CBC-MAC composition of aeadOpenInPlace.
 */
export function aeadSeal (cipher: number, key: Buffer, iv: Buffer, aad: Buffer, chunks: Buffer[], size?: number, tagLength = 16,
  owned?: ReadonlySet<Buffer>, slice = OPEN_SLICE): { out: Buffer[], tag: Buffer } {
  size ??= chunks.reduce((n, c) => n + c.length, 0)
  if (nativeFits(cipher, key, iv, tagLength) && chunks.length <= 64 && (isGcm(cipher) || size > 0)) {
    // In place: an owned chunk is encrypted over itself, any other over a copy (what update()
    // would have allocated anyway). CCM needs its message whole: one chunk, or a concatenation
    // unless an owned chunk would be copied into it (then the composition below).
    const anyOwned = owned !== undefined && owned.size > 0 && chunks.some(c => owned.has(c))
    if (isGcm(cipher) || chunks.length === 1 || !anyOwned) {
      const out: Buffer[] = []
      if (isGcm(cipher) || chunks.length === 1) {
        for (const chunk of chunks) if (chunk.length > 0) out.push(owned?.has(chunk) === true ? chunk : Buffer.from(chunk))
      } else {
        out.push(Buffer.concat(chunks, size))
      }
      const tag = Buffer.allocUnsafe(16)
      native.aeadNow(true, cipher, key, iv, aad, out, tag)
      return { out, tag }
    }
  }
  if (isGcm(cipher)) {
    const c = createCipheriv(algName(cipher, key) as CipherGCMTypes, key, iv, { authTagLength: tagLength })
    c.setAAD(aad)
    const out: Buffer[] = []
    for (const chunk of chunks) {
      if (chunk.length === 0) continue
      if (owned?.has(chunk) === true) { updateInPlace(c, chunk, slice); out.push(chunk) } else out.push(c.update(chunk))
    }
    c.final()
    return { out, tag: c.getAuthTag() }
  }
  if (owned !== undefined && owned.size > 0 && chunks.some(c => owned.has(c)) && aad.length < 0xff00) {
    const ccm = new CcmParts(key, iv, aad, size, tagLength)
    for (const chunk of chunks) ccm.mac(chunk)
    const tag = ccm.tag()
    const out: Buffer[] = []
    for (const chunk of chunks) {
      if (chunk.length === 0) continue
      if (owned.has(chunk)) { updateInPlace(ccm.ctr, chunk, slice); out.push(chunk) } else out.push(ccm.ctr.update(chunk))
    }
    ccm.ctr.final()
    return { out, tag }
  }
  // CCM takes the whole plaintext in one update.
  const plain = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)
  const c = createCipheriv(algName(cipher, key) as CipherCCMTypes, key, iv, { authTagLength: tagLength })
  c.setAAD(aad, { plaintextLength: size })
  const out = c.update(plain)
  c.final()
  return { out: [out], tag: c.getAuthTag() }
}

/** Runs `buf` through a cipher's update() in slices, each output copied back over its input and freed. */
function updateInPlace (c: { update: (b: Buffer) => Buffer }, buf: Buffer, slice: number): void {
  for (let off = 0; off < buf.length; off += slice) {
    const p = c.update(buf.subarray(off, Math.min(off + slice, buf.length)))
    p.copy(buf, off)
    dispose(p)
  }
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

/**
 * The slice aeadOpenInPlace hands to each cipher update(). node:crypto has no decrypt-into API:
 * every update() returns a new Buffer. One update() of a whole 8 MiB WRITE returns 8 MiB of
 * fresh pages (mmap'd by malloc, faulted in while OpenSSL writes them: most of an encrypted
 * WRITE's cost); a 64 KiB output comes from malloc's heap, reused message after message, and is
 * still in cache when it is copied back over the ciphertext it came from. Below malloc's mmap
 * threshold (128 KiB). bench/aead-open.ts measures the choice.
 */
export const OPEN_SLICE = 64 * 1024

/**
 * aeadOpen over the ciphertext's own bytes: `body` becomes the plaintext, with no buffer of the
 * message's size allocated. Throws DecryptError when the tag does not verify; `body` then holds
 * unauthenticated bytes that no one may use (the caller drops the whole message).
 *
 * GCM streams: each slice is decrypted and copied back. OpenSSL's CCM takes the whole message in
 * one update() (a fresh output of its size), so CCM is composed here from its two halves
 * (NIST SP 800-38C, RFC 3610), both OpenSSL through node:crypto: AES-CTR decrypts slice by slice
 * and AES-CBC over the formatted B0 || AAD || plaintext gives the CBC-MAC, compared in constant
 * time with the tag after S0 is taken off. Parameters SMB never uses (AAD of 65,280 bytes or more)
 * go through OpenSSL's CCM and a copy.
 */
export function aeadOpenInPlace (cipher: number, key: Buffer, iv: Buffer, aad: Buffer, body: Buffer, tag: Buffer, slice = OPEN_SLICE): void {
  if (nativeFits(cipher, key, iv, tag.length) && (isGcm(cipher) || body.length > 0)) {
    if (!native.aeadNow(false, cipher, key, iv, aad, [body], tag)) throw new DecryptError('message does not authenticate')
    return
  }
  try {
    if (isGcm(cipher)) {
      const d = createDecipheriv(algName(cipher, key) as CipherGCMTypes, key, iv, { authTagLength: tag.length })
      d.setAAD(aad)
      d.setAuthTag(tag)
      updateInPlace(d, body, slice)
      d.final()
      return
    }
  } catch (e) {
    throw new DecryptError(`message does not authenticate (${(e as Error).message})`)
  }
  if (aad.length >= 0xff00) {
    aeadOpen(cipher, key, iv, aad, body, tag).copy(body)
    return
  }
  let expect: Buffer
  try {
    const ccm = new CcmParts(key, iv, aad, body.length, tag.length)
    // CTR decrypts slice by slice; each plaintext slice goes to the MAC while still in cache.
    for (let off = 0; off < body.length; off += slice) {
      const p = ccm.ctr.update(body.subarray(off, Math.min(off + slice, body.length)))
      p.copy(body, off)
      ccm.mac(p)
      dispose(p)
    }
    ccm.ctr.final()
    expect = ccm.tag()
  } catch (e) {
    throw new DecryptError(`message does not authenticate (${(e as Error).message})`)
  }
  if (!timingSafeEqual(expect, tag)) throw new DecryptError('message does not authenticate (CCM tag mismatch)')
}

const ZERO_BLOCK = Buffer.alloc(16)

/**
 * Frees an update() output now that its bytes were copied out: its ArrayBuffer is detached
 * (transfer(0)), which frees the memory and takes it off V8's external-memory count. Left to the
 * GC instead, every ~64 MiB of such outputs sets off a full mark-compact of the whole heap (V8's
 * external-memory limit): ~0.5 s per GiB decrypted in the server's profile. Only a Buffer that
 * is its whole ArrayBuffer is detached (update() allocates one per call; a pooled small Buffer
 * shares its ArrayBuffer and is left alone).
 */
function dispose (b: Buffer): void {
  const ab = b.buffer as ArrayBuffer & { transfer?: (n: number) => ArrayBuffer }
  if (b.byteOffset === 0 && ab.byteLength === b.length && b.length >= 4096 && typeof ab.transfer === 'function') ab.transfer(0)
}

/**
 * CCM (NIST SP 800-38C 6.1/6.2, RFC 3610) from its two halves through node:crypto: `ctr` is AES-CTR
 * from counter block 1 (encrypts and decrypts), `mac()` feeds plaintext to the CBC-MAC (AES-CBC
 * with a zero IV over B0 || encoded AAD || plaintext, zero padded), `tag()` is its last block
 * XOR S0 = E(counter block 0), cut to the tag length. Parameters as SP 800-38C A.2 allows them;
 * the AAD below 65,280 bytes (its 2-byte length encoding).
 */
class CcmParts {
  readonly ctr: Cipheriv
  private readonly cbc: Cipheriv
  private readonly s0: Buffer
  private last: Buffer = ZERO_BLOCK
  private readonly carry = Buffer.alloc(16)
  private carried = 0

  constructor (key: Buffer, iv: Buffer, aad: Buffer, length: number, private readonly tagLength: number) {
    const n = iv.length
    const t = tagLength
    const q = 15 - n
    if (n < 7 || n > 13 || t < 4 || t > 16 || t % 2 !== 0) throw new DecryptError('CCM nonce or tag length out of range')
    if (q < 4 && length >= 2 ** (8 * q)) throw new DecryptError('CCM message too long for its nonce')
    const bits = key.length * 8
    // Counter blocks: flags (q-1) || N || i. AES-CTR increments the whole block as one big-endian
    // number; the counter field is q bytes and the message fits it (checked above), so the
    // increment never reaches the nonce.
    const ctr0 = Buffer.alloc(16)
    ctr0[0] = q - 1
    iv.copy(ctr0, 1)
    this.s0 = createCipheriv(`aes-${bits}-ecb`, key, null).setAutoPadding(false).update(ctr0)
    const ctr1 = Buffer.from(ctr0)
    ctr1[15] = 1
    this.ctr = createCipheriv(`aes-${bits}-ctr`, key, ctr1)
    this.cbc = createCipheriv(`aes-${bits}-cbc`, key, ZERO_BLOCK).setAutoPadding(false)
    // B0 = flags || N || Q, then the AAD after its 2-byte length, zero padded to a block boundary.
    const aadLen = aad.length > 0 ? 2 + aad.length : 0
    const head = Buffer.alloc(16 + Math.ceil(aadLen / 16) * 16)
    head[0] = (aad.length > 0 ? 0x40 : 0) | (((t - 2) / 2) << 3) | (q - 1)
    iv.copy(head, 1)
    let len = length
    for (let i = 15; i > n; i--) { head[i] = len & 0xff; len = Math.floor(len / 256) }
    if (aad.length > 0) { head.writeUInt16BE(aad.length, 16); aad.copy(head, 18) }
    this.blocks(head)
  }

  /** Whole blocks only, to AES-CBC in slices (each output, of its input's size, is freed at
   *  once); the last ciphertext block is the running MAC. */
  private blocks (b: Buffer): void {
    for (let off = 0; off < b.length; off += OPEN_SLICE) {
      const o = this.cbc.update(b.subarray(off, Math.min(off + OPEN_SLICE, b.length)))
      if (o.length >= 16) { this.last = Buffer.from(o.subarray(o.length - 16)); dispose(o) }
    }
  }

  /** More plaintext, any length: a partial block waits for the next call (or tag()). */
  mac (p: Buffer): void {
    let from = 0
    if (this.carried > 0) {
      const take = Math.min(16 - this.carried, p.length)
      p.copy(this.carry, this.carried, 0, take)
      this.carried += take
      from = take
      if (this.carried < 16) return
      this.blocks(this.carry)
      this.carried = 0
    }
    const whole = from + Math.floor((p.length - from) / 16) * 16
    this.blocks(p.subarray(from, whole))
    if (whole < p.length) { p.copy(this.carry, 0, whole); this.carried = p.length - whole }
  }

  tag (): Buffer {
    if (this.carried > 0) { this.carry.fill(0, this.carried); this.blocks(this.carry); this.carried = 0 }
    this.cbc.final()
    const out = Buffer.alloc(this.tagLength)
    for (let i = 0; i < this.tagLength; i++) out[i] = this.last[i] ^ this.s0[i]
    return out
  }
}
