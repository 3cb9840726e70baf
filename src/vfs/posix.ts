// The posix backend: every path is resolved by the kernel beneath the share's root fd with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS [| RESOLVE_NO_SYMLINKS]) through the native
// addon, so `..`, absolute paths and symlinks can never reach outside the share.
//
// Why one file of about 800 lines: PosixShare opens PosixFiles and a PosixFile stats, writes and
// closes through its share (statAt, statBatch, writeNow, closeFd); apart, the two files would
// import each other, a cycle `npm run cycles` refuses. What either needs that stands alone is
// already beside it (inline.ts, name-index.ts, dos-xattr.ts, ntacl-xattr.ts, case-fold.ts).
import { createHash, randomBytes } from 'node:crypto'
import { promises as fsp, constants as fsc } from 'node:fs'
import { constants as osConstants } from 'node:os'
import fs from 'node:fs'
import { getSystemErrorName, promisify } from 'node:util'
import { baseOf, SPECIAL_FILE_CODE, specialFileType, type Backend, type BasicInfoUpdate, type CaseResolution, type DirEntry, type OpenOptions, type ShareFs, type ShareOptions, type Stat, type VfsFile } from './backend.js'
import type { FsInfo } from '../wire/fscc/types.js'
import { errnoError, native, nativeAvailable, nativeLoadError, type Statx, type StatxXattr } from '../io/native.js'
import { InlineMetadata } from './inline.js'
import { decodeStatx, STATX_LAYOUT } from '../io/ring.js'
import { filetimeFromUnixNs, unixNsFromFiletime } from '../wire/filetime.js'
import {
  FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_NORMAL,
  FILE_ATTRIBUTE_READONLY, FILE_ATTRIBUTE_REPARSE_POINT,
} from '../wire/fscc/constants.js'
import { pickCaseMatch } from './case-fold.js'
import { DirNameIndex, type DirStamp } from './name-index.js'
import {
  DOS_STORED_ATTRIBUTES, DOS_XATTR_NAME, DOS_XATTR_READ_NAMES, LEGACY_DOS_XATTR_NAME, decodeDosRecord, encodeDosRecord, keepExtras, type DosRecord,
} from './dos-xattr.js'
import { NTACL_XATTR_NAME, decodeNtAclRecord, encodeNtAclRecord } from './ntacl-xattr.js'
import { encodeSecurityDescriptor, parseSecurityDescriptor, type SecurityDescriptor } from '../wire/dtyp/security-descriptor.js'
import {
  SAMBA_NTACL_XATTR_NAME, decodeSambaNtAcl, encodeSambaNtAclV4, parseLinuxPosixAcl, posixAclFromMode, sysAclHash, type PosixAclEntry,
} from './samba-ntacl.js'

const EAGAIN = osConstants.errno.EAGAIN
const EXDEV = osConstants.errno.EXDEV
const ENOENT = osConstants.errno.ENOENT
/** What a call that finished at once returns (never rejects, so shared). */
const RESOLVED: Promise<void> = Promise.resolve()
const fsRead = (fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => { fs.read(fd, buf, off, len, pos, (e, n) => { if (e) reject(e); else resolve(n) }) })
const fsWrite = (fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => { fs.write(fd, buf, off, len, pos, (e, n) => { if (e) reject(e); else resolve(n) }) })
const fsFsync = promisify(fs.fsync)
const fsFdatasync = promisify(fs.fdatasync)
const fsFtruncate = promisify(fs.ftruncate)
const fsClose = promisify(fs.close)
const fsOpen = promisify(fs.open)

const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
/** statx mask: the basic stats and the birth time. */
/** STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID (the mount: inline.ts calls stay on the share's own). */
const STATX_WANTED = 0x1fff
/** statx mask of a directory's stamp (name-index.ts): STATX_INO | STATX_MTIME | STATX_CTIME. */
const STAMP_MASK = 0x0100 | 0x0040 | 0x0080

/**
 * The syscalls a share's lookups and handles are made of: openat2, statx (alone, or with the DOS
 * record's xattr), close and unlinkat. The posix backend runs them as the addon's threadpool calls;
 * posix-uring hands what it can to the ring (one submit per batch, no threadpool hop). The rarer
 * ones (getdents, mkdirat, renameat2, futimens, fsetxattr, ...) stay threadpool calls; unlinkat
 * is here for the delete of many small files (DELETE_ON_CLOSE, disposition), one per file.
 */
export interface PosixSys {
  openat2 (dirfd: number, path: string, flags: number, mode: number, resolve: number): Promise<number>
  statx (dirfd: number, path: string, flags: number, mask: number): Promise<Statx>
  /** statx and one xattr of the same file (native.statxXattr's contract). */
  statxXattr (dirfd: number, path: string, flags: number, mask: number, name: string): Promise<StatxXattr>
  close (fd: number): Promise<void>
  /** unlinkat(2) of one name inside a directory fd opened beneath the share (AT_REMOVEDIR for a directory). */
  unlinkat (dirfd: number, name: string, flags: number): Promise<void>
}

const threadpoolSys: PosixSys = {
  openat2: (dirfd, path, flags, mode, resolve) => native.openat2(dirfd, path, flags, mode, resolve),
  statx: (dirfd, path, flags, mask) => native.statx(dirfd, path, flags, mask),
  statxXattr: (dirfd, path, flags, mask, name) => native.statxXattr(dirfd, path, flags, mask, name),
  close: fsClose,
  unlinkat: (dirfd, name, flags) => native.unlinkat(dirfd, name, flags),
}

/**
 * The DOS attributes a file has of its own (MS-FSA File.FileAttributes), before what the server
 * adds when reporting: the record's, ARCHIVE too when the data changed after the record was
 * written (MS-FSA 2.1.4.17); with no record (a file made outside the server) ARCHIVE for a file.
 * A file's READONLY is never here: it is the mode's (statFromStatx).
 */
function ownAttributes (sx: Statx, rec: DosRecord | undefined): number {
  const isDirectory = (sx.mode & S_IFMT) === S_IFDIR
  if (rec === undefined) return isDirectory ? 0 : FILE_ATTRIBUTE_ARCHIVE
  // Another server's record: its attributes as stored, a file's READONLY included (Samba keeps
  // it there, not in the mode), and no anchor to derive ARCHIVE from.
  const keepsReadonly = isDirectory || rec.origin === 'foreign'
  let attrs = rec.fileAttributes & (keepsReadonly ? DOS_STORED_ATTRIBUTES : DOS_STORED_ATTRIBUTES & ~FILE_ATTRIBUTE_READONLY)
  if (!isDirectory && rec.writeAnchorNs !== undefined && rec.writeAnchorNs !== sx.mtimeNs) attrs |= FILE_ATTRIBUTE_ARCHIVE
  return attrs
}

/** The cluster AllocationSize counts in: the block of the file systems this runs on. */
const CLUSTER = 4096n

function roundUpCluster (n: bigint): bigint { return (n + CLUSTER - 1n) & ~(CLUSTER - 1n) }

/**
 * A file's AllocationSize from its statx: what it holds on disk (st_blocks; less than its size
 * when sparse), but never more than its size in whole clusters. st_blocks also counts the
 * file's metadata: on ext4 an external xattr block (a security.NTACL, DOS record and EAs that
 * overflow the inode) adds 4 KiB, which NTFS never counts in a data stream's allocation, so an
 * emptied file read 0x1000 (smbtorture smb2.setinfo). Space reserved past the end of the file
 * (FileAllocationInformation, a CREATE's AlSi context) is then not seen here: an open file adds
 * it from its extent map (PosixFile.stat).
 */
export function dataAllocation (sx: Pick<Statx, 'blocks' | 'size'>): bigint {
  const held = sx.blocks * 512n
  const whole = roundUpCluster(sx.size)
  return held < whole ? held : whole
}

