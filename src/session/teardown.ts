// Teardown is safe by construction: an object is marked dead first (so every later lookup,
// in the same compound or elsewhere, refuses it), then its children are closed.
import type { ServerState } from './server-state.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import { SessionState, type DurableState, type Open, type Session, type TreeConnect } from '../session/model.js'
import { asStream, removeStream } from '../vfs/streams.js'
import { breakParentLeases } from './dir-leases.js'
import { OplockState } from '../locking/oplocks.js'
import type { FileOpen } from '../locking/store.js'

export async function closeOpen (server: ServerState, open: Open): Promise<void> {
  if (!open.alive) return
  open.alive = false
  if (open.durable !== undefined || open.appInstance !== undefined || open.createGuid !== undefined) server.durable.forget(open)
  // A persistent open's record goes with it (persistent.ts).
  if (open.durable?.persistent === true) server.persistent?.removeOpen(open, (m) => { server.log.warn(m) })
  open.endWaits(() => new NtStatusError(NtStatus.RANGE_NOT_LOCKED, 'the open closed while its lock waited'))
  open.notify?.close()
  open.tree.session.opens.delete(open.fileId.volatile)
  if (open.resumeKey !== undefined) server.resumeKeys.delete(open.resumeKey.toString('hex'))
  open.tree.opens.delete(open)
  open.pipe?.close()
  const held = open.oplock
  // The share mode goes first, and with it the decision whether this close deletes the file
  // (MS-FSA 2.1.5.4); the oplock holds until the file is closed and, if it is to be, deleted.
  const decision = held !== undefined ? server.locks.beginClose(held, open.deleteOnClose) : undefined
  // Delete on close with other opens left: the file is pending deletion, and the other clients'
  // cached handles would keep it so; their handle caching goes.
  if (held !== undefined && decision !== undefined && open.deleteOnClose && !decision.deleteNow) server.locks.breakHandleCaching(held.key, held.lease?.lk)
  const deleted = decision?.deleteNow ?? open.deleteOnClose
  open.unwatchLocal?.()
  try {
    await closeFile(server, open, deleted)
  } finally {
    // Only now does an open waiting for this one's oplock break look at the file again: after
    // the file was closed and, when it was the last open with delete on close, deleted.
    if (held !== undefined) server.locks.closed(held)
  }
  const base = open.baseOpen
  if (base !== undefined) {
    // A stream's open was an open of its file too: the file, deleted while the stream was open,
    // goes when the last of them closes.
    const d = server.locks.beginClose(base, false)
    try {
      if (d.deleteNow && open.tree.fs !== undefined) {
        await open.tree.fs.unlink(open.path, false).catch((e: unknown) => {
          server.log.warn(`delete on close ${open.tree.shareName}/${open.path} (after its stream): ${(e as Error).message}`)
        })
        if (server.log.wants('vfs')) server.log.debug('vfs', `deleted on close: ${open.tree.shareName}/${open.path}, when its last open stream closed`)
      }
    } finally {
      server.locks.closed(base)
    }
  }
  // A file written (or resized) through this open, or deleted by its close, changed its directory.
  if ((open.modified || deleted) && open.path !== '') await breakParentLeases(server, open.tree, open.path, open.parentLeaseId)
}

async function closeFile (server: ServerState, open: Open, deleteNow: boolean): Promise<void> {
  const stream = asStream(open.file)
  if (deleteNow && stream !== undefined) {
    // A stream is deleted through its base file's descriptor, before it is closed: its xattr goes.
    try {
      await removeStream(stream.base, stream.xattr)
      if (server.log.wants('vfs')) server.log.debug('vfs', `deleted on close: ${open.tree.shareName}/${open.path}:${stream.name}`)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENODATA') server.log.warn(`delete on close ${open.tree.shareName}/${open.path}:${stream.name}: ${(e as Error).message}`)
    }
    deleteNow = false
  }
  try {
    await open.file?.close()
  } catch (e) {
    server.log.warn(`close ${open.path}: ${(e as Error).message}`)
  }
  if (deleteNow && open.tree.fs !== undefined) {
    try {
      await open.tree.fs.unlink(open.path, open.isDirectory)
      if (server.log.wants('vfs')) server.log.debug('vfs', `deleted on close: ${open.tree.shareName}/${open.path}`)
    } catch (e) {
      server.log.warn(`delete on close ${open.tree.shareName}/${open.path}: ${(e as Error).message}`)
    }
  }
}

