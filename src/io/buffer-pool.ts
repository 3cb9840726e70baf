// Reusable buffers for READ data (CONVENTIONS 4 and 5). A READ fills a buffer from the file and
// the transport sends that same buffer; a fresh multi-MiB Buffer per READ means fresh pages,
// which the kernel must fault in while copying the file data into them. Measured on this kind of
// VM: pread of 8 MiB into a fresh Buffer ~800 MiB/s, into a reused one 5-6 GiB/s.
//
// Ownership: `take` lends a buffer; whoever holds the loan calls `release` exactly when no one
// (the kernel included) will read it again. Releasing late, or never, only costs memory (the
// buffer is garbage collected); releasing early would let another READ overwrite bytes still
// being sent, so a loan releases once and every later call is ignored.

/** A lent buffer: `buf.length` is at least what was asked for. */
export interface Loan {
  readonly buf: Buffer
  /** The buffer's registered-buffer slot on the ring (a READ_FIXED target), when it has one. */
  readonly fixed?: number
  release (): void
}

/** Where a pool registers its buffers (the ring's registered-buffer table). */
export interface BufferRegistry {
  /** Registers a new pooled buffer: its slot, or undefined (no slot free: used unregistered). */
  add (buf: Buffer): number | undefined
  /** The buffer in `slot` leaves the pool (to the GC): free the slot. */
  remove (slot: number): void
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
  /** Free buffers go back to the GC after this long without a take (an idle server keeps none). */
  idleMs?: number
  /** Registers each pooled buffer for the life it has in the pool (io_uring fixed buffers). */
  registry?: BufferRegistry
}

export class BufferPool {
  readonly minPooled: number
  readonly maxPooled: number
  readonly maxRetained: number
  readonly idleMs: number
  /** Free buffers by size class (sizeClass). */
  private readonly free = new Map<number, Buffer[]>()
  /** Registered slot of each pooled buffer that has one. */
  private readonly slots = new Map<Buffer, number>()
  private readonly registry?: BufferRegistry
  private retainedBytes = 0
  /** Counters, for tests and the stats file: loans served from the free lists, and fresh ones. */
  reused = 0
  allocated = 0
  /** Pooled loans taken and not yet released (a test's leak check: 0 once all is quiet). */
  lent = 0
  /** takes since the idle timer last looked; the timer runs only while buffers are kept. */
  private takes = 0
  private idleTimer?: NodeJS.Timeout

  constructor (o: BufferPoolOptions = {}) {
    this.minPooled = o.minPooled ?? 64 * KiB
    this.maxPooled = o.maxPooled ?? 16 * MiB
    this.maxRetained = o.maxRetained ?? 64 * MiB
    this.idleMs = o.idleMs ?? 10_000
    this.registry = o.registry
  }

  get retained (): number { return this.retainedBytes }

  take (size: number): Loan {
    if (size < this.minPooled || size > this.maxPooled) return { buf: Buffer.allocUnsafe(size), release () {} }
    const cls = sizeClass(size)
    this.takes++
    const list = this.free.get(cls)
    let buf = list?.pop()
    if (buf !== undefined) {
      this.retainedBytes -= cls
      this.reused++
    } else {
      buf = Buffer.allocUnsafeSlow(cls)
      this.allocated++
      const slot = this.registry?.add(buf)
      if (slot !== undefined) this.slots.set(buf, slot)
    }
    const b = buf
    let out = true
    this.lent++
    return {
      buf: b,
      fixed: this.slots.get(b),
      release: () => {
        if (!out) return
        out = false
        this.lent--
        this.give(cls, b)
      },
    }
  }

  private give (cls: number, buf: Buffer): void {
    if (this.retainedBytes + cls > this.maxRetained) { this.unregister(buf); return }
    let list = this.free.get(cls)
    if (list === undefined) { list = []; this.free.set(cls, list) }
    list.push(buf)
    this.retainedBytes += cls
    this.armIdleTimer()
  }

  /** Drops every free buffer (the GC takes them). */
  trim (): void {
    for (const list of this.free.values()) for (const b of list) this.unregister(b)
    this.free.clear()
    this.retainedBytes = 0
    if (this.idleTimer !== undefined) { clearTimeout(this.idleTimer); this.idleTimer = undefined }
  }

  private unregister (buf: Buffer): void {
    const slot = this.slots.get(buf)
    if (slot === undefined) return
    this.slots.delete(buf)
    this.registry!.remove(slot)
  }

  private armIdleTimer (): void {
    if (this.idleTimer !== undefined) return
    this.takes = 0
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.takes === 0) this.trim()
      else if (this.retainedBytes > 0) this.armIdleTimer()
    }, this.idleMs)
    this.idleTimer.unref()
  }
}

/** Size classes: powers of two up to 1 MiB, then whole MiBs (a WRITE frame of 8 MiB and its
 *  headers takes 9 MiB, not 16). */
function sizeClass (n: number): number {
  return n <= MiB ? 2 ** Math.ceil(Math.log2(n)) : Math.ceil(n / MiB) * MiB
}
