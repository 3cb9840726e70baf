// SMB path names → share-relative posix paths. Names are checked here, once; confinement is the
// kernel's (openat2 RESOLVE_BENEATH) — this check only gives Windows' answers to Windows' names.
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'

// MS-FSCC 2.1.5.2: characters never valid in a file name component (":" would name a stream).
// eslint-disable-next-line no-control-regex -- the control characters are what it refuses
const INVALID = /[\x00-\x1f"*/:<>?|]/

/** "dir\\file.txt" → "dir/file.txt"; "" → "" (the share root). */
export function smbPathToRelative (name: string): string {
  let n = name
  while (n.startsWith('\\')) n = n.slice(1) // a leading separator names the same file
  if (n === '') return ''
  if (n.length > 32767) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'name too long')
  const parts = n.split('\\')
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]
    if (p === '') {
      if (i === parts.length - 1) break // one trailing separator is tolerated
      throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'empty path component')
    }
    if (p === '.' || p === '..') throw new NtStatusError(NtStatus.OBJECT_PATH_SYNTAX_BAD, 'dot component')
    if (INVALID.test(p)) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, `invalid character in ${JSON.stringify(p)}`)
    if (Buffer.byteLength(p, 'utf8') > 255) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'component longer than 255 bytes')
  }
  return parts.filter(p => p !== '').join('/')
}
