// The locking store's records as bytes, for the db the workers share (ShmRecordDb). A CREATE and
// its CLOSE update a file's record three times; as JSON each update spent ~3 µs encoding and
// decoding (docs/state-store.md), more than the shared store itself (~0.7 µs). This layout is
// fixed-width fields in one pass each way. Little-endian throughout.
//
//   record  := kind:u8 body
//   file    := flags:u8 (1 deletePending, 2 deleting present) [deleting:owner]
//              n:u32 open*n  n:u32 owner*n (inFlight)  n:u32 owner*n (watchers)  n:u32 lock*n
//              n:u32 lease*n
//   open    := owner access:u32 share:u32 state:u8 level:u8 breakTo:u8 flags:u8 (1 closing, 2 lk) [lk:32]
//   lock    := owner (the open's) offset:u64 length:u64 exclusive:u8
//   lease   := lk:32 (ClientGuid, LeaseKey) state:u8 flags:u8 (1 breaking, 2 dir) breakTo:u8 breakToReq:u8 epoch:u16 v:u8
//   name    := hasHolder:u8 [holder:owner] n:u32 owner*n (queue)
//   count   := n:u32 owner*n (a worker's part: its owner fields, the count in `id`)
//   guid    := as count (the workers serving one ClientGuid, each with its connections)
//   owner   := w:i16 g:u32 id:f64
import type { Codec } from './record-db.js'
import type { CountRec, FileRec, GuidRec, LockRecord, NameRec, OpenRec, Owner, RangeLockRec } from './store.js'
import type { LeaseRec } from './leases.js'
import { OplockState } from './oplocks.js'
import type { OplockLevel } from '../wire/constants.js'

const KIND_FILE = 1
const KIND_NAME = 2
const KIND_COUNT = 3
const KIND_GUID = 4
const OWNER_BYTES = 14
const OPEN_BYTES = OWNER_BYTES + 12
const LOCK_BYTES = OWNER_BYTES + 17
const LK_BYTES = 32
const LEASE_BYTES = LK_BYTES + 7
const STATES = [OplockState.None, OplockState.Held, OplockState.Breaking, OplockState.Closed] as const

class Writer {
  private b = Buffer.allocUnsafe(256)
  off = 0
  private room (n: number): void {
    if (this.off + n <= this.b.length) return
    const next = Buffer.allocUnsafe(Math.max(this.b.length * 2, this.off + n))
    this.b.copy(next, 0, 0, this.off)
    this.b = next
  }

  u8 (v: number): void { this.room(1); this.b[this.off++] = v }
  u32 (v: number): void { this.room(4); this.b.writeUInt32LE(v >>> 0, this.off); this.off += 4 }
  u64 (v: bigint): void { this.room(8); this.b.writeBigUInt64LE(v, this.off); this.off += 8 }
  u16 (v: number): void { this.room(2); this.b.writeUInt16LE(v, this.off); this.off += 2 }
  /** A lease identity: 64 hex digits as 32 bytes. */
  lk (hex: string): void { this.room(LK_BYTES); this.off += this.b.write(hex, this.off, LK_BYTES, 'hex') }
  count (n: number, each: number): void { this.u32(n); this.room(n * each) }
  owner (o: Owner): void {
    this.room(OWNER_BYTES)
    this.b.writeInt16LE(o.w, this.off)
    this.b.writeUInt32LE(o.g >>> 0, this.off + 2)
    this.b.writeDoubleLE(o.id, this.off + 6)
    this.off += OWNER_BYTES
  }

  done (): Buffer { return this.b.subarray(0, this.off) }
}

class Reader {
  off = 0
  constructor (private readonly b: Buffer) {}
  u8 (): number { return this.b[this.off++]! }
  u32 (): number { const v = this.b.readUInt32LE(this.off); this.off += 4; return v }
  u64 (): bigint { const v = this.b.readBigUInt64LE(this.off); this.off += 8; return v }
  u16 (): number { const v = this.b.readUInt16LE(this.off); this.off += 2; return v }
  lk (): string { const v = this.b.toString('hex', this.off, this.off + LK_BYTES); this.off += LK_BYTES; return v }
  owner (): Owner {
    const o = { w: this.b.readInt16LE(this.off), g: this.b.readUInt32LE(this.off + 2), id: this.b.readDoubleLE(this.off + 6) }
    this.off += OWNER_BYTES
    return o
  }

  owners (): Owner[] {
    const n = this.u32()
    const out: Owner[] = new Array(n)
    for (let i = 0; i < n; i++) out[i] = this.owner()
    return out
  }
}

