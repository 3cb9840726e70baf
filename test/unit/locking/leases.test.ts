// The lease state machine (src/locking/leases.ts): what a request is granted, how an existing
// lease is upgraded, what another open breaks it to, acknowledgments (and the next break step)
// and the timeout. The tables are smbtorture's smb2.lease expectations, which Windows answers.
import t from 'tap'
import {
  LeaseState, acknowledgeLease, breakLease, contend, grantFor, leaseStateName, leaseTimedOut, newLease, requestable, upgrade,
  type GrantContext, type LeaseRec,
} from '../../../src/locking/leases.js'

const S = (s: string): number => (s.includes('R') ? LeaseState.READ : 0) | (s.includes('H') ? LeaseState.HANDLE : 0) | (s.includes('W') ? LeaseState.WRITE : 0)
const alone: GrantContext = { otherOpen: false, otherOplock: false, rangeLocks: false, level2: true }
const lease = (state: string, epoch = 0): LeaseRec => newLease('k'.repeat(64), S(state), 2, epoch)

t.test('requestable: R, RH, RW, RWH as asked; nothing without R (smb2.lease.request)', async (t) => {
  for (const [asked, got] of [['', ''], ['R', 'R'], ['H', ''], ['W', ''], ['RH', 'RH'], ['RW', 'RW'], ['HW', ''], ['RHW', 'RHW']]) {
    t.equal(requestable(S(asked!)), S(got!), `${asked || 'none'} -> ${got || 'none'}`)
  }
  t.equal(requestable(0xf8 | LeaseState.READ), LeaseState.READ, 'unknown bits are dropped')
})

t.test('grantFor: other opens take W, an oplock takes H, range locks take R, no level II takes R-only', async (t) => {
  t.equal(grantFor(S('RWH'), alone), S('RWH'))
  t.equal(grantFor(S('RWH'), { ...alone, otherOpen: true }), S('RH'), 'one writer')
  t.equal(grantFor(S('RW'), { ...alone, otherOpen: true }), S('R'))
  t.equal(grantFor(S('RWH'), { ...alone, otherOpen: true, otherOplock: true }), S('R'), 'beside a level II oplock: R (smb2.lease.oplock)')
  t.equal(grantFor(S('RWH'), { ...alone, rangeLocks: true }), S(''), 'W and H alone are not granted')
  t.equal(grantFor(S('RH'), { ...alone, level2: false }), S(''), '`level2 oplocks = no`: no read-only caching')
  t.equal(grantFor(S('RWH'), { ...alone, level2: false }), S('RWH'), 'but write caching stays')
})

t.test('upgrade: only to a strict superset that can be had as asked, never while breaking (smb2.lease.upgrade2/3)', async (t) => {
  const table: Array<[string, string, string]> = [
    ['', 'R', 'R'], ['R', 'RH', 'RH'], ['R', 'RWH', 'RWH'], ['RH', 'RW', 'RH'], ['RH', 'RWH', 'RWH'],
    ['RW', 'RH', 'RW'], ['RW', 'RWH', 'RWH'], ['RWH', 'R', 'RWH'], ['RWH', '', 'RWH'], ['R', '', 'R'],
  ]
  for (const [held, asked, after] of table) {
    const l = lease(held, 10)
    const changed = upgrade(l, S(asked), grantFor(S(asked), alone))
    t.equal(l.state, S(after), `${held || 'none'} + ${asked || 'none'} -> ${after || 'none'}`)
    t.equal(l.epoch, changed ? 12 : 11, 'the epoch moves with the state')
  }
  const contended = lease('R')
  upgrade(contended, S('RWH'), grantFor(S('RWH'), { ...alone, otherOpen: true }))
  t.equal(contended.state, S('R'), 'RWH not to be had beside another lease: no change (upgrade3)')
  const breaking = lease('RWH')
  breakLease(breaking, S('RH'))
  breaking.state = S('R')
  t.notOk(upgrade(breaking, S('RWH'), S('RWH')), 'no upgrade while breaking')
})

