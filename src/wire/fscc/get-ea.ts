// MS-FSCC 2.4.15.1 FILE_GET_EA_INFORMATION: the list of EA names a QUERY_INFO
// FileFullEaInformation may carry in its input buffer (MS-SMB2 2.2.37), asking for those EAs only.
// A pure codec.
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'

/** NextEntryOffset (4), EaNameLength (1). */
export const FILE_GET_EA_INFORMATION_FIXED_SIZE = 5

function inconsistent (why: string): NtStatusError {
  return new NtStatusError(NtStatus.EA_LIST_INCONSISTENT, why)
}

/**
 * The names of a FILE_GET_EA_INFORMATION chain, in order, as latin1 (the EA name's 8-bit
 * characters). Every entry must lie inside the buffer with its name NUL-terminated; NextEntryOffset
 * is 0 for the last and otherwise past the entry it follows (Windows pads entries to 4 bytes, but
 * does not require it of a request). Malformed: STATUS_EA_LIST_INCONSISTENT, as Windows answers.
 */
export function decodeFileGetEaInformation (buf: Buffer): string[] {
  const out: string[] = []
  let off = 0
  for (;;) {
    if (buf.length - off < FILE_GET_EA_INFORMATION_FIXED_SIZE) throw inconsistent('entry header past the buffer')
    const next = buf.readUInt32LE(off)
    const nameLen = buf[off + 4]!
    const nameOff = off + FILE_GET_EA_INFORMATION_FIXED_SIZE
    const end = nameOff + nameLen + 1
    if (end > buf.length) throw inconsistent('EaName past the buffer')
    if (buf[nameOff + nameLen] !== 0) throw inconsistent('EaName not NUL-terminated')
    if (nameLen === 0) throw new NtStatusError(NtStatus.INVALID_EA_NAME, 'empty EaName')
    out.push(buf.toString('latin1', nameOff, nameOff + nameLen))
    if (next === 0) return out
    if (next < end - off || next > buf.length - off) throw inconsistent('bad NextEntryOffset')
    off += next
  }
}

/** Encodes names as a FILE_GET_EA_INFORMATION chain (entries 4-byte aligned): for tests and clients. */
export function encodeFileGetEaInformation (names: readonly string[]): Buffer {
  const sizes = names.map(n => FILE_GET_EA_INFORMATION_FIXED_SIZE + Buffer.byteLength(n, 'latin1') + 1)
  const total = sizes.reduce((a, s, i) => a + (i + 1 < sizes.length ? (s + 3) & ~3 : s), 0)
  const b = Buffer.alloc(total)
  let off = 0
  names.forEach((n, i) => {
    const next = i + 1 < names.length ? (sizes[i]! + 3) & ~3 : 0
    b.writeUInt32LE(next, off)
    b[off + 4] = b.write(n, off + 5, 'latin1')
    off += next
  })
  return b
}