/**
 * Converts the kernel's statx and our DOS record (dos-xattr.ts) into the SMB model the FSCC
 * encoders read. Where each item comes from:
 * - CreationTime: the record; else the birth time (statx btime); else the older of ctime and mtime.
 * - ChangeTime: the record's while the data has not changed since it was written; else ctime.
 * - READONLY: a file's mode (no write bit for anyone), so local users and the server agree and
 *   setting it really protects the data; a directory's record (on Windows READONLY on a directory
 *   does not stop changes inside it, and a mode without write bits would).
 * - HIDDEN, SYSTEM, ARCHIVE, TEMPORARY, OFFLINE, NOT_CONTENT_INDEXED: ownAttributes().
 * - HIDDEN also for a dot file when the share hides them (`hide dot files`, Samba's default).
 * - DIRECTORY and REPARSE_POINT from the file type; NORMAL when nothing else is set (MS-FSCC 2.6).
 */
export function statFromStatx (sx: Statx, name: string, rec?: DosRecord, hideDotFiles = true): Stat {
  const type = sx.mode & S_IFMT
  const isDirectory = type === S_IFDIR
  let attrs = ownAttributes(sx, rec)
  if (hideDotFiles && name.startsWith('.') && name !== '.' && name !== '..') attrs |= FILE_ATTRIBUTE_HIDDEN
  if (isDirectory) attrs |= FILE_ATTRIBUTE_DIRECTORY
  else if ((sx.mode & 0o222) === 0) attrs |= FILE_ATTRIBUTE_READONLY
  if (type === S_IFLNK) attrs |= FILE_ATTRIBUTE_REPARSE_POINT
  if (attrs === 0) attrs = FILE_ATTRIBUTE_NORMAL
  // No birth time on this fs: the older of ctime and mtime is the best stand-in.
  const btime = sx.btimeNs !== 0n ? sx.btimeNs : (sx.ctimeNs < sx.mtimeNs ? sx.ctimeNs : sx.mtimeNs)
  const changeHolds = rec?.changeTime !== undefined && rec.writeAnchorNs !== undefined && rec.writeAnchorNs === sx.mtimeNs
  return {
    creationTime: rec?.creationTime ?? filetimeFromUnixNs(btime),
    lastAccessTime: filetimeFromUnixNs(sx.atimeNs),
    lastWriteTime: filetimeFromUnixNs(sx.mtimeNs),
    changeTime: changeHolds ? rec!.changeTime! : filetimeFromUnixNs(sx.ctimeNs),
    endOfFile: isDirectory ? 0n : sx.size,
    allocationSize: isDirectory ? 0n : dataAllocation(sx),
    fileAttributes: attrs,
    indexNumber: sx.ino,
    numberOfLinks: sx.nlink,
    isDirectory,
    uid: sx.uid,
    gid: sx.gid,
    mode: sx.mode,
    ...(rec?.creator !== undefined ? { creator: rec.creator } : {}),
    ...(rec?.eaSize !== undefined ? { eaSize: rec.eaSize } : {}),
  }
}

/**
 * The names of a packed listing (native.getdentsNames: each name and a NUL) that a client can
 * spell. Decoded in one go; a name that is not valid UTF-8 decodes to U+FFFD and could only be
 * matched by accident, so when the listing holds U+FFFD each name is checked and such ones left out.
 */
export function utf8Names (packed: Buffer): string[] {
  const all = packed.toString('utf8')
  const names = all.split('\0')
  names.pop() // after the last NUL
  if (!all.includes('\uFFFD')) return names
  const out: string[] = []
  let off = 0
  for (let end = packed.indexOf(0, off); end >= 0; off = end + 1, end = packed.indexOf(0, off)) {
    const raw = packed.subarray(off, end)
    const name = raw.toString('utf8')
    if (!name.includes('\uFFFD') || Buffer.from(name, 'utf8').equals(raw)) out.push(name)
  }
  return out
}

/** The errors that read as "no such xattr here" (no such namespace, too large, not permitted). */
const ABSENT_XATTR = new Set(['ENODATA', 'EOPNOTSUPP', 'ENOTSUP', 'ERANGE', 'EPERM', 'EACCES'])

/** One xattr's value, or undefined when it is absent or cannot be read here (ABSENT_XATTR). */
async function readXattr (fd: number, name: string): Promise<Buffer | undefined> {
  try {
    return await native.fgetxattr(fd, name)
  } catch (e) {
    if (ABSENT_XATTR.has((e as NodeJS.ErrnoException).code ?? '')) return undefined
    throw e
  }
}

/** native.statxBatch's record: two int32 results, struct statx, the xattr value (256 bytes at most). */
const STATX_BATCH_RECORD = 8 + 256 + 256
/** Names per statxBatch call when listing: ~2 MiB of records. */
const STATX_BATCH_CHUNK = 4096

/** Every name of a packed listing (each followed by a NUL), decoded as UTF-8, in order. */
function packedNames (packed: Buffer): string[] {
  const names = packed.toString('utf8').split('\0')
  names.pop() // after the last NUL
  return names
}

function packNames (names: string[]): Buffer {
  return Buffer.from(names.join('\0') + '\0', 'utf8')
}

/** A file's extent bytes past the end of its data (native.extentBytes), and what they were read for. */
interface ExtentCount {
  /** PosixFile.layout when the stat that read them began. */
  layout: number
  size: bigint
  blocks: bigint
  ctimeNs: bigint
  bytes: number
}

class PosixFile implements VfsFile {
  private closed = false
  /** Operations on the fd still running: close() waits for them (CONVENTIONS 5), so a READ that
   *  raced a CLOSE never runs on a closed fd or on a number the kernel already gave to another file. */
  private inFlight = 0
  private drained?: () => void
  /** Bumped when a write, truncate, allocate, punch, copy or clone through this handle ends: an
   *  extent count taken before then (stat's `extents`) is no longer trusted. */
  private layout = 0
  /** What stat() last read from the extent map, and the statx it was read for. */
  private extents?: ExtentCount
  constructor (private readonly fd: number, readonly isDirectory: boolean, private readonly name: string, private readonly share: PosixShare,
    /** What the open found (statx and the DOS record): a CREATE answers from it, not asking again. */
    readonly openStat: Stat,
    /** The file is on the share root's own mount: its stats, writes and close may be inline (inline.ts). */
    private readonly sameMount: boolean,
    /** An O_PATH descriptor (OpenOptions.pathOnly): stat'ed as one; every I/O call fails (EBADF). */
    private readonly pathOnly = false) {}

  /** `reshapes`: `f` may change the file's extents (stat's cached count is dropped when it ends). */
  private async op<T> (f: () => Promise<T>, reshapes = false): Promise<T> {
    if (this.closed) throw Object.assign(new Error('file handle closed'), { code: 'EBADF' })
    this.inFlight++
    try {
      return await f()
    } finally {
      if (reshapes) this.layout++
      if (--this.inFlight === 0) this.drained?.()
    }
  }

  /** The file's extents may have changed (a write made outside op(): writeNow, posix-uring's ring writes). */
  extentsChanged (): void {
    this.layout++
  }

  async read (buf: Buffer, off: number, len: number, position: number): Promise<number> {
    return await this.op(async () => await fsRead(this.fd, buf, off, len, position))
  }

  /** A write made on this thread where the share's writes are memory copies (inline.ts); undefined otherwise. */
  writeNow (buf: Buffer, off: number, len: number, position: number): number | undefined {
    if (this.closed || !this.sameMount || this.pathOnly) return undefined
    const n = this.share.writeNow(this.fd, buf, off, len, position)
    if (n !== undefined) this.layout++
    return n
  }

  async write (buf: Buffer, off: number, len: number, position: number): Promise<number> {
    const now = this.writeNow(buf, off, len, position)
    if (now !== undefined) return now
    return await this.op(async () => {
      let done = 0
      while (done < len) {
        const n = await fsWrite(this.fd, buf, off + done, len - done, position + done)
        if (n <= 0) break
        done += n
      }
      return done
    }, true)
  }

  async sync (dataOnly: boolean): Promise<void> {
    await this.op(async () => { await (dataOnly ? fsFdatasync(this.fd) : fsFsync(this.fd)) })
  }

  async truncate (length: number): Promise<void> {
    await this.op(async () => { await fsFtruncate(this.fd, length) }, true)
  }

