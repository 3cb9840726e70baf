// Durable handles at CREATE (MS-SMB2 3.3.5.9.6 DHnQ, 3.3.5.9.7 DHnC, 3.3.5.9.10 DH2Q,
// 3.3.5.9.12 DH2C): which opens become durable, the reconnect of a client to an open it kept
// over a lost connection, and the replay of a CREATE (DH2Q with the same CreateGuid). The
// table of kept opens is src/session/durable.ts; what a disconnect does, teardown.ts.
import type { RequestContext, Related, Reply } from '../context.js'
import { Capabilities, CreateAction, Dialect, HeaderFlags, OplockLevel } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { Open } from '../../session/model.js'
import {
  APP_INSTANCE_ID_NAME, decodeDurableContexts, encodeCreateResponse, encodeDurableResponse, encodeDurableResponseV2,
  type CreateContext, type CreateRequest, type DurableContexts,
} from './create.wire.js'
import { LEASE_CONTEXT_NAME, decodeLeaseContext, encodeLeaseContext, type LeaseContext } from './lease.wire.js'
import { LeaseState } from '../../locking/leases.js'
import { leaseId, oplockHolder } from './oplock-break.js'
import { smbPathWithStream } from '../path.js'
import { closeOpen } from '../../session/teardown.js'
import { persistOpen } from '../../session/persistent.js'
import { StreamFile } from '../../vfs/streams.js'

/** MS-SMB2 3.3.5.9.6: a v1 durable open waits 16 minutes for its client (as Samba; Windows' default is implementation-defined). */
export const DURABLE_V1_TIMEOUT_MS = 16 * 60 * 1000
/** MS-SMB2 3.3.5.9.10: a v2 open's Timeout when the client leaves it to the server (Windows 2012's). */
export const DURABLE_V2_DEFAULT_TIMEOUT_MS = 60 * 1000
/** The longest Timeout granted to a v2 open (as Samba: a client asking more gets this). */
export const DURABLE_V2_MAX_TIMEOUT_MS = 300 * 1000

const NO_GUID = Buffer.alloc(16)

/**
 * The durable contexts of a CREATE, their combinations checked (MS-SMB2 3.3.5.9.12, 3.3.5.9.7,
 * 3.3.5.9.10): DH2C with any other, DHnC with DH2Q, DHnQ with DH2Q are invalid; DHnQ beside
 * DHnC is ignored. The v2 contexts mean nothing below SMB 3.0, and with `durable handles = no`
 * no open is made durable (a reconnect then finds nothing).
 */
