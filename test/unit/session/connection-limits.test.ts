// ConnectionLimits (src/session/server-state.ts), issue 20: at `max connections` / `max ip
// connections` the unauthenticated connection idle longest makes room for a new one (logged);
// authenticated connections are never dropped for it; the store's counts stay exact through
// evictions, releases and double releases.
import t from 'tap'
import { memServer } from '../../helpers/mem-client.js'
import type { Admission, Evictable } from '../../../src/session/server-state.js'

class FakeConn implements Evictable {
  authenticated = false
  closedWhy?: string
  constructor (public lastRequestAt: number) {}
  close (reason: string): void { this.closedWhy = reason }
}

function setup (global: string[]): { srv: ReturnType<typeof memServer>, enter: (addr: string, at?: number) => { a?: Admission, c: FakeConn } } {
  const srv = memServer({ log: true, global })
  let port = 1000
  const enter = (addr: string, at = Date.now()): { a?: Admission, c: FakeConn } => {
    const c = new FakeConn(at)
    const a = srv.state.limits.enter(addr, `${addr}:${port++}`)
    if (a instanceof Promise) throw new Error('no peers here: never a promise')
    if (a !== undefined) a.conn = c
    return { a, c }
  }
  return { srv, enter }
}

t.test('max connections: the unauthenticated connection idle longest is dropped for a new one', async (t) => {
  const { srv, enter } = setup(['max connections = 4'])
  t.teardown(srv.cleanup)
  const now = Date.now()
  // Admitted in order; the second has been idle longest (its last whole request is the oldest).
  const xs = [enter('10.0.0.1', now - 1000), enter('10.0.0.2', now - 5000), enter('10.0.0.3', now - 3000), enter('10.0.0.4', now - 100)]
  t.equal(srv.state.limits.count, 4)
  const n = enter('10.0.0.9')
  t.ok(n.a, 'the fifth connection is admitted')
  t.match(xs[1].c.closedWhy, /dropped for a new connection from 10\.0\.0\.9:\d+: max connections \(4\) reached/, 'the one idle longest is closed')
  t.notOk(xs[0].c.closedWhy ?? xs[2].c.closedWhy ?? xs[3].c.closedWhy, 'no other')
  t.equal(srv.state.limits.count, 4, 'still four')
  t.ok(srv.logs.some(l => /connection from 10\.0\.0\.2:\d+ \(not authenticated, idle 5\.\d s\) dropped to admit 10\.0\.0\.9:\d+: max connections \(4\) reached/.test(l)), 'logged with who, how idle, for whom and why')
  // The dropped connection's transport releases it later: nothing more is released.
  srv.state.limits.release(xs[1].a!)
  t.equal(srv.state.limits.count, 4, 'a dropped connection\'s own release changes nothing')
  // Next: 10.0.0.3 (idle 3 s)
  enter('10.0.0.10')
  t.ok(xs[2].c.closedWhy, 'then the next idle longest')
})

t.test('authenticated connections are never dropped; with only those, the new one is refused', async (t) => {
  const { srv, enter } = setup(['max connections = 3'])
  t.teardown(srv.cleanup)
  const xs = [enter('10.0.1.1', 0), enter('10.0.1.2', 0), enter('10.0.1.3', 0)]
  for (const x of xs) x.c.authenticated = true
  const n = enter('10.0.1.4')
  t.equal(n.a, undefined, 'refused')
  t.notOk(xs.some(x => x.c.closedWhy !== undefined), 'no authenticated connection closed')
  t.ok(srv.logs.some(l => /connection from 10\.0\.1\.4:\d+ refused: max connections \(3\) reached, and no unauthenticated connection to drop/.test(l)))
  // One logs off (no session left): it can be dropped again.
  xs[1].c.authenticated = false
  t.ok(enter('10.0.1.5').a, 'admitted once one is no longer authenticated')
  t.ok(xs[1].c.closedWhy)
  // Releases free the store's counts exactly: after all go, four... three fit again.
  for (const x of xs) srv.state.limits.release(x.a!)
  t.equal(srv.state.limits.count, 1)
  t.ok(enter('10.0.1.6').a && enter('10.0.1.7').a, 'two more fit')
  const last = enter('10.0.1.8')
  t.ok(last.a, 'a fourth: drops one of the unauthenticated ones')
})

t.test('max ip connections: only a connection of the same address makes room, and the total is kept', async (t) => {
  const { srv, enter } = setup(['max connections = 10', 'max ip connections = 2'])
  t.teardown(srv.cleanup)
  const a1 = enter('10.0.2.1', 0)
  const a2 = enter('10.0.2.1', 10)
  const b1 = enter('10.0.2.2', -100) // idle longer, but another address
  const a3 = enter('10.0.2.1')
  t.ok(a3.a, 'the third from one address is admitted')
  t.ok(a1.c.closedWhy, 'its own address\'s idle-longest connection went')
  t.match(a1.c.closedWhy, /max ip connections \(2\) reached for 10\.0\.2\.1/)
  t.notOk(b1.c.closedWhy ?? a2.c.closedWhy, 'not another address\'s, nor a more recent one')
  t.equal(srv.state.limits.count, 3)
  // The address still holds exactly two slots: with both authenticated a third is refused.
  a2.c.authenticated = true
  a3.c.authenticated = true
  t.equal(enter('10.0.2.1').a, undefined, 'refused: its two connections are authenticated')
  t.ok(enter('10.0.2.2').a, 'another address is not affected')
  // Released, the address's count goes with it.
  srv.state.limits.release(a2.a!)
  t.ok(enter('10.0.2.1').a, 'room again once one closed')
})

