// The CREATE of a name that exists, opened in one step (ShareFs.openExisting): the same answers
// as the stat-then-open path, the handle closed whenever the CREATE fails after it (no descriptor
// left behind by a collision, a sharing violation or a wrong file type), and on tmpfs a CREATE +
// CLOSE of an existing file, or of the share root, costs three calls on the server's thread (the
// open with its stat, the look for a stored descriptor the access check makes, and the close)
// where it took five, and no trip to the thread pool.
//
// Backend: posix. The test counts descriptors in /proc/self/fd and the inline calls on tmpfs.
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Access, Disposition, fileIdOf, MemClient, memServer, Opt, Status } from '../helpers/mem-client.js'
import type { InlineCounters } from '../../src/vfs/inline.js'
import { native } from '../../src/io/native.js'

const TMPFS = 0x01021994
const onShm = existsSync('/dev/shm') && statfsSync('/dev/shm').type === TMPFS
const fds = (): number => readdirSync('/proc/self/fd').length

t.test('existing names: same answers, no descriptor left behind', async (t) => {
  const saved = process.env.TMPDIR
  if (onShm) process.env.TMPDIR = '/dev/shm'
  const srv = memServer({ backend: 'posix' })
  process.env.TMPDIR = saved
  t.teardown(srv.cleanup)
  writeFileSync(join(srv.share, 'f.txt'), 'hello')
  mkdirSync(join(srv.share, 'd'))
  const a = await new MemClient(srv.state).connect()
  const b = await new MemClient(srv.state, 'mem:2').connect()
  const tree = [...[...a.conn.sessions][0].trees.values()][0]
  const counters = (tree.fs as { inline?: { counters: InlineCounters } }).inline?.counters

  // Warm up (the first lookups of a fresh name on a disk file system may not be cached yet).
  for (let i = 0; i < 2; i++) await a.close(fileIdOf(await a.create('f.txt', { disposition: Disposition.OPEN })))
  const base = fds()

  const calls0 = counters?.calls ?? 0
  const r = await a.create('f.txt', { disposition: Disposition.OPEN, access: Access.READ_ATTRIBUTES | 0x100000 })
  t.equal(r.status, Status.SUCCESS, 'OPEN of an existing file')
  t.equal(r.body.readUInt32LE(4), 1, 'FILE_OPENED')
  t.equal(r.body.readBigUInt64LE(48), 5n, 'EndOfFile from the open\'s own stat')
  t.equal(fds(), base + 1, 'one descriptor for the open')
  t.equal((await a.close(fileIdOf(r))).status, Status.SUCCESS)
  t.equal(fds(), base, 'none after the close')
  if (onShm && counters !== undefined) t.equal(counters.calls - calls0, 3, 'CREATE + CLOSE: three calls on the server\'s thread')

  // The share root, as smbtorture's smb2.bench.path-contention-shared opens it: '.' of the root's fd.
  const calls1 = counters?.calls ?? 0
  const root = await a.create('', { disposition: Disposition.OPEN, access: Access.READ_ATTRIBUTES, options: 0x00200000 /* FILE_OPEN_REPARSE_POINT */ })
  t.equal(root.status, Status.SUCCESS, 'OPEN of the share root')
  t.equal(root.body.readUInt32LE(56) & 0x10, 0x10, 'a directory')
  t.equal((await a.close(fileIdOf(root))).status, Status.SUCCESS)
  if (onShm && counters !== undefined) t.equal(counters.calls - calls1, 3, 'CREATE + CLOSE of the root: three calls on the server\'s thread')
  t.equal(fds(), base, 'nothing left open')

  // Failures after the open: the fast path's handle is closed with the failed CREATE.
  t.equal((await a.create('f.txt', { disposition: Disposition.CREATE })).status, Status.OBJECT_NAME_COLLISION, 'CREATE of an existing name')
  t.equal(fds(), base, 'no descriptor left by the collision')
  t.equal((await a.create('d', { disposition: Disposition.OPEN, options: Opt.NON_DIRECTORY_FILE })).status, Status.FILE_IS_A_DIRECTORY, 'a directory asked as a file')
  t.equal((await a.create('f.txt', { disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })).status, Status.NOT_A_DIRECTORY, 'a file asked as a directory')
  t.equal(fds(), base, 'none left by either')
  const held = await a.create('f.txt', { disposition: Disposition.OPEN, access: Access.FILE_READ_DATA, share: 0 })
  t.equal(held.status, Status.SUCCESS, 'an open sharing nothing')
  t.equal((await b.create('f.txt', { disposition: Disposition.OPEN, access: Access.FILE_READ_DATA })).status, Status.SHARING_VIOLATION, 'another open of it')
  t.equal(fds(), base + 1, 'the refused open left no descriptor')
  await a.close(fileIdOf(held))

  // What the fast path does not take: directories open read-only; overwrites go the old way.
  const d = await a.create('d', { disposition: Disposition.OPEN, access: Access.GENERIC_READ })
  t.equal(d.status, Status.SUCCESS, 'a directory')
  t.equal(d.body.readUInt32LE(56) & 0x10, 0x10, 'FILE_ATTRIBUTE_DIRECTORY')
  await a.close(fileIdOf(d))
  const o = await a.create('f.txt', { disposition: Disposition.OVERWRITE_IF })
  t.equal(o.status, Status.SUCCESS)
  t.equal(o.body.readUInt32LE(4), 3, 'FILE_OVERWRITTEN')
  await a.close(fileIdOf(o))
  t.equal(readFileSync(join(srv.share, 'f.txt'), 'utf8'), '', 'truncated')
  const w = await a.create('f.txt', { disposition: Disposition.OPEN_IF, access: Access.GENERIC_READ | Access.GENERIC_WRITE })
  t.equal(w.body.readUInt32LE(4), 1, 'OPEN_IF of an existing file opens it')
  t.equal((await a.write(fileIdOf(w), 0, Buffer.from('written'))).status, Status.SUCCESS, 'for writing, as asked')
  await a.close(fileIdOf(w))
  t.equal(readFileSync(join(srv.share, 'f.txt'), 'utf8'), 'written')
  t.equal(fds(), base, 'nothing left open')
})