export function durableContexts (ctx: RequestContext, req: CreateRequest): DurableContexts {
  if (!req.contexts.some(c => c.name.startsWith('DH') || c.name === APP_INSTANCE_ID_NAME)) return {}
  const dc = decodeDurableContexts(req.contexts)
  if (ctx.conn.dialect < Dialect.SMB3_00) { delete dc.v2Request; delete dc.v2Reconnect; delete dc.appInstanceId }
  if (dc.v2Reconnect !== undefined && (dc.v1Request !== undefined || dc.v1Reconnect !== undefined || dc.v2Request !== undefined)) {
    throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DH2C with another durable handle context')
  }
  if (dc.v1Reconnect !== undefined && dc.v2Request !== undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DHnC with DH2Q')
  if (dc.v1Request !== undefined && dc.v2Request !== undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DHnQ with DH2Q')
  if (dc.v1Reconnect !== undefined) delete dc.v1Request
  if (!ctx.server.config.global.durableHandles) { delete dc.v1Request; delete dc.v2Request }
  return dc
}

/**
 * MS-SMB2 3.3.5.9.13: an open of the same file, on the same share, by the same application
 * instance (AppInstanceId) from another client (ClientGuid) is closed before this CREATE goes on,
 * without a break: a clustered application moved to another node and takes its files with it.
 * Connected or waiting for its client, the old open goes (smbtorture
 * smb2.durable-v2-open.app-instance; its old handle is then FILE_CLOSED).
 */
export async function closeAppInstance (ctx: RequestContext, req: CreateRequest, dc: DurableContexts): Promise<void> {
  if (dc.appInstanceId === undefined) return
  let rel: string
  let stream: string | undefined
  try { ({ rel, stream } = smbPathWithStream(req.name)) } catch { return }
  const tree = ctx.tree!
  for (const open of ctx.server.durable.opensByAppInstance(dc.appInstanceId)) {
    if (!open.alive || open.tree.shareName.toLowerCase() !== tree.shareName.toLowerCase()) continue
    if (open.path.toLowerCase() !== rel.toLowerCase() || (open.stream ?? '').toLowerCase() !== (stream ?? '').toLowerCase()) continue
    if (open.appInstance?.clientGuid.equals(ctx.conn.clientGuid) !== false) continue
    ctx.server.log.info(`${open.tree.shareName}/${open.path} (fid ${open.fileId.persistent}) closed: opened again by its application instance from ${ctx.conn.io.remoteAddress}`)
    await closeOpen(ctx.server, open)
  }
}

/** After the open is registered: it belongs to the application instance its CREATE named. */
export function nameAppInstance (ctx: RequestContext, dc: DurableContexts | undefined, open: Open): void {
  if (dc?.appInstanceId === undefined) return
  open.appInstance = { id: dc.appInstanceId, clientGuid: Buffer.from(ctx.conn.clientGuid) }
  ctx.server.durable.nameByAppInstance(open)
}

export const isReconnect = (dc: DurableContexts): boolean => dc.v1Reconnect !== undefined || dc.v2Reconnect !== undefined

/**
 * After the open is registered: made durable when asked and when it caches its handle
 * (MS-SMB2 3.3.5.9.6/10: a batch oplock, or a lease with HANDLE caching); a directory never is.
 * A v2 open asked persistent on a continuously available share is durable (and persistent)
 * whatever it caches, and its record is written before the answer leaves (persistent.ts).
 * Returns the response context.
 */
export function grantDurable (ctx: RequestContext, dc: DurableContexts | undefined, open: Open, ino = 0n): CreateContext | undefined {
  if (dc === undefined || (dc.v1Request === undefined && dc.v2Request === undefined)) return undefined
  if (dc.v2Request !== undefined) {
    // 3.3.5.9.10: Open.CreateGuid, durable or not: a replay of this CREATE finds the open.
    open.createGuid = dc.v2Request.createGuid
    ctx.server.durable.nameByCreateGuid(open, ctx.conn.clientGuid)
  }
  const held = open.oplock
  if (open.isDirectory || held === undefined) return undefined
  const persistent = dc.v2Request !== undefined && persistentAllowed(ctx, dc.v2Request.flags, open)
  const caches = held.lease !== undefined ? (held.lease.state & LeaseState.HANDLE) !== 0 : held.granted === OplockLevel.BATCH
  // 3.3.5.9.10: a persistent open is durable whatever oplock or lease it got.
  if (!caches && !persistent) return undefined
  const session = ctx.session!
  const base = { clientGuid: Buffer.from(ctx.conn.clientGuid), user: session.user, domain: session.domain }
  open.lockSequences = new Map()
  if (dc.v2Request !== undefined) {
    const asked = dc.v2Request.timeout
    const timeoutMs = asked === 0 ? DURABLE_V2_DEFAULT_TIMEOUT_MS : Math.min(asked, DURABLE_V2_MAX_TIMEOUT_MS)
    open.durable = { version: 2, timeoutMs, createGuid: dc.v2Request.createGuid, ...base }
    let granted = false
    if (persistent) {
      open.durable.persistent = true
      open.durable.ino = ino
      // A stream's identity is its file's.
      const f = open.file instanceof StreamFile ? open.file.base : open.file
      if (f !== undefined) open.durable.fileIdentity = open.tree.fs?.identity?.(f)
      // No record, no persistence: the client is told durable only (the warning says why).
      granted = persistOpen(ctx.server, open)
      if (granted) ctx.server.durable.namePersistent(open, ctx.conn.clientGuid)
      else { delete open.durable.persistent; delete open.durable.ino; delete open.durable.fileIdentity }
      if (!granted && !caches) { open.durable = undefined; return undefined }
    }
    logGrant(ctx, open)
    return { name: 'DH2Q', data: encodeDurableResponseV2(timeoutMs, granted ? DHANDLE_FLAG_PERSISTENT : 0) }
  }
  open.durable = { version: 1, timeoutMs: DURABLE_V1_TIMEOUT_MS, ...base }
  logGrant(ctx, open)
  return { name: 'DHnQ', data: encodeDurableResponse() }
}

/** MS-SMB2 2.2.13.2.11 / 2.2.14.2.12 Flags: SMB2_DHANDLE_FLAG_PERSISTENT. */
export const DHANDLE_FLAG_PERSISTENT = 0x00000002

/**
 * MS-SMB2 3.3.5.9.10: the open is persistent when its DH2Q asks (SMB2_DHANDLE_FLAG_PERSISTENT)
 * on a 3.x connection to a continuously available share (which the server then advertises
 * PERSISTENT_HANDLES for: negotiate.ts). Not a directory (a named stream may be: its record names it).
 */
function persistentAllowed (ctx: RequestContext, flags: number, open: Open): boolean {
  return (flags & DHANDLE_FLAG_PERSISTENT) !== 0 && ctx.conn.dialect >= Dialect.SMB3_00 && ctx.tree?.share?.continuousAvailability === true &&
    ctx.server.persistent !== undefined && !open.isDirectory
}

function logGrant (ctx: RequestContext, open: Open): void {
  if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `${open.durable!.persistent === true ? 'persistent' : 'durable'} v${open.durable!.version} handle ${open.tree.shareName}/${open.path} fid=${open.fileId.persistent} timeout=${open.durable!.timeoutMs} ms`)
}

/**
 * MS-SMB2 3.3.5.9.10: a DH2Q whose CreateGuid names an open that exists. With
 * SMB2_FLAGS_REPLAY_OPERATION, on that open's session, the CREATE is a replay (the client did
 * not see the first answer): the open is answered again, nothing is opened twice. Without it,
 * the CreateGuid is in use: STATUS_DUPLICATE_OBJECTID (as Samba). The answer, as Samba's (the
 * smbtorture smb2.replay suite): the CreateAction of the first answer, the oplock level the
 * replay asks for, the DH2Q context when that level could have made the open durable (a batch
 * oplock or a lease); a replay asking for a lease is refused (ACCESS_DENIED) unless the open
 * was made under that very lease, whose state it then reports.
 */
export async function replayCreate (ctx: RequestContext, related: Related | undefined, req: CreateRequest, dc: DurableContexts): Promise<Reply | undefined> {
  if (dc.v2Request === undefined) return undefined
  const replay = (ctx.hdr.flags & HeaderFlags.REPLAY_OPERATION) !== 0
  const existing = ctx.server.durable.openByCreateGuid(ctx.conn.clientGuid, dc.v2Request.createGuid)
  if (existing === undefined || !existing.alive) {
    // The CREATE it would replay is still running (waiting for a break): refused until it ends,
    // as Samba does (smbtorture smb2.replay.dhv2-pending1*-sane; Windows says ACCESS_DENIED).
    if (!ctx.server.durable.beginCreate(dc.v2Request.createGuid)) {
      throw new NtStatusError(replay ? NtStatus.FILE_NOT_AVAILABLE : NtStatus.DUPLICATE_OBJECTID, 'a CREATE with this CreateGuid is still running')
    }
    return undefined
  }
  const connected = existing.tree.session.opens.get(existing.fileId.volatile) === existing
  // A replayed DH2Q naming a persistent open that waits for its client (the client lost the
  // answer and its connection, then resent the CREATE; smbtorture smb2.replay.replay5): the open
  // is taken back, as by DH2C, and answered as its CREATE was.
  if (replay && !connected && existing.durable?.persistent === true && ctx.server.durable.parkedOpen(existing.fileId.persistent) === existing) {
    return await replayPersistent(ctx, related, req, existing)
  }
  if (!replay || !connected || existing.tree.session !== ctx.session) {
    throw new NtStatusError(NtStatus.DUPLICATE_OBJECTID, `CreateGuid ${dc.v2Request.createGuid.toString('hex')} names an open already`)
  }
  const asked = req.requestedOplockLevel
  const lease = replayedLease(ctx, req, existing)
  ctx.server.log.debug('vfs', `CREATE replayed: ${existing.tree.shareName}/${existing.path} fid=${existing.fileId.persistent} answered again`)
  if (related !== undefined) related.fileId = existing.fileId
  const durable = existing.durable !== undefined && (asked === OplockLevel.BATCH || asked === OplockLevel.LEASE)
    ? [{ name: 'DH2Q', data: encodeDurableResponseV2(existing.durable.timeoutMs, existing.durable.persistent === true ? DHANDLE_FLAG_PERSISTENT : 0) }]
    : []
  return await answer(ctx, existing, lease, durable, { oplockLevel: asked, createAction: existing.createAction })
}

/**
 * The lease context of a replayed CREATE asking for a lease (undefined otherwise): refused
 * (ACCESS_DENIED) unless `open` was made under that very lease.
 */
function replayedLease (ctx: RequestContext, req: CreateRequest, open: Open): LeaseContext | undefined {
  if (req.requestedOplockLevel !== OplockLevel.LEASE) return undefined
  const leaseCtx = req.contexts.find(c => c.name === LEASE_CONTEXT_NAME)
  const lease = leaseCtx !== undefined ? decodeLeaseContext(leaseCtx.data, ctx.conn.dialect >= Dialect.SMB3_00) : undefined
  const held = open.oplock?.lease
  if (lease !== undefined && (held === undefined || held.lk !== leaseId(ctx.conn.clientGuid, lease.leaseKey))) {
    throw new NtStatusError(NtStatus.ACCESS_DENIED, 'a replayed CREATE asks for a lease its open was not made under')
  }
  return lease
}

/** The replay of the CREATE that made persistent open `old`, which waits for its client: the same checks as a reconnect. */
async function replayPersistent (ctx: RequestContext, related: Related | undefined, req: CreateRequest, old: Open): Promise<Reply> {
  const session = ctx.session!
  const d = old.durable!
  const refuse = (why: string): NtStatusError => new NtStatusError(NtStatus.DUPLICATE_OBJECTID, `replayed CREATE of a persistent handle: ${why}`)
  if (old.tree.shareName.toLowerCase() !== ctx.tree!.shareName.toLowerCase()) throw refuse(`the handle is of share ${old.tree.shareName}`)
  if (session.user.toLowerCase() !== d.user.toLowerCase() || session.domain.toLowerCase() !== d.domain.toLowerCase()) {
    throw new NtStatusError(NtStatus.ACCESS_DENIED, 'replayed CREATE of a persistent handle by another user')
  }
  const lease = replayedLease(ctx, req, old)
  if (!ctx.server.durable.unpark(old)) throw refuse('closed meanwhile')
  const open = takeOver(ctx, related, old)
  ctx.server.durable.nameByCreateGuid(open, ctx.conn.clientGuid)
  const dh2q = { name: 'DH2Q', data: encodeDurableResponseV2(d.timeoutMs, DHANDLE_FLAG_PERSISTENT) }
  return await answer(ctx, open, lease, [dh2q], { oplockLevel: req.requestedOplockLevel, createAction: open.createAction })
}

/**
 * MS-SMB2 3.3.5.9.7 (DHnC) and 3.3.5.9.12 (DH2C): the client asks for the durable open it held
 * before it lost its connection (or its session). Everything else in the request is ignored
 * (smbtorture smb2.durable-open.reopen2), but the lease: an open made under a lease is found only
 * with a lease context of the same key (ClientGuid and LeaseKey), and then only under the same
 * name. Any mismatch is STATUS_OBJECT_NAME_NOT_FOUND, as for a handle that does not exist.
 */
export async function reconnectDurable (ctx: RequestContext, related: Related | undefined, req: CreateRequest, dc: DurableContexts): Promise<Reply> {
  const tree = ctx.tree!
  const session = ctx.session!
  const want = dc.v2Reconnect ?? dc.v1Reconnect!
  const notFound = (why: string): NtStatusError => {
    ctx.server.log.info(`durable reconnect of fid ${want.persistent} by ${session.user} from ${ctx.conn.io.remoteAddress} refused: ${why}`)
    return new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND, `durable reconnect: ${why}`)
  }
  // The lease context counts whatever RequestedOplockLevel says (smbtorture reopen2-lease sends 0x78).
  const leaseCtx = req.contexts.find(c => c.name === LEASE_CONTEXT_NAME)
  const lease = leaseCtx !== undefined ? decodeLeaseContext(leaseCtx.data, ctx.conn.dialect >= Dialect.SMB3_00) : undefined
  if (leaseCtx !== undefined && lease === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `RqLs context of ${leaseCtx.data.length} bytes`)
  const lk = lease !== undefined ? leaseId(ctx.conn.clientGuid, lease.leaseKey) : undefined
  let old = ctx.server.durable.parkedOpen(want.persistent)
  // MS-SMB2 3.3.5.9.12: a DH2C asking PERSISTENT on a CA share whose FileId names nothing finds
  // its open by its CreateGuid.
  const asksPersistent = dc.v2Reconnect !== undefined && (dc.v2Reconnect.flags & DHANDLE_FLAG_PERSISTENT) !== 0 &&
    tree.share?.continuousAvailability === true && (ctx.conn.serverCapabilities & Capabilities.PERSISTENT_HANDLES) !== 0
  if (old === undefined && asksPersistent) {
    const byGuid = ctx.server.durable.persistentOpen(ctx.conn.clientGuid, dc.v2Reconnect!.createGuid)
    if (byGuid !== undefined && ctx.server.durable.parkedOpen(byGuid.fileId.persistent) === byGuid) old = byGuid
  }
  if (old === undefined) throw notFound('no disconnected durable handle has that FileId')
  const d = old.durable!
  // 3.3.5.9.12: a persistent open is reconnected by a DH2C that says PERSISTENT.
  if (d.persistent === true && dc.v2Reconnect !== undefined && (dc.v2Reconnect.flags & DHANDLE_FLAG_PERSISTENT) === 0) throw notFound('a persistent handle reconnected without SMB2_DHANDLE_FLAG_PERSISTENT')
  // A v1 open has no CreateGuid: a DH2C naming it carries zeros (smbtorture reopen2-lease, as Samba).
  if (dc.v2Reconnect !== undefined && !(d.createGuid ?? NO_GUID).equals(dc.v2Reconnect.createGuid)) throw notFound('the CreateGuid differs')
  if (old.tree.shareName.toLowerCase() !== tree.shareName.toLowerCase()) throw notFound(`the handle is of share ${old.tree.shareName}`)
  const held = old.oplock?.lease
  if (held !== undefined) {
    if (lk !== held.lk) throw notFound('the lease key differs')
    // 3.3.5.9.7: with a lease, the name must be the open's.
    let rel: string | undefined
    try { rel = smbPathWithStream(req.name).rel } catch { rel = undefined }
    if (rel?.toLowerCase() !== old.path.toLowerCase()) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'durable reconnect under a lease: the name is not the open\'s')
  } else if (lk !== undefined) {
    throw notFound('a lease asked for a handle opened with an oplock')
  }
  // 3.3.5.9.7: the same user (Session.SecurityContext) as the one that opened it.
  if (session.user.toLowerCase() !== d.user.toLowerCase() || session.domain.toLowerCase() !== d.domain.toLowerCase()) {
    ctx.server.log.info(`durable reconnect of ${old.tree.shareName}/${old.path} by ${session.user}: refused, opened by ${d.user}`)
    throw new NtStatusError(NtStatus.ACCESS_DENIED, 'durable reconnect by another user')
  }
  if (!ctx.server.durable.unpark(old)) throw notFound('closed meanwhile')
  const open = takeOver(ctx, related, old)
  // No DHnQ/DH2Q context in the answer: the open was durable and stays so.
  return await answer(ctx, open, lease, [])
}

