// Files through the whole server in memory: CREATE/WRITE/READ/CLOSE, directories, rename,
// delete on close, share access rules (read only, valid users).
//
// Backend: memory (the default); files are set up and checked through srv.files.
import t from 'tap'
import {
  Access, Disposition, fileIdOf, MemClient, memServer, namesOf, Opt, outputBuffer, queryDirectoryBody, readData, renameInfo, Status, type Resp,
} from '../helpers/mem-client.js'
import { Command } from '../../src/wire/constants.js'

const FILE_INFO = 1
const FileRenameInformation = 10
const FileDispositionInformation = 13
const FileStandardInformation = 5

t.test('create/write/read/close round trip on every dialect', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const d of [0x0202, 0x0210, 0x0300, 0x0302, 0x0311]) {
    const c = await new MemClient(srv.state).connect({ dialect: d, signAll: d === 0x0311 })
    const name = `f-${d.toString(16)}.bin`
    const cr = await c.create(name, { disposition: Disposition.CREATE })
    t.equal(cr.status, 0, `0x${d.toString(16)} create`)
    t.equal(cr.body.readUInt32LE(4), 2, 'FILE_CREATED')
    const fid = fileIdOf(cr)
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 0xff))
    const w = await c.write(fid, 0, data)
    t.equal(w.status, 0)
    t.equal(w.body.readUInt32LE(4), data.length, 'Count')
    const r = await c.read(fid, 0, 65536)
    t.equal(r.status, 0)
    t.same(readData(r), data, 'read back what was written')
    t.equal((await c.read(fid, 5000, 10)).status, Status.END_OF_FILE, 'read at EOF')
    const q = await c.queryInfo(fid, FILE_INFO, FileStandardInformation)
    t.equal(q.status, 0)
    t.equal(outputBuffer(q).readBigUInt64LE(8), 5000n, 'EndOfFile')
    t.equal((await c.close(fid)).status, 0)
    t.equal((await c.close(fid)).status, Status.FILE_CLOSED, 'a closed FileId is gone')
    t.same(srv.files.read(`${name}`), data, 'on disk')
    t.equal((await c.create(name, { disposition: Disposition.CREATE })).status, Status.OBJECT_NAME_COLLISION)
    t.equal((await c.create('nope.txt', { disposition: Disposition.OPEN })).status, Status.OBJECT_NAME_NOT_FOUND)
    t.equal((await c.create('nodir\\x.txt', { disposition: Disposition.OPEN })).status, Status.OBJECT_PATH_NOT_FOUND)
  }
})

t.test('a listing in many small responses: every entry once, entries removed meanwhile skipped', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  srv.files.mkdir('big')
  const n = 300
  for (let i = 0; i < n; i++) srv.files.write(`big/file-${String(i).padStart(3, '0')}.txt`, '')
  const dir = await c.open('big', { options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })
  // FileNamesInformation in 512-byte responses: ~20 names each, re-stated in batches.
  const page = async (): Promise<Resp> => await c.request({ cmd: Command.QUERY_DIRECTORY, body: queryDirectoryBody(dir, '*', 12, 0, 512) })
  const first = await page()
  t.equal(first.status, 0)
  const seen = namesOf(outputBuffer(first))
  // Removed after the listing was read: never reported by a later response.
  const removed = new Set<string>()
  for (let i = 100; i < 300; i += 7) {
    const name = `file-${String(i).padStart(3, '0')}.txt`
    srv.files.rm(`big/${name}`)
    removed.add(name)
  }
  for (let r = await page(); r.status === 0; r = await page()) seen.push(...namesOf(outputBuffer(r)))
  t.equal(new Set(seen).size, seen.length, 'no entry twice')
  const expected = ['.', '..', ...Array.from({ length: n }, (_, i) => `file-${String(i).padStart(3, '0')}.txt`)]
  t.same(seen.filter(x => removed.has(x) && !namesOf(outputBuffer(first)).includes(x)), [], 'removed entries not listed after their removal')
  t.same([...seen].sort(), expected.filter(x => !removed.has(x) || namesOf(outputBuffer(first)).includes(x)).sort(), 'every other entry listed')
})

