// A live smbts on 127.0.0.1 (free high port) with a temp share, config and password db, for
// interop tests that drive it with real clients. By default the server runs in this process
// (startServer), so tests can look inside it (`live.server`). With SMBTS_TEST_WORKERS=N (N > 1)
// it runs as the built program instead, `bin/smbts start -n --workers N` (a supervisor and N
// worker processes sharing the port and the locking store), from the same share and config:
// port, share, users, logs, reload and stop work alike; `live.server` throws, and the tests that
// need it skip (inProcessOnly).
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { startServer, type RunningServer } from '../../src/server.js'
import type { LogComponent } from '../../src/control/log.js'
import { makeTestShare, type TestShare, type TestShareOptions } from './test-share.js'
import { cliBuilt, freePort, startCli } from './cli-server.js'

export interface LiveServer {
  port: number
  root: string
  share: string
  user: string
  password: string
  /** The in-process server. With SMBTS_TEST_WORKERS there is none: reading it throws. */
  server: RunningServer
  /** 1: the server in this process; N > 1: the built program with N workers. */
  workers: number
  /** The server's log lines so far (with workers: every process's, tagged `[sup]`, `[w0]`...). */
  logs: string[]
  /**
   * Whether a log line (from line `from` on) matches `re`. In process a line is there once the
   * reply it goes with has come; a worker's comes through a pipe, maybe after the reply: there it
   * is waited for, up to `ms` (default 5 s).
   */
  logged (re: RegExp, o?: { from?: number, ms?: number }): Promise<boolean>
  /** Re-reads the configuration and user database (with workers: SIGHUP, every worker). */
  reload (): Promise<void>
  stop (): Promise<void>
}

/** The share, config and users (test-share.ts), and how the server runs. */
export interface LiveOptions extends TestShareOptions {
  debug?: LogComponent[]
  /** The io_uring fast path (ring transport, posix-uring files) when the kernel allows. Default:
   *  on, as in production, unless SMBTS_TEST_TRANSPORT=net (CI runs the interop suite both ways). */
  useUring?: boolean
  /** The length of a `deadtime` minute in ms (StartServerOptions.deadtimeMinuteMs). In-process only. */
  deadtimeMinuteMs?: number
}

/** Whether live servers run the fast path unless a test says otherwise (SMBTS_TEST_TRANSPORT). */
export function testUsesUring (): boolean {
  return process.env.SMBTS_TEST_TRANSPORT !== 'net'
}

/** The worker processes live servers run with (SMBTS_TEST_WORKERS); 1: in this process. */
export function testWorkers (): number {
  const v = process.env.SMBTS_TEST_WORKERS
  if (v === undefined || v === '' || v === '1') return 1
  if (!/^\d+$/.test(v) || +v < 1 || +v > 64) throw new Error(`SMBTS_TEST_WORKERS=${v}: a number of workers from 1 to 64`)
  return +v
}

/**
 * A `skip` for a test that needs what only the in-process server gives (`live.server`, its
 * state, ring and counters, or a test hook such as deadtimeMinuteMs): the reason when live
 * servers run with workers, else false. `what` says what the test reads.
 */
export function inProcessOnly (what: string): string | false {
  const n = testWorkers()
  return n > 1 ? `SMBTS_TEST_WORKERS=${n}: the server runs as the built CLI with ${n} workers, and this test needs the in-process server (${what})` : false
}

/**
 * A `skip` for a test that runs a server of its own in one process (startChildLive, a server in
 * memory), not startLive's: with workers it would repeat the run without them. `what` says which.
 */
export function singleProcessOnly (what: string): string | false {
  const n = testWorkers()
  return n > 1 ? `SMBTS_TEST_WORKERS=${n}: this test runs its own single-process server (${what}), as in the runs without workers` : false
}

/**
 * A `skip` for a test that runs each transport itself (a loop over useUring): the suite's later
 * passes (the fallback transport, workers) would only repeat it, so it runs in the first. `what`
 * says what it measures.
 */
export function firstPassOnly (what: string): string | false {
  if (process.env.SMBTS_TEST_TRANSPORT === 'net') return `SMBTS_TEST_TRANSPORT=net: this test runs both transports itself (${what}), in the suite's first pass`
  const n = testWorkers()
  return n > 1 ? `SMBTS_TEST_WORKERS=${n}: this test runs both transports itself (${what}), in the suite's first pass` : false
}

export async function startLive (o: LiveOptions = {}): Promise<LiveServer> {
  const workers = testWorkers()
  if (workers > 1) return await startLiveWorkers(o, workers)
  const ts = makeTestShare('live', 'SMBTS-TEST', o)
  const logs: string[] = []
  const server = await startServer({
    configPath: ts.configPath, pwddbPath: ts.pwddbPath, port: 0, host: '127.0.0.1', useUring: o.useUring ?? testUsesUring(), deadtimeMinuteMs: o.deadtimeMinuteMs,
    log: (l) => { logs.push(l); if (process.env.SMBTS_TEST_LOG) process.stderr.write(l + '\n') },
    debug: o.debug ?? (process.env.SMBTS_DEBUG?.split(',') as LogComponent[] | undefined) ?? [],
  }).catch((e: unknown) => { ts.remove(); throw e })
  return {
    port: server.port, root: ts.root, share: ts.share, user: ts.user, password: ts.password, server, workers: 1, logs,
    logged: async (re, lo = {}) => logs.slice(lo.from ?? 0).some(l => re.test(l)),
    async reload () { await server.reload() },
    async stop () {
      await server.close()
      ts.remove()
    },
  }
}

