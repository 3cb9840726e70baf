// The idle collector: once at start-up's end, then once per quiet spell after some work, never
// while busy, never twice for one quiet spell; the pools trim first.
import t from 'tap'
import { collectAllGarbage, IdleGc } from '../../../src/io/idle-gc.js'

function collector (activity: { n: number }): { gc: IdleGc, calls: string[] } {
  const calls: string[] = []
  const gc = new IdleGc({
    activity: () => activity.n,
    quietMs: 3_600_000, // the test drives look() itself
    beforeCollect: () => { calls.push('trim') },
    collect: () => { calls.push('collect') },
  })
  return { gc, calls }
}

t.test('start-up counts as work: the first quiet look collects, the next ones do not', async (t) => {
  const a = { n: 0 }
  const { gc, calls } = collector(a)
  t.teardown(() => { gc.close() })
  gc.look()
  t.same(calls, ['trim', 'collect'], 'the pools trim, then the collection')
  gc.look()
  gc.look()
  t.equal(gc.collections, 1, 'an idle process is collected once, not at every look')
})

t.test('busy looks do not collect; the quiet look after them does, once', async (t) => {
  const a = { n: 0 }
  const { gc } = collector(a)
  t.teardown(() => { gc.close() })
  gc.look()
  t.equal(gc.collections, 1)
  a.n += 5
  gc.look()
  a.n += 1
  gc.look()
  t.equal(gc.collections, 1, 'no collection while the count moves')
  gc.look()
  t.equal(gc.collections, 2, 'quiet after work: collected')
  gc.look()
  t.equal(gc.collections, 2, 'and not again until more work')
})

t.test('settled() collects on the next turn of the loop, unless work came first', async (t) => {
  const a = { n: 0 }
  const { gc } = collector(a)
  t.teardown(() => { gc.close() })
  gc.settled()
  gc.settled()
  await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.equal(gc.collections, 1, 'one collection for start-up (settled twice)')
  gc.look()
  t.equal(gc.collections, 1, 'the first look finds nothing new to collect')

  const b = { n: 0 }
  const other = collector(b)
  t.teardown(() => { other.gc.close() })
  other.gc.settled()
  b.n++
  await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.equal(other.gc.collections, 0, 'work before the turn: left to the quiet looks')
})

t.test('close() cancels a pending settle', async (t) => {
  const a = { n: 0 }
  const { gc } = collector(a)
  gc.settled()
  gc.close()
  await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.equal(gc.collections, 0)
})

t.test('collectAllGarbage runs V8 collections without exposing gc globally', async (t) => {
  const had = typeof (globalThis as { gc?: unknown }).gc
  t.equal(collectAllGarbage(), true, 'V8 gave its gc()')
  t.equal(typeof (globalThis as { gc?: unknown }).gc, had, 'the global scope is as it was')
  t.equal(collectAllGarbage(), true, 'and again, from the cached handle')
})
