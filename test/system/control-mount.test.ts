// The control mount (issue 14) with the kernel's real FUSE, used from a shell as an admin would:
// `cat debug`, `echo smb > debug`, `stat -c %s`, `cat stats`, a non-root user who may read but
// not write, `echo hard > kill_server` under a live client, and a restart after kill -9 (the
// stale mount is detached). The server is the built CLI (bin/smbts start -n), one process.
import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fuseUnavailableReason } from '../../src/control/fuse.js'
import { nativeAvailable } from '../../src/io/native.js'
import { cliBuilt, freePort, startCli, BIN, type CliServer } from '../helpers/cli-server.js'
import { makeTestShare, type TestShare } from '../helpers/test-share.js'
import { run, smbclient } from '../helpers/live.js'
import { PYTHON, PY_DIR, pythonModuleMissing } from '../helpers/py.js'
import { until } from '../helpers/until.js'

const skip = (!cliBuilt && 'the CLI is not built (npm run build)') || (!nativeAvailable && 'the native addon is not built') ||
  ((): string | false => { const why = fuseUnavailableReason(); return why !== undefined ? `no FUSE control mount here: ${why}` : false })()

/** A share on 127.0.0.1 only. */
const share = (kind: string): TestShare => makeTestShare(kind, 'SMBTS-CONTROL', { global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes'] })

const OFF = 'smb auth vfs oplock ipc conn rdma \n'

function mounted (dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some(l => l.split(' ')[4] === dir)
}

async function start (ts: TestShare, port: number, env: NodeJS.ProcessEnv = {}): Promise<{ srv: CliServer, ctl: string, lock: string }> {
  const ctl = join(ts.root, 'control')
  const lock = join(ts.root, 'smbts.lock')
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', lock, '--control-dir', ctl, '-p', String(port)], env)
  await srv.waitFor(/control mount: .*\(debug, stats/)
  return { srv, ctl, lock }
}

// bash: its echo says the errno (dash's says "I/O error" for any)
/** Teardown: the server stopped (which unmounts), whatever is left detached, the files removed. */
async function cleanup (srv: CliServer | undefined, ts: TestShare, ctl: string): Promise<void> {
  srv?.kill('SIGTERM')
  if (srv !== undefined) await Promise.race([srv.exited, new Promise(resolve => setTimeout(resolve, 10_000))])
  srv?.kill('SIGKILL')
  if (srv !== undefined) await srv.exited
  if (mounted(ctl)) await run('umount', ['-l', ctl])
  ts.remove()
}

const sh = (cmd: string): ReturnType<typeof run> => run('bash', ['-c', cmd], { timeoutMs: 20_000 })
/** As `nobody`: what a local user without privilege may do. */
const asNobody = (cmd: string): ReturnType<typeof run> => run('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'bash', '-c', cmd], { timeoutMs: 20_000 })

interface StatsJson { total: { sessions: number, connections: number, tree_connects: number } }

t.test('the control mount from a shell', { skip }, async (t) => {
  const ts = share('control')
  chmodSync(ts.root, 0o755) // nobody must reach the mount
  const port = await freePort()
  const { srv, ctl, lock } = await start(ts, port)
  t.teardown(() => cleanup(srv, ts, ctl))
  const debug = join(ctl, 'debug')

  t.test('cat debug: ksmbd\'s format, all off', async (t) => {
    const r = await sh(`cat ${debug}`)
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout, OFF)
    const st = statSync(ctl)
    t.equal(st.mode & 0o7777, 0o755, 'the directory is 0755')
    t.equal(st.uid, 0, 'and root\'s')
  })

  t.test('stat -c %s is not zero', async (t) => {
    const r = await sh(`stat -c %s ${debug} ${join(ctl, 'stats')}`)
    t.equal(r.stdout, '4096\n4096\n')
  })

  t.test('echo smb, all twice, bogus', async (t) => {
    let r = await sh(`echo smb > ${debug} && cat ${debug}`)
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout, '[smb] auth vfs oplock ipc conn rdma \n')
    r = await sh(`echo all > ${debug} && cat ${debug}`)
    t.equal(r.stdout, '[smb] [auth] [vfs] [oplock] [ipc] [conn] [rdma] \n', 'all: every one on')
    r = await sh(`echo all > ${debug} && cat ${debug}`)
    t.equal(r.stdout, OFF, 'all again, when all were on: every one off')
    r = await sh(`echo bogus > ${debug}`)
    t.not(r.code, 0, 'an unknown name fails the write')
    t.match(r.stderr, /Invalid argument/)
    r = await sh(`printf vfs > ${debug} && cat ${debug}`)
    t.equal(r.stdout, 'smb auth [vfs] oplock ipc conn rdma \n', 'no trailing newline is fine too')
    await sh(`echo vfs > ${debug}`)
  })

  t.test('cat stats: 2 running <port> <seconds>', async (t) => {
    const r = await sh(`cat ${join(ctl, 'stats')}`)
    t.match(r.stdout, new RegExp(`^2 running ${port} \\d+\\n$`))
  })

  t.test('a user without privilege reads, and changes nothing', async (t) => {
    let r = await asNobody(`cat ${debug}`)
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout, OFF)
    r = await asNobody(`cat ${join(ctl, 'stats')}`)
    t.match(r.stdout, /^2 running /)
    r = await asNobody(`echo smb > ${debug}`)
    t.not(r.code, 0)
    t.match(r.stderr, /Permission denied/)
    r = await asNobody(`echo hard > ${join(ctl, 'kill_server')}`)
    t.match(r.stderr, /Permission denied/)
    t.equal((await sh(`cat ${debug}`)).stdout, OFF, 'debug unchanged')
  })

  t.test('smbts control -d prints the file back', async (t) => {
    let r = await run(BIN, ['control', '-d', 'auth', '--control-dir', ctl])
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout, 'smb [auth] vfs oplock ipc conn rdma \n')
    r = await run(BIN, ['control', '-d', 'auth', '--control-dir', ctl])
    t.equal(r.stdout, OFF)
    r = await run(BIN, ['control', '-d', 'nosuch', '--control-dir', ctl])
    t.equal(r.code, 1)
    t.match(r.stderr, /^smbts: unknown debug component 'nosuch'/)
  })

  t.test('echo hard > kill_server stops a server a client is using; the mount is gone', async (t) => {
    // A client inside a session, its smbclient waiting for the next command.
    const client = spawn('smbclient', ['//127.0.0.1/share', '-p', String(port), '-U', `${ts.user}%${ts.password}`], { stdio: ['pipe', 'ignore', 'ignore'] })
    const closed = new Promise(resolve => client.once('close', resolve))
    client.stdin.write('ls\n')
    const deadline = Date.now() + 20_000
    let stats: StatsJson
    do {
      await new Promise(resolve => setTimeout(resolve, 50))
      stats = JSON.parse(readFileSync(join(ctl, 'stats.json'), 'utf8')) as StatsJson
    } while (stats.total.tree_connects < 1 && Date.now() < deadline)
    t.equal(stats.total.sessions, 1, 'stats.json sees the client\'s session')
    t.equal(stats.total.connections, 1, 'its connection')
    t.equal(stats.total.tree_connects, 1, 'its tree connect')
    let r = await sh(`echo soft > ${join(ctl, 'kill_server')}`)
    t.match(r.stderr, /Invalid argument/, 'anything but hard is EINVAL')
    const mark = srv.logs.length
    r = await sh(`echo hard > ${join(ctl, 'kill_server')}`)
    t.equal(r.code, 0, r.stderr)
    t.equal(await srv.exited, 0, 'the server exits 0')
    t.ok(srv.logs.slice(mark).some(l => /disconnect|shutting down/.test(l)), 'it said it shut down')
    t.notOk(srv.logs.slice(mark).some(l => / (error|warn) /.test(l)), 'without an error or warning')
    t.notOk(mounted(ctl), 'the mount is gone')
    t.throws(() => readFileSync(lock), { code: 'ENOENT' }, 'the pid file is removed')
    client.stdin.end('ls\nquit\n')
    await closed
  })
})

