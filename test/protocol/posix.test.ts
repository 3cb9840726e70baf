// SMB 3.1.1 POSIX extensions (src/smb2/posix.ts), the whole server in memory: the negotiate
// context, the POSIX create context (mode in; links, mode, owner and group back), the POSIX
// information level in QUERY_INFO and QUERY_DIRECTORY, POSIX names (case counts, '/' separates,
// ':' is a character), and what a connection or an open without them gets.
//
// Backend: posix (modes and owners as a real file system keeps them).
import t from 'tap'
import { existsSync, statSync, symlinkSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import {
  Access, Command, Ctx, Disposition, fileIdOf, listContext, MemClient, memServer, negotiateContexts, Opt, outputBuffer, preauthContext, Status,
  type MemServer, type Resp,
} from '../helpers/mem-client.js'

const H = 64
const POSIX_CTX = 0x100
const POSIX_ID = Buffer.from('93ad25509cb411e7b42383de968bcd7c', 'hex')
const INVALID_LEVEL = 0xc0000148
const INVALID_PARAMETER = 0xc000000d
const uid = process.getuid?.() ?? 0
const gid = process.getgid?.() ?? 0

function posixNegotiateContext (ids: Buffer[] = [POSIX_ID]): { type: number, data: Buffer } {
  return { type: POSIX_CTX, data: Buffer.concat(ids) }
}

async function client (srv: MemServer, posix = true): Promise<{ c: MemClient, n: Resp }> {
  const c = new MemClient(srv.state)
  const contexts = [preauthContext(), listContext(Ctx.ENCRYPTION, [2, 1]), listContext(Ctx.SIGNING, [2, 1]), ...(posix ? [posixNegotiateContext()] : [])]
  const n = await c.negotiate({ dialects: [0x0311], contexts })
  const l = await c.login()
  if (l.last.status !== 0) throw new Error('login')
  if ((await c.treeConnect('share')).status !== 0) throw new Error('tree connect')
  return { c, n }
}

/** A CREATE request with the given contexts (name → data), each 8-aligned. */
function createWith (name: string, o: { access?: number, disposition?: number, options?: number, contexts?: Array<[string, Buffer]> }): Buffer {
  const n = Buffer.from(name, 'utf16le')
  const ctxs = o.contexts ?? []
  let ctxLen = 0
  const placed = ctxs.map(([cn, d], i) => {
    const at = ctxLen
    const dataOff = (16 + cn.length + 7) & ~7
    const total = dataOff + d.length
    ctxLen += i === ctxs.length - 1 ? total : (total + 7) & ~7
    return { at, dataOff, cn, d }
  })
  const ctxOff = (56 + n.length + 7) & ~7
  const b = Buffer.alloc(ctxs.length > 0 ? ctxOff + ctxLen : 56 + Math.max(n.length, 1))
  b.writeUInt16LE(57, 0)
  b.writeUInt32LE(2, 4)
  b.writeUInt32LE((o.access ?? 0xc0010000) >>> 0, 24)
  b.writeUInt32LE(0x80, 28)
  b.writeUInt32LE(7, 32)
  b.writeUInt32LE(o.disposition ?? Disposition.OPEN_IF, 36)
  b.writeUInt32LE(o.options ?? 0, 40)
  b.writeUInt16LE(H + 56, 44); b.writeUInt16LE(n.length, 46)
  n.copy(b, 56)
  if (ctxs.length > 0) {
    b.writeUInt32LE(H + ctxOff, 48); b.writeUInt32LE(ctxLen, 52)
    placed.forEach((p, i) => {
      const at = ctxOff + p.at
      if (i < placed.length - 1) b.writeUInt32LE(placed[i + 1].at - p.at, at)
      b.writeUInt16LE(16, at + 4); b.writeUInt16LE(p.cn.length, at + 6)
      b.writeUInt16LE(p.dataOff, at + 10); b.writeUInt32LE(p.d.length, at + 12)
      b.write(p.cn, at + 16, 'latin1')
      p.d.copy(b, at + p.dataOff)
    })
  }
  return b
}

const POSIX_NAME = POSIX_ID.toString('latin1')
const modeCtx = (mode: number): [string, Buffer] => { const d = Buffer.alloc(4); d.writeUInt32LE(mode, 0); return [POSIX_NAME, d] }

/** The create contexts of a CREATE response, name → data. */
function contextsOf (r: Resp): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  const b = r.body
  if (b.readUInt32LE(84) === 0) return m
  let at = b.readUInt32LE(80) - H
  for (;;) {
    const next = b.readUInt32LE(at)
    const nOff = at + b.readUInt16LE(at + 4)
    const dOff = at + b.readUInt16LE(at + 10)
    m.set(b.toString('latin1', nOff, nOff + b.readUInt16LE(at + 6)), Buffer.from(b.subarray(dOff, dOff + b.readUInt32LE(at + 12))))
    if (next === 0) return m
    at += next
  }
}

