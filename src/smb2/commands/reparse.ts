// FSCTL_GET_REPARSE_POINT and FSCTL_SET_REPARSE_POINT (MS-FSA 2.1.5.10.17 / 2.1.5.10.34) over
// what Linux has in their place: symbolic links, FIFOs and sockets. Nothing is kept in an xattr
// (as Samba keeps an arbitrary reparse buffer): a reparse point set here is a real object on the
// server's file system, so local programs, other protocols and a later Samba see what the client
// made, and one that cannot be one is refused:
// - IO_REPARSE_TAG_SYMLINK (smbclient's `symlink`, Windows' mklink), and the NFS and WSL symlink
//   forms: a native symlink, only with a relative target that stays inside the share (judged by
//   its name, the kernel still confining every later lookup); an absolute or escaping target is
//   STATUS_ACCESS_DENIED, said in the log;
// - IO_REPARSE_TAG_NFS FIFO / socket, and the WSL LX_FIFO / AF_UNIX tags (the Linux client's
//   special files): mknod of a FIFO or a socket with the file's permissions;
// - device nodes (NFS CHR / BLK, LX_CHR / LX_BLK) are never made for a client (a client able to
//   make one could reach a disk through whatever reads it on the server): STATUS_ACCESS_DENIED;
// - any other tag: STATUS_IO_REPARSE_TAG_NOT_HANDLED.
// The file the reparse point is set on must be an empty regular file nobody else has open (what
// clients create for the purpose): it is replaced, atomically, by the new object, and the open
// then describes that object.
import { randomBytes } from 'node:crypto'
import type { RequestContext } from '../context.js'
import type { Open } from '../../session/model.js'
import { AccessMask, Dialect } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { IO_REPARSE_TAG_NFS, IO_REPARSE_TAG_SYMLINK } from '../../wire/fscc/constants.js'
import {
  IO_REPARSE_TAG_AF_UNIX, IO_REPARSE_TAG_LX_BLK, IO_REPARSE_TAG_LX_CHR, IO_REPARSE_TAG_LX_FIFO, IO_REPARSE_TAG_LX_SYMLINK, REPARSE_HEADER_SIZE,
  SYMLINK_FLAG_RELATIVE, decodeLxSymlinkReparse, decodeNfsReparse, decodeReparseBuffer, decodeSymlinkReparse, encodeNfsReparse, encodeSymlinkReparse,
} from '../../wire/fscc/reparse.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import { parentOf } from '../../vfs/backend.js'
import { breakParentLeases } from '../../session/dir-leases.js'
import { posixReparseTag } from '../../wire/fscc/posix-info.js'

const S_IFMT = 0o170000

/**
 * A symlink target as stored, if a link at `linkPath` may have it: relative ('/' separators),
 * not empty, and never leading above the share root from the link's directory (judged by name:
 * the kernel confines every lookup through it anyway). Undefined when refused.
 */
export function confinedSymlinkTarget (linkPath: string, target: string): string | undefined {
  if (target === '' || target.startsWith('/') || target.includes('\0')) return undefined
  const stack = parentOf(linkPath) === '' ? [] : parentOf(linkPath).split('/')
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue
    if (c === '..') {
      if (stack.length === 0) return undefined
      stack.pop()
    } else {
      stack.push(c)
    }
  }
  return target
}

type Wanted = { kind: 'symlink', target: string } | { kind: 'fifo' | 'socket' }

