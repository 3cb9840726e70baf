// READ on the io_uring fast path, unsigned and unencrypted, is one kernel chain. Up to 128 KiB:
// the file read linked to the sendmsg of the response (ConnectionIo.sendAfterRead). From 128 KiB:
// the file's pages spliced into pipes, then the response's head and the pipes' contents sent
// (splice-pipes.ts), so the data is never copied by the server. Either response is built for the
// whole length before the data is known; a short or failed read sends nothing and the server
// answers from what the file really gave. Checked on a live server: the ring's linked pairs and
// spliced chains move, every reply carries exactly its bytes, EOF and MinimumCount are answered
// as without the chain, signed sessions read first (no chain), and no pooled buffer is left lent.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inProcessOnly, startLive } from '../helpers/live.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { chargeFor, closeBody, Command, Disposition, fileIdOf, readBody, smallBody, type FileId, type Resp } from '../helpers/mem-client.js'
import { ringUnavailableReason } from '../../src/io/ring.js'
import { ConnectionTimers } from '../../src/transport/guard.js'
import { until } from '../helpers/until.js'

const KiB = 1024
const noRing = await ringUnavailableReason()
const skip = inProcessOnly('its ring counters and read buffer pool') || (noRing ?? false)
const SIZE = 3 * 1024 * KiB + 100
const data = randomBytes(SIZE)
const END_OF_FILE = 0xc0000011

function dataOf (r: Resp | undefined): Buffer | undefined {
  if (r === undefined || r.status !== 0) return undefined
  const off = r.body[2] - 64
  return r.body.subarray(off, off + r.body.readUInt32LE(4))
}

