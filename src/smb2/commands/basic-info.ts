// What FileBasicInformation means for an Open (MS-FSA 2.1.5.15.2 set, 2.1.4.17 later changes):
// the handler side of times and DOS attributes. The backend stores them (VfsFile.setBasicInfo).
import { FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_SYSTEM, FILE_ATTRIBUTE_VALID_SET_FLAGS } from '../../wire/fscc/constants.js'
import { classifySetFiletime } from '../../wire/filetime.js'
import type { SetFileBasicInformation } from '../../wire/fscc/set-info.js'
import type { BasicInfoUpdate, Stat } from '../../vfs/backend.js'
import type { Open, UserSetTimes } from '../../session/model.js'

const TIME_FIELDS = ['creationTime', 'lastAccessTime', 'lastWriteTime', 'changeTime'] as const

/**
 * SET_INFO FileBasicInformation on an open file or directory (MS-FSA 2.1.5.15.2):
 * - a time of 0 leaves it alone; -1 keeps its current value for the rest of this handle's life
 *   (this handle's later writes do not move it); -2 lets it move again; any other value sets it
 *   and, like -1, holds it on this handle.
 * - FileAttributes 0 leaves the attributes alone; otherwise the ValidSetAttributes bits are
 *   replaced by the request's (FILE_ATTRIBUTE_NORMAL alone clears them all), and the share root
 *   keeps its HIDDEN and SYSTEM.
 * - whatever changed moves ChangeTime to now, unless this handle holds ChangeTime.
 */
export async function setBasicInformation (open: Open, v: SetFileBasicInformation): Promise<void> {
  // DIRECTORY on a file and TEMPORARY on a directory were refused by the decoder (it knew the kind).
  const file = open.file!
  const held = open.userSetTimes
  const u: BasicInfoUpdate = {}
  let changed = false
  let current: Stat | undefined
  for (const f of TIME_FIELDS) {
    switch (classifySetFiletime(v[f])) {
      case 'set':
        u[f] = v[f]
        held[f] = v[f]
        changed = true
        break
      case 'stop':
        current ??= await file.stat()
        held[f] = current[f]
        break
      case 'resume':
        delete held[f]
        break
      // 'unchanged': nothing; 'invalid' was refused by the decoder.
    }
  }
  if (v.fileAttributes !== 0) {
    let valid = FILE_ATTRIBUTE_VALID_SET_FLAGS
    if (open.path === '') valid &= ~(FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM)
    current ??= await file.stat()
    u.fileAttributes = ((current.fileAttributes & ~valid) | (v.fileAttributes & valid)) >>> 0
    changed = true
  }
  if (!changed) return // only -1/-2 (or nothing): no change to note on the file
  if (u.changeTime === undefined && held.changeTime !== undefined) u.changeTime = held.changeTime
  await file.setBasicInfo(u)
}

/**
 * After this handle modified the file (WRITE, end of file, allocation): put back the times it
 * holds, which the change just moved (MS-FSA 2.1.4.17 updates only times the Open has not set).
 * Nothing to do, and no I/O, for the usual handle that holds none.
 */
export async function keepUserSetTimes (open: Open): Promise<void> {
  const held: UserSetTimes = open.userSetTimes
  if (held.lastAccessTime === undefined && held.lastWriteTime === undefined && held.changeTime === undefined) return
  await open.file!.setBasicInfo({ lastAccessTime: held.lastAccessTime, lastWriteTime: held.lastWriteTime, changeTime: held.changeTime })
}
