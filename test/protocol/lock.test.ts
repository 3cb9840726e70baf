// Byte-range locks through the whole server in memory (MS-SMB2 3.3.5.14 LOCK, 3.3.5.12/13 READ and
// WRITE inside locked ranges, 3.3.4.2 interim responses, 3.3.5.16 CANCEL): two clients on one
// ServerState, each with its own open of one file.
import t from 'tap'
import {
  Disposition, fileIdOf, LockFlag, MemClient, memServer, Status, type FileId, type MemServer,
} from '../helpers/mem-client.js'

const SHARE_ALL = 7
const X = LockFlag.EXCLUSIVE | LockFlag.FAIL_IMMEDIATELY
const S = LockFlag.SHARED | LockFlag.FAIL_IMMEDIATELY
const settle = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 20))

async function two (t: { teardown: (fn: () => void) => void }): Promise<{ srv: MemServer, a: MemClient, b: MemClient, fa: FileId, fb: FileId }> {
  const srv = memServer()
  t.teardown(srv.cleanup)
  srv.files.write('l.bin', Buffer.alloc(200, 1))
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('l.bin', { share: SHARE_ALL, disposition: Disposition.OPEN }))
  const fb = fileIdOf(await b.create('l.bin', { share: SHARE_ALL, disposition: Disposition.OPEN }))
  return { srv, a, b, fa, fb }
}

t.test('an exclusive lock: the other open cannot read, write or lock there; its own can; unlock frees it', async (t) => {
  const { a, b, fa, fb } = await two(t)
  t.equal((await a.lock(fa, [{ off: 0, len: 10, flags: X }])).status, 0)
  t.equal((await b.read(fb, 5, 2)).status, Status.FILE_LOCK_CONFLICT, 'READ inside: FILE_LOCK_CONFLICT')
  t.equal((await b.write(fb, 9, Buffer.from('zz'))).status, Status.FILE_LOCK_CONFLICT, 'WRITE running into it too')
  t.equal((await b.read(fb, 10, 5)).status, 0, 'past it is free')
  t.equal((await a.read(fa, 5, 2)).status, 0, 'the holder reads')
  t.equal((await a.write(fa, 0, Buffer.from('ab'))).status, 0, 'and writes')
  t.equal((await b.lock(fb, [{ off: 5, len: 1, flags: S }])).status, Status.LOCK_NOT_GRANTED, 'a lock inside: LOCK_NOT_GRANTED')
  t.equal((await a.lock(fa, [{ off: 0, len: 5, flags: LockFlag.UNLOCK }])).status, Status.RANGE_NOT_LOCKED, 'an unlock names the exact range')
  t.equal((await b.lock(fb, [{ off: 0, len: 10, flags: LockFlag.UNLOCK }])).status, Status.RANGE_NOT_LOCKED, 'of its own open')
  t.equal((await a.lock(fa, [{ off: 0, len: 10, flags: LockFlag.UNLOCK }])).status, 0)
  t.equal((await b.read(fb, 5, 2)).status, 0, 'unlocked: b reads')
})

t.test('a shared lock: everyone reads, nobody writes, the holder included', async (t) => {
  const { a, b, fa, fb } = await two(t)
  t.equal((await a.lock(fa, [{ off: 100, len: 50, flags: S }])).status, 0)
  t.equal((await b.read(fb, 120, 4)).status, 0)
  t.equal((await b.lock(fb, [{ off: 110, len: 5, flags: S }])).status, 0, 'shared beside shared')
  t.equal((await b.write(fb, 120, Buffer.from('x'))).status, Status.FILE_LOCK_CONFLICT)
  t.equal((await a.write(fa, 120, Buffer.from('x'))).status, Status.FILE_LOCK_CONFLICT, 'the holder cannot write either')
})

