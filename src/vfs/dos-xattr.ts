// The DOS metadata Linux has no place for (CreationTime, the DOS attributes of MS-FSCC 2.6 that
// have no POSIX equivalent, a ChangeTime a client set), kept where Samba and ksmbd keep it: the
// `user.DOSATTRIB` xattr, an NDR-encoded `xattr_DOSATTRIB` (Samba's librpc/idl/xattr.idl). A
// share moved from Samba or ksmbd keeps its attributes and creation times under smbts, and back.
// A pure codec: no I/O here (the posix backend reads and writes the xattr).
//
// The value, as NDR lays it out (little-endian, each scalar aligned to its size, 8-byte ones to 4):
//   a NUL-terminated ASCII string: the attributes in hex ("0x20") for versions 1-3, "" after;
//   u16 version; then the union's u16 level (= version) and the version's struct, aligned to 4:
//   v1  attrib, ea_size, size u64, alloc_size u64, create_time, change_time
//   v2  flags, attrib, ea_size, size, alloc_size, create_time, change_time, write_time, name
//   v3  valid_flags, attrib, ea_size, size, alloc_size, create_time, change_time
//   v4  valid_flags, attrib, itime, create_time          (what ksmbd writes; Samba reads it)
//   v5  valid_flags, attrib, create_time                 (what Samba 4.15+ writes; ksmbd cannot read it)
// A value that is only the hex string is the oldest form (attributes alone).
//
// smbts writes version 4, the newest both servers read, followed by a tail of its own that both
// ignore (Samba pulls the struct and leaves what follows; ksmbd reads fixed fields). Tail version 2
// (what smbts writes), 16 to 32 bytes: a new file's record (48 or 52 bytes in all) and one with a
// ChangeTime too (60) stay within the 60 bytes a 256-byte ext4 inode keeps inside, so a new file
// takes no xattr block (st_blocks 0, the AllocationSize 0 a client expects of a new empty file):
//  32  u8   TailMagic 'S' (53)
//  33  u8   TailVersion (2)
//  34  u8   TailFlags: 0x01 ChangeTime, 0x02 Creator, 0x04 EaSize present
//  35  u8   CreatorMode: with Creator, the group and other permission bits (mode & 0o77) the file
//            was created with
//  36  i64  WriteAnchor seconds  } the file's Linux mtime when the record was written, as the
//  44  u32  WriteAnchor ns (<1e9) } kernel keeps it (seconds + ns: ext4 goes past 2^63 ns, 2262 AD)
//  48  then, each only when flagged, in this order:
//       u32  Creator: the RID, in the server's domain, of the user who created the file through
//            smbts and gave it the default descriptor (0: ANONYMOUS LOGON); the descriptor is
//            then derived from it and CreatorMode, not stored (src/smb2/file-security.ts)
//       u64  ChangeTime (FILETIME, MS-DTYP 2.3.3)
//       u32  EaSize: the file's EAs as a FILE_FULL_EA_INFORMATION list (FileEaInformation), as
//            smbts last wrote them, so a directory listing reports it without reading the EAs
// Tail version 1 (earlier smbts, always 32 bytes: 'SMTS', u16 1, u16 flags, u64 ChangeTime, i64
// and u32 WriteAnchor, u32 0) is still read.
//
// Why an anchor: Linux ctime cannot be set, and writing the xattr itself moves it, so a stored
// ChangeTime can only be tied to something the record write leaves alone. The mtime is that: while
// it still equals WriteAnchor, nothing rewrote the data since the record was written, and a stored
// ChangeTime still holds; once it moves (a WRITE, a truncate, a local `echo >>`), the file changed
// after the client set the time, so the reported ChangeTime is the live ctime again and the file
// counts as modified for FILE_ATTRIBUTE_ARCHIVE (MS-FSA 2.1.4.17: a modification sets ARCHIVE).
// A record another server wrote has no tail: its attributes stand as stored (READONLY of a file
// included: Samba keeps it there, not in the mode), and ChangeTime is the file's ctime.
//
// Earlier smbts versions kept a record of their own in `user.smbts.dos` (LEGACY_DOS_XATTR_NAME,
// 40 bytes, first byte 1, never a valid DOSATTRIB start); it is still read, when no user.DOSATTRIB
// exists, and replaced by a user.DOSATTRIB on the next write.
//
// Decoding never throws: a value that is too short, of an unknown version or otherwise not
// readable reads as "no record", so a damaged xattr costs only the stored metadata, never an operation.
import {
  FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_NOT_CONTENT_INDEXED,
  FILE_ATTRIBUTE_OFFLINE, FILE_ATTRIBUTE_READONLY, FILE_ATTRIBUTE_SPARSE_FILE, FILE_ATTRIBUTE_SYSTEM,
  FILE_ATTRIBUTE_TEMPORARY,
} from '../wire/fscc/constants.js'

