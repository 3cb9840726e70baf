// The files behind persistent handles' records (src/session/persistent-store.ts gives them their
// meaning): one small file per record in a directory of the server's own (0700; files 0600),
// each rewritten whole by one write, so a process killed in the middle of an update leaves the
// old text or the new one. The session layer hands texts in by key and gets them back at start;
// only this module touches the files (CONVENTIONS.md 8: only the I/O and vfs layers own files).
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/** The longest text written in place (one page: a write the kernel does not split). */
const PAGE = 4096
/** What a file no record uses holds (padded with spaces): the next record of its worker takes it. */
const FREE = '{"free":1}'

/** A file this process writes: its descriptor, kept open, and its length. */
interface Slot { name: string, fd: number, len: number }

/** A record file found at start: its name, the worker slot in its name, its text, whether it is this process's to restore. */
export interface FoundRecord { name: string, slot: number, text: string, mine: boolean }

/**
 * The directory of record files, made owner-only. Files are named by the worker slot that made
 * them (`w<slot>-<n>.rec`) and reused: a freed record's file is marked free (one write), and the
 * next record of that worker takes it (one write), so a record's birth and end cost no
 * directory update. An update is one pwrite at offset 0, padded with spaces to the old length
 * (the texts are JSON, which may end in whitespace): a process killed in a write of one page
 * leaves the old text or the new one, never half of one. A text longer than a page is replaced
 * through a temporary file and a rename. No fsync (docs/durable-handles.md says why).
 */
export class RecordFiles {
  private seq = 0
  /** This process's files, by the key of the record they hold. */
  private readonly used = new Map<string, Slot>()
  /** This process's free files. */
  private readonly free: Slot[] = []
  private next = 0
  private frozen = false

  constructor (readonly dir: string, readonly slot = 0) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    chmodSync(dir, 0o700)
  }

  /** The record `key` is `text` from now on (a new one takes a free file, or a new one). */
  put (key: string, text: string): void {
    if (this.frozen) return
    let f = this.used.get(key)
    if (f === undefined) {
      f = this.free.pop() ?? this.newSlot()
      this.used.set(key, f)
    }
    this.write(f, text)
  }

  /** The record `key` goes: its file is marked free for the next one. */
  remove (key: string): void {
    if (this.frozen) return
    const f = this.used.get(key)
    if (f === undefined) return
    this.used.delete(key)
    this.write(f, FREE)
    this.free.push(f)
  }

  /** How many records this process holds. */
  get size (): number { return this.used.size }

  private newSlot (): Slot {
    for (;;) {
      const name = `w${this.slot}-${++this.next}.rec`
      try {
        return { name, fd: openSync(join(this.dir, name), 'wx', 0o600), len: 0 }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
    }
  }

  private write (f: Slot, text: string): void {
    const n = Buffer.byteLength(text)
    const size = Math.max(n, f.len)
    if (size <= PAGE) {
      const buf = Buffer.alloc(size, 0x20)
      buf.write(text)
      writeSync(f.fd, buf, 0, size, 0)
      f.len = size
      return
    }
    const p = join(this.dir, f.name)
    const tmp = `${p}.${process.pid}.${++this.seq}.tmp`
    writeFileSync(tmp, text, { mode: 0o600 })
    renameSync(tmp, p)
    closeSync(f.fd)
    f.fd = openSync(p, 'r+')
    f.len = n
  }

  /**
   * At start: the record files this worker may restore (`mine`: its own slot's, or every one
   * with a single worker) and those of slots beyond `workers` (a worker no longer there: the
   * caller picks one worker for each). Other live workers' files are not even read (a single
   * worker's restart must not touch them). This slot's free files become this process's; free
   * files of slots no longer there, and temporary files whose writer is dead, are removed.
   */
  scan (workers = 1): FoundRecord[] {
    const out: FoundRecord[] = []
    for (const name of readdirSync(this.dir).sort()) {
      const p = join(this.dir, name)
      // A text half written when its writer died; another worker's, still alive, is left.
      if (name.endsWith('.tmp')) { if (!pidAlive(Number(name.split('.').at(-3)))) unlinkQuiet(p); continue }
      const m = /^w(\d+)-(\d+)\.rec$/.exec(name)
      if (m === null) continue
      const slot = Number(m[1])
      const mine = slot === this.slot || workers <= 1
      if (!mine && slot < workers) continue
      if (slot === this.slot) this.next = Math.max(this.next, Number(m[2]))
      let text: string
      try { text = readFileSync(p, 'utf8') } catch { continue }
      if (text.trim() === FREE) {
        if (slot === this.slot) this.adopt(name)
        else if (mine || this.slot === 0) unlinkQuiet(p)
        continue
      }
      out.push({ name, slot, text, mine })
    }
    return out
  }

  /** Removes file `name` (one that holds no record: cut short, garbage). */
  discard (name: string): void { unlinkQuiet(join(this.dir, name)) }

  /** File `name` is this process's from now on: free, or (`key`) holding a restored record. */
  adopt (name: string, key?: string): void {
    const f = this.openExisting(name)
    if (key !== undefined) this.used.set(key, f)
    else this.free.push(f)
  }

  /** File `name` holds a record that will not be restored: it becomes a free one of its worker. */
  drop (name: string): void {
    try {
      const f = this.openExisting(name)
      this.write(f, FREE)
      if (name.startsWith(`w${this.slot}-`)) this.free.push(f)
      else closeSync(f.fd)
    } catch { unlinkQuiet(join(this.dir, name)) }
  }

  /** Record file `name`, as it is, opened for rewriting. */
  private openExisting (name: string): Slot {
    const fd = openSync(join(this.dir, name), 'r+')
    return { name, fd, len: fstatSync(fd).size }
  }

  /** From now on nothing is written or removed (the server shuts down; its records stay). */
  freeze (): void { this.frozen = true }

  get isFrozen (): boolean { return this.frozen }

  /** Whether the text of a record file is a free one's (tests, tools). */
  static isFree (text: string): boolean { return text.trim() === FREE }
}

function pidAlive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false
  try { process.kill(pid, 0); return true } catch { return false }
}

function unlinkQuiet (p: string): void { try { unlinkSync(p) } catch { /* gone already */ } }
