// CREATE (MS-SMB2 3.3.5.9): open or create a file or directory beneath the share, with the
// Windows dispositions, access and share-mode checks, and oplocks (MS-FSA 2.1.5.1.2.1: an open
// that contends with another open's oplock breaks it and waits for the break before it goes on),
// and leases (MS-SMB2 3.3.5.9.8/11: the RqLs context; the state machine is src/locking/leases.ts).
import { createContextEas, writeEas } from './ea-info.js'
import type { RequestContext, Related, Reply } from '../context.js'
import {
  AccessMask, CreateAction, CreateDisposition, CreateOptions, Dialect, FILE_ALL_ACCESS, OplockLevel, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ,
  FILE_GENERIC_WRITE, ShareAccess, WRITE_ACCESS_MASK, CreateContextName,
} from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { Open } from '../../session/model.js'
import { decodeCreateRequest, encodeCreateResponse, type CreateContext, type CreateRequest } from './create.wire.js'
import { upcaseName } from '../../vfs/case-fold.js'
import { smbPathWithStream } from '../path.js'
import { caseInsensitive, lookupIgnoringCase, newNameSpelling } from '../names.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import { baseOf, SPECIAL_FILE_CODE, specialFileType, type Stat, type VfsFile } from '../../vfs/backend.js'
import { openPipe } from '../pipes.js'
import { leaseId, oplockHolder } from './oplock-break.js'
import { LEASE_CONTEXT_NAME, decodeLeaseContext, encodeLeaseContext, type LeaseContext } from './lease.wire.js'
import { LEASE_STAT_OPEN_ACCESS, LeaseFlags, type LeaseRequest } from '../../locking/leases.js'
import { breakParentLeases } from '../../session/dir-leases.js'
import type { OpenTicket } from '../../locking/oplocks.js'
import { fileKey } from '../../locking/share-modes.js'
import { createStream, findStream, removeAllStreams, streamKey, StreamFile, streamWriteLock, streamXattrs } from '../../vfs/streams.js'
import { checkParentForCreate, decideExistingAccess, keepPendingSecurity, parseCreateSd, storeNewObjectSecurity, type PendingSecurity } from '../file-security.js'
import type { SecurityDescriptor } from '../../wire/dtyp/security-descriptor.js'
import { stoppedOnSymlink } from './reparse.js'
import { applyPosixMode, posixCreateRequest, posixCreateResponse, posixPathToRelative, posixSpecialOpen } from '../posix.js'
import { closeAppInstance, durableContexts, grantDurable, isReconnect, nameAppInstance, reconnectDurable, replayCreate } from './create-durable.js'
import type { DurableContexts } from './create.wire.js'

/** MS-FSA 2.1.5.1.2.1: an open asking only for these rights is a "stat open": it breaks no oplock. */
const STAT_OPEN_ACCESS = AccessMask.FILE_READ_ATTRIBUTES | AccessMask.FILE_WRITE_ATTRIBUTES | AccessMask.SYNCHRONIZE

import {
  FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_ENCRYPTED, FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_READONLY, FILE_ATTRIBUTE_SYSTEM,
  FILE_ATTRIBUTE_TEMPORARY, FILE_ATTRIBUTE_VALID_FLAGS, FILE_ATTRIBUTE_VALID_SET_FLAGS,
} from '../../wire/fscc/constants.js'

/** MS-SMB2 3.3.5.9 / MS-DTYP 2.4.3: generic rights mapped to file rights. */
export function mapGenericAccess (access: number, maximal: number): number {
  let a = access
  if (a & AccessMask.GENERIC_ALL) a |= FILE_ALL_ACCESS
  if (a & AccessMask.GENERIC_READ) a |= FILE_GENERIC_READ
  if (a & AccessMask.GENERIC_WRITE) a |= FILE_GENERIC_WRITE
  if (a & AccessMask.GENERIC_EXECUTE) a |= FILE_GENERIC_EXECUTE
  if (a & AccessMask.MAXIMUM_ALLOWED) a |= maximal
  return (a & ~(AccessMask.GENERIC_ALL | AccessMask.GENERIC_READ | AccessMask.GENERIC_WRITE | AccessMask.GENERIC_EXECUTE | AccessMask.MAXIMUM_ALLOWED)) >>> 0
}

/**
 * What `rel` names: the path to use from here on (the stored spelling of an existing file, found
 * case-insensitively on a share that is; the new name's spelling otherwise) and, when the file
 * exists, its attributes. The exact spelling is the fast path: one stat; only a miss on a
 * case-insensitive share scans directories (names.ts).
 */
async function lookup (ctx: RequestContext, rel: string, exactNames = false): Promise<{ rel: string, existing?: Stat }> {
  const fs = ctx.tree!.fs!
  const share = ctx.tree!.share
  try {
    return { rel, existing: await fs.stat(rel) }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== 'ENOENT') throw ntStatusErrorFromErrno(e, code === 'ENOTDIR' ? 'parent' : undefined, rel)
  }
  if (caseInsensitive(share) && !exactNames) {
    let r
    try {
      r = await lookupIgnoringCase(fs, share, rel)
    } catch (e) { throw ntStatusErrorFromErrno(e, 'parent', rel) }
    // MS-SMB2 3.3.5.9 / MS-FSA 2.1.5.1: a missing directory on the way is a path error.
    if (!r.parentExists) throw new NtStatusError(NtStatus.OBJECT_PATH_NOT_FOUND, `${rel}: no such directory`)
    if (!r.exists) return { rel: r.path }
    try {
      return { rel: r.path, existing: await fs.stat(r.path) }
    } catch (e) { throw ntStatusErrorFromErrno(e, undefined, r.path) }
  }
  // Name missing; tell a missing parent apart (MS-SMB2: STATUS_OBJECT_PATH_NOT_FOUND).
  const i = rel.lastIndexOf('/')
  if (i > 0) {
    try {
      const p = await fs.stat(rel.slice(0, i))
      if (!p.isDirectory) throw new NtStatusError(NtStatus.OBJECT_PATH_NOT_FOUND)
    } catch (pe) {
      throw ntStatusErrorFromErrno(pe, 'parent', rel)
    }
  }
  return { rel: (i < 0 ? '' : rel.slice(0, i + 1)) + newNameSpelling(share, rel.slice(i + 1)) }
}

/**
 * `max open files`, per connection as in Samba (one smbd per client; it answers
 * STATUS_TOO_MANY_OPENED_FILES); MS-SMB2 3.3.5.9 leaves the limit to the implementation. Pipes
 * count too (each holds an RPC endpoint), and so do CREATEs still running, so pipelined CREATEs
 * cannot all pass the check before any of them has registered its Open.
 */