/** Samba's and ksmbd's name (Samba's XATTR_DOSATTRIB_NAME_S3). A user xattr: no privilege needed, kept by cp -a, tar --xattrs, rsync -X. */
export const DOS_XATTR_NAME = 'user.DOSATTRIB'
/** smbts's own record of earlier versions: read when there is no DOS_XATTR_NAME, removed on write. */
export const LEGACY_DOS_XATTR_NAME = 'user.smbts.dos'
/**
 * The names the stat calls try, in order, as the addon takes a list (statxXattr, statxBatch,
 * statxXattrNow, openStatNow: names separated by '\n'; the first that exists is read). Which one was
 * read shows in the value itself: a legacy record starts with byte 1, a DOSATTRIB with '\0' or '0'.
 */
export const DOS_XATTR_READ_NAMES = `${DOS_XATTR_NAME}\n${LEGACY_DOS_XATTR_NAME}`

/** The version smbts writes. */
export const DOSATTRIB_WRITE_VERSION = 4
/** A v4 value without the tail; with the shortest tail smbts writes; the longest a file without EAs gets (within ext4's in-inode room). */
export const DOSATTRIB_V4_SIZE = 32
export const DOSATTRIB_SMBTS_MIN_SIZE = 48
export const DOSATTRIB_SMBTS_MAX_SIZE = 60
const TAIL_V1_MAGIC = 0x53544d53 // 'SMTS' as bytes 53 4d 54 53
const TAIL_V1_SIZE = 64
const TAIL_MAGIC = 0x53 // 'S'
const TAIL_VERSION = 2
const TAIL_CHANGE_TIME = 0x01
const TAIL_CREATOR = 0x02
const TAIL_EA_SIZE = 0x04
/** The Creator of a file an anonymous session made (no RID: ANONYMOUS LOGON is S-1-5-7). */
export const CREATOR_ANONYMOUS = 0

/** A file's creator, where its descriptor is the default one (see the header). */
export interface Creator {
  /** A RID of the server's domain, or CREATOR_ANONYMOUS. */
  rid: number
  /** The group and other permission bits (mode & 0o77) the file was created with. */
  mode: number
}

/** What a record keeps of its own beside the DOS attributes (the tail's Creator and EaSize). */
export interface RecordExtras { creator?: Creator, eaSize?: number }

/**
 * Into the record about to be written (`into`): the creator and EaSize the update `u` gives,
 * else those `old` recorded; an EaSize of 0 (no EAs) is not written.
 */
export function keepExtras (into: RecordExtras, u: RecordExtras, old: RecordExtras | undefined): void {
  const creator = u.creator ?? old?.creator
  if (creator !== undefined) into.creator = creator
  const eaSize = u.eaSize ?? old?.eaSize
  if (eaSize !== undefined && eaSize !== 0) into.eaSize = eaSize
}

