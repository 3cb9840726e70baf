// The memory backend (ARCHITECTURE: vfs, "memory (tests)"): the whole Backend interface over a
// tree of nodes held in this process, so the protocol layer runs without a disk. It keeps what
// the posix backend keeps, with the same rules for what is reported (posix.ts statFromStatx):
// file data (sparse, in chunks), directories, the four times, the POSIX mode (a file's READONLY
// is its write bits), the DOS record the posix backend keeps in user.DOSATTRIB (attributes,
// CreationTime, a client-set ChangeTime that holds until the data changes) and the NT security
// descriptor record it keeps in user.smbts.ntacl.
//
// Failures are errno-shaped errors (code 'ENOENT', errno -2, as node:fs throws them), chosen as
// Linux would answer the same call, so errno.ts maps them exactly as for posix: ENOENT, EEXIST,
// ENOTDIR, EISDIR, ENOTEMPTY, EINVAL (a directory moved beneath itself, O_CREAT|O_DIRECTORY),
// EXDEV (a `..` above the share root, as RESOLVE_BENEATH refuses it), EBADF (a closed handle, or
// a write on a handle opened read-only), ENAMETOOLONG, EFBIG, ENOSPC (the backend's capacity),
// E2BIG (an xattr value over 64 KiB).
//
// What it has no notion of, and so never reports: symlinks, special files, mounts, hard links,
// permissions beyond the mode bits (every caller acts as the owner with CAP_DAC_OVERRIDE, as the
// server does when it runs as root), name encodings (names are JS strings).
import { constants as osConstants } from 'node:os'
import { getSystemErrorMessage } from 'node:util'
import type { Backend, BasicInfoUpdate, CaseResolution, DirEntry, OpenOptions, ShareFs, ShareOptions, Stat, VfsFile } from './backend.js'
import type { FsInfo } from '../wire/fscc/types.js'
import type { SecurityDescriptor } from '../wire/dtyp/security-descriptor.js'
import { filetimeFromUnixNs } from '../wire/filetime.js'
import {
  FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_READONLY,
} from '../wire/fscc/constants.js'
import { pickCaseMatch } from './case-fold.js'
import { DOS_STORED_ATTRIBUTES, keepExtras, type Creator } from './dos-xattr.js'
import { NTACL_XATTR_NAME, decodeNtAclRecord, encodeNtAclRecord } from './ntacl-xattr.js'

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
/** Applied to every new node's mode, as the usual process umask would be on disk. */
const UMASK = 0o022
/** Data is kept in chunks of this size; a chunk never written reads as zeros (a sparse file). */
const CHUNK = 64 * 1024
/** The unit allocation sizes are reported in (a 4 KiB block, as ext4 and tmpfs have). */
const BLOCK = 4096
/** The largest file: the largest position a JS number holds exactly. */
const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER
/** NAME_MAX: a name of more UTF-8 bytes than this is ENAMETOOLONG, as on Linux. */
const NAME_MAX = 255
/** XATTR_SIZE_MAX: a longer xattr value is E2BIG, as on Linux. */
const XATTR_SIZE_MAX = 64 * 1024
/** Capacity of a backend unless told otherwise (what statfs reports, and where ENOSPC begins). */
const DEFAULT_CAPACITY = 1024 * 1024 * 1024

/** An errno-shaped error, as node:fs makes them: code 'ENOENT', errno -2, syscall, path. */
function errnoError (code: string, syscall: string, path?: string): NodeJS.ErrnoException {
  const errno = (osConstants.errno as Record<string, number>)[code] ?? 0
  const what = errno !== 0 ? getSystemErrorMessage(-errno) : code
  const e: NodeJS.ErrnoException = new Error(`${code}: ${what}, ${syscall}${path !== undefined ? ` '${path}'` : ''}`)
  e.code = code
  e.errno = -errno
  e.syscall = syscall
  if (path !== undefined) e.path = path
  return e
}

// A wall clock with sub-millisecond steps (Date.now() alone gives two changes in one millisecond
// the same time): the wall time once, then the monotonic clock's progress added to it.
const WALL0_NS = BigInt(Date.now()) * 1_000_000n
const MONO0_NS = process.hrtime.bigint()
const now = (): bigint => filetimeFromUnixNs(WALL0_NS + (process.hrtime.bigint() - MONO0_NS))

/** What the posix backend keeps in user.DOSATTRIB (dos-xattr.ts DosRecord), in memory. */
interface DosState {
  /** Within DOS_STORED_ATTRIBUTES; a file's READONLY is never here (it is the mode's). */
  fileAttributes: number
  creationTime?: bigint
  changeTime?: bigint
  /** PosixIds.creator. */
  creator?: Creator
  /** BasicInfoUpdate.eaSize. */
  eaSize?: number
  /** The data changed after the record was written (the posix record's write anchor no longer
   *  matches the mtime): the file is reported ARCHIVE, a stored ChangeTime no longer holds. */
  dataChanged: boolean
}

