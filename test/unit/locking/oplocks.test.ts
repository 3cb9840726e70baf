// The oplock state machine (src/locking/oplocks.ts): the one transition function and the store's
// grant and break decisions, without the SMB2 layer.
import t from 'tap'
import {
  MemoryOplockStore, OplockState, transition, type OplockEntry, type OplockHolder,
} from '../../../src/locking/oplocks.js'
import { OplockLevel } from '../../../src/wire/constants.js'

const ILLEGAL = { code: 'SMBTS_ERR_OPLOCK_TRANSITION' }
const entry = (): OplockEntry => ({ key: 'k', holder: { name: 'h', notifyBreak () {} }, state: OplockState.None, level: OplockLevel.NONE, breakTo: OplockLevel.NONE })

t.test('transition: legal moves and their results', async (t) => {
  const e = entry()
  transition(e, { type: 'grant', level: OplockLevel.BATCH })
  t.same([e.state, e.level], [OplockState.Held, OplockLevel.BATCH])
  transition(e, { type: 'break', to: OplockLevel.II })
  t.same([e.state, e.level, e.breakTo], [OplockState.Breaking, OplockLevel.BATCH, OplockLevel.II], 'batch keeps its level until acknowledged')
  transition(e, { type: 'break', to: OplockLevel.NONE })
  t.equal(e.breakTo, OplockLevel.NONE, 'a second break lowers the target')
  transition(e, { type: 'break', to: OplockLevel.II })
  t.equal(e.breakTo, OplockLevel.NONE, 'and never raises it')
  transition(e, { type: 'ack', level: OplockLevel.NONE })
  t.same([e.state, e.level], [OplockState.None, OplockLevel.NONE])

  const l2 = entry()
  transition(l2, { type: 'grant', level: OplockLevel.II })
  transition(l2, { type: 'break', to: OplockLevel.NONE })
  t.same([l2.state, l2.level], [OplockState.None, OplockLevel.NONE], 'level II breaks to none at once')

  const to = entry()
  transition(to, { type: 'grant', level: OplockLevel.EXCLUSIVE })
  transition(to, { type: 'break', to: OplockLevel.II })
  transition(to, { type: 'timeout' })
  t.same([to.state, to.level], [OplockState.Held, OplockLevel.II], 'a timed-out break lands on its target')
})

t.test('transition: illegal moves are rejected; a closed entry stays closed', async (t) => {
  const e = entry()
  t.throws(() => { transition(e, { type: 'ack', level: OplockLevel.NONE }) }, ILLEGAL, 'ack without a break')
  t.throws(() => { transition(e, { type: 'break', to: OplockLevel.NONE }) }, ILLEGAL, 'break of nothing')
  t.throws(() => { transition(e, { type: 'timeout' }) }, ILLEGAL)
  transition(e, { type: 'grant', level: OplockLevel.II })
  t.throws(() => { transition(e, { type: 'grant', level: OplockLevel.II }) }, ILLEGAL, 'granted twice')
  t.throws(() => { transition(e, { type: 'break', to: OplockLevel.II }) }, ILLEGAL, 'level II only breaks to none')
  const b = entry()
  transition(b, { type: 'grant', level: OplockLevel.BATCH })
  transition(b, { type: 'break', to: OplockLevel.II })
  t.throws(() => { transition(b, { type: 'ack', level: OplockLevel.BATCH }) }, ILLEGAL, 'ack above the target')
  transition(b, { type: 'close' })
  t.equal(b.state, OplockState.Closed)
  for (const ev of [{ type: 'grant', level: OplockLevel.II }, { type: 'ack', level: OplockLevel.NONE }, { type: 'close' }] as const) {
    t.throws(() => { transition(b, ev) }, ILLEGAL, `${ev.type} after close`)
  }
})

