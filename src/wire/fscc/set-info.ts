// SET_INFO with InfoType SMB2_0_INFO_FILE: decoders for the MS-FSCC 2.4 input buffers.
//
// Each decoder checks the buffer once and returns a plain object. Errors are NtStatusError only:
// - buffer shorter than the structure's fixed part → STATUS_INFO_LENGTH_MISMATCH (MS-FSA 2.1.5.15.x)
// - a length field pointing past the buffer, or a field value the spec forbids →
//   STATUS_INVALID_PARAMETER; a malformed EA list → STATUS_EA_LIST_INCONSISTENT.
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'
import { classifySetFiletime } from '../filetime.js'
import {
  FileInformationClass as C, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_TEMPORARY,
  FILE_DISPOSITION_DELETE, FILE_DISPOSITION_POSIX_SEMANTICS, FILE_DISPOSITION_FORCE_IMAGE_SECTION_CHECK,
  FILE_DISPOSITION_ON_CLOSE, FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE, FILE_NEED_EA,
  isDocumentedFileInformationClass
} from './constants.js'
import { CreateOptions } from '../constants.js'

const lengthMismatch = (): NtStatusError => new NtStatusError(NtStatus.INFO_LENGTH_MISMATCH)
const invalid = (why: string): NtStatusError => new NtStatusError(NtStatus.INVALID_PARAMETER, why)

function need (buf: Buffer, n: number): void {
  if (buf.length < n) throw lengthMismatch()
}

function nonNegative (v: bigint, field: string): bigint {
  if (v < 0n) throw invalid(`${field} is negative`)
  return v
}

/** Decode a UTF-16LE name of `len` bytes at `off`: even, non-empty, inside the buffer. */
function readName (buf: Buffer, off: number, len: number, field: string, allowEmpty = false): string {
  if (len > buf.length - off) throw invalid(`${field} runs past the buffer`)
  if ((len & 1) !== 0) throw invalid(`${field} has an odd length`)
  if (len === 0 && !allowEmpty) throw invalid(`${field} is empty`)
  return buf.toString('utf16le', off, off + len)
}

// ---- MS-FSCC 2.4.7 FileBasicInformation ---------------------------------------------------------

export const FILE_BASIC_INFORMATION_SET_SIZE = 40

export interface SetFileBasicInformation {
  /** Signed FILETIMEs: 0 don't change, -1 stop updating, -2 resume updating (see filetime.ts). */
  creationTime: bigint
  lastAccessTime: bigint
  lastWriteTime: bigint
  changeTime: bigint
  /** 0 = don't change. */
  fileAttributes: number
}

/**
 * MS-FSA 2.1.5.15.2. With `isDirectory` given, also applies the checks that need the open:
 * DIRECTORY on a file, TEMPORARY on a directory → STATUS_INVALID_PARAMETER.
 */
export function decodeFileBasicInformation (buf: Buffer, opts: { isDirectory?: boolean } = {}): SetFileBasicInformation {
  need(buf, FILE_BASIC_INFORMATION_SET_SIZE)
  const r: SetFileBasicInformation = {
    creationTime: buf.readBigInt64LE(0),
    lastAccessTime: buf.readBigInt64LE(8),
    lastWriteTime: buf.readBigInt64LE(16),
    changeTime: buf.readBigInt64LE(24),
    fileAttributes: buf.readUInt32LE(32)
  }
  for (const f of ['creationTime', 'lastAccessTime', 'lastWriteTime', 'changeTime'] as const) {
    if (classifySetFiletime(r[f]) === 'invalid') throw invalid(`${f} below -2`)
  }
  if (opts.isDirectory === false && (r.fileAttributes & FILE_ATTRIBUTE_DIRECTORY) !== 0) {
    throw invalid('FILE_ATTRIBUTE_DIRECTORY on a file')
  }
  if (opts.isDirectory === true && (r.fileAttributes & FILE_ATTRIBUTE_TEMPORARY) !== 0) {
    throw invalid('FILE_ATTRIBUTE_TEMPORARY on a directory')
  }
  return r
}

// ---- MS-FSCC 2.4.42.2 FileRenameInformation (SMB2 form) / FileLinkInformation (same form) -------

/** ReplaceIfExists (1), Reserved (7), RootDirectory (8), FileNameLength (4). */
export const FILE_RENAME_INFORMATION_FIXED_SIZE = 20

