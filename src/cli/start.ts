// `smbts start`: runs the server, in the foreground (-n) or as a daemon. The daemon is this same
// program started again with -n, detached, its output going to a log file; the parent waits until
// the child reports that it listens (or dies) and exits with the matching status, so that
// `smbts start && smbclient ...` works. The pid file (/run/smbts.lock) keeps a second instance
// out; SIGTERM/SIGINT close the server gracefully, SIGHUP reloads it.
//
// With several workers (`--workers N`, `server workers = N`, or 0 — the default — for one per
// core on a machine of more than one) this process is the supervisor
// (src/transport/supervisor.ts): it holds the pid file, the listeners and the steering program,
// and runs N workers, each this program's hidden `worker` command (src/cli/worker.ts). Signals
// reach the supervisor, which passes them on. With one worker nothing of that runs: the server is
// this process, as it always was.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { defaultConfig, loadConfig, type GlobalConfig } from '../config/config.js'
import { createLogger, tagLines } from '../control/log.js'
import { SMBTS_MAX_WORKERS } from '../transport/steer.js'
import { listenHosts, SUPERVISOR_TAG, type InheritedListener, type WorkerContext } from '../transport/worker.js'
import { DEFAULT_CONFIG_PATH, DEFAULT_CONTROL_DIR, DEFAULT_LOCK_PATH, DEFAULT_LOG_PATH, DEFAULT_PWDDB_PATH, DEFAULT_SHARE_DIR, DEFAULT_USER } from '../config/paths.js'
import { CliError, errorMessage, type CliIO } from './io.js'
import { acquirePidFile, releasePidFile, runningPid } from './pidfile.js'
import { DebugSwitch, parseDebugList } from '../control/debug.js'
import { eventChannel, requestChannel } from '../control/channels.js'
import { ControlPlane, type ControlSource } from '../control/plane.js'
import type { StatsSnapshot } from '../control/stats.js'
import type { StatusSlice } from '../control/status.js'
import { IdleGc } from '../io/idle-gc.js'

/** What src/server.ts offers (it is written alongside; see startServer there). */
export interface StartServerOptions {
  configPath?: string
  pwddbPath?: string
  port?: number
  controlDir?: string
  useUring: boolean
  log: (line: string) => void
  listenFds?: InheritedListener[]
  worker?: WorkerContext
  defaultPassword?: string
}
export interface ServerHandle {
  close (): Promise<void>
  reload? (): void | Promise<void>
  /** The port it listens on (the control mount's `stats` says it). */
  readonly port?: number
  /** This process's numbers and holdings, for the control mount. */
  statsSnapshot? (): StatsSnapshot
  statusSlice? (): StatusSlice
}
export type StartServerFn = (opts: StartServerOptions) => Promise<ServerHandle>

export interface StartArgs {
  foreground: boolean
  port?: number
  /** undefined: the default file, if it exists */
  config?: string
  pwddb?: string
  controlDir: string
  uring: boolean
  pidFile: string
  logFile: string
  /** Worker processes (undefined: the config's `server workers`; 0, its default: one per core). */
  workers?: number
  /** false: --no-bpf, no steering program even where it would load. */
  bpf?: boolean
}

/** The signal source: `process` in real life, an EventEmitter in tests. */
export interface SignalSource {
  on (signal: NodeJS.Signals, listener: () => void): unknown
  off (signal: NodeJS.Signals, listener: () => void): unknown
}

/**
 * SIGTERM and SIGINT run `stop`, SIGHUP `reload`, until the returned function is called, once the
 * shutdown is over. They stay listened to while it runs: with no listener, a signal's default
 * action ends the process at once, without the exit hook that unmounts the control mount and
 * before the pid file is removed. A second Ctrl-C does that, and so does systemd's control-group
 * SIGTERM landing after the one the supervisor already took. `stop` and `reload` say what they do
 * with a signal that comes while stopping.
 */
function listenSignals (signals: SignalSource, stop: () => void, reload: () => void): () => void {
  signals.on('SIGTERM', stop)
  signals.on('SIGINT', stop)
  signals.on('SIGHUP', reload)
  return () => {
    signals.off('SIGTERM', stop)
    signals.off('SIGINT', stop)
    signals.off('SIGHUP', reload)
  }
}

