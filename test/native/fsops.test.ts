// Round trip of every native operation in a temp dir, and the shape of its errors.
import t from 'tap'
import { constants as osConstants } from 'node:os'
import { readFile, stat, writeFile, lstat, readlink } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { C, type HasTeardown, errnoLike, native, nativeAvailable, openat2Unsupported, tempDir } from './fixtures/native.js'

const skip = await openat2Unsupported()
const RES = () => C.RESOLVE_BENEATH | C.RESOLVE_NO_MAGICLINKS | C.RESOLVE_NO_SYMLINKS

async function rootOf (t: HasTeardown): Promise<{ dir: string; fd: number }> {
  const dir = await tempDir(t)
  const fd = await native.openat2(C.AT_FDCWD, dir, C.O_PATH | C.O_DIRECTORY, 0, 0)
  t.teardown(() => native.close(fd))
  return { dir, fd }
}

t.test('the addon loaded and exports every op', async (t) => {
  t.ok(nativeAvailable, 'nativeAvailable')
  for (const name of [
    'openat2', 'mkdirat', 'unlinkat', 'renameat2', 'linkat', 'symlinkat', 'readlinkat', 'mknodat', 'statx',
    'statxXattr', 'statxBatch', 'getdents', 'getdentsNames', 'fsync', 'fdatasync', 'fallocate', 'copyFileRange', 'cloneRange', 'ftruncate', 'futimens', 'fchmod', 'fchown',
    'fgetxattr', 'fsetxattr', 'flistxattr', 'fremovexattr', 'close', 'pread', 'pwrite', 'allocatedRanges', 'counters',
  ] as const) {
    t.type(native[name], 'function', name)
  }
  t.equal(C.O_PATH, 0o10000000, 'O_PATH (x86-64 value)')
  t.equal(C.AT_FDCWD, -100)
  t.equal(C.RESOLVE_BENEATH, 0x08)
  t.equal(C.RESOLVE_NO_MAGICLINKS, 0x02)
  t.equal(C.RENAME_NOREPLACE, 1)
  t.equal(C.AT_EMPTY_PATH, 0x1000)
  t.ok(Object.isFrozen(C), 'constants frozen')
})

t.test('errors carry code, errno, syscall', { skip }, async (t) => {
  const { fd } = await rootOf(t)
  const err = await native.openat2(fd, 'missing', C.O_RDONLY, 0, RES()).then(
    () => undefined,
    (e: unknown) => e
  )
  t.ok(err instanceof Error, 'an Error')
  t.match(err, { code: 'ENOENT', errno: osConstants.errno.ENOENT, syscall: 'openat2' })
  t.match((err as Error).message, /^ENOENT: .*, openat2$/)
  await t.rejects(native.close(1 << 30), errnoLike('EBADF', 'close'))
  await t.rejects(native.fsync(-1), errnoLike('EBADF', 'fsync'))
  await t.rejects(native.statx(fd, 'missing', 0, C.STATX_BASIC_STATS), errnoLike('ENOENT', 'statx'))
})

t.test('bad arguments reject (never throw synchronously)', { skip }, async (t) => {
  const bad = [
    () => native.openat2('x' as unknown as number, 'a', 0, 0, 0),
    () => native.openat2(-100, 42 as unknown as string, 0, 0, 0),
    () => native.openat2(-100, 'a\0b', 0, 0, 0),
    () => native.pread(0, Buffer.alloc(4), 2, 3, 0),
    () => native.pread(0, Buffer.alloc(4), 0, 4, -1),
    () => native.pwrite(0, 'str' as unknown as Buffer, 0, 1, 0),
    () => native.ftruncate(0, 1.5),
    () => native.futimens(0, 'now' as unknown as bigint, null),
    () => native.fallocate(0, 0, 0, 2n ** 64n),
    () => native.futimens(0, null, -(2n ** 200n)),
  ]
  for (const f of bad) {
    let p: Promise<unknown> | undefined
    t.doesNotThrow(() => { p = f() })
    await t.rejects(p!, { code: /^ERR_(INVALID_ARG_TYPE|INVALID_ARG_VALUE|OUT_OF_RANGE)$/ })
  }
  await t.rejects(native.openat2(-100, 'a\0b', 0, 0, 0), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(native.pread(0, Buffer.alloc(4), 0, 5, 0), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
})

t.test('create, write, read, sync, truncate, close', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'f', C.O_CREAT | C.O_EXCL | C.O_RDWR, 0o644, RES())
  const data = Buffer.from('hello, native world')
  t.equal(await native.pwrite(fd, data, 0, data.length, 0), data.length)
  t.equal(await native.pwrite(fd, data, 7, 6, 100n), 6, 'slice of the buffer, bigint position')
  await native.fsync(fd)
  await native.fdatasync(fd)
  const back = Buffer.alloc(32)
  t.equal(await native.pread(fd, back, 0, 32, 0), 32)
  t.equal(back.subarray(0, data.length).toString(), 'hello, native world')
  t.equal(await native.pread(fd, back, 4, 6, 100), 6, 'into an offset of the buffer')
  t.equal(back.subarray(4, 10).toString(), 'native')
  t.equal(await native.pread(fd, back, 0, 32, 106), 0, 'EOF reads 0')
  const u8 = new Uint8Array(5)
  t.equal(await native.pread(fd, u8, 0, 5, 0), 5, 'plain Uint8Array works')
  t.equal(Buffer.from(u8).toString(), 'hello')
  await native.ftruncate(fd, 5)
  t.equal((await stat(join(dir, 'f'))).size, 5)
  await native.ftruncate(fd, 1n << 33n)
  t.equal((await stat(join(dir, 'f'))).size, 2 ** 33, 'ftruncate past 4 GiB (sparse)')
  await native.close(fd)
  await t.rejects(native.close(fd), errnoLike('EBADF'), 'double close is EBADF')
})

