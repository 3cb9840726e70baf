// IOCTL (MS-SMB2 3.3.5.15): the FSCTLs smbts answers. Secure negotiate for 3.0/3.0.2 lives here.
import type { RequestContext, Reply } from '../context.js'
import { Capabilities, Dialect, Fsctl, IOCTL_IS_FSCTL } from '../../wire/constants.js'
import { NtStatusError, ProtocolError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { pipeTransceive } from '../pipes.js'
import { copychunk, requestResumeKey } from './copychunk.js'
import { queryAllocatedRanges, setSparse, setZeroData } from './sparse.js'
import { fileLevelTrim, getCompression, setCompression } from './fsctl-file.js'
import { duplicateExtents } from './dup-extents.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import { selectDialect } from './negotiate.js'
import { serverInterfaces } from './interface-info.js'
import { encodeNetworkInterfaceInfo } from './interface-info.wire.js'
import { deleteReparsePoint, getReparsePoint, setReparsePoint } from './reparse.js'
import { requestResiliency } from './resiliency.js'

const ALL_ONES = 0xffffffffffffffffn
const EMPTY = Buffer.alloc(0)

function ioctlResponse (ctx: RequestContext, ctlCode: number, output: Buffer): Reply {
  // MS-SMB2 2.2.32: fixed 48 bytes, then the output buffer at offset 64 + 48.
  const out = Buffer.alloc(48 + output.length)
  out.writeUInt16LE(49, 0)
  out.writeUInt32LE(ctlCode >>> 0, 4)
  // The FileId of the open it acted on (a related request's all-ones resolves to the real one).
  if (ctx.open !== undefined) {
    out.writeBigUInt64LE(ctx.open.fileId.persistent, 8)
    out.writeBigUInt64LE(ctx.open.fileId.volatile, 16)
  } else {
    ctx.body.copy(out, 8, 8, 24)
  }
  out.writeUInt32LE(112, 24) // InputOffset (no input echoed)
  out.writeUInt32LE(112, 32)
  out.writeUInt32LE(output.length, 36)
  output.copy(out, 48)
  return { body: out }
}

/** MS-SMB2 3.3.5.15.12: any mismatch with what NEGOTIATE saw ends the connection. */
function validateNegotiate (ctx: RequestContext, input: Buffer, maxOutput: number): Reply {
  const { conn } = ctx
  if (conn.dialect === Dialect.SMB3_11) throw new ProtocolError('VALIDATE_NEGOTIATE_INFO on 3.1.1')
  if (maxOutput < 24) throw new ProtocolError('VALIDATE_NEGOTIATE_INFO: MaxOutputResponse too small')
  if (input.length < 24) throw new ProtocolError('VALIDATE_NEGOTIATE_INFO: short input')
  const count = input.readUInt16LE(22)
  if (24 + count * 2 > input.length) throw new ProtocolError('VALIDATE_NEGOTIATE_INFO: dialects past the end')
  const dialects = Array.from({ length: count }, (_, i) => input.readUInt16LE(24 + i * 2))
  // The dialect NEGOTIATE would pick from this list (unknown values ignored, as there).
  const common = selectDialect(conn, dialects) ?? 0
  if (common !== conn.dialect ||
      input.readUInt32LE(0) !== conn.clientCapabilities ||
      !input.subarray(4, 20).equals(conn.clientGuid) ||
      input.readUInt16LE(20) !== conn.clientSecurityMode) {
    ctx.server.log.warn(`VALIDATE_NEGOTIATE_INFO mismatch from ${conn.io.remoteAddress}: possible downgrade, disconnecting`)
    throw new ProtocolError('VALIDATE_NEGOTIATE_INFO mismatch')
  }
  const out = Buffer.alloc(24)
  out.writeUInt32LE(conn.serverCapabilities >>> 0, 0)
  ctx.server.serverGuid.copy(out, 4)
  out.writeUInt16LE(conn.serverSecurityMode, 20)
  out.writeUInt16LE(conn.dialect, 22)
  return ioctlResponse(ctx, Fsctl.VALIDATE_NEGOTIATE_INFO, out)
}

/** MS-FSCC 2.1.3.1 FILE_OBJECTID_BUFFER, type 1: ObjectId, BirthVolumeId, BirthObjectId, DomainId. */
const FILE_OBJECTID_BUFFER_SIZE = 64

/**
 * MS-FSA 2.1.5.10.1 FSCTL_CREATE_OR_GET_OBJECT_ID. smbts stores no object ids; every file has an
 * implicit one, derived from what already identifies it uniquely on its volume (the inode number
 * and the volume serial), so "create" and "get" return the same stable value.
 */
async function createOrGetObjectId (ctx: RequestContext, maxOutput: number): Promise<Reply> {
  const open = ctx.open
  if (open === undefined || open.file === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'object id needs a file or directory open')
  if (maxOutput < FILE_OBJECTID_BUFFER_SIZE) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'output too small for FILE_OBJECTID_BUFFER')
  let ino: bigint
  let serial: number
  try {
    ino = (await open.file.stat()).indexNumber
    serial = (await open.tree.fs!.statfs()).volumeSerialNumber
  } catch (e) {
    throw ntStatusErrorFromErrno(e)
  }
  const out = Buffer.alloc(FILE_OBJECTID_BUFFER_SIZE)
  out.writeBigUInt64LE(ino, 0) // ObjectId: inode, then the volume serial
  out.writeUInt32LE(serial >>> 0, 8)
  out.writeUInt32LE(serial >>> 0, 16) // BirthVolumeId: the volume
  out.copy(out, 32, 0, 16) // BirthObjectId = ObjectId; DomainId stays zero
  return ioctlResponse(ctx, Fsctl.CREATE_OR_GET_OBJECT_ID, out)
}

/** MS-SMB2 3.3.5.15.11: the server's addresses, for a multichannel client. */
async function queryNetworkInterfaceInfo (ctx: RequestContext, input: Buffer, maxOutput: number): Promise<Reply> {
  const { conn } = ctx
  if (conn.dialect < Dialect.SMB3_00 || (conn.serverCapabilities & Capabilities.MULTI_CHANNEL) === 0) {
    throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'multichannel is not offered on this connection')
  }
  if (input.length !== 0) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FSCTL_QUERY_NETWORK_INTERFACE_INFO takes no input')
  const list = await serverInterfaces(ctx.server.config.global)
  const out = encodeNetworkInterfaceInfo(list)
  if (out.length > maxOutput) throw new NtStatusError(NtStatus.BUFFER_TOO_SMALL, `${list.length} interfaces need ${out.length} bytes, MaxOutputResponse is ${maxOutput}`)
  if (list.length === 0) ctx.server.log.warn('FSCTL_QUERY_NETWORK_INTERFACE_INFO: no address to list (check `interfaces`)')
  return ioctlResponse(ctx, Fsctl.QUERY_NETWORK_INTERFACE_INFO, out)
}

/**
 * The FSCTLs that act and answer with no output: each takes the request's input and either does
 * what it asks or throws its NTSTATUS.
 */
const ACTIONS: ReadonlyMap<number, (ctx: RequestContext, input: Buffer) => void | Promise<void>> = new Map([
  [Fsctl.LMR_REQUEST_RESILIENCY, requestResiliency],
  [Fsctl.SET_SPARSE, setSparse],
  [Fsctl.SET_ZERO_DATA, setZeroData],
  [Fsctl.SET_COMPRESSION, setCompression],
  [Fsctl.DUPLICATE_EXTENTS_TO_FILE, duplicateExtents],
  [Fsctl.SET_REPARSE_POINT, setReparsePoint],
  [Fsctl.DELETE_REPARSE_POINT, deleteReparsePoint],
])

/** An answer whose status may be a warning (BUFFER_OVERFLOW) or an error that still carries output. */
function withStatus (ctx: RequestContext, ctlCode: number, r: { output: Buffer, status: number }): Reply {
  return { ...ioctlResponse(ctx, ctlCode, r.output), status: r.status }
}

export async function ioctl (ctx: RequestContext): Promise<Reply> {
  const { body, msg } = ctx
  const ctlCode = body.readUInt32LE(4)
  const inputOffset = body.readUInt32LE(24)
  const inputCount = body.readUInt32LE(28)
  const maxOutput = body.readUInt32LE(44)
  const flags = body.readUInt32LE(48)
  if (inputCount > 0 && (inputOffset < 64 + 56 || inputOffset + inputCount > msg.length)) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'IOCTL input outside the message')
  const input = msg.subarray(inputOffset, inputOffset + inputCount)
  if (flags !== IOCTL_IS_FSCTL) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'device IOCTLs')
  const fileIdAllOnes = body.readBigUInt64LE(8) === ALL_ONES && body.readBigUInt64LE(16) === ALL_ONES
  const action = ACTIONS.get(ctlCode)
  if (action !== undefined) {
    await action(ctx, input)
    return ioctlResponse(ctx, ctlCode, EMPTY)
  }

  switch (ctlCode) {
    case Fsctl.VALIDATE_NEGOTIATE_INFO:
      if (!fileIdAllOnes) throw new NtStatusError(NtStatus.INVALID_PARAMETER)
      return validateNegotiate(ctx, input, maxOutput)
    case Fsctl.DFS_GET_REFERRALS:
    case Fsctl.DFS_GET_REFERRALS_EX:
      // No DFS namespaces are served (the server does not advertise CAP_DFS).
      throw new NtStatusError(NtStatus.FS_DRIVER_REQUIRED)
    case Fsctl.CREATE_OR_GET_OBJECT_ID:
      return await createOrGetObjectId(ctx, maxOutput)
    case Fsctl.PIPE_TRANSCEIVE: {
      const r = await pipeTransceive(ctx, input, maxOutput)
      return withStatus(ctx, ctlCode, { output: r.data, status: r.status })
    }
    case Fsctl.SRV_REQUEST_RESUME_KEY:
      return ioctlResponse(ctx, ctlCode, requestResumeKey(ctx, maxOutput))
    case Fsctl.SRV_COPYCHUNK:
    case Fsctl.SRV_COPYCHUNK_WRITE:
      return withStatus(ctx, ctlCode, await copychunk(ctx, input, maxOutput, ctlCode === Fsctl.SRV_COPYCHUNK_WRITE))
    case Fsctl.QUERY_ALLOCATED_RANGES:
      return withStatus(ctx, ctlCode, await queryAllocatedRanges(ctx, input, maxOutput))
    case Fsctl.GET_COMPRESSION:
      return ioctlResponse(ctx, ctlCode, getCompression(ctx, maxOutput))
    case Fsctl.FILE_LEVEL_TRIM:
      return ioctlResponse(ctx, ctlCode, await fileLevelTrim(ctx, input, maxOutput))
    case Fsctl.IS_VOLUME_DIRTY:
      // MS-FSCC 2.3.31 over SMB (as Samba answers): not something a remote client may ask.
      throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'FSCTL_IS_VOLUME_DIRTY')
    case Fsctl.GET_REPARSE_POINT:
      return withStatus(ctx, ctlCode, await getReparsePoint(ctx, maxOutput))
    case Fsctl.QUERY_NETWORK_INTERFACE_INFO:
      return await queryNetworkInterfaceInfo(ctx, input, maxOutput)
    default:
      if (ctx.open === undefined && !fileIdAllOnes) throw new NtStatusError(NtStatus.FILE_CLOSED)
      throw new NtStatusError(NtStatus.INVALID_DEVICE_REQUEST, `FSCTL 0x${ctlCode.toString(16)}`)
  }
}