t.test('several elements: all or none; the request\'s shape is checked', async (t) => {
  const { srv, a, b, fa, fb } = await two(t)
  t.equal((await a.lock(fa, [{ off: 50, len: 1, flags: X }])).status, 0)
  t.equal((await b.lock(fb, [{ off: 0, len: 10, flags: X }, { off: 50, len: 1, flags: X }])).status, Status.LOCK_NOT_GRANTED)
  t.equal((await a.read(fa, 0, 10)).status, 0, 'the first of b\'s two was not taken either')
  t.equal((await b.lock(fb, [{ off: 0, len: 10, flags: X }, { off: 20, len: 1, flags: LockFlag.EXCLUSIVE }])).status, Status.INVALID_PARAMETER, 'two elements, one that would wait')
  t.equal((await b.lock(fb, [{ off: 0, len: 10, flags: LockFlag.UNLOCK | LockFlag.SHARED }])).status, Status.INVALID_PARAMETER, 'UNLOCK with another flag')
  t.equal((await b.lock(fb, [{ off: 0, len: 10, flags: X | LockFlag.SHARED }])).status, Status.INVALID_PARAMETER, 'shared and exclusive at once')
  t.equal((await b.lock(fb, [{ off: (1n << 64n) - 1n, len: 2, flags: X }])).status, Status.INVALID_LOCK_RANGE, 'a range past the last byte')
  t.equal((await b.lock(fb, [])).status, Status.INVALID_PARAMETER, 'no element')
  const dir = fileIdOf(await a.create('', { disposition: Disposition.OPEN, options: 1 }))
  t.equal((await a.lock(dir, [{ off: 0, len: 1, flags: X }])).status, Status.INVALID_PARAMETER, 'no locks on a directory')
  t.equal(srv.state.locks.locksOf(srv.state.sessions.values().next().value!.opens.values().next().value!.oplock!.key).length, 1, 'only a\'s one lock is held')
})

t.test('a lock that waits: STATUS_PENDING, then granted when the holder unlocks; CANCEL; the holder\'s close', async (t) => {
  const { a, b, fa, fb } = await two(t)
  t.equal((await a.lock(fa, [{ off: 0, len: 10, flags: X }])).status, 0)
  const pending = b.lock(fb, [{ off: 5, len: 1, flags: LockFlag.EXCLUSIVE }])
  await settle()
  t.equal(b.interims.length, 1, 'the waiting LOCK answered STATUS_PENDING')
  t.equal((await a.lock(fa, [{ off: 0, len: 10, flags: LockFlag.UNLOCK }])).status, 0)
  t.equal((await pending).status, 0, 'granted once a unlocked')
  t.equal((await a.read(fa, 5, 1)).status, Status.FILE_LOCK_CONFLICT, 'b holds it now')

  const waiting = a.lock(fa, [{ off: 5, len: 1, flags: LockFlag.SHARED }])
  await settle()
  await a.cancel({ asyncId: a.interims[0]!.hdr.asyncId })
  t.equal((await waiting).status, Status.CANCELLED, 'CANCEL ends it')
  t.equal((await a.lock(fa, [{ off: 5, len: 1, flags: S }])).status, Status.LOCK_NOT_GRANTED, 'and nothing was taken')

  const third = a.lock(fa, [{ off: 0, len: 100, flags: LockFlag.EXCLUSIVE }])
  await settle()
  t.equal((await b.close(fb)).status, 0, 'b closes its open')
  t.equal((await third).status, 0, 'which released its lock: a\'s wait is granted')
})

t.test('a lock waiting on an open that closes ends with it', async (t) => {
  const { a, b, fa, fb } = await two(t)
  t.equal((await a.lock(fa, [{ off: 0, len: 10, flags: X }])).status, 0)
  const pending = b.lock(fb, [{ off: 0, len: 1, flags: LockFlag.EXCLUSIVE }])
  await settle()
  await b.close(fb)
  t.not((await pending).status, 0, 'the waiting LOCK failed with its open')
  t.equal((await a.read(fa, 0, 10)).status, 0, 'and took nothing')
})
