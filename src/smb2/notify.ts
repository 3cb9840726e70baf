// CHANGE_NOTIFY's state on one directory open (MS-SMB2 3.3.5.19, MS-FSA 2.1.5.11): what the
// directory watch (src/vfs/watch.ts) reported and no request has taken yet, and the requests
// waiting for it.
//
// - The first CHANGE_NOTIFY on an open starts the watch, with that request's CompletionFilter and
//   WatchTree for as long as the open lasts (later requests cannot change them: smbtorture
//   smb2.notify.mask-change); from then on changes are kept between
//   requests, so a client that re-arms after each completion misses nothing. A request that
//   finds kept changes completes at once with them.
// - A completion carries FILE_NOTIFY_INFORMATION entries (MS-FSCC 2.7.1) for the changes that
//   match the open's CompletionFilter. If they do not fit in the request's OutputBufferLength —
//   nor in the first request's, which Windows keeps as the open's buffer size — the request
//   completes with STATUS_NOTIFY_ENUM_DIR and no entries, and the changes are dropped: the client
//   must enumerate the directory again.
// - Changes kept with no request waiting are bounded by that buffer size too; past it, the open
//   only remembers that it overflowed, and the next request gets STATUS_NOTIFY_ENUM_DIR. So does
//   every waiting request when the kernel's own queue overflowed.
// - The same change repeated at once (a file's data written in several pieces, its xattrs set
//   after it was created) is reported once.
// - The open's close, and with it a tree disconnect, logoff or session reconnect, ends the waiting
//   requests with STATUS_NOTIFY_CLEANUP; CANCEL with STATUS_CANCELLED; the directory deleted
//   under it, with STATUS_DELETE_PENDING.
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import type { DirChange, DirectoryWatcher } from '../vfs/watch.js'

/** A completion: the status and the CHANGE_NOTIFY response body (what a handler's Reply carries). */
export interface NotifyReply { status: number, body: Buffer }

/** MS-SMB2 2.2.35 Flags. */
export const SMB2_WATCH_TREE = 0x0001

/** Bytes one FILE_NOTIFY_INFORMATION takes for `name` (UTF-16), padded to 4 as every entry but the last. */
function entryBytes (name: string): number {
  return (12 + name.length * 2 + 3) & ~3
}

/** MS-SMB2 2.2.36: the response body around `entries`. */
function response (status: number, entries: Buffer): NotifyReply {
  const body = Buffer.alloc(8 + Math.max(entries.length, 1))
  body.writeUInt16LE(9, 0)
  body.writeUInt16LE(entries.length > 0 ? 64 + 8 : 0, 2)
  body.writeUInt32LE(entries.length, 4)
  entries.copy(body, 8)
  return { status, body }
}

/** MS-FSCC 2.7.1: the entries, '/' in names turned to '\'. */
export function encodeNotifyEntries (changes: readonly DirChange[]): Buffer {
  let total = 0
  for (const c of changes) total += entryBytes(c.name)
  const out = Buffer.alloc(total)
  let at = 0
  for (const [i, c] of changes.entries()) {
    const size = entryBytes(c.name)
    out.writeUInt32LE(i === changes.length - 1 ? 0 : size, at)
    out.writeUInt32LE(c.action, at + 4)
    const n = out.write(c.name.replaceAll('/', '\\'), at + 12, 'utf16le')
    out.writeUInt32LE(n, at + 8)
    at += size
  }
  // The last entry needs no padding after its name.
  const last = changes.at(-1)
  return last === undefined ? out : out.subarray(0, total - entryBytes(last.name) + 12 + last.name.length * 2)
}

const ACTION_NAMES: Record<number, string> = { 1: 'added', 2: 'removed', 3: 'modified', 4: 'old-name', 5: 'new-name' }

interface Waiter {
  outputLength: number
  done: (r: NotifyReply | Error) => void
}

export class NotifyState {
  /** MS-FSA 2.1.5.11: the first request's CompletionFilter and WatchTree hold until the open closes. */
  private readonly filter: number
  private readonly recursive: boolean
  /** MS-FSA: the first request's OutputBufferLength, the most a completion ever carries. */
  private readonly bufferSize: number
  private changes: DirChange[] = []
  private bytes = 0
  private overflowed = false
  private gone = false
  private readonly waiting: Waiter[] = []
  private stop?: () => void
  private closed = false

  constructor (
    private readonly watcher: DirectoryWatcher | undefined,
    private readonly dir: string,
    filter: number,
    recursive: boolean,
    outputLength: number,
    private readonly onError: (e: Error) => void,
    /** Told what each completion carries (the vfs debug component). */
    private readonly trace?: (what: string) => void
  ) {
    this.filter = filter
    this.recursive = recursive
    this.bufferSize = outputLength
    this.subscribe()
  }

