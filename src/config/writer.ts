// Edits share sections of a configuration file in place, as `smbts addshare` needs: every line
// it is not asked to change (comments, blank lines, other sections, the order of parameters)
// stays byte for byte as it was. ksmbd.addshare rewrites the whole file; we do not.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import { lookupShareParam, normalizeKey } from './params.js'

interface Line {
  /** index of the first physical line */
  start: number
  /** index one past the last physical line (continuations included) */
  end: number
  kind: 'blank' | 'comment' | 'header' | 'entry' | 'other'
  name?: string
  key?: string
}

interface Block {
  name: string
  header: Line
  lines: Line[]
}

function scan (phys: string[]): Line[] {
  const out: Line[] = []
  for (let i = 0; i < phys.length; i++) {
    const start = i
    let t = phys[i]!.trim()
    if (t === '') { out.push({ start, end: i + 1, kind: 'blank' }); continue }
    if (t.startsWith('#') || t.startsWith(';')) { out.push({ start, end: i + 1, kind: 'comment' }); continue }
    while (t.endsWith('\\') && i + 1 < phys.length) {
      i++
      t = t.slice(0, -1) + phys[i]!.trim()
    }
    if (t.startsWith('[') && t.includes(']')) {
      out.push({ start, end: i + 1, kind: 'header', name: t.slice(1, t.indexOf(']')).trim() })
      continue
    }
    const eq = t.indexOf('=')
    if (eq > 0) out.push({ start, end: i + 1, kind: 'entry', key: t.slice(0, eq).trim() })
    else out.push({ start, end: i + 1, kind: 'other' })
  }
  return out
}

function blocks (lines: Line[]): Block[] {
  const out: Block[] = []
  let cur: Block | undefined
  for (const l of lines) {
    if (l.kind === 'header') {
      cur = { name: l.name!, header: l, lines: [] }
      out.push(cur)
    } else if (cur !== undefined) {
      cur.lines.push(l)
    }
  }
  return out
}

function splitText (text: string): { phys: string[], eol: string } {
  const eol = text.includes('\r\n') ? '\r\n' : '\n'
  const phys = text.split(/\r?\n/)
  // a trailing newline leaves an empty last element: not a line
  if (phys.length > 0 && phys[phys.length - 1] === '') phys.pop()
  return { phys, eol }
}

const join_ = (phys: string[], eol: string): string => phys.length === 0 ? '' : phys.join(eol) + eol

/** True when a [name] section exists in this text (not counting included files). */
export function hasShareSection (text: string, name: string): boolean {
  const lower = name.toLowerCase()
  return blocks(scan(splitText(text).phys)).some((b) => b.name.toLowerCase() === lower)
}

function formatEntry (indent: string, key: string, value: string): string {
  return value === '' ? `${indent}${key} =` : `${indent}${key} = ${value}`
}

/** Appends a new [name] section with the given parameters at the end of the text. */
export function addShareSection (text: string, name: string, params: Array<[string, string]>): string {
  const { phys, eol } = splitText(text)
  // keep one blank line between the previous section and the new one
  if (phys.length > 0 && phys[phys.length - 1]!.trim() !== '') phys.push('')
  phys.push(`[${name}]`)
  for (const [k, v] of params) phys.push(formatEntry('\t', k, v))
  return join_(phys, eol)
}

/** Same parameter? Aliases and inverse aliases (`writeable` vs `read only`) count as the same. */
function sameParam (a: string, b: string): boolean {
  if (normalizeKey(a) === normalizeKey(b)) return true
  const da = lookupShareParam(a)
  const db = lookupShareParam(b)
  return da !== undefined && db !== undefined && da.def === db.def
}

/**
 * Sets parameters of the [name] section(s): a parameter already there is replaced on its own
 * line (keeping that line's indentation; repeated ones are removed), a new one is appended
 * after the section's last parameter. An empty value is written as `key =`.
 * Throws when there is no such section.
 */
export function updateShareSection (text: string, name: string, params: Array<[string, string]>): string {
  const { phys, eol } = splitText(text)
  const lower = name.toLowerCase()
  const mine = blocks(scan(phys)).filter((b) => b.name.toLowerCase() === lower)
  if (mine.length === 0) throw new Error(`no section [${name}]`)

  // edits as (start, end, replacement lines), applied from the bottom up
  const edits: Array<{ start: number, end: number, lines: string[] }> = []
  const last = mine[mine.length - 1]!
  const entries = mine.flatMap((b) => b.lines.filter((l) => l.kind === 'entry'))
  const firstEntry = entries[0]
  const defaultIndent = firstEntry === undefined ? '\t' : /^\s*/.exec(phys[firstEntry.start]!)![0]
  const appended: string[] = []
  for (const [k, v] of params) {
    const matches = entries.filter((l) => sameParam(l.key!, k))
    if (matches.length === 0) {
      appended.push(formatEntry(defaultIndent, k, v))
      continue
    }
    const [first, ...rest] = matches
    const indent = /^\s*/.exec(phys[first!.start]!)![0]
    edits.push({ start: first!.start, end: first!.end, lines: [formatEntry(indent, k, v)] })
    for (const r of rest) edits.push({ start: r.start, end: r.end, lines: [] })
  }
  if (appended.length > 0) {
    const lastEntry = [...last.lines].reverse().find((l) => l.kind === 'entry')
    const at = lastEntry?.end ?? last.header.end
    edits.push({ start: at, end: at, lines: appended })
  }
  edits.sort((a, b) => b.start - a.start || b.end - a.end)
  for (const e of edits) phys.splice(e.start, e.end - e.start, ...e.lines)
  return join_(phys, eol)
}

/**
 * Removes every [name] section: its header, its parameters and the comments among them.
 * Comments and blank lines after its last parameter stay: they usually introduce what follows.
 * Throws when there is no such section.
 */
export function deleteShareSection (text: string, name: string): string {
  const { phys, eol } = splitText(text)
  const lower = name.toLowerCase()
  const mine = blocks(scan(phys)).filter((b) => b.name.toLowerCase() === lower)
  if (mine.length === 0) throw new Error(`no section [${name}]`)
  for (const b of [...mine].reverse()) {
    const lastEntry = [...b.lines].reverse().find((l) => l.kind === 'entry' || l.kind === 'other')
    let end = lastEntry?.end ?? b.header.end
    // swallow the blank lines that separated this section from the next
    while (end < phys.length && phys[end]!.trim() === '') end++
    phys.splice(b.header.start, end - b.header.start)
  }
  // no blank line left dangling at the end of the file
  while (phys.length > 0 && phys[phys.length - 1]!.trim() === '') phys.pop()
  return join_(phys, eol)
}

/** Replaces `file` with `text` atomically (temporary file + rename), keeping its mode. */
export function writeFileAtomic (file: string, text: string, defaultMode = 0o644): void {
  let mode = defaultMode
  try { mode = statSync(file).mode & 0o7777 } catch { /* new file */ }
  const dir = dirname(file)
  mkdirSync(dir, { recursive: true })
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fd = openSync(tmp, 'wx', mode)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
    closeSync(fd)
    renameSync(tmp, file)
  } catch (e) {
    try { closeSync(fd) } catch { /* already closed */ }
    try { unlinkSync(tmp) } catch { /* gone */ }
    throw e
  }
}
