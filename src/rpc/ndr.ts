// A small NDR 2.0 codec (C706 chapter 14; MS-RPCE 2.2.5): little-endian only, alignment relative
// to the start of the stub, unique/full pointers with referent ids, conformant varying UTF-16
// strings, conformant arrays and deferred pointee data. Decoders are bounds-checked and throw
// only NdrError.

import type { Sid } from '../wire/dtyp/sid.js'

/** A stub that does not decode (the endpoint answers it with a fault, nca_s_fault_ndr). */
export class NdrError extends Error {
  readonly code = 'SMBTS_ERR_NDR'
  constructor (message: string) {
    super(message)
    this.name = 'NdrError'
  }
}

/** A deferred pointee: written (or read) after the construct that holds its pointer. */
type Deferred = () => void

/**
 * Writes NDR20. Pointees of embedded pointers are deferred: they go out after the top-level
 * construct being written, in pointer order; a pointee's own pointees follow it at once
 * (C706 14.3.12.3). Call `flush()` after each top-level parameter.
 */
export class NdrWriter {
  private buf = Buffer.alloc(256)
  private len = 0
  private deferred: Deferred[] = []
  private nextRef = 0x00020000

  get length (): number { return this.len }

  private ensure (n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }

  align (n: number): this {
    const pad = (n - (this.len % n)) % n
    this.ensure(pad)
    this.buf.fill(0, this.len, this.len + pad)
    this.len += pad
    return this
  }

  u8 (v: number): this { this.ensure(1); this.buf.writeUInt8(v & 0xff, this.len); this.len += 1; return this }
  u16 (v: number): this { this.align(2); this.ensure(2); this.buf.writeUInt16LE(v & 0xffff, this.len); this.len += 2; return this }
  u32 (v: number): this { this.align(4); this.ensure(4); this.buf.writeUInt32LE(v >>> 0, this.len); this.len += 4; return this }
  i32 (v: number): this { this.align(4); this.ensure(4); this.buf.writeInt32LE(v | 0, this.len); this.len += 4; return this }
  u64 (v: bigint): this { this.align(8); this.ensure(8); this.buf.writeBigUInt64LE(v, this.len); this.len += 8; return this }
  bytes (b: Buffer): this { this.ensure(b.length); b.copy(this.buf, this.len); this.len += b.length; return this }

  /** A unique (or full) pointer: a referent id now, the pointee later; null → 0 and nothing. */
  pointer<T> (value: T | null | undefined, writePointee: (w: NdrWriter, v: T) => void): this {
    if (value === null || value === undefined) return this.u32(0)
    this.u32(this.nextRef)
    this.nextRef += 4
    this.deferred.push(() => writePointee(this, value))
    return this
  }

  /** Writes the pointees deferred so far (and theirs, depth first, C706 14.3.12.3). */
  flush (): this {
    const list = this.deferred
    this.deferred = []
    for (const d of list) {
      d()
      this.flush()
    }
    return this
  }

  /** [string] wchar_t*: conformant varying string, NUL-terminated (C706 14.3.4.3, MS-RPCE 2.2.5.1). */
  wstring (s: string): this {
    const units = Buffer.from(s + '\0', 'utf16le')
    const n = units.length / 2
    this.u32(n).u32(0).u32(n)
    return this.bytes(units)
  }

  /** A unique pointer to a [string] wchar_t (NULL when s is null or undefined). */
  wstringPtr (s: string | null | undefined): this {
    return this.pointer(s, (w, v) => w.wstring(v))
  }

  /** A conformant array (C706 14.3.3.2): max_count, then the elements' scalars; pointees deferred. */
  conformantArray<T> (items: readonly T[], writeItem: (w: NdrWriter, v: T) => void): this {
    this.u32(items.length)
    for (const it of items) writeItem(this, it)
    return this
  }

  /**
   * RPC_UNICODE_STRING (MS-DTYP 2.3.10): Length and MaximumLength in bytes, then a unique pointer
   * to a conformant varying array of that many UTF-16 units, with no terminating NUL.
   */
  unicodeString (s: string | null | undefined): this {
    // The structure aligns to its pointer's 4 bytes before its first u16 (C706 14.3.7.1).
    this.align(4)
    if (s === null || s === undefined) return this.u16(0).u16(0).u32(0)
    const units = Buffer.from(s, 'utf16le')
    this.u16(units.length).u16(units.length)
    return this.pointer(units, (w, u) => { w.u32(u.length / 2).u32(0).u32(u.length / 2).bytes(u) })
  }

  /** RPC_SID (MS-DTYP 2.4.2.3), a conformant structure: the sub-authority count first, as max_count. */
  sid (sid: Sid): this {
    this.u32(sid.subAuthorities.length)
    this.u8(sid.revision).u8(sid.subAuthorities.length)
    const auth = Buffer.alloc(6)
    auth.writeUIntBE(Number(sid.identifierAuthority), 0, 6)
    this.bytes(auth)
    for (const a of sid.subAuthorities) this.u32(a)
    return this
  }