/**
 * The disconnected open `old` (unparked) carries on in this request's session and tree: a new
 * Open object with its state, the old one dead (not closed).
 */
function takeOver (ctx: RequestContext, related: Related | undefined, old: Open): Open {
  const tree = ctx.tree!
  const session = ctx.session!
  const d = old.durable!
  // The open carries on as a new object of this session and tree; the old one is dead (not closed).
  const open = new Open(old.fileId, tree, old.path, old.file, old.grantedAccess, old.shareAccess, old.createOptions, old.isDirectory)
  Object.assign(open.userSetTimes, old.userSetTimes)
  open.position = old.position
  open.impliedAccess = old.impliedAccess
  open.mode = old.mode
  open.deleteOnClose = old.deleteOnClose
  open.shareModeKey = old.shareModeKey
  open.stream = old.stream
  open.baseOpen = old.baseOpen
  open.oplock = old.oplock
  open.modified = old.modified
  open.parentLeaseId = old.parentLeaseId
  open.lockSequences = old.lockSequences
  open.createAction = old.createAction
  open.createGuid = old.createGuid
  // MS-SMB2 3.3.1.10: Open.ChannelSequence is the open's, kept across its reconnect (as Samba's
  // smbXsrv_open_global0.channel_sequence); the requests in flight went with the old connection.
  open.channelSequence = old.channelSequence
  open.channelGeneration = old.channelGeneration
  // A persistent open's record is named by its ClientGuid: a reconnect from another one moves it.
  if (d.persistent === true && !d.clientGuid.equals(ctx.conn.clientGuid)) ctx.server.persistent?.removeOpen(old, (m) => { ctx.server.log.warn(m) })
  open.durable = { ...d, clientGuid: Buffer.from(ctx.conn.clientGuid) }
  old.alive = false
  if (open.oplock !== undefined) ctx.server.locks.rebind(open.oplock, oplockHolder(ctx.conn, open))
  open.appInstance = old.appInstance
  ctx.server.durable.forget(old)
  ctx.server.durable.nameByAppInstance(open)
  if (open.durable.persistent === true) ctx.server.durable.namePersistent(open, open.durable.clientGuid)
  session.opens.set(open.fileId.volatile, open)
  tree.opens.add(open)
  if (related !== undefined) related.fileId = open.fileId
  persistOpen(ctx.server, open)
  ctx.server.log.info(`${d.persistent === true ? 'persistent' : 'durable'} handle ${tree.shareName}/${open.path} (fid ${open.fileId.persistent}) reconnected by ${session.user} from ${ctx.conn.io.remoteAddress}`)
  return open
}

