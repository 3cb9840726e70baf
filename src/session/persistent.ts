// Persistent handles (MS-SMB2 3.3.1.10 Open.IsPersistent, 3.3.5.9.10, 3.3.5.9.12): an open of a
// continuously available share (`continuous availability = yes`) asked persistent by its DH2Q
// outlives smbts itself. Everything needed to rebuild it after the process is gone is kept in a
// record, one file per open in the `persistent handle directory`: written when the handle is
// granted, rewritten when its state changes (a lock taken or released, an oplock or lease break
// acknowledged, a rename, a delete disposition, a reconnect), freed at its close. At start the
// server reads the records back (restorePersistent): each file is reopened, its share mode,
// oplock or lease and byte-range locks go back into the locking store, and the open waits for its
// client as a disconnected durable open does (teardown.ts disconnectOpen), its timeout counted
// from the restart. The client's DH2C then reconnects it as any durable reconnect
// (create-durable.ts reconnectDurable).
//
// Why one small file per open, rewritten by one pwrite (persistent-store.ts): an update is one
// write of a few hundred bytes, no fsync (what must survive is the death of the process, and the
// page cache survives that; docs/durable-handles.md says what a machine crash needs); a SIGKILL
// in the middle leaves the old record or the new one, never half of one; nothing needs
// compacting; and nothing is shared between processes but the directory (with workers each
// worker writes only its own slot's files, and no robust mutex can be left held by a dead owner).
import type { ServerState } from './server-state.js'
import { Open, Session, SessionState, TreeConnect } from './model.js'
import { LeaseState, type LeaseRec } from '../locking/leases.js'
import { AccessMask, OplockLevel } from '../wire/constants.js'
import { OplockState } from '../locking/oplocks.js'
import { fileKey } from '../locking/share-modes.js'
import { disconnectOpen, whenPersistentChanges } from './teardown.js'
import { PersistentStore, type PersistentRecord } from './persistent-store.js'
import { findStream, streamKey, StreamFile, streamWriteLock } from '../vfs/streams.js'

/** The record of `open` as it stands now (its lease, oplock and locks read from the store). */
export function recordOf (server: ServerState, open: Open, ino: bigint): PersistentRecord {
  const d = open.durable!
  const held = open.oplock
  let oplock: number = OplockLevel.NONE
  let lease: PersistentRecord['lease']
  if (held?.lease !== undefined) {
    const now = server.locks.leaseOf(held.key, held.lease.lk)
    const state = now === undefined ? held.lease.state : now.breaking ? now.breakTo : now.state
    lease = { lk: held.lease.lk, state, epoch: now?.epoch ?? held.lease.epoch, v: held.lease.v }
    oplock = OplockLevel.LEASE
  } else if (held !== undefined) {
    const o = server.locks.oplockOf(held)
    oplock = o === undefined ? held.granted : o.state === OplockState.Breaking ? o.breakTo : o.level
  }
  return {
    v: 1,
    w: server.locks.peers.slot,
    share: open.tree.shareName,
    path: open.path,
    stream: open.stream,
    user: d.user,
    domain: d.domain,
    clientGuid: d.clientGuid.toString('hex'),
    createGuid: (d.createGuid ?? Buffer.alloc(16)).toString('hex'),
    fid: open.fileId.persistent.toString(),
    ino: ino.toString(),
    fh: d.fileIdentity?.toString('hex'),
    access: open.grantedAccess,
    shareAccess: open.shareAccess,
    createOptions: open.createOptions,
    deleteOnClose: open.deleteOnClose,
    oplock,
    lease,
    parentLeaseId: open.parentLeaseId,
    locks: held === undefined ? [] : server.locks.locksHeldBy(held).map(l => ({ off: l.off.toString(), len: l.len.toString(), x: l.exclusive })),
    lockSeq: [...(open.lockSequences ?? new Map<number, number>()).entries()],
    appInstance: open.appInstance === undefined ? undefined : { id: open.appInstance.id.toString('hex'), clientGuid: open.appInstance.clientGuid.toString('hex') },
    timeoutMs: d.timeoutMs,
    position: open.position.toString(),
    createAction: open.createAction,
    channelSequence: open.channelSequence,
    channelGeneration: open.channelGeneration,
    replayEligible: server.durable.isReplayEligible(open),
  }
}

/**
 * `open` is persistent and something its record keeps changed (or it was just granted): its
 * record is written again, before the answer that tells the client leaves. A failure to write is
 * logged and answers false; the open goes on (its last record stands).
 */
