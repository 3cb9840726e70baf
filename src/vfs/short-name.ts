// 8.3 names (FileAlternateNameInformation), for the clients that still ask: smbclient's `allinfo`
// stops on STATUS_OBJECT_NAME_NOT_FOUND. A name that already is a valid 8.3 name is its own short
// name, as it is spelled (as Samba answers); another gets a made-up one, as NTFS and Samba's `mangled names` do: up to five
// characters of the name, `~`, two characters of a hash of the whole name, and up to three of its
// extension (`Long File Name.html` → `LONGF~K3.HTM`). The hash makes the name the same every time
// it is asked for, without a table; two names of one directory may share one, as with Samba's
// hash mangling. Short names are answered, not looked up: a CREATE by one finds nothing.

/** What an 8.3 name may hold besides letters and digits (MS-FSCC 2.1.5.2.1). */
const EXTRA = new Set("!#$%&'()-@^_`{}~")

function short83Char (c: string): boolean {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || EXTRA.has(c)
}

/** Whether `name` is already a valid 8.3 name (letters compared upper-cased). */
export function isValid83 (name: string): boolean {
  const up = name.toUpperCase()
  const dot = up.indexOf('.')
  const base = dot < 0 ? up : up.slice(0, dot)
  const ext = dot < 0 ? '' : up.slice(dot + 1)
  if (base.length < 1 || base.length > 8 || ext.length > 3 || ext.includes('.')) return false
  if (dot >= 0 && ext.length === 0) return false
  return [...base, ...ext].every(short83Char)
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'

/** FNV-1a over the upper-cased name's UTF-16 code units. */
function hash (name: string): number {
  let h = 0x811c9dc5
  const up = name.toUpperCase()
  for (let i = 0; i < up.length; i++) {
    h ^= up.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** The 8.3 name of the last component `name`; undefined for none (`.`, `..`, the share root). */
export function shortName (name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return undefined
  if (isValid83(name)) return name
  const lastDot = name.lastIndexOf('.')
  const stem = lastDot > 0 ? name.slice(0, lastDot) : name
  const ext = lastDot > 0 ? name.slice(lastDot + 1) : ''
  const keep = (s: string, n: number): string => [...s.toUpperCase()].filter(short83Char).slice(0, n).join('')
  const h = hash(name)
  const base = `${keep(stem, 5) || '_'}~${ALPHABET[h % 36]}${ALPHABET[Math.floor(h / 36) % 36]}`
  const e = keep(ext, 3)
  return e !== '' ? `${base}.${e}` : base
}
