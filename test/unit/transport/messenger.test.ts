// src/transport/messenger.ts between two processes: this test's process is worker 0, a child
// (test/helpers/messenger-peer.ts) is worker 1. Messages go both ways, a dead peer's messages are
// dropped and counted (never thrown), and a peer restarted in its slot is reached again.
import t from 'tap'
import net from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Messenger, SUPERVISOR_SLOT, messengerPath, type PeerMessage } from '../../../src/transport/messenger.js'
import { tsChildArgs } from '../../helpers/ts-child-args.js'
import { until } from '../../helpers/until.js'

const PEER = fileURLToPath(new URL('../../helpers/messenger-peer.ts', import.meta.url))

interface Peer { proc: ChildProcess, pid: number }

/** Starts worker `slot` in a child process; resolves once it listens. */
async function startPeer (runDir: string, slot: number): Promise<Peer> {
  // The test loader flags of this process, so the child runs the TypeScript sources too.
  const loader = tsChildArgs()
  const proc = spawn(process.execPath, [...loader, PEER, runDir, String(slot)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const pid = await new Promise<number>((resolve, reject) => {
    let out = ''
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /READY (\d+)/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    proc.once('exit', (code) => { reject(new Error(`peer exited ${String(code)}`)) })
  })
  return { proc, pid }
}

async function kill9 (p: Peer): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return
  const gone = new Promise<void>((resolve) => { p.proc.once('exit', () => { resolve() }) })
  p.proc.kill('SIGKILL')
  await gone
}

/** The next message of `type` this messenger receives. */
function next (m: Messenger, type: string): Promise<{ msg: PeerMessage, from: number }> {
  return new Promise((resolve) => {
    const h = (msg: PeerMessage, from: number): void => { m.off(type, h); resolve({ msg, from }) }
    m.on(type, h)
  })
}

t.test('two workers: both ways, a dead peer drops, a restarted peer is reached again', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'smbts-messenger-'))
  const me = await Messenger.listen({ runDir, slot: 0 })
  let peer: Peer | undefined
  // Set before the peer starts: a peer that fails to start fails the test, never leaves it hanging.
  t.teardown(async () => {
    if (peer !== undefined) await kill9(peer)
    await me.close()
    rmSync(runDir, { recursive: true, force: true })
  })
  peer = await startPeer(runDir, 1)

  // 0 → 1 → 0: the reply names its sender.
  let pong = next(me, 'pong')
  me.send(1, { type: 'ping', n: 1 })
  let got = await pong
  t.same(got.msg, { type: 'pong', n: 1, pid: peer.pid, from: 1 }, 'the peer answered')
  t.equal(got.from, 1, 'fromSlot is the peer\'s slot')

  // The peer starts a conversation of its own (its own connection to us).
  const hello = next(me, 'hello')
  me.send(1, { type: 'say', to: 0, text: 'hi from w1' })
  got = await hello
  t.same(got, { msg: { type: 'hello', text: 'hi from w1' }, from: 1 }, 'a message from the peer')

  // Many in a row keep their order.
  const seen: number[] = []
  const all = new Promise<void>((resolve) => {
    me.on('pong', (msg) => { seen.push(msg.n as number); if (seen.length === 100) resolve() })
  })
  for (let n = 0; n < 100; n++) me.send(1, { type: 'ping', n })
  await all
  t.same(seen, Array.from({ length: 100 }, (_, n) => n), '100 messages, in order')
  t.ok(await until(() => me.counters.sent >= 102, 5000, 10), 'counted as sent')

  // The peer dies; the supervisor says so. What we send it now is dropped and counted.
  await kill9(peer)
  me.dispatch({ type: 'worker-died', slot: 1, generation: 1 }, SUPERVISOR_SLOT)
  const dropped = me.counters.dropped
  t.doesNotThrow(() => { me.send(1, { type: 'ping', n: 2 }) }, 'a send to a dead peer does not throw')
  t.doesNotThrow(() => { me.send(7, { type: 'ping', n: 3 }) }, 'nor one to a slot no one ever listened on')
  t.ok(await until(() => me.counters.dropped === dropped + 2, 5000, 10), `both dropped and counted (${me.counters.dropped - dropped})`)

  // A new process in slot 1: the next send reaches it.
  peer = await startPeer(runDir, 1)
  pong = next(me, 'pong')
  me.send(1, { type: 'ping', n: 4 })
  got = await pong
  t.same(got.msg, { type: 'pong', n: 4, pid: peer.pid, from: 1 }, 'the restarted peer answered')

  // Without the supervisor's word: the peer dies, the connection to it closes, the next send
  // connects anew and is dropped; the peer's successor is reached after that.
  await kill9(peer)
  t.ok(await until(() => { me.send(1, { type: 'ping', n: 5 }); return me.counters.dropped > dropped + 2 }, 5000, 10), 'dropped once the old connection is gone')
  peer = await startPeer(runDir, 1)
  pong = next(me, 'pong')
  me.send(1, { type: 'ping', n: 6 })
  t.equal((await pong).msg.n, 6, 'and the next peer in the slot is reached')
})

