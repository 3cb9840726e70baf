// Alternate data streams (MS-FSCC 2.1.4 / 2.4.43, MS-FSA 2.1.5.1 streams), kept as Samba's
// vfs_streams_xattr keeps them, so a share's streams move between Samba and smbts intact (ksmbd
// names its stream xattrs the same way; whether its values end in the NUL below is not checked):
//
//   one user xattr per named $DATA stream, on the base file (or directory), named
//     user.DosStream.<stream name>:$DATA
//   (Samba: SAMBA_XATTR_DOSSTREAM_PREFIX in source3/include/smb.h, the ":$DATA" suffix added by
//   streams_xattr_get_name() in source3/modules/vfs_streams_xattr.c with the default
//   `streams_xattr:store_stream_type = yes`); the stream name is kept as the client spelled it
//   when the stream was created, and looked up ignoring case;
//   whose value is the stream's bytes followed by one NUL byte (vfs_streams_xattr's pwrite and
//   ftruncate keep the value one byte longer than the stream; its stat reports length - 1). An
//   empty stream is a value of one NUL byte.
//
// A stream can never be larger than an xattr value: Linux caps one at 64 KiB (XATTR_SIZE_MAX),
// and ext4 without the ea_inode feature at about a block. Like Samba (`smbd max xattr size`,
// 65536 by default) a write or truncate that would make the value reach 64 KiB is refused with
// STATUS_FILE_SYSTEM_LIMITATION (Samba: EOVERFLOW from streams_xattr_pwrite, which
// smb2_write.c answers so for a stream); one the file system refuses below that (ENOSPC from ext4
// without ea_inode, past about 4 KiB) is STATUS_DISK_FULL, as Samba maps ENOSPC.
//
// The unnamed stream (`file::$DATA`) is the file itself; the CREATE handler opens it as such.
// Everything here works on an open VfsFile of the base file through the backend's xattr calls
// (VfsFile.getXattr and friends), so every backend (posix, posix-uring, memory) serves streams.
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import type { BasicInfoUpdate, DirEntry, Stat, VfsFile } from './backend.js'
import type { SecurityDescriptor } from '../wire/dtyp/security-descriptor.js'
import { upcaseName } from './case-fold.js'
import { FILE_ATTRIBUTE_DIRECTORY } from '../wire/fscc/constants.js'

export const STREAM_XATTR_PREFIX = 'user.DosStream.'
export const STREAM_TYPE_SUFFIX = ':$DATA'
/** Samba's `smbd max xattr size` default: a stream's value (data + NUL) stays below it. */
export const STREAM_VALUE_LIMIT = 65536
/** The largest stream: its value, one byte longer, must stay below STREAM_VALUE_LIMIT. */
export const STREAM_MAX_SIZE = STREAM_VALUE_LIMIT - 1
/** Linux's XATTR_NAME_MAX: the whole xattr name, prefix and suffix included, in UTF-8 bytes. */
const XATTR_NAME_MAX = 255

/** The code (err.code) of the error a stream write or truncate past STREAM_MAX_SIZE throws (errno.ts maps it). */
export const STREAM_TOO_LARGE_CODE = 'SMBTS_ERR_STREAM_TOO_LARGE'

/** A path's last component split at its stream part. */
export interface StreamSplit {
  /** The file's own name (before the first ':'). */
  file: string
  /**
   * undefined: no stream part at all; '': the unnamed data stream (`file::$DATA`); otherwise the
   * stream's name as the client spelled it (without the `:$DATA` type).
   */
  stream?: string
}

/**
 * Splits one path component `file[:stream[:type]]` (MS-FSCC 2.1.5.3 stream names, as Windows
 * answers): the type, when given, must be `$DATA` (any case); `file:` and `file:stream:` are
 * invalid, `file::$DATA` is the unnamed stream, `file:stream` has type $DATA. Stream names may
 * hold any character but NUL, `\`, `/` and `:` (wildcards and control characters included);
 * `\` never reaches here (it separates components). Throws OBJECT_NAME_INVALID otherwise.
 */
