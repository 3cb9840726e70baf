// Commands whose features are not built yet answer with an honest status, never a fake success.
import type { RequestContext, Reply } from '../context.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'

/** LOCK (MS-SMB2 3.3.5.14): byte-range locks arrive with the locking work. */
export async function lock (_ctx: RequestContext): Promise<Reply> {
  throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'byte-range locks are not implemented yet')
}

/** CHANGE_NOTIFY (MS-SMB2 3.3.5.19): change notification arrives with async operations. */
export async function changeNotify (_ctx: RequestContext): Promise<Reply> {
  throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'change notify is not implemented yet')
}