export interface SetFileRenameInformation {
  replaceIfExists: boolean
  /** MS-SMB2 2.2.39: reserved for SMB2, zero from well-behaved clients; not interpreted. */
  rootDirectory: bigint
  /** Target name as sent: share-relative, backslash-separated; may carry a `:stream` suffix. */
  fileName: string
}

function decodeRenameForm (buf: Buffer): SetFileRenameInformation {
  need(buf, FILE_RENAME_INFORMATION_FIXED_SIZE)
  const len = buf.readUInt32LE(16)
  return {
    replaceIfExists: buf.readUInt8(0) !== 0,
    rootDirectory: buf.readBigUInt64LE(8),
    fileName: readName(buf, FILE_RENAME_INFORMATION_FIXED_SIZE, len, 'FileName')
  }
}

export const decodeFileRenameInformation = decodeRenameForm
export const decodeFileLinkInformation = decodeRenameForm

// ---- MS-FSCC 2.4 FileDispositionInformation / FileDispositionInformationEx ----------------------

export interface SetFileDispositionInformation { deletePending: boolean }

export function decodeFileDispositionInformation (buf: Buffer): SetFileDispositionInformation {
  need(buf, 1)
  return { deletePending: buf.readUInt8(0) !== 0 }
}

const DISPOSITION_EX_VALID = FILE_DISPOSITION_DELETE | FILE_DISPOSITION_POSIX_SEMANTICS |
  FILE_DISPOSITION_FORCE_IMAGE_SECTION_CHECK | FILE_DISPOSITION_ON_CLOSE | FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE

export interface SetFileDispositionInformationEx { flags: number }

export function decodeFileDispositionInformationEx (buf: Buffer): SetFileDispositionInformationEx {
  need(buf, 4)
  const flags = buf.readUInt32LE(0)
  if ((flags & ~DISPOSITION_EX_VALID) !== 0) throw invalid('unknown disposition flags')
  return { flags }
}

// ---- 8-byte scalar classes ---------------------------------------------------------------------

/** MS-FSCC 2.4 FilePositionInformation: CurrentByteOffset ≥ 0. */
export function decodeFilePositionInformation (buf: Buffer): { currentByteOffset: bigint } {
  need(buf, 8)
  return { currentByteOffset: nonNegative(buf.readBigInt64LE(0), 'CurrentByteOffset') }
}

/** MS-FSCC 2.4 FileEndOfFileInformation: EndOfFile ≥ 0. */
export function decodeFileEndOfFileInformation (buf: Buffer): { endOfFile: bigint } {
  need(buf, 8)
  return { endOfFile: nonNegative(buf.readBigInt64LE(0), 'EndOfFile') }
}

/** MS-FSCC 2.4 FileAllocationInformation: AllocationSize ≥ 0. */
export function decodeFileAllocationInformation (buf: Buffer): { allocationSize: bigint } {
  need(buf, 8)
  return { allocationSize: nonNegative(buf.readBigInt64LE(0), 'AllocationSize') }
}

/** MS-FSCC 2.4 FileValidDataLengthInformation: ValidDataLength ≥ 0. */
export function decodeFileValidDataLengthInformation (buf: Buffer): { validDataLength: bigint } {
  need(buf, 8)
  return { validDataLength: nonNegative(buf.readBigInt64LE(0), 'ValidDataLength') }
}

// ---- MS-FSCC 2.4.30 FileModeInformation ---------------------------------------------------------

const MODE_SETTABLE = CreateOptions.WRITE_THROUGH | CreateOptions.SEQUENTIAL_ONLY | CreateOptions.SYNCHRONOUS_IO_ALERT |
  CreateOptions.SYNCHRONOUS_IO_NONALERT

/**
 * MS-FSA 2.1.5.15.7: only WRITE_THROUGH, SEQUENTIAL_ONLY and the two SYNCHRONOUS_IO flags, never
 * both SYNCHRONOUS_IO flags. (Whether the sync flags match the open's is the handler's check.)
 */
export function decodeFileModeInformation (buf: Buffer): { mode: number } {
  need(buf, 4)
  const mode = buf.readUInt32LE(0)
  if ((mode & ~MODE_SETTABLE) !== 0) throw invalid('mode flag not settable')
  if ((mode & CreateOptions.SYNCHRONOUS_IO_ALERT) !== 0 && (mode & CreateOptions.SYNCHRONOUS_IO_NONALERT) !== 0) {
    throw invalid('both SYNCHRONOUS_IO flags')
  }
  return { mode }
}

