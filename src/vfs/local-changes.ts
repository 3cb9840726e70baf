// Changes other programs make on the server's own disk to files SMB clients cache (issue 16: "a
// local change also breaks the leases it invalidates"). A client holding an oplock or a lease with
// read caching keeps serving reads from its cache and, with write caching, keeps writes back; a
// program on the server writing the file underneath must end that, as another client's write
// would. SMB writes are seen by the locking store when they are made (store.breakLevelII); a local
// program's are not, so the files cached by this process's opens carry a fanotify(7) inode mark
// for FAN_MODIFY, and each event not made by this process breaks every cache of the file
// (LockingStore.breakForLocalChange): oplocks and leases to none.
//
// - Marks are per inode and counted here: the first caching open of a file adds it (on the
//   open's own descriptor, so no path is resolved again), the last one's close removes it.
// - Events this process caused are its own clients' writes (io_uring's workers are threads of
//   the process, so their events carry its pid too): ignored. Another worker's SMB writes reach
//   the store as usual; their events here find nothing left to break.
// - The break comes after the write: nothing here can hold a local program back (fanotify's
//   permission events cannot tell a read open from a write open). A client with write caching
//   is told to flush at once.
// - FAN_Q_OVERFLOW (events lost) breaks every file marked: a cache kept in doubt is worse.
// - fanotify needs CAP_SYS_ADMIN: without it (or without the addon) nothing is marked, and the
//   log says once that local changes do not break caches.
import { native, nativeAvailable, type FanotifyHandle } from '../io/native.js'

/** The kernel's FAN_* event bits used here (include/uapi/linux/fanotify.h; ABI, never renumbered). */
export const FAN = { MODIFY: 0x2, Q_OVERFLOW: 0x4000 } as const

/** One event as native/src/inotify.c hands it over (its descriptor already closed). */
export interface FanRecord {
  /** st_dev and st_ino of the file; 0 for an event about no file (FAN_Q_OVERFLOW). */
  dev: bigint
  ino: bigint
  mask: number
  /** The process that made the change. */
  pid: number
}

const RECORD_BYTES = 32

/** The fixed 32-byte records of native/src/inotify.c's fanotify instances; a torn tail is dropped. */
export function decodeFanRecords (buf: Buffer): FanRecord[] {
  const out: FanRecord[] = []
  for (let at = 0; at + RECORD_BYTES <= buf.length; at += RECORD_BYTES) {
    out.push({
      dev: buf.readBigUInt64LE(at),
      ino: buf.readBigUInt64LE(at + 8),
      // Every FAN_* event bit is in the low 32 bits; the high ones are flags (FAN_ONDIR...).
      mask: Number(buf.readBigUInt64LE(at + 16) & 0xffffffffn),
      pid: buf.readUInt32LE(at + 24),
    })
  }
  return out
}

export interface LocalChangeOptions {
  /** The file of `key` changed outside this process: break what caches it. */
  onChange: (key: string) => void
  /** Said once, when marks cannot be made (why local changes go unseen), and once for a file refused. */
  onUnavailable: (why: string) => void
  /** The pid whose events are this process's own (tests may name another). */
  selfPid?: number
}

export class LocalChangeWatcher {
  private handle?: FanotifyHandle
  private failed = false
  private markFailed = false
  /** Per inode: the store keys of the files open under it here, each with its count of marked opens. */
  private readonly byIno = new Map<bigint, Map<string, number>>()
  private readonly self: number

  constructor (private readonly o: LocalChangeOptions) {
    this.self = o.selfPid ?? process.pid
  }

  /** Whether this machine can mark files (the addon; fanotify itself is tried at the first mark). */
  static get available (): boolean { return nativeAvailable }

  /**
   * Marks the file open as `fd` (inode `ino`, store key `key`) for as long as the returned
   * function is not called; undefined when nothing could be marked (the reason logged once).
   */
  watch (fd: number, ino: bigint, key: string): (() => void) | undefined {
    const h = this.instance()
    if (h === undefined) return undefined
    let keys = this.byIno.get(ino)
    if (keys === undefined) {
      try {
        native.fanotifyMark(h, fd, FAN.MODIFY, true)
      } catch (e) {
        // One file system may refuse marks (some FUSE ones do) while others take them.
        if (!this.markFailed) this.o.onUnavailable(`fanotify_mark (${key.replace('\0', ' inode ')}; said once): ${(e as Error).message}`)
        this.markFailed = true
        return undefined
      }
      keys = new Map()
      this.byIno.set(ino, keys)
    }
    keys.set(key, (keys.get(key) ?? 0) + 1)
    let done = false
    return () => {
      if (done) return
      done = true
      const k = this.byIno.get(ino)
      if (k === undefined) return
      const n = (k.get(key) ?? 1) - 1
      if (n > 0) k.set(key, n)
      else k.delete(key)
      if (k.size > 0) return
      this.byIno.delete(ino)
      // The descriptor is still open (the close comes after): the mark goes with it named.
      try { if (this.handle !== undefined) native.fanotifyMark(this.handle, fd, FAN.MODIFY, false) } catch { /* the inode went: so did its mark */ }
    }
  }

  /** Files marked now (tests, diagnostics). */
  get marked (): number { return this.byIno.size }

  close (): void {
    if (this.handle !== undefined) native.fanotifyClose(this.handle)
    this.handle = undefined
    this.byIno.clear()
  }

  /** What a batch of records means: the store keys changed by someone else, each once. */
  changedKeys (records: readonly FanRecord[]): string[] {
    const out = new Set<string>()
    for (const r of records) {
      if ((r.mask & FAN.Q_OVERFLOW) !== 0) {
        for (const keys of this.byIno.values()) for (const k of keys.keys()) out.add(k)
        continue
      }
      if ((r.mask & FAN.MODIFY) === 0 || r.pid === this.self) continue
      for (const k of this.byIno.get(r.ino)?.keys() ?? []) out.add(k)
    }
    return [...out]
  }

  private instance (): FanotifyHandle | undefined {
    if (this.handle !== undefined || this.failed) return this.handle
    if (!nativeAvailable) {
      this.unavailable('the native addon is not built')
      return undefined
    }
    try {
      this.handle = native.fanotifyOpen((buf) => {
        for (const key of this.changedKeys(decodeFanRecords(buf))) this.o.onChange(key)
      })
    } catch (e) {
      this.unavailable(`fanotify_init: ${(e as Error).message}`)
    }
    return this.handle
  }

  private unavailable (why: string): void {
    if (this.failed) return
    this.failed = true
    if (this.handle !== undefined) { native.fanotifyClose(this.handle); this.handle = undefined }
    this.byIno.clear()
    this.o.onUnavailable(why)
  }
}
