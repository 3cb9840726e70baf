// QUERY_INFO (MS-SMB2 3.3.5.20) and SET_INFO (3.3.5.21). The FSCC codecs live in src/wire/fscc;
// here is only what each class means for an Open.
import type { RequestContext, Reply } from '../context.js'
import { field } from '../context.js'
import { AccessMask, Dialect, DirectoryAccessMask, InfoType, ShareAccess } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { FileInformationClass as C, FsInformationClass, FILE_ATTRIBUTE_READONLY, FILE_NAMED_STREAMS, FILE_SUPPORTS_EXTENDED_ATTRIBUTES } from '../../wire/fscc/constants.js'
import { keepUserSetTimes, setBasicInformation } from './basic-info.js'
import { queryFileInfo, type StreamInfo } from '../../wire/fscc/file-info.js'
import { queryFsInfo } from '../../wire/fscc/fs-info.js'
import { decodeSetFileInfo } from '../../wire/fscc/set-info.js'
import { querySecurityInfo, setSecurityInfo, type SecurityNames } from './security-info.js'
import { checkParentForCreate } from '../file-security.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import type { Open } from '../../session/model.js'
import { smbPathToRelative } from '../path.js'
import { caseInsensitive, lookupIgnoringCase, newNameSpelling, withLast } from '../names.js'
import { baseOf, parentOf } from '../../vfs/backend.js'
import { streamKey, streamXattrs } from '../../vfs/streams.js'
import { pipeQueryInfo } from '../pipes.js'
import { renameOpenStream, streamInfos } from './stream-info.js'
import { fileKey } from '../../locking/share-modes.js'
import { zeroed } from '../../wire/buffers.js'
import { shortName } from '../../vfs/short-name.js'
import { upcaseName } from '../../vfs/case-fold.js'
import { breakParentLeases } from '../../session/dir-leases.js'
import { openEaSize, queryFullEa, setFullEa } from './ea-info.js'
import { ntHash } from '../../crypto/md4.js'
import { FILE_SUPPORTS_BLOCK_REFCOUNTING } from './dup-extents.js'
import { posixChmodOf, posixPathToRelative, queryPosixInformation } from '../posix.js'
import { setLinkInformation } from './link-info.js'
import { persistOpen } from '../../session/persistent.js'
import { followRename, hasOpenBelow } from '../../session/follow-rename.js'
import { FILE_POSIX_INFORMATION, posixReparseTag } from '../../wire/fscc/posix-info.js'

function infoResponse (status: number, data: Buffer): Reply {
  // MS-SMB2 2.2.38: StructureSize 9, OutputBufferOffset (64 + 8), OutputBufferLength, Buffer.
  const out = zeroed(8 + Math.max(data.length, 1))
  out.writeUInt16LE(9, 0)
  out.writeUInt16LE(72, 2)
  out.writeUInt32LE(data.length, 4)
  data.copy(out, 8)
  return { status, body: data.length > 0 ? out : out.subarray(0, 9) }
}

/**
 * Where a rename to `asGiven` goes (MS-FSA 2.1.5.15.11). The exact spelling first (one stat); on a
 * case-insensitive share a miss is looked up ignoring case:
 * - the open's own file under another spelling (TargetExistsSameFile): a case-only rename to the
 *   client's spelling (`a.txt` → `A.txt`, which Windows allows);
 * - another file: the stored spelling is the target, so ReplaceIfExists FALSE meets it
 *   (RENAME_NOREPLACE → OBJECT_NAME_COLLISION) and TRUE replaces it rather than making a second
 *   name beside it; `respell` is then the client's spelling for the replacing file;
 * - nothing: the stored spelling of the directories and the new name as `preserve case` says.
 */
async function renameTarget (open: Open, asGiven: string): Promise<{ target: string, respell?: string }> {
  const tree = open.tree
  const fs = tree.fs!
  const share = tree.share
  const given = newNameSpelling(share, baseOf(asGiven))
  if (asGiven === open.path) return { target: asGiven }
  try {
    await fs.stat(asGiven)
    return { target: asGiven }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !caseInsensitive(share) || open.posix) return { target: open.posix ? asGiven : withLast(asGiven, given) }
  }
  const r = await lookupIgnoringCase(fs, share, asGiven)
  // MS-FSA 2.1.5.15.11: the target's directory must exist.
  if (!r.parentExists) throw new NtStatusError(NtStatus.OBJECT_PATH_NOT_FOUND, `${asGiven}: no such directory`)
  if (!r.exists) return { target: r.path }
  if (r.path === open.path) return { target: withLast(r.path, given) }
  const respell = withLast(r.path, given)
  return respell === r.path ? { target: r.path } : { target: r.path, respell }
}

