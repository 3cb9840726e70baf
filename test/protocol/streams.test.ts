// Alternate data streams through the whole server in memory (src/vfs/streams.ts, CREATE's stream
// branch, QUERY_INFO FileStreamInformation, SET_INFO rename/EndOfFile/disposition, CLOSE): the
// memory backend keeps them as the posix one does, in the file's xattrs.
import t from 'tap'
import {
  Access, Disposition, fileIdOf, leaseBreakOf, leaseOf, LockFlag, MemClient, memServer, Opt, outputBuffer, readData, renameInfo, Status,
} from '../helpers/mem-client.js'

const FILE_INFO = 1
const FileStandardInformation = 5
const FileRenameInformation = 10
const FileEndOfFileInformation = 20
const FileStreamInformation = 22
const FILE_SYSTEM = 2
const FileFsAttributeInformation = 5
const FILE_NAMED_STREAMS = 0x40000
const FILE_SYSTEM_LIMITATION = 0xc0000427

/** FILE_STREAM_INFORMATION entries as [name, size]. */
function streams (buf: Buffer): Array<[string, number]> {
  const out: Array<[string, number]> = []
  for (let off = 0; off < buf.length;) {
    const next = buf.readUInt32LE(off)
    const len = buf.readUInt32LE(off + 4)
    out.push([buf.subarray(off + 24, off + 24 + len).toString('utf16le'), Number(buf.readBigUInt64LE(off + 8))])
    if (next === 0) break
    off += next
  }
  return out
}

t.test('a stream: created with its file, written, read, listed, renamed, truncated, deleted', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const cr = await c.create('f.txt:meta:$DATA', { disposition: Disposition.CREATE })
  t.equal(cr.status, Status.SUCCESS, 'a stream of a missing file creates the file')
  t.equal(cr.body.readUInt32LE(4), 2, 'FILE_CREATED')
  const s = fileIdOf(cr)
  t.ok(srv.files.exists('f.txt'))
  t.same(srv.files.read('f.txt'), Buffer.alloc(0), 'the file itself is empty')
  t.equal((await c.write(s, 0, Buffer.from('stream data'))).status, 0)
  t.same(readData(await c.read(s, 0, 100)), Buffer.from('stream data'))
  t.equal(outputBuffer(await c.queryInfo(s, FILE_INFO, FileStandardInformation)).readBigUInt64LE(8), 11n, 'EndOfFile is the stream\'s')
  t.same(srv.files.read('f.txt'), Buffer.alloc(0), 'the file\'s own data untouched')

  const f = await c.open('f.txt', { access: Access.GENERIC_READ | Access.GENERIC_WRITE })
  t.equal((await c.write(f, 0, Buffer.from('main'))).status, 0)
  const q = await c.queryInfo(f, FILE_INFO, FileStreamInformation)
  t.equal(q.status, 0)
  t.same(streams(outputBuffer(q)), [['::$DATA', 4], [':meta:$DATA', 11]], 'FileStreamInformation')
  const fs = await c.queryInfo(f, FILE_SYSTEM, FileFsAttributeInformation)
  t.not(outputBuffer(fs).readUInt32LE(0) & FILE_NAMED_STREAMS, 0, 'FILE_NAMED_STREAMS')

  const upper = await c.create('F.TXT:META', { disposition: Disposition.OPEN })
  t.equal(upper.status, 0, 'names matched ignoring case')
  // Closed: an open of the stream left open would hold its deletion (below) pending.
  t.equal((await c.close(fileIdOf(upper))).status, 0)
  t.equal((await c.create('f.txt:meta:$FOO', { disposition: Disposition.OPEN })).status, Status.OBJECT_NAME_INVALID, 'type other than $DATA')
  t.equal((await c.create('f.txt:', { disposition: Disposition.OPEN })).status, Status.OBJECT_NAME_INVALID, 'empty stream name')
  t.equal((await c.create('f.txt:other', { disposition: Disposition.OPEN })).status, Status.OBJECT_NAME_NOT_FOUND)
  t.equal((await c.create('f.txt:meta', { disposition: Disposition.CREATE })).status, Status.OBJECT_NAME_COLLISION)
  t.equal((await c.create('f.txt:x', { options: Opt.DIRECTORY_FILE })).status, 0xc0000103, 'a stream is not a directory (NOT_A_DIRECTORY)')

  t.equal((await c.setInfo(s, FILE_INFO, FileRenameInformation, renameInfo(':renamed'))).status, 0, 'renamed by :name')
  t.same(streams(outputBuffer(await c.queryInfo(f, FILE_INFO, FileStreamInformation))), [['::$DATA', 4], [':renamed:$DATA', 11]])
  const eof = Buffer.alloc(8)
  eof.writeBigUInt64LE(3n)
  t.equal((await c.setInfo(s, FILE_INFO, FileEndOfFileInformation, eof)).status, 0)
  t.same(readData(await c.read(s, 0, 100)), Buffer.from('str'), 'truncated')
  t.equal((await c.write(s, 65530, Buffer.alloc(10))).status, FILE_SYSTEM_LIMITATION, 'past what one xattr value holds')
  t.equal((await c.close(s)).status, 0)

  const d = await c.create('f.txt:renamed', { disposition: Disposition.OPEN, options: Opt.DELETE_ON_CLOSE, access: Access.DELETE | Access.FILE_READ_DATA })
  t.equal(d.status, 0)
  t.equal((await c.close(fileIdOf(d))).status, 0)
  t.same(streams(outputBuffer(await c.queryInfo(f, FILE_INFO, FileStreamInformation))), [['::$DATA', 4]], 'deleted on close')
  t.same(srv.files.read('f.txt'), Buffer.from('main'), 'the file stays')
})

