// FSCTLs on a file's data and state that need no more than the vfs backend: compression state
// (MS-FSA 2.1.5.10.7 / 2.1.5.10.36), FSCTL_FILE_LEVEL_TRIM (MS-FSCC 2.3.13)
// and FSCTL_IS_VOLUME_DIRTY.
//
// - Compression: no Linux file system smbts serves compresses through this interface, and the
//   volume does not say FILE_FILE_COMPRESSION; as Windows Server's ReFS and Samba answer then,
//   GET is "not compressed" (COMPRESSION_FORMAT_NONE) and SET accepts NONE and refuses a format
//   (STATUS_NOT_SUPPORTED): smbtorture smb2.ioctl.compress_notsup_get/set.
// - FILE_LEVEL_TRIM: the client says it no longer needs the data of some ranges. Each range (cut
//   at the end of file) has its blocks released by punching a hole where the file system can; the
//   data then reads as zeros (a trim leaves it undefined, so that is allowed), and where the file
//   system cannot punch, the range is kept as it is, which a trim allows too. Refused inside
//   another open's byte-range lock, like a WRITE. The volume says SSINFO_FLAGS_TRIM_ENABLED.
import type { RequestContext } from '../context.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { AccessMask } from '../../wire/constants.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import type { Open } from '../../session/model.js'
import type { VfsFile } from '../../vfs/backend.js'

/** MS-FSCC 2.3.9 / 2.3.67: CompressionState values. */
export const COMPRESSION_FORMAT_NONE = 0x0000
export const COMPRESSION_FORMAT_DEFAULT = 0x0001
export const COMPRESSION_FORMAT_LZNT1 = 0x0002

/** MS-FSCC 2.3.13 FILE_LEVEL_TRIM: Key (4), NumRanges (4), then FILE_LEVEL_TRIM_RANGEs of Offset, Length (u64 each). */
const TRIM_HEADER = 8
const TRIM_RANGE = 16
/** FILE_LEVEL_TRIM_OUTPUT: NumRangesProcessed. */
const TRIM_OUTPUT = 4

function openFile (ctx: RequestContext, what: string): { open: Open, file: VfsFile } {
  const open = ctx.open
  if (open === undefined || open.file === undefined || open.pipe !== undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `${what} needs a file or directory`)
  return { open, file: open.file }
}

/** FSCTL_GET_COMPRESSION: a USHORT CompressionState, always NONE here. */
export function getCompression (ctx: RequestContext, maxOutput: number): Buffer {
  openFile(ctx, 'FSCTL_GET_COMPRESSION')
  // Samba's answer to an output buffer that cannot hold the USHORT.
  if (maxOutput < 2) throw new NtStatusError(NtStatus.INVALID_USER_BUFFER, 'FSCTL_GET_COMPRESSION: no room for the state')
  return Buffer.alloc(2) // COMPRESSION_FORMAT_NONE
}

/** FSCTL_SET_COMPRESSION: NONE is accepted (nothing is compressed), any format refused. */
export function setCompression (ctx: RequestContext, input: Buffer): void {
  const { open } = openFile(ctx, 'FSCTL_SET_COMPRESSION')
  // MS-FSA 2.1.5.10.36 and Samba: FILE_WRITE_DATA is the right it needs (not FILE_WRITE_ATTRIBUTES).
  if ((open.grantedAccess & AccessMask.FILE_WRITE_DATA) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'FSCTL_SET_COMPRESSION needs FILE_WRITE_DATA')
  if (input.length < 2) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FSCTL_SET_COMPRESSION: no CompressionState')
  const format = input.readUInt16LE(0)
  if (format === COMPRESSION_FORMAT_NONE) return
  if (format === COMPRESSION_FORMAT_DEFAULT || format === COMPRESSION_FORMAT_LZNT1) {
    throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'the volume does not compress files')
  }
  throw new NtStatusError(NtStatus.INVALID_PARAMETER, `FSCTL_SET_COMPRESSION: format ${format}`)
}

/** FSCTL_FILE_LEVEL_TRIM: the FILE_LEVEL_TRIM_OUTPUT (NumRangesProcessed). */
export async function fileLevelTrim (ctx: RequestContext, input: Buffer, maxOutput: number): Promise<Buffer> {
  const { open, file } = openFile(ctx, 'FSCTL_FILE_LEVEL_TRIM')
  if (open.isDirectory) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FSCTL_FILE_LEVEL_TRIM on a directory')
  if (input.length < TRIM_HEADER) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `FSCTL_FILE_LEVEL_TRIM: ${input.length} bytes of input`)
  const count = input.readUInt32LE(4)
  if (TRIM_HEADER + count * TRIM_RANGE > input.length) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `FSCTL_FILE_LEVEL_TRIM: ${count} ranges past the input`)
  if (maxOutput < TRIM_OUTPUT) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FSCTL_FILE_LEVEL_TRIM: no room for the output')
  if ((open.grantedAccess & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'FSCTL_FILE_LEVEL_TRIM needs write access')
  const ranges: Array<[bigint, bigint]> = []
  for (let i = 0; i < count; i++) {
    const off = input.readBigUInt64LE(TRIM_HEADER + i * TRIM_RANGE)
    const len = input.readBigUInt64LE(TRIM_HEADER + i * TRIM_RANGE + 8)
    if (off + len > 0x7fff_ffff_ffff_ffffn) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FSCTL_FILE_LEVEL_TRIM: a range past 2^63')
    if (open.oplock !== undefined && len > 0n && ctx.server.locks.ioConflict(open.oplock, { off, len }, true)) throw new NtStatusError(NtStatus.FILE_LOCK_CONFLICT)
    ranges.push([off, len])
  }
  try {
    const size = BigInt((await file.stat()).endOfFile)
    for (const [off, len] of ranges) {
      const end = off + len < size ? off + len : size
      if (end <= off || file.punchHole === undefined) continue
      try {
        await file.punchHole(Number(off), Number(end - off))
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        // The file system cannot release blocks: the data stays, which a trim allows.
        if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP') throw e
      }
    }
  } catch (e) {
    throw ntStatusErrorFromErrno(e, undefined, open.path)
  }
  if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `${open.tree.shareName}/${open.path}: trimmed ${count} range(s)`)
  const out = Buffer.alloc(TRIM_OUTPUT)
  out.writeUInt32LE(count, 0)
  return out
}