/** How a serving process stops (serveUntilStopped). */
interface Stopping {
  /** Says a line: the CLI's standard error, or the supervisor's log. */
  say: (line: string) => void
  /** What the first stop says. */
  stopping: string
  /** Stops serving. */
  close: () => Promise<void>
  /** Runs once `close` has settled, whether it succeeded or not: the control mount, the pid file. */
  after: () => void
  /** SIGHUP, unless stopping. */
  reload: () => void
}

/**
 * Serves until SIGTERM or SIGINT, or `stop` (the control mount's kill_server): then closes, once.
 * A second stop while closing, and a SIGHUP then, are said and change nothing. `done` settles once
 * the close is over (rejected with its error), and the signals are let go only then.
 */
function serveUntilStopped (signals: SignalSource, s: Stopping): { done: Promise<void>, stop: () => void } {
  let closing = false
  let ended!: { resolve: () => void, reject: (e: Error) => void }
  const done = new Promise<void>((resolve, reject) => { ended = { resolve, reject } })
  const stop = (): void => {
    if (closing) { s.say('already shutting down'); return }
    closing = true
    s.say(s.stopping)
    s.close().then(() => {
      s.after()
      unlisten()
      ended.resolve()
    }, (e: unknown) => {
      s.after()
      unlisten()
      ended.reject(e instanceof Error ? e : new Error(String(e)))
    })
  }
  const reload = (): void => {
    if (closing) { s.say('shutting down: no reload'); return }
    s.reload()
  }
  const unlisten = listenSignals(signals, stop, reload)
  return { done, stop }
}

export interface StartDeps {
  startServer?: StartServerFn
  signals?: SignalSource
  /** called once the server listens (the daemon child reports to its parent here) */
  onReady?: () => void
}

/** Environment variable marking the daemon's child, so it reports readiness to the parent. */
export const DAEMON_ENV = 'SMBTS_DAEMON_CHILD'

export async function importStartServer (): Promise<StartServerFn> {
  // a variable specifier: the composition root is written by someone else and may not exist yet
  const spec = '../server.js'
  try {
    const mod = await import(spec) as { startServer?: StartServerFn }
    if (typeof mod.startServer !== 'function') throw new CliError('server.js has no startServer()')
    return mod.startServer
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('server.js')) {
      throw new CliError('the server is not built (no server.js next to cli/); run npm run build')
    }
    throw e
  }
}

/** Config and pwddb paths the server gets: explicit ones always, defaults only if they exist. */
function resolvePaths (args: StartArgs): { configPath?: string, pwddbPath?: string } {
  const out: { configPath?: string, pwddbPath?: string } = {}
  const config = args.config ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined)
  if (config !== undefined) out.configPath = config
  const pwddb = args.pwddb ?? (existsSync(DEFAULT_PWDDB_PATH) ? DEFAULT_PWDDB_PATH : undefined)
  if (pwddb !== undefined) out.pwddbPath = pwddb
  return out
}

/** Fails early, on the terminal, with the config's own `FILE:LINE: message`. */
function checkConfig (configPath: string | undefined, io: CliIO): void {
  if (configPath === undefined) return
  const config = loadConfig(configPath)
  for (const w of config.warnings) io.err(`smbts: warning: ${w}`)
}

/**
 * How many processes serve, from `--workers` or `server workers` (`asked`): a number as given;
 * 0, the default, one per core — and one when the workers could not share their locking store
 * (`nativeError`: the addon is not built), which is said rather than failed, since nobody asked
 * for workers. One core gives one process: a supervisor would only add a hop.
 */
export function chooseWorkers (asked: number, cores: number, nativeError?: string): { workers: number, note?: string } {
  if (asked > 0) return { workers: asked }
  const perCore = Math.max(1, Math.min(cores, SMBTS_MAX_WORKERS))
  if (perCore > 1 && nativeError !== undefined) {
    return { workers: 1, note: `serving from one process, not one per core (${perCore}): worker processes share their locking store through the native addon, which is unavailable (${nativeError})` }
  }
  return { workers: perCore }
}

/** Why the native addon cannot be used, or undefined; loaded only when the answer matters. */
async function nativeProblem (): Promise<string | undefined> {
  const { nativeAvailable, nativeLoadError } = await import('../io/native.js')
  return nativeAvailable ? undefined : (nativeLoadError?.message ?? 'not built')
}

