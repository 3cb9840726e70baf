// MS-FSA 2.1.5.1.2.1: share-mode checks between opens of the same file. In-process for now; the
// store interface lets a later version share this state across workers.
import { AccessMask, ShareAccess } from '../wire/constants.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'

const READ_LIKE = AccessMask.FILE_READ_DATA | AccessMask.FILE_EXECUTE
const WRITE_LIKE = AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA
const DATA_ACCESS = READ_LIKE | WRITE_LIKE | AccessMask.DELETE

/** A file's key in the share-mode table and the oplock store: its share and its inode number. */
export const fileKey = (shareName: string, indexNumber: bigint): string => `${shareName}\0${indexNumber}`

export interface ShareModeEntry { access: number, shareAccess: number }

interface FileState { opens: Set<ShareModeEntry>, deletePending: boolean }

export class ShareModeTable {
  private readonly files = new Map<string, FileState>()

  private static conflicts (a: ShareModeEntry, b: ShareModeEntry): boolean {
    // MS-FSA 2.1.5.1.2.2: only opens with data access (read, execute, write, append, delete)
    // take part in sharing; an attributes-only open neither conflicts nor is conflicted with.
    if ((a.access & DATA_ACCESS) === 0 || (b.access & DATA_ACCESS) === 0) return false
    const one = (x: ShareModeEntry, y: ShareModeEntry): boolean =>
      ((x.access & READ_LIKE) !== 0 && (y.shareAccess & ShareAccess.READ) === 0) ||
      ((x.access & WRITE_LIKE) !== 0 && (y.shareAccess & ShareAccess.WRITE) === 0) ||
      ((x.access & AccessMask.DELETE) !== 0 && (y.shareAccess & ShareAccess.DELETE) === 0)
    return one(a, b) || one(b, a)
  }

  /**
   * Throws STATUS_SHARING_VIOLATION if an open with `entry`'s access and sharing would conflict
   * with the opens of `key`, without registering anything (an open the object store makes for an
   * instant, such as the target directory of a rename).
   */
  check (key: string, entry: ShareModeEntry): void {
    const st = this.files.get(key)
    if (st === undefined) return
    for (const o of st.opens) if (ShareModeTable.conflicts(o, entry)) throw new NtStatusError(NtStatus.SHARING_VIOLATION)
  }

  /** Whether an open with `entry`'s access and sharing would conflict with the opens of `key`. */
  conflicts (key: string, entry: ShareModeEntry): boolean {
    const st = this.files.get(key)
    if (st === undefined) return false
    for (const o of st.opens) if (ShareModeTable.conflicts(o, entry)) return true
    return false
  }

  /** Registers an open, or throws STATUS_SHARING_VIOLATION / STATUS_DELETE_PENDING. */
  acquire (key: string, entry: ShareModeEntry): () => void {
    let st = this.files.get(key)
    if (st?.deletePending) throw new NtStatusError(NtStatus.DELETE_PENDING)
    if (st) {
      for (const o of st.opens) if (ShareModeTable.conflicts(o, entry)) throw new NtStatusError(NtStatus.SHARING_VIOLATION)
    } else {
      st = { opens: new Set(), deletePending: false }
      this.files.set(key, st)
    }
    st.opens.add(entry)
    const state = st
    return () => {
      state.opens.delete(entry)
      if (state.opens.size === 0 && this.files.get(key) === state) this.files.delete(key)
    }
  }

  setDeletePending (key: string, pending: boolean): void {
    const st = this.files.get(key)
    if (st) st.deletePending = pending
  }

  isDeletePending (key: string): boolean {
    return this.files.get(key)?.deletePending ?? false
  }

  openCount (key: string): number {
    return this.files.get(key)?.opens.size ?? 0
  }
}
