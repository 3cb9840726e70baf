// The records of persistent handles on disk (src/session/persistent.ts says what they are for):
// one small file per open in the `persistent handle directory` (0700), rewritten whole by one
// write, so a process killed in the middle of an update leaves the old record or the new one
// (PersistentStore).
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import type { Open } from './model.js'

/** What a persistent open's record holds (JSON; bigints as decimal strings, Buffers as hex). */
export interface PersistentRecord {
  v: 1
  /** The worker slot that wrote it (0: one process); for the log: the file's name says whose it is. */
  w: number
  share: string
  path: string
  /** The named stream opened (its name as stored), undefined for the file itself. */
  stream?: string
  user: string
  domain: string
  clientGuid: string
  createGuid: string
  /** FileId.Persistent (= Volatile: one process hands out both). */
  fid: string
  /** The file's inode when it was opened: a file found with another one at restore is not it. */
  ino: string
  /** The file's identity (ShareFs.identity, hex): where the path no longer leads to it, restore looks it up by this. */
  fh?: string
  access: number
  shareAccess: number
  createOptions: number
  deleteOnClose: boolean
  /** The oplock level held (a break in progress counted as done: its target). */
  oplock: number
  lease?: { lk: string, state: number, epoch: number, v: number }
  parentLeaseId?: string
  locks: Array<{ off: string, len: string, x: boolean }>
  /** Open.LockSequenceArray as [index, number] pairs. */
  lockSeq: Array<[number, number]>
  appInstance?: { id: string, clientGuid: string }
  timeoutMs: number
  position: string
  createAction: number
  /**
   * MS-SMB2 3.3.1.10 Open.ChannelSequence and the count of its 16-bit wraps (replay.ts); absent:
   * 0. The counts of requests in flight are not kept: those requests died with the process.
   */
  channelSequence?: number
  channelGeneration?: number
  /** Open.IsReplayEligible (absent: true): false once a request other than its CREATE used the open. */
  replayEligible?: boolean
}

/** The longest record written in place (one page: a write the kernel does not split). */
const PAGE = 4096
/** What a record file no open uses holds (padded with spaces): the next grant of its worker takes it. */
const FREE = '{"free":1}'

/** A record file this process writes: its descriptor, kept open, and its length. */
interface Slot { name: string, fd: number, len: number }

/**
 * The directory of records, made owner-only (0700; records 0600). Record files are named by the
 * worker slot that made them (`w<slot>-<n>.rec`) and reused: a closed open's file is marked free
 * (one write), and the next persistent open of that worker takes it (one write), so a grant and a
 * close cost no directory update. An update is one pwrite at offset 0, padded with spaces to the
 * old length (JSON may end in whitespace): a process killed in a write of one page leaves the old
 * record or the new one, never half of one. A record longer than a page (many locks) is replaced
 * through a temporary file and a rename. No fsync (docs/durable-handles.md says why).
 */
export class PersistentStore {
  private seq = 0
  /** This process's record files, by the open they hold (ClientGuid-FileId). */
  private readonly used = new Map<string, Slot>()
  /** This process's free record files. */
  private readonly free: Slot[] = []
  private next = 0
  private frozen = false

  constructor (readonly dir: string, readonly slot = 0) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    chmodSync(dir, 0o700)
  }

  /** The key of an open's record: its ClientGuid and FileId (unique: a client's opens are one worker's). */
  static key (clientGuid: string, fid: string): string { return `${clientGuid}-${fid}` }

  write (rec: PersistentRecord): void {
    if (this.frozen) return
    const key = PersistentStore.key(rec.clientGuid, rec.fid)
    let f = this.used.get(key)
    if (f === undefined) {
      f = this.free.pop() ?? this.newSlot()
      this.used.set(key, f)
    }
    this.put(f, JSON.stringify(rec))
  }

  /** The open's record goes: its file is marked free for the next one. */
  remove (clientGuid: string, fid: string): void {
    const key = PersistentStore.key(clientGuid, fid)
    const f = this.used.get(key)
    if (f === undefined) return
    this.used.delete(key)
    this.put(f, FREE)
    this.free.push(f)
  }

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

  private put (f: Slot, text: string): void {
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
   * At start: the records this worker restores, and the files of its that hold none (cut short,
   * garbage: their names and why; they are removed). A file belongs to the worker slot in its
   * name: other live workers' files are not even read (a single worker's restart must not touch
   * them). Files of a slot beyond `workers` go to one worker by their ClientGuid. The free files
   * of this slot become this process's.
   */
  readAll (workers = 1): { records: Array<{ name: string, rec: PersistentRecord }>, bad: Array<{ name: string, why: string }> } {
    const records: Array<{ name: string, rec: PersistentRecord }> = []
    const bad: Array<{ name: string, why: string }> = []
    for (const name of readdirSync(this.dir).sort()) {
      const p = join(this.dir, name)
      // A record half written when its writer died; another worker's, still alive, is left.
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
      let rec: PersistentRecord
      try {
        rec = parseRecord(text)
      } catch (e) {
        if (mine || this.slot === 0) { bad.push({ name, why: (e as Error).message }); unlinkQuiet(p) }
        continue
      }
      if (mine || guidWorker(rec.clientGuid, workers) === this.slot) records.push({ name, rec })
    }
    return { records, bad }
  }

  /** Record file `name` is this process's from now on: free, or (`key`) holding a restored open. */
  adopt (name: string, key?: string): void {
    const fd = openSync(join(this.dir, name), 'r+')
    const f = { name, fd, len: fstatSync(fd).size }
    if (key !== undefined) this.used.set(key, f)
    else this.free.push(f)
  }

  /**
   * The server shuts down: from now on no record is written or removed (the opens' closes are
   * the process's end, not their clients'). Returns how many records this process holds.
   */
  freeze (): number {
    this.frozen = true
    return this.used.size
  }

  /** `open` (persistent) closes for good: its record goes; `warn` hears a failure. */
  removeOpen (open: Open, warn: (m: string) => void): void {
    if (this.frozen) return
    try {
      this.remove(open.durable!.clientGuid.toString('hex'), open.fileId.persistent.toString())
    } catch (e) {
      warn(`persistent handle ${open.tree.shareName}/${open.path}: its record could not be removed: ${(e as Error).message}`)
    }
  }

  /** Drops the record file `name` (a restore that could not use it): it becomes a free one of its worker. */
  drop (name: string): void {
    try {
      const fd = openSync(join(this.dir, name), 'r+')
      const f = { name, fd, len: fstatSync(fd).size }
      this.put(f, FREE)
      if (name.startsWith(`w${this.slot}-`)) this.free.push(f)
      else closeSync(f.fd)
    } catch { unlinkQuiet(join(this.dir, name)) }
  }

  /** Whether the text of a record file is a free one's (tests, tools). */
  static isFree (text: string): boolean { return text.trim() === FREE }
}