/** Runs the server in this process until SIGTERM/SIGINT; resolves once it has closed. */
export async function runForeground (args: StartArgs, io: CliIO, deps: StartDeps = {}): Promise<void> {
  const signals = deps.signals ?? process
  const paths = resolvePaths(args)
  // refuse a second instance before doing any work
  const other = runningPid(args.pidFile)
  if (other !== undefined && other !== process.pid) throw new CliError(`the server is already running (pid ${other}, ${args.pidFile})`)
  if (process.env[DAEMON_ENV] === undefined) checkConfig(paths.configPath, io)
  const global = paths.configPath !== undefined ? loadConfig(paths.configPath).global : undefined
  const asked = args.workers ?? global?.serverWorkers ?? 0
  const chosen = chooseWorkers(asked, availableParallelism(), asked === 0 ? await nativeProblem() : undefined)
  if (chosen.note !== undefined) io.err(`smbts: ${chosen.note}`)
  if (chosen.workers > 1) {
    await runSupervisor(args, io, deps, chosen.workers, asked === 0, paths, global)
    return
  }
  const startServer = deps.startServer ?? await importStartServer()
  acquirePidFile(args.pidFile)

  let server: ServerHandle
  try {
    const opts: StartServerOptions = { ...paths, controlDir: args.controlDir, useUring: args.uring, log: (line) => { io.err(line) } }
    if (args.port !== undefined) opts.port = args.port
    server = await startServer(opts)
  } catch (e) {
    releasePidFile(args.pidFile)
    throw e
  }
  // The control mount (debug, stats, kill_server...): this process serves it, for its own server.
  const log = createLogger((line) => { io.err(line) })
  const debugEnv = parseDebugList(process.env.SMBTS_DEBUG)
  if (debugEnv.unknown.length > 0) log.warn(`SMBTS_DEBUG: unknown debug component ${debugEnv.unknown.join(', ')}: ignored`)
  const debug = new DebugSwitch((line) => { io.err(line) })
  let kill = (): void => {}
  const srv = server
  const source: ControlSource = {
    port: () => srv.port ?? args.port ?? 0,
    snapshots: async () => srv.statsSnapshot !== undefined ? [srv.statsSnapshot()] : [],
    status: async () => srv.statusSlice !== undefined ? [srv.statusSlice()] : [],
    setDebug: (c) => { debug.set(c) },
    kill: () => { kill() },
  }
  const control = new ControlPlane({ dir: args.controlDir, source, debug: debugEnv.components, log, metricsListen: global?.metricsListen })
  control.start()
  await control.serveMetrics()
  deps.onReady?.()

  const running = serveUntilStopped(signals, {
    say: (line) => { io.err(`smbts: ${line}`) },
    stopping: 'shutting down',
    close: async () => { await server.close() },
    after: () => {
      control.close()
      debug.close()
      releasePidFile(args.pidFile)
    },
    reload: () => {
      if (server.reload === undefined) {
        io.err('smbts: reload is not supported by this server; restart it to apply changes')
        return
      }
      io.err('smbts: reloading configuration and user database')
      Promise.resolve().then(() => server.reload!()).catch((e: unknown) => { io.err(`smbts: reload failed: ${errorMessage(e)}`) })
    },
  })
  kill = running.stop
  await running.done
}

/**
 * `start` with several workers: this process supervises (src/transport/supervisor.ts) until
 * SIGTERM/SIGINT; SIGHUP reaches every worker. Resolves once every worker has stopped.
 */
