// The one storage interface (ARCHITECTURE: vfs). Handlers speak SMB semantics; a backend speaks
// share-relative paths ('/'-separated, '' = the share root) and file handles. Confinement to the
// share is the backend's job and, for posix backends, the kernel's (openat2 RESOLVE_BENEATH).
import type { NameIndexOptions } from './name-index.js'
import type { InlineCounters, InlineOptions } from './inline.js'
import type { FileInfo, FsInfo } from '../wire/fscc/types.js'
import type { SecurityDescriptor } from '../wire/dtyp/security-descriptor.js'
import type { Creator } from './dos-xattr.js'

/** The last component of a share-relative path (the whole path when it has one component). */
export function baseOf (path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** The directory a share-relative path is in ('' for the share root's entries). */
export function parentOf (path: string): string {
  const i = path.lastIndexOf('/')
  return i < 0 ? '' : path.slice(0, i)
}

export interface PosixIds {
  uid: number
  gid: number
  mode: number
  /**
   * Who created the file through smbts and gave it the default descriptor, which is then derived
   * from this rather than stored (src/smb2/file-security.ts): a RID of the server's domain (0 for
   * ANONYMOUS LOGON) and the mode's group and other bits then. Kept in the DOS record
   * (dos-xattr.ts); undefined otherwise.
   */
  creator?: Creator
}
export type Stat = FileInfo & PosixIds

/** What a special file is, for the log (S_IFMT values of a Stat's mode). */
const SPECIAL_FILE_TYPES: ReadonlyMap<number, string> = new Map([
  [0o010000, 'FIFO'], [0o020000, 'character device'], [0o060000, 'block device'], [0o140000, 'socket'],
])

/**
 * The kind of special file `st` is (FIFO, character or block device, socket), or undefined for
 * a regular file, a directory or a symlink. The server opens none of these for a client: the
 * open of a FIFO or a device may wait forever, and what it would read is no file's data
 * (Samba refuses them too). From the mode the stat already has: no call, no allocation.
 */
export function specialFileType (st: Pick<Stat, 'mode'>): string | undefined {
  const type = st.mode & 0o170000
  return type === 0o100000 || type === 0o040000 || type === 0o120000 ? undefined : SPECIAL_FILE_TYPES.get(type)
}

/**
 * The code (err.code) of the error a backend's open throws when what it opened turned out to be a
 * special file (the name was replaced after the caller's stat): errno.ts maps it.
 */
export const SPECIAL_FILE_CODE = 'SMBTS_ERR_SPECIAL_FILE'

export interface OpenOptions {
  /** Open for writing (read is always possible on a file). */
  write: boolean
  /** Must be a directory (O_DIRECTORY). */
  directory?: boolean
  /** 'new': fail if it exists (O_CREAT|O_EXCL); 'either': create if missing (O_CREAT). */
  create?: 'new' | 'either'
  truncate?: boolean
  mode?: number
  /**
   * Open the name itself, whatever it is (O_PATH, never following a symlink): a handle that can
   * only be stat'ed, closed and deleted by name. How a POSIX client looks at a FIFO, a device, a
   * socket or a symlink (src/smb2/posix.ts): nothing is read from it, nothing waits.
   */
  pathOnly?: boolean
}

export interface DirEntry { name: string, info: Stat }

/**
 * A FileBasicInformation-shaped change (MS-FSCC 2.4.7) in storage terms: every field undefined
 * leaves that item as it is. The handler has already resolved the wire's 0/-1/-2 meanings.
 */
export interface BasicInfoUpdate {
  /** FILETIMEs. */
  creationTime?: bigint
  lastAccessTime?: bigint
  lastWriteTime?: bigint
  /**
   * A ChangeTime to report from now on (until the data next changes). Undefined: the change just
   * made is the latest one, so the live ctime is reported (MS-FSA: LastChangeTime = CurrentTime).
   */
  changeTime?: bigint
  /**
   * The complete new set of DOS attributes (MS-FSCC 2.6 bits; DIRECTORY, NORMAL and bits the
   * backend cannot keep are ignored). Undefined keeps the current ones.
   */
  fileAttributes?: number
  /** Records the file's creator (PosixIds.creator); undefined keeps the one recorded, if any. */
  creator?: Creator
  /**
   * Records the file's EaSize (FileEaInformation's), which directory listings then report
   * (FileInfo.eaSize) without reading the EAs; undefined keeps the one recorded, if any.
   */
  eaSize?: number
}

export interface VfsFile {
  readonly isDirectory: boolean
  /**
   * Lends the file's descriptor for an op the backend does not run itself (the transport's
   * linked read→send on the ring): the handle counts it in flight, so close() waits for
   * `giveBack`, exactly as for its own reads. Undefined when closing, or for a backend without
   * descriptors on that ring.
   */
  lendFd?(): { fd: number, giveBack: () => void } | undefined
  /** The file's attributes as the open found them (a backend that learns them while opening
   *  offers them, so the CREATE that follows needs no second stat). */
  readonly openStat?: Stat
  /** `fixed`: `buf` is the ring's registered buffer in that slot (a backend on the ring reads
   *  with READ_FIXED; any other ignores it). */
  read (buf: Buffer, off: number, len: number, position: number, fixed?: number): Promise<number>
  write (buf: Buffer, off: number, len: number, position: number): Promise<number>
  sync (dataOnly: boolean): Promise<void>
  truncate (length: number): Promise<void>
  allocate (length: number): Promise<void>
  /** Zeros [offset, offset + length) and frees its blocks where the file system can (a hole; the size stays). */
  punchHole? (offset: number, length: number): Promise<void>
  /**
   * Makes [dstPos, dstPos + len) of this file share `src`'s blocks from srcPos (a reflink,
   * FICLONERANGE): nothing copied, all or nothing. errno errors: EOPNOTSUPP where the file system
   * has no reflinks, EINVAL for ranges it cannot share (not block-aligned), EXDEV across file systems.
   */
  cloneFrom? (src: VfsFile, srcPos: number, dstPos: number, len: number): Promise<void>
  /**
   * The ranges of [offset, offset + length) that hold data (not holes), in order; none past the
   * end; the first `max` of them when given (the caller has room for no more).
   */
  allocatedRanges? (offset: number, length: number, max?: number): Promise<Array<[number, number]>>
  /**
   * Copies `len` bytes of `src` from `srcPos` into this file at `dstPos` without the data passing
   * through JavaScript (copy_file_range: the kernel copies, or shares extents where the file
   * system can). Resolves with the bytes copied, fewer at the source's end. EXDEV when `src` is
   * not a file of this backend.
   */
  copyFrom (src: VfsFile, srcPos: number, dstPos: number, len: number): Promise<number>
  /**
   * Applies a FileBasicInformation change: times, and the DOS metadata Linux has no place for
   * (CreationTime, ChangeTime, HIDDEN/SYSTEM/ARCHIVE/...), so that stat() reports them after. Also
   * how a new file gets its initial record. A file system that cannot store the metadata keeps what
   * it can (times, READONLY) and the rest is reported from the file system as before.
   */
  setBasicInfo (u: BasicInfoUpdate): Promise<void>
  stat (): Promise<Stat>
  /**
   * The NT security descriptor stored for this file (Samba's security.NTACL, samba-ntacl.ts, or
   * our older user.smbts.ntacl record, ntacl-xattr.ts), or undefined when none is: the caller then
   * synthesises one from the POSIX owner and mode.
   */
  getSecurityDescriptor (): Promise<SecurityDescriptor | undefined>
  /** Stores `sd` (self-relative) as this file's descriptor; errno errors (EOPNOTSUPP: no user xattrs). */
  setSecurityDescriptor (sd: Buffer): Promise<void>
  /**
   * The file's user xattrs, where alternate data streams live (streams.ts): one value, undefined
   * when the file has none of that name (ENODATA); errno errors otherwise (EOPNOTSUPP: the file
   * system keeps no user xattrs).
   */
  getXattr? (name: string): Promise<Buffer | undefined>
  /** Sets one; `create`: EEXIST when it exists, `replace`: ENODATA when it does not. */
  setXattr? (name: string, value: Buffer, flags?: 'create' | 'replace'): Promise<void>
  /** The names of the file's xattrs (every namespace the caller may see). */
  listXattrs? (): Promise<string[]>
  /** Removes one (ENODATA when there is none). */
  removeXattr? (name: string): Promise<void>
  /** fchmod: sets the permission bits (the low 12) and keeps the file type. */
  chmod? (mode: number): Promise<void>
  /** Every entry of a directory, '.' and '..' included, each with its (lstat) info. */
  readdir (): Promise<DirEntry[]>
  /** lstat of one entry of this directory, by name (ENOENT once it is gone). */
  statEntry (name: string): Promise<Stat>
  /** lstat of several entries of this directory at once: undefined for one that is gone. */
  statEntries? (names: string[]): Promise<Array<Stat | undefined>>
  close (): Promise<void>
}

/** What resolveCase found for a share-relative path. */
export interface CaseResolution {
  /**
   * The path as stored: each leading component that exists is spelled as on disk, the components
   * from the first missing one on are kept as given.
   */
  path: string
  /**
   * How many leading components exist (the whole path exists when it equals their count); a
   * component that exists but is not a directory counts only when it is the last one.
   */
  existing: number
}

export interface ShareFs {
  readonly root: string
  /** Metadata calls made on the server's thread (inline.ts), when this share makes any: its counters. */
  readonly inline?: { readonly counters: InlineCounters }
  /**
   * Case-insensitive lookup (smb.conf `case sensitive = no`): finds, component by component, the
   * entry each name matches (case-fold.ts pickCaseMatch) by listing the directories beneath the
   * share. Callers ask only after the exact name missed (ENOENT): it costs a directory scan per
   * component not spelled as stored (a big directory's names are indexed between scans while
   * it is unchanged, vfs/name-index.ts). It never resolves outside the share: a directory it
   * may not look into (a symlink the share does not follow or one leading outside) rejects with
   * the error opening it gives (ELOOP, EXDEV, EACCES), as the exact spelling's lookup would.
   */
  resolveCase (path: string): Promise<CaseResolution>
  open (path: string, opts: OpenOptions): Promise<VfsFile>
  /**
   * The CREATE fast path for a name as spelled: opens what exists there, if it is a regular file
   * (for writing too when `write`) or a directory (read-only; `directory`: only a directory),
   * neither creating nor truncating, with its attributes in `openStat`: one step where stat()
   * then open() take two. Null: nothing exists under that name (what stat's ENOENT says).
   * Undefined: the backend cannot answer this way now (the caller stats and opens as usual, which
   * also says what anything else is). Opening has no effect the caller must undo: closing the
   * file is enough.
   */
  openExisting? (path: string, write: boolean, directory?: boolean): VfsFile | null | undefined
  /** lstat: a symlink is reported as itself, never followed (unless the share follows symlinks: then stat). */
  stat (path: string): Promise<Stat>
  /** lstat whatever the share's symlink policy: the last component is never followed. */
  lstat? (path: string): Promise<Stat>
  mkdir (path: string, mode: number): Promise<void>
  unlink (path: string, isDirectory: boolean): Promise<void>
  rename (from: string, to: string, replace: boolean): Promise<void>
  /**
   * link(2): a second name `to` for the file `from` (never a directory), both beneath the share;
   * `replace`: an existing `to` is replaced, atomically, else EEXIST. Absent on a backend without
   * hard links (the memory one): the caller answers STATUS_NOT_SUPPORTED.
   */
  link? (from: string, to: string, replace: boolean): Promise<void>
  /**
   * symlink(2): `path` becomes a symbolic link whose content is `target` (stored verbatim; the
   * caller checked it). `replace`: what is at `path` is replaced atomically. Absent: no symlinks.
   */
  symlink? (target: string, path: string, replace: boolean): Promise<void>
  /** readlink(2) of the symlink at `path` (EINVAL when it is not one). */
  readlink? (path: string): Promise<string>
  /**
   * mknod(2) of a FIFO or a socket at `path` with permission bits `mode` (never a device);
   * `replace` as for symlink. Absent: no special files.
   */
  mknod? (path: string, type: 'fifo' | 'socket', mode: number, replace: boolean): Promise<void>
  statfs (): Promise<FsInfo>
  /**
   * The file's identity as its file system gives it (the kernel's file handle: name_to_handle_at),
   * which names it across renames and restarts of the server; undefined where there is none.
   */
  identity? (file: VfsFile): Buffer | undefined
  /**
   * Where the file an identity names is now, beneath the share (its path, '/'-separated), or why
   * it cannot be said (gone, outside the share, the kernel refuses). For a restore only: slow path.
   */
  locate? (identity: Buffer): { path: string } | { why: string }
  /** Whether files of this share can share blocks (VfsFile.cloneFrom works): FILE_SUPPORTS_BLOCK_REFCOUNTING. */
  blockRefcounting? (): Promise<boolean>
  close (): Promise<void>
}

export interface ShareOptions {
  followSymlinks: boolean
  /** Report every dot file HIDDEN (smb.conf `hide dot files`); default true. */
  hideDotFiles?: boolean
  /** Keep DOS metadata Linux has no place for (smb.conf `store dos attributes`); default true. */
  storeDosAttributes?: boolean
  /** Where the backend reports a degraded capability (once per share), e.g. no user xattrs. */
  warn?: (msg: string) => void
  /** Tuning of the case-insensitive name index (name-index.ts); its defaults otherwise. */
  nameIndex?: NameIndexOptions
  /** Metadata calls on the server's thread (inline.ts; smb.conf `inline metadata`); 'auto' otherwise. */
  inline?: InlineOptions
}

export interface Backend {
  readonly name: string
  openShare (rootPath: string, opts: ShareOptions): Promise<ShareFs>
}