/** A binary SID as S-1-... */
function sidAt (b: Buffer, off: number): { sid: string, len: number } {
  const count = b[off + 1]
  const subs: number[] = []
  for (let i = 0; i < count; i++) subs.push(b.readUInt32LE(off + 8 + 4 * i))
  return { sid: `S-${b[off]}-${b.readUIntBE(off + 2, 6)}-${subs.join('-')}`, len: 8 + 4 * count }
}

/** smb3_posix_cc_info at `off`. */
function ccInfo (b: Buffer, off: number): { nlinks: number, tag: number, mode: number, owner: string, group: string, end: number } {
  const o = sidAt(b, off + 12)
  const g = sidAt(b, off + 12 + o.len)
  return { nlinks: b.readUInt32LE(off), tag: b.readUInt32LE(off + 4), mode: b.readUInt32LE(off + 8), owner: o.sid, group: g.sid, end: off + 12 + o.len + g.len }
}

async function posixOpen (c: MemClient, name: string, o: { mode?: number, access?: number, disposition?: number, options?: number } = {}): Promise<Resp> {
  return await c.request({ cmd: Command.CREATE, body: createWith(name, { ...o, contexts: [modeCtx(o.mode ?? 0o644)] }) })
}

function server (extra: string[] = []): MemServer {
  return memServer({ backend: 'posix', global: extra, shareLines: ['create mask = 0777', 'directory mask = 07777'] })
}

t.test('NEGOTIATE: the POSIX context is answered when asked for and offered', async (t) => {
  const srv = server()
  t.teardown(srv.cleanup)
  const { n } = await client(srv)
  const posix = negotiateContexts(n).find(x => x.type === POSIX_CTX)
  t.ok(posix, 'answered')
  t.same(posix?.data, POSIX_ID, 'with the one variant')
  const plain = await client(srv, false)
  t.notOk(negotiateContexts(plain.n).some(x => x.type === POSIX_CTX), 'not asked: not answered')
  // An unknown variant only: not answered, the negotiate goes on.
  const c = new MemClient(srv.state)
  const r = await c.negotiate({ dialects: [0x0311], contexts: [preauthContext(), posixNegotiateContext([Buffer.alloc(16, 1)])] })
  t.equal(r.status, 0)
  t.notOk(negotiateContexts(r).some(x => x.type === POSIX_CTX), 'unknown variant: not answered')
  // A Data length that is no list of identifiers is refused, as Samba refuses it.
  const bad = new MemClient(srv.state)
  const rb = await bad.negotiate({ dialects: [0x0311], contexts: [preauthContext(), { type: POSIX_CTX, data: Buffer.alloc(15) }] })
  t.equal(rb.status, INVALID_PARAMETER, 'DataLength 15: STATUS_INVALID_PARAMETER')
})

t.test('NEGOTIATE: smb3 unix extensions = no leaves the context unanswered, and the create context ignored', async (t) => {
  const srv = server(['smb3 unix extensions = no'])
  t.teardown(srv.cleanup)
  const { c, n } = await client(srv)
  t.notOk(negotiateContexts(n).some(x => x.type === POSIX_CTX))
  const r = await posixOpen(c, 'f', { mode: 0o600 })
  t.equal(r.status, 0)
  t.notOk(contextsOf(r).has(POSIX_NAME), 'no POSIX answer')
  const q = await c.queryInfo(fileIdOf(r), 1, 100)
  t.equal(q.status, INVALID_LEVEL, 'FilePosixInformation: STATUS_INVALID_LEVEL')
})

