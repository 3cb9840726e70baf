import t from 'tap'
import { EventEmitter } from 'node:events'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import type { CliIO } from '../../../src/cli/io.js'
import { chooseWorkers, runForeground, type StartArgs, type StartServerOptions } from '../../../src/cli/start.js'
import { acquirePidFile, readPidFile, releasePidFile } from '../../../src/cli/pidfile.js'
import { tempDir } from '../../helpers/tmp.js'

const fakeIO = (): CliIO & { errs: string[] } => {
  const errs: string[] = []
  return { errs, out: () => {}, err: (l) => { errs.push(l) }, stdinIsTTY: false, readSecret: async () => '', readLine: async () => undefined }
}

function setup (): { dir: string, args: StartArgs } {
  const dir = tempDir('smbts-start-')
  writeFileSync(join(dir, 'smb.conf'), '[global]\ntcp port = 4455\n[a]\npath = /a\n')
  return {
    dir,
    args: { foreground: true, config: join(dir, 'smb.conf'), pwddb: join(dir, 'ksmbdpwd.db'), controlDir: join(dir, 'run'), uring: false, pidFile: join(dir, 'smbts.lock'), logFile: join(dir, 'log'), port: 1445, workers: 1 }
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

t.test('foreground: pid file, options, SIGHUP reloads, SIGTERM closes and removes the pid file', async (t) => {
  const { dir, args } = setup()
  const signals = new EventEmitter()
  const calls: string[] = []
  const io = fakeIO()
  let got: StartServerOptions | undefined
  let closed = (): void => {}
  const running = runForeground(args, io, {
    signals,
    startServer: async (o) => {
      got = o
      calls.push('start')
      return { close: async () => { calls.push('close'); await new Promise<void>((resolve) => { closed = resolve }) }, reload: () => { calls.push('reload') } }
    },
    onReady: () => { calls.push('ready') }
  })
  while (!calls.includes('ready')) await tick()
  t.same(got && { ...got, log: undefined }, { configPath: join(dir, 'smb.conf'), pwddbPath: join(dir, 'ksmbdpwd.db'), controlDir: join(dir, 'run'), useUring: false, port: 1445, log: undefined })
  t.equal(readPidFile(args.pidFile), process.pid)
  signals.emit('SIGHUP')
  await tick()
  signals.emit('SIGTERM')
  // Signals while closing are still taken (with no listener their default action would end the
  // process before the control mount is unmounted): said, and nothing more is done.
  t.equal(signals.listenerCount('SIGINT'), 1, 'still listening while closing')
  signals.emit('SIGINT')
  signals.emit('SIGHUP')
  t.ok(io.errs.includes('smbts: already shutting down'), 'a second stop signal is said')
  t.ok(io.errs.includes('smbts: shutting down: no reload'), 'and a reload is refused')
  closed()
  await running
  t.same(calls, ['start', 'ready', 'reload', 'close'])
  t.notOk(existsSync(args.pidFile))
  t.equal(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT') + signals.listenerCount('SIGHUP'), 0, 'no listener once closed')
})

t.test('a second instance is refused while the first lives', async (t) => {
  const { args } = setup()
  const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'])
  t.teardown(() => { other.kill('SIGKILL') })
  await once(other, 'spawn')
  writeFileSync(args.pidFile, `${other.pid}\n`)
  await t.rejects(runForeground(args, fakeIO(), { startServer: async () => { throw new Error('must not start') } }), {
    code: 'SMBTS_ERR_CLI', message: `the server is already running (pid ${other.pid}, ${args.pidFile})`
  })
  t.throws(() => { acquirePidFile(args.pidFile) }, { message: /already running/ })
  t.equal(readPidFile(args.pidFile), other.pid)
})

t.test('a stale pid file is replaced; a failed start removes ours', async (t) => {
  const { args } = setup()
  const gone = spawn(process.execPath, ['-e', ''])
  await once(gone, 'exit')
  writeFileSync(args.pidFile, `${gone.pid}\n`)
  await t.rejects(runForeground(args, fakeIO(), { signals: new EventEmitter(), startServer: async () => { throw new Error('EADDRINUSE') } }), { message: 'EADDRINUSE' })
  t.notOk(existsSync(args.pidFile))
  acquirePidFile(args.pidFile)
  t.equal(readFileSync(args.pidFile, 'utf8'), `${process.pid}\n`)
  releasePidFile(args.pidFile)
  t.notOk(existsSync(args.pidFile))
})

t.test('a bad configuration fails before the server starts, with FILE:LINE', async (t) => {
  const { dir, args } = setup()
  writeFileSync(join(dir, 'smb.conf'), '[global]\nserver signing = maybe\n')
  await t.rejects(runForeground(args, fakeIO(), { startServer: async () => { throw new Error('must not start') } }), {
    code: 'SMBTS_ERR_CONFIG', message: new RegExp(`^${join(dir, 'smb.conf')}:2: invalid value 'maybe' for 'server signing'`)
  })
  t.notOk(existsSync(args.pidFile))
})

t.test('how many processes serve: as asked, or one per core by default, one without the addon', async (t) => {
  t.same(chooseWorkers(3, 2), { workers: 3 }, 'a number asked for is taken as it is')
  t.same(chooseWorkers(1, 8), { workers: 1 })
  t.same(chooseWorkers(0, 2), { workers: 2 }, '0, the default: one per core')
  t.same(chooseWorkers(0, 1), { workers: 1 }, 'one core: one process, no supervisor')
  t.same(chooseWorkers(0, 200), { workers: 64 }, 'no more than the steering map has slots')
  const fallback = chooseWorkers(0, 4, 'not built')
  t.equal(fallback.workers, 1, 'without the native addon the default is one process')
  t.match(fallback.note, /one process, not one per core \(4\).*native addon.*not built/, 'and it says so')
  t.same(chooseWorkers(0, 1, 'not built'), { workers: 1 }, 'nothing to say on one core')
  t.same(chooseWorkers(2, 4, undefined), { workers: 2 })
})
