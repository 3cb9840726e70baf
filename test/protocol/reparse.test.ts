// FSCTL_SET_REPARSE_POINT / FSCTL_GET_REPARSE_POINT (src/smb2/commands/reparse.ts): symlinks made
// as native symlinks when their target stays inside the share, FIFOs and sockets from the NFS and
// WSL tags made with mknod, devices and other tags refused, malformed buffers refused; the tag in
// FileAttributeTagInformation and in listings; FILE_OPEN_REPARSE_POINT opens the link itself.
//
// Backend: posix (symlinks and FIFOs exist only on a real file system).
import t from 'tap'
import { existsSync, lstatSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Access, Disposition, MemClient, memServer, Opt, outputBuffer, Status, type FileId, type MemServer } from '../helpers/mem-client.js'

const SET = 0x000900a4
const GET = 0x000900a8
const OPEN_REPARSE_POINT = 0x00200000
const WRITE_ATTRIBUTES = 0x100
const SYNCHRONIZE = 0x100000
const NOT_A_REPARSE_POINT = 0xc0000275
const IO_REPARSE_TAG_NOT_HANDLED = 0xc0000279
const IO_REPARSE_DATA_INVALID = 0xc0000278
const BUFFER_OVERFLOW = 0x80000005

function reparse (tag: number, data: Buffer): Buffer {
  const b = Buffer.alloc(8 + data.length)
  b.writeUInt32LE(tag >>> 0, 0); b.writeUInt16LE(data.length, 4); data.copy(b, 8)
  return b
}
function symlinkBuffer (target: string, flags = 1): Buffer {
  const n = Buffer.from(target, 'utf16le')
  const d = Buffer.alloc(12 + 2 * n.length)
  d.writeUInt16LE(0, 0); d.writeUInt16LE(n.length, 2); d.writeUInt16LE(n.length, 4); d.writeUInt16LE(n.length, 6); d.writeUInt32LE(flags, 8)
  n.copy(d, 12); n.copy(d, 12 + n.length)
  return reparse(0xa000000c, d)
}
/** MS-FSCC 2.1.2.6 NFS_SPECFILE_* values. */
const NFS_TYPES: Record<string, bigint> = { LNK: 0x014B4E4Cn, CHR: 0x524843n, BLK: 0x4B4C42n, FIFO: 0x4F464946n, SOCK: 0x4B434F53n }
function nfs (type: string, extra = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(8)
  h.writeBigUInt64LE(NFS_TYPES[type]!, 0)
  return reparse(0x80000014, Buffer.concat([h, extra]))
}
/** MS-SMB2 2.2.32: an IOCTL response's output buffer. */
const ioctlOut = (r: { body: Buffer, msg: Buffer }): Buffer => r.msg.subarray(r.body.readUInt32LE(32), r.body.readUInt32LE(32) + r.body.readUInt32LE(36))

async function newFile (c: MemClient, name: string): Promise<FileId> {
  return await c.open(name, { access: Access.DELETE | Access.READ_ATTRIBUTES | WRITE_ATTRIBUTES | SYNCHRONIZE, disposition: Disposition.CREATE, options: OPEN_REPARSE_POINT | Opt.NON_DIRECTORY_FILE })
}
async function setOn (c: MemClient, name: string, buf: Buffer): Promise<number> {
  const f = await newFile(c, name)
  const r = await c.ioctl(SET, f, buf)
  await c.close(f)
  return r.status
}

async function setup (t: { teardown: (fn: () => void) => void }): Promise<{ srv: MemServer, c: MemClient }> {
  const srv = memServer({ backend: 'posix', log: true })
  t.teardown(srv.cleanup)
  return { srv, c: await new MemClient(srv.state).connect() }
}

