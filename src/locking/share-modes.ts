// MS-FSA 2.1.5.1.2.1: share-mode checks between opens of the same file. The opens themselves are
// in the locking store (store.ts), whichever worker holds them.
import { AccessMask, ShareAccess } from '../wire/constants.js'

const READ_LIKE = AccessMask.FILE_READ_DATA | AccessMask.FILE_EXECUTE
const WRITE_LIKE = AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA
const DATA_ACCESS = READ_LIKE | WRITE_LIKE | AccessMask.DELETE

/** A file's key in the locking store: its share and its inode number. */
export const fileKey = (shareName: string, indexNumber: bigint): string => `${shareName}\0${indexNumber}`

export interface ShareModeEntry { access: number, shareAccess: number }

/**
 * MS-FSA 2.1.5.1.2.2: whether two opens of one file conflict. Only opens with data access (read,
 * execute, write, append, delete) take part in sharing; an attributes-only open neither conflicts
 * nor is conflicted with.
 */
export function sharingConflict (a: ShareModeEntry, b: ShareModeEntry): boolean {
  if ((a.access & DATA_ACCESS) === 0 || (b.access & DATA_ACCESS) === 0) return false
  return denied(a, b) || denied(b, a)
}

/** `x` uses an access `y` does not share. */
function denied (x: ShareModeEntry, y: ShareModeEntry): boolean {
  return ((x.access & READ_LIKE) !== 0 && (y.shareAccess & ShareAccess.READ) === 0) ||
    ((x.access & WRITE_LIKE) !== 0 && (y.shareAccess & ShareAccess.WRITE) === 0) ||
    ((x.access & AccessMask.DELETE) !== 0 && (y.shareAccess & ShareAccess.DELETE) === 0)
}