/** A file's bytes: `size` long, in CHUNK-sized buffers, a missing one all zeros. */
class SparseData {
  size = 0
  readonly chunks = new Map<number, Buffer>()

  read (buf: Buffer, off: number, len: number, position: number): number {
    const n = Math.max(0, Math.min(len, this.size - position))
    for (let done = 0; done < n;) {
      const at = position + done
      const index = Math.floor(at / CHUNK)
      const inChunk = at - index * CHUNK
      const step = Math.min(n - done, CHUNK - inChunk)
      const chunk = this.chunks.get(index)
      if (chunk === undefined) buf.fill(0, off + done, off + done + step)
      else chunk.copy(buf, off + done, inChunk, inChunk + step)
      done += step
    }
    return n
  }

  /** How many chunks a write of [position, position + len) adds. */
  newChunks (position: number, len: number): number {
    if (len === 0) return 0
    let n = 0
    for (let i = Math.floor(position / CHUNK); i <= Math.floor((position + len - 1) / CHUNK); i++) if (!this.chunks.has(i)) n++
    return n
  }

  write (buf: Buffer, off: number, len: number, position: number): void {
    for (let done = 0; done < len;) {
      const at = position + done
      const index = Math.floor(at / CHUNK)
      const inChunk = at - index * CHUNK
      const step = Math.min(len - done, CHUNK - inChunk)
      let chunk = this.chunks.get(index)
      if (chunk === undefined) this.chunks.set(index, chunk = Buffer.alloc(CHUNK))
      buf.copy(chunk, inChunk, off + done, off + done + step)
      done += step
    }
    this.size = Math.max(this.size, position + len)
  }

  truncate (length: number): void {
    if (length < this.size) {
      for (const index of [...this.chunks.keys()]) {
        const start = index * CHUNK
        if (start >= length) this.chunks.delete(index)
        // The tail of the last chunk is zeroed, so growing the file again reads zeros there.
        else if (start + CHUNK > length) this.chunks.get(index)!.fill(0, length - start)
      }
    }
    this.size = length
  }

  /** Zeros [off, off + len) within the size; whole chunks in it are freed (a hole). */
  punch (off: number, len: number): void {
    const end = Math.min(off + len, this.size)
    for (const index of [...this.chunks.keys()]) {
      const start = index * CHUNK
      const from = Math.max(off, start)
      const to = Math.min(end, start + CHUNK)
      if (from >= to) continue
      if (from === start && to === start + CHUNK) this.chunks.delete(index)
      else this.chunks.get(index)!.fill(0, from - start, to - start)
    }
  }

  /** The written (chunked) ranges inside [off, off + len) and the size, merged, in order. */
  ranges (off: number, len: number): Array<[number, number]> {
    const end = Math.min(off + len, this.size)
    const out: Array<[number, number]> = []
    for (const index of [...this.chunks.keys()].sort((a, b) => a - b)) {
      const from = Math.max(off, index * CHUNK)
      const to = Math.min(end, (index + 1) * CHUNK)
      if (from >= to) continue
      const last = out.at(-1)
      if (last !== undefined && last[0] + last[1] === from) last[1] += to - from
      else out.push([from, to - from])
    }
    return out
  }

  /** Bytes of chunks within the file's size, in blocks (what stat's blocks would say). */
  allocated (): number {
    let bytes = 0
    for (const index of this.chunks.keys()) bytes += roundUp(Math.max(0, Math.min(CHUNK, this.size - index * CHUNK)), BLOCK)
    return bytes
  }
}

const roundUp = (n: number, unit: number): number => Math.ceil(n / unit) * unit

class MemNode {
  /** A directory's entries, in the order they were made (the order a listing gives). */
  readonly entries: Map<string, MemNode> | undefined
  readonly data: SparseData | undefined
  /** Bytes reserved by allocate() (fallocate KEEP_SIZE): reported, and counted against the capacity. */
  reserved = 0
  readonly xattrs = new Map<string, Buffer>()
  dos: DosState | undefined
  /** Open handles: an unlinked file's data lives until the last one closes. */
  handles = 0
  linked = true
  btime: bigint
  atime: bigint
  mtime: bigint
  ctime: bigint
  constructor (readonly ino: bigint, public name: string, public parent: MemNode | undefined, public mode: number, readonly uid: number, readonly gid: number) {
    const directory = (mode & S_IFDIR) === S_IFDIR
    this.entries = directory ? new Map() : undefined
    this.data = directory ? undefined : new SparseData()
    this.btime = this.atime = this.mtime = this.ctime = now()
  }

