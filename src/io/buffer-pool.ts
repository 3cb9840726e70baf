// Reusable buffers for READ data (CONVENTIONS 4 and 5). A READ fills a buffer from the file and
// the transport sends that same buffer; a fresh multi-MiB Buffer per READ means fresh pages,
// which the kernel must fault in while copying the file data into them. Measured on this kind of
// VM: pread of 8 MiB into a fresh Buffer ~800 MiB/s, into a reused one 5-6 GiB/s.
//
// Ownership: `take` lends a buffer; whoever holds the lease calls `release` exactly when no one
// (the kernel included) will read it again. Releasing late, or never, only costs memory (the
// buffer is garbage collected); releasing early would let another READ overwrite bytes still
// being sent, so a lease releases once and every later call is ignored.

/** A lent buffer: `buf.length` is at least what was asked for. */
export interface Lease {
  readonly buf: Buffer
  release (): void
}

const KiB = 1024
const MiB = 1024 * KiB

export interface BufferPoolOptions {
  /** Below this size buffers are plain allocations, never pooled (Node pools the small ones). */
  minPooled?: number
  /** Above this size too (a READ is at most `smb2 max read`). */
  maxPooled?: number
  /** Bytes kept in the free lists at most; what would go beyond is left to the GC. */
  maxRetained?: number
}

export class BufferPool {
  readonly minPooled: number
  readonly maxPooled: number
  readonly maxRetained: number
  /** Free buffers by size class (powers of two). */
  private readonly free = new Map<number, Buffer[]>()
  private retainedBytes = 0
  /** Counters, for tests and the stats file: leases served from the free lists, and fresh ones. */
  reused = 0
  allocated = 0

  constructor (o: BufferPoolOptions = {}) {
    this.minPooled = o.minPooled ?? 64 * KiB
    this.maxPooled = o.maxPooled ?? 16 * MiB
    this.maxRetained = o.maxRetained ?? 64 * MiB
  }

  get retained (): number { return this.retainedBytes }

  take (size: number): Lease {
    if (size < this.minPooled || size > this.maxPooled) return { buf: Buffer.allocUnsafe(size), release () {} }
    const cls = sizeClass(size)
    const list = this.free.get(cls)
    let buf = list?.pop()
    if (buf !== undefined) {
      this.retainedBytes -= cls
      this.reused++
    } else {
      buf = Buffer.allocUnsafeSlow(cls)
      this.allocated++
    }
    const b = buf
    let out = true
    return {
      buf: b,
      release: () => {
        if (!out) return
        out = false
        this.give(cls, b)
      },
    }
  }

  private give (cls: number, buf: Buffer): void {
    if (this.retainedBytes + cls > this.maxRetained) return
    let list = this.free.get(cls)
    if (list === undefined) { list = []; this.free.set(cls, list) }
    list.push(buf)
    this.retainedBytes += cls
  }
}

/** The smallest power of two >= n. */
function sizeClass (n: number): number {
  return 2 ** Math.ceil(Math.log2(n))
}