export async function create (ctx: RequestContext, related?: Related): Promise<Reply> {
  const conn = ctx.conn
  const maxOpen = ctx.server.config.global.maxOpenFiles
  if (conn.openCount() + conn.createsInFlight >= maxOpen) {
    ctx.server.warnRefusal(`open ${conn.io.remoteAddress}`, `${conn.io.remoteAddress}: max open files (${maxOpen}) reached`)
    throw new NtStatusError(NtStatus.TOO_MANY_OPENED_FILES)
  }
  conn.createsInFlight++
  const flight: Flight = {}
  try {
    return await openOrCreate(ctx, related, flight)
  } finally {
    conn.createsInFlight--
    // This CREATE's CreateGuid may be replayed from now on (replayCreate).
    if (flight.createGuid !== undefined) ctx.server.durable.endCreate(flight.createGuid)
    flight.ticket?.done() // a failed open holds no other open back any more
    flight.unlock?.()
    // The fast path's handle, when this CREATE failed (or went another way) before using it.
    if (flight.opened !== undefined) await flight.opened.close().catch(() => {})
  }
}

/** What a CREATE holds while it runs, given back by create() however it ends. */
interface Flight {
  ticket?: OpenTicket
  unlock?: () => void
  /** The exact name opened by the fast path (ShareFs.openExisting), until the CREATE takes it. */
  opened?: VfsFile
  /** The durable-handle contexts asked (create-durable.ts). */
  durable?: DurableContexts
  /** The DH2Q's CreateGuid, while this CREATE runs (a replay of it meanwhile is refused). */
  createGuid?: Buffer
}

/** MS-SMB2 2.2.13.1: the DesiredAccess bits with a meaning for a file, a directory or a pipe. */
const DEFINED_ACCESS = (FILE_ALL_ACCESS | AccessMask.ACCESS_SYSTEM_SECURITY | AccessMask.MAXIMUM_ALLOWED |
  AccessMask.GENERIC_ALL | AccessMask.GENERIC_EXECUTE | AccessMask.GENERIC_WRITE | AccessMask.GENERIC_READ) >>> 0
/** MS-SMB2 2.2.13 CreateOptions: the high byte has no option in it. */
const RESERVED_CREATE_OPTIONS = 0xff000000
/**
 * CreateOptions a server does not do: a tree connection by CREATE (FILE_CREATE_TREE_CONNECTION),
 * an open by file ID (smbts announces no FILE_SUPPORTS_OPEN_BY_FILE_ID) and an oplock filter
 * reservation (MS-SMB2 3.3.5.9: FILE_RESERVE_OPFILTER is STATUS_NOT_SUPPORTED).
 */
const UNSUPPORTED_CREATE_OPTIONS = CreateOptions.CREATE_TREE_CONNECTION | CreateOptions.OPEN_BY_FILE_ID | CreateOptions.RESERVE_OPFILTER
/**
 * The bit masks of a CREATE on a disk share, before the name is looked at (the answers Windows
 * gives smbtorture smb2.create.gentest, in its order: an access with no meaning is ACCESS_DENIED
 * even with invalid attributes; ACCESS_SYSTEM_SECURITY PRIVILEGE_NOT_HELD). SYNCHRONIZE alone
 * opens, as gentest's Windows 7 mask and smbtorture smb2.getinfo.getinfo_access have it (gentest's
 * default mask refuses it: the runner gives gentest `torture:win7`).
 */
function checkCreateMasks (req: CreateRequest): void {
  const access = req.desiredAccess >>> 0
  if ((access & ~DEFINED_ACCESS) !== 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, `DesiredAccess 0x${access.toString(16)}: undefined bits`)
  // A SACL's access needs SeSecurityPrivilege, which no session here holds (file-security.ts):
  // refused whether or not the file has a stored descriptor.
  if ((access & AccessMask.ACCESS_SYSTEM_SECURITY) !== 0) throw new NtStatusError(NtStatus.PRIVILEGE_NOT_HELD, 'ACCESS_SYSTEM_SECURITY needs SeSecurityPrivilege')
  const opts = req.createOptions >>> 0
  if ((opts & RESERVED_CREATE_OPTIONS) !== 0) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `CreateOptions 0x${opts.toString(16)}: reserved bits`)
  if ((opts & UNSUPPORTED_CREATE_OPTIONS) !== 0) throw new NtStatusError(NtStatus.NOT_SUPPORTED, `CreateOptions 0x${opts.toString(16)}`)
  // The FileAttributes a CREATE may carry: those a file can have (ENCRYPTED included; it is refused
  // where a file would be made with it). VOLUME, DEVICE (no file is either), INTEGRITY_STREAM
  // (ReFS's) and the bits above 0xffff (cloud-file states a server's file system sets itself) are
  // INVALID_PARAMETER, as Windows answers smbtorture smb2.create.gentest.
  const attrs = req.fileAttributes >>> 0
  if ((attrs & ~FILE_ATTRIBUTE_VALID_FLAGS) !== 0) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `FileAttributes 0x${attrs.toString(16)}`)
}