  async copyFrom (src: VfsFile, srcPos: number, dstPos: number, len: number): Promise<number> {
    if (!(src instanceof PosixFile)) throw Object.assign(new Error('copy between backends'), { code: 'EXDEV' })
    // Both descriptors stay open until the copy is done: each file's close waits for it.
    return await src.op(async () => await this.op(async () => {
      try {
        return await native.copyFileRange(src.fd, srcPos, this.fd, dstPos, len)
      } catch (e) {
        // copy_file_range refuses overlapping ranges of one file (EINVAL): those go through a buffer.
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL' || src !== this) throw e
        const buf = Buffer.allocUnsafe(len)
        const n = await fsRead(this.fd, buf, 0, len, srcPos)
        let done = 0
        while (done < n) done += await fsWrite(this.fd, buf, done, n - done, dstPos + done)
        return n
      }
    }, true))
  }

  async cloneFrom (src: VfsFile, srcPos: number, dstPos: number, len: number): Promise<void> {
    if (!(src instanceof PosixFile)) throw Object.assign(new Error('clone between backends'), { code: 'EXDEV' })
    // Both descriptors stay open until the clone is done: each file's close waits for it.
    await src.op(async () => await this.op(async () => { await native.cloneRange(src.fd, srcPos, this.fd, dstPos, len) }, true))
  }

  async punchHole (offset: number, length: number): Promise<void> {
    const c = native.constants
    await this.op(async () => { await native.fallocate(this.fd, c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE, offset, length) }, true)
  }

  async allocatedRanges (offset: number, length: number, max = Number.MAX_SAFE_INTEGER): Promise<Array<[number, number]>> {
    // An addon built before allocatedRanges existed (npm run build rebuilds it): all of it is
    // data, as for a file that is not sparse; a client then copies the holes' zeros.
    if (typeof native.allocatedRanges !== 'function') return length > 0 && max > 0 ? [[offset, length]] : []
    return await this.op(async () => {
      const pairs = await native.allocatedRanges(this.fd, offset, length, max)
      const out: Array<[number, number]> = []
      for (let at = 0; at < pairs.length; at += 16) out.push([Number(pairs.readBigInt64LE(at)), Number(pairs.readBigInt64LE(at + 8))])
      return out
    })
  }

  async allocate (length: number): Promise<void> {
    // Reserve blocks without changing the size (FALLOC_FL_KEEP_SIZE); a fs that can't is fine.
    try {
      if (length > 0) await this.op(async () => { await native.fallocate(this.fd, native.constants.FALLOC_FL_KEEP_SIZE, 0, length) }, true)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EOPNOTSUPP') throw e
    }
  }

  async setBasicInfo (u: BasicInfoUpdate): Promise<void> {
    await this.op(async () => {
      const c = native.constants
      // Every FILETIME fits the addon's 127-bit ns; the kernel clamps to what the fs keeps.
      const ns = (ft: bigint | undefined): bigint | null => ft === undefined ? null : unixNsFromFiletime(ft)
      if (u.lastAccessTime !== undefined || u.lastWriteTime !== undefined) {
        await native.futimens(this.fd, ns(u.lastAccessTime), ns(u.lastWriteTime))
      }
      // An O_PATH handle (a symlink, FIFO, socket or device opened as itself): its times are set
      // (the addon's futimens sets those of the name itself, never following a symlink); there is
      // no DOS record to keep (Linux gives such objects no user xattrs) and no mode to change (a
      // symlink's is not used; a special file keeps its own).
      if (this.pathOnly) return
      // What the file looks like now (after the new times): the record is rebuilt from it, so
      // what was reported until now (a derived ARCHIVE, the birth time) stays unless this update
      // changes it.
      const { sx, st, rec: old } = await this.share.statAt(this.fd, '', c.AT_EMPTY_PATH, this.name, this.sameMount)
      // Kept as they are: the file's own attributes (a derived ARCHIVE included), not what the
      // share adds when reporting (a dot file's HIDDEN).
      const attrs = u.fileAttributes ?? (ownAttributes(sx, old) | (st.fileAttributes & FILE_ATTRIBUTE_READONLY))
      // READONLY is stored for a file too, for Samba and ksmbd, which read it from the record;
      // smbts reads a file's from its mode.
      const rec: DosRecord = {
        fileAttributes: attrs & DOS_STORED_ATTRIBUTES,
        creationTime: u.creationTime ?? st.creationTime,
        changeTime: u.changeTime,
        writeAnchorNs: sx.mtimeNs,
      }
      keepExtras(rec, u, old)
      // A file's READONLY is its mode: clear every write bit, or give the owner write back. The
      // record goes first when the write bits go away (without CAP_FOWNER, setting a user xattr
      // needs write permission), last when they come back. Another server's READONLY, kept in its
      // record only, moves into the mode when smbts first rewrites the record.
      const mode = sx.mode & 0o7777
      const ro = (attrs & FILE_ATTRIBUTE_READONLY) !== 0
      const modeDecides = u.fileAttributes !== undefined || old?.origin === 'foreign'
      const next = !modeDecides || this.isDirectory ? mode : ro ? mode & ~0o222 : (mode & 0o222) === 0 ? mode | 0o200 : mode
      if (next !== mode && !ro) await native.fchmod(this.fd, next)
      await this.share.writeRecord(this.fd, rec, this.isDirectory, old?.origin === 'legacy')
      if (next !== mode && ro) await native.fchmod(this.fd, next)
      if (next !== mode) await this.restampNtAcl()
    })
  }

  async stat (): Promise<Stat> {
    return await this.op(async () => {
      const layout = this.layout
      const { sx, st } = await this.share.statAt(this.fd, '', native.constants.AT_EMPTY_PATH, this.name, this.sameMount, this.pathOnly)
      // More blocks than the data's clusters: an xattr block, or space reserved past the end of
      // the file (allocate). The extent map tells them apart: the reserved space counts, as NTFS
      // counts it (MS-FSA 2.1.5.15.1), the xattr block does not (dataAllocation).
      if (st.isDirectory || this.pathOnly || sx.blocks * 512n <= st.allocationSize) return st
      // The map is read once per layout, not per stat: on ext4 every file that holds a
      // security.NTACL beside its DOS record has an xattr block, so every QUERY_INFO of it would
      // make this ioctl, on this thread. The count holds while nothing changed the extents through
      // this handle (`layout`) and the file's size, blocks and ctime are those it was read for
      // (which another handle's, or another program's, change moves).
      const known = this.extents
      let beyond: number
      if (known !== undefined && known.layout === this.layout && known.size === sx.size && known.blocks === sx.blocks && known.ctimeNs === sx.ctimeNs) {
        beyond = known.bytes
      } else {
        this.share.extentReads++
        try { beyond = native.extentBytes(this.fd, Number(roundUpCluster(sx.size))) } catch { return st }
        // Read for the layout this stat began in: a change that ended meanwhile leaves it untrusted.
        this.extents = { layout, size: sx.size, blocks: sx.blocks, ctimeNs: sx.ctimeNs, bytes: beyond }
      }
      // No FIEMAP (tmpfs): st_blocks as it is. Such a file system keeps xattrs in memory, not in
      // blocks, so what exceeds the data's clusters there is reserved space.
      if (beyond < 0) return { ...st, allocationSize: sx.blocks * 512n }
      return beyond > 0 ? { ...st, allocationSize: st.allocationSize + roundUpCluster(BigInt(beyond)) } : st
    })
  }

  /**
   * Samba's security.NTACL first (any version: a share Samba served keeps its ACLs), then our own
   * user.smbts.ntacl record (written where security.* could not be: not root, or a file system
   * without it).
   */
  async getSecurityDescriptor (): Promise<SecurityDescriptor | undefined> {
    // An O_PATH handle reads no xattrs (EBADF); a symlink or special file carries none of Samba's.
    if (this.pathOnly) return undefined
    // Most files have neither: one call on this thread says so (the first of the list that exists
    // is read; null when none does).
    if (this.share.xattrNow(this.fd, `${SAMBA_NTACL_XATTR_NAME}\n${NTACL_XATTR_NAME}`, this.sameMount) === null) return undefined
    return await this.op(async () => {
      const raw = await this.xattr(SAMBA_NTACL_XATTR_NAME)
      const samba = decodeSambaNtAcl(raw)
      if (samba !== undefined) return samba.sd
      // One this server cannot read (a later Samba's version, damage): like Samba with a version
      // it does not know, the file is then described from its mode, and the share decides.
      if (raw !== undefined && !this.share.unreadableNtAclWarned) {
        this.share.unreadableNtAclWarned = true
        this.share.warn(`${this.name}: ${SAMBA_NTACL_XATTR_NAME} holds no descriptor smbts reads (${raw.length} bytes, version ${raw.length >= 2 ? raw.readUInt16LE(0) : '?'}): ignored, here and on any other file of the share`)
      }
      return decodeNtAclRecord(await this.xattr(NTACL_XATTR_NAME))
    })
  }

