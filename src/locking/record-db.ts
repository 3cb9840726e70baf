// The state store's primitive: records keyed by string, each read-modify-written under a lock that
// every process sharing the db respects (the role Samba's dbwrap fetch_locked plays over
// locking.tdb). The locking layer (store.ts) keeps all it shares in one of these; which one is
// the deployment's choice: MemoryRecordDb in a one-process server, a shared one across workers.

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

export interface Codec<V> { encode (v: V): Buffer, decode (b: Buffer): V }

/**
 * One process's records, the objects themselves (nothing encoded): the one-worker server pays a
 * Map lookup per operation, as it did before there was a store. A function that throws after
 * mutating `old` in place leaves it mutated: callers decide before they mutate (store.ts does).
 */
export class MemoryRecordDb<V> implements RecordDb<V> {
  private readonly records = new Map<string, V>()

  read (key: string): V | undefined { return this.records.get(key) }

  update (key: string, fn: (old: V | undefined) => Update<V>): void {
    const next = fn(this.records.get(key))
    if (next === UNCHANGED) return
    if (next === undefined) this.records.delete(key)
    else this.records.set(key, next)
  }

  keys (): string[] { return [...this.records.keys()] }

  close (): void { this.records.clear() }
}
