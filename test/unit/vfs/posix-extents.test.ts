// PosixFile.stat's extent map (src/vfs/posix.ts): read (native.extentBytes, FS_IOC_FIEMAP, on the
// server's thread) when a file's st_blocks exceed its data's clusters, then kept for the handle
// until a change of its extents: a write, a truncate, an allocation, a punched hole through it,
// or a change through another handle (the file's size, blocks or ctime moved). The share's
// extentReads counts the reads. On ext4 a file whose xattrs overflow the inode has an xattr
// block, and every stat of it would read the map again.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { native, nativeAvailable } from '../../../src/io/native.js'
import { Ring, ringUnavailableReason } from '../../../src/io/ring.js'
import type { Backend, ShareFs, VfsFile } from '../../../src/vfs/backend.js'
import { posixBackend } from '../../../src/vfs/posix.js'
import { posixUringBackend } from '../../../src/vfs/posix-uring.js'

const skip = nativeAvailable ? false : 'native addon not built'
const ringSkip = nativeAvailable ? await ringUnavailableReason() : 'no native addon'

async function exercise (t: Test, backend: Backend): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-extents-'))
  const fs: ShareFs = await backend.openShare(dir, { followSymlinks: false })
  t.teardown(async () => { await fs.close(); rmSync(dir, { recursive: true, force: true }) })
  const reads = (): number => (fs as unknown as { extentReads: number }).extentReads
  const p = join(dir, 'x.txt')
  writeFileSync(p, 'hello\n')
  // 2 KiB of xattr, as a security.NTACL and a DOS record can take: an xattr block where the
  // file system has them (ext4).
  const fd = await native.openat2(native.constants.AT_FDCWD, p, native.constants.O_RDONLY, 0, 0)
  try { await native.fsetxattr(fd, 'user.big', Buffer.alloc(2048, 0x61), 0) } finally { await native.close(fd) }

  const f = await fs.open('x.txt', { write: true })
  // Where there is no xattr block, reserved space makes st_blocks exceed the data's clusters.
  if (statSync(p).blocks * 512 <= 4096) await f.allocate(16384)
  if (statSync(p).blocks * 512 <= 4096) { t.comment('no xattr block and no reserved space here: no extent map to read'); await f.close(); return }

  const first = await f.stat()
  t.equal(reads(), 1, 'the first stat reads the extent map')
  const again = await f.stat()
  t.equal(reads(), 1, 'a second stat does not read it again')
  t.equal(again.allocationSize, first.allocationSize, 'and reports the same AllocationSize')

  // The same bytes in place: size and blocks stay (the ctime may too, within a clock tick).
  t.equal(await f.write(Buffer.from('hello\n'), 0, 6, 0), 6)
  await f.stat()
  t.equal(reads(), 2, 'a write through the handle: read again')
  await f.stat()
  t.equal(reads(), 2, 'then kept')

  await f.allocate(32768)
  const reserved = await f.stat()
  t.equal(reads(), 3, 'an allocation: read again')
  t.equal(reserved.allocationSize, 32768n, 'the reserved space counts')

  await f.truncate(8192)
  t.equal((await f.stat()).endOfFile, 8192n)
  t.equal(reads(), 4, 'a truncate: read again')

  await f.punchHole!(0, 4096)
  await f.stat()
  t.equal(reads(), 5, 'a punched hole: read again')

  // Another handle's change: this one's stat sees the file's blocks move.
  const g = await fs.open('x.txt', { write: true })
  await g.allocate(65536)
  await g.close()
  t.equal((await f.stat()).allocationSize, 65536n, 'another handle\'s allocation is seen')
  t.equal(reads(), 6, 'through a new read of the map')
  await f.stat()
  t.equal(reads(), 6, 'then kept')
  await f.close()
}

t.test('posix: a stat reads the extent map once per layout', { skip }, async (t) => {
  await exercise(t, posixBackend)
})

t.test('posix-uring: the same, a ring write included', { skip: ringSkip ?? false }, async (t) => {
  const ring = Ring.create(64)
  t.teardown(async () => { await ring.close() })
  await exercise(t, posixUringBackend(ring))
})

