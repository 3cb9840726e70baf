// The READ buffer pool: size classes, reuse, a loan releases once, the retained cap.
import t from 'tap'
import { BufferPool } from '../../../src/io/buffer-pool.js'

const KiB = 1024
const MiB = 1024 * KiB

t.test('a released buffer is lent again for the same size class', async (t) => {
  const pool = new BufferPool()
  const a = pool.take(1 * MiB)
  t.equal(a.buf.length, 1 * MiB)
  a.release()
  const b = pool.take(700 * KiB) // same class (1 MiB)
  t.equal(b.buf, a.buf, 'the same buffer comes back')
  t.equal(pool.reused, 1)
  t.equal(pool.allocated, 1)
  const c = pool.take(700 * KiB)
  t.not(c.buf, b.buf, 'a buffer still lent is never lent twice')
  t.equal(pool.allocated, 2)
})

t.test('a loan releases once: a second release cannot put the buffer in the free list twice', async (t) => {
  const pool = new BufferPool()
  const a = pool.take(256 * KiB)
  a.release()
  a.release()
  t.equal(pool.retained, 256 * KiB, 'retained once')
  const b = pool.take(256 * KiB)
  const c = pool.take(256 * KiB)
  t.not(b.buf, c.buf, 'two takes after a double release get two buffers')
})

t.test('sizes outside the pooled range are plain allocations', async (t) => {
  const pool = new BufferPool({ minPooled: 64 * KiB, maxPooled: 8 * MiB })
  const small = pool.take(100)
  t.equal(small.buf.length, 100)
  small.release()
  const big = pool.take(9 * MiB)
  big.release()
  t.equal(pool.retained, 0, 'nothing kept')
  t.equal(pool.allocated, 0, 'not counted as pooled')
})

t.test('the free lists never hold more than maxRetained bytes', async (t) => {
  const pool = new BufferPool({ maxRetained: 3 * MiB })
  const loans = Array.from({ length: 5 }, () => pool.take(1 * MiB))
  for (const l of loans) l.release()
  t.equal(pool.retained, 3 * MiB, 'three kept, two left to the GC')
  for (let i = 0; i < 3; i++) pool.take(1 * MiB)
  t.equal(pool.retained, 0)
  t.equal(pool.reused, 3)
})

t.test('free buffers go back to the GC once the pool has been idle', async (t) => {
  const pool = new BufferPool({ idleMs: 50 })
  pool.take(1 * MiB).release()
  t.equal(pool.retained, 1 * MiB)
  // Busy: a take within each idle period keeps the buffers.
  for (let i = 0; i < 3; i++) {
    await new Promise(resolve => setTimeout(resolve, 30))
    pool.take(1 * MiB).release()
  }
  t.equal(pool.retained, 1 * MiB, 'kept while used')
  await new Promise(resolve => setTimeout(resolve, 160))
  t.equal(pool.retained, 0, 'dropped after an idle period')
  const l = pool.take(1 * MiB)
  t.equal(pool.allocated, 2, 'the next take allocates afresh')
  l.release()
  pool.trim()
  t.equal(pool.retained, 0)
})

t.test('size classes: powers of two up to 1 MiB, whole MiBs above', async (t) => {
  const pool = new BufferPool()
  t.equal(pool.take(100 * KiB).buf.length, 128 * KiB)
  t.equal(pool.take(1 * MiB).buf.length, 1 * MiB)
  t.equal(pool.take(8 * MiB + 112).buf.length, 9 * MiB, 'an 8 MiB WRITE frame with its headers')
  t.equal(pool.take(8 * MiB).buf.length, 8 * MiB)
})

t.test('a registry: each pooled buffer registered while the pool has it, its slot freed when it leaves', async (t) => {
  const slots = new Map<number, Buffer>()
  let next = 0
  const freeSlots: number[] = []
  const registry = {
    add (buf: Buffer): number | undefined {
      if (slots.size >= 2) return undefined // two slots only
      const s = freeSlots.pop() ?? next++
      slots.set(s, buf)
      return s
    },
    remove (s: number): void { slots.delete(s); freeSlots.push(s) },
  }
  const pool = new BufferPool({ registry, maxRetained: 256 * KiB })
  const a = pool.take(128 * KiB)
  const b = pool.take(128 * KiB)
  const c = pool.take(128 * KiB)
  t.equal(slots.get(a.fixed!), a.buf, 'the loan names its slot, which holds its buffer')
  t.equal(slots.get(b.fixed!), b.buf)
  t.equal(c.fixed, undefined, 'no slot left: used unregistered')
  a.release()
  const a2 = pool.take(100 * KiB)
  t.equal(a2.buf, a.buf, 'reused')
  t.equal(a2.fixed, a.fixed, 'with its slot')
  a2.release(); b.release(); c.release()
  t.equal(slots.size, 2, 'free buffers keep their slots while the pool keeps them')
  const d = pool.take(128 * KiB); const e = pool.take(128 * KiB); const f = pool.take(128 * KiB)
  d.release(); e.release(); f.release() // the third goes beyond maxRetained
  pool.trim()
  t.equal(slots.size, 0, 'every slot freed once the pool dropped its buffers')
})
