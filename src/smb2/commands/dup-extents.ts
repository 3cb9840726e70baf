// FSCTL_DUPLICATE_EXTENTS_TO_FILE (MS-FSCC 2.3.8, MS-FSA 2.1.5.10.x): block cloning. The target
// open's range is made to share the source open's blocks (a reflink, FICLONERANGE) where the
// share's file system can (xfs with reflink, btrfs...; the volume then says
// FILE_SUPPORTS_BLOCK_REFCOUNTING); elsewhere STATUS_INVALID_DEVICE_REQUEST, as Samba and Windows
// answer on a volume without it. The checks are Samba's (smb2_ioctl_filesys.c), which follow
// Windows Server 2016: a source FileId that is not an open of this session is INVALID_HANDLE; a
// range past the source's end NOT_SUPPORTED; one past the target's end is cut at it (a target
// offset past its end INVALID_PARAMETER); overlapping ranges of one file and a sparse source into
// a non-sparse target NOT_SUPPORTED; byte-range locks do not stop it (as on Windows); ByteCount 0
// succeeds at once.
import type { RequestContext } from '../context.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { AccessMask } from '../../wire/constants.js'
import { FILE_ATTRIBUTE_SPARSE_FILE } from '../../wire/fscc/constants.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'

/** MS-FSCC 2.3.8 DUPLICATE_EXTENTS_DATA: FileHandle (16), SourceFileOffset, TargetFileOffset, ByteCount (i64 each). */
export const DUPLICATE_EXTENTS_DATA_SIZE = 40
/** MS-FSCC 2.5.1 FileSystemAttributes: the volume can share blocks between files. */
export const FILE_SUPPORTS_BLOCK_REFCOUNTING = 0x08000000

export async function duplicateExtents (ctx: RequestContext, input: Buffer): Promise<void> {
  const target = ctx.open
  if (target === undefined || target.file === undefined || target.pipe !== undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DUPLICATE_EXTENTS needs a file')
  const fs = target.tree.fs!
  if (fs.blockRefcounting === undefined || !(await fs.blockRefcounting())) {
    throw new NtStatusError(NtStatus.INVALID_DEVICE_REQUEST, 'the share\'s file system cannot share blocks')
  }
  if (input.length < DUPLICATE_EXTENTS_DATA_SIZE) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `DUPLICATE_EXTENTS_DATA of ${input.length} bytes`)
  const persistent = input.readBigUInt64LE(0)
  const volatile = input.readBigUInt64LE(8)
  const srcOff = input.readBigInt64LE(16)
  const dstOff = input.readBigInt64LE(24)
  let count = input.readBigInt64LE(32)
  const source = ctx.session!.opens.get(volatile)
  if (source === undefined || !source.alive || source.fileId.persistent !== persistent || source.file === undefined || source.pipe !== undefined) {
    // MS-FSCC says INVALID_PARAMETER; Windows Server (and Samba) answer INVALID_HANDLE.
    throw new NtStatusError(NtStatus.INVALID_HANDLE, 'DUPLICATE_EXTENTS: no such source open')
  }
  if (source.isDirectory || target.isDirectory) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DUPLICATE_EXTENTS of a directory')
  if ((source.grantedAccess & AccessMask.FILE_READ_DATA) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'the source is not open for reading')
  if ((target.grantedAccess & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'the target is not open for writing')
  if (srcOff < 0n || dstOff < 0n || count < 0n || srcOff + count > 0x7fff_ffff_ffff_ffffn || dstOff + count > 0x7fff_ffff_ffff_ffffn) {
    throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DUPLICATE_EXTENTS: a range past 2^63')
  }
  let srcSt, dstSt
  try {
    srcSt = await source.file.stat()
    dstSt = await target.file.stat()
  } catch (e) { throw ntStatusErrorFromErrno(e) }
  if (BigInt(srcSt.endOfFile) < srcOff + count) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'DUPLICATE_EXTENTS past the source\'s end')
  const dstSize = BigInt(dstSt.endOfFile)
  if (dstSize < dstOff + count) {
    if (dstOff > dstSize) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DUPLICATE_EXTENTS: target offset past its end')
    count = dstSize - dstOff // as Windows: cut at the target's end
  }
  if (count === 0n) return
  if (source.shareModeKey !== undefined && source.shareModeKey === target.shareModeKey &&
      srcOff < dstOff + count && dstOff < srcOff + count) {
    throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'DUPLICATE_EXTENTS of overlapping ranges of one file')
  }
  if ((srcSt.fileAttributes & FILE_ATTRIBUTE_SPARSE_FILE) !== 0 && (dstSt.fileAttributes & FILE_ATTRIBUTE_SPARSE_FILE) === 0) {
    throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'DUPLICATE_EXTENTS from a sparse file into a non-sparse one')
  }
  // Unlike a copychunk (and a WRITE), byte-range locks do not stop it: Windows clones under
  // another open's exclusive lock of either range (smbtorture dup_extents_src_lock/dest_lock).
  const locks = ctx.server.locks
  if (target.file.cloneFrom === undefined) throw new NtStatusError(NtStatus.INVALID_DEVICE_REQUEST, 'this backend cannot share blocks')
  try {
    await target.file.cloneFrom(source.file, Number(srcOff), Number(dstOff), Number(count))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    // A range the file system cannot share (not block-aligned): Windows requires cluster alignment.
    if (code === 'EINVAL') throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'DUPLICATE_EXTENTS: a range the file system cannot share (alignment)')
    throw ntStatusErrorFromErrno(e, undefined, target.path)
  }
  if (target.shareModeKey !== undefined) locks.breakLevelII(target.shareModeKey, target.oplock)
  target.modified = true
  if (ctx.server.log.wants('vfs')) {
    ctx.server.log.debug('vfs', `${target.tree.shareName}/${target.path}: ${count} bytes at ${dstOff} share ${source.path}'s blocks at ${srcOff}`)
  }
}