t.test('kill -9 leaves a stale mount; the next start detaches it', { skip }, async (t) => {
  const ts = share('control9')
  const port = await freePort()
  const first = await start(ts, port)
  const held: { srv?: CliServer } = {}
  t.teardown(() => cleanup(held.srv, ts, first.ctl))
  first.srv.kill('SIGKILL')
  await first.srv.exited
  t.throws(() => statSync(first.ctl), { code: 'ENOTCONN' }, 'the dead server\'s mount answers ENOTCONN')
  // control -s for a server whose control directory is such a mount (or the default's, as when
  // it runs with another): the pid file's process is signalled instead, and the mount is named.
  const standIn = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => { standIn.kill('SIGKILL') })
  const standInLock = join(ts.root, 'stand-in.lock')
  writeFileSync(standInLock, `${standIn.pid}\n`)
  const gone = new Promise(resolve => standIn.once('exit', resolve))
  const s = await run(BIN, ['control', '-s', '--pid-file', standInLock, '--control-dir', first.ctl])
  t.equal(s.code, 0, s.stderr)
  t.match(s.stderr, /control mount whose server is gone \(ENOTCONN\); signalling the server instead/)
  t.match(s.stdout, /stopped/)
  t.equal(await gone, null, 'the stand-in ended by the signal')
  // control -d has nothing to signal: it fails, naming the dead mount and how to clear it.
  const d = await run(BIN, ['control', '-d', 'smb', '--control-dir', first.ctl])
  t.not(d.code, 0, 'control -d through the dead mount fails')
  t.match(d.stderr, /is a control mount whose server is gone \(ENOTCONN\); no debug output to toggle \(fusermount -u /)
  const second = await start(ts, port)
  held.srv = second.srv
  await second.srv.waitFor(/detached the stale mount/)
  t.match(readFileSync(join(second.ctl, 'stats'), 'utf8'), new RegExp(`^2 running ${port} `))
  const r = await smbclient({ port, user: ts.user, password: ts.password }, 'ls')
  t.equal(r.code, 0, r.stderr)
  const c = await run(BIN, ['control', '-s', '--pid-file', second.lock, '--control-dir', second.ctl])
  t.equal(c.code, 0, c.stderr)
  t.match(c.stdout, /stopped/)
  t.equal(await second.srv.exited, 0)
  t.notOk(mounted(second.ctl), 'control -s went through kill_server: the mount is gone')
})