async function openOrCreate (ctx: RequestContext, related: Related | undefined, flight: Flight): Promise<Reply> {
  const tree = ctx.tree!
  const session = ctx.session!
  const req = decodeCreateRequest(ctx.msg)
  // MS-SMB2 3.3.5.9.7/12: a durable reconnect ignores the rest of the request; a replayed
  // CREATE (3.3.5.9.10) answers the open it made. Both before anything else is checked.
  if (!tree.isPipe) {
    const dc = durableContexts(ctx, req)
    if (isReconnect(dc)) return await reconnectDurable(ctx, related, req, dc)
    const replayed = await replayCreate(ctx, related, req, dc)
    if (replayed !== undefined) return replayed
    flight.createGuid = dc.v2Request?.createGuid
    await closeAppInstance(ctx, req, dc)
    flight.durable = dc
  }
  const opts = req.createOptions
  if (req.impersonationLevel > 3) throw new NtStatusError(NtStatus.BAD_IMPERSONATION_LEVEL)
  if (req.createDisposition > CreateDisposition.OVERWRITE_IF) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'bad CreateDisposition')
  if ((opts & CreateOptions.DIRECTORY_FILE) && (opts & CreateOptions.NON_DIRECTORY_FILE)) throw new NtStatusError(NtStatus.INVALID_PARAMETER)

  if (tree.isPipe) return await openPipe(ctx, req.name, mapGenericAccess(req.desiredAccess, tree.maximalAccess))
  checkCreateMasks(req)

  // SMB 3.1.1 POSIX extensions: a POSIX open (the POSIX create context on a connection that
  // negotiated them) follows POSIX names: '/' separates, ':' names no stream, case counts.
  const posix = posixCreateRequest(ctx, req)
  // MS-SMB2 3.3.5.9: a CREATE name is relative to the share; one that begins with a separator
  // is invalid.
  if (posix === undefined && req.name.startsWith('\\')) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'name begins with a path separator')

  // MS-SMB2 3.3.5.9.4 SMB2_CREATE_TIMEWARP_TOKEN: an open in the snapshot taken at that time.
  // smbts keeps no snapshots (FSCTL_SRV_ENUMERATE_SNAPSHOTS lists none), so none exists: the
  // name is not found, rather than the current file served as if it were the old one
  // (smbtorture smb2.create.blob).
  if (req.contexts.some(c => c.name === CreateContextName.TIMEWARP_TOKEN)) throw new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND, 'no snapshot at the TWrp time')
  const { rel: asGiven, stream } = posix !== undefined ? { rel: posixPathToRelative(req.name), stream: undefined } : smbPathWithStream(req.name)
  // A share without streams knows no stream names (smbtorture smb2.create_no_streams).
  if (stream !== undefined && !tree.share!.streams) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'this share keeps no streams')
  let access = mapGenericAccess(req.desiredAccess, tree.maximalAccess)
  /** MAXIMUM_ALLOWED asked; the rights asked by name. */
  const maximum = (req.desiredAccess & AccessMask.MAXIMUM_ALLOWED) !== 0
  const explicit = mapGenericAccess(req.desiredAccess & ~AccessMask.MAXIMUM_ALLOWED, 0)
  const wantMxAc = req.contexts.some(c => c.name === 'MxAc')
  // MS-SMB2 2.2.13.2.2 SMB2_CREATE_SD_BUFFER: the new file's descriptor, checked before anything is done.
  const secD = req.contexts.find(c => c.name === 'SecD')
  const explicitSd: SecurityDescriptor | undefined = secD !== undefined ? parseCreateSd(ctx, secD.data) : undefined
  // MS-SMB2 2.2.13.2.1 SMB2_CREATE_EA_BUFFER: EAs for a new or overwritten file (ea-info.ts).
  const extA = req.contexts.find(c => c.name === 'ExtA')
  const createEas = extA !== undefined ? createContextEas({ tree }, extA.data) : undefined
  // MS-SMB2 2.2.13.2.6 SMB2_CREATE_ALLOCATION_SIZE: space to reserve for a new or overwritten file.
  const alSi = req.contexts.find(c => c.name === CreateContextName.ALLOCATION_SIZE)
  if (alSi !== undefined && alSi.data.length !== 8) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `AlSi context of ${alSi.data.length} bytes`)
  const allocationSize = alSi?.data.readBigUInt64LE(0) ?? 0n
  /** Set when the file's stored DACL decided the access (granted is then exact, and MxAc answers from it). */
  let byDacl: { maximal: number } | undefined
  if (access === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'no access requested')
  if ((access & ~tree.maximalAccess & WRITE_ACCESS_MASK) !== 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'write access on a read-only share')
  const readOnlyShare = (tree.maximalAccess & AccessMask.FILE_WRITE_DATA) === 0
  if ((opts & CreateOptions.DELETE_ON_CLOSE) && (access & AccessMask.DELETE) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'delete-on-close without DELETE access')

  const { leaseReq } = requestedLease(ctx, req)
  let attempt = 0

  const fs = tree.fs!
  const wantDir = (opts & CreateOptions.DIRECTORY_FILE) !== 0
  const share = tree.share!
  // MS-FSA 2.1.5.1: a stream is never a directory (`dir::$DATA` included).
  if (stream !== undefined && wantDir) throw new NtStatusError(NtStatus.NOT_A_DIRECTORY, 'a stream with FILE_DIRECTORY_FILE')
  if (stream !== undefined && stream !== '') return await openNamedStream(ctx, related, flight, req, asGiven, stream, access, { explicit, maximum, wantMaximal: maximum || wantMxAc, sd: explicitSd })
  let action: number
  let file: VfsFile
  /** The DOS attributes the new or overwritten file gets (MS-FSA 2.1.5.1.2.1), set once it is open. */
  let newAttributes: number | undefined
  let pendingSecurity: PendingSecurity | undefined
  /** For a new file: its parent's stored descriptor (what it inherits from). */
  let parentSd: SecurityDescriptor | undefined
  const writeData = (access & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA)) !== 0
  /** SUPERSEDE/OVERWRITE/OVERWRITE_IF: what exists is replaced (truncated) when opened. */
  const overwrite = req.createDisposition === CreateDisposition.OVERWRITE || req.createDisposition === CreateDisposition.OVERWRITE_IF || req.createDisposition === CreateDisposition.SUPERSEDE

  // The fast path: the name exists as spelled (one stat, no waiting). Otherwise the name is
  // spelled otherwise or does not exist yet: the CREATEs of one path (under any spelling this
  // share equates) run one at a time, each looking it up once the one before finished, so two
  // clients creating `a.txt` and `A.TXT`, or one directory with OPEN_IF, meet one file instead of
  // racing between lookup and creation. The lock is released when the CREATE ends (create()).
  //
  // Where the backend can, that one stat is the open itself (openExisting: a regular file or a
  // directory, neither created nor truncated, so nothing to undo when the CREATE then fails):
  // the handle is used below when nothing changed in between and no overwrite is asked for.
  // A client asking for a reparse point itself (FILE_OPEN_REPARSE_POINT) on a share that follows
  // symlinks gets the link, not what it leads to: looked at without following.
  const linkItself = (opts & CreateOptions.OPEN_REPARSE_POINT) !== 0 && share.followSymlinks && fs.lstat !== undefined
    ? await fs.lstat(asGiven).then(l => (l.mode & 0o170000) === 0o120000 ? l : undefined, () => undefined)
    : undefined
  const opened = overwrite || linkItself !== undefined ? undefined : fs.openExisting?.(asGiven, writeData, wantDir)
  let exact: Stat | undefined = linkItself
  if (linkItself !== undefined) {
    // the symlink itself, opened below as one (pathOnly)
  } else if (opened != null && opened.openStat !== undefined) {
    flight.opened = opened
    exact = opened.openStat
  } else {
    if (opened != null) await opened.close()
    exact = opened === null ? undefined : await fs.stat(asGiven).catch(() => undefined)
  }
  if (exact === undefined) {
    flight.unlock = await ctx.server.locks.lockName(`${tree.shareName}\0${caseInsensitive(tree.share) && posix === undefined ? upcaseName(asGiven) : asGiven}`)
  }
  /** The path from here on: the stored spelling of what exists, or the new name's spelling. */
  let rel = asGiven
  let found: { rel: string, existing?: Stat } | undefined = exact !== undefined ? { rel: asGiven, existing: exact } : undefined

  // Looked at again after every wait for an oplock break: the holder may have closed, deleted
  // or renamed the file meanwhile (smbtorture smb2.oplock.batch3/batch7).
  for (;;) {
    newAttributes = undefined
    const looked = found ?? await lookup(ctx, asGiven, posix !== undefined)
    found = undefined
    rel = looked.rel
    const existing = looked.existing
    // MS-FSA 2.1.5.1: a trailing backslash names a directory. With FILE_NON_DIRECTORY_FILE, on an
    // existing data file, or for a new file that is not a directory, the name is invalid.
    if (rel !== '' && posix === undefined && req.name.endsWith('\\')) {
      const dataStream = (opts & CreateOptions.NON_DIRECTORY_FILE) !== 0 ||
        (existing !== undefined ? !existing.isDirectory : !wantDir)
      if (dataStream) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'trailing backslash on a data file')
    }

    if (existing !== undefined) {
      if (req.createDisposition === CreateDisposition.CREATE) throw new NtStatusError(NtStatus.OBJECT_NAME_COLLISION)
      // A FIFO, device or socket is never opened for a client: its open may wait forever (a FIFO
      // with no writer) and holds a thread while it does, and it has no file data to offer.
      // Refused before any open is tried, with the status current Samba gives a data open of one
      // (smbd open.c reopen_from_fsp: IO_REPARSE_TAG_NOT_HANDLED, Windows' answer for a file it
      // cannot open as such). Stat opens too: every handle here holds an fd. The backend refuses
      // one that replaced the name after this stat (errno.ts, same status).
      const special = specialFileType(existing)
      // A POSIX client may look at one, and remove it: a handle on the name itself (posix.ts).
      const symlink = (existing.mode & 0o170000) === 0o120000 && (!share.followSymlinks || (opts & CreateOptions.OPEN_REPARSE_POINT) !== 0)
      // So may any client that asks for the reparse point itself (FILE_OPEN_REPARSE_POINT: smbclient's
      // readlink, FSCTL_GET_REPARSE_POINT).
      const pathOnly = (special !== undefined || symlink) && posixSpecialOpen(posix !== undefined || (opts & CreateOptions.OPEN_REPARSE_POINT) !== 0, access, req.createDisposition)
      if (special !== undefined && !pathOnly) {
        if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `refused to open ${tree.shareName}/${rel}: a ${special}, not a file or directory`)
        throw new NtStatusError(NtStatus.IO_REPARSE_TAG_NOT_HANDLED, `${rel}: a ${special}`)
      }
      // A symlink the share does not follow, opened by name: MS-SMB2 3.3.5.9's
      // STATUS_STOPPED_ON_SYMLINK with the link's target, for the client to follow itself
      // (reparse.ts); nothing is read through it here.
      if (symlink && !pathOnly && posix === undefined && (opts & CreateOptions.OPEN_REPARSE_POINT) === 0) {
        const stopped = await stoppedOnSymlink(ctx, rel)
        if (stopped !== undefined) return stopped
      }
      if (existing.isDirectory && ((opts & CreateOptions.NON_DIRECTORY_FILE) || stream === '')) throw new NtStatusError(NtStatus.FILE_IS_A_DIRECTORY)
      if (!existing.isDirectory && wantDir) throw new NtStatusError(NtStatus.NOT_A_DIRECTORY)
      if (overwrite && existing.isDirectory) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'overwrite of a directory')
      if (overwrite && readOnlyShare) throw new NtStatusError(NtStatus.ACCESS_DENIED)
      if ((opts & CreateOptions.DELETE_ON_CLOSE) && (existing.fileAttributes & FILE_ATTRIBUTE_READONLY)) throw new NtStatusError(NtStatus.CANNOT_DELETE)
      // READONLY denies writing a file's data; on a directory it stops nothing but its deletion.
      if (!existing.isDirectory && (existing.fileAttributes & FILE_ATTRIBUTE_READONLY) && writeData) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'read-only file')
      if (overwrite) {
        // MS-FSA 2.1.5.1.2.1: overwriting a HIDDEN or SYSTEM file must keep saying so, or it is
        // refused; the overwritten file then has the requested attributes and ARCHIVE. A dot file's
        // HIDDEN may be only our stand-in for a file made outside the server: not held against it.
        const dotFile = baseOf(rel).startsWith('.')
        const keep = existing.fileAttributes & ((dotFile ? 0 : FILE_ATTRIBUTE_HIDDEN) | FILE_ATTRIBUTE_SYSTEM)
        if ((keep & ~req.fileAttributes) !== 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'overwrite drops HIDDEN/SYSTEM')
        newAttributes = (req.fileAttributes & FILE_ATTRIBUTE_VALID_SET_FLAGS) | FILE_ATTRIBUTE_ARCHIVE
      }
      // MS-FSA 2.1.5.1.2.1: the file's DACL (when one is stored), after the share's rules above.
      byDacl = undefined
      const decided = await decideExistingAccess(ctx, { rel, isDirectory: existing.isDirectory, explicit, maximum, wantMaximal: maximum || wantMxAc, overwrite, st: existing, handle: flight.opened })
      if (decided !== undefined) {
        access = decided.granted
        byDacl = { maximal: decided.maximal }
      }
      if (!existing.isDirectory) {
        const key = fileKey(tree.shareName, existing.indexNumber)
        // MS-FSA 2.1.5.1.2.1: a file pending deletion refuses new opens before any oplock is
        // looked at (smbtorture smb2.oplock.doc).
        // MS-FSA 2.1.5.1.2.1, in one update of the file's record: a file pending deletion refuses
        // new opens before any oplock is looked at (smbtorture smb2.oplock.doc); then the sharing
        // check, and the breaks of what this open contends with, waited for.
        const prepared = await ctx.server.locks.prepareOpen(key, { access, shareAccess: req.shareAccess }, {
          statOpen: (access & ~STAT_OPEN_ACCESS) === 0,
          overwrite,
          level2: share.level2Oplocks,
          lk: leaseReq?.lk,
          leaseStatOpen: (access & ~LEASE_STAT_OPEN_ACCESS) === 0,
          firstAttempt: attempt++ === 0,
        }, () => {
          if (ctx.goAsync === undefined) throw new NtStatusError(NtStatus.INTERNAL_ERROR, 'CREATE cannot wait here')
          return ctx.goAsync()
        })
        if (prepared === undefined) {
          if (!session.alive || !tree.alive) throw new NtStatusError(session.alive ? NtStatus.NETWORK_NAME_DELETED : NtStatus.USER_SESSION_DELETED, 'torn down while the CREATE waited')
          // The wait let the holder close, delete or rename the file: looked up again, and opened
          // by name.
          const stale = flight.opened
          flight.opened = undefined
          await stale?.close().catch(() => {})
          continue
        }
        flight.ticket = prepared.ticket
        // The file is not opened (nor truncated) when sharing fails.
        if (prepared.sharingViolation) throw new NtStatusError(NtStatus.SHARING_VIOLATION)
      }
      // The fast path's handle is this very file, opened as asked (never for an overwrite).
      const ready = flight.opened
      flight.opened = undefined
      try {
        file = ready ?? await fs.open(rel, { write: !existing.isDirectory && (writeData || overwrite), directory: existing.isDirectory, truncate: overwrite, pathOnly })
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === SPECIAL_FILE_CODE) ctx.server.log.debug('vfs', `refused to open ${tree.shareName}/${rel}: replaced by a special file after the lookup`)
        throw ntStatusErrorFromErrno(e, undefined, rel)
      }
      action = req.createDisposition === CreateDisposition.SUPERSEDE ? CreateAction.SUPERSEDED : overwrite ? CreateAction.OVERWRITTEN : CreateAction.OPENED
      if (share.streams && !existing.isDirectory && !pathOnly) {
        try {
          await streamsOnOpen(ctx, file, fileKey(tree.shareName, existing.indexNumber), access, overwrite)
        } catch (e) {
          await file.close().catch(() => {})
          throw ntStatusErrorFromErrno(e, undefined, rel)
        }
      }
    } else {
      if (req.createDisposition === CreateDisposition.OPEN || req.createDisposition === CreateDisposition.OVERWRITE) {
        throw new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND)
      }
      if (rel === '') throw new NtStatusError(NtStatus.OBJECT_NAME_COLLISION)
      // MS-FSA 2.1.5.1.2.1: a directory cannot be TEMPORARY.
      if (wantDir && (req.fileAttributes & FILE_ATTRIBUTE_TEMPORARY)) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FILE_ATTRIBUTE_TEMPORARY on a new directory')
      // No encryption here (FILE_SUPPORTS_ENCRYPTION is not announced): a file asked to be made
      // encrypted is refused, as a Windows server without EFS refuses it, rather than made in the
      // clear while the client believes otherwise (smbtorture smb2.create.gentest).
      if (req.fileAttributes & FILE_ATTRIBUTE_ENCRYPTED) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'FILE_ATTRIBUTE_ENCRYPTED: no encryption here')
      if (readOnlyShare) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'create on a read-only share')
      // MS-FSA 2.1.5.1.1: a new file cannot be both READONLY and deleted on close.
      if ((opts & CreateOptions.DELETE_ON_CLOSE) && (req.fileAttributes & FILE_ATTRIBUTE_READONLY)) throw new NtStatusError(NtStatus.CANNOT_DELETE, 'new READONLY file with delete-on-close')
      parentSd = await checkParentForCreate(ctx, rel, wantDir)
      try {
        if (wantDir) {
          await fs.mkdir(rel, (posix?.mode ?? 0o777) & share.directoryMask)
          file = await fs.open(rel, { write: false, directory: true })
        } else {
          const mode = posix !== undefined ? posix.mode & share.createMask : (req.fileAttributes & FILE_ATTRIBUTE_READONLY) ? 0o444 & share.createMask : 0o666 & share.createMask
          file = await fs.open(rel, { write: true, create: 'new', mode })
        }
      } catch (e) { throw ntStatusErrorFromErrno(e, 'parent', rel) }
      action = CreateAction.CREATED
      // MS-FSA 2.1.5.1.2.1: a new file has the requested attributes (ValidSetAttributes) and ARCHIVE;
      // a new directory only the requested ones.
      newAttributes = (req.fileAttributes & FILE_ATTRIBUTE_VALID_SET_FLAGS) | (wantDir ? 0 : FILE_ATTRIBUTE_ARCHIVE)
      if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `created ${wantDir ? 'directory' : 'file'} ${tree.shareName}/${rel}`)
    }
    break
  }

  if (action === CreateAction.CREATED) {
    // Its security descriptor (the SecD context's, inherited, or the default), before any other
    // open can see it (the default one is noted in the DOS record, written next).
    try {
      pendingSecurity = await storeNewObjectSecurity(ctx, file, {
        rel,
        isDirectory: wantDir,
        parent: parentSd,
        explicit: explicitSd,
      })
    } catch (e) {
      if (explicitSd !== undefined) {
        // The creator asked for this descriptor: no file without it.
        await file.close().catch(() => {})
        await fs.unlink(rel, wantDir).catch(() => {})
        throw ntStatusErrorFromErrno(e, undefined, rel)
      }
      ctx.server.log.warn(`${tree.shareName}/${rel}: security descriptor not stored: ${(e as Error).message}`)
    }
    // A POSIX create's mode is the mode it gets (the masks applied, the server's umask not):
    // set after the descriptor, which an inherited DACL would otherwise have moved it from.
    if (posix !== undefined) await applyPosixMode(ctx, file, rel, (posix.mode & (wantDir ? share.directoryMask : share.createMask)))
  } else if (explicitSd !== undefined && ctx.server.log.wants('vfs')) {
    // MS-SMB2 3.3.5.9.4 (SMB2_CREATE_SD_BUFFER): ignored when the file exists.
    ctx.server.log.debug('vfs', `${tree.shareName}/${rel}: SecD context ignored, the file exists`)
  }

  if (newAttributes !== undefined) {
    // The new file's DOS record (its CreationTime fixed now, its attributes), written before the
    // stat below so this reply already shows what every later query will.
    try {
      await file.setBasicInfo({ fileAttributes: newAttributes, creator: pendingSecurity?.creator })
    } catch (e) {
      ctx.server.log.warn(`${tree.shareName}/${rel}: DOS attributes not stored: ${(e as Error).message}`)
    }
  }

  if (createEas !== undefined && createEas.length > 0 && action !== CreateAction.OPENED) {
    // The new or replaced file gets them before any other open sees it; one it cannot get them
    // on is not left behind (Samba fails the CREATE too).
    try {
      await writeEas(file, createEas)
    } catch (e) {
      await file.close().catch(() => {})
      if (action === CreateAction.CREATED) await fs.unlink(rel, wantDir).catch(() => {})
      throw ntStatusErrorFromErrno(e, undefined, rel)
    }
  }

  // The AlSi context's reservation, for a file created or replaced (as Samba: an open of an existing
  // file ignores it). The size stays; a file system that cannot reserve is fine (allocate);
  // one without the room fails the CREATE (DISK_FULL, as Samba's).
  const allocates = allocationSize > 0n && !file.isDirectory && action !== CreateAction.OPENED
  if (allocates) {
    try {
      await file.allocate(Number(allocationSize > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : allocationSize))
    } catch (e) {
      await file.close().catch(() => {})
      if (action === CreateAction.CREATED) await fs.unlink(rel, wantDir).catch(() => {})
      throw ntStatusErrorFromErrno(e, undefined, rel)
    }
  }

  let info: Stat
  try {
    // What the open found serves, unless this CREATE just stored new DOS attributes or reserved space.
    info = newAttributes === undefined && !allocates && file.openStat !== undefined ? file.openStat : await file.stat()
  } catch (e) { await file.close(); throw ntStatusErrorFromErrno(e, undefined, rel) }
  try {
    await keepPendingSecurity(file, pendingSecurity, info)
  } catch (e) {
    ctx.server.log.warn(`${tree.shareName}/${rel}: security descriptor not stored: ${(e as Error).message}`)
  }

  return await register(ctx, related, flight, req, { file, rel, info, action, key: fileKey(tree.shareName, info.indexNumber), access, byDacl, posix: posix !== undefined })
}

