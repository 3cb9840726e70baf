// src/control/status.ts: what `status.json` shows of a server in memory — here its byte-range
// locks, in smbstatus -j's byte_range_locks shape.
import t from 'tap'
import { renderStatusJson, statusSlice } from '../../../src/control/status.js'
import { Disposition, fileIdOf, LockFlag, MemClient, memServer } from '../../helpers/mem-client.js'

t.test('status.json lists byte-range locks by file, with their open, type and range', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  srv.files.write('locked.bin', Buffer.alloc(100))
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const f = fileIdOf(await a.create('locked.bin', { share: 7, disposition: Disposition.OPEN }))
  t.equal((await a.lock(f, [{ off: 10, len: 5, flags: LockFlag.EXCLUSIVE | LockFlag.FAIL_IMMEDIATELY }, { off: 40, len: 2, flags: LockFlag.SHARED | LockFlag.FAIL_IMMEDIATELY }])).status, 0)
  const slice = statusSlice(srv.state, [])
  t.equal(slice.locks.length, 2, 'both locks in the slice')
  const doc = JSON.parse(renderStatusJson([slice])) as { byte_range_locks: Record<string, { filename: string, locks: Array<{ type: string, start: number, size: number, share_file_id: string }> }> }
  const files = Object.values(doc.byte_range_locks)
  t.equal(files.length, 1, 'one file')
  t.equal(files[0]!.filename, 'locked.bin')
  t.same(files[0]!.locks.map(l => [l.type, l.start, l.size]), [['WRITE', 10, 5], ['READ', 40, 2]], 'an exclusive lock is WRITE, a shared one READ')
  t.equal(files[0]!.locks[0]!.share_file_id, `${f.persistent}:${f.volatile}`, 'each names its open')
  await a.lock(f, [{ off: 10, len: 5, flags: LockFlag.UNLOCK }])
  await a.close(f)
  t.same(JSON.parse(renderStatusJson([statusSlice(srv.state, [])])).byte_range_locks, {}, 'none once unlocked and closed')
})

t.test('status.json shows each open\'s caching, and its lease (key, state now) as smbstatus -j does', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
  const leased = fileIdOf(await a.create('leased.txt', { lease: { key, state: 7 } }))
  const batch = fileIdOf(await a.create('batch.txt', { oplock: 9 }))
  const plain = fileIdOf(await a.create('plain.txt'))
  type Open = { caching: { text: string, hex: string }, lease: { lease_key?: string, text?: string, READ?: boolean, WRITE?: boolean, HANDLE?: boolean } }
  const doc = JSON.parse(renderStatusJson([statusSlice(srv.state, [])])) as { open_files: Record<string, { filename: string, opens: Record<string, Open> }> }
  const open = (name: string): Open => Object.values(Object.values(doc.open_files).find(f => f.filename === name)!.opens)[0]!
  t.match(open('leased.txt').lease, { lease_key: '33221100-5544-7766-8899-aabbccddeeff', text: 'RWH', READ: true, WRITE: true, HANDLE: true })
  t.equal(open('leased.txt').caching.text, 'RWH')
  t.same(open('batch.txt').lease, {}, 'an oplock is no lease')
  t.same([open('batch.txt').caching.text, open('batch.txt').caching.hex], ['RWH', '0x00000007'], 'a batch oplock caches as RWH')
  t.equal(open('plain.txt').caching.text, '')
  for (const f of [leased, batch, plain]) await a.close(f)
})