  get isDirectory (): boolean { return this.entries !== undefined }

  /** What the node holds of the capacity: its chunks, or its reservation when that is larger. */
  footprint (): number {
    return this.data === undefined ? 0 : Math.max(this.data.chunks.size * CHUNK, roundUp(this.reserved, CHUNK))
  }

  /** The data changed (MS-FSA 2.1.4.17): LastWriteTime and ChangeTime move, a file becomes ARCHIVE. */
  touchData (): void {
    this.mtime = this.ctime = now()
    if (this.dos !== undefined) this.dos.dataChanged = true
  }

  /** Only metadata changed: ChangeTime moves (a stored one still holds). */
  touchMeta (): void {
    this.ctime = now()
  }
}

/** How a share reports nodes (ShareOptions). */
interface View { hideDotFiles: boolean, storeDos: boolean }

/** The DOS attributes a node has of its own (posix.ts ownAttributes: the record's, else ARCHIVE for a file). */
function ownAttributes (node: MemNode, view: View): number {
  const rec = view.storeDos ? node.dos : undefined
  if (rec === undefined) return node.isDirectory ? 0 : FILE_ATTRIBUTE_ARCHIVE
  let attrs = rec.fileAttributes & (node.isDirectory ? DOS_STORED_ATTRIBUTES : DOS_STORED_ATTRIBUTES & ~FILE_ATTRIBUTE_READONLY)
  if (!node.isDirectory && rec.dataChanged) attrs |= FILE_ATTRIBUTE_ARCHIVE
  return attrs
}

/** The node as the server reports it, by the rules of posix.ts statFromStatx. */
function statOf (node: MemNode, name: string, view: View): Stat {
  let attrs = ownAttributes(node, view)
  if (view.hideDotFiles && name.startsWith('.') && name !== '.' && name !== '..') attrs |= FILE_ATTRIBUTE_HIDDEN
  if (node.isDirectory) attrs |= FILE_ATTRIBUTE_DIRECTORY
  else if ((node.mode & 0o222) === 0) attrs |= FILE_ATTRIBUTE_READONLY
  if (attrs === 0) attrs = FILE_ATTRIBUTE_NORMAL
  const rec = view.storeDos ? node.dos : undefined
  let links = node.linked ? 1 : 0
  if (node.entries !== undefined) {
    links = 2
    for (const child of node.entries.values()) if (child.isDirectory) links++
  }
  return {
    creationTime: rec?.creationTime ?? node.btime,
    lastAccessTime: node.atime,
    lastWriteTime: node.mtime,
    changeTime: rec?.changeTime !== undefined && !rec.dataChanged ? rec.changeTime : node.ctime,
    endOfFile: BigInt(node.data?.size ?? 0),
    allocationSize: node.data === undefined ? 0n : BigInt(Math.max(node.data.allocated(), roundUp(node.reserved, BLOCK))),
    fileAttributes: attrs,
    indexNumber: node.ino,
    numberOfLinks: links,
    isDirectory: node.isDirectory,
    uid: node.uid,
    gid: node.gid,
    mode: node.mode,
    ...(rec?.creator !== undefined ? { creator: rec.creator } : {}),
    ...(rec?.eaSize !== undefined ? { eaSize: rec.eaSize } : {}),
  }
}

/** The components of a share-relative path; '' (and '.') is the root. */
function components (path: string, syscall: string): string[] {
  // Resolution stays beneath the share root (RESOLVE_BENEATH): an absolute path is EXDEV.
  if (path.startsWith('/')) throw errnoError('EXDEV', syscall, path)
  const out: string[] = []
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue
    if (Buffer.byteLength(c, 'utf8') > NAME_MAX) throw errnoError('ENAMETOOLONG', syscall, path)
    out.push(c)
  }
  return out
}

/**
 * One share's tree, in memory. Its methods are synchronous and throw errno errors; the ShareFs
 * of a share wraps them. Tests use them directly to put files in place and look at what the
 * server left (as they would use node:fs on a posix share's directory).
 */
export class MemoryTree {
  readonly rootNode: MemNode
  /** Bytes of data (whole chunks) and reservations held, against `capacity`. */
  used = 0
  /** What reporting uses when a caller has no share options: Samba's defaults. */
  private readonly view: View = { hideDotFiles: true, storeDos: true }
  constructor (private readonly backend: MemoryBackend, readonly rootPath: string) {
    this.rootNode = this.newNode('', undefined, S_IFDIR | 0o755)
  }

