// The memory backend (src/vfs/memory.ts): its errors are the errno errors Linux gives for the same
// call, so errno.ts maps them as for posix (each case is also run on the posix backend, on a temp
// dir, and must fail the same way); its data is sparse and counted against a capacity; what it
// reports follows posix.ts statFromStatx (DOS attributes, times, READONLY from the mode).
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { memoryBackend, type MemoryBackend } from '../../../src/vfs/memory.js'
import { posixBackend } from '../../../src/vfs/posix.js'
import { nativeAvailable } from '../../../src/io/native.js'
import type { ShareFs, ShareOptions, VfsFile } from '../../../src/vfs/backend.js'
import { ntStatusFromErrno, ntStatusFromPathErrno, ntStatusFromRenameErrno } from '../../../src/vfs/errno.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'
import { encodeSecurityDescriptor } from '../../../src/wire/dtyp/security-descriptor.js'
import { sidEquals, sidFromString } from '../../../src/wire/dtyp/sid.js'
import {
  FILE_ATTRIBUTE_ARCHIVE as ARCHIVE, FILE_ATTRIBUTE_DIRECTORY as DIRECTORY, FILE_ATTRIBUTE_HIDDEN as HIDDEN,
  FILE_ATTRIBUTE_NORMAL as NORMAL, FILE_ATTRIBUTE_READONLY as READONLY, FILE_ATTRIBUTE_SYSTEM as SYSTEM,
} from '../../../src/wire/fscc/constants.js'

const ROOT = '/mem/share'
const opts: ShareOptions = { followSymlinks: false }

async function memShare (t: Test, o: Partial<ShareOptions> = {}, backend: MemoryBackend = memoryBackend()): Promise<{ fs: ShareFs, backend: MemoryBackend }> {
  backend.tree(ROOT)
  const fs = await backend.openShare(ROOT, { ...opts, ...o })
  t.teardown(() => fs.close())
  return { fs, backend }
}

async function posixShare (t: Test): Promise<ShareFs> {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-memparity-'))
  const fs = await posixBackend.openShare(dir, { ...opts, inline: { mode: 'no' } })
  t.teardown(async () => { await fs.close(); rmSync(dir, { recursive: true, force: true }) })
  return fs
}

const write = async (fs: ShareFs, path: string, data: string): Promise<void> => {
  const f = await fs.open(path, { write: true, create: 'either', truncate: true })
  await f.write(Buffer.from(data), 0, data.length, 0)
  await f.close()
}

/** The code of what `p` rejects with ('ok' when it resolves). */
const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try { await p; return 'ok' } catch (e) { return (e as NodeJS.ErrnoException).code ?? String(e) }
}

/** A tree both backends start from: d/ (f.txt), full/ (x), empty/, file.txt. */
async function populate (fs: ShareFs): Promise<void> {
  for (const d of ['d', 'full', 'empty']) await fs.mkdir(d, 0o755)
  await write(fs, 'd/f.txt', 'in d')
  await write(fs, 'full/x', 'x')
  await write(fs, 'file.txt', 'hello')
}