t.test('a relative symlink inside the share is made; GET reads it back', async (t) => {
  const { srv, c } = await setup(t)
  writeFileSync(join(srv.share, 'target.txt'), 'data')
  t.equal(await setOn(c, 'link', symlinkBuffer('target.txt')), 0, 'SET_REPARSE_POINT')
  t.ok(lstatSync(join(srv.share, 'link')).isSymbolicLink(), 'a native symlink')
  t.equal(readlinkSync(join(srv.share, 'link')), 'target.txt')
  srv.filesOf('share').mkdir('d')
  t.equal(await setOn(c, 'd\\up', symlinkBuffer('..\\target.txt')), 0, 'a target up one directory, still inside')
  t.equal(readlinkSync(join(srv.share, 'd/up')), '../target.txt', 'stored with / separators')
  // The link itself, opened for its attributes with FILE_OPEN_REPARSE_POINT.
  const l = await c.open('link', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN, options: OPEN_REPARSE_POINT })
  const g = await c.ioctl(GET, l, Buffer.alloc(0))
  t.equal(g.status, 0, 'GET_REPARSE_POINT')
  const out = ioctlOut(g)
  t.equal(out.readUInt32LE(0), 0xa000000c, 'IO_REPARSE_TAG_SYMLINK')
  const d = out.subarray(8)
  t.equal(d.subarray(12 + d.readUInt16LE(0), 12 + d.readUInt16LE(0) + d.readUInt16LE(2)).toString('utf16le'), 'target.txt', 'SubstituteName')
  t.equal(d.readUInt32LE(8), 1, 'SYMLINK_FLAG_RELATIVE')
  const small = await c.ioctl(GET, l, Buffer.alloc(0), 12)
  t.equal(small.status, BUFFER_OVERFLOW, 'a buffer too small for all of it: BUFFER_OVERFLOW')
  const tag = await c.queryInfo(l, 1, 35)
  t.same([outputBuffer(tag).readUInt32LE(0) & 0x400, outputBuffer(tag).readUInt32LE(4)], [0x400, 0xa000000c], 'FileAttributeTagInformation: REPARSE_POINT, the tag')
  await c.close(l)
  const dir = await c.open('', { access: Access.GENERIC_READ, options: Opt.DIRECTORY_FILE, disposition: Disposition.OPEN })
  const list = outputBuffer(await c.queryDirectory(dir, 'link', 37)) // FileIdBothDirectoryInformation: EaSize is the tag
  t.same([list.readUInt32LE(56) & 0x400, list.readUInt32LE(64)], [0x400, 0xa000000c], 'listed with REPARSE_POINT and the tag')
  const plain = await c.open('target.txt', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN })
  t.equal((await c.ioctl(GET, plain, Buffer.alloc(0))).status, NOT_A_REPARSE_POINT, 'a file: NOT_A_REPARSE_POINT')
})

t.test('symlinks leading outside, absolute ones and devices are refused; nothing is lost', async (t) => {
  const { srv, c } = await setup(t)
  t.equal(await setOn(c, 'out', symlinkBuffer('..\\..\\etc\\passwd')), Status.ACCESS_DENIED, 'a target above the share root')
  t.ok(lstatSync(join(srv.share, 'out')).isFile(), 'the file is left as it was')
  t.ok(srv.logs.some(l => /symlink target "..\/..\/etc\/passwd" is absolute or leads outside the share/.test(l)), 'the refusal is logged')
  t.equal(await setOn(c, 'abs', symlinkBuffer('\\??\\C:\\Windows', 0)), Status.ACCESS_DENIED, 'an absolute target')
  t.equal(await setOn(c, 'nfsabs', nfs('LNK', Buffer.from('/etc/passwd', 'utf16le'))), Status.ACCESS_DENIED, 'an absolute NFS symlink')
  t.equal(await setOn(c, 'chr', nfs('CHR', Buffer.alloc(8))), Status.ACCESS_DENIED, 'an NFS character device')
  t.equal(await setOn(c, 'blk', reparse(0x80000026, Buffer.alloc(0))), Status.ACCESS_DENIED, 'a WSL block device')
  t.ok(lstatSync(join(srv.share, 'chr')).isFile(), 'no device made')
  t.equal(await setOn(c, 'other', reparse(0x9000001a, Buffer.alloc(4))), IO_REPARSE_TAG_NOT_HANDLED, 'another tag: IO_REPARSE_TAG_NOT_HANDLED')
  const bad = symlinkBuffer('x')
  bad.writeUInt16LE(200, 4)
  t.equal(await setOn(c, 'bad', bad), IO_REPARSE_DATA_INVALID, 'ReparseDataLength past the buffer: IO_REPARSE_DATA_INVALID')
  const badName = symlinkBuffer('x')
  badName.writeUInt16LE(100, 8 + 2)
  t.equal(await setOn(c, 'bad2', badName), IO_REPARSE_DATA_INVALID, 'a name past the PathBuffer: IO_REPARSE_DATA_INVALID')
  // A file with data is never replaced.
  writeFileSync(join(srv.share, 'full'), 'keep me')
  const f = await c.open('full', { access: Access.GENERIC_ALL, disposition: Disposition.OPEN })
  t.equal((await c.ioctl(SET, f, symlinkBuffer('x'))).status, Status.ACCESS_DENIED, 'a file with data: refused')
  t.equal(readFileSync(join(srv.share, 'full'), 'utf8'), 'keep me', 'its data kept')
  // A handle that may not write.
  const ro = await c.open('full', { access: Access.READ_ATTRIBUTES | SYNCHRONIZE, disposition: Disposition.OPEN })
  t.equal((await c.ioctl(SET, ro, symlinkBuffer('x'))).status, Status.ACCESS_DENIED, 'a read-only handle: refused')
})