  get capacity (): number { return this.backend.capacity }

  newNode (name: string, parent: MemNode | undefined, mode: number): MemNode {
    return new MemNode(this.backend.nextIno(), name, parent, mode, process.getuid?.() ?? 0, process.getgid?.() ?? 0)
  }

  /** The node `path` names: ENOENT when a component is missing, ENOTDIR when one on the way is a file. */
  lookup (path: string, syscall = 'stat'): MemNode {
    let node = this.rootNode
    for (const c of components(path, syscall)) node = this.step(node, c, syscall, path)
    return node
  }

  private step (dir: MemNode, name: string, syscall: string, path: string): MemNode {
    if (dir.entries === undefined) throw errnoError('ENOTDIR', syscall, path)
    if (name === '..') {
      if (dir.parent === undefined) throw errnoError('EXDEV', syscall, path)
      return dir.parent
    }
    const next = dir.entries.get(name)
    if (next === undefined) throw errnoError('ENOENT', syscall, path)
    return next
  }

  /** The directory that would hold `path`'s last component, and that name. */
  parentOf (path: string, syscall: string): { dir: MemNode, name: string } {
    const parts = components(path, syscall)
    const name = parts.pop()
    // The root has no name in its parent: an operation on it is refused as rmdir('.') is.
    if (name === undefined || name === '..') throw errnoError(name === undefined ? 'EBUSY' : 'EINVAL', syscall, path)
    let dir = this.rootNode
    for (const c of parts) dir = this.step(dir, c, syscall, path)
    if (dir.entries === undefined) throw errnoError('ENOTDIR', syscall, path)
    return { dir, name }
  }

  /** Adds a new node named `name` to `dir` (EEXIST when the name is taken). */
  addNode (dir: MemNode, name: string, mode: number, syscall: string, path: string): MemNode {
    if (dir.entries!.has(name)) throw errnoError('EEXIST', syscall, path)
    const node = this.newNode(name, dir, mode)
    dir.entries!.set(name, node)
    dir.touchData()
    return node
  }

  /** Takes `node` out of its directory; its data goes when no handle holds it any more. */
  detach (node: MemNode): void {
    const dir = node.parent!
    dir.entries!.delete(node.name)
    dir.touchData()
    node.linked = false
    node.touchMeta() // its link count changed
    if (node.handles === 0) this.release(node)
  }

  /** Frees an unlinked node's data. */
  release (node: MemNode): void {
    this.used -= node.footprint()
    node.data?.truncate(0)
    node.reserved = 0
  }

  /**
   * Runs `change` on a node's data when what it will hold afterwards (`after`, as footprint()
   * counts it) fits in the capacity (ENOSPC otherwise), and accounts what it holds then.
   */
  charge (node: MemNode, after: number, syscall: string, change: () => void): void {
    const before = node.footprint()
    if (after > before && this.used + after - before > this.capacity) throw errnoError('ENOSPC', syscall)
    change()
    // An unlinked node's data is counted until it is released.
    this.used += node.footprint() - before
  }

  /** unlink(2) (rmdir(2) when `isDirectory`). */
  unlink (path: string, isDirectory: boolean): void {
    const syscall = isDirectory ? 'rmdir' : 'unlink'
    const { dir, name } = this.parentOf(path, syscall)
    const node = this.step(dir, name, syscall, path)
    if (isDirectory && !node.isDirectory) throw errnoError('ENOTDIR', syscall, path)
    if (!isDirectory && node.isDirectory) throw errnoError('EISDIR', syscall, path)
    if (node.entries !== undefined && node.entries.size > 0) throw errnoError('ENOTEMPTY', syscall, path)
    this.detach(node)
  }

  /** rename(2), or renameat2(RENAME_NOREPLACE) when `replace` is false. */
  rename (from: string, to: string, replace: boolean): void {
    const a = this.parentOf(from, 'rename')
    const node = this.step(a.dir, a.name, 'rename', from)
    const b = this.parentOf(to, 'rename')
    const target = b.dir.entries!.get(b.name)
    if (target === node) return // the same file (rename(2) does nothing)
    if (target !== undefined) {
      if (!replace) throw errnoError('EEXIST', 'rename', to)
      if (node.isDirectory && !target.isDirectory) throw errnoError('ENOTDIR', 'rename', to)
      if (!node.isDirectory && target.isDirectory) throw errnoError('EISDIR', 'rename', to)
      if (target.entries !== undefined && target.entries.size > 0) throw errnoError('ENOTEMPTY', 'rename', to)
    }
    // A directory cannot move beneath itself.
    for (let d: MemNode | undefined = b.dir; d !== undefined; d = d.parent) if (d === node) throw errnoError('EINVAL', 'rename', to)
    if (target !== undefined) this.detach(target)
    a.dir.entries!.delete(node.name)
    a.dir.touchData()
    node.name = b.name
    node.parent = b.dir
    b.dir.entries!.set(b.name, node)
    b.dir.touchData()
    node.touchMeta()
  }