  /** One xattr of this file: on this thread where the share allows it (PosixShare.xattrNow), else off it. */
  private async xattr (name: string): Promise<Buffer | undefined> {
    const now = this.share.xattrNow(this.fd, name, this.sameMount)
    if (now !== undefined) return now ?? undefined
    return await readXattr(this.fd, name)
  }

  /**
   * Stored as Samba stores it (security.NTACL, version 4, hashed over the file's POSIX ACL as it
   * is now: samba-ntacl.ts), and our own record, if any, removed (migrated). Where security.*
   * cannot be written (EPERM when not root, EOPNOTSUPP), in user.smbts.ntacl as before.
   */
  async setSecurityDescriptor (sd: Buffer): Promise<void> {
    await this.op(async () => {
      try {
        await native.fsetxattr(this.fd, SAMBA_NTACL_XATTR_NAME, await this.sambaNtAclV4(parseSecurityDescriptor(sd)), 0)
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code !== 'EPERM' && code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'EACCES') throw e
        await native.fsetxattr(this.fd, NTACL_XATTR_NAME, encodeNtAclRecord(sd), 0)
        return
      }
      await native.fremovexattr(this.fd, NTACL_XATTR_NAME).catch(() => {})
    })
  }

  async chmod (mode: number): Promise<void> {
    await this.op(async () => {
      await native.fchmod(this.fd, mode & 0o7777)
      await this.restampNtAcl()
    })
  }

  /**
   * `sd` as a version-4 security.NTACL value: its POSIX ACL hash over the file's owner, group,
   * mode and POSIX ACLs now (system.posix_acl_access, else the three classes of the mode; a
   * directory's default ACL too), as Samba's acl_xattr hashes them, so Samba and ksmbd take the
   * descriptor as stored until someone changes those. The descriptor hash is the SHA-256 of the
   * descriptor itself (ksmbd's; Samba's hashes the descriptor it would map from the POSIX ACL,
   * and compares it only when the POSIX ACL hash no longer matches).
   */
  private async sambaNtAclV4 (sd: SecurityDescriptor): Promise<Buffer> {
    const { sx } = await this.share.statAt(this.fd, '', native.constants.AT_EMPTY_PATH, this.name, this.sameMount)
    const acl = async (name: string): Promise<PosixAclEntry[] | undefined> => {
      const v = await this.xattr(name)
      return v === undefined ? undefined : parseLinuxPosixAcl(v)
    }
    const access = (await acl('system.posix_acl_access')) ?? posixAclFromMode(sx.mode)
    const dflt = this.isDirectory ? (await acl('system.posix_acl_default')) ?? [] : undefined
    const sysHash = sysAclHash({ access, ...(dflt !== undefined ? { default: dflt } : {}), uid: sx.uid, gid: sx.gid, mode: sx.mode })
    const sdHash = createHash('sha256').update(encodeSecurityDescriptor(sd)).digest()
    return encodeSambaNtAclV4(sd, sysHash, sdHash, filetimeFromUnixNs(BigInt(Date.now()) * 1_000_000n))
  }

  /**
   * After smbts changed the file's mode: a version-4 security.NTACL gets the new POSIX ACL hash,
   * as Samba rewrites it when it changes a mode itself (else Samba and ksmbd would take the
   * change for one made behind their back and describe the file from its mode).
   */
  private async restampNtAcl (): Promise<void> {
    const raw = await this.xattr(SAMBA_NTACL_XATTR_NAME)
    if (raw === undefined || raw.length < 2 || raw.readUInt16LE(0) !== 4) return
    const stored = decodeSambaNtAcl(raw)
    if (stored === undefined) return
    await native.fsetxattr(this.fd, SAMBA_NTACL_XATTR_NAME, await this.sambaNtAclV4(stored.sd), 0).catch(() => {})
  }

  async getXattr (name: string): Promise<Buffer | undefined> {
    // An O_PATH handle (a symlink, FIFO, socket or device opened as itself) does no xattr I/O:
    // such objects carry no user xattrs on Linux, so none is there to read or list.
    if (this.pathOnly) return undefined
    return await this.op(async () => {
      try {
        return await native.fgetxattr(this.fd, name)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENODATA') return undefined
        throw e
      }
    })
  }

  async setXattr (name: string, value: Buffer, flags?: 'create' | 'replace'): Promise<void> {
    const c = native.constants
    await this.op(async () => { await native.fsetxattr(this.fd, name, value, flags === 'create' ? c.XATTR_CREATE : flags === 'replace' ? c.XATTR_REPLACE : 0) })
  }

  async listXattrs (): Promise<string[]> {
    if (this.pathOnly) return []
    return this.share.listXattrsNow(this.fd, this.sameMount) ?? await this.op(async () => await native.flistxattr(this.fd))
  }

  async removeXattr (name: string): Promise<void> {
    await this.op(async () => { await native.fremovexattr(this.fd, name) })
  }

  async readdir (): Promise<DirEntry[]> {
    return await this.op(async () => {
      // The names, then every entry's statx and DOS record in one threadpool job (not one per entry).
      // The names are looked up as the client will spell them (UTF-8 of the decoded name), so one
      // that is not valid UTF-8 is not found, and not listed, as before.
      const names = packedNames(await native.getdentsNames(this.fd))
      const out: DirEntry[] = []
      // In chunks, so a huge directory never needs one huge result buffer (520 bytes an entry).
      for (let from = 0; from < names.length; from += STATX_BATCH_CHUNK) {
        const chunk = names.slice(from, from + STATX_BATCH_CHUNK)
        const stats = await this.share.statBatch(this.fd, packNames(chunk), chunk)
        for (let i = 0; i < chunk.length; i++) {
          // Gone between getdents and statx: skipped, as a later listing would.
          const info = stats[i]
          if (info !== undefined) out.push({ name: chunk[i]!, info })
        }
      }
      return out
    })
  }

  async statEntries (names: string[]): Promise<Array<Stat | undefined>> {
    if (names.length === 0) return []
    return await this.op(async () => await this.share.statBatch(this.fd, packNames(names), names))
  }

  async statEntry (name: string): Promise<Stat> {
    return await this.op(async () => (await this.share.statAt(this.fd, name, native.constants.AT_SYMLINK_NOFOLLOW, name)).st)
  }

  // Not async: a CLOSE on the share's own mount is one close(2) on this thread, and an async
  // frame per layer costs more than the call (the settled promise comes back as it is).
  close (): Promise<void> {
    if (this.closed) return RESOLVED
    this.closed = true
    if (this.inFlight > 0) return new Promise<void>((resolve) => { this.drained = resolve }).then(() => this.share.closeFd(this.fd, this.sameMount))
    return this.share.closeFd(this.fd, this.sameMount)
  }
}

