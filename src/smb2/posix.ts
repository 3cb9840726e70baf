// SMB 3.1.1 POSIX extensions (Samba's `smb3 unix extensions`; no MS document: Samba's
// source3/smbd/smb2_negprot.c, smb2_create.c, smb2_posix.c and the Linux client are the
// reference). What the handlers ask of them:
// - NEGOTIATE: the SMB2_POSIX_EXTENSIONS_AVAILABLE context naming the one variant there is
//   (POSIX_EXTENSIONS_ID) is answered with it when the server offers the extensions;
// - CREATE: on such a connection, the POSIX create context makes the open a POSIX one: a new
//   file or directory gets the context's mode (narrowed by `create mask` / `directory mask`, as
//   Samba applies them, but not by the server's umask), the name is matched exactly (POSIX
//   names are case-sensitive), and the answer carries the file's link count, reparse tag, mode,
//   owner and group SIDs;
// - QUERY_INFO / QUERY_DIRECTORY: the POSIX information level (100) on a POSIX open only;
// - a POSIX open (or one with FILE_OPEN_REPARSE_POINT) of a FIFO, device, socket or symlink is a
//   handle on the name itself, for its attributes and its removal (posixSpecialOpen);
// - SET_INFO of a descriptor of one S-1-5-88-3-<mode> ACE on a POSIX open is a chmod.
// Hard links (commands/link-info.ts) and reparse points (commands/reparse.ts) serve POSIX and
// Windows clients alike.
// Owners and groups are the Unix ones (S-1-22-1-uid, S-1-22-2-gid), the same SIDs as the
// security descriptors made from a file's owner (src/auth/idmap.ts names them).
import type { Smb2Connection } from './connection.js'
import type { RequestContext } from './context.js'
import type { CreateContext, CreateRequest } from './commands/create.wire.js'
import type { NegotiateContext } from './commands/negotiate.wire.js'
import type { Open } from '../session/model.js'
import type { Stat, VfsFile } from '../vfs/backend.js'
import { AccessMask, CreateDisposition, NegotiateContextType } from '../wire/constants.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import { unixGroupSid, unixUserSid } from '../wire/dtyp/sid.js'
import { DACL_SECURITY_INFORMATION, parseSecurityDescriptor } from '../wire/dtyp/security-descriptor.js'
import {
  FILE_POSIX_INFORMATION, POSIX_CREATE_CONTEXT_NAME, POSIX_EXTENSIONS_ID, decodePosixCreateContext, encodeFilePosixInformation, encodePosixCreateResponse,
  type PosixFileInfo,
} from '../wire/fscc/posix-info.js'

/**
 * The answer to a client's SMB2_POSIX_EXTENSIONS_AVAILABLE context, or undefined when the
 * extensions are off or the client names no variant smbts speaks (Samba ignores the context
 * then). Marks the connection.
 */
export function negotiatePosix (conn: Smb2Connection, ids: readonly Buffer[]): NegotiateContext | undefined {
  if (!conn.server.config.global.smb3UnixExtensions) return undefined
  if (!ids.some(id => id.equals(POSIX_EXTENSIONS_ID))) {
    if (conn.server.log.wants('smb')) conn.server.log.debug('smb', `${conn.io.remoteAddress} asked for POSIX extensions of an unknown variant`)
    return undefined
  }
  conn.posixExtensions = true
  if (conn.server.log.wants('smb')) conn.server.log.debug('smb', `SMB 3.1.1 POSIX extensions negotiated with ${conn.io.remoteAddress}`)
  return { type: NegotiateContextType.POSIX_EXTENSIONS_AVAILABLE, data: Buffer.from(POSIX_EXTENSIONS_ID) }
}

/**
 * The POSIX create context of a CREATE, decoded (the new object's permission bits), when the
 * connection negotiated the extensions and the share has them (`smb3 unix extensions`, per
 * share as in Samba); undefined otherwise (the context is then an unknown one, ignored as
 * MS-SMB2 3.3.5.9 ignores those).
 */
export function posixCreateRequest (ctx: RequestContext, req: CreateRequest): { mode: number } | undefined {
  if (!ctx.conn.posixExtensions || ctx.tree?.share?.smb3UnixExtensions === false) return undefined
  const c = req.contexts.find(x => x.name === POSIX_CREATE_CONTEXT_NAME)
  return c === undefined ? undefined : decodePosixCreateContext(c.data)
}

/** A file's stat as the POSIX structures describe it. */
export function posixInfoOf (st: Stat): PosixFileInfo {
  return { info: st, mode: st.mode, owner: unixUserSid(st.uid), group: unixGroupSid(st.gid) }
}

/** The POSIX create context's answer for the file a POSIX CREATE opened. */
export function posixCreateResponse (st: Stat): CreateContext {
  return { name: POSIX_CREATE_CONTEXT_NAME, data: encodePosixCreateResponse(posixInfoOf(st)) }
}

/**
 * QUERY_INFO FilePosixInformation: on a POSIX open only (Samba: STATUS_INVALID_LEVEL otherwise);
 * a buffer too small for it is STATUS_INFO_LENGTH_MISMATCH, as for the other fixed-size levels.
 */
export function queryPosixInformation (open: Open, st: Stat, outputBufferLength: number): Buffer {
  if (!open.posix) throw new NtStatusError(NtStatus.INVALID_LEVEL, 'FilePosixInformation on an open made without the POSIX create context')
  const data = encodeFilePosixInformation(posixInfoOf(st))
  if (data.length > outputBufferLength) throw new NtStatusError(NtStatus.INFO_LENGTH_MISMATCH, `FilePosixInformation needs ${data.length} bytes`)
  return data
}

