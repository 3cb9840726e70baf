// FIFOs, devices and sockets inside a share (backend.ts specialFileType): the posix backends
// never wait on one and never hand one out. The open a CREATE makes after its stat must not
// block a thread when the name became a FIFO meanwhile (it is opened with O_NONBLOCK, which a
// regular file then no longer carries), and what it opened is refused by its type. Through the
// threadpool and through io_uring, with the inline metadata calls on and off.
import t from 'tap'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { posixBackend, posixFileFd } from '../../../src/vfs/posix.js'
import { posixUringBackend } from '../../../src/vfs/posix-uring.js'
import { Ring, ringUnavailableReason } from '../../../src/io/ring.js'
import { nativeAvailable } from '../../../src/io/native.js'
import { SPECIAL_FILE_CODE, specialFileType, type Backend, type ShareFs, type VfsFile } from '../../../src/vfs/backend.js'
import { ntStatusFromErrno } from '../../../src/vfs/errno.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'

const O_NONBLOCK = 0o4000

t.test('specialFileType: from the mode alone', async (t) => {
  t.equal(specialFileType({ mode: 0o010644 }), 'FIFO')
  t.equal(specialFileType({ mode: 0o020600 }), 'character device')
  t.equal(specialFileType({ mode: 0o060600 }), 'block device')
  t.equal(specialFileType({ mode: 0o140755 }), 'socket')
  t.equal(specialFileType({ mode: 0o100644 }), undefined, 'a regular file')
  t.equal(specialFileType({ mode: 0o040755 }), undefined, 'a directory')
  t.equal(specialFileType({ mode: 0o120777 }), undefined, 'a symlink (the share decides about those)')
  t.equal(ntStatusFromErrno(Object.assign(new Error('x'), { code: SPECIAL_FILE_CODE })), NtStatus.IO_REPARSE_TAG_NOT_HANDLED)
})

/** The status flags of an open fd (/proc/self/fdinfo, octal). */
function fdFlags (fd: number): number {
  const m = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))
  return m === null ? -1 : parseInt(m[1]!, 8)
}

/** `p` within `ms`, or the test fails; `unblock` then frees whatever thread the open holds. */
async function promptly<T> (p: Promise<T>, ms: number, unblock: () => void): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const r = await Promise.race([p, new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms) })])
  clearTimeout(timer)
  if (r === 'timeout') { unblock(); await p.catch(() => {}) }
  return r
}

const mkfifo = spawnSync('mkfifo', ['--help']).status === 0
const ringSkip = nativeAvailable ? await ringUnavailableReason() : 'no native addon'

const backends: Array<{ name: string, skip: string | false, make: () => { backend: Backend, done: () => Promise<void> } }> = [
  { name: 'posix (threadpool)', skip: nativeAvailable ? false : 'no native addon', make: () => ({ backend: posixBackend, done: async () => {} }) },
  {
    name: 'posix-uring',
    skip: ringSkip ?? false,
    make: () => {
      const ring = Ring.create(64)
      return { backend: posixUringBackend(ring), done: async () => { await ring.close() } }
    },
  },
]

