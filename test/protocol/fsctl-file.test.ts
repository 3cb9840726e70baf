// FSCTLs of src/smb2/commands/fsctl-file.ts through the whole server in memory, on the posix
// backend: compression state (not compressed; NONE accepted, a format refused), FILE_LEVEL_TRIM
// (ranges released as holes, the rest intact, input checked), IS_VOLUME_DIRTY, and the volume's
// SSINFO_FLAGS_TRIM_ENABLED.
import t from 'tap'
import { Disposition, MemClient, memServer, Opt, outputBuffer, readData, type Resp } from '../helpers/mem-client.js'
import { NtStatus } from '../../src/wire/ntstatus.js'

const GET_COMPRESSION = 0x0009003c
const SET_COMPRESSION = 0x0009c040
const FILE_LEVEL_TRIM = 0x00098208
const IS_VOLUME_DIRTY = 0x00090078
const INFO_FILESYSTEM = 2
const FileFsSectorSizeInformation = 11
const SSINFO_FLAGS_TRIM_ENABLED = 0x8

/** IOCTL output (MS-SMB2 2.2.32: OutputOffset at 32, OutputCount at 36). */
const ioctlOut = (r: Resp): Buffer => r.msg.subarray(r.body.readUInt32LE(32), r.body.readUInt32LE(32) + r.body.readUInt32LE(36))
const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b }
function trimInput (ranges: Array<[number, number]>, count = ranges.length): Buffer {
  const b = Buffer.alloc(8 + ranges.length * 16)
  b.writeUInt32LE(count, 4)
  ranges.forEach(([off, len], i) => { b.writeBigUInt64LE(BigInt(off), 8 + i * 16); b.writeBigUInt64LE(BigInt(len), 16 + i * 16) })
  return b
}

t.test('compression: a file is not compressed; NONE is accepted, a format is not', async (t) => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const f = await c.open('c.txt', { disposition: Disposition.CREATE })
  const g = await c.ioctl(GET_COMPRESSION, f, Buffer.alloc(0), 2)
  t.equal(g.status, 0)
  t.same(ioctlOut(g), Buffer.from([0, 0]), 'COMPRESSION_FORMAT_NONE')
  t.equal((await c.ioctl(GET_COMPRESSION, f, Buffer.alloc(0), 1)).status, NtStatus.INVALID_USER_BUFFER, 'no room: as Samba')
  t.equal((await c.ioctl(SET_COMPRESSION, f, u16(0), 0)).status, 0, 'NONE')
  t.equal((await c.ioctl(SET_COMPRESSION, f, u16(1), 0)).status, NtStatus.NOT_SUPPORTED, 'DEFAULT')
  t.equal((await c.ioctl(SET_COMPRESSION, f, u16(2), 0)).status, NtStatus.NOT_SUPPORTED, 'LZNT1')
  t.equal((await c.ioctl(SET_COMPRESSION, f, u16(7), 0)).status, NtStatus.INVALID_PARAMETER, 'no such format')
  t.equal((await c.ioctl(SET_COMPRESSION, f, Buffer.alloc(1), 0)).status, NtStatus.INVALID_PARAMETER, 'short input')
  const ro = await c.open('c.txt', { access: 0x80, disposition: Disposition.OPEN })
  t.equal((await c.ioctl(SET_COMPRESSION, ro, u16(0), 0)).status, NtStatus.ACCESS_DENIED, 'SET needs FILE_WRITE_DATA')
  t.equal((await c.ioctl(IS_VOLUME_DIRTY, f, Buffer.alloc(0), 4)).status, NtStatus.INVALID_PARAMETER, 'IS_VOLUME_DIRTY: as Samba')
})