t.test('store: grants, breaks with waiting, acknowledgment, release and timeout', async (t) => {
  const store = new MemoryOplockStore(60_000)
  const sent: Array<[string, number]> = []
  const holder = (name: string): OplockHolder => ({ name, notifyBreak: (l) => { sent.push([name, l]) } })
  const a = store.register('f', holder('a'), { requested: OplockLevel.BATCH, eligible: true, level2: true })
  t.equal(a.level, OplockLevel.BATCH)
  const stat = store.register('f', holder('s'), { requested: OplockLevel.II, eligible: true, level2: true })
  t.equal(stat.level, OplockLevel.NONE, 'nothing beside a batch holder')
  const statTicket = await store.breakForOpen('f', { sharingViolation: false, statOpen: true, overwrite: false, level2: true }, () => { throw new Error('no wait expected') })
  t.ok(statTicket !== undefined, 'a stat open waits for nothing')
  statTicket!.done()

  const ac = new AbortController()
  let asyncCalls = 0
  const waiting = store.breakForOpen('f', { sharingViolation: false, statOpen: false, overwrite: false, level2: true }, () => { asyncCalls++; return ac.signal })
  t.same(sent, [['a', OplockLevel.II]], 'the batch holder is told to go to level II')
  t.equal(asyncCalls, 1, 'the opener goes async once')
  store.acknowledge(a, OplockLevel.II)
  t.equal(await waiting, undefined, 'the wait ends with the acknowledgment (look again)')
  const b = store.register('f', holder('b'), { requested: OplockLevel.BATCH, eligible: true, level2: true })
  t.equal(b.level, OplockLevel.II, 'level II beside others')

  store.breakLevelII('f')
  t.same(sent.slice(1), [['a', OplockLevel.NONE], ['b', OplockLevel.NONE]], 'a write breaks every level II')
  t.same(store.snapshot('f').map(x => x.level), [0, 0, 0])

  for (const e of [a, stat, b]) store.release(e)
  t.same(store.snapshot('f'), [], 'nothing left once every open closed')

  // A wait that is aborted rejects with the abort reason; the break goes on.
  const c = store.register('g', holder('c'), { requested: OplockLevel.EXCLUSIVE, eligible: true, level2: true })
  const ac2 = new AbortController()
  const w2 = store.breakForOpen('g', { sharingViolation: false, statOpen: false, overwrite: true, level2: true }, () => ac2.signal)
  t.equal(c.state, OplockState.Breaking)
  t.equal(c.breakTo, OplockLevel.NONE, 'an overwrite breaks to none')
  ac2.abort(new Error('cancelled'))
  await t.rejects(w2, /cancelled/)
  t.equal(c.state, OplockState.Breaking, 'the holder still owes its acknowledgment')
  store.release(c)
  t.equal(c.state, OplockState.Closed)

  // No acknowledgment: the timer ends the break.
  store.breakTimeoutMs = 30
  const d = store.register('h', holder('d'), { requested: OplockLevel.BATCH, eligible: true, level2: true })
  const started = Date.now()
  t.equal(await store.breakForOpen('h', { sharingViolation: true, statOpen: false, overwrite: false, level2: true }, () => new AbortController().signal), undefined)
  t.ok(Date.now() - started >= 25, 'waited for the timer')
  t.same([d.state, d.level], [OplockState.Held, OplockLevel.II])
  store.release(d)
})

t.test('store: an open on its way (past its breaks, not yet registered) keeps others from getting an oplock', async (t) => {
  const store = new MemoryOplockStore(60_000)
  const holder = (name: string): OplockHolder => ({ name, notifyBreak () { t.fail(`no break expected for ${name}`) } })
  const intent = { sharingViolation: false, statOpen: false, overwrite: true, level2: true }
  const ticket = await store.breakForOpen('f', intent, () => { throw new Error('nothing to wait for') })
  t.ok(ticket !== undefined)
  // Another open that raced past its own breaks registers first: it must not get a batch oplock
  // that the open in flight (about to truncate the file) would never break.
  const a = store.register('f', holder('a'), { requested: OplockLevel.BATCH, eligible: true, level2: true })
  t.equal(a.level, OplockLevel.NONE, 'no oplock while another open is in flight')
  ticket!.done()
  ticket!.done()
  const b = store.register('f', holder('b'), { requested: OplockLevel.II, eligible: true, level2: true })
  t.equal(b.level, OplockLevel.II, 'granted again once it landed (done() is idempotent)')
  const stat = await store.breakForOpen('f', { ...intent, statOpen: true, overwrite: false }, () => { throw new Error('no wait') })
  const c = store.register('f', holder('c'), { requested: OplockLevel.II, eligible: true, level2: true })
  t.equal(c.level, OplockLevel.II, 'a stat open in flight holds nobody back')
  stat!.done()
  for (const e of [a, b, c]) store.release(e)
  t.same(store.snapshot('f'), [])
  const lone = await store.breakForOpen('g', { ...intent, statOpen: true, overwrite: false }, () => { throw new Error('no wait') })
  lone!.done()
  t.equal(store.trackedFiles, 0, 'no state is left behind for files nobody holds')
})
