// Stored DOS attributes and times through the whole server in memory: SET_INFO
// FileBasicInformation (MS-FSCC 2.4.7, MS-FSA 2.1.5.15.2: 0, -1, -2), CREATE's FileAttributes
// (MS-FSA 2.1.5.1.2.1), and every place that reports them — CREATE, QUERY_INFO (basic, all,
// network-open, attribute-tag), QUERY_DIRECTORY and CLOSE's post-query — agreeing.
//
// Backends: the rules are the handler's and the storing the backend's, so the tests of the rules
// run on both the memory backend and posix (where the record is the user.DOSATTRIB xattr and the
// times the kernel's: the write anchor, futimens, the mode). The tests that look at the xattr on
// disk, or mount a file system without user xattrs, run on posix only.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import {
  Access, closeBody, Command, Disposition, fileIdOf, MemClient, memServer, Opt, outputBuffer, Status, type FileId, type MemServer, type Resp,
} from '../helpers/mem-client.js'
import { native } from '../../src/io/native.js'
import { DOS_XATTR_NAME, decodeDosRecord } from '../../src/vfs/dos-xattr.js'
import { filetimeNow } from '../../src/wire/filetime.js'

const INFO_FILE = 1
const FileBasicInformation = 4
const FileAllInformation = 18
const FileNetworkOpenInformation = 34
const FileAttributeTagInformation = 35
const FileBothDirectoryInformation = 3
const FileEndOfFileInformation = 20
const CLOSE_FLAG_POSTQUERY_ATTRIB = 1

// MS-FSCC 2.6
const READONLY = 0x1
const HIDDEN = 0x2
const SYSTEM = 0x4
const DIRECTORY = 0x10
const ARCHIVE = 0x20
const NORMAL = 0x80
const TEMPORARY = 0x100

interface Times { creationTime: bigint, lastAccessTime: bigint, lastWriteTime: bigint, changeTime: bigint }
interface Basic extends Times { fileAttributes: number }

const times = (b: Buffer, off: number): Times => ({
  creationTime: b.readBigUInt64LE(off),
  lastAccessTime: b.readBigUInt64LE(off + 8),
  lastWriteTime: b.readBigUInt64LE(off + 16),
  changeTime: b.readBigUInt64LE(off + 24),
})

/** MS-FSCC 2.4.7 for SET_INFO: signed times (0 keep, -1 hold, -2 release), attributes (0 keep). */
function basicInfo (v: Partial<Basic>): Buffer {
  const b = Buffer.alloc(40)
  b.writeBigInt64LE(v.creationTime ?? 0n, 0)
  b.writeBigInt64LE(v.lastAccessTime ?? 0n, 8)
  b.writeBigInt64LE(v.lastWriteTime ?? 0n, 16)
  b.writeBigInt64LE(v.changeTime ?? 0n, 24)
  b.writeUInt32LE(v.fileAttributes ?? 0, 32)
  return b
}

async function setBasic (c: MemClient, fid: FileId, v: Partial<Basic>): Promise<number> {
  return (await c.setInfo(fid, INFO_FILE, FileBasicInformation, basicInfo(v))).status
}

async function queryBasic (c: MemClient, fid: FileId): Promise<Basic> {
  const r = await c.queryInfo(fid, INFO_FILE, FileBasicInformation)
  if (r.status !== 0) throw new Error(`query basic: 0x${r.status.toString(16)}`)
  const b = outputBuffer(r)
  return { ...times(b, 0), fileAttributes: b.readUInt32LE(32) }
}

/** Every other view of the same facts, each decoded to the FileBasicInformation shape. */
async function allViews (c: MemClient, dir: FileId, fid: FileId, name: string): Promise<Record<string, Basic>> {
  const all = outputBuffer(await c.queryInfo(fid, INFO_FILE, FileAllInformation, 65536))
  const net = outputBuffer(await c.queryInfo(fid, INFO_FILE, FileNetworkOpenInformation))
  const tag = outputBuffer(await c.queryInfo(fid, INFO_FILE, FileAttributeTagInformation))
  const basic = await queryBasic(c, fid)
  const list = outputBuffer(await c.queryDirectory(dir, name, FileBothDirectoryInformation, 1))
  return {
    FileAllInformation: { ...times(all, 0), fileAttributes: all.readUInt32LE(32) },
    FileNetworkOpenInformation: { ...times(net, 0), fileAttributes: net.readUInt32LE(48) },
    FileAttributeTagInformation: { ...basic, fileAttributes: tag.readUInt32LE(0) },
    'QUERY_DIRECTORY FileBothDirectoryInformation': { ...times(list, 8), fileAttributes: list.readUInt32LE(56) },
  }
}