t.test('copyFileRange: between files, at offsets, short at the source\'s end, EINVAL for overlap in one file', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  const src = await native.openat2(root, 'src', C.O_CREAT | C.O_EXCL | C.O_RDWR, 0o644, RES())
  const dst = await native.openat2(root, 'dst', C.O_CREAT | C.O_EXCL | C.O_RDWR, 0o644, RES())
  const data = Buffer.from('0123456789abcdefghij')
  await native.pwrite(src, data, 0, data.length, 0)
  t.equal(await native.copyFileRange(src, 5, dst, 100, 10), 10, 'ten bytes')
  t.equal((await readFile(join(dir, 'dst'))).subarray(100).toString(), '56789abcde', 'at the target offset')
  t.equal(await native.copyFileRange(src, 15, dst, 0, 100), 5, 'the source ends: five')
  t.equal(await native.copyFileRange(src, 50, dst, 0, 10), 0, 'past the end: none')
  await t.rejects(native.copyFileRange(src, 0, src, 5, 10), errnoLike('EINVAL'), 'overlapping ranges of one file')
  await native.close(src)
  await native.close(dst)
})

t.test('cloneRange: FICLONERANGE where the file system shares blocks, EOPNOTSUPP where it cannot', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const a = await native.openat2(root, 'a', C.O_CREAT | C.O_RDWR, 0o644, RES())
  const b = await native.openat2(root, 'b', C.O_CREAT | C.O_RDWR, 0o644, RES())
  t.teardown(async () => { await native.close(a); await native.close(b) })
  const data = Buffer.alloc(8192, 7)
  await native.pwrite(a, data, 0, data.length, 0)
  await native.ftruncate(b, 8192)
  let cloned = true
  try {
    await native.cloneRange(a, 0, b, 4096, 4096)
  } catch (e) {
    const code = (e as { code?: string }).code
    t.ok(code === 'EOPNOTSUPP' || code === 'EXDEV' || code === 'EINVAL', `no reflinks here: ${code}`)
    cloned = false
  }
  if (cloned) {
    const back = Buffer.alloc(4096)
    await native.pread(b, back, 0, 4096, 4096)
    t.ok(back.equals(data.subarray(0, 4096)), 'the target range reads the source\'s data')
  }
  await t.rejects(native.cloneRange(a, -1 as unknown as number, b, 0, 1), { code: 'ERR_OUT_OF_RANGE' }, 'a negative offset is refused before the kernel')
})

t.test('extentBytes: the bytes of a file\'s extents from an offset; its xattrs\' block is not one', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'extents', C.O_CREAT | C.O_RDWR, 0o600, RES())
  t.teardown(() => native.close(fd))
  t.type(native.extentBytes, 'function')
  await native.fsetxattr(fd, 'user.big', Buffer.alloc(2048, 0x61), 0)
  const none = native.extentBytes(fd, 0)
  if (none < 0) { t.comment('no FIEMAP on this file system'); return }
  t.equal(none, 0, 'an empty file has none, whatever its xattrs take')
  await native.pwrite(fd, Buffer.alloc(4096, 1), 0, 4096, 0)
  await native.fallocate(fd, C.FALLOC_FL_KEEP_SIZE, 0, 16384)
  const all = native.extentBytes(fd, 0)
  t.ok(all >= 16384, `written and reserved: ${all}`)
  t.equal(native.extentBytes(fd, 4096), all - 4096, 'from an offset: what lies past it')
  t.equal(native.extentBytes(fd, 1 << 20), 0, 'none past the reserved space')
  t.throws(() => native.extentBytes(-1, 0), 'a bad fd throws')
})

t.test('allocatedRanges: the data between the holes, on the threadpool', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'holes', C.O_CREAT | C.O_RDWR, 0o600, RES())
  t.teardown(() => native.close(fd))
  const ranges = async (off: number, len: number, max = 100): Promise<number[][]> => {
    const p = native.allocatedRanges(fd, off, len, max)
    t.type(p, Promise)
    const b = await p
    return Array.from({ length: b.length / 16 }, (_, i) => [Number(b.readBigInt64LE(i * 16)), Number(b.readBigInt64LE(i * 16 + 8))])
  }
  const MiB = 1 << 20
  t.same(await ranges(0, MiB), [], 'an empty file has none')
  const before = native.counters().ops.allocatedRanges
  await native.pwrite(fd, Buffer.alloc(3 * MiB, 1), 0, 3 * MiB, 0)
  await native.fallocate(fd, C.FALLOC_FL_PUNCH_HOLE | C.FALLOC_FL_KEEP_SIZE, MiB, MiB)
  t.same(await ranges(0, 3 * MiB), [[0, MiB], [2 * MiB, MiB]], 'the hole between')
  t.equal(native.counters().ops.allocatedRanges, before + 1, 'counted as an op')
  t.same(await ranges(MiB + 4096, MiB), [[2 * MiB, 4096]], 'a window, cut to it')
  t.same(await ranges(MiB, 4096), [], 'inside the hole')
  t.same(await ranges(0, 3 * MiB, 1), [[0, MiB]], 'at most `max`')
  t.same(await ranges(0, 3 * MiB, 0), [], 'none asked for')
  t.same(await ranges(3 * MiB, MiB), [], 'nothing past the end')
  await t.rejects(native.allocatedRanges(-1, 0, 1, 1), { code: 'EBADF', syscall: 'lseek' }, 'a bad fd rejects')
  await t.rejects(native.allocatedRanges(fd, -1, 1, 1), { code: 'ERR_OUT_OF_RANGE' }, 'a negative offset is refused before the kernel')
})

