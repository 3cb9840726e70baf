// Server-wide and per-connection caps against a live server over TCP, each on a server of its
// own with a small limit, each with a well-behaved bystander whose transfer completes intact
// while the limit is hit: max connections, max active sessions, max open files, deadtime, the
// credit window, the frame size after authentication, and clients that claim large frames and
// trickle them.
import t, { type Test } from 'tap'
import type net from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { firstPassOnly, inProcessOnly, singleProcessOnly, startLive, smbclient, type LiveServer } from '../helpers/live.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { startChildLive } from '../helpers/child-live.js'
import { Command, createBody, Disposition, negotiateBody, readBody, readData, sessionSetupBody, smallBody, Status, writeBody } from '../helpers/mem-client.js'
import { negotiateMessage } from '../helpers/ntlm-client.js'
import { encodeInit, OID_NTLMSSP } from '../../src/auth/spnego.js'
import { closedWithin, connect, frame } from '../helpers/raw-socket.js'
import { until } from '../helpers/until.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms) })
const STATUS_REQUEST_NOT_ACCEPTED = 0xc00000d0
const STATUS_TOO_MANY_OPENED_FILES = 0xc000011f
const STATUS_INSUFFICIENT_RESOURCES = 0xc000009a
const MiB = 1024 * 1024

/** Polls until a real client (smbclient ls) gets in, or `ms` pass: a freed slot, seen from outside. */
async function realClientGetsIn (live: Pick<LiveServer, 'port' | 'user' | 'password'>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if ((await smbclient(live, 'ls', { protocol: 'SMB3_11' })).code === 0) return true
    if (Date.now() > end) return false
    await sleep(200)
  }
}

/** smbclient put + get of 4 MiB on a fresh connection: both directions intact. */
async function bystander (t: Test, live: Pick<LiveServer, 'port' | 'user' | 'password' | 'root'>, tag: string): Promise<void> {
  const data = randomBytes(4 * MiB + 3)
  writeFileSync(join(live.root, `by-${tag}.bin`), data)
  const r = await smbclient(live, `lcd ${live.root}; put by-${tag}.bin; get by-${tag}.bin by-${tag}.back`, { protocol: 'SMB3_11' })
  t.equal(r.code, 0, `bystander transfer works (${tag}) ${r.stderr}`)
  t.equal(sha(readFileSync(join(live.root, `by-${tag}.back`))), sha(data), `bystander data intact (${tag})`)
}

/** A client already connected and logged in writes 4 MiB and reads it back on its own connection. */
async function establishedTransfer (t: Test, live: LiveServer, c: TcpClient, tag: string): Promise<void> {
  const data = randomBytes(4 * MiB)
  const fid = await c.open(`est-${tag}.bin`, { disposition: Disposition.OVERWRITE_IF })
  for (let off = 0; off < data.length; off += MiB) {
    const w = await c.write(fid, off, data.subarray(off, off + MiB))
    if (w.status !== 0) { t.fail(`write at ${off}: 0x${w.status.toString(16)}`); return }
  }
  const back: Buffer[] = []
  for (let off = 0; off < data.length; off += MiB) {
    const r = await c.read(fid, off, MiB)
    if (r.status !== 0) { t.fail(`read at ${off}: 0x${r.status.toString(16)}`); return }
    back.push(Buffer.from(readData(r)))
  }
  t.equal((await c.close(fid)).status, 0, `established client closes its file (${tag})`)
  t.equal(sha(Buffer.concat(back)), sha(data), `established client reads back what it wrote (${tag})`)
  t.equal(sha(readFileSync(join(live.share, `est-${tag}.bin`))), sha(data), `and the disk holds it (${tag})`)
}