/** [what, the call, the errno it fails with]: each run on a fresh populated share. */
const CASES: Array<[string, (fs: ShareFs) => Promise<unknown>, string]> = [
  ['open of a missing name', fs => fs.open('nope', { write: false }), 'ENOENT'],
  ['open beneath a missing directory', fs => fs.open('nodir/x', { write: false }), 'ENOENT'],
  ['open with a file on the way', fs => fs.open('file.txt/x', { write: false }), 'ENOTDIR'],
  ['create beneath a missing directory', fs => fs.open('nodir/x', { write: true, create: 'new' }), 'ENOENT'],
  ['create with a file on the way', fs => fs.open('file.txt/x', { write: true, create: 'either' }), 'ENOTDIR'],
  ['create (new) of an existing name', fs => fs.open('file.txt', { write: true, create: 'new' }), 'EEXIST'],
  ['create (new) of an existing directory', fs => fs.open('d', { write: true, create: 'new' }), 'EEXIST'],
  ['a file opened as a directory', fs => fs.open('file.txt', { write: false, directory: true }), 'ENOTDIR'],
  ['`..` above the share root', fs => fs.open('../x', { write: false }), 'EXDEV'],
  ['`..` out of a directory and above the root', fs => fs.stat('d/../../x'), 'EXDEV'],
  ['a name too long', fs => fs.open('n'.repeat(256), { write: true, create: 'new' }), 'ENAMETOOLONG'],
  ['stat of a missing name', fs => fs.stat('nope'), 'ENOENT'],
  ['stat with a file on the way', fs => fs.stat('file.txt/x'), 'ENOTDIR'],
  ['mkdir of an existing name', fs => fs.mkdir('file.txt', 0o755), 'EEXIST'],
  ['mkdir beneath a missing directory', fs => fs.mkdir('nodir/sub', 0o755), 'ENOENT'],
  ['mkdir with a file on the way', fs => fs.mkdir('file.txt/sub', 0o755), 'ENOTDIR'],
  ['unlink of a missing name', fs => fs.unlink('nope', false), 'ENOENT'],
  ['unlink of a directory as a file', fs => fs.unlink('empty', false), 'EISDIR'],
  ['rmdir of a file', fs => fs.unlink('file.txt', true), 'ENOTDIR'],
  ['rmdir of a directory not empty', fs => fs.unlink('full', true), 'ENOTEMPTY'],
  ['rename of a missing name', fs => fs.rename('nope', 'x', false), 'ENOENT'],
  ['rename into a missing directory', fs => fs.rename('file.txt', 'nodir/x', false), 'ENOENT'],
  ['rename onto a name without replace', fs => fs.rename('file.txt', 'd/f.txt', false), 'EEXIST'],
  ['rename of a directory onto a file', fs => fs.rename('empty', 'file.txt', true), 'ENOTDIR'],
  ['rename of a file onto a directory', fs => fs.rename('file.txt', 'empty', true), 'EISDIR'],
  ['rename onto a directory not empty', fs => fs.rename('empty', 'full', true), 'ENOTEMPTY'],
  ['rename of a directory beneath itself', fs => fs.rename('d', 'd/sub', false), 'EINVAL'],
  ['rename onto the same file', fs => fs.rename('file.txt', 'file.txt', true), 'ok'],
  ['rename replacing a file', fs => fs.rename('file.txt', 'd/f.txt', true), 'ok'],
  ['rename replacing an empty directory', fs => fs.rename('d', 'empty', true), 'ok'],
  ['write on a handle opened read-only', async fs => { const f = await fs.open('file.txt', { write: false }); try { await f.write(Buffer.from('x'), 0, 1, 0) } finally { await f.close() } }, 'EBADF'],
  ['truncate on a handle opened read-only', async fs => { const f = await fs.open('file.txt', { write: false }); try { await f.truncate(0) } finally { await f.close() } }, 'EINVAL'],
  ['read on a directory', async fs => { const f = await fs.open('d', { write: false }); try { await f.read(Buffer.alloc(4), 0, 4, 0) } finally { await f.close() } }, 'EISDIR'],
  ['readdir of a file', async fs => { const f = await fs.open('file.txt', { write: false }); try { await f.readdir() } finally { await f.close() } }, 'ENOTDIR'],
  ['stat of a missing entry', async fs => { const f = await fs.open('d', { write: false, directory: true }); try { await f.statEntry('nope') } finally { await f.close() } }, 'ENOENT'],
  ['read after close', async fs => { const f = await fs.open('file.txt', { write: false }); await f.close(); await f.read(Buffer.alloc(4), 0, 4, 0) }, 'EBADF'],
]

t.test('each failure is the errno Linux gives', async (t) => {
  for (const [what, call, want] of CASES) {
    const { fs } = await memShare(t)
    await populate(fs)
    t.equal(await codeOf(call(fs)), want, what)
  }
})

t.test('and the posix backend fails each the same way', { skip: !nativeAvailable && 'native addon not built' }, async (t) => {
  for (const [what, call, want] of CASES) {
    const fs = await posixShare(t)
    await populate(fs)
    t.equal(await codeOf(call(fs)), want, `posix: ${what}`)
  }
})