export function splitStreamName (component: string): StreamSplit {
  const i = component.indexOf(':')
  if (i < 0) return { file: component }
  const file = component.slice(0, i)
  const rest = component.slice(i + 1)
  const j = rest.indexOf(':')
  const name = j < 0 ? rest : rest.slice(0, j)
  if (j >= 0 && rest.slice(j + 1).toUpperCase() !== '$DATA') {
    throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, `stream type ${JSON.stringify(rest.slice(j + 1))} is not $DATA`)
  }
  if (name === '') {
    if (j < 0) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'empty stream name')
    return { file, stream: '' }
  }
  if (/[\0/]/.test(name)) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'invalid character in a stream name')
  if (Buffer.byteLength(STREAM_XATTR_PREFIX + name + STREAM_TYPE_SUFFIX, 'utf8') > XATTR_NAME_MAX) {
    throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'stream name too long')
  }
  return { file, stream: name }
}

/** The xattr that holds stream `name` (as it is to be stored). */
export function streamXattrName (name: string): string {
  return STREAM_XATTR_PREFIX + name + STREAM_TYPE_SUFFIX
}

/**
 * The stream name an xattr holds, or undefined when it holds none. A value stored without the
 * type (Samba's `store_stream_type = no`) is a stream too.
 */
export function streamNameOfXattr (xattr: string): string | undefined {
  if (!xattr.startsWith(STREAM_XATTR_PREFIX)) return undefined
  const rest = xattr.slice(STREAM_XATTR_PREFIX.length)
  const name = rest.toUpperCase().endsWith(STREAM_TYPE_SUFFIX) ? rest.slice(0, -STREAM_TYPE_SUFFIX.length) : rest
  return name === '' ? undefined : name
}

/** A stream's bytes from its xattr value (the value less its final NUL). */
export function decodeStreamValue (value: Buffer): Buffer {
  return value.length === 0 ? value : value.subarray(0, value.length - 1)
}

/** The xattr value that holds `data`: the bytes and one NUL. */
export function encodeStreamValue (data: Buffer, size = data.length): Buffer {
  const v = Buffer.alloc(size + 1)
  data.copy(v, 0, 0, Math.min(size, data.length))
  return v
}

/** The key of a stream's record in the locking store, beside its file's (`fileKey`). */
export function streamKey (fileKey: string, name: string): string {
  return `${fileKey}:${upcaseName(name)}`
}

export interface StreamEntry {
  /** As stored. */
  name: string
  xattr: string
  size: number
}

function xattrCalls (base: VfsFile): Required<Pick<VfsFile, 'getXattr' | 'setXattr' | 'listXattrs' | 'removeXattr'>> {
  const { getXattr, setXattr, listXattrs, removeXattr } = base
  if (getXattr === undefined || setXattr === undefined || listXattrs === undefined || removeXattr === undefined) {
    throw Object.assign(new Error('this backend keeps no xattrs'), { code: 'EOPNOTSUPP' })
  }
  return { getXattr: getXattr.bind(base), setXattr: setXattr.bind(base), listXattrs: listXattrs.bind(base), removeXattr: removeXattr.bind(base) }
}

/** The xattrs of `base` that hold streams, with their names (no values read: one flistxattr). */
export async function streamXattrs (base: VfsFile): Promise<Array<{ name: string, xattr: string }>> {
  let names: string[]
  try {
    names = await xattrCalls(base).listXattrs()
  } catch (e) {
    // A file system without user xattrs has no streams.
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EOPNOTSUPP' || code === 'ENOTSUP') return []
    throw e
  }
  const out = []
  for (const xattr of names) {
    const name = streamNameOfXattr(xattr)
    if (name !== undefined) out.push({ name, xattr })
  }
  return out
}

/** Every named stream of the open file `base`, with its size (FileStreamInformation). */
export async function listStreams (base: VfsFile): Promise<StreamEntry[]> {
  const calls = xattrCalls(base)
  const out: StreamEntry[] = []
  for (const s of await streamXattrs(base)) {
    const v = await calls.getXattr(s.xattr)
    if (v !== undefined) out.push({ ...s, size: decodeStreamValue(v).length })
  }
  return out
}