t.test('pread/pwrite beyond 4 GiB positions (sparse)', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'sparse', C.O_CREAT | C.O_RDWR, 0o600, RES())
  t.teardown(() => native.close(fd))
  const positions = [2n ** 32n - 3n, 2n ** 32n + 12345n, 5n * 2n ** 30n, 2n ** 40n + 1n]
  for (const pos of positions) {
    const payload = Buffer.from(`at ${pos}`)
    t.equal(await native.pwrite(fd, payload, 0, payload.length, pos), payload.length)
  }
  for (const pos of positions) {
    const want = `at ${pos}`
    const got = Buffer.alloc(want.length)
    t.equal(await native.pread(fd, got, 0, got.length, pos), got.length)
    t.equal(got.toString(), want, `read back at ${pos}`)
    // also as a number position, where it is a safe integer
    const got2 = Buffer.alloc(want.length)
    await native.pread(fd, got2, 0, got2.length, Number(pos))
    t.equal(got2.toString(), want, `number position ${pos}`)
  }
  const st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_SIZE | C.STATX_BLOCKS)
  const last = positions.at(-1)!
  t.equal(st.size, last + BigInt(`at ${last}`.length))
  t.ok(st.blocks < 1024n, `sparse: ${st.blocks} blocks for a ${st.size} byte file`)
  // A hole reads as zeros.
  const hole = Buffer.alloc(8, 0xff)
  t.equal(await native.pread(fd, hole, 0, 8, 3n * 2n ** 30n), 8)
  t.same([...hole], [0, 0, 0, 0, 0, 0, 0, 0])
})

t.test('buffers stay alive until completion', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'gc', C.O_CREAT | C.O_RDWR, 0o600, RES())
  t.teardown(() => native.close(fd))
  // Many writes whose Buffers are only referenced by the addon while in flight.
  const ops: Promise<number>[] = []
  for (let i = 0; i < 200; i++) {
    ops.push(native.pwrite(fd, Buffer.alloc(4096, i & 0xff), 0, 4096, i * 4096))
  }
  // Force collections while the writes are in flight: only the addon's references keep them.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  t.same(new Set(await Promise.all(ops)), new Set([4096]))
  const back = Buffer.alloc(4096)
  for (const i of [0, 57, 199]) {
    await native.pread(fd, back, 0, 4096, i * 4096)
    t.ok(back.every((b) => b === (i & 0xff)), `block ${i}`)
  }
})

t.test('statx fields are sane', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  await writeFile(join(dir, 's'), Buffer.alloc(12345, 1))
  const before = BigInt(Date.now() - 5000) * 1_000_000n
  const st = await native.statx(root, 's', C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS | C.STATX_BTIME)
  const ref = await stat(join(dir, 's'), { bigint: true })
  t.ok((st.mask & C.STATX_BASIC_STATS) === C.STATX_BASIC_STATS, 'basic stats returned')
  t.equal(st.size, 12345n)
  t.equal(st.ino, ref.ino)
  t.equal(st.dev, ref.dev)
  t.equal(st.nlink, 1)
  t.equal(st.uid, process.getuid!())
  t.equal(st.gid, process.getgid!())
  t.equal(st.mode & C.S_IFMT, C.S_IFREG)
  t.equal(st.mode, Number(ref.mode))
  t.equal(st.mtimeNs, ref.mtimeNs)
  t.equal(st.ctimeNs, ref.ctimeNs)
  t.equal(st.atimeNs, ref.atimeNs)
  t.ok(st.mtimeNs > before, 'mtime is recent, in ns')
  t.ok(st.blksize > 0)
  t.type(st.blocks, 'bigint')
  if (st.mask & C.STATX_BTIME) t.ok(st.btimeNs > before, 'btime recent')
  else t.equal(st.btimeNs, 0n, 'no birth time: 0n')
  t.type(st.mntId, 'bigint')
  // On a directory fd, and on an O_PATH fd with AT_EMPTY_PATH.
  const dst = await native.statx(root, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS)
  t.equal(dst.mode & C.S_IFMT, C.S_IFDIR)
  t.ok(dst.nlink >= 2)
})

