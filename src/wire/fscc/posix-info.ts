// SMB 3.1.1 POSIX extensions: the structures of the POSIX create context and of the POSIX
// information level. There is no MS document; the layout is Samba's (librpc/idl/smb3posix.idl,
// libcli/smb/smb2_posix.c) and the Linux client's (fs/smb/client: parse_posix_ctxt,
// smb311_posix_qinfo), all little-endian with no alignment padding:
//
//   smb3_posix_cc_info (the create context's answer, and the tail of the info level):
//     NumberOfLinks u32, ReparseTag u32, PosixMode u32, Owner SID, Group SID
//   smb3_file_posix_information (QUERY_INFO level 100, and each SMB2_FIND_POSIX_INFORMATION entry):
//     CreationTime, LastAccessTime, LastWriteTime, ChangeTime (FILETIMEs), EndOfFile,
//     AllocationSize (u64), FileAttributes u32, Inode u64, Device u32, Reserved u32, cc_info
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'
import { type Sid, sidByteLength, writeSid } from '../dtyp/sid.js'
import { FILE_ATTRIBUTE_REPARSE_POINT, IO_REPARSE_TAG_NFS, IO_REPARSE_TAG_SYMLINK } from './constants.js'
import type { FileInfo } from './types.js'
import { wireFileAttributes, writeTimes, writeU64 } from './util.js'

/**
 * The POSIX extensions' identifier: the Data of the SMB2_POSIX_EXTENSIONS_AVAILABLE negotiate
 * context (a list of such 16-byte identifiers) and the name of the POSIX create context
 * (Samba's SMB2_CREATE_TAG_POSIX, GUID 93AD25509CB411E7B42383DE968BCD7C as bytes).
 */
export const POSIX_EXTENSIONS_ID = Buffer.from('93ad25509cb411e7b42383de968bcd7c', 'hex')
/** The same bytes as a create context name (create.wire.ts reads names as latin1). */
export const POSIX_CREATE_CONTEXT_NAME = POSIX_EXTENSIONS_ID.toString('latin1')

/**
 * QUERY_INFO's FilePosixInformation and QUERY_DIRECTORY's SMB2_FIND_POSIX_INFORMATION: both 100
 * (0x64), served only on an open made with the POSIX create context (Samba: INVALID_LEVEL else).
 */
export const FILE_POSIX_INFORMATION = 100

/** The permission bits the wire mode carries (rwx for user/group/other, sticky, setgid, setuid): Linux's own. */
export const POSIX_PERM_MASK = 0o7777
/** Bits 12-14 of the wire mode: the file type, numbered as below (not Linux's S_IFMT values). */
const WIRE_TYPE_SHIFT = 12
const WIRE_TYPE_MASK = 0o70000
/** Wire file types in their order (Samba's UNIX_TYPE_FILE = 0 .. UNIX_TYPE_SOCKET = 6), as S_IFMT values. */
const WIRE_TYPES = [0o100000, 0o040000, 0o120000, 0o020000, 0o060000, 0o010000, 0o140000]

/**
 * A Linux mode as the wire's PosixMode. Regular files and directories are sent with type 0, as
 * Samba up to 4.22 sends them: the Linux client before 6.11 (Debian 12's 6.1 among them) takes
 * PosixMode as the permission bits alone and adds the type from the attributes, so any type bits
 * there would make a directory's mode garbage; later clients read type 0 with
 * FILE_ATTRIBUTE_DIRECTORY as a directory. The other types (symlink, devices, FIFO, socket) carry
 * their number, as Samba 4.23 sends every type.
 */
export function posixModeToWire (mode: number): number {
  const type = mode & 0o170000
  const perms = mode & POSIX_PERM_MASK
  if (type === 0o100000 || type === 0o040000 || type === 0) return perms
  const n = WIRE_TYPES.indexOf(type)
  return n < 0 ? perms : (perms | (n << WIRE_TYPE_SHIFT)) >>> 0
}

/** The wire PosixMode as a Linux mode (type bits 0 when the wire says none or a number past 6). */
export function posixModeFromWire (wire: number): number {
  const n = (wire & WIRE_TYPE_MASK) >>> WIRE_TYPE_SHIFT
  return ((wire & POSIX_PERM_MASK) | (n < WIRE_TYPES.length && n !== 0 ? WIRE_TYPES[n] : 0)) >>> 0
}

/**
 * The POSIX create context's request Data: the mode a new file or directory gets (PosixMode, 4
 * bytes: Samba refuses any other length with STATUS_INVALID_PARAMETER, and so do we). Only the
 * permission bits count; a type in it is ignored (what is created is what the CREATE says).
 */
export function decodePosixCreateContext (data: Buffer): { mode: number } {
  if (data.length !== 4) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `POSIX create context of ${data.length} bytes (4 expected)`)
  return { mode: data.readUInt32LE(0) & POSIX_PERM_MASK }
}

