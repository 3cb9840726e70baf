// The one errno → NTSTATUS map (CONVENTIONS 6). Backends throw Node/libuv errors (code 'ENOENT',
// errno -2) or native ones (positive errno); handlers throw ntStatusErrorFromErrno(e, context?).
//
// Choices where Linux and Windows do not line up one to one:
// - ENOENT → OBJECT_NAME_NOT_FOUND. When a *parent* component is missing Windows says
//   OBJECT_PATH_NOT_FOUND; the backend knows which, so it calls ntStatusFromPathErrno(e, 'parent').
// - ENOTDIR → OBJECT_PATH_NOT_FOUND (a file used as a directory in the middle of a path, as Samba
//   maps it); on the final component (open with FILE_DIRECTORY_FILE) → NOT_A_DIRECTORY via
//   ntStatusFromPathErrno(e, 'final').
// - EXDEV: from openat2(RESOLVE_BENEATH) it means the path (a symlink, or `..`) leaves the share
//   → ACCESS_DENIED, the answer for a resolvable name the client may not reach. A lexical `..`
//   above the share root never gets here: the path parser rejects it with OBJECT_PATH_SYNTAX_BAD,
//   as Samba does. From rename/link, EXDEV is NOT_SAME_DEVICE: the 'rename' context.
// - ELOOP (RESOLVE_NO_SYMLINKS / O_NOFOLLOW met a symlink the share does not follow, or a loop)
//   → ACCESS_DENIED. STOPPED_ON_SYMLINK is only meaningful with the MS-SMB2 2.2.2.2.1 symlink
//   error response, which the CREATE handler must build itself before falling back here.
// - ENODATA/ENOATTR (missing xattr) → NOT_FOUND, as Samba maps ENOATTR; EA and stream handlers
//   that need NONEXISTENT_EA_ENTRY or OBJECT_NAME_NOT_FOUND check for it first.
// - EAGAIN/EWOULDBLOCK (a non-blocking fcntl lock) → FILE_LOCK_CONFLICT.
// - SMBTS_ERR_SPECIAL_FILE (backend.ts: a FIFO, device or socket the backend refused to open) →
//   IO_REPARSE_TAG_NOT_HANDLED, Samba's answer for a file that is neither a file nor a directory.
// - SMBTS_ERR_STREAM_TOO_LARGE (streams.ts: a stream would outgrow an xattr value) →
//   FILE_SYSTEM_LIMITATION, what Samba answers for a stream write past its xattr (smb2_write.c).
// - Unknown errno → UNSUCCESSFUL (the generic failure, as Samba's default); something that is
//   not an errno error at all → INTERNAL_ERROR (a bug, not an I/O condition).
import { constants as osConstants } from 'node:os'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import { SPECIAL_FILE_CODE } from './backend.js'
import { STREAM_TOO_LARGE_CODE } from './streams.js'

export const ERRNO_TO_NTSTATUS: Readonly<Record<string, number>> = Object.freeze({
  EPERM: NtStatus.ACCESS_DENIED,
  EACCES: NtStatus.ACCESS_DENIED,
  ENOENT: NtStatus.OBJECT_NAME_NOT_FOUND,
  EEXIST: NtStatus.OBJECT_NAME_COLLISION,
  ENOTDIR: NtStatus.OBJECT_PATH_NOT_FOUND,
  EISDIR: NtStatus.FILE_IS_A_DIRECTORY,
  ENOTEMPTY: NtStatus.DIRECTORY_NOT_EMPTY,
  EXDEV: NtStatus.ACCESS_DENIED,
  ELOOP: NtStatus.ACCESS_DENIED,
  ENOSPC: NtStatus.DISK_FULL,
  EDQUOT: NtStatus.DISK_FULL,
  EFBIG: NtStatus.DISK_FULL,
  EMFILE: NtStatus.TOO_MANY_OPENED_FILES,
  ENFILE: NtStatus.TOO_MANY_OPENED_FILES,
  ENAMETOOLONG: NtStatus.OBJECT_NAME_INVALID,
  EILSEQ: NtStatus.OBJECT_NAME_INVALID,
  EROFS: NtStatus.MEDIA_WRITE_PROTECTED,
  EBADF: NtStatus.INVALID_HANDLE,
  ESTALE: NtStatus.INVALID_HANDLE,
  EINVAL: NtStatus.INVALID_PARAMETER,
  EBUSY: NtStatus.SHARING_VIOLATION,
  ETXTBSY: NtStatus.SHARING_VIOLATION,
  ENOTSUP: NtStatus.NOT_SUPPORTED,
  EOPNOTSUPP: NtStatus.NOT_SUPPORTED,
  ENOSYS: NtStatus.NOT_SUPPORTED,
  ENODATA: NtStatus.NOT_FOUND,
  ENOATTR: NtStatus.NOT_FOUND,
  E2BIG: NtStatus.EA_TOO_LARGE,
  ERANGE: NtStatus.BUFFER_TOO_SMALL,
  EMLINK: NtStatus.TOO_MANY_LINKS,
  EIO: NtStatus.IO_DEVICE_ERROR,
  ENXIO: NtStatus.NO_SUCH_DEVICE,
  ENODEV: NtStatus.NO_SUCH_DEVICE,
  ENOMEM: NtStatus.NO_MEMORY,
  EAGAIN: NtStatus.FILE_LOCK_CONFLICT,
  EWOULDBLOCK: NtStatus.FILE_LOCK_CONFLICT,
  ENOLCK: NtStatus.LOCK_NOT_GRANTED,
  EDEADLK: NtStatus.LOCK_NOT_GRANTED,
  ECANCELED: NtStatus.CANCELLED,
  EINTR: NtStatus.CANCELLED,
  ETIMEDOUT: NtStatus.IO_TIMEOUT,
  EFAULT: NtStatus.INVALID_PARAMETER,
  EOVERFLOW: NtStatus.INVALID_PARAMETER
})

