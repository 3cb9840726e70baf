// READ (MS-SMB2 3.3.5.12), WRITE (3.3.5.13), FLUSH (3.3.5.11), CLOSE (3.3.5.10), ECHO (3.3.5.17).
// READ data goes out as its own chunk; WRITE data is a slice of the received frame (no copies).
import type { RequestContext, Reply } from '../context.js'
import { AccessMask, CLOSE_FLAG_POSTQUERY_ATTRIB, WRITEFLAG_WRITE_THROUGH, CreateOptions } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { canLinkRead, errorBody } from '../send.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import { closeOpen } from '../../session/teardown.js'
import { pipeRead, pipeWrite } from '../pipes.js'
import { keepUserSetTimes } from './basic-info.js'
import { zeroed } from '../../wire/buffers.js'

/** MS-SMB2 3.3.5.2.5: a multi-credit request must be charged for its size. */
function checkCharge (ctx: RequestContext, bytes: number): void {
  if (!ctx.conn.supportsMultiCredit) return
  const needed = Math.floor((Math.max(bytes, 1) - 1) / 65536) + 1
  if (Math.max(ctx.hdr.creditCharge, 1) < needed) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `CreditCharge ${ctx.hdr.creditCharge} too small for ${bytes} bytes`)
}

const MAX_OFFSET = 2n ** 63n - 1n

export async function read (ctx: RequestContext): Promise<Reply> {
  const { body, conn } = ctx
  const open = ctx.open!
  const length = body.readUInt32LE(4)
  const offset = body.readBigUInt64LE(8)
  const minimumCount = body.readUInt32LE(32)
  if (length > conn.maxReadSize) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `READ of ${length} > MaxReadSize`)
  checkCharge(ctx, length)
  if (open.pipe !== undefined) return pipeRead(open, length)
  if (open.isDirectory) throw new NtStatusError(NtStatus.INVALID_DEVICE_REQUEST)
  if ((open.grantedAccess & (AccessMask.FILE_READ_DATA | AccessMask.FILE_EXECUTE)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED)
  if (offset > MAX_OFFSET) throw new NtStatusError(NtStatus.INVALID_PARAMETER)
  if (open.oplock !== undefined && ctx.server.locks.ioConflict(open.oplock, { off: offset, len: BigInt(length) }, false)) throw new NtStatusError(NtStatus.FILE_LOCK_CONFLICT)
  // The data goes out as the buffer the file filled (a pooled one, back to the pool once sent).
  const loan = ctx.server.readBuffers.take(length)
  const data = loan.buf.subarray(0, length)
  const position = Number(offset)
  // The response for what the file gave: n bytes, or an error. Owns the loan from here.
  let failure: NtStatusError | undefined
  const finish = (result: number | Error): Reply => {
    if (result instanceof Error || (result === 0 && length > 0) || result < minimumCount) {
      loan.release()
      failure = result instanceof Error ? ntStatusErrorFromErrno(result) : new NtStatusError(NtStatus.END_OF_FILE)
      return { status: failure.status, body: errorBody() }
    }
    if (result === 0) { loan.release(); return { body: readResponse(0) } }
    if (lent === undefined) ctx.server.stats.bytesRead += result
    return { body: readResponse(result), payload: data.subarray(0, result), release: loan.release }
  }
  const readHere = async (): Promise<Reply> => {
    let n = 0
    try {
      while (n < length) {
        const got = await open.file!.read(data, n, length - n, position + n, loan.fixed)
        if (got === 0) break
        n += got
      }
    } catch (e) { return finish(e as Error) }
    return finish(n)
  }
  // Unsigned and unencrypted, alone in its PDU, on the ring: the transport reads the data and
  // sends it in one kernel chain (no return to JS between the read and the send). The response
  // assumes the whole length; a short or failed read is answered from `finish` instead.
  // (A MinimumCount above the length can never be met: no link, the read answers END_OF_FILE.)
  const lent = length > 0 && minimumCount <= length && canLinkRead(ctx) ? open.file!.lendFd?.() : undefined
  if (lent !== undefined) {
    // counted as asked for: a short linked read is rare and answered by `finish`
    ctx.server.stats.bytesRead += length
    return {
      body: readResponse(length),
      payload: data,
      release: loan.release,
      linkedRead: {
        fd: lent.fd,
        position,
        bufIndex: loan.fixed,
        readDone: lent.giveBack,
        finish,
        readHere: async () => { try { return await readHere() } finally { lent.giveBack() } },
        readAgain: readHere,
        splice: open.tree.share?.useSendfile !== false,
      },
    }
  }
  const reply = await readHere()
  if (failure !== undefined) throw failure
  return reply
}