t.test('share modes per stream; an open for DELETE must share with open streams', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  srv.files.write('g.txt', 'x')
  const a = fileIdOf(await c.create('g.txt:a', { share: 0, access: Access.FILE_WRITE_DATA }))
  const b = await c.create('g.txt:b', { share: 0, access: Access.FILE_WRITE_DATA })
  t.equal(b.status, 0, 'another stream does not conflict')
  t.equal((await c.create('g.txt:a', { share: 0, access: Access.FILE_WRITE_DATA })).status, Status.SHARING_VIOLATION, 'the same stream does')
  const g = await c.create('g.txt', { share: 0, access: Access.FILE_WRITE_DATA })
  t.equal(g.status, 0, 'nor does the file itself')
  await c.close(fileIdOf(g))
  t.equal((await c.create('g.txt', { access: Access.DELETE, disposition: Disposition.OPEN })).status, Status.SHARING_VIOLATION,
    'the file for DELETE while a stream does not share delete')
  await c.close(a)
  await c.close(fileIdOf(b))
  const shared = fileIdOf(await c.create('g.txt:a', { share: 7, access: Access.FILE_WRITE_DATA }))
  t.equal((await c.create('g.txt', { access: Access.DELETE, disposition: Disposition.OPEN })).status, 0, 'and may when it does')
  await c.close(shared)
})

t.test('an overwrite of the file removes its streams; a stream open makes the file unrenameable', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  srv.files.write('h.txt', 'data')
  t.equal((await c.close(fileIdOf(await c.create('h.txt:s', { disposition: Disposition.CREATE })))).status, 0)
  const o = await c.create('h.txt', { disposition: Disposition.OVERWRITE_IF })
  t.equal(o.status, 0)
  t.same(streams(outputBuffer(await c.queryInfo(fileIdOf(o), FILE_INFO, FileStreamInformation))), [['::$DATA', 0]], 'only the unnamed stream')
  await c.close(fileIdOf(o))

  const s = fileIdOf(await c.create('h.txt:t', { disposition: Disposition.CREATE }))
  const f = fileIdOf(await c.create('h.txt', { disposition: Disposition.OPEN }))
  t.equal((await c.setInfo(f, FILE_INFO, FileRenameInformation, renameInfo('moved.txt'))).status, Status.ACCESS_DENIED, 'Samba: file_has_open_streams')
  await c.close(s)
  t.equal((await c.setInfo(f, FILE_INFO, FileRenameInformation, renameInfo('moved.txt'))).status, 0, 'once it is closed')
  t.ok(srv.files.exists('moved.txt'))
})

t.test('a file deleted while its stream is open stays DELETE_PENDING until the stream closes', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  srv.files.write('k.txt', 'x')
  const s = fileIdOf(await c.create('k.txt:s', { share: 7, disposition: Disposition.CREATE }))
  await c.write(s, 0, Buffer.from('kept'))
  const d = await c.create('k.txt', { access: Access.DELETE, options: Opt.DELETE_ON_CLOSE, disposition: Disposition.OPEN })
  t.equal(d.status, 0)
  t.equal((await c.close(fileIdOf(d))).status, 0)
  t.ok(srv.files.exists('k.txt'), 'not unlinked while the stream is open')
  t.same(readData(await c.read(s, 0, 10)), Buffer.from('kept'), 'the open stream still reads')
  t.equal((await c.create('k.txt', { disposition: Disposition.OPEN_IF })).status, Status.DELETE_PENDING, 'the file by name')
  t.equal((await c.create('k.txt:s', { disposition: Disposition.OPEN_IF })).status, Status.DELETE_PENDING, 'the stream by name')
  t.equal((await c.close(s)).status, 0)
  t.notOk(srv.files.exists('k.txt'), 'gone with the last close')
  t.equal((await c.create('k.txt', { disposition: Disposition.OPEN })).status, Status.OBJECT_NAME_NOT_FOUND)
})