t.test('directories: create, list with patterns, restart', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const dir = await c.open('d', { disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })
  for (const n of ['a.txt', 'b.txt', 'c.log']) await c.close(await c.open(`d\\${n}`, { disposition: Disposition.CREATE }))
  const all = await c.queryDirectory(dir, '*')
  t.equal(all.status, 0)
  t.same(namesOf(outputBuffer(all)).sort(), ['.', '..', 'a.txt', 'b.txt', 'c.log'])
  t.equal((await c.queryDirectory(dir, '*')).status, Status.NO_MORE_FILES, 'then NO_MORE_FILES')
  const txt = await c.queryDirectory(dir, '*.txt', 12, 1)
  t.same(namesOf(outputBuffer(txt)).sort(), ['a.txt', 'b.txt'], 'pattern with RESTART_SCANS')
  t.equal((await c.queryDirectory(dir, 'zzz*', 12, 1)).status, Status.NO_SUCH_FILE, 'no match on the first call')
  const f = await c.open('d\\a.txt')
  t.equal((await c.queryDirectory(f, '*')).status, Status.INVALID_PARAMETER, 'QUERY_DIRECTORY on a file')
  t.equal((await c.create('d\\a.txt', { options: Opt.DIRECTORY_FILE })).status, 0xc0000103, 'NOT_A_DIRECTORY')
  t.equal((await c.create('d', { options: Opt.NON_DIRECTORY_FILE })).status, 0xc00000ba, 'FILE_IS_A_DIRECTORY')
})

t.test('rename and delete (on close and through disposition)', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('old.txt', { disposition: Disposition.CREATE })
  await c.write(fid, 0, Buffer.from('hello'))
  t.equal((await c.setInfo(fid, FILE_INFO, FileRenameInformation, renameInfo('new.txt'))).status, 0)
  await c.close(fid)
  t.notOk(srv.files.exists('old.txt'))
  t.equal(srv.files.read('new.txt').toString(), 'hello', 'renamed')

  srv.files.write('other.txt', 'x')
  const f2 = await c.open('new.txt')
  t.equal((await c.setInfo(f2, FILE_INFO, FileRenameInformation, renameInfo('other.txt'))).status, Status.OBJECT_NAME_COLLISION, 'no replace')
  t.equal((await c.setInfo(f2, FILE_INFO, FileRenameInformation, renameInfo('other.txt', true))).status, 0, 'replace')
  await c.close(f2)
  t.equal(srv.files.read('other.txt').toString(), 'hello')

  const doc = await c.open('tmp.txt', { disposition: Disposition.CREATE, options: Opt.DELETE_ON_CLOSE })
  t.ok(srv.files.exists('tmp.txt'), 'exists while open')
  await c.close(doc)
  t.notOk(srv.files.exists('tmp.txt'), 'deleted on close')

  const disp = await c.open('other.txt')
  t.equal((await c.setInfo(disp, FILE_INFO, FileDispositionInformation, Buffer.from([1]))).status, 0)
  await c.close(disp)
  t.notOk(srv.files.exists('other.txt'), 'deleted through FileDispositionInformation')

  srv.files.mkdir('full')
  srv.files.write('full/x', '')
  const dfid = await c.open('full', { options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ | Access.DELETE })
  t.equal((await c.setInfo(dfid, FILE_INFO, FileDispositionInformation, Buffer.from([1]))).status, 0xc0000101, 'DIRECTORY_NOT_EMPTY')
})

