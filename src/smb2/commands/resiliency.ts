// FSCTL_LMR_REQUEST_RESILIENCY (MS-SMB2 2.2.31.3 NETWORK_RESILIENCY_REQUEST, 3.3.5.15.9): the
// client asks that an open survive the loss of its connection for Timeout ms (a resilient
// handle). smbts keeps it as it keeps a durable open (teardown.ts disconnectOpen: share mode,
// locks and all, closed by the scavenger when nobody comes back), the client reconnects to it
// with DHnC (3.3.5.9.7), and its LOCKs get lock sequence replay (lock.ts, 3.3.5.14).
import { persistOpen } from '../../session/persistent.js'
import type { RequestContext } from '../context.js'
import { Dialect } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'

/** MS-SMB2 3.3.5.15.9 MaxResiliencyTimeout (implementation-defined): 5 minutes, the durable v2 ceiling too. */
export const MAX_RESILIENCY_TIMEOUT_MS = 300 * 1000
/** A Timeout of 0 leaves it to the server: 2 minutes (Windows' default). */
export const DEFAULT_RESILIENCY_TIMEOUT_MS = 120 * 1000

export function requestResiliency (ctx: RequestContext, input: Buffer): void {
  // Not offered below SMB 2.1, nor with `durable handles = no` (the same keeping of opens).
  if (ctx.conn.dialect < Dialect.SMB2_10 || !ctx.server.config.global.durableHandles) throw new NtStatusError(NtStatus.INVALID_DEVICE_REQUEST, 'resilient handles are not offered')
  const open = ctx.open
  if (open === undefined) throw new NtStatusError(NtStatus.FILE_CLOSED)
  if (open.pipe !== undefined || open.oplock === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'resiliency is for files and directories')
  if (input.length < 8) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `NETWORK_RESILIENCY_REQUEST of ${input.length} bytes`)
  const asked = input.readUInt32LE(0)
  if (asked > MAX_RESILIENCY_TIMEOUT_MS) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `resiliency Timeout ${asked} ms above ${MAX_RESILIENCY_TIMEOUT_MS}`)
  const timeoutMs = asked === 0 ? DEFAULT_RESILIENCY_TIMEOUT_MS : asked
  const session = ctx.session!
  open.lockSequences ??= new Map()
  if (open.durable !== undefined) {
    open.durable.timeoutMs = timeoutMs
    open.durable.resilient = true
    // A persistent open's record keeps its timeout.
    persistOpen(ctx.server, open)
  } else {
    open.durable = { version: 1, timeoutMs, clientGuid: Buffer.from(ctx.conn.clientGuid), user: session.user, domain: session.domain, resilient: true }
  }
  if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `resilient handle ${open.tree.shareName}/${open.path} fid=${open.fileId.persistent} timeout=${timeoutMs} ms`)
}
