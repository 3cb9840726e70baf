// Pipes for READ responses spliced from the page cache to the socket (uring.ts spliceLinked,
// docs/io_uring.md "Large READs: spliced"). Splicing a file into a pipe takes references to its
// cached pages, and splicing the pipe into a TCP socket hands those pages to the socket: the
// payload is never copied by this process (a pread and a send copy it twice). A READ needs about
// one pipe per `size` bytes, all filled before its header leaves, so that a short read can still
// be answered another way (nothing sent yet).
//
// The pipes are the ring's (one per worker), lent per READ and given back empty. There is a cap
// on pipes open, and on pipes kept idle: pipe capacity counts against the user's budget
// (fs.pipe-user-pages-soft), which other processes of the same user share. When the kernel
// refuses a pipe of `size` (fs.pipe-max-size, or that budget spent), READs are copied for a
// while, and the log says so once.
import { native } from '../io/native.js'

/** What an unprivileged process may ask by default (/proc/sys/fs/pipe-max-size). */
export const PIPE_SIZE = 1024 * 1024
/** Pipes one worker may hold: 8 READs of 8 MiB in flight at once. */
const MAX_PIPES = 64
/** Pipes kept open while idle: one READ of 16 MiB, or two of 8. */
const KEEP_IDLE = 16
/** After a refusal, how long READs are copied before a pipe is asked for again. */
const RETRY_MS = 10_000

export interface PipeSet {
  /** k (read end, write end) pairs, as the ring takes them. */
  readonly fds: Int32Array
}

export interface SplicePipesOptions {
  size?: number
  max?: number
  keepIdle?: number
  /** Milliseconds, monotonic (tests give a fake clock). */
  clock?: () => number
}

export class SplicePipes {
  private readonly idle: Array<[number, number]> = []
  private open = 0
  private retryAt = 0
  private warned = false
  private closed = false
  readonly size: number
  private readonly max: number
  private readonly keepIdle: number
  private readonly clock: () => number

  constructor (private readonly warn: (msg: string) => void, o: SplicePipesOptions = {}) {
    this.size = o.size ?? PIPE_SIZE
    this.max = o.max ?? MAX_PIPES
    this.keepIdle = o.keepIdle ?? KEEP_IDLE
    this.clock = o.clock ?? (() => performance.now())
  }

  /** `k` pipes, or undefined (over the cap, or refused lately: the READ is copied). */
  take (k: number): PipeSet | undefined {
    if (this.closed) return undefined
    if (this.retryAt > 0 && this.clock() < this.retryAt) return undefined
    if (k > this.idle.length + (this.max - this.open)) return undefined
    const fds = new Int32Array(2 * k)
    for (let i = 0; i < k; i++) {
      let p = this.idle.pop()
      if (p === undefined) {
        const made = native.pipeNow(this.size)
        if (typeof made === 'number' || made[2] < this.size) {
          if (typeof made !== 'number') { native.closeNow(made[0]); native.closeNow(made[1]) }
          this.refused(typeof made === 'number' ? `errno ${-made}` : `capacity ${made[2]}`)
          this.give({ fds: fds.subarray(0, 2 * i) })
          return undefined
        }
        this.open++
        p = [made[0], made[1]]
      }
      fds[2 * i] = p[0]
      fds[2 * i + 1] = p[1]
    }
    this.retryAt = 0
    return { fds }
  }

  private refused (why: string): void {
    this.retryAt = this.clock() + RETRY_MS
    if (this.warned) return
    this.warned = true
    this.warn(`READ data is copied, not spliced, for ${RETRY_MS / 1000} s: a pipe of ${this.size} bytes was refused (${why}; ` +
      'see fs.pipe-max-size and fs.pipe-user-pages-soft); said once')
  }

  /** Pipes back, empty (every byte staged in them was sent); beyond the idle cap, closed. */
  give (set: PipeSet): void {
    for (let i = 0; i + 1 < set.fds.length; i += 2) {
      if (!this.closed && this.idle.length < this.keepIdle) this.idle.push([set.fds[i]!, set.fds[i + 1]!])
      else this.closePair(set.fds[i]!, set.fds[i + 1]!)
    }
  }

  /** Pipes that may still hold data (a chain that broke): closed, never reused. */
  discard (set: PipeSet): void {
    for (let i = 0; i + 1 < set.fds.length; i += 2) this.closePair(set.fds[i]!, set.fds[i + 1]!)
  }

  /** Closes the idle pipes, and each lent one when it comes back. */
  close (): void {
    this.closed = true
    for (const [r, w] of this.idle.splice(0)) this.closePair(r, w)
  }

  /** Pipes open now, lent or idle (tests). */
  get count (): number { return this.open }

  private closePair (r: number, w: number): void {
    native.closeNow(r)
    native.closeNow(w)
    this.open--
  }
}