t.test('CREATE with the POSIX context: the mode asked, and links, mode, owner and group back', async (t) => {
  const srv = server()
  t.teardown(srv.cleanup)
  const { c } = await client(srv)
  const r = await posixOpen(c, 'f', { mode: 0o640, disposition: Disposition.CREATE })
  t.equal(r.status, 0)
  t.equal(statSync(join(srv.share, 'f')).mode & 0o7777, 0o640, 'the file got mode 0640 (no umask)')
  const cc = ccInfo(contextsOf(r).get(POSIX_NAME)!, 0)
  t.same({ nlinks: cc.nlinks, tag: cc.tag, mode: cc.mode, owner: cc.owner, group: cc.group },
    { nlinks: 1, tag: 0, mode: 0o640, owner: `S-1-22-1-${uid}`, group: `S-1-22-2-${gid}` }, 'smb3_posix_cc_info')
  const d = await posixOpen(c, 'dir', { mode: 0o2750, disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })
  t.equal(d.status, 0)
  t.equal(statSync(join(srv.share, 'dir')).mode & 0o7777, 0o2750, 'the directory got mode 02750')
  t.equal(ccInfo(contextsOf(d).get(POSIX_NAME)!, 0).mode, 0o2750, 'a directory is sent with type 0 (as the Linux client before 6.11 expects)')
  // The share's masks still apply, as Samba applies them.
  const masked = memServer({ backend: 'posix' })
  t.teardown(masked.cleanup)
  const m = await client(masked)
  t.equal((await posixOpen(m.c, 'g', { mode: 0o666, disposition: Disposition.CREATE })).status, 0)
  t.equal(statSync(join(masked.share, 'g')).mode & 0o7777, 0o644, 'create mask 0744 narrows 0666 to 0644')
  // An existing file keeps its mode; the answer says what it has.
  const again = await posixOpen(c, 'f', { mode: 0o777, disposition: Disposition.OPEN })
  t.equal(ccInfo(contextsOf(again).get(POSIX_NAME)!, 0).mode, 0o640, 'an open of an existing file does not change its mode')
  // A context of another length is refused.
  const bad = await c.request({ cmd: Command.CREATE, body: createWith('h', { contexts: [[POSIX_NAME, Buffer.alloc(8)]] }) })
  t.equal(bad.status, INVALID_PARAMETER, 'an 8-byte POSIX create context: STATUS_INVALID_PARAMETER')
})

t.test('the POSIX create context on a connection that did not negotiate the extensions is ignored', async (t) => {
  const srv = server()
  t.teardown(srv.cleanup)
  const { c } = await client(srv, false)
  const r = await posixOpen(c, 'f', { mode: 0o600, disposition: Disposition.CREATE })
  t.equal(r.status, 0)
  t.notOk(contextsOf(r).has(POSIX_NAME))
  t.equal((await c.queryInfo(fileIdOf(r), 1, 100)).status, INVALID_LEVEL)
})

