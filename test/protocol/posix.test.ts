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
  Access, Command, Disposition, fileIdOf, MemClient, memServer, negotiateContexts, Opt, outputBuffer, preauthContext, setInfoBody, Status,
  type MemServer, type Resp,
} from '../helpers/mem-client.js'
import { encodeSecurityDescriptor } from '../../src/wire/dtyp/security-descriptor.js'
import { sidFromString } from '../../src/wire/dtyp/sid.js'
import { ccInfo, contextsOf, createWith, POSIX_CTX, POSIX_ID, POSIX_NAME, posixConnect, posixNegotiateContext, posixOpen } from '../helpers/posix-client.js'

const INVALID_LEVEL = 0xc0000148
const INVALID_PARAMETER = 0xc000000d
const uid = process.getuid?.() ?? 0
const gid = process.getgid?.() ?? 0

async function client (srv: MemServer, posix = true): Promise<{ c: MemClient, n: Resp }> {
  return await posixConnect(new MemClient(srv.state), posix)
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

t.test('a POSIX chmod: a descriptor of one S-1-5-88-3-<mode> ACE on a POSIX open sets the mode', async (t) => {
  const srv = server()
  t.teardown(srv.cleanup)
  const { c } = await client(srv)
  const sd = (sids: string[]): Buffer => encodeSecurityDescriptor({ control: 0, dacl: { revision: 2, aces: sids.map(s => ({ type: 0, flags: 0, mask: 0x1f01ff, sid: sidFromString(s) })) } })
  const setSd = async (fid: ReturnType<typeof fileIdOf>, b: Buffer): Promise<number> => (await c.request({ cmd: Command.SET_INFO, body: setInfoBody(fid, 3, 0, b, 4) })).status
  const f = await posixOpen(c, 'm.txt', { mode: 0o644, disposition: Disposition.CREATE, access: 0x000f01ff })
  t.equal(await setSd(fileIdOf(f), sd([`S-1-5-88-3-${0o604}`])), 0, 'SET_INFO DACL')
  t.equal(statSync(join(srv.share, 'm.txt')).mode & 0o7777, 0o604, 'mode 0604')
  t.equal(ccInfo(outputBuffer(await c.queryInfo(fileIdOf(f), 1, 100)), 68).mode, 0o604, 'FilePosixInformation says so')
  // On a plain open the same descriptor is an ordinary one (stored, the mode follows its DACL).
  const plain = await c.open('m.txt', { access: 0x000f01ff, disposition: Disposition.OPEN })
  t.equal(await setSd(plain, sd([`S-1-5-88-3-${0o777}`])), 0)
  t.not(statSync(join(srv.share, 'm.txt')).mode & 0o777, 0o777, 'no chmod to 0777 through a plain open')
  // Two ACEs: an ordinary descriptor too.
  t.equal(await setSd(fileIdOf(f), sd([`S-1-5-88-3-${0o600}`, 'S-1-1-0'])), 0)
  t.not(statSync(join(srv.share, 'm.txt')).mode & 0o777, 0o600, 'not a chmod')
})

t.test('a share with smb3 unix extensions = no ignores the POSIX create context', async (t) => {
  const srv = memServer({ backend: 'posix', shareLines: ['smb3 unix extensions = no'] })
  t.teardown(srv.cleanup)
  const { c, n } = await client(srv)
  t.ok(negotiateContexts(n).some(x => x.type === POSIX_CTX), 'negotiated (the [global] switch is on)')
  const r = await posixOpen(c, 'f', { mode: 0o600, disposition: Disposition.CREATE })
  t.equal(r.status, 0)
  t.notOk(contextsOf(r).has(POSIX_NAME), 'no POSIX answer on this share')
  t.equal((await c.queryInfo(fileIdOf(r), 1, 100)).status, INVALID_LEVEL, 'not a POSIX open')
})