  mkdir (path: string, mode = 0o777, opts: { recursive?: boolean } = {}): void {
    if (opts.recursive === true) {
      let dir = this.rootNode
      for (const c of components(path, 'mkdir')) {
        const next = c === '..' ? this.step(dir, c, 'mkdir', path) : dir.entries?.get(c)
        if (next === undefined) dir = this.addNode(dir, c, S_IFDIR | (mode & ~UMASK & 0o7777), 'mkdir', path)
        else if (!next.isDirectory) throw errnoError('ENOTDIR', 'mkdir', path)
        else dir = next
      }
      return
    }
    const { dir, name } = this.parentOf(path, 'mkdir')
    this.addNode(dir, name, S_IFDIR | (mode & ~UMASK & 0o7777), 'mkdir', path)
  }

  /** Creates or replaces the contents of the file at `path` (its directory must exist). */
  writeFile (path: string, contents: string | Uint8Array, mode = 0o666): void {
    const { dir, name } = this.parentOf(path, 'open')
    let node = dir.entries!.get(name)
    if (node?.isDirectory === true) throw errnoError('EISDIR', 'open', path)
    node ??= this.addNode(dir, name, S_IFREG | (mode & ~UMASK & 0o7777), 'open', path)
    const data = typeof contents === 'string' ? Buffer.from(contents, 'utf8') : Buffer.from(contents.buffer, contents.byteOffset, contents.byteLength)
    const file = node
    const bytes = file.data!
    this.charge(file, roundUp(file.reserved, CHUNK), 'open', () => { bytes.truncate(0) })
    this.charge(file, Math.max(bytes.newChunks(0, data.length) * CHUNK, roundUp(file.reserved, CHUNK)), 'write', () => { bytes.write(data, 0, data.length, 0) })
    file.touchData()
  }

  readFile (path: string): Buffer {
    const node = this.lookup(path, 'open')
    if (node.data === undefined) throw errnoError('EISDIR', 'read', path)
    const out = Buffer.alloc(node.data.size)
    node.data.read(out, 0, out.length, 0)
    return out
  }

  exists (path: string): boolean {
    try { this.lookup(path); return true } catch { return false }
  }

  /** The names in a directory ('.' and '..' left out), in listing order. */
  readdir (path = ''): string[] {
    const node = this.lookup(path, 'scandir')
    if (node.entries === undefined) throw errnoError('ENOTDIR', 'scandir', path)
    return [...node.entries.keys()]
  }

  /** Removes a file or an empty directory; with `recursive`, a directory and all it holds. */
  rm (path: string, opts: { recursive?: boolean } = {}): void {
    const node = this.lookup(path, 'rm')
    if (node.parent === undefined) throw errnoError('EBUSY', 'rm', path)
    if (opts.recursive === true) {
      const drop = (n: MemNode): void => { for (const child of [...n.entries?.values() ?? []]) { drop(child); this.detach(child) } }
      drop(node)
    }
    this.unlink(path, node.isDirectory)
  }

  stat (path: string, view: View = this.view): Stat {
    const node = this.lookup(path)
    return statOf(node, node.name, view)
  }
}

class MemoryFile implements VfsFile {
  private closed = false
  readonly openStat: Stat
  constructor (private readonly node: MemNode, private readonly share: MemoryShare, private readonly writable: boolean) {
    node.handles++
    this.openStat = statOf(node, node.name, share.view)
  }

  get isDirectory (): boolean { return this.node.isDirectory }

  private live (syscall: string): MemNode {
    if (this.closed) throw errnoError('EBADF', syscall)
    return this.node
  }

  /** The node's data, for an op that needs a regular file (EISDIR on a directory). */
  private fileData (syscall: string): { node: MemNode, data: SparseData } {
    const node = this.live(syscall)
    if (node.data === undefined) throw errnoError('EISDIR', syscall)
    return { node, data: node.data }
  }

  async read (buf: Buffer, off: number, len: number, position: number): Promise<number> {
    const { data } = this.fileData('read')
    if (position < 0 || off < 0 || len < 0 || off + len > buf.length) throw errnoError('EINVAL', 'read')
    return data.read(buf, off, len, position)
  }

