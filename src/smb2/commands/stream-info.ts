// The stream side of QUERY_INFO and SET_INFO (MS-FSCC 2.4.43 FileStreamInformation, MS-FSA
// 2.1.5.15.11.1 stream rename); the layout and the stream opens themselves are src/vfs/streams.ts.
import type { RequestContext } from '../context.js'
import { AccessMask, DirectoryAccessMask, ShareAccess } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import type { StreamInfo } from '../../wire/fscc/file-info.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import type { Open } from '../../session/model.js'
import { smbPathWithStream } from '../path.js'
import { caseInsensitive } from '../names.js'
import { parentOf, type Stat, type VfsFile } from '../../vfs/backend.js'
import { asStream, findStream, listStreams, removeStream, renameStream, splitStreamName, streamKey, type StreamFile } from '../../vfs/streams.js'
import { fileKey } from '../../locking/share-modes.js'
import type { Owner } from '../../locking/store.js'
import type { ServerState } from '../../session/server-state.js'
import { persistOpen } from '../../session/persistent.js'

/**
 * FileStreamInformation (MS-FSCC 2.4.43) of the file an open is of (the file itself or one of its
 * streams): `::$DATA` with the file's size (a directory has none), then each named stream.
 */
export async function streamInfos (open: Open, st: Stat): Promise<StreamInfo[]> {
  const stream = asStream(open.file)
  const base = stream?.base ?? open.file!
  const baseSt = stream !== undefined ? await base.stat() : st
  const out: StreamInfo[] = baseSt.isDirectory ? [] : [{ name: '::$DATA', size: baseSt.endOfFile, allocationSize: baseSt.allocationSize }]
  for (const s of await listStreams(base)) {
    const size = BigInt(s.size)
    out.push({ name: `:${s.name}:$DATA`, size, allocationSize: (size + 4095n) & ~4095n })
  }
  return out
}

/**
 * FileRenameInformation on an open of a named stream (MS-FSA 2.1.5.15.11): the new name is
 * `:name[:$DATA]`, or the same file's path with a stream part. The stream's value moves to the new
 * xattr (streams.ts renameStream); an existing target is OBJECT_NAME_COLLISION unless
 * ReplaceIfExists. A target that is not a stream is INVALID_PARAMETER (Samba: rename_internals_fsp).
 */
export async function renameOpenStream (ctx: RequestContext, open: Open, fileName: string, replace: boolean): Promise<void> {
  const tree = open.tree
  const stream = asStream(open.file)!
  let target: string | undefined
  if (fileName.startsWith(':')) {
    target = splitStreamName(fileName).stream
  } else {
    const to = smbPathWithStream(fileName)
    // As for a rename of a file: the target's directory is opened for adding an entry, which an
    // open of it with DELETE access that does not share delete refuses (smb2.streams.rename2).
    const parent = await tree.fs!.stat(parentOf(to.rel))
    ctx.server.locks.check(fileKey(tree.shareName, parent.indexNumber), {
      access: DirectoryAccessMask.FILE_ADD_FILE,
      shareAccess: ShareAccess.READ | ShareAccess.WRITE,
    })
    if (to.stream === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'rename of a stream to a file name')
    const same = caseInsensitive(tree.share) ? to.rel.toLowerCase() === open.path.toLowerCase() : to.rel === open.path
    if (!same) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'rename of a stream to another file\'s stream')
    target = to.stream
  }
  if (target === undefined || target === '') {
    await renameStreamOntoFile(ctx, open, stream, replace)
    return
  }
  // MS-FSA 2.1.5.15.11.1: an existing target is replaced only when asked, and only when empty.
  const existing = await findStream(stream.base, target)
  if (existing !== undefined && existing.xattr !== stream.xattr) {
    if (!replace) throw new NtStatusError(NtStatus.OBJECT_NAME_COLLISION, `stream ${target} exists`)
    const size = (await listStreams(stream.base)).find(s => s.xattr === existing.xattr)?.size ?? 0
    if (size > 0) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `stream ${target} is not empty`)
  }
  // The stream's record in the locking store moves to the new name's (store.ts moveRecord): its
  // opens' share modes, oplocks, leases and byte-range locks with it. Moved first, so a conflict
  // there stops the rename before anything changed; moved back if the rename then fails.
  const locks = ctx.server.locks
  const oldKey = open.shareModeKey
  const newKey = open.baseOpen !== undefined ? streamKey(open.baseOpen.key, target) : undefined
  let moved: Owner[] = []
  if (oldKey !== undefined && newKey !== undefined && newKey !== oldKey) {
    // As onto an open file (query-info.ts checkReplacedTarget): an open stream is not replaced.
    if (locks.openCount(newKey) > 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, `rename onto stream ${target}, which is open`)
    moved = locks.moveRecord(oldKey, newKey)
  }
  let xattr: string
  try {
    xattr = await renameStream(stream.base, stream.xattr, target, replace)
  } catch (e) {
    if (moved.length > 0) locks.moveRecord(newKey!, oldKey!, moved)
    throw ntStatusErrorFromErrno(e, 'rename', `${open.path}:${stream.name} -> :${target}`)
  }
  if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `renamed stream ${tree.shareName}/${open.path}:${stream.name} -> :${target}`)
  followStreamRename(ctx.server, open, oldKey, moved.length > 0 ? newKey : undefined, xattr, target)
}

