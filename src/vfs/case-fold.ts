// Case-insensitive name comparison as Windows does it: names are compared code unit by code unit
// (UTF-16) after mapping each unit through one upper-case table (NTFS keeps such a table, $UpCase,
// and MS-FSA's IsCaseInsensitive comparisons use it). Ours is built from Unicode's simple
// upper-case mapping (String.prototype.toUpperCase, which is locale-independent, unlike
// toLocaleUpperCase): a unit whose upper case is longer than one unit ('ß' → "SS", 'ŉ' → "ʼN")
// maps to itself, as in Windows' table, so folding never changes a name's length.
//
// Shared by QUERY_DIRECTORY's pattern matching (wildcard.ts, MS-FSA 2.1.4.4) and by name lookup
// (posix.ts resolveCase: a path component that does not exist as given is matched against the
// directory's entries).

let upcaseTable: Uint16Array | undefined

/** The upper-case table: one UTF-16 unit → one UTF-16 unit (built once, on first use). */
export function upcaseTableOf (): Uint16Array {
  if (upcaseTable === undefined) {
    const t = new Uint16Array(0x10000)
    for (let c = 0; c < 0x10000; c++) {
      // Lone surrogates upper-case to themselves; multi-unit results keep the original unit.
      const u = String.fromCharCode(c).toUpperCase()
      t[c] = u.length === 1 ? u.charCodeAt(0) : c
    }
    upcaseTable = t
  }
  return upcaseTable
}

/** Upper-case a string code unit by code unit (the form Windows compares names in). */
export function upcaseName (s: string): string {
  const t = upcaseTableOf()
  let out = ''
  for (let i = 0; i < s.length; i++) out += String.fromCharCode(t[s.charCodeAt(i)]!)
  return out
}

let downcaseTable: Uint16Array | undefined

/** Lower-case a string code unit by code unit (one unit → one unit, like upcaseName). */
export function downcaseName (s: string): string {
  if (downcaseTable === undefined) {
    const t = new Uint16Array(0x10000)
    for (let c = 0; c < 0x10000; c++) {
      const l = String.fromCharCode(c).toLowerCase()
      t[c] = l.length === 1 ? l.charCodeAt(0) : c
    }
    downcaseTable = t
  }
  const t = downcaseTable
  let out = ''
  for (let i = 0; i < s.length; i++) out += String.fromCharCode(t[s.charCodeAt(i)]!)
  return out
}

/** True when `a` and `b` are the same name to a case-insensitive file system. No allocation. */
export function equalsIgnoreCase (a: string, b: string): boolean {
  if (a.length !== b.length) return false // folding keeps lengths
  const t = upcaseTableOf()
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y && t[x] !== t[y]) return false
  }
  return true
}

/**
 * The entry of a directory that `wanted` names case-insensitively, or undefined.
 *
 * Linux allows names that differ only in case side by side (made outside the server, or by a
 * case-sensitive share); Windows never has them, so the choice is ours and must be stable:
 * an entry spelled exactly as `wanted` wins; otherwise the smallest candidate in code-unit order
 * (the same answer whatever order the file system lists them in). '.' and '..' never match.
 */
export function pickCaseMatch (entries: Iterable<string>, wanted: string): string | undefined {
  let best: string | undefined
  for (const name of entries) {
    if (name === '.' || name === '..') continue
    if (name === wanted) return name
    if (!equalsIgnoreCase(name, wanted)) continue
    if (best === undefined || name < best) best = name
  }
  return best
}