/**
 * MS-SMB2 3.3.5.9.8/11: the lease a CREATE asks for: RequestedOplockLevel LEASE and an RqLs
 * context, and only when `smb2 leases` is on (else the context is ignored, as the capability was
 * not offered); a v2 context only counts on SMB 3.x.
 */
function requestedLease (ctx: RequestContext, req: CreateRequest): { lease?: LeaseContext, leaseReq?: LeaseRequest } {
  const leaseCtx = req.requestedOplockLevel === OplockLevel.LEASE && ctx.server.config.global.smb2Leases && ctx.conn.dialect >= Dialect.SMB2_10
    ? req.contexts.find(c => c.name === LEASE_CONTEXT_NAME)
    : undefined
  if (leaseCtx === undefined) return {}
  const lease = decodeLeaseContext(leaseCtx.data, ctx.conn.dialect >= Dialect.SMB3_00)
  if (lease === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `RqLs context of ${leaseCtx.data.length} bytes`)
  return { lease, leaseReq: { lk: leaseId(ctx.conn.clientGuid, lease.leaseKey), state: lease.leaseState, v: lease.version, epoch: lease.epoch } }
}

/** What register() makes an Open of: the file opened, what it is and what the CREATE did. */
interface Opened {
  file: VfsFile
  rel: string
  info: Stat
  action: number
  /** Its record in the locking store (a stream's: streams.ts streamKey). */
  key: string
  access: number
  /** Set when the file's stored DACL decided the access (granted is then exact, and MxAc answers from it). */
  byDacl?: { maximal: number }
  /** The named stream opened, as stored. */
  stream?: string
  /** A stream's: its file's key, where the open is registered too (Open.baseOpen). */
  baseKey?: string
  /** Opened with the POSIX create context (src/smb2/posix.ts). */
  posix?: boolean
}