/** What a SET_REPARSE_POINT buffer asks for, or why it is refused. */
function wanted (open: Open, input: Buffer): Wanted {
  const { tag, data } = decodeReparseBuffer(input)
  const refuse = (why: string): NtStatusError => new NtStatusError(NtStatus.ACCESS_DENIED, `reparse point on ${open.path}: ${why}`)
  const symlink = (target: string): Wanted => {
    const t = confinedSymlinkTarget(open.path, target)
    if (t === undefined) throw refuse(`symlink target ${JSON.stringify(target)} is absolute or leads outside the share`)
    return { kind: 'symlink', target: t }
  }
  switch (tag) {
    case IO_REPARSE_TAG_SYMLINK: {
      const s = decodeSymlinkReparse(data)
      if ((s.flags & SYMLINK_FLAG_RELATIVE) === 0) throw refuse(`absolute symlink target ${JSON.stringify(s.substituteName)}`)
      return symlink(s.substituteName.replaceAll('\\', '/'))
    }
    case IO_REPARSE_TAG_LX_SYMLINK:
      return symlink(decodeLxSymlinkReparse(data))
    case IO_REPARSE_TAG_NFS: {
      const n = decodeNfsReparse(data)
      if (n.type === 'symlink') return symlink(n.target)
      if (n.type === 'chr' || n.type === 'blk') throw refuse('device nodes are not made for clients')
      return { kind: n.type }
    }
    case IO_REPARSE_TAG_LX_FIFO:
      return { kind: 'fifo' }
    case IO_REPARSE_TAG_AF_UNIX:
      return { kind: 'socket' }
    case IO_REPARSE_TAG_LX_CHR:
    case IO_REPARSE_TAG_LX_BLK:
      throw refuse('device nodes are not made for clients')
    default:
      throw new NtStatusError(NtStatus.IO_REPARSE_TAG_NOT_HANDLED, `reparse tag 0x${tag.toString(16)} on ${open.path}: only symlinks, FIFOs and sockets are kept`)
  }
}

/** FSCTL_SET_REPARSE_POINT: the open's empty file becomes the symlink, FIFO or socket asked for. */
export async function setReparsePoint (ctx: RequestContext, input: Buffer): Promise<void> {
  const open = ctx.open
  if (open === undefined || open.file === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'SET_REPARSE_POINT needs a file open')
  const { server } = ctx
  const tree = open.tree
  const fs = tree.fs!
  // Samba's rule: a handle that may change the file's data or attributes.
  if ((open.grantedAccess & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_WRITE_ATTRIBUTES)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'SET_REPARSE_POINT on a read-only handle')
  if (open.isDirectory || open.stream !== undefined) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'a reparse point is set on a file here, not a directory or a stream')
  let w: Wanted
  try {
    w = wanted(open, input)
  } catch (e) {
    if (e instanceof NtStatusError && e.status === NtStatus.ACCESS_DENIED) server.log.info(`${tree.shareName}: ${e.message}`)
    throw e
  }
  const st = await open.file.stat().catch((e: unknown) => { throw ntStatusErrorFromErrno(e) })
  if ((st.mode & S_IFMT) !== 0o100000) throw new NtStatusError(NtStatus.IO_REPARSE_TAG_MISMATCH, `${open.path} is already a reparse point`)
  // Nothing is lost: only an empty file is replaced, and only when this is its only open.
  if (st.endOfFile !== 0n) throw new NtStatusError(NtStatus.ACCESS_DENIED, `reparse point on ${open.path}: the file has data`)
  if (open.shareModeKey !== undefined && server.locks.openCount(open.shareModeKey) > 1) throw new NtStatusError(NtStatus.SHARING_VIOLATION, `reparse point on ${open.path}: the file is open elsewhere`)
  if ((w.kind === 'symlink' ? fs.symlink : fs.mknod) === undefined) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'this share\'s storage keeps no symlinks or special files')
  try {
    if (w.kind === 'symlink') await fs.symlink!(w.target, open.path, true)
    else await fs.mknod!(open.path, w.kind, st.mode & 0o777, true)
  } catch (e) { throw ntStatusErrorFromErrno(e, 'rename', open.path) }
  server.log.debug('vfs', `${tree.shareName}/${open.path}: reparse point set: ${w.kind === 'symlink' ? `symlink to ${w.target}` : w.kind}`)
  // The open now describes what is there (a handle on the name itself); the replaced file's
  // descriptor goes.
  const old = open.file
  try {
    open.file = await fs.open(open.path, { write: false, pathOnly: true })
  } catch (e) {
    server.log.warn(`${tree.shareName}/${open.path}: reparse point set, but not reopened: ${(e as Error).message}`)
  }
  if (open.file !== old) await old.close().catch(() => {})
  await breakParentLeases(server, tree, open.path, open.parentLeaseId)
}