t.test('FIFOs and sockets from the NFS and WSL tags', async (t) => {
  const { srv, c } = await setup(t)
  t.equal(await setOn(c, 'fifo', nfs('FIFO')), 0, 'NFS FIFO')
  t.ok(lstatSync(join(srv.share, 'fifo')).isFIFO(), 'a FIFO')
  t.equal(await setOn(c, 'sock', nfs('SOCK')), 0, 'NFS socket')
  t.ok(lstatSync(join(srv.share, 'sock')).isSocket(), 'a socket')
  t.equal(await setOn(c, 'lxfifo', reparse(0x80000024, Buffer.alloc(0))), 0, 'WSL FIFO')
  t.ok(lstatSync(join(srv.share, 'lxfifo')).isFIFO())
  t.equal(await setOn(c, 'lxlink', reparse(0xa000001d, Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from('fifo')]))), 0, 'WSL symlink')
  t.equal(readlinkSync(join(srv.share, 'lxlink')), 'fifo')
  t.equal(await setOn(c, 'nfslink', nfs('LNK', Buffer.from('sock', 'utf16le'))), 0, 'NFS symlink')
  t.equal(readlinkSync(join(srv.share, 'nfslink')), 'sock')
  const h = await c.open('fifo', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN, options: OPEN_REPARSE_POINT })
  const g = ioctlOut(await c.ioctl(GET, h, Buffer.alloc(0)))
  t.same([g.readUInt32LE(0), g.subarray(8, 16).toString('latin1')], [0x80000014, 'FIFO\0\0\0\0'], 'GET of a FIFO: NFS FIFO')
  await c.close(h)
  const del = await c.open('fifo', { access: Access.DELETE | Access.READ_ATTRIBUTES, disposition: Disposition.OPEN, options: OPEN_REPARSE_POINT | Opt.DELETE_ON_CLOSE })
  await c.close(del)
  t.notOk(existsSync(join(srv.share, 'fifo')), 'removed through FILE_OPEN_REPARSE_POINT')
})

t.test('FILE_OPEN_REPARSE_POINT on a share that follows symlinks opens the link itself', async (t) => {
  const srv = memServer({ backend: 'posix', shareLines: ['follow symlinks = yes'] })
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  writeFileSync(join(srv.share, 'target.txt'), 'data')
  symlinkSync('target.txt', join(srv.share, 'link'))
  const followed = await c.open('link', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  t.equal((await c.ioctl(GET, followed, Buffer.alloc(0))).status, NOT_A_REPARSE_POINT, 'a plain open follows it: the target')
  const l = await c.open('link', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN, options: OPEN_REPARSE_POINT })
  const g = await c.ioctl(GET, l, Buffer.alloc(0))
  t.equal(g.status, 0)
  t.equal(ioctlOut(g).readUInt32LE(0), 0xa000000c, 'the link itself: IO_REPARSE_TAG_SYMLINK')
})