/** The worker that restores a record of a worker slot that is no more: one by its ClientGuid (hex). */
export function guidWorker (clientGuid: string, workers: number): number {
  return workers <= 1 ? 0 : createHash('sha256').update(clientGuid).digest().readUInt32LE(0) % workers
}

function pidAlive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false
  try { process.kill(pid, 0); return true } catch { return false }
}

function unlinkQuiet (p: string): void { try { unlinkSync(p) } catch { /* gone already */ } }

const HEX32 = /^[0-9a-f]{32}$/
const DEC = /^\d{1,20}$/

/** A record file that holds no record (cut short, edited, not ours). */
export class RecordError extends Error {
  readonly code = 'SMBTS_ERR_PERSISTENT_RECORD'
}

/** Parses and checks a record; anything that is not one throws RecordError. */
export function parseRecord (text: string): PersistentRecord {
  try {
    return checkRecord(JSON.parse(text) as PersistentRecord)
  } catch (e) {
    if (e instanceof RecordError) throw e
    throw new RecordError(`not a record: ${(e as Error).message}`)
  }
}

function checkRecord (r: PersistentRecord): PersistentRecord {
  const bad = (what: string): never => { throw new RecordError(`bad record: ${what}`) }
  if (typeof r !== 'object' || r === null || r.v !== 1) bad('version')
  for (const k of ['share', 'path', 'user', 'domain'] as const) if (typeof r[k] !== 'string') bad(k)
  if (!HEX32.test(r.clientGuid) || !HEX32.test(r.createGuid)) bad('guid')
  if (!DEC.test(r.fid) || !DEC.test(r.ino) || !DEC.test(r.position)) bad('number')
  if (r.w === undefined) r.w = 0
  for (const k of ['w', 'access', 'shareAccess', 'createOptions', 'oplock', 'timeoutMs', 'createAction'] as const) if (!Number.isInteger(r[k])) bad(k)
  if (!Array.isArray(r.locks) || !r.locks.every(l => DEC.test(l.off) && DEC.test(l.len) && typeof l.x === 'boolean')) bad('locks')
  if (!Array.isArray(r.lockSeq) || !r.lockSeq.every(p => Array.isArray(p) && Number.isInteger(p[0]) && Number.isInteger(p[1]))) bad('lockSeq')
  if (r.lease !== undefined && (typeof r.lease.lk !== 'string' || !Number.isInteger(r.lease.state) || !Number.isInteger(r.lease.epoch) || !Number.isInteger(r.lease.v))) bad('lease')
  if (r.stream !== undefined && (typeof r.stream !== 'string' || r.stream === '' || /[/\\:\0]/.test(r.stream))) bad('stream')
  if (r.channelSequence !== undefined && !(Number.isInteger(r.channelSequence) && r.channelSequence >= 0 && r.channelSequence <= 0xffff)) bad('channelSequence')
  if (r.channelGeneration !== undefined && !(Number.isInteger(r.channelGeneration) && r.channelGeneration >= 0)) bad('channelGeneration')
  if (r.replayEligible !== undefined && typeof r.replayEligible !== 'boolean') bad('replayEligible')
  if (r.fh !== undefined && (typeof r.fh !== 'string' || !/^(?:[0-9a-f]{2}){4,132}$/.test(r.fh))) bad('fh')
  if (r.path.split('/').some(c => c === '..' || c === '.') || r.path.startsWith('/')) bad('path')
  return r
}