t.test('FILE_LEVEL_TRIM: the ranges read as zeros (holes), the rest is intact', async (t) => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const root = await c.open('', { disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  const ss = outputBuffer(await c.queryInfo(root, INFO_FILESYSTEM, FileFsSectorSizeInformation))
  t.equal(ss.readUInt32LE(16) & SSINFO_FLAGS_TRIM_ENABLED, SSINFO_FLAGS_TRIM_ENABLED, 'the volume says TRIM_ENABLED')
  const f = await c.open('t.bin', { disposition: Disposition.CREATE })
  const data = Buffer.alloc(128 * 1024, 0x5a)
  t.equal((await c.write(f, 0, data.subarray(0, 65536))).status, 0)
  t.equal((await c.write(f, 65536, data.subarray(65536))).status, 0)
  const r = await c.ioctl(FILE_LEVEL_TRIM, f, trimInput([[0, 65536], [1 << 30, 4096]]), 4)
  t.equal(r.status, 0)
  t.equal(ioctlOut(r).readUInt32LE(0), 2, 'NumRangesProcessed (one past the end of file, nothing to do there)')
  const second = readData(await c.read(f, 65536, 65536))
  t.ok(second.equals(data.subarray(65536)), 'the untrimmed half is intact')
  t.ok(readData(await c.read(f, 0, 65536)).every(b => b === 0), 'the trimmed half reads as zeros (a hole)')
  t.equal((await c.ioctl(FILE_LEVEL_TRIM, f, Buffer.alloc(4), 4)).status, NtStatus.INVALID_PARAMETER, 'short input')
  t.equal((await c.ioctl(FILE_LEVEL_TRIM, f, trimInput([[0, 10]], 3), 4)).status, NtStatus.INVALID_PARAMETER, 'more ranges than the input holds')
  t.equal((await c.ioctl(FILE_LEVEL_TRIM, f, trimInput([[0, 10]]), 3)).status, NtStatus.INVALID_PARAMETER, 'no room for the output')
  t.equal((await c.ioctl(FILE_LEVEL_TRIM, root, trimInput([[0, 10]]), 4)).status, NtStatus.INVALID_PARAMETER, 'a directory')
  const ro = await c.open('t.bin', { access: 0x1 | 0x80, disposition: Disposition.OPEN })
  t.equal((await c.ioctl(FILE_LEVEL_TRIM, ro, trimInput([[0, 10]]), 4)).status, NtStatus.ACCESS_DENIED, 'needs write access')
})

t.test('DUPLICATE_EXTENTS_TO_FILE: INVALID_DEVICE_REQUEST where the volume cannot share blocks', async (t) => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const root = await c.open('', { disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
  const attrs = outputBuffer(await c.queryInfo(root, INFO_FILESYSTEM, 5 /* FileFsAttributeInformation */)).readUInt32LE(0)
  const src = await c.open('src.bin', { disposition: Disposition.CREATE })
  const dst = await c.open('dst.bin', { disposition: Disposition.CREATE })
  await c.write(src, 0, Buffer.alloc(4096, 1))
  await c.write(dst, 0, Buffer.alloc(4096, 2))
  const input = Buffer.alloc(40)
  input.writeBigUInt64LE(src.persistent, 0); input.writeBigUInt64LE(src.volatile, 8); input.writeBigInt64LE(4096n, 32)
  const r = await c.ioctl(0x00098344, dst, input, 0)
  if ((attrs & 0x08000000) === 0) {
    t.equal(r.status, NtStatus.INVALID_DEVICE_REQUEST, 'no FILE_SUPPORTS_BLOCK_REFCOUNTING: as Samba and Windows')
  } else {
    t.equal(r.status, 0, 'FILE_SUPPORTS_BLOCK_REFCOUNTING: cloned')
    t.ok(readData(await c.read(dst, 0, 4096)).every(b => b === 1), 'the target reads the source')
  }
  const bad = Buffer.from(input); bad.writeBigUInt64LE(0x1234n, 8)
  if ((attrs & 0x08000000) !== 0) t.equal((await c.ioctl(0x00098344, dst, bad, 0)).status, NtStatus.INVALID_HANDLE, 'no such source open')
})
