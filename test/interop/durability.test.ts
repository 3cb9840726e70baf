// Durability (issue: hardening). A server killed with SIGKILL in the middle of a 200 MiB upload
// (1 MiB WRITEs over TCP from a raw SMB2 client) leaves on disk every range it acknowledged
// exactly as sent, and nothing but those bytes or zeros (a hole) before the last acknowledged
// byte. Two variants: every WRITE with SMB2_WRITEFLAG_WRITE_THROUGH, and plain WRITEs with a
// FLUSH every 8. And in memory: the server replies to a WRITE_THROUGH WRITE only after
// fdatasync returned, to a FLUSH only after fsync (which also covers the size), and under strace
// the child really issues those syscalls.
import t from 'tap'
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, readFileSync, existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TcpClient } from '../helpers/tcp-client.js'
import { startChildLive, type ChildLive } from '../helpers/child-live.js'
import {
  Command, Disposition, flushBody, MemClient, memServer, writeBody, chargeFor, type FileId,
} from '../helpers/mem-client.js'
import { ServerState } from '../../src/session/server-state.js'
import type { Backend, VfsFile } from '../../src/vfs/backend.js'
import { posixBackend } from '../../src/vfs/posix.js'
import { ringUnavailableReason } from '../../src/io/ring.js'
import { inProcessOnly, singleProcessOnly, startLive } from '../helpers/live.js'

const MiB = 1 << 20
const BLOCKS = 200
const WRITEFLAG_WRITE_THROUGH = 0x1

const base = randomBytes(MiB)
/** Block i: random bytes, with i and the page number stamped at each 4 KiB page (misplaced writes show). */
function block (i: number): Buffer {
  const b = Buffer.from(base)
  for (let p = 0; p < MiB; p += 4096) { b.writeUInt32LE(i, p); b.writeUInt32LE(p, p + 4) }
  return b
}

/** Every byte of [0, end) is either what block (byte / MiB) holds or zero; returns the first bad offset. */
function garbageBefore (file: Buffer, end: number): number | undefined {
  for (let off = 0; off < end; off += 4096) {
    const i = Math.floor(off / MiB)
    const exp = block(i)
    const pageEnd = Math.min(off + 4096, end, file.length)
    const got = file.subarray(off, pageEnd)
    const want = exp.subarray(off - i * MiB, pageEnd - i * MiB)
    if (got.equals(want)) continue
    for (let k = 0; k < got.length; k++) if (got[k] !== 0 && got[k] !== want[k]) return off + k
  }
  return undefined
}