t.test('errno.ts maps them as for posix', async (t) => {
  const { fs } = await memShare(t)
  await populate(fs)
  const err = async (p: Promise<unknown>): Promise<unknown> => await p.then(() => undefined, (e: unknown) => e)
  t.equal(ntStatusFromErrno(await err(fs.stat('nope'))), NtStatus.OBJECT_NAME_NOT_FOUND)
  t.equal(ntStatusFromPathErrno(await err(fs.stat('nodir/x')), 'parent'), NtStatus.OBJECT_PATH_NOT_FOUND)
  t.equal(ntStatusFromErrno(await err(fs.stat('file.txt/x'))), NtStatus.OBJECT_PATH_NOT_FOUND)
  t.equal(ntStatusFromPathErrno(await err(fs.open('file.txt', { write: false, directory: true })), 'final'), NtStatus.NOT_A_DIRECTORY)
  t.equal(ntStatusFromErrno(await err(fs.mkdir('d', 0o755))), NtStatus.OBJECT_NAME_COLLISION)
  t.equal(ntStatusFromErrno(await err(fs.unlink('full', true))), NtStatus.DIRECTORY_NOT_EMPTY)
  t.equal(ntStatusFromErrno(await err(fs.unlink('empty', false))), NtStatus.FILE_IS_A_DIRECTORY)
  t.equal(ntStatusFromErrno(await err(fs.stat('../x'))), NtStatus.ACCESS_DENIED, 'EXDEV: outside the share')
  t.equal(ntStatusFromErrno(await err(fs.open('n'.repeat(300), { write: false }))), NtStatus.OBJECT_NAME_INVALID)
  t.equal(ntStatusFromRenameErrno(await err(fs.rename('empty', 'full', true))), NtStatus.ACCESS_DENIED)
  t.equal(ntStatusFromRenameErrno(await err(fs.rename('file.txt', 'd/f.txt', false))), NtStatus.OBJECT_NAME_COLLISION)
  const e = await err(fs.stat('nope')) as NodeJS.ErrnoException
  t.match(e, { code: 'ENOENT', errno: -2, syscall: 'statx', path: 'nope' }, 'shaped as node:fs errors are')
  t.match(e.message, /^ENOENT: no such file or directory/)
})

t.test('a share root no tree was made for is ENOENT; a closed share refuses calls', async (t) => {
  const backend = memoryBackend()
  await t.rejects(backend.openShare('/nowhere', opts), { code: 'ENOENT' })
  backend.tree('/somewhere')
  const fs = await backend.openShare('/somewhere', opts)
  await fs.close()
  await t.rejects(fs.stat(''), { code: 'EBADF' })
  t.equal(fs.openExisting!('', false), undefined, 'openExisting cannot answer')
  const again = await backend.openShare('/somewhere', opts)
  t.ok((await again.stat('')).isDirectory, 'the tree outlives a share opened on it')
})

t.test('the share root: a directory that cannot be removed, renamed or made', async (t) => {
  const { fs } = await memShare(t)
  const root = await fs.stat('')
  t.ok(root.isDirectory)
  t.equal(root.fileAttributes, DIRECTORY)
  t.equal(await codeOf(fs.unlink('', true)), 'EBUSY')
  t.equal(await codeOf(fs.rename('', 'x', false)), 'EBUSY')
  t.equal(await codeOf(fs.mkdir('', 0o755)), 'EBUSY')
  t.equal(await codeOf(fs.open('/abs', { write: false })), 'EXDEV', 'an absolute path')
  t.equal(await codeOf(fs.open('x', { write: true, create: 'new', directory: true })), 'EINVAL', 'O_CREAT|O_DIRECTORY')
  const d = await fs.open('', { write: true })
  t.ok(d.isDirectory, 'a directory opened for writing is opened read-only')
  const names = (await d.readdir()).map(e => e.name)
  t.same(names, ['.', '..'])
  await d.close()
})