async function runSupervisor (args: StartArgs, io: CliIO, deps: StartDeps, workers: number, perCore: boolean,
  paths: { configPath?: string, pwddbPath?: string }, global: GlobalConfig | undefined): Promise<void> {
  const signals = deps.signals ?? process
  const { startSupervisor } = await import('../transport/supervisor.js')
  const log = createLogger(tagLines(SUPERVISOR_TAG, (line) => { io.err(line) }))
  const script = process.argv[1]
  if (script === undefined) throw new CliError('cannot find the smbts program to start the workers with')
  const server: { configPath?: string, pwddbPath?: string, controlDir: string, useUring: boolean, defaultPassword?: string } = { ...paths, controlDir: args.controlDir, useUring: args.uring }
  if (paths.configPath === undefined) {
    // The embedded default: one password for every worker, printed once.
    server.defaultPassword = randomBytes(12).toString('base64url')
    io.err(`smbts: share "share" -> ${DEFAULT_SHARE_DIR}`)
    io.err(`smbts: user "${DEFAULT_USER}" password "${server.defaultPassword}"`)
  }
  const g = global ?? defaultConfig().global
  // What this process does once the workers run: the control mount's reads and writes, the
  // workers' records forwarded, workers starting again. Its memory goes back to the kernel once
  // that settles (src/io/idle-gc.ts).
  let work = 0
  acquirePidFile(args.pidFile)
  let supervisor
  try {
    log.info(`supervisor (pid ${process.pid}): starting ${workers} workers${perCore ? ', one per core (server workers = 0)' : ''}`)
    supervisor = await startSupervisor({
      workers,
      hosts: listenHosts(g),
      port: args.port ?? g.tcpPort,
      bpf: args.bpf !== false,
      log,
      command: { file: process.execPath, args: [...process.execArgv, script, 'worker'] },
      server,
      // the workers' requests and events, for the control mount's trace and events
      onPublished: (slot, channel, data) => {
        work++
        const ch = channel === 'request' ? requestChannel : eventChannel
        if (ch.hasSubscribers) ch.publish(channel === 'request' ? { ...(data as object), worker: slot } : data)
      },
    })
  } catch (e) {
    releasePidFile(args.pidFile)
    throw e
  }
  const sup = supervisor
  // The control mount is served here, for every worker: they answer over their IPC channels.
  let kill = (): void => {}
  const control = new ControlPlane({
    dir: args.controlDir,
    debug: parseDebugList(process.env.SMBTS_DEBUG).components,
    log,
    metricsListen: g.metricsListen,
    source: {
      port: () => sup.port,
      snapshots: async () => { work++; return (await sup.collect('stats')).filter((x): x is StatsSnapshot => x != null) },
      status: async () => { work++; return (await sup.collect('status')).filter((x): x is StatusSlice => x != null) },
      setDebug: (components) => { work++; sup.setSticky({ smbts: 'debug', components }) },
      watch: (w) => { work++; sup.setSticky({ smbts: 'watch', ...w }) },
      kill: () => { kill() },
    },
  })
  control.start()
  await control.serveMetrics()
  const idle = new IdleGc({ activity: () => work + sup.workers().reduce((n, w) => n + w.generation, 0) })
  idle.settled()
  deps.onReady?.()
  const running = serveUntilStopped(signals, {
    say: (line) => { log.info(line) },
    stopping: `shutting down: stopping ${workers} workers`,
    close: async () => {
      idle.close()
      await sup.close()
      log.info('all workers stopped; the port is released')
    },
    after: () => {
      control.close()
      releasePidFile(args.pidFile)
    },
    reload: () => {
      // What the supervisor itself read (workers, port, listen addresses) holds until a restart.
      try {
        if (paths.configPath !== undefined) {
          const next = loadConfig(paths.configPath).global
          const wanted = chooseWorkers(next.serverWorkers, availableParallelism()).workers
          if (args.workers === undefined && wanted !== workers) log.warn(`server workers = ${next.serverWorkers}: takes effect at the next start (${workers} run now)`)
        }
      } catch (e) {
        log.warn(`reload: ${errorMessage(e)}`)
      }
      sup.reload()
    },
  })
  kill = running.stop
  await running.done
}

function tail (file: string, lines: number): string[] {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines)
  } catch {
    return []
  }
}