// smbclient's `del`: a CREATE for DELETE with FILE_DELETE_ON_CLOSE, then its CLOSE. On tmpfs every
// call it makes (the open, the look for streams that must share delete, the unlink, the share
// root's new stamp for the name index) is made on the server's thread: no thread-pool trip.
t.test('a delete on tmpfs: no thread-pool call', { skip: !onShm && '/dev/shm is not tmpfs here' }, async (t) => {
  const saved = process.env.TMPDIR
  process.env.TMPDIR = '/dev/shm'
  const srv = memServer({ backend: 'posix' })
  process.env.TMPDIR = saved
  t.teardown(srv.cleanup)
  for (let i = 0; i < 3; i++) writeFileSync(join(srv.share, `gone${i}.txt`), 'x')
  const a = await new MemClient(srv.state).connect()
  // A listing first, as smbclient's `del *` makes one: the share root's names are then indexed.
  const root = await a.create('', { disposition: Disposition.OPEN, access: Access.GENERIC_READ, options: Opt.DIRECTORY_FILE })
  t.equal((await a.queryDirectory(fileIdOf(root))).status, Status.SUCCESS, 'the root listed')
  await a.close(fileIdOf(root))
  const opsNow = (): number => Object.values(native.counters().ops).reduce((s, n) => s + n, 0)
  for (let i = 0; i < 3; i++) {
    const ops0 = opsNow()
    const r = await a.create(`gone${i}.txt`, { disposition: Disposition.OPEN, access: Access.DELETE, share: 7, options: Opt.NON_DIRECTORY_FILE | Opt.DELETE_ON_CLOSE })
    t.equal(r.status, Status.SUCCESS, `gone${i}.txt opened for delete`)
    t.equal((await a.close(fileIdOf(r))).status, Status.SUCCESS)
    t.equal(opsNow() - ops0, 0, 'no thread-pool call')
    t.notOk(existsSync(join(srv.share, `gone${i}.txt`)), 'deleted')
  }
  const after = await a.create('gone0.txt', { disposition: Disposition.OPEN })
  t.equal(after.status, Status.OBJECT_NAME_NOT_FOUND, 'the name index knows it is gone')
})