t.test('an eviction under max connections frees the dropped connection\'s address count', async (t) => {
  const { srv, enter } = setup(['max connections = 2', 'max ip connections = 1'])
  t.teardown(srv.cleanup)
  const x = enter('10.0.3.1', 0)
  enter('10.0.3.2', 5)
  t.ok(enter('10.0.3.3').a, 'the third address admitted, 10.0.3.1 dropped')
  t.ok(x.c.closedWhy)
  // 10.0.3.1's per-address slot was freed with it: it may connect again (dropping 10.0.3.2).
  const again = enter('10.0.3.1')
  t.ok(again.a, '10.0.3.1 admitted again: its address count was released')
})

t.test('workers: with nothing of its own to drop, a worker asks the others; one drops its own and passes the slot', async (t) => {
  // Two processes' limits over one store: worker 0 holds the flood, worker 1 nothing.
  const { srv: w0, enter: enter0 } = setup(['max connections = 3'])
  t.teardown(w0.cleanup)
  const { srv: w1 } = setup(['max connections = 3'])
  t.teardown(w1.cleanup)
  // One store for both (a one-process store: the slot passed to "worker 1" is a part of its own).
  w1.state.locks = w0.state.locks
  const flood = [enter0('10.0.4.1', 0), enter0('10.0.4.1', 5), enter0('10.0.4.1', 9)]
  t.equal(w1.state.limits.enter('10.0.4.9', '10.0.4.9:1'), undefined, 'without peers: refused')
  const asked: string[] = []
  w1.state.limits.peers = {
    async ask (remote, why) {
      asked.push(`${remote} ${why}`)
      return w0.state.limits.dropFor({ w: 1, g: 0 }, remote, why)
    },
  }
  const p = w1.state.limits.enter('10.0.4.9', '10.0.4.9:2')
  t.ok(p instanceof Promise, 'with peers: the admission waits for their answer')
  const a = await p
  t.ok(a, 'admitted in the slot the other worker passed')
  t.same(asked, ['10.0.4.9:2 max connections (3) reached'])
  t.ok(flood[0].c.closedWhy, 'the other worker dropped its connection idle longest')
  t.notOk(flood[1].c.closedWhy ?? flood[2].c.closedWhy)
  t.ok(w0.logs.some(l => /dropped to admit 10\.0\.4\.9:2 \(on w1\): max connections \(3\) reached/.test(l)), 'logged by the worker that dropped it')
  t.equal(w0.state.limits.count, 2)
  t.equal(w1.state.limits.count, 1)
  // None left to drop anywhere: refused.
  for (const x of flood) x.c.authenticated = true
  t.equal(await w1.state.limits.enter('10.0.4.9', '10.0.4.9:3'), undefined, 'no peer has one: refused')
})

t.test('workers: at an address\'s max ip connections, the other worker drops one of that address and passes both slots', async (t) => {
  const { srv: w0, enter: enter0 } = setup(['max connections = 10', 'max ip connections = 2'])
  t.teardown(w0.cleanup)
  const { srv: w1 } = setup(['max connections = 10', 'max ip connections = 2'])
  t.teardown(w1.cleanup)
  w1.state.locks = w0.state.locks
  const other = enter0('10.0.5.2', 0) // another address, idle longer: not a candidate
  const same = [enter0('10.0.5.1', 5), enter0('10.0.5.1', 9)]
  const asked: Array<string | undefined> = []
  w1.state.limits.peers = {
    async ask (remote, why, addr) {
      asked.push(addr)
      return w0.state.limits.dropFor({ w: 1, g: 0 }, remote, why, addr)
    },
  }
  const a = await w1.state.limits.enter('10.0.5.1', '10.0.5.1:7')
  t.ok(a, 'admitted')
  t.same(asked, ['10.0.5.1'], 'asked for a connection of its address')
  t.ok(same[0].c.closedWhy, 'the other worker dropped its connection of that address idle longest')
  t.notOk(other.c.closedWhy ?? same[1].c.closedWhy)
  t.equal(a!.ipCounted, true, 'the new connection holds the address slot passed to it')
  // The address still has exactly two: a third (with nothing to drop anywhere) is refused.
  same[1].c.authenticated = true
  a!.conn = new FakeConn(Date.now()); (a!.conn as FakeConn).authenticated = true
  t.equal(await w1.state.limits.enter('10.0.5.1', '10.0.5.1:8'), undefined, 'refused at the address limit')
})