/** The pool's lent count once the server has had time to see its last completions. */
async function lentAfterQuiet (pool: { lent: number }): Promise<number> {
  for (let i = 0; i < 50 && pool.lent > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  return pool.lent
}

const read = (fid: FileId, off: number, len: number, min = 0) =>
  ({ cmd: Command.READ, body: readBody(fid, off, len, min), creditCharge: chargeFor(len), creditRequest: 32 })

/** A client of `live` with f.bin open for reading, and credits for many large READs at once (each 1 MiB charges 16). */
async function readerOf (t: Test, live: { port: number }): Promise<{ c: TcpClient, fid: FileId }> {
  const c = await TcpClient.open(live.port)
  t.teardown(() => { c.end() })
  await c.connect({ dialect: 0x0311 })
  const fid = await c.open('f.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
  for (let i = 0; i < 2; i++) await c.request({ cmd: Command.ECHO, body: smallBody(), creditRequest: 200 })
  return { c, fid }
}

t.test('linked READs on the ring', { skip }, async (t) => {
  const live = await startLive({ useUring: true })
  t.teardown(async () => { await live.stop() })
  writeFileSync(join(live.share, 'f.bin'), data)
  const ring = live.server.ring!
  const pool = live.server.state.readBuffers

  const c = await TcpClient.open(live.port)
  t.teardown(() => { c.end() })
  await c.connect({ dialect: 0x0311 })
  const fid = await c.open('f.bin', { disposition: Disposition.OPEN, access: 0x80000000 })

  // Whole reads, pipelined: each one a linked pair, each reply its own bytes.
  const before = ring.counters()
  const offsets = Array.from({ length: 24 }, (_, i) => ((i * 7) % 24) * 128 * KiB)
  const replies = await Promise.all(c.pipeline(offsets.map((o) => read(fid, o, 64 * KiB))))
  t.equal(replies.filter((r, i) => !dataOf(r)?.equals(data.subarray(offsets[i]!, offsets[i]! + 64 * KiB))).length, 0,
    'every reply carries exactly the block asked for')
  const after = ring.counters()
  t.ok(after.links - before.links >= offsets.length, `each READ was a linked read→sendmsg (${after.links - before.links} pairs)`)

  // Larger reads, pipelined: each one spliced from the page cache (one pipe per MiB), each reply its own bytes.
  const sizes = [128 * KiB, 1024 * KiB, 1024 * KiB + 1, 3 * 1024 * KiB - 8192]
  const spliced = await Promise.all(c.pipeline(sizes.map((n, i) => read(fid, (i * 4096 + 3) % 8192, n))))
  t.equal(spliced.filter((r, i) => !dataOf(r)?.equals(data.subarray((i * 4096 + 3) % 8192, (i * 4096 + 3) % 8192 + sizes[i]!))).length, 0,
    'every spliced reply carries exactly the bytes asked for (unaligned offsets, one byte past a pipe)')
  const afterSplice = ring.counters()
  t.ok(afterSplice.spliceChains - after.spliceChains >= sizes.length, `each READ was spliced (${afterSplice.spliceChains - after.spliceChains} chains)`)
  t.equal(afterSplice.links, after.links, 'no linked read→sendmsg for them')
  t.ok(afterSplice.ops.readFixed === after.ops.readFixed && afterSplice.ops.read === after.ops.read, 'and no read into a buffer')
  // A spliced read that runs into the end of the file: nothing was sent, the reply says 100 bytes;
  // then one past the end (END_OF_FILE), and the next spliced read is whole again.
  const [shortSpliced, pastSpliced, whole] = await Promise.all(c.pipeline([
    read(fid, SIZE - 100, 512 * KiB), read(fid, SIZE + 1, 512 * KiB), read(fid, 0, 512 * KiB),
  ]))
  t.same(dataOf(shortSpliced), data.subarray(SIZE - 100), 'a short spliced read answers with the bytes there are')
  t.equal(pastSpliced?.status, END_OF_FILE, 'a spliced read past EOF: END_OF_FILE')
  t.same(dataOf(whole), data.subarray(0, 512 * KiB), 'the next spliced read is whole')
  t.ok(ring.counters().spliceChains - afterSplice.spliceChains >= 3, 'those were spliced chains too')

  // A read that runs into the end of the file: the linked send is cancelled, the reply says 100 bytes.
  const errs = ring.counters().errors
  const [short] = await Promise.all(c.pipeline([read(fid, SIZE - 100, 64 * KiB)]))
  t.same(dataOf(short), data.subarray(SIZE - 100), 'a short read answers with the bytes there are')
  t.ok(ring.counters().errors > errs, 'the link broke (its send was cancelled) and the fallback answered')
  // At or past the end, and MinimumCount not met: END_OF_FILE, as without the link.
  const [atEnd, past, notEnough, never] = await Promise.all(c.pipeline([
    read(fid, SIZE, 64 * KiB), read(fid, SIZE + 4096, 64 * KiB), read(fid, SIZE - 100, 64 * KiB, 101), read(fid, 0, 1, 2),
  ]))
  t.equal(atEnd?.status, END_OF_FILE, 'at EOF')
  t.equal(past?.status, END_OF_FILE, 'past EOF')
  t.equal(notEnough?.status, END_OF_FILE, 'fewer bytes than MinimumCount')
  t.equal(never?.status, END_OF_FILE, 'a MinimumCount above the length: END_OF_FILE even for a whole read (smb2.read.eof)')
  const [exact] = await Promise.all(c.pipeline([read(fid, SIZE - 100, 64 * KiB, 100)]))
  t.same(dataOf(exact), data.subarray(SIZE - 100), 'exactly MinimumCount is enough')

  // A CLOSE pipelined right behind READs: each READ answers with its bytes or FILE_CLOSED,
  // never anything else, and the close waits for the reads the transport holds the fd for.
  const fid2 = await c.open('f.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
  const raced = c.pipeline([read(fid2, 0, 256 * KiB), read(fid2, 256 * KiB, 256 * KiB), { cmd: Command.CLOSE, body: closeBody(fid2) }, read(fid2, 0, 4096)])
  const [r1, r2, cl, r4] = await Promise.all(raced)
  t.same(dataOf(r1), data.subarray(0, 256 * KiB))
  t.same(dataOf(r2), data.subarray(256 * KiB, 512 * KiB))
  t.equal(cl?.status, 0, 'CLOSE done')
  t.equal(r4?.status, 0xc0000128, 'a READ after the CLOSE: FILE_CLOSED')

  // A client that stops reading, then goes away with linked READs queued: nothing stays lent.
  const d = await TcpClient.open(live.port)
  await d.connect({ dialect: 0x0311 })
  const fid3 = await d.open('f.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
  d.pauseReading()
  void d.pipeline(Array.from({ length: 16 }, (_, i) => read(fid3, (i % 3) * 1024 * KiB, 1024 * KiB)))
  await new Promise((resolve) => setTimeout(resolve, 300))
  d.end()
  t.equal(await lentAfterQuiet(pool), 0, 'every pooled READ buffer went back once the connection was gone')
  // Its open is gone too (the file's close did not wait forever for a lent descriptor): the file
  // opens again with no sharing at all, after the first client's opens are closed.
  await c.close(fid)
  let exclusive = 0
  for (let i = 0; i < 50 && exclusive === 0; i++) {
    const r = await c.create('f.bin', { disposition: Disposition.OPEN, access: 0x80000000, share: 0 })
    if (r.status === 0) { exclusive = 1; await c.close(fileIdOf(r)) } else await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(exclusive, 1, 'the dropped connection\'s open was torn down (an exclusive open succeeds)')
})

t.test('a signed session reads before signing: no link, same bytes', { skip }, async (t) => {
  const live = await startLive({ useUring: true })
  t.teardown(async () => { await live.stop() })
  writeFileSync(join(live.share, 'f.bin'), data)
  const ring = live.server.ring!
  const c = await TcpClient.open(live.port)
  t.teardown(() => { c.end() })
  await c.connect({ dialect: 0x0311, signAll: true })
  const fid = await c.open('f.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
  const { links, spliceChains } = ring.counters()
  const replies = await Promise.all(c.pipeline([read(fid, 0, 1024 * KiB), read(fid, SIZE - 100, 64 * KiB)]))
  t.same(dataOf(replies[0]), data.subarray(0, 1024 * KiB))
  t.same(dataOf(replies[1]), data.subarray(SIZE - 100))
  t.equal(ring.counters().links, links, 'no linked pair for a signed response')
  t.equal(ring.counters().spliceChains, spliceChains, 'and no spliced chain')
  t.equal(await lentAfterQuiet(live.server.state.readBuffers), 0, 'nothing left lent')
})

t.test('a server stops while spliced READs wait on a client that reads nothing', { skip }, async (t) => {
  const live = await startLive({ useUring: true })
  let stopped = false
  t.teardown(async () => { if (!stopped) await live.stop() })
  writeFileSync(join(live.share, 'f.bin'), data)
  const d = await TcpClient.open(live.port)
  t.teardown(() => { d.end() })
  await d.connect({ dialect: 0x0311 })
  const fid = await d.open('f.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
  const chains = live.server.ring!.counters().spliceChains
  d.pauseReading()
  void d.pipeline(Array.from({ length: 16 }, (_, i) => read(fid, (i % 2) * 1024 * KiB, 2048 * KiB)))
  // Until the socket is full: a spliced chain waits in the kernel for the client to read.
  for (let i = 0; i < 50 && live.server.ring!.counters().spliceChains === chains; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(live.server.ring!.counters().spliceChains > chains, 'spliced chains were sent')
  const stop = live.stop().then(() => { stopped = true })
  await Promise.race([stop, new Promise((resolve) => setTimeout(resolve, 15_000).unref())])
  t.ok(stopped, 'the server stopped (the waiting splice was cancelled)')
})

t.test('a client that reads nothing while a spliced READ waits is cut after the frame timeout, and the splice ends', { skip }, async (t) => {
  // 16 MiB of replies: under HIGH_WATER, so only the spliced chain in flight arms the timer. Its
  // splice into the full socket holds an io-wq thread until the client reads or the chain is cancelled.
  const live = await startLive({ useUring: true, global: ['frame timeout = 2'] })
  t.teardown(async () => { await live.stop() })
  writeFileSync(join(live.share, 'f.bin'), data)
  const { c: d, fid } = await readerOf(t, live) // credits for all eight READs at once (each charges 32)
  const chains = live.server.ring!.counters().spliceChains
  d.pauseReading()
  void d.pipeline(Array.from({ length: 8 }, (_, i) => read(fid, (i % 2) * 1024 * KiB, 2048 * KiB)))
  t.ok(await until(() => live.server.ring!.counters().spliceChains > chains, 5_000), 'a spliced chain was sent')
  t.ok(await until(() => live.logs.some((l) => /replies not read: \d+ bytes taken in 2 s \(slow reader\); disconnecting/.test(l)), 15_000),
    'the server cuts the client, and the log says why')
  t.ok(await until(() => live.server.state.limits.count === 0, 10_000), 'the connection is gone: its chain ended (the blocked splice was cancelled)')
  d.resumeReading()
  t.ok(await d.closedWithin(10_000), 'the client finds itself disconnected')
  const c = await TcpClient.open(live.port)
  t.teardown(() => { c.end() })
  await c.connect({ dialect: 0x0311 })
  const f2 = await c.open('f.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
  t.same(dataOf(await c.request(read(f2, 0, 1024 * KiB))), data.subarray(0, 1024 * KiB), 'and the server goes on serving spliced READs to others')
})

t.test('spliced READs one after the other keep one slow-reader window: the timer is not restarted per READ', { skip }, async (t) => {
  const live = await startLive({ useUring: true })
  t.teardown(async () => { await live.stop() })
  writeFileSync(join(live.share, 'f.bin'), data)
  // Counts the timer's starts, as the transport asks for them.
  const proto = ConnectionTimers.prototype
  const original = proto.sendBlocked
  let starts = 0
  proto.sendBlocked = function (blocked, flushed) { if (blocked) starts++; original.call(this, blocked, flushed) }
  t.teardown(() => { proto.sendBlocked = original })
  const { c, fid } = await readerOf(t, live)
  const chains = live.server.ring!.counters().spliceChains
  const n = 12
  const replies = await Promise.all(c.pipeline(Array.from({ length: n }, (_, i) => read(fid, (i % 3) * 1024 * KiB, 1024 * KiB))))
  t.equal(replies.filter((r, i) => !dataOf(r)?.equals(data.subarray((i % 3) * 1024 * KiB, (i % 3 + 1) * 1024 * KiB))).length, 0, 'every reply carries its bytes')
  t.equal(live.server.ring!.counters().spliceChains - chains, n, `each of the ${n} READs was a spliced chain`)
  t.ok(starts >= 1 && starts <= n / 3, `the slow-reader timer started ${starts} times for ${n} chains queued one behind the other`)
})

t.test('use sendfile = no: large READs are read into their buffer and linked, never spliced', { skip }, async (t) => {
  const live = await startLive({ useUring: true, shareLines: ['use sendfile = no'] })
  t.teardown(async () => { await live.stop() })
  writeFileSync(join(live.share, 'f.bin'), data)
  const ring = live.server.ring!
  const c = await TcpClient.open(live.port)
  t.teardown(() => { c.end() })
  await c.connect({ dialect: 0x0311 })
  const fid = await c.open('f.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
  const before = ring.counters()
  const replies = await Promise.all(c.pipeline([read(fid, 0, 1024 * KiB), read(fid, 4096, 2048 * KiB), read(fid, SIZE - 100, 512 * KiB)]))
  t.same(dataOf(replies[0]), data.subarray(0, 1024 * KiB))
  t.same(dataOf(replies[1]), data.subarray(4096, 4096 + 2048 * KiB))
  t.same(dataOf(replies[2]), data.subarray(SIZE - 100), 'a short one too')
  const after = ring.counters()
  t.equal(after.spliceChains, before.spliceChains, 'no spliced chain')
  t.ok(after.links - before.links >= 3, 'each one a linked read→sendmsg')
})