  async write (buf: Buffer, off: number, len: number, position: number): Promise<number> {
    const { node, data } = this.fileData('write')
    if (!this.writable) throw errnoError('EBADF', 'write')
    if (position < 0 || off < 0 || len < 0 || off + len > buf.length) throw errnoError('EINVAL', 'write')
    if (position + len > MAX_FILE_SIZE) throw errnoError('EFBIG', 'write')
    if (len === 0) return 0
    const after = Math.max((data.chunks.size + data.newChunks(position, len)) * CHUNK, roundUp(node.reserved, CHUNK))
    this.share.tree.charge(node, after, 'write', () => { data.write(buf, off, len, position) })
    node.touchData()
    return len
  }

  async sync (_dataOnly: boolean): Promise<void> {
    this.live('fsync')
  }

  async chmod (mode: number): Promise<void> {
    const node = this.live('fchmod')
    node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
  }

  async truncate (length: number): Promise<void> {
    const { node, data } = this.fileData('ftruncate')
    if (!this.writable || length < 0) throw errnoError('EINVAL', 'ftruncate')
    if (length > MAX_FILE_SIZE) throw errnoError('EFBIG', 'ftruncate')
    this.share.tree.charge(node, 0, 'ftruncate', () => {
      data.truncate(length)
      // Blocks past the new end go, a reservation among them (as a truncate frees them on disk).
      node.reserved = Math.min(node.reserved, roundUp(length, BLOCK))
    })
    node.touchData()
  }

  async copyFrom (src: VfsFile, srcPos: number, dstPos: number, len: number): Promise<number> {
    if (!(src instanceof MemoryFile)) throw errnoError('EXDEV', 'copy_file_range')
    const buf = Buffer.allocUnsafe(len)
    const n = await src.read(buf, 0, len, srcPos)
    return n > 0 ? await this.write(buf, 0, n, dstPos) : 0
  }

  async punchHole (offset: number, length: number): Promise<void> {
    const { node, data } = this.fileData('fallocate')
    if (!this.writable) throw errnoError('EBADF', 'fallocate')
    if (offset < 0 || length < 0) throw errnoError('EINVAL', 'fallocate')
    this.share.tree.charge(node, 0, 'fallocate', () => { data.punch(offset, length) })
  }

  async allocatedRanges (offset: number, length: number, max?: number): Promise<Array<[number, number]>> {
    const ranges = this.fileData('lseek').data.ranges(offset, length)
    return max === undefined ? ranges : ranges.slice(0, max)
  }

  async allocate (length: number): Promise<void> {
    const { node } = this.fileData('fallocate')
    if (!this.writable) throw errnoError('EBADF', 'fallocate')
    if (length < 0) throw errnoError('EINVAL', 'fallocate')
    if (length > MAX_FILE_SIZE) throw errnoError('EFBIG', 'fallocate')
    if (length <= node.reserved) return
    const after = Math.max(node.data!.chunks.size * CHUNK, roundUp(length, CHUNK))
    this.share.tree.charge(node, after, 'fallocate', () => { node.reserved = length })
    // FALLOC_FL_KEEP_SIZE: the size and the data stay; only the inode changed.
    node.touchMeta()
  }

  async setBasicInfo (u: BasicInfoUpdate): Promise<void> {
    const node = this.live('setBasicInfo')
    const view = this.share.view
    // As posix.ts does it: the times first, then the record rebuilt from what the file looks like
    // now, so what was reported (a derived ARCHIVE, the birth time) stays unless this changes it.
    if (u.lastAccessTime !== undefined) node.atime = u.lastAccessTime
    if (u.lastWriteTime !== undefined) node.mtime = u.lastWriteTime
    const current = statOf(node, node.name, view)
    const attrs = u.fileAttributes ?? (ownAttributes(node, view) | (current.fileAttributes & FILE_ATTRIBUTE_READONLY))
    if (view.storeDos) {
      node.dos = {
        fileAttributes: attrs & (node.isDirectory ? DOS_STORED_ATTRIBUTES : DOS_STORED_ATTRIBUTES & ~FILE_ATTRIBUTE_READONLY),
        creationTime: u.creationTime ?? current.creationTime,
        changeTime: u.changeTime,
        dataChanged: false,
      }
      keepExtras(node.dos, u, current)
    }
    // A file's READONLY is its mode: no write bit for anyone, or the owner's back.
    if (u.fileAttributes !== undefined && !node.isDirectory) {
      if ((attrs & FILE_ATTRIBUTE_READONLY) !== 0) node.mode &= ~0o222
      else if ((node.mode & 0o222) === 0) node.mode |= 0o200
    }
    node.touchMeta()
  }

  async stat (): Promise<Stat> {
    const node = this.live('fstat')
    return statOf(node, node.name, this.share.view)
  }

