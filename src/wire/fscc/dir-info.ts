// QUERY_DIRECTORY output: a chain of MS-FSCC 2.4 directory entries.
//
// Every entry starts on an 8-byte boundary; NextEntryOffset is the distance to the next entry and
// 0 in the last; no padding follows the last entry (MS-FSCC 2.4 directory classes). Names are
// UTF-16LE and not NUL-terminated.
//
// Buffer-size rules for the handler (MS-FSA 2.1.5.6.3, MS-SMB2 3.3.5.18):
// - maxOutputLength below the class's fixed part → the constructor throws INFO_LENGTH_MISMATCH.
// - tryAdd() returns false when the entry does not fit. If nothing was added yet (count === 0),
//   the handler may call addTruncated() and answer STATUS_BUFFER_OVERFLOW with that one entry
//   (its FileNameLength keeps the full length), or fail as it sees fit; otherwise it keeps the
//   entry for the next QUERY_DIRECTORY and answers STATUS_SUCCESS with what was added.
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'
import { FileInformationClass as C, FILE_ATTRIBUTE_REPARSE_POINT } from './constants.js'
import type { FileInfo } from './types.js'
import { align8, utf16, wireFileAttributes, writeTimes, writeU64 } from './util.js'
import { FILE_POSIX_INFORMATION, POSIX_DIR_ENTRY_NAME_OFFSET, writePosixDirEntry, type PosixIdentity } from './posix-info.js'

export interface DirEntry {
  name: string
  info: FileInfo
  /** 8.3 name for the Both classes (at most 12 characters); empty when absent. */
  shortName?: string
  /** FileIndex; 0 when the store has no stable positions (MS-FSA sets it to 0). */
  fileIndex?: number
  /** Reparse tag, reported when info.fileAttributes has FILE_ATTRIBUTE_REPARSE_POINT. */
  reparseTag?: number
  /** 128-bit FileId for the Extd and AllExtd classes; default: indexNumber in the low 8 bytes. */
  fileId128?: Buffer
  /** Mode, owner and group for SMB2_FIND_POSIX_INFORMATION (posix-info.ts); required there. */
  posix?: PosixIdentity
}

interface Layout {
  /** Offset of FileName = fixed part of one entry. */
  nameOffset: number
  /**
   * Offset of ShortNameLength in the classes that have a ShortName (the 24-byte ShortName starts
   * 2 bytes later); #put writes it, so this field alone says which classes carry one.
   */
  shortNameAt?: number
  write: (b: Buffer, off: number, e: DirEntry, nameBytes: number) => void
}

const SHORT_NAME_BYTES = 24 // 12 UTF-16 code units

/** EaSize as the Full and Both classes report it: the reparse tag for reparse points. */
function eaSizeOrTag (e: DirEntry, attrs: number): number {
  return (attrs & FILE_ATTRIBUTE_REPARSE_POINT) !== 0 ? (e.reparseTag ?? 0) >>> 0 : (e.info.eaSize ?? 0) >>> 0
}

function reparseTag (e: DirEntry, attrs: number): number {
  return (attrs & FILE_ATTRIBUTE_REPARSE_POINT) !== 0 ? (e.reparseTag ?? 0) >>> 0 : 0
}

/** Common prefix of every class except FileNamesInformation; returns the wire attributes. */
function writeCommon (b: Buffer, off: number, e: DirEntry, nameBytes: number): number {
  const attrs = wireFileAttributes(e.info)
  b.writeUInt32LE((e.fileIndex ?? 0) >>> 0, off + 4)
  writeTimes(b, off + 8, e.info)
  writeU64(b, off + 40, e.info.endOfFile)
  writeU64(b, off + 48, e.info.allocationSize)
  b.writeUInt32LE(attrs, off + 56)
  b.writeUInt32LE(nameBytes, off + 60)
  return attrs
}

/** ShortNameLength, a reserved byte, ShortName[24]. */
function writeShortName (b: Buffer, off: number, e: DirEntry): void {
  const s = utf16((e.shortName ?? '').slice(0, 12))
  b.writeUInt8(s.length, off)
  s.copy(b, off + 2, 0, SHORT_NAME_BYTES)
}

function writeFileId128 (b: Buffer, off: number, e: DirEntry): void {
  if (e.fileId128 !== undefined) e.fileId128.copy(b, off, 0, 16)
  else writeU64(b, off, e.info.indexNumber)
}

