// Directory watches for CHANGE_NOTIFY (src/smb2/notify.ts), over inotify(7): what changed in a
// directory (and, for a tree watch, below it), whoever changed it — a client of this worker, a
// client of another worker, or a program on the server's own disk. One inotify instance per
// process, opened at the first watch; one kernel watch per directory, shared by every
// subscription that covers it.
//
// What inotify says, as MS-FSCC 2.7.1 actions and the FILE_NOTIFY_CHANGE_* filter bits that
// select them (MS-SMB2 2.2.35):
//   IN_CREATE                      ADDED            FILE_NAME (DIR_NAME for a directory)
//   IN_DELETE                      REMOVED          FILE_NAME / DIR_NAME
//   IN_MOVED_FROM + IN_MOVED_TO    RENAMED_OLD_NAME, RENAMED_NEW_NAME   (a rename inside one directory)
//   IN_MOVED_FROM                  REMOVED          (moved to another directory, or out of sight)
//   IN_MOVED_TO                    ADDED            (moved in from another directory)
//   IN_MODIFY, then IN_CLOSE_WRITE MODIFIED         SIZE | LAST_WRITE    (at the close, or 1 s after the write)
//   IN_ATTRIB                      MODIFIED         ATTRIBUTES | LAST_WRITE | LAST_ACCESS | CREATION | EA | SECURITY
// inotify cannot tell which of the metadata changed (mode, times, xattrs such as the DOS
// attributes and the security descriptor all give IN_ATTRIB), so a metadata change matches any
// metadata filter: a client may be told of a change its filter did not name, never left out.
//
// The watched directory itself deleted or moved ends its subscriptions (onGone); the kernel's
// queue overflowing (IN_Q_OVERFLOW) tells every subscription that changes were lost (onOverflow).
//
// Paths: a watch is added by absolute path with IN_DONT_FOLLOW and IN_ONLYDIR, so the last
// component is never a symlink; names inotify reports are never followed. A tree watch walks
// the subdirectories (not following symlinks) and adds each one as it appears.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { native, nativeAvailable, type InotifyHandle } from '../io/native.js'
import { decodeInotifyEvents, IN, type InotifyEvent } from './inotify-events.js'

/** MS-FSCC 2.7.1 FILE_NOTIFY_INFORMATION Action. */
export const NotifyAction = {
  ADDED: 1,
  REMOVED: 2,
  MODIFIED: 3,
  RENAMED_OLD_NAME: 4,
  RENAMED_NEW_NAME: 5,
} as const

/** MS-SMB2 2.2.35 CompletionFilter. */
export const NotifyFilter = {
  FILE_NAME: 0x001,
  DIR_NAME: 0x002,
  ATTRIBUTES: 0x004,
  SIZE: 0x008,
  LAST_WRITE: 0x010,
  LAST_ACCESS: 0x020,
  CREATION: 0x040,
  EA: 0x080,
  SECURITY: 0x100,
  STREAM_NAME: 0x200,
  STREAM_SIZE: 0x400,
  STREAM_WRITE: 0x800,
} as const

const METADATA = NotifyFilter.ATTRIBUTES | NotifyFilter.LAST_WRITE | NotifyFilter.LAST_ACCESS |
  NotifyFilter.CREATION | NotifyFilter.EA | NotifyFilter.SECURITY
const DATA = NotifyFilter.SIZE | NotifyFilter.LAST_WRITE

export interface DirChange {
  action: number
  /** Relative to the subscription's directory, '/'-separated. */
  name: string
  /** The filter bits this change matches. */
  filter: number
}

export interface WatchSink {
  onChanges (changes: DirChange[]): void
  /** Changes were lost (the kernel's queue overflowed). */
  onOverflow (): void
  /** The watched directory is gone (deleted or moved away). */
  onGone (): void
}

const MASK = IN.CREATE | IN.DELETE | IN.MOVED_FROM | IN.MOVED_TO | IN.MODIFY | IN.CLOSE_WRITE | IN.ATTRIB |
  IN.DELETE_SELF | IN.MOVE_SELF | IN.ONLYDIR | IN.DONT_FOLLOW | IN.EXCL_UNLINK