  private subscribe (): void {
    if (this.watcher === undefined) return
    try {
      this.stop = this.watcher.watch(this.dir, this.recursive, {
        onChanges: (c) => { this.add(c) },
        onOverflow: () => { this.overflow() },
        onGone: () => { this.deleted() },
      })
    } catch (e) {
      // The directory cannot be watched (inotify's limit, a file system without it): requests
      // wait until cancelled or closed, as for a directory nothing changes in; the log says why.
      this.onError(e as Error)
    }
  }

  /**
   * One CHANGE_NOTIFY: a completion now if changes are kept (or the open overflowed), else
   * undefined and the caller waits with `wait`.
   */
  request (outputLength: number): NotifyReply | undefined {
    if (this.gone) throw new NtStatusError(NtStatus.DELETE_PENDING, 'the watched directory was deleted')
    if (this.overflowed || this.changes.length > 0) return this.take(outputLength)
    return undefined
  }

  /** Waits for the next change; `signal` (CANCEL, teardown) and `closed` (the open's close) end it. */
  async wait (outputLength: number, signal: AbortSignal, closed: AbortSignal): Promise<NotifyReply> {
    return await new Promise<NotifyReply>((resolve, reject) => {
      const w: Waiter = {
        outputLength,
        done: (r) => {
          signal.removeEventListener('abort', onAbort)
          closed.removeEventListener('abort', onClose)
          if (r instanceof Error) reject(r)
          else resolve(r)
        },
      }
      const drop = (): void => {
        const i = this.waiting.indexOf(w)
        if (i >= 0) this.waiting.splice(i, 1)
      }
      const onAbort = (): void => { drop(); w.done(signal.reason as Error) }
      const onClose = (): void => { drop(); w.done(new NtStatusError(NtStatus.NOTIFY_CLEANUP, 'the directory handle closed')) }
      if (signal.aborted) { onAbort(); return }
      if (closed.aborted) { onClose(); return }
      signal.addEventListener('abort', onAbort, { once: true })
      closed.addEventListener('abort', onClose, { once: true })
      this.waiting.push(w)
    })
  }

  /** The open closed: no more watching (its waiting requests end through their `closed` signal). */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.stop?.()
    this.stop = undefined
    this.changes = []
  }

  private add (changes: DirChange[]): void {
    for (const c of changes) {
      if ((c.filter & this.filter) === 0) continue
      const last = this.changes.at(-1)
      if (last !== undefined && last.action === c.action && last.name === c.name) continue
      if (this.overflowed) continue
      this.changes.push(c)
      this.bytes += entryBytes(c.name)
      if (this.bytes > Math.max(this.bufferSize, 1) && this.waiting.length === 0) this.overflow()
    }
    this.complete()
  }

  private overflow (): void {
    this.overflowed = true
    this.changes = []
    this.bytes = 0
    this.complete()
  }

  /**
   * The directory became pending deletion (delete on close set through any open): the requests
   * waiting now complete with STATUS_DELETE_PENDING; the watch stays until the open closes.
   */
  deletePending (): void {
    for (const w of this.waiting.splice(0)) w.done(new NtStatusError(NtStatus.DELETE_PENDING, 'the watched directory is pending deletion'))
  }

  private deleted (): void {
    this.gone = true
    for (const w of this.waiting.splice(0)) w.done(new NtStatusError(NtStatus.DELETE_PENDING, 'the watched directory was deleted'))
  }

  /** Hands what is kept to the first waiting request. */
  private complete (): void {
    if (!this.overflowed && this.changes.length === 0) return
    const w = this.waiting.shift()
    if (w !== undefined) w.done(this.take(w.outputLength))
  }

  private take (outputLength: number): NotifyReply {
    const limit = Math.min(outputLength, this.bufferSize)
    const changes = this.changes
    const fits = !this.overflowed && this.bytes <= limit + 3 // the last entry is not padded
    this.changes = []
    this.bytes = 0
    this.overflowed = false
    this.trace?.(fits ? changes.map(c => `${ACTION_NAMES[c.action] ?? c.action} ${c.name}`).join(', ') : 'NOTIFY_ENUM_DIR')
    if (!fits) return response(NtStatus.NOTIFY_ENUM_DIR, Buffer.alloc(0))
    const entries = encodeNotifyEntries(changes)
    return entries.length <= limit ? response(NtStatus.SUCCESS, entries) : response(NtStatus.NOTIFY_ENUM_DIR, Buffer.alloc(0))
  }
}
