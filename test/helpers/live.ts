// A live smbts on 127.0.0.1 (free high port) with a temp share, config and password db, for
// interop tests that drive it with real clients.
import { spawn } from 'node:child_process'
import { startServer, type RunningServer } from '../../src/server.js'
import type { LogComponent } from '../../src/control/log.js'
import { makeTestShare, type TestShareOptions } from './test-share.js'

export interface LiveServer {
  port: number
  root: string
  share: string
  user: string
  password: string
  server: RunningServer
  logs: string[]
  stop (): Promise<void>
}

/** The share, config and users (test-share.ts), and how the server runs. */
export interface LiveOptions extends TestShareOptions {
  debug?: LogComponent[]
  /** The io_uring fast path (ring transport, posix-uring files) when the kernel allows. Default:
   *  on, as in production, unless SMBTS_TEST_TRANSPORT=net (CI runs the interop suite both ways). */
  useUring?: boolean
  /** The length of a `deadtime` minute in ms (StartServerOptions.deadtimeMinuteMs). */
  deadtimeMinuteMs?: number
}

/** Whether live servers run the fast path unless a test says otherwise (SMBTS_TEST_TRANSPORT). */
export function testUsesUring (): boolean {
  return process.env.SMBTS_TEST_TRANSPORT !== 'net'
}

export async function startLive (o: LiveOptions = {}): Promise<LiveServer> {
  const ts = makeTestShare('live', 'SMBTS-TEST', o)
  const logs: string[] = []
  const server = await startServer({
    configPath: ts.configPath, pwddbPath: ts.pwddbPath, port: 0, host: '127.0.0.1', useUring: o.useUring ?? testUsesUring(), deadtimeMinuteMs: o.deadtimeMinuteMs,
    log: (l) => { logs.push(l); if (process.env.SMBTS_TEST_LOG) process.stderr.write(l + '\n') },
    debug: o.debug ?? (process.env.SMBTS_DEBUG?.split(',') as LogComponent[] | undefined) ?? [],
  }).catch((e: unknown) => { ts.remove(); throw e })
  return {
    port: server.port, root: ts.root, share: ts.share, user: ts.user, password: ts.password, server, logs,
    async stop () {
      await server.close()
      ts.remove()
    },
  }
}

export interface RunResult { code: number | null, stdout: string, stderr: string }

export function run (cmd: string, args: string[], opts: { input?: string, timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, opts.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    child.stdin.end(opts.input ?? '')
  })
}

/** smbclient against the live server: `cmds` is the -c script. */
export function smbclient (live: Pick<LiveServer, 'port' | 'user' | 'password'>, cmds: string, o: { protocol?: string, share?: string, user?: string, password?: string, extra?: string[], cwd?: string } = {}): Promise<RunResult> {
  const args = [
    `//127.0.0.1/${o.share ?? 'share'}`, '-p', String(live.port),
    '-U', `${o.user ?? live.user}%${o.password ?? live.password}`,
    '--option=client min protocol=SMB2_02',
    ...(o.protocol ? ['-m', o.protocol, `--option=client min protocol=${o.protocol}`] : []),
    ...(o.extra ?? []),
    '-c', cmds,
  ]
  return run('smbclient', args)
}
