// Server-side copy (MS-SMB2 3.3.5.15.5 FSCTL_SRV_REQUEST_RESUME_KEY, 3.3.5.15.6
// FSCTL_SRV_COPYCHUNK and FSCTL_SRV_COPYCHUNK_WRITE): a client asks for an opaque key naming its
// source open, then for chunks of it to be copied into the open the IOCTL names. The data never
// passes through the client nor through JavaScript: VfsFile.copyFrom is copy_file_range, which
// shares extents where the file system can (btrfs, xfs: a reflink). Windows Explorer copies
// within a share this way.
import { randomBytes } from 'node:crypto'
import type { RequestContext } from '../context.js'
import type { Open } from '../../session/model.js'
import { AccessMask } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import { asStream } from '../../vfs/streams.js'
import type { VfsFile } from '../../vfs/backend.js'

/** MS-SMB2 3.3.3 ServerSideCopyMaxNumberofChunks, MaxChunkSize, MaxDataSize (Windows' values). */
export const COPYCHUNK_LIMITS = { chunks: 256, chunkBytes: 1024 * 1024, totalBytes: 16 * 1024 * 1024 } as const

const RESUME_KEY_BYTES = 24
/** 2.2.32.3 SRV_REQUEST_RESUME_KEY Response: ResumeKey, ContextLength (0), Context (4, padding). */
const RESUME_KEY_RESPONSE_BYTES = 32
/** 2.2.32.1 SRV_COPYCHUNK_RESPONSE: ChunksWritten, ChunkBytesWritten, TotalBytesWritten. */
const COPYCHUNK_RESPONSE_BYTES = 12
const CHUNK_BYTES = 24
const CHUNKS_AT = 32

/** The open a resume key names, by its hex; an open leaves it at its close (teardown.ts). */
export type ResumeKeys = Map<string, Open>

export function requestResumeKey (ctx: RequestContext, maxOutput: number): Buffer {
  const open = ctx.open
  if (open === undefined || open.file === undefined || open.isDirectory) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'a resume key names a file open')
  if (maxOutput < RESUME_KEY_RESPONSE_BYTES) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'output too small for SRV_REQUEST_RESUME_KEY')
  if (open.resumeKey === undefined) {
    open.resumeKey = randomBytes(RESUME_KEY_BYTES)
    ctx.server.resumeKeys.set(open.resumeKey.toString('hex'), open)
  }
  const out = Buffer.alloc(RESUME_KEY_RESPONSE_BYTES)
  open.resumeKey.copy(out, 0)
  return out
}

function copychunkResponse (chunks: number, chunkBytes: number, total: number): Buffer {
  const out = Buffer.alloc(COPYCHUNK_RESPONSE_BYTES)
  out.writeUInt32LE(chunks, 0)
  out.writeUInt32LE(chunkBytes, 4)
  out.writeUInt32LE(total, 8)
  return out
}

export interface CopychunkResult { status: number, output: Buffer }

