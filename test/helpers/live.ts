// A live smbts on 127.0.0.1 (free high port) with a temp share, config and password db, for
// interop tests that drive it with real clients.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { startServer, type RunningServer } from '../../src/server.js'
import { hashPassword, writePwdDb } from '../../src/config/pwddb.js'
import type { LogComponent } from '../../src/control/log.js'

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

export interface LiveOptions {
  /** Extra [global] lines. */
  global?: string[]
  /** Extra [share] lines. */
  shareLines?: string[]
  /** More shares: name → lines (path is created and set for you). */
  shares?: Record<string, string[]>
  users?: Record<string, string>
  debug?: LogComponent[]
  /** The io_uring fast path (ring transport, posix-uring files) when the kernel allows. Default:
   *  on, as in production, unless SMBTS_TEST_TRANSPORT=net (CI runs the interop suite both ways). */
  useUring?: boolean
  /** Where the temp root (share, config, client files) goes; default os.tmpdir(). */
  tmpRoot?: string
  /** The length of a `deadtime` minute in ms (StartServerOptions.deadtimeMinuteMs). */
  deadtimeMinuteMs?: number
}

/** Whether live servers run the fast path unless a test says otherwise (SMBTS_TEST_TRANSPORT). */
export function testUsesUring (): boolean {
  return process.env.SMBTS_TEST_TRANSPORT !== 'net'
}

export async function startLive (o: LiveOptions = {}): Promise<LiveServer> {
  const root = mkdtempSync(join(o.tmpRoot ?? tmpdir(), 'smbts-live-'))
  const share = join(root, 'share')
  mkdirSync(share)
  const user = 'tester'
  const password = 'Secret-pass1'
  const users = { [user]: password, ...(o.users ?? {}) }
  const pwddb = join(root, 'ksmbdpwd.db')
  writePwdDb(pwddb, new Map(Object.entries(users).map(([u, p]) => [u, hashPassword(p)])))
  const lines = [
    '[global]', 'netbios name = SMBTS-TEST', 'workgroup = WORKGROUP', ...(o.global ?? []),
    '[share]', `path = ${share}`, 'read only = no', ...(o.shareLines ?? []),
  ]
  for (const [name, extra] of Object.entries(o.shares ?? {})) {
    const p = join(root, name)
    mkdirSync(p, { recursive: true })
    lines.push(`[${name}]`, `path = ${p}`, ...extra)
  }
  const conf = join(root, 'smb.conf')
  writeFileSync(conf, lines.join('\n') + '\n')
  const logs: string[] = []
  const server = await startServer({
    configPath: conf, pwddbPath: pwddb, port: 0, host: '127.0.0.1', useUring: o.useUring ?? testUsesUring(), deadtimeMinuteMs: o.deadtimeMinuteMs,
    log: (l) => { logs.push(l); if (process.env.SMBTS_TEST_LOG) process.stderr.write(l + '\n') },
    debug: o.debug ?? (process.env.SMBTS_DEBUG?.split(',') as LogComponent[] | undefined) ?? [],
  })
  return {
    port: server.port, root, share, user, password, server, logs,
    async stop () {
      await server.close()
      rmSync(root, { recursive: true, force: true })
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