const layouts = new Map<number, Layout>([
  // SMB 3.1.1 POSIX extensions' SMB2_FIND_POSIX_INFORMATION (posix-info.ts): FileIndex @4,
  // smb3_file_posix_information @8, FileNameLength, FileName
  [FILE_POSIX_INFORMATION, { nameOffset: POSIX_DIR_ENTRY_NAME_OFFSET, write: (b, o, e, n) => { writePosixDirEntry(b, o, e, n) } }],
  // MS-FSCC 2.4 FileDirectoryInformation: FileName @64
  [C.FileDirectoryInformation, { nameOffset: 64, write: (b, o, e, n) => { writeCommon(b, o, e, n) } }],
  // MS-FSCC 2.4.14 FileFullDirectoryInformation: EaSize @64, FileName @68
  [C.FileFullDirectoryInformation, {
    nameOffset: 68,
    write: (b, o, e, n) => { const a = writeCommon(b, o, e, n); b.writeUInt32LE(eaSizeOrTag(e, a), o + 64) }
  }],
  // MS-FSCC 2.4 FileBothDirectoryInformation: EaSize @64, ShortNameLength @68, Reserved @69, ShortName[24] @70, FileName @94
  [C.FileBothDirectoryInformation, {
    nameOffset: 94,
    shortNameAt: 68,
    write: (b, o, e, n) => {
      const a = writeCommon(b, o, e, n)
      b.writeUInt32LE(eaSizeOrTag(e, a), o + 64)
    }
  }],
  // MS-FSCC 2.4 FileNamesInformation: NextEntryOffset, FileIndex, FileNameLength, FileName @12
  [C.FileNamesInformation, {
    nameOffset: 12,
    write: (b, o, e, n) => { b.writeUInt32LE((e.fileIndex ?? 0) >>> 0, o + 4); b.writeUInt32LE(n, o + 8) }
  }],
  // MS-FSCC 2.4 FileIdBothDirectoryInformation: ... ShortName @70, Reserved2 @94, FileId @96, FileName @104
  [C.FileIdBothDirectoryInformation, {
    nameOffset: 104,
    shortNameAt: 68,
    write: (b, o, e, n) => {
      const a = writeCommon(b, o, e, n)
      b.writeUInt32LE(eaSizeOrTag(e, a), o + 64)
      writeU64(b, o + 96, e.info.indexNumber)
    }
  }],
  // MS-FSCC 2.4 FileIdFullDirectoryInformation: EaSize @64, Reserved @68, FileId @72, FileName @80
  [C.FileIdFullDirectoryInformation, {
    nameOffset: 80,
    write: (b, o, e, n) => {
      const a = writeCommon(b, o, e, n)
      b.writeUInt32LE(eaSizeOrTag(e, a), o + 64)
      writeU64(b, o + 72, e.info.indexNumber)
    }
  }],
  // MS-FSCC 2.4 FileIdExtdDirectoryInformation: EaSize @64, ReparsePointTag @68, FileId[16] @72, FileName @88
  [C.FileIdExtdDirectoryInformation, {
    nameOffset: 88,
    write: (b, o, e, n) => {
      const a = writeCommon(b, o, e, n)
      b.writeUInt32LE((e.info.eaSize ?? 0) >>> 0, o + 64)
      b.writeUInt32LE(reparseTag(e, a), o + 68)
      writeFileId128(b, o + 72, e)
    }
  }],
  // MS-FSCC 2.4 FileId64ExtdDirectoryInformation: EaSize @64, ReparsePointTag @68, FileId @72, FileName @80
  [C.FileId64ExtdDirectoryInformation, {
    nameOffset: 80,
    write: (b, o, e, n) => {
      const a = writeCommon(b, o, e, n)
      b.writeUInt32LE((e.info.eaSize ?? 0) >>> 0, o + 64)
      b.writeUInt32LE(reparseTag(e, a), o + 68)
      writeU64(b, o + 72, e.info.indexNumber)
    }
  }],
  // MS-FSCC 2.4.17 FileId64ExtdBothDirectoryInformation: ... FileId @72, ShortNameLength @80,
  // Reserved1 @81, ShortName[24] @82, FileName @106
  [C.FileId64ExtdBothDirectoryInformation, {
    nameOffset: 106,
    shortNameAt: 80,
    write: (b, o, e, n) => {
      const a = writeCommon(b, o, e, n)
      b.writeUInt32LE((e.info.eaSize ?? 0) >>> 0, o + 64)
      b.writeUInt32LE(reparseTag(e, a), o + 68)
      writeU64(b, o + 72, e.info.indexNumber)
    }
  }],
  // MS-FSCC 2.4 FileIdAllExtdDirectoryInformation: ... FileId @72, FileId128 @80, FileName @96
  [C.FileIdAllExtdDirectoryInformation, {
    nameOffset: 96,
    write: (b, o, e, n) => {
      const a = writeCommon(b, o, e, n)
      b.writeUInt32LE((e.info.eaSize ?? 0) >>> 0, o + 64)
      b.writeUInt32LE(reparseTag(e, a), o + 68)
      writeU64(b, o + 72, e.info.indexNumber)
      writeFileId128(b, o + 80, e)
    }
  }],
  // MS-FSCC 2.4.19 FileIdAllExtdBothDirectoryInformation: ... FileId128 @80, ShortNameLength @96,
  // Reserved1 @97, ShortName[24] @98, FileName @122
  [C.FileIdAllExtdBothDirectoryInformation, {
    nameOffset: 122,
    shortNameAt: 96,
    write: (b, o, e, n) => {
      const a = writeCommon(b, o, e, n)
      b.writeUInt32LE((e.info.eaSize ?? 0) >>> 0, o + 64)
      b.writeUInt32LE(reparseTag(e, a), o + 68)
      writeU64(b, o + 72, e.info.indexNumber)
      writeFileId128(b, o + 80, e)
    }
  }]
])

