// Metadata calls made on the server's own thread (native.openat2Now, statxXattrNow, closeNow),
// where the share's file system answers them from memory.
//
// A CREATE or CLOSE is a handful of tiny syscalls (openat2, statx, the DOS record's xattr,
// close). Handed to a thread (io_uring's io-wq punts statx and xattrs to one; the threadpool is
// one), each costs a wake-up of that thread and another of ours when it is done: on this kind of
// machine a wake-up costs far more than the syscall. Samba makes these calls where it stands; so
// do we, but only where they cannot wait for a disk:
//   - `memory` (tmpfs, ramfs): the file system is the cache; every call, creates and unlinks
//     included, and file writes (memory copies, which io_uring would punt to an io-wq thread each:
//     tmpfs has no async buffered writes). Large writes stay here too: sent to io-wq with
//     IOSQE_ASYNC so that the loop could receive the next WRITE meanwhile, 1 GiB of 8 MiB writes
//     cost 2.4x the CPU (1.84 against 0.78 s/GiB; one A/B, stop 27, machine busy) and ran slower.
//   - `local` (ext4, xfs, btrfs, f2fs, zfs, bcachefs, overlayfs over them): lookups through
//     RESOLVE_CACHED (the kernel answers EAGAIN instead of reading a directory block, and the
//     call goes to the ring), statx and xattrs (read or listed) on a name or fd it just resolved,
//     close.
//     Creates and truncations go to the ring (they may wait for the journal).
//   - anything else (NFS, FUSE, CIFS, ...): never; every call may cross a network.
// Only on the share root's own mount: inline opens carry RESOLVE_NO_XDEV (EXDEV: off-thread),
// and an fd's own stats, writes and close are inline only when it was opened so or its mount id
// is the root's (posix.ts sameMount), so a file system mounted beneath the share is never called here.
// And, on a disk file system, a guard for what RESOLVE_CACHED cannot promise (an xattr or inode
// block read from disk, a close that frees an unlinked file's blocks, a stalled device): a call
// that slept (the thread's voluntary context switches moved: it waited for I/O or a lock, it was
// not merely preempted by a busy machine) and took longer than `slowMs` sends the share's
// metadata back to the ring for `backoffMs`, and says so once per back-off. tmpfs has no device
// to wait for: no guard there.
//
// smb.conf `inline metadata = no` (share) turns it off.
import { native } from '../io/native.js'

export type InlineKind = 'memory' | 'local'

/** statfs(2) f_type magics (linux/magic.h). */
const MEMORY_FS = new Set([
  0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */,
])
const LOCAL_FS = new Set([
  0xef53 /* ext2/3/4 */, 0x58465342 /* xfs */, 0x9123683e /* btrfs */, 0xf2f52010 /* f2fs */,
  0x2fc12fc1 /* zfs */, 0xca451a4e /* bcachefs */, 0x794c7630 /* overlayfs */,
])

export interface InlineOptions {
  /** smb.conf `inline metadata`: 'auto' (by file system, the default) or 'no'. */
  mode?: 'auto' | 'no'
  /** An inline call on a disk file system that slept and took longer than this (ms) backs off; default 4. */
  slowMs?: number
  /** How long (ms) a back-off lasts; default 30,000. */
  backoffMs?: number
  /** Milliseconds, monotonic (tests give a fake clock). */
  clock?: () => number
  /** The thread's voluntary context switches so far (tests give a fake). */
  sleeps?: () => number
  /** Where a back-off is reported. */
  warn?: (msg: string) => void
}

export interface InlineCounters {
  /** Inline call sequences made (an open, a stat, a close). */
  calls: number
  /** Opens that would have waited (EAGAIN: a lookup not in memory, a lease to break): made on the ring instead. */
  uncached: number
  /** Back-offs after a slow call. */
  slow: number
  /** File writes made inline (memory file systems). */
  writes: number
}

export class InlineMetadata {
  readonly counters: InlineCounters = { calls: 0, uncached: 0, slow: 0, writes: 0 }
  private offUntil = 0
  private readonly slowMs: number
  private readonly backoffMs: number
  readonly clock: () => number
  /** The thread's voluntary context switches so far (native.sleepsNow). */
  private readonly sleeps: () => number
  private readonly warn: (msg: string) => void

