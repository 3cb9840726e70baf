// One client, one worker: the built program with `--workers 2`. A client (a fixed ClientGuid)
// logs in on w0; its second connection, accepted by w1, is handed to w0 with its socket before
// its NEGOTIATE is answered, and w0 answers it and everything after; another client's connection
// on w1 stays there. The locking store says who serves each client and counts the connections
// where they are. With and without the steering program (connections are put on a worker by
// trying sources and reading the accepting worker's log before anything is sent); and smbclient
// as the second connection, its ClientGuid set with `libsmb:client_guid`.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { unlinkSync } from 'node:fs'
import { nativeAvailable } from '../../src/io/native.js'
import { ShmRecordDb } from '../../src/locking/record-db.js'
import { lockRecordCodec } from '../../src/locking/record-codec.js'
import type { LockRecord } from '../../src/locking/store.js'
import { formatGuid } from '../../src/transport/handoff.js'
import { sessionIdSlot } from '../../src/session/server-state.js'
import { makeTestShare, TEST_PASSWORD, TEST_USER, type TestShare } from '../helpers/test-share.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { smb1Negotiate } from '../helpers/mem-client.js'
import { bpfUnavailable, cliBuilt, freePort, startCli, type CliServer } from '../helpers/cli-server.js'

const skip = (!cliBuilt && 'the CLI is not built (npm run build)') || (!nativeAvailable && 'the native addon is not built')

const noBpf = bpfUnavailable()

interface Running { srv: CliServer, ts: TestShare, port: number, next: number, db: ShmRecordDb<LockRecord> }