/**
 * Every open of this process of the renamed stream (the renamer's, the others', the durable ones
 * waiting for their clients) goes on under the new name: its xattr, its name, and, when the
 * stream's record moved, its key in the locking store. A persistent one's record is rewritten
 * (the renamer's by the caller, after this).
 */
function followStreamRename (server: ServerState, by: Open, oldKey: string | undefined, newKey: string | undefined, xattr: string, name: string): void {
  const follow = (o: Open): void => {
    if (o !== by && (oldKey === undefined || o.shareModeKey !== oldKey)) return
    if (newKey !== undefined) {
      if (o.oplock !== undefined && o.oplock.key === oldKey) o.oplock = server.locks.movedTo(o.oplock, newKey)
      o.shareModeKey = newKey
    }
    const s = asStream(o.file)
    if (s !== undefined) { s.xattr = xattr; s.name = name }
    o.stream = name
    if (o !== by && o.durable?.persistent === true) persistOpen(server, o)
  }
  for (const s of server.sessions.values()) for (const o of s.opens.values()) follow(o)
  for (const o of server.durable.parkedOpens()) follow(o)
}

/**
 * A stream renamed onto the file's unnamed stream (`::$DATA`, MS-FSA 2.1.5.15.11.1): only with
 * ReplaceIfExists, only onto an empty file (not a directory, which has no unnamed stream). The
 * stream's data becomes the file's and the stream is removed; as on NTFS, where the stream itself
 * becomes the file's default stream, every open of it goes on as an open of the file: its share
 * mode, oplock or lease and byte-range locks move from the stream's record to the file's
 * (store.ts moveRecord), and it reads and writes the file (smbtorture smb2.streams.rename2).
 *
 * Refused with ACCESS_DENIED while the unnamed stream is open itself, as a rename onto an open
 * named stream is (above): the file's record then holds only the entries a stream's open leaves
 * on its file (asking no access, holding no oplock), so what moves there meets no oplock or lock
 * of another open. moveRecord refuses (SHARING_VIOLATION) when another worker has the stream open
 * or a break or close of it is under way, before anything changed.
 */
async function renameStreamOntoFile (ctx: RequestContext, open: Open, stream: StreamFile, replace: boolean): Promise<void> {
  const tree = open.tree
  const server = ctx.server
  const locks = server.locks
  if (!replace) throw new NtStatusError(NtStatus.OBJECT_NAME_COLLISION, 'the unnamed stream exists')
  const st = await stream.base.stat()
  if (st.isDirectory) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'a directory has no unnamed stream')
  if (st.endOfFile !== 0n) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'the unnamed stream is not empty')
  const oldKey = open.shareModeKey
  const newKey = open.baseOpen?.key ?? fileKey(tree.shareName, st.indexNumber)
  if (locks.accessOpenCount(newKey) > 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'rename onto the unnamed stream, which is open')
  const size = Number((await stream.stat()).endOfFile)
  const data = Buffer.alloc(size)
  const n = await stream.read(data, 0, size, 0)

  // The stream's opens of this process: the renamer's and the others' (those waiting for their
  // clients too), each with the stream's record entry it holds.
  const followers: Open[] = []
  const add = (o: Open): void => {
    if (o === open || (oldKey !== undefined && o.shareModeKey === oldKey && asStream(o.file) !== undefined)) followers.push(o)
  }
  for (const s of server.sessions.values()) for (const o of s.opens.values()) add(o)
  for (const o of server.durable.parkedOpens()) add(o)

  const moved = oldKey !== undefined ? locks.moveRecord(oldKey, newKey) : []
  const undo = (): void => { if (moved.length > 0) locks.moveRecord(newKey, oldKey!, moved) }
  // Each open gets its own descriptor of the file, writable when its access writes.
  const files: VfsFile[] = []
  try {
    const writer = await tree.fs!.open(open.path, { write: true })
    try {
      let done = 0
      while (done < n) done += await writer.write(data, done, n - done, done)
    } finally {
      await writer.close().catch(() => {})
    }
    for (const o of followers) {
      files.push(await tree.fs!.open(open.path, { write: (o.grantedAccess & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA)) !== 0 }))
    }
    await removeStream(stream.base, stream.xattr)
  } catch (e) {
    for (const f of files) await f.close().catch(() => {})
    undo()
    throw ntStatusErrorFromErrno(e, undefined, open.path)
  }
  if (server.log.wants('vfs')) server.log.debug('vfs', `renamed stream ${tree.shareName}/${open.path}:${stream.name} onto the file's unnamed stream`)
  for (const [i, o] of followers.entries()) {
    // Its entry on the file's record as an open of a stream goes: it is the file's open now.
    const shadow = o.baseOpen
    if (shadow !== undefined) { locks.beginClose(shadow, false); locks.closed(shadow) }
    o.baseOpen = undefined
    if (o.oplock !== undefined && o.oplock.key === oldKey) o.oplock = locks.movedTo(o.oplock, newKey)
    o.shareModeKey = newKey
    const old = o.file
    o.file = files[i]
    o.stream = undefined
    if (old !== undefined && old !== stream) await old.close().catch(() => {})
    if (o !== open && o.durable?.persistent === true) persistOpen(server, o)
  }
  await stream.close().catch(() => {})
}
