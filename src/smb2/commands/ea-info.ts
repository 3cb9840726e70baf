// Extended attributes (EAs): QUERY_INFO and SET_INFO FileFullEaInformation (MS-FSCC 2.4.15,
// MS-FSA 2.1.5.12.x / 2.1.5.15.x), the ExtA create context (MS-SMB2 2.2.13.2.1), and
// FileEaInformation's EaSize. Kept as Samba keeps them, so a share moves between the two servers
// with its EAs: the EA `NAME` is the xattr `user.NAME` of the file, and every `user.` xattr is an
// EA except the ones servers keep for themselves (Samba's samba_private_attr_name: DOS attributes,
// streams, its POSIX-inheritance flag, netatalk's metadata; and smbts's own `user.smbts.*`), which
// are neither listed nor settable (STATUS_ACCESS_DENIED, as Samba). EA names match ignoring case
// and keep the spelling they were first set with (Samba's canonicalize_ea_name). An EA of no value
// is not an EA: setting one removes it, and a zero-length xattr is not listed.
//
// `ea support = no` (Samba's parameter): a SET or an ExtA is STATUS_EAS_NOT_SUPPORTED, a query
// finds no EAs. Not done: FILE_NEED_EA and FILE_NO_EA_KNOWLEDGE (no client relies on them).
import type { Open } from '../../session/model.js'
import type { VfsFile } from '../../vfs/backend.js'
import { asStream } from '../../vfs/streams.js'
import { AccessMask } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { decodeFileGetEaInformation } from '../../wire/fscc/get-ea.js'
import { decodeFileFullEaInformation, encodeFileFullEaInformation, fullEaEntryByteLength, type FullEaEntry } from '../../wire/fscc/set-info.js'

/** The xattr namespace EAs live in. */
export const EA_XATTR_PREFIX = 'user.'

// MS-SMB2 2.2.37 QUERY_INFO Flags, for FileFullEaInformation.
export const SL_RESTART_SCAN = 0x00000001
export const SL_RETURN_SINGLE_ENTRY = 0x00000002
export const SL_INDEX_SPECIFIED = 0x00000004

/** Linux's XATTR_NAME_MAX: `user.` and the EA name must fit. */
const XATTR_NAME_MAX = 255

/** Samba's private names (samba_private_attr_name, compared ignoring case), and smbts's. */
const PRIVATE_NAMES = new Set(['user.samba_pai', 'user.dosattrib', 'user.samba_streams', 'user.org.netatalk.metadata'])
const PRIVATE_PREFIXES = ['user.dosstream.', 'user.smbts.']

/** Whether the xattr `name` is one a server keeps for itself: never an EA. */
export function isPrivateXattr (name: string): boolean {
  const l = name.toLowerCase()
  return PRIVATE_NAMES.has(l) || PRIVATE_PREFIXES.some(p => l.startsWith(p))
}

// MS-FSCC 2.4.15: characters an EaName may not hold (control characters neither).
const ILLEGAL = new Set('"*+,/:;<=>?[\\]|'.split(''))

/** Whether `name` (as stored after `user.`) can be shown to a client as an EA name. */
function presentable (name: string): boolean {
  if (name.length === 0 || name.length > 255) return false
  for (const ch of name) {
    const c = ch.charCodeAt(0)
    if (c < 0x20 || c > 0xFF || ILLEGAL.has(ch)) return false
  }
  return true
}

interface XattrCalls {
  list: () => Promise<string[]>
  get: (name: string) => Promise<Buffer | undefined>
  set: (name: string, value: Buffer) => Promise<void>
  remove: (name: string) => Promise<void>
}

/** The file whose EAs an open sees: a stream's are its file's. */
function eaFile (file: VfsFile): VfsFile {
  return asStream(file)?.base ?? file
}

function calls (file: VfsFile): XattrCalls | undefined {
  const f = eaFile(file)
  const { listXattrs, getXattr, setXattr, removeXattr } = f
  if (listXattrs === undefined || getXattr === undefined || setXattr === undefined || removeXattr === undefined) return undefined
  return { list: listXattrs.bind(f), get: getXattr.bind(f), set: setXattr.bind(f), remove: removeXattr.bind(f) }
}

