// QUERY_INFO classes and their rules through the whole server in memory (src/smb2/commands/
// query-info.ts, src/wire/fscc): FileNormalizedNameInformation (3.1.1 only, the stored spelling
// relative to the share, the root's empty), a delete-pending file's NumberOfLinks, which classes
// need FILE_READ_ATTRIBUTES, buffers below a structure's size, the volume's object id (Samba's)
// and quota settings (none kept).
import t, { type Test } from 'tap'
import { Disposition, MemClient, memServer, Opt, outputBuffer, type FileId } from '../helpers/mem-client.js'
import { NtStatus } from '../../src/wire/ntstatus.js'
import { ntHash } from '../../src/crypto/md4.js'

const INFO_FILE = 1
const INFO_FILESYSTEM = 2
const FileBasicInformation = 4
const FileStandardInformation = 5
const FileDispositionInformation = 13
const FileAllInformation = 18
const FileNetworkOpenInformation = 34
const FileNormalizedNameInformation = 48
const FileFsControlInformation = 6
const FileFsObjectIdInformation = 8
const SYNCHRONIZE = 0x00100000

const nameOf = (b: Buffer): string => b.toString('utf16le', 4, 4 + b.readUInt32LE(0))

async function setup (t: Test, dialect = 0x0311): Promise<MemClient> {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  return await new MemClient(srv.state).connect({ dialect })
}