t.test('a directory with something open beneath it is not renamed; once that closes, it is', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state, 'mem:c').connect()
  const other = await new MemClient(srv.state, 'mem:other').connect()
  srv.files.mkdir('top/sub')
  srv.files.write('top/sub/f.txt', 'x')
  srv.files.write('topfile.txt', 'y')
  const d = await c.open('top', { options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ | Access.DELETE })
  const f = await other.open('top\\sub\\f.txt', { disposition: Disposition.OPEN })
  const sibling = await c.open('topfile.txt', { disposition: Disposition.OPEN })
  t.equal((await c.setInfo(d, FILE_INFO, FileRenameInformation, renameInfo('moved'))).status, Status.ACCESS_DENIED, 'a file two levels down, another client\'s')
  t.ok(srv.files.exists('top/sub/f.txt'), 'nothing moved')
  await other.close(f)
  const sd = await other.open('top\\sub', { options: Opt.DIRECTORY_FILE, disposition: Disposition.OPEN })
  t.equal((await c.setInfo(d, FILE_INFO, FileRenameInformation, renameInfo('moved'))).status, Status.ACCESS_DENIED, 'a directory beneath')
  await other.close(sd)
  t.equal((await c.setInfo(d, FILE_INFO, FileRenameInformation, renameInfo('moved'))).status, 0, 'an open of a name that only starts alike does not count')
  t.ok(srv.files.exists('moved/sub/f.txt'))
  await c.close(sibling)
  await c.close(d)
})

t.test('create contexts: a tag under four bytes is refused, an unknown longer one ignored; TWrp finds no snapshot', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  srv.files.write('c.txt', 'now')
  for (const tag of ['x', 'xy', 'xyz']) {
    t.equal((await c.create('c.txt', { disposition: Disposition.OPEN, contexts: [{ name: tag, data: Buffer.alloc(0) }] })).status, Status.INVALID_PARAMETER, `a ${tag.length}-byte tag`)
  }
  for (const tag of ['FooO', 'xxxxx', 'x'.repeat(34)]) {
    const r = await c.create('c.txt', { disposition: Disposition.OPEN, contexts: [{ name: tag, data: Buffer.alloc(0) }] })
    t.equal(r.status, 0, `an unknown ${tag.length}-byte tag`)
    await c.close(fileIdOf(r))
  }
  // MS-SMB2 3.3.5.9.4: the file as it was at that time, which no snapshot here holds.
  const when = Buffer.alloc(8)
  when.writeBigUInt64LE(10000n)
  t.equal((await c.create('c.txt', { disposition: Disposition.OPEN, contexts: [{ name: 'TWrp', data: when }] })).status, Status.OBJECT_NAME_NOT_FOUND, 'TWrp: no snapshot')
  t.equal((await c.create('new.txt', { disposition: Disposition.OPEN_IF, contexts: [{ name: 'TWrp', data: when }] })).status, Status.OBJECT_NAME_NOT_FOUND, 'nor is anything created')
  t.notOk(srv.files.exists('new.txt'))
})