/** The end of every CREATE of a file or stream: the Open, its share mode and oplock, the reply. */
async function register (ctx: RequestContext, related: Related | undefined, flight: Flight, req: CreateRequest, o: Opened): Promise<Reply> {
  const { file, rel, info, action, key, access, byDacl } = o
  const { lease, leaseReq } = requestedLease(ctx, req)
  const overwrite = req.createDisposition === CreateDisposition.OVERWRITE || req.createDisposition === CreateDisposition.OVERWRITE_IF || req.createDisposition === CreateDisposition.SUPERSEDE
  const tree = ctx.tree!
  const session = ctx.session!
  const share = tree.share!
  const fs = tree.fs!
  const opts = req.createOptions
  // Teardown safety: a LOGOFF, TREE_DISCONNECT or disconnect that ran while this CREATE awaited
  // the file system has already closed every open of the tree; an open added now would outlive
  // it (an fd and a share-mode entry nobody can close). Undo, and answer as a later lookup would.
  if (!session.alive || !tree.alive) {
    await file.close().catch(() => {})
    if (action === CreateAction.CREATED && o.stream === undefined && ctx.server.locks.openCount(key) === 0) {
      await fs.unlink(rel, info.isDirectory).catch(() => {})
    }
    throw new NtStatusError(session.alive ? NtStatus.NETWORK_NAME_DELETED : NtStatus.USER_SESSION_DELETED, 'torn down while the CREATE ran')
  }

  const volatile = ctx.server.newFileId()
  // Over SMB2 an open holds exactly what it was granted (as Windows and Samba show it in
  // FileAccessInformation): a handle opened for FILE_READ_DATA alone is refused
  // FileBasicInformation (smbtorture smb2.streams.attributes1). Whoever may list the parent may
  // read a file's attributes (MS-FSA 2.1.5.1.2.1), so the share implies FILE_READ_ATTRIBUTES: it
  // counts where the open may set attributes (query-info.ts).
  const granted = access >>> 0
  const open = new Open({ persistent: volatile, volatile }, tree, rel, file, granted, req.shareAccess, opts, info.isDirectory)
  open.impliedAccess = tree.maximalAccess & AccessMask.FILE_READ_ATTRIBUTES
  open.shareModeKey = key
  open.stream = o.stream
  open.deleteOnClose = (opts & CreateOptions.DELETE_ON_CLOSE) !== 0
  open.posix = o.posix === true
  open.createAction = action
  // The share mode (refused if the file changed since the checks above) and, MS-SMB2 3.3.5.9 /
  // MS-FSA 2.1.5.17, the oplock, decided in the same update against the file's other opens.
  // Directories, and shares with `oplocks = no`, get none; a directory may get a v2 lease (R, H:
  // directory leasing, SMB 3.x).
  try {
    open.oplock = ctx.server.locks.addOpen(key, { access, shareAccess: req.shareAccess }, oplockHolder(ctx.conn, open), {
      requested: req.requestedOplockLevel,
      eligible: !info.isDirectory && share.oplocks && specialFileType(info) === undefined,
      level2: share.level2Oplocks,
      lease: leaseReq,
      dirLease: info.isDirectory && share.oplocks && lease?.version === 2 && ctx.server.config.global.smb3DirectoryLeases,
    }, flight.ticket)
  } catch (e) {
    await file.close()
    // A lease key bound to another file: the file this CREATE made is not left behind.
    if (action === CreateAction.CREATED && ctx.server.locks.openCount(key) === 0) await fs.unlink(rel, info.isDirectory).catch(() => {})
    throw e
  }
  flight.ticket = undefined
  ctx.server.watchLocalChanges(open, info.indexNumber)
  if (o.baseKey !== undefined) {
    // An open of a stream is also an open of its file, as on NTFS (and Samba's base_fsp): an
    // entry on the file's record that shares everything and asks for no access, so it conflicts
    // with nothing and takes no oplock, but keeps a file deleted meanwhile DELETE_PENDING until
    // the stream closes too (smbtorture smb2.streams.delete; teardown.ts deletes it then).
    try {
      open.baseOpen = ctx.server.locks.addOpen(o.baseKey, { access: 0, shareAccess: ShareAccess.READ | ShareAccess.WRITE | ShareAccess.DELETE },
        oplockHolder(ctx.conn, open), { requested: 0, eligible: false, level2: false })
    } catch (e) {
      ctx.server.locks.beginClose(open.oplock, false)
      ctx.server.locks.closed(open.oplock)
      await file.close()
      throw e
    }
  }
  if (lease !== undefined && lease.version === 2 && (lease.leaseFlags & LeaseFlags.PARENT_LEASE_KEY_SET) !== 0 && lease.parentLeaseKey !== undefined) {
    open.parentLeaseId = leaseId(ctx.conn.clientGuid, lease.parentLeaseKey)
  }
  // A new name, or a file overwritten, changes the directory: its leases break (but the
  // changer's parent lease).
  if (action === CreateAction.CREATED || (overwrite && action !== CreateAction.OPENED)) await breakParentLeases(ctx.server, tree, rel, open.parentLeaseId)
  session.opens.set(volatile, open)
  tree.opens.add(open)
  // MS-SMB2 3.3.5.2.7.2: a CREATE generates the FileId that later related requests of the chain use.
  if (related !== undefined) related.fileId = open.fileId

  const contexts: CreateContext[] = []
  const held = open.oplock.lease
  if (held !== undefined && lease !== undefined) {
    // MS-SMB2 2.2.14.2.10/11: the lease as it stands, in the version it was made with.
    const parentSet = held.v === 2 && lease.version === 2 && (lease.leaseFlags & LeaseFlags.PARENT_LEASE_KEY_SET) !== 0
    const out: LeaseContext = {
      leaseKey: lease.leaseKey,
      leaseState: held.state,
      leaseFlags: held.flags | (parentSet ? LeaseFlags.PARENT_LEASE_KEY_SET : 0),
      version: held.v,
      parentLeaseKey: parentSet ? lease.parentLeaseKey : undefined,
      epoch: held.epoch,
    }
    contexts.push({ name: LEASE_CONTEXT_NAME, data: encodeLeaseContext(out) })
  }
  nameAppInstance(ctx, flight.durable, open)
  const durable = grantDurable(ctx, flight.durable, open, info.indexNumber)
  if (durable !== undefined) contexts.push(durable)
  for (const c of req.contexts) {
    if (c.name === 'MxAc') {
      // MS-SMB2 2.2.14.2.5: QueryStatus, MaximalAccess.
      const d = Buffer.alloc(8)
      d.writeUInt32LE(0, 0)
      d.writeUInt32LE((byDacl?.maximal ?? tree.maximalAccess) >>> 0, 4)
      contexts.push({ name: 'MxAc', data: d })
    } else if (c.name === 'QFid') {
      // MS-SMB2 2.2.14.2.9: DiskFileId (inode, volume) and 16 reserved bytes.
      const d = Buffer.alloc(32)
      d.writeBigUInt64LE(info.indexNumber, 0)
      contexts.push({ name: 'QFid', data: d })
    }
  }
  if (open.posix) contexts.push(posixCreateResponse(info))

  if (ctx.server.log.wants('vfs')) {
    ctx.server.log.debug('vfs', `open ${tree.shareName}/${open.path} fid=${open.fileId.volatile} action=${action} access=0x${open.grantedAccess.toString(16)} share=0x${open.shareAccess.toString(16)} oplock=${open.oplock.granted}`)
  }
  return {
    body: encodeCreateResponse({
      oplockLevel: open.oplock.granted,
      createAction: action,
      info,
      fileId: open.fileId,
      contexts,
    }),
  }
}

