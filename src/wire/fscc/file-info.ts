// QUERY_INFO with InfoType SMB2_0_INFO_FILE: the MS-FSCC 2.4 structures a server returns.
//
// Output-length rules (MS-SMB2 3.3.5.20.1, MS-FSA 2.1.5.12.x), applied by queryFileInfo():
// - OutputBufferLength below the class's structure (what sizeof gives on Windows: the fixed part
//   and a name's first character, padded to the structure's alignment; MS-FSA 2.1.5.12: "smaller
//   than sizeof(FILE_ALL_INFORMATION)") → STATUS_INFO_LENGTH_MISMATCH (thrown).
// - Name-tailed classes (FileNameInformation, FileNormalizedNameInformation,
//   FileAlternateNameInformation, FileAllInformation): the fixed part plus as many whole UTF-16
//   code units of the name as fit; FileNameLength keeps the full length so the client can retry
//   with a bigger buffer; status STATUS_BUFFER_OVERFLOW.
// - FileStreamInformation: whole entries only; the ones that fit, STATUS_BUFFER_OVERFLOW.
// - Every other class is fixed-size: it fits or it is STATUS_INFO_LENGTH_MISMATCH.
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'
import {
  FileInformationClass as C, FILE_ATTRIBUTE_REPARSE_POINT, COMPRESSION_FORMAT_NONE, FILE_BYTE_ALIGNMENT,
  isDocumentedFileInformationClass
} from './constants.js'
import type { FileInfo, InfoResult } from './types.js'
import { align8, utf16, wireFileAttributes, writeTimes, writeU64 } from './util.js'

/** One data stream of a file as FileStreamInformation lists it. */
export interface StreamInfo {
  /** The wire name, `::$DATA` for the unnamed stream, `:name:$DATA` for a named one. */
  name: string
  size: bigint
  allocationSize: bigint
}

/** Everything a FILE-class query may need besides the FileInfo. */
export interface FileQueryContext {
  info: FileInfo
  /** FileNameInformation/FileNormalizedNameInformation/FileAllInformation: the name as the
   *  client should see it, share-relative with a leading backslash (`\dir\a.txt`). */
  name?: string
  /** FileAlternateNameInformation: the 8.3 name; absent → STATUS_OBJECT_NAME_NOT_FOUND. */
  shortName?: string
  /** FilePositionInformation: Open.CurrentByteOffset (MS-SMB2 3.3.5.20.1 says SHOULD be 0). */
  position?: bigint
  /** FileModeInformation: the FILE_* mode bits of the open (CreateOptions subset). */
  mode?: number
  /** FileAccessInformation: Open.GrantedAccess. */
  accessFlags?: number
  /** FileAlignmentInformation: AlignmentRequirement, default FILE_BYTE_ALIGNMENT. */
  alignmentRequirement?: number
  /** FileIdInformation: the volume's 64-bit serial number. */
  volumeSerialNumber?: bigint
  /** FileAttributeTagInformation: reparse tag when FILE_ATTRIBUTE_REPARSE_POINT is set. */
  reparseTag?: number
  /** FileStreamInformation: the streams; default one `::$DATA` for files, none for directories. */
  streams?: readonly StreamInfo[]
}

// Fixed-part sizes (bytes) per class: the OutputBufferLength below which a query is
// STATUS_INFO_LENGTH_MISMATCH (MS-SMB2 3.3.5.20.1 "fixed length part").
export const FILE_BASIC_INFORMATION_SIZE = 40 // MS-FSCC 2.4.7
export const FILE_STANDARD_INFORMATION_SIZE = 24 // MS-FSCC 2.4.45
export const FILE_INTERNAL_INFORMATION_SIZE = 8 // MS-FSCC 2.4.26
export const FILE_EA_INFORMATION_SIZE = 4 // MS-FSCC 2.4 FileEaInformation
export const FILE_ACCESS_INFORMATION_SIZE = 4 // MS-FSCC 2.4.1
export const FILE_POSITION_INFORMATION_SIZE = 8 // MS-FSCC 2.4 FilePositionInformation
export const FILE_MODE_INFORMATION_SIZE = 4 // MS-FSCC 2.4.30
export const FILE_ALIGNMENT_INFORMATION_SIZE = 4 // MS-FSCC 2.4 FileAlignmentInformation
/** FileNameInformation & co: FileNameLength only; the name is the variable part. */
export const FILE_NAME_INFORMATION_FIXED_SIZE = 4 // MS-FSCC 2.4.31
/** FileAllInformation: Basic..Alignment (96) + NameInformation.FileNameLength (4). */
export const FILE_ALL_INFORMATION_FIXED_SIZE = 100 // MS-FSCC 2.4.2
export const FILE_STREAM_INFORMATION_FIXED_SIZE = 24 // MS-FSCC 2.4 FileStreamInformation
// sizeof() of the same structures on Windows (a one-character name, padded to 8 or 4 bytes).
export const FILE_NAME_INFORMATION_MIN_SIZE = 8
export const FILE_ALL_INFORMATION_MIN_SIZE = 104
export const FILE_STREAM_INFORMATION_MIN_SIZE = 32
export const FILE_COMPRESSION_INFORMATION_SIZE = 16 // MS-FSCC 2.4 FileCompressionInformation
export const FILE_NETWORK_OPEN_INFORMATION_SIZE = 56 // MS-FSCC 2.4 FileNetworkOpenInformation
export const FILE_ATTRIBUTE_TAG_INFORMATION_SIZE = 8 // MS-FSCC 2.4 FileAttributeTagInformation
export const FILE_ID_INFORMATION_SIZE = 24 // MS-FSCC 2.4 FileIdInformation