/**
 * MS-SMB2 3.3.7.1 (connection lost) and 3.3.5.5.3 (session replaced): a durable open is not
 * closed but kept, detached from its session and tree, for its client to reconnect to
 * (create-durable.ts) within its DurableOpenTimeout. Its share mode, oplock or lease and
 * byte-range locks stay in the locking store and go on holding others back; a break its oplock
 * or lease would need closes it instead (MS-SMB2 3.3.4.6/3.3.4.7: nobody is there to answer),
 * and so does its timeout (the scavenger).
 */
export function disconnectOpen (server: ServerState, open: Open, why = 'its client\'s connection or session ended'): void {
  const d = open.durable
  if (!open.alive || d === undefined) return
  // A break already on its way to the client that left will not be acknowledged: rather than
  // holding its waiter for the acknowledgment timer, the open goes now, as a later break would.
  if (open.oplock !== undefined && d.persistent === true && breakPending(server, open.oplock)) {
    // A persistent open is kept: the break its client will not acknowledge completes now.
    completeBreak(server, open.oplock)
    onPersistentChange?.(server, open)
  } else if (open.oplock !== undefined && breakPending(server, open.oplock)) {
    server.log.info(`durable handle ${open.tree.shareName}/${open.path} (fid ${open.fileId.persistent}) closed: its client left with a break unacknowledged`)
    void closeOpen(server, open)
    return
  }
  open.endWaits(() => new NtStatusError(NtStatus.RANGE_NOT_LOCKED, 'the connection of the open ended while its lock waited'))
  open.notify?.close()
  open.notify = undefined
  open.dirCursor = undefined
  open.tree.session.opens.delete(open.fileId.volatile)
  if (open.resumeKey !== undefined) server.resumeKeys.delete(open.resumeKey.toString('hex'))
  open.resumeKey = undefined
  open.tree.opens.delete(open)
  const name = `${open.tree.shareName}/${open.path} (fid ${open.fileId.persistent})`
  const expire = (why: string): void => {
    if (!server.durable.unpark(open)) return
    server.log.info(`${kindOf(d)} handle ${name} closed: ${why}`)
    void closeOpen(server, open)
  }
  if (open.oplock !== undefined && d.persistent === true) {
    // A persistent open is not closed by a break (its client is coming back, maybe after a
    // restart of the server): the break completes at once as if acknowledged, and what the open
    // holds besides (its share mode, its locks) goes on holding others back.
    const held = open.oplock
    server.locks.rebind(held, {
      name: `disconnected ${name}`,
      notifyBreak: (level) => { setImmediate(() => { if (open.alive) { server.locks.acknowledge(held, level); onPersistentChange?.(server, open) } }) },
      notifyLeaseBreak: (b) => {
        if (!b.ackRequired) return
        setImmediate(() => { if (open.alive) { server.locks.acknowledgeLease(b.lk, b.to); onPersistentChange?.(server, open) } })
      },
    })
  } else if (open.oplock !== undefined) {
    // Called from the store's delivery of a break: the close runs after it, not inside it.
    const broken = (): void => { setImmediate(() => { expire('its oplock or lease had to break and its client is gone') }) }
    server.locks.rebind(open.oplock, { name: `disconnected ${name}`, notifyBreak: broken, notifyLeaseBreak: broken })
  }
  const timer = setTimeout(() => { expire(`its client did not reconnect within ${d.timeoutMs} ms`) }, d.timeoutMs)
  timer.unref()
  // With worker processes, this worker goes on serving the client while the open waits, so the
  // client's reconnect (any connection with its ClientGuid) is handed here (handoff.ts).
  const guid = d.clientGuid.some(x => x !== 0) ? d.clientGuid.toString('hex') : undefined
  if (guid !== undefined) server.locks.serveClient(guid)
  server.durable.park(open, timer, guid !== undefined ? () => { server.locks.releaseClient(guid) } : undefined)
  server.log.info(`${kindOf(d)} handle ${name} of ${d.user} kept for ${d.timeoutMs} ms: ${why}`)
}

