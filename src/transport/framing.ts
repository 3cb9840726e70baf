// MS-SMB2 2.1 Direct TCP transport: a 4-byte header (one zero byte, 24-bit big-endian length)
// before each message. Whole frames inside a received chunk are handed out as views; only a
// frame split across chunks is copied, once, into a buffer of exactly its size.
import { ProtocolError } from '../wire/errors.js'
import type { Loan } from '../io/buffer-pool.js'

/** A whole frame; `loan` when it was reassembled in a lent buffer (see FrameReader's `alloc`). */
export type OnFrame = (frame: Buffer, loan?: Loan) => void

export class FrameReader {
  private partial?: Buffer
  private partialLoan?: Loan
  private partialFill = 0
  private head = Buffer.alloc(4)
  private headFill = 0

  /** True while a frame (or its 4-byte length) has started but not completed. */
  get midFrame (): boolean {
    return this.partial !== undefined || this.headFill > 0
  }

  /**
   * `maxFrame` is asked per frame, so it can grow once a session is established. `alloc`, when
   * given, lends the buffer a frame split across chunks is reassembled in (a pool of reused
   * buffers: a large WRITE is received into warm pages); the loan goes out with the frame.
   */
  constructor (private readonly maxFrame: () => number, private readonly alloc?: (len: number) => Loan) {}

  /**
   * Feeds a received chunk (chunk[start, end): a transport receiving into an arena need not make
   * a view of each chunk); calls `onFrame` for each complete frame, in order.
   */
  push (chunk: Buffer, onFrame: OnFrame, start = 0, end = chunk.length): void {
    let off = start
    while (off < end) {
      if (this.partial !== undefined) {
        const n = Math.min(this.partial.length - this.partialFill, end - off)
        chunk.copy(this.partial, this.partialFill, off, off + n)
        this.partialFill += n
        off += n
        if (this.partialFill === this.partial.length) this.complete(onFrame)
        continue
      }
      // The 4-byte length header, possibly split across chunks.
      let len: number
      if (this.headFill === 0 && end - off >= 4) {
        len = this.length(chunk, off)
        off += 4
      } else {
        const n = Math.min(4 - this.headFill, end - off)
        chunk.copy(this.head, this.headFill, off, off + n)
        this.headFill += n
        off += n
        if (this.headFill < 4) return
        this.headFill = 0
        len = this.length(this.head, 0)
      }
      if (end - off >= len) {
        onFrame(chunk.subarray(off, off + len))
        off += len
      } else {
        if (this.alloc !== undefined) {
          this.partialLoan = this.alloc(len)
          this.partial = this.partialLoan.buf.subarray(0, len)
        } else {
          this.partial = Buffer.allocUnsafe(len)
        }
        this.partialFill = 0
      }
    }
  }

  /**
   * The unfilled rest of a frame being reassembled, so that a transport can receive straight into
   * it (no copy of a large WRITE). Exactly the frame's missing bytes: never beyond its end.
   */
  pendingSpace (): { buf: Buffer, off: number, len: number } | undefined {
    if (this.partial === undefined) return undefined
    return { buf: this.partial, off: this.partialFill, len: this.partial.length - this.partialFill }
  }

  /** `n` bytes were received into pendingSpace(); hands out the frame once it is whole. */
  commitPending (n: number, onFrame: OnFrame): void {
    if (this.partial === undefined || n > this.partial.length - this.partialFill) throw new RangeError('commitPending beyond the pending frame')
    this.partialFill += n
    if (this.partialFill === this.partial.length) this.complete(onFrame)
  }

  /**
   * The raw bytes of a frame begun and not completed (its length header, and what came of its
   * body), taken out: the reader is then between frames. A connection handed to another worker
   * (handoff.ts) passes them on as received. Undefined when between frames.
   */
  takeRest (): Buffer | undefined {
    let rest: Buffer | undefined
    if (this.partial !== undefined) {
      rest = Buffer.concat([frameHeader(this.partial.length), this.partial.subarray(0, this.partialFill)])
      this.partialLoan?.release()
    } else if (this.headFill > 0) {
      rest = Buffer.from(this.head.subarray(0, this.headFill))
    }
    this.partial = undefined
    this.partialLoan = undefined
    this.partialFill = 0
    this.headFill = 0
    return rest
  }

  private complete (onFrame: OnFrame): void {
    const f = this.partial!
    const loan = this.partialLoan
    this.partial = undefined
    this.partialLoan = undefined
    onFrame(f, loan)
  }

  private length (b: Buffer, off: number): number {
    if (b[off] !== 0) throw new ProtocolError(`bad Direct-TCP header byte 0x${b[off].toString(16)}`)
    const len = b.readUIntBE(off + 1, 3)
    if (len === 0) throw new ProtocolError('empty frame')
    const max = this.maxFrame()
    if (len > max) throw new ProtocolError(`frame of ${len} bytes exceeds the limit of ${max}`)
    return len
  }
}

export function frameHeader (length: number): Buffer {
  if (length > 0xffffff) throw new RangeError('frame too large for Direct TCP')
  const h = Buffer.allocUnsafe(4)
  h.writeUInt32BE(length, 0)
  return h
}