function requireAccess (open: Open, mask: number): void {
  if (((open.grantedAccess | open.impliedAccess) & mask) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED)
}

/** The server's name and password-db users, for the descriptors of files that store none (security-info.ts). */
const securityNames = (ctx: RequestContext): SecurityNames => ({ netbiosName: ctx.server.config.global.netbiosName, dbUsers: () => ctx.server.accounts.keys() })

export async function queryInfo (ctx: RequestContext): Promise<Reply> {
  const { body, conn, msg } = ctx
  const open = ctx.open!
  const infoType = body[2]
  const infoClass = body[3]
  const outputBufferLength = Math.min(body.readUInt32LE(4), conn.maxTransactSize)
  const additionalInformation = body.readUInt32LE(16)
  if (open.pipe !== undefined) { const r = pipeQueryInfo(open, infoType, infoClass, outputBufferLength); return infoResponse(r.status, r.data) }
  if (open.file === undefined) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'QUERY_INFO on a pipe')
  let st
  try { st = await open.file.stat() } catch (e) { throw ntStatusErrorFromErrno(e) }

  switch (infoType) {
    case InfoType.FILE: {
      if (infoClass === C.FileFullEaInformation) {
        // MS-SMB2 2.2.37: the EA names asked for in the input buffer, the scan flags in Flags, an
        // index in AdditionalInformation.
        const input = field(msg, body.readUInt16LE(8), body.readUInt32LE(12))
        try {
          const r = await queryFullEa(open, input, body.readUInt32LE(20), additionalInformation, outputBufferLength)
          return infoResponse(r.status, r.data)
        } catch (e) { throw ntStatusErrorFromErrno(e) }
      }
      // MS-SMB2 3.3.5.20.1: these four need FILE_READ_ATTRIBUTES (Samba checks the same four);
      // every other class may be read on any open. The read of attributes the share implies
      // (create.ts) counts for an open that may set them (FILE_WRITE_ATTRIBUTES, which
      // GENERIC_WRITE gives: libsmbclient's fstat of a write-only handle relies on it, which Samba
      // refuses), not for one opened to read data alone (smbtorture smb2.streams.attributes1, as
      // Windows answers) nor for one that holds only SYNCHRONIZE (smb2.getinfo.getinfo_access).
      if (infoClass === C.FileBasicInformation || infoClass === C.FileAllInformation ||
          infoClass === C.FileNetworkOpenInformation || infoClass === C.FileAttributeTagInformation) {
        const setsAttributes = (open.grantedAccess & AccessMask.FILE_WRITE_ATTRIBUTES) !== 0
        if (((open.grantedAccess | (setsAttributes ? open.impliedAccess : 0)) & AccessMask.FILE_READ_ATTRIBUTES) === 0) {
          throw new NtStatusError(NtStatus.ACCESS_DENIED, `class ${infoClass} without FILE_READ_ATTRIBUTES`)
        }
      }
      const deletePending = open.shareModeKey !== undefined && ctx.server.locks.isDeletePending(open.shareModeKey)
      if (infoClass === FILE_POSIX_INFORMATION) return infoResponse(NtStatus.SUCCESS, queryPosixInformation(open, st, outputBufferLength))
      let streams: StreamInfo[] | undefined
      if (infoClass === C.FileStreamInformation && open.tree.share?.streams === true) {
        try { streams = await streamInfos(open, st) } catch (e) { throw ntStatusErrorFromErrno(e) }
      }
      let eaSize: number | undefined
      if (infoClass === C.FileEaInformation || infoClass === C.FileAllInformation) {
        try { eaSize = await openEaSize(open) } catch (e) { throw ntStatusErrorFromErrno(e) }
      }
      // MS-SMB2 3.3.5.20.1: FileNormalizedNameInformation on 3.1.1 only; the name as stored,
      // relative to the share (the root's is empty), with a stream's name.
      const normalized = infoClass === C.FileNormalizedNameInformation
      if (normalized && conn.dialect < Dialect.SMB3_11) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'FileNormalizedNameInformation before SMB 3.1.1')
      const path = open.path.replaceAll('/', '\\') + (open.stream !== undefined ? ':' + open.stream : '')
      const r = queryFileInfo(infoClass, {
        // A delete-pending file's last link is going: Windows (and Samba) count it gone.
        info: { ...st, deletePending, eaSize, numberOfLinks: deletePending && st.numberOfLinks > 0 ? st.numberOfLinks - 1 : st.numberOfLinks },
        streams,
        name: normalized ? path : '\\' + path,
        shortName: shortName(open.path.slice(open.path.lastIndexOf('/') + 1)),
        position: open.position,
        mode: open.mode,
        accessFlags: open.grantedAccess,
        reparseTag: posixReparseTag(st.mode),
      }, outputBufferLength)
      return infoResponse(r.status, r.data)
    }
    case InfoType.FILESYSTEM: {
      let fs
      try { fs = await open.tree.fs!.statfs() } catch (e) { throw ntStatusErrorFromErrno(e) }
      // The label is the share's (Samba's `volume`), not the local file system's: smbclient's
      // `volume` refuses a reply without one.
      // FILE_NAMED_STREAMS where the share keeps streams (MS-FSCC 2.5.1).
      // FILE_SUPPORTS_EXTENDED_ATTRIBUTES where it keeps EAs (ea-info.ts; the Linux client offers
      // xattrs only then).
      // FILE_SUPPORTS_BLOCK_REFCOUNTING where the file system shares blocks (dup-extents.ts).
      const refcounting = infoClass === FsInformationClass.FileFsAttributeInformation && open.tree.fs!.blockRefcounting !== undefined &&
        await open.tree.fs!.blockRefcounting()
      const fileSystemAttributes = fs.fileSystemAttributes | (open.tree.share?.streams === true ? FILE_NAMED_STREAMS : 0) |
        (open.tree.share?.eaSupport === true ? FILE_SUPPORTS_EXTENDED_ATTRIBUTES : 0) | (refcounting ? FILE_SUPPORTS_BLOCK_REFCOUNTING : 0)
      // FileFsObjectIdInformation: the share's object id as Samba makes it (the MD4 of the share's
      // name in UTF-16, create_volume_objectid), so a share keeps its id when it moves.
      const objectId = infoClass === FsInformationClass.FileFsObjectIdInformation ? ntHash(open.tree.shareName) : undefined
      // SSINFO_FLAGS_TRIM_ENABLED where FSCTL_FILE_LEVEL_TRIM can release blocks (fsctl-file.ts).
      const trimEnabled = open.file.punchHole !== undefined
      const r = queryFsInfo(infoClass, { ...fs, fileSystemAttributes, trimEnabled, volumeLabel: open.tree.share?.volume ?? open.tree.shareName }, outputBufferLength, { objectId })
      return infoResponse(r.status, r.data)
    }
    case InfoType.SECURITY: {
      let sd
      try { sd = await querySecurityInfo(open, st, additionalInformation, securityNames(ctx)) } catch (e) { throw ntStatusErrorFromErrno(e) }
      if (sd.length > outputBufferLength) {
        // MS-SMB2 3.3.5.20.3: too small → STATUS_BUFFER_TOO_SMALL with the needed size.
        const need = Buffer.alloc(4)
        need.writeUInt32LE(sd.length, 0)
        const out = Buffer.alloc(9 + 4)
        out.writeUInt16LE(9, 0)
        out.writeUInt32LE(4, 4)
        need.copy(out, 8)
        return { status: NtStatus.BUFFER_TOO_SMALL, body: out }
      }
      return infoResponse(NtStatus.SUCCESS, sd)
    }
    case InfoType.QUOTA:
      throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'quotas')
    default:
      throw new NtStatusError(NtStatus.INVALID_PARAMETER, `InfoType ${infoType}`)
  }
}