/**
 * What rewrites a persistent open's record when its state changes while it waits (persistent.ts
 * sets it; this module cannot import that one without a cycle).
 */
let onPersistentChange: ((server: ServerState, open: Open) => void) | undefined
export function whenPersistentChanges (fn: (server: ServerState, open: Open) => void): void { onPersistentChange = fn }

const kindOf = (d: DurableState): string => d.persistent === true ? 'persistent' : d.resilient === true ? 'resilient' : 'durable'

/** The break under way on `held` completes to its target, as if acknowledged. */
function completeBreak (server: ServerState, held: FileOpen): void {
  if (held.lease !== undefined) {
    const l = server.locks.leaseOf(held.key, held.lease.lk)
    if (l?.breaking === true) server.locks.acknowledgeLease(held.lease.lk, l.breakTo)
    return
  }
  const o = server.locks.oplockOf(held)
  if (o?.state === OplockState.Breaking) server.locks.acknowledge(held, o.breakTo)
}

function breakPending (server: ServerState, held: FileOpen): boolean {
  if (held.lease !== undefined) return server.locks.leaseOf(held.key, held.lease.lk)?.breaking === true
  return server.locks.oplockOf(held)?.state === OplockState.Breaking
}

export async function teardownTree (server: ServerState, tree: TreeConnect, keepDurable = false): Promise<void> {
  if (!tree.alive) return
  tree.alive = false
  tree.session.trees.delete(tree.treeId)
  // Other workers count this worker's uses of the share from what it last published.
  if (tree.share !== undefined) server.locks.shareCount(`share:${tree.share.name.toLowerCase()}`, server.shareUses(tree.share))
  for (const open of [...tree.opens]) {
    if (keepDurable && open.durable !== undefined) disconnectOpen(server, open)
    else await closeOpen(server, open)
  }
}

/** `keepDurable`: the session ends without its client asking (its connection was lost, it was replaced): durable opens are kept. */
export async function teardownSession (server: ServerState, session: Session, keepDurable = false): Promise<void> {
  if (session.state === SessionState.Dead) return
  session.state = SessionState.Dead
  server.sessions.delete(session.sessionId)
  // Every channel's connection forgets it (a LOGOFF on one channel ends the session on all).
  for (const c of session.channels.keys()) c.sessions.delete(session)
  session.channels.clear()
  server.locks.shareCount('sessions', server.activeSessions())
  for (const tree of [...session.trees.values()]) await teardownTree(server, tree, keepDurable)
}

/**
 * MS-SMB2 3.3.5.5.3: the session `previous` of this process is removed when it is a named user's
 * and the same one (`user`, case-insensitively) that the new session `by` authenticated as.
 */
export function replacePreviousSession (server: ServerState, previous: bigint, user: string, by: bigint, who = user): void {
  const old = server.sessions.get(previous)
  if (old === undefined || old.state === SessionState.InProgress || old.isGuest || old.isAnonymous) return
  if (old.user.toLowerCase() !== user.toLowerCase()) return
  server.log.info(`session 0x${by.toString(16)} replaces 0x${previous.toString(16)} of ${who} (PreviousSessionId): the old session is removed`)
  void teardownSession(server, old, true)
}
