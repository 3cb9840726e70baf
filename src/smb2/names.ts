// From a client's name to the name stored on disk. Windows file systems are case-insensitive and
// case-preserving (MS-SMB2 3.3.5.9 opens with MS-FSA 2.1.5.1 IsCaseInsensitive TRUE unless the
// client asked otherwise); Linux names are bytes. A share with `case sensitive = no` (Samba's auto,
// the default) looks an existing name up case-insensitively, and a new name is stored as the client
// spelled it (`preserve case = yes`, the default) or in `default case`.
//
// Cost: the exact name is always tried first, by the caller's own stat/open; only a miss asks
// the backend to scan directories (ShareFs.resolveCase). A miss is usually a new name being
// created, so a big directory's folded names are kept between misses (vfs/name-index.ts),
// trusted only while the directory's stamp is unchanged.
import type { ShareConfig } from '../config/config.js'
import { baseOf, type ShareFs } from '../vfs/backend.js'
import { downcaseName, upcaseName } from '../vfs/case-fold.js'

/** True when names on this share are matched case-insensitively. */
export function caseInsensitive (share: ShareConfig | undefined): boolean {
  return share !== undefined && !share.caseSensitive
}

/** The spelling a new name is stored with (`preserve case`, `default case`). */
export function newNameSpelling (share: ShareConfig | undefined, name: string): string {
  if (share === undefined || share.preserveCase) return name
  return share.defaultCase === 'upper' ? upcaseName(name) : downcaseName(name)
}

export interface NameLookup {
  /** The path to use: stored spelling for what exists, the new name's spelling for a last
   *  component that does not. */
  path: string
  /** The whole path exists. */
  exists: boolean
  /** Every component but the last exists (the last one may be created). */
  parentExists: boolean
}

/** `path` with its last component replaced by `last`. */
export function withLast (path: string, last: string): string {
  const i = path.lastIndexOf('/')
  return i < 0 ? last : path.slice(0, i + 1) + last
}

/**
 * Resolves, case-insensitively, a share-relative path whose exact spelling was not found (the
 * caller's own lookup got ENOENT). Only for a share where caseInsensitive() holds.
 */
export async function lookupIgnoringCase (fs: ShareFs, share: ShareConfig | undefined, rel: string): Promise<NameLookup> {
  const n = rel === '' ? 0 : rel.split('/').length
  const r = await fs.resolveCase(rel)
  if (r.existing >= n) return { path: r.path, exists: true, parentExists: true }
  return { path: withLast(r.path, newNameSpelling(share, baseOf(r.path))), exists: false, parentExists: r.existing === n - 1 }
}
