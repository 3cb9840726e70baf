// MD4 (RFC 1320), for the NT one-way function only (MS-NLMP 3.3.1): OpenSSL 3 keeps MD4
// in the legacy provider, which Node does not load.

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n))

export function md4 (data: Uint8Array): Buffer {
  // Padding (RFC 1320 3.1, 3.2): 0x80, zeros to 56 mod 64, then the bit length as 64-bit LE.
  const len = data.length
  const padded = Buffer.alloc(((len + 8) >>> 6) * 64 + 64)
  padded.set(data, 0)
  padded[len] = 0x80
  const bits = len * 8
  padded.writeUInt32LE(bits >>> 0, padded.length - 8)
  padded.writeUInt32LE(Math.floor(bits / 0x100000000) >>> 0, padded.length - 4)

  let a = 0x67452301
  let b = 0xefcdab89
  let c = 0x98badcfe
  let d = 0x10325476
  const x = new Int32Array(16)
  const F = (p: number, q: number, r: number): number => (p & q) | (~p & r)
  const G = (p: number, q: number, r: number): number => (p & q) | (p & r) | (q & r)
  const H = (p: number, q: number, r: number): number => p ^ q ^ r
  const R2 = 0x5a827999
  const R3 = 0x6ed9eba1
  const ORDER3 = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15]

  for (let off = 0; off < padded.length; off += 64) {
    for (let k = 0; k < 16; k++) x[k] = padded.readInt32LE(off + k * 4)
    const aa = a; const bb = b; const cc = c; const dd = d
    // Round 1
    for (let k = 0; k < 16; k += 4) {
      a = rotl((a + F(b, c, d) + x[k]!) | 0, 3)
      d = rotl((d + F(a, b, c) + x[k + 1]!) | 0, 7)
      c = rotl((c + F(d, a, b) + x[k + 2]!) | 0, 11)
      b = rotl((b + F(c, d, a) + x[k + 3]!) | 0, 19)
    }
    // Round 2
    for (let k = 0; k < 4; k++) {
      a = rotl((a + G(b, c, d) + x[k]! + R2) | 0, 3)
      d = rotl((d + G(a, b, c) + x[k + 4]! + R2) | 0, 5)
      c = rotl((c + G(d, a, b) + x[k + 8]! + R2) | 0, 9)
      b = rotl((b + G(c, d, a) + x[k + 12]! + R2) | 0, 13)
    }
    // Round 3
    for (let k = 0; k < 16; k += 4) {
      a = rotl((a + H(b, c, d) + x[ORDER3[k]!]! + R3) | 0, 3)
      d = rotl((d + H(a, b, c) + x[ORDER3[k + 1]!]! + R3) | 0, 9)
      c = rotl((c + H(d, a, b) + x[ORDER3[k + 2]!]! + R3) | 0, 11)
      b = rotl((b + H(c, d, a) + x[ORDER3[k + 3]!]! + R3) | 0, 15)
    }
    a = (a + aa) | 0
    b = (b + bb) | 0
    c = (c + cc) | 0
    d = (d + dd) | 0
  }
  const out = Buffer.alloc(16)
  out.writeInt32LE(a, 0)
  out.writeInt32LE(b, 4)
  out.writeInt32LE(c, 8)
  out.writeInt32LE(d, 12)
  return out
}

/** NTOWFv1 (MS-NLMP 3.3.1): MD4 of the UTF-16LE password. */
export function ntHash (password: string): Buffer {
  return md4(Buffer.from(password, 'utf16le'))
}
