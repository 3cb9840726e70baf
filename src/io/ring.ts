// The TypeScript face of native/src/ring*.c (ring.c maps its files): an io_uring owned by this JS
// thread.
//
// Every method preps one SQE and returns a Promise (with the op's `tag`) that settles when its CQE
// arrives. Prepped SQEs go to the kernel together, one io_uring_submit per batch (before the
// event loop next blocks, or at `submit()`). Completions come back in batches: a plain ring's fd
// is polled by the loop; with DEFER_TASKRUN the loop sleeps in the ring instead (io_uring_enter
// with GETEVENTS, the one wait the kernel wakes for deferred work; docs/io_uring.md). A failed op
// rejects with an Error carrying `code` (errno name), `errno` (positive) and `syscall`, like the
// threadpool ops in native.ts.
//
// Multishot ops (accept, recv) settle once, when they end; their other CQEs go to a callback. A
// multishot recv fills the spans its provided-buffer group is given one at a time
// (createBufGroup/provideBuffer), so the caller decides where each chunk lands.
//
// Buffers passed in are held by the addon until their CQE, even after cancel() or close(): do not
// reuse them before the op settles. When every ring slot is in flight, further ops wait in a
// backlog here and are prepped as slots free up.

import { errnoError, native, nativeAvailable, nativeLoadError, type Int64, type NativeErrnoError, type NativePath, type Statx } from './native.js'

/** The addon's Ring class, as the addon sees it (tags are int32, chosen by this module). */
interface NativeRingHandle {
  nop(tag: number): void;
  read(tag: number, fd: number, buf: Uint8Array, offset: number, length: number, position: Int64): void;
  write(tag: number, fd: number, buf: Uint8Array, offset: number, length: number, position: Int64): void;
  recv(tag: number, fd: number, buf: Uint8Array, offset: number, length: number, flags: number): void;
  send(tag: number, fd: number, buf: Uint8Array, offset: number, length: number, flags: number): void;
  sendmsg(tag: number, fd: number, buffers: Uint8Array[], flags: number): void;
  acceptMultishot(tag: number, fd: number): void;
  readThenSendmsg(readTag: number, sendTag: number, fd: number, buf: Uint8Array, offset: number, length: number,
    position: number, sockfd: number, buffers: Uint8Array[], flags: number, bufIndex?: number): void;
  spliceThenSendmsg(tags: Int32Array, fd: number, position: number, length: number, pipes: Int32Array, pipeSize: number,
    sockfd: number, buffers: Uint8Array[], flags: number): void;
  registerBuffers(slots: number): void;
  setBuffer(index: number, buf: Uint8Array | null): void;
  readFixed(tag: number, fd: number, buf: Uint8Array, offset: number, length: number, position: Int64, index: number): void;
  createBufGroup(): number;
  provideBuffer(group: number, buf: Uint8Array, offset: number, length: number): void;
  destroyBufGroup(group: number): void;
  recvMultishot(tag: number, fd: number, group: number): void;
  openat2(tag: number, dirfd: number, path: NativePath, flags: number, mode: number, resolve: number): void;
  statx(tag: number, dirfd: number, path: NativePath, flags: number, mask: number, out: Uint8Array): void;
  fsync(tag: number, fd: number, datasync: boolean): void;
  closeFd(tag: number, fd: number): void;
  mkdirat(tag: number, dirfd: number, path: NativePath, mode: number): void;
  unlinkat(tag: number, dirfd: number, path: NativePath, flags: number): void;
  renameat2(tag: number, olddirfd: number, oldpath: NativePath, newdirfd: number, newpath: NativePath, flags: number): void;
  linkat(tag: number, olddirfd: number, oldpath: NativePath, newdirfd: number, newpath: NativePath, flags: number): void;
  fallocate(tag: number, fd: number, mode: number, offset: Int64, length: Int64): void;
  fgetxattr(tag: number, fd: number, name: string, buf: Uint8Array, offset: number, length: number): void;
  fsetxattr(tag: number, fd: number, name: string, buf: Uint8Array, offset: number, length: number, flags: number): void;
  cancel(tag: number): boolean;
  submit(): number;
  close(): boolean;
  counters(): RingCounters;
  setBusyPoll(usec: number): void;
}