/** xattr_DosInfoValidFlags (Samba's xattr.idl). */
export const XATTR_DOSINFO_ATTRIB = 0x01
export const XATTR_DOSINFO_CREATE_TIME = 0x10
export const XATTR_DOSINFO_ITIME = 0x40

const LEGACY_VERSION = 1
const LEGACY_SIZE = 40

/**
 * The attributes a record can hold: MS-FSA 2.1.5.15.2 ValidSetAttributes, and SPARSE_FILE (set
 * only by FSCTL_SET_SPARSE, smb2/commands/sparse.ts). A file's READONLY is stored for other
 * servers, but what smbts reports for it is its mode's write bits (see posix.ts), unless the
 * record came from another server.
 */
export const DOS_STORED_ATTRIBUTES = FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM |
  FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_TEMPORARY | FILE_ATTRIBUTE_OFFLINE | FILE_ATTRIBUTE_NOT_CONTENT_INDEXED |
  FILE_ATTRIBUTE_SPARSE_FILE

export interface DosRecord {
  /** DOS attribute bits, within DOS_STORED_ATTRIBUTES. */
  fileAttributes: number
  /** FILETIME; undefined = not stored (the file system's birth time stands). */
  creationTime?: bigint
  /** FILETIME set by a client; holds only while the mtime equals writeAnchorNs. */
  changeTime?: bigint
  /** The file's mtime (Unix ns, any size the kernel reports) when smbts wrote this record; undefined in another server's. */
  writeAnchorNs?: bigint
  /** Who created the file through smbts with the default descriptor, and the mode's group and other bits then; see the header. */
  creator?: Creator
  /** The file's EaSize as smbts last wrote its EAs; see the header. */
  eaSize?: number
  /** Where it was read from: 'smbts' (a DOSATTRIB with smbts's tail), 'foreign' (a DOSATTRIB
   *  Samba or ksmbd wrote), 'legacy' (user.smbts.dos). Unset on a record about to be written. */
  origin?: 'smbts' | 'foreign' | 'legacy'
}

const U64_MAX = 0xFFFF_FFFF_FFFF_FFFFn
const I64_MAX = U64_MAX >> 1n
const NS_PER_S = 1_000_000_000n

function splitNs (ns: bigint): [bigint, number] {
  // Floor division, so a pre-1970 mtime keeps 0 <= ns < 1e9.
  let sec = ns / NS_PER_S
  let rem = ns % NS_PER_S
  if (rem < 0n) { rem += NS_PER_S; sec -= 1n }
  return [sec, Number(rem)]
}

/**
 * The user.DOSATTRIB value for `r`: xattr_DOSATTRIB version 4 and smbts's tail. `directory` adds
 * FILE_ATTRIBUTE_DIRECTORY to the stored attributes, as Samba and ksmbd store a directory's.
 */
