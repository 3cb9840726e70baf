// SET_INFO FileLinkInformation (MS-FSCC 2.4.27, MS-FSA 2.1.5.15.6): a hard link, a second name
// for the open's file, made by the kernel (link(2) beneath the share, vfs ShareFs.link). What
// smbclient's `hardlink` and the Linux client's `ln` send.
import type { RequestContext } from '../context.js'
import type { Open } from '../../session/model.js'
import type { SetFileRenameInformation } from '../../wire/fscc/set-info.js'
import { AccessMask, DirectoryAccessMask, ShareAccess } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import { baseOf, parentOf } from '../../vfs/backend.js'
import { fileKey } from '../../locking/share-modes.js'
import { smbPathToRelative } from '../path.js'
import { posixPathToRelative } from '../posix.js'
import { caseInsensitive, lookupIgnoringCase, newNameSpelling, withLast } from '../names.js'
import { checkParentForCreate } from '../file-security.js'
import { breakParentLeases } from '../../session/dir-leases.js'

/**
 * Where the new name goes: as given when it exists so or the share is case-sensitive (or the open
 * is a POSIX one); else the stored spelling of the directories and of a name that exists under
 * another case, so a replacing link meets the file it replaces instead of adding a second name.
 */
async function linkTarget (open: Open, asGiven: string): Promise<string> {
  const tree = open.tree
  const fs = tree.fs!
  const share = tree.share
  try {
    await fs.stat(asGiven)
    return asGiven
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ntStatusErrorFromErrno(e, 'parent', asGiven)
  }
  if (open.posix || !caseInsensitive(share)) {
    // MS-FSA 2.1.5.15.6: the new name's directory must exist.
    const dir = parentOf(asGiven)
    if (dir !== '') {
      try {
        if (!(await fs.stat(dir)).isDirectory) throw new NtStatusError(NtStatus.OBJECT_PATH_NOT_FOUND)
      } catch (e) { throw ntStatusErrorFromErrno(e, 'parent', asGiven) }
    }
    return open.posix ? asGiven : withLast(asGiven, newNameSpelling(share, baseOf(asGiven)))
  }
  const r = await lookupIgnoringCase(fs, share, asGiven)
  if (!r.parentExists) throw new NtStatusError(NtStatus.OBJECT_PATH_NOT_FOUND, `${asGiven}: no such directory`)
  return r.exists ? r.path : withLast(r.path, newNameSpelling(share, baseOf(asGiven)))
}

/**
 * MS-FSA 2.1.5.15.6: a directory has no hard links (STATUS_FILE_IS_A_DIRECTORY), nor a stream
 * (INVALID_PARAMETER); an existing name is a collision unless ReplaceIfExists, and then it must be
 * a file nobody has open (ACCESS_DENIED otherwise, as for a rename). The name is added to its
 * directory as a rename adds one: the directory's share mode and DACL must allow adding a file.
 */
export async function setLinkInformation (ctx: RequestContext, open: Open, v: SetFileRenameInformation): Promise<void> {
  const { server } = ctx
  const tree = open.tree
  const fs = tree.fs!
  if (open.isDirectory) throw new NtStatusError(NtStatus.FILE_IS_A_DIRECTORY, 'a hard link to a directory')
  if (open.stream !== undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'a hard link to a stream')
  if ((tree.maximalAccess & AccessMask.FILE_WRITE_DATA) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'hard link on a read-only share')
  if (fs.link === undefined) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'this share\'s storage has no hard links')
  // A stream name (`x:s`) is no file name: smbPathToRelative refuses it (OBJECT_NAME_INVALID).
  const asGiven = open.posix ? posixPathToRelative(v.fileName) : smbPathToRelative(v.fileName)
  if (asGiven === '') throw new NtStatusError(NtStatus.ACCESS_DENIED, 'a hard link named as the share root')
  const target = await linkTarget(open, asGiven)
  const self = await open.file!.stat()
  let existing
  try { existing = await fs.stat(target) } catch { existing = undefined }
  if (existing !== undefined) {
    // The same file under that name already: nothing to do (MS-FSA: TargetExistsSameFile).
    if (existing.indexNumber === self.indexNumber && !existing.isDirectory) return
    if (!v.replaceIfExists) throw new NtStatusError(NtStatus.OBJECT_NAME_COLLISION, `${target} exists`)
    if (existing.isDirectory) throw new NtStatusError(NtStatus.ACCESS_DENIED, `${target} is a directory`)
    if (server.locks.openCount(fileKey(tree.shareName, existing.indexNumber)) > 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, `${target} is open`)
  }
  const parent = await fs.stat(parentOf(target))
  server.locks.check(fileKey(tree.shareName, parent.indexNumber), { access: DirectoryAccessMask.FILE_ADD_FILE, shareAccess: ShareAccess.READ | ShareAccess.WRITE })
  await checkParentForCreate(ctx, target, false)
  try {
    await fs.link(open.path, target, v.replaceIfExists)
  } catch (e) { throw ntStatusErrorFromErrno(e, 'rename', `${open.path} -> ${target}`) }
  if (server.log.wants('vfs')) server.log.debug('vfs', `hard link ${tree.shareName}/${target} -> ${open.path}`)
  await breakParentLeases(server, tree, target, open.parentLeaseId)
}