t.test('FileNormalizedNameInformation: the stored spelling from the share root; the root\'s is empty; 3.1.1 only', async (t) => {
  const c = await setup(t)
  const root = await c.open('', { disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  const r = await c.queryInfo(root, INFO_FILE, FileNormalizedNameInformation)
  t.equal(r.status, 0)
  t.equal(outputBuffer(r).readUInt32LE(0), 0, 'the share root: an empty name')
  await c.open('dIr1N', { disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE })
  const f = await c.open('DIR1N\\fIlE.TxT', { disposition: Disposition.CREATE })
  t.equal(nameOf(outputBuffer(await c.queryInfo(f, INFO_FILE, FileNormalizedNameInformation))), 'dIr1N\\fIlE.TxT', 'no leading backslash, the stored spelling')
  const again = await c.open('dir1n\\FILE.TXT', { disposition: Disposition.OPEN })
  t.equal(nameOf(outputBuffer(await c.queryInfo(again, INFO_FILE, FileNormalizedNameInformation))), 'dIr1N\\fIlE.TxT', 'opened under another spelling')
  const s = await c.open('dir1n\\file.txt:sTrEaM', { disposition: Disposition.CREATE })
  t.equal(nameOf(outputBuffer(await c.queryInfo(s, INFO_FILE, FileNormalizedNameInformation))), 'dIr1N\\fIlE.TxT:sTrEaM', 'a stream\'s name follows')
  const c30 = await setup(t, 0x0300)
  const root30 = await c30.open('', { disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  t.equal((await c30.queryInfo(root30, INFO_FILE, FileNormalizedNameInformation)).status, NtStatus.NOT_SUPPORTED, 'SMB 3.0: NOT_SUPPORTED')
})

t.test('a delete-pending file reports NumberOfLinks 0, and 1 again once cancelled', async (t) => {
  const c = await setup(t)
  const f = await c.open('doomed.txt', { disposition: Disposition.CREATE })
  const links = async (fid: FileId): Promise<[number, number]> => {
    const b = outputBuffer(await c.queryInfo(fid, INFO_FILE, FileStandardInformation))
    return [b.readUInt32LE(16), b[20]!]
  }
  t.same(await links(f), [1, 0])
  t.equal((await c.setInfo(f, INFO_FILE, FileDispositionInformation, Buffer.from([1]))).status, 0)
  t.same(await links(f), [0, 1], 'NumberOfLinks 0, DeletePending')
  t.equal(outputBuffer(await c.queryInfo(f, INFO_FILE, FileAllInformation, 4096)).readUInt32LE(56), 0, 'FileAllInformation agrees')
  await c.setInfo(f, INFO_FILE, FileDispositionInformation, Buffer.from([0]))
  t.same(await links(f), [1, 0])
})

t.test('Basic, All, NetworkOpen need FILE_READ_ATTRIBUTES (a SYNCHRONIZE-only open has none); the other classes any open', async (t) => {
  const c = await setup(t)
  await c.open('f.txt', { disposition: Disposition.CREATE })
  const sync = await c.open('f.txt', { access: SYNCHRONIZE, disposition: Disposition.OPEN })
  for (const cls of [FileBasicInformation, FileAllInformation, FileNetworkOpenInformation]) {
    t.equal((await c.queryInfo(sync, INFO_FILE, cls, 4096)).status, NtStatus.ACCESS_DENIED, `class ${cls}: ACCESS_DENIED`)
  }
  t.equal((await c.queryInfo(sync, INFO_FILE, FileStandardInformation)).status, 0, 'FileStandardInformation: allowed')
  const readData = await c.open('f.txt', { access: 0x1 /* FILE_READ_DATA */, disposition: Disposition.OPEN })
  t.equal((await c.queryInfo(readData, INFO_FILE, FileBasicInformation)).status, NtStatus.ACCESS_DENIED,
    'an open for FILE_READ_DATA alone: ACCESS_DENIED, as Windows answers (smbtorture smb2.streams.attributes1)')
  const writeOnly = await c.open('f.txt', { access: 0x2 /* FILE_WRITE_DATA */, disposition: Disposition.OPEN })
  t.equal((await c.queryInfo(writeOnly, INFO_FILE, FileBasicInformation)).status, NtStatus.ACCESS_DENIED, 'FILE_WRITE_DATA alone: the same')
  const genericWrite = await c.open('f.txt', { access: 0x40000000 /* GENERIC_WRITE */, disposition: Disposition.OPEN })
  t.equal((await c.queryInfo(genericWrite, INFO_FILE, FileBasicInformation)).status, 0,
    'an open that may set attributes reads them (the share implies it: libsmbclient\'s fstat of an O_WRONLY handle)')
  const attrs = await c.open('f.txt', { access: SYNCHRONIZE | 0x80, disposition: Disposition.OPEN })
  t.equal((await c.queryInfo(attrs, INFO_FILE, FileBasicInformation)).status, 0, 'with FILE_READ_ATTRIBUTES')
})

t.test('buffers: below the structure\'s size INFO_LENGTH_MISMATCH, from there BUFFER_OVERFLOW', async (t) => {
  const c = await setup(t)
  const f = await c.open('a-rather-long-name.txt', { disposition: Disposition.CREATE })
  t.equal((await c.queryInfo(f, INFO_FILE, FileAllInformation, 103)).status, NtStatus.INFO_LENGTH_MISMATCH)
  const r = await c.queryInfo(f, INFO_FILE, FileAllInformation, 104)
  t.equal(r.status, NtStatus.BUFFER_OVERFLOW)
  t.equal(outputBuffer(r).length, 104)
})

t.test('the volume: Samba\'s object id for the share, quotas off', async (t) => {
  const c = await setup(t)
  const root = await c.open('', { disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  const id = outputBuffer(await c.queryInfo(root, INFO_FILESYSTEM, FileFsObjectIdInformation))
  t.equal(id.length, 64)
  t.same(id.subarray(0, 16), ntHash('share'), 'MD4 of the share name, as Samba\'s create_volume_objectid')
  const ctl = await c.queryInfo(root, INFO_FILESYSTEM, FileFsControlInformation)
  t.equal(ctl.status, 0)
  t.equal(outputBuffer(ctl).readUInt32LE(40), 0, 'FILE_VC_QUOTA_NONE')
  t.equal((await c.queryInfo(root, INFO_FILESYSTEM, FileFsControlInformation, 47)).status, NtStatus.INFO_LENGTH_MISMATCH)
})

t.test('8.3 names: a listing\'s ShortName is what FileAlternateNameInformation answers; none for a name that is 8.3 already', async (t) => {
  const FileAlternateNameInformation = 21
  const FileBothDirectoryInformation = 3
  const FileIdBothDirectoryInformation = 37
  const c = await setup(t)
  for (const n of ['torture_search.txt', 'A.TXT', 'Long File Name.html']) await c.open(n, { disposition: Disposition.CREATE })
  const root = await c.open('', { disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  // Each class's entries: name → ShortName (FileNameLength @60, ShortNameLength @68, ShortName @70).
  const listed = async (infoClass: number, nameAt: number): Promise<Map<string, string>> => {
    const r = await c.queryDirectory(root, '*', infoClass, 1 /* RESTART_SCANS */)
    t.equal(r.status, 0)
    const b = outputBuffer(r)
    const out = new Map<string, string>()
    for (let off = 0; ;) {
      const name = b.toString('utf16le', off + nameAt, off + nameAt + b.readUInt32LE(off + 60))
      out.set(name, b.toString('utf16le', off + 70, off + 70 + b[off + 68]!))
      const next = b.readUInt32LE(off)
      if (next === 0) break
      off += next
    }
    return out
  }
  const alt = async (n: string): Promise<string> => nameOf(outputBuffer(await c.queryInfo(await c.open(n, { disposition: Disposition.OPEN }), INFO_FILE, FileAlternateNameInformation)))
  for (const [infoClass, nameAt] of [[FileBothDirectoryInformation, 94], [FileIdBothDirectoryInformation, 104]] as const) {
    const m = await listed(infoClass, nameAt)
    const short = m.get('torture_search.txt')
    t.match(short, /^TORTU~[0-9A-Z]{2}\.TXT$/, `class ${infoClass}: a made-up 8.3 name`)
    t.equal(short, await alt('torture_search.txt'), `class ${infoClass}: the one FileAlternateNameInformation answers (smbtorture smb2.dir.one)`)
    t.equal(m.get('Long File Name.html'), await alt('Long File Name.html'))
    t.equal(m.get('A.TXT'), '', `class ${infoClass}: none for a name that is 8.3 already`)
    t.equal(m.get('.'), '', 'none for .')
  }
})
