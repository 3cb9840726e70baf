// SplicePipes (the pipes spliced READ responses go through): pipes are made at the asked size,
// lent and reused empty, capped while lent and while idle, closed when a chain broke or the pool
// closes; a size the kernel refuses copies READs for a while and is said once.
import t from 'tap'
import { native, nativeAvailable } from '../../../src/io/native.js'
import { SplicePipes } from '../../../src/transport/splice-pipes.js'

const skip = !nativeAvailable || typeof native.pipeNow !== 'function' ? 'the addon (with pipeNow) is not built' : false
const isOpen = (fd: number): boolean => native.fcntlGetflNow(fd) >= 0

t.test('pipes are lent, reused, capped and closed', { skip }, async (t) => {
  const warnings: string[] = []
  const pool = new SplicePipes((m) => warnings.push(m), { max: 6, keepIdle: 3 })
  t.teardown(() => { pool.close() })
  const a = pool.take(3)!
  t.equal(a.fds.length, 6, 'three (read, write) pairs')
  t.equal(new Set(a.fds).size, 6, 'six distinct descriptors')
  t.ok([...a.fds].every(isOpen), 'all open')
  t.equal(pool.count, 3)
  t.equal(pool.take(4), undefined, 'over the cap while three are lent: none')
  pool.give(a)
  const b = pool.take(3)!
  t.same(new Set(b.fds), new Set(a.fds), 'given back, the same pipes are lent again')
  t.equal(pool.count, 3, 'no new pipe made')
  const c = pool.take(3)!
  t.equal(pool.count, 6, 'three more made, up to the cap')
  pool.give(b)
  pool.give(c)
  t.equal(pool.count, 3, 'beyond three idle, pipes given back are closed')
  t.equal([...b.fds, ...c.fds].filter(isOpen).length, 6, 'the three kept are open')
  const d = pool.take(2)!
  pool.discard(d)
  t.equal(pool.count, 1, 'a discarded set is closed')
  t.notOk([...d.fds].some(isOpen), 'its descriptors are gone')
  const e = pool.take(1)!
  pool.close()
  t.equal(pool.count, 1, 'closing the pool closes the idle pipes; the lent one is still open')
  t.ok([...e.fds].every(isOpen))
  pool.give(e)
  t.equal(pool.count, 0, 'and it is closed when it comes back')
  t.equal(pool.take(1), undefined, 'a closed pool lends nothing')
  t.same(warnings, [])
})

t.test('a pipe size the kernel refuses: copied for a while, said once', { skip }, async (t) => {
  const warnings: string[] = []
  let now = 1000
  // Above 2 GiB F_SETPIPE_SZ always fails (EINVAL), privileged or not.
  const pool = new SplicePipes((m) => warnings.push(m), { size: 0x80001000, clock: () => now })
  t.teardown(() => { pool.close() })
  t.equal(pool.take(2), undefined, 'refused')
  t.equal(pool.count, 0, 'nothing left open')
  t.equal(warnings.length, 1)
  t.match(warnings[0], /READ data is copied, not spliced, for 10 s: a pipe of 2147487744 bytes was refused \(errno 22;/)
  now += 5000
  t.equal(pool.take(1), undefined, 'within the back-off: not even tried')
  now += 6000
  t.equal(pool.take(1), undefined, 'after it: tried again, refused again')
  t.equal(warnings.length, 1, 'said once')
})
