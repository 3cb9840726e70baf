import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { runControl, type ControlArgs } from '../../../src/cli/control.js'
import type { CliIO } from '../../../src/cli/io.js'
import { tempDir } from '../../helpers/tmp.js'

const fakeIO = (): CliIO & { outs: string[], errs: string[] } => {
  const outs: string[] = []
  const errs: string[] = []
  return { outs, errs, out: (l) => { outs.push(l) }, err: (l) => { errs.push(l) }, stdinIsTTY: false, readSecret: async () => '', readLine: async () => undefined }
}

function setup (): { dir: string, args: ControlArgs } {
  const dir = tempDir('smbts-control-')
  return { dir, args: { pidFile: join(dir, 'smbts.lock'), config: join(dir, 'smb.conf'), controlDir: join(dir, 'run'), timeoutMs: 5000 } }
}

/** A stand-in server: records SIGHUP in a file, exits shortly after SIGTERM. */
async function fakeServer (hupFile: string): Promise<ChildProcess> {
  const code = `
    const fs = require('node:fs')
    process.on('SIGHUP', () => fs.appendFileSync(${JSON.stringify(hupFile)}, 'hup\\n'))
    process.on('SIGTERM', () => setTimeout(() => process.exit(0), 100))
    setInterval(() => {}, 1000)
    process.stdout.write('ready\\n')`
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  await once(child.stdout!, 'data')
  return child
}

t.test('list prints name, path and comment of each share', async (t) => {
  const { args } = setup()
  writeFileSync(args.config, '[global]\nlog level = 1\n[Data]\npath = /srv/data\ncomment = Team data\n[x]\npath = /x\n')
  const io = fakeIO()
  await runControl({ action: 'list' }, args, io)
  t.same(io.outs, ['Data  /srv/data  Team data', 'x     /x'])
  t.match(io.errs, [/^smbts: warning: .*smb\.conf:2: unknown parameter 'log level'/])
  await t.rejects(runControl({ action: 'list' }, { ...args, config: join(args.controlDir, 'none.conf') }, io), { code: 'SMBTS_ERR_CONFIG', message: /none\.conf: cannot read configuration: no such file/ })
})

t.test('version and debug', async (t) => {
  const { args } = setup()
  const io = fakeIO()
  await runControl({ action: 'version' }, args, io)
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  t.same(io.outs, [`smbts ${pkg.version}`])
  await t.rejects(runControl({ action: 'debug', component: 'smb' }, args, io), { code: 'SMBTS_ERR_CLI', message: /no .*\/debug: is the server running, with its control mount at / })
})

t.test('shutdown and reload need a live server', async (t) => {
  const { args } = setup()
  await t.rejects(runControl({ action: 'shutdown' }, args, fakeIO()), { message: /the server is not running \(no live process named by .*smbts\.lock\)/ })
  // a stale pid file (its process is gone) is "not running" too
  const gone = spawn(process.execPath, ['-e', ''])
  await once(gone, 'exit')
  writeFileSync(args.pidFile, `${gone.pid}\n`)
  await t.rejects(runControl({ action: 'reload' }, args, fakeIO()), { message: /not running/ })
})

t.test('reload sends SIGHUP, shutdown sends SIGTERM and waits for the exit', async (t) => {
  const { dir, args } = setup()
  const hup = join(dir, 'hup')
  const child = await fakeServer(hup)
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  writeFileSync(args.pidFile, `${child.pid}\n`)
  const io = fakeIO()
  await runControl({ action: 'reload' }, args, io)
  for (let i = 0; i < 100 && !existsSync(hup); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(readFileSync(hup, 'utf8'), 'hup\n')
  await runControl({ action: 'shutdown' }, args, io)
  t.not(child.exitCode ?? child.signalCode, null)
  t.match(io.outs[1], /stopped/)
})
