// SMB path names → share-relative posix paths. Names are checked here, once; confinement is the
// kernel's (openat2 RESOLVE_BENEATH) — this check only gives Windows' answers to Windows' names.
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import { splitStreamName } from '../vfs/streams.js'

// MS-FSCC 2.1.5.2: characters never valid in a file name component (":" would name a stream).
// eslint-disable-next-line no-control-regex -- the control characters are what it refuses
const INVALID = /[\x00-\x1f"*/:<>?|]/

/**
 * "dir\\file.txt" → "dir/file.txt"; "" → "" (the share root). A ".." component takes the one
 * before it away (Samba's reading: "dir\\sub\\.." names dir), by name, before any lookup, so a
 * link is never climbed out of; one that would leave the share root is OBJECT_PATH_SYNTAX_BAD.
 */
export function smbPathToRelative (name: string): string {
  let n = name
  while (n.startsWith('\\')) n = n.slice(1) // a leading separator names the same file
  if (n === '') return ''
  if (n.length > 32767) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'name too long')
  const parts = n.split('\\')
  const out: string[] = []
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]
    if (p === '') {
      if (i === parts.length - 1) break // one trailing separator is tolerated
      throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'empty path component')
    }
    if (p === '..') {
      if (out.pop() === undefined) throw new NtStatusError(NtStatus.OBJECT_PATH_SYNTAX_BAD, '".." above the share root')
      continue
    }
    if (p === '.') throw new NtStatusError(NtStatus.OBJECT_PATH_SYNTAX_BAD, 'dot component')
    if (INVALID.test(p)) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, `invalid character in ${JSON.stringify(p)}`)
    if (Buffer.byteLength(p, 'utf8') > 255) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'component longer than 255 bytes')
    out.push(p)
  }
  return out.join('/')
}

/**
 * A CREATE name that may end in a stream part (`dir\file.txt:stream:$DATA`, streams.ts
 * splitStreamName): the file's share-relative path and the stream (undefined: none; '': the
 * unnamed `::$DATA`). Only the last component may name a stream; a ':' anywhere before it, or in
 * the file part, is OBJECT_NAME_INVALID as before.
 */
export function smbPathWithStream (name: string): { rel: string, stream?: string } {
  const cut = name.lastIndexOf('\\') + 1
  const last = name.slice(cut)
  if (!last.includes(':')) return { rel: smbPathToRelative(name) }
  const { file, stream } = splitStreamName(last)
  // `:stream` of the share root (a name that is only the stream part) names the root directory.
  if (file === '' && cut > 0) throw new NtStatusError(NtStatus.OBJECT_NAME_INVALID, 'stream of an empty file name')
  return { rel: smbPathToRelative(name.slice(0, cut) + file), stream }
}
