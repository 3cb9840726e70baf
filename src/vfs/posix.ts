// The posix backend: every path is resolved by the kernel beneath the share's root fd with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS [| RESOLVE_NO_SYMLINKS]) through the native
// addon, so `..`, absolute paths and symlinks can never reach outside the share.
import { promises as fsp, constants as fsc } from 'node:fs'
import fs from 'node:fs'
import { promisify } from 'node:util'
import type { Backend, DirEntry, OpenOptions, SetTimes, ShareFs, Stat, VfsFile } from './backend.js'
import type { FsInfo } from '../wire/fscc/types.js'
import { native, nativeAvailable, nativeLoadError, type Statx } from '../io/native.js'
import { filetimeFromUnixNs } from '../wire/filetime.js'

const fsRead = (fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => { fs.read(fd, buf, off, len, pos, (e, n) => { if (e) reject(e); else resolve(n) }) })
const fsWrite = (fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => { fs.write(fd, buf, off, len, pos, (e, n) => { if (e) reject(e); else resolve(n) }) })
const fsFsync = promisify(fs.fsync)
const fsFdatasync = promisify(fs.fdatasync)
const fsFtruncate = promisify(fs.ftruncate)
const fsFchmod = promisify(fs.fchmod)
const fsClose = promisify(fs.close)
const fsOpen = promisify(fs.open)

// MS-FSCC 2.6 FILE_ATTRIBUTE_*
const FILE_ATTRIBUTE_READONLY = 0x1
const FILE_ATTRIBUTE_HIDDEN = 0x2
const FILE_ATTRIBUTE_DIRECTORY = 0x10
const FILE_ATTRIBUTE_ARCHIVE = 0x20
const FILE_ATTRIBUTE_REPARSE_POINT = 0x400

const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

/** Converts the kernel's statx into the SMB model (what the FSCC encoders read). */
export function statFromStatx (sx: Statx, name: string): Stat {
  const type = sx.mode & S_IFMT
  const isDirectory = type === S_IFDIR
  let attrs = isDirectory ? FILE_ATTRIBUTE_DIRECTORY : FILE_ATTRIBUTE_ARCHIVE
  if (type === S_IFLNK) attrs |= FILE_ATTRIBUTE_REPARSE_POINT
  if ((sx.mode & 0o222) === 0) attrs |= FILE_ATTRIBUTE_READONLY
  if (name.startsWith('.') && name !== '.' && name !== '..') attrs |= FILE_ATTRIBUTE_HIDDEN
  // No birth time on this fs: the older of ctime and mtime is the best stand-in.
  const btime = sx.btimeNs !== 0n ? sx.btimeNs : (sx.ctimeNs < sx.mtimeNs ? sx.ctimeNs : sx.mtimeNs)
  return {
    creationTime: filetimeFromUnixNs(btime),
    lastAccessTime: filetimeFromUnixNs(sx.atimeNs),
    lastWriteTime: filetimeFromUnixNs(sx.mtimeNs),
    changeTime: filetimeFromUnixNs(sx.ctimeNs),
    endOfFile: isDirectory ? 0n : sx.size,
    allocationSize: isDirectory ? 0n : sx.blocks * 512n,
    fileAttributes: attrs,
    indexNumber: sx.ino,
    numberOfLinks: sx.nlink,
    isDirectory,
    uid: sx.uid,
    gid: sx.gid,
    mode: sx.mode,
  }
}

/**
 * The syscalls a share's path lookups and handles are made of: openat2, statx and close. The
 * posix backend runs them as the addon's threadpool calls; posix-uring hands them to the ring
 * (one submit per batch, no threadpool hop). The rarer ones (getdents, mkdirat, renameat2,
 * unlinkat, futimens, ...) stay threadpool calls in both.
 */
export interface PosixSys {
  openat2 (dirfd: number, path: string, flags: number, mode: number, resolve: number): Promise<number>
  statx (dirfd: number, path: string, flags: number, mask: number): Promise<Statx>
  close (fd: number): Promise<void>
}

const threadpoolSys: PosixSys = {
  openat2: (dirfd, path, flags, mode, resolve) => native.openat2(dirfd, path, flags, mode, resolve),
  statx: (dirfd, path, flags, mask) => native.statx(dirfd, path, flags, mask),
  close: fsClose,
}

/** statx mask: every basic field and the birth time. */
const STATX_ALL = 0x0fff

