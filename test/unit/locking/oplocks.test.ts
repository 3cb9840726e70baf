// The oplock state machine (src/locking/oplocks.ts): the one transition function. The store's
// grant and break decisions are tested in store.test.ts.
import t from 'tap'
import { OplockState, transition, type OplockFields } from '../../../src/locking/oplocks.js'
import { OplockLevel } from '../../../src/wire/constants.js'

const ILLEGAL = { code: 'SMBTS_ERR_OPLOCK_TRANSITION' }
const entry = (): OplockFields => ({ state: OplockState.None, level: OplockLevel.NONE, breakTo: OplockLevel.NONE })

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