for (const variant of ['write-through', 'flush-every-8'] as const) {
  t.test(`kill -9 during a 200 MiB upload (${variant}): what was acknowledged is on disk, nothing else before it`, { timeout: 240_000, skip: singleProcessOnly('a child server it kills') }, async (t) => {
    const child = await startChildLive()
    t.teardown(async () => { await child.stop() })
    const c = await TcpClient.open(child.port)
    await c.connect({ dialect: 0x0311 })
    const fid: FileId = await c.open('big.bin', { disposition: Disposition.OVERWRITE_IF })
    const killAt = 40 + Math.floor(Math.random() * 100)
    t.comment(`killing after ${killAt} promised MiB`)
    /** Blocks the server promised are stable: acknowledged WRITE_THROUGH, or acknowledged and then covered by a FLUSH. */
    const promised = new Set<number>()
    const acked = new Set<number>()
    let killed: Promise<void> | undefined
    const maybeKill = (): void => { if (killed === undefined && promised.size >= killAt) killed = child.kill9() }
    const depth = 4
    const flags = variant === 'write-through' ? WRITEFLAG_WRITE_THROUGH : 0
    let next = 0
    while (next < BLOCKS && !c.dead) {
      const batch = variant === 'write-through' ? depth : 8
      const idx = Array.from({ length: Math.min(batch, BLOCKS - next) }, (_, k) => next + k)
      next += idx.length
      const replies = c.pipeline(idx.map(i => ({ cmd: Command.WRITE, body: writeBody(fid, i * MiB, block(i), flags), creditCharge: chargeFor(MiB), creditRequest: 64 })))
      await Promise.all(replies.map(async (p, k) => {
        const r = await p
        if (r === undefined) return
        t.equal(r.status, 0, `WRITE ${idx[k]}`)
        t.equal(r.body.readUInt32LE(4), MiB, 'Count')
        acked.add(idx[k])
        if (variant === 'write-through') { promised.add(idx[k]); maybeKill() }
      }))
      if (variant === 'flush-every-8' && !c.dead) {
        const before = [...acked]
        const [f] = c.pipeline([{ cmd: Command.FLUSH, body: flushBody(fid) }])
        const r = await f
        if (r !== undefined) {
          t.equal(r.status, 0, 'FLUSH')
          for (const i of before) promised.add(i)
          maybeKill()
        }
      }
    }
    if (killed === undefined) killed = child.kill9()
    await killed
    c.end()
    t.ok(promised.size >= killAt && promised.size < BLOCKS, `killed mid-way (${promised.size} MiB promised, ${acked.size} acknowledged)`)

    const path = join(child.share, 'big.bin')
    const size = statSync(path).size
    const last = Math.max(...promised)
    t.ok(size >= (last + 1) * MiB, `file size ${size} covers the last promised byte ${(last + 1) * MiB}`)
    const fd = openSync(path, 'r')
    const file = Buffer.alloc(size)
    let n = 0
    while (n < size) n += readSync(fd, file, n, size - n, n)
    closeSync(fd)
    const bad: number[] = []
    for (const i of promised) if (!file.subarray(i * MiB, (i + 1) * MiB).equals(block(i))) bad.push(i)
    t.same(bad, [], 'every promised MiB holds exactly the bytes sent')
    const g = garbageBefore(file, (last + 1) * MiB)
    t.equal(g, undefined, 'before the last promised byte: only bytes sent or zeros')
    // Beyond: only blocks that were in flight, each either sent bytes or zeros.
    t.equal(garbageBefore(file, size), undefined, 'past it too (in-flight writes land whole, partly or not at all)')
  })
}

// ------------------------------------------------------------------ the server waits for the sync

interface SyncLog { events: string[] }

/** The posix backend with every file's sync recorded and slowed down, so a reply that does not wait shows. */
function spyBackend (log: SyncLog): Backend {
  return {
    ...posixBackend,
    name: 'posix-spy',
    async openShare (root, opts) {
      const share = await posixBackend.openShare(root, opts)
      const open = share.open.bind(share)
      share.open = async (path, o) => {
        const f: VfsFile = await open(path, o)
        const sync = f.sync.bind(f)
        f.sync = async (dataOnly: boolean) => {
          log.events.push(`sync-start ${dataOnly ? 'data' : 'full'}`)
          await new Promise(resolve => setTimeout(resolve, 30))
          await sync(dataOnly)
          log.events.push(`sync-end ${dataOnly ? 'data' : 'full'}`)
        }
        return f
      }
      return share
    },
  }
}

t.test('replies wait for the sync: WRITE_THROUGH → fdatasync, CreateOptions WRITE_THROUGH → fdatasync, FLUSH → fsync', { skip: singleProcessOnly('in memory') }, async (t) => {
  const srv = memServer({ backend: 'posix' }) // its share directory, for the spy backend below
  t.teardown(srv.cleanup)
  const log: SyncLog = { events: [] }
  const state = new ServerState(srv.state.config, srv.state.accounts, spyBackend(log), srv.state.log)
  const c = await new MemClient(state).connect()
  const fid = await c.open('d.bin', { disposition: Disposition.CREATE })
  const mark = (s: string): void => { log.events.push(s) }

  const w = c.request({ cmd: Command.WRITE, body: writeBody(fid, 0, Buffer.alloc(100, 1), WRITEFLAG_WRITE_THROUGH) })
  void w.then(() => { mark('reply') })
  await w
  t.same(log.events, ['sync-start data', 'sync-end data', 'reply'], 'WRITE_THROUGH: reply after fdatasync')

  log.events.length = 0
  await c.write(fid, 100, Buffer.alloc(100, 2))
  t.same(log.events, [], 'a plain WRITE does not sync')

  log.events.length = 0
  const f = c.request({ cmd: Command.FLUSH, body: flushBody(fid) })
  void f.then(() => { mark('reply') })
  t.equal((await f).status, 0)
  t.same(log.events, ['sync-start full', 'sync-end full', 'reply'], 'FLUSH: reply after fsync (data and metadata: the size)')
  await c.close(fid)

  log.events.length = 0
  const wt = await c.open('wt.bin', { disposition: Disposition.CREATE, options: 0x2 /* FILE_WRITE_THROUGH */ })
  await c.write(wt, 0, Buffer.alloc(10, 3))
  t.same(log.events, ['sync-start data', 'sync-end data'], 'an open with FILE_WRITE_THROUGH syncs every WRITE')
  await c.close(wt)
  t.same(readFileSync(join(srv.share, 'd.bin')), Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(100, 2)]))
})

