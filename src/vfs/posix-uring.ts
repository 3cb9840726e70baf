// The posix-uring backend: the posix backend (openat2 confinement) with its openat2, statx and
// close, and the data path of every regular file (pread, pwrite, fsync), as io_uring ops: a
// CREATE/CLOSE costs no threadpool hop (the rarer path ops stay the addon's threadpool calls). The ring holds each Buffer until its CQE (CONVENTIONS 5), and a handle's close
// waits for its in-flight ops, so a late completion can never meet a reused fd.
import type { Backend, VfsFile } from './backend.js'
import { posixBackendWith, posixFileFd, type PosixSys } from './posix.js'
import type { Ring } from '../io/ring.js'

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
  f.read = (buf, off, len, position) => track(ring.read(fd, buf, off, len, position))
  f.write = (buf, off, len, position) => track((async () => {
    let done = 0
    while (done < len) {
      const n = await ring.write(fd, buf, off + done, len - done, position + done)
      if (n <= 0) break
      done += n
    }
    return done
  })())
  f.sync = (dataOnly) => track(ring.fsync(fd, dataOnly))
  f.close = async () => {
    if (inflight > 0) await new Promise<void>((resolve) => { idle.push(resolve) })
    await close()
  }
  return f
}

export function posixUringBackend (ring: Ring): Backend {
  const sys: PosixSys = {
    openat2: (dirfd, path, flags, mode, resolve) => ring.openat2(dirfd, path, flags, mode, resolve),
    statx: (dirfd, path, flags, mask) => ring.statx(dirfd, path, flags, mask),
    close: (fd) => ring.closeFd(fd),
  }
  const base = posixBackendWith('posix-uring', sys)
  return {
    name: 'posix-uring',
    async openShare (rootPath, opts) {
      const share = await base.openShare(rootPath, opts)
      const open = share.open.bind(share)
      share.open = async (path, o) => ringData(await open(path, o), ring)
      return share
    },
  }
}
