// Small shared helpers for the FSCC codecs (internal to src/wire/fscc).
import {
  FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_NORMAL
} from './constants.js'
import type { FileInfo } from './types.js'

export const align8 = (n: number): number => (n + 7) & ~7

/** UTF-16LE bytes of a JS string (UTF-16 code units map one to one). */
export const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le')

export function writeU64 (buf: Buffer, off: number, v: bigint): void {
  buf.writeBigUInt64LE(BigInt.asUintN(64, v), off)
}

/**
 * FileAttributes as the wire shows them (MS-FSA 2.1.5.6.3.x, 2.1.5.12.x): DIRECTORY for
 * directories, NORMAL only when nothing else is set.
 */
export function wireFileAttributes (info: FileInfo): number {
  let a = info.fileAttributes >>> 0
  if (info.isDirectory) a |= FILE_ATTRIBUTE_DIRECTORY
  if (a !== FILE_ATTRIBUTE_NORMAL) a &= ~FILE_ATTRIBUTE_NORMAL
  if (a === 0) a = FILE_ATTRIBUTE_NORMAL
  return a >>> 0
}

/** The four FILETIMEs in the order every FSCC structure uses. */
export function writeTimes (buf: Buffer, off: number, info: FileInfo): void {
  writeU64(buf, off, info.creationTime)
  writeU64(buf, off + 8, info.lastAccessTime)
  writeU64(buf, off + 16, info.lastWriteTime)
  writeU64(buf, off + 24, info.changeTime)
}