// The fallback makes the syscalls itself (strace sees them); the fast path submits them as ring
// ops (strace sees only io_uring_enter), so there the ring's fsync counter is what moves.
t.test('under strace the fallback server issues fdatasync per WRITE_THROUGH and fsync per FLUSH', { timeout: 120_000, skip: singleProcessOnly('a child server under strace') }, async (t) => {
  if (!existsSync('/usr/bin/strace')) { t.plan(0, 'no strace'); return }
  const trace = join(mkdtempSync(join(tmpdir(), 'smbts-strace-')), 'trace')
  let child: ChildLive
  try {
    child = await startChildLive({ strace: { out: trace, syscalls: 'fsync,fdatasync,io_uring_enter' }, useUring: false })
  } catch (e) { t.plan(0, `strace cannot run here: ${(e as Error).message.slice(0, 200)}`); return }
  t.teardown(async () => { await child.stop() })
  const c = await TcpClient.open(child.port)
  await c.connect({ dialect: 0x0311 })
  const fid = await c.open('s.bin', { disposition: Disposition.CREATE })
  const count = (re: RegExp): number => (readFileSync(trace, 'utf8').match(re) ?? []).length
  const ds0 = count(/fdatasync\(/g)
  for (let i = 0; i < 5; i++) t.equal((await c.request({ cmd: Command.WRITE, body: writeBody(fid, i * 4096, Buffer.alloc(4096, i + 1), WRITEFLAG_WRITE_THROUGH) })).status, 0)
  t.ok(count(/fdatasync\(/g) - ds0 >= 5, `5 WRITE_THROUGH → ${count(/fdatasync\(/g) - ds0} fdatasync`)
  const fs0 = count(/[^a]fsync\(/g)
  t.equal((await c.request({ cmd: Command.FLUSH, body: flushBody(fid) })).status, 0)
  t.ok(count(/[^a]fsync\(/g) - fs0 >= 1, 'FLUSH → fsync')
  c.end()
  await child!.kill9()
  rmSync(join(trace, '..'), { recursive: true, force: true })
})

t.test('on the io_uring fast path, each WRITE_THROUGH and each FLUSH is a ring fsync before the reply', { timeout: 120_000, skip: inProcessOnly('its ring counters') }, async (t) => {
  const why = await ringUnavailableReason()
  if (why !== undefined) { t.plan(0, `io_uring unavailable: ${why}`); return }
  const live = await startLive({ useUring: true })
  t.teardown(async () => { await live.stop() })
  const ring = live.server.ring!
  const c = await TcpClient.open(live.port)
  t.teardown(() => { c.end() })
  await c.connect({ dialect: 0x0311 })
  const fid = await c.open('r.bin', { disposition: Disposition.CREATE })
  const fsyncs = (): number => ring.counters().ops.fsync
  const before = fsyncs()
  for (let i = 0; i < 5; i++) {
    const n = fsyncs()
    t.equal((await c.request({ cmd: Command.WRITE, body: writeBody(fid, i * 4096, Buffer.alloc(4096, i + 1), WRITEFLAG_WRITE_THROUGH) })).status, 0)
    t.equal(fsyncs() - n, 1, `WRITE_THROUGH ${i}: one ring fsync submitted before the reply`)
  }
  const n = fsyncs()
  t.equal((await c.request({ cmd: Command.WRITE, body: writeBody(fid, 5 * 4096, Buffer.alloc(4096, 9)) })).status, 0)
  t.equal(fsyncs(), n, 'a plain WRITE syncs nothing')
  t.equal((await c.request({ cmd: Command.FLUSH, body: flushBody(fid) })).status, 0)
  t.equal(fsyncs() - n, 1, 'FLUSH: one ring fsync before the reply')
  t.equal(fsyncs() - before, 6)
})