function encodeFile (w: Writer, r: FileRec): void {
  w.u8(KIND_FILE)
  w.u8((r.deletePending === true ? 1 : 0) | (r.deleting !== undefined ? 2 : 0))
  if (r.deleting !== undefined) w.owner(r.deleting)
  w.count(r.opens.length, OPEN_BYTES)
  for (const o of r.opens) {
    w.owner(o)
    w.u32(o.access)
    w.u32(o.share)
    w.u8(STATES.indexOf(o.state))
    w.u8(o.level)
    w.u8(o.breakTo)
    w.u8((o.closing === true ? 1 : 0) | (o.lk !== undefined ? 2 : 0))
    if (o.lk !== undefined) w.lk(o.lk)
  }
  for (const list of [r.inFlight ?? [], r.watchers ?? []]) {
    w.count(list.length, OWNER_BYTES)
    for (const o of list) w.owner(o)
  }
  const locks = r.locks ?? []
  w.count(locks.length, LOCK_BYTES)
  for (const l of locks) {
    w.owner(l)
    w.u64(l.off)
    w.u64(l.len)
    w.u8(l.x ? 1 : 0)
  }
  const leases = r.leases ?? []
  w.count(leases.length, LEASE_BYTES)
  for (const l of leases) {
    w.lk(l.lk)
    w.u8(l.state)
    w.u8((l.breaking ? 1 : 0) | (l.dir === true ? 2 : 0))
    w.u8(l.breakTo)
    w.u8(l.breakToReq)
    w.u16(l.epoch)
    w.u8(l.v)
  }
}

function decodeFile (rd: Reader): FileRec {
  const flags = rd.u8()
  const r: FileRec = { kind: 'file', opens: [] }
  if ((flags & 1) !== 0) r.deletePending = true
  if ((flags & 2) !== 0) r.deleting = rd.owner()
  const n = rd.u32()
  for (let i = 0; i < n; i++) {
    const o = rd.owner()
    const e: OpenRec = { ...o, access: rd.u32(), share: rd.u32(), state: STATES[rd.u8()] ?? OplockState.None, level: rd.u8() as OplockLevel, breakTo: rd.u8() as OplockLevel }
    const flags = rd.u8()
    if ((flags & 1) !== 0) e.closing = true
    if ((flags & 2) !== 0) e.lk = rd.lk()
    r.opens.push(e)
  }
  const inFlight = rd.owners()
  const watchers = rd.owners()
  if (inFlight.length > 0) r.inFlight = inFlight
  if (watchers.length > 0) r.watchers = watchers
  const nLocks = rd.u32()
  if (nLocks > 0) {
    const locks: RangeLockRec[] = new Array(nLocks)
    for (let i = 0; i < nLocks; i++) locks[i] = { ...rd.owner(), off: rd.u64(), len: rd.u64(), x: rd.u8() === 1 }
    r.locks = locks
  }
  const nLeases = rd.u32()
  if (nLeases > 0) {
    const leases: LeaseRec[] = new Array(nLeases)
    for (let i = 0; i < nLeases; i++) {
      const lk = rd.lk()
      const state = rd.u8()
      const flags = rd.u8()
      const l: LeaseRec = { lk, state, breaking: (flags & 1) !== 0, breakTo: rd.u8(), breakToReq: rd.u8(), epoch: rd.u16(), v: rd.u8() }
      if ((flags & 2) !== 0) l.dir = true
      leases[i] = l
    }
    r.leases = leases
  }
  return r
}

function encodeName (w: Writer, r: NameRec): void {
  w.u8(KIND_NAME)
  w.u8(r.holder !== undefined ? 1 : 0)
  if (r.holder !== undefined) w.owner(r.holder)
  w.count(r.queue.length, OWNER_BYTES)
  for (const o of r.queue) w.owner(o)
}

function decodeName (rd: Reader): NameRec {
  const r: NameRec = { kind: 'name', queue: [] }
  if (rd.u8() === 1) r.holder = rd.owner()
  r.queue = rd.owners()
  return r
}

function encodeCount (w: Writer, r: CountRec | GuidRec): void {
  w.u8(r.kind === 'count' ? KIND_COUNT : KIND_GUID)
  w.count(r.by.length, OWNER_BYTES)
  for (const x of r.by) { w.owner({ w: x.w, g: x.g, id: x.n }) }
}

function decodeCount<K extends 'count' | 'guid'> (rd: Reader, kind: K): { kind: K, by: Array<{ w: number, g: number, n: number }> } {
  return { kind, by: rd.owners().map(o => ({ w: o.w, g: o.g, n: o.id })) }
}

/** The locking store's records in the layout above. */
export const lockRecordCodec: Codec<LockRecord> = {
  encode (r: LockRecord): Buffer {
    const w = new Writer()
    if (r.kind === 'file') encodeFile(w, r)
    else if (r.kind === 'name') encodeName(w, r)
    else encodeCount(w, r)
    return w.done()
  },
  decode (b: Buffer): LockRecord {
    const rd = new Reader(b)
    const kind = rd.u8()
    if (kind === KIND_FILE) return decodeFile(rd)
    if (kind === KIND_NAME) return decodeName(rd)
    if (kind === KIND_COUNT) return decodeCount(rd, 'count')
    if (kind === KIND_GUID) return decodeCount(rd, 'guid')
    throw new Error(`locking store: a record of unknown kind ${kind}`)
  },
}
