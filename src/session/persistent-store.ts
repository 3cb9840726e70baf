// The records of persistent handles on disk (src/session/persistent.ts says what they are for):
// one small file per open in the `persistent handle directory` (0700), each replaced whole by a
// rename, so a process killed in the middle of an update leaves the old record or the new one.
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Open } from './model.js'

/** What a persistent open's record holds (JSON; bigints as decimal strings, Buffers as hex). */
export interface PersistentRecord {
  v: 1
  /** The worker slot that wrote it (0: one process): that slot restores it (persistent.ts ownerWorker). */
  w: number
  share: string
  path: string
  user: string
  domain: string
  clientGuid: string
  createGuid: string
  /** FileId.Persistent (= Volatile: one process hands out both). */
  fid: string
  /** The file's inode when it was opened: a file found with another one at restore is not it. */
  ino: string
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
}

/** The directory of records, made owner-only (0700; records 0600). */
export class PersistentStore {
  private seq = 0
  constructor (readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    chmodSync(dir, 0o700)
  }

  /** A record's file name: the ClientGuid and FileId (unique: a client's opens are one worker's). */
  private fileOf (clientGuid: string, fid: string): string { return join(this.dir, `${clientGuid}-${fid}.rec`) }

  write (rec: PersistentRecord): void {
    if (this.frozen) return
    const final = this.fileOf(rec.clientGuid, rec.fid)
    const tmp = `${final}.${process.pid}.${++this.seq}.tmp`
    writeFileSync(tmp, JSON.stringify(rec), { mode: 0o600 })
    renameSync(tmp, final)
  }

  remove (clientGuid: string, fid: string): void {
    try { unlinkSync(this.fileOf(clientGuid, fid)) } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
  }

  /** Every record, and the files that hold none (half-written leftovers, garbage): their names and why. */
  readAll (): { records: Array<{ name: string, rec: PersistentRecord }>, bad: Array<{ name: string, why: string }> } {
    const records: Array<{ name: string, rec: PersistentRecord }> = []
    const bad: Array<{ name: string, why: string }> = []
    for (const name of readdirSync(this.dir).sort()) {
      const p = join(this.dir, name)
      // A record half written when its writer died; another worker's, still alive, is left.
      if (name.endsWith('.tmp')) { if (!pidAlive(Number(name.split('.').at(-3)))) unlinkQuiet(p); continue }
      if (!name.endsWith('.rec')) continue
      try {
        const rec = parseRecord(readFileSync(p, 'utf8'))
        records.push({ name, rec })
      } catch (e) {
        bad.push({ name, why: (e as Error).message })
        unlinkQuiet(p)
      }
    }
    return { records, bad }
  }

  private frozen = false

  /**
   * The server shuts down: from now on no record is written or removed (the opens' closes are
   * the process's end, not their clients'). Returns how many records there are.
   */
  freeze (): number {
    this.frozen = true
    try { return readdirSync(this.dir).filter(n => n.endsWith('.rec')).length } catch { return 0 }
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

  /** Drops the record file `name` (a restore that could not use it). */
  drop (name: string): void { unlinkQuiet(join(this.dir, name)) }
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
  if (r.path.split('/').some(c => c === '..' || c === '.') || r.path.startsWith('/')) bad('path')
  return r
}
