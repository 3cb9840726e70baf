// SET_INFO FileLinkInformation (src/smb2/commands/link-info.ts): hard links made by link(2)
// beneath the share, with MS-FSA 2.1.5.15.6's answers for an existing name, a directory, an open
// target, a missing directory, a read-only share, and a backend without hard links.
//
// Backend: posix (hard links exist only on a real file system); memory for NOT_SUPPORTED.
import t from 'tap'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Access, Disposition, MemClient, memServer, Opt, renameInfo, Status, type FileId } from '../helpers/mem-client.js'

const FILE_LINK_INFORMATION = 11
const FILE_IS_A_DIRECTORY = 0xc00000ba
const NOT_SUPPORTED = 0xc00000bb

async function link (c: MemClient, fid: FileId, target: string, replace = false): Promise<number> {
  return (await c.setInfo(fid, 1, FILE_LINK_INFORMATION, renameInfo(target, replace))).status
}

t.test('a hard link: a second name for the same file', async (t) => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  writeFileSync(join(srv.share, 'a.txt'), 'one')
  t.equal(statSync(join(srv.share, 'a.txt')).nlink, 1)
  const a = await c.open('a.txt', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  t.equal(await link(c, a, 'b.txt'), 0, 'linked')
  t.equal(statSync(join(srv.share, 'a.txt')).nlink, 2, 'two links')
  t.equal(statSync(join(srv.share, 'b.txt')).ino, statSync(join(srv.share, 'a.txt')).ino, 'one inode')
  // FileStandardInformation (5) says so too: NumberOfLinks at 16.
  const q = await c.queryInfo(a, 1, 5)
  t.equal(q.body.readUInt32LE(8 + 16), 2, 'NumberOfLinks 2')
  t.equal(await link(c, a, 'b.txt'), 0, 'the same link again: nothing to do')
  writeFileSync(join(srv.share, 'c.txt'), 'other')
  t.equal(await link(c, a, 'c.txt'), Status.OBJECT_NAME_COLLISION, 'an existing name: OBJECT_NAME_COLLISION')
  t.equal(await link(c, a, 'C.TXT', true), 0, 'replaced (found ignoring case)')
  t.equal(readFileSync(join(srv.share, 'c.txt'), 'utf8'), 'one', 'c.txt is now a.txt')
  t.equal(statSync(join(srv.share, 'a.txt')).nlink, 3)
  t.notOk(srv.filesOf('share').list().includes('C.TXT'), 'no second spelling made')
  t.equal(await link(c, a, 'missing\\x.txt'), Status.OBJECT_PATH_NOT_FOUND, 'a missing directory: OBJECT_PATH_NOT_FOUND')
  srv.filesOf('share').mkdir('d')
  t.equal(await link(c, a, 'd\\a.txt'), 0, 'into a subdirectory')
  t.equal(await link(c, a, 'd', true), Status.ACCESS_DENIED, 'over a directory: ACCESS_DENIED')
  const held = await c.open('b.txt', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  writeFileSync(join(srv.share, 'e.txt'), 'e')
  const e = await c.open('e.txt', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  t.equal(await link(c, e, 'b.txt', true), Status.ACCESS_DENIED, 'over a file that is open: ACCESS_DENIED')
  t.equal(readFileSync(join(srv.share, 'b.txt'), 'utf8'), 'one', 'b.txt kept')
  await c.close(held)
  const dir = await c.open('d', { access: Access.GENERIC_READ, options: Opt.DIRECTORY_FILE, disposition: Disposition.OPEN })
  t.equal(await link(c, dir, 'd2'), FILE_IS_A_DIRECTORY, 'a directory: FILE_IS_A_DIRECTORY')
  t.equal(await link(c, a, 'x.txt:s'), 0xc0000033, 'a stream name: OBJECT_NAME_INVALID')
  t.same(srv.filesOf('share').list().filter(n => n.startsWith('.smbts-new')), [], 'no temporary name left')
})

t.test('read-only share, and a backend without hard links', async (t) => {
  const ro = memServer({ backend: 'posix', shareLines: ['read only = yes'] })
  t.teardown(ro.cleanup)
  writeFileSync(join(ro.share, 'a.txt'), 'one')
  const c = await new MemClient(ro.state).connect()
  const a = await c.open('a.txt', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  t.equal(await link(c, a, 'b.txt'), Status.ACCESS_DENIED, 'read-only share: ACCESS_DENIED')
  const mem = memServer()
  t.teardown(mem.cleanup)
  mem.filesOf('share').write('a.txt', 'one')
  const m = await new MemClient(mem.state).connect()
  const f = await m.open('a.txt', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  t.equal(await link(m, f, 'b.txt'), NOT_SUPPORTED, 'memory backend: NOT_SUPPORTED')
})