t.test('max connections: connection N+1 drops the unauthenticated one idle longest; the authenticated ones keep working', async t => {
  // With workers (SMBTS_TEST_WORKERS) the count is in the locking store, across processes: the
  // admissions their logs show (debug conn) stand for it. The idle connections and the new one
  // share an address, so that with steering they meet one worker (a worker drops only its own).
  const live = await startLive({ global: ['max connections = 12'], debug: ['conn'] })
  t.teardown(() => live.stop())
  const admissions = (): number => live.logs.filter(l => /debug\[conn\] connection from /.test(l)).length
  // The bystander is inside the limit before it is reached.
  const inside = await TcpClient.open(live.port)
  t.teardown(() => { inside.end() })
  await inside.connect()
  const idle: net.Socket[] = []
  t.teardown(() => { for (const s of idle) s.destroy() })
  for (let i = 0; i < 11; i++) idle.push(await connect(live.port, '127.0.0.2'))
  // One of them sends a NEGOTIATE (and is answered): it is no longer the one idle longest.
  const answered = new Promise((resolve) => { idle[0].once('data', resolve) })
  idle[0].write(frame(0, 0n, negotiateBody({ dialects: [0x0311] })))
  await answered
  t.ok(await until(() => (live.workers === 1 ? live.server.state.limits.count : admissions()) === 12, 5000), 'the server counts 12 connections')

  const closed = idle.map(s => closedWithin(s, 3000))
  const extra = await connect(live.port, '127.0.0.2')
  const which = (await Promise.all(closed)).flatMap((c, i) => c ? [i] : [])
  t.equal(which.length, 1, 'one idle connection is dropped for connection 13')
  if (live.workers === 1) t.same(which, [1], 'the one idle longest: the oldest that sent nothing')
  t.notOk(await closedWithin(extra, 500), 'connection 13 is served')
  t.ok(await live.logged(/dropped to admit 127\.0\.0\.2:\d+: max connections \(12\) reached/), 'the log names the limit')
  const real = await smbclient(live, 'ls', { protocol: 'SMB3_11' })
  t.equal(real.code, 0, `a real client gets in while the server is full of unauthenticated connections ${real.stderr}`)

  await establishedTransfer(t, live, inside, 'maxconn')
  t.notOk(inside.dead, 'the authenticated connection inside the limit is never dropped')

  // Slots come back when connections go away.
  for (const s of idle.splice(0)) s.destroy()
  extra.destroy()
  if (live.workers === 1) t.ok(await until(() => live.server.state.limits.count === 1, 5000), 'closed connections free their slots')
  await bystander(t, live, 'maxconn')
})

t.test('max connections, every connection authenticated: connection N+1 is closed at once', async t => {
  const live = await startLive({ global: ['max connections = 6'] })
  t.teardown(() => live.stop())
  const inside: TcpClient[] = []
  t.teardown(() => { for (const c of inside) c.end() })
  for (let i = 0; i < 6; i++) {
    const c = await TcpClient.open(live.port)
    inside.push(c)
    await c.connect()
  }
  const extra = await connect(live.port, '127.0.0.9')
  t.ok(await closedWithin(extra, 3000), 'connection 7 is closed at once: nothing to drop for it')
  t.ok(await live.logged(/refused: max connections \(6\) reached, and no unauthenticated connection to drop/), 'the log names the limit')
  const real = await smbclient(live, 'ls', { protocol: 'SMB3_11' })
  t.not(real.code, 0, 'a real client is refused too while the server is full')
  await establishedTransfer(t, live, inside[0], 'maxconn-auth')
  t.ok(inside.every(c => !c.dead), 'no authenticated connection was dropped')
  // A slot comes back when one goes away.
  inside.pop()!.end()
  t.ok(await realClientGetsIn(live, 5000), 'a closed connection frees its slot: a real client gets in')
})