t.test('mkdirat, unlinkat, renameat2 (NOREPLACE, EXCHANGE), linkat', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  await native.mkdirat(root, 'd', 0o750)
  t.equal((await stat(join(dir, 'd'))).mode & 0o777, 0o750 & ~process.umask())
  await t.rejects(native.mkdirat(root, 'd', 0o755), errnoLike('EEXIST', 'mkdirat'))

  await writeFile(join(dir, 'a'), 'A')
  await writeFile(join(dir, 'b'), 'B')
  await t.rejects(native.renameat2(root, 'a', root, 'b', C.RENAME_NOREPLACE), errnoLike('EEXIST', 'renameat2'))
  t.equal(await readFile(join(dir, 'b'), 'utf8'), 'B', 'NOREPLACE left b alone')
  await native.renameat2(root, 'a', root, 'c', C.RENAME_NOREPLACE)
  t.equal(await readFile(join(dir, 'c'), 'utf8'), 'A')
  await native.renameat2(root, 'b', root, 'c', C.RENAME_EXCHANGE)
  t.equal(await readFile(join(dir, 'c'), 'utf8'), 'B', 'exchanged')
  t.equal(await readFile(join(dir, 'b'), 'utf8'), 'A', 'exchanged')
  const dfd = await native.openat2(root, 'd', C.O_PATH | C.O_DIRECTORY, 0, RES())
  t.teardown(() => native.close(dfd))
  await native.renameat2(root, 'c', dfd, 'moved', 0)
  t.equal(await readFile(join(dir, 'd/moved'), 'utf8'), 'B', 'rename across dir fds')
  await t.rejects(native.renameat2(root, 'c', root, 'x', 0), errnoLike('ENOENT'))

  await native.linkat(root, 'b', dfd, 'hard', 0)
  const st = await native.statx(root, 'b', 0, C.STATX_NLINK)
  t.equal(st.nlink, 2, 'hard link made')

  await t.rejects(native.unlinkat(root, 'd', 0), errnoLike('EISDIR', 'unlinkat'))
  await t.rejects(native.unlinkat(root, 'd', C.AT_REMOVEDIR), errnoLike('ENOTEMPTY'))
  await native.unlinkat(dfd, 'hard', 0)
  await native.unlinkat(dfd, 'moved', 0)
  await native.unlinkat(root, 'd', C.AT_REMOVEDIR)
  await native.unlinkat(root, 'b', 0)
  const listFd = await openDir(root)
  t.same((await native.getdents(listFd)).map((e) => e.name.toString()).sort(), ['.', '..'], 'all gone')
  await native.close(listFd)
})

async function openDir (root: number, path = '.'): Promise<number> {
  return native.openat2(root, path, C.O_RDONLY | C.O_DIRECTORY, 0, RES())
}

t.test('symlinkat and readlinkat', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  await native.symlinkat('target/ü', root, 'l1')
  t.equal(await readlink(join(dir, 'l1')), 'target/ü')
  const raw = Buffer.from([0x66, 0xff, 0xfe, 0x2f, 0x67]) // not valid UTF-8
  await native.symlinkat(raw, root, Buffer.from('l2'))
  const got = await native.readlinkat(root, 'l2')
  t.ok(Buffer.isBuffer(got), 'a Buffer')
  t.same([...got], [...raw], 'bytes preserved')
  t.equal((await native.readlinkat(root, 'l1')).toString(), 'target/ü')
  t.ok((await lstat(join(dir, 'l1'))).isSymbolicLink())
  const long = 'x/'.repeat(2000) + 'end' // 4003 bytes: just under PATH_MAX
  await native.symlinkat(long, root, 'long')
  t.equal((await native.readlinkat(root, 'long')).toString(), long)
  await t.rejects(native.readlinkat(root, 'missing'), errnoLike('ENOENT', 'readlinkat'))
  await writeFile(join(dir, 'plain'), '')
  await t.rejects(native.readlinkat(root, 'plain'), errnoLike('EINVAL'))
  const st = await native.statx(root, 'l1', C.AT_SYMLINK_NOFOLLOW, C.STATX_TYPE)
  t.equal(st.mode & C.S_IFMT, C.S_IFLNK)
  // futimens on an O_PATH descriptor of the link: the link's own times, its target's untouched.
  await native.symlinkat('plain', root, 'l3')
  const targetBefore = (await lstat(join(dir, 'plain'))).mtimeMs
  const pfd = await native.openat2(root, 'l3', C.O_PATH | C.O_NOFOLLOW, 0, 0)
  await native.futimens(pfd, 1_000_000_000n * 1_000_000_000n, 2_000_000_000n * 1_000_000_000n)
  await native.close(pfd)
  t.equal((await lstat(join(dir, 'l3'))).mtimeMs, 2_000_000_000_000, 'futimens on an O_PATH fd sets the symlink\'s own mtime')
  t.equal((await lstat(join(dir, 'plain'))).mtimeMs, targetBefore, 'and leaves its target alone')
})