/**
 * What opening a file (its unnamed stream) means for its named streams (streams.ts):
 * - MS-FSA 2.1.5.1.2.1: an open with DELETE access must share with every open of every stream of
 *   the file (deleting the file deletes them): one that does not share delete is a sharing
 *   violation (smbtorture smb2.streams.delete; Samba's open_streams_for_delete);
 * - an overwrite (SUPERSEDE, OVERWRITE, OVERWRITE_IF) replaces the file with one that has only its
 *   unnamed stream: the named ones go (smb2.streams.create-disposition).
 */
async function streamsOnOpen (ctx: RequestContext, file: VfsFile, key: string, access: number, overwrite: boolean): Promise<void> {
  if ((access & AccessMask.DELETE) !== 0) {
    for (const s of await streamXattrs(file)) {
      ctx.server.locks.check(streamKey(key, s.name), { access: AccessMask.DELETE, shareAccess: ShareAccess.READ | ShareAccess.WRITE | ShareAccess.DELETE })
    }
  }
  if (overwrite) {
    const n = await removeAllStreams(file)
    if (n > 0 && ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `overwrite removed ${n} stream(s) of ${ctx.tree!.shareName}/${key}`)
  }
}

/**
 * CREATE of a named stream `rel:stream` (MS-FSA 2.1.5.1, streams.ts for the layout): the base
 * file (or directory) is looked up, and created as an empty file when the disposition creates and
 * it is missing; the stream is found ignoring case; it is a separate object for share modes and
 * oplocks (its own record in the locking store); a base file pending deletion refuses it.
 */
