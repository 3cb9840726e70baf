// AllocationSize on the posix backend (src/vfs/posix.ts dataAllocation, PosixFile.stat): what a
// file's data holds on disk, never its metadata's blocks. On ext4 a file whose xattrs overflow the
// inode (EAs, a stored descriptor, a DOS record) has an xattr block that st_blocks counts; NTFS
// counts no such thing in a data stream's allocation. Space reserved past the end of the file
// (MS-FSA 2.1.5.15.1 FileAllocationInformation) counts. smbtorture smb2.setinfo on ext4.
import t from 'tap'
import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Access, Disposition, fileIdOf, MemClient, memServer, Opt, outputBuffer, type FileId } from '../helpers/mem-client.js'
import { native } from '../../src/io/native.js'
import { dataAllocation } from '../../src/vfs/posix.js'

const INFO_FILE = 1
const FileStandardInformation = 5
const FileAllocationInformation = 19
const FileEndOfFileInformation = 20
const FileBothDirectoryInformation = 3

function u64 (n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(n)
  return b
}

async function sizes (c: MemClient, fid: FileId): Promise<{ alloc: bigint, eof: bigint }> {
  const b = outputBuffer(await c.queryInfo(fid, INFO_FILE, FileStandardInformation))
  return { alloc: b.readBigUInt64LE(0), eof: b.readBigUInt64LE(8) }
}

t.test('dataAllocation: st_blocks, capped at the size in whole clusters', async t => {
  t.equal(dataAllocation({ blocks: 8n, size: 0n }), 0n, 'an empty file with an xattr block')
  t.equal(dataAllocation({ blocks: 16n, size: 6n }), 4096n, 'a small file with an xattr block')
  t.equal(dataAllocation({ blocks: 8n, size: 6n }), 4096n, 'a small file')
  t.equal(dataAllocation({ blocks: 8n, size: 1n << 20n }), 4096n, 'a sparse file: what it holds')
})

t.test('an emptied file with an xattr block has AllocationSize 0; reserved space counts', async t => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  const p = join(srv.share, 'x.txt')
  writeFileSync(p, 'hello\n')
  // 2 KiB of xattr: more than any inode keeps in itself, so the file system that has xattr
  // blocks gives it one.
  const fd = await native.openat2(native.constants.AT_FDCWD, p, native.constants.O_RDONLY, 0, 0)
  try { await native.fsetxattr(fd, 'user.big', Buffer.alloc(2048, 0x61), 0) } finally { await native.close(fd) }
  const c = await new MemClient(srv.state).connect()
  const f = fileIdOf(await c.create('x.txt', { access: Access.GENERIC_READ | Access.GENERIC_WRITE, disposition: Disposition.OPEN, share: 7 }))

  t.equal((await c.setInfo(f, INFO_FILE, FileAllocationInformation, u64(0n))).status, 0, 'AllocationSize set to 0 truncates')
  if (statSync(p).blocks === 0) t.comment('this file system counts no xattr block: the case below is trivial here')
  t.same(await sizes(c, f), { alloc: 0n, eof: 0n }, 'an empty file holds nothing, whatever its xattr block')

  t.equal((await c.setInfo(f, INFO_FILE, FileAllocationInformation, u64(4096n))).status, 0, 'AllocationSize 4096')
  t.same(await sizes(c, f), { alloc: 4096n, eof: 0n }, 'the space reserved past the end counts')

  t.equal((await c.setInfo(f, INFO_FILE, FileEndOfFileInformation, u64(37n))).status, 0)
  t.same(await sizes(c, f), { alloc: 4096n, eof: 37n }, 'written into its reserved cluster')

  // A listing reads statx alone: the same for a file with nothing reserved past its end.
  const root = await c.open('', { access: Access.GENERIC_READ, disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  const list = outputBuffer(await c.queryDirectory(root, 'x.txt', FileBothDirectoryInformation, 65536))
  t.equal(list.readBigUInt64LE(48), 4096n, 'QUERY_DIRECTORY agrees')
  await c.close(root)
  await c.close(f)
})