/**
 * `bin/smbts start -n --workers N` on the test share: the config is the in-process one plus
 * `interfaces = 127.0.0.1` with `bind interfaces only` (what startServer's `host` does), the
 * port a free one (the CLI takes no port 0; taken in between, it is tried again).
 */
async function startLiveWorkers (o: LiveOptions, workers: number): Promise<LiveServer> {
  if (!cliBuilt) throw new Error(`SMBTS_TEST_WORKERS=${workers} runs the built CLI: build it first (npm run build)`)
  if (o.deadtimeMinuteMs !== undefined) throw new Error('deadtimeMinuteMs is a hook of the in-process server: skip this test with inProcessOnly()')
  const ts: TestShare = makeTestShare('live', 'SMBTS-TEST', { ...o, global: [...(o.global ?? []), 'interfaces = 127.0.0.1', 'bind interfaces only = yes'] })
  const env: NodeJS.ProcessEnv = o.debug !== undefined ? { SMBTS_DEBUG: o.debug.join(',') } : {}
  const useUring = o.useUring ?? testUsesUring()
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const args = ['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '-p', String(port), '--workers', String(workers),
      '--pid-file', `${ts.root}/smbts.pid`, '--control-dir', `${ts.root}/control`, ...(useUring ? [] : ['--no-uring']),
      // Without the steering program one client's connections may meet different workers: what
      // crosses workers is exercised, and what needs one worker per client (a session's
      // connections) is not expected to hold.
      ...(process.env.SMBTS_TEST_STEERING === 'off' ? ['--no-bpf'] : [])]
    const srv = startCli(args, env)
    // A test process that ends without stop() (a crash, a tap timeout's exit) takes the server along.
    const onExit = (): void => { srv.kill('SIGKILL') }
    process.once('exit', onExit)
    try {
      await srv.waitFor(new RegExp(`\\[sup\\] info ${workers} workers ready on port ${port}`), 60_000)
    } catch (e) {
      process.off('exit', onExit)
      srv.kill('SIGKILL')
      await srv.exited
      if (attempt < 3 && srv.logs.some(l => /EADDRINUSE/.test(l))) continue
      ts.remove()
      throw e
    }
    let stopped: Promise<void> | undefined
    return {
      port, root: ts.root, share: ts.share, user: ts.user, password: ts.password, workers, logs: srv.logs,
      get server (): RunningServer {
        throw new Error(`SMBTS_TEST_WORKERS=${workers}: no in-process server to look into; skip this test with inProcessOnly()`)
      },
      logged: (re, lo = {}) => srv.waitFor(re, lo.ms ?? 5000, lo.from ?? 0).then(() => true, () => false),
      async reload () {
        const mark = srv.logs.length
        srv.kill('SIGHUP')
        for (let w = 0; w < workers; w++) await srv.waitFor(new RegExp(`\\[w${w}\\] (info reloaded|warn .*reload)`), 10_000, mark)
      },
      stop () {
        stopped ??= (async () => {
          // A worker that died during the test (its clients cut off, the slot restarted) fails
          // it here, with what the log says, whatever the client saw.
          const died = srv.logs.findIndex(l => /\[sup\] warn worker w\d+ \(pid .*its clients are cut off/.test(l))
          srv.kill('SIGTERM')
          const timer = setTimeout(() => { srv.kill('SIGKILL') }, 15_000)
          const how = await srv.exited
          clearTimeout(timer)
          process.off('exit', onExit)
          ts.remove()
          if (died >= 0) throw new Error(`a worker died during the test:\n${srv.logs.slice(Math.max(0, died - 30), died + 3).join('\n')}`)
          if (how !== 0) throw new Error(`smbts --workers ${workers} exited with ${String(how)} on SIGTERM:\n${srv.logs.slice(-20).join('\n')}`)
        })()
        return stopped
      },
    }
  }
}

export interface RunResult { code: number | null, stdout: string, stderr: string }

export function run (cmd: string, args: string[], opts: { input?: string, timeoutMs?: number, env?: NodeJS.ProcessEnv, cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // smbtorture makes a temporary smbtortureXXXXXX directory where it runs: not in the
    // repository, where a lint or a second run beside it would trip over it.
    const cwd = opts.cwd ?? (cmd === 'smbtorture' ? tmpdir() : undefined)
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, cwd })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, opts.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    // A child that exits without reading its input (smbclient on a refused connection) makes
    // the write fail with EPIPE: what it printed and its exit status say what happened.
    child.stdin.on('error', () => {})
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