/** The stream of `base` named `name` in any case (Windows matches stream names so), or undefined. */
export async function findStream (base: VfsFile, name: string): Promise<{ name: string, xattr: string } | undefined> {
  const want = upcaseName(name)
  const all = await streamXattrs(base)
  return all.find(s => s.name === name) ?? all.find(s => upcaseName(s.name) === want)
}

/** Creates stream `name` of `base`, empty; EEXIST when it is there. */
export async function createStream (base: VfsFile, name: string): Promise<string> {
  const xattr = streamXattrName(name)
  await xattrCalls(base).setXattr(xattr, Buffer.alloc(1), 'create')
  return xattr
}

/** Removes one stream. */
export async function removeStream (base: VfsFile, xattr: string): Promise<void> {
  await xattrCalls(base).removeXattr(xattr)
}

/** Removes every named stream of `base` (an overwrite of the file: MS-FSA 2.1.5.1.2.1). */
export async function removeAllStreams (base: VfsFile): Promise<number> {
  const calls = xattrCalls(base)
  const all = await streamXattrs(base)
  for (const s of all) {
    try { await calls.removeXattr(s.xattr) } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENODATA') throw e }
  }
  return all.length
}

/**
 * Renames stream `from` (its xattr) to `to`: the value under the new name, then the old one
 * removed (what vfs_streams_xattr's rename does; xattrs have no rename). An existing `to` (in any
 * case) is EEXIST unless `replace`; then it is replaced, keeping nothing of it.
 */
export async function renameStream (base: VfsFile, fromXattr: string, to: string, replace: boolean): Promise<string> {
  const calls = xattrCalls(base)
  const value = await calls.getXattr(fromXattr)
  if (value === undefined) throw Object.assign(new Error('stream gone'), { code: 'ENOENT' })
  const existing = await findStream(base, to)
  if (existing !== undefined && existing.xattr === fromXattr) {
    // A rename to its own name in another case: the new spelling.
    const xattr = streamXattrName(to)
    if (xattr === fromXattr) return xattr
    await calls.setXattr(xattr, value)
    await calls.removeXattr(fromXattr)
    return xattr
  }
  if (existing !== undefined && !replace) throw Object.assign(new Error('stream exists'), { code: 'EEXIST' })
  if (existing !== undefined) await calls.removeXattr(existing.xattr)
  const xattr = streamXattrName(to)
  await calls.setXattr(xattr, value)
  await calls.removeXattr(fromXattr)
  return xattr
}

function tooLarge (what: string): Error {
  return Object.assign(new Error(`${what}: a stream holds at most ${STREAM_MAX_SIZE} bytes (one xattr value)`), { code: STREAM_TOO_LARGE_CODE })
}

function notDir (what: string): Error {
  return Object.assign(new Error(`${what}: a stream is not a directory`), { code: 'ENOTDIR' })
}

/**
 * Read-modify-writes of one stream in this process, one at a time: a write is a getxattr, a
 * change and a setxattr, and two at once would lose one. Keyed by the stream's locking-store key.
 * (Across worker processes the StreamFile's `exclusive` does the same.)
 */
const busy = new Map<string, Promise<unknown>>()
async function serially<T> (key: string, f: () => Promise<T>): Promise<T> {
  const before = busy.get(key) ?? Promise.resolve()
  const run = before.then(f, f)
  const tail = run.catch(() => {})
  busy.set(key, tail)
  try { return await run } finally {
    if (busy.get(key) === tail) busy.delete(key)
  }
}

/**
 * An open of a named stream: a VfsFile whose data is the stream's xattr on `base`, an open of the
 * base file (or directory) this handle owns and closes. Reads and writes copy through the value
 * (at most 64 KiB); everything else (times, attributes, security) is the base file's.
 */
/** Runs `f` holding a lock every process serving the share respects (the locking store's). */
export type Exclusive = <T>(f: () => Promise<T>) => Promise<T>

/**
 * The Exclusive of a stream open: its writes (read-modify-writes of the xattr) one at a time
 * across worker processes too, under the named lock `stream-io\0<key>` (`lockName`: the locking store's).
 */
export function streamWriteLock (lockName: (name: string) => Promise<() => void>, key: string): Exclusive {
  return async <T>(f: () => Promise<T>): Promise<T> => {
    const unlock = await lockName(`stream-io\0${key}`)
    try { return await f() } finally { unlock() }
  }
}

