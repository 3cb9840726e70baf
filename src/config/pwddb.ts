// ksmbdpwd.db(5): one `user:base64(NT hash)` per line, the NT hash being
// MD4(UTF-16LE(password)) (MS-NLMP 3.3.1 NTOWFv1). smbts reads and writes the same file
// format as ksmbd.adduser, so a ksmbd user database can be used as it is.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { ntHash } from '../crypto/md4.js'
import { ConfigError } from './errors.js'

export const NT_HASH_BYTES = 16
/** ksmbd: KSMBD_REQ_MAX_ACCOUNT_NAME_SZ is 48 bytes including the NUL. */
export const MAX_USER_NAME_BYTES = 47
/** ksmbd.adduser: MAX_NT_PWD_LEN is 129 bytes including the NUL. */
export const MAX_PASSWORD_BYTES = 128

/** Why `name` cannot be a user name in the database, or undefined when it can. */
export function userNameProblem (name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes === 0) return 'user name is empty'
  if (bytes > MAX_USER_NAME_BYTES) return `user name '${name}' is longer than ${MAX_USER_NAME_BYTES} bytes`
  if (name.includes(':')) return `user name '${name}' contains ':'`
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'user name contains a control character'
  if (/[\uD800-\uDFFF]/.test(name.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) return 'user name is not valid UTF-8'
  return undefined
}

export function passwordProblem (password: string): string | undefined {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return `password is longer than ${MAX_PASSWORD_BYTES} bytes`
  return undefined
}

export function hashPassword (password: string): Buffer {
  return ntHash(password)
}

/** User names compare case-insensitively, as ksmbd does; returns the name as stored. */
export function findUser (db: Map<string, Buffer>, name: string): string | undefined {
  if (db.has(name)) return name
  const lower = name.toLowerCase()
  for (const k of db.keys()) if (k.toLowerCase() === lower) return k
  return undefined
}

export function parsePwdDb (text: string, file = '<pwddb>'): Map<string, Buffer> {
  const db = new Map<string, Buffer>()
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '')
    if (line.trim() === '') continue
    const at = `${file}:${i + 1}`
    const colon = line.lastIndexOf(':')
    if (colon < 0) throw new ConfigError(`${at}: expected 'user:hash'`)
    const user = line.slice(0, colon)
    const b64 = line.slice(colon + 1).trim()
    const problem = userNameProblem(user)
    if (problem !== undefined) throw new ConfigError(`${at}: ${problem}`)
    const hash = Buffer.from(b64, 'base64')
    if (hash.length !== NT_HASH_BYTES || hash.toString('base64') !== b64) {
      throw new ConfigError(`${at}: the password hash of '${user}' is not a base64 NT hash`)
    }
    if (findUser(db, user) !== undefined) throw new ConfigError(`${at}: user '${user}' appears twice`)
    db.set(user, hash)
  }
  return db
}

/** Reads the user database; a missing file is an empty database. */
export function readPwdDb (file: string): Map<string, Buffer> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (err.code === 'ENOENT') return new Map()
    throw new ConfigError(`${file}: cannot read user database: ${err.code === 'EACCES' ? 'permission denied' : err.message}`)
  }
  return parsePwdDb(text, file)
}

export function formatPwdDb (db: Map<string, Buffer>): string {
  let out = ''
  for (const [user, hash] of db) {
    if (hash.length !== NT_HASH_BYTES) throw new Error(`NT hash of '${user}' must be ${NT_HASH_BYTES} bytes`)
    out += `${user}:${hash.toString('base64')}\n`
  }
  return out
}

/**
 * Writes the database atomically: a temporary file beside it (mode 0600), fsync, rename.
 * A reader (the server on SIGHUP) sees the old or the new file, never half of one.
 */
export function writePwdDb (file: string, db: Map<string, Buffer>): void {
  for (const user of db.keys()) {
    const problem = userNameProblem(user)
    if (problem !== undefined) throw new ConfigError(`${file}: ${problem}`)
  }
  const text = formatPwdDb(db)
  const dir = dirname(file)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fd = openSync(tmp, 'wx', 0o600)
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
