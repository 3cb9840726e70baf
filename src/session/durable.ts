// The table of durable opens (MS-SMB2 3.3.1.5 GlobalOpenTable, as far as durable handles go):
// the opens whose client lost its connection (or its session) and may reconnect to them
// (MS-SMB2 3.3.5.9.7/12), each with the timer that closes it when nobody does (the scavenger,
// 3.3.2.x Durable Open Scavenger Timer); and every durable v2 open by its CreateGuid, for the
// replay of a CREATE (3.3.5.9.10). Data only: what a disconnect and a reconnect do is
// src/session/teardown.ts (disconnectOpen) and src/smb2/commands/create-durable.ts.
//
// The table is this process's: with worker processes, a client's connections all meet the worker
// that serves its ClientGuid (src/transport/handoff.ts), so a reconnect finds its open here. A
// v1 reconnect under another ClientGuid (allowed for oplocks) may land on another worker and is
// then refused as an unknown handle.
import type { Open } from './model.js'

interface Parked { open: Open, timer: NodeJS.Timeout, since: number, onUnpark?: () => void }

export class DurableTable {
  /** Disconnected durable opens by their persistent FileId. */
  private readonly parked = new Map<bigint, Parked>()
  /**
   * Opens made with a DH2Q (connected or not, durable or not) by ClientGuid and CreateGuid (hex):
   * MS-SMB2 3.3.5.9.10 looks one up by both, so another client's CreateGuid is none of its business.
   */
  private readonly byCreateGuid = new Map<string, Open>()
  private readonly createKeyOf = new WeakMap<Open, string>()
  /** CreateGuids (hex) of CREATEs still running: a replay of one is refused until it ends. */
  private readonly pendingCreates = new Set<string>()

  /**
   * `open` waits for its client; `timer` closes it when its DurableOpenTimeout passes;
   * `onUnpark` runs when it stops waiting (reconnected or closed).
   */
  park (open: Open, timer: NodeJS.Timeout, onUnpark?: () => void): void {
    this.parked.set(open.fileId.persistent, { open, timer, since: Date.now(), onUnpark })
  }

  /** The disconnected open with this persistent FileId, left in the table. */
  parkedOpen (persistent: bigint): Open | undefined {
    return this.parked.get(persistent)?.open
  }

  /** Takes `open` out of the disconnected ones (its reconnect or its close); false when it was not there. */
  unpark (open: Open): boolean {
    const p = this.parked.get(open.fileId.persistent)
    if (p === undefined || p.open !== open) return false
    clearTimeout(p.timer)
    this.parked.delete(open.fileId.persistent)
    p.onUnpark?.()
    return true
  }

  /** Every disconnected open (the server's shutdown closes them). */
  parkedOpens (): Open[] {
    return [...this.parked.values()].map(p => p.open)
  }

  get parkedCount (): number { return this.parked.size }

  /** `open`, made on a connection of client `clientGuid`, is the one its CreateGuid names. */
  nameByCreateGuid (open: Open, clientGuid: Buffer): void {
    const g = open.createGuid
    if (g === undefined) return
    const key = createKey(clientGuid, g)
    this.byCreateGuid.set(key, open)
    this.createKeyOf.set(open, key)
  }

  /**
   * MS-SMB2 Open.IsReplayEligible = FALSE: a request other than its CREATE used the open.
   * True when it was eligible until now.
   */
  notReplayEligible (open: Open): boolean {
    const key = this.createKeyOf.get(open)
    if (key === undefined || this.byCreateGuid.get(key) !== open) return false
    this.byCreateGuid.delete(key)
    return true
  }

  /** MS-SMB2 Open.IsReplayEligible. */
  isReplayEligible (open: Open): boolean {
    const key = this.createKeyOf.get(open)
    return key !== undefined && this.byCreateGuid.get(key) === open
  }

  /** The replay-eligible open client `clientGuid` made with `createGuid`. */
  openByCreateGuid (clientGuid: Buffer, createGuid: Buffer): Open | undefined {
    return this.byCreateGuid.get(createKey(clientGuid, createGuid))
  }

  /** A CREATE with this CreateGuid starts: false when one is running already. */
  beginCreate (createGuid: Buffer): boolean {
    const g = createGuid.toString('hex')
    if (this.pendingCreates.has(g)) return false
    this.pendingCreates.add(g)
    return true
  }

  endCreate (createGuid: Buffer): void {
    this.pendingCreates.delete(createGuid.toString('hex'))
  }

  /** Persistent opens by ClientGuid and CreateGuid, replay-eligible or not: a DH2C may name one so (3.3.5.9.12). */
  private readonly persistentByGuid = new Map<string, Open>()

  namePersistent (open: Open, clientGuid: Buffer): void {
    if (open.createGuid !== undefined) this.persistentByGuid.set(createKey(clientGuid, open.createGuid), open)
  }

  persistentOpen (clientGuid: Buffer, createGuid: Buffer): Open | undefined {
    return this.persistentByGuid.get(createKey(clientGuid, createGuid))
  }

  /** Opens by AppInstanceId (hex): MS-SMB2 3.3.5.9.13. */
  private readonly byAppInstance = new Map<string, Set<Open>>()

  nameByAppInstance (open: Open): void {
    const id = open.appInstance?.id.toString('hex')
    if (id === undefined) return
    let set = this.byAppInstance.get(id)
    if (set === undefined) this.byAppInstance.set(id, set = new Set())
    set.add(open)
  }

  opensByAppInstance (id: Buffer): Open[] {
    return [...this.byAppInstance.get(id.toString('hex')) ?? []]
  }

  /** `open` closes: it leaves the table. */
  forget (open: Open): void {
    const id = open.appInstance?.id.toString('hex')
    if (id !== undefined) {
      const set = this.byAppInstance.get(id)
      set?.delete(open)
      if (set?.size === 0) this.byAppInstance.delete(id)
    }
    this.unpark(open)
    this.notReplayEligible(open)
    if (open.durable?.persistent === true && open.createGuid !== undefined) {
      const key = createKey(open.durable.clientGuid, open.createGuid)
      if (this.persistentByGuid.get(key) === open) this.persistentByGuid.delete(key)
    }
  }
}

const createKey = (clientGuid: Buffer, createGuid: Buffer): string => `${clientGuid.toString('hex')}:${createGuid.toString('hex')}`