/** MS-SMB2 2.2.20: StructureSize 17, DataOffset 0x50, DataLength, DataRemaining. */
function readResponse (n: number): Buffer {
  const out = zeroed(16)
  out.writeUInt16LE(17, 0)
  out[2] = 0x50
  out.writeUInt32LE(n, 4)
  return out
}

export async function write (ctx: RequestContext): Promise<Reply> {
  const { body, msg, conn } = ctx
  const open = ctx.open!
  const dataOffset = body.readUInt16LE(2)
  const length = body.readUInt32LE(4)
  const offset = body.readBigUInt64LE(8)
  const flags = body.readUInt32LE(44)
  if (length > conn.maxWriteSize) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `WRITE of ${length} > MaxWriteSize`)
  checkCharge(ctx, length)
  if (length > 0 && (dataOffset < 64 + 48 || dataOffset + length > msg.length)) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'WRITE data outside the message')
  if (open.pipe !== undefined) return await pipeWrite(open, msg.subarray(dataOffset, dataOffset + length))
  if (open.isDirectory) throw new NtStatusError(NtStatus.INVALID_DEVICE_REQUEST)
  if ((open.grantedAccess & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED)
  if (offset > MAX_OFFSET || offset + BigInt(length) > MAX_OFFSET) throw new NtStatusError(NtStatus.INVALID_PARAMETER)
  // MS-FSA 2.1.5.3: inside another open's exclusive lock, or any shared lock (its own included), no write.
  if (open.oplock !== undefined && ctx.server.locks.ioConflict(open.oplock, { off: offset, len: BigInt(length) }, true)) throw new NtStatusError(NtStatus.FILE_LOCK_CONFLICT)
  // MS-FSA 2.1.4.12 (WRITE): every level II oplock on the file breaks to none, the writer's own
  // included (smbtorture smb2.oplock.batch1/batch6); no acknowledgment, so no wait.
  if (open.shareModeKey !== undefined) ctx.server.locks.breakLevelII(open.shareModeKey, open.oplock)
  // Its directory's leases break when this open closes (smbtorture smb2.lease.v2_request).
  open.modified = true
  let n = 0
  try {
    if (length > 0) n = await open.file!.write(msg, dataOffset, length, Number(offset))
    if (n > 0) await keepUserSetTimes(open)
    if ((flags & WRITEFLAG_WRITE_THROUGH) !== 0 || (open.createOptions & CreateOptions.WRITE_THROUGH) !== 0) await open.file!.sync(true)
  } catch (e) { throw ntStatusErrorFromErrno(e) }
  ctx.server.stats.bytesWritten += n
  // MS-SMB2 2.2.22: StructureSize 17, Reserved, Count, Remaining, WriteChannelInfo.
  const out = zeroed(16)
  out.writeUInt16LE(17, 0)
  out.writeUInt32LE(n, 4)
  return { body: out }
}

export async function flush (ctx: RequestContext): Promise<Reply> {
  const open = ctx.open!
  if ((open.grantedAccess & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED)
  try { await open.file?.sync(false) } catch (e) { throw ntStatusErrorFromErrno(e) }
  const out = zeroed(4)
  out.writeUInt16LE(4, 0)
  return { body: out }
}

export async function close (ctx: RequestContext): Promise<Reply> {
  const open = ctx.open!
  const flags = ctx.body.readUInt16LE(2)
  const out = zeroed(60)
  out.writeUInt16LE(60, 0)
  if ((flags & CLOSE_FLAG_POSTQUERY_ATTRIB) !== 0 && open.file !== undefined) {
    try {
      const st = await open.file.stat()
      out.writeUInt16LE(CLOSE_FLAG_POSTQUERY_ATTRIB, 2)
      out.writeBigUInt64LE(st.creationTime, 8)
      out.writeBigUInt64LE(st.lastAccessTime, 16)
      out.writeBigUInt64LE(st.lastWriteTime, 24)
      out.writeBigUInt64LE(st.changeTime, 32)
      out.writeBigUInt64LE(st.allocationSize, 40)
      out.writeBigUInt64LE(st.endOfFile, 48)
      out.writeUInt32LE(st.fileAttributes >>> 0, 56)
    } catch { /* attributes are best effort; the close itself succeeds */ }
  }
  await closeOpen(ctx.server, open)
  if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `close ${open.tree.shareName}/${open.path} fid=${open.fileId.volatile}`)
  return { body: out }
}

export async function echo (_ctx: RequestContext): Promise<Reply> {
  const out = zeroed(4)
  out.writeUInt16LE(4, 0)
  return { body: out }
}