class PosixShare implements ShareFs {
  private readonly resolve: number
  private readonly followSymlinks: boolean
  /** `store dos attributes`: records are read and written at all. */
  private readonly storeDos: boolean
  /** False once the file system refused a user xattr: no more records are written. */
  private xattrs: boolean
  private warned = false
  private readonly hideDotFiles: boolean
  readonly warn: (msg: string) => void
  /** A security.NTACL smbts cannot read was reported (once per share). */
  unreadableNtAclWarned = false
  /** Extent maps read by its files' stats (native.extentBytes; tests see PosixFile.stat's cache by it). */
  extentReads = 0
  /** Case-insensitive names of big directories (name-index.ts), for resolveCase. */
  readonly names: DirNameIndex
  /** Opens, stats and closes made on this thread (inline.ts); undefined: always through `sys`. */
  readonly inline: InlineMetadata | undefined
  /** The share root's mount (statx mnt_id), where inline calls are made; undefined without them. */
  private readonly rootMntId: bigint | undefined
  /** Where an inline stat's record lands (read at once: one at a time on this thread). */
  private readonly scratch = Buffer.allocUnsafe(STATX_BATCH_RECORD)
  constructor (readonly sys: PosixSys, readonly root: string, private readonly rootFd: number, opts: ShareOptions) {
    this.names = new DirNameIndex(opts.nameIndex)
    this.followSymlinks = opts.followSymlinks
    this.hideDotFiles = opts.hideDotFiles ?? true
    this.storeDos = opts.storeDosAttributes ?? true
    this.xattrs = this.storeDos
    this.warn = opts.warn ?? (() => {})
    this.inline = InlineMetadata.forShare(rootFd, { ...opts.inline, warn: this.warn })
    if (this.inline !== undefined) {
      const r = native.statxXattrNow(rootFd, '', native.constants.AT_EMPTY_PATH, STATX_WANTED, '', this.scratch)
      const mntId = r === 0 ? decodeStatx(this.scratch, 8).mntId : 0n
      // No mount id from this kernel: fds opened off this thread are never taken as the share's.
      this.rootMntId = mntId !== 0n ? mntId : undefined
    }
    const c = native.constants
    // Symlinks inside the share are followed only when the share allows it, and even then the
    // kernel refuses any that lead outside (RESOLVE_BENEATH applies to every component).
    this.resolve = c.RESOLVE_BENEATH | c.RESOLVE_NO_MAGICLINKS | (this.followSymlinks ? 0 : c.RESOLVE_NO_SYMLINKS)
  }

  /**
   * statx and the DOS record of one file, in one native call (no record read when the share does
   * not store them: `store dos attributes = no` reports what Linux has).
   */
  async statAt (dirFd: number, path: string, flags: number, name: string, sameMount = false, opath = false): Promise<{ sx: Statx, st: Stat, rec?: DosRecord }> {
    // Inline: only an fd's own file, and only an fd known to be on the share's own mount (a
    // name inside a directory may be another mount's root: NFS, FUSE...).
    const inl = this.inline
    if (inl?.on && sameMount && path === '') return inl.call(this.statNow, dirFd, path, flags, name, opath)
    if (!this.storeDos) {
      const sx = await this.sys.statx(dirFd, path, flags, STATX_WANTED)
      return { sx, st: statFromStatx(sx, name, undefined, this.hideDotFiles) }
    }
    const sx = await this.sys.statxXattr(dirFd, path, flags, STATX_WANTED, DOS_XATTR_READ_NAMES)
    const rec = decodeDosRecord(sx.xattr)
    return { sx, st: statFromStatx(sx, name, rec, this.hideDotFiles), rec }
  }

  /**
   * One xattr of an fd on the share's own mount, read on this thread where inline metadata is on
   * (as statAt reads the DOS record; `name` may be a '\n'-separated list, of which the first that
   * exists is read): a copy of its value; null when the file has none (or the
   * file system keeps none, or refuses it: readXattr's "absent"); undefined when it cannot be said
   * here (inline off, another mount, a value longer than a stat record holds): the caller then
   * reads it off this thread. Every CREATE's access check reads the file's descriptor this way:
   * two thread-pool round trips per open otherwise, on a file that most often has none.
   */
  xattrNow (fd: number, name: string, sameMount: boolean): Buffer | null | undefined {
    const inl = this.inline
    if (!inl?.on || !sameMount) return undefined
    const r = inl.call(native.statxXattrNow, fd, '', native.constants.AT_EMPTY_PATH, STATX_WANTED, name, this.scratch)
    if (r < 0) return undefined
    const x = this.scratch.readInt32LE(4)
    if (x >= 0) return Buffer.from(this.scratch.subarray(8 + STATX_LAYOUT.size_of, 8 + STATX_LAYOUT.size_of + x))
    const code = getSystemErrorName(x)
    return code !== 'ERANGE' && ABSENT_XATTR.has(code) ? null : undefined
  }

  /**
   * The xattr names of an fd on the share's own mount, listed on this thread where inline
   * metadata is on (a CREATE for DELETE looks for the file's streams this way); undefined when it
   * cannot be done here (inline off, another mount, a list longer than the scratch buffer).
   */
  listXattrsNow (fd: number, sameMount: boolean): string[] | undefined {
    const inl = this.inline
    if (!inl?.on || !sameMount) return undefined
    const r = inl.call(native.flistxattrNow, fd, this.scratch)
    if (r === -osConstants.errno.ERANGE) return undefined
    if (r < 0) throw errnoError(r, 'flistxattr')
    const names = this.scratch.toString('utf8', 0, r).split('\0')
    names.pop() // after the last NUL
    return names
  }

  /** statAt on this thread (native.statxXattrNow). A field, not a method: inline.call calls it without a `this`. */
  private readonly statNow = (dirFd: number, path: string, flags: number, name: string, opath: boolean): { sx: Statx, st: Stat, rec?: DosRecord } => {
    const res = native.statxXattrNow(dirFd, path, flags, STATX_WANTED, this.storeDos ? DOS_XATTR_READ_NAMES : '', this.scratch, opath)
    if (res < 0) throw errnoError(res, 'statx')
    return this.fromRecord(this.scratch, 0, name)
  }

  /** Decodes one statxBatch record (its statx succeeded) at `at`. */
  private fromRecord (recs: Buffer, at: number, name: string): { sx: Statx, st: Stat, rec?: DosRecord } {
    const xres = recs.readInt32LE(at + 4)
    const sx = decodeStatx(recs, at + 8)
    const rec = this.storeDos && xres >= 0 ? decodeDosRecord(recs.subarray(at + 8 + STATX_LAYOUT.size_of, at + 8 + STATX_LAYOUT.size_of + xres)) : undefined
    return { sx, st: statFromStatx(sx, name, rec, this.hideDotFiles), rec }
  }

  /**
   * pwrite on this thread, on a file system whose writes are memory copies (tmpfs, ramfs: no
   * disk to wait for, and no async buffered writes, so the ring would punt each one to an io-wq
   * thread): the bytes written; undefined when writes go through the ring or threadpool.
   */
  writeNow (fd: number, buf: Buffer, off: number, len: number, position: number): number | undefined {
    const inl = this.inline
    if (inl === undefined || !inl.writes) return undefined
    const r = native.pwriteNow(fd, buf, off, len, position)
    inl.counters.writes++
    if (r < 0) throw errnoError(r, 'pwrite')
    return r
  }

  /** close(2) of an fd this share opened: on this thread when inline calls are on and the fd is on
   *  the share's own mount (another file system's close may flush over a network). */
  closeFd (fd: number, sameMount: boolean): Promise<void> {
    const inl = this.inline
    if (inl?.on && sameMount) {
      const r = inl.call(native.closeNow, fd)
      return r < 0 ? Promise.reject(errnoError(r, 'close')) : RESOLVED
    }
    return this.sys.close(fd)
  }

  /**
   * openat2 beneath the root on this thread, when the inline policy allows this open: the fd;
   * undefined when it must go through `sys` (inline off, a create on a disk file system, or a
   * lookup RESOLVE_CACHED could not answer from memory). Errors throw as `sys` would.
   */
  private openNow (path: string, flags: number, mode: number): number | undefined {
    const inl = this.inline
    if (inl === undefined || !inl.on) return undefined
    const c = native.constants
    const creating = (flags & (c.O_CREAT | c.O_TRUNC)) !== 0
    if (creating && !inl.creates) return undefined
    // RESOLVE_NO_XDEV: an inline open never leaves the share root's mount (a file system mounted
    // beneath the share, crossmnt, may be one whose calls wait: it is opened off this thread).
    const r = inl.call(native.openat2Now, this.rootFd, path, flags, mode, this.resolve | c.RESOLVE_NO_XDEV | (inl.cachedOnly ? c.RESOLVE_CACHED : 0))
    if (r >= 0) return r
    // EXDEV: another mount on the way, or a path that leads outside: off this thread, where the
    // share's own rules decide.
    if (r === -EXDEV) { inl.counters.uncached++; return undefined }
    // EAGAIN: the lookup was not in memory (RESOLVE_CACHED), or the open would wait for a lease
    // break; either way it is made off this thread.
    if (r === -EAGAIN) { inl.counters.uncached++; return undefined }
    throw errnoError(r, 'openat2')
  }

