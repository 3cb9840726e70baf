// CHANGE_NOTIFY (MS-SMB2 3.3.5.19): a directory open waits for changes in the directory (and
// below it with SMB2_WATCH_TREE). The state between requests and the wire format are in
// ../notify.ts; what counts as a change, and where it comes from, in ../../vfs/watch.ts.
import type { RequestContext, Reply } from '../context.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { DirectoryAccessMask } from '../../wire/constants.js'
import { NotifyState, SMB2_WATCH_TREE } from '../notify.js'
import { join } from 'node:path'

export async function changeNotify (ctx: RequestContext): Promise<Reply> {
  const { body, conn, server } = ctx
  const open = ctx.open!
  const flags = body.readUInt16LE(2)
  const outputLength = body.readUInt32LE(4)
  const filter = body.readUInt32LE(24)
  // MS-SMB2 3.3.5.19: more than the connection's MaxTransactSize is refused.
  if (outputLength > conn.maxTransactSize) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `CHANGE_NOTIFY: OutputBufferLength ${outputLength} > MaxTransactSize ${conn.maxTransactSize}`)
  if (!open.isDirectory || open.pipe !== undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'CHANGE_NOTIFY is for directories')
  if ((open.grantedAccess & DirectoryAccessMask.FILE_LIST_DIRECTORY) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'CHANGE_NOTIFY needs FILE_LIST_DIRECTORY')
  const recursive = (flags & SMB2_WATCH_TREE) !== 0
  const fs = open.tree.fs
  const name = `${open.tree.shareName}/${open.path}`
  const watcher = server.dirWatcher()
  // Every change made before this request (by this client's earlier requests above all) is kept first.
  watcher?.drain()
  let state = open.notify
  if (state === undefined) {
    const dir = fs !== undefined ? join(fs.root, open.path) : ''
    state = new NotifyState(watcher, dir, filter, recursive, outputLength, (e) => {
      server.log.warn(`change notify on ${name}: cannot watch ${dir}: ${e.message}`)
    }, (what) => { if (server.log.wants('vfs')) server.log.debug('vfs', `notify ${name}: ${what}`) })
    open.notify = state
  }
  const now = state.request(outputLength)
  if (now !== undefined) return now
  // MS-SMB2 3.3.5.2.7 lets a server process a chain's requests one after the other; Windows
  // cannot let one in the middle of a chain wait, and says so (smbtorture smb2.compound.interim2).
  if (ctx.lone !== true && ctx.hdr.nextCommand !== 0) throw new NtStatusError(NtStatus.INTERNAL_ERROR, 'CHANGE_NOTIFY cannot wait in the middle of a compound')
  const goAsync = ctx.goAsync
  if (goAsync === undefined) throw new NtStatusError(NtStatus.INTERNAL_ERROR, 'CHANGE_NOTIFY cannot wait here')
  if (server.log.wants('vfs')) server.log.debug('vfs', `notify ${name}: waiting (filter 0x${filter.toString(16)}${recursive ? ', tree' : ''})`)
  return await state.wait(outputLength, goAsync(), open.closeSignal)
}