/**
 * FSCTL_DELETE_REPARSE_POINT (MS-FSA 2.1.5.10.6): the symlink, FIFO or socket the open is on
 * becomes an empty regular file again (made beside it and renamed over it, so the name never
 * goes missing). The buffer names the tag and carries no data: another tag is
 * IO_REPARSE_TAG_MISMATCH, data IO_REPARSE_DATA_INVALID, a file that is no reparse point
 * NOT_A_REPARSE_POINT.
 */
export async function deleteReparsePoint (ctx: RequestContext, input: Buffer): Promise<void> {
  const open = ctx.open
  if (open === undefined || open.file === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DELETE_REPARSE_POINT needs a file open')
  const { server } = ctx
  const tree = open.tree
  const fs = tree.fs!
  if ((open.grantedAccess & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_WRITE_ATTRIBUTES)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'DELETE_REPARSE_POINT on a read-only handle')
  const st = await open.file.stat().catch((e: unknown) => { throw ntStatusErrorFromErrno(e) })
  const tag = posixReparseTag(st.mode)
  if (tag === 0) throw new NtStatusError(NtStatus.NOT_A_REPARSE_POINT)
  const { tag: given, data } = decodeReparseBuffer(input)
  if (data.length !== 0) throw new NtStatusError(NtStatus.IO_REPARSE_DATA_INVALID, 'DELETE_REPARSE_POINT with data')
  if (given !== tag) throw new NtStatusError(NtStatus.IO_REPARSE_TAG_MISMATCH, `${open.path} has tag 0x${tag.toString(16)}, not 0x${given.toString(16)}`)
  if ((st.mode & S_IFMT) === 0o020000 || (st.mode & S_IFMT) === 0o060000) throw new NtStatusError(NtStatus.ACCESS_DENIED, `${open.path} is a device`)
  const tmp = `${parentOf(open.path) === '' ? '' : parentOf(open.path) + '/'}.smbts-new-${process.pid}-${randomBytes(6).toString('hex')}`
  let made
  try {
    made = await fs.open(tmp, { write: true, create: 'new', mode: (st.mode & 0o777) || 0o644 })
    await fs.rename(tmp, open.path, true)
  } catch (e) {
    await made?.close().catch(() => {})
    await fs.unlink(tmp, false).catch(() => {})
    throw ntStatusErrorFromErrno(e, 'rename', open.path)
  }
  server.log.debug('vfs', `${tree.shareName}/${open.path}: reparse point deleted (an empty file now)`)
  const old = open.file
  open.file = made
  await old.close().catch(() => {})
  await breakParentLeases(server, tree, open.path, open.parentLeaseId)
}

/**
 * FSCTL_GET_REPARSE_POINT: a symlink's target as IO_REPARSE_TAG_SYMLINK (relative targets with
 * SYMLINK_FLAG_RELATIVE and backslashes), a FIFO or socket as IO_REPARSE_TAG_NFS; anything else
 * is not a reparse point. MS-FSA 2.1.5.10.17: a buffer too small for the header is
 * BUFFER_TOO_SMALL, one too small for the rest gets what fits and BUFFER_OVERFLOW.
 */
export async function getReparsePoint (ctx: RequestContext, maxOutput: number): Promise<{ output: Buffer, status: number }> {
  const open = ctx.open
  if (open === undefined || open.file === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'GET_REPARSE_POINT needs a file open')
  const tree = open.tree
  const st = await open.file.stat().catch((e: unknown) => { throw ntStatusErrorFromErrno(e) })
  let out: Buffer
  switch (st.mode & S_IFMT) {
    case 0o120000: {
      const fs = tree.fs!
      if (fs.readlink === undefined) throw new NtStatusError(NtStatus.NOT_A_REPARSE_POINT)
      let target: string
      try { target = await fs.readlink(open.path) } catch (e) { throw ntStatusErrorFromErrno(e, undefined, open.path) }
      const relative = !target.startsWith('/')
      const name = target.replaceAll('/', '\\')
      out = encodeSymlinkReparse({ substituteName: name, printName: name, flags: relative ? SYMLINK_FLAG_RELATIVE : 0 })
      break
    }
    case 0o010000:
      out = encodeNfsReparse({ type: 'fifo' })
      break
    case 0o140000:
      out = encodeNfsReparse({ type: 'socket' })
      break
    case 0o020000:
    case 0o060000:
      // A device's numbers are not carried in a Stat: refused rather than answered wrong.
      throw new NtStatusError(NtStatus.IO_REPARSE_TAG_NOT_HANDLED, `${open.path} is a device`)
    default:
      throw new NtStatusError(NtStatus.NOT_A_REPARSE_POINT)
  }
  if (maxOutput < REPARSE_HEADER_SIZE) throw new NtStatusError(NtStatus.BUFFER_TOO_SMALL)
  if (out.length > maxOutput) return { output: out.subarray(0, maxOutput), status: NtStatus.BUFFER_OVERFLOW }
  return { output: out, status: NtStatus.SUCCESS }
}

/** MS-SMB2 2.2.2.2.1 SymLinkErrorTag ("SYML"). */
const SYMLINK_ERROR_TAG = 0x4C4D5953
/** MS-SMB2 2.2.2.1 ErrorId SMB2_ERROR_ID_DEFAULT. */
const SMB2_ERROR_ID_DEFAULT = 0

/**
 * The SMB2 ERROR Response (MS-SMB2 2.2.2) of STATUS_STOPPED_ON_SYMLINK: its ErrorData the
 * Symbolic Link Error Response (2.2.2.2.1) of the target (SYMLINK_FLAG_RELATIVE unless it
 * starts with '/'), in one error context on 3.1.1
 * (2.2.2.1, ErrorId SMB2_ERROR_ID_DEFAULT), bare before. The whole path named the link itself
 * (UnparsedPathLength 0).
 */
export function symlinkErrorBody (target: string, dialect311: boolean): Buffer {
  const relative = !target.startsWith('/')
  const name = Buffer.from(target.replaceAll('/', '\\'), 'utf16le')
  const path = Buffer.concat([name, name])
  const sym = Buffer.alloc(28 + path.length)
  sym.writeUInt32LE(sym.length - 4, 0) // SymLinkLength: all that follows it
  sym.writeUInt32LE(SYMLINK_ERROR_TAG, 4)
  sym.writeUInt32LE(IO_REPARSE_TAG_SYMLINK, 8)
  sym.writeUInt16LE(12 + path.length, 12) // ReparseDataLength, as the reparse buffer's
  sym.writeUInt16LE(0, 14) // UnparsedPathLength
  sym.writeUInt16LE(0, 16) // SubstituteNameOffset
  sym.writeUInt16LE(name.length, 18)
  sym.writeUInt16LE(name.length, 20) // PrintNameOffset
  sym.writeUInt16LE(name.length, 22)
  sym.writeUInt32LE(relative ? SYMLINK_FLAG_RELATIVE : 0, 24)
  path.copy(sym, 28)
  let data = sym
  if (dialect311) {
    data = Buffer.alloc(8 + sym.length)
    data.writeUInt32LE(sym.length, 0) // ErrorDataLength
    data.writeUInt32LE(SMB2_ERROR_ID_DEFAULT, 4)
    sym.copy(data, 8)
  }
  const body = Buffer.alloc(8 + data.length)
  body.writeUInt16LE(9, 0)
  body[2] = dialect311 ? 1 : 0 // ErrorContextCount
  body.writeUInt32LE(data.length, 4) // ByteCount
  data.copy(body, 8)
  return body
}

/**
 * The STATUS_STOPPED_ON_SYMLINK reply for a CREATE that named the symlink at `rel` (not followed
 * by the share): the client follows it itself, as it follows a symlink on any network file
 * system (Samba answers so too); the server never reads through it, whatever its target. One
 * whose target leads outside the share is so shown rather than refused, so a client can still
 * see and remove it. Undefined when the link cannot be read (then refused as before).
 */
export async function stoppedOnSymlink (ctx: RequestContext, rel: string): Promise<{ status: number, body: Buffer } | undefined> {
  const fs = ctx.tree!.fs!
  if (fs.readlink === undefined) return undefined
  let target: string
  try { target = await fs.readlink(rel) } catch { return undefined }
  if (target === '' || target.length > 8192) return undefined
  if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `${ctx.tree!.shareName}/${rel}: a symlink to ${target}: STATUS_STOPPED_ON_SYMLINK`)
  return { status: NtStatus.STOPPED_ON_SYMLINK, body: symlinkErrorBody(target, ctx.conn.dialect === Dialect.SMB3_11) }
}