type Tail = 'none' | 'name' | 'entries'
/** `min`: the smallest buffer not refused with INFO_LENGTH_MISMATCH when larger than `fixed`
 *  (Windows' sizeof of a structure with a variable tail; smbtorture smb2.getinfo.qfile_buffercheck). */
interface ClassCodec { fixed: number, min?: number, tail: Tail, encode: (ctx: FileQueryContext, limit: number) => Buffer }

function fixed (size: number, fill: (b: Buffer, ctx: FileQueryContext) => void): ClassCodec {
  return { fixed: size, tail: 'none', encode: (ctx) => { const b = Buffer.alloc(size); fill(b, ctx); return b } }
}

function fillBasic (b: Buffer, off: number, info: FileInfo): void {
  writeTimes(b, off, info)
  b.writeUInt32LE(wireFileAttributes(info), off + 32) // Reserved (4) stays zero
}

function fillStandard (b: Buffer, off: number, info: FileInfo): void {
  writeU64(b, off, info.allocationSize)
  writeU64(b, off + 8, info.endOfFile)
  b.writeUInt32LE(info.numberOfLinks >>> 0, off + 16)
  b.writeUInt8(info.deletePending === true ? 1 : 0, off + 20)
  b.writeUInt8(info.isDirectory ? 1 : 0, off + 21)
}

function requireName (ctx: FileQueryContext): string {
  if (ctx.name === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'name required for this class')
  return ctx.name
}

function nameInfo (name: string): Buffer {
  const n = utf16(name)
  const b = Buffer.alloc(4 + n.length)
  b.writeUInt32LE(n.length, 0)
  n.copy(b, 4)
  return b
}

const nameCodec = (pick: (ctx: FileQueryContext) => string): ClassCodec =>
  ({ fixed: FILE_NAME_INFORMATION_FIXED_SIZE, min: FILE_NAME_INFORMATION_MIN_SIZE, tail: 'name', encode: (ctx) => nameInfo(pick(ctx)) })

function defaultStreams (info: FileInfo): StreamInfo[] {
  return info.isDirectory ? [] : [{ name: '::$DATA', size: info.endOfFile, allocationSize: info.allocationSize }]
}

/** FILE_STREAM_INFORMATION entries, 8-byte aligned, whole entries only, at most `limit` bytes. */
function encodeStreams (ctx: FileQueryContext, limit: number): Buffer {
  const streams = ctx.streams ?? defaultStreams(ctx.info)
  const names = streams.map(s => utf16(s.name))
  let end = 0
  let count = 0
  for (const n of names) {
    const start = align8(end)
    if (start + 24 + n.length > limit) break
    end = start + 24 + n.length
    count++
  }
  const b = Buffer.alloc(end)
  let off = 0
  for (let i = 0; i < count; i++) {
    const n = names[i]!
    const s = streams[i]!
    const next = i + 1 < count ? align8(24 + n.length) : 0
    b.writeUInt32LE(next, off)
    b.writeUInt32LE(n.length, off + 4)
    writeU64(b, off + 8, s.size)
    writeU64(b, off + 16, s.allocationSize)
    n.copy(b, off + 24)
    off += next
  }
  return b
}