  /** The policy for a share whose root is `rootFd`, or undefined when its calls stay off this thread. */
  static forShare (rootFd: number, opts: InlineOptions = {}): InlineMetadata | undefined {
    if (opts.mode === 'no') return undefined
    const type = native.fsTypeNow(rootFd)
    if (type < 0) return undefined
    const kind: InlineKind | undefined = MEMORY_FS.has(type) ? 'memory' : LOCAL_FS.has(type) ? 'local' : undefined
    return kind === undefined ? undefined : new InlineMetadata(kind, opts)
  }

  constructor (readonly kind: InlineKind, opts: InlineOptions = {}) {
    this.slowMs = opts.slowMs ?? 4
    this.backoffMs = opts.backoffMs ?? 30_000
    this.clock = opts.clock ?? (() => performance.now())
    this.sleeps = opts.sleeps ?? (() => native.sleepsNow())
    this.warn = opts.warn ?? (() => {})
  }

  /** Lookups, stats and closes may run inline now (not backed off). */
  get on (): boolean {
    if (this.offUntil === 0) return true
    if (this.clock() < this.offUntil) return false
    this.offUntil = 0
    return true
  }

  /** Opens that create or truncate may run inline (memory file systems only). */
  get creates (): boolean {
    return this.kind === 'memory' && this.on
  }

  /** File writes may be made inline now (memory file systems only: a write is a memory copy). */
  get writes (): boolean {
    return this.kind === 'memory' && this.on
  }

  /** Lookups on a local disk file system go through RESOLVE_CACHED (never wait to read a directory). */
  get cachedOnly (): boolean {
    return this.kind === 'local'
  }

  /** The thread's sleeps when the current inline call began (calls are synchronous: one at a time). */
  private startSleeps = 0

  /** Before an inline call: the time done() compares with (0 on a memory file system, which is
   *  never backed off: its calls cannot wait). No allocation: it runs several times per CREATE. */
  private begin (): number {
    if (this.kind !== 'local') return 0
    this.startSleeps = this.sleeps()
    return this.clock()
  }

  /** After the inline call that began at `t0`. */
  private done (t0: number): void {
    this.counters.calls++
    if (this.kind !== 'local') return
    const ms = this.clock() - t0
    if (ms <= this.slowMs || this.offUntil !== 0 || this.sleeps() === this.startSleeps) return
    this.counters.slow++
    this.offUntil = this.clock() + this.backoffMs
    this.warn(`a metadata call took ${ms.toFixed(1)} ms on the server's thread; this share's opens and stats go to io_uring/the threadpool for ${Math.round(this.backoffMs / 1000)} s`)
  }

  /**
   * `fn(a, b, ...)` as one inline call: begin() before it, done() after it, also when it throws.
   * The arguments come one by one, not in a closure or a rest array, so the bracket allocates
   * nothing (it runs several times per CREATE). `fn` is called without a `this` (an addon
   * function, or a function bound once), with undefined for the trailing arguments it does not
   * take (the addon reads those as missing).
   */
  call<A, R> (fn: (a: A) => R, a: A): R
  call<A, B, R> (fn: (a: A, b: B) => R, a: A, b: B): R
  call<A, B, C, R> (fn: (a: A, b: B, c: C) => R, a: A, b: B, c: C): R
  call<A, B, C, D, E, R> (fn: (a: A, b: B, c: C, d: D, e: E) => R, a: A, b: B, c: C, d: D, e: E): R
  call<A, B, C, D, E, F, R> (fn: (a: A, b: B, c: C, d: D, e: E, f: F) => R, a: A, b: B, c: C, d: D, e: E, f: F): R
  call<A, B, C, D, E, F, G, R> (fn: (a: A, b: B, c: C, d: D, e: E, f: F, g: G) => R, a: A, b: B, c: C, d: D, e: E, f: F, g: G): R
  call (fn: (...args: unknown[]) => unknown, a: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown, g?: unknown): unknown {
    const t0 = this.begin()
    try { return fn(a, b, c, d, e, f, g) } finally { this.done(t0) }
  }
}