  /**
   * statAt of many names inside `dirFd` (lstat: AT_SYMLINK_NOFOLLOW) in one native call; `packed`
   * is `names` each followed by a NUL. Undefined where the statx failed (the entry is gone).
   */
  async statBatch (dirFd: number, packed: Buffer, names: string[]): Promise<Array<Stat | undefined>> {
    const recs = await native.statxBatch(dirFd, packed, native.constants.AT_SYMLINK_NOFOLLOW, STATX_WANTED, this.storeDos ? DOS_XATTR_READ_NAMES : '')
    const out: Array<Stat | undefined> = new Array(names.length)
    for (let i = 0; i < names.length; i++) {
      const at = i * STATX_BATCH_RECORD
      out[i] = recs.readInt32LE(at) !== 0 ? undefined : this.fromRecord(recs, at, names[i]!).st
    }
    return out
  }

  /**
   * Stores a DOS record on an open fd. A file system without user xattrs (or a file type that
   * cannot carry them) is not an error: the metadata Linux has no place for is then simply not
   * kept, which is said once per share.
   */
  async writeRecord (fd: number, rec: DosRecord, directory: boolean, replacesLegacy: boolean): Promise<void> {
    if (!this.xattrs) return
    try {
      await native.fsetxattr(fd, DOS_XATTR_NAME, encodeDosRecord(rec, directory), 0)
      // Migrated: the record of an earlier smbts goes once its replacement is written.
      if (replacesLegacy) await native.fremovexattr(fd, LEGACY_DOS_XATTR_NAME).catch(() => {})
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? ''
      if (code === 'EPERM') return // a file type without user xattrs (symlink, device); the fs has them
      if (code === 'EOPNOTSUPP' || code === 'ENOTSUP') this.xattrs = false
      // No room for it, or (running without CAP_FOWNER) a file whose mode denies us writing.
      else if (code !== 'ENOSPC' && code !== 'EDQUOT' && code !== 'E2BIG' && code !== 'EACCES') throw e
      if (this.warned) return
      this.warned = true
      this.warn(`cannot store DOS metadata in the ${DOS_XATTR_NAME} xattr (${code}): ` +
        'CreationTime, a set ChangeTime and HIDDEN/SYSTEM/ARCHIVE are not kept' + (this.xattrs ? ' where it fails' : ''))
    }
  }

  private rel (path: string): string {
    return path === '' ? '.' : path
  }

  async open (path: string, o: OpenOptions): Promise<VfsFile> {
    const c = native.constants
    // A final-component symlink is followed only when the share follows symlinks; the kernel
    // still refuses one that leads outside (RESOLVE_BENEATH).
    if (o.pathOnly === true) return await this.openPath(path)
    let flags = c.O_CLOEXEC | (this.followSymlinks ? 0 : c.O_NOFOLLOW)
    if (o.directory) flags |= c.O_DIRECTORY | c.O_RDONLY
    else flags |= o.write ? c.O_RDWR : c.O_RDONLY
    if (o.create === 'new') flags |= c.O_CREAT | c.O_EXCL
    else if (o.create === 'either') flags |= c.O_CREAT
    if (o.truncate) flags |= c.O_TRUNC
    const rel = this.rel(path)
    let fd: number | undefined
    let inline = false
    try {
      fd = this.openNow(rel, flags, o.mode ?? 0o644)
      inline = fd !== undefined
      fd ??= await this.openOff(rel, flags, o.mode ?? 0o644)
    } catch (e) {
      // A directory opened without O_DIRECTORY but for writing fails with EISDIR: reopen it
      // read-only, the caller decides what the handle may do.
      if ((e as NodeJS.ErrnoException).code === 'EISDIR' && !o.directory) {
        const dirFlags = c.O_CLOEXEC | c.O_RDONLY | c.O_DIRECTORY
        fd = this.openNow(rel, dirFlags, 0)
        inline = fd !== undefined
        fd ??= await this.sys.openat2(this.rootFd, rel, dirFlags, 0, this.resolve)
      } else {
        throw e
      }
    }
    const opened = fd
    if ((flags & c.O_CREAT) !== 0) await this.noteName(path, true)
    const name = baseOf(path)
    const { sx, st } = await this.statAt(opened, '', c.AT_EMPTY_PATH, name, inline).catch(async (e) => { await this.closeFd(opened, inline); throw e })
    // Neither a file nor a directory (a FIFO, a device, a socket): the caller's stat said
    // otherwise, so the name was replaced meanwhile. Opened without waiting (O_NONBLOCK), and
    // refused now, before anything reads or writes it.
    const type = sx.mode & S_IFMT
    if (type !== S_IFREG && type !== S_IFDIR) {
      await this.closeFd(opened, inline).catch(() => {})
      throw Object.assign(new Error(`${path}: a ${specialFileType(sx) ?? 'special file'}, not opened`), { code: SPECIAL_FILE_CODE })
    }
    // An fd opened off this thread is on the share's mount when its mount id says so.
    const sameMount = inline || (this.rootMntId !== undefined && sx.mntId === this.rootMntId)
    return new PosixFile(opened, (sx.mode & S_IFMT) === S_IFDIR, name, this, st, sameMount)
  }

  /** OpenOptions.pathOnly: the name itself opened O_PATH | O_NOFOLLOW beneath the root, and stat'ed. */
  private async openPath (path: string): Promise<VfsFile> {
    const c = native.constants
    const flags = c.O_PATH | c.O_NOFOLLOW | c.O_CLOEXEC
    const rel = this.rel(path)
    let fd = this.openNow(rel, flags, 0)
    const inline = fd !== undefined
    fd ??= await this.openOff(rel, flags, 0)
    const opened = fd
    const name = baseOf(path)
    const { sx, st } = await this.statAt(opened, '', c.AT_EMPTY_PATH, name, inline, true).catch(async (e) => { await this.closeFd(opened, inline); throw e })
    const sameMount = inline || (this.rootMntId !== undefined && sx.mntId === this.rootMntId)
    return new PosixFile(opened, (sx.mode & S_IFMT) === S_IFDIR, name, this, st, sameMount, true)
  }

  /**
   * ShareFs.openExisting, on this thread where the inline policy allows the lookup: one native
   * call (openStatNow) probes the name, opens a regular file or a directory, and stats the fd.
   * Null when the name does not exist (as stat's ENOENT); undefined when this cannot answer here
   * (inline off, a lookup RESOLVE_CACHED could not make from memory, another mount on the way, a
   * name that is neither a file nor a directory, any other error: the caller's stat and open then
   * say what it is).
   */
  openExisting (path: string, write: boolean, directory = false): VfsFile | null | undefined {
    const inl = this.inline
    if (inl === undefined || !inl.on) return undefined
    const c = native.constants
    // The share root is '.' of the root's own fd, a directory whatever happened to its path.
    const root = path === ''
    const flags = c.O_CLOEXEC | (this.followSymlinks ? 0 : c.O_NOFOLLOW) | (write ? c.O_RDWR : c.O_RDONLY) | (directory || root ? c.O_DIRECTORY : 0)
    const r = inl.call(native.openStatNow, this.rootFd, root ? '.' : path, flags, this.resolve | c.RESOLVE_NO_XDEV | (inl.cachedOnly ? c.RESOLVE_CACHED : 0),
      STATX_WANTED, this.storeDos ? DOS_XATTR_READ_NAMES : '', this.scratch)
    if (r === -ENOENT) return null
    if (r < 0) {
      if (r === -EAGAIN || r === -EXDEV) inl.counters.uncached++
      return undefined
    }
    const name = baseOf(path)
    const { sx, st } = this.fromRecord(this.scratch, 0, name)
    return new PosixFile(r, (sx.mode & S_IFMT) === S_IFDIR, name, this, st, true)
  }