/**
 * A rename that replaces an existing file (MS-FSA 2.1.5.15.12, as Windows and Samba answer it):
 * a batch oplock on the file being replaced is broken first, since its holder may only be
 * keeping a closed handle cached; if any open of it remains, the rename is ACCESS_DENIED. Never
 * replace a file under a client that caches it.
 */
async function checkReplacedTarget (ctx: RequestContext, open: Open, target: string): Promise<void> {
  const { server } = ctx
  const tree = open.tree
  for (;;) {
    let st
    try { st = await tree.fs!.stat(target) } catch { return } // nothing to replace (or the rename reports why)
    if (st.isDirectory) return
    const key = fileKey(tree.shareName, st.indexNumber)
    if (key === open.shareModeKey || server.locks.openCount(key) === 0) return
    const ticket = await server.locks.breakForOpen(key, { sharingViolation: true, statOpen: false, overwrite: false, level2: tree.share!.level2Oplocks }, () => {
      if (ctx.goAsync === undefined) throw new NtStatusError(NtStatus.INTERNAL_ERROR, 'SET_INFO cannot wait here')
      return ctx.goAsync()
    })
    if (ticket === undefined) continue // waited for a break: look again
    ticket.done()
    if (server.locks.openCount(key) > 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'rename onto a file that is open')
    return
  }
}