const noXattrs = (e: unknown): boolean => {
  const code = (e as NodeJS.ErrnoException).code
  return code === 'EOPNOTSUPP' || code === 'ENOTSUP'
}

/** The file's EAs, in the order the file system lists them; none where it keeps no user xattrs. */
export async function fileEas (file: VfsFile): Promise<FullEaEntry[]> {
  const x = calls(file)
  if (x === undefined) return []
  let names: string[]
  try { names = await x.list() } catch (e) { if (noXattrs(e)) return []; throw e }
  const out: FullEaEntry[] = []
  for (const xattr of names) {
    if (!xattr.startsWith(EA_XATTR_PREFIX) || isPrivateXattr(xattr)) continue
    const name = xattr.slice(EA_XATTR_PREFIX.length)
    if (!presentable(name)) continue
    const value = await x.get(xattr)
    // Gone since the listing, empty (Windows calls a zero-length EA corrupt), or longer than an
    // EA can say (EaValueLength is 16 bits; an xattr may hold 65536 bytes).
    if (value === undefined || value.length === 0 || value.length > 0xFFFF) continue
    out.push({ flags: 0, name, value })
  }
  return out
}

/** FileEaInformation's EaSize: the bytes the EAs take as a FILE_FULL_EA_INFORMATION list, as Samba reports it over SMB2. */
export function eaListSize (eas: readonly FullEaEntry[]): number {
  return eas.reduce((sum, e, i) => sum + (i + 1 < eas.length ? (fullEaEntryByteLength(e) + 3) & ~3 : fullEaEntryByteLength(e)), 0)
}

/** EaSize of an open's file (0 where the share keeps no EAs or the file system has no xattrs). */
export async function openEaSize (open: Open): Promise<number> {
  if (open.tree.share?.eaSupport !== true || open.file === undefined) return 0
  return eaListSize(await fileEas(open.file))
}

function requireAccess (open: Open, mask: number): void {
  if ((open.grantedAccess & mask) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED)
}

const sameName = (a: string, b: string): boolean => a.length === b.length && a.toUpperCase() === b.toUpperCase()

/**
 * QUERY_INFO FileFullEaInformation. With a FILE_GET_EA_INFORMATION list in the input buffer: those
 * EAs, in the list's order, an absent one with an empty value (as Windows answers). Without: the
 * file's EAs from the open's scan position (SL_RESTART_SCAN: from the first; SL_INDEX_SPECIFIED:
 * from the 1-based index in AdditionalInformation), which moves past what is returned.
 * SL_RETURN_SINGLE_ENTRY: one entry. Whole entries only: STATUS_BUFFER_OVERFLOW when some did
 * not fit, STATUS_BUFFER_TOO_SMALL when none did; STATUS_NO_EAS_ON_FILE, STATUS_NO_MORE_EAS
 * (the scan is past the last), STATUS_NONEXISTENT_EA_ENTRY (an index past the last).
 */
export async function queryFullEa (open: Open, input: Buffer, flags: number, index: number, outputBufferLength: number): Promise<{ status: number, data: Buffer }> {
  requireAccess(open, AccessMask.FILE_READ_EA)
  const file = open.file!
  const names = input.length > 0 ? decodeFileGetEaInformation(input) : undefined
  const all = open.tree.share?.eaSupport === true ? await fileEas(file) : []
  if (all.length === 0) throw new NtStatusError(NtStatus.NO_EAS_ON_FILE)
  let wanted: FullEaEntry[]
  let start = 0
  if (names !== undefined) {
    wanted = names.map(n => all.find(e => sameName(e.name, n)) ?? { flags: 0, name: n, value: Buffer.alloc(0) })
  } else {
    if ((flags & SL_RESTART_SCAN) !== 0) start = 0
    else if ((flags & SL_INDEX_SPECIFIED) !== 0) {
      if (index < 1 || index > all.length) throw new NtStatusError(NtStatus.NONEXISTENT_EA_ENTRY, `EA index ${index} of ${all.length}`)
      start = index - 1
    } else start = open.eaIndex
    if (start >= all.length) return { status: NtStatus.NO_MORE_EAS, data: Buffer.alloc(0) }
    wanted = all.slice(start)
  }
  const single = (flags & SL_RETURN_SINGLE_ENTRY) !== 0
  const out: FullEaEntry[] = []
  let used = 0
  for (const e of wanted) {
    const size = fullEaEntryByteLength(e)
    const at = (used + 3) & ~3 // the previous entry padded to 4
    if (at + size > outputBufferLength) break
    out.push(e)
    used = at + size
    if (single) break
  }
  if (out.length === 0) throw new NtStatusError(NtStatus.BUFFER_TOO_SMALL, `an EA needs ${fullEaEntryByteLength(wanted[0]!)} bytes, the buffer is ${outputBufferLength}`)
  if (names === undefined) open.eaIndex = start + out.length
  const whole = single || out.length === wanted.length
  return { status: whole ? NtStatus.SUCCESS : NtStatus.BUFFER_OVERFLOW, data: encodeFileFullEaInformation(out) }
}

