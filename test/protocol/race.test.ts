// Requests on one open processed concurrently (the transport does not wait for one PDU before
// handling the next): a CLOSE must not pull the fd from under a READ still running on it.
//
// Backend: posix. The danger is a descriptor closed and reused while a read runs on the thread
// pool; the memory backend has neither.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command, closeBody, createBody, Disposition, fileIdOf, MemClient, memServer, parseResponses, readBody, readData } from '../helpers/mem-client.js'

t.test('a READ racing a CLOSE never returns another file\'s bytes', async (t) => {
  const srv = memServer({ backend: 'posix' })
  t.teardown(srv.cleanup)
  writeFileSync(join(srv.share, 'a.bin'), Buffer.alloc(1 << 20, 0x61))
  writeFileSync(join(srv.share, 'b.bin'), Buffer.alloc(1 << 20, 0x62))
  const c = await new MemClient(srv.state).connect()
  for (let i = 0; i < 20; i++) await c.echo()
  let leaks = 0; const outcomes = new Map<string, number>()
  for (let i = 0; i < 200; i++) {
    const fa = await c.open('a.bin', { access: 0x80000000, disposition: Disposition.OPEN })
    const before = c.sent.length
    await Promise.all([
      c.conn.handlePdu(c.message({ cmd: Command.READ, body: readBody(fa, 0, 1 << 20), creditCharge: 16 })),
      c.conn.handlePdu(c.message({ cmd: Command.CLOSE, body: closeBody(fa) })),
      c.conn.handlePdu(c.message({ cmd: Command.CREATE, body: createBody('b.bin', { access: 0x80000000, disposition: Disposition.OPEN }) })),
    ])
    const rs = c.sent.slice(before).flatMap(parseResponses)
    const rr = rs.find(x => x.hdr.command === Command.READ)!
    const key = `0x${rr.status.toString(16)}`
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    if (rr.status === 0 && readData(rr).some(b => b !== 0x61)) leaks++
    const ob = rs.find(x => x.hdr.command === Command.CREATE)!
    if (ob.status === 0) await c.close(fileIdOf(ob))
  }
  t.comment(JSON.stringify([...outcomes]))
  t.equal(leaks, 0, 'no bytes of b.bin in a READ of a.bin')
  t.notOk(outcomes.has('0xc0000008'), 'no READ ran on a closed fd (STATUS_INVALID_HANDLE)')
})