function layoutFor (cls: number): Layout {
  const l = layouts.get(cls)
  if (l === undefined) throw new NtStatusError(NtStatus.INVALID_INFO_CLASS, `not a directory information class: ${cls}`)
  return l
}

/** Fixed part (offset of FileName) of one entry of `cls`; throws INVALID_INFO_CLASS. */
export function dirEntryFixedSize (cls: number): number {
  return layoutFor(cls).nameOffset
}

/** True when `cls` is a directory enumeration class this writer can produce. */
export const isDirInfoClass = (cls: number): boolean => layouts.has(cls)

/**
 * True when entries of `cls` have a ShortName field (the Both classes), so the handler need only
 * make up 8.3 names for those; false for any other class, known or not.
 */
export const carriesShortName = (cls: number): boolean => layouts.get(cls)?.shortNameAt !== undefined

const INITIAL_CAPACITY = 4096

export class DirEntryWriter {
  readonly infoClass: number
  readonly maxOutputLength: number
  /** Offset of FileName in one entry: the least an entry takes. */
  readonly fixedSize: number
  #layout: Layout
  #buf: Buffer
  #end = 0
  #last = -1
  #count = 0

  constructor (infoClass: number, maxOutputLength: number) {
    this.#layout = layoutFor(infoClass)
    this.infoClass = infoClass
    this.fixedSize = this.#layout.nameOffset
    if (!Number.isInteger(maxOutputLength) || maxOutputLength < this.fixedSize) {
      throw new NtStatusError(NtStatus.INFO_LENGTH_MISMATCH)
    }
    this.maxOutputLength = maxOutputLength
    this.#buf = Buffer.alloc(Math.min(maxOutputLength, INITIAL_CAPACITY))
  }

  /** Entries written so far. */
  get count (): number { return this.#count }
  /** Bytes the finished buffer will have. */
  get byteLength (): number { return this.#end }

  /** Bytes `entry` would take on its own (fixed part + name). */
  entrySize (entry: DirEntry): number {
    return this.fixedSize + entry.name.length * 2
  }

  /** Append `entry` if it fits in maxOutputLength; false (and nothing written) otherwise. */
  tryAdd (entry: DirEntry): boolean {
    const start = this.#last < 0 ? 0 : align8(this.#end)
    const name = utf16(entry.name)
    const size = this.fixedSize + name.length
    if (start + size > this.maxOutputLength) return false
    this.#put(start, size, entry, name, name.length)
    return true
  }

  /**
   * Write the first entry with its name cut to whole code units that fit; FileNameLength keeps
   * the full length. Only valid while count === 0; the handler answers STATUS_BUFFER_OVERFLOW.
   */
  addTruncated (entry: DirEntry): void {
    if (this.#count !== 0) throw new Error('addTruncated() is only for the first entry')
    const name = utf16(entry.name)
    const room = (this.maxOutputLength - this.fixedSize) & ~1
    const cut = name.subarray(0, Math.min(name.length, room))
    this.#put(0, this.fixedSize + cut.length, entry, cut, name.length)
  }

  /** The entry chain; the last entry's NextEntryOffset is 0. */
  finish (): Buffer {
    return this.#buf.subarray(0, this.#end)
  }

  #put (start: number, size: number, entry: DirEntry, name: Buffer, nameLength: number): void {
    this.#reserve(start + size)
    const b = this.#buf
    const layout = this.#layout
    layout.write(b, start, entry, nameLength)
    if (layout.shortNameAt !== undefined) writeShortName(b, start + layout.shortNameAt, entry)
    b.writeUInt32LE(0, start) // NextEntryOffset, patched when another entry follows
    name.copy(b, start + this.fixedSize)
    if (this.#last >= 0) b.writeUInt32LE(start - this.#last, this.#last)
    this.#last = start
    this.#end = start + size
    this.#count++
  }

  #reserve (need: number): void {
    if (need <= this.#buf.length) return
    let cap = this.#buf.length * 2
    while (cap < need) cap *= 2
    const next = Buffer.alloc(Math.min(cap, this.maxOutputLength))
    this.#buf.copy(next, 0, 0, this.#end)
    this.#buf = next
  }
}