  sidPtr (sid: Sid | null | undefined): this {
    return this.pointer(sid, (w, v) => w.sid(v))
  }

  /** A context handle (MS-RPCE 2.2.4.? / C706 ndr_context_handle): 20 opaque bytes. */
  handle (h: Buffer): this {
    return this.align(4).bytes(h)
  }

  finish (): Buffer {
    this.flush()
    return Buffer.from(this.buf.subarray(0, this.len))
  }
}

/** Reads NDR20 from a stub, every read bounds-checked. */
export class NdrReader {
  private off = 0
  private deferred: Deferred[] = []

  constructor (private readonly buf: Buffer) {}

  get offset (): number { return this.off }
  get remaining (): number { return this.buf.length - this.off }

  private need (n: number, what: string): void {
    if (n < 0 || this.off + n > this.buf.length) throw new NdrError(`NDR: ${what} runs past the end of the stub (${this.off}+${n} > ${this.buf.length})`)
  }

  align (n: number): this {
    const pad = (n - (this.off % n)) % n
    this.need(pad, 'alignment padding')
    this.off += pad
    return this
  }

  u8 (): number { this.need(1, 'u8'); return this.buf.readUInt8(this.off++) }
  u16 (): number { this.align(2); this.need(2, 'u16'); const v = this.buf.readUInt16LE(this.off); this.off += 2; return v }
  u32 (): number { this.align(4); this.need(4, 'u32'); const v = this.buf.readUInt32LE(this.off); this.off += 4; return v }
  u64 (): bigint { this.align(8); this.need(8, 'u64'); const v = this.buf.readBigUInt64LE(this.off); this.off += 8; return v }
  bytes (n: number): Buffer { this.need(n, 'bytes'); const b = this.buf.subarray(this.off, this.off + n); this.off += n; return b }

  /**
   * A unique pointer: reads the referent id now; when non-null, `readPointee` runs at the next
   * `flush()` (deferred, C706 14.3.12.3) and its result lands in the returned box.
   */
  pointer<T> (readPointee: (r: NdrReader) => T): { value: T | null } {
    const ref = this.u32()
    const box: { value: T | null } = { value: null }
    if (ref !== 0) this.deferred.push(() => { box.value = readPointee(this) })
    return box
  }

  flush (): this {
    const list = this.deferred
    this.deferred = []
    for (const d of list) {
      d()
      this.flush()
    }
    return this
  }

  /** A conformant varying UTF-16 string; the terminating NUL, when present, is dropped. */
  wstring (): string {
    const max = this.u32()
    const offset = this.u32()
    const actual = this.u32()
    if (offset !== 0) throw new NdrError(`NDR: string offset ${offset} (must be 0)`)
    if (actual > max) throw new NdrError(`NDR: string actual_count ${actual} > max_count ${max}`)
    const b = this.bytes(actual * 2)
    let s = b.toString('utf16le')
    if (s.endsWith('\0')) s = s.slice(0, -1)
    return s
  }

  wstringPtr (): { value: string | null } {
    return this.pointer(r => r.wstring())
  }

  /** RPC_UNICODE_STRING; the box fills at the next flush(). Lengths must agree with the array's. */
  unicodeString (): { value: string | null } {
    this.align(4)
    const length = this.u16()
    const max = this.u16()
    if ((length & 1) !== 0 || length > max) throw new NdrError(`RPC_UNICODE_STRING: Length ${length}, MaximumLength ${max}`)
    return this.pointer(r => {
      const maxCount = r.u32()
      const offset = r.u32()
      const actual = r.u32()
      if (offset !== 0 || actual > maxCount || actual * 2 !== length) throw new NdrError(`RPC_UNICODE_STRING: array ${maxCount}/${offset}/${actual} for Length ${length}`)
      return r.bytes(actual * 2).toString('utf16le')
    })
  }

  /** RPC_SID: max_count, then the SID; the counts must agree and stay within 15 (MS-DTYP 2.4.2.3). */
  sid (): Sid {
    const count = this.u32()
    const revision = this.u8()
    const n = this.u8()
    if (count !== n || n > 15) throw new NdrError(`RPC_SID: ${n} sub-authorities, conformance ${count}`)
    if (revision !== 1) throw new NdrError(`RPC_SID: revision ${revision}`)
    const identifierAuthority = BigInt(this.bytes(6).readUIntBE(0, 6))
    const subAuthorities: number[] = []
    for (let i = 0; i < n; i++) subAuthorities.push(this.u32())
    return { revision, identifierAuthority, subAuthorities }
  }

  handle (): Buffer {
    this.align(4)
    return Buffer.from(this.bytes(20))
  }

  /** A conformant array's max_count, refused when its elements could not fit in what is left. */
  count (minElementSize: number, what: string): number {
    const n = this.u32()
    if (n * minElementSize > this.remaining) throw new NdrError(`${what}: ${n} elements cannot fit in ${this.remaining} bytes`)
    return n
  }
}