// ---- MS-FSCC 2.4 FileShortNameInformation -------------------------------------------------------

export function decodeFileShortNameInformation (buf: Buffer): { fileName: string } {
  need(buf, 4)
  return { fileName: readName(buf, 4, buf.readUInt32LE(0), 'FileName') }
}

// ---- MS-FSCC 2.4.15 FileFullEaInformation -------------------------------------------------------

export interface FullEaEntry {
  /** 0 or FILE_NEED_EA. */
  flags: number
  /** ASCII (8-bit) name, as sent. */
  name: string
  /** A view into the request buffer; copy it if it must outlive the request. */
  value: Buffer
}

/** NextEntryOffset (4), Flags (1), EaNameLength (1), EaValueLength (2). */
export const FILE_FULL_EA_INFORMATION_FIXED_SIZE = 8

// MS-FSCC 2.4.15: EaName characters that are not allowed (control characters too).
const EA_NAME_ILLEGAL = new Set('"*+,/:;<=>?[\\]|'.split('').map(c => c.charCodeAt(0)))

function eaListInconsistent (why: string): NtStatusError {
  return new NtStatusError(NtStatus.EA_LIST_INCONSISTENT, why)
}

/**
 * Parse a FILE_FULL_EA_INFORMATION chain (MS-FSCC 2.4.15, MS-FSA 2.1.5.15.x): every entry inside
 * the buffer, EaName NUL-terminated, NextEntryOffset 4-aligned and past the entry it follows.
 */
export function decodeFileFullEaInformation (buf: Buffer): FullEaEntry[] {
  need(buf, FILE_FULL_EA_INFORMATION_FIXED_SIZE)
  const out: FullEaEntry[] = []
  let off = 0
  for (;;) {
    if (buf.length - off < FILE_FULL_EA_INFORMATION_FIXED_SIZE) throw eaListInconsistent('entry header past the buffer')
    const next = buf.readUInt32LE(off)
    const flags = buf.readUInt8(off + 4)
    const nameLen = buf.readUInt8(off + 5)
    const valueLen = buf.readUInt16LE(off + 6)
    const nameOff = off + FILE_FULL_EA_INFORMATION_FIXED_SIZE
    const valueOff = nameOff + nameLen + 1
    const entryEnd = valueOff + valueLen
    if (entryEnd > buf.length) throw eaListInconsistent('entry past the buffer')
    if (buf[nameOff + nameLen] !== 0) throw eaListInconsistent('EaName not NUL-terminated')
    if ((flags & ~FILE_NEED_EA) !== 0) throw invalid('unknown EA flags')
    if (nameLen === 0) throw new NtStatusError(NtStatus.INVALID_EA_NAME, 'empty EaName')
    for (let i = nameOff; i < nameOff + nameLen; i++) {
      const c = buf[i]!
      if (c < 0x20 || EA_NAME_ILLEGAL.has(c)) throw new NtStatusError(NtStatus.INVALID_EA_NAME)
    }
    out.push({ flags, name: buf.toString('latin1', nameOff, nameOff + nameLen), value: buf.subarray(valueOff, entryEnd) })
    if (next === 0) return out
    if ((next & 3) !== 0 || next < entryEnd - off || next > buf.length - off) {
      throw eaListInconsistent('bad NextEntryOffset')
    }
    off += next
  }
}

/** Bytes one entry takes when followed by another (4-byte aligned) or last (unpadded). */
const eaEntrySize = (e: FullEaEntry): number => FILE_FULL_EA_INFORMATION_FIXED_SIZE + Buffer.byteLength(e.name, 'latin1') + 1 + e.value.length

/**
 * Encode a FILE_FULL_EA_INFORMATION chain (MS-FSCC 2.4.15) for QUERY_INFO FileFullEaInformation:
 * entries 4-byte aligned, last NextEntryOffset 0. Names must be 1..255 latin1 bytes, values up to
 * 65535 bytes (else INVALID_PARAMETER). Returns the whole list; MS-FSA 2.1.5.12.12 paging (which
 * entries fit the client buffer) is the handler's, using fullEaEntryByteLength().
 */