export function persistOpen (server: ServerState, open: Open): boolean {
  const store = server.persistent
  const d = open.durable
  if (store === undefined || d?.persistent !== true || !open.alive) return false
  try {
    store.write(recordOf(server, open, d.ino ?? 0n))
    return true
  } catch (e) {
    server.log.warn(`persistent handle ${open.tree.shareName}/${open.path} (fid ${open.fileId.persistent}): its record could not be written: ${(e as Error).message}`)
    return false
  }
}

/**
 * At start: the record directory is opened when a share is continuously available (and durable
 * handles are on); undefined (and a logged error) when it cannot be: those shares then grant
 * durable handles only.
 */
export function openPersistentStore (server: ServerState): PersistentStore | undefined {
  const g = server.config.global
  if (!g.durableHandles || ![...server.config.shares.values()].some(s => s.continuousAvailability)) return undefined
  try {
    return new PersistentStore(g.persistentHandleDirectory, server.locks.peers.slot)
  } catch (e) {
    server.log.error(`persistent handle directory ${g.persistentHandleDirectory}: ${(e as Error).message}: continuously available shares grant durable handles only`)
    return undefined
  }
}

whenPersistentChanges((server, open) => { persistOpen(server, open) })

export interface RestoreResult { restored: number, dropped: number }

/**
 * At start: every record (of this worker's clients, with workers) becomes a disconnected
 * persistent open again, or is dropped with a log line saying why. New FileIds start above the
 * restored ones.
 */