t.test('mknodat makes FIFOs and sockets, never devices', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  await native.mknodat(root, 'fifo', C.S_IFIFO | 0o640)
  const f = await lstat(join(dir, 'fifo'))
  t.ok(f.isFIFO(), 'a FIFO')
  t.equal(f.mode & 0o777, 0o640 & ~process.umask(), 'its permissions, less the umask')
  await native.mknodat(root, 'sock', C.S_IFSOCK | 0o600)
  t.ok((await lstat(join(dir, 'sock'))).isSocket(), 'a socket')
  await t.rejects(native.mknodat(root, 'chr', C.S_IFCHR | 0o600), errnoLike('EPERM', 'mknodat'), 'a character device: EPERM')
  await t.rejects(native.mknodat(root, 'reg', C.S_IFREG | 0o600), errnoLike('EPERM', 'mknodat'), 'anything else: EPERM')
  await t.rejects(native.mknodat(root, 'fifo', C.S_IFIFO | 0o600), errnoLike('EEXIST', 'mknodat'), 'an existing name: EEXIST')
})

t.test('getdents lists created names, including non-ASCII', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  const names = ['plain.txt', 'héllo wörld', '日本語のファイル', 'emoji-😀', 'space at end ', 'Ω']
  for (const n of names) await writeFile(join(dir, n), n)
  await native.mkdirat(root, 'Ünterordner', 0o755)
  await native.symlinkat('plain.txt', root, 'lnk')
  // A name that is not UTF-8 at all.
  const rawName = Buffer.from([0x62, 0x61, 0x64, 0xc3, 0x28])
  const rfd = await native.openat2(root, rawName, C.O_CREAT | C.O_WRONLY, 0o644, RES())
  await native.close(rfd)

  const fd = await openDir(root)
  t.teardown(() => native.close(fd))
  const list = await native.getdents(fd)
  t.equal(list.truncated, false)
  const byName = new Map(list.map((e) => [e.name.toString('utf8'), e]))
  for (const n of [...names, 'Ünterordner', 'lnk', '.', '..']) t.ok(byName.has(n), `lists ${JSON.stringify(n)}`)
  t.equal(list.length, names.length + 5)
  t.ok(list.some((e) => e.name.equals(rawName)), 'raw non-UTF-8 name as bytes')
  for (const e of list) {
    t.type(e.ino, 'bigint')
    t.ok(Buffer.isBuffer(e.name))
  }
  const plain = byName.get('plain.txt')!
  t.equal(plain.ino, (await stat(join(dir, 'plain.txt'), { bigint: true })).ino)
  if (plain.type !== C.DT_UNKNOWN) {
    t.equal(plain.type, C.DT_REG)
    t.equal(byName.get('Ünterordner')!.type, C.DT_DIR)
    t.equal(byName.get('lnk')!.type, C.DT_LNK)
  }
  // Again from the start on the same fd (it lseeks to 0).
  t.equal((await native.getdents(fd)).length, list.length, 'repeatable on one fd')
  const few = await native.getdents(fd, 3)
  t.equal(few.length, 3)
  t.equal(few.truncated, true, 'maxEntries reports truncation')
  await t.rejects(native.getdents(fd, 0), { code: 'ERR_OUT_OF_RANGE' })
  // O_PATH fds cannot be read.
  await t.rejects(native.getdents(root), errnoLike('EBADF', 'getdents64'))
})

/** Splits getdentsNames' packed Buffer into the raw name bytes. */
function unpack (packed: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let off = 0; off < packed.length;) {
    const end = packed.indexOf(0, off)
    out.push(packed.subarray(off, end))
    off = end + 1
  }
  return out
}

t.test('getdentsNames: the same names as getdents, packed with NULs', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  const names = ['plain.txt', 'héllo wörld', '日本語', 'emoji-😀', 'space at end ']
  for (const n of names) await writeFile(join(dir, n), n)
  const rawName = Buffer.from([0x62, 0x61, 0x64, 0xc3, 0x28]) // not UTF-8
  const rfd = await native.openat2(root, rawName, C.O_CREAT | C.O_WRONLY, 0o644, RES())
  await native.close(rfd)
  const fd = await openDir(root)
  t.teardown(() => native.close(fd))
  const packed = await native.getdentsNames(fd)
  t.ok(Buffer.isBuffer(packed))
  t.equal(packed.truncated, false)
  t.equal(packed[packed.length - 1], 0, 'every name ends with a NUL')
  const got = unpack(packed)
  const full = await native.getdents(fd)
  t.same(got.map((b) => b.toString('hex')), full.map((e) => e.name.toString('hex')), 'same names, same order')
  t.ok(got.some((b) => b.equals(rawName)), 'a non-UTF-8 name as its bytes')
  const few = await native.getdentsNames(fd, 2)
  t.equal(unpack(few).length, 2)
  t.equal(few.truncated, true, 'maxEntries reports truncation')
  await t.rejects(native.getdentsNames(fd, 0), { code: 'ERR_OUT_OF_RANGE' })
  await t.rejects(native.getdentsNames(root), errnoLike('EBADF', 'getdents64'), 'an O_PATH fd cannot be read')
})

t.test('getdents on a big directory', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  const n = 5000
  await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(dir, `file-${i}-${'y'.repeat(i % 200)}`), '')))
  const fd = await openDir(root)
  t.teardown(() => native.close(fd))
  const list = await native.getdents(fd)
  t.equal(list.length, n + 2, 'every entry across many getdents64 calls')
  t.equal(new Set(list.map((e) => e.name.toString())).size, n + 2, 'no duplicates')
  const packed = unpack(await native.getdentsNames(fd)).map((b) => b.toString())
  t.same(packed, list.map((e) => e.name.toString()), 'getdentsNames: every entry too')
})

t.test('fallocate, futimens, fchmod, fchown', { skip }, async (t) => {
  const { dir, fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'meta', C.O_CREAT | C.O_RDWR, 0o644, RES())
  t.teardown(() => native.close(fd))

  await native.fallocate(fd, 0, 0, 1 << 20)
  let st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS)
  t.equal(st.size, 1n << 20n, 'fallocate extends')
  t.ok(st.blocks >= 2048n, 'and allocates')
  await native.fallocate(fd, C.FALLOC_FL_KEEP_SIZE, 1n << 20n, 1n << 20n)
  st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS)
  t.equal(st.size, 1n << 20n, 'KEEP_SIZE keeps the size')
  t.ok(st.blocks >= 4096n, 'but allocates beyond it')
  try {
    await native.fallocate(fd, C.FALLOC_FL_PUNCH_HOLE | C.FALLOC_FL_KEEP_SIZE, 0, 1 << 20)
    st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS)
    t.equal(st.size, 1n << 20n)
    t.ok(st.blocks < 4096n, 'punched a hole')
  } catch (e) {
    t.match(e, { code: 'EOPNOTSUPP' }, 'punch hole unsupported here')
  }

  const at = 1_234_567_890_123_456_789n
  const mt = -86_400_000_000_001n // before the epoch, odd ns
  await native.futimens(fd, at, mt)
  st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_ATIME | C.STATX_MTIME)
  t.equal(st.atimeNs, at)
  t.equal(st.mtimeNs, mt, 'negative times round trip')
  await native.futimens(fd, null, 1_000_000_000_000_000_000n)
  st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_ATIME | C.STATX_MTIME)
  t.equal(st.atimeNs, at, 'null atime left alone (UTIME_OMIT)')
  t.equal(st.mtimeNs, 1_000_000_000_000_000_000n)
  await native.futimens(fd, 5_000_000_000, null)
  st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_ATIME | C.STATX_MTIME)
  t.equal(st.atimeNs, 5_000_000_000n, 'number ns accepted')
  t.equal(st.mtimeNs, 1_000_000_000_000_000_000n, 'null mtime left alone')
  // Past 2^63 ns (2262 AD): a bigint of more than 64 bits; ext4 keeps times to 2446 AD.
  const far = 10_000_000_000_000_000_123n // 2286 AD
  await native.futimens(fd, null, far)
  st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_MTIME)
  if (st.mtimeNs === far) t.pass('a time past 2262 round trips')
  else t.ok(st.mtimeNs < far && st.mtimeNs > 0n, `the fs clamped a time past 2262 to its own limit (${st.mtimeNs})`)
  await t.rejects(native.futimens(fd, null, 2n ** 127n), { code: 'ERR_OUT_OF_RANGE' }, '128 bits refused')

  await native.fchmod(fd, 0o4711)
  t.equal((await stat(join(dir, 'meta'))).mode & 0o7777, 0o4711)
  const uid = process.getuid!(); const gid = process.getgid!()
  await native.fchown(fd, uid, gid)
  await native.fchown(fd, -1, -1)
  st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_UID | C.STATX_GID)
  t.equal(st.uid, uid)
  t.equal(st.gid, gid)
  if (uid === 0) {
    await native.fchown(fd, 12345, 54321)
    st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_UID | C.STATX_GID)
    t.same([st.uid, st.gid], [12345, 54321], 'chown as root')
  }
  await t.rejects(native.fallocate(fd, 0, 0, 0), { code: 'ERR_OUT_OF_RANGE' }, 'len 0 refused')
})

t.test('extended attributes', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'x', C.O_CREAT | C.O_RDWR, 0o644, RES())
  t.teardown(() => native.close(fd))
  const value = Buffer.from([0, 1, 2, 255, 0, 9])
  try {
    await native.fsetxattr(fd, 'user.smbts.test', value, 0)
  } catch (e) {
    if ((e as { code?: string }).code === 'EOPNOTSUPP') { t.pass('no user xattrs on this fs: skipped'); return }
    throw e
  }
  t.same([...(await native.fgetxattr(fd, 'user.smbts.test'))], [...value])
  await native.fsetxattr(fd, Buffer.from('user.DosStream.é'), Buffer.alloc(0), C.XATTR_CREATE)
  t.equal((await native.fgetxattr(fd, 'user.DosStream.é')).length, 0, 'empty value')
  await t.rejects(native.fsetxattr(fd, 'user.smbts.test', value, C.XATTR_CREATE), errnoLike('EEXIST', 'fsetxattr'))
  await t.rejects(native.fsetxattr(fd, 'user.nope', value, C.XATTR_REPLACE), errnoLike('ENODATA'))
  const big = Buffer.alloc(3000, 7)
  await native.fsetxattr(fd, 'user.big', big, 0)
  t.ok((await native.fgetxattr(fd, 'user.big')).equals(big), '3000-byte value')
  const names = await native.flistxattr(fd)
  t.same(names.filter((n) => n.startsWith('user.')).sort(), ['user.DosStream.é', 'user.big', 'user.smbts.test'])
  await native.fremovexattr(fd, 'user.smbts.test')
  await t.rejects(native.fgetxattr(fd, 'user.smbts.test'), errnoLike('ENODATA', 'fgetxattr'))
  await t.rejects(native.fremovexattr(fd, 'user.smbts.test'), errnoLike('ENODATA', 'fremovexattr'))
})

t.test('statxXattr: statx and one xattr in one call, by fd or by name, never following a symlink', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'f', C.O_CREAT | C.O_RDWR, 0o644, RES())
  t.teardown(() => native.close(fd))
  try {
    await native.fsetxattr(fd, 'user.smbts.t', Buffer.from('rec'), 0)
  } catch (e) {
    if ((e as { code?: string }).code === 'EOPNOTSUPP') { t.pass('no user xattrs on this fs: skipped'); return }
    throw e
  }
  await native.pwrite(fd, Buffer.from('12345'), 0, 5, 0)
  const byName = await native.statxXattr(root, 'f', C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, 'user.smbts.t')
  t.equal(byName.size, 5n, 'the statx part describes the file')
  t.equal(byName.xattr?.toString(), 'rec', 'the xattr by name beneath a dir fd')
  t.equal(byName.xattrError, null)
  const byFd = await native.statxXattr(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS, 'user.smbts.t')
  t.equal(byFd.xattr?.toString(), 'rec', 'the xattr of the fd itself')
  const opath = await native.openat2(root, 'f', C.O_PATH, 0, RES())
  t.teardown(() => native.close(opath))
  const byPath = await native.statxXattr(opath, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS, 'user.smbts.t')
  t.equal(byPath.xattr?.toString(), 'rec', 'an O_PATH fd works too')
  const none = await native.statxXattr(root, 'f', C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, 'user.smbts.none')
  t.same([none.xattr, none.xattrError, none.size], [null, 'ENODATA', 5n], 'a missing xattr is not an error')
  await native.symlinkat('f', root, 'link')
  const link = await native.statxXattr(root, 'link', C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, 'user.smbts.t')
  t.equal(link.mode & C.S_IFMT, C.S_IFLNK, 'the link itself is described')
  t.equal(link.xattr, null, "the link's target's xattr is not read through it")
  await native.fsetxattr(fd, 'user.smbts.big', Buffer.alloc(300, 1), 0)
  const big = await native.statxXattr(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS, 'user.smbts.big')
  t.same([big.xattr, big.xattrError], [null, 'ERANGE'], 'a value over 256 bytes is not read')
  await t.rejects(native.statxXattr(root, 'missing', 0, C.STATX_BASIC_STATS, 'user.smbts.t'), errnoLike('ENOENT', 'statx'), 'a failed statx rejects')
})

t.test('statx + xattr calls take a \n-separated list of names: the first that exists is read', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'f', C.O_CREAT | C.O_RDWR, 0o644, RES())
  t.teardown(() => native.close(fd))
  try {
    await native.fsetxattr(fd, 'user.smbts.second', Buffer.from('two'), 0)
  } catch (e) {
    if ((e as { code?: string }).code === 'EOPNOTSUPP') { t.pass('no user xattrs on this fs: skipped'); return }
    throw e
  }
  const list = 'user.smbts.first\nuser.smbts.second'
  const byName = await native.statxXattr(root, 'f', C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, list)
  t.equal(byName.xattr?.toString(), 'two', 'the first absent: the second read (statxXattr)')
  const recs = await native.statxBatch(root, Buffer.from('f\0'), C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, list)
  t.equal(recs.subarray(8 + 256, 8 + 256 + recs.readInt32LE(4)).toString(), 'two', 'statxBatch')
  const out = Buffer.alloc(8 + 256 + 256)
  t.equal(native.statxXattrNow(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS, list, out), 0)
  t.equal(out.subarray(8 + 256, 8 + 256 + out.readInt32LE(4)).toString(), 'two', 'statxXattrNow')
  await native.fsetxattr(fd, 'user.smbts.first', Buffer.from('one'), 0)
  t.equal((await native.statxXattr(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS, list)).xattr?.toString(), 'one', 'both: the first wins')
  const none = await native.statxXattr(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS, 'user.smbts.x\nuser.smbts.y')
  t.same([none.xattr, none.xattrError], [null, 'ENODATA'], 'none of them: ENODATA')
  const long = await native.statxXattr(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS, 'user.' + 'x'.repeat(300) + '\nuser.smbts.first')
  t.equal(long.xattrError, 'ERANGE', 'a name past XATTR_NAME_MAX in the list: ERANGE, as the kernel answers one')
})