t.test('a renamed stream\'s open keeps its share mode under the new name', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  srv.files.write('r.txt', 'x')
  const s = fileIdOf(await c.create('r.txt:old', { share: 0, disposition: Disposition.CREATE }))
  t.equal((await c.setInfo(s, FILE_INFO, FileRenameInformation, renameInfo(':new'))).status, 0)
  t.equal((await c.create('r.txt:new', { share: 7, disposition: Disposition.OPEN })).status, Status.SHARING_VIOLATION, 'the new name is held')
  const again = await c.create('r.txt:old', { share: 7, disposition: Disposition.CREATE })
  t.equal(again.status, 0, 'the old name is free')
  await c.close(fileIdOf(again))
  t.equal((await c.setInfo(s, FILE_INFO, FileRenameInformation, renameInfo(':NEW'))).status, 0, 'a case-only rename')
  t.equal((await c.create('r.txt:new', { share: 7, disposition: Disposition.OPEN })).status, Status.SHARING_VIOLATION, 'still held')
  await c.close(s)
  t.equal((await c.create('r.txt:new', { share: 7, disposition: Disposition.OPEN })).status, 0, 'free once closed')
})

t.test('a renamed stream keeps its byte-range locks, and its other opens follow it to the new name', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const c = await new MemClient(srv.state, 'mem:c').connect()
  srv.files.write('lk.txt', 'x')
  const fb = fileIdOf(await b.create('lk.txt:s1', { share: 7, disposition: Disposition.CREATE }))
  t.equal((await b.write(fb, 0, Buffer.from('0123456789abcdefghij'))).status, 0)
  const fa = fileIdOf(await a.create('lk.txt:s1', { share: 7, disposition: Disposition.OPEN, access: Access.GENERIC_READ | Access.GENERIC_WRITE | Access.DELETE }))
  t.equal((await a.lock(fa, [{ off: 0, len: 10, flags: LockFlag.EXCLUSIVE | LockFlag.FAIL_IMMEDIATELY }])).status, 0)

  t.equal((await a.setInfo(fa, FILE_INFO, FileRenameInformation, renameInfo(':s2'))).status, 0, 'renamed to :s2')
  t.equal((await b.read(fb, 5, 2)).status, Status.FILE_LOCK_CONFLICT, 'the lock still refuses the other open\'s READ')
  t.equal((await b.lock(fb, [{ off: 5, len: 1, flags: LockFlag.SHARED | LockFlag.FAIL_IMMEDIATELY }])).status, Status.LOCK_NOT_GRANTED, 'and its lock')
  t.same(readData(await b.read(fb, 10, 10)), Buffer.from('abcdefghij'), 'the other open reads the stream under its new name')
  t.same(readData(await a.read(fa, 0, 4)), Buffer.from('0123'), 'the holder reads inside its lock')

  // The old name is free: no open of the renamed stream is left under it.
  const old = await c.create('lk.txt:s1', { share: 0, disposition: Disposition.CREATE })
  t.equal(old.status, 0, 'a new :s1 opens without sharing')
  t.equal((await c.close(fileIdOf(old))).status, 0)
  t.equal((await c.create('lk.txt:s2', { share: 0, disposition: Disposition.OPEN })).status, Status.SHARING_VIOLATION, 'both opens hold their share modes under :s2')

  t.equal((await a.close(fa)).status, 0)
  t.equal((await b.lock(fb, [{ off: 5, len: 1, flags: LockFlag.EXCLUSIVE | LockFlag.FAIL_IMMEDIATELY }])).status, 0, 'the lock went with its open\'s close')
  t.equal((await b.close(fb)).status, 0)
  const free = await c.create('lk.txt:s2', { share: 0, disposition: Disposition.OPEN })
  t.equal(free.status, 0, ':s2 free once both closed')
  t.same(readData(await c.read(fileIdOf(free), 0, 20)), Buffer.from('0123456789abcdefghij'))
})

