// Directory leases (MS-SMB2 3.3.5.9.11, 3.3.4.7): a change inside a directory — a file created,
// overwritten, written and closed, deleted, renamed in or out — breaks the leases on the
// directory, except the changer's parent lease (the ParentLeaseKey its open named). The lease
// state is in the locking store (every worker's changes break every worker's leases); this is
// where the SMB layer says which directory changed.
import type { ServerState } from './server-state.js'
import type { TreeConnect } from './model.js'
import { parentOf } from '../vfs/backend.js'
import { fileKey } from '../locking/share-modes.js'

/**
 * `rel` (share-relative) changed: the leases of the directory it is in go to none, but the one
 * `except` names. Costs one read of a count record while no directory lease exists anywhere.
 */
export async function breakParentLeases (server: ServerState, tree: TreeConnect, rel: string, except?: string): Promise<void> {
  if (tree.fs === undefined || !server.locks.dirLeases()) return
  let st
  try {
    st = await tree.fs.stat(parentOf(rel))
  } catch {
    return // the directory went meanwhile: its leases with it
  }
  if (server.log.wants('oplock')) server.log.debug('oplock', `${tree.shareName}/${rel} changed: breaking the leases of its directory`)
  server.locks.breakDirLeases(fileKey(tree.shareName, st.indexNumber), except)
}
