// src/transport/handoff.ts between two workers in one process (each its own Messenger and
// hand-over socket in one run directory): a TCP connection's fd and the bytes read from it reach
// the other worker, which talks to the client over it after the sender closed its own fd; a
// worker without a socket is a failure the sender is told, never an exception.
import t from 'tap'
import net from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nativeAvailable, native } from '../../../src/io/native.js'
import { Messenger } from '../../../src/transport/messenger.js'
import { formatGuid, Handoff, type Adoption } from '../../../src/transport/handoff.js'
import { silentLogger } from '../../../src/control/log.js'
import { socketFd } from '../../../src/transport/tcp.js'

t.test('formatGuid: the usual text form, first three fields little-endian', async (t) => {
  t.equal(formatGuid('00112233445566778899aabbccddeeff'), '33221100-5544-7766-8899-aabbccddeeff')
  t.equal(formatGuid('nothex'), 'nothex')
})

t.test('a connection handed from one worker to another, with its bytes', { skip: !nativeAvailable && 'the native addon is not built' }, async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'smbts-handoff-'))
  t.teardown(() => { rmSync(runDir, { recursive: true, force: true }) })
  const m0 = await Messenger.listen({ runDir, slot: 0 })
  const m1 = await Messenger.listen({ runDir, slot: 1 })
  // Registered first: a hand-over socket that cannot open must not leave the messengers running.
  t.teardown(async () => { await m0.close(); await m1.close() })
  const h0 = Handoff.open({ runDir, slot: 0, generation: 3, messenger: m0, log: silentLogger })
  const h1 = Handoff.open({ runDir, slot: 1, generation: 5, messenger: m1, log: silentLogger })
  t.teardown(() => { h0.close(); h1.close() })

  // A client and the server side of its connection (w0's).
  const server = net.createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { server.close() })
  const accepted = new Promise<net.Socket>((resolve) => { server.once('connection', resolve) })
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  t.teardown(() => { client.destroy() })
  const theirs = await accepted
  theirs.pause()

  const adopted = new Promise<Adoption>((resolve) => { h1.onAdopt = resolve })
  const meta = { guid: 'ab'.repeat(16), remote: 'client:1', addr: '127.0.0.1', ip: false, smb1: false }
  t.equal(h0.send({ w: 1, g: 5 }, socketFd(theirs)!, meta, Buffer.from('already read')), undefined, 'sent')
  theirs.destroy() // the sender's fd closes; the connection lives on in the peer's
  const a = await adopted
  t.same(a.meta, { ...meta, from: 0, fromGen: 3, to: 1, toGen: 5 }, 'the meta arrived')
  t.equal(a.bytes.toString(), 'already read', 'and the bytes')
  t.equal(a.countsMoved, true, 'sent to this generation: the counts are here')

  const adoptedSock = new net.Socket({ fd: a.fd, readable: true, writable: true })
  t.teardown(() => { adoptedSock.destroy() })
  const got = new Promise<string>((resolve) => { adoptedSock.once('data', (d) => { resolve(d.toString()) }) })
  client.write('after')
  t.equal(await got, 'after', 'the adopter reads what the client sends next')
  const back = new Promise<string>((resolve) => { client.once('data', (d) => { resolve(d.toString()) }) })
  adoptedSock.write('reply')
  t.equal(await back, 'reply', 'and the client reads its replies')

  t.equal(h1.send({ w: 1, g: 4 }, a.fd, meta, Buffer.alloc(0)) === undefined, true, 'to itself works at the socket level')
  const self = await new Promise<Adoption>((resolve) => { h1.onAdopt = resolve })
  t.equal(self.countsMoved, false, 'an earlier generation of the slot: counts not moved here')
  native.closeNow(self.fd)
  t.match(h0.send({ w: 7, g: 1 }, a.fd, meta, Buffer.alloc(0)), /ENOENT/, 'no such worker: said, not thrown')
  t.match(h0.send({ w: 1, g: 5 }, a.fd, meta, Buffer.alloc(70 * 1024)), /more than a hand-over carries/, 'too many bytes: said')
})
