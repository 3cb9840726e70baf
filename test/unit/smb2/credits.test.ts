// CreditWindow (MS-SMB2 3.3.1.1 / 3.3.5.2.3): random sequences of grants and consumes (in order,
// out of order, reused, outside the window, charges above 1) agree with a plain reference model.
import t from 'tap'
import { CreditWindow } from '../../../src/smb2/credits.js'

/** The window as a set of ids: granted ids not yet consumed. */
class Model {
  next = 1n // ids [0, next) have been granted
  readonly open = new Set<bigint>([0n])
  constructor (readonly max: number) {}
  consume (id: bigint, charge: number): boolean {
    const n = BigInt(Math.max(charge, 1))
    for (let i = 0n; i < n; i++) if (!this.open.has(id + i)) return false
    for (let i = 0n; i < n; i++) this.open.delete(id + i)
    return true
  }

  grant (requested: number): number {
    const held = this.open.size
    let g = Math.max(requested, 1)
    if (held + g > this.max) g = Math.max(this.max - held, 0)
    if (g === 0 && held === 0) g = 1
    for (let i = 0; i < g; i++) this.open.add(this.next++)
    return g
  }
}

t.test('agrees with the reference model', async (t) => {
  let seed = 7
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  for (let round = 0; round < 200; round++) {
    const w = new CreditWindow(64)
    const m = new Model(64)
    let low = 0n
    for (let step = 0; step < 200; step++) {
      if (rand(3) === 0) {
        const r = rand(10)
        t.equal(w.grant(r), m.grant(r))
      } else {
        // Mostly in order, sometimes ahead, behind, or reused.
        const k = rand(10)
        const id = k < 6 ? low : k < 8 ? low + BigInt(rand(8)) : low - BigInt(rand(3))
        const charge = rand(4) === 0 ? 1 + rand(3) : 1
        const ok = m.consume(id, charge)
        if (w.consume(id, charge) !== ok) { t.fail(`round ${round} step ${step}: consume(${id}, ${charge}) should be ${ok}`); return }
        while (!m.open.has(low) && low < m.next) low++
      }
      if (w.outstanding !== m.open.size) { t.fail(`round ${round} step ${step}: outstanding ${w.outstanding} vs ${m.open.size}`); return }
    }
  }
  t.pass('every step agreed')
})

t.test('in order: the window slides', async (t) => {
  const w = new CreditWindow(10)
  t.ok(w.consume(0n, 1))
  t.notOk(w.consume(0n, 1), 'reused')
  t.equal(w.grant(5), 5)
  t.ok(w.consume(1n, 2))
  t.ok(w.consume(3n, 1))
  t.notOk(w.consume(6n, 1), 'beyond the window')
  t.equal(w.outstanding, 2)
})
