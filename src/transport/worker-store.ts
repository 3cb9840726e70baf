// The locking store of a server with workers: one shared-memory record db (ShmRecordDb) that the
// supervisor creates and every worker opens, and the Peers the store talks to the other workers
// through — their messengers for breaks and wake-ups, and the supervisor's word on who is alive
// (worker-died, worker-started). The store itself (src/locking/store.ts) knows nothing of
// processes or sockets.
import { LockingStore, type LockRecord, type Peers, type StoreMessage } from '../locking/store.js'
import { ShmRecordDb } from '../locking/record-db.js'
import { lockRecordCodec } from '../locking/record-codec.js'
import type { Messenger, PeerMessage, WorkerEvent } from './messenger.js'

/** The messenger type of a store's messages (StoreMessage in `m`). */
export const STORE_MESSAGE = 'store'

/**
 * Bytes of the shared db, allocated whole at its creation (shmstore.c: on a tmpfs a page that
 * could not be had later would be a SIGBUS, not an error), so RAM where the run directory is a
 * tmpfs. A file record is ~100 bytes and 26 per open: this holds hundreds of thousands.
 */
export const STORE_SIZE_BYTES = 64 * 1024 * 1024

/** The db's file in the supervisor's run directory. */
export const storePath = (runDir: string): string => `${runDir}/locking.db`

/**
 * Which generation of each slot is alive, as this process has been told: the supervisor's table
 * at the worker's start, then its worker-died and worker-started events. 0: none.
 */
export class LiveTable {
  constructor (private readonly live: number[]) {}
  alive (slot: number, generation: number): boolean { return generation > 0 && this.live[slot] === generation }
  /** Applies a supervisor event; true when the view changed. */
  apply (e: WorkerEvent): boolean {
    const next = e.type === 'worker-died' ? (this.live[e.slot] === e.generation ? 0 : this.live[e.slot]!) : e.generation
    if (this.live[e.slot] === next) return false
    this.live[e.slot] = next
    return true
  }

  get table (): number[] { return [...this.live] }
}

/** A worker's store over the supervisor's db, wired to its messenger. */
export function openWorkerStore (o: { path: string, slot: number, generation: number, live: number[], messenger: Messenger, log: (m: string) => void }): LockingStore {
  const db = ShmRecordDb.open<LockRecord>(o.path, { codec: lockRecordCodec })
  const table = new LiveTable([...o.live])
  table.apply({ type: 'worker-started', slot: o.slot, generation: o.generation })
  const peers: Peers = {
    slot: o.slot,
    generation: o.generation,
    alive: (s, g) => table.alive(s, g),
    send: (s, m) => { o.messenger.send(s, { type: STORE_MESSAGE, m }) },
  }
  const store = new LockingStore(db, peers, o.log)
  o.messenger.on(STORE_MESSAGE, (msg: PeerMessage) => { store.deliver((msg as PeerMessage & { m: StoreMessage }).m) })
  const onEvent = (msg: PeerMessage): void => {
    // Entries of a dead (or replaced) generation are dropped by the next update of their record:
    // every wait looks again now.
    if (table.apply(msg as WorkerEvent)) store.peersChanged()
  }
  o.messenger.on('worker-died', onEvent)
  o.messenger.on('worker-started', onEvent)
  return store
}
