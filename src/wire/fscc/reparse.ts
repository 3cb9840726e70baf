// Reparse point buffers (MS-FSCC 2.1.2): the generic REPARSE_DATA_BUFFER, the symbolic link
// buffer (2.1.2.4), the NFS one Windows' NFS server and the Linux client use for special files
// (MS-FSCC 2.1.2.6, IO_REPARSE_TAG_NFS), and the WSL tags (2.1.2.1: LX_SYMLINK, AF_UNIX,
// LX_FIFO, LX_CHR, LX_BLK). Every offset and length is checked before anything is read: a bad
// one is STATUS_IO_REPARSE_DATA_INVALID.
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'
import { IO_REPARSE_TAG_NFS, IO_REPARSE_TAG_SYMLINK } from './constants.js'

/** MS-FSCC 2.1.2.1 reparse tags beyond constants.ts' SYMLINK and NFS: the WSL ones. */
export const IO_REPARSE_TAG_LX_SYMLINK = 0xA000001D
export const IO_REPARSE_TAG_AF_UNIX = 0x80000023
export const IO_REPARSE_TAG_LX_FIFO = 0x80000024
export const IO_REPARSE_TAG_LX_CHR = 0x80000025
export const IO_REPARSE_TAG_LX_BLK = 0x80000026

/** MS-FSCC 2.1.2.4 Flags: the substitute name is relative to the link's directory. */
export const SYMLINK_FLAG_RELATIVE = 0x00000001

/** MS-FSCC 2.1.2.6 NFS_SPECFILE_* types (8 bytes, ASCII, little-endian). */
export const NfsType = {
  LNK: 0x00000000014B4E4Cn,
  CHR: 0x0000000000524843n,
  BLK: 0x00000000004B4C42n,
  FIFO: 0x000000004F464946n,
  SOCK: 0x000000004B434F53n,
} as const

const invalid = (why: string): NtStatusError => new NtStatusError(NtStatus.IO_REPARSE_DATA_INVALID, `reparse buffer: ${why}`)

/** The REPARSE_DATA_BUFFER header (MS-FSCC 2.1.2.2): ReparseTag, ReparseDataLength, Reserved. */
export const REPARSE_HEADER_SIZE = 8

/** A REPARSE_DATA_BUFFER: its tag and its data (ReparseDataLength bytes after the header). */
export function decodeReparseBuffer (buf: Buffer): { tag: number, data: Buffer } {
  if (buf.length < REPARSE_HEADER_SIZE) throw invalid(`${buf.length} bytes, no header`)
  const tag = buf.readUInt32LE(0)
  const len = buf.readUInt16LE(4)
  if (REPARSE_HEADER_SIZE + len > buf.length) throw invalid(`ReparseDataLength ${len} past the ${buf.length - REPARSE_HEADER_SIZE} bytes sent`)
  return { tag, data: buf.subarray(REPARSE_HEADER_SIZE, REPARSE_HEADER_SIZE + len) }
}

export function encodeReparseBuffer (tag: number, data: Buffer): Buffer {
  if (data.length > 0xffff) throw new RangeError('reparse data over 64 KiB')
  const b = Buffer.alloc(REPARSE_HEADER_SIZE + data.length)
  b.writeUInt32LE(tag >>> 0, 0)
  b.writeUInt16LE(data.length, 4)
  data.copy(b, REPARSE_HEADER_SIZE)
  return b
}

export interface SymlinkReparse {
  /** SubstituteName, as the client wrote it (backslashes). */
  substituteName: string
  printName: string
  flags: number
}

/** MS-FSCC 2.1.2.4: the data of an IO_REPARSE_TAG_SYMLINK buffer. */
export function decodeSymlinkReparse (data: Buffer): SymlinkReparse {
  if (data.length < 12) throw invalid('symbolic link data under 12 bytes')
  const path = data.subarray(12)
  const name = (off: number, len: number, what: string): string => {
    if (off % 2 !== 0 || len % 2 !== 0 || off + len > path.length) throw invalid(`${what} (${off}, ${len}) outside the ${path.length}-byte PathBuffer`)
    return path.toString('utf16le', off, off + len)
  }
  return {
    substituteName: name(data.readUInt16LE(0), data.readUInt16LE(2), 'SubstituteName'),
    printName: name(data.readUInt16LE(4), data.readUInt16LE(6), 'PrintName'),
    flags: data.readUInt32LE(8),
  }
}