/** `results` is the addon's one Int32Array, of which the first `count` triplets are new. */
type CompletionCallback = (results: Int32Array | null, closed: boolean, count: number) => void

interface NativeRingModule {
  Ring: new (entries: number, onCompletions: CompletionCallback, flags?: number) => NativeRingHandle;
  ringSetupFlags: RingSetupFlags;
  statxLayout: StatxLayout;
}

export interface RingSetupFlags {
  readonly IORING_SETUP_CLAMP: number;
  readonly IORING_SETUP_SUBMIT_ALL: number;
  readonly IORING_SETUP_SINGLE_ISSUER: number;
  readonly IORING_SETUP_DEFER_TASKRUN: number;
  /** What the addon uses when no flags are given: SUBMIT_ALL | SINGLE_ISSUER. */
  readonly default: number;
}

export type RingOpName =
  | 'nop' | 'read' | 'write' | 'openat2' | 'statx' | 'fsync' | 'close' | 'recv' | 'send' | 'cancel'
  | 'mkdirat' | 'unlinkat' | 'renameat2' | 'linkat' | 'fallocate' | 'fgetxattr' | 'fsetxattr' | 'sendmsg' | 'accept' | 'readFixed'
  | 'recvMultishot' | 'splice'

export interface RingCounters {
  /** SQEs prepped, per kind. */
  ops: Record<RingOpName, number>;
  /** io_uring_submit calls that submitted something, and the SQEs they carried. */
  submits: number;
  sqes: number;
  submitErrors: number;
  /** CQEs reaped; JS callback batches; wake-ups (the ring fd's poll, or a waiting ring's drains
   *  that found completions). */
  cqes: number;
  batches: number;
  wakeups: number;
  /** Busy polling (setBusyPoll): wake-ups that came while a window was open (taken without a
   *  sleep), windows that closed with nothing, and windows opened. */
  busyPollHits: number;
  busyPollMisses: number;
  busyPollWindows: number;
  /** DEFER_TASKRUN rings: times the loop slept in io_uring_enter instead of epoll. */
  ringWaits: number;
  /** Linked read→sendmsg pairs prepped (readThenSendmsg). */
  links: number;
  /** READ responses sent from the page cache by splice (spliceThenSendmsg). */
  spliceChains: number;
  /** CQEs of multishot ops that stayed armed (one per connection a multishot accept took). */
  moreCqes: number;
  /** CQEs with res < 0. */
  errors: number;
  inflight: number;
  /** Prepped, not yet submitted. */
  pending: number;
  sqEntries: number;
  cqEntries: number;
  setupFlags: number;
  closed: boolean;
}

/** Byte offsets inside `struct statx` (linux/stat.h UAPI). */
export interface StatxLayout {
  mask: number; blksize: number; attributes: number; nlink: number; uid: number; gid: number;
  mode: number; ino: number; size: number; blocks: number; attributesMask: number;
  atime: number; btime: number; ctime: number; mtime: number;
  rdevMajor: number; rdevMinor: number; devMajor: number; devMinor: number; mntId: number;
  size_of: number; timestampNsec: number;
}

/** The TypeScript mirror of `struct statx`; test/native/ring.test.ts checks it against the C. */
export const STATX_LAYOUT: Readonly<StatxLayout> = Object.freeze({
  mask: 0, blksize: 4, attributes: 8, nlink: 16, uid: 20, gid: 24, mode: 28, ino: 32, size: 40,
  blocks: 48, attributesMask: 56, atime: 64, btime: 80, ctime: 96, mtime: 112,
  rdevMajor: 128, rdevMinor: 132, devMajor: 136, devMinor: 140, mntId: 144,
  size_of: 256, timestampNsec: 8,
})

const STATX_BTIME = 0x800
const STATX_MNT_ID = 0x1000

/** glibc's makedev(), so ring statx() and native.statx() report the same `dev`. */
function makedev (major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0); const mi = BigInt(minor >>> 0)
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn)
}

function timeNs (b: Buffer, off: number): bigint {
  return b.readBigInt64LE(off) * 1_000_000_000n + BigInt(b.readUInt32LE(off + STATX_LAYOUT.timestampNsec))
}