  /**
   * openat2 through `sys` (io_uring, whose io-wq thread makes an open that must wait, or the
   * threadpool), never left waiting on a FIFO or a device: a non-directory is opened with
   * O_NONBLOCK added, as openat2Now does (the open of a FIFO with no writer returns at once), and
   * the flag is cleared again on this thread (fcntl F_SETFL never waits), or io_uring would
   * answer a read of the regular file EAGAIN instead of punting it. EAGAIN from such an open is a
   * lease another process holds (the kernel has begun breaking it; a FIFO never says EAGAIN): the
   * open is made again without the flag, and waits for the break as it always did.
   */
  private async openOff (rel: string, flags: number, mode: number): Promise<number> {
    const c = native.constants
    if ((flags & (c.O_DIRECTORY | c.O_PATH | c.O_NONBLOCK)) !== 0) return await this.sys.openat2(this.rootFd, rel, flags, mode, this.resolve)
    let fd: number
    try {
      fd = await this.sys.openat2(this.rootFd, rel, flags | c.O_NONBLOCK, mode, this.resolve)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e
      return await this.sys.openat2(this.rootFd, rel, flags, mode, this.resolve)
    }
    const r = native.fcntlSetflNow(fd, flags)
    if (r < 0) {
      await this.sys.close(fd).catch(() => {})
      throw errnoError(r, 'fcntl')
    }
    return fd
  }

  async stat (path: string): Promise<Stat> {
    // Resolve the parent beneath the root, then lstat the last component relative to it.
    const c = native.constants
    if (path === '') return (await this.statAt(this.rootFd, '', c.AT_EMPTY_PATH, '', true)).st
    // Inline: the path itself opened O_PATH (the link itself when not following) on the share's
    // own mount (and through RESOLVE_CACHED on a disk), then its statx and record, then closed.
    if (this.inline !== undefined) {
      const fd = this.openNow(path, c.O_PATH | c.O_CLOEXEC | (this.followSymlinks ? 0 : c.O_NOFOLLOW), 0)
      if (fd !== undefined) {
        try {
          return (await this.statAt(fd, '', c.AT_EMPTY_PATH, baseOf(path), true, true)).st
        } finally { await this.closeFd(fd, true) }
      }
    }
    if (this.followSymlinks) {
      // Following: resolve the whole path beneath the root (O_PATH), then stat what it names,
      // so a link that leads outside fails (EXDEV) instead of describing the outside file.
      const fd = await this.sys.openat2(this.rootFd, path, c.O_PATH | c.O_CLOEXEC, 0, this.resolve)
      try {
        return (await this.statAt(fd, '', c.AT_EMPTY_PATH, baseOf(path))).st
      } finally { await this.sys.close(fd) }
    }
    return await this.lstat(path)
  }

  async lstat (path: string): Promise<Stat> {
    const c = native.constants
    if (path === '') return (await this.statAt(this.rootFd, '', c.AT_EMPTY_PATH, '', true)).st
    const { dirFd, name, close } = await this.parent(path)
    try {
      return (await this.statAt(dirFd, name, c.AT_SYMLINK_NOFOLLOW, name)).st
    } finally { await close() }
  }

  /**
   * Case-insensitive lookup (ShareFs.resolveCase), component by component. Every directory is
   * opened by its stored path relative to the share root with openat2 and the share's RESOLVE
   * flags, exactly as an exact lookup would open it, so a match can never lead anywhere an exact
   * name could not (no `..`: getdents' '.' and '..' never match; a symlink the share does not
   * follow stops the walk), and nothing is built or resolved outside the kernel's confinement.
   * Each listing gets a fresh fd: getdents moves the fd's offset, and the root fd is shared by
   * every request.
   */
  async resolveCase (path: string): Promise<CaseResolution> {
    const parts = path === '' ? [] : path.split('/')
    const c = native.constants
    const found: string[] = []
    let prefixExact = true
    for (let i = 0; i < parts.length; i++) {
      const want = parts[i]!
      let dirFd: number
      try {
        dirFd = await this.sys.openat2(this.rootFd, found.length === 0 ? '.' : found.join('/'), c.O_RDONLY | c.O_DIRECTORY | c.O_CLOEXEC, 0, this.resolve)
      } catch (e) {
        // A file in the middle of the path: not counted (the path, not the name, is wrong). Gone
        // meanwhile: the walk ends there. Anything else (a symlink the share does not follow,
        // ELOOP; one leading outside, EXDEV; EACCES) is the answer the exact spelling gets too.
        const code = (e as NodeJS.ErrnoException).code
        if (code === 'ENOTDIR') found.pop()
        else if (code !== 'ENOENT') throw e
        break
      }
      let name: string | undefined
      try {
        // The exact name first: one statx, no listing. Skipped for the last component when
        // every earlier one was spelled as stored: the caller's exact lookup just missed it.
        if (!(prefixExact && i === parts.length - 1)) {
          try {
            await this.sys.statx(dirFd, want, c.AT_SYMLINK_NOFOLLOW, c.STATX_TYPE)
            name = want
          } catch { /* not spelled as stored: list the directory */ }
        }
        if (name === undefined) name = await this.matchIn(dirFd, found.join('/'), want)
      } catch {
        name = undefined
      } finally {
        await this.sys.close(dirFd)
      }
      if (name === undefined) break
      if (name !== want) prefixExact = false
      found.push(name)
    }
    return { path: [...found, ...parts.slice(found.length)].join('/'), existing: found.length }
  }

  /**
   * The entry of the open directory `dirFd` (share-relative `dir`) that `want` names ignoring
   * case: from the directory's index while its stamp holds, else from a listing (filed in the
   * index when the directory is big). The stamp is taken before the listing, so a change that
   * lands in between makes the next lookup list again rather than trust a stale index.
   */
  private async matchIn (dirFd: number, dir: string, want: string): Promise<string | undefined> {
    const stamp: DirStamp = await this.sys.statx(dirFd, '', native.constants.AT_EMPTY_PATH, STAMP_MASK)
    const hit = this.names.lookup(dir, stamp, want)
    if (hit !== undefined) return hit ?? undefined
    const names = utf8Names(await native.getdentsNames(dirFd))
    this.names.fill(dir, stamp, names)
    return pickCaseMatch(names, want)
  }

  /**
   * Our own change to a name (`added` or removed) has completed: the parent's index, if any,
   * learns it, then adopts the directory's new stamp. The stamp is a plain statx of the path:
   * it only decides whether the index is trusted (a swapped directory has another inode, and
   * the next lookup opens it beneath the root as always).
   */
  private async noteName (path: string, added: boolean): Promise<void> {
    const i = path.lastIndexOf('/')
    const dir = i < 0 ? '' : path.slice(0, i)
    const adopt = this.names.changed(dir, path.slice(i + 1), added)
    if (adopt === undefined) return
    let after: DirStamp | undefined
    const inl = this.inline
    if (dir === '' && inl?.on === true) {
      // The share root's own stamp: an fd's own file, on the share's own mount, so on this thread.
      const r = inl.call(native.statxXattrNow, this.rootFd, '', native.constants.AT_EMPTY_PATH, STAMP_MASK, '', this.scratch)
      adopt(r === 0 ? decodeStatx(this.scratch, 8) : undefined)
      return
    }
    try {
      after = await this.sys.statx(this.rootFd, this.rel(dir), native.constants.AT_SYMLINK_NOFOLLOW, STAMP_MASK)
    } catch { after = undefined }
    adopt(after)
  }

  /** Opens the parent directory of `path` beneath the root (O_PATH) for the *at() calls. */
  private async parent (path: string): Promise<{ dirFd: number, name: string, close: () => Promise<void> }> {
    const c = native.constants
    const i = path.lastIndexOf('/')
    const name = i < 0 ? path : path.slice(i + 1)
    if (i < 0) return { dirFd: this.rootFd, name, close: async () => {} }
    const flags = c.O_PATH | c.O_DIRECTORY | c.O_CLOEXEC
    const now = this.openNow(path.slice(0, i), flags, 0)
    if (now !== undefined) return { dirFd: now, name, close: async () => { await this.closeFd(now, true).catch(() => {}) } }
    const fd = await this.sys.openat2(this.rootFd, path.slice(0, i), flags, 0, this.resolve)
    // Nobody waits for the close of this O_PATH fd (nothing else knows it): it goes out with the
    // caller's next op instead of costing a round trip of its own.
    return { dirFd: fd, name, close: async () => { this.sys.close(fd).catch(() => {}) } }
  }