t.test('DELETE_REPARSE_POINT turns a symlink or FIFO back into an empty file', async (t) => {
  const { srv, c } = await setup(t)
  t.equal(await setOn(c, 'link', symlinkBuffer('x')), 0)
  const DEL = 0x000900ac
  const l = await c.open('link', { access: Access.READ_ATTRIBUTES | WRITE_ATTRIBUTES, disposition: Disposition.OPEN, options: OPEN_REPARSE_POINT })
  t.equal((await c.ioctl(DEL, l, reparse(0x80000014, Buffer.alloc(0)))).status, 0xc0000277, 'another tag: IO_REPARSE_TAG_MISMATCH')
  t.equal((await c.ioctl(DEL, l, reparse(0xa000000c, Buffer.alloc(4)))).status, IO_REPARSE_DATA_INVALID, 'with data: IO_REPARSE_DATA_INVALID')
  t.equal((await c.ioctl(DEL, l, reparse(0xa000000c, Buffer.alloc(0)))).status, 0, 'deleted')
  t.ok(lstatSync(join(srv.share, 'link')).isFile(), 'an empty regular file now')
  t.equal(lstatSync(join(srv.share, 'link')).size, 0)
  t.equal((await c.ioctl(DEL, l, reparse(0xa000000c, Buffer.alloc(0)))).status, NOT_A_REPARSE_POINT, 'again: NOT_A_REPARSE_POINT')
  t.equal((await c.write(l, 0, Buffer.from('now a file'))).status, Status.ACCESS_DENIED, 'the handle keeps its rights (no write asked)')
})

t.test('a symlink opened by name on a share that does not follow: STATUS_STOPPED_ON_SYMLINK with its target', async (t) => {
  const { srv, c } = await setup(t)
  writeFileSync(join(srv.share, 'target.txt'), 'data')
  symlinkSync('target.txt', join(srv.share, 'in'))
  symlinkSync('../outside', join(srv.share, 'out'))
  symlinkSync('/etc/passwd', join(srv.share, 'abs'))
  const r = await c.create('in', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  t.equal(r.status, 0x8000002d, 'STATUS_STOPPED_ON_SYMLINK')
  const b = r.body
  t.equal(b.readUInt16LE(0), 9, 'an ERROR response')
  t.equal(b[2], 1, 'one error context (3.1.1)')
  const ctx = b.subarray(8, 8 + b.readUInt32LE(4))
  t.equal(ctx.readUInt32LE(4), 0, 'ErrorId SMB2_ERROR_ID_DEFAULT')
  const sym = ctx.subarray(8, 8 + ctx.readUInt32LE(0))
  t.equal(sym.readUInt32LE(0), sym.length - 4, 'SymLinkLength')
  t.same([sym.readUInt32LE(4), sym.readUInt32LE(8)], [0x4c4d5953, 0xa000000c], 'SYML, IO_REPARSE_TAG_SYMLINK')
  t.equal(sym.readUInt16LE(14), 0, 'UnparsedPathLength 0')
  const path = sym.subarray(28)
  t.equal(path.toString('utf16le', sym.readUInt16LE(16), sym.readUInt16LE(16) + sym.readUInt16LE(18)), 'target.txt', 'SubstituteName')
  t.equal(sym.readUInt32LE(24), 1, 'SYMLINK_FLAG_RELATIVE')
  // Targets outside the share: shown for the client to follow on its side (and to remove the
  // link), never read here; an absolute one without SYMLINK_FLAG_RELATIVE.
  for (const [name, target, flags] of [['out', '..\\outside', 1], ['abs', '\\etc\\passwd', 0]] as const) {
    const x = await c.create(name, { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
    t.equal(x.status, 0x8000002d, `${name}: STATUS_STOPPED_ON_SYMLINK`)
    const s = x.body.subarray(16)
    t.same([s.subarray(28, 28 + s.readUInt16LE(18)).toString('utf16le'), s.readUInt32LE(24)], [target, flags], `${name}: its target and flags`)
  }
  const old = await new MemClient(srv.state).connect({ dialect: 0x0302 })
  const r2 = await old.create('in', { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
  t.same([r2.status, r2.body[2], r2.body.readUInt32LE(8 + 4)], [0x8000002d, 0, 0x4c4d5953], 'before 3.1.1: the symlink response bare, no error context')
})
