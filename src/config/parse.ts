// The smb.conf syntax, as Samba's params.c and ksmbd-tools read it, without any meaning:
//   [section]            a header; the name is trimmed, text after `]` is ignored
//   key = value          key and value trimmed; keys match ignoring case and whitespace
//   # ... / ; ...        comment lines (only whole lines: `;` or `#` inside a value is kept)
//   ...\                 a trailing backslash joins the next line (its leading blanks dropped)
//   include = FILE       read FILE here, relative to the including file's directory
// Parameters before the first header belong to [global], as in Samba. The meaning of each
// parameter is config.ts's business; this file only reports syntax problems.
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import type { Diagnostic } from './errors.js'
import { normalizeKey } from './params.js'

export interface Entry {
  /** as written (trimmed) */
  key: string
  value: string
  file: string
  line: number
}

export interface Section {
  /** as written (trimmed); the implicit leading section is named 'global' */
  name: string
  file: string
  line: number
  entries: Entry[]
}

export interface ParsedConfig {
  sections: Section[]
  diagnostics: Diagnostic[]
}

export interface ParseOptions {
  /** reads an included file; defaults to readFileSync(path, 'utf8') */
  readInclude?: (path: string) => string
  /** how deep includes may nest; Samba allows 100, a real config needs a handful */
  maxIncludeDepth?: number
}

export const DEFAULT_MAX_INCLUDE_DEPTH = 16

/** Name used in messages for text that did not come from a file. */
export const NO_FILE = '<config>'

interface State {
  sections: Section[]
  current: Section
  diagnostics: Diagnostic[]
  readInclude: (path: string) => string
  maxDepth: number
}

export function parseSmbConf (text: string, file?: string, opts: ParseOptions = {}): ParsedConfig {
  const name = file ?? NO_FILE
  const global: Section = { name: 'global', file: name, line: 0, entries: [] }
  const state: State = {
    sections: [global],
    current: global,
    diagnostics: [],
    readInclude: opts.readInclude ?? ((p) => readFileSync(p, 'utf8')),
    maxDepth: opts.maxIncludeDepth ?? DEFAULT_MAX_INCLUDE_DEPTH
  }
  const stack = file === undefined ? [] : [resolve(file)]
  parseInto(state, text, name, file === undefined ? process.cwd() : dirname(resolve(file)), stack)
  return { sections: state.sections, diagnostics: state.diagnostics }
}

function parseInto (state: State, text: string, file: string, baseDir: string, stack: string[]): void {
  const warn = (line: number, message: string): void => { state.diagnostics.push({ severity: 'warning', file, line, message }) }
  const error = (line: number, message: string): void => { state.diagnostics.push({ severity: 'error', file, line, message }) }

  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1
    let logical = lines[i]!.trim()
    if (logical === '' || logical.startsWith('#') || logical.startsWith(';')) continue
    // continuation lines: `\` at the end joins the next physical line
    while (logical.endsWith('\\')) {
      logical = logical.slice(0, -1)
      if (i + 1 >= lines.length) break
      i++
      logical += lines[i]!.trim()
    }

    if (logical.startsWith('[')) {
      const close = logical.indexOf(']')
      if (close < 0) {
        error(lineNo, `section header without ']': ${logical}`)
        continue
      }
      const sname = logical.slice(1, close).trim()
      const rest = logical.slice(close + 1).trim()
      if (rest !== '' && !rest.startsWith('#') && !rest.startsWith(';')) {
        warn(lineNo, `text after section header [${sname}] ignored`)
      }
      if (sname === '') {
        error(lineNo, 'empty section name')
        continue
      }
      state.current = { name: sname, file, line: lineNo, entries: [] }
      state.sections.push(state.current)
      continue
    }

    const eq = logical.indexOf('=')
    if (eq < 0) {
      warn(lineNo, `ignoring line without '=': ${logical}`)
      continue
    }
    const key = logical.slice(0, eq).trim()
    const value = logical.slice(eq + 1).trim()
    if (key === '') {
      error(lineNo, `parameter without a name: ${logical}`)
      continue
    }
    if (normalizeKey(key) === 'include') {
      include(state, value, file, lineNo, baseDir, stack)
      continue
    }
    state.current.entries.push({ key, value, file, line: lineNo })
  }
}

function include (state: State, value: string, file: string, line: number, baseDir: string, stack: string[]): void {
  const at = (severity: 'warning' | 'error', message: string): void => {
    state.diagnostics.push({ severity, file, line, message })
  }
  if (value === '') {
    at('warning', 'empty include ignored')
    return
  }
  if (value.includes('%')) {
    // Samba expands %m, %U... per client; smbts reads the configuration once for everyone
    at('warning', `include with substitutions is not supported; '${value}' ignored`)
    return
  }
  const path = isAbsolute(value) ? value : resolve(baseDir, value)
  if (stack.includes(path)) {
    at('error', `include cycle: ${[...stack.slice(stack.indexOf(path)), path].join(' -> ')}`)
    return
  }
  if (stack.length >= state.maxDepth) {
    at('error', `includes nested deeper than ${state.maxDepth} levels at '${value}'`)
    return
  }
  let text: string
  try {
    text = state.readInclude(path)
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (err.code === 'ENOENT') {
      // Samba carries on without a missing include file, so do we (loudly)
      at('warning', `include file '${path}' not found; ignored`)
    } else {
      at('error', `cannot read include file '${path}': ${err.message}`)
    }
    return
  }
  parseInto(state, text, path, dirname(path), [...stack, path])
}