export function encodeDosRecord (r: DosRecord, directory = false): Buffer {
  const hasCreator = r.creator !== undefined
  const hasChange = r.changeTime !== undefined
  const hasEaSize = r.eaSize !== undefined
  const b = Buffer.alloc(DOSATTRIB_SMBTS_MIN_SIZE + (hasCreator ? 4 : 0) + (hasChange ? 8 : 0) + (hasEaSize ? 4 : 0))
  // [0] "" and its NUL, [1] alignment; version, then the union's level and 2 bytes of alignment.
  b.writeUInt16LE(DOSATTRIB_WRITE_VERSION, 2)
  b.writeUInt16LE(DOSATTRIB_WRITE_VERSION, 4)
  const created = r.creationTime !== undefined
  b.writeUInt32LE(XATTR_DOSINFO_ATTRIB | (created ? XATTR_DOSINFO_CREATE_TIME | XATTR_DOSINFO_ITIME : 0), 8)
  b.writeUInt32LE(((r.fileAttributes & DOS_STORED_ATTRIBUTES) | (directory ? FILE_ATTRIBUTE_DIRECTORY : 0)) >>> 0, 12)
  // FILETIMEs are unsigned on disk; a value outside u64 cannot come from the wire (decoders check).
  // itime (ksmbd's "inode creation time") is the creation time, as ksmbd writes it.
  b.writeBigUInt64LE(BigInt.asUintN(64, r.creationTime ?? 0n), 16)
  b.writeBigUInt64LE(BigInt.asUintN(64, r.creationTime ?? 0n), 24)
  b[32] = TAIL_MAGIC
  b[33] = TAIL_VERSION
  b[34] = (hasChange ? TAIL_CHANGE_TIME : 0) | (hasCreator ? TAIL_CREATOR : 0) | (hasEaSize ? TAIL_EA_SIZE : 0)
  b[35] = hasCreator ? r.creator!.mode & 0o77 : 0
  const [sec, ns] = splitNs(r.writeAnchorNs ?? 0n)
  b.writeBigInt64LE(BigInt.asIntN(64, sec), 36)
  b.writeUInt32LE(ns, 44)
  let p = DOSATTRIB_SMBTS_MIN_SIZE
  if (hasCreator) { b.writeUInt32LE(r.creator!.rid >>> 0, p); p += 4 }
  if (hasChange) { b.writeBigUInt64LE(BigInt.asUintN(64, r.changeTime!), p); p += 8 }
  if (hasEaSize) b.writeUInt32LE(r.eaSize! >>> 0, p)
  return b
}

/** The record in `value` (a user.DOSATTRIB or a legacy user.smbts.dos), or undefined when there is none we can read. */
export function decodeDosRecord (value: Uint8Array | null | undefined): DosRecord | undefined {
  if (value === null || value === undefined || value.length === 0) return undefined
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  return b[0] === LEGACY_VERSION ? decodeLegacy(b) : decodeDosAttrib(b)
}

/** A FILETIME field: absent when 0 (Samba's null_nttime) or above i64 max (not a time, MS-FSCC 2.1.1). */
function time (v: bigint): bigint | undefined {
  return v !== 0n && v <= I64_MAX ? v : undefined
}

function decodeDosAttrib (b: Buffer): DosRecord | undefined {
  const nul = b.indexOf(0)
  if (nul < 0) return undefined
  let p = nul + 1
  if (p >= b.length) {
    // Only the hex string: the oldest form, attributes alone (Samba reads it with %x).
    const m = /^(?:0[xX])?([0-9a-fA-F]{1,8})$/.exec(b.toString('latin1', 0, nul))
    if (m === null) return undefined
    return { fileAttributes: parseInt(m[1]!, 16) & DOS_STORED_ATTRIBUTES, origin: 'foreign' }
  }
  p = (p + 1) & ~1
  if (p + 4 > b.length) return undefined
  const version = b.readUInt16LE(p)
  if (b.readUInt16LE(p + 2) !== version) return undefined // the union's level must be the version
  p = (p + 4 + 3) & ~3
  const u32 = (at: number): number => b.readUInt32LE(p + at)
  const u64 = (at: number): bigint => b.readBigUInt64LE(p + at)
  const need = (n: number): boolean => p + n <= b.length
  let attrs: number
  let creation: bigint | undefined
  switch (version) {
    case 1: // attrib, ea_size, size, alloc_size, create_time, change_time
      if (!need(40)) return undefined
      attrs = u32(0)
      creation = time(u64(24))
      break
    case 2: // flags, attrib, ...: Samba takes the attributes only
      if (!need(8)) return undefined
      attrs = u32(4)
      break
    case 3: // valid_flags, attrib, ea_size, size, alloc_size, create_time, change_time
      if (!need(44)) return undefined
      attrs = u32(4)
      if ((u32(0) & XATTR_DOSINFO_CREATE_TIME) !== 0) creation = time(u64(28))
      break
    case 4: // valid_flags, attrib, itime, create_time
      if (!need(24)) return undefined
      attrs = u32(4)
      if ((u32(0) & XATTR_DOSINFO_CREATE_TIME) !== 0) creation = time(u64(16))
      break
    case 5: // valid_flags, attrib, create_time
      if (!need(16)) return undefined
      attrs = u32(4)
      if ((u32(0) & XATTR_DOSINFO_CREATE_TIME) !== 0) creation = time(u64(8))
      break
    default:
      return undefined
  }
  const r: DosRecord = { fileAttributes: attrs & DOS_STORED_ATTRIBUTES, origin: 'foreign' }
  if (creation !== undefined) r.creationTime = creation
  // smbts's tail, right after a v4 struct that starts where smbts puts it.
  if (version === 4 && p === 8) readTail(b, r)
  return r
}