/** Decodes a kernel-filled struct statx (at `at` in `b`) into the same shape native.statx() gives. */
export function decodeStatx (b: Buffer, at = 0): Statx {
  const L = STATX_LAYOUT
  const mask = b.readUInt32LE(at + L.mask)
  return {
    mask,
    blksize: b.readUInt32LE(at + L.blksize),
    attributes: Number(b.readBigUInt64LE(at + L.attributes)),
    attributesMask: Number(b.readBigUInt64LE(at + L.attributesMask)),
    nlink: b.readUInt32LE(at + L.nlink),
    uid: b.readUInt32LE(at + L.uid),
    gid: b.readUInt32LE(at + L.gid),
    mode: b.readUInt16LE(at + L.mode),
    ino: b.readBigUInt64LE(at + L.ino),
    size: b.readBigUInt64LE(at + L.size),
    blocks: b.readBigUInt64LE(at + L.blocks),
    atimeNs: timeNs(b, at + L.atime),
    btimeNs: mask & STATX_BTIME ? timeNs(b, at + L.btime) : 0n,
    ctimeNs: timeNs(b, at + L.ctime),
    mtimeNs: timeNs(b, at + L.mtime),
    dev: makedev(b.readUInt32LE(at + L.devMajor), b.readUInt32LE(at + L.devMinor)),
    rdev: makedev(b.readUInt32LE(at + L.rdevMajor), b.readUInt32LE(at + L.rdevMinor)),
    mntId: mask & STATX_MNT_ID ? b.readBigUInt64LE(at + L.mntId) : 0n,
  }
}

/** A failed op's rejection (native.ts errnoError). */
export type RingErrnoError = NativeErrnoError

function codedError (code: string, message: string): Error & { code: string } {
  const e = new Error(message) as Error & { code: string }
  e.code = code
  return e
}

/** A pending op's Promise, with the tag that cancel() takes. */
export interface RingPromise<T> extends Promise<T> {
  readonly tag: number;
}

interface Pending {
  syscall: string;
  settle(res: number): void;
  reject(e: Error): void;
  /** Set while the op waits in the backlog (not yet prepped). */
  prep?: () => void;
  /** A multishot op: every CQE but the last (which settles), with the provided buffer it
   *  consumed (-1: none); the last too when it consumed one. */
  each?: (res: number, buf: number) => void;
}

const INT32_MAX = 0x7fffffff

export interface RingOptions {
  /** io_uring setup flags (see ringSetupFlags); default SUBMIT_ALL | SINGLE_ISSUER. */
  flags?: number;
  /**
   * Test hook: every batch of completions is handed on this many ms late, as by a kernel that
   * announces completions late (the start-up self-check must catch it). Default 0.
   */
  stallMs?: number;
}

export class Ring {
  readonly #h: NativeRingHandle
  readonly #pending = new Map<number, Pending>()
  readonly #backlog: number[] = []
  #nextTag = 1
  #closing = false
  #closed?: { promise: Promise<void>; resolve: () => void }
  /**
   * Whether transports receive through multishot recvs and provided-buffer groups (set false when
   * the kernel refuses buffer rings, or to turn them off): plain recvs otherwise.
   */
  multishotRecv = true

