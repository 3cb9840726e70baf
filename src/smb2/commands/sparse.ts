// Sparse files (MS-FSA 2.1.5.10.34 FSCTL_SET_SPARSE, 2.1.5.10.35 FSCTL_SET_ZERO_DATA,
// 2.1.5.10.22 FSCTL_QUERY_ALLOCATED_RANGES), through the vfs backend:
//
// - The sparse flag is FILE_ATTRIBUTE_SPARSE_FILE in the file's stored DOS attributes (set only
//   here: SET_INFO leaves it as it is, an overwrite clears it). Linux files are sparse whatever the
//   flag says; the flag says what the client asked for, and decides QUERY_ALLOCATED_RANGES: a file
//   not marked sparse reports all of its bytes as allocated, as NTFS does.
// - SET_ZERO_DATA punches a hole (fallocate PUNCH_HOLE | KEEP_SIZE): the range reads as zeros and
//   its blocks are freed where the file system can, on a sparse file or not.
// - QUERY_ALLOCATED_RANGES of a sparse file asks the file system where the data is (lseek
//   SEEK_DATA / SEEK_HOLE); ranges that do not fit the output give STATUS_BUFFER_OVERFLOW with
//   those that do.
import type { RequestContext } from '../context.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { AccessMask } from '../../wire/constants.js'
import { FILE_ATTRIBUTE_SPARSE_FILE } from '../../wire/fscc/constants.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import type { Open } from '../../session/model.js'
import type { VfsFile } from '../../vfs/backend.js'

const I64_MAX = 0x7fff_ffff_ffff_ffffn
/** MS-FSCC 2.3.33 FILE_ALLOCATED_RANGE_BUFFER / 2.3.67 FILE_ZERO_DATA_INFORMATION: two i64. */
const RANGE_BYTES = 16

/** The data file of the IOCTL's open: directories and pipes are INVALID_PARAMETER. */
function dataFile (ctx: RequestContext): { open: Open, file: VfsFile } {
  const open = ctx.open
  if (open === undefined || open.file === undefined || open.isDirectory || open.pipe !== undefined) {
    throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'a sparse FSCTL needs a file')
  }
  return { open, file: open.file }
}

/** Two i64 at the start of `input`, checked as MS-FSA checks them (negative: INVALID_PARAMETER). */
function twoI64 (input: Buffer, what: string): [bigint, bigint] {
  if (input.length < RANGE_BYTES) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `${what}: ${input.length} bytes of input`)
  const a = input.readBigInt64LE(0)
  const b = input.readBigInt64LE(8)
  if (a < 0n || b < 0n) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `${what}: a negative offset or length`)
  return [a, b]
}

/** FSCTL_SET_SPARSE: no input means "set"; otherwise its first byte (FILE_SET_SPARSE_BUFFER). */
export async function setSparse (ctx: RequestContext, input: Buffer): Promise<void> {
  const { open, file } = dataFile(ctx)
  const may = AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA | AccessMask.FILE_WRITE_ATTRIBUTES
  if ((open.grantedAccess & may) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'FSCTL_SET_SPARSE needs write access')
  const sparse = input.length === 0 || input[0] !== 0
  try {
    const attrs = (await file.stat()).fileAttributes
    const next = sparse ? attrs | FILE_ATTRIBUTE_SPARSE_FILE : attrs & ~FILE_ATTRIBUTE_SPARSE_FILE
    if (next !== attrs) await file.setBasicInfo({ fileAttributes: next >>> 0 })
  } catch (e) {
    throw ntStatusErrorFromErrno(e, undefined, open.path)
  }
  if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `${open.tree.shareName}/${open.path}: ${sparse ? 'sparse' : 'not sparse'}`)
}

/** FSCTL_SET_ZERO_DATA: [FileOffset, BeyondFinalZero) reads as zeros, its blocks freed. */
export async function setZeroData (ctx: RequestContext, input: Buffer): Promise<void> {
  const { open, file } = dataFile(ctx)
  const [from, beyond] = twoI64(input, 'FSCTL_SET_ZERO_DATA')
  if (from > beyond) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FSCTL_SET_ZERO_DATA: FileOffset past BeyondFinalZero')
  if ((open.grantedAccess & AccessMask.FILE_WRITE_DATA) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'FSCTL_SET_ZERO_DATA needs FILE_WRITE_DATA')
  if (from === beyond) return
  // MS-FSA 2.1.5.10.35: as a WRITE of the range, refused inside another open's lock.
  if (open.oplock !== undefined && ctx.server.locks.ioConflict(open.oplock, { off: from, len: beyond - from }, true)) throw new NtStatusError(NtStatus.FILE_LOCK_CONFLICT)
  if (file.punchHole === undefined) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'this backend cannot punch holes')
  try {
    const size = BigInt((await file.stat()).endOfFile)
    const end = beyond < size ? beyond : size
    if (end > from) await file.punchHole(Number(from), Number(end - from))
  } catch (e) {
    throw ntStatusErrorFromErrno(e, undefined, open.path)
  }
}

/** FSCTL_QUERY_ALLOCATED_RANGES: the output (FILE_ALLOCATED_RANGE_BUFFERs) and its status. */
export async function queryAllocatedRanges (ctx: RequestContext, input: Buffer, maxOutput: number): Promise<{ output: Buffer, status: number }> {
  const { open, file } = dataFile(ctx)
  const [off, len] = twoI64(input, 'FSCTL_QUERY_ALLOCATED_RANGES')
  if (off + len > I64_MAX) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FSCTL_QUERY_ALLOCATED_RANGES: the range passes 2^63')
  if ((open.grantedAccess & AccessMask.FILE_READ_DATA) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'FSCTL_QUERY_ALLOCATED_RANGES needs FILE_READ_DATA')
  let ranges: Array<[number, number]>
  try {
    const st = await file.stat()
    const size = BigInt(st.endOfFile)
    const end = off + len < size ? off + len : size
    if (len === 0n || off >= size) ranges = []
    else if ((st.fileAttributes & FILE_ATTRIBUTE_SPARSE_FILE) === 0 || file.allocatedRanges === undefined) ranges = [[Number(off), Number(end - off)]]
    // One more than fits: enough to know the answer is BUFFER_OVERFLOW.
    else ranges = await file.allocatedRanges(Number(off), Number(end - off), Math.floor(maxOutput / RANGE_BYTES) + 1)
  } catch (e) {
    throw ntStatusErrorFromErrno(e, undefined, open.path)
  }
  // No range to give needs no room; one that does not fit at all is BUFFER_TOO_SMALL.
  if (ranges.length > 0 && maxOutput < RANGE_BYTES) throw new NtStatusError(NtStatus.BUFFER_TOO_SMALL, 'no room for one FILE_ALLOCATED_RANGE_BUFFER')
  const fit = Math.min(ranges.length, Math.floor(maxOutput / RANGE_BYTES))
  const output = Buffer.alloc(fit * RANGE_BYTES)
  for (let i = 0; i < fit; i++) {
    output.writeBigInt64LE(BigInt(ranges[i]![0]), i * RANGE_BYTES)
    output.writeBigInt64LE(BigInt(ranges[i]![1]), i * RANGE_BYTES + 8)
  }
  return { output, status: fit < ranges.length ? NtStatus.BUFFER_OVERFLOW : NtStatus.SUCCESS }
}