t.test('data: sparse, read past the end, truncate zeroes what it cut', async (t) => {
  const { fs } = await memShare(t)
  const f = await fs.open('s.bin', { write: true, create: 'new' })
  t.equal(await f.write(Buffer.from('tail'), 0, 4, 1_000_000), 4)
  let st = await f.stat()
  t.equal(st.endOfFile, 1_000_004n)
  t.ok(st.allocationSize > 0n && st.allocationSize <= 65536n, 'one chunk holds data')
  const buf = Buffer.alloc(8, 0xff)
  t.equal(await f.read(buf, 0, 8, 999_998), 6)
  t.same(buf.subarray(0, 6), Buffer.from([0, 0, 0x74, 0x61, 0x69, 0x6c]), 'a hole reads as zeros')
  t.equal(await f.read(buf, 0, 8, 2_000_000), 0, 'past the end: nothing')
  await f.truncate(1_000_001)
  await f.truncate(1_000_004)
  t.equal(await f.read(buf, 0, 4, 1_000_000), 4)
  t.same(buf.subarray(0, 4), Buffer.from([0x74, 0, 0, 0]), 'grown again: zeros where it was cut')
  await f.allocate(1 << 20)
  st = await f.stat()
  t.equal(st.endOfFile, 1_000_004n, 'allocate keeps the size')
  t.equal(st.allocationSize, 1n << 20n)
  await f.truncate(10)
  t.equal((await f.stat()).allocationSize, 4096n, 'a truncate frees what lay past the end (the block holding it stays)')
  t.equal(await codeOf(f.write(Buffer.alloc(1), 0, 1, Number.MAX_SAFE_INTEGER)), 'EFBIG')
  t.equal(await codeOf(f.truncate(-1)), 'EINVAL')
  await f.close()
})

t.test('capacity: ENOSPC past it; an unlinked file holds its data until its last close', async (t) => {
  const { fs } = await memShare(t, {}, memoryBackend({ capacity: 256 * 1024 }))
  const before = await fs.statfs()
  t.equal(before.totalAllocationUnits, 64n)
  t.equal(before.availableAllocationUnits, 64n)
  const a = await fs.open('a', { write: true, create: 'new' })
  t.equal(await a.write(Buffer.alloc(192 * 1024, 1), 0, 192 * 1024, 0), 192 * 1024)
  t.equal((await fs.statfs()).availableAllocationUnits, 16n)
  const b = await fs.open('b', { write: true, create: 'new' })
  t.equal(await codeOf(b.write(Buffer.alloc(128 * 1024), 0, 128 * 1024, 0)), 'ENOSPC')
  t.equal((await b.stat()).endOfFile, 0n, 'nothing written')
  t.equal(await codeOf(b.allocate(128 * 1024)), 'ENOSPC', 'nor reserved')
  t.equal(ntStatusFromErrno(await b.allocate(128 * 1024).catch((e: unknown) => e)), NtStatus.DISK_FULL)
  t.equal(await b.write(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0), 64 * 1024, 'what fits is written')
  await fs.unlink('a', false)
  t.equal((await fs.statfs()).availableAllocationUnits, 0n, 'still held by the open handle')
  const got = Buffer.alloc(4)
  t.equal(await a.read(got, 0, 4, 0), 4)
  t.same(got, Buffer.alloc(4, 1), 'and still readable through it')
  t.equal((await a.stat()).numberOfLinks, 0)
  await a.close()
  t.equal((await fs.statfs()).availableAllocationUnits, 48n, 'freed by the last close')
  await b.close()
  await fs.unlink('b', false)
  t.equal((await fs.statfs()).availableAllocationUnits, 64n)
})

t.test('security descriptor record: stored, read back, too large is E2BIG', async (t) => {
  const { fs } = await memShare(t)
  const f = await fs.open('acl', { write: true, create: 'new' })
  t.equal(await f.getSecurityDescriptor(), undefined, 'none stored')
  const owner = sidFromString('S-1-5-7')
  await f.setSecurityDescriptor(encodeSecurityDescriptor({ control: 0, owner }))
  t.ok(sidEquals((await f.getSecurityDescriptor())!.owner!, owner), 'read back')
  t.equal(await codeOf(f.setSecurityDescriptor(Buffer.alloc(64 * 1024))), 'E2BIG')
  await f.close()
})