for (const b of backends) {
  for (const inline of ['no', 'auto'] as const) {
    t.test(`${b.name}, inline metadata ${inline}`, { skip: b.skip || (mkfifo ? false : 'no mkfifo') }, async (t) => {
      const root = mkdtempSync(join(tmpdir(), 'smbts-special-'))
      t.teardown(() => rmSync(root, { recursive: true, force: true }))
      mkdirSync(join(root, 'sub'))
      const fifo = join(root, 'sub', 'fifo')
      t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo')
      writeFileSync(join(root, 'sub', 'file.txt'), 'hello')
      const { backend, done } = b.make()
      const share: ShareFs = await backend.openShare(root, { followSymlinks: false, inline: { mode: inline } })
      t.teardown(async () => { await share.close(); await done() })

      const st = await share.stat('sub/fifo')
      t.equal(specialFileType(st), 'FIFO', 'stat of the FIFO says what it is (no open)')

      // The race a CREATE cannot rule out: its stat said "file", the open meets a FIFO. With no
      // writer, a blocking open for reading would wait forever.
      for (const write of [false, true]) {
        const opening = share.open('sub/fifo', { write })
        // Should the open be stuck on the FIFO, a writer frees the thread it holds.
        const r = await promptly(opening.then(async (f: VfsFile) => { await f.close(); return 'opened' as const }, (e: NodeJS.ErrnoException) => e), 3000,
          () => { closeSync(openSync(fifo, 'r+')) })
        t.not(r, 'timeout', `open (${write ? 'read/write' : 'read'}) of a FIFO does not block`)
        t.not(r, 'opened', 'and is refused')
        if (r instanceof Error) t.equal((r as NodeJS.ErrnoException).code, SPECIAL_FILE_CODE, 'as a special file')
      }
      // With O_CREAT (OPEN_IF) it goes off the thread on every file system: the same. So does
      // O_TRUNC (io_uring always hands it to an io-wq thread, where an open for reading would wait).
      const tr = await promptly(share.open('sub/fifo', { write: false, truncate: true }).then(async (f) => { await f.close(); return 'opened' as const }, (e: NodeJS.ErrnoException) => e), 3000,
        () => { closeSync(openSync(fifo, 'r+')) })
      t.ok(tr instanceof Error && (tr as NodeJS.ErrnoException).code === SPECIAL_FILE_CODE, 'O_RDONLY|O_TRUNC on a FIFO refused, not blocked')
      const c = await promptly(share.open('sub/fifo', { write: true, create: 'either' }).then(async (f) => { await f.close(); return 'opened' as const }, (e: NodeJS.ErrnoException) => e), 3000,
        () => { closeSync(openSync(fifo, 'r+')) })
      t.ok(c instanceof Error && (c as NodeJS.ErrnoException).code === SPECIAL_FILE_CODE, 'O_CREAT on a FIFO refused, not blocked')

      // A unix socket: its open fails (ENXIO), never waits.
      const sock = join(root, 'sub', 'sock')
      const srv = createServer()
      await new Promise<void>((resolve) => srv.listen(sock, resolve))
      t.teardown(() => new Promise<void>((resolve) => srv.close(() => resolve())))
      t.equal(specialFileType(await share.stat('sub/sock')), 'socket')
      await t.rejects(share.open('sub/sock', { write: false }), 'a socket is not opened')

      // A regular file opened the same way carries no O_NONBLOCK (io_uring would answer its
      // reads EAGAIN), and reads and writes as always.
      for (const create of [undefined, 'either'] as const) {
        const f = await share.open('sub/file.txt', { write: true, create })
        const fd = posixFileFd(f)
        t.ok(fd !== undefined)
        t.equal(fdFlags(fd!) & O_NONBLOCK, 0, `a regular file opened ${create === undefined ? 'plainly' : 'with O_CREAT'} is blocking`)
        const buf = Buffer.alloc(5)
        t.equal(await f.read(buf, 0, 5, 0), 5)
        t.equal(buf.toString(), create === undefined ? 'hello' : 'HEllo')
        if (create === undefined) t.equal(await f.write(Buffer.from('HE'), 0, 2, 0), 2)
        await f.close()
      }
      const nf = await share.open('sub/new.txt', { write: true, create: 'new', mode: 0o644 })
      t.equal(fdFlags(posixFileFd(nf)!) & O_NONBLOCK, 0, 'a new file is blocking')
      await nf.close()
      t.equal(readFileSync(join(root, 'sub', 'file.txt'), 'utf8'), 'HEllo')
      const d = await share.open('sub', { write: false, directory: true })
      t.ok(d.isDirectory, 'directories open as before')
      await d.close()
    })
  }
}
