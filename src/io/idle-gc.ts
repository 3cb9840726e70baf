// Memory back to the kernel once a process goes quiet. V8 collects only when JavaScript
// allocates: a server that stops getting requests never collects again, and keeps what its last
// busy minute left behind — the young generation grown to serve it (up to 128 MiB on this
// machine), pages V8 freed and keeps pooled for reuse, buffers the pools dropped to the GC (their
// READ and WRITE buffers are MiBs each). Measured after a bench-like load: a worker held
// 275 MiB RSS until the next request, ~100 MiB after one memory-reducing collection; a fresh
// worker 76 MiB, 67 after it (its start-up's garbage: module loading, the ring self-check).
//
// What the collection frees outside V8's heap (Node's and OpenSSL's allocations, the compiler
// threads' zones) glibc keeps in its arenas: after the same load, ~30 MiB of a worker's RSS, which
// malloc_trim gives back.
//
// So: one memory-reducing collection (V8's "last resort": full GCs until nothing more is freed,
// pooled pages released), then malloc_trim, at the end of start-up, and again each time the
// process has been quiet for a while after working. It costs a pause of ~50 ms, taken when
// nobody is waiting.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { native, nativeAvailable } from './native.js'

/** V8's gc() (its extension's options). */
type V8Gc = (options?: { type?: 'major' | 'minor', execution?: 'sync' | 'async', flavor?: 'regular' | 'last-resort' }) => unknown

let v8Gc: V8Gc | null | undefined

/**
 * V8's gc(), for this module alone: exposed for the creation of one context and hidden again,
 * so that the global scope keeps no `gc`. undefined when V8 refuses (the collections are skipped).
 */
function privateGc (): V8Gc | undefined {
  if (v8Gc === undefined) {
    const global = (globalThis as { gc?: V8Gc }).gc
    if (typeof global === 'function') {
      v8Gc = global
    } else {
      try {
        setFlagsFromString('--expose-gc')
        const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined')
        v8Gc = typeof gc === 'function' ? gc as V8Gc : null
      } catch {
        v8Gc = null
      } finally {
        setFlagsFromString('--no-expose-gc')
      }
    }
  }
  return v8Gc ?? undefined
}

/**
 * A memory-reducing collection, then glibc's free pages back to the kernel, now; false when V8
 * gave no gc() to call (the trim is done all the same).
 */
export function collectAllGarbage (): boolean {
  const gc = privateGc()
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  // An addon built before mallocTrimNow existed (npm run build rebuilds it) only skips the trim.
  if (nativeAvailable && typeof native.mallocTrimNow === 'function') native.mallocTrimNow()
  return gc !== undefined
}

export interface IdleGcOptions {
  /** A count that moves while the process works (requests answered, messages handled). */
  activity: () => number
  /** How long the count must stand still to call the process quiet (default 10 s). */
  quietMs?: number
  /** Runs first: what holds memory only to be fast lets go of it (the buffer pools trim). */
  beforeCollect?: () => void
  /** The collection (default collectAllGarbage; tests count calls). */
  collect?: () => void
}

/**
 * Collects once at start-up's end (`settled`) and then once per quiet spell that follows some
 * work: the count is looked at every `quietMs`; moved since the last look, the process is busy;
 * still, and moved since the last collection, it is collected. An idle process is looked at,
 * never collected again. The timer is unref'd: it keeps no process alive.
 */
export class IdleGc {
  /** Collections done (tests, the log). */
  collections = 0
  private last: number
  /** Work since the last collection (start-up counts as work). */
  private dirty = true
  private readonly timer: NodeJS.Timeout
  private settleTimer?: NodeJS.Immediate

  constructor (private readonly o: IdleGcOptions) {
    this.last = o.activity()
    this.timer = setInterval(() => { this.look() }, o.quietMs ?? 10_000)
    this.timer.unref()
  }

  /** Start-up is over: collect its garbage on the next turn of the loop, unless work came first. */
  settled (): void {
    if (this.settleTimer !== undefined) return
    this.settleTimer = setImmediate(() => {
      this.settleTimer = undefined
      if (this.o.activity() === this.last && this.dirty) this.collect()
    })
    this.settleTimer.unref()
  }

  /** One look of the timer (exposed for tests). */
  look (): void {
    const now = this.o.activity()
    if (now !== this.last) {
      this.last = now
      this.dirty = true
      return
    }
    if (this.dirty) this.collect()
  }

  private collect (): void {
    this.dirty = false
    this.o.beforeCollect?.()
    if (this.o.collect !== undefined) this.o.collect()
    else collectAllGarbage()
    this.collections++
  }

  close (): void {
    clearInterval(this.timer)
    if (this.settleTimer !== undefined) clearImmediate(this.settleTimer)
    this.settleTimer = undefined
  }
}