t.test('a renamed stream\'s lease goes with it: broken under the new name, its key bound to it', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const c = await new MemClient(srv.state, 'mem:c').connect()
  srv.files.write('ls.txt', 'x')
  const R = 1
  const H = 2
  const lk = Buffer.alloc(16, 1)
  const hb = await b.create('ls.txt:s1', { share: 7, disposition: Disposition.CREATE, lease: { key: lk, state: R | H } })
  t.equal(leaseOf(hb)?.state, R | H, 'a lease on the stream')
  const fa = fileIdOf(await a.create('ls.txt:s1', { share: 7, disposition: Disposition.OPEN, access: Access.GENERIC_READ | Access.DELETE }))
  t.equal((await a.setInfo(fa, FILE_INFO, FileRenameInformation, renameInfo(':s2'))).status, 0, 'renamed to :s2')

  // An open of :s2 sharing nothing: b's handle caching breaks there, then the open fails.
  const pc = c.create('ls.txt:s2', { share: 0, disposition: Disposition.OPEN })
  t.same(leaseBreakOf(await b.nextBreak()), { epoch: 0, flags: 1, key: lk, from: R | H, to: R }, 'b\'s lease is broken under :s2')
  t.equal((await b.leaseAck(lk, R)).status, 0)
  t.equal((await pc).status, Status.SHARING_VIOLATION)
  // A lease key names one file (MS-SMB2 3.3.5.9.8): b's now names :s2.
  const again = await b.create('ls.txt:s2', { share: 7, disposition: Disposition.OPEN, lease: { key: lk, state: R | H } })
  t.equal(again.status, 0, 'the key opens :s2 again')
  t.equal((await b.create('ls.txt:s1', { share: 7, disposition: Disposition.OPEN_IF, lease: { key: lk, state: R } })).status, Status.INVALID_PARAMETER, 'and no longer :s1')
  for (const [cl, f] of [[b, fileIdOf(hb)], [b, fileIdOf(again)], [a, fa]] as const) t.equal((await cl.close(f)).status, 0)
})

t.test('a stream renamed onto an empty file\'s ::$DATA becomes the file\'s data; the open is then the file\'s', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  srv.files.write('full.txt', 'x')
  const f = fileIdOf(await c.create('full.txt:s', { share: 7, disposition: Disposition.CREATE }))
  t.equal((await c.setInfo(f, FILE_INFO, FileRenameInformation, renameInfo('::$DATA', true))).status, Status.INVALID_PARAMETER, 'not onto a file with data')
  await c.close(f)
  const e = fileIdOf(await c.create('empty.txt:s', { share: 0, disposition: Disposition.CREATE }))
  await c.write(e, 0, Buffer.from('moved'))
  t.equal((await c.setInfo(e, FILE_INFO, FileRenameInformation, renameInfo('::$DATA', false))).status, Status.OBJECT_NAME_COLLISION, 'only when replacing')
  t.equal((await c.setInfo(e, FILE_INFO, FileRenameInformation, renameInfo('::$DATA', true))).status, 0)
  t.same(srv.files.read('empty.txt'), Buffer.from('moved'), 'the file holds the stream\'s data')
  t.same(streams(outputBuffer(await c.queryInfo(e, FILE_INFO, FileStreamInformation))), [['::$DATA', 5]], 'the stream is gone')
  t.equal((await c.create('empty.txt', { share: 7, disposition: Disposition.OPEN })).status, Status.SHARING_VIOLATION, 'the open (sharing nothing) is the file\'s now')
  t.equal((await c.create('empty.txt:s', { share: 7, disposition: Disposition.CREATE })).status, 0, 'and no longer holds the stream\'s name')
  await c.close(e)
})