const codecs = new Map<number, ClassCodec>([
  // MS-FSCC 2.4.7
  [C.FileBasicInformation, fixed(FILE_BASIC_INFORMATION_SIZE, (b, c) => fillBasic(b, 0, c.info))],
  // MS-FSCC 2.4.45
  [C.FileStandardInformation, fixed(FILE_STANDARD_INFORMATION_SIZE, (b, c) => fillStandard(b, 0, c.info))],
  // MS-FSCC 2.4.26: IndexNumber
  [C.FileInternalInformation, fixed(FILE_INTERNAL_INFORMATION_SIZE, (b, c) => writeU64(b, 0, c.info.indexNumber))],
  // MS-FSCC 2.4 FileEaInformation: EaSize
  [C.FileEaInformation, fixed(FILE_EA_INFORMATION_SIZE, (b, c) => b.writeUInt32LE((c.info.eaSize ?? 0) >>> 0, 0))],
  // MS-FSCC 2.4.1: AccessFlags
  [C.FileAccessInformation, fixed(FILE_ACCESS_INFORMATION_SIZE, (b, c) => b.writeUInt32LE((c.accessFlags ?? 0) >>> 0, 0))],
  // MS-FSCC 2.4 FilePositionInformation: CurrentByteOffset
  [C.FilePositionInformation, fixed(FILE_POSITION_INFORMATION_SIZE, (b, c) => writeU64(b, 0, c.position ?? 0n))],
  // MS-FSCC 2.4.30: Mode
  [C.FileModeInformation, fixed(FILE_MODE_INFORMATION_SIZE, (b, c) => b.writeUInt32LE((c.mode ?? 0) >>> 0, 0))],
  // MS-FSCC 2.4 FileAlignmentInformation: AlignmentRequirement
  [C.FileAlignmentInformation, fixed(FILE_ALIGNMENT_INFORMATION_SIZE,
    (b, c) => b.writeUInt32LE((c.alignmentRequirement ?? FILE_BYTE_ALIGNMENT) >>> 0, 0))],
  // MS-FSCC 2.4.31 / FileNormalizedNameInformation (same FILE_NAME_INFORMATION layout)
  [C.FileNameInformation, nameCodec(requireName)],
  [C.FileNormalizedNameInformation, nameCodec(requireName)],
  // MS-FSCC 2.4 FileAlternateNameInformation. Without 8.3 names (Samba with "mangled names = no",
  // NTFS with 8dot3 creation off) Windows answers STATUS_OBJECT_NAME_NOT_FOUND; so do we.
  [C.FileAlternateNameInformation, nameCodec((ctx) => {
    if (ctx.shortName === undefined || ctx.shortName === '') throw new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND)
    return ctx.shortName
  })],
  // MS-FSCC 2.4.2: Basic, Standard, Internal, Ea, Access, Position, Mode, Alignment, Name.
  [C.FileAllInformation, {
    fixed: FILE_ALL_INFORMATION_FIXED_SIZE,
    min: FILE_ALL_INFORMATION_MIN_SIZE,
    tail: 'name',
    encode: (ctx) => {
      const n = utf16(requireName(ctx))
      const b = Buffer.alloc(FILE_ALL_INFORMATION_FIXED_SIZE + n.length)
      fillBasic(b, 0, ctx.info)
      fillStandard(b, 40, ctx.info)
      writeU64(b, 64, ctx.info.indexNumber)
      b.writeUInt32LE((ctx.info.eaSize ?? 0) >>> 0, 72)
      b.writeUInt32LE((ctx.accessFlags ?? 0) >>> 0, 76)
      writeU64(b, 80, ctx.position ?? 0n)
      b.writeUInt32LE((ctx.mode ?? 0) >>> 0, 88)
      b.writeUInt32LE((ctx.alignmentRequirement ?? FILE_BYTE_ALIGNMENT) >>> 0, 92)
      b.writeUInt32LE(n.length, 96)
      n.copy(b, 100)
      return b
    }
  }],
  // MS-FSCC 2.4 FileStreamInformation
  [C.FileStreamInformation, { fixed: FILE_STREAM_INFORMATION_FIXED_SIZE, min: FILE_STREAM_INFORMATION_MIN_SIZE, tail: 'entries', encode: encodeStreams }],
  // MS-FSCC 2.4 FileCompressionInformation: an uncompressed file reports its size, format NONE.
  [C.FileCompressionInformation, fixed(FILE_COMPRESSION_INFORMATION_SIZE, (b, c) => {
    writeU64(b, 0, c.info.endOfFile)
    b.writeUInt16LE(COMPRESSION_FORMAT_NONE, 8) // shifts and Reserved stay zero
  })],
  // MS-FSCC 2.4 FileNetworkOpenInformation: times, AllocationSize, EndOfFile, FileAttributes, Reserved
  [C.FileNetworkOpenInformation, fixed(FILE_NETWORK_OPEN_INFORMATION_SIZE, (b, c) => {
    writeTimes(b, 0, c.info)
    writeU64(b, 32, c.info.allocationSize)
    writeU64(b, 40, c.info.endOfFile)
    b.writeUInt32LE(wireFileAttributes(c.info), 48)
  })],
  // MS-FSCC 2.4 FileAttributeTagInformation: FileAttributes, ReparseTag
  [C.FileAttributeTagInformation, fixed(FILE_ATTRIBUTE_TAG_INFORMATION_SIZE, (b, c) => {
    const attrs = wireFileAttributes(c.info)
    b.writeUInt32LE(attrs, 0)
    b.writeUInt32LE((attrs & FILE_ATTRIBUTE_REPARSE_POINT) !== 0 ? (c.reparseTag ?? 0) >>> 0 : 0, 4)
  })],
  // MS-FSCC 2.4 FileIdInformation: VolumeSerialNumber (8), FileId (16; the inode in the low 8)
  [C.FileIdInformation, fixed(FILE_ID_INFORMATION_SIZE, (b, c) => {
    writeU64(b, 0, c.volumeSerialNumber ?? 0n)
    writeU64(b, 8, c.info.indexNumber)
  })]
])

