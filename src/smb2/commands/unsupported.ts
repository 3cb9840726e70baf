// Commands whose features are not built yet answer with an honest status, never a fake success.
import type { RequestContext, Reply } from '../context.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'

/** CHANGE_NOTIFY (MS-SMB2 3.3.5.19): change notification arrives with async operations. */
export async function changeNotify (_ctx: RequestContext): Promise<Reply> {
  throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'change notify is not implemented yet')
}