  async getSecurityDescriptor (): Promise<SecurityDescriptor | undefined> {
    return decodeNtAclRecord(this.live('fgetxattr').xattrs.get(NTACL_XATTR_NAME))
  }

  async setSecurityDescriptor (sd: Buffer): Promise<void> {
    const node = this.live('fsetxattr')
    const value = encodeNtAclRecord(sd)
    if (value.length > XATTR_SIZE_MAX) throw errnoError('E2BIG', 'fsetxattr')
    node.xattrs.set(NTACL_XATTR_NAME, value)
    node.touchMeta()
  }

  async getXattr (name: string): Promise<Buffer | undefined> {
    const v = this.live('fgetxattr').xattrs.get(name)
    return v === undefined ? undefined : Buffer.from(v)
  }

  async setXattr (name: string, value: Buffer, flags?: 'create' | 'replace'): Promise<void> {
    const node = this.live('fsetxattr')
    if (value.length > XATTR_SIZE_MAX) throw errnoError('E2BIG', 'fsetxattr')
    if (flags === 'create' && node.xattrs.has(name)) throw errnoError('EEXIST', 'fsetxattr')
    if (flags === 'replace' && !node.xattrs.has(name)) throw errnoError('ENODATA', 'fsetxattr')
    node.xattrs.set(name, Buffer.from(value))
    node.touchMeta()
  }

  async listXattrs (): Promise<string[]> {
    return [...this.live('flistxattr').xattrs.keys()]
  }

  async removeXattr (name: string): Promise<void> {
    const node = this.live('fremovexattr')
    if (!node.xattrs.delete(name)) throw errnoError('ENODATA', 'fremovexattr')
    node.touchMeta()
  }

  async readdir (): Promise<DirEntry[]> {
    const node = this.live('getdents')
    if (node.entries === undefined) throw errnoError('ENOTDIR', 'getdents')
    const view = this.share.view
    // A directory's '..' is its parent; the share root's is itself (nothing outside the share).
    const out: DirEntry[] = [
      { name: '.', info: statOf(node, '.', view) },
      { name: '..', info: statOf(node.parent ?? node, '..', view) },
    ]
    for (const [name, child] of node.entries) out.push({ name, info: statOf(child, name, view) })
    return out
  }

  async statEntry (name: string): Promise<Stat> {
    const node = this.live('statx')
    if (node.entries === undefined) throw errnoError('ENOTDIR', 'statx', name)
    const child = name === '.' ? node : name === '..' ? node.parent ?? node : node.entries.get(name)
    if (child === undefined) throw errnoError('ENOENT', 'statx', name)
    return statOf(child, name, this.share.view)
  }