/** The CREATE response for an open that exists (a reconnect or a replay): its state as it is now. */
async function answer (ctx: RequestContext, open: Open, lease: LeaseContext | undefined, extra: CreateContext[],
  replay?: { oplockLevel: number, createAction: number }): Promise<Reply> {
  let info
  try {
    info = await open.file!.stat()
  } catch (e) {
    throw new NtStatusError(NtStatus.INTERNAL_ERROR, `${open.path}: ${(e as Error).message}`)
  }
  const contexts: CreateContext[] = []
  let oplockLevel: number = OplockLevel.NONE
  const held = open.oplock
  if (held?.lease !== undefined && (replay === undefined || lease !== undefined)) {
    oplockLevel = OplockLevel.LEASE
    const now = ctx.server.locks.leaseOf(held.key, held.lease.lk)
    const key = lease?.leaseKey ?? Buffer.from(held.lease.lk.slice(32), 'hex')
    contexts.push({
      name: LEASE_CONTEXT_NAME,
      data: encodeLeaseContext({ leaseKey: key, leaseState: now?.state ?? held.lease.state, leaseFlags: 0, version: held.lease.v, epoch: now?.epoch ?? held.lease.epoch }),
    })
  } else if (held !== undefined) {
    oplockLevel = ctx.server.locks.oplockOf(held)?.level ?? held.granted
  }
  contexts.push(...extra)
  if (replay !== undefined) oplockLevel = replay.oplockLevel
  return { body: encodeCreateResponse({ oplockLevel, createAction: replay?.createAction ?? CreateAction.OPENED, info, fileId: open.fileId, contexts }) }
}