export function encodeFileFullEaInformation (entries: readonly FullEaEntry[]): Buffer {
  let total = 0
  entries.forEach((e, i) => {
    const nameLen = Buffer.byteLength(e.name, 'latin1')
    if (nameLen === 0 || nameLen > 255 || e.value.length > 0xFFFF) throw invalid('EA entry out of range')
    total += i + 1 < entries.length ? (eaEntrySize(e) + 3) & ~3 : eaEntrySize(e)
  })
  const b = Buffer.alloc(total)
  let off = 0
  entries.forEach((e, i) => {
    const size = eaEntrySize(e)
    const next = i + 1 < entries.length ? (size + 3) & ~3 : 0
    const nameLen = b.write(e.name, off + 8, 'latin1')
    b.writeUInt32LE(next, off)
    b.writeUInt8(e.flags & 0xFF, off + 4)
    b.writeUInt8(nameLen, off + 5)
    b.writeUInt16LE(e.value.length, off + 6)
    e.value.copy(b, off + 8 + nameLen + 1)
    off += next
  })
  return b
}

/** Unpadded size of one FILE_FULL_EA_INFORMATION entry. */
export const fullEaEntryByteLength = eaEntrySize

// ---- dispatcher ---------------------------------------------------------------------------------

export type SetFileInfo =
  | { cls: typeof C.FileBasicInformation, value: SetFileBasicInformation }
  | { cls: typeof C.FileRenameInformation, value: SetFileRenameInformation }
  | { cls: typeof C.FileLinkInformation, value: SetFileRenameInformation }
  | { cls: typeof C.FileDispositionInformation, value: SetFileDispositionInformation }
  | { cls: typeof C.FileDispositionInformationEx, value: SetFileDispositionInformationEx }
  | { cls: typeof C.FilePositionInformation, value: { currentByteOffset: bigint } }
  | { cls: typeof C.FileModeInformation, value: { mode: number } }
  | { cls: typeof C.FileEndOfFileInformation, value: { endOfFile: bigint } }
  | { cls: typeof C.FileAllocationInformation, value: { allocationSize: bigint } }
  | { cls: typeof C.FileValidDataLengthInformation, value: { validDataLength: bigint } }
  | { cls: typeof C.FileFullEaInformation, value: FullEaEntry[] }
  | { cls: typeof C.FileShortNameInformation, value: { fileName: string } }

/**
 * Decode a SET_INFO FILE-class buffer; `opts.isDirectory` (the open's kind) enables the checks of
 * FileBasicInformation that depend on it. Documented classes this server does not set →
 * STATUS_NOT_SUPPORTED; undocumented → STATUS_INVALID_INFO_CLASS (MS-SMB2 3.3.5.21.1).
 */
export function decodeSetFileInfo (cls: number, buf: Buffer, opts: { isDirectory?: boolean } = {}): SetFileInfo {
  switch (cls) {
    case C.FileBasicInformation: return { cls, value: decodeFileBasicInformation(buf, opts) }
    case C.FileRenameInformation: return { cls, value: decodeFileRenameInformation(buf) }
    case C.FileLinkInformation: return { cls, value: decodeFileLinkInformation(buf) }
    case C.FileDispositionInformation: return { cls, value: decodeFileDispositionInformation(buf) }
    case C.FileDispositionInformationEx: return { cls, value: decodeFileDispositionInformationEx(buf) }
    case C.FilePositionInformation: return { cls, value: decodeFilePositionInformation(buf) }
    case C.FileModeInformation: return { cls, value: decodeFileModeInformation(buf) }
    case C.FileEndOfFileInformation: return { cls, value: decodeFileEndOfFileInformation(buf) }
    case C.FileAllocationInformation: return { cls, value: decodeFileAllocationInformation(buf) }
    case C.FileValidDataLengthInformation: return { cls, value: decodeFileValidDataLengthInformation(buf) }
    case C.FileFullEaInformation: return { cls, value: decodeFileFullEaInformation(buf) }
    case C.FileShortNameInformation: return { cls, value: decodeFileShortNameInformation(buf) }
  }
  if (isDocumentedFileInformationClass(cls)) throw new NtStatusError(NtStatus.NOT_SUPPORTED)
  throw new NtStatusError(NtStatus.INVALID_INFO_CLASS, `unknown file information class ${cls}`)
}
