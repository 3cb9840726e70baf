// The built CLI (bin/smbts start -n ...) as a server process of its own, for the system tests of
// what only the real program does: the supervisor and its workers, signals, the pid file. Its
// standard error is collected line by line; `waitFor` waits for a line (never a sleep).
import net from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadSteering, SteeringError } from '../../src/transport/steer.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = join(ROOT, 'bin/smbts')
/** The CLI is built (bin/smbts runs dist/cli/main.js). */
export const cliBuilt = existsSync(join(ROOT, 'dist/cli/main.js')) && existsSync(join(ROOT, 'dist/server.js'))

/** A TCP port nothing listens on now (the kernel's pick, released at once). */
export function freePort (host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen({ host, port: 0 }, () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => { resolve(port) })
    })
  })
}

/** True when a plain listener (no SO_REUSEPORT) can take host:port: nothing holds it. */
export function portFree (port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => { resolve(false) })
    s.listen({ host, port }, () => { s.close(() => { resolve(true) }) })
  })
}

export interface CliServer {
  proc: ChildProcess
  /** Every line of standard error so far. */
  logs: string[]
  /** Resolves with the first line (from line `from` on) matching `re`; rejects after `ms`. */
  waitFor (re: RegExp, ms?: number, from?: number): Promise<RegExpExecArray>
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | NodeJS.Signals | null>
  kill (signal: NodeJS.Signals): void
}

/**
 * Runs `bin/smbts <args>` in the foreground; `env` is added to this process's environment.
 * `wrap` runs it under another command (`['ip', 'netns', 'exec', ns]`: in a network namespace).
 */
export function startCli (args: string[], env: NodeJS.ProcessEnv = {}, wrap: string[] = []): CliServer {
  const [cmd, ...pre] = [...wrap, BIN]
  const proc = spawn(cmd!, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  const logs: string[] = []
  const waiters = new Set<() => void>()
  let partial = ''
  const onData = (d: string): void => {
    const lines = (partial + d).split('\n')
    partial = lines.pop()!
    logs.push(...lines)
    if (process.env.SMBTS_TEST_LOG) process.stderr.write(d)
    for (const w of [...waiters]) w()
  }
  proc.stderr!.setEncoding('utf8').on('data', onData)
  proc.stdout!.setEncoding('utf8').on('data', onData)
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    proc.once('exit', (code, signal) => { for (const w of [...waiters]) w(); resolve(code ?? signal) })
  })
  return {
    proc,
    logs,
    exited,
    kill (signal) { if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal) },
    waitFor (re, ms = 30_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          for (let i = from; i < logs.length; i++) {
            const m = re.exec(logs[i]!)
            if (m !== null) { done(); resolve(m); return }
          }
          if (proc.exitCode !== null || proc.signalCode !== null) { done(); reject(new Error(`smbts exited before logging ${String(re)}:\n${logs.join('\n')}`)) }
        }
        const timer = setTimeout(() => { done(); reject(new Error(`no line ${String(re)} within ${ms} ms:\n${logs.join('\n')}`)) }, ms)
        const done = (): void => { clearTimeout(timer); waiters.delete(check) }
        waiters.add(check)
        check()
      })
    },
  }
}

/** The pids of `pid`'s child processes (from /proc). */
export function childPids (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** True while a process with this pid exists (and is not a zombie). */
export function alive (pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/** Why the steering program cannot run here, or undefined when it can. */
export function bpfUnavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'not root'
  try {
    loadSteering({ workers: 1 }).close()
  } catch (e) {
    return e instanceof SteeringError ? e.message : String(e)
  }
  return undefined
}