async function closeWithPostQuery (c: MemClient, fid: FileId): Promise<Basic> {
  const r: Resp = await c.request({ cmd: Command.CLOSE, body: closeBody(fid, CLOSE_FLAG_POSTQUERY_ATTRIB) })
  if (r.status !== 0) throw new Error(`close: 0x${r.status.toString(16)}`)
  return { ...times(r.body, 8), fileAttributes: r.body.readUInt32LE(56) }
}

const createdBasic = (r: Resp): Basic => ({ ...times(r.body, 8), fileAttributes: r.body.readUInt32LE(56) })

type Where = 'memory' | 'posix'

/** A test of the rules, run on each backend. */
function onEach (name: string, fn: (t: Test, backend: Where) => Promise<void>): void {
  for (const backend of ['memory', 'posix'] as const) t.test(`${name} [${backend}]`, async (t) => { await fn(t, backend) })
}

async function setup (t: Test, backend: Where): Promise<{ c: MemClient, srv: MemServer, share: string, dir: FileId }> {
  const srv = memServer({ backend })
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const dir = await c.open('', { access: Access.GENERIC_READ, disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  return { c, srv, share: srv.share, dir }
}

// The smbtorture "complex file" times: all different, months apart (FILETIME, 100 ns units).
const MONTH = 30n * 24n * 3600n * 10_000_000n
const base = (filetimeNow() / 10_000_000n) * 10_000_000n
const SET: Times = {
  creationTime: base + 9n * MONTH,
  lastAccessTime: base + 6n * MONTH,
  lastWriteTime: base + 3n * MONTH,
  changeTime: base + 1n * MONTH,
}

t.test('a new file: ARCHIVE, its CreationTime fixed in the record, CREATE and QUERY_INFO agree', async (t) => {
  const { c, share } = await setup(t, 'posix')
  const cr = await c.create('new.txt', { disposition: Disposition.CREATE, attributes: NORMAL })
  t.equal(cr.status, 0)
  const fid = fileIdOf(cr)
  const created = createdBasic(cr)
  t.equal(created.fileAttributes, ARCHIVE, 'MS-FSA: a new file is ARCHIVE')
  t.same(await queryBasic(c, fid), created, 'QUERY_INFO reports what CREATE did')
  // The record is on disk under our name, with the CreationTime the client saw.
  const fd = await native.openat2(native.constants.AT_FDCWD, join(share, 'new.txt'), native.constants.O_RDONLY, 0, 0)
  const rec = decodeDosRecord(await native.fgetxattr(fd, DOS_XATTR_NAME))
  await native.close(fd)
  t.equal(rec?.creationTime, created.creationTime, 'CreationTime stored in user.DOSATTRIB')
  t.equal(rec?.fileAttributes, ARCHIVE)
  // Data changes move LastWriteTime, never CreationTime.
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal((await c.write(fid, 0, Buffer.from('data'))).status, 0)
  const after = await queryBasic(c, fid)
  t.equal(after.creationTime, created.creationTime, 'CreationTime survives a WRITE')
  t.ok(after.lastWriteTime > created.lastWriteTime, 'LastWriteTime moved')
  t.ok(after.changeTime > created.changeTime, 'ChangeTime moved')
})

onEach('set every time and NORMAL: every report agrees (the smbtorture complex file)', async (t, backend) => {
  const { c, dir } = await setup(t, backend)
  const fid = await c.open('complex.dat', { disposition: Disposition.OVERWRITE_IF })
  t.equal((await c.write(fid, 0, Buffer.from('abc\0\0\0\0'))).status, 0)
  t.equal(await setBasic(c, fid, { ...SET, fileAttributes: NORMAL }), 0)
  const want: Basic = { ...SET, fileAttributes: NORMAL }
  t.same(await queryBasic(c, fid), want, 'FileBasicInformation: the four set times, NORMAL (ARCHIVE cleared)')
  for (const [view, got] of Object.entries(await allViews(c, dir, fid, 'complex.dat'))) t.same(got, want, view)
  t.same(await closeWithPostQuery(c, fid), want, 'CLOSE post-query')
  // A new handle (no times held) reads the same stored values.
  const again = await c.open('complex.dat', { disposition: Disposition.OPEN })
  const cr = await c.create('complex.dat', { disposition: Disposition.OPEN })
  t.same(createdBasic(cr), want, 'CREATE of the existing file')
  await c.close(fileIdOf(cr))
  t.same(await queryBasic(c, again), want, 'after reopening')
})

onEach('0 leaves a time alone; all zero changes nothing at all', async (t, backend) => {
  const { c } = await setup(t, backend)
  const fid = await c.open('zero.txt', { disposition: Disposition.CREATE })
  t.equal(await setBasic(c, fid, { ...SET }), 0)
  const before = await queryBasic(c, fid)
  t.equal(await setBasic(c, fid, {}), 0, 'all zero accepted')
  t.same(await queryBasic(c, fid), before, 'nothing moved, ChangeTime included')
  t.equal(await setBasic(c, fid, { lastWriteTime: SET.lastWriteTime + 5n }), 0)
  const one = await queryBasic(c, fid)
  t.same([one.creationTime, one.lastAccessTime, one.lastWriteTime], [before.creationTime, before.lastAccessTime, SET.lastWriteTime + 5n],
    'only LastWriteTime changed')
  t.equal(one.changeTime, SET.changeTime, 'ChangeTime this handle set still holds')
})

onEach('-1 holds a time against this handle\'s own writes, -2 releases it', async (t, backend) => {
  const { c } = await setup(t, backend)
  const fid = await c.open('hold.txt', { disposition: Disposition.CREATE })
  t.equal(await setBasic(c, fid, { lastWriteTime: SET.lastWriteTime }), 0)
  t.equal(await setBasic(c, fid, { lastWriteTime: -1n, changeTime: -1n }), 0, '-1 accepted')
  const held = await queryBasic(c, fid)
  t.equal((await c.write(fid, 0, Buffer.from('x'.repeat(100)))).status, 0)
  const afterWrite = await queryBasic(c, fid)
  t.equal(afterWrite.lastWriteTime, held.lastWriteTime, 'LastWriteTime held through a WRITE')
  t.equal(afterWrite.changeTime, held.changeTime, 'ChangeTime held through a WRITE')
  t.equal(await c.setInfo(fid, INFO_FILE, FileEndOfFileInformation, Buffer.from([10, 0, 0, 0, 0, 0, 0, 0])).then(r => r.status), 0)
  t.equal((await queryBasic(c, fid)).lastWriteTime, held.lastWriteTime, 'held through a truncate')
  t.equal(await setBasic(c, fid, { lastWriteTime: -2n, changeTime: -2n }), 0, '-2 accepted')
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal((await c.write(fid, 0, Buffer.from('y'))).status, 0)
  const released = await queryBasic(c, fid)
  t.ok(released.lastWriteTime > filetimeNow() - 600_000_000n && released.lastWriteTime !== held.lastWriteTime,
    'released: the WRITE moved LastWriteTime to now')
  t.not(released.changeTime, held.changeTime, 'released: ChangeTime moved')
  t.equal(await setBasic(c, fid, { creationTime: -3n }), Status.INVALID_PARAMETER, 'below -2 is invalid')
})

onEach('a set ChangeTime holds until the data changes through another handle', async (t, backend) => {
  const { c } = await setup(t, backend)
  const a = await c.open('ct.txt', { disposition: Disposition.CREATE })
  t.equal(await setBasic(c, a, { changeTime: SET.changeTime, fileAttributes: NORMAL }), 0)
  t.equal((await c.write(a, 0, Buffer.from('through the setting handle'))).status, 0)
  const same = await queryBasic(c, a)
  t.equal(same.changeTime, SET.changeTime, 'the setting handle\'s WRITE does not move it (MS-FSA 2.1.4.17)')
  t.equal(same.fileAttributes, ARCHIVE, 'but the WRITE marks the file ARCHIVE')
  const b = await c.open('ct.txt', { disposition: Disposition.OPEN })
  t.equal(await setBasic(c, a, { fileAttributes: NORMAL }), 0, 'ARCHIVE cleared again')
  t.equal((await queryBasic(c, b)).fileAttributes, NORMAL)
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal((await c.write(b, 0, Buffer.from('another handle'))).status, 0)
  const moved = await queryBasic(c, b)
  t.ok(moved.changeTime !== SET.changeTime && moved.changeTime > filetimeNow() - 600_000_000n, 'another handle\'s WRITE: ChangeTime is now')
  t.equal(moved.fileAttributes, ARCHIVE, 'and ARCHIVE again (the data changed)')
})

onEach('attribute rules: replace the settable set, NORMAL clears, 0 keeps, bad combinations refused', async (t, backend) => {
  const { c, srv, dir } = await setup(t, backend)
  const names = ['h.txt', 'n.txt', 's.txt', 'z.txt']
  const fids: FileId[] = []
  for (const n of names) fids.push(await c.open(n, { disposition: Disposition.CREATE }))
  t.equal(await setBasic(c, fids[0], { fileAttributes: HIDDEN }), 0)
  t.equal(await setBasic(c, fids[1], { fileAttributes: NORMAL }), 0)
  t.equal(await setBasic(c, fids[2], { fileAttributes: SYSTEM | 0x40000000 /* not settable */ }), 0)
  t.equal(await setBasic(c, fids[3], { fileAttributes: 0 }), 0)
  for (const f of fids) await c.close(f)
  // As a directory listing shows them (smb2.dir.modify's expectations).
  const list = outputBuffer(await c.queryDirectory(dir, '*', FileBothDirectoryInformation, 1))
  const seen = new Map<string, number>()
  for (let off = 0; ;) {
    const len = list.readUInt32LE(off + 60)
    seen.set(list.toString('utf16le', off + 94, off + 94 + len), list.readUInt32LE(off + 56))
    const next = list.readUInt32LE(off)
    if (next === 0) break
    off += next
  }
  t.same(names.map(n => seen.get(n)), [HIDDEN, NORMAL, SYSTEM, ARCHIVE], 'HIDDEN, NORMAL, SYSTEM, unchanged ARCHIVE')

  const f = await c.open('f.txt', { disposition: Disposition.CREATE })
  t.equal(await setBasic(c, f, { fileAttributes: DIRECTORY }), Status.INVALID_PARAMETER, 'DIRECTORY on a file')
  t.equal(await setBasic(c, f, { fileAttributes: TEMPORARY | HIDDEN }), 0, 'TEMPORARY on a file')
  t.equal((await queryBasic(c, f)).fileAttributes, TEMPORARY | HIDDEN)
  t.equal(await setBasic(c, f, { fileAttributes: READONLY }), 0)
  t.equal((await queryBasic(c, f)).fileAttributes, READONLY, 'READONLY replaces the rest')
  t.equal(srv.files.mode('f.txt') & 0o222, 0, 'a file\'s READONLY is its mode: no write bits')
  t.equal(await setBasic(c, f, { fileAttributes: NORMAL }), 0)
  t.not(srv.files.mode('f.txt') & 0o200, 0, 'cleared: the owner may write again')

  const d = await c.open('sub', { disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, attributes: DIRECTORY })
  t.equal((await queryBasic(c, d)).fileAttributes, DIRECTORY, 'a new directory is only DIRECTORY (no ARCHIVE)')
  t.equal(await setBasic(c, d, { fileAttributes: TEMPORARY }), Status.INVALID_PARAMETER, 'TEMPORARY on a directory')
  t.equal(await setBasic(c, d, { fileAttributes: DIRECTORY | HIDDEN | READONLY }), 0)
  t.equal((await queryBasic(c, d)).fileAttributes, DIRECTORY | HIDDEN | READONLY, 'a directory keeps HIDDEN and READONLY')
  t.not(srv.files.mode('sub') & 0o200, 0, 'a directory\'s READONLY is stored, not its mode')
  t.equal((await c.create('sub\\child.txt', { disposition: Disposition.CREATE })).status, 0, 'and does not stop a new child')
  const rw = await c.create('sub', { access: Access.GENERIC_ALL, disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  t.equal(rw.status, 0, 'nor an open of the directory for writing')
  await c.close(fileIdOf(rw))

  const root = await c.open('', { access: 0x100 /* FILE_WRITE_ATTRIBUTES */ | 0x80, disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  t.equal(await setBasic(c, root, { fileAttributes: HIDDEN | SYSTEM }), 0)
  t.equal((await queryBasic(c, root)).fileAttributes, DIRECTORY, 'the share root never becomes HIDDEN or SYSTEM')
})

onEach('CREATE FileAttributes: kept on a new file, HIDDEN/SYSTEM guard overwrite, TEMPORARY refused on a new directory', async (t, backend) => {
  const { c } = await setup(t, backend)
  const cr = await c.create('hs.txt', { disposition: Disposition.CREATE, attributes: HIDDEN | SYSTEM })
  t.equal(createdBasic(cr).fileAttributes, HIDDEN | SYSTEM | ARCHIVE, 'requested attributes and ARCHIVE')
  await c.close(fileIdOf(cr))
  t.equal((await c.create('hs.txt', { disposition: Disposition.OVERWRITE_IF, attributes: NORMAL })).status, Status.ACCESS_DENIED,
    'overwrite that drops HIDDEN/SYSTEM refused (MS-FSA 2.1.5.1.2.1)')
  const ow = await c.create('hs.txt', { disposition: Disposition.OVERWRITE_IF, attributes: HIDDEN | SYSTEM | TEMPORARY })
  t.equal(ow.status, 0)
  t.equal(createdBasic(ow).fileAttributes, HIDDEN | SYSTEM | TEMPORARY | ARCHIVE, 'overwritten: the requested set and ARCHIVE')
  t.equal((await c.create('tmpdir', { disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, attributes: TEMPORARY })).status,
    Status.INVALID_PARAMETER)
})

onEach('hide dot files: on by default (a dot file is HIDDEN, yet may be overwritten as NORMAL), off on request', async (t, backend) => {
  for (const [lines, hidden] of [[[], true], [['hide dot files = no'], false]] as const) {
    const srv = memServer({ shareLines: [...lines], backend })
    t.teardown(srv.cleanup)
    const c = await new MemClient(srv.state).connect()
    const cr = await c.create('.dotfile', { disposition: Disposition.CREATE, attributes: NORMAL })
    t.equal(createdBasic(cr).fileAttributes, hidden ? HIDDEN | ARCHIVE : ARCHIVE, `${lines.join() || 'default'}: CREATE`)
    t.same(await queryBasic(c, fileIdOf(cr)), createdBasic(cr), 'QUERY_INFO agrees')
    await c.close(fileIdOf(cr))
    const ow = await c.create('.dotfile', { disposition: Disposition.OVERWRITE_IF, attributes: NORMAL })
    t.equal(ow.status, 0, 'an overwrite that does not ask for HIDDEN is not refused for a dot file (smb2.dosmode)')
    await c.close(fileIdOf(ow))
  }
})

t.test('store dos attributes = no: nothing stored, what Linux has is reported', async (t) => {
  const srv = memServer({ shareLines: ['store dos attributes = no'], backend: 'posix' })
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('plain.txt', { disposition: Disposition.CREATE })
  t.equal(await setBasic(c, fid, { ...SET, fileAttributes: HIDDEN }), 0)
  const got = await queryBasic(c, fid)
  t.same([got.lastAccessTime, got.lastWriteTime], [SET.lastAccessTime, SET.lastWriteTime], 'the times Linux keeps are set')
  t.equal(got.fileAttributes, ARCHIVE, 'HIDDEN is not kept')
  t.not(got.creationTime, SET.creationTime, 'nor CreationTime')
  const fd = await native.openat2(native.constants.AT_FDCWD, join(srv.share, 'plain.txt'), native.constants.O_RDONLY, 0, 0)
  t.teardown(() => native.close(fd))
  await t.rejects(native.fgetxattr(fd, DOS_XATTR_NAME), { code: 'ENODATA' }, 'no user.DOSATTRIB written')
})

t.test('a file system without user xattrs: times still set, the rest not kept, said once', { skip: process.getuid?.() !== 0 && 'needs root to mount ramfs' }, async (t) => {
  const srv = memServer({ shares: { ram: ['read only = no'] }, log: true, backend: 'posix' })
  const mnt = join(srv.root, 'ram')
  try {
    execFileSync('mount', ['-t', 'ramfs', 'smbts-test', mnt])
  } catch (e) {
    srv.cleanup()
    t.plan(0, `cannot mount ramfs: ${(e as Error).message}`)
    return
  }
  // Lazy: the share's root fd stays open in the server state until the process ends.
  t.teardown(() => { execFileSync('umount', ['-l', mnt]); srv.cleanup() })
  const c = await new MemClient(srv.state).connect({ share: 'ram' })
  for (const n of ['a.txt', 'b.txt']) {
    const fid = await c.open(n, { disposition: Disposition.CREATE })
    t.equal(await setBasic(c, fid, { ...SET, fileAttributes: HIDDEN }), 0, `${n}: SET_INFO still succeeds`)
    const got = await queryBasic(c, fid)
    t.same([got.lastAccessTime, got.lastWriteTime], [SET.lastAccessTime, SET.lastWriteTime], `${n}: times Linux keeps are set`)
    t.equal(got.fileAttributes, ARCHIVE, `${n}: HIDDEN not kept, reported from the file system as before`)
  }
  const warnings = srv.logs.filter(l => l.includes(DOS_XATTR_NAME))
  t.equal(warnings.length, 1, 'one warning for the share')
  t.match(warnings[0], /EOPNOTSUPP/)
})
