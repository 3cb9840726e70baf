// Names are case-insensitive and case-preserving, as Windows clients expect (smb.conf
// `case sensitive = auto|no`, the default), and exact with `case sensitive = yes`. Every request
// is sent alone (the in-memory client pairs responses by order).
//
// Backends: every test runs twice, on the memory backend and on posix, where a name not spelled
// as stored is found by listing the directories on disk (ShareFs.resolveCase, vfs/name-index.ts).
import t, { type Test } from 'tap'
import {
  Access, Disposition, fileIdOf, MemClient, memServer, namesOf, Opt, outputBuffer, renameInfo, Status,
  type FileId,
} from '../helpers/mem-client.js'

const CreateAction = { OPENED: 1, CREATED: 2, OVERWRITTEN: 3 } as const
const FileNameInformation = 9
const FileRenameInformation = 10
const FileDispositionInformation = 13

type Where = 'memory' | 'posix'

/** Each test runs on the memory backend and on posix (whose lookup lists directories on disk, vfs/name-index.ts). */
function onEach (name: string, fn: (t: Test, backend: Where) => Promise<void>): void {
  for (const backend of ['memory', 'posix'] as const) t.test(`${name} [${backend}]`, async (t) => { await fn(t, backend) })
}

function setup (t: { teardown (fn: () => void): void }, backend: Where, shareLines: string[] = []): ReturnType<typeof memServer> {
  const srv = memServer({ shareLines, backend })
  t.teardown(srv.cleanup)
  return srv
}

async function nameOf (c: MemClient, fid: FileId): Promise<string> {
  const r = await c.queryInfo(fid, 1, FileNameInformation)
  const b = outputBuffer(r)
  return b.toString('utf16le', 4, 4 + b.readUInt32LE(0))
}

onEach('open, overwrite and collision by another spelling', async (t, backend) => {
  const srv = setup(t, backend)
  srv.files.write('t015-15.txt', 'fifteen')
  const c = await new MemClient(srv.state).connect()

  t.equal((await c.readFile('T015-15.TXT')).toString(), 'fifteen', 'OPEN by another spelling reads the file')

  let r = await c.create('T015-15.txt', { disposition: Disposition.OPEN_IF })
  t.equal(r.status, 0)
  t.equal(r.body.readUInt32LE(4), CreateAction.OPENED, 'OPEN_IF opens the existing file, creates nothing')
  const fid = fileIdOf(r)
  t.equal(await nameOf(c, fid), '\\t015-15.txt', 'the open names the file as stored')
  await c.close(fid)

  r = await c.create('T015-15.TXT', { disposition: Disposition.CREATE })
  t.equal(r.status, Status.OBJECT_NAME_COLLISION, 'CREATE of another spelling of an existing name collides')

  r = await c.create('T015-15.Txt', { disposition: Disposition.OVERWRITE_IF })
  t.equal(r.status, 0)
  t.equal(r.body.readUInt32LE(4), CreateAction.OVERWRITTEN, 'OVERWRITE_IF overwrites the existing file')
  await c.close(fileIdOf(r))
  t.same(srv.files.list(), ['t015-15.txt'], 'still one file, its stored spelling kept')
  t.equal(srv.files.read('t015-15.txt').toString(), '', 'and it was overwritten')

  r = await c.create('missing.txt', { disposition: Disposition.OPEN })
  t.equal(r.status, Status.OBJECT_NAME_NOT_FOUND, 'a name no spelling matches is not found')
})

onEach('a new name keeps the client\'s spelling (preserve case)', async (t, backend) => {
  const srv = setup(t, backend)
  const c = await new MemClient(srv.state).connect()
  let r = await c.create('MixedCase.Txt', { disposition: Disposition.CREATE })
  t.equal(r.status, 0)
  t.equal(r.body.readUInt32LE(4), CreateAction.CREATED)
  await c.close(fileIdOf(r))
  r = await c.create('NewDir', { disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })
  t.equal(r.status, 0)
  await c.close(fileIdOf(r))
  t.same(srv.files.list(), ['MixedCase.Txt', 'NewDir'])
  r = await c.create('newdir', { disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })
  t.equal(r.status, Status.OBJECT_NAME_COLLISION, 'a directory too')
})

