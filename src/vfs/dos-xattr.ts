// The DOS metadata Linux has no place for, kept in one user xattr of our own (`user.smbts.dos`):
// CreationTime, a ChangeTime the client set, and the DOS attributes (MS-FSCC 2.6) that have no
// POSIX equivalent. A pure codec: no I/O here (the posix backend reads and writes the xattr).
//
// Format, version 1 (40 bytes, little-endian):
//   0  u8   Version (1)
//   1  u8   Flags: 0x01 CreationTime present, 0x02 ChangeTime present (other bits: ignored)
//   2  u16  Reserved (0)
//   4  u32  FileAttributes (only DOS_STORED_ATTRIBUTES bits are meaningful)
//   8  u64  CreationTime (FILETIME, MS-DTYP 2.3.3)
//  16  u64  ChangeTime (FILETIME), meaningful with flag 0x02
//  24  i64  WriteAnchor seconds  } the file's Linux mtime when the record was written, as the
//  32  u32  WriteAnchor ns (<1e9) } kernel keeps it (seconds + ns: ext4 goes past 2^63 ns, 2262 AD)
//  36  u32  Reserved (0)
//
// Why an anchor: Linux ctime cannot be set, and writing the xattr itself moves it, so a stored
// ChangeTime can only be tied to something the record write leaves alone. The mtime is that: while
// it still equals WriteAnchor, nothing rewrote the data since the record was written, and a stored
// ChangeTime still holds; once it moves (a WRITE, a truncate, a local `echo >>`), the file changed
// after the client set the time, so the reported ChangeTime is the live ctime again and the file
// counts as modified for FILE_ATTRIBUTE_ARCHIVE (MS-FSA 2.1.4.17: a modification sets ARCHIVE).
//
// Decoding never throws: a value that is too short, of an unknown version or otherwise not ours
// reads as "no record", so a damaged xattr costs only the stored metadata, never an operation.
import {
  FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_NOT_CONTENT_INDEXED, FILE_ATTRIBUTE_OFFLINE,
  FILE_ATTRIBUTE_READONLY, FILE_ATTRIBUTE_SPARSE_FILE, FILE_ATTRIBUTE_SYSTEM, FILE_ATTRIBUTE_TEMPORARY,
} from '../wire/fscc/constants.js'

/** The xattr's name. The `user.` namespace needs no privilege and is kept by cp -a, tar --xattrs, rsync -X. */
export const DOS_XATTR_NAME = 'user.smbts.dos'

export const DOS_XATTR_VERSION = 1
export const DOS_XATTR_V1_SIZE = 40

const FLAG_CREATION_TIME = 0x01
const FLAG_CHANGE_TIME = 0x02

/**
 * The attributes a record can hold: MS-FSA 2.1.5.15.2 ValidSetAttributes, and SPARSE_FILE (set
 * only by FSCTL_SET_SPARSE, smb2/commands/sparse.ts). READONLY is stored for directories only; a
 * file's READONLY is its mode's write bits (see posix.ts).
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
  /** The file's mtime (Unix ns, any size the kernel reports) when this record was written. */
  writeAnchorNs: bigint
}

const U64_MAX = 0xFFFF_FFFF_FFFF_FFFFn
const NS_PER_S = 1_000_000_000n

export function encodeDosRecord (r: DosRecord): Buffer {
  const b = Buffer.alloc(DOS_XATTR_V1_SIZE)
  b[0] = DOS_XATTR_VERSION
  b[1] = (r.creationTime !== undefined ? FLAG_CREATION_TIME : 0) | (r.changeTime !== undefined ? FLAG_CHANGE_TIME : 0)
  b.writeUInt32LE((r.fileAttributes & DOS_STORED_ATTRIBUTES) >>> 0, 4)
  // FILETIMEs are unsigned on disk; a value outside u64 cannot come from the wire (decoders check).
  b.writeBigUInt64LE(BigInt.asUintN(64, r.creationTime ?? 0n), 8)
  b.writeBigUInt64LE(BigInt.asUintN(64, r.changeTime ?? 0n), 16)
  // Floor division, so a pre-1970 mtime keeps 0 <= ns < 1e9.
  let sec = r.writeAnchorNs / NS_PER_S
  let ns = r.writeAnchorNs % NS_PER_S
  if (ns < 0n) { ns += NS_PER_S; sec -= 1n }
  b.writeBigInt64LE(BigInt.asIntN(64, sec), 24)
  b.writeUInt32LE(Number(ns), 32)
  return b
}

/** The record in `value`, or undefined when there is none we can read (absent, short, other version). */
export function decodeDosRecord (value: Uint8Array | null | undefined): DosRecord | undefined {
  if (value === null || value === undefined || value.length < DOS_XATTR_V1_SIZE) return undefined
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  // A later version may add fields, but it gets a new number: reading it as v1 could misreport.
  if (b[0] !== DOS_XATTR_VERSION) return undefined
  const flags = b[1]
  const creation = b.readBigUInt64LE(8)
  const change = b.readBigUInt64LE(16)
  const anchorNs = b.readUInt32LE(32)
  if (anchorNs >= 1_000_000_000) return undefined // not a time: not a record we wrote
  const r: DosRecord = {
    fileAttributes: b.readUInt32LE(4) & DOS_STORED_ATTRIBUTES,
    writeAnchorNs: b.readBigInt64LE(24) * NS_PER_S + BigInt(anchorNs),
  }
  // A FILETIME above i64 max is not a time (MS-FSCC 2.1.1); treat the field as absent.
  if ((flags & FLAG_CREATION_TIME) !== 0 && creation <= U64_MAX >> 1n) r.creationTime = creation
  if ((flags & FLAG_CHANGE_TIME) !== 0 && change <= U64_MAX >> 1n) r.changeTime = change
  return r
}