  async mkdir (path: string, mode: number): Promise<void> {
    const { dirFd, name, close } = await this.parent(path)
    try { await native.mkdirat(dirFd, name, mode) } finally { await close() }
    await this.noteName(path, true)
  }

  async unlink (path: string, isDirectory: boolean): Promise<void> {
    const { dirFd, name, close } = await this.parent(path)
    const flags = isDirectory ? native.constants.AT_REMOVEDIR : 0
    try {
      // On a memory file system (inline.ts) a name's removal is a memory operation: made here.
      const inl = this.inline
      if (inl?.creates === true) {
        const r = inl.call(native.unlinkatNow, dirFd, name, flags)
        if (r < 0) throw errnoError(r, 'unlinkat')
      } else {
        await this.sys.unlinkat(dirFd, name, flags)
      }
    } finally { await close() }
    if (isDirectory) this.names.forget(path)
    await this.noteName(path, false)
  }

  async rename (from: string, to: string, replace: boolean): Promise<void> {
    const a = await this.parent(from)
    try {
      const b = await this.parent(to)
      try {
        await native.renameat2(a.dirFd, a.name, b.dirFd, b.name, replace ? 0 : native.constants.RENAME_NOREPLACE)
      } finally { await b.close() }
    } finally { await a.close() }
    this.names.forget(from)
    await this.noteName(from, false)
    await this.noteName(to, true)
  }

  private refcounting?: Promise<boolean>

  /**
   * Whether this share's file system shares blocks between files (xfs with reflink, btrfs, ...),
   * asked once: an unnamed temporary file (O_TMPFILE) in the share root cloned onto itself with
   * length 0, which such a file system answers at once and one without reflinks (ext4, tmpfs)
   * refuses with EOPNOTSUPP. Nothing is left behind.
   */
  async blockRefcounting (): Promise<boolean> {
    this.refcounting ??= (async () => {
      const c = native.constants
      let fd: number
      try { fd = await native.openat2(this.rootFd, '.', c.O_TMPFILE | c.O_RDWR, 0o600, this.resolve) } catch { return false }
      try {
        await native.cloneRange(fd, 0, fd, 0, 0)
        return true
      } catch {
        return false
      } finally { await native.close(fd).catch(() => {}) }
    })()
    return await this.refcounting
  }

  async link (from: string, to: string, replace: boolean): Promise<void> {
    const a = await this.parent(from)
    try {
      await this.makeName(to, replace, async (dirFd, name) => { await native.linkat(a.dirFd, a.name, dirFd, name, 0) })
    } finally { await a.close() }
  }

  async symlink (target: string, path: string, replace: boolean): Promise<void> {
    await this.makeName(path, replace, async (dirFd, name) => { await native.symlinkat(target, dirFd, name) })
  }

  async readlink (path: string): Promise<string> {
    const { dirFd, name, close } = await this.parent(path)
    try { return (await native.readlinkat(dirFd, name)).toString('utf8') } finally { await close() }
  }

  async mknod (path: string, type: 'fifo' | 'socket', mode: number, replace: boolean): Promise<void> {
    const c = native.constants
    const fmt = type === 'fifo' ? c.S_IFIFO : c.S_IFSOCK
    await this.makeName(path, replace, async (dirFd, name) => { await native.mknodat(dirFd, name, fmt | (mode & 0o777)) })
  }

  /**
   * Makes a new name `path` with `make` (linkat, symlinkat, mknodat: none of them replaces). With
   * `replace`, it is made beside the target under a name of our own, then renamed over it (one
   * step for anyone looking), and removed if that fails.
   */
  private async makeName (path: string, replace: boolean, make: (dirFd: number, name: string) => Promise<void>): Promise<void> {
    const b = await this.parent(path)
    try {
      if (!replace) {
        await make(b.dirFd, b.name)
      } else {
        const tmp = `.smbts-new-${process.pid}-${randomBytes(6).toString('hex')}`
        await make(b.dirFd, tmp)
        try {
          await native.renameat2(b.dirFd, tmp, b.dirFd, b.name, 0)
        } catch (e) {
          await this.sys.unlinkat(b.dirFd, tmp, 0).catch(() => {})
          throw e
        }
      }
    } finally { await b.close() }
    await this.noteName(path, true)
  }

  async statfs (): Promise<FsInfo> {
    const s = await fsp.statfs(this.root, { bigint: true })
    const unit = 4096n
    const scale = (blocks: bigint): bigint => blocks * s.bsize / unit
    return {
      totalAllocationUnits: scale(s.blocks),
      availableAllocationUnits: scale(s.bfree),
      callerAvailableAllocationUnits: scale(s.bavail),
      sectorsPerAllocationUnit: 8,
      bytesPerSector: 512,
      volumeSerialNumber: Number(BigInt.asUintN(32, s.type ^ (s.blocks & 0xffffffffn))),
      volumeLabel: '',
      volumeCreationTime: 0n,
      fileSystemName: 'NTFS',
      // MS-FSCC 2.5.1: case-preserved, Unicode names, sparse files, persistent ACLs.
      fileSystemAttributes: 0x00000002 | 0x00000004 | 0x00000040 | 0x00000008 | 0x00000001,
      maximumComponentNameLength: 255,
    }
  }

  identity (file: VfsFile): Buffer | undefined {
    const fd = posixFileFd(file)
    if (fd === undefined) return undefined
    const r = native.nameToHandleNow(fd)
    return typeof r === 'number' ? undefined : r
  }

  locate (identity: Buffer): { path: string } | { why: string } {
    const fd = native.openByHandleNow(this.rootFd, identity, native.constants.O_PATH)
    if (fd < 0) {
      const code = getSystemErrorName(fd)
      return { why: code === 'ESTALE' ? 'the file is gone' : `the kernel cannot look it up (open_by_handle_at: ${code})` }
    }
    try {
      // Where the kernel says the file is, beneath the share's root as the kernel names it.
      const at = fs.readlinkSync(`/proc/self/fd/${fd}`)
      const root = fs.readlinkSync(`/proc/self/fd/${this.rootFd}`)
      if (at.endsWith(' (deleted)')) return { why: 'the file is gone' }
      const prefix = root === '/' ? '/' : root + '/'
      if (!at.startsWith(prefix)) return { why: `it is outside the share now (${at})` }
      return { path: at.slice(prefix.length) }
    } catch (e) {
      return { why: (e as Error).message }
    } finally {
      native.closeNow(fd)
    }
  }

  async close (): Promise<void> {
    await fsClose(this.rootFd)
  }
}

/** A posix backend whose openat2/statx/close go through `sys`. */
export function posixBackendWith (name: string, sys: PosixSys): Backend {
  return {
    name,
    async openShare (rootPath, opts) {
      if (!nativeAvailable) {
        throw Object.assign(new Error(`native addon unavailable (${nativeLoadError?.message ?? 'not built'}): cannot confine paths to the share`), { code: 'SMBTS_ERR_NATIVE' })
      }
      const fd = await fsOpen(rootPath, fsc.O_RDONLY | fsc.O_DIRECTORY)
      return new PosixShare(sys, rootPath, fd, opts)
    },
  }
}

export const posixBackend: Backend = posixBackendWith('posix', threadpoolSys)

/** A posix file handle's extentsChanged (PosixFile), for posix-uring's writes; undefined for another handle. */
export function posixFileExtentsChanged (f: VfsFile): (() => void) | undefined {
  return f instanceof PosixFile ? f.extentsChanged.bind(f) : undefined
}

/** A posix file handle's writeNow (PosixFile.writeNow), for posix-uring; undefined for another handle. */
export function posixFileWriteNow (f: VfsFile): ((buf: Buffer, off: number, len: number, position: number) => number | undefined) | undefined {
  return f instanceof PosixFile ? f.writeNow.bind(f) : undefined
}

/** The fd behind a posix file handle, for a backend that moves its data another way (posix-uring). */
export function posixFileFd (f: VfsFile): number | undefined {
  return f instanceof PosixFile ? f['fd'] : undefined
}