t.test('statxBatch: statx and one xattr of many names in one call, in order, failures per name', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const REC = 8 + 256 + 256
  const fd = await native.openat2(root, 'a', C.O_CREAT | C.O_RDWR, 0o644, RES())
  t.teardown(() => native.close(fd))
  await native.pwrite(fd, Buffer.from('12345'), 0, 5, 0)
  let xattrs = true
  try {
    await native.fsetxattr(fd, 'user.smbts.t', Buffer.from('rec'), 0)
  } catch (e) {
    if ((e as { code?: string }).code !== 'EOPNOTSUPP') throw e
    xattrs = false
  }
  await native.mkdirat(root, 'd', 0o755)
  await native.symlinkat('a', root, 'link')
  const names = Buffer.from('a\0missing\0d\0link\0')
  const recs = await native.statxBatch(root, names, C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, 'user.smbts.t')
  t.equal(recs.length, 4 * REC, 'one record per name')
  const res = (i: number) => [recs.readInt32LE(i * REC), recs.readInt32LE(i * REC + 4)]
  const mode = (i: number) => recs.readUInt16LE(i * REC + 8 + 28)
  t.equal(res(0)[0], 0, 'a: statx ok')
  t.equal(recs.readBigUInt64LE(8 + 40), 5n, 'a: the size is in the statx record')
  if (xattrs) {
    t.equal(res(0)[1], 3, 'a: the xattr length')
    t.equal(recs.subarray(8 + 256, 8 + 256 + 3).toString(), 'rec', 'a: the xattr value')
  }
  t.equal(res(1)[0], -osConstants.errno.ENOENT, 'missing: -ENOENT, the others still answered')
  t.equal(mode(2) & C.S_IFMT, C.S_IFDIR, 'd: a directory')
  if (xattrs) t.equal(res(2)[1], -osConstants.errno.ENODATA, 'd: no xattr is -ENODATA')
  t.equal(mode(3) & C.S_IFMT, C.S_IFLNK, 'link: the link itself')
  t.ok(res(3)[1] < 0, "link: its target's xattr is not read through it")
  const noX = await native.statxBatch(root, Buffer.from('a\0'), C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, '')
  t.same([noX.readInt32LE(0), noX.readInt32LE(4)], [0, -osConstants.errno.ENODATA], 'no xattr name: statx only')
  t.equal((await native.statxBatch(root, Buffer.alloc(0), 0, C.STATX_BASIC_STATS, '')).length, 0, 'no names, no records')
  await t.rejects(native.statxBatch(root, Buffer.from('a'), 0, C.STATX_BASIC_STATS, ''), { code: 'ERR_INVALID_ARG_VALUE' }, 'names must end with a NUL')
})

t.test('counters prove the native path ran', { skip }, async (t) => {
  const before = native.counters()
  const { fd: root } = await rootOf(t)
  await native.statx(root, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS)
  await native.statx(root, 'nope', 0, C.STATX_BASIC_STATS).catch(() => {})
  const after = native.counters()
  t.equal(after.ops.openat2 - before.ops.openat2, 1)
  t.equal(after.ops.statx - before.ops.statx, 2)
  t.equal(after.errors.statx - before.errors.statx, 1)
  t.equal(after.inflight, 0)
  const p = native.statx(root, '', C.AT_EMPTY_PATH, 0)
  t.equal(native.counters().inflight, 1, 'inflight while pending')
  await p
})

t.test('fcntlSetflNow: F_SETFL now, -errno on failure', { skip }, async (t) => {
  const { fd: root } = await rootOf(t)
  const fd = await native.openat2(root, 'flags.txt', C.O_CREAT | C.O_RDWR | C.O_NONBLOCK, 0o600, C.RESOLVE_BENEATH)
  const flags = (): number => parseInt(/^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8)
  t.not(flags() & C.O_NONBLOCK, 0, 'opened O_NONBLOCK')
  t.equal(native.fcntlSetflNow(fd, C.O_RDWR), 0)
  t.equal(flags() & C.O_NONBLOCK, 0, 'cleared')
  t.equal(native.closeNow(fd), 0)
  t.equal(native.fcntlSetflNow(fd, 0), -osConstants.errno.EBADF, 'a closed fd: -EBADF')
  t.throws(() => native.fcntlSetflNow('x' as unknown as number, 0), 'a bad argument throws')
})

t.test('unlinkatNow and flistxattrNow: now, -errno on failure', { skip }, async (t) => {
  const { fd: root, dir } = await rootOf(t)
  await writeFile(join(dir, 'x.txt'), 'x')
  const fd = await native.openat2(root, 'x.txt', C.O_RDWR, 0, C.RESOLVE_BENEATH)
  const out = Buffer.alloc(4096)
  const before = native.flistxattrNow(fd, out)
  t.ok(before >= 0, `listed (${before} bytes)`)
  let xattrs = true
  try { await native.fsetxattr(fd, 'user.smbts.t', Buffer.from('v'), 0) } catch { xattrs = false }
  if (xattrs) {
    const n = native.flistxattrNow(fd, out)
    t.ok(out.toString('utf8', 0, n).split('\0').includes('user.smbts.t'), 'the new name is in the list')
    t.equal(native.flistxattrNow(fd, Buffer.alloc(1)), -osConstants.errno.ERANGE, 'too small a buffer: -ERANGE')
  }
  t.equal(native.closeNow(fd), 0)
  t.equal(native.flistxattrNow(fd, out), -osConstants.errno.EBADF, 'a closed fd: -EBADF')
  t.equal(native.unlinkatNow(root, 'x.txt', 0), 0, 'unlinked')
  await t.rejects(stat(join(dir, 'x.txt')), { code: 'ENOENT' }, 'gone')
  t.equal(native.unlinkatNow(root, 'x.txt', 0), -osConstants.errno.ENOENT, 'again: -ENOENT')
  t.throws(() => native.unlinkatNow(root, 7 as unknown as string, 0), 'a bad argument throws')
})
