// The posix-uring backend: the posix backend (openat2 confinement) with its openat2, statx and
// close, and the data path of every regular file (pread, pwrite, fsync), as io_uring ops: a
// CREATE/CLOSE costs no threadpool hop (the rarer path ops stay the addon's threadpool calls). The ring holds each Buffer until its CQE (CONVENTIONS 5), and a handle's close
// waits for its in-flight ops, so a late completion can never meet a reused fd.
import type { Backend, VfsFile } from './backend.js'
import { posixBackendWith, posixFileExtentsChanged, posixFileFd, posixFileWriteNow, type PosixSys } from './posix.js'
import type { Ring } from '../io/ring.js'
import { native, type StatxXattr } from '../io/native.js'

function ringData (f: VfsFile, ring: Ring): VfsFile {
  const fd = posixFileFd(f)
  if (fd === undefined || f.isDirectory) return f
  let inflight = 0
  const idle: Array<() => void> = []
  const track = async <T>(p: Promise<T>): Promise<T> => {
    inflight++
    try { return await p } finally {
      if (--inflight === 0) for (const wake of idle.splice(0)) wake()
    }
  }
  const close = f.close.bind(f)
  let closing = false
  f.lendFd = () => {
    if (closing) return undefined
    inflight++
    let back = false
    return {
      fd,
      giveBack: () => {
        if (back) return
        back = true
        if (--inflight === 0) for (const wake of idle.splice(0)) wake()
      },
    }
  }
  f.read = (buf, off, len, position, fixed) => track(fixed !== undefined ? ring.readFixed(fd, buf, off, len, position, fixed) : ring.read(fd, buf, off, len, position))
  // A write may change the extents the handle's stat counted (PosixFile.stat): it says so when done.
  const extentsChanged = posixFileExtentsChanged(f)
  const ringWrite = (buf: Buffer, off: number, len: number, position: number): Promise<number> => track((async () => {
    let done = 0
    try {
      while (done < len) {
        const n = await ring.write(fd, buf, off + done, len - done, position + done)
        if (n <= 0) break
        done += n
      }
    } finally { extentsChanged?.() }
    return done
  })())
  const writeNow = posixFileWriteNow(f)
  f.write = async (buf, off, len, position) => {
    // A tmpfs share: the write is a memory copy made here (inline.ts), not an io-wq punt.
    return writeNow?.(buf, off, len, position) ?? await ringWrite(buf, off, len, position)
  }
  f.sync = (dataOnly) => track(ring.fsync(fd, dataOnly))
  // The stream calls (streams.ts) that run on every stream READ and WRITE: on the ring too.
  f.getXattr = async (name) => {
    // Most streams are small (Zone.Identifier, AFP_AfpInfo): a page first, the most an xattr can
    // be when that is too small (ERANGE).
    for (const size of [XATTR_SMALL, XATTR_VALUE_MAX]) {
      const value = Buffer.allocUnsafe(size)
      try {
        return value.subarray(0, await track(ring.fgetxattr(fd, name, value)))
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === 'ENODATA') return undefined
        if (code !== 'ERANGE' || size === XATTR_VALUE_MAX) throw e
      }
    }
    return undefined
  }
  f.setXattr = async (name, value, flags) => {
    const c = native.constants
    await track(ring.fsetxattr(fd, name, value, 0, value.length, flags === 'create' ? c.XATTR_CREATE : flags === 'replace' ? c.XATTR_REPLACE : 0))
  }
  f.close = async () => {
    closing = true
    if (inflight > 0) await new Promise<void>((resolve) => { idle.push(resolve) })
    await close()
  }
  return f
}

/** Linux's XATTR_SIZE_MAX: no xattr value is longer. */
const XATTR_VALUE_MAX = 64 * 1024
/** The first try at an xattr value. */
const XATTR_SMALL = 4096

/** The most a DOS record xattr may be (native.statxXattr's limit too). */
const XATTR_MAX = 256

/**
 * statx and one xattr on the ring when the file is an fd (`path` '' with AT_EMPTY_PATH: the
 * CREATE and QUERY_INFO case): both ops in one submit. A name inside a directory has no ring
 * xattr op that stays beneath the share (IORING_OP_GETXATTR resolves from the cwd), so that case
 * is the threadpool's statxXattr (getxattrat).
 */
async function ringStatxXattr (ring: Ring, dirfd: number, path: string, flags: number, mask: number, name: string): Promise<StatxXattr> {
  if (path !== '' || (flags & native.constants.AT_EMPTY_PATH) === 0) return await native.statxXattr(dirfd, path, flags, mask, name)
  const value = Buffer.allocUnsafe(XATTR_MAX)
  // `name` may be a '\n'-separated list (the addon's contract): the first is read beside the
  // statx, the others one after another only while each is absent (ENODATA).
  const names = name.split('\n')
  const first = async (i: number): Promise<{ xattr: Buffer | null, xattrError: string | null }> => {
    try {
      return { xattr: value.subarray(0, await ring.fgetxattr(dirfd, names[i]!, value)), xattrError: null }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO'
      if (code === 'ENODATA' && i + 1 < names.length) return await first(i + 1)
      return { xattr: null, xattrError: code }
    }
  }
  const [sx, x] = await Promise.all([ring.statx(dirfd, path, flags, mask), first(0)])
  return { ...sx, ...x }
}

export function posixUringBackend (ring: Ring): Backend {
  const sys: PosixSys = {
    openat2: (dirfd, path, flags, mode, resolve) => ring.openat2(dirfd, path, flags, mode, resolve),
    statx: (dirfd, path, flags, mask) => ring.statx(dirfd, path, flags, mask),
    statxXattr: (dirfd, path, flags, mask, name) => ringStatxXattr(ring, dirfd, path, flags, mask, name),
    close: (fd) => ring.closeFd(fd),
    unlinkat: (dirfd, name, flags) => ring.unlinkat(dirfd, name, flags),
  }
  const base = posixBackendWith('posix-uring', sys)
  return {
    name: 'posix-uring',
    async openShare (rootPath, opts) {
      const share = await base.openShare(rootPath, opts)
      const open = share.open.bind(share)
      share.open = async (path, o) => ringData(await open(path, o), ring)
      const openExisting = share.openExisting?.bind(share)
      if (openExisting !== undefined) {
        share.openExisting = (path, write, directory) => {
          const f = openExisting(path, write, directory)
          return f == null ? f : ringData(f, ring)
        }
      }
      return share
    },
  }
}
