// Multichannel with `--workers 2`, the built program end to end: a session's second channel,
// from another address (127.0.0.2), ends on the worker that serves the session — the one its
// first connection (127.0.0.1) logged in on — whether the steering program puts it there or the
// worker it lands on hands it over by its ClientGuid (src/transport/handoff.ts) before its
// NEGOTIATE is answered. The binding works there, the session's open answers on the new
// channel, and it outlives the first channel.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { nativeAvailable } from '../../src/io/native.js'
import { makeTestShare } from '../helpers/test-share.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { Command, queryInfoBody } from '../helpers/mem-client.js'
import { bpfUnavailable, cliBuilt, freePort, startCli, type CliServer } from '../helpers/cli-server.js'

const skip = (!cliBuilt && 'the CLI is not built (npm run build)') || (!nativeAvailable && 'the native addon is not built')
const noBpf = bpfUnavailable()
const esc = (s: string): string => s.replace(/[.[\]\\]/g, (c) => `\\${c}`)

async function start (t: Test, extra: string[]): Promise<{ srv: CliServer, port: number }> {
  const ts = makeTestShare('workers-mc', 'SMBTS-WMC', { global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes'] })
  t.teardown(() => { ts.remove() })
  const port = await freePort()
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', `${ts.root}/smbts.lock`, '--control-dir', `${ts.root}/run`,
    '-p', String(port), '--workers', '2', ...extra], { SMBTS_DEBUG: 'conn' })
  t.teardown(() => { srv.kill('SIGKILL') })
  await srv.waitFor(/\[sup\] info 2 workers ready on port/)
  return { srv, port }
}

/** Which worker accepted the connection from `src` (its `debug[conn]` line), from log line `from` on. */
async function acceptedBy (srv: CliServer, src: string, from: number): Promise<number> {
  return Number((await srv.waitFor(new RegExp(`\\[w(\\d)\\] debug\\[conn\\] connection from (?:::ffff:)?${esc(src)}:`), 5000, from))[1])
}

async function twoChannels (t: Test, extra: string[], second: string): Promise<void> {
  const { srv, port } = await start(t, extra)
  const guid = randomBytes(16)
  const a = await TcpClient.open(port, '127.0.0.1', '127.0.0.1')
  t.teardown(() => { a.end() })
  a.clientGuid = guid
  a.signAll = true
  await a.connect({ signAll: true })
  const sid = a.sessionId.toString(16)
  const owner = Number((await srv.waitFor(new RegExp(`\\[w(\\d)\\] info session 0x${sid}: WORKGROUP\\\\tester from (?:::ffff:)?127\\.0\\.0\\.1:`)))[1])
  const fid = await a.open('mc.txt')

  const from = srv.logs.length
  const b = await TcpClient.open(port, '127.0.0.1', second)
  t.teardown(() => { b.end() })
  const landed = await acceptedBy(srv, second, from)
  b.clientGuid = guid
  await b.negotiate({ dialects: [0x0311] })
  const bound = await b.bind(a)
  t.equal(bound.last.status, 0, `the binding from ${second} succeeds`)
  t.ok(bound.finalSigned, 'signed with the new channel\'s key')
  const boundOn = Number((await srv.waitFor(new RegExp(`\\[w(\\d)\\] info session 0x${sid}: channel 2 bound from (?:::ffff:)?${esc(second)}:`), 5000, from))[1])
  t.equal(boundOn, owner, `both channels on w${owner}, the session's worker (the second connection was accepted by w${landed})`)
  if (landed !== owner) {
    t.ok(srv.logs.slice(from).some(l => new RegExp(`\\[w${landed}\\] info connection from (?:::ffff:)?${esc(second)}:\\d+ handed to w${owner}`).test(l)), `w${landed} handed it over`)
  } else {
    t.comment(`${second} was steered to w${owner} itself: no hand-over needed this time (test/system/workers-guid.test.ts covers one)`)
  }
  // Another client (ClientGuid) cannot bind to the session: refused where it lands, and said
  // so when that is not the session's worker.
  const from2 = srv.logs.length
  const stranger = await TcpClient.open(port, '127.0.0.1', second)
  t.teardown(() => { stranger.end() })
  const strangerOn = await acceptedBy(srv, second, from2)
  await stranger.negotiate({ dialects: [0x0311] })
  t.equal((await stranger.bind(a)).last.status, 0xc0000203, 'a binding from another ClientGuid: USER_SESSION_DELETED')
  if (strangerOn !== owner) {
    t.ok(await srv.waitFor(new RegExp(`\\[w${strangerOn}\\] info binding from .* to session 0x${sid} refused: that session is w${owner}'s`), 5000, from2), 'the worker it landed on says whose session it is')
  }
  stranger.end()
  const q = await b.request({ cmd: Command.QUERY_INFO, body: queryInfoBody(fid, 1, 14, 8) })
  t.equal(q.status, 0, 'the open made on the first channel answers on the second')
  a.end()
  await srv.waitFor(new RegExp(`\\[w${owner}\\] info session 0x${sid}: channel from (?:::ffff:)?127\\.0\\.0\\.1:\\d+ lost`), 5000, from)
  t.equal((await b.request({ cmd: Command.QUERY_INFO, body: queryInfoBody(fid, 1, 14, 8) })).status, 0, 'the session outlives its first channel')
}

t.test('--workers 2: channels from 127.0.0.1 and 127.0.0.2 end on one worker', { skip: skip || noBpf }, async (t) => {
  await twoChannels(t, [], '127.0.0.2')
})

t.test('--workers 2 --no-bpf: the same without the steering program', { skip }, async (t) => {
  await twoChannels(t, ['--no-bpf'], '127.0.0.2')
})