/**
 * MS-FSA 2.1.5.15.11 / 2.1.4.12: renaming a file takes handle caching from the leases of other
 * keys on it (their holders' cached handles would keep the old name), and waits for their
 * acknowledgments (smbtorture smb2.lease.v2_rename). The renamer's own lease keeps its state.
 */
async function breakHandleLeases (ctx: RequestContext, open: Open): Promise<void> {
  const key = open.shareModeKey
  if (key === undefined || !ctx.server.locks.hasLeases(key)) return
  for (;;) {
    const ticket = await ctx.server.locks.breakForOpen(key, {
      sharingViolation: true, statOpen: false, overwrite: false, level2: open.tree.share!.level2Oplocks, lk: open.oplock?.lease?.lk, leasesOnly: true,
    }, () => {
      if (ctx.goAsync === undefined) throw new NtStatusError(NtStatus.INTERNAL_ERROR, 'SET_INFO cannot wait here')
      return ctx.goAsync()
    })
    if (ticket === undefined) continue
    ticket.done()
    return
  }
}

export async function setInfo (ctx: RequestContext): Promise<Reply> {
  const { body, msg, server } = ctx
  const open = ctx.open!
  const tree = open.tree
  const infoType = body[2]
  const infoClass = body[3]
  const buf = field(msg, body.readUInt16LE(8), body.readUInt32LE(4))
  if (buf.length > ctx.conn.maxTransactSize) throw new NtStatusError(NtStatus.INVALID_PARAMETER)
  if (open.file === undefined) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'SET_INFO on a pipe')
  if (infoType === InfoType.SECURITY) {
    // MS-SMB2 2.2.39 AdditionalInformation: the SECURITY_INFORMATION being set.
    const securityInformation = body.readUInt32LE(12)
    // A POSIX client's chmod comes as a descriptor of one S-1-5-88-3-<mode> ACE (posix.ts).
    const chmod = posixChmodOf(open, securityInformation, buf)
    if (chmod !== undefined) {
      requireAccess(open, AccessMask.WRITE_DAC)
      if (open.file.chmod === undefined) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'chmod')
      try { await open.file.chmod(chmod) } catch (e) { throw ntStatusErrorFromErrno(e) }
      if (server.log.wants('vfs')) server.log.debug('vfs', `POSIX chmod ${tree.shareName}/${open.path} to ${chmod.toString(8)}`)
      const done = Buffer.alloc(2)
      done.writeUInt16LE(2, 0)
      return { body: done }
    }
    try {
      await setSecurityInfo(open, await open.file.stat(), securityInformation, buf, ctx.session!, securityNames(ctx))
    } catch (e) { throw ntStatusErrorFromErrno(e) }
    if (server.log.wants('vfs')) server.log.debug('vfs', `security descriptor set on ${tree.shareName}/${open.path} (0x${securityInformation.toString(16)})`)
    const out = Buffer.alloc(2)
    out.writeUInt16LE(2, 0)
    return { body: out }
  }
  if (infoType !== InfoType.FILE) {
    throw new NtStatusError(infoType === InfoType.FILESYSTEM || infoType === InfoType.QUOTA ? NtStatus.NOT_SUPPORTED : NtStatus.INVALID_PARAMETER)
  }
  const req = decodeSetFileInfo(infoClass, buf, { isDirectory: open.isDirectory })
  const file = open.file
  try {
    switch (req.cls) {
      case C.FileBasicInformation: {
        requireAccess(open, AccessMask.FILE_WRITE_ATTRIBUTES)
        await setBasicInformation(open, req.value)
        // Attributes and times of an entry are what a directory lease caches: its holder re-reads.
        if (open.path !== '') await breakParentLeases(server, tree, open.path, open.parentLeaseId)
        break
      }
      case C.FileRenameInformation: {
        requireAccess(open, AccessMask.DELETE)
        if (open.stream !== undefined) {
          await renameOpenStream(ctx, open, req.value.fileName, req.value.replaceIfExists)
          // A persistent open's record names its stream (or, renamed onto the file, none).
          persistOpen(server, open)
          break
        }
        // A POSIX open's new name follows POSIX rules ('/' separates, case counts: posix.ts).
        const asGiven = open.posix ? posixPathToRelative(req.value.fileName) : smbPathToRelative(req.value.fileName)
        if (asGiven === '' || open.path === '') throw new NtStatusError(NtStatus.ACCESS_DENIED, 'rename of or onto the share root')
        // Other clients' handle caching of the file breaks first, before any look at the disk
        // (renameTarget's lookup of the new name's spelling is one): the break then reaches the
        // client before the answers to what it sends next. smbtorture smb2.lease.rename_wait
        // acknowledges the break its next CREATE brought; with the lookup first, a CREATE sent
        // right behind the rename could be answered before the break went out (CI, stop 32). A
        // new name that differs only in case may be the file's own: that one breaks after the
        // lookup, if it renames after all.
        const moves = open.posix ? asGiven !== open.path : upcaseName(asGiven) !== upcaseName(open.path)
        if (moves) await breakHandleLeases(ctx, open)
        const { target, respell } = await renameTarget(open, asGiven)
        if (!moves && target !== open.path) await breakHandleLeases(ctx, open)
        // Samba (rename_internals_fsp: file_has_open_streams): a file one of whose streams is open
        // is not renamed (smbtorture smb2.streams.basefile-rename-with-open-stream).
        if (tree.share?.streams === true && open.shareModeKey !== undefined) {
          for (const s of await streamXattrs(file)) {
            if (server.locks.openCount(streamKey(open.shareModeKey, s.name)) > 0) throw new NtStatusError(NtStatus.ACCESS_DENIED, `rename of ${open.path}: its stream ${s.name} is open`)
          }
        }
        // Windows and Samba (rename_internals_fsp: have_file_open_below) do not rename a
        // directory something beneath which is open (smbtorture smb2.rename.rename_dir_openfile).
        // Opens of other workers are not seen here (as in followRename).
        if (open.isDirectory && target !== open.path && hasOpenBelow(server, open)) {
          throw new NtStatusError(NtStatus.ACCESS_DENIED, `rename of ${open.path}: something beneath it is open`)
        }
        if (target !== open.path) {
          // A rename opens the target's parent directory for adding an entry, sharing read and
          // write but not delete (Windows' SL_OPEN_TARGET_DIRECTORY open): another open of that
          // directory holding DELETE access, or not sharing write, makes it a sharing violation.
          const parent = await tree.fs!.stat(parentOf(target))
          server.locks.check(fileKey(tree.shareName, parent.indexNumber), {
            access: open.isDirectory ? DirectoryAccessMask.FILE_ADD_SUBDIRECTORY : DirectoryAccessMask.FILE_ADD_FILE,
            shareAccess: ShareAccess.READ | ShareAccess.WRITE,
          })
          // MS-FSA 2.1.5.15.11: adding the entry is the target directory's DACL's to allow.
          await checkParentForCreate(ctx, target, open.isDirectory)
          if (req.value.replaceIfExists) await checkReplacedTarget(ctx, open, target)
          // rename(2) answers in its own terms (EXDEV: another file system, NOT_SAME_DEVICE).
          try {
            await tree.fs!.rename(open.path, target, req.value.replaceIfExists)
          } catch (e) { throw ntStatusErrorFromErrno(e, 'rename', `${open.path} -> ${target}`) }
          if (server.log.wants('vfs')) server.log.debug('vfs', `renamed ${tree.shareName}/${open.path} -> ${target}`)
          // The name left one directory and entered another (or the same): their leases break.
          await breakParentLeases(server, tree, open.path, open.parentLeaseId)
          if (parentOf(open.path) !== parentOf(target)) await breakParentLeases(server, tree, target, open.parentLeaseId)
          const from = open.path
          open.path = target
          if (respell !== undefined) {
            // The replaced file was stored under another spelling; the new link takes the
            // client's (MS-FSA 2.1.5.15.11: NewLinkName). A second, same-directory rename: if it
            // fails the file keeps the stored spelling, which still names it.
            try {
              await tree.fs!.rename(target, respell, false)
              open.path = respell
            } catch (e) {
              if (server.log.wants('vfs')) server.log.debug('vfs', `rename ${tree.shareName}/${target} -> ${respell}: ${(e as Error).message}`)
            }
          }
          // A persistent open's record names the file by its path (persistent.ts); so do the
          // records of the file's other opens, and of those beneath a renamed directory.
          persistOpen(server, open)
          followRename(server, open, from, open.path)
        }
        break
      }
      case C.FileLinkInformation:
        await setLinkInformation(ctx, open, req.value)
        break
      case C.FileDispositionInformation:
      case C.FileDispositionInformationEx: {
        requireAccess(open, AccessMask.DELETE)
        const del = req.cls === C.FileDispositionInformation ? req.value.deletePending : (req.value.flags & 0x1) !== 0
        if (del) {
          const st = await file.stat()
          if ((st.fileAttributes & FILE_ATTRIBUTE_READONLY) !== 0) throw new NtStatusError(NtStatus.CANNOT_DELETE)
          if (open.path === '') throw new NtStatusError(NtStatus.CANNOT_DELETE, 'the share root')
          if (open.isDirectory) {
            const entries = await file.readdir()
            if (entries.some(e => e.name !== '.' && e.name !== '..')) throw new NtStatusError(NtStatus.DIRECTORY_NOT_EMPTY)
          }
        }
        if (open.shareModeKey !== undefined) server.locks.setDeletePending(open.shareModeKey, del)
        open.deleteOnClose = del
        persistOpen(server, open)
        break
      }
      case C.FileFullEaInformation:
        await setFullEa(open, req.value)
        if (server.log.wants('vfs')) server.log.debug('vfs', `EAs set on ${tree.shareName}/${open.path}: ${req.value.map(e => `${e.name} (${e.value.length} bytes)`).join(', ')}`)
        break
      case C.FilePositionInformation:
        open.position = req.value.currentByteOffset
        persistOpen(server, open)
        break
      case C.FileModeInformation:
        open.mode = req.value.mode
        break
      case C.FileEndOfFileInformation:
        requireAccess(open, AccessMask.FILE_WRITE_DATA)
        if (open.isDirectory) throw new NtStatusError(NtStatus.INVALID_PARAMETER)
        // MS-FSA 2.1.4.12 (SET_INFORMATION EndOfFile): level II oplocks break to none.
        if (open.shareModeKey !== undefined) server.locks.breakLevelII(open.shareModeKey, open.oplock)
        open.modified = true
        await file.truncate(Number(req.value.endOfFile))
        await keepUserSetTimes(open)
        break
      case C.FileAllocationInformation: {
        requireAccess(open, AccessMask.FILE_WRITE_DATA)
        if (open.isDirectory) throw new NtStatusError(NtStatus.INVALID_PARAMETER)
        // MS-FSA 2.1.4.12 (SET_INFORMATION Allocation): level II oplocks break to none.
        if (open.shareModeKey !== undefined) server.locks.breakLevelII(open.shareModeKey, open.oplock)
        open.modified = true
        // MS-FSA 2.1.5.15.1: an allocation below EOF truncates the file.
        const st = await file.stat()
        const a = req.value.allocationSize
        if (a < st.endOfFile) await file.truncate(Number(a))
        else await file.allocate(Number(a))
        await keepUserSetTimes(open)
        break
      }
      default:
        throw new NtStatusError(NtStatus.NOT_SUPPORTED, `set class ${infoClass}`)
    }
  } catch (e) { throw ntStatusErrorFromErrno(e) }
  const out = Buffer.alloc(2)
  out.writeUInt16LE(2, 0)
  return { body: out }
}