t.test('contend + breakLease: the break_results table of smb2.lease.break', async (t) => {
  // held, broken to (the newcomer is another lease key opening normally)
  const table: Array<[string, string, boolean]> = [['R', 'R', false], ['RH', 'RH', false], ['RW', 'R', true], ['RWH', 'RH', true]]
  for (const [held, to, waits] of table) {
    const l = lease(held, 1)
    const c = contend(l, { sharingViolation: false, overwrite: false, level2: true }, true)
    t.equal(c.to, S(to), `${held} -> ${to}`)
    t.equal(c.wait, waits, `${held}: the open ${waits ? 'waits' : 'does not wait'}`)
    const b = breakLease(l, c.to)
    if (S(held) === S(to)) { t.equal(b, undefined, 'no break'); continue }
    t.same(b, { lk: l.lk, from: S(held), to: S(to), epoch: 3, v: 2, ackRequired: true }, 'a break to acknowledge, the epoch moved')
    t.ok(l.breaking)
    t.equal(l.state, S(held), 'the state holds until the acknowledgment')
  }
})

t.test('contend: sharing violations take H, overwrites everything, a breaking lease holds later attempts', async (t) => {
  t.same(contend(lease('RH'), { sharingViolation: true, overwrite: false, level2: true }, true), { to: S('R'), wait: true })
  t.same(contend(lease('RWH'), { sharingViolation: false, overwrite: true, level2: true }, true), { to: S(''), wait: true })
  t.same(contend(lease('R'), { sharingViolation: false, overwrite: true, level2: true }, true), { to: S(''), wait: false }, 'R goes at once')
  t.same(contend(lease('RWH'), { sharingViolation: false, overwrite: false, level2: false }, true), { to: S('H'), wait: true }, 'no level II: R goes too')
  const l = lease('RWH')
  breakLease(l, S('RH'))
  t.same(contend(l, { sharingViolation: false, overwrite: false, level2: true }, true), { to: S('RH'), wait: true }, 'W still held until acknowledged: wait')
  t.equal(breakLease(l, S('RH')), undefined, 'and no second notification')
  const r = lease('RH')
  breakLease(r, S('R'))
  t.same(contend(r, { sharingViolation: false, overwrite: false, level2: true }, false), { to: S('RH'), wait: true }, 'nothing more to take, but breaking: a later attempt waits')
})

t.test('breakLease: R breaks at once without acknowledgment; a second break lowers the target', async (t) => {
  const r = lease('R', 4)
  t.same(breakLease(r, S('')), { lk: r.lk, from: S('R'), to: 0, epoch: 6, v: 2, ackRequired: false })
  t.same([r.state, r.breaking], [0, false])
  const l = lease('RWH')
  breakLease(l, S('RH'))
  t.equal(breakLease(l, S('R')), undefined, 'no second notification')
  t.same([l.breakTo, l.breakToReq], [S('R'), S('RH')], 'the target fell; the request stays what was sent')
})

t.test('acknowledgeLease: checks, completion, and the next step (smb2.lease.breaking3)', async (t) => {
  t.same(acknowledgeLease(lease('RWH'), S('RH')), { ok: false, reason: 'not-breaking' })
  const l = lease('RWH', 0)
  breakLease(l, S('RH'))
  t.same(acknowledgeLease(l, S('RWH')), { ok: false, reason: 'not-accepted' }, 'more than the break asked for')
  t.ok(l.breaking, 'a refused acknowledgment leaves the break outstanding')
  t.same(acknowledgeLease(l, S('RH')), { ok: true })
  t.same([l.state, l.breaking], [S('RH'), false])
  t.same(acknowledgeLease(l, S('R')), { ok: false, reason: 'not-breaking' })

  const s = lease('RWH', 0)
  breakLease(s, S('RH'))
  breakLease(s, S('')) // an overwrite arrived meanwhile
  const r = acknowledgeLease(s, S('RH'))
  t.same(r, { ok: true, next: { lk: s.lk, from: S('RH'), to: S('R'), epoch: 2, v: 2, ackRequired: true } }, 'RH -> R next, R kept as Windows steps')
  t.same(acknowledgeLease(s, S('R')), { ok: true, next: { lk: s.lk, from: S('R'), to: 0, epoch: 2, v: 2, ackRequired: false } }, 'then R goes at once')
  t.same([s.state, s.breaking], [0, false])
  const less = lease('RWH')
  breakLease(less, S('RH'))
  t.same(acknowledgeLease(less, S('')), { ok: true }, 'acknowledging less than asked is fine')
  t.equal(less.state, 0)
})

t.test('leaseTimedOut: a breaking lease goes to none; one not breaking is left alone', async (t) => {
  const l = lease('RWH')
  t.notOk(leaseTimedOut(l))
  breakLease(l, S('RH'))
  t.ok(leaseTimedOut(l))
  t.same([l.state, l.breaking], [0, false])
  t.equal(leaseStateName(S('RWH')), 'RWH')
  t.equal(leaseStateName(0), 'NONE')
})