async function openNamedStream (ctx: RequestContext, related: Related | undefined, flight: Flight, req: CreateRequest, asGiven: string, stream: string,
  access: number, asked: { explicit: number, maximum: boolean, wantMaximal: boolean, sd?: SecurityDescriptor }): Promise<Reply> {
  const tree = ctx.tree!
  const share = tree.share!
  const fs = tree.fs!
  const disp = req.createDisposition
  const readOnlyShare = (tree.maximalAccess & AccessMask.FILE_WRITE_DATA) === 0
  const writeData = (access & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA)) !== 0
  const overwrite = disp === CreateDisposition.OVERWRITE || disp === CreateDisposition.OVERWRITE_IF || disp === CreateDisposition.SUPERSEDE
  // The CREATEs of one base name run one at a time: two clients creating `a:s` meet one base file.
  flight.unlock = await ctx.server.locks.lockName(`${tree.shareName}\0${caseInsensitive(share) ? upcaseName(asGiven) : asGiven}`)
  for (;;) {
    const looked = await lookup(ctx, asGiven)
    const rel = looked.rel
    const existing = looked.existing
    let base: VfsFile
    let baseCreated = false
    if (existing === undefined) {
      if (disp === CreateDisposition.OPEN || disp === CreateDisposition.OVERWRITE) throw new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND)
      if (rel === '') throw new NtStatusError(NtStatus.OBJECT_NAME_COLLISION)
      if (readOnlyShare) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'create on a read-only share')
      // MS-FSA 2.1.5.1.2: a stream of a missing file creates the file, with its unnamed stream
      // empty; the parent's DACL decides whether it may be made, and the file inherits from it.
      const parentSd = await checkParentForCreate(ctx, rel, false)
      const mode = (req.fileAttributes & FILE_ATTRIBUTE_READONLY) ? 0o444 & share.createMask : 0o666 & share.createMask
      try {
        base = await fs.open(rel, { write: false, create: 'new', mode })
      } catch (e) { throw ntStatusErrorFromErrno(e, 'parent', rel) }
      baseCreated = true
      let pending: PendingSecurity | undefined
      try {
        pending = await storeNewObjectSecurity(ctx, base, { rel, isDirectory: false, parent: parentSd, explicit: asked.sd })
      } catch (e) {
        if (asked.sd !== undefined) {
          // The creator asked for this descriptor: no file without it.
          await base.close().catch(() => {})
          await fs.unlink(rel, false).catch(() => {})
          throw ntStatusErrorFromErrno(e, undefined, rel)
        }
        ctx.server.log.warn(`${tree.shareName}/${rel}: security descriptor not stored: ${(e as Error).message}`)
      }
      try {
        await base.setBasicInfo({ fileAttributes: (req.fileAttributes & FILE_ATTRIBUTE_VALID_SET_FLAGS) | FILE_ATTRIBUTE_ARCHIVE, creator: pending?.creator })
      } catch (e) {
        ctx.server.log.warn(`${tree.shareName}/${rel}: DOS attributes not stored: ${(e as Error).message}`)
      }
      try {
        await keepPendingSecurity(base, pending, await base.stat())
      } catch (e) {
        ctx.server.log.warn(`${tree.shareName}/${rel}: security descriptor not stored: ${(e as Error).message}`)
      }
    } else {
      const special = specialFileType(existing)
      if (special !== undefined) throw new NtStatusError(NtStatus.IO_REPARSE_TAG_NOT_HANDLED, `${rel}: a ${special}`)
      if (!existing.isDirectory && (existing.fileAttributes & FILE_ATTRIBUTE_READONLY) && (writeData || overwrite)) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'read-only file')
      if ((req.createOptions & CreateOptions.DELETE_ON_CLOSE) && (existing.fileAttributes & FILE_ATTRIBUTE_READONLY)) throw new NtStatusError(NtStatus.CANNOT_DELETE)
      if (overwrite && readOnlyShare) throw new NtStatusError(NtStatus.ACCESS_DENIED)
      // smbtorture smb2.streams.delete: a stream of a file pending deletion is not opened by name.
      if (ctx.server.locks.isDeletePending(fileKey(tree.shareName, existing.indexNumber))) throw new NtStatusError(NtStatus.DELETE_PENDING)
      // The xattr calls need a descriptor, not write access to the data: the base is opened
      // read-only (a directory too: NTFS and streams_xattr keep streams on directories).
      try {
        base = await fs.open(rel, { write: false, directory: existing.isDirectory })
      } catch (e) { throw ntStatusErrorFromErrno(e, undefined, rel) }
    }
    let keep = false
    /** Set when the file's stored DACL decided the access (a stream has its file's security). */
    let byDacl: { maximal: number } | undefined
    try {
      if (existing !== undefined) {
        const decided = await decideExistingAccess(ctx, { rel, isDirectory: existing.isDirectory, explicit: asked.explicit, maximum: asked.maximum, wantMaximal: asked.wantMaximal, overwrite, st: existing, handle: base })
        if (decided !== undefined) {
          access = decided.granted
          byDacl = { maximal: decided.maximal }
        }
      }
      const st = existing ?? await base.stat()
      const fkey = fileKey(tree.shareName, st.indexNumber)
      let found = await findStream(base, stream)
      if (found !== undefined && disp === CreateDisposition.CREATE) throw new NtStatusError(NtStatus.OBJECT_NAME_COLLISION)
      if (found === undefined && (disp === CreateDisposition.OPEN || disp === CreateDisposition.OVERWRITE)) throw new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND)
      if (found === undefined && readOnlyShare) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'create on a read-only share')
      const key = streamKey(fkey, found?.name ?? stream)
      const prepared = await ctx.server.locks.prepareOpen(key, { access, shareAccess: req.shareAccess }, {
        statOpen: (access & ~STAT_OPEN_ACCESS) === 0,
        overwrite,
        level2: share.level2Oplocks,
      }, () => {
        if (ctx.goAsync === undefined) throw new NtStatusError(NtStatus.INTERNAL_ERROR, 'CREATE cannot wait here')
        return ctx.goAsync()
      })
      if (prepared === undefined) {
        const session = ctx.session!
        if (!session.alive || !tree.alive) throw new NtStatusError(session.alive ? NtStatus.NETWORK_NAME_DELETED : NtStatus.USER_SESSION_DELETED, 'torn down while the CREATE waited')
        continue // a break was waited for: looked at again (finally closes the base)
      }
      flight.ticket = prepared.ticket
      if (prepared.sharingViolation) throw new NtStatusError(NtStatus.SHARING_VIOLATION)
      let action: number
      if (found === undefined) {
        try {
          found = { name: stream, xattr: await createStream(base, stream) }
        } catch (e) { throw ntStatusErrorFromErrno(e, undefined, `${rel}:${stream}`) }
        action = CreateAction.CREATED
        if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `created stream ${tree.shareName}/${rel}:${stream}`)
      } else if (overwrite) {
        await base.setXattr!(found.xattr, Buffer.alloc(1))
        action = disp === CreateDisposition.SUPERSEDE ? CreateAction.SUPERSEDED : CreateAction.OVERWRITTEN
      } else {
        action = CreateAction.OPENED
      }
      const locks = ctx.server.locks
      const file = new StreamFile(base, found.xattr, found.name, key, streamWriteLock(k => locks.lockName(k), key))
      let info: Stat
      try { info = await file.stat() } catch (e) { throw ntStatusErrorFromErrno(e, undefined, rel) }
      keep = true
      return await register(ctx, related, flight, req, { file, rel, info, action, key, access, byDacl, stream: found.name, baseKey: fkey })
    } catch (e) {
      throw ntStatusErrorFromErrno(e, undefined, `${rel}:${stream}`)
    } finally {
      if (!keep) {
        await base.close().catch(() => {})
        if (baseCreated) await fs.unlink(rel, false).catch(() => {})
      }
    }
  }
}
