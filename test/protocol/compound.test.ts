// Compound requests (MS-SMB2 3.3.5.2.7) and credits (3.3.1.2, 3.3.5.2.3, 3.3.5.2.5) through the
// whole server in memory.
//
// Backend: memory (the default); nothing here depends on a file system.
import t from 'tap'
import {
  ALL_ONES_FID, closeBody, Command, createBody, Disposition, fileIdOf, MemClient, memServer, readBody, readData,
  smallBody, Status, writeBody,
} from '../helpers/mem-client.js'

t.test('related CREATE+WRITE+READ+CLOSE with FileId all-ones', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const signAll of [false, true]) {
    const c = await new MemClient(srv.state).connect({ signAll })
    const name = `c-${String(signAll)}.txt`
    const data = Buffer.from('compound data!')
    const rs = await c.send(
      { cmd: Command.CREATE, body: createBody(name, { disposition: Disposition.CREATE }) },
      { cmd: Command.WRITE, body: writeBody(ALL_ONES_FID, 0, data), related: true },
      { cmd: Command.READ, body: readBody(ALL_ONES_FID, 0, 100), related: true },
      { cmd: Command.CLOSE, body: closeBody(ALL_ONES_FID), related: true }
    )
    t.equal(rs.length, 4, 'four responses in one PDU')
    t.same(rs.map(r => r.status), [0, 0, 0, 0], `all succeed (signed: ${String(signAll)})`)
    t.same(rs.map(r => r.hdr.command), [Command.CREATE, Command.WRITE, Command.READ, Command.CLOSE])
    t.same(readData(rs[2]), data, 'READ in the chain sees the WRITE')
    for (let i = 0; i < 3; i++) {
      t.equal(rs[i].hdr.nextCommand % 8, 0, 'NextCommand 8-aligned')
      t.equal(rs[i].msg.length, rs[i].hdr.nextCommand, 'padded message')
    }
    t.equal(rs[3].hdr.nextCommand, 0, 'last NextCommand 0')
    for (const r of rs.slice(1)) t.ok(r.hdr.flags & 0x4, 'responses to related requests are marked related')
    if (signAll) for (const r of rs) t.ok(c.verify(r), 'each response of the chain verifies')
    t.same(srv.files.read(`${name}`), data)
    t.equal(srv.state.sessions.get(c.sessionId)!.opens.size, 0, 'the CLOSE closed the created file')
  }
})

t.test('a related chain after a failed CREATE: every later response carries the failure', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const rs = await c.send(
    { cmd: Command.CREATE, body: createBody('missing.txt', { disposition: Disposition.OPEN }) },
    { cmd: Command.WRITE, body: writeBody(ALL_ONES_FID, 0, Buffer.from('x')), related: true },
    { cmd: Command.READ, body: readBody(ALL_ONES_FID, 0, 10), related: true },
    { cmd: Command.CLOSE, body: closeBody(ALL_ONES_FID), related: true }
  )
  t.same(rs.map(r => r.status), Array(4).fill(Status.OBJECT_NAME_NOT_FOUND))
  for (const r of rs) t.equal(r.body.readUInt16LE(0), 9, 'error body')
  t.notOk(c.closed)
})

t.test('unrelated compound: each request stands alone', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('u.txt', { disposition: Disposition.CREATE })
  const rs = await c.send(
    { cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.from('abc')) },
    { cmd: Command.CREATE, body: createBody('nope', { disposition: Disposition.OPEN }) },
    { cmd: Command.READ, body: readBody(fid, 0, 3) },
    { cmd: Command.ECHO, body: smallBody() }
  )
  t.same(rs.map(r => r.status), [0, Status.OBJECT_NAME_NOT_FOUND, 0, 0], 'a failure does not spread')
  t.equal(readData(rs[2]).toString(), 'abc')
  for (const r of rs.slice(0, 3)) t.equal(r.hdr.flags & 0x4, 0, 'not marked related')
  // FileId all-ones in an unrelated request is not "the previous file"
  const [r] = await c.send({ cmd: Command.READ, body: readBody(ALL_ONES_FID, 0, 3) })
  t.equal(r.status, Status.FILE_CLOSED)
  // the first request of a chain cannot be related
  const rs2 = await c.send(
    { cmd: Command.READ, body: readBody(fid, 0, 3), related: true, sessionId: c.sessionId, treeId: c.treeId },
    { cmd: Command.ECHO, body: smallBody() }
  )
  t.equal(rs2[0].status, Status.INVALID_PARAMETER, 'related first request refused')
  t.notOk(c.closed)
})

t.test('a related CREATE in the middle: later requests use its FileId', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const rs = await c.send(
    { cmd: Command.CREATE, body: createBody('one.txt', { disposition: Disposition.CREATE }) },
    { cmd: Command.CLOSE, body: closeBody(ALL_ONES_FID), related: true },
    { cmd: Command.CREATE, body: createBody('two.txt', { disposition: Disposition.CREATE }), related: true },
    { cmd: Command.WRITE, body: writeBody(ALL_ONES_FID, 0, Buffer.from('2')), related: true },
    { cmd: Command.CLOSE, body: closeBody(ALL_ONES_FID), related: true }
  )
  t.same(rs.map(r => r.status), [0, 0, 0, 0, 0])
  t.not(fileIdOf(rs[0]).volatile, fileIdOf(rs[2]).volatile)
  t.equal(srv.files.read('two.txt').toString(), '2')
  t.equal(srv.files.read('one.txt').toString(), '')
})

