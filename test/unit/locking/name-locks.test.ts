// NameLocks: holders of one key run strictly in turn, other keys do not wait, nothing is kept once
// every holder released.
import t from 'tap'
import { NameLocks } from '../../../src/locking/name-locks.js'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

t.test('one key: in turn, in arrival order', async t => {
  const locks = new NameLocks()
  const order: string[] = []
  const holder = async (name: string, work: number): Promise<void> => {
    const release = await locks.acquire('share\0dir\0A.TXT')
    order.push(`${name} in`)
    for (let i = 0; i < work; i++) await tick()
    order.push(`${name} out`)
    release()
    release() // a second release changes nothing
  }
  await Promise.all([holder('a', 3), holder('b', 1), holder('c', 0)])
  t.same(order, ['a in', 'a out', 'b in', 'b out', 'c in', 'c out'])
  t.equal(locks.size, 0, 'no key kept')
})

t.test('other keys do not wait', async t => {
  const locks = new NameLocks()
  const releaseA = await locks.acquire('a')
  let gotB = false
  const b = locks.acquire('b').then((release) => { gotB = true; release() })
  await b
  t.ok(gotB, 'b acquired while a is held')
  let gotA2 = false
  const a2 = locks.acquire('a').then((release) => { gotA2 = true; return release })
  await tick()
  t.notOk(gotA2, 'a second holder of a waits')
  releaseA()
  ;(await a2)()
  t.ok(gotA2)
  t.equal(locks.size, 0)
})