t.test('a stream renamed onto ::$DATA takes its opens, their locks and leases to the file; refused while the file is open', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const c = await new MemClient(srv.state, 'mem:c').connect()
  srv.files.write('d.txt', '')
  const R = 1
  const H = 2
  const lk = Buffer.alloc(16, 2)
  const hb = await b.create('d.txt:s', { share: 7, disposition: Disposition.CREATE, lease: { key: lk, state: R | H } })
  t.equal(leaseOf(hb)?.state, R | H, 'a lease on the stream')
  const fb = fileIdOf(hb)
  t.equal((await b.write(fb, 0, Buffer.from('0123456789abcdefghij'))).status, 0)
  const fa = fileIdOf(await a.create('d.txt:s', { share: 7, disposition: Disposition.OPEN, access: Access.GENERIC_READ | Access.GENERIC_WRITE | Access.DELETE }))
  t.equal((await a.lock(fa, [{ off: 0, len: 10, flags: LockFlag.EXCLUSIVE | LockFlag.FAIL_IMMEDIATELY }])).status, 0)
  // The lock breaks b's read caching (MS-FSA 2.1.5.8); acknowledged, so no break is under way.
  const brk = leaseBreakOf(await b.nextBreak())
  t.equal(brk?.from, R | H, 'the lock breaks b\'s lease')
  t.equal((await b.leaseAck(lk, brk!.to)).status, 0)

  // The unnamed stream open: refused, and nothing changed.
  const fc = fileIdOf(await c.create('d.txt', { share: 7, disposition: Disposition.OPEN, access: Access.FILE_READ_DATA }))
  t.equal((await a.setInfo(fa, FILE_INFO, FileRenameInformation, renameInfo('::$DATA', true))).status, Status.ACCESS_DENIED, 'not while ::$DATA is open')
  t.equal((await b.read(fb, 5, 2)).status, Status.FILE_LOCK_CONFLICT, 'the lock still holds on the stream')
  t.same(streams(outputBuffer(await c.queryInfo(fc, FILE_INFO, FileStreamInformation))), [['::$DATA', 0], [':s:$DATA', 20]], 'the stream is still there')
  t.equal((await c.close(fc)).status, 0)

  t.equal((await a.setInfo(fa, FILE_INFO, FileRenameInformation, renameInfo('::$DATA', true))).status, 0, 'renamed once ::$DATA is closed')
  t.same(srv.files.read('d.txt'), Buffer.from('0123456789abcdefghij'), 'the file holds the stream\'s data')
  t.equal((await b.read(fb, 5, 2)).status, Status.FILE_LOCK_CONFLICT, 'the lock moved with its open: it refuses the other open\'s READ')
  t.equal((await b.lock(fb, [{ off: 5, len: 1, flags: LockFlag.SHARED | LockFlag.FAIL_IMMEDIATELY }])).status, Status.LOCK_NOT_GRANTED, 'and its lock')
  t.same(readData(await b.read(fb, 10, 10)), Buffer.from('abcdefghij'), 'the other open reads the file now')
  t.equal((await b.write(fb, 20, Buffer.from('!'))).status, 0, 'and writes it')
  t.same(srv.files.read('d.txt'), Buffer.from('0123456789abcdefghij!'))
  t.same(readData(await a.read(fa, 0, 4)), Buffer.from('0123'), 'the holder reads inside its lock')
  t.same(streams(outputBuffer(await a.queryInfo(fa, FILE_INFO, FileStreamInformation))), [['::$DATA', 21]], 'the stream is gone')

  t.equal((await c.create('d.txt', { share: 0, disposition: Disposition.OPEN })).status, Status.SHARING_VIOLATION, 'both opens hold their share modes on the file')
  // A lease key names one file (MS-SMB2 3.3.5.9.8): b's, the stream's, names the file now.
  const again = await b.create('d.txt', { share: 7, disposition: Disposition.OPEN, access: Access.FILE_READ_DATA, lease: { key: lk, state: R } })
  t.equal(again.status, 0, 'b\'s lease key opens the file')
  t.equal((await b.close(fileIdOf(again))).status, 0)
  const ns = await c.create('d.txt:s', { share: 0, disposition: Disposition.CREATE })
  t.equal(ns.status, 0, 'and none holds the stream\'s name')
  t.equal((await c.close(fileIdOf(ns))).status, 0)

  t.equal((await a.close(fa)).status, 0)
  t.equal((await b.lock(fb, [{ off: 5, len: 1, flags: LockFlag.EXCLUSIVE | LockFlag.FAIL_IMMEDIATELY }])).status, 0, 'the lock went with its open\'s close')
  t.equal((await b.close(fb)).status, 0)
  const last = await c.create('d.txt', { share: 0, disposition: Disposition.OPEN })
  t.equal(last.status, 0, 'nothing of the moved opens is left on the file once they closed')
  t.equal((await c.close(fileIdOf(last))).status, 0)
})

t.test('a share with streams = no refuses stream names', async t => {
  const srv = memServer({ shareLines: ['streams = no'] })
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  for (const n of ['x::$DATA', 'x:s', 'x:s:$DATA']) t.equal((await c.create(n)).status, Status.OBJECT_NAME_INVALID, n)
})