// errno number → name, for errors that carry only a number (native ops; libuv's are negative).
const errnoNames = new Map<number, string>()
for (const [name, num] of Object.entries(osConstants.errno)) {
  if (!errnoNames.has(num) || name in ERRNO_TO_NTSTATUS) errnoNames.set(num, name)
}

export interface ErrnoLike { code?: string, errno?: number }

/** The errno name of an error ('ENOENT'), or undefined when it carries none. */
export function errnoCode (err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const { code, errno } = err as ErrnoLike
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code
  if (typeof errno === 'number' && errno !== 0) return errnoNames.get(Math.abs(errno))
  return undefined
}

/** Map an errno error (or an NtStatusError, passed through) to an NTSTATUS. */
export function ntStatusFromErrno (err: unknown): number {
  if (err instanceof NtStatusError) return err.status
  const code = errnoCode(err)
  if (code === undefined) {
    const own = (err as ErrnoLike | null)?.code
    if (own === STREAM_TOO_LARGE_CODE) return NtStatus.FILE_SYSTEM_LIMITATION
    return own === SPECIAL_FILE_CODE ? NtStatus.IO_REPARSE_TAG_NOT_HANDLED : NtStatus.INTERNAL_ERROR
  }
  return ERRNO_TO_NTSTATUS[code] ?? NtStatus.UNSUCCESSFUL
}

/**
 * Path-resolution context: `parent` when the failing component is an intermediate directory,
 * `final` when it is the last one.
 */
export function ntStatusFromPathErrno (err: unknown, where: 'parent' | 'final'): number {
  const code = errnoCode(err)
  if (where === 'parent' && (code === 'ENOENT' || code === 'ENOTDIR')) return NtStatus.OBJECT_PATH_NOT_FOUND
  if (where === 'final' && code === 'ENOTDIR') return NtStatus.NOT_A_DIRECTORY
  return ntStatusFromErrno(err)
}

/**
 * rename(2)/link(2)/renameat2 context: EXDEV is a different file system, NOT_SAME_DEVICE;
 * replacing a non-empty directory (ENOTEMPTY/EEXIST from RENAME_NOREPLACE is a collision)
 * is ACCESS_DENIED as on Windows (MS-FSA 2.1.5.15.12: a directory target cannot be replaced).
 */
export function ntStatusFromRenameErrno (err: unknown): number {
  const code = errnoCode(err)
  if (code === 'EXDEV') return NtStatus.NOT_SAME_DEVICE
  if (code === 'ENOTEMPTY') return NtStatus.ACCESS_DENIED
  if (code === 'EEXIST') return NtStatus.OBJECT_NAME_COLLISION
  if (code === 'EISDIR') return NtStatus.ACCESS_DENIED
  return ntStatusFromErrno(err)
}

/**
 * Where an errno came from, when that changes what it means: a failing parent or final path
 * component (ntStatusFromPathErrno), or rename(2)/link(2) (ntStatusFromRenameErrno).
 */
export type ErrnoContext = 'parent' | 'final' | 'rename'

/**
 * The one way a handler turns a failed backend call into what it throws: an NtStatusError passes
 * through; anything else becomes an NtStatusError with the map's status (in `context`, when the
 * call gives the errno another meaning), a message for the log (naming `subject`, a path, when
 * given) and the original error as its cause.
 */
export function ntStatusErrorFromErrno (err: unknown, context?: ErrnoContext, subject?: string): NtStatusError {
  if (err instanceof NtStatusError) return err
  const status = context === undefined
    ? ntStatusFromErrno(err)
    : context === 'rename' ? ntStatusFromRenameErrno(err) : ntStatusFromPathErrno(err, context)
  const { code, message } = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown, message?: unknown }
  const text = typeof message === 'string' ? message : undefined
  const e = new NtStatusError(status, subject === undefined ? text : `${subject}: ${typeof code === 'string' ? code : text ?? String(err)}`)
  ;(e as Error & { cause?: unknown }).cause = err
  return e
}