export class StreamFile implements VfsFile {
  readonly isDirectory = false
  readonly isStream = true
  /**
   * `key`: the stream's locking-store key; `exclusive`: how a read-modify-write of the value keeps
   * other processes' out (worker processes), none in tests of the backend alone.
   */
  constructor (readonly base: VfsFile, public xattr: string, public name: string, private readonly key: string,
    private readonly exclusive?: Exclusive) {}

  private async rmw<T> (f: () => Promise<T>): Promise<T> {
    return await serially(this.key, async () => this.exclusive !== undefined ? await this.exclusive(f) : await f())
  }

  private async data (): Promise<Buffer> {
    const v = await xattrCalls(this.base).getXattr(this.xattr)
    // Removed under the open (a rename or delete by another handle): what the stream is now.
    if (v === undefined) throw Object.assign(new Error(`stream ${this.name} is gone`), { code: 'ENOENT' })
    return decodeStreamValue(v)
  }

  async read (buf: Buffer, off: number, len: number, position: number): Promise<number> {
    const d = await this.data()
    if (position >= d.length) return 0
    return d.copy(buf, off, position, Math.min(d.length, position + len))
  }

  async write (buf: Buffer, off: number, len: number, position: number): Promise<number> {
    if (position + len >= STREAM_VALUE_LIMIT) throw tooLarge(`write of ${len} bytes at ${position}`)
    return await this.rmw(async () => {
      const d = await this.data()
      const v = encodeStreamValue(d, Math.max(d.length, position + len))
      buf.copy(v, position, off, off + len)
      await xattrCalls(this.base).setXattr(this.xattr, v, 'replace')
      return len
    })
  }

  async truncate (length: number): Promise<void> {
    if (length >= STREAM_VALUE_LIMIT) throw tooLarge(`end of file ${length}`)
    await this.rmw(async () => {
      const d = await this.data()
      if (d.length === length) return
      await xattrCalls(this.base).setXattr(this.xattr, encodeStreamValue(d, length), 'replace')
    })
  }

  async allocate (length: number): Promise<void> {
    // An xattr has no blocks to reserve; a size it could never hold is refused now.
    if (length >= STREAM_VALUE_LIMIT) throw tooLarge(`allocation ${length}`)
  }

  async sync (): Promise<void> {
    // setxattr is a metadata change the file system journals; nothing is buffered here.
  }

  async copyFrom (src: VfsFile, srcPos: number, dstPos: number, len: number): Promise<number> {
    // Through a buffer: at most a stream's size, never a file's.
    if (dstPos + len >= STREAM_VALUE_LIMIT) throw tooLarge(`copy of ${len} bytes at ${dstPos}`)
    const buf = Buffer.alloc(len)
    const n = await src.read(buf, 0, len, srcPos)
    return n > 0 ? await this.write(buf, 0, n, dstPos) : 0
  }

  async setBasicInfo (u: BasicInfoUpdate): Promise<void> { await this.base.setBasicInfo(u) }

  /** The base file's attributes and times, with the stream's size. */
  async stat (): Promise<Stat> {
    const [st, d] = await Promise.all([this.base.stat(), this.data()])
    const size = BigInt(d.length)
    return { ...st, endOfFile: size, allocationSize: (size + 4095n) & ~4095n, isDirectory: false, fileAttributes: st.fileAttributes & ~FILE_ATTRIBUTE_DIRECTORY }
  }

  async getSecurityDescriptor (): Promise<SecurityDescriptor | undefined> { return await this.base.getSecurityDescriptor() }
  async setSecurityDescriptor (sd: Buffer): Promise<void> { await this.base.setSecurityDescriptor(sd) }
  async readdir (): Promise<DirEntry[]> { throw notDir('readdir') }
  async statEntry (): Promise<Stat> { throw notDir('statEntry') }
  async close (): Promise<void> { await this.base.close() }
}

/** The stream behind an open's file, when it is one. */
export function asStream (f: VfsFile | undefined): StreamFile | undefined {
  return f instanceof StreamFile ? f : undefined
}