t.test('QUERY_INFO FilePosixInformation and QUERY_DIRECTORY SMB2_FIND_POSIX_INFORMATION', async (t) => {
  const srv = server()
  t.teardown(srv.cleanup)
  const { c } = await client(srv)
  const f = await posixOpen(c, 'a.txt', { mode: 0o604, disposition: Disposition.CREATE })
  const fid = fileIdOf(f)
  t.equal((await c.write(fid, 0, Buffer.from('hello'))).status, 0)
  const q = await c.queryInfo(fid, 1, 100)
  t.equal(q.status, 0)
  const b = outputBuffer(q)
  t.equal(b.readBigUInt64LE(32), 5n, 'EndOfFile')
  t.equal(b.readBigUInt64LE(52), BigInt(statSync(join(srv.share, 'a.txt')).ino), 'Inode')
  const cc = ccInfo(b, 68)
  t.same([cc.nlinks, cc.mode, cc.owner, cc.group], [1, 0o604, `S-1-22-1-${uid}`, `S-1-22-2-${gid}`])
  t.equal(cc.end, b.length, 'nothing after the cc_info')
  t.equal((await c.queryInfo(fid, 1, 100, 40)).status, 0xc0000004, 'a buffer too small: STATUS_INFO_LENGTH_MISMATCH')
  // A plain open of the same file does not answer the level.
  const plain = await c.open('a.txt', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  t.equal((await c.queryInfo(plain, 1, 100)).status, INVALID_LEVEL, 'an open without the context: STATUS_INVALID_LEVEL')

  t.equal((await posixOpen(c, 'sub', { mode: 0o711, disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })).status, 0)
  const root = fileIdOf(await posixOpen(c, '', { access: Access.GENERIC_READ, options: Opt.DIRECTORY_FILE, disposition: Disposition.OPEN }))
  const l = await c.queryDirectory(root, '*', 0x64)
  t.equal(l.status, 0)
  const entries = new Map<string, { mode: number, nlinks: number, attrs: number }>()
  const out = outputBuffer(l)
  for (let off = 0; ;) {
    const next = out.readUInt32LE(off)
    const cci = ccInfo(out, off + 8 + 68)
    const nameLen = out.readUInt32LE(cci.end)
    entries.set(out.toString('utf16le', cci.end + 4, cci.end + 4 + nameLen), { mode: cci.mode, nlinks: cci.nlinks, attrs: out.readUInt32LE(off + 8 + 48) })
    t.equal(cci.end, off + 120, 'FileNameLength at 120 of the entry')
    if (next === 0) break
    t.equal(next % 8, 0, 'entries 8-aligned')
    off += next
  }
  t.same([...entries.keys()].sort(), ['.', '..', 'a.txt', 'sub'])
  t.equal(entries.get('a.txt')?.mode, 0o604)
  t.equal(entries.get('sub')?.mode, 0o711)
  t.ok((entries.get('sub')!.attrs & 0x10) !== 0, 'a directory says so in its attributes')
  const pl = await c.open('', { access: Access.GENERIC_READ, options: Opt.DIRECTORY_FILE, disposition: Disposition.OPEN })
  t.equal((await c.queryDirectory(pl, '*', 0x64)).status, INVALID_LEVEL, 'a listing of a plain open: STATUS_INVALID_LEVEL')
})

t.test('POSIX names: case counts, / separates, : and \\ are characters', async (t) => {
  const srv = server()
  t.teardown(srv.cleanup)
  const { c } = await client(srv)
  srv.filesOf('share').write('file', 'x')
  t.equal((await c.create('FILE', { disposition: Disposition.OPEN })).status, 0, 'a plain open finds FILE ignoring case')
  t.equal((await posixOpen(c, 'FILE', { disposition: Disposition.OPEN })).status, Status.OBJECT_NAME_NOT_FOUND, 'a POSIX open does not')
  t.equal((await posixOpen(c, 'FILE', { disposition: Disposition.CREATE, mode: 0o600 })).status, 0, 'and creates FILE beside file')
  t.same(srv.filesOf('share').list().filter(n => n.toLowerCase() === 'file').sort(), ['FILE', 'file'])
  t.equal((await posixOpen(c, 'd', { disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })).status, 0)
  t.equal((await posixOpen(c, 'd/a:b\\c', { disposition: Disposition.CREATE, mode: 0o600 })).status, 0, 'd/a:b\\c created')
  t.ok(srv.filesOf('share').exists('d/a:b\\c'), 'a file named a:b\\c in d')
  t.equal((await posixOpen(c, 'd/../file', { disposition: Disposition.OPEN })).status, 0xc000003b, '.. : OBJECT_PATH_SYNTAX_BAD')
})

t.test('a POSIX open may stat and remove a FIFO or a symlink; a plain open may not', { skip: spawnSync('mkfifo', ['--help']).status === 0 ? false : 'no mkfifo' }, async (t) => {
  const srv = server()
  t.teardown(srv.cleanup)
  const { c } = await client(srv)
  t.equal(spawnSync('mkfifo', ['-m', '0620', join(srv.share, 'fifo')]).status, 0)
  symlinkSync('target', join(srv.share, 'link'))
  const IO_REPARSE_TAG_NOT_HANDLED = 0xc0000279
  t.equal((await c.create('fifo', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN })).status, IO_REPARSE_TAG_NOT_HANDLED, 'a plain open of a FIFO: refused')
  t.equal((await posixOpen(c, 'fifo', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })).status, IO_REPARSE_TAG_NOT_HANDLED, 'a POSIX open for reading: refused (never waits for a writer)')
  const f = await posixOpen(c, 'fifo', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN })
  t.equal(f.status, 0, 'a POSIX open for attributes: opened')
  t.equal(ccInfo(contextsOf(f).get(POSIX_NAME)!, 0).mode, 0o50620, 'its mode says FIFO (wire type 5)')
  const q = outputBuffer(await c.queryInfo(fileIdOf(f), 1, 100))
  const cc = ccInfo(q, 68)
  t.same([cc.mode, cc.tag.toString(16)], [0o50620, '80000014'], 'FilePosixInformation: FIFO, IO_REPARSE_TAG_NFS')
  t.ok((q.readUInt32LE(48) & 0x400) !== 0, 'FILE_ATTRIBUTE_REPARSE_POINT')
  t.equal((await c.read(fileIdOf(f), 0, 10)).status, Status.ACCESS_DENIED, 'no READ through it')
  await c.close(fileIdOf(f))
  const l = await posixOpen(c, 'link', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN })
  t.equal(l.status, 0, 'a POSIX open of a symlink: the link itself')
  const lc = ccInfo(contextsOf(l).get(POSIX_NAME)!, 0)
  t.same([lc.mode & 0o70000, lc.tag.toString(16)], [0o20000, 'a000000c'], 'a symlink (wire type 2), IO_REPARSE_TAG_SYMLINK')
  await c.close(fileIdOf(l))
  const del = await posixOpen(c, 'fifo', { access: Access.DELETE | Access.READ_ATTRIBUTES, disposition: Disposition.OPEN, options: Opt.DELETE_ON_CLOSE })
  t.equal(del.status, 0, 'opened for deletion')
  t.equal((await c.close(fileIdOf(del))).status, 0)
  t.notOk(existsSync(join(srv.share, 'fifo')), 'the FIFO is gone')
})