function baseName (path: string): string {
  const i = path.lastIndexOf('/')
  return i < 0 ? path : path.slice(i + 1)
}

class PosixFile implements VfsFile {
  private closed = false
  /** Operations on the fd still running: close() waits for them (CONVENTIONS 5), so a READ that
   *  raced a CLOSE never runs on a closed fd or on a number the kernel already gave to another file. */
  private inFlight = 0
  private drained?: () => void
  constructor (private readonly sys: PosixSys, private readonly fd: number, readonly isDirectory: boolean, private readonly name: string,
    /** What statx said right after the open: a CREATE answers from it instead of asking again. */
    readonly openStat: Stat) {}

  private async op<T> (f: () => Promise<T>): Promise<T> {
    if (this.closed) throw Object.assign(new Error('file handle closed'), { code: 'EBADF' })
    this.inFlight++
    try {
      return await f()
    } finally {
      if (--this.inFlight === 0) this.drained?.()
    }
  }

  async read (buf: Buffer, off: number, len: number, position: number): Promise<number> {
    return await this.op(async () => await fsRead(this.fd, buf, off, len, position))
  }

  async write (buf: Buffer, off: number, len: number, position: number): Promise<number> {
    return await this.op(async () => {
      let done = 0
      while (done < len) {
        const n = await fsWrite(this.fd, buf, off + done, len - done, position + done)
        if (n <= 0) break
        done += n
      }
      return done
    })
  }

  async sync (dataOnly: boolean): Promise<void> {
    await this.op(async () => { await (dataOnly ? fsFdatasync(this.fd) : fsFsync(this.fd)) })
  }

  async truncate (length: number): Promise<void> {
    await this.op(async () => { await fsFtruncate(this.fd, length) })
  }

  async allocate (length: number): Promise<void> {
    // Reserve blocks without changing the size (FALLOC_FL_KEEP_SIZE); a fs that can't is fine.
    try {
      if (length > 0) await this.op(async () => { await native.fallocate(this.fd, native.constants.FALLOC_FL_KEEP_SIZE, 0, length) })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EOPNOTSUPP') throw e
    }
  }

  async setTimes (t: SetTimes): Promise<void> {
    if (t.atimeNs === undefined && t.mtimeNs === undefined) return
    await this.op(async () => { await native.futimens(this.fd, t.atimeNs ?? null, t.mtimeNs ?? null) })
  }

  async chmod (mode: number): Promise<void> {
    await this.op(async () => { await fsFchmod(this.fd, mode) })
  }

  async stat (): Promise<Stat> {
    return await this.op(async () => statFromStatx(await this.sys.statx(this.fd, '', native.constants.AT_EMPTY_PATH, STATX_ALL), this.name))
  }

  async readdir (): Promise<DirEntry[]> {
    return await this.op(async () => {
      const raw = await native.getdents(this.fd)
      const out: DirEntry[] = []
      for (const d of raw) {
        const name = d.name.toString('utf8')
        try {
          const sx = await this.sys.statx(this.fd, name, native.constants.AT_SYMLINK_NOFOLLOW, STATX_ALL)
          out.push({ name, info: statFromStatx(sx, name) })
        } catch {
          // Gone between getdents and statx: skip it, as a later listing would.
        }
      }
      return out
    })
  }

  async statEntry (name: string): Promise<Stat> {
    return await this.op(async () => statFromStatx(await this.sys.statx(this.fd, name, native.constants.AT_SYMLINK_NOFOLLOW, STATX_ALL), name))
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.inFlight > 0) await new Promise<void>((resolve) => { this.drained = resolve })
    await this.sys.close(this.fd)
  }
}

class PosixShare implements ShareFs {
  private readonly resolve: number
  constructor (private readonly sys: PosixSys, readonly root: string, private readonly rootFd: number, private readonly followSymlinks: boolean) {
    const c = native.constants
    // Symlinks inside the share are followed only when the share allows it, and even then the
    // kernel refuses any that lead outside (RESOLVE_BENEATH applies to every component).
    this.resolve = c.RESOLVE_BENEATH | c.RESOLVE_NO_MAGICLINKS | (followSymlinks ? 0 : c.RESOLVE_NO_SYMLINKS)
  }

  private rel (path: string): string {
    return path === '' ? '.' : path
  }