/** smbts's tail after a v4 struct at 8 (either version), into `r`; nothing when there is none. */
function readTail (b: Buffer, r: DosRecord): void {
  if (b.length >= DOSATTRIB_SMBTS_MIN_SIZE && b[32] === TAIL_MAGIC && b[33] === TAIL_VERSION) {
    const flags = b[34]!
    const ns = b.readUInt32LE(44)
    const size = DOSATTRIB_SMBTS_MIN_SIZE + ((flags & TAIL_CREATOR) !== 0 ? 4 : 0) + ((flags & TAIL_CHANGE_TIME) !== 0 ? 8 : 0) + ((flags & TAIL_EA_SIZE) !== 0 ? 4 : 0)
    if (ns >= 1_000_000_000 || b.length < size) return
    r.origin = 'smbts'
    r.writeAnchorNs = b.readBigInt64LE(36) * NS_PER_S + BigInt(ns)
    let p = DOSATTRIB_SMBTS_MIN_SIZE
    if ((flags & TAIL_CREATOR) !== 0) { r.creator = { rid: b.readUInt32LE(p), mode: b[35]! & 0o77 }; p += 4 }
    if ((flags & TAIL_CHANGE_TIME) !== 0) {
      const change = b.readBigUInt64LE(p)
      if (change <= I64_MAX) r.changeTime = change
      p += 8
    }
    if ((flags & TAIL_EA_SIZE) !== 0) r.eaSize = b.readUInt32LE(p)
    return
  }
  if (b.length >= TAIL_V1_SIZE && b.readUInt32LE(32) === TAIL_V1_MAGIC && b.readUInt16LE(36) === 1) {
    const ns = b.readUInt32LE(56)
    if (ns >= 1_000_000_000) return
    r.origin = 'smbts'
    r.writeAnchorNs = b.readBigInt64LE(48) * NS_PER_S + BigInt(ns)
    const change = b.readBigUInt64LE(40)
    if ((b.readUInt16LE(38) & TAIL_CHANGE_TIME) !== 0 && change <= I64_MAX) r.changeTime = change
  }
}

// The legacy user.smbts.dos record, version 1 (40 bytes): u8 version (1), u8 flags (0x01
// CreationTime, 0x02 ChangeTime), u16 0, u32 FileAttributes, u64 CreationTime, u64 ChangeTime,
// i64 anchor seconds, u32 anchor ns, u32 0.
function decodeLegacy (b: Buffer): DosRecord | undefined {
  if (b.length < LEGACY_SIZE) return undefined
  const flags = b[1]!
  const anchorNs = b.readUInt32LE(32)
  if (anchorNs >= 1_000_000_000) return undefined // not a time: not a record smbts wrote
  const r: DosRecord = {
    fileAttributes: b.readUInt32LE(4) & DOS_STORED_ATTRIBUTES,
    writeAnchorNs: b.readBigInt64LE(24) * NS_PER_S + BigInt(anchorNs),
    origin: 'legacy',
  }
  const creation = b.readBigUInt64LE(8)
  const change = b.readBigUInt64LE(16)
  if ((flags & 0x01) !== 0 && creation <= I64_MAX) r.creationTime = creation
  if ((flags & 0x02) !== 0 && change <= I64_MAX) r.changeTime = change
  return r
}