t.test('DOS attributes and times, as the posix backend reports them', async (t) => {
  const { fs } = await memShare(t)
  const f = await fs.open('a.txt', { write: true, create: 'new', mode: 0o666 })
  const created = await f.stat()
  t.equal(created.fileAttributes, ARCHIVE, 'a new file: ARCHIVE')
  t.equal(created.mode, 0o100644, 'the mode, umask applied')
  t.equal(created.creationTime, created.lastWriteTime)
  await f.setBasicInfo({ fileAttributes: HIDDEN | SYSTEM, changeTime: 5n, creationTime: 7n })
  let st = await f.stat()
  t.equal(st.fileAttributes, HIDDEN | SYSTEM)
  t.same([st.creationTime, st.changeTime], [7n, 5n], 'stored CreationTime and ChangeTime')
  await f.write(Buffer.from('x'), 0, 1, 0)
  st = await f.stat()
  t.equal(st.fileAttributes, HIDDEN | SYSTEM | ARCHIVE, 'a data change: ARCHIVE')
  t.not(st.changeTime, 5n, 'and the stored ChangeTime no longer holds')
  t.equal(st.creationTime, 7n)
  await f.setBasicInfo({ fileAttributes: READONLY })
  st = await f.stat()
  t.equal(st.fileAttributes, READONLY)
  t.equal(st.mode & 0o222, 0, 'a file\'s READONLY is its mode')
  await f.setBasicInfo({ fileAttributes: NORMAL })
  t.equal((await f.stat()).fileAttributes, NORMAL)
  t.equal((await f.stat()).mode & 0o200, 0o200, 'the owner may write again')
  await f.setBasicInfo({ lastWriteTime: 1000n, lastAccessTime: 2000n })
  st = await f.stat()
  t.same([st.lastWriteTime, st.lastAccessTime], [1000n, 2000n])
  await f.close()

  await fs.mkdir('.dot', 0o777)
  const d = await fs.open('.dot', { write: false, directory: true })
  t.equal((await d.stat()).fileAttributes, DIRECTORY | HIDDEN, 'a dot directory: HIDDEN')
  await d.setBasicInfo({ fileAttributes: READONLY })
  t.equal((await d.stat()).fileAttributes, DIRECTORY | HIDDEN | READONLY, 'a directory\'s READONLY is stored')
  t.equal((await d.stat()).mode & 0o200, 0o200, 'not its mode')
  await d.close()

  const { fs: plain } = await memShare(t, { hideDotFiles: false, storeDosAttributes: false })
  const p = await plain.open('.p', { write: true, create: 'new' })
  await p.setBasicInfo({ fileAttributes: HIDDEN, creationTime: 7n, lastWriteTime: 1000n })
  st = await p.stat()
  t.equal(st.fileAttributes, ARCHIVE, 'store dos attributes = no: what Linux has')
  t.not(st.creationTime, 7n)
  t.equal(st.lastWriteTime, 1000n, 'the times Linux keeps are set')
  await p.close()
})

t.test('names: case-insensitive lookup, listings, renames', async (t) => {
  const { fs, backend } = await memShare(t)
  const tree = backend.tree(ROOT)
  tree.mkdir('Dir/Sub', 0o777, { recursive: true })
  tree.writeFile('Dir/Sub/f.txt', 'deep')
  tree.writeFile('b.txt', 'lower')
  tree.writeFile('B.TXT', 'upper')
  t.same(await fs.resolveCase('DIR/SUB/F.TXT'), { path: 'Dir/Sub/f.txt', existing: 3 })
  t.same(await fs.resolveCase('dir/nope/x'), { path: 'Dir/nope/x', existing: 1 })
  t.same(await fs.resolveCase('B.txt'), { path: 'B.TXT', existing: 1 }, 'the smaller spelling, every time')
  t.same(await fs.resolveCase('b.txt/x'), { path: 'b.txt/x', existing: 0 }, 'a file on the way is not counted')
  t.same(tree.readdir(''), ['Dir', 'b.txt', 'B.TXT'])
  const dir = await fs.open('Dir/Sub', { write: false, directory: true })
  const entries = await dir.readdir()
  t.same(entries.map(e => e.name), ['.', '..', 'f.txt'])
  t.equal(entries[1]!.info.indexNumber, (await fs.stat('Dir')).indexNumber, '.. is the parent')
  t.same(await dir.statEntries!(['f.txt', 'gone']), [entries[2]!.info, undefined])
  await fs.rename('Dir/Sub/f.txt', 'moved.txt', false)
  t.equal((await dir.readdir()).length, 2, 'a listing sees the rename')
  t.equal(tree.readFile('moved.txt').toString(), 'deep')
  await dir.close()
  t.equal(await codeOf(fs.unlink('Dir', true)), 'ENOTEMPTY')
  tree.rm('Dir', { recursive: true })
  t.notOk(tree.exists('Dir'))
})

