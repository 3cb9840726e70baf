// The limits each worker counts for itself and publishes to the locking store (`max active
// sessions`, a share's `max connections`) hold for the workers together: the built program with
// `--workers 2`, clients placed on the worker the test wants by their loopback source (read from
// the worker's log, so it holds with and without the steering program). A worker's count is
// published with the session or tree it admits, in the same step: published before it, the other
// worker counted one fewer, and two admissions on each worker got past a limit of 2 (found by the
// interop suite with SMBTS_TEST_WORKERS=2 SMBTS_TEST_STEERING=off, limits-caps.test.ts).
import t, { type Test } from 'tap'
import { nativeAvailable } from '../../src/io/native.js'
import { makeTestShare, type TestShare } from '../helpers/test-share.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { Status } from '../helpers/mem-client.js'
import { cliBuilt, freePort, startCli, type CliServer } from '../helpers/cli-server.js'

const skip = (!cliBuilt && 'the CLI is not built (npm run build)') || (!nativeAvailable && 'the native addon is not built')

const STATUS_REQUEST_NOT_ACCEPTED = 0xc00000d0
const STATUS_INSUFFICIENT_RESOURCES = 0xc000009a

interface Running { srv: CliServer, ts: TestShare, port: number, next: number }

async function start (t: Test, global: string[], shares: Record<string, string[]> = {}): Promise<Running> {
  const ts = makeTestShare('workers-limits', 'SMBTS-WLIM', { global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes', ...global], shares })
  t.teardown(() => { ts.remove() })
  const port = await freePort()
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', `${ts.root}/smbts.lock`, '--control-dir', `${ts.root}/run`, '-p', String(port), '--workers', '2'], { SMBTS_DEBUG: 'conn' })
  t.teardown(() => { srv.kill('SIGKILL') })
  await srv.waitFor(/\[sup\] info 2 workers ready on port/)
  return { srv, ts, port, next: 2 }
}

/** A client whose connection worker `w` serves, negotiated (tries loopback sources until one lands there). */
async function clientOn (t: Test, r: Running, w: number): Promise<TcpClient> {
  for (let tries = 0; tries < 64; tries++) {
    const src = `127.0.${Math.floor(r.next / 250)}.${(r.next % 250) + 2}`
    r.next++
    const from = r.srv.logs.length
    const c = await TcpClient.open(r.port, '127.0.0.1', src)
    t.equal((await c.negotiate({ dialects: [0x0311] })).status, 0)
    const m = await r.srv.waitFor(new RegExp(`\\[w(\\d)\\] debug\\[conn\\] connection from (?:::ffff:)?${src.replace(/\./g, '\\.')}:`), 5000, from)
    if (Number(m[1]) === w) { t.teardown(() => { c.end() }); return c }
    // The connection ends; its slot (max connections) is free only once its worker closed it:
    // waited for, or the next attempt may be refused at the limit.
    const closing = r.srv.logs.length
    c.end()
    await r.srv.waitFor(new RegExp(`\\[w\\d\\] debug\\[conn\\] closing (?:::ffff:)?${src.replace(/\./g, '\\.')}:`), 5000, closing)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`no source landed on w${w}`)
}

t.test('--workers 2: max active sessions = 2 holds for both workers together', { skip, timeout: 60_000 }, async (t) => {
  const r = await start(t, ['max active sessions = 2'])
  const a = await clientOn(t, r, 0)
  const b = await clientOn(t, r, 1)
  const c = await clientOn(t, r, 0)
  const d = await clientOn(t, r, 1)
  t.equal((await a.login()).last.status, 0, 'a session on w0')
  t.equal((await b.login()).last.status, 0, 'a session on w1')
  t.equal((await c.login()).first.status, STATUS_REQUEST_NOT_ACCEPTED, 'a third, on w0: refused')
  t.equal((await d.login()).first.status, STATUS_REQUEST_NOT_ACCEPTED, 'a third, on w1: refused')
  // Both past their first leg while a slot is free, on two workers: one completes.
  t.equal((await a.logoff()).status, 0, 'w0\'s session logs off: one slot free')
  let arrived = 0
  let bothThere!: () => void
  const both = new Promise<void>((resolve) => { bothThere = resolve })
  const between = async (): Promise<void> => { if (++arrived === 2) bothThere(); await both }
  const [x, y] = await Promise.all([c.login({ between }), d.login({ between })])
  t.same([x.first.status, y.first.status], [Status.MORE_PROCESSING_REQUIRED, Status.MORE_PROCESSING_REQUIRED], 'w0\'s and w1\'s new logons both start')
  t.same([x.last.status, y.last.status].sort(), [0, STATUS_REQUEST_NOT_ACCEPTED].sort(), 'one completes, the other is refused as it would become active')
})

t.test('--workers 2: a share\'s max connections = 2 holds for both workers together', { skip, timeout: 60_000 }, async (t) => {
  const r = await start(t, [], { limited: ['read only = no', 'max connections = 2'] })
  const clients: TcpClient[] = []
  for (const w of [0, 1, 0, 1]) {
    const c = await clientOn(t, r, w)
    t.equal((await c.login()).last.status, 0)
    clients.push(c)
  }
  const [a, b, c, d] = clients as [TcpClient, TcpClient, TcpClient, TcpClient]
  t.equal((await a.treeConnect('limited')).status, 0, 'a tree connect on w0')
  t.equal((await b.treeConnect('limited')).status, 0, 'a tree connect on w1')
  t.equal((await c.treeConnect('limited')).status, STATUS_INSUFFICIENT_RESOURCES, 'a third, on w0: refused')
  t.equal((await d.treeConnect('limited')).status, STATUS_INSUFFICIENT_RESOURCES, 'a third, on w1: refused')
  t.equal((await c.treeConnect('share')).status, 0, 'another share is not limited by it')
  t.equal((await a.treeDisconnect()).status, 0, 'w0\'s tree disconnects')
  t.equal((await d.treeConnect('limited')).status, 0, 'its slot is free for w1')
  t.equal((await c.treeConnect('limited')).status, STATUS_INSUFFICIENT_RESOURCES, 'and then full again for w0')
})

t.test('--workers 2: at max connections, a worker with no unauthenticated connection asks the other to drop one (issue 20)', { skip, timeout: 60_000 }, async (t) => {
  const r = await start(t, ['max connections = 4', 'handshake timeout = 60'])
  const sourceOf = (): string => { const n = r.next - 1; return `127.0.${Math.floor(n / 250)}.${(n % 250) + 2}` }
  // w0: one authenticated client; its source lands on w0.
  const x = await clientOn(t, r, 0)
  const w0Source = sourceOf()
  t.equal((await x.login()).last.status, 0, 'an authenticated client on w0')
  // w1: two authenticated clients and one that never authenticates. The server is full.
  const a = await clientOn(t, r, 1)
  const b = await clientOn(t, r, 1)
  t.equal((await a.login()).last.status, 0)
  t.equal((await b.login()).last.status, 0)
  const idle = await clientOn(t, r, 1)
  // The tries that landed on the other worker are gone before the limit is reached.
  await new Promise((resolve) => setTimeout(resolve, 300))
  // A new connection on w0, which has nothing of its own to drop.
  const from = r.srv.logs.length
  const y = await TcpClient.open(r.port, '127.0.0.1', w0Source)
  t.teardown(() => { y.end() })
  const m = await r.srv.waitFor(new RegExp(`\\[w(\\d)\\] debug\\[conn\\] connection from (?:::ffff:)?${w0Source.replace(/\./g, '\\.')}:`), 5000, from)
  t.equal(Number(m[1]), 0, 'the new connection is served by w0')
  t.equal((await y.negotiate({ dialects: [0x0311] })).status, 0, 'and admitted')
  t.equal((await y.login()).last.status, 0, 'it logs in')
  t.ok(await r.srv.waitFor(/\[w1\] info connection from .* \(not authenticated, idle [\d.]+ s\) dropped to admit .* \(on w0\): max connections \(4\) reached/, 5000, from), 'w1 dropped its unauthenticated connection for it, and says so')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.ok(idle.dead, 'the unauthenticated connection on w1 is gone')
  for (const [name, c] of [['w0', x], ['w1 a', a], ['w1 b', b]] as const) t.equal((await c.echo()).status, 0, `the authenticated client ${name} is still served`)
  // Now every connection is authenticated: one more is refused, on either worker.
  const from2 = r.srv.logs.length
  const z = await TcpClient.open(r.port, '127.0.0.1', w0Source)
  t.teardown(() => { z.end() })
  t.equal((await z.negotiate({ dialects: [0x0311] }).catch(() => undefined)), undefined, 'a fifth connection gets no answer')
  t.ok(await r.srv.waitFor(/refused: max connections \(4\) reached, and no unauthenticated connection to drop/, 5000, from2), 'refused, and the log says why')
})