  private constructor (mod: NativeRingModule, entries: number, opts: RingOptions) {
    const stallMs = opts.stallMs ?? 0
    this.#h = new mod.Ring(entries, stallMs > 0
      ? (results, closed, count) => {
          const copy = results === null ? null : results.slice(0, count * 3) // valid only during the call
          setTimeout(() => this.#onCompletions(copy, closed, count), stallMs)
        }
      : (results, closed, count) => this.#onCompletions(results, closed, count), opts.flags)
  }

  /** Sets up a ring of `entries` SQEs (CQ twice that). Throws an errno Error if io_uring_setup fails. */
  static create (entries = 256, opts: RingOptions = {}): Ring {
    return new Ring(nativeRingModule(), entries, opts)
  }

  /** read(2) at `position` (-1: the fd's current offset) into buffer[offset, offset + length). */
  read (fd: number, buffer: Uint8Array, offset: number, length: number, position: Int64 = -1): RingPromise<number> {
    return this.#op('read', (tag) => this.#h.read(tag, fd, buffer, offset, length, position), (res) => res)
  }

  write (fd: number, buffer: Uint8Array, offset: number, length: number, position: Int64 = -1): RingPromise<number> {
    return this.#op('write', (tag) => this.#h.write(tag, fd, buffer, offset, length, position), (res) => res)
  }

  recv (fd: number, buffer: Uint8Array, offset: number, length: number, flags = 0): RingPromise<number> {
    return this.#op('recv', (tag) => this.#h.recv(tag, fd, buffer, offset, length, flags), (res) => res)
  }

  send (fd: number, buffer: Uint8Array, offset: number, length: number, flags = 0): RingPromise<number> {
    return this.#op('send', (tag) => this.#h.send(tag, fd, buffer, offset, length, flags), (res) => res)
  }

  /**
   * The buffers, in order, as one message (sendmsg with an iovec each; at most SENDMSG_MAX_IOV).
   * Resolves with the bytes sent; each buffer stays referenced until the completion.
   */
  sendmsg (fd: number, buffers: Uint8Array[], flags = 0): RingPromise<number> {
    return this.#op('sendmsg', (tag) => this.#h.sendmsg(tag, fd, buffers, flags), (res) => res)
  }

  /**
   * Registered buffers: a sparse table of `slots` (io_uring pins a registered buffer's pages once,
   * so a read into it skips pinning them per op). Once per ring.
   */
  registerBuffers (slots: number): void {
    this.#h.registerBuffers(slots)
  }

  /** Registers `buffer` in slot `index` (the ring holds it until replaced), or empties the slot. */
  setBuffer (index: number, buffer: Uint8Array | null): void {
    this.#h.setBuffer(index, buffer)
  }

  /** read(2) into registered buffer `index` ([offset, offset + length) of `buffer` must lie in it). */
  readFixed (fd: number, buffer: Uint8Array, offset: number, length: number, position: Int64, index: number): RingPromise<number> {
    return this.#op('readFixed', (tag) => this.#h.readFixed(tag, fd, buffer, offset, length, position, index), (res) => res)
  }

  /**
   * Multishot accept on a listening socket: `onConnection` gets each accepted fd (close-on-exec)
   * as it comes, from one SQE. The promise settles when the accept is no longer armed: with the
   * last fd it gave (or -1), or rejected (ECANCELED after cancel/close, EMFILE...). The caller
   * arms it again if it still wants connections.
   */
  acceptMultishot (fd: number, onConnection: (fd: number) => void): RingPromise<number> {
    const p = this.#op('accept', (tag) => this.#h.acceptMultishot(tag, fd), (res) => {
      onConnection(res)
      return res
    })
    const entry = this.#pending.get(p.tag)
    if (entry !== undefined) entry.each = (res) => { if (res >= 0) onConnection(res) }
    return p
  }

  /**
   * A provided-buffer group (a one-entry buffer ring): the span a multishot recv on it fills
   * next is the one last given to provideBuffer. Throws (EINVAL...) where the kernel has no
   * buffer rings.
   */
  createBufGroup (): number {
    return this.#h.createBufGroup()
  }

  /**
   * Gives `group` the span its next recv fills: only once the last one was consumed (a CQE said
   * so). The ring holds `buffer` until the group is destroyed or given another one.
   */
  provideBuffer (group: number, buffer: Uint8Array, offset: number, length: number): void {
    this.#h.provideBuffer(group, buffer, offset, length)
  }

  /** Unregisters `group`; refused while a recv still takes from it. */
  destroyBufGroup (group: number): void {
    this.#h.destroyBufGroup(group)
  }

  /**
   * One multishot recv on `fd` into `group`'s spans: `onData(res, consumed)` for every CQE but
   * the last (res the bytes received into the span last provided, when `consumed`), and for the
   * last one too when it consumed a span. The promise settles when the recv is no longer armed:
   * 0 at end of stream, > 0 when the kernel stopped after data (already given to onData); it
   * rejects with ENOBUFS (no span provided), ECANCELED, or another error.
   */
  recvMultishot (fd: number, group: number, onData: (res: number, consumed: boolean) => void): RingPromise<number> {
    const p = this.#op('recvMultishot', (tag) => this.#h.recvMultishot(tag, fd, group), (res) => res)
    const entry = this.#pending.get(p.tag)
    if (entry !== undefined) entry.each = (res, buf) => { onData(res, buf >= 0) }
    return p
  }

  /**
   * A read of [offset, offset + length) of `buffer` from `fd` at `position`, linked to a sendmsg
   * of `buffers` on `sockfd` (which normally ends with that span): the send starts in the kernel
   * once the read has filled the span completely. A short or failed read cancels the send
   * (`send` rejects with ECANCELED, nothing was sent): the caller sends what it has another way.
   */
  readThenSendmsg (fd: number, buffer: Uint8Array, offset: number, length: number, position: number,
    sockfd: number, buffers: Uint8Array[], flags = 0, bufIndex?: number): { read: RingPromise<number>; send: RingPromise<number> } {
    if (this.#closing) {
      const closed = () => Object.assign(Promise.reject(codedError('SMBTS_ERR_RING_CLOSED', 'the ring is closed')), { tag: 0 })
      return { read: closed(), send: closed() }
    }
    const read = this.#entry('read', (res) => res)
    const send = this.#entry('sendmsg', (res) => res)
    const prep = () => this.#h.readThenSendmsg(read.tag, send.tag, fd, buffer, offset, length, position, sockfd, buffers, flags, bufIndex)
    // The pair is prepped as one: the send rides on the read's backlog entry, and an error
    // refusing the pair rejects both.
    const rejectRead = read.entry.reject
    read.entry.reject = (e) => {
      rejectRead(e)
      if (this.#pending.delete(send.tag)) send.entry.reject(e)
    }
    if (this.#backlog.length > 0) {
      read.entry.prep = prep
      this.#backlog.push(read.tag)
    } else {
      try {
        prep()
      } catch (e) {
        if ((e as { code?: string }).code !== 'SMBTS_ERR_RING_FULL') {
          this.#pending.delete(read.tag)
          this.#pending.delete(send.tag)
          throw e
        }
        read.entry.prep = prep
        this.#backlog.push(read.tag)
      }
    }
    return { read: read.promise, send: send.promise }
  }

  /**
   * A READ response whose payload never enters user memory: `length` bytes of `fd` from
   * `position` are spliced into `pipes` (k pairs of read and write ends, `pipeSize` bytes into
   * each; see native spliceThenSendmsg for what fits), then `buffers` (the response's head) and
   * the pipes' contents go out on `sockfd` (a blocking socket), all in one chain of linked SQEs
   * (native spliceThenSendmsg) that posts two completions, the head's and the last splice's.
   * The head leaves only once every pipe holds its whole share: when a staging splice comes back
   * short or fails, nothing was sent, `head` rejects with ECANCELED and the pipes must be closed.
   * Once `head` has settled the chain no longer reads `fd`. `data` settles with the payload
   * bytes sent (all of them, or fewer when the last splice was short; it rejects when one before
   * failed). `tags` are the two ops' tags: cancelling the last one cancels the whole chain.
   * Undefined when the ring cannot take the whole chain now (ops queued behind a full ring, not
   * slots enough, a kernel without CQE skipping): the caller sends the READ another way.
   */
  spliceThenSendmsg (fd: number, position: number, length: number, pipes: Int32Array, pipeSize: number,
    sockfd: number, buffers: Uint8Array[], flags = 0): { head: RingPromise<number>; data: Promise<number>; tags: Int32Array } | undefined {
    if (this.#closing || this.#backlog.length > 0 || typeof this.#h.spliceThenSendmsg !== 'function') return undefined
    const k = Math.ceil(length / pipeSize)
    const head = this.#entry('sendmsg', (res) => res)
    const last = this.#entry('splice', (res) => res)
    const tags = new Int32Array([head.tag, last.tag])
    try {
      this.#h.spliceThenSendmsg(tags, fd, position, length, pipes, pipeSize, sockfd, buffers, flags)
    } catch (e) {
      this.#pending.delete(head.tag)
      this.#pending.delete(last.tag)
      const code = (e as { code?: string }).code
      if (code === 'SMBTS_ERR_RING_FULL' || code === 'SMBTS_ERR_RING_UNSUPPORTED') return undefined
      throw e
    }
    // The splices before the last post nothing when whole: its result is the rest.
    const before = (k - 1) * pipeSize
    const data = last.promise.then((n) => before + n)
    return { head: head.promise, data, tags }
  }

  #entry<T>(syscall: string, decode: (res: number) => T): { tag: number; entry: Pending; promise: RingPromise<T> } {
    const tag = this.#allocTag()
    let entry!: Pending
    const promise = new Promise<T>((resolve, reject) => {
      entry = {
        syscall,
        settle: (res) => (res < 0 ? reject(errnoError(res, syscall)) : resolve(decode(res))),
        reject,
      }
    })
    this.#pending.set(tag, entry)
    return { tag, entry, promise: Object.assign(promise, { tag }) }
  }

  /** openat2 through the ring; same semantics as native.openat2 (O_CLOEXEC added). */
  openat2 (dirfd: number, path: NativePath, flags: number, mode: number, resolve: number): RingPromise<number> {
    return this.#op('openat2', (tag) => this.#h.openat2(tag, dirfd, path, flags, mode, resolve), (res) => res)
  }

  statx (dirfd: number, path: NativePath, flags: number, mask: number): RingPromise<Statx> {
    const out = Buffer.alloc(STATX_LAYOUT.size_of)
    return this.#op('statx', (tag) => this.#h.statx(tag, dirfd, path, flags, mask, out), () => decodeStatx(out))
  }

  fsync (fd: number, datasync = false): RingPromise<void> {
    return this.#op('fsync', (tag) => this.#h.fsync(tag, fd, datasync), () => undefined)
  }

  /** close(2) of a file descriptor through the ring. */
  closeFd (fd: number): RingPromise<void> {
    return this.#op('close', (tag) => this.#h.closeFd(tag, fd), () => undefined)
  }

  /** mkdirat(2): `path` is one name inside `dirfd` (a directory the caller opened beneath the share). */
  mkdirat (dirfd: number, path: NativePath, mode: number): RingPromise<void> {
    return this.#op('mkdirat', (tag) => this.#h.mkdirat(tag, dirfd, path, mode), () => undefined)
  }

  /** unlinkat(2); flags AT_REMOVEDIR for a directory. */
  unlinkat (dirfd: number, path: NativePath, flags = 0): RingPromise<void> {
    return this.#op('unlinkat', (tag) => this.#h.unlinkat(tag, dirfd, path, flags), () => undefined)
  }

  /** renameat2(2) (RENAME_NOREPLACE, RENAME_EXCHANGE in flags). */
  renameat2 (olddirfd: number, oldpath: NativePath, newdirfd: number, newpath: NativePath, flags = 0): RingPromise<void> {
    return this.#op('renameat2', (tag) => this.#h.renameat2(tag, olddirfd, oldpath, newdirfd, newpath, flags), () => undefined)
  }

  /** linkat(2). */
  linkat (olddirfd: number, oldpath: NativePath, newdirfd: number, newpath: NativePath, flags = 0): RingPromise<void> {
    return this.#op('linkat', (tag) => this.#h.linkat(tag, olddirfd, oldpath, newdirfd, newpath, flags), () => undefined)
  }

  /** fallocate(2) of [offset, offset + length); length must be > 0. */
  fallocate (fd: number, mode: number, offset: Int64, length: Int64): RingPromise<void> {
    return this.#op('fallocate', (tag) => this.#h.fallocate(tag, fd, mode, offset, length), () => undefined)
  }

  /** fgetxattr(2) into buffer[offset, offset + length): the value's size (ERANGE when larger;
   *  length 0 asks for the size only). */
  fgetxattr (fd: number, name: string, buffer: Uint8Array, offset = 0, length = buffer.byteLength - offset): RingPromise<number> {
    return this.#op('fgetxattr', (tag) => this.#h.fgetxattr(tag, fd, name, buffer, offset, length), (res) => res)
  }

  /** fsetxattr(2) of buffer[offset, offset + length); flags XATTR_CREATE / XATTR_REPLACE. */
  fsetxattr (fd: number, name: string, buffer: Uint8Array, offset = 0, length = buffer.byteLength - offset, flags = 0): RingPromise<void> {
    return this.#op('fsetxattr', (tag) => this.#h.fsetxattr(tag, fd, name, buffer, offset, length, flags), () => undefined)
  }

  nop (): RingPromise<number> {
    return this.#op('nop', (tag) => this.#h.nop(tag), (res) => res)
  }

  /**
   * Asks the kernel to cancel an op. Its Promise still settles from its own CQE: usually
   * ECANCELED, or its real result if it had already finished. An op still in the backlog is
   * dropped and rejects with ECANCELED at once. Returns false when the op is no longer pending.
   */
  cancel (op: { tag: number } | number): boolean {
    const tag = typeof op === 'number' ? op : op.tag
    const p = this.#pending.get(tag)
    if (!p) return false
    if (p.prep) {
      this.#pending.delete(tag)
      const i = this.#backlog.indexOf(tag)
      if (i >= 0) this.#backlog.splice(i, 1)
      p.reject(errnoError(-125 /* ECANCELED */, p.syscall))
      return true
    }
    return this.#h.cancel(tag)
  }

  /** Submits prepped SQEs now rather than before the loop next blocks. Returns how many went. */
  submit (): number {
    return this.#h.submit()
  }

  /** Ops whose Promise has not settled (in flight or in the backlog). */
  get pending (): number {
    return this.#pending.size
  }

  counters (): RingCounters {
    return this.#h.counters()
  }

  /**
   * Busy polling: for `usec` µs after each wake-up the event loop keeps turning without blocking
   * (a zero-timeout epoll; timers, the threadpool and other handles are served as usual), so the
   * next request of a client that waits for each reply is taken without the thread going to sleep
   * and being woken again. That costs CPU while the window is open (at most `usec` µs per wake-up
   * with nothing to do) and saves a sleep and a wake-up per request: on a paravirtualised VM the
   * two cost more than a small request itself (bench/RESULTS.md). Adaptive: windows that keep closing
   * empty stop being opened but for one in several wake-ups (native/src/ring-busy.c). 0 turns it off.
   */
  setBusyPoll (usec: number): void {
    this.#h.setBusyPoll(usec)
  }

  /**
   * Refuses new ops, cancels the in-flight ones and resolves once every CQE is in and the ring is
   * gone. Pending Promises settle first (mostly with ECANCELED).
   */
  close (): Promise<void> {
    if (this.#closed) return this.#closed.promise
    this.#closing = true
    let settle!: () => void
    const promise = new Promise<void>((resolve) => (settle = resolve))
    this.#closed = { promise, resolve: settle }
    for (const tag of this.#backlog.splice(0)) {
      const p = this.#pending.get(tag)
      this.#pending.delete(tag)
      p?.reject(codedError('SMBTS_ERR_RING_CLOSED', 'the ring was closed before this op was submitted'))
    }
    if (this.#h.close()) this.#finishClose()
    return promise
  }

  #finishClose (): void {
    for (const p of this.#pending.values()) p.reject(codedError('SMBTS_ERR_RING_CLOSED', 'the ring closed'))
    this.#pending.clear()
    this.#closed?.resolve()
  }

  #allocTag (): number {
    for (;;) {
      const tag = this.#nextTag
      this.#nextTag = tag >= INT32_MAX ? 1 : tag + 1
      if (!this.#pending.has(tag)) return tag
    }
  }

  #op<T>(syscall: string, prep: (tag: number) => void, decode: (res: number) => T): RingPromise<T> {
    if (this.#closing) {
      return Object.assign(Promise.reject(codedError('SMBTS_ERR_RING_CLOSED', 'the ring is closed')), { tag: 0 })
    }
    const { tag, entry, promise } = this.#entry(syscall, decode)
    if (this.#backlog.length > 0) {
      // Keep submission order: nothing jumps the queue.
      entry.prep = () => prep(tag)
      this.#backlog.push(tag)
    } else {
      try {
        prep(tag)
      } catch (e) {
        if ((e as { code?: string }).code === 'SMBTS_ERR_RING_FULL') {
          entry.prep = () => prep(tag)
          this.#backlog.push(tag)
        } else {
          this.#pending.delete(tag)
          throw e // bad arguments: a programming error, surfaced synchronously
        }
      }
    }
    return promise
  }

  #drainBacklog (): void {
    while (this.#backlog.length > 0) {
      const tag = this.#backlog[0]!
      const p = this.#pending.get(tag)
      if (!p?.prep) {
        this.#backlog.shift()
        continue
      }
      try {
        p.prep()
      } catch (e) {
        if ((e as { code?: string }).code === 'SMBTS_ERR_RING_FULL') return
        this.#backlog.shift()
        this.#pending.delete(tag)
        p.reject(e as Error)
        continue
      }
      this.#backlog.shift()
      p.prep = undefined
    }
  }

  #onCompletions (results: Int32Array | null, closed: boolean, count: number): void {
    // `results` is a view of the addon's reused buffer: consume it now, synchronously.
    if (results) {
      // [tag, res, provided buffer or -1] per CQE.
      for (let i = 0, end = count * 3; i < end; i += 3) {
        let tag = results[i]!
        if (tag < 0) {
          // A multishot op's CQE with more to come: the op stays pending.
          tag = -tag
          this.#pending.get(tag)?.each?.(results[i + 1]!, results[i + 2]!)
          continue
        }
        const p = this.#pending.get(tag)
        if (!p) continue
        this.#pending.delete(tag)
        const buf = results[i + 2]!
        if (buf >= 0 && p.each !== undefined) p.each(results[i + 1]!, buf)
        p.settle(results[i + 1]!)
      }
      if (this.#backlog.length > 0 && !this.#closing) this.#drainBacklog()
    }
    if (closed) this.#finishClose()
  }
}

