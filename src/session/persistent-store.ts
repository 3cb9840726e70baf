// The records of persistent handles (src/session/persistent.ts says what they are for): what a
// record holds, how it is checked when read back, which worker restores it. One small file per
// open in the `persistent handle directory`, rewritten whole by one write, so a process killed in
// the middle of an update leaves the old record or the new one: the files are the vfs layer's
// (src/vfs/record-files.ts); this module gives it texts by key and gets them back.
import { createHash } from 'node:crypto'
import { RecordFiles } from '../vfs/record-files.js'
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

/**
 * Persistent handles' records as the session layer sees them: a record goes in by its open
 * (ClientGuid and FileId), comes back at start; the files behind them, and what makes an update
 * one write that a kill cannot tear, are the vfs layer's (src/vfs/record-files.ts).
 */
export class PersistentStore {
  private readonly files: RecordFiles

  constructor (readonly dir: string, readonly slot = 0) {
    this.files = new RecordFiles(dir, slot)
  }

  /** The key of an open's record: its ClientGuid and FileId (unique: a client's opens are one worker's). */
  static key (clientGuid: string, fid: string): string { return `${clientGuid}-${fid}` }

  write (rec: PersistentRecord): void {
    this.files.put(PersistentStore.key(rec.clientGuid, rec.fid), JSON.stringify(rec))
  }

  /** The open's record goes: its file is marked free for the next one. */
  remove (clientGuid: string, fid: string): void {
    this.files.remove(PersistentStore.key(clientGuid, fid))
  }

  /**
   * At start: the records this worker restores, and the files of its that hold none (cut short,
   * garbage: their names and why; they are removed). A file belongs to the worker slot in its
   * name; files of a slot beyond `workers` go to one worker by their ClientGuid.
   */
  readAll (workers = 1): { records: Array<{ name: string, rec: PersistentRecord }>, bad: Array<{ name: string, why: string }> } {
    const records: Array<{ name: string, rec: PersistentRecord }> = []
    const bad: Array<{ name: string, why: string }> = []
    for (const { name, text, mine } of this.files.scan(workers)) {
      let rec: PersistentRecord
      try {
        rec = parseRecord(text)
      } catch (e) {
        if (mine || this.slot === 0) { bad.push({ name, why: (e as Error).message }); this.files.discard(name) }
        continue
      }
      if (mine || guidWorker(rec.clientGuid, workers) === this.slot) records.push({ name, rec })
    }
    return { records, bad }
  }

  /** Record file `name` is this process's from now on: free, or (`key`) holding a restored open. */
  adopt (name: string, key?: string): void { this.files.adopt(name, key) }

  /**
   * The server shuts down: from now on no record is written or removed (the opens' closes are
   * the process's end, not their clients'). Returns how many records this process holds.
   */
  freeze (): number {
    this.files.freeze()
    return this.files.size
  }

  /** `open` (persistent) closes for good: its record goes; `warn` hears a failure. */
  removeOpen (open: Open, warn: (m: string) => void): void {
    if (this.files.isFrozen) return
    try {
      this.remove(open.durable!.clientGuid.toString('hex'), open.fileId.persistent.toString())
    } catch (e) {
      warn(`persistent handle ${open.tree.shareName}/${open.path}: its record could not be removed: ${(e as Error).message}`)
    }
  }

  /** Drops the record file `name` (a restore that could not use it): it becomes a free one of its worker. */
  drop (name: string): void { this.files.drop(name) }

  /** Whether the text of a record file is a free one's (tests, tools). */
  static isFree (text: string): boolean { return RecordFiles.isFree(text) }
}

/** The worker that restores a record of a worker slot that is no more: one by its ClientGuid (hex). */
export function guidWorker (clientGuid: string, workers: number): number {
  return workers <= 1 ? 0 : createHash('sha256').update(clientGuid).digest().readUInt32LE(0) % workers
}

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
