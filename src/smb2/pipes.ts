// Named pipes on IPC$. The DCE/RPC services (srvsvc, wkssvc, lsarpc, samr) arrive with the
// control-plane work; until then opening a pipe answers as Windows does for an absent pipe.
import type { RequestContext, Reply } from './context.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'

export async function openPipe (ctx: RequestContext, name: string, _access: number): Promise<Reply> {
  ctx.server.log.debug('ipc', `pipe ${JSON.stringify(name)} requested: no RPC endpoint yet`)
  throw new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND, `pipe ${name} not available`)
}
