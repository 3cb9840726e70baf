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
