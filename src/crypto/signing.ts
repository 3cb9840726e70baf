// SMB2 message signing (MS-SMB2 3.1.4.1 sign, 3.1.5.1 verify).
// The 16-byte Signature field of the SMB2 header (offset 48) is hashed as zeros without
// touching the caller's buffer, and the message may be a list of chunks (header+body,
// then a READ payload) so that nothing has to be concatenated.
import { createCipheriv, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto'

/** MS-SMB2 2.2.3.1.7 SigningAlgorithmId. */
export enum SigningAlgorithm { HmacSha256 = 0, AesCmac = 1, AesGmac = 2 }

/** MS-SMB2 2.2.1: where the Signature sits and which header bits the GMAC nonce reads. */
const SIG_OFFSET = 48
const SIG_LENGTH = 16
const HEADER_LENGTH = 64
const FLAGS_OFFSET = 16
const COMMAND_OFFSET = 12
const MESSAGE_ID_OFFSET = 24
const SMB2_FLAGS_SERVER_TO_REDIR = 0x00000001 // MS-SMB2 2.2.1.2
const SMB2_CANCEL = 0x000c // MS-SMB2 2.2.1.2 Command

const ZERO16 = Buffer.alloc(16)

type Message = Buffer | readonly Buffer[]

function firstChunk (message: Message): Buffer {
  const first = Buffer.isBuffer(message) ? message : message[0]
  if (first === undefined || first.length < HEADER_LENGTH) {
    throw new RangeError('SMB2 signing: the first chunk must hold the whole 64-byte header')
  }
  return first
}

/** Calls `feed` with the message's bytes, the Signature field replaced by zeros. */
function forEachSegment (message: Message, feed: (b: Buffer) => void): void {
  const first = firstChunk(message)
  feed(first.subarray(0, SIG_OFFSET))
  feed(ZERO16)
  if (first.length > SIG_OFFSET + SIG_LENGTH) feed(first.subarray(SIG_OFFSET + SIG_LENGTH))
  if (!Buffer.isBuffer(message)) {
    for (let i = 1; i < message.length; i++) {
      const c = message[i]!
      if (c.length > 0) feed(c)
    }
  }
}

function totalLength (message: Buffer | readonly Buffer[]): number {
  if (Buffer.isBuffer(message)) return message.length
  let n = 0
  for (const c of message) n += c.length
  return n
}

/** RFC 4493 2.3 subkey shift: K << 1, XOR Rb (0x87) when the top bit falls off. */
function shiftLeftXor (k: Buffer): Buffer {
  const out = Buffer.alloc(16)
  for (let i = 0; i < 16; i++) out[i] = ((k[i]! << 1) | (i < 15 ? k[i + 1]! >>> 7 : 0)) & 0xff
  if ((k[0]! & 0x80) !== 0) out[15] ^= 0x87
  return out
}

/**
 * AES-128-CMAC (RFC 4493) from node:crypto's AES-128-ECB (subkeys, once per key) and
 * AES-128-CBC with a zero IV: every block but the last goes through CBC as is; the last
 * is XORed with K1 when complete, or padded 10* and XORed with K2.
 */
export class AesCmac {
  private readonly key: KeyObject
  readonly k1: Buffer
  readonly k2: Buffer

  constructor (key: Buffer | KeyObject) {
    this.key = Buffer.isBuffer(key) ? createSecretKey(key) : key
    if (this.key.symmetricKeySize !== 16) throw new RangeError('AES-CMAC key must be 16 bytes')
    const ecb = createCipheriv('aes-128-ecb', this.key, null).setAutoPadding(false)
    const l = ecb.update(ZERO16) // L = AES-128(K, 0^128)
    this.k1 = shiftLeftXor(l)
    this.k2 = shiftLeftXor(this.k1)
  }

  mac (data: Buffer | readonly Buffer[]): Buffer {
    const chunks = Buffer.isBuffer(data) ? [data] : data
    return this.macSegments(totalLength(chunks), (feed) => { for (const c of chunks) feed(c) })
  }

  /** CMAC over `total` bytes that `each` hands over, in order, through `feed`. */
  macSegments (total: number, each: (feed: (b: Buffer) => void) => void): Buffer {
    const rem = total % 16
    const lastLen = total === 0 ? 0 : (rem === 0 ? 16 : rem)
    const leadLen = total - lastLen
    const last = Buffer.alloc(16)
    const cbc = createCipheriv('aes-128-cbc', this.key, ZERO16).setAutoPadding(false)
    let pos = 0
    each((b) => {
      const end = pos + b.length
      if (pos < leadLen) {
        const n = Math.min(b.length, leadLen - pos)
        cbc.update(n === b.length ? b : b.subarray(0, n))
      }
      if (end > leadLen) {
        const from = Math.max(0, leadLen - pos)
        b.copy(last, pos + from - leadLen, from)
      }
      pos = end
    })
    if (pos !== total) throw new RangeError('AES-CMAC: fed length differs from the announced total')
    const k = lastLen === 16 ? this.k1 : this.k2
    if (lastLen < 16) last[lastLen] = 0x80
    for (let i = 0; i < 16; i++) last[i] ^= k[i]!
    const tail = cbc.update(last)
    return tail.subarray(tail.length - 16)
  }
}

export class Signer {
  readonly algorithm: SigningAlgorithm
  private readonly hmacKey?: KeyObject
  private readonly aesKey?: KeyObject
  private readonly cmacState?: AesCmac

  constructor (algorithm: SigningAlgorithm, key: Buffer) {
    this.algorithm = algorithm
    switch (algorithm) {
      case SigningAlgorithm.HmacSha256:
        this.hmacKey = createSecretKey(key)
        break
      case SigningAlgorithm.AesCmac: {
        if (key.length !== 16) throw new RangeError('AES-CMAC signing key must be 16 bytes')
        this.cmacState = new AesCmac(key)
        break
      }
      case SigningAlgorithm.AesGmac:
        if (key.length !== 16) throw new RangeError('AES-GMAC signing key must be 16 bytes')
        this.aesKey = createSecretKey(key)
        break
      default:
        throw new RangeError(`unknown signing algorithm ${algorithm as number}`)
    }
  }

  /** The 16-byte signature of `message`; written into `out` (its first 16 bytes) when given. */
  sign (message: Message, out?: Buffer): Buffer {
    let sig: Buffer
    switch (this.algorithm) {
      case SigningAlgorithm.HmacSha256: sig = this.hmacSha256(message); break
      case SigningAlgorithm.AesCmac: sig = this.cmac(message); break
      case SigningAlgorithm.AesGmac: sig = this.gmac(message); break
    }
    if (out !== undefined) {
      sig.copy(out, 0, 0, SIG_LENGTH)
      return out.subarray(0, SIG_LENGTH)
    }
    return sig
  }

  /** Checks the Signature field of `message` (MS-SMB2 3.1.5.1) in constant time. */
  verify (message: Message): boolean {
    const first = firstChunk(message)
    const expected = this.sign(message)
    return timingSafeEqual(expected, first.subarray(SIG_OFFSET, SIG_OFFSET + SIG_LENGTH))
  }

  // MS-SMB2 3.1.4.1: 2.0.2/2.1 use the first 16 bytes of HMAC-SHA256.
  private hmacSha256 (message: Message): Buffer {
    const h = createHmac('sha256', this.hmacKey!)
    forEachSegment(message, (b) => { h.update(b) })
    return h.digest().subarray(0, SIG_LENGTH)
  }

  // MS-SMB2 3.1.4.1: 3.x without a negotiated SigningAlgorithmId uses AES-128-CMAC.
  private cmac (message: Message): Buffer {
    return this.cmacState!.macSegments(totalLength(message), (feed) => { forEachSegment(message, feed) })
  }

  // MS-SMB2 3.1.4.1: AES-128-GMAC (RFC 4543) = GCM with the message as AAD and no
  // plaintext. Nonce: MessageId (8 bytes), then a 32-bit LE word whose bit 0 marks a
  // message sent by the server and bit 1 a CANCEL request.
  private gmac (message: Message): Buffer {
    const header = firstChunk(message)
    const nonce = Buffer.alloc(12)
    header.copy(nonce, 0, MESSAGE_ID_OFFSET, MESSAGE_ID_OFFSET + 8)
    const isServer = (header.readUInt32LE(FLAGS_OFFSET) & SMB2_FLAGS_SERVER_TO_REDIR) !== 0
    const isCancel = !isServer && header.readUInt16LE(COMMAND_OFFSET) === SMB2_CANCEL
    nonce.writeUInt32LE((isServer ? 1 : 0) | (isCancel ? 2 : 0), 8)
    const gcm = createCipheriv('aes-128-gcm', this.aesKey!, nonce, { authTagLength: 16 })
    forEachSegment(message, (b) => { gcm.setAAD(b) })
    gcm.final()
    return gcm.getAuthTag()
  }
}
