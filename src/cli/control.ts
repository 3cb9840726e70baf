// `smbts control`: talks to a running server as ksmbd.control does: through the control mount
// (`-d` writes its `debug` and prints it back, `-s` writes `hard` to its `kill_server`), through
// the pid file and signals (SIGHUP reloads; SIGTERM shuts down a server that has no mount), and
// lists the configured shares.
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../config/config.js'
import { DEFAULT_CONFIG_PATH, DEFAULT_CONTROL_DIR, DEFAULT_LOCK_PATH } from '../config/paths.js'
import { CliError, type CliIO } from './io.js'
import { isAlive, runningPid } from './pidfile.js'
import { smbtsVersion } from './version.js'

export type ControlAction =
  | { action: 'shutdown' } | { action: 'reload' } | { action: 'list' }
  | { action: 'debug', component: string } | { action: 'version' }

export interface ControlArgs {
  pidFile: string
  config: string
  controlDir: string
  /** how long shutdown waits for the server to exit */
  timeoutMs?: number
}

function targetPid (pidFile: string): number {
  const pid = runningPid(pidFile)
  if (pid === undefined) throw new CliError(`the server is not running (no live process named by ${pidFile})`)
  return pid
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** One write of `text` to an existing control file (never creating one where no mount is). */
function writeControl (file: string, text: string): void {
  const fd = openSync(file, constants.O_WRONLY)
  try { writeSync(fd, text) } finally { closeSync(fd) }
}

/** What the CLI says of a control mount left by a server that is gone (ENOTCONN), `then` what it does about it. */
function deadMount (dir: string, then: string): string {
  return `${dir} is a control mount whose server is gone (ENOTCONN); ${then} (fusermount -u ${dir} clears it)`
}

/**
 * Writes `text` to a control file; false when there is no control mount to write to: no such
 * file, or a mount whose server is gone (ENOTCONN: a FUSE mount left behind by a server that was
 * killed, said on stderr with how to clear it). The caller then signals the pid file's process.
 */
function throughMount (file: string, text: string, io: CliIO): boolean {
  try {
    writeControl(file, text + '\n')
    return true
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return false
    if (code === 'ENOTCONN') {
      io.err(`smbts: warning: ${deadMount(dirname(file), 'signalling the server instead')}`)
      return false
    }
    throw new CliError(`${file}: ${(e as Error).message}`)
  }
}

export async function runControl (what: ControlAction, args: ControlArgs, io: CliIO): Promise<void> {
  switch (what.action) {
    case 'shutdown': {
      const pid = targetPid(args.pidFile)
      if (!throughMount(join(args.controlDir, 'kill_server'), 'hard', io)) process.kill(pid, 'SIGTERM')
      const deadline = Date.now() + (args.timeoutMs ?? 30_000)
      while (isAlive(pid)) {
        if (Date.now() > deadline) throw new CliError(`smbts (pid ${pid}) did not exit within ${Math.round((args.timeoutMs ?? 30_000) / 1000)}s`)
        await sleep(50)
      }
      io.out(`smbts (pid ${pid}) stopped`)
      return
    }
    case 'reload': {
      const pid = targetPid(args.pidFile)
      process.kill(pid, 'SIGHUP')
      io.out(`smbts (pid ${pid}) asked to reload its configuration and user database`)
      return
    }
    case 'list': {
      const config = loadConfig(args.config)
      for (const w of config.warnings) io.err(`smbts: warning: ${w}`)
      const rows = [...config.shares.values()].map((s) => [s.name, s.path, s.comment])
      const width = (i: number): number => Math.max(...rows.map((r) => r[i]!.length), 0)
      const w0 = width(0)
      const w1 = width(1)
      for (const [name, path, comment] of rows) {
        io.out(comment === '' ? `${name!.padEnd(w0)}  ${path}` : `${name!.padEnd(w0)}  ${path!.padEnd(w1)}  ${comment}`)
      }
      return
    }
    case 'debug': {
      const file = join(args.controlDir, 'debug')
      try {
        writeControl(file, `${what.component}\n`)
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === 'EINVAL') throw new CliError(`unknown debug component '${what.component}' (${readFileSync(file, 'utf8').trim()}, all)`)
        if (code === 'ENOENT') throw new CliError(`no ${file}: is the server running, with its control mount at ${args.controlDir}?`)
        // Debug output is the running server's state: with no server behind the mount there is
        // none to toggle (a signal cannot carry it, unlike -s).
        if (code === 'ENOTCONN') throw new CliError(deadMount(args.controlDir, 'no debug output to toggle'))
        throw new CliError(`${file}: ${(e as Error).message}`)
      }
      io.out(readFileSync(file, 'utf8').replace(/\n$/, ''))
      return
    }
    case 'version':
      io.out(`smbts ${smbtsVersion()}`)
  }
}

export function registerControl (program: Command, io: CliIO): void {
  program.command('control')
    .description('control a running server (shutdown, reload, debug), list shares, show the version')
    .option('-s, --shutdown', 'shut the server down and wait for it to exit')
    .option('-r, --reload', 'make the server re-read its configuration and user database')
    .option('-l, --list', 'list the shares of the configuration')
    .option('-d, --debug <component>', 'toggle debug output of COMPONENT (smb auth vfs oplock ipc conn rdma, or all) and print the debug file')
    .option('-c, --version', 'print the version')
    .option('-C, --config <file>', 'configuration file (for --list)', DEFAULT_CONFIG_PATH)
    .option('--pid-file <file>', 'pid file of the server', DEFAULT_LOCK_PATH)
    .option('--control-dir <dir>', 'where the control mount is', DEFAULT_CONTROL_DIR)
    .action(async (o: { shutdown?: boolean, reload?: boolean, list?: boolean, debug?: string, version?: boolean, config: string, pidFile: string, controlDir: string }) => {
      const actions: ControlAction[] = []
      if (o.shutdown === true) actions.push({ action: 'shutdown' })
      if (o.reload === true) actions.push({ action: 'reload' })
      if (o.list === true) actions.push({ action: 'list' })
      if (o.debug !== undefined) actions.push({ action: 'debug', component: o.debug })
      if (o.version === true) actions.push({ action: 'version' })
      if (actions.length !== 1) throw new CliError('give exactly one of -s, -r, -l, -d COMPONENT, -c (see smbts control --help)')
      await runControl(actions[0]!, { pidFile: o.pidFile, config: o.config, controlDir: o.controlDir }, io)
    })
}