t.test('CREATE\'s bit masks: undefined access, reserved and unsupported options, invalid attributes', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  srv.files.write('m.txt', 'x')
  const MAXIMUM_ALLOWED = 0x02000000
  const NOT_SUPPORTED = 0xc00000bb
  const PRIVILEGE_NOT_HELD = 0xc0000061
  const status = async (name: string, o: Parameters<MemClient['create']>[1]): Promise<number> => {
    const r = await c.create(name, o)
    if (r.status === 0) await c.close(fileIdOf(r))
    return r.status
  }
  // Each DesiredAccess bit alone: those with no meaning are ACCESS_DENIED; SYNCHRONIZE opens.
  let denied = 0
  for (let i = 0; i < 32; i++) {
    const bit = (1 << i) >>> 0
    const s = await status('m.txt', { access: bit, disposition: Disposition.OPEN_IF })
    if (s !== 0) denied = (denied | bit) >>> 0
    if (bit === 0x01000000) t.equal(s, PRIVILEGE_NOT_HELD, 'ACCESS_SYSTEM_SECURITY: no session holds SeSecurityPrivilege')
  }
  t.equal(denied.toString(16), 'de0fe00', 'the DesiredAccess bits refused alone (ACCESS_SYSTEM_SECURITY: no privilege)')
  t.equal(await status('m.txt', { access: 0x08000000, attributes: 0x8, disposition: Disposition.CREATE }), Status.ACCESS_DENIED,
    'an undefined access bit is refused first: before the attributes, before the name')
  // Each CreateOptions bit alone (but DELETE_ON_CLOSE) on the existing file.
  const by = new Map<number, number>()
  for (let i = 0; i < 32; i++) {
    const bit = (1 << i) >>> 0
    if (bit === Opt.DELETE_ON_CLOSE) continue
    const s = await status('m.txt', { access: MAXIMUM_ALLOWED, disposition: Disposition.OPEN_IF, options: bit })
    by.set(s, ((by.get(s) ?? 0) | bit) >>> 0)
  }
  t.equal(by.get(0)?.toString(16), 'efcf7e', 'options that open')
  t.equal(by.get(Status.INVALID_PARAMETER)?.toString(16), 'ff000000', 'the reserved high byte')
  t.equal(by.get(NOT_SUPPORTED)?.toString(16), '102080', 'tree connection, open by file ID, oplock filter')
  // Each FileAttributes bit alone (but ENCRYPTED) on a new file.
  let invalid = 0
  for (let i = 0; i < 32; i++) {
    const bit = (1 << i) >>> 0
    if (bit === 0x4000) continue
    const s = await status(`a${i}.txt`, { access: MAXIMUM_ALLOWED, disposition: Disposition.OPEN_IF, attributes: bit })
    if (s === Status.INVALID_PARAMETER) invalid = (invalid | bit) >>> 0
    else t.equal(s, 0, `attribute 0x${bit.toString(16)}`)
  }
  t.equal(invalid.toString(16), 'ffff8048', 'VOLUME, DEVICE, INTEGRITY_STREAM and the bits above 0xffff')
  t.notOk(srv.files.exists('a3.txt'), 'nothing made for a refused one')
  t.equal(await status('enc.txt', { access: MAXIMUM_ALLOWED, disposition: Disposition.OPEN_IF, attributes: 0x4000 }), Status.ACCESS_DENIED, 'no file is made ENCRYPTED')
  t.notOk(srv.files.exists('enc.txt'))
  t.equal(await status('m.txt', { access: MAXIMUM_ALLOWED, disposition: Disposition.OPEN_IF, attributes: 0x4000 }), 0, 'an existing file opens whatever the attributes say')
})

t.test('read-only share refuses writes; valid users', async (t) => {
  const srv = memServer({ shares: { ro: ['read only = yes'], only: ['read only = no', 'valid users = alice'] }, users: { alice: 'Alice-pw1' } })
  t.teardown(srv.cleanup)
  srv.filesOf('ro').write('f.txt', 'data')
  const c = await new MemClient(srv.state).connect({ share: 'ro' })
  t.equal((await c.create('new.txt', { disposition: Disposition.CREATE })).status, Status.ACCESS_DENIED, 'create refused')
  t.equal((await c.create('f.txt', { access: Access.GENERIC_WRITE, disposition: Disposition.OPEN })).status, Status.ACCESS_DENIED, 'write access refused')
  t.equal((await c.create('f.txt', { disposition: Disposition.OVERWRITE_IF, access: Access.GENERIC_READ })).status, Status.ACCESS_DENIED, 'overwrite refused')
  t.equal((await c.readFile('f.txt')).toString(), 'data', 'reads work')
  t.notOk(srv.filesOf('ro').exists('new.txt'))

  const tester = new MemClient(srv.state)
  await tester.negotiate({ dialects: [0x0311] }); await tester.login()
  t.equal((await tester.treeConnect('only')).status, Status.ACCESS_DENIED, 'not in valid users')
  t.equal((await tester.treeConnect('nosuch')).status, Status.BAD_NETWORK_NAME)
  const alice = await new MemClient(srv.state).connect({ share: 'only', user: 'alice', password: 'Alice-pw1' })
  t.equal((await alice.create('a.txt', { disposition: Disposition.CREATE })).status, 0, 'alice may')

  // a tree disconnect ends the tree and its opens
  const fid = await alice.open('a.txt')
  t.equal((await alice.treeDisconnect()).status, 0)
  t.equal((await alice.close(fid)).status, Status.NETWORK_NAME_DELETED)
})
