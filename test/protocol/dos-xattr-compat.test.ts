// DOS attributes and creation times that move with the share (issue #15): user.DOSATTRIB values
// Samba 4.17 wrote (test/fixtures/samba-dosattrib) are reported by smbts through every path that
// reads them (QUERY_INFO on an open, QUERY_DIRECTORY's batch), smbts's own record of earlier
// versions (user.smbts.dos) is read and replaced on the next write, and what smbts writes is the
// v4 value Samba and ksmbd read. The whole server in memory on the posix backend.
import t from 'tap'
import { readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Access, Disposition, MemClient, memServer, Opt, outputBuffer, type FileId } from '../helpers/mem-client.js'
import { native } from '../../src/io/native.js'
import { DOS_XATTR_NAME, LEGACY_DOS_XATTR_NAME, decodeDosRecord } from '../../src/vfs/dos-xattr.js'
import { filetimeFromUnixNs } from '../../src/wire/filetime.js'

const INFO_FILE = 1
const FileBasicInformation = 4
const FileBothDirectoryInformation = 3
const READONLY = 0x1
const HIDDEN = 0x2
const SYSTEM = 0x4
const DIRECTORY = 0x10
const ARCHIVE = 0x20

const fixture = (name: string): Buffer => readFileSync(join(import.meta.dirname, '../fixtures/samba-dosattrib', name))

async function setX (path: string, name: string, value: Buffer): Promise<void> {
  const fd = await native.openat2(native.constants.AT_FDCWD, path, native.constants.O_RDONLY, 0, 0)
  try { await native.fsetxattr(fd, name, value, 0) } finally { await native.close(fd) }
}
async function getX (path: string, name: string): Promise<Buffer | undefined> {
  const fd = await native.openat2(native.constants.AT_FDCWD, path, native.constants.O_RDONLY, 0, 0)
  try { return await native.fgetxattr(fd, name) } catch { return undefined } finally { await native.close(fd) }
}

async function basic (c: MemClient, fid: FileId): Promise<{ creationTime: bigint, changeTime: bigint, fileAttributes: number }> {
  const b = outputBuffer(await c.queryInfo(fid, INFO_FILE, FileBasicInformation))
  return { creationTime: b.readBigUInt64LE(0), changeTime: b.readBigUInt64LE(24), fileAttributes: b.readUInt32LE(32) }
}