let ringModule: NativeRingModule | undefined

function nativeRingModule (): NativeRingModule {
  if (!nativeAvailable) {
    throw Object.assign(new Error(`smbts native addon unavailable: ${nativeLoadError?.message}`, { cause: nativeLoadError }), {
      code: 'SMBTS_ERR_NATIVE_UNAVAILABLE',
    })
  }
  ringModule ??= native as unknown as NativeRingModule
  return ringModule
}

/** The addon's setup-flag values (only those it accepts). */
export function ringSetupFlags (): RingSetupFlags {
  return nativeRingModule().ringSetupFlags
}

/** The C side's offsets of struct statx, for the mirror test. */
export function nativeStatxLayout (): StatxLayout {
  return nativeRingModule().statxLayout
}

/**
 * Why a ring cannot be used here (addon missing, io_uring_setup refused: ENOSYS, EPERM when
 * io_uring_disabled, ...), or undefined when it can. Sets up and closes a tiny ring to find out.
 */
export async function ringUnavailableReason (): Promise<string | undefined> {
  if (!nativeAvailable) return `native addon not loaded: ${nativeLoadError?.message}`
  let ring: Ring
  try {
    ring = Ring.create(2)
  } catch (e) {
    return `io_uring unavailable: ${(e as Error).message}`
  }
  try {
    await ring.nop()
  } catch (e) {
    return `io_uring nop failed: ${(e as Error).message}`
  } finally {
    await ring.close()
  }
  return undefined
}

/**
 * A BufferPool registry over the ring's registered-buffer table: `slots` slots, taken by pooled
 * buffers as they are made and freed when they leave the pool. No slot free: the buffer is
 * used unregistered (plain reads).
 */
export function ringBufferRegistry (ring: Ring, slots: number): { add(buf: Buffer): number | undefined; remove(slot: number): void } {
  ring.registerBuffers(slots)
  const free = Array.from({ length: slots }, (_, i) => slots - 1 - i)
  return {
    add (buf) {
      const slot = free.pop()
      if (slot === undefined) return undefined
      try {
        ring.setBuffer(slot, buf)
      } catch {
        free.push(slot) // e.g. RLIMIT_MEMLOCK without CAP_IPC_LOCK: the buffer goes unregistered
        return undefined
      }
      return slot
    },
    remove (slot) {
      try { ring.setBuffer(slot, null) } catch { /* ring closed: nothing is registered any more */ }
      free.push(slot)
    },
  }
}
