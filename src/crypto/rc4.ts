// RC4 (ARCFOUR), needed only by NTLMSSP key exchange and sealing (MS-NLMP 3.4, 3.1.5.1.2).
// OpenSSL 3 moves RC4 to the legacy provider, so Node cannot be relied on to have it.

export class Rc4 {
  private readonly s = new Uint8Array(256)
  private i = 0
  private j = 0

  constructor (key: Uint8Array) {
    if (key.length === 0 || key.length > 256) throw new RangeError('RC4 key must be 1..256 bytes')
    const s = this.s
    for (let k = 0; k < 256; k++) s[k] = k
    let j = 0
    for (let k = 0; k < 256; k++) {
      j = (j + s[k]! + key[k % key.length]!) & 0xff
      const t = s[k]!; s[k] = s[j]!; s[j] = t
    }
  }

  /** XORs the keystream into `data`, writing to `out` (a new buffer by default; may be `data`). */
  update (data: Uint8Array, out: Buffer = Buffer.allocUnsafe(data.length)): Buffer {
    const s = this.s
    let i = this.i
    let j = this.j
    for (let k = 0; k < data.length; k++) {
      i = (i + 1) & 0xff
      const si = s[i]!
      j = (j + si) & 0xff
      const sj = s[j]!
      s[i] = sj; s[j] = si
      out[k] = data[k]! ^ s[(si + sj) & 0xff]!
    }
    this.i = i
    this.j = j
    return out
  }
}

/** One-shot RC4 with a fresh key schedule. */
export function rc4 (key: Uint8Array, data: Uint8Array): Buffer {
  return new Rc4(key).update(data)
}