interface Subscription {
  readonly sink: WatchSink
  readonly recursive: boolean
  readonly wds: Set<number>
  closed: boolean
  /** The name of the last change if it was an ADDED (see emit). */
  lastAdded?: string
}

interface DirWatch {
  readonly wd: number
  /** Its absolute path when last added (a renamed directory is added again under its new name). */
  path: string
  /** Each subscription covering this directory → the directory's path relative to its root ('' = the root). */
  readonly subs: Map<Subscription, string>
  /** Files written and not yet reported (name → when first written, ms). */
  readonly dirty: Map<string, number>
}

/** A file kept open for writing is reported modified this long after its first unreported write. */
const DIRTY_MS = 1000

/** Adds `c` to what `sub` is told at the end of this batch. */
function emitTo (out: Map<Subscription, DirChange[]>, sub: Subscription, c: DirChange): void {
  if (sub.closed) return
  // A file or directory is created with its attributes (the server sets its DOS attributes,
  // times and security descriptor right after it made it): metadata changes that follow its
  // ADDED at once are part of the creation, and Windows reports only the ADDED.
  if (c.action === NotifyAction.MODIFIED && c.filter === METADATA && sub.lastAdded === c.name) return
  sub.lastAdded = c.action === NotifyAction.ADDED ? c.name : undefined
  const list = out.get(sub)
  if (list === undefined) out.set(sub, [c])
  else list.push(c)
}

function deliver (out: Map<Subscription, DirChange[]>): void {
  for (const [sub, changes] of out) if (!sub.closed) sub.sink.onChanges(changes)
}

export interface DirectoryWatcherOptions {
  /** Where a watch that could not be added is said (the vfs debug component). */
  onError?: (what: string, e: Error) => void
}

export class DirectoryWatcher {
  private handle?: InotifyHandle
  private readonly byWd = new Map<number, DirWatch>()

  constructor (private readonly o: DirectoryWatcherOptions = {}) {}

  /** inotify here, or why not. */
  static get available (): boolean { return nativeAvailable }

  /**
   * Watches `dir` (absolute), and with `recursive` every directory below it, until the returned
   * function is called. Throws the errno Error when `dir` itself cannot be watched.
   */
  watch (dir: string, recursive: boolean, sink: WatchSink): () => void {
    this.handle ??= native.inotifyOpen((records) => { this.onRecords(records) })
    const sub: Subscription = { sink, recursive, wds: new Set(), closed: false }
    this.add(sub, dir, '')
    if (recursive) void this.walk(sub, dir, '')
    return () => { this.unsubscribe(sub) }
  }

  /**
   * Takes in every event the kernel has queued now. The kernel queues an event inside the system
   * call that made the change, so after this, every change whose call has returned is known: a
   * CHANGE_NOTIFY calls it first, and so sees what the client's own earlier requests did.
   */
  drain (): void {
    if (this.handle === undefined) return
    for (let b = native.inotifyRead(this.handle); b !== null; b = native.inotifyRead(this.handle)) this.onRecords(b)
  }

  /** Directories watched now (tests, status). */
  get watchedDirs (): number { return this.byWd.size }

