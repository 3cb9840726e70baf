// The state store's single-machine primitive: records keyed by string, each read-modify-written
// under a lock that every process sharing the store respects. Share modes, oplocks, name locks
// (and later leases, byte-range locks, durable handles) keep what two clients on two workers
// must both see in one RecordDb; docs/state-store.md says why this shape and this backend.
//
// Two implementations of one contract:
// - MemoryRecordDb: a Map of the objects themselves, for the one-process server (no encoding, no
//   copies: as fast as the Maps it replaces);
// - ShmRecordDb: native/src/shmstore.c, a hash table in a file every worker maps, records
//   encoded by a Codec, each update under a robust process-shared mutex.
import { native, type StoreHandle } from '../io/native.js'

/** Returned by an update function to leave the record as it was (nothing written). */
export const UNCHANGED: unique symbol = Symbol('UNCHANGED')
export type Update<V> = V | undefined | typeof UNCHANGED

/** Records keyed by string, each updated under a lock every process sharing the db respects. */
export interface RecordDb<V> {
  /** The record now (a consistent copy for a shared db), or undefined. */
  read (key: string): V | undefined
  /**
   * Locks key's record against every process sharing the db, calls fn with it (undefined: none),
   * stores what fn returns (undefined deletes; UNCHANGED writes nothing) and unlocks, also when fn
   * throws (then nothing is written and the error propagates). fn is synchronous, may mutate and
   * return `old`, and must not call update() again. A process that dies inside fn leaves the record
   * as it was before that update; the next locker goes on.
   */
  update (key: string, fn: (old: V | undefined) => Update<V>): void
  /** Every key with a record (sweeps after a worker died; tests check nothing leaks). */
  keys (): string[]
  close (): void
}
/**
 * How a shared db turns records into bytes. decode's Buffer is valid only during the call (the
 * db reuses it): a codec whose records are Buffers must copy.
 */
export interface Codec<V> { encode (v: V): Buffer, decode (b: Buffer): V }

/** Thrown by update() called from inside an update's function (the lock is not reentrant). */
export class RecordDbError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

function nested (): RecordDbError {
  return new RecordDbError('SMBTS_ERR_STORE_LOCK', 'RecordDb.update() called inside an update function')
}

/**
 * The one-process db: a Map holding the records themselves. fn gets the stored object, not a
 * copy, and read() returns it: a function that mutates `old` and then throws leaves the mutation
 * in place (ShmRecordDb's copy would not), so mutate only after the last check that can throw.
 * update() inside update() throws here too, so that code run in one process keeps to the rule the
 * shared db enforces.
 */
export class MemoryRecordDb<V> implements RecordDb<V> {
  private readonly map = new Map<string, V>()
  private inUpdate = false

  read (key: string): V | undefined {
    return this.map.get(key)
  }

  update (key: string, fn: (old: V | undefined) => Update<V>): void {
    if (this.inUpdate) throw nested()
    this.inUpdate = true
    try {
      const next = fn(this.map.get(key))
      if (next === UNCHANGED) return
      if (next === undefined) this.map.delete(key)
      else this.map.set(key, next)
    } finally {
      this.inUpdate = false
    }
  }

  keys (): string[] {
    return [...this.map.keys()]
  }

  close (): void {
    this.map.clear()
  }
}

const BIGINT = 'n'
const ESCAPED = 's'

// Bigints and strings that begin with U+0000 are written as strings tagged by a leading U+0000:
// "\0n123" is 123n and "\0s..." the escaped string. JSON renders U+0000 as \u0000, so an encoded
// record needs the tag-reading pass only when its text holds '"\u0000'.
function tagReplacer (_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return `\0${BIGINT}${v}`
  if (typeof v === 'string' && v.charCodeAt(0) === 0) return `\0${ESCAPED}${v}`
  return v
}

function tagReviver (_key: string, v: unknown): unknown {
  if (typeof v === 'string' && v.charCodeAt(0) === 0) {
    if (v[1] === BIGINT) return BigInt(v.slice(2))
    if (v[1] === ESCAPED) return v.slice(2)
  }
  return v
}

/**
 * JSON as UTF-8, bigint-safe (bigints come back as bigints; plain JSON has no bigint). Maps,
 * Sets, undefined inside arrays and the like are what JSON makes of them: keep records to plain
 * objects, arrays, strings, numbers, booleans, null and bigints.
 */