/** `cat FILE` from the mount while a test runs: what it read so far, and a way to stop it. */
function reader (file: string): { text: () => string, stop: () => Promise<void> } {
  const p = spawn('cat', [file], { stdio: ['ignore', 'pipe', 'ignore'] })
  let text = ''
  p.stdout.setEncoding('utf8').on('data', (d: string) => { text += d })
  const closed = new Promise<void>(resolve => p.once('close', () => { resolve() }))
  return { text: () => text, stop: async () => { p.kill('SIGTERM'); await closed } }
}

const lines = (text: string): Array<Record<string, unknown>> => text.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>)

t.test('a second signal during the shutdown is taken: the control mount and the pid file still go', { skip }, async (t) => {
  // With no listener left, the second Ctrl-C (or systemd's control-group SIGTERM after the one
  // the supervisor took) would end the process by its default action, skipping the unmount.
  const ts = share('control-twice')
  const port = await freePort()
  const ctl = join(ts.root, 'control')
  const lock = join(ts.root, 'lock')
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', lock, '--control-dir', ctl, '-p', String(port), '--workers', '2'])
  t.teardown(() => cleanup(srv, ts, ctl))
  await srv.waitFor(/\[sup\] info control mount: /)
  await srv.waitFor(/2 workers ready/)
  t.ok(mounted(ctl), 'mounted while it runs')
  srv.kill('SIGTERM')
  await srv.waitFor(/\[sup\] info shutting down: stopping 2 workers/, 10_000)
  srv.kill('SIGINT')
  await srv.exited
  t.ok(srv.logs.some(l => /all workers stopped; the port is released/.test(l)), 'the shutdown ran to its end')
  t.notOk(mounted(ctl), 'the mount is gone')
  t.notOk(existsSync(lock), 'and the pid file')
})