// On a file system with fine-grained ctime every change above also moves the file's size, blocks
// or ctime, so the count would be read again without the handle's own layout counter. Here the
// share's stats are made to report the same size, blocks and ctime throughout (as a coarse
// ctime, or a write in place, can): only the counter says the extents changed.
/** `inlineWrites`: the share's writes are made on the server's thread (PosixFile.writeNow), not through op(). */
async function frozenStats (t: Test, backend: Backend, dir: string, inlineWrites = false): Promise<void> {
  const fs: ShareFs = await backend.openShare(dir, { followSymlinks: false })
  t.teardown(async () => { await fs.close() })
  const reads = (): number => (fs as unknown as { extentReads: number }).extentReads
  type StatAt = (...args: unknown[]) => Promise<{ sx: { size: bigint, blocks: bigint, ctimeNs: bigint } }>
  const share = fs as unknown as { statAt: StatAt }
  const statAt = share.statAt.bind(share)
  // 1 GiB of blocks: always more than the data's clusters, so every stat looks at the count.
  share.statAt = async (...args) => {
    const r = await statAt(...args)
    return { ...r, sx: { ...r.sx, size: 6n, blocks: 1n << 21n, ctimeNs: 1n } }
  }
  writeFileSync(join(dir, 'x.txt'), 'hello\n')
  writeFileSync(join(dir, 'src.txt'), 'world\n')
  const f = await fs.open('x.txt', { write: true })
  const src = await fs.open('src.txt', { write: false })
  t.teardown(async () => { await f.close(); await src.close() })

  let n = reads()
  const first = await f.stat()
  t.equal(reads(), ++n, 'the first stat reads the extent map')
  await f.stat()
  t.equal(reads(), n, 'the next one does not')
  // No FIEMAP here (tmpfs): the stat reports the blocks as they are, and there is no count to check.
  const fiemap = first.allocationSize !== (1n << 21n) * 512n
  const inline = (fs as unknown as { inline?: { counters: { writes: number } } }).inline?.counters
  const writesBefore = inline?.writes ?? 0

  const changes: Array<[string, (f: VfsFile) => Promise<unknown>]> = [
    ['a write', async f => await f.write(Buffer.from('hello\n'), 0, 6, 0)],
    ['an allocation', async f => { await f.allocate(32768) }],
    ['a punched hole', async f => { await f.punchHole!(16384, 4096) }],
    ['a truncate', async f => { await f.truncate(6) }],
    ['a copy', async f => await f.copyFrom!(src, 0, 0, 6)],
  ]
  for (const [what, change] of changes) {
    await change(f)
    const st = await f.stat()
    t.equal(reads(), n + 1, `${what} through the handle: read again`)
    n = reads()
    if (what === 'an allocation' && fiemap) t.equal(st.allocationSize, 32768n, 'the reserved space counts, not the count read before')
    await f.stat()
    t.equal(reads(), n, 'then kept')
  }
  t.equal((inline?.writes ?? 0) > writesBefore, inlineWrites, inlineWrites ? 'the write was made inline' : 'the write was not made inline')
  // A clone needs a file system that shares extents (btrfs, xfs); elsewhere it fails, and the
  // counter is not asked for.
  const cloned = await f.cloneFrom!(src, 0, 0, 4096).then(() => true, () => false)
  if (cloned) {
    await f.stat()
    t.equal(reads(), n + 1, 'a clone through the handle: read again')
  } else {
    t.comment('no clone on this file system')
  }
}

const shm = (() => { try { return statfsSync('/dev/shm').type === 0x01021994 } catch { return false } })()

for (const [name, memory] of [['a disk file system', false], ['tmpfs, whose writes are made inline', true]] as const) {
  t.test(`posix, ${name}: each change through the handle drops the count, though size, blocks and ctime stay`, {
    skip: skip !== false ? skip : memory && !shm ? 'no tmpfs at /dev/shm' : false,
  }, async (t) => {
    const dir = mkdtempSync(join(memory ? '/dev/shm' : tmpdir(), 'smbts-extents-'))
    t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
    await frozenStats(t, posixBackend, dir, memory)
  })
}

t.test('posix-uring: a ring write drops the count, though size, blocks and ctime stay', { skip: ringSkip ?? false }, async (t) => {
  const ring = Ring.create(64)
  const dir = mkdtempSync(join(tmpdir(), 'smbts-extents-'))
  t.teardown(async () => { rmSync(dir, { recursive: true, force: true }); await ring.close() })
  await frozenStats(t, posixUringBackend(ring), dir)
})