t.test('max active sessions: SESSION_SETUP beyond it gets STATUS_REQUEST_NOT_ACCEPTED', async t => {
  const live = await startLive({ global: ['max active sessions = 3'] })
  t.teardown(() => live.stop())
  const clients: TcpClient[] = []
  t.teardown(() => { for (const c of clients) c.end() })
  const open = async (): Promise<TcpClient> => { const c = await TcpClient.open(live.port); clients.push(c); return c }

  const by = await (await open()).connect()
  // Logons in progress take no slot: a client that starts authentications and never finishes
  // them cannot lock others out; what it may hold is bounded per connection instead.
  const starter = await open()
  t.equal((await starter.negotiate({ dialects: [0x0311] })).status, 0)
  const firstLeg = (): Promise<number> => starter.request({
    cmd: Command.SESSION_SETUP, sessionId: 0n, body: sessionSetupBody(encodeInit({ mechTypes: [OID_NTLMSSP], mechToken: negotiateMessage() })),
  }).then(r => r.status)
  const started = []
  for (let i = 0; i < 16; i++) started.push(await firstLeg())
  t.same(started, Array(16).fill(Status.MORE_PROCESSING_REQUIRED), '16 logons in progress on one connection')
  t.equal(await firstLeg(), STATUS_REQUEST_NOT_ACCEPTED, 'the 17th is refused')
  t.ok(await live.logged(/refused: 16 authentications already in progress on this connection/), 'the log says why')
  const s2 = await (await open()).connect()
  const s3 = await (await open()).connect()

  // The session table is the in-process server's; with workers the statuses below say it all.
  const sessions = (): number => live.workers === 1 ? live.server.state.sessions.size : NaN
  if (live.workers === 1) t.equal(sessions(), 3 + 16, 'three sessions active, 16 in progress')

  const late = await open()
  t.equal((await late.negotiate({ dialects: [0x0311] })).status, 0, 'the fourth client negotiates')
  const refused = await late.login()
  t.equal(refused.first.status, STATUS_REQUEST_NOT_ACCEPTED, 'its SESSION_SETUP is refused with STATUS_REQUEST_NOT_ACCEPTED')
  t.ok(await live.logged(/session from .* refused: max active sessions \(3\) reached/), 'the log names the limit')
  if (live.workers === 1) t.equal(sessions(), 3 + 16, 'the refusal created no session')
  t.notOk(late.dead, 'the refused client keeps its connection and may retry later')
  const real = await smbclient(live, 'ls', { protocol: 'SMB3_11' })
  t.not(real.code, 0, 'a real client is refused too')
  t.match(real.stdout + real.stderr, /REQUEST_NOT_ACCEPTED/, 'and is told why')

  await establishedTransfer(t, live, by, 'sessions')

  // Closing the starter's connection ends its 16 logons in progress.
  starter.end()
  if (live.workers === 1) t.ok(await until(() => sessions() === 3, 5000), 'a closed connection ends its logons in progress')

  // A LOGOFF frees one slot; two clients race for it, both past their first leg before either
  // finishes: the check as the session becomes active lets exactly one in.
  t.equal((await s2.logoff()).status, 0)
  const racer = await open()
  t.equal((await racer.negotiate({ dialects: [0x0311] })).status, 0)
  let arrived = 0
  let bothThere!: () => void
  const both = new Promise<void>((resolve) => { bothThere = resolve })
  const between = async (): Promise<void> => { if (++arrived === 2) bothThere(); await both }
  const [a, b] = await Promise.all([late.login({ between }), racer.login({ between })])
  t.same([a.first.status, b.first.status], [Status.MORE_PROCESSING_REQUIRED, Status.MORE_PROCESSING_REQUIRED], 'both start while a slot is free')
  t.same([a.last.status, b.last.status].sort(), [0, STATUS_REQUEST_NOT_ACCEPTED].sort(), 'one gets in, the other is refused as its logon completes')
  if (live.workers === 1) t.equal(sessions(), 3, 'never more than 3 sessions')
  const winner = a.last.status === 0 ? late : racer
  t.equal((await winner.treeConnect('share')).status, 0, 'the winner works')
  // A dropped connection frees its session too; then a real client gets in.
  s3.end()
  if (live.workers === 1) t.ok(await until(() => sessions() === 2, 5000), 'a closed connection frees its session')
  else t.ok(await realClientGetsIn(live, 5000), 'a closed connection frees its session: a real client gets in')
  await bystander(t, live, 'sessions')
})

t.test('share max connections: TREE_CONNECT beyond it gets STATUS_INSUFFICIENT_RESOURCES, other shares unaffected', async t => {
  const live = await startLive({ shares: { limited: ['read only = no', 'max connections = 2'] } })
  t.teardown(() => live.stop())
  const clients: TcpClient[] = []
  t.teardown(() => { for (const c of clients) c.end() })
  const open = async (): Promise<TcpClient> => { const c = await TcpClient.open(live.port); clients.push(c); return c }
  const first = await (await open()).connect({ share: 'limited' })
  const second = await (await open()).connect({ share: 'limited' })
  const third = await (await open()).connect()
  const refused = await third.treeConnect('limited')
  t.equal(refused.status, STATUS_INSUFFICIENT_RESOURCES, 'the third tree connect to the share is refused with STATUS_INSUFFICIENT_RESOURCES')
  t.ok(await live.logged(/tree connect to limited from .* refused: max connections \(2\) of the share reached/), 'the log names the limit and the share')
  t.notOk(third.dead, 'the refused client keeps its connection')
  const real = await smbclient(live, 'ls', { protocol: 'SMB3_11', share: 'limited' })
  t.not(real.code, 0, 'a real client is refused the share too')
  t.match(real.stdout + real.stderr, /INSUFFICIENT_RESOURCES/, 'and is told why')

  await bystander(t, live, 'sharemax') // on [share]: the limit is the other share's
  const data = randomBytes(MiB)
  const fid = await first.open('in-limited.bin', { disposition: Disposition.OVERWRITE_IF })
  t.equal((await first.write(fid, 0, data)).status, 0, 'a tree inside the limit keeps working')
  t.equal(sha(Buffer.from(readData(await first.read(fid, 0, MiB)))), sha(data), 'and reads back intact')
  await first.close(fid)

  t.equal((await second.treeDisconnect()).status, 0)
  t.equal((await third.treeConnect('limited')).status, 0, 'a TREE_DISCONNECT frees a slot')
})

t.test('max open files: CREATE beyond it gets STATUS_TOO_MANY_OPENED_FILES, other connections unaffected', async t => {
  const live = await startLive({ global: ['max open files = 4'] })
  t.teardown(() => live.stop())
  const hog = await (await TcpClient.open(live.port)).connect()
  t.teardown(() => { hog.end() })
  const fids = []
  for (let i = 0; i < 4; i++) fids.push(await hog.open(`hog-${i}.txt`, { disposition: Disposition.OVERWRITE_IF }))
  const fifth = await hog.create('hog-new.txt', { disposition: Disposition.CREATE })
  t.equal(fifth.status, STATUS_TOO_MANY_OPENED_FILES, 'the fifth open gets STATUS_TOO_MANY_OPENED_FILES')
  t.notOk(existsSync(join(live.share, 'hog-new.txt')), 'the refused CREATE created nothing')
  t.ok(await live.logged(/max open files \(4\) reached/), 'the log names the limit')
  t.notOk(hog.dead, 'the client at its limit keeps its connection')
  t.equal((await hog.echo()).status, 0)

  // The limit is per connection (Samba's, whose smbd serves one client per process): a bystander
  // on its own connection opens what it needs while the hog holds all of its own.
  await bystander(t, live, 'openfiles')

  // A pipe is an open too.
  const shareTree = hog.treeId
  t.equal((await hog.treeConnect('IPC$')).status, 0)
  t.equal((await hog.create('srvsvc', { disposition: Disposition.OPEN })).status, STATUS_TOO_MANY_OPENED_FILES, 'a pipe open beyond the limit is refused too')
  hog.treeId = shareTree

  // A CLOSE frees one slot; ten CREATEs pipelined at once compete for it: exactly one gets it.
  t.equal((await hog.close(fids.pop()!)).status, 0)
  const burst = await Promise.all(hog.pipeline(Array.from({ length: 10 }, (_, i) => ({ cmd: Command.CREATE, body: createBody(`burst-${i}.txt`, { disposition: Disposition.CREATE }) }))))
  t.equal(burst.filter(r => r?.status === 0).length, 1, 'one of ten pipelined CREATEs takes the free slot')
  t.equal(burst.filter(r => r?.status === STATUS_TOO_MANY_OPENED_FILES).length, 9, 'the other nine are refused')
  // Eleven refusals on one connection: logged once (then at most once per 10 s), not eleven times.
  const lines = live.logs.filter(l => /max open files \(4\) reached/.test(l)).length
  t.ok(lines >= 1 && lines <= 3, `a client hammering the limit cannot flood the log (${lines} lines for 11 refusals)`)
})

t.test('deadtime: an idle connection with no open files is dropped, a busy or holding one is not', { skip: inProcessOnly('deadtimeMinuteMs, a minute of 3 s') }, async t => {
  // `deadtime = 1` (minutes, as in smb.conf) with a minute shortened to 3 s for the test.
  const live = await startLive({ global: ['deadtime = 1'], deadtimeMinuteMs: 3000 })
  t.teardown(() => live.stop())
  const idle = await (await TcpClient.open(live.port)).connect()
  const idleSince = Date.now() // its last request (the TREE_CONNECT) is answered
  const holding = await (await TcpClient.open(live.port)).connect()
  const busy = await (await TcpClient.open(live.port)).connect()
  t.teardown(() => { idle.end(); holding.end(); busy.end() })
  const fid = await holding.open('held.txt', { disposition: Disposition.OVERWRITE_IF })
  let echoes = 0
  let busyFailed = false
  const ticker = setInterval(() => {
    void busy.echo().then((r) => { if (r.status === 0) echoes++; else busyFailed = true }, () => { busyFailed = true })
  }, 300)
  t.teardown(() => { clearInterval(ticker) })

  const bystanding = bystander(t, live, 'deadtime')
  t.ok(await idle.closedWithin(30_000), 'the idle connection without open files is dropped')
  t.ok(Date.now() - idleSince >= 2900, `not before the deadtime (after ${Date.now() - idleSince} ms)`)
  t.ok(await live.logged(/idle for 1 min with no open files \(deadtime\); disconnecting/), 'the log says why')
  await bystanding
  // Well past the deadtime (three minutes of this test's length) for the other two.
  await sleep(9000)
  clearInterval(ticker)
  t.notOk(holding.dead, 'an idle connection that holds an open file stays')
  t.equal((await holding.close(fid)).status, 0, 'and its file is still open')
  t.notOk(busy.dead, 'a connection that keeps sending stays')
  t.notOk(busyFailed, 'every ECHO of the busy client was answered')
  t.ok(echoes >= 15, `the busy client was busy (${echoes} echoes)`)
})

t.test('credits: a client cannot hold more than the window; a request beyond it closes only that connection', async t => {
  const live = await startLive({ global: ['smb2 max credits = 64'] })
  t.teardown(() => live.stop())
  const s = await connect(live.port, '127.0.0.7')
  t.teardown(() => { s.destroy() })
  const replies: Buffer[] = []
  let buf = Buffer.alloc(0)
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      replies.push(buf.subarray(4, 4 + buf.readUInt32BE(0)))
      buf = buf.subarray(4 + buf.readUInt32BE(0))
    }
  })
  s.write(frame(Command.NEGOTIATE, 0n, negotiateBody({ dialects: [0x0202, 0x0210] }), 1000))
  t.ok(await until(() => replies.length === 1, 5000), 'NEGOTIATE answered')
  let held = replies[0].readUInt16LE(14)
  t.equal(held, 64, 'asked for 1000 credits, granted the 64 of the window')
  // Spend every credit at once, each request asking for 1000 more.
  const batch: Buffer[] = []
  for (let mid = 1; mid <= 64; mid++) batch.push(frame(Command.ECHO, BigInt(mid), smallBody(), 1000))
  s.write(Buffer.concat(batch))
  t.ok(await until(() => replies.length === 65, 10_000), 'all 64 ECHOs answered')
  held = replies.slice(1).reduce((n, r) => n + r.readUInt16LE(14), 0)
  t.equal(held, 64, 'the grants refill the window to 64 and no further')
  // The window is now [65, 129): MessageId 129 is one past it.
  s.write(frame(Command.ECHO, 129n, smallBody()))
  t.ok(await closedWithin(s, 5000), 'a request beyond the granted credits closes the connection')
  t.ok(await live.logged(/MessageId 129 .* outside the credit window; disconnecting/), 'the log says why')
  await bystander(t, live, 'credits')
})

t.test('frame size after authentication: a frame larger than the largest I/O plus headers is refused', async t => {
  const live = await startLive({ global: ['frame timeout = 2'] })
  t.teardown(() => live.stop())
  const c = await (await TcpClient.open(live.port)).connect()
  t.teardown(() => { c.end() })
  const limit = 8 * MiB + 64 * 1024 // smb2 max write/read 8M (the defaults) + FRAME_SLACK
  const over = Buffer.alloc(4)
  over.writeUInt32BE(limit + 1, 0)
  c.writeRaw(over)
  t.ok(await c.closedWithin(3000), 'closed on the length alone, before any byte of the body')
  t.ok(await live.logged(new RegExp(`frame of ${limit + 1} bytes exceeds the limit of ${limit}`)), 'the log gives the size and the limit')

  // A large legal frame delivered slowly but steadily (a WRITE over a slow link) is not cut:
  // the frame timeout asks for progress, not for the whole message within 2 s.
  const slow = await (await TcpClient.open(live.port)).connect()
  t.teardown(() => { slow.end() })
  const fid = await slow.open('slow.bin', { disposition: Disposition.OVERWRITE_IF })
  const data = randomBytes(MiB)
  const pdu = slow.message({ cmd: Command.WRITE, body: writeBody(fid, 0, data), creditCharge: 16 })
  const whole = Buffer.concat([Buffer.from([0, pdu.length >> 16, (pdu.length >> 8) & 0xff, pdu.length & 0xff]), pdu])
  const step = 128 * 1024 // 128 KiB every 500 ms: ~4 s for the whole frame, twice the frame timeout
  const bystanding = bystander(t, live, 'bigframe')
  for (let off = 0; off < whole.length; off += step) {
    slow.writeRaw(whole.subarray(off, off + step))
    await sleep(500)
  }
  await bystanding
  t.ok(await until(() => existsSync(join(live.share, 'slow.bin')) && readFileSync(join(live.share, 'slow.bin')).length === MiB, 10_000), 'the slow WRITE lands')
  t.notOk(slow.dead, 'the slow but steady client is still connected')
  t.equal(sha(readFileSync(join(live.share, 'slow.bin'))), sha(data), 'and its data is intact')
})

t.test('reassembly memory: clients that claim a large legal frame and trickle it are cut, memory stays bounded', { skip: singleProcessOnly('a child server whose memory it measures') }, async t => {
  const live = await startChildLive({ global: ['frame timeout = 2'] })
  t.teardown(() => live.stop())
  const n = 16
  const trick: TcpClient[] = []
  t.teardown(() => { for (const c of trick) c.end() })
  for (let i = 0; i < n; i++) trick.push(await (await TcpClient.open(live.port, '127.0.0.1', `127.0.1.${i + 1}`)).connect())
  const rssBefore = live.memory().rss
  live.resetPeak()
  // Each claims 8 MiB (legal after authentication), then sends a byte a second.
  const claim = Buffer.alloc(4)
  claim.writeUInt32BE(8 * MiB, 0)
  for (const c of trick) c.writeRaw(Buffer.concat([claim, Buffer.from([0xfe])]))
  const ticker = setInterval(() => { for (const c of trick) c.writeRaw(Buffer.from([0x53])) }, 1000)
  t.teardown(() => { clearInterval(ticker) })
  const bystanding = bystander(t, live, 'trickle')
  const cut = await Promise.all(trick.map(c => c.closedWithin(15_000)))
  clearInterval(ticker)
  t.equal(cut.filter(Boolean).length, n, `all ${n} tricklers are cut by the frame timeout`)
  t.ok(live.logs.filter(l => /slow client/.test(l)).length >= n, 'each cut is logged')
  await bystanding
  const grew = live.memory().peak - rssBefore
  t.ok(grew < 64 * MiB, `claims of ${n} × 8 MiB did not commit that memory (peak RSS ${(grew / MiB).toFixed(1)} MiB over the start)`)
})

for (const useUring of [false, true]) {
  t.test(`outstanding requests: a full credit window of 1 MiB READs whose replies are never read (${useUring ? 'io_uring' : 'node:net'})`, { skip: firstPassOnly('a child server\'s memory under unread replies') }, async t => {
    // 8192 credits (the default window) pay for 511 READs of 1 MiB: without a per-connection
    // budget the server starts them all and queues half a GiB of replies for one client.
    // The server runs in a child process: its peak RSS is its own.
    const live = await startChildLive({ useUring })
    t.teardown(() => live.stop())
    if (useUring && !live.logs.some(l => /transport: io_uring/.test(l))) { t.plan(0, 'io_uring unavailable'); return }
    const data = randomBytes(MiB)
    writeFileSync(join(live.share, 'big.bin'), data)
    const c = await (await TcpClient.open(live.port, '127.0.0.1', '127.0.0.8')).connect()
    t.teardown(() => { c.end() })
    const fid = await c.open('big.bin', { disposition: Disposition.OPEN })
    for (let i = 0; i < 16; i++) await c.request({ cmd: Command.ECHO, body: smallBody(), creditRequest: 1000 })
    const rssBefore = live.memory().rss
    live.resetPeak()
    c.pauseReading()
    const n = 511
    const replies = c.pipeline(Array.from({ length: n }, () => ({ cmd: Command.READ, body: readBody(fid, 0, MiB), creditCharge: 16, creditRequest: 16 })))
    await bystander(t, live, `unread-${useUring ? 'uring' : 'net'}`)
    await sleep(3000)
    const peak = live.memory().peak - rssBefore
    t.ok(peak < 192 * MiB, `server memory stays bounded while ${n} MiB of replies wait (peak growth ${(peak / MiB).toFixed(1)} MiB)`)
    t.notOk(c.dead, 'the client stayed within its credits: it is not disconnected')
    // It reads at last: every reply arrives, intact, nothing dropped by the backpressure.
    c.resumeReading()
    const got = await Promise.all(replies)
    t.equal(got.filter(r => r?.status === 0).length, n, `all ${n} READs answered`)
    t.ok(got.every(r => r !== undefined && sha(Buffer.from(readData(r))) === sha(data)), 'every reply carries the file intact')
  })
}

for (const useUring of [false, true]) {
  t.test(`a client that never reads its replies is cut after the frame timeout (${useUring ? 'io_uring' : 'node:net'})`, { skip: firstPassOnly('the frame timeout of a reader that never reads') }, async t => {
    const live = await startLive({ global: ['frame timeout = 2'], useUring })
    t.teardown(() => live.stop())
    if (useUring && !live.logs.some(l => /transport: io_uring/.test(l))) { t.plan(0, `io_uring unavailable: ${live.logs.find(l => /fast path off/.test(l)) ?? '?'}`); return }
    const data = randomBytes(MiB)
    writeFileSync(join(live.share, 'big.bin'), data)
    const c = await (await TcpClient.open(live.port, '127.0.0.1', '127.0.0.10')).connect()
    t.teardown(() => { c.end() })
    const fid = await c.open('big.bin', { disposition: Disposition.OPEN })
    for (let i = 0; i < 4; i++) await c.request({ cmd: Command.ECHO, body: smallBody(), creditRequest: 1000 })
    c.pauseReading()
    // 128 MiB of replies: far beyond what the server queues for one connection.
    void c.pipeline(Array.from({ length: 128 }, () => ({ cmd: Command.READ, body: readBody(fid, 0, MiB), creditCharge: 16, creditRequest: 16 })))
    const bystanding = bystander(t, live, `reader-${useUring ? 'uring' : 'net'}`)
    t.ok(await until(() => live.logs.some(l => /127\.0\.0\.10:\d+: replies not read: .* \(slow reader\); disconnecting/.test(l)), 30_000), 'the server gives up on it, and the log says why')
    // A client that does not read cannot see the close either; once it looks, the connection is gone.
    c.resumeReading()
    t.ok(await c.closedWithin(10_000), 'the client that read nothing finds itself disconnected')
    await bystanding
  })
}

t.test('a compound whose responses would overflow one Direct-TCP message: the requests past it are refused', async t => {
  const live = await startLive({})
  t.teardown(() => live.stop())
  const data = randomBytes(64 * 1024)
  writeFileSync(join(live.share, 'chunk.bin'), data)
  const c = await (await TcpClient.open(live.port, '127.0.0.1', '127.0.0.11')).connect()
  t.teardown(() => { c.end() })
  const fid = await c.open('chunk.bin', { disposition: Disposition.OPEN })
  for (let i = 0; i < 2; i++) await c.request({ cmd: Command.ECHO, body: smallBody(), creditRequest: 1000 })
  // 600 READs of 64 KiB in one chain: 37.5 MiB, more than one 16 MiB message can carry.
  const n = 600
  const resps = await c.send(...Array.from({ length: n }, () => ({ cmd: Command.READ, body: readBody(fid, 0, 64 * 1024) })))
  t.equal(resps.length, n, 'every request of the chain is answered, in one response')
  const ok = resps.filter(r => r.status === 0)
  t.ok(ok.length >= 64 && ok.length < n, `the first requests run (${ok.length})`)
  t.same(resps.map(r => r.status === 0), resps.map((_, i) => i < ok.length), 'all of them before any refusal')
  t.ok(ok.every(r => sha(Buffer.from(readData(r))) === sha(data)), 'and return the data intact')
  t.ok(resps.slice(ok.length).every(r => r.status === STATUS_INSUFFICIENT_RESOURCES), 'the rest get STATUS_INSUFFICIENT_RESOURCES')
  t.ok(await live.logged(/127\.0\.0\.11:\d+: compound response reached \d+ bytes; refusing the rest of the chain/), 'the log says why')
  t.notOk(c.dead, 'the connection stays')
  t.equal((await c.echo()).status, 0, 'and keeps working')
  // A chain of small requests is not limited by count: 1000 ECHOs in one compound.
  const echoes = await c.send(...Array.from({ length: 1000 }, () => ({ cmd: Command.ECHO, body: smallBody() })))
  t.equal(echoes.filter(r => r.status === 0).length, 1000, 'a long chain of small requests runs whole')
  await bystander(t, live, 'compound')
})