onEach('every component of a path is matched', async (t, backend) => {
  const srv = setup(t, backend)
  srv.files.mkdir('Dir/Sub')
  srv.files.write('Dir/Sub/f.txt', 'deep')
  srv.files.write('plain.txt', 'file')
  const c = await new MemClient(srv.state).connect()

  t.equal((await c.readFile('DIR\\SUB\\F.TXT')).toString(), 'deep')
  t.equal((await c.readFile('dir\\Sub\\f.txt')).toString(), 'deep', 'a mix of exact and other spellings')

  let r = await c.create('dir\\sub\\New.txt', { disposition: Disposition.CREATE })
  t.equal(r.status, 0)
  await c.close(fileIdOf(r))
  t.same(srv.files.list('Dir/Sub'), ['New.txt', 'f.txt'], 'created in the stored directories, with its own spelling')
  t.same(srv.files.list(), ['Dir', 'plain.txt'], 'no directory made beside them')

  r = await c.create('NoDir\\x.txt', { disposition: Disposition.CREATE })
  t.equal(r.status, Status.OBJECT_PATH_NOT_FOUND, 'a directory no spelling matches')
  r = await c.create('PLAIN.TXT\\x.txt', { disposition: Disposition.OPEN })
  t.equal(r.status, Status.OBJECT_PATH_NOT_FOUND, 'a file in the middle of the path')

  const d = await c.open('DIR', { access: Access.GENERIC_READ, disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  t.equal(await nameOf(c, d), '\\Dir')
  await c.close(d)
})

onEach('rename: case-only, onto another spelling, into other directories', async (t, backend) => {
  const srv = setup(t, backend)
  srv.files.write('a.txt', 'a')
  srv.files.write('b.txt', 'b')
  srv.files.mkdir('Target')
  const c = await new MemClient(srv.state).connect()

  let fid = await c.open('a.txt', { disposition: Disposition.OPEN })
  let r = await c.setInfo(fid, 1, FileRenameInformation, renameInfo('A.txt'))
  t.equal(r.status, 0, 'a.txt → A.txt: the same file under another spelling')
  t.equal(await nameOf(c, fid), '\\A.txt')
  await c.close(fid)
  t.same(srv.files.list(), ['A.txt', 'Target', 'b.txt'])

  fid = await c.open('A.TXT', { disposition: Disposition.OPEN })
  r = await c.setInfo(fid, 1, FileRenameInformation, renameInfo('B.TXT'))
  t.equal(r.status, Status.OBJECT_NAME_COLLISION, 'onto another file under another spelling, without ReplaceIfExists')
  t.same(srv.files.list(), ['A.txt', 'Target', 'b.txt'], 'nothing moved, no second name')

  r = await c.setInfo(fid, 1, FileRenameInformation, renameInfo('B.TXT', true))
  t.equal(r.status, 0, 'with ReplaceIfExists the other file is replaced')
  t.equal(await nameOf(c, fid), '\\B.TXT', 'and the new link takes the client\'s spelling (MS-FSA 2.1.5.15.11)')
  t.same(srv.files.list(), ['B.TXT', 'Target'])
  t.equal(srv.files.read('B.TXT').toString(), 'a')

  r = await c.setInfo(fid, 1, FileRenameInformation, renameInfo('TARGET\\Moved.Txt'))
  t.equal(r.status, 0, 'into a directory spelled otherwise')
  t.equal(await nameOf(c, fid), '\\Target\\Moved.Txt')
  await c.close(fid)
  t.same(srv.files.list(), ['Target'])
  t.same(srv.files.list('Target'), ['Moved.Txt'])

  fid = await c.open('target\\moved.txt', { disposition: Disposition.OPEN })
  r = await c.setInfo(fid, 1, FileRenameInformation, renameInfo('NoSuchDir\\x.txt'))
  t.equal(r.status, Status.OBJECT_PATH_NOT_FOUND, 'into a directory no spelling matches: refused')
  await c.close(fid)
  t.same(srv.files.list('Target'), ['Moved.Txt'])
})

onEach('delete by another spelling: delete-on-close and the disposition', async (t, backend) => {
  const srv = setup(t, backend)
  srv.files.write('gone1.txt', '1')
  srv.files.write('gone2.txt', '2')
  srv.files.mkdir('sub')
  const c = await new MemClient(srv.state).connect()

  let r = await c.create('GONE1.TXT', { disposition: Disposition.OPEN, options: Opt.DELETE_ON_CLOSE })
  t.equal(r.status, 0)
  await c.close(fileIdOf(r))
  t.notOk(srv.files.exists('gone1.txt'), 'delete-on-close removed the stored name')

  const fid = await c.open('Gone2.Txt', { disposition: Disposition.OPEN })
  r = await c.setInfo(fid, 1, FileDispositionInformation, Buffer.from([1]))
  t.equal(r.status, 0)
  await c.close(fid)
  t.notOk(srv.files.exists('gone2.txt'), 'the delete disposition removed it')

  r = await c.create('SUB', { disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE | Opt.DELETE_ON_CLOSE, access: Access.GENERIC_READ | Access.DELETE })
  t.equal(r.status, 0)
  await c.close(fileIdOf(r))
  t.same(srv.files.list(), [], 'a directory too')
})

onEach('QUERY_DIRECTORY with a name matches it ignoring case', async (t, backend) => {
  const srv = setup(t, backend)
  srv.files.write('t015-15.txt', '')
  srv.files.write('other.txt', '')
  const c = await new MemClient(srv.state).connect()
  const root = await c.open('', { access: Access.GENERIC_READ, options: Opt.DIRECTORY_FILE })
  const r = await c.queryDirectory(root, 'T015-15.TXT')
  t.equal(r.status, 0)
  t.same(namesOf(outputBuffer(r)), ['t015-15.txt'], 'found, reported as stored')
  await c.close(root)
})

onEach('names differing only in case on disk: the exact one, else a stable choice', async (t, backend) => {
  const srv = setup(t, backend)
  srv.files.write('b.txt', 'lower')
  srv.files.write('B.TXT', 'upper')
  const c = await new MemClient(srv.state).connect()
  t.equal((await c.readFile('b.txt')).toString(), 'lower', 'the exact spelling wins')
  t.equal((await c.readFile('B.TXT')).toString(), 'upper', 'the exact spelling wins')
  // Neither is spelled 'B.txt': the smaller in code-unit order ('B' < 'b') is chosen, every time.
  for (let i = 0; i < 3; i++) t.equal((await c.readFile('B.txt')).toString(), 'upper')
})

onEach('case sensitive = yes: names are exact', async (t, backend) => {
  const srv = setup(t, backend, ['case sensitive = yes'])
  srv.files.write('t015-15.txt', 'x')
  const c = await new MemClient(srv.state).connect()
  let r = await c.create('T015-15.TXT', { disposition: Disposition.OPEN })
  t.equal(r.status, Status.OBJECT_NAME_NOT_FOUND)
  r = await c.create('T015-15.TXT', { disposition: Disposition.CREATE })
  t.equal(r.status, 0, 'another spelling is another file')
  await c.close(fileIdOf(r))
  t.same(srv.files.list(), ['T015-15.TXT', 't015-15.txt'])
  const root = await c.open('', { access: Access.GENERIC_READ, options: Opt.DIRECTORY_FILE })
  r = await c.queryDirectory(root, 'T015-15.Txt')
  t.equal(r.status, Status.NO_SUCH_FILE, 'QUERY_DIRECTORY by name is exact too')
  await c.close(root)
})

onEach('preserve case = no: new names in default case', async (t, backend) => {
  for (const [lines, want] of [[['preserve case = no'], 'mixed.txt'], [['preserve case = no', 'default case = upper'], 'MIXED.TXT']] as const) {
    const srv = setup(t, backend, [...lines])
    srv.files.write('Keep.Me', '')
    const c = await new MemClient(srv.state).connect()
    const r = await c.create('MiXeD.Txt', { disposition: Disposition.CREATE })
    t.equal(r.status, 0)
    await c.close(fileIdOf(r))
    const fid = await c.open('KEEP.ME', { disposition: Disposition.OPEN })
    await c.close(fid)
    t.same(srv.files.list(), ['Keep.Me', want].sort(), `${lines.join(', ')}: new name ${want}, existing names untouched`)
  }
})

onEach('CREATEs of one new name, racing from two connections, meet one file', async (t, backend) => {
  const srv = setup(t, backend)
  const a = await new MemClient(srv.state).connect()
  const b = await new MemClient(srv.state).connect()
  // Two connections (one request in flight on each): the server runs both CREATEs at once.
  for (let round = 0; round < 5; round++) {
    const name = `race-${round}`
    const [ra, rb] = await Promise.all([
      a.create(`${name}.txt`, { disposition: Disposition.OPEN_IF }),
      b.create(`${name.toUpperCase()}.TXT`, { disposition: Disposition.OPEN_IF }),
    ])
    t.same([ra.status, rb.status], [0, 0], `${name}: both open`)
    t.same([ra.body.readUInt32LE(4), rb.body.readUInt32LE(4)].sort(), [CreateAction.OPENED, CreateAction.CREATED], 'one created it, the other opened it')
    await a.close(fileIdOf(ra))
    await b.close(fileIdOf(rb))
    const dir = `Dir-${round}`
    const [da, db] = await Promise.all([
      a.create(dir, { disposition: Disposition.OPEN_IF, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ }),
      b.create(dir, { disposition: Disposition.OPEN_IF, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ }),
    ])
    t.same([da.status, db.status], [0, 0], `${dir}: OPEN_IF of one new directory twice: no collision`)
    await a.close(fileIdOf(da))
    await b.close(fileIdOf(db))
  }
  t.equal(srv.files.list().length, 10, 'one file and one directory per round')
  t.equal(srv.state.locks.trackedRecords, 0, 'no name left locked, no file state left')
})