  close (): void {
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer)
    this.flushTimer = undefined
    if (this.handle !== undefined) native.inotifyClose(this.handle)
    this.handle = undefined
    this.byWd.clear()
  }

  private add (sub: Subscription, path: string, rel: string): void {
    const wd = native.inotifyAdd(this.handle!, path, MASK)
    let w = this.byWd.get(wd)
    if (w === undefined) {
      w = { wd, path, subs: new Map(), dirty: new Map() }
      this.byWd.set(wd, w)
    }
    w.path = path
    w.subs.set(sub, rel)
    sub.wds.add(wd)
  }

  /** Adds every directory below `path` (symlinks not followed); one that vanished meanwhile is skipped. */
  private async walk (sub: Subscription, path: string, rel: string): Promise<void> {
    let entries
    try {
      entries = await readdir(path, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (sub.closed) return
      if (!e.isDirectory()) continue
      const p = join(path, e.name)
      const r = rel === '' ? e.name : `${rel}/${e.name}`
      try {
        this.add(sub, p, r)
      } catch (err) {
        this.o.onError?.(`watch ${p}`, err as Error)
        continue
      }
      await this.walk(sub, p, r)
    }
  }

  private unsubscribe (sub: Subscription): void {
    if (sub.closed) return
    sub.closed = true
    for (const wd of sub.wds) this.release(sub, wd)
    sub.wds.clear()
  }

  /** `sub` no longer covers watch `wd`; the kernel's watch goes with its last subscription. */
  private release (sub: Subscription, wd: number): void {
    const w = this.byWd.get(wd)
    if (w === undefined) return
    w.subs.delete(sub)
    if (w.subs.size === 0) {
      this.byWd.delete(wd)
      if (this.handle !== undefined) native.inotifyRemove(this.handle, wd)
    }
  }

  /**
   * A directory left `w` (moved away or renamed): the tree watches covering `w` stop watching it
   * and what is below it under the old name (grow() adds it again where it landed, if they see it).
   */
  private prune (w: DirWatch, name: string): void {
    for (const [sub, rel] of [...w.subs]) {
      if (!sub.recursive) continue
      const gone = rel === '' ? name : `${rel}/${name}`
      for (const wd of [...sub.wds]) {
        const r = this.byWd.get(wd)?.subs.get(sub)
        if (r !== undefined && (r === gone || r.startsWith(`${gone}/`))) {
          sub.wds.delete(wd)
          this.release(sub, wd)
        }
      }
    }
  }

  private onRecords (records: Buffer): void {
    const events = decodeInotifyEvents(records)
    const out = new Map<Subscription, DirChange[]>()
    const emit = (sub: Subscription, c: DirChange): void => { emitTo(out, sub, c) }
    const moved = new Set<InotifyEvent>()
    for (const [i, ev] of events.entries()) {
      if ((ev.mask & IN.Q_OVERFLOW) !== 0) {
        for (const w of this.byWd.values()) for (const sub of w.subs.keys()) if (!sub.closed) sub.sink.onOverflow()
        continue
      }
      const w = this.byWd.get(ev.wd)
      if (w === undefined || moved.has(ev)) continue
      if (ev.name === '') {
        this.onSelf(w, ev)
        continue
      }
      const isDir = (ev.mask & IN.ISDIR) !== 0
      const nameFilter = isDir ? NotifyFilter.DIR_NAME : NotifyFilter.FILE_NAME
      // Data written is reported once, when the writer closes the file (as Windows and Samba
      // report it), or after DIRTY_MS for a writer that keeps it open.
      if ((ev.mask & IN.MODIFY) !== 0) {
        if (!w.dirty.has(ev.name)) w.dirty.set(ev.name, Date.now())
        this.armFlush()
        continue
      }
      if ((ev.mask & IN.CLOSE_WRITE) !== 0) {
        if (w.dirty.delete(ev.name)) for (const [sub, rel] of w.subs) emit(sub, { action: NotifyAction.MODIFIED, name: rel === '' ? ev.name : `${rel}/${ev.name}`, filter: DATA })
        continue
      }
      if ((ev.mask & (IN.DELETE | IN.MOVED_FROM)) !== 0) w.dirty.delete(ev.name)
      // A rename's IN_MOVED_TO, queued by the kernel with its IN_MOVED_FROM, is handled here.
      const to = (ev.mask & IN.MOVED_FROM) !== 0 ? pairOf(events, i) : undefined
      for (const [sub, rel] of w.subs) {
        const name = rel === '' ? ev.name : `${rel}/${ev.name}`
        if ((ev.mask & IN.CREATE) !== 0) emit(sub, { action: NotifyAction.ADDED, name, filter: nameFilter })
        else if ((ev.mask & IN.DELETE) !== 0) emit(sub, { action: NotifyAction.REMOVED, name, filter: nameFilter })
        else if ((ev.mask & IN.ATTRIB) !== 0) emit(sub, { action: NotifyAction.MODIFIED, name, filter: METADATA })
        else if ((ev.mask & IN.MOVED_TO) !== 0) emit(sub, { action: NotifyAction.ADDED, name, filter: nameFilter })
        else if ((ev.mask & IN.MOVED_FROM) !== 0) {
          // A rename inside one directory is a pair of names; a move to another directory is a
          // removal here and an addition there (below), as Windows reports them.
          if (to !== undefined && to.wd === ev.wd) {
            emit(sub, { action: NotifyAction.RENAMED_OLD_NAME, name, filter: nameFilter })
            emit(sub, { action: NotifyAction.RENAMED_NEW_NAME, name: rel === '' ? to.name : `${rel}/${to.name}`, filter: nameFilter })
          } else {
            emit(sub, { action: NotifyAction.REMOVED, name, filter: nameFilter })
          }
        }
      }
      if ((ev.mask & IN.MOVED_FROM) !== 0 && isDir) this.prune(w, ev.name)
      if (to !== undefined) {
        moved.add(to)
        const tw = this.byWd.get(to.wd)
        if (tw !== undefined) {
          if (to.wd !== ev.wd) {
            for (const [sub, rel] of tw.subs) emit(sub, { action: NotifyAction.ADDED, name: rel === '' ? to.name : `${rel}/${to.name}`, filter: nameFilter })
          }
          if (isDir) this.grow(tw, to.name)
        }
      }
      if (isDir && (ev.mask & (IN.CREATE | IN.MOVED_TO)) !== 0) this.grow(w, ev.name)
    }
    deliver(out)
  }

  private flushTimer?: NodeJS.Timeout

  /** Reports the data changes of files still open for writing DIRTY_MS after their first write. */
  private armFlush (): void {
    if (this.flushTimer !== undefined) return
    this.flushTimer = setInterval(() => {
      const out = new Map<Subscription, DirChange[]>()
      const due = Date.now() - DIRTY_MS
      let left = 0
      for (const w of this.byWd.values()) {
        for (const [name, since] of w.dirty) {
          if (since > due) { left++; continue }
          w.dirty.delete(name)
          for (const [sub, rel] of w.subs) emitTo(out, sub, { action: NotifyAction.MODIFIED, name: rel === '' ? name : `${rel}/${name}`, filter: DATA })
        }
      }
      deliver(out)
      if (left === 0) {
        clearInterval(this.flushTimer)
        this.flushTimer = undefined
      }
    }, DIRTY_MS)
    this.flushTimer.unref()
  }

  /** A directory appeared in `w`: the tree watches covering `w` watch it (and what is below it) too. */
  private grow (w: DirWatch, name: string): void {
    for (const [sub, rel] of [...w.subs]) {
      if (!sub.recursive || sub.closed) continue
      const p = join(w.path, name)
      const r = rel === '' ? name : `${rel}/${name}`
      try {
        this.add(sub, p, r)
      } catch (err) {
        this.o.onError?.(`watch ${p}`, err as Error)
        continue
      }
      void this.walk(sub, p, r)
    }
  }

  /**
   * An event about a watched directory itself. Deleted (or its file system gone: IN_IGNORED), it
   * ends the subscriptions rooted there; moved, it is the same directory under another name, and
   * its watch goes on (a subdirectory of a tree watch was pruned and grown again by its parent's
   * IN_MOVED_FROM/TO).
   */
  private onSelf (w: DirWatch, ev: InotifyEvent): void {
    const gone = (ev.mask & (IN.DELETE_SELF | IN.IGNORED)) !== 0
    if (!gone) return
    for (const [sub, rel] of w.subs) {
      // A subdirectory of a tree watch going is reported by its parent's watch (IN_DELETE).
      if (rel === '' && !sub.closed) sub.sink.onGone()
      if (rel !== '' || (ev.mask & IN.IGNORED) !== 0) sub.wds.delete(w.wd)
    }
    if ((ev.mask & IN.IGNORED) !== 0) this.byWd.delete(w.wd)
  }
}

/** The IN_MOVED_TO that pairs with the IN_MOVED_FROM at `i`, if it is in the same read. */
function pairOf (events: InotifyEvent[], i: number): InotifyEvent | undefined {
  const from = events[i]!
  for (let j = i + 1; j < events.length; j++) {
    const e = events[j]!
    if ((e.mask & IN.MOVED_TO) !== 0 && e.cookie === from.cookie) return e
  }
  return undefined
}