async function start (t: Test, extra: string[] = []): Promise<Running> {
  const ts = makeTestShare('workers-guid', 'SMBTS-WG', { global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes'] })
  t.teardown(() => { ts.remove() })
  const port = await freePort()
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', `${ts.root}/smbts.lock`, '--control-dir', `${ts.root}/run`, '-p', String(port), '--workers', '2', ...extra], { SMBTS_DEBUG: `conn,${process.env.SMBTS_TEST_DEBUG ?? ''}` })
  t.teardown(() => { srv.kill('SIGKILL') })
  await srv.waitFor(/\[sup\] info 2 workers ready on port/)
  const path = (await srv.waitFor(/\[sup\] info locking store (\S+) /))[1]!
  const db = ShmRecordDb.open<LockRecord>(path, { codec: lockRecordCodec })
  t.teardown(() => { db.close() })
  return { srv, ts, port, next: 2, db }
}

const esc = (s: string): string => s.replace(/[.[\]]/g, (c) => `\\${c}`)

/**
 * A TCP connection that worker `w` accepted, nothing sent on it yet: sources are tried (and
 * their connections dropped unused) until one lands there.
 */
async function connectionOn (r: Running, w: number): Promise<{ c: TcpClient, src: string }> {
  for (let tries = 0; tries < 64; tries++) {
    const src = `127.0.${Math.floor(r.next / 250)}.${(r.next % 250) + 2}`
    r.next++
    const from = r.srv.logs.length
    const c = await TcpClient.open(r.port, '127.0.0.1', src)
    const m = await r.srv.waitFor(new RegExp(`\\[w(\\d)\\] debug\\[conn\\] connection from (?:::ffff:)?${esc(src)}:`), 5000, from)
    if (Number(m[1]) === w) return { c, src }
    c.end()
  }
  throw new Error(`no source landed on w${w}`)
}

/** NEGOTIATE + SESSION_SETUP + TREE_CONNECT with `guid`, and one ECHO. */
async function logIn (c: TcpClient, guid: Buffer): Promise<void> {
  c.clientGuid = guid
  await c.connect()
  const e = await c.echo()
  if (e.status !== 0) throw new Error(`echo: 0x${e.status.toString(16)}`)
}

type Parts = Array<{ w: number, n: number }>
function parts (r: Running, key: string): Parts {
  const rec = r.db.read(key)
  return rec !== undefined && (rec.kind === 'guid' || rec.kind === 'count') ? rec.by.map(p => ({ w: p.w, n: p.n })).sort((a, b) => a.w - b.w) : []
}

/** Polls the store until `key`'s parts are `want` (a close reaches the store after the socket's). */
async function partsBecome (r: Running, key: string, want: Parts, ms = 3000): Promise<Parts> {
  const until = Date.now() + ms
  let got = parts(r, key)
  while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    got = parts(r, key)
  }
  return got
}

async function oneClientOneWorker (t: Test, extra: string[]): Promise<void> {
  const r = await start(t, extra)
  const guid = randomBytes(16)
  const hex = guid.toString('hex')
  const text = esc(formatGuid(hex))

  const first = await connectionOn(r, 0)
  t.teardown(() => { first.c.end() })
  await logIn(first.c, guid)
  t.same(parts(r, `g:${hex}`), [{ w: 0, n: 1 }], 'w0 serves the client')

  const second = await connectionOn(r, 1)
  t.teardown(() => { second.c.end() })
  const from = r.srv.logs.length
  await logIn(second.c, guid)
  const sent = await r.srv.waitFor(new RegExp(`\\[w1\\] info connection from (?:::ffff:)?${esc(second.src)}:\\d+ handed to w0 \\(ClientGuid ${text} served there\\)`), 5000, from)
  t.ok(sent, 'w1 handed the second connection to w0')
  t.ok(await r.srv.waitFor(new RegExp(`\\[w0\\] info adopted connection from (?:::ffff:)?${esc(second.src)}:\\d+ \\(ClientGuid ${text}\\) from w1`), 5000, from), 'w0 adopted it')
  t.equal(second.c.sessionId !== 0n, true, 'NEGOTIATE, SESSION_SETUP, TREE_CONNECT and ECHO worked on it')
  t.same(parts(r, `g:${hex}`), [{ w: 0, n: 2 }], 'the store: one worker for the client, with both connections')
  t.equal((await second.c.echo()).status, 0, 'and it goes on working')
  t.equal((await first.c.echo()).status, 0, 'and so does the first')

  const other = await connectionOn(r, 1)
  t.teardown(() => { other.c.end() })
  const otherGuid = randomBytes(16)
  const before = r.srv.logs.length
  await logIn(other.c, otherGuid)
  t.same(parts(r, `g:${otherGuid.toString('hex')}`), [{ w: 1, n: 1 }], 'another client on w1 stays there')
  t.notOk(r.srv.logs.slice(before).some(l => /handed to|adopted/.test(l)), 'nothing handed over for it')
  t.same(parts(r, 'c:connections'), [{ w: 0, n: 2 }, { w: 1, n: 1 }], 'the connection limits count each connection where it is served')

  second.c.end()
  t.same(await partsBecome(r, `g:${hex}`, [{ w: 0, n: 1 }]), [{ w: 0, n: 1 }], 'the adopted connection closed: w0 still serves the client')
  first.c.end()
  other.c.end()
  t.same(await partsBecome(r, `g:${hex}`, []), [], 'its last connection closed: nobody serves it')
  t.same(await partsBecome(r, 'c:connections', []), [], 'and no connection is counted')
}

t.test('--workers 2: a second connection of a client is handed to the worker serving it', { skip: skip || noBpf }, async (t) => {
  await oneClientOneWorker(t, [])
})

t.test('--workers 2 --no-bpf: the same without the steering program', { skip }, async (t) => {
  await oneClientOneWorker(t, ['--no-bpf'])
})

t.test('--workers 2 --no-uring: the same on the node:net transport', { skip }, async (t) => {
  await oneClientOneWorker(t, ['--no-uring'])
})

t.test('--workers 2 --no-bpf: a hand-over after an SMB1 NEGOTIATE; a failed hand-over is served where it landed', { skip }, async (t) => {
  const r = await start(t, ['--no-bpf'])
  const runDir = (await r.srv.waitFor(/\[sup\] info run directory (\S+) /))[1]!
  const guid = randomBytes(16)
  const hex = guid.toString('hex')
  const first = await connectionOn(r, 0)
  t.teardown(() => { first.c.end() })
  await logIn(first.c, guid)

  // w1 answers the SMB1 NEGOTIATE (0x02FF); the SMB2 NEGOTIATE after it is w0's to answer.
  const upgraded = await connectionOn(r, 1)
  t.teardown(() => { upgraded.c.end() })
  const [pdu] = await upgraded.c.raw(smb1Negotiate(['NT LM 0.12', 'SMB 2.002', 'SMB 2.???']))
  t.equal(pdu?.readUInt16LE(64 + 4), 0x02ff, 'w1 upgraded the SMB1 NEGOTIATE')
  upgraded.c.nextMid = 1n
  let from = r.srv.logs.length
  await logIn(upgraded.c, guid)
  t.ok(await r.srv.waitFor(new RegExp(`\\[w0\\] info adopted connection from (?:::ffff:)?${esc(upgraded.src)}:`), 5000, from), 'w0 adopted it at its SMB2 NEGOTIATE, and serves it')
  t.same(parts(r, `g:${hex}`), [{ w: 0, n: 2 }])

  // w0's hand-over socket gone: w1 cannot hand the connection over, so it serves it.
  unlinkSync(`${runDir}/w0.fd`)
  const third = await connectionOn(r, 1)
  t.teardown(() => { third.c.end() })
  from = r.srv.logs.length
  await logIn(third.c, guid)
  t.ok(r.srv.logs.slice(from).some(l => new RegExp(`\\[w1\\] info connection from (?:::ffff:)?${esc(third.src)}:\\d+: ClientGuid ${esc(formatGuid(hex))} is served by w0, but the hand-over failed \\(ENOENT.*\\): serving it here`).test(l)), 'w1 says why it serves it')
  t.same(parts(r, `g:${hex}`), [{ w: 0, n: 2 }, { w: 1, n: 1 }], 'counted on w1 too')
  t.same(parts(r, 'c:connections'), [{ w: 0, n: 2 }, { w: 1, n: 1 }])
})

t.test('--workers 2: smbclient with the ClientGuid of a client another worker serves', { skip: skip || noBpf }, async (t) => {
  const r = await start(t)
  // 127.0.0.1 (smbclient's source) always lands on one worker with the steering program.
  const probe = await TcpClient.open(r.port, '127.0.0.1')
  const m = await r.srv.waitFor(/\[w(\d)\] debug\[conn\] connection from (?:::ffff:)?127\.0\.0\.1:/)
  probe.end()
  const local = Number(m[1])
  const there = 1 - local
  const guid = randomBytes(16)
  const hex = guid.toString('hex')
  const { c } = await connectionOn(r, there)
  t.teardown(() => { c.end() })
  await logIn(c, guid)
  const from = r.srv.logs.length
  const out = await new Promise<{ code: number | null, text: string }>((resolve) => {
    const p = spawn('smbclient', ['//127.0.0.1/share', '-p', String(r.port), '-U', `${TEST_USER}%${TEST_PASSWORD}`, `--option=libsmb:client_guid=${formatGuid(hex)}`, '-c', 'ls'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let text = ''
    p.stdout.on('data', (d: Buffer) => { text += d.toString() })
    p.stderr.on('data', (d: Buffer) => { text += d.toString() })
    p.on('exit', (code) => { resolve({ code, text }) })
  })
  t.equal(out.code, 0, `smbclient ls works: ${out.text}`)
  t.ok(r.srv.logs.slice(from).some(l => new RegExp(`\\[w${local}\\] info connection from (?:::ffff:)?127\\.0\\.0\\.1:\\d+ handed to w${there}`).test(l)), `w${local} handed smbclient's connection to w${there}`)
  t.ok(r.srv.logs.slice(from).some(l => new RegExp(`\\[w${there}\\] info adopted connection from (?:::ffff:)?127\\.0\\.0\\.1:`).test(l)), `w${there} adopted it`)
})

t.test('--workers 2 --no-bpf: a PreviousSessionId made by another worker is dropped there (no ClientGuid to hand over by)', { skip }, async (t) => {
  const r = await start(t, ['--no-bpf'])
  // SMB 2.0.2 (no ClientGuid), and two GUIDs all the same: nothing may hand the second over.
  const first = await connectionOn(r, 0)
  t.teardown(() => { first.c.end() })
  first.c.clientGuid = randomBytes(16)
  await first.c.connect({ dialect: 0x0202 })
  const old = first.c.sessionId
  t.equal(sessionIdSlot(old), 0, `w0 made session 0x${old.toString(16)}`)
  const f = await first.c.open('kept.txt', { disposition: 2, share: 0 })
  t.ok(f, 'it holds an open')

  const second = await connectionOn(r, 1)
  t.teardown(() => { second.c.end() })
  second.c.clientGuid = randomBytes(16)
  const from = r.srv.logs.length
  await second.c.connect({ dialect: 0x0202, previousSessionId: old })
  t.equal(sessionIdSlot(second.c.sessionId), 1, `w1 made the new session 0x${second.c.sessionId.toString(16)}`)
  t.notOk(r.srv.logs.slice(from).some(l => /handed to|adopted/.test(l)), 'nothing was handed over')
  const hex = old.toString(16)
  t.ok(await r.srv.waitFor(new RegExp(`\\[w0\\] info session 0x[0-9a-f]+ replaces 0x${hex} of ${TEST_USER} \\(a new session on w1\\)`, 'i'), 5000, from), 'w0 dropped the old session for w1\'s new one')
  t.equal((await first.c.create('other.txt', { disposition: 2 })).status, 0xC0000203, 'a request on the old session: STATUS_USER_SESSION_DELETED')
  t.equal((await second.c.echo()).status, 0, 'the new session works')
  t.equal((await second.c.create('kept.txt', { disposition: 1 })).status, 0, 'and opens what the old session held (its open is gone)')
})
