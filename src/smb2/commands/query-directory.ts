// QUERY_DIRECTORY (MS-SMB2 3.3.5.18): enumerate a directory open with a search pattern, in as
// many responses as the client's buffers need; the enumeration lives on the Open.
import type { RequestContext, Reply } from '../context.js'
import { field, utf16 } from '../context.js'
import { AccessMask, QueryDirectoryFlags } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { DirEntryWriter, carriesShortName, isDirInfoClass } from '../../wire/fscc/dir-info.js'
import { compileWildcard } from '../../vfs/wildcard.js'
import { ntStatusErrorFromErrno } from '../../vfs/errno.js'
import { caseInsensitive } from '../names.js'
import { zeroed } from '../../wire/buffers.js'
import { posixInfoOf, posixListing } from '../posix.js'
import { posixReparseTag } from '../../wire/fscc/posix-info.js'
import { shortName } from '../../vfs/short-name.js'

export async function queryDirectory (ctx: RequestContext): Promise<Reply> {
  const { body, msg, conn } = ctx
  const open = ctx.open!
  const infoClass = body[2]
  const flags = body[3]
  const pattern = utf16(field(msg, body.readUInt16LE(24), body.readUInt16LE(26)))
  const outputBufferLength = Math.min(body.readUInt32LE(28), conn.maxTransactSize)
  if (!open.isDirectory || open.file === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'QUERY_DIRECTORY on a file')
  if ((open.grantedAccess & AccessMask.FILE_READ_DATA) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED)
  if (!isDirInfoClass(infoClass)) throw new NtStatusError(NtStatus.INVALID_INFO_CLASS)
  const posix = posixListing(open, infoClass)

  const restart = (flags & (QueryDirectoryFlags.RESTART_SCANS | QueryDirectoryFlags.REOPEN)) !== 0
  let cursor = open.dirCursor
  const fresh = cursor === undefined || restart || (pattern !== '' && pattern !== cursor.pattern && (flags & QueryDirectoryFlags.REOPEN) !== 0)
  if (fresh) {
    const want = pattern === '' ? '*' : pattern
    // MS-FSA 2.1.4.4: names match the pattern ignoring case, unless the share is case-sensitive
    // (a name given without wildcards is then found only as spelled, as a CREATE would).
    const match = compileWildcard(want, { caseSensitive: !caseInsensitive(open.tree.share) })
    let entries
    try {
      entries = await open.file.readdir()
    } catch (e) {
      throw ntStatusErrorFromErrno(e)
    }
    // The share root's ".." is outside the share: describe it as the root itself.
    if (open.path === '') {
      const dot = entries.find(e => e.name === '.')
      const dotdot = entries.findIndex(e => e.name === '..')
      if (dot && dotdot >= 0) entries[dotdot] = { name: '..', info: dot.info }
    }
    // "." and ".." first, as Windows lists them; the rest in the order the file system gives.
    entries.sort((a, b) => rank(a.name) - rank(b.name))
    cursor = { pattern: want, entries: entries.filter(e => match(e.name)), next: 0 }
    open.dirCursor = cursor
    if (cursor.entries.length === 0) throw new NtStatusError(NtStatus.NO_SUCH_FILE)
  }
  const c = cursor!
  if (c.next >= c.entries.length) throw new NtStatusError(NtStatus.NO_MORE_FILES)

  const writer = new DirEntryWriter(infoClass, outputBufferLength)
  // The classes with a ShortName: the 8.3 name FileAlternateNameInformation answers (short-name.ts)
  // for a name that is not one already; empty for one that is, as Windows lists it (smbtorture
  // smb2.dir.one compares the two).
  const both = carriesShortName(infoClass)
  const eaSupport = open.tree.share?.eaSupport === true
  const single = (flags & QueryDirectoryFlags.RETURN_SINGLE_ENTRY) !== 0
  let status: number = NtStatus.SUCCESS
  // A continued enumeration reports the directory as it is now: an entry removed since the
  // listing was read is skipped, a changed one shows its current attributes. The entries are
  // looked at again in batches of about what one response holds (one native call each).
  let fresher = c.next
  const file = open.file
  while (c.next < c.entries.length) {
    const e = c.entries[c.next]
    if (!fresh && c.next >= fresher) {
      // At least a response's worth of the smallest entries (64 bytes), at most 4,096 at a time.
      const batch = c.entries.slice(c.next, c.next + (single ? 1 : Math.min(4096, Math.max(16, outputBufferLength >> 6))))
      fresher = c.next + batch.length
      const names = batch.map(b => b.name).filter(n => n !== '.' && n !== '..')
      const infos = file.statEntries !== undefined
        ? await file.statEntries(names).catch(() => names.map(() => undefined))
        : await Promise.all(names.map(async n => await file.statEntry(n).catch(() => undefined)))
      let k = 0
      for (const b of batch) {
        if (b.name === '.' || b.name === '..') continue
        const info = infos[k++]
        b.gone = info === undefined
        if (info !== undefined) b.info = info
      }
    }
    if (e.gone === true) {
      c.next++
      continue
    }
    // A symlink's reparse tag (its attributes say REPARSE_POINT), for the classes that carry one.
    // EaSize from the entry's DOS record (ea-info.ts writeEas keeps it there); none where the share keeps no EAs.
    const info = eaSupport || e.info.eaSize === undefined ? e.info : { ...e.info, eaSize: 0 }
    // A name that already is 8.3 is its own short name, and a listing gives it none (as Windows):
    // shortName returns such a name as it is, and a made-up one never equals the name.
    const short = both ? shortName(e.name) : undefined
    const entry = {
      name: e.name, info, reparseTag: posixReparseTag(e.info.mode), posix: posix ? posixInfoOf(e.info) : undefined,
      shortName: short === e.name ? undefined : short,
    }
    if (!writer.tryAdd(entry)) {
      if (writer.count === 0) {
        // Not even one entry fits: MS-SMB2 3.3.5.18 answers STATUS_BUFFER_OVERFLOW with what fits.
        writer.addTruncated(entry)
        status = NtStatus.BUFFER_OVERFLOW
        c.next++
      }
      break
    }
    c.next++
    if (single) break
  }
  // Every remaining entry vanished since the listing was read.
  if (writer.count === 0 && status === NtStatus.SUCCESS) throw new NtStatusError(NtStatus.NO_MORE_FILES)
  const data = writer.finish()
  const out = zeroed(8 + data.length)
  out.writeUInt16LE(9, 0)
  out.writeUInt16LE(data.length > 0 ? 72 : 0, 2)
  out.writeUInt32LE(data.length, 4)
  data.copy(out, 8)
  return { status, body: out }
}

function rank (name: string): number {
  return name === '.' ? 0 : name === '..' ? 1 : 2
}