// Classes MS-FSCC 2.4 lists as queryable that this codec leaves to others or does not support:
// FileFullEaInformation (EA handler), pipe classes (pipe backend), quota, object id, reparse,
// hard-link enumeration. MS-SMB2 3.3.5.20.1: documented but unsupported → STATUS_NOT_SUPPORTED.
const queryableElsewhere = new Set<number>([
  C.FileFullEaInformation, C.FilePipeInformation, C.FilePipeLocalInformation, C.FilePipeRemoteInformation,
  C.FileObjectIdInformation, C.FileQuotaInformation, C.FileReparsePointInformation,
  C.FileHardLinkInformation, C.FileStandardLinkInformation, C.FileMailslotQueryInformation
])

function codecFor (cls: number): ClassCodec {
  const codec = codecs.get(cls)
  if (codec !== undefined) return codec
  if (queryableElsewhere.has(cls)) throw new NtStatusError(NtStatus.NOT_SUPPORTED)
  // Set-only and directory-enumeration classes are not valid for QUERY_INFO (MS-FSA 2.1.5.12),
  // nor are numbers MS-FSCC does not define (MS-SMB2 3.3.5.20.1).
  throw new NtStatusError(NtStatus.INVALID_INFO_CLASS, isDocumentedFileInformationClass(cls)
    ? `class ${cls} cannot be queried`
    : `unknown file information class ${cls}`)
}

/** The fixed-part size of a queryable class (undefined when this codec doesn't encode it). */
export function fileInfoFixedSize (cls: number): number | undefined {
  return codecs.get(cls)?.fixed
}

/** Encode a FILE-class QUERY_INFO answer in full (no OutputBufferLength applied). */
export function encodeFileInfo (cls: number, ctx: FileQueryContext): Buffer {
  return codecFor(cls).encode(ctx, Number.MAX_SAFE_INTEGER)
}

/**
 * Encode a FILE-class answer for a client buffer of `outputBufferLength` bytes, applying the rules
 * at the top of this file. Throws NtStatusError for INVALID_INFO_CLASS, NOT_SUPPORTED,
 * INFO_LENGTH_MISMATCH, OBJECT_NAME_NOT_FOUND (no short name).
 */
export function queryFileInfo (cls: number, ctx: FileQueryContext, outputBufferLength: number): InfoResult {
  const codec = codecFor(cls)
  if (outputBufferLength < (codec.min ?? codec.fixed)) throw new NtStatusError(NtStatus.INFO_LENGTH_MISMATCH)
  const full = codec.encode(ctx, outputBufferLength)
  if (codec.tail === 'entries') {
    const all = codec.encode(ctx, Number.MAX_SAFE_INTEGER)
    return { status: full.length < all.length ? NtStatus.BUFFER_OVERFLOW : NtStatus.SUCCESS, data: full }
  }
  if (full.length <= outputBufferLength) return { status: NtStatus.SUCCESS, data: full }
  if (codec.tail === 'name') {
    // Whole UTF-16 code units only (MS-FSA BlockAlignTruncate(..., 2)).
    const keep = codec.fixed + ((outputBufferLength - codec.fixed) & ~1)
    return { status: NtStatus.BUFFER_OVERFLOW, data: full.subarray(0, keep) }
  }
  throw new NtStatusError(NtStatus.INFO_LENGTH_MISMATCH)
}
