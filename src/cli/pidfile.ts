// The pid/lock file (/run/smbts.lock, like ksmbd.mountd's /run/ksmbd.lock): it names the
// running server so that a second `smbts start` refuses and `smbts control` finds its target.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { CliError } from './io.js'

export function readPidFile (file: string): number | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  const pid = Number.parseInt(text.trim(), 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists, it is just not ours to signal
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The pid of a live server named by the pid file, if any. */
export function runningPid (file: string): number | undefined {
  const pid = readPidFile(file)
  return pid !== undefined && isAlive(pid) ? pid : undefined
}

/**
 * Claims the pid file for `pid`. Refuses when it names another live process; a stale file
 * (its process is gone) is replaced.
 */
export function acquirePidFile (file: string, pid = process.pid): void {
  mkdirSync(dirname(file), { recursive: true })
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number
    try {
      fd = openSync(file, 'wx', 0o644)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const other = readPidFile(file)
      if (other !== undefined && other !== pid && isAlive(other)) {
        throw new CliError(`the server is already running (pid ${other}, ${file})`)
      }
      try { unlinkSync(file) } catch { /* raced with someone else's cleanup */ }
      continue
    }
    try {
      writeSync(fd, `${pid}\n`)
    } finally {
      closeSync(fd)
    }
    return
  }
  throw new CliError(`cannot claim ${file}: another smbts is starting`)
}

/** Removes the pid file if it still names `pid`. */
export function releasePidFile (file: string, pid = process.pid): void {
  if (readPidFile(file) === pid) {
    try { unlinkSync(file) } catch { /* already gone */ }
  }
}

/** Tells a running server to re-read its configuration and user database (SIGHUP). */
export function notifyServer (file: string): boolean {
  const pid = runningPid(file)
  if (pid === undefined) return false
  try {
    process.kill(pid, 'SIGHUP')
    return true
  } catch {
    return false
  }
}
