// `smbts start --workers N`, the built program end to end: the supervisor, its listeners and the
// BPF steering program, N worker processes. Clients connect from distinct loopback sources
// (127.0.0.2, .3, ...) and must land on the worker the program picks (steeringWorkerFor mirrors
// it), which each worker's log says (`[w1] debug[conn] connection from 127.0.0.3:...`). Then
// reload, SIGKILL of a worker (restarted in its slot while the other serves), SIGTERM (every
// process gone, the port free), --no-bpf, one worker (no supervisor), and the daemon with
// `smbts control -r/-s`. Port 0 is the supervisor's own API (the CLI refuses -p 0).
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { nativeAvailable } from '../../src/io/native.js'
import { steeringWorkerFor } from '../../src/transport/steer.js'
import { startSupervisor } from '../../src/transport/supervisor.js'
import { createLogger } from '../../src/control/log.js'
import { makeTestShare, type TestShare } from '../helpers/test-share.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { pythonModuleMissing, runPy } from '../helpers/py.js'
import { alive, BIN, bpfUnavailable, childPids, cliBuilt, freePort, portFree, startCli, type CliServer } from '../helpers/cli-server.js'

const skip = (!cliBuilt && 'the CLI is not built (npm run build)') || (!nativeAvailable && 'the native addon is not built')

const noBpf = bpfUnavailable()

const SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`)

function share (): TestShare {
  return makeTestShare('workers', 'SMBTS-WORKERS', { global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes'] })
}

async function start (ts: TestShare, extra: string[], port: number): Promise<{ srv: CliServer, lock: string }> {
  const lock = `${ts.root}/smbts.lock`
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', lock, '--control-dir', `${ts.root}/run`, '-p', String(port), ...extra], { SMBTS_DEBUG: 'conn' })
  return { srv, lock }
}

/** The workers whose log says they took a connection from `src`, from log line `from` on. */
function landings (logs: string[], src: string, from = 0): number[] {
  const out: number[] = []
  const re = new RegExp(`\\[w(\\d+)\\] debug\\[conn\\] connection from (?:::ffff:)?${src.replace(/\./g, '\\.')}:\\d+`)
  for (let i = from; i < logs.length; i++) {
    const m = re.exec(logs[i]!)
    if (m !== null) out.push(Number(m[1]))
  }
  return out
}

/** A logged-in client on the share, from source address `src`; one ECHO proves it is served. */
async function client (port: number, src: string): Promise<TcpClient> {
  const c = await TcpClient.open(port, '127.0.0.1', src)
  await c.connect()
  return c
}

async function stop (t: Test, srv: CliServer, lock: string, port: number, workerPids: number[]): Promise<void> {
  srv.kill('SIGTERM')
  t.equal(await srv.exited, 0, 'SIGTERM: the supervisor exits 0')
  for (const pid of workerPids) t.notOk(alive(pid), `worker pid ${pid} is gone`)
  t.notOk(existsSync(lock), 'the pid file is removed')
  t.ok(await portFree(port), `port ${port} can be bound again`)
}

t.test('--workers 2: steered clients, reload, a worker killed and restarted, SIGTERM', { skip }, async (t) => {
  const ts = share()
  t.teardown(() => { ts.remove() })
  const port = await freePort()
  const { srv, lock } = await start(ts, ['--workers', '2'], port)
  t.teardown(() => { srv.kill('SIGKILL') })
  await srv.waitFor(/\[sup\] info 2 workers ready on port (\d+)/)
  const sup = Number(readFileSync(lock, 'utf8').trim())
  t.equal(sup, srv.proc.pid, 'the pid file names the supervisor')
  const pids = childPids(sup)
  t.equal(pids.length, 2, `two worker processes (${pids.join(', ')})`)
  const runDir = (await srv.waitFor(/\[sup\] info run directory (\S+)/))[1]!
  t.ok(existsSync(`${runDir}/w0.sock`) && existsSync(`${runDir}/w1.sock`), 'each worker\'s messenger listens in it')
  if (noBpf === undefined) {
    t.ok(srv.logs.some(l => /\[sup\] info client affinity on/.test(l)), 'the log says client affinity is on')
  } else {
    t.ok(srv.logs.some(l => /\[sup\] warn client affinity off \(/.test(l)), `the log says client affinity is off (${noBpf})`)
  }
  for (const l of srv.logs) {
    if (!/^\d{4}-/.test(l)) continue
    t.match(l, /^\S+ \[(sup|w[01])\] /, `every log line names its process: ${l.slice(25, 90)}`)
  }

  // Two connections from each source, one after the other: the worker the program picks.
  const clients: TcpClient[] = []
  t.teardown(() => { for (const c of clients) c.end() })
  for (const src of SOURCES) {
    for (let k = 0; k < 2; k++) {
      const c = await client(port, src)
      t.equal((await c.echo()).status, 0, `${src}: served`)
      clients.push(c)
    }
  }
  const used = new Set<number>()
  for (const src of SOURCES) {
    const got = landings(srv.logs, src)
    t.equal(got.length, 2, `${src}: two connections logged (${got.join(',')})`)
    if (noBpf === undefined) t.same(got, [steeringWorkerFor(src, 2), steeringWorkerFor(src, 2)], `${src} on w${steeringWorkerFor(src, 2)}, as the program picks`)
    for (const w of got) used.add(w)
  }
  t.same([...used].sort(), [0, 1], 'both workers serve')

  // A real client (impacket, its socket bound to a source address) lands where the program says.
  const noImpacket = pythonModuleMissing('impacket')
  if (noImpacket === undefined) {
    for (const w of [0, 1]) {
      const src = ['127.0.1.2', '127.0.1.3', '127.0.1.4', '127.0.1.5', '127.0.1.6', '127.0.1.7'].find(s => steeringWorkerFor(s, 2) === w)!
      const r = await runPy<{ ok: boolean, files?: string[], error?: string }>('impacket_from.py', [src, String(port), ts.user, ts.password, 'share'])
      t.ok(r.ok, `impacket from ${src}: logged in and listed the share ${r.error ?? ''}`)
      const got = landings(srv.logs, src)
      t.ok(got.length >= 1, `impacket from ${src}: served (${got.join(',')})`)
      if (noBpf === undefined) t.same(new Set(got), new Set([w]), `impacket from ${src} on w${w}, as the program picks`)
    }
  } else {
    t.comment(`impacket left out: ${noImpacket}`)
  }

  // SIGHUP: every worker reloads; the supervisor reports the program's counters.
  let mark = srv.logs.length
  srv.kill('SIGHUP')
  await srv.waitFor(/\[w0\] info reloaded: 1 shares, 1 users/, 10_000, mark)
  await srv.waitFor(/\[w1\] info reloaded: 1 shares, 1 users/, 10_000, mark)
  if (noBpf === undefined) {
    const m = await srv.waitFor(/\[sup\] info steering: (\d+) connections steered by client address, (\d+) left/, 10_000, mark)
    t.ok(Number(m[1]) >= SOURCES.length * 2, `the program steered every connection (${m[1]})`)
    t.equal(Number(m[2]), 0, 'none fell back to the kernel\'s hash')
  }
  t.pass('SIGHUP reached both workers')

  // SIGKILL one worker: the other's client keeps working, the slot's new connections wait for
  // the next generation, which the supervisor starts at once.
  const victim = 1
  const other = 0
  const otherSrc = SOURCES.find(s => (noBpf === undefined ? steeringWorkerFor(s, 2) : landings(srv.logs, s)[0]) === other)!
  const victimSrc = SOURCES.find(s => steeringWorkerFor(s, 2) === victim)!
  const survivor = await client(port, otherSrc)
  clients.push(survivor)
  const victimPid = Number((await srv.waitFor(new RegExp(`\\[sup\\] info worker w${victim} ready \\(pid (\\d+), generation 1`)))[1])
  mark = srv.logs.length
  process.kill(victimPid, 'SIGKILL')
  await srv.waitFor(new RegExp(`\\[sup\\] warn worker w${victim} \\(pid ${victimPid}, generation 1\\) was killed by SIGKILL`), 10_000, mark)
  const killedAt = srv.logs.length
  // A new client of the dead slot, now: the kernel queues it on the slot's socket.
  const waiting = client(port, victimSrc)
  t.equal((await survivor.echo()).status, 0, `w${other}'s client is served while w${victim} is down`)
  const ready = await srv.waitFor(new RegExp(`\\[sup\\] info worker w${victim} ready \\(pid (\\d+), generation 2`), 30_000, mark)
  t.not(Number(ready[1]), victimPid, 'a new process in the slot')
  const late = await waiting
  clients.push(late)
  t.equal((await late.echo()).status, 0, 'the connection made while the slot was empty is served by its new worker')
  if (noBpf === undefined) t.same(landings(srv.logs, victimSrc, killedAt), [victim], `and it landed on w${victim} (generation 2)`)
  t.equal((await survivor.echo()).status, 0, `w${other}'s client still served`)
  const fresh = await client(port, victimSrc)
  clients.push(fresh)
  t.equal((await fresh.echo()).status, 0, 'a new connection to the restarted slot works')
  const now = childPids(sup)
  t.equal(now.length, 2, 'two workers again')

  for (const c of clients) c.end()
  await stop(t, srv, lock, port, now)
  t.notOk(existsSync(runDir), 'the run directory is removed')
  t.ok(srv.logs.some(l => /\[sup\] info all workers stopped; the port is released/.test(l)), 'the supervisor says so')
})

for (const flag of ['--no-bpf', '--no-uring']) {
  t.test(`--workers 2 ${flag}: every connection served${flag === '--no-bpf' ? '; affinity off, said why' : ' by node:net on the inherited socket'}`, { skip }, async (t) => {
    const ts = share()
    t.teardown(() => { ts.remove() })
    const port = await freePort()
    const { srv, lock } = await start(ts, ['--workers', '2', flag], port)
    t.teardown(() => { srv.kill('SIGKILL') })
    await srv.waitFor(/\[sup\] info 2 workers ready/)
    const steered = flag !== '--no-bpf' && noBpf === undefined
    if (flag === '--no-bpf') {
      t.ok(srv.logs.some(l => /\[sup\] warn client affinity off \(--no-bpf given\): the kernel's reuseport hash spreads connections/.test(l)), 'the log says affinity is off, and why')
    } else {
      t.ok(srv.logs.some(l => /\[sup\] info worker w1 ready \(pid \d+, generation 1, node:net\)/.test(l)), 'the workers run the fallback transport')
    }
    const clients: TcpClient[] = []
    for (const src of SOURCES) {
      for (let k = 0; k < 2; k++) {
        const c = await client(port, src)
        t.equal((await c.echo()).status, 0, `${src}: served`)
        clients.push(c)
      }
    }
    for (const src of SOURCES) {
      const got = landings(srv.logs, src)
      t.equal(got.length, 2, `${src}: both connections served by a worker (${got.join(',')})`)
      if (steered) t.same(got, [steeringWorkerFor(src, 2), steeringWorkerFor(src, 2)], `${src} on the worker the program picks`)
    }
    for (const c of clients) c.end()
    await stop(t, srv, lock, port, childPids(srv.proc.pid!))
  })
}

t.test('the default: one worker per core', { skip: skip || (availableParallelism() < 2 && 'one core: the default is one process, tested below') }, async (t) => {
  const ts = share()
  t.teardown(() => { ts.remove() })
  const port = await freePort()
  const cores = availableParallelism()
  const { srv, lock } = await start(ts, [], port)
  t.teardown(() => { srv.kill('SIGKILL') })
  await srv.waitFor(new RegExp(`\\[sup\\] info ${cores} workers ready on port`))
  t.equal(childPids(srv.proc.pid!).length, cores, `${cores} worker processes, one per core`)
  const c = await client(port, '127.0.0.2')
  t.equal((await c.echo()).status, 0, 'served')
  c.end()
  await stop(t, srv, lock, port, childPids(srv.proc.pid!))
})

t.test('one worker (--workers 1, server workers = 1): no supervisor, no tags', { skip }, async (t) => {
  for (const extra of [['--workers', '1'], ['-C', 'one']]) {
    const ts = share()
    t.teardown(() => { ts.remove() })
    const port = await freePort()
    if (extra[1] === 'one') {
      // the config's own word, read after the -C the helper passes (the last -C wins)
      writeFileSync(`${ts.root}/one.conf`, readFileSync(ts.configPath, 'utf8').replace('[global]\n', '[global]\nserver workers = 1\n'))
      extra[1] = `${ts.root}/one.conf`
    }
    const { srv, lock } = await start(ts, extra, port)
    t.teardown(() => { srv.kill('SIGKILL') })
    await srv.waitFor(/info listening on 127\.0\.0\.1:/)
    const c = await client(port, '127.0.0.2')
    t.equal((await c.echo()).status, 0, `${extra.join(' ')}: served`)
    c.end()
    // Its one child is the RPC process (src/rpc/host.ts), no worker.
    t.same(childPids(srv.proc.pid!).filter(p => !/rpc\/child\.js/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8'))), [], 'no worker processes')
    t.notOk(srv.logs.some(l => /\[(sup|w\d+)\]/.test(l)), 'no line carries a process tag')
    t.ok(landings(srv.logs.map(l => l.replace(/^(\S+) /, '$1 [w0] ')), '127.0.0.2').length === 1, 'the server itself took the connection')
    await stop(t, srv, lock, port, [])
  }
})

t.test('the daemon with workers: smbts control -r reaches every worker, -s stops them all', { skip }, async (t) => {
  const ts = share()
  t.teardown(() => { ts.remove() })
  const port = await freePort()
  const lock = `${ts.root}/smbts.lock`
  const log = `${ts.root}/smbts.log`
  const common = ['--pid-file', lock]
  const r = spawnSync(BIN, ['start', '--workers', '2', '-C', ts.configPath, '-P', ts.pwddbPath, '--log-file', log, '--control-dir', `${ts.root}/run`, '-p', String(port), ...common], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 0, r.stderr)
  const pid = Number(/smbts started \(pid (\d+)\)/.exec(r.stdout)?.[1])
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch {} })
  const workers = childPids(pid)
  t.equal(workers.length, 2, 'the daemon runs two workers')
  const c = await client(port, '127.0.0.2')
  t.equal((await c.echo()).status, 0, 'served')
  c.end()
  const rr = spawnSync(BIN, ['control', '-r', ...common], { encoding: 'utf8' })
  t.equal(rr.status, 0, rr.stderr)
  // The log file is all there is to watch here: look until both workers have reloaded.
  const deadline = Date.now() + 10_000
  const reloaded = (): boolean => /\[w0\] info reloaded/.test(readFileSync(log, 'utf8')) && /\[w1\] info reloaded/.test(readFileSync(log, 'utf8'))
  while (!reloaded() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(reloaded(), 'both workers reloaded')
  const rs = spawnSync(BIN, ['control', '-s', ...common], { encoding: 'utf8', timeout: 60_000 })
  t.equal(rs.status, 0, rs.stderr)
  for (const w of workers) t.notOk(alive(w), `worker ${w} is gone`)
  t.ok(await portFree(port), 'the port is free')
  t.notOk(/^(?!\S+ \[(sup|w[01])\] )\d{4}-/m.test(readFileSync(log, 'utf8')), 'every timestamped line of the log names its process')
})

t.test('the supervisor API: port 0, the port every worker shares', { skip }, async (t) => {
  const ts = share()
  t.teardown(() => { ts.remove() })
  const lines: string[] = []
  const sup = await startSupervisor({
    workers: 2,
    hosts: ['127.0.0.1'],
    port: 0,
    bpf: true,
    log: createLogger((l) => { lines.push(`[sup] ${l}`) }),
    command: { file: BIN, args: ['worker'] },
    server: { configPath: ts.configPath, pwddbPath: ts.pwddbPath, useUring: true },
    workerOutput: (l) => { lines.push(l) },
    env: { ...process.env, SMBTS_DEBUG: 'conn' },
  })
  t.teardown(() => sup.close())
  t.ok(sup.port > 0, `the kernel picked port ${sup.port}`)
  t.same(sup.workers().map(w => [w.slot, w.generation, w.ready]), [[0, 1, true], [1, 1, true]])
  t.equal(sup.affinity.on, noBpf === undefined, noBpf ?? 'affinity on')
  for (const src of SOURCES.slice(0, 4)) {
    const c = await client(sup.port, src)
    t.equal((await c.echo()).status, 0, `${src}: served on port ${sup.port}`)
    c.end()
    const got = landings(lines, src)
    t.equal(got.length, 1, `${src}: one connection logged`)
    if (noBpf === undefined) t.equal(got[0], steeringWorkerFor(src, 2), `${src} on the worker the program picks`)
  }
  if (noBpf === undefined) t.ok(sup.steeringStats()!.steered >= 4n, 'the program counted them')
  const pids = sup.workers().map(w => w.pid!)
  await sup.close()
  for (const pid of pids) t.notOk(alive(pid), `worker ${pid} stopped`)
  t.notOk(existsSync(sup.runDir), 'the run directory is removed')
  t.ok(await portFree(sup.port), 'the port is free')
})