  async open (path: string, o: OpenOptions): Promise<VfsFile> {
    const c = native.constants
    // A final-component symlink is followed only when the share follows symlinks; the kernel
    // still refuses one that leads outside (RESOLVE_BENEATH).
    let flags = c.O_CLOEXEC | (this.followSymlinks ? 0 : c.O_NOFOLLOW)
    if (o.directory) flags |= c.O_DIRECTORY | c.O_RDONLY
    else flags |= o.write ? c.O_RDWR : c.O_RDONLY
    if (o.create === 'new') flags |= c.O_CREAT | c.O_EXCL
    else if (o.create === 'either') flags |= c.O_CREAT
    if (o.truncate) flags |= c.O_TRUNC
    const rel = this.rel(path)
    let fd: number
    try {
      fd = await this.sys.openat2(this.rootFd, rel, flags, o.mode ?? 0o644, this.resolve)
    } catch (e) {
      // A directory opened without O_DIRECTORY but for writing fails with EISDIR: reopen it
      // read-only, the caller decides what the handle may do.
      if ((e as NodeJS.ErrnoException).code === 'EISDIR' && !o.directory) {
        fd = await this.sys.openat2(this.rootFd, rel, c.O_CLOEXEC | c.O_RDONLY | c.O_DIRECTORY, 0, this.resolve)
      } else {
        throw e
      }
    }
    const name = baseName(path)
    const sx = await this.sys.statx(fd, '', c.AT_EMPTY_PATH, STATX_ALL).catch(async (e) => { await this.sys.close(fd); throw e })
    return new PosixFile(this.sys, fd, (sx.mode & S_IFMT) === S_IFDIR, name, statFromStatx(sx, name))
  }

  async stat (path: string): Promise<Stat> {
    // Resolve the parent beneath the root, then lstat the last component relative to it.
    const c = native.constants
    if (path === '') return statFromStatx(await this.sys.statx(this.rootFd, '', c.AT_EMPTY_PATH, STATX_ALL), '')
    if (this.followSymlinks) {
      // Following: resolve the whole path beneath the root (O_PATH), then stat what it names,
      // so a link that leads outside fails (EXDEV) instead of describing the outside file.
      const fd = await this.sys.openat2(this.rootFd, path, c.O_PATH | c.O_CLOEXEC, 0, this.resolve)
      try {
        return statFromStatx(await this.sys.statx(fd, '', c.AT_EMPTY_PATH, STATX_ALL), baseName(path))
      } finally { await this.sys.close(fd) }
    }
    const { dirFd, name, close } = await this.parent(path)
    try {
      return statFromStatx(await this.sys.statx(dirFd, name, c.AT_SYMLINK_NOFOLLOW, STATX_ALL), name)
    } finally { await close() }
  }

  /** Opens the parent directory of `path` beneath the root (O_PATH) for the *at() calls. */
  private async parent (path: string): Promise<{ dirFd: number, name: string, close: () => Promise<void> }> {
    const c = native.constants
    const i = path.lastIndexOf('/')
    const name = i < 0 ? path : path.slice(i + 1)
    if (i < 0) return { dirFd: this.rootFd, name, close: async () => {} }
    const fd = await this.sys.openat2(this.rootFd, path.slice(0, i), c.O_PATH | c.O_DIRECTORY | c.O_CLOEXEC, 0, this.resolve)
    return { dirFd: fd, name, close: async () => { await this.sys.close(fd) } }
  }

  async mkdir (path: string, mode: number): Promise<void> {
    const { dirFd, name, close } = await this.parent(path)
    try { await native.mkdirat(dirFd, name, mode) } finally { await close() }
  }

  async unlink (path: string, isDirectory: boolean): Promise<void> {
    const { dirFd, name, close } = await this.parent(path)
    try { await native.unlinkat(dirFd, name, isDirectory ? native.constants.AT_REMOVEDIR : 0) } finally { await close() }
  }

  async rename (from: string, to: string, replace: boolean): Promise<void> {
    const a = await this.parent(from)
    try {
      const b = await this.parent(to)
      try {
        await native.renameat2(a.dirFd, a.name, b.dirFd, b.name, replace ? 0 : native.constants.RENAME_NOREPLACE)
      } finally { await b.close() }
    } finally { await a.close() }
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
      return new PosixShare(sys, rootPath, fd, opts.followSymlinks)
    },
  }
}

export const posixBackend: Backend = posixBackendWith('posix', threadpoolSys)

/** The fd behind a posix file handle, for a backend that moves its data another way (posix-uring). */
export function posixFileFd (f: VfsFile): number | undefined {
  return f instanceof PosixFile ? f['fd'] : undefined
}
