// Persistent handles with a real client across a real crash (issue 16): impacket 0.10 (SMB 3.0)
// opens a file on a continuously available share with a DH2Q asking PERSISTENT, writes 256 KiB
// in acknowledged WRITEs and locks a range; the smbts process (the built CLI) is killed with
// SIGKILL while the client is still connected, and started again on the same port and record
// directory; the client reconnects (new connection, session, tree, DH2C) and finds its handle,
// every acknowledged byte and its lock, which still holds against a second client
// (test/interop/py/persistent_ops.py). Once in one process, once with two workers.
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { PersistentStore } from '../../src/session/persistent-store.js'
import { makeTestShare } from '../helpers/test-share.js'
import { alive, childPids, cliBuilt, freePort, startCli, type CliServer } from '../helpers/cli-server.js'
import { PY_DIR, PYTHON, pythonModuleMissing, runPy, type StepResult } from '../helpers/py.js'
import { testWorkers } from '../helpers/live.js'

const missing = pythonModuleMissing('impacket')
// It runs the built CLI itself, in one process and with workers: the suite's first pass only.
const laterPass = process.env.SMBTS_TEST_TRANSPORT === 'net' || testWorkers() > 1
const skip = missing !== undefined ? `impacket not available: ${missing}` : !cliBuilt ? 'the CLI is not built (npm run build)' : laterPass ? 'runs its own servers (one process, two workers) in the suite\'s first pass' : false

interface Before { steps: Record<string, StepResult>, fid: string, createGuid: string }

/** Client A's first half: its JSON once printed; it keeps its connection until `release()`. */
function clientBefore (port: number, user: string, password: string): { result: Promise<Before>, release: () => void } {
  const p = spawn(PYTHON, [join(PY_DIR, 'persistent_ops.py'), 'before', String(port), user, password, 'share'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const result = new Promise<Before>((resolve, reject) => {
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (!out.includes('\n')) return
      try { resolve(JSON.parse(out) as Before) } catch { reject(new Error(`persistent_ops.py before printed no JSON: ${out}`)) }
    })
    p.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
    p.once('exit', (code) => { reject(new Error(`persistent_ops.py before exited ${code}: ${out}\n${err}`)) })
  })
  return { result, release: () => { p.stdin.end('\n') } }
}

if (skip !== false) {
  t.plan(0, skip)
} else {
  for (const workers of [1, 2]) {
    t.test(`a persistent handle survives SIGKILL and a restart of smbts (${workers === 1 ? 'one process' : `${workers} workers`})`, async t => {
      const ts = makeTestShare('persist', 'SMBTS-TEST', {
        global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes'],
        shareLines: ['continuous availability = yes'],
      })
      const stateDir = join(ts.root, 'state')
      // The record directory goes in after the fact: the share's root is known only now.
      writeFileSync(ts.configPath, readFileSync(ts.configPath, 'utf8').replace('[global]\n', `[global]\npersistent handle directory = ${stateDir}\n`))
      const servers: CliServer[] = []
      t.teardown(async () => {
        for (const s of servers) await killAll(s)
        await Promise.all(servers.map(s => s.exited))
        ts.remove()
      })
      const port = await freePort()
      const start = async (): Promise<CliServer> => {
        const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '-p', String(port), '--workers', String(workers),
          '--pid-file', join(ts.root, 'smbts.pid'), '--control-dir', join(ts.root, 'control')])
        servers.push(srv)
        await srv.waitFor(workers === 1 ? new RegExp(`info listening on 127\\.0\\.0\\.1:${port}`) : new RegExp(`\\[sup\\] info ${workers} workers ready on port ${port}`), 60_000)
        return srv
      }
      const t0 = Date.now()
      const first = await start()
      const a = clientBefore(port, ts.user, ts.password)
      const before = await a.result
      for (const n of ['open_persistent', 'write']) t.ok(before.steps[n]?.ok, `${n} succeeds`, { step: before.steps[n] })
      t.equal(before.steps.write?.value, 256 * 1024, 'every WRITE acknowledged')
      t.same(before.steps.lock, { ok: true, value: 'STATUS_SUCCESS' }, 'the range is locked')
      t.equal(held(stateDir).length, 1, 'one record')

      // The crash: every process of the server killed at once, the client still connected.
      const pids = await killAll(first)
      await first.exited
      for (const pid of pids) while (alive(pid)) await new Promise(resolve => setTimeout(resolve, 20))
      a.release()
      const second = await start()
      t.ok(await second.waitFor(/persistent handles: 1 restored from /, 10_000), 'the restart restores the handle')

      const { steps } = await runPy<{ steps: Record<string, StepResult> }>('persistent_ops.py', ['after', String(port), ts.user, ts.password, 'share', before.fid, before.createGuid])
      t.same(steps.reconnect, { ok: true, value: true }, 'DH2C on a new connection gives the same FileId back')
      t.same(steps.read_back, { ok: true, value: true }, 'every acknowledged byte reads back')
      t.ok(steps.open_other?.ok, 'another client may open the file to read')
      t.equal(steps.other_writer_refused?.status, 'STATUS_SHARING_VIOLATION', 'the handle\'s share mode still refuses a writer')
      t.same(steps.other_lock, { ok: true, value: 'STATUS_LOCK_NOT_GRANTED' }, 'the lock still holds against the other client')
      t.equal(steps.other_read_locked?.status, 'STATUS_FILE_LOCK_CONFLICT', '...and refuses its read of the range')
      t.same(steps.other_read_unlocked, { ok: true, value: true }, 'outside the range it reads')
      t.same(steps.own_write, { ok: true, value: 17 }, 'the handle\'s own WRITE works')
      t.same(steps.own_read, { ok: true, value: true }, 'and its READ')
      t.same(steps.unlock, { ok: true, value: 'STATUS_SUCCESS' }, 'the lock is the handle\'s own')
      t.same(steps.unlock_again, { ok: true, value: 'STATUS_RANGE_NOT_LOCKED' }, '...once')
      for (const n of ['close_other', 'close', 'delete']) t.ok(steps[n]?.ok, `${n} succeeds`, { step: steps[n] })
      t.ok(await second.waitFor(/persistent handle share\/persist\.dat \(fid \d+\) reconnected by tester/, 5000), 'the reconnect is logged')
      t.same(held(stateDir), [], 'closed: no record holds an open')
      t.comment(`restart test: ${Date.now() - t0} ms`)
      second.kill('SIGTERM')
      t.equal(await second.exited, 0, 'the restarted server stops cleanly')
    })
  }
}

/** The record files that hold an open (a closed one's stays, free, for the next). */
function held (dir: string): string[] {
  return readdirSync(dir).filter(n => n.endsWith('.rec') && !PersistentStore.isFree(readFileSync(join(dir, n), 'utf8')))
}

/** SIGKILL to the server and every process under it (workers, the RPC process); their pids. */
async function killAll (srv: CliServer): Promise<number[]> {
  const pid = srv.proc.pid
  if (pid === undefined) return []
  const all: number[] = []
  const walk = (p: number): void => { for (const c of childPids(p)) { walk(c); all.push(c) } }
  walk(pid)
  for (const p of all) { try { process.kill(p, 'SIGKILL') } catch { /* gone */ } }
  srv.kill('SIGKILL')
  return all
}