export async function restorePersistent (server: ServerState, worker?: { slot: number, count: number }): Promise<RestoreResult> {
  const store = server.persistent
  if (store === undefined) return { restored: 0, dropped: 0 }
  const { records, bad } = store.readAll(worker?.count ?? 1)
  for (const b of bad) server.log.warn(`persistent handle record ${b.name} dropped: ${b.why}`)
  let restored = 0
  let dropped = bad.length
  // A session and tree per share for the restored opens: dead, never reachable by a client; the
  // opens leave them at their reconnect.
  const session = new Session(0n, 0)
  session.state = SessionState.Dead
  const trees = new Map<string, TreeConnect>()
  for (const { rec } of records) server.reserveFileId(BigInt(rec.fid))
  for (const { name, rec } of records) {
    const where = `${rec.share}/${rec.path} (fid ${rec.fid}) of ${rec.user}`
    const drop = (why: string): void => {
      dropped++
      store.drop(name)
      server.log.warn(`persistent handle ${where} dropped: ${why}`)
    }
    const entry = server.shares.get(rec.share.toLowerCase())
    if (entry === undefined) { drop(`share ${rec.share} is gone`); continue }
    if (!entry.config.continuousAvailability) { drop(`share ${rec.share} is no longer continuously available`); continue }
    let tree = trees.get(rec.share.toLowerCase())
    if (tree === undefined) {
      let fs
      try { fs = await server.shareFs(entry) } catch (e) { drop(`share ${rec.share} cannot be opened: ${(e as Error).message}`); continue }
      tree = new TreeConnect(0, session, entry.config, entry.config.name, fs, 0, false)
      tree.alive = false
      trees.set(rec.share.toLowerCase(), tree)
    }
    const fs = tree.fs!
    let file
    const recorded = rec.path
    try {
      let st = await fs.stat(rec.path).catch((e: unknown) => { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; throw e })
      if (st === undefined || st.indexNumber.toString() !== rec.ino) {
        // Not at its recorded path: renamed where this process could not follow (by a client of
        // another worker, or a program on the server's disk). Its identity says where it is.
        const found = rec.fh === undefined || fs.locate === undefined ? undefined : fs.locate(Buffer.from(rec.fh, 'hex'))
        if (found === undefined || 'why' in found) {
          const why = st === undefined ? 'the file is gone' : 'the file was replaced (another inode)'
          drop(found === undefined ? why : `${why}, and not found by its identity: ${found.why}`)
          continue
        }
        const there = await fs.stat(found.path).catch(() => undefined)
        if (there === undefined || there.indexNumber.toString() !== rec.ino) { drop(`the file is not where its identity leads (${found.path})`); continue }
        rec.path = found.path
        st = there
      }
      if (st.isDirectory && rec.stream === undefined) { drop('it is a directory now'); continue }
      // A stream's file is opened read-only (its data is in an xattr: create.ts openNamedStream).
      file = await fs.open(rec.path, { write: rec.stream === undefined && (rec.access & WRITE_DATA) !== 0, directory: st.isDirectory })
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      drop(code === 'ENOENT' ? 'the file is gone' : `it cannot be opened: ${(e as Error).message}`)
      continue
    }
    const fkey = fileKey(entry.config.name, BigInt(rec.ino))
    let key = fkey
    if (rec.stream !== undefined) {
      const base = file
      const found = await findStream(base, rec.stream).catch(() => undefined)
      if (found === undefined) { await base.close().catch(() => {}); drop(`its stream ${rec.stream} is gone`); continue }
      key = streamKey(fkey, found.name)
      file = new StreamFile(base, found.xattr, found.name, key, streamWriteLock(k => server.locks.lockName(k), key))
      rec.stream = found.name
    }
    const fid = BigInt(rec.fid)
    const open = new Open({ persistent: fid, volatile: fid }, tree, rec.path, file, rec.access, rec.shareAccess, rec.createOptions, false)
    open.deleteOnClose = rec.deleteOnClose
    open.position = BigInt(rec.position)
    open.createAction = rec.createAction
    open.parentLeaseId = rec.parentLeaseId
    open.lockSequences = new Map(rec.lockSeq)
    // MS-SMB2 3.3.5.2.10: the channel sequence the client had reached; nothing is in flight.
    open.channelSequence = rec.channelSequence ?? 0
    open.channelGeneration = rec.channelGeneration ?? 0
    open.stream = rec.stream
    open.shareModeKey = key
    const lease: LeaseRec | undefined = rec.lease === undefined
      ? undefined
      : { lk: rec.lease.lk, state: rec.lease.state & (LeaseState.READ | LeaseState.WRITE | LeaseState.HANDLE), breaking: false, breakTo: 0, breakToReq: 0, epoch: rec.lease.epoch, v: rec.lease.v }
    try {
      open.oplock = server.locks.restoreOpen(key, { access: rec.access, shareAccess: rec.shareAccess },
        { name: `restored ${where}`, notifyBreak: () => {} },
        { level: rec.lease === undefined ? rec.oplock as OplockLevel : OplockLevel.LEASE, lease },
        rec.locks.map(l => ({ off: BigInt(l.off), len: BigInt(l.len), exclusive: l.x })))
      // A stream's open is an open of its file too, sharing everything (create.ts register).
      if (rec.stream !== undefined) {
        open.baseOpen = server.locks.addOpen(fkey, { access: 0, shareAccess: 0x7 }, { name: `restored ${where}`, notifyBreak: () => {} },
          { requested: 0, eligible: false, level2: false })
      }
    } catch (e) {
      await file.close().catch(() => {})
      drop(`its state cannot be put back: ${(e as Error).message}`)
      continue
    }
    open.durable = {
      version: 2,
      timeoutMs: rec.timeoutMs,
      createGuid: Buffer.from(rec.createGuid, 'hex'),
      clientGuid: Buffer.from(rec.clientGuid, 'hex'),
      user: rec.user,
      domain: rec.domain,
      persistent: true,
      ino: BigInt(rec.ino),
      fileIdentity: rec.fh === undefined ? undefined : Buffer.from(rec.fh, 'hex'),
    }
    open.createGuid = open.durable.createGuid
    // Its CREATE may be replayed (if nothing else used it before), and a DH2C may name it by its
    // CreateGuid (create-durable.ts).
    if (rec.replayEligible !== false) server.durable.nameByCreateGuid(open, open.durable.clientGuid)
    server.durable.namePersistent(open, open.durable.clientGuid)
    if (rec.appInstance !== undefined) {
      open.appInstance = { id: Buffer.from(rec.appInstance.id, 'hex'), clientGuid: Buffer.from(rec.appInstance.clientGuid, 'hex') }
      server.durable.nameByAppInstance(open)
    }
    server.watchLocalChanges(open, BigInt(rec.ino))
    tree.opens.add(open)
    store.adopt(name, PersistentStore.key(rec.clientGuid, rec.fid))
    disconnectOpen(server, open, recorded === rec.path ? 'restored after a restart' : `restored after a restart, found by its identity at ${rec.path} (renamed from ${recorded} where this worker could not follow)`)
    // The record names the file where it is now.
    if (recorded !== rec.path) persistOpen(server, open)
    restored++
  }
  if (restored > 0 || dropped > 0) {
    server.log.info(`persistent handles: ${restored} restored from ${store.dir}${dropped > 0 ? `, ${dropped} dropped (see above)` : ''}`)
  }
  return { restored, dropped }
}

/** The rights for which the file is reopened for writing. */
const WRITE_DATA = AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA
