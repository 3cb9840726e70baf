// Two clients on two workers see one file as two clients of one server do: the built program with
// `--workers 2`, each client's connection bound to a loopback source that lands on the worker the
// test wants (read from the worker's log, so it holds with and without the steering program).
// Share modes, delete on close, a batch oplock and a lease broken across workers, one file from two
// simultaneous creates; then a worker killed while it holds an open that shares nothing.
import t, { type Test } from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { nativeAvailable } from '../../src/io/native.js'
import { makeTestShare, type TestShare } from '../helpers/test-share.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { Access, Disposition, LockFlag, Oplock, Opt, fileIdOf, leaseBreakOf, leaseOf, oplockOf, readData } from '../helpers/mem-client.js'
import { cliBuilt, freePort, startCli, type CliServer } from '../helpers/cli-server.js'

const skip = (!cliBuilt && 'the CLI is not built (npm run build)') || (!nativeAvailable && 'the native addon is not built')

const SHARING_VIOLATION = 0xc0000043
const DELETE_PENDING = 0xc0000056
const COLLISION = 0xc0000035
const FILE_LOCK_CONFLICT = 0xc0000054
const LOCK_NOT_GRANTED = 0xc0000055
const CREATED = 2
const LEASE_A = Buffer.alloc(16, 0xa1)
const LEASE_B = Buffer.alloc(16, 0xb2)

interface Running { srv: CliServer, ts: TestShare, port: number, next: number }

async function start (t: Test, extra: string[] = [], global: string[] = []): Promise<Running> {
  const ts = makeTestShare('workers-locking', 'SMBTS-WL', { global: ['interfaces = 127.0.0.1', 'bind interfaces only = yes', ...global] })
  t.teardown(() => { ts.remove() })
  const port = await freePort()
  const srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', `${ts.root}/smbts.lock`, '--control-dir', `${ts.root}/run`, '-p', String(port), '--workers', '2', ...extra], { SMBTS_DEBUG: `conn,${process.env.SMBTS_TEST_DEBUG ?? ''}` })
  t.teardown(() => { srv.kill('SIGKILL') })
  await srv.waitFor(/\[sup\] info 2 workers ready on port/)
  t.ok(srv.logs.some(l => /\[w0\] info locking store: .*shared by 2 workers/.test(l)) && srv.logs.some(l => /\[w1\] info locking store/.test(l)), 'both workers opened the shared locking store')
  return { srv, ts, port, next: 2 }
}

/** A logged-in client whose connection worker `w` serves (tries loopback sources until one lands there). */
async function clientOn (r: Running, w: number): Promise<TcpClient> {
  for (let tries = 0; tries < 64; tries++) {
    const src = `127.0.${Math.floor(r.next / 250)}.${(r.next % 250) + 2}`
    r.next++
    const from = r.srv.logs.length
    const c = await TcpClient.open(r.port, '127.0.0.1', src)
    await c.connect()
    const m = await r.srv.waitFor(new RegExp(`\\[w(\\d)\\] debug\\[conn\\] connection from (?:::ffff:)?${src.replace(/\./g, '\\.')}:`), 5000, from)
    if (Number(m[1]) === w) return c
    // The connection ends; its slot (max connections) is free only once its worker closed it:
    // waited for, or the next attempt may be refused at the limit.
    const closing = r.srv.logs.length
    c.end()
    await r.srv.waitFor(new RegExp(`\\[w\\d\\] debug\\[conn\\] closing (?:::ffff:)?${src.replace(/\./g, '\\.')}:`), 5000, closing)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`no source landed on w${w}`)
}

const settle = (ms = 100): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

for (const extra of [[], ['--no-bpf']]) {
  t.test(`--workers 2${extra.length > 0 ? ' ' + extra.join(' ') : ''}: share modes, delete on close, an oplock break, a lease break and one file from two creates, across workers`, { skip }, async (t) => {
    const r = await start(t, extra)
    const a = await clientOn(r, 0)
    const b = await clientOn(r, 1)
    t.teardown(() => { a.end(); b.end() })

    // Share modes: an open that shares nothing on w0 refuses w1's open.
    writeFileSync(join(r.ts.share, 'locked.txt'), 'x')
    const ra = await a.create('locked.txt', { share: 0, disposition: Disposition.OPEN })
    t.equal(ra.status, 0)
    t.equal((await b.create('locked.txt', { disposition: Disposition.OPEN })).status, SHARING_VIOLATION, 'w1: SHARING_VIOLATION against w0\'s open')
    await a.close(fileIdOf(ra))
    const rb = await b.create('locked.txt', { disposition: Disposition.OPEN })
    t.equal(rb.status, 0, 'and the open succeeds once w0 closed it')
    await b.close(fileIdOf(rb))

    // Delete on close on w0 while w1 holds the file: pending for w1's new opens, done at w1's close.
    writeFileSync(join(r.ts.share, 'doomed.txt'), 'x')
    const hold = await b.create('doomed.txt', { disposition: Disposition.OPEN })
    const del = await a.create('doomed.txt', { disposition: Disposition.OPEN, options: Opt.DELETE_ON_CLOSE })
    t.equal(del.status, 0)
    await a.close(fileIdOf(del))
    t.equal((await b.create('doomed.txt', { disposition: Disposition.OPEN })).status, DELETE_PENDING, 'w1 sees the deletion w0 left pending')
    t.ok(existsSync(join(r.ts.share, 'doomed.txt')), 'still there while w1 has it open')
    await b.close(fileIdOf(hold))
    t.notOk(existsSync(join(r.ts.share, 'doomed.txt')), 'w1\'s last close deleted it')

    // A batch oplock on w0 is broken by w1's open, which completes after w0's client acknowledges.
    const ha = await a.create('cached.txt', { oplock: Oplock.BATCH, disposition: Disposition.OVERWRITE_IF })
    t.equal(oplockOf(ha), Oplock.BATCH)
    await a.write(fileIdOf(ha), 0, Buffer.from('cached on w0'))
    const pending = b.create('cached.txt', { oplock: Oplock.BATCH, disposition: Disposition.OPEN })
    const brk = await a.nextBreak()
    t.equal(brk.oplockLevel, Oplock.II, 'w0\'s client is told to go to level II, for w1\'s open')
    await settle()
    t.equal(b.interims.length, 1, 'w1\'s CREATE answered STATUS_PENDING while it waits')
    let done = false
    void pending.then(() => { done = true })
    await settle(200)
    t.notOk(done, 'and goes on waiting for the acknowledgment')
    t.equal((await a.ack(fileIdOf(ha), Oplock.II)).status, 0)
    const hb = await pending
    t.equal(hb.status, 0, 'the CREATE on w1 completes after the acknowledgment on w0')
    t.equal(oplockOf(hb), Oplock.II, 'with level II beside w0\'s')
    t.equal(readData(await b.read(fileIdOf(hb), 0, 100)).toString(), 'cached on w0', 'and reads what w0\'s client wrote first')
    await b.write(fileIdOf(hb), 0, Buffer.from('W'))
    t.equal((await a.nextBreak()).oplockLevel, Oplock.NONE, 'a WRITE on w1 breaks w0\'s level II')
    await a.close(fileIdOf(ha))
    await b.close(fileIdOf(hb))

    // A lease (RWH) held by w0's client is broken to RH by w1's client's open under another key:
    // the break travels to w0, w1's CREATE waits for w0's client to acknowledge, then gets RH.
    const la0 = await a.create('leased.txt', { lease: { key: LEASE_A, state: 7 }, disposition: Disposition.OVERWRITE_IF })
    t.same(leaseOf(la0)?.state, 7, 'w0: RWH lease')
    const lpending = b.create('leased.txt', { lease: { key: LEASE_B, state: 7 }, disposition: Disposition.OPEN })
    t.same(leaseBreakOf(await a.nextBreak()), { epoch: 0, flags: 1, key: LEASE_A, from: 7, to: 3 }, 'w0\'s client is told RWH -> RH, for w1\'s open')
    await settle(200)
    let leaseDone = false
    void lpending.then(() => { leaseDone = true })
    await settle()
    t.notOk(leaseDone, 'w1\'s CREATE waits for the acknowledgment')
    t.equal((await a.leaseAck(LEASE_A, 3)).status, 0, 'w0 takes the acknowledgment')
    const lb1 = await lpending
    t.equal(lb1.status, 0)
    t.same(leaseOf(lb1)?.state, 3, 'w1: RH beside w0\'s lease')
    await b.write(fileIdOf(lb1), 0, Buffer.from('w1'))
    t.same(leaseBreakOf(await a.nextBreak())?.to, 0, 'a WRITE on w1 takes w0\'s RH to none')
    t.equal((await a.leaseAck(LEASE_A, 0)).status, 0)
    await a.close(fileIdOf(la0))
    await b.close(fileIdOf(lb1))

    // The same name created on both workers at once: one file, one creator.
    for (let i = 0; i < 10; i++) {
      const [x, y] = await Promise.all([a.create(`new${i}.txt`, { disposition: Disposition.CREATE }), b.create(`new${i}.txt`, { disposition: Disposition.CREATE })])
      t.same([x.status, y.status].sort(), [0, COLLISION].sort(), `new${i}.txt (CREATE): one created it, the other collided`)
      for (const z of [x, y]) if (z.status === 0) await (z === x ? a : b).close(fileIdOf(z))
      const [p, q] = await Promise.all([a.create(`both${i}.txt`, { disposition: Disposition.OPEN_IF }), b.create(`both${i}.txt`, { disposition: Disposition.OPEN_IF })])
      t.same([p.status, q.status], [0, 0], `both${i}.txt (OPEN_IF): both opened it`)
      t.equal([p, q].filter(z => z.body.readUInt32LE(4) === CREATED).length, 1, 'and exactly one created it')
      await a.close(fileIdOf(p))
      await b.close(fileIdOf(q))
    }

    // Byte-range locks: w0's exclusive lock refuses w1's read and lock; w1's lock that waits
    // (STATUS_PENDING) is granted when w0's client unlocks.
    writeFileSync(join(r.ts.share, 'ranges.bin'), Buffer.alloc(100, 7))
    const la = fileIdOf(await a.create('ranges.bin', { share: 7, disposition: Disposition.OPEN }))
    const lb = fileIdOf(await b.create('ranges.bin', { share: 7, disposition: Disposition.OPEN }))
    t.equal((await a.lock(la, [{ off: 10, len: 10, flags: LockFlag.EXCLUSIVE | LockFlag.FAIL_IMMEDIATELY }])).status, 0)
    t.equal((await b.read(lb, 15, 1)).status, FILE_LOCK_CONFLICT, 'w1: a READ inside w0\'s lock gets FILE_LOCK_CONFLICT')
    t.equal((await b.lock(lb, [{ off: 19, len: 5, flags: LockFlag.SHARED | LockFlag.FAIL_IMMEDIATELY }])).status, LOCK_NOT_GRANTED, 'w1: an overlapping lock is not granted')
    const waits = b.lock(lb, [{ off: 12, len: 1, flags: LockFlag.EXCLUSIVE }])
    await settle()
    t.equal(b.interims.length, 3, 'w1\'s LOCK that waits answered STATUS_PENDING (after the CREATEs that waited for a break and a lease break)')
    t.equal((await a.lock(la, [{ off: 10, len: 10, flags: LockFlag.UNLOCK }])).status, 0)
    t.equal((await waits).status, 0, 'and is granted once w0\'s client unlocked')
    t.equal((await a.write(la, 12, Buffer.from('x'))).status, FILE_LOCK_CONFLICT, 'now w0 cannot write under w1\'s lock')
    await b.close(lb)
    t.equal((await a.write(la, 12, Buffer.from('x'))).status, 0, 'w1\'s close released it')
    await a.close(la)
  })
}

t.test('--workers 2: a worker killed while it holds an open that shares nothing', { skip }, async (t) => {
  const r = await start(t)
  const a = await clientOn(r, 0)
  const b = await clientOn(r, 1)
  t.teardown(() => { a.end(); b.end() })
  writeFileSync(join(r.ts.share, 'held.txt'), 'held')
  const held = await a.create('held.txt', { share: 0, disposition: Disposition.OPEN, oplock: Oplock.BATCH })
  t.equal(held.status, 0)
  // The conflicting open breaks the batch oplock first (its holder might close), then fails.
  const refused = b.create('held.txt', { disposition: Disposition.OPEN })
  t.equal((await a.nextBreak()).oplockLevel, Oplock.II, 'w1\'s open breaks w0\'s batch oplock')
  await a.ack(fileIdOf(held), Oplock.II)
  t.equal((await refused).status, SHARING_VIOLATION, 'and fails on the share mode once acknowledged')

  // A transfer by another client of w1 runs while w0 dies.
  const c = await clientOn(r, 1)
  t.teardown(() => { c.end() })
  const data = randomBytes(4 * 1024 * 1024)
  const wf = await c.open('transfer.bin', { disposition: Disposition.OVERWRITE_IF })
  const transfer = (async () => {
    for (let off = 0; off < data.length; off += 65536) {
      const w = await c.write(wf, off, data.subarray(off, off + 65536))
      if (w.status !== 0) throw new Error(`write at ${off}: 0x${w.status.toString(16)}`)
    }
  })()
  const w0pid = Number((await r.srv.waitFor(/\[sup\] info worker w0 ready \(pid (\d+)/))[1])
  const from = r.srv.logs.length
  process.kill(w0pid, 'SIGKILL')
  await r.srv.waitFor(/\[sup\] warn worker w0 .*was killed by SIGKILL/, 10_000, from)
  const t0 = Date.now()
  let status = -1
  while (Date.now() - t0 < 5000) {
    const o = await b.create('held.txt', { disposition: Disposition.OPEN, access: Access.GENERIC_READ })
    status = o.status
    if (status === 0) { await b.close(fileIdOf(o)); break }
    await settle(50)
  }
  t.equal(status, 0, `w1's client opens the file the dead worker held, ${Date.now() - t0} ms after the kill`)
  // The other worker's next update of the file dropped w0's entry already; the supervisor's sweep
  // releases the rest (it may log after that open).
  t.ok(await r.srv.waitFor(/\[sup\] info locking store: \d+ records held by w0 generation 1 released/, 5000, from), 'the supervisor released what w0 held')
  await transfer
  await c.close(wf)
  t.ok(readFileSync(join(r.ts.share, 'transfer.bin')).equals(data), 'w1\'s transfer completed intact')

  // The killed worker's client reconnects (its slot's next generation) and carries on.
  await r.srv.waitFor(/\[sup\] info worker w0 ready \(pid \d+, generation 2/, 15_000, from)
  const again = await clientOn(r, 0)
  t.teardown(() => { again.end() })
  const o = await again.create('held.txt', { share: 0, disposition: Disposition.OPEN })
  t.equal(o.status, 0, 'w0\'s new generation opens the file, sharing nothing')
  t.equal(readData(await again.read(fileIdOf(o), 0, 10)).toString(), 'held')
  t.equal((await b.create('held.txt', { disposition: Disposition.OPEN })).status, SHARING_VIOLATION, 'and w1 sees that open')
  await again.close(fileIdOf(o))
})

t.test('--workers 2: max connections holds for both workers together', { skip }, async (t) => {
  const r = await start(t, [], ['max connections = 3'])
  const held = [await clientOn(r, 0), await clientOn(r, 1)]
  t.teardown(() => { for (const c of held) c.end() })
  // clientOn may have opened and ended others on the way; their slots are free again.
  const third = await clientOn(r, 0)
  held.push(third)
  t.equal((await third.echo()).status, 0, 'three connections, on two workers, are served')
  for (const w of [0, 1]) {
    const from = r.srv.logs.length
    const src = `127.0.9.${w + 2}`
    const c = await TcpClient.open(r.port, '127.0.0.1', src)
    t.ok(await c.closedWithin(5000), `a fourth (from ${src}) is closed at once`)
    await r.srv.waitFor(/refused: max connections \(3\) reached/, 5000, from)
  }
  held.pop()!.end()
  await settle(300)
  const again = await TcpClient.open(r.port, '127.0.0.1', '127.0.9.9')
  t.teardown(() => { again.end() })
  await again.connect()
  t.equal((await again.echo()).status, 0, 'one closed: the next is served, whichever worker takes it')
})
