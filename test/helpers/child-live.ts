// A live server in a child process, for tests that measure the server's own memory (its peak RSS,
// VmHWM reset through /proc/PID/clear_refs, is not blurred by the test's own allocations nor by
// pages an earlier test in this process freed), that kill -9 it (durability), or that trace its
// syscalls (strace). Same shape as LiveServer where the smbclient helper and bystanders need it.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { spawn, type ChildProcess } from 'node:child_process'
import { makeTestShare, type TestShareOptions } from './test-share.js'
import { tsChildArgs } from './ts-child-args.js'

const CHILD = fileURLToPath(new URL('./child-server.ts', import.meta.url))

/** The share, config and users (test-share.ts), and how the child runs. */
export interface ChildLiveOptions extends TestShareOptions {
  /** The transport: the ring ('uring') or node:net; default as SMBTS_TEST_TRANSPORT says. */
  useUring?: boolean
  /** Run the server under strace, writing the trace of these syscalls to out. */
  strace?: { out: string, syscalls: string }
  env?: NodeJS.ProcessEnv
}

export interface ChildLive {
  port: number
  pid: number
  root: string
  share: string
  user: string
  password: string
  /** The server's log lines so far. */
  logs: string[]
  /** Resets the peak RSS the kernel keeps for the server (clear_refs 5). */
  resetPeak (): void
  /** The server's resident and peak resident memory, bytes. */
  memory (): { rss: number, peak: number }
  /** SIGKILL to the server itself (under strace, killing strace alone would leave it running). */
  kill9 (): Promise<void>
  stop (): Promise<void>
  /** The spawned process: the server, or strace running it. */
  proc: ChildProcess
}

export async function startChildLive (o: ChildLiveOptions = {}): Promise<ChildLive> {
  const ts = makeTestShare('child', 'SMBTS-CHILD', o)
  const { root, share, user, password } = ts
  // The test loader flags of this process, so the child runs the TypeScript sources too.
  const loader = tsChildArgs()
  const nodeArgs = [...loader, CHILD, ts.configPath, ts.pwddbPath, ...(o.useUring === undefined ? [] : [o.useUring ? 'uring' : 'net'])]
  const proc = o.strace !== undefined
    ? spawn('strace', ['-f', '-qq', '-e', `trace=${o.strace.syscalls}`, '-o', o.strace.out, process.execPath, ...nodeArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } })
    : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } })
  const logs: string[] = []
  let partial = ''
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n')
    partial = lines.pop()!
    logs.push(...lines)
    if (process.env.SMBTS_TEST_LOG) process.stderr.write(d)
  })
  const [port, pid] = await new Promise<[number, number]>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { reject(new Error(`child server did not start: ${logs.join('\n')}`)) }, 60_000)
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /PORT (\d+) PID (\d+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve([Number(m[1]), Number(m[2])]) }
    })
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child server exited ${String(code)}: ${logs.join('\n')}`)) })
  })
  const status = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  }
  const live: ChildLive = {
    port, pid, root, share, user, password, logs, proc,
    resetPeak () { writeFileSync(`/proc/${pid}/clear_refs`, '5') },
    memory () { return { rss: status('VmRSS'), peak: status('VmHWM') } },
    async kill9 () {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = new Promise<void>((resolve) => { proc.once('exit', () => { resolve() }) })
      try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
      if (pid !== proc.pid) proc.kill('SIGKILL')
      await exited
    },
    async stop () {
      await live.kill9()
      ts.remove()
    },
  }
  return live
}