/** A whole IO_REPARSE_TAG_SYMLINK buffer: SubstituteName first, then PrintName. */
export function encodeSymlinkReparse (s: SymlinkReparse): Buffer {
  const sub = Buffer.from(s.substituteName, 'utf16le')
  const print = Buffer.from(s.printName, 'utf16le')
  const d = Buffer.alloc(12 + sub.length + print.length)
  d.writeUInt16LE(0, 0)
  d.writeUInt16LE(sub.length, 2)
  d.writeUInt16LE(sub.length, 4)
  d.writeUInt16LE(print.length, 6)
  d.writeUInt32LE(s.flags >>> 0, 8)
  sub.copy(d, 12)
  print.copy(d, 12 + sub.length)
  return encodeReparseBuffer(IO_REPARSE_TAG_SYMLINK, d)
}

/** What an IO_REPARSE_TAG_NFS buffer describes. */
export type NfsReparse =
  | { type: 'symlink', target: string }
  | { type: 'chr' | 'blk', major: number, minor: number }
  | { type: 'fifo' | 'socket' }

/** MS-FSCC 2.1.2.6: Type (8 bytes), then a UTF-16 target (LNK) or major and minor (CHR, BLK). */
export function decodeNfsReparse (data: Buffer): NfsReparse {
  if (data.length < 8) throw invalid('NFS data under 8 bytes')
  const type = data.readBigUInt64LE(0)
  const rest = data.subarray(8)
  switch (type) {
    case NfsType.LNK:
      if (rest.length === 0 || rest.length % 2 !== 0) throw invalid(`NFS symlink target of ${rest.length} bytes`)
      return { type: 'symlink', target: rest.toString('utf16le') }
    case NfsType.CHR:
    case NfsType.BLK:
      if (rest.length !== 8) throw invalid(`NFS device data of ${rest.length} bytes`)
      return { type: type === NfsType.CHR ? 'chr' : 'blk', major: rest.readUInt32LE(0), minor: rest.readUInt32LE(4) }
    case NfsType.FIFO:
    case NfsType.SOCK:
      if (rest.length !== 0) throw invalid(`NFS ${type === NfsType.FIFO ? 'FIFO' : 'socket'} with ${rest.length} bytes of data`)
      return { type: type === NfsType.FIFO ? 'fifo' : 'socket' }
    default:
      throw invalid(`unknown NFS type 0x${type.toString(16)}`)
  }
}

export function encodeNfsReparse (r: NfsReparse): Buffer {
  let d: Buffer
  if (r.type === 'symlink') {
    const t = Buffer.from(r.target, 'utf16le')
    d = Buffer.alloc(8 + t.length)
    d.writeBigUInt64LE(NfsType.LNK, 0)
    t.copy(d, 8)
  } else if (r.type === 'chr' || r.type === 'blk') {
    d = Buffer.alloc(16)
    d.writeBigUInt64LE(r.type === 'chr' ? NfsType.CHR : NfsType.BLK, 0)
    d.writeUInt32LE(r.major >>> 0, 8)
    d.writeUInt32LE(r.minor >>> 0, 12)
  } else {
    d = Buffer.alloc(8)
    d.writeBigUInt64LE(r.type === 'fifo' ? NfsType.FIFO : NfsType.SOCK, 0)
  }
  return encodeReparseBuffer(IO_REPARSE_TAG_NFS, d)
}

/** IO_REPARSE_TAG_LX_SYMLINK data: a version (2), then the target in UTF-8. */
export function decodeLxSymlinkReparse (data: Buffer): string {
  if (data.length < 5) throw invalid('LX symlink data under 5 bytes')
  const version = data.readUInt32LE(0)
  if (version !== 2) throw invalid(`LX symlink version ${version}`)
  return data.toString('utf8', 4)
}
