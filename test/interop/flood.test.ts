// Hostile input, second pass (issue 20), against a live server over TCP on the transport under
// test (io_uring, node:net with SMBTS_TEST_TRANSPORT=net, workers with SMBTS_TEST_WORKERS=2):
// a NEGOTIATE with no dialect the server speaks is refused and the connection ends; a flood of
// 500 connections that never authenticate (half of them after NEGOTIATE), from the client's own
// address or from ten others, does not lock a real client out at the default limits (`max ip
// connections` 64, `max connections` 128), nor cost the authenticated connections already in.
// File descriptors: the test holds 500 sockets, and an in-process server at most its limit of
// them (the rest it closes), well under the usual 1024; the flood's sockets close at teardown.
import t, { type Test } from 'tap'
import type net from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startLive, smbclient, type LiveServer } from '../helpers/live.js'
import { negotiateBody, parseResponses, Status } from '../helpers/mem-client.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { closedWithin, connect, frame } from '../helpers/raw-socket.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** The first Direct-TCP message the server sends on `s`, or undefined once it closes. */
function firstReply (s: net.Socket, ms: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => { resolve(undefined) }, ms)
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (buf.length >= 4 && buf.length >= 4 + (buf.readUInt32BE(0) & 0xffffff)) { clearTimeout(timer); resolve(buf.subarray(4, 4 + (buf.readUInt32BE(0) & 0xffffff))) }
    })
    s.once('close', () => { clearTimeout(timer); resolve(undefined) })
    s.once('error', () => {})
  })
}

let live: LiveServer
t.before(async () => {
  // The defaults (max connections 128); a handshake timeout longer than the test, so that only
  // the limit, not the timer, decides what the flood keeps.
  live = await startLive({ global: ['handshake timeout = 120'] })
})
t.teardown(async () => { await live.stop() })

t.test('NEGOTIATE with only unknown dialects: STATUS_NOT_SUPPORTED, then the server closes the connection', async t => {
  for (const dialects of [[0x0001, 0x0299, 0x0312, 0xffff], [0x02ff], Array.from({ length: 1000 }, (_, i) => 0x0400 + i)]) {
    const s = await connect(live.port)
    const reply = firstReply(s, 3000)
    s.write(frame(0, 0n, negotiateBody({ dialects })))
    const pdu = await reply
    t.ok(pdu, `${dialects.length} unknown dialect(s): answered`)
    if (pdu !== undefined) t.equal(parseResponses(pdu)[0].status, Status.NOT_SUPPORTED, 'STATUS_NOT_SUPPORTED')
    t.ok(await closedWithin(s, 3000), 'and the connection ends')
  }
  // One known dialect among unknown ones is selected.
  const s = await connect(live.port)
  const reply = firstReply(s, 3000)
  s.write(frame(0, 0n, negotiateBody({ dialects: [0x0001, 0x0299, 0x0300, 0x0312, 0x02ff] })))
  const pdu = await reply
  t.ok(pdu)
  if (pdu !== undefined) {
    const [r] = parseResponses(pdu)
    t.equal(r.status, 0)
    t.equal(r.body.readUInt16LE(4), 0x0300, '3.0 selected')
  }
  t.notOk(await closedWithin(s, 500), 'the connection stays')
  s.destroy()
})

t.test('NEGOTIATE whose pre-auth integrity SaltLength runs past its DataLength: STATUS_INVALID_PARAMETER', async t => {
  const pre = Buffer.alloc(6 + 32)
  pre.writeUInt16LE(1, 0) // HashAlgorithmCount
  pre.writeUInt16LE(33, 2) // SaltLength: one byte more than present
  pre.writeUInt16LE(1, 4) // SHA-512
  const s = await connect(live.port)
  const reply = firstReply(s, 3000)
  s.write(frame(0, 0n, negotiateBody({ dialects: [0x0311], contexts: [{ type: 1, data: pre }] })))
  const pdu = await reply
  t.ok(pdu, 'answered')
  if (pdu !== undefined) t.equal(parseResponses(pdu)[0].status, Status.INVALID_PARAMETER, 'STATUS_INVALID_PARAMETER')
  s.destroy()
})