/** The checks every write of EAs makes before changing anything: the share keeps them, no private name, each name fits an xattr name. */
export function checkEaWrite (open: Pick<Open, 'tree'>, entries: readonly FullEaEntry[]): void {
  if (open.tree.share?.eaSupport !== true) throw new NtStatusError(NtStatus.EAS_NOT_SUPPORTED, '`ea support = no`')
  for (const e of entries) {
    const xattr = EA_XATTR_PREFIX + e.name
    if (isPrivateXattr(xattr)) throw new NtStatusError(NtStatus.ACCESS_DENIED, `EA ${e.name} is a name the server keeps for itself`)
    if (Buffer.byteLength(xattr, 'utf8') > XATTR_NAME_MAX) throw new NtStatusError(NtStatus.INVALID_EA_NAME, `EA name of ${e.name.length} characters`)
  }
}

/** Writes `entries` to the file (an empty value removes that EA), matching existing names ignoring case. */
export async function writeEas (file: VfsFile, entries: readonly FullEaEntry[]): Promise<void> {
  const x = calls(file)
  if (x === undefined) throw new NtStatusError(NtStatus.EAS_NOT_SUPPORTED, 'this backend keeps no xattrs')
  try {
    const existing = (await x.list()).filter(n => n.startsWith(EA_XATTR_PREFIX))
    for (const e of entries) {
      const xattr = existing.find(n => sameName(n.slice(EA_XATTR_PREFIX.length), e.name)) ?? EA_XATTR_PREFIX + e.name
      if (e.value.length === 0) {
        // Removing an EA that is not there succeeds (Samba: ENOATTR is success).
        await x.remove(xattr).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENODATA') throw err })
        continue
      }
      await x.set(xattr, Buffer.from(e.value))
      if (!existing.includes(xattr)) existing.push(xattr)
    }
  } catch (e) {
    if (noXattrs(e)) throw new NtStatusError(NtStatus.EAS_NOT_SUPPORTED, 'the file system keeps no user xattrs')
    throw e
  }
  // The new EaSize goes into the DOS record (dos-xattr.ts), where a directory listing reads it
  // with the rest of the entry's metadata: no EA is read per listed entry. (EAs changed outside
  // the server show in listings once smbts next writes the file's EAs; FileEaInformation reads
  // them every time.) A record that cannot be kept costs only the listing's figure.
  await eaFile(file).setBasicInfo({ eaSize: eaListSize(await fileEas(file)) }).catch(() => {})
}

/** SET_INFO FileFullEaInformation (entries already decoded). */
export async function setFullEa (open: Open, entries: readonly FullEaEntry[]): Promise<void> {
  requireAccess(open, AccessMask.FILE_WRITE_EA)
  checkEaWrite(open, entries)
  // Samba: EAs are the file's, not a stream's.
  if (open.stream !== undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'EAs of a stream')
  await writeEas(open.file!, entries)
}

/** The ExtA create context's EAs (MS-SMB2 2.2.13.2.1), checked before the CREATE changes anything. */
export function createContextEas (open: Pick<Open, 'tree'>, data: Buffer): FullEaEntry[] {
  const entries = decodeFileFullEaInformation(data)
  checkEaWrite(open, entries)
  return entries
}