export function jsonCodec<V> (): Codec<V> {
  return {
    encode (v: V): Buffer {
      let text: string
      try {
        text = JSON.stringify(v)
        if (text.includes('"\\u0000')) text = JSON.stringify(v, tagReplacer)
      } catch (e) {
        if (!(e instanceof TypeError)) throw e
        text = JSON.stringify(v, tagReplacer) // a bigint inside (or a cycle, which throws again)
      }
      return Buffer.from(text, 'utf8')
    },
    decode (b: Buffer): V {
      const text = b.toString('utf8')
      return (text.includes('"\\u0000') ? JSON.parse(text, tagReviver) : JSON.parse(text)) as V
    },
  }
}

export interface ShmRecordDbOptions<V> {
  /** How records become bytes; default jsonCodec(). */
  codec?: Codec<V>
  /**
   * How long an update or read waits for a record's lock before throwing SMBTS_ERR_STORE_BUSY
   * (a live process stuck inside an update: a dead one releases it at once); default 10,000 ms.
   */
  lockTimeoutMs?: number
}

export interface ShmRecordDbCreateOptions<V> extends ShmRecordDbOptions<V> {
  /** The file's size, all of it allocated at creation (on /dev/shm: memory). At least 1 MiB. */
  sizeBytes: number
  /** Hash chains, each with its own lock: a power of two, default 1024. */
  chains?: number
}

/**
 * A RecordDb in a file every process maps (native/src/shmstore.c). The supervisor creates it
 * (`ShmRecordDb.create(path, { sizeBytes })`, replacing any file at `path`) before starting the
 * workers and removes the file at shutdown; each worker opens it (`ShmRecordDb.open(path)`).
 * Records are encoded by the codec: fn gets a decoded copy, read() returns one. A full store
 * makes update() throw SMBTS_ERR_STORE_FULL, leaving the record as it was.
 */
export class ShmRecordDb<V> implements RecordDb<V> {
  private handle: StoreHandle | undefined
  private readonly codec: Codec<V>
  /** Where the native side copies a value (one Buffer per call would cost as much as the call). */
  private out = Buffer.allocUnsafeSlow(16 << 10)

  private constructor (handle: StoreHandle, codec: Codec<V>) {
    this.handle = handle
    this.codec = codec
  }

  /** Builds a fresh store at `path` (replacing any file there) and opens it. */
  static create<V> (path: string, opts: ShmRecordDbCreateOptions<V>): ShmRecordDb<V> {
    const h = native.storeCreate(path, opts.sizeBytes, opts.chains ?? 1024, opts.lockTimeoutMs ?? 10_000)
    return new ShmRecordDb<V>(h, opts.codec ?? jsonCodec<V>())
  }

  /** Opens the store another process created at `path`. */
  static open<V> (path: string, opts: ShmRecordDbOptions<V> = {}): ShmRecordDb<V> {
    const h = native.storeOpen(path, opts.lockTimeoutMs ?? 10_000)
    return new ShmRecordDb<V>(h, opts.codec ?? jsonCodec<V>())
  }

  private get h (): StoreHandle {
    if (this.handle === undefined) throw new RecordDbError('SMBTS_ERR_STORE_CLOSED', 'the RecordDb is closed')
    return this.handle
  }

  read (key: string): V | undefined {
    const h = this.h
    let len = native.storeRead(h, key, this.out)
    // Longer than the buffer: nothing was copied; again with room (the record may change between).
    while (len > this.out.length) len = native.storeRead(h, key, this.grow(len))
    return len < 0 ? undefined : this.codec.decode(this.out.subarray(0, len))
  }

  private grow (len: number): Buffer {
    this.out = Buffer.allocUnsafeSlow(Math.max(len, this.out.length * 2))
    return this.out
  }

  update (key: string, fn: (old: V | undefined) => Update<V>): void {
    const h = this.h
    const len = native.storeLock(h, key, this.out) // throws SMBTS_ERR_STORE_LOCK when nested
    // Until storeWriteUnlock is called, this frame owns the lock; that call releases it whatever
    // happens, so the finally must not release it again.
    let held = true
    try {
      if (len > this.out.length) native.storeValue(h, this.grow(len))
      const next = fn(len < 0 ? undefined : this.codec.decode(this.out.subarray(0, len)))
      if (next === UNCHANGED) return
      const bytes = next === undefined ? null : this.codec.encode(next)
      held = false
      native.storeWriteUnlock(h, bytes)
    } finally {
      if (held) native.storeUnlock(h)
    }
  }

  keys (): string[] {
    return native.storeKeys(this.h)
  }

  /** The store's sizes (see NativeAddon.storeStats). */
  stats (): { sizeBytes: number, heapBytes: number, bumpBytes: number, chains: number } {
    return native.storeStats(this.h)
  }

  /** Unmaps this process's view; the file stays for the others (the creator removes it). */
  close (): void {
    if (this.handle === undefined) return
    native.storeClose(this.handle)
    this.handle = undefined
  }
}