t.test('events and trace while clients work', { skip }, async (t) => {
  const ts = share('control-ev')
  const port = await freePort()
  const { srv, ctl } = await start(ts, port)
  t.teardown(() => cleanup(srv, ts, ctl))

  t.test('events: a wrong password, then the right one', async (t) => {
    const a = reader(join(ctl, 'events'))
    const b = reader(join(ctl, 'events'))
    await new Promise(resolve => setTimeout(resolve, 200))
    const bad = await smbclient({ port, user: ts.user, password: ts.password }, 'ls', { password: 'not-the-password' })
    t.match(bad.stdout + bad.stderr, /LOGON_FAILURE/)
    const good = await smbclient({ port, user: ts.user, password: ts.password }, 'ls')
    t.equal(good.code, 0, good.stderr)
    // The good session's disconnect comes after smbclient has exited: wait for it on both
    // readers, or one may be stopped before it and the other after (CI saw that once).
    const ended = (text: string): boolean => {
      const ev = lines(text).map(e => e.type)
      const tc = ev.indexOf('tree-connect')
      return tc >= 0 && ev.indexOf('disconnect', tc) > tc
    }
    t.ok(await until(() => ended(a.text()) && ended(b.text())), 'both readers see the tree connect, then the disconnect')
    await a.stop()
    await b.stop()
    const ev = lines(a.text())
    const fail = ev.find(e => e.type === 'auth-failure')
    t.match(fail, { user: new RegExp(`${ts.user}$`, 'i'), client: /127\.0\.0\.1/, reason: 'wrong-password' }, 'the failure, with the user and address')
    const ok = ev.find(e => e.type === 'auth-success')
    t.match(ok, { user: new RegExp(`^${ts.user}$`, 'i'), client: /127\.0\.0\.1/ }, 'then the success')
    t.ok(ev.indexOf(fail!) < ev.indexOf(ok!), 'in that order')
    t.ok(ev.some(e => e.type === 'connect') && ev.some(e => e.type === 'disconnect' && typeof e.reason === 'string'), 'connects and disconnects, with why')
    t.same(lines(b.text()).map(e => e.type), ev.map(e => e.type), 'the second reader saw the same events')
  })

  t.test('trace and the smb log, turned on while a client works', async (t) => {
    const tr = reader(join(ctl, 'trace'))
    await new Promise(resolve => setTimeout(resolve, 200))
    let r = await smbclient({ port, user: ts.user, password: ts.password }, 'ls')
    t.equal(r.code, 0, r.stderr)
    const mark = srv.logs.length
    t.equal(tr.text(), '', 'nothing traced while every component is off')
    t.notOk(srv.logs.some(l => l.includes('debug[smb]')), 'and nothing logged')
    await run(BIN, ['control', '-d', 'smb', '--control-dir', ctl])
    r = await smbclient({ port, user: ts.user, password: ts.password }, 'mkdir traced; ls traced\\*')
    t.equal(r.code, 0, r.stderr)
    t.ok(await until(() => lines(tr.text()).some(e => e.command === 'TREE_DISCONNECT')), 'the requests reach trace')
    await tr.stop()
    const recs = lines(tr.text())
    const create = recs.find(e => e.command === 'CREATE' && e.status === 'STATUS_SUCCESS')
    t.match(create, { time: /^\d{4}-/, session: /^0x[0-9a-f]+$/, tree: Number, messageId: /^\d+$/, latencyUs: Number }, 'time, session, tree, command, status, latency')
    t.ok(recs.some(e => e.file === 'traced'), 'with the file name')
    await srv.waitFor(/debug\[smb\] .*CREATE mid=\d+ sid=0x[0-9a-f]+ tid=\d+ .*-> STATUS_SUCCESS \d+us/, 10_000, mark)
    await run(BIN, ['control', '-d', 'smb', '--control-dir', ctl])
    // every component: each area logs its own lines
    await run(BIN, ['control', '-d', 'all', '--control-dir', ctl])
    const mark2 = srv.logs.length
    r = await smbclient({ port, user: ts.user, password: ts.password }, 'ls traced\\*')
    t.equal(r.code, 0, r.stderr)
    await srv.waitFor(/debug\[auth\] .*authenticated .*\(session 0x/, 10_000, mark2)
    await srv.waitFor(/debug\[vfs\] open share\/traced fid=/, 10_000, mark2)
    await srv.waitFor(/debug\[conn\] /, 10_000, mark2)
    await srv.waitFor(/debug\[ipc\] |debug\[vfs\] close /, 10_000, mark2)
    await run(BIN, ['control', '-d', 'all', '--control-dir', ctl])
    const mark3 = srv.logs.length
    r = await smbclient({ port, user: ts.user, password: ts.password }, 'ls')
    t.equal(r.code, 0, r.stderr)
    t.notOk(srv.logs.slice(mark3).some(l => / debug\[/.test(l)), 'all off again: no debug line')
  })
})

t.test('with worker processes the supervisor serves the mount, for every worker', { skip }, async (t) => {
  const ts = share('control-w')
  const port = await freePort()
  const ctl = join(ts.root, 'control')
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', join(ts.root, 'lock'), '--control-dir', ctl, '-p', String(port), '--workers', '2'])
  t.teardown(() => cleanup(srv, ts, ctl))
  await srv.waitFor(/\[sup\] info control mount: /)
  await srv.waitFor(/2 workers ready/)
  const ev = reader(join(ctl, 'events'))
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal((await sh(`echo conn > ${join(ctl, 'debug')}`)).code, 0)
  const r = await smbclient({ port, user: ts.user, password: ts.password }, 'ls')
  t.equal(r.code, 0, r.stderr)
  await srv.waitFor(/\[w[01]\] .*debug\[conn\] /, 10_000)
  const stats = JSON.parse(readFileSync(join(ctl, 'stats.json'), 'utf8')) as { total: { requests: number }, workers: Array<{ worker: number, requests: number }> }
  t.same(stats.workers.map(w => w.worker).sort(), [0, 1], 'stats.json: one entry per worker')
  t.equal(stats.total.requests, stats.workers[0]!.requests + stats.workers[1]!.requests, 'and their total')
  t.ok(stats.total.requests > 0)
  t.ok(await until(() => lines(ev.text()).some(e => e.type === 'auth-success')))
  await ev.stop()
  t.match(lines(ev.text()).find(e => e.type === 'auth-success'), { worker: Number }, 'events say which worker')
  t.equal((await sh(`echo hard > ${join(ctl, 'kill_server')}`)).code, 0)
  t.equal(await srv.exited, 0)
  t.notOk(mounted(ctl), 'the mount is gone')
})

t.test('with worker processes: status.json and the contention events of every worker (oplock and lease breaks, conflicts, limits, worker exits)', { skip: skip || pythonModuleMissing('impacket') }, async (t) => {
  const ts = makeTestShare('control-wc', 'SMBTS-CONTROL', { global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes'], shares: { one: ['read only = no', 'max connections = 1'] } })
  const port = await freePort()
  const ctl = join(ts.root, 'control')
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', join(ts.root, 'lock'), '--control-dir', ctl, '-p', String(port), '--workers', '2'])
  t.teardown(() => cleanup(srv, ts, ctl))
  await srv.waitFor(/\[sup\] info control mount: /)
  await srv.waitFor(/2 workers ready/)
  const ev = reader(join(ctl, 'events'))
  await new Promise(resolve => setTimeout(resolve, 200))

  // Two impacket clients: A holds a file with a level II oplock and one it shares with nobody.
  const go = join(ts.root, 'go')
  const py = spawn(PYTHON, [join(PY_DIR, 'contention_ops.py'), String(port), ts.user, ts.password, 'share', 'one', go], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  py.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  py.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
  const done = new Promise<number | null>(resolve => py.once('close', resolve))
  t.ok(await until(() => out.includes('"held"')), `A holds its files: ${out}`)
  interface Doc { open_files: Record<string, { filename: string, opens: Record<string, { username: string, oplock: { text: string } }> }> }
  let doc: Doc | undefined
  t.ok(await until(() => {
    doc = JSON.parse(readFileSync(join(ctl, 'status.json'), 'utf8')) as Doc
    return Object.values(doc.open_files).some(f => f.filename === 'held.txt')
  }), 'status.json, served by the supervisor, shows a file a worker holds open')
  const held = Object.values(doc!.open_files).find(f => f.filename === 'held.txt')!
  t.match(Object.values(held.opens)[0], { username: new RegExp(ts.user, 'i'), oplock: { text: /LEVEL_II|II/ } }, 'with its user and level II oplock')
  await run('touch', [go])
  t.equal(await done, 0, out)
  const steps = (JSON.parse(out.trim().split('\n').pop()!) as { steps: Record<string, { ok: boolean, status?: string }> }).steps
  t.match(steps['B opens held.txt for writing'], { ok: true })
  t.match(steps['B writes held.txt'], { ok: true })
  t.match(steps['B opens excl.txt'], { ok: false, status: 'STATUS_SHARING_VIOLATION' })
  t.match(steps['B connects the limited share'], { ok: true })
  t.match(steps['A connects the limited share too'], { ok: false })

  t.ok(await until(() => ['oplock-break', 'sharing-violation', 'limit'].every(k => lines(ev.text()).some(e => e.type === k))), 'the break, the conflict and the limit reach events')
  // A lease broken (smbtorture breaks its own leases from a second open).
  const torture = await run('smbtorture', ['//127.0.0.1/share', '-p', String(port), '-U', `${ts.user}%${ts.password}`, 'smb2.lease.break_twice'], { timeoutMs: 60_000 })
  t.match(torture.stdout, /^success: /m, 'smbtorture smb2.lease.break_twice')
  t.ok(await until(() => lines(ev.text()).some(e => e.type === 'lease-break')), 'the lease break reaches events')
  // A worker killed: its exit and its replacement's start are events too.
  const victim = /\[sup\] info worker w1 ready \(pid (\d+)/.exec(srv.logs.join('\n'))
  t.ok(victim !== null, 'the log names worker 1\'s pid')
  process.kill(Number(victim![1]), 'SIGKILL')
  t.ok(await until(() => lines(ev.text()).some(e => e.type === 'worker-start' && e.worker === 1)), 'worker-exit, then worker-start')
  await ev.stop()
  const evs = lines(ev.text())
  t.match(evs.find(e => e.type === 'oplock-break'), { file: 'held.txt', share: 'share', to: 0, worker: Number }, 'the oplock break: file, share, new level, worker')
  t.match(evs.find(e => e.type === 'lease-break'), { share: 'share', file: /lease/, from: /^R/, to: String, worker: Number }, 'the lease break: file, from and to states, worker')
  t.match(evs.find(e => e.type === 'sharing-violation'), { share: 'share', command: 'CREATE', client: /127\.0\.0\.1/ }, 'the sharing violation: share, command, client')
  t.match(evs.find(e => e.type === 'limit'), { what: /max connections \(1\) of the share reached/ }, 'the limit, said')
  const exit = evs.find(e => e.type === 'worker-exit')
  t.match(exit, { worker: 1, pid: Number(victim![1]) }, 'the exit names the worker and its pid')
  t.ok(evs.indexOf(exit!) < evs.findIndex(e => e.type === 'worker-start' && e.worker === 1), 'the exit comes before the restart')
})

t.test('smbts status while smbclient holds a file open; control -r adds a share under a live session', { skip }, async (t) => {
  const ts = share('control-st')
  const port = await freePort()
  const { srv, ctl, lock } = await start(ts, port)
  t.teardown(() => cleanup(srv, ts, ctl))
  const put = await smbclient({ port, user: ts.user, password: ts.password }, `put ${ts.configPath} held.txt`)
  t.equal(put.code, 0, put.stderr)
  // An interactive smbclient: `open` keeps the file open until `close`.
  const client = spawn('smbclient', ['//127.0.0.1/share', '-p', String(port), '-U', `${ts.user}%${ts.password}`], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  client.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  const closed = new Promise<number | null>(resolve => client.once('close', resolve))
  client.stdin.write('open held.txt\n')
  interface Doc { sessions: Record<string, { username: string, remote_machine: string, session_dialect: string, signing: object, encryption: object }>, tcons: Record<string, { service: string }>, open_files: Record<string, { filename: string, opens: Record<string, { sharemode: { text: string }, username: string }> }> }
  let doc: Doc | undefined
  t.ok(await until(() => {
    const r = readFileSync(join(ctl, 'status.json'), 'utf8')
    doc = JSON.parse(r) as Doc
    return Object.values(doc.open_files).some(f => f.filename === 'held.txt')
  }), 'status.json shows the open file')
  const cli = await run(BIN, ['status', '--json', '--control-dir', ctl])
  t.equal(cli.code, 0, cli.stderr)
  doc = JSON.parse(cli.stdout) as Doc
  const file = Object.entries(doc.open_files).find(([, f]) => f.filename === 'held.txt')
  t.ok(file !== undefined, 'smbts status --json: the file smbclient holds')
  t.match(file![0], /\/held\.txt$/, 'keyed by its path')
  const open = Object.values(file![1].opens)[0]!
  t.match(open, { username: new RegExp(ts.user, 'i'), sharemode: { text: /^R?W?D?$|NONE/ } }, 'with its user and share mode')
  const session = Object.values(doc.sessions)[0]!
  t.match(session, { username: new RegExp(`^${ts.user}$`, 'i'), remote_machine: /127\.0\.0\.1/, session_dialect: /^SMB3_11$/, signing: { cipher: String, degree: String }, encryption: { degree: String } }, 'the session: user, address, dialect, signing, encryption')
  t.ok(Object.values(doc.tcons).some(tc => tc.service === 'share'), 'the tree connect')
  const text = await run(BIN, ['status', '--control-dir', ctl])
  t.match(text.stdout, /held\.txt/, 'smbts status (text) lists it too')

  // -r: a share added to the configuration is reachable; the session above keeps working.
  const dir2 = join(ts.root, 'second')
  await run('mkdir', ['-p', dir2])
  await sh(`printf '\\n[second]\\npath = ${dir2}\\nread only = no\\n' >> ${ts.configPath}`)
  const before = await smbclient({ port, user: ts.user, password: ts.password }, 'ls', { share: 'second' })
  t.match(before.stdout + before.stderr, /BAD_NETWORK_NAME/, 'not there before the reload')
  const rl = await run(BIN, ['control', '-r', '--pid-file', lock])
  t.equal(rl.code, 0, rl.stderr)
  await srv.waitFor(/reloaded: 2 shares/)
  const after = await smbclient({ port, user: ts.user, password: ts.password }, 'ls', { share: 'second' })
  t.equal(after.code, 0, after.stderr)
  client.stdin.end('close 1\nls held.txt\nquit\n')
  t.equal(await closed, 0, 'the earlier session went on')
  t.match(out, /held\.txt\s+A/, 'and listed its file after the reload')
})

t.test('metrics: in the mount and over HTTP (metrics listen)', { skip }, async (t) => {
  const mport = await freePort()
  const ts = makeTestShare('control-m', 'SMBTS-CONTROL', { global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes', `metrics listen = 127.0.0.1:${mport}`] })
  const port = await freePort()
  const { srv, ctl } = await start(ts, port)
  t.teardown(() => cleanup(srv, ts, ctl))
  await srv.waitFor(/metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/)
  const r = await smbclient({ port, user: ts.user, password: ts.password }, 'ls')
  t.equal(r.code, 0, r.stderr)
  const file = readFileSync(join(ctl, 'metrics'), 'utf8')
  t.match(file, /^# HELP smbts_connections /m)
  t.match(file, /^# TYPE smbts_requests_total counter$/m)
  const creates = Number(/^smbts_requests_total\{command="CREATE"\} (\d+)$/m.exec(file)?.[1])
  t.ok(creates > 0, 'CREATE counted')
  t.match(file, /^smbts_request_latency_seconds\{command="CREATE",quantile="0\.99"\} [\d.e-]+$/m)
  t.match(file, /^smbts_debug_component_enabled\{component="smb"\} 0$/m)
  const res = await fetch(`http://127.0.0.1:${mport}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain/)
  const body = await res.text()
  t.equal(Number(/^smbts_requests_total\{command="CREATE"\} (\d+)$/m.exec(body)?.[1]), creates, 'the same numbers over HTTP')
})

t.test('a reader of events that does not read loses events, counted, and slows nothing', { skip }, async (t) => {
  const ts = share('control-slow')
  const port = await freePort()
  const { srv, ctl } = await start(ts, port, { SMBTS_TEST_STREAM_BACKLOG: '1500' })
  t.teardown(() => cleanup(srv, ts, ctl))
  const events = join(ctl, 'events')
  // Opens events at once, reads only after the clients below are done.
  await run('mkfifo', [join(ts.root, 'go')])
  const slow = spawn('bash', ['-c', `exec 3<${events}; read -r _ < ${join(ts.root, 'go')}; timeout 2 cat <&3`], { stdio: ['ignore', 'pipe', 'ignore'] })
  const slowClosed = new Promise(resolve => slow.once('close', resolve))
  let text = ''
  slow.stdout.setEncoding('utf8').on('data', (d: string) => { text += d })
  const fast = reader(events)
  t.ok(await until(() => /stream_readers\{file="events"\} 2/.test(readFileSync(join(ctl, 'metrics'), 'utf8'))), 'two readers')
  const started = Date.now()
  for (let i = 0; i < 4; i++) {
    const r = await smbclient({ port, user: ts.user, password: ts.password }, 'ls')
    t.equal(r.code, 0, r.stderr)
  }
  t.ok(Date.now() - started < 30_000, 'the clients were served meanwhile')
  await sh(`echo go > ${join(ts.root, 'go')}`)
  await slowClosed
  await fast.stop()
  const got = lines(text)
  const lost = got.find(e => e.type === 'lost')
  t.match(lost, { count: Number }, 'the slow reader is told it lost events')
  t.ok((lost!.count as number) > 0)
  t.notOk(lines(fast.text()).some(e => e.type === 'lost'), 'the reader that kept up lost none')
  t.ok(lines(fast.text()).filter(e => e.type === 'tree-connect').length === 4, 'and saw every tree connect')
  const m = /^smbts_stream_lost_total\{file="events"\} (\d+)$/m.exec(readFileSync(join(ctl, 'metrics'), 'utf8'))
  t.equal(Number(m?.[1]), lost!.count, 'metrics count them')
})