t.test('files Samba left: attributes and creation times as Samba reported them', async (t) => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  const want: Record<string, { attrs: number, fixture: string, dir?: boolean }> = {
    'plain.txt': { attrs: ARCHIVE, fixture: 'plain.bin' },
    'attrs.txt': { attrs: HIDDEN | SYSTEM | ARCHIVE, fixture: 'attrs.bin' },
    'ro.txt': { attrs: READONLY | ARCHIVE, fixture: 'ro.bin' },
    'ct.txt': { attrs: ARCHIVE, fixture: 'ct.bin' },
    dir1: { attrs: HIDDEN | DIRECTORY, fixture: 'dir1.bin', dir: true },
  }
  for (const [name, w] of Object.entries(want)) {
    const p = join(srv.share, name)
    if (w.dir === true) mkdirSync(p, { mode: 0o775 }); else writeFileSync(p, 'hello\n', { mode: 0o775 })
    await setX(p, DOS_XATTR_NAME, fixture(w.fixture))
  }
  const c = await new MemClient(srv.state).connect()
  const root = await c.open('', { access: Access.GENERIC_READ, disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  const list = outputBuffer(await c.queryDirectory(root, '*', FileBothDirectoryInformation, 65536))
  const listed = new Map<string, { attrs: number, created: bigint }>()
  for (let off = 0; ;) {
    const nameLen = list.readUInt32LE(off + 60)
    listed.set(list.toString('utf16le', off + 94, off + 94 + nameLen), { attrs: list.readUInt32LE(off + 56), created: list.readBigUInt64LE(off + 8) })
    const next = list.readUInt32LE(off)
    if (next === 0) break
    off += next
  }
  for (const [name, w] of Object.entries(want)) {
    const created = decodeDosRecord(fixture(w.fixture))!.creationTime!
    const fid = await c.open(name, { access: Access.GENERIC_READ, disposition: Disposition.OPEN, options: w.dir === true ? Opt.DIRECTORY_FILE : 0 })
    const got = await basic(c, fid)
    t.equal(got.fileAttributes, w.attrs, `${name}: attributes (QUERY_INFO)`)
    t.equal(got.creationTime, created, `${name}: CreationTime (QUERY_INFO)`)
    t.same(listed.get(name), { attrs: w.attrs, created }, `${name}: the same in QUERY_DIRECTORY`)
    await c.close(fid)
  }
  t.equal(listed.get('ct.txt')!.created, filetimeFromUnixNs(BigInt(Date.UTC(2001, 1, 3, 4, 5, 6)) * 1_000_000n), 'the creation time set through Samba')
})

t.test('Samba\'s READONLY moves into the mode when smbts first rewrites the record', async (t) => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  const p = join(srv.share, 'ro.txt')
  writeFileSync(p, 'x', { mode: 0o664 })
  await setX(p, DOS_XATTR_NAME, fixture('ro.bin'))
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('ro.txt', { access: Access.GENERIC_READ | 0x100 /* FILE_WRITE_ATTRIBUTES */, disposition: Disposition.OPEN })
  const b = Buffer.alloc(40)
  b.writeBigInt64LE(filetimeFromUnixNs(1_600_000_000n * 1_000_000_000n), 16) // LastWriteTime only
  t.equal((await c.setInfo(fid, INFO_FILE, FileBasicInformation, b)).status, 0)
  t.equal((await basic(c, fid)).fileAttributes, READONLY | ARCHIVE, 'still READONLY')
  t.equal(statSync(p).mode & 0o222, 0, 'now in the mode: local users and smbts agree')
  const rec = decodeDosRecord(await getX(p, DOS_XATTR_NAME))!
  t.equal(rec.origin, 'smbts', 'rewritten as smbts writes it')
  t.equal(rec.fileAttributes & READONLY, READONLY, 'READONLY kept in the record for Samba and ksmbd')
  t.equal(rec.creationTime, decodeDosRecord(fixture('ro.bin'))!.creationTime, 'Samba\'s creation time kept')
})

t.test('the legacy user.smbts.dos record: read, then replaced by user.DOSATTRIB on write', async (t) => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  const p = join(srv.share, 'old.txt')
  writeFileSync(p, 'x')
  const mtimeNs = statSync(p, { bigint: true }).mtimeNs
  const legacy = Buffer.alloc(40)
  legacy[0] = 1; legacy[1] = 0x03
  legacy.writeUInt32LE(HIDDEN, 4)
  legacy.writeBigUInt64LE(130_000_000_000_000_000n, 8)
  legacy.writeBigUInt64LE(131_000_000_000_000_000n, 16)
  legacy.writeBigInt64LE(mtimeNs / 1_000_000_000n, 24)
  legacy.writeUInt32LE(Number(mtimeNs % 1_000_000_000n), 32)
  await setX(p, LEGACY_DOS_XATTR_NAME, legacy)
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('old.txt', { access: Access.GENERIC_READ | 0x100, disposition: Disposition.OPEN })
  t.same(await basic(c, fid), { creationTime: 130_000_000_000_000_000n, changeTime: 131_000_000_000_000_000n, fileAttributes: HIDDEN },
    'every field of the legacy record, ChangeTime held by its anchor')
  const b = Buffer.alloc(40)
  b.writeUInt32LE(HIDDEN | SYSTEM, 32)
  t.equal((await c.setInfo(fid, INFO_FILE, FileBasicInformation, b)).status, 0)
  t.equal(await getX(p, LEGACY_DOS_XATTR_NAME), undefined, 'the legacy record is gone')
  const rec = decodeDosRecord(await getX(p, DOS_XATTR_NAME))!
  t.same([rec.origin, rec.fileAttributes, rec.creationTime], ['smbts', HIDDEN | SYSTEM, 130_000_000_000_000_000n], 'migrated to user.DOSATTRIB')
  t.equal((await basic(c, fid)).fileAttributes, HIDDEN | SYSTEM)
})