t.test('credits: grants accumulate up to the limit', async (t) => {
  const srv = memServer({ global: ['smb2 max credits = 64'] })
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  const n = await c.request({ cmd: Command.NEGOTIATE, body: (await import('../helpers/mem-client.js')).negotiateBody({ dialects: [0x0300] }), creditRequest: 10 })
  t.equal(n.credits, 10, 'asked 10, got 10')
  let held = 10
  const grants: number[] = []
  for (let i = 0; i < 10; i++) {
    const r = await c.request({ cmd: Command.ECHO, body: smallBody(), creditRequest: 20 })
    held = held - 1 + r.credits
    grants.push(r.credits)
    t.ok(held <= 64, `held ${held} <= 64`)
  }
  t.equal(held, 64, 'reaches the limit')
  t.equal(grants[grants.length - 1], 1, 'at the limit only the spent credit comes back')
  t.equal(srv.state.config.global.maxCredits, 64)
  // asking for 0 still grants 1 when the client would otherwise run dry
  const c2 = new MemClient(srv.state)
  const r0 = await c2.request({ cmd: Command.NEGOTIATE, body: (await import('../helpers/mem-client.js')).negotiateBody({ dialects: [0x0300] }), creditRequest: 0 })
  t.equal(r0.credits, 1)
})

t.test('credits: a reused or out-of-window MessageId closes the connection', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const reuse = await new MemClient(srv.state).connect()
  const mid = reuse.nextMid - 1n
  t.same(await reuse.raw(reuse.message({ cmd: Command.ECHO, body: smallBody(), messageId: mid })), [], 'no answer')
  t.ok(reuse.closed, 'reused MessageId closes')

  const ahead = await new MemClient(srv.state).connect()
  t.same(await ahead.raw(ahead.message({ cmd: Command.ECHO, body: smallBody(), messageId: ahead.nextMid + 100000n })), [])
  t.ok(ahead.closed, 'MessageId beyond the granted window closes')

  // before any grant the window is one id wide: MessageId 1 first is outside it
  const early = new MemClient(srv.state)
  early.nextMid = 1n
  t.same(await early.raw(early.message({ cmd: Command.NEGOTIATE, body: (await import('../helpers/mem-client.js')).negotiateBody({ dialects: [0x0300] }) })), [])
  t.ok(early.closed)

  // out-of-order inside the window is fine
  const ooo = await new MemClient(srv.state).connect()
  const base = ooo.nextMid
  t.equal((await ooo.request({ cmd: Command.ECHO, body: smallBody(), messageId: base + 2n })).status, 0)
  t.equal((await ooo.request({ cmd: Command.ECHO, body: smallBody(), messageId: base })).status, 0)
  t.equal((await ooo.request({ cmd: Command.ECHO, body: smallBody(), messageId: base + 1n })).status, 0)
  t.notOk(ooo.closed)
})

t.test('credits: multi-credit READ/WRITE need enough CreditCharge', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect({ dialect: 0x0311 })
  // gather credits
  for (let i = 0; i < 4; i++) await c.request({ cmd: Command.ECHO, body: smallBody(), creditRequest: 64 })
  const fid = await c.open('big.bin', { disposition: Disposition.CREATE })
  const big = Buffer.alloc(200 * 1024, 0x61)
  t.equal((await c.write(fid, 0, big, 1)).status, Status.INVALID_PARAMETER, '200 KiB WRITE with CreditCharge 1')
  t.equal((await c.write(fid, 0, big, 3)).status, Status.INVALID_PARAMETER, 'CreditCharge 3 < 4')
  const w = await c.write(fid, 0, big, 4)
  t.equal(w.status, 0, 'CreditCharge 4 is enough')
  t.equal(w.body.readUInt32LE(4), big.length)
  t.equal((await c.read(fid, 0, big.length, 2)).status, Status.INVALID_PARAMETER, 'READ undercharged')
  const r = await c.read(fid, 0, big.length, 4)
  t.equal(r.status, 0)
  t.same(readData(r), big)
  t.equal(r.hdr.creditCharge, 4, 'the response echoes the charge')
  t.notOk(c.closed)

  // 2.0.2 has no multi-credit: sizes over 64 KiB are refused outright
  const old = await new MemClient(srv.state).connect({ dialect: 0x0202 })
  const f2 = await old.open('old.bin', { disposition: Disposition.CREATE })
  t.equal((await old.write(f2, 0, Buffer.alloc(70000), 1)).status, Status.INVALID_PARAMETER, '> MaxWriteSize on 2.0.2')
  t.equal((await old.write(f2, 0, Buffer.alloc(65536), 1)).status, 0, '64 KiB is fine')
})