  async statEntries (names: string[]): Promise<Array<Stat | undefined>> {
    const node = this.live('statx')
    if (node.entries === undefined) throw errnoError('ENOTDIR', 'statx')
    const view = this.share.view
    return names.map((name) => {
      const child = node.entries!.get(name)
      return child === undefined ? undefined : statOf(child, name, view)
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const node = this.node
    if (--node.handles === 0 && !node.linked) this.share.tree.release(node)
  }
}

class MemoryShare implements ShareFs {
  readonly view: View
  private closed = false
  constructor (readonly tree: MemoryTree, opts: ShareOptions) {
    this.view = { hideDotFiles: opts.hideDotFiles ?? true, storeDos: opts.storeDosAttributes ?? true }
  }

  get root (): string { return this.tree.rootPath }

  private check (syscall: string): MemoryTree {
    if (this.closed) throw errnoError('EBADF', syscall)
    return this.tree
  }

  async resolveCase (path: string): Promise<CaseResolution> {
    const tree = this.check('openat2')
    const parts = path === '' ? [] : path.split('/')
    const found: string[] = []
    let dir = tree.rootNode
    for (const want of parts) {
      // A file in the middle of the path is not counted (the path, not the name, is wrong).
      if (dir.entries === undefined) { found.pop(); break }
      const name = dir.entries.has(want) ? want : pickCaseMatch(dir.entries.keys(), want)
      if (name === undefined) break
      found.push(name)
      dir = dir.entries.get(name)!
    }
    return { path: [...found, ...parts.slice(found.length)].join('/'), existing: found.length }
  }

  async open (path: string, o: OpenOptions): Promise<VfsFile> {
    const tree = this.check('openat2')
    if (o.create !== undefined && o.directory === true) throw errnoError('EINVAL', 'openat2', path)
    let node: MemNode
    if (o.create === undefined) {
      node = tree.lookup(path, 'openat2')
    } else {
      const { dir, name } = tree.parentOf(path, 'openat2')
      const existing = name === '..' ? undefined : dir.entries!.get(name)
      if (existing !== undefined && o.create === 'new') throw errnoError('EEXIST', 'openat2', path)
      node = existing ?? tree.addNode(dir, name, S_IFREG | ((o.mode ?? 0o644) & ~UMASK & 0o7777), 'openat2', path)
    }
    if (o.directory === true && !node.isDirectory) throw errnoError('ENOTDIR', 'openat2', path)
    // A directory opened for writing is opened read-only (posix.ts does the same after EISDIR):
    // the caller decides what the handle may do.
    if (node.isDirectory) return new MemoryFile(node, this, false)
    if (o.truncate === true) {
      const data = node.data!
      tree.charge(node, 0, 'openat2', () => { data.truncate(0); node.reserved = 0 })
      node.touchData()
    }
    return new MemoryFile(node, this, o.write)
  }

  openExisting (path: string, write: boolean, directory = false): VfsFile | null | undefined {
    if (this.closed) return undefined
    let node: MemNode
    try {
      node = this.tree.lookup(path, 'openat2')
    } catch (e) {
      // Missing: null, as stat's ENOENT says. Anything else the caller's stat and open explain.
      return (e as NodeJS.ErrnoException).code === 'ENOENT' ? null : undefined
    }
    if (node.isDirectory ? write : directory) return undefined
    return new MemoryFile(node, this, write)
  }

  async stat (path: string): Promise<Stat> {
    const node = this.check('statx').lookup(path, 'statx')
    return statOf(node, node.name, this.view)
  }

  async mkdir (path: string, mode: number): Promise<void> {
    this.check('mkdirat').mkdir(path, mode)
  }

  async unlink (path: string, isDirectory: boolean): Promise<void> {
    this.check('unlinkat').unlink(path, isDirectory)
  }

  async rename (from: string, to: string, replace: boolean): Promise<void> {
    this.check('renameat2').rename(from, to, replace)
  }

  async statfs (): Promise<FsInfo> {
    const tree = this.check('statfs')
    const total = BigInt(Math.floor(tree.capacity / BLOCK))
    const free = BigInt(Math.max(0, Math.floor((tree.capacity - tree.used) / BLOCK)))
    let serial = 0x811c9dc5 // FNV-1a of the root path: a stable serial number per share
    for (const ch of Buffer.from(tree.rootPath)) serial = Math.imul(serial ^ ch, 0x01000193) >>> 0
    return {
      totalAllocationUnits: total,
      availableAllocationUnits: free,
      callerAvailableAllocationUnits: free,
      sectorsPerAllocationUnit: BLOCK / 512,
      bytesPerSector: 512,
      volumeSerialNumber: serial,
      volumeLabel: '',
      volumeCreationTime: 0n,
      fileSystemName: 'NTFS',
      // MS-FSCC 2.5.1, as the posix backend reports them: case-sensitive search, case-preserved
      // and Unicode names, persistent ACLs, sparse files.
      fileSystemAttributes: 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000040,
      maximumComponentNameLength: NAME_MAX,
    }
  }

  async close (): Promise<void> {
    this.closed = true
  }
}

export interface MemoryBackendOptions {
  /** Bytes of file data each tree holds before writes fail with ENOSPC; 1 GiB by default. */
  capacity?: number
}

/**
 * A Backend whose shares live in memory: a share's root path names a tree made with tree()
 * (openShare of a root no tree was made for is ENOENT, as a missing directory is on disk). Each
 * tree is a file system of its own, `capacity` bytes large, and lives as long as the backend.
 */
export class MemoryBackend implements Backend {
  readonly name = 'memory'
  readonly capacity: number
  private readonly trees = new Map<string, MemoryTree>()
  private lastIno = 1n
  constructor (o: MemoryBackendOptions = {}) {
    this.capacity = o.capacity ?? DEFAULT_CAPACITY
  }

  nextIno (): bigint { return ++this.lastIno }

  /** The tree at `rootPath`, made (empty) the first time it is asked for. */
  tree (rootPath: string): MemoryTree {
    let tree = this.trees.get(rootPath)
    if (tree === undefined) this.trees.set(rootPath, tree = new MemoryTree(this, rootPath))
    return tree
  }

  async openShare (rootPath: string, opts: ShareOptions): Promise<ShareFs> {
    const tree = this.trees.get(rootPath)
    if (tree === undefined) throw errnoError('ENOENT', 'open', rootPath)
    return new MemoryShare(tree, opts)
  }
}

export function memoryBackend (o: MemoryBackendOptions = {}): MemoryBackend {
  return new MemoryBackend(o)
}