/**
 * 500 sockets from `sources` (in turn), every other one after a NEGOTIATE, none authenticating,
 * all held by the test; with authenticated clients inside before the flood, smbclient (from
 * 127.0.0.1) lists and reads a file while they are held. `limit` is the log line of the limit hit.
 */
async function floodThenRealClient (t: Test, tag: string, sources: string[], limit: RegExp, kept: number): Promise<void> {
  // Authenticated clients inside the limit before the flood: they are never dropped for it.
  const inside: TcpClient[] = []
  t.teardown(() => { for (const c of inside) c.end() })
  for (let i = 0; i < 4; i++) {
    const c = await TcpClient.open(live.port)
    inside.push(c)
    await c.connect()
  }
  const data = randomBytes(1024 * 1024 + 7)
  writeFileSync(join(live.share, `flood-${tag}.bin`), data)

  const flood: net.Socket[] = []
  t.teardown(() => { for (const s of flood) s.destroy() })
  let closedByServer = 0
  const from = live.logs.length
  for (let i = 0; i < 500; i++) {
    const s = await connect(live.port, sources[i % sources.length])
    s.on('error', () => {})
    s.on('close', () => { closedByServer++ })
    s.resume()
    if (i % 2 === 1) s.write(frame(0, 0n, negotiateBody({ dialects: [0x0202, 0x0210, 0x0300, 0x0302, 0x0311] })))
    flood.push(s)
  }
  // At its limit the server drops the flood's oldest connections for its newest.
  t.ok(await live.logged(limit, { ms: 10_000, from }), 'the log says which connection was dropped, for whom, and why')

  const t0 = Date.now()
  const r = await smbclient(live, `ls; lcd ${live.root}; get flood-${tag}.bin flood-${tag}.back`, { protocol: 'SMB3_11' })
  const took = Date.now() - t0
  t.equal(r.code, 0, `smbclient lists and reads while the flood is held: ${r.stderr.slice(0, 300)}`)
  t.match(r.stdout, new RegExp(`flood-${tag}\\.bin`), 'the listing names the file')
  t.equal(sha(readFileSync(join(live.root, `flood-${tag}.back`))), sha(data), 'the file read back intact')
  t.ok(took < 10_000, `within a few seconds (${took} ms)`)
  t.comment(`smbclient took ${took} ms with 500 flood sockets held; the server had closed ${closedByServer} of them`)
  // The server may still be taking the flood's last connections from its accept queue (with
  // workers, a worker with nothing to drop asks the other): each one it takes drops another.
  for (let i = 0; i < 200; i++) {
    if (closedByServer >= 500 - kept) break
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.ok(closedByServer >= 500 - kept, `the server dropped the flood's surplus (${closedByServer} closed)`)

  // The authenticated connections were never dropped, and still work.
  for (const [i, c] of inside.entries()) {
    t.notOk(c.dead, `authenticated client ${i} still connected`)
    t.equal((await c.echo()).status, 0, `authenticated client ${i} still answered`)
  }
  const again = await smbclient(live, 'ls', { protocol: 'SMB3_11' })
  t.equal(again.code, 0, 'a second real client gets in too')
  for (const s of flood) s.destroy()
}

t.test('500 unauthenticated connections from the client\'s own address: it still lists and reads a file within seconds', async t => {
  // The address's limit (max ip connections, 64 by default) is hit first: its own idle ones go.
  await floodThenRealClient(t, 'same', ['127.0.0.1'], /not authenticated, idle [\d.]+ s\) dropped to admit 127\.0\.0\.1:\d+: max ip connections \(64\) reached for 127\.0\.0\.1/, 64)
})

t.test('500 unauthenticated connections from ten other addresses: a real client still lists and reads a file within seconds', async t => {
  // 50 per address, under the per-address limit: max connections (128) is hit. With workers the
  // addresses meet both workers, and a worker with nothing to drop asks the other (evict.ts).
  const sources = Array.from({ length: 10 }, (_, i) => `127.0.0.${20 + i}`)
  await floodThenRealClient(t, 'many', sources, /not authenticated, idle [\d.]+ s\) dropped to admit .*max connections \(128\) reached/, 128)
})
