// The case-insensitive names of big directories, kept between lookups (posix.ts resolveCase).
//
// Without it every new name on a case-insensitive share costs a listing of its parent (the exact
// name missed, so the server must prove no other spelling exists): creating n files in one
// directory reads n²/2 entries — 12.5 million for a 5,000-file copy.
//
// An index is only trusted while the directory is unchanged since it was listed: each use
// compares the directory's stamp (inode, mtime, ctime; statx, one syscall) with the one taken
// just before the listing, so changes made outside the server (or by another worker or share)
// are seen at the next lookup. The server's own changes (create, mkdir, rename, unlink through
// this share) update the index as they complete and then adopt the directory's new stamp. A
// change made outside during that short window (between the lookup that trusted the stamp and
// the stamp taken after our change) would be masked; the same race exists without an index
// (a name made outside between our listing and our create), but an index would keep the wrong
// answer, so an index is also dropped `maxAgeMs` after its listing: the error is bounded in time.
//
// Small directories are not indexed (listing them costs about what the stamp does); memory is
// bounded by `maxDirs` directories and `maxNames` names in all, least recently used first out.
import { upcaseName } from './case-fold.js'

/** What identifies one state of a directory: any entry made or removed changes mtime and ctime. */
export interface DirStamp {
  ino: bigint
  mtimeNs: bigint
  ctimeNs: bigint
}

export interface NameIndexOptions {
  /** Directories with fewer entries are not indexed. */
  minEntries?: number
  /** An index older than this is listed again (bounds a missed outside change). */
  maxAgeMs?: number
  maxDirs?: number
  maxNames?: number
  now?: () => number
}

class DirNames {
  /** Upper-cased name → its stored spelling, or every stored spelling when several fold alike. */
  readonly byFold = new Map<string, string | string[]>()
  constructor (public stamp: DirStamp, readonly listedAt: number) {}

  add (name: string): void {
    const key = upcaseName(name)
    const had = this.byFold.get(key)
    if (had === undefined) this.byFold.set(key, name)
    else if (typeof had === 'string') { if (had !== name) this.byFold.set(key, [had, name]) } else if (!had.includes(name)) had.push(name)
  }

  remove (name: string): void {
    const key = upcaseName(name)
    const had = this.byFold.get(key)
    if (had === undefined) return
    if (typeof had === 'string') { if (had === name) this.byFold.delete(key); return }
    const rest = had.filter((n) => n !== name)
    this.byFold.set(key, rest.length === 1 ? rest[0]! : rest)
  }

  /** As case-fold.ts pickCaseMatch: the exact spelling wins, else the smallest in code-unit order. */
  match (want: string): string | undefined {
    const had = this.byFold.get(upcaseName(want))
    if (had === undefined || typeof had === 'string') return had
    if (had.includes(want)) return want
    let best = had[0]!
    for (const n of had) if (n < best) best = n
    return best
  }
}

function sameStamp (a: DirStamp, b: DirStamp): boolean {
  return a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs
}

export class DirNameIndex {
  private readonly dirs = new Map<string, DirNames>()
  private names = 0
  private readonly minEntries: number
  private readonly maxAgeMs: number
  private readonly maxDirs: number
  private readonly maxNames: number
  private readonly now: () => number
  /** Listings filed (for tests and stats). */
  listings = 0

  constructor (o: NameIndexOptions = {}) {
    this.minEntries = o.minEntries ?? 64
    this.maxAgeMs = o.maxAgeMs ?? 2000
    this.maxDirs = o.maxDirs ?? 64
    this.maxNames = o.maxNames ?? 500_000
    this.now = o.now ?? Date.now
  }

  /**
   * The stored name `want` matches in directory `dir` (a share-relative path, '' for the root):
   * the name, null when no name matches, undefined when there is no index to trust (list it).
   */
  lookup (dir: string, stamp: DirStamp, want: string): string | null | undefined {
    const d = this.dirs.get(dir)
    if (d === undefined) return undefined
    if (!sameStamp(d.stamp, stamp) || this.now() - d.listedAt > this.maxAgeMs) {
      this.drop(dir, d)
      return undefined
    }
    this.dirs.delete(dir) // most recently used last
    this.dirs.set(dir, d)
    return d.match(want) ?? null
  }

  /** Files a listing of `dir`; `stamp` must have been taken before the listing was read. */
  fill (dir: string, stamp: DirStamp, names: readonly string[]): void {
    const old = this.dirs.get(dir)
    if (old !== undefined) this.drop(dir, old)
    this.listings++
    if (names.length < this.minEntries || names.length > this.maxNames) return
    const d = new DirNames(stamp, this.now())
    for (const n of names) if (n !== '.' && n !== '..') d.add(n)
    this.dirs.set(dir, d)
    this.names += d.byFold.size
    while (this.dirs.size > this.maxDirs || this.names > this.maxNames) {
      const [oldest, od] = this.dirs.entries().next().value as [string, DirNames]
      this.drop(oldest, od)
    }
  }

  /**
   * Our own change to `dir` completed (a name made or removed). Applied at once, in completion
   * order; returns a function to call with the directory's stamp taken after the change, which
   * the index adopts unless it was replaced meanwhile. Undefined when `dir` has no index.
   */
  changed (dir: string, name: string, added: boolean): ((after: DirStamp | undefined) => void) | undefined {
    const d = this.dirs.get(dir)
    if (d === undefined) return undefined
    const before = d.byFold.size
    if (added) d.add(name)
    else d.remove(name)
    this.names += d.byFold.size - before
    return (after) => {
      if (this.dirs.get(dir) !== d) return
      if (after === undefined) this.drop(dir, d)
      else d.stamp = after
    }
  }

  /** Whether `dir` has an index (a change there is worth a stamp). */
  has (dir: string): boolean {
    return this.dirs.has(dir)
  }

  /** Forgets `dir` and everything beneath it (it was renamed or removed). */
  forget (dir: string): void {
    const prefix = dir === '' ? '' : dir + '/'
    for (const [k, d] of [...this.dirs]) if (k === dir || k.startsWith(prefix)) this.drop(k, d)
  }

  private drop (dir: string, d: DirNames): void {
    this.dirs.delete(dir)
    this.names -= d.byFold.size
  }
}