t.test('openExisting: a file or directory opened in one step, null for a missing name', async (t) => {
  const { fs } = await memShare(t)
  await populate(fs)
  t.equal(fs.openExisting!('nope', false), null)
  t.equal(fs.openExisting!('nodir/x', false), null, 'a missing directory on the way: ENOENT too')
  t.equal(fs.openExisting!('file.txt/x', false), undefined, 'ENOTDIR: the caller\'s stat explains')
  t.equal(fs.openExisting!('d', true), undefined, 'a directory is never opened for writing')
  t.equal(fs.openExisting!('file.txt', false, true), undefined, 'a file asked as a directory')
  const f = fs.openExisting!('file.txt', true) as VfsFile
  t.equal(f.openStat?.endOfFile, 5n, 'with its attributes')
  await f.write(Buffer.from('J'), 0, 1, 0)
  await f.close()
  const r = fs.openExisting!('file.txt', false) as VfsFile
  const b = Buffer.alloc(5)
  await r.read(b, 0, 5, 0)
  t.equal(b.toString(), 'Jello')
  t.equal(await codeOf(r.write(b, 0, 1, 0)), 'EBADF', 'opened read-only')
  await r.close()
})

t.test('the tree\'s own calls (what tests use to set files up)', async (t) => {
  const backend = memoryBackend()
  const tree = backend.tree(ROOT)
  t.throws(() => tree.writeFile('nodir/x', ''), { code: 'ENOENT' })
  t.throws(() => tree.readFile('nope'), { code: 'ENOENT' })
  tree.mkdir('a/b', 0o777, { recursive: true })
  t.throws(() => tree.mkdir('a', 0o777), { code: 'EEXIST' })
  t.throws(() => tree.readFile('a'), { code: 'EISDIR' })
  t.throws(() => tree.writeFile('a', 'x'), { code: 'EISDIR' })
  tree.writeFile('a/b/f', 'one')
  t.throws(() => tree.mkdir('a/b/f/g', 0o777, { recursive: true }), { code: 'ENOTDIR' })
  t.throws(() => tree.readdir('a/b/f'), { code: 'ENOTDIR' })
  t.throws(() => tree.rm('a'), { code: 'ENOTEMPTY' })
  t.throws(() => tree.rm(''), { code: 'EBUSY' })
  tree.writeFile('a/b/f', 'two')
  t.equal(tree.readFile('a/b/f').toString(), 'two', 'replaced')
  t.equal(tree.stat('a/b/f').endOfFile, 3n)
})

t.test('holes: punchHole and allocatedRanges agree between memory and posix', { skip: !nativeAvailable && 'no native addon' }, async t => {
  for (const [kind, fs] of [['memory', (await memShare(t)).fs], ['posix', await posixShare(t)]] as const) {
    const f = await fs.open('sparse.bin', { write: true, create: 'new' })
    const MiB = 1 << 20
    const data = Buffer.alloc(3 * MiB, 0xab)
    await f.write(data, 0, data.length, 0)
    t.same(await f.allocatedRanges!(0, 3 * MiB), [[0, 3 * MiB]], `${kind}: all data`)
    await f.punchHole!(MiB, MiB)
    t.same(await f.allocatedRanges!(0, 3 * MiB), [[0, MiB], [2 * MiB, MiB]], `${kind}: the hole punched`)
    t.same(await f.allocatedRanges!(MiB + 4096, MiB), [[2 * MiB, 4096]], `${kind}: a window, cut to it`)
    t.same(await f.allocatedRanges!(3 * MiB, MiB), [], `${kind}: nothing past the end`)
    t.same(await f.allocatedRanges!(0, 3 * MiB, 1), [[0, MiB]], `${kind}: the first \`max\` ranges`)
    const back = Buffer.alloc(MiB)
    await f.read(back, 0, MiB, MiB)
    t.ok(back.every(b => b === 0), `${kind}: the hole reads zeros`)
    t.equal((await f.stat()).endOfFile, BigInt(3 * MiB), `${kind}: the size stays`)
    await f.close()
  }
})