/**
 * Whether a QUERY_DIRECTORY of `infoClass` lists SMB2_FIND_POSIX_INFORMATION entries: only on
 * a POSIX open of the directory (Samba: STATUS_INVALID_LEVEL otherwise).
 */
export function posixListing (open: Open, infoClass: number): boolean {
  if (infoClass !== FILE_POSIX_INFORMATION) return false
  if (!open.posix) throw new NtStatusError(NtStatus.INVALID_LEVEL, 'SMB2_FIND_POSIX_INFORMATION on an open made without the POSIX create context')
  return true
}

/**
 * A POSIX open's name (Samba check_path_syntax with posix_path): '/' is the only separator (the
 * Linux client sends POSIX paths on such a mount), repeated ones and '.' components are dropped,
 * ':' and '\' are ordinary characters (no stream names). '..' is refused
 * (OBJECT_PATH_SYNTAX_BAD), as in any other name: the kernel resolves beneath the share anyway,
 * and a client has no reason to send one. A NUL, or a component over 255 bytes, is
 * OBJECT_NAME_INVALID.
 */
export function posixPathToRelative (name: string): string {
  if (name.length > 32767) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'name too long')
  const parts: string[] = []
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue
    if (p === '..') throw new NtStatusError(NtStatus.OBJECT_PATH_SYNTAX_BAD, 'dot-dot component')
    if (p.includes('\0')) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'NUL in a name')
    if (Buffer.byteLength(p, 'utf8') > 255) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'component longer than 255 bytes')
    parts.push(p)
  }
  return parts.join('/')
}

/**
 * Gives a file a POSIX create just made the permission bits it asked for (the share's masks
 * already applied): the open that created it was subject to the server's umask, and an inherited
 * DACL may have moved its mode. A file system that refuses keeps what it has, said in the log.
 */
export async function applyPosixMode (ctx: RequestContext, file: VfsFile, rel: string, mode: number): Promise<void> {
  if (file.chmod === undefined) return
  try {
    const st = await file.stat()
    if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `${ctx.tree!.shareName}/${rel}: POSIX create, mode ${mode.toString(8)} (was ${(st.mode & 0o7777).toString(8)})`)
    if ((st.mode & 0o7777) !== mode) await file.chmod(mode)
  } catch (e) {
    ctx.server.log.warn(`${ctx.tree!.shareName}/${rel}: POSIX mode ${mode.toString(8)} not set: ${(e as Error).message}`)
  }
}

/**
 * What an open of a FIFO, device, socket or symlink itself may ask: its attributes, its removal,
 * and FILE_WRITE_ATTRIBUTES, which FSCTL_DELETE_REPARSE_POINT needs and which sets its times (of
 * the name itself: a symlink is not followed).
 */
const SPECIAL_OPEN_ACCESS = AccessMask.FILE_READ_ATTRIBUTES | AccessMask.FILE_WRITE_ATTRIBUTES | AccessMask.FILE_READ_EA | AccessMask.SYNCHRONIZE | AccessMask.DELETE

/**
 * Whether a CREATE of an existing special file (FIFO, device, socket) or symlink is opened as a
 * handle on the name itself (OpenOptions.pathOnly) rather than refused with
 * IO_REPARSE_TAG_NOT_HANDLED: only a POSIX open or one with FILE_OPEN_REPARSE_POINT (whose
 * client knows what it is looking at, as Samba 4.23 lets it), only
 * FILE_OPEN or FILE_OPEN_IF, and only for attributes and deletion (a FIFO's data is no file's,
 * and opening it for I/O would wait for a peer).
 */
export function posixSpecialOpen (itself: boolean, access: number, disposition: number): boolean {
  return itself && (access & ~SPECIAL_OPEN_ACCESS) === 0 && (disposition === CreateDisposition.OPEN || disposition === CreateDisposition.OPEN_IF)
}

/** S-1-5-88-3: the MS NFS mode SIDs (S-1-5-88-3-<mode>), how a POSIX client says chmod. */
const NFS_MODE_AUTHORITY = 5n

/**
 * The mode a POSIX client's SET_INFO of a security descriptor asks for, when it is a chmod in
 * disguise (Samba smb2_nttrans.c check_smb2_posix_chmod_ace): on a POSIX open, a DACL of exactly
 * one ACE whose trustee is S-1-5-88-3-<mode>. Undefined for any other descriptor (set as one).
 * Only the permission bits count (rwx for user, group and other), as Samba takes them.
 */
export function posixChmodOf (open: Open, securityInformation: number, sd: Buffer): number | undefined {
  if (!open.posix || (securityInformation & DACL_SECURITY_INFORMATION) === 0) return undefined
  let parsed
  try { parsed = parseSecurityDescriptor(sd) } catch { return undefined }
  const aces = parsed.dacl?.aces
  if (aces?.length !== 1) return undefined
  const sid = aces[0]!.sid
  if (sid === undefined || sid.identifierAuthority !== NFS_MODE_AUTHORITY || sid.subAuthorities.length !== 3 ||
    sid.subAuthorities[0] !== 88 || sid.subAuthorities[1] !== 3) return undefined
  return sid.subAuthorities[2]! & 0o777
}
