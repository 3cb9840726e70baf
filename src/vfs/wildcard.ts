// QUERY_DIRECTORY name matching: MS-FSA 2.1.4.4 "Algorithm for Determining if a FileName Is in an
// Expression" with the wildcards of MS-FSA 2.1.4.3:
//   *  zero or more characters          ?  exactly one character
//   <  DOS_STAR: zero or more characters, but never the name's final '.'
//   >  DOS_QM: one character other than '.'; at a '.' or the end of the name it matches nothing
//      (so a run of '>' advances past the whole run)
//   "  DOS_DOT: a '.', or nothing at the end of the name
// Matching is on UTF-16 code units (as Windows does), case-insensitive by default through a
// one-to-one Unicode upper-case table (case-fold.ts; characters whose upper case is longer, like
// 'ß', stay).
//
// A pattern is compiled once per search; the matcher is a small NFA simulation over pattern
// positions, O(name × pattern) with no backtracking blow-up.

import { upcaseName } from './case-fold.js'

export { upcaseName }

const STAR = 0x2A // '*'
const QM = 0x3F // '?'
const DOS_STAR = 0x3C // '<'
const DOS_QM = 0x3E // '>'
const DOS_DOT = 0x22 // '"'
const DOT = 0x2E // '.'

const isWild = (c: number): boolean => c === STAR || c === QM || c === DOS_STAR || c === DOS_QM || c === DOS_DOT

/** True when `pattern` holds any MS-FSA 2.1.4.3 wildcard character. */
export function hasWildcards (pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) if (isWild(pattern.charCodeAt(i))) return true
  return false
}

export interface WildcardOptions {
  /** Compare case-sensitively (a share with case sensitive = yes). Default false. */
  caseSensitive?: boolean
}

export type NameMatcher = (name: string) => boolean

/**
 * Compile a QUERY_DIRECTORY search pattern. An empty pattern matches everything, as
 * MS-FSA 2.1.5.6 treats it as "*". Names are never empty, so `*` and `*.*` match all.
 */
export function compileWildcard (pattern: string, options: WildcardOptions = {}): NameMatcher {
  if (pattern === '' || pattern === '*' || pattern === '*.*') return () => true
  const fold = options.caseSensitive === true ? (s: string) => s : upcaseName
  const expr = fold(pattern)
  if (!hasWildcards(expr)) return (name) => name.length === expr.length && fold(name) === expr
  // MS-FSA 2.1.4.4 part 1: '*' then no wildcards → compare the tail.
  if (expr.charCodeAt(0) === STAR && !hasWildcards(expr.slice(1))) {
    const tail = expr.slice(1)
    return (name) => name.length >= tail.length && fold(name).endsWith(tail)
  }
  const e = Uint16Array.from(expr, (ch) => ch.charCodeAt(0))
  const n = e.length
  return (raw) => {
    if (raw.length === 0) return false
    const name = fold(raw)
    const m = name.length
    const lastDot = name.lastIndexOf('.')
    let cur = new Uint8Array(n + 1)
    let next = new Uint8Array(n + 1)
    const stack: number[] = []
    // Epsilon closure of `set` before name position i.
    const close = (set: Uint8Array, i: number): void => {
      const atEnd = i === m
      const atDot = !atEnd && name.charCodeAt(i) === DOT
      for (let p = 0; p <= n; p++) if (set[p] === 1) stack.push(p)
      while (stack.length > 0) {
        const p = stack.pop()!
        if (p >= n) continue
        const c = e[p]!
        const skip = c === STAR || c === DOS_STAR ||
          (c === DOS_QM && (atEnd || atDot)) ||
          (c === DOS_DOT && atEnd)
        if (skip && set[p + 1] === 0) { set[p + 1] = 1; stack.push(p + 1) }
      }
    }
    cur[0] = 1
    for (let i = 0; i < m; i++) {
      close(cur, i)
      const ch = name.charCodeAt(i)
      next.fill(0)
      let any = false
      for (let p = 0; p < n; p++) {
        if (cur[p] === 0) continue
        const c = e[p]!
        if (c === STAR) { next[p] = 1; any = true } else if (c === DOS_STAR) {
          if (ch !== DOT || i < lastDot) { next[p] = 1; any = true }
        } else if (c === QM) { next[p + 1] = 1; any = true } else if (c === DOS_QM) {
          if (ch !== DOT) { next[p + 1] = 1; any = true }
        } else if (c === DOS_DOT) {
          if (ch === DOT) { next[p + 1] = 1; any = true }
        } else if (c === ch) { next[p + 1] = 1; any = true }
      }
      if (!any) return false
      const t = cur; cur = next; next = t
    }
    close(cur, m)
    return cur[n] === 1
  }
}
