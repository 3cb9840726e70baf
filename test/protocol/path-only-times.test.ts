// SET_INFO FileBasicInformation times on an open that has no data descriptor (an O_PATH handle:
// a symlink opened with FILE_OPEN_REPARSE_POINT, a FIFO opened as itself): the times of the name
// itself are set, a symlink is never followed (its target, inside the share or out, keeps its
// times), and QUERY_INFO reads them back.
import t from 'tap'
import { lstatSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { MemClient, memServer, type FileId } from '../helpers/mem-client.js'

const FILE_OPEN_REPARSE_POINT = 0x00200000
const READ_ATTRIBUTES = 0x80
const WRITE_ATTRIBUTES = 0x100
const OPEN = 1
const INFO_FILE = 1
const FileBasicInformation = 4
const WRITE_TIME = 126256467060000000n // 2001-02-03 04:05:06 UTC
const ACCESS_TIME = 126256467070000000n // a second later
const unixMs = (ft: bigint): number => Number((ft - 116444736000000000n) / 10000n)

function basic (lastAccess: bigint, lastWrite: bigint): Buffer {
  const b = Buffer.alloc(40)
  b.writeBigUInt64LE(lastAccess, 8)
  b.writeBigUInt64LE(lastWrite, 16)
  return b
}

t.test('times set through an O_PATH handle: the symlink or FIFO itself, nothing followed', async t => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  writeFileSync(join(srv.share, 'target.txt'), 'inside')
  writeFileSync(join(srv.root, 'outside.txt'), 'outside the share')
  symlinkSync('target.txt', join(srv.share, 'in-link'))
  symlinkSync(join(srv.root, 'outside.txt'), join(srv.share, 'out-link'))
  const fifo = spawnSync('mkfifo', [join(srv.share, 'fifo')]).status === 0
  const before = { inside: statSync(join(srv.share, 'target.txt')).mtimeMs, outside: statSync(join(srv.root, 'outside.txt')).mtimeMs }
  const c = await new MemClient(srv.state).connect()
  for (const name of ['in-link', 'out-link', ...(fifo ? ['fifo'] : [])]) {
    const r = await c.create(name, { access: READ_ATTRIBUTES | WRITE_ATTRIBUTES, disposition: OPEN, options: FILE_OPEN_REPARSE_POINT })
    t.equal(r.status, 0, `${name}: opened as itself`)
    const fid: FileId = { persistent: r.body.readBigUInt64LE(64), volatile: r.body.readBigUInt64LE(72) }
    t.equal((await c.setInfo(fid, INFO_FILE, FileBasicInformation, basic(ACCESS_TIME, WRITE_TIME))).status, 0, `${name}: SET_INFO FileBasicInformation`)
    const q = await c.queryInfo(fid, INFO_FILE, FileBasicInformation)
    t.equal(q.status, 0)
    t.equal(q.body.readBigUInt64LE(8 + 16), WRITE_TIME, `${name}: LastWriteTime read back`)
    t.equal(q.body.readBigUInt64LE(8 + 8), ACCESS_TIME, `${name}: LastAccessTime read back`)
    await c.close(fid)
    const st = lstatSync(join(srv.share, name))
    t.equal(st.mtimeMs, unixMs(WRITE_TIME), `${name}: the name's own mtime`)
    t.equal(st.atimeMs, unixMs(ACCESS_TIME), `${name}: and atime`)
  }
  t.equal(statSync(join(srv.share, 'target.txt')).mtimeMs, before.inside, 'the link\'s target inside the share keeps its times')
  t.equal(statSync(join(srv.root, 'outside.txt')).mtimeMs, before.outside, 'the target outside the share is not touched')
})
