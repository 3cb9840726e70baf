// Teardown is safe by construction: an object is marked dead first (so every later lookup,
// in the same compound or elsewhere, refuses it), then its children are closed.
import type { ServerState } from './server-state.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import { SessionState, type Open, type Session, type TreeConnect } from '../session/model.js'
import { asStream, removeStream } from '../vfs/streams.js'
import { breakParentLeases } from './dir-leases.js'

export async function closeOpen (server: ServerState, open: Open): Promise<void> {
  if (!open.alive) return
  open.alive = false
  open.endWaits(new NtStatusError(NtStatus.RANGE_NOT_LOCKED, 'the open closed while its lock waited'))
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

export async function teardownTree (server: ServerState, tree: TreeConnect): Promise<void> {
  if (!tree.alive) return
  tree.alive = false
  tree.session.trees.delete(tree.treeId)
  // Other workers count this worker's uses of the share from what it last published.
  if (tree.share !== undefined) server.locks.shareCount(`share:${tree.share.name.toLowerCase()}`, server.shareUses(tree.share))
  for (const open of [...tree.opens]) await closeOpen(server, open)
}

export async function teardownSession (server: ServerState, session: Session): Promise<void> {
  if (session.state === SessionState.Dead) return
  session.state = SessionState.Dead
  server.sessions.delete(session.sessionId)
  // Every channel's connection forgets it (a LOGOFF on one channel ends the session on all).
  for (const c of session.channels.keys()) c.sessions.delete(session)
  session.channels.clear()
  server.locks.shareCount('sessions', server.activeSessions())
  for (const tree of [...session.trees.values()]) await teardownTree(server, tree)
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
  void teardownSession(server, old)
}
