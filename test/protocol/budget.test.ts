// The per-connection budget of requests in flight (MAX_CHARGE_IN_FLIGHT credits) and the
// send-blocked state, in memory: over the budget PDUs wait, in order, `accepting` turns false so
// the transport stops reading, and `io.resume` says when to read again. Nothing is lost.
//
// Backend: memory (the default); nothing here depends on a file system.
import t, { type Test } from 'tap'
import { Command, Disposition, MemClient, memServer, parseResponses, readBody, readData, smallBody } from '../helpers/mem-client.js'
import { MAX_CHARGE_IN_FLIGHT } from '../../src/smb2/connection.js'

const MiB = 1024 * 1024

async function setup (t: Test): Promise<{ c: MemClient, resumes: () => number, fid: { persistent: bigint, volatile: bigint } }> {
  const srv = memServer()
  t.teardown(srv.cleanup)
  srv.files.write('f.bin', Buffer.alloc(MiB, 0x61))
  const c = await new MemClient(srv.state).connect()
  let n = 0
  Object.assign(c.conn.io, { resume: () => { n++ } })
  for (let i = 0; i < 3; i++) await c.request({ cmd: Command.ECHO, body: smallBody(), creditRequest: 1000 })
  const fid = await c.open('f.bin', { access: 0x80000000, disposition: Disposition.OPEN })
  return { c, resumes: () => n, fid }
}

t.test('over the budget PDUs wait in order, the connection stops accepting, then resumes', async (t) => {
  const { c, resumes, fid } = await setup(t)
  t.ok(c.conn.accepting, 'accepting at rest')
  const reads = MAX_CHARGE_IN_FLIGHT / 16 + 8 // 8 more 1 MiB READs than the budget holds
  const before = c.sent.length
  const done: Array<Promise<void>> = []
  for (let i = 0; i < reads; i++) done.push(c.conn.handlePdu(c.message({ cmd: Command.READ, body: readBody(fid, 0, MiB), creditCharge: 16, creditRequest: 16 })))
  t.notOk(c.conn.accepting, 'not accepting once the budget is spent')
  // An ECHO sent now waits behind them, even though it is tiny: order is kept.
  const echoMid = c.nextMid
  done.push(c.conn.handlePdu(c.message({ cmd: Command.ECHO, body: smallBody() })))
  await Promise.all(done)
  t.ok(c.conn.accepting, 'accepting again once they are done')
  t.ok(resumes() >= 1, 'and the transport was told to read again')
  const rs = c.sent.slice(before).flatMap(parseResponses)
  t.equal(rs.length, reads + 1, 'every request answered')
  t.ok(rs.filter(r => r.hdr.command === Command.READ).every(r => r.status === 0 && readData(r).length === MiB && readData(r).every(b => b === 0x61)), 'every READ intact')
  const echo = rs.findIndex(r => r.hdr.messageId === echoMid)
  // The ECHO queued behind 8 waiting READs: it could start only once 8 READs had been answered
  // (each frees its 16 credits when its response is sent) and those 8 had started.
  t.ok(echo >= 8, `the ECHO waited its turn (answered ${echo + 1}th)`)
})

t.test('while replies are blocked on the transport no new PDU starts', async (t) => {
  const { c, fid } = await setup(t)
  c.conn.setSendBlocked(true)
  t.notOk(c.conn.accepting, 'not accepting while the transport is blocked')
  const before = c.sent.length
  const p = c.conn.handlePdu(c.message({ cmd: Command.READ, body: readBody(fid, 0, 4096) }))
  await new Promise((resolve) => { setTimeout(resolve, 200) })
  t.equal(c.sent.length, before, 'the READ has not run')
  c.conn.setSendBlocked(false)
  await p
  t.equal(c.sent.length, before + 1, 'it runs once the transport drains')
  t.ok(c.conn.accepting)
})

t.test('a connection closed with PDUs waiting resolves them, runs none', async (t) => {
  const { c, fid } = await setup(t)
  c.conn.setSendBlocked(true)
  const before = c.sent.length
  const waiting = [0, 1, 2].map(() => c.conn.handlePdu(c.message({ cmd: Command.READ, body: readBody(fid, 0, 4096) })))
  c.conn.close('test')
  await Promise.all(waiting)
  t.equal(c.sent.length, before, 'nothing ran after the close')
})