/** Starts `smbts start -n ...` detached and waits for it to report that it listens. */
export async function runDaemon (args: StartArgs, io: CliIO, timeoutMs = 30_000): Promise<number> {
  const other = runningPid(args.pidFile)
  if (other !== undefined) throw new CliError(`the server is already running (pid ${other}, ${args.pidFile})`)
  const paths = resolvePaths(args)
  checkConfig(paths.configPath, io)

  const script = process.argv[1]
  if (script === undefined) throw new CliError('cannot find the smbts program to start as a daemon')
  const childArgs = ['start', '-n', '--pid-file', args.pidFile, '--control-dir', args.controlDir, '--log-file', args.logFile]
  if (args.port !== undefined) childArgs.push('--port', String(args.port))
  if (paths.configPath !== undefined) childArgs.push('--config', paths.configPath)
  if (paths.pwddbPath !== undefined) childArgs.push('--pwddb', paths.pwddbPath)
  if (!args.uring) childArgs.push('--no-uring')
  if (args.workers !== undefined) childArgs.push('--workers', String(args.workers))
  if (args.bpf === false) childArgs.push('--no-bpf')

  let logFile = args.logFile
  let logFd: number
  try {
    logFd = openSync(logFile, 'a', 0o640)
  } catch {
    logFile = '/dev/null'
    logFd = openSync(logFile, 'a')
  }
  const child = spawn(process.execPath, [...process.execArgv, script, ...childArgs], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'ipc'],
    env: { ...process.env, [DAEMON_ENV]: '1' }
  })
  closeSync(logFd)

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new CliError(`the server did not start within ${timeoutMs / 1000}s; see ${logFile}`)) }, timeoutMs)
      child.on('message', (m: unknown) => {
        if ((m as { smbts?: string } | null)?.smbts === 'ready') { clearTimeout(timer); resolve() }
      })
      child.on('exit', (code, signal) => {
        clearTimeout(timer)
        // A worker's or the supervisor's line carries its tag first (src/control/log.ts tagLines).
        const last = tail(logFile, 1).map((l) => l.replace(/^\[[a-z0-9]+\] /, '')).find((l) => l.startsWith('smbts: ')) ?? ''
        const why = last !== '' ? last.slice('smbts: '.length) : `exited with ${signal ?? `status ${code}`}`
        reject(new CliError(`the server failed to start: ${why}${logFile === '/dev/null' ? '' : ` (see ${logFile})`}`))
      })
      child.on('error', (e) => { clearTimeout(timer); reject(e) })
    })
  } finally {
    child.removeAllListeners()
    if (child.connected) child.disconnect()
    child.unref()
  }
  return child.pid!
}

export async function runStart (args: StartArgs, io: CliIO, deps: StartDeps = {}): Promise<void> {
  if (!args.foreground) {
    const pid = await runDaemon(args, io)
    io.out(`smbts started (pid ${pid})`)
    return
  }
  const d: StartDeps = { ...deps }
  if (process.env[DAEMON_ENV] !== undefined && typeof process.send === 'function' && d.onReady === undefined) {
    d.onReady = () => {
      process.send!({ smbts: 'ready' })
      process.disconnect?.()
    }
  }
  await runForeground(args, io, d)
}

function parseWorkers (v: string): number {
  if (!/^\d+$/.test(v) || +v > SMBTS_MAX_WORKERS) throw new InvalidArgumentError(`a number of workers from 1 to ${SMBTS_MAX_WORKERS}, or 0 for one per core`)
  return +v
}

function parsePort (v: string): number {
  if (!/^\d+$/.test(v) || +v < 1 || +v > 65535) throw new InvalidArgumentError('a TCP port is a number from 1 to 65535')
  return +v
}

export function registerStart (program: Command, io: CliIO): void {
  program.command('start')
    .description('start the server (as a daemon unless -n)')
    .option('-n, --foreground', 'stay in the foreground, log to standard error')
    .option('-p, --port <port>', 'TCP port to listen on (overrides tcp port)', parsePort)
    .option('-C, --config <file>', `configuration file (default: ${DEFAULT_CONFIG_PATH} if it exists)`)
    .option('-P, --pwddb <file>', `user database (default: ${DEFAULT_PWDDB_PATH} if it exists)`)
    .option('--control-dir <dir>', 'where to mount the control files', DEFAULT_CONTROL_DIR)
    .option('--no-uring', 'use plain node:fs/net instead of io_uring')
    .option('-w, --workers <n>', 'worker processes behind the port (overrides server workers; 0, the default: one per core)', parseWorkers)
    .option('--no-bpf', 'with several workers: no BPF steering (the kernel spreads connections, no client affinity)')
    .option('--pid-file <file>', 'pid file that keeps a second server out', DEFAULT_LOCK_PATH)
    .option('--log-file <file>', 'where a daemon writes its output', DEFAULT_LOG_PATH)
    .action(async (o: { foreground?: boolean, port?: number, config?: string, pwddb?: string, controlDir: string, uring: boolean, pidFile: string, logFile: string, workers?: number, bpf: boolean }) => {
      const args: StartArgs = {
        foreground: o.foreground === true,
        controlDir: o.controlDir,
        uring: o.uring,
        pidFile: o.pidFile,
        logFile: o.logFile
      }
      if (o.workers !== undefined) args.workers = o.workers
      if (!o.bpf) args.bpf = false
      if (o.port !== undefined) args.port = o.port
      if (o.config !== undefined) args.config = o.config
      if (o.pwddb !== undefined) args.pwddb = o.pwddb
      await runStart(args, io)
      if (args.foreground) process.exit(0)
    })
}