/** `write`: FSCTL_SRV_COPYCHUNK_WRITE (the target needs no read access). */
export async function copychunk (ctx: RequestContext, input: Buffer, maxOutput: number, write: boolean): Promise<CopychunkResult> {
  const target = ctx.open
  if (target === undefined || target.file === undefined || target.isDirectory) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'copychunk into a file open')
  if (maxOutput < COPYCHUNK_RESPONSE_BYTES) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'output too small for SRV_COPYCHUNK_RESPONSE')
  if (input.length < CHUNKS_AT) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'short SRV_COPYCHUNK_COPY')
  const count = input.readUInt32LE(24)
  const chunks: Array<{ src: number, dst: number, len: number }> = []
  let total = 0
  let tooBig = count > COPYCHUNK_LIMITS.chunks
  if (!tooBig) {
    if (CHUNKS_AT + count * CHUNK_BYTES > input.length) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'copychunk chunks past the input')
    for (let i = 0; i < count; i++) {
      const at = CHUNKS_AT + i * CHUNK_BYTES
      const src = input.readBigUInt64LE(at)
      const dst = input.readBigUInt64LE(at + 8)
      const len = input.readUInt32LE(at + 16)
      if (len === 0 || len > COPYCHUNK_LIMITS.chunkBytes) { tooBig = true; break }
      if (src + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER) || dst + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER)) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'copychunk offset too large')
      total += len
      chunks.push({ src: Number(src), dst: Number(dst), len })
    }
  }
  // 3.3.5.15.6: past a limit, INVALID_PARAMETER with the limits in the response.
  if (tooBig || total > COPYCHUNK_LIMITS.totalBytes) {
    return { status: NtStatus.INVALID_PARAMETER, output: copychunkResponse(COPYCHUNK_LIMITS.chunks, COPYCHUNK_LIMITS.chunkBytes, COPYCHUNK_LIMITS.totalBytes) }
  }
  const source = ctx.server.resumeKeys.get(input.subarray(0, RESUME_KEY_BYTES).toString('hex'))
  // A key is 24 random bytes; it still only works for the user whose open it names.
  if (source === undefined || !source.alive || source.file === undefined || source.tree.session.user.toLowerCase() !== target.tree.session.user.toLowerCase()) {
    throw new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND, 'no open with that resume key')
  }
  if ((source.grantedAccess & (AccessMask.FILE_READ_DATA | AccessMask.FILE_EXECUTE)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'copychunk source not open for reading')
  if ((target.grantedAccess & AccessMask.FILE_WRITE_DATA) === 0 || (!write && (target.grantedAccess & AccessMask.FILE_READ_DATA) === 0)) {
    throw new NtStatusError(NtStatus.ACCESS_DENIED, 'copychunk target lacks the access it needs')
  }
  const locks = ctx.server.locks
  if (target.shareModeKey !== undefined) locks.breakLevelII(target.shareModeKey, target.oplock)
  let done = 0
  let written = 0
  // From here a failure still answers with the response: the chunks copied before it stay copied.
  const stop = (status: number): CopychunkResult => ({ status, output: copychunkResponse(done, 0, written) })
  let sourceSize: number
  try { sourceSize = Number((await source.file.stat()).endOfFile) } catch (e) { return stop(ntStatusErrorFromErrno(e).status) }
  for (const c of chunks) {
    // A chunk that reads past the source's end copies nothing (smbtorture copy_chunk_src_exceed).
    if (c.src + c.len > sourceSize) return stop(NtStatus.INVALID_VIEW_SIZE)
    if (source.oplock !== undefined && locks.ioConflict(source.oplock, { off: BigInt(c.src), len: BigInt(c.len) }, false)) return stop(NtStatus.FILE_LOCK_CONFLICT)
    if (target.oplock !== undefined && locks.ioConflict(target.oplock, { off: BigInt(c.dst), len: BigInt(c.len) }, true)) return stop(NtStatus.FILE_LOCK_CONFLICT)
    let n: number
    try {
      // A stream's data is an xattr value (at most 64 KiB): from one into a file, through a buffer.
      n = asStream(source.file) !== undefined && asStream(target.file) === undefined
        ? await copyThroughBuffer(source.file, target.file, c.src, c.dst, c.len)
        : await target.file.copyFrom(source.file, c.src, c.dst, c.len)
    } catch (e) { return stop(ntStatusErrorFromErrno(e).status) }
    written += n
    if (n < c.len) return stop(NtStatus.INVALID_VIEW_SIZE) // the source shrank meanwhile
    done++
  }
  ctx.server.log.debug('vfs', `copychunk ${source.tree.shareName}/${source.path} -> ${target.tree.shareName}/${target.path}: ${done} chunks, ${written} bytes`)
  return { status: NtStatus.SUCCESS, output: copychunkResponse(done, 0, written) }
}

async function copyThroughBuffer (src: VfsFile, dst: VfsFile, srcPos: number, dstPos: number, len: number): Promise<number> {
  const buf = Buffer.alloc(len)
  const n = await src.read(buf, 0, len, srcPos)
  let done = 0
  while (done < n) done += await dst.write(buf, done, n - done, dstPos + done)
  return n
}
