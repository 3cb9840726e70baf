// RepeatLimiter: the first line of a key passes, repeats within the interval are counted and
// left out, the next line after it says how many.
import t from 'tap'
import { RepeatLimiter } from '../../../src/control/log.js'

t.test('first passes, repeats are counted, the next after the interval carries the count', async (t) => {
  const r = new RepeatLimiter(1000)
  t.equal(r.pass('a', 'limit hit', 0), 'limit hit')
  t.equal(r.pass('a', 'limit hit', 10), undefined)
  t.equal(r.pass('a', 'limit hit', 999), undefined)
  t.equal(r.pass('b', 'other limit', 500), 'other limit', 'keys are apart')
  t.equal(r.pass('a', 'limit hit', 1000), 'limit hit (2 more like it not logged)')
  t.equal(r.pass('a', 'limit hit', 2500), 'limit hit', 'nothing left out: no count')
})

t.test('the table of keys stays bounded; forgetting only lets lines through', async (t) => {
  const r = new RepeatLimiter(1000, 3)
  for (const k of ['a', 'b', 'c']) t.ok(r.pass(k, k, 0))
  t.equal(r.pass('a', 'a', 1), undefined)
  t.equal(r.pass('d', 'd', 2), 'd', 'a fourth key clears the table')
  t.equal(r.pass('a', 'a', 3), 'a', 'a forgotten key logs again')
})