/** What the POSIX structures say of a file beyond FileInfo. */
export interface PosixIdentity {
  /** Linux st_mode (type and permissions); st_nlink is info.numberOfLinks. */
  mode: number
  owner: Sid
  group: Sid
  /** st_dev (low 32 bits), 0 when unknown. */
  device?: number
}

/** What the POSIX structures say of one file. */
export interface PosixFileInfo extends PosixIdentity {
  info: FileInfo
}

/**
 * The reparse tag the POSIX structures report: a symlink's IO_REPARSE_TAG_SYMLINK, a FIFO's,
 * socket's or device's IO_REPARSE_TAG_NFS (as Samba reports them, smb2_posix.c); 0 otherwise.
 */
export function posixReparseTag (mode: number): number {
  const type = mode & 0o170000
  if (type === 0o120000) return IO_REPARSE_TAG_SYMLINK
  if (type === 0o010000 || type === 0o020000 || type === 0o060000 || type === 0o140000) return IO_REPARSE_TAG_NFS
  return 0
}

/** Bytes of smb3_posix_cc_info for these SIDs. */
export const posixCcInfoLength = (owner: Sid, group: Sid): number => 12 + sidByteLength(owner) + sidByteLength(group)

function writeCcInfo (b: Buffer, off: number, p: PosixFileInfo): number {
  b.writeUInt32LE(p.info.numberOfLinks >>> 0, off)
  b.writeUInt32LE(posixReparseTag(p.mode) >>> 0, off + 4)
  b.writeUInt32LE(posixModeToWire(p.mode), off + 8)
  off += 12
  off += writeSid(b, off, p.owner)
  return off + writeSid(b, off, p.group)
}

/** smb3_posix_cc_info: the POSIX create context's answer. */
export function encodePosixCreateResponse (p: PosixFileInfo): Buffer {
  const b = Buffer.alloc(posixCcInfoLength(p.owner, p.group))
  writeCcInfo(b, 0, p)
  return b
}

/** The fixed part of smb3_file_posix_information before the cc_info. */
const POSIX_INFO_FIXED = 68

/** Bytes of smb3_file_posix_information for these SIDs. */
export const filePosixInformationLength = (owner: Sid, group: Sid): number => POSIX_INFO_FIXED + posixCcInfoLength(owner, group)

/**
 * Writes smb3_file_posix_information at `off` of `b` (which has room: filePosixInformationLength);
 * returns the offset after it. FileAttributes as every other level shows them, with
 * REPARSE_POINT for what has a reparse tag.
 */
export function writeFilePosixInformation (b: Buffer, off: number, p: PosixFileInfo): number {
  writeTimes(b, off, p.info)
  writeU64(b, off + 32, p.info.endOfFile)
  writeU64(b, off + 40, p.info.allocationSize)
  const attrs = wireFileAttributes(p.info) | (posixReparseTag(p.mode) !== 0 ? FILE_ATTRIBUTE_REPARSE_POINT : 0)
  b.writeUInt32LE(attrs >>> 0, off + 48)
  writeU64(b, off + 52, p.info.indexNumber)
  b.writeUInt32LE((p.device ?? 0) >>> 0, off + 60)
  b.writeUInt32LE(0, off + 64)
  return writeCcInfo(b, off + POSIX_INFO_FIXED, p)
}

/** FilePosixInformation (QUERY_INFO level 100). */
export function encodeFilePosixInformation (p: PosixFileInfo): Buffer {
  const b = Buffer.alloc(filePosixInformationLength(p.owner, p.group))
  writeFilePosixInformation(b, 0, p)
  return b
}

/**
 * SMB2_FIND_POSIX_INFORMATION entries (Samba smbd_marshall_dir_entry): NextEntryOffset, FileIndex,
 * smb3_file_posix_information, FileNameLength, FileName. The SIDs are the Unix ones
 * (S-1-22-1-uid, S-1-22-2-gid), 16 bytes each, so the name always starts at 124.
 */
const UNIX_SID_BYTES = 16
export const POSIX_DIR_ENTRY_NAME_OFFSET = 8 + POSIX_INFO_FIXED + 12 + 2 * UNIX_SID_BYTES + 4

/** Writes one entry's fixed part at `off` (the caller writes NextEntryOffset and the name). */
export function writePosixDirEntry (b: Buffer, off: number, e: { info: FileInfo, fileIndex?: number, posix?: PosixIdentity }, nameBytes: number): void {
  const p = e.posix
  if (p === undefined) throw new Error('SMB2_FIND_POSIX_INFORMATION entry without its POSIX identity')
  if (sidByteLength(p.owner) !== UNIX_SID_BYTES || sidByteLength(p.group) !== UNIX_SID_BYTES) throw new Error('SMB2_FIND_POSIX_INFORMATION entry: owner and group must be Unix SIDs')
  b.writeUInt32LE((e.fileIndex ?? 0) >>> 0, off + 4)
  const end = writeFilePosixInformation(b, off + 8, { ...p, info: e.info })
  b.writeUInt32LE(nameBytes >>> 0, end)
}