t.test('handlers, local delivery, the supervisor\'s events, caller mistakes', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'smbts-messenger-'))
  const me = await Messenger.listen({ runDir, slot: 3 })
  t.teardown(async () => { await me.close(); rmSync(runDir, { recursive: true, force: true }) })

  const self = next(me, 'note')
  me.send(3, { type: 'note', x: [1, 2] })
  t.same(await self, { msg: { type: 'note', x: [1, 2] }, from: 3 }, 'to its own slot: delivered, as a copy, asynchronously')

  const events: Array<[string, number]> = []
  me.on('worker-started', (m, from) => { events.push([`${m.type} ${String(m.slot)}/${String(m.generation)}`, from]) })
  me.dispatch({ type: 'worker-started', slot: 1, generation: 2 }, SUPERVISOR_SLOT)
  t.same(events, [['worker-started 1/2', SUPERVISOR_SLOT]], 'the supervisor\'s event reaches the handler')

  const unhandled = me.counters.unhandled
  me.dispatch({ type: 'nobody-listens' }, 1)
  t.equal(me.counters.unhandled, unhandled + 1, 'a message no handler takes is counted')
  me.on('boom', () => { throw new Error('handler bug') })
  t.doesNotThrow(() => { me.dispatch({ type: 'boom' }, 1) }, 'a handler that throws does not reach the sender\'s path')

  t.throws(() => { me.send(-1, { type: 'x' }) }, RangeError)
  t.throws(() => { me.send(1.5, { type: 'x' }) }, RangeError)
  t.throws(() => { me.send(1, { kind: 'x' }) }, TypeError)
  const circular: Record<string, unknown> = { type: 'x' }
  circular.self = circular
  t.throws(() => { me.send(1, circular) }, TypeError)

  // A peer that does not speak the protocol loses its connection, nothing else.
  for (const bytes of [Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from('\x00\x00\x00\x02{]'), Buffer.from('\x00\x00\x00\x02{}')]) {
    const s = net.connect(messengerPath(runDir, 3))
    s.on('error', () => {})
    s.write(bytes)
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { resolve(false) }, 2000)
      s.on('close', () => { clearTimeout(timer); resolve(true) })
      s.resume()
    })
    t.ok(closed, `closed after ${bytes.toString('hex').slice(0, 16)}`)
  }
  const again = next(me, 'note')
  me.send(3, { type: 'note' })
  t.ok(await again, 'still serving')
})

t.test('a second messenger in a slot replaces a stale socket file', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'smbts-messenger-'))
  t.teardown(() => { rmSync(runDir, { recursive: true, force: true }) })
  const a = await Messenger.listen({ runDir, slot: 0 })
  // A killed worker leaves its file: simulate by closing the server without unlinking.
  await new Promise<void>((resolve) => { (a as unknown as { server: net.Server }).server.close(() => { resolve() }) })
  const b = await Messenger.listen({ runDir, slot: 0 })
  const m = next(b, 'x')
  const c = await Messenger.listen({ runDir, slot: 1 })
  c.send(0, { type: 'x' })
  t.same(await m, { msg: { type: 'x' }, from: 1 })
  await b.close()
  await c.close()
})
