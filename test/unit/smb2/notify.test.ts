// CHANGE_NOTIFY's per-open state (src/smb2/notify.ts) with a watcher that reports what the test
// says: the wire format of FILE_NOTIFY_INFORMATION, changes kept between requests, the filter,
// the buffer sizes and NOTIFY_ENUM_DIR, repeats coalesced, and how a wait ends.
import t from 'tap'
import { encodeNotifyEntries, NotifyState } from '../../../src/smb2/notify.js'
import { NotifyAction as A, NotifyFilter as F, type DirChange, type DirectoryWatcher, type WatchSink } from '../../../src/vfs/watch.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'
import { NtStatusError } from '../../../src/wire/errors.js'

/** A watcher whose one subscription the test drives. */
function fakeWatcher (): { watcher: DirectoryWatcher, sink: () => WatchSink, stopped: () => boolean } {
  let sink: WatchSink | undefined
  let stopped = false
  const watcher = { watch: (_dir: string, _rec: boolean, s: WatchSink) => { sink = s; return () => { stopped = true } } } as unknown as DirectoryWatcher
  return { watcher, sink: () => sink!, stopped: () => stopped }
}

/** The NTSTATUS a promise rejects with (undefined: it resolved). */
async function statusOf (p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p
    return undefined
  } catch (e) {
    return (e as NtStatusError).status
  }
}

const change = (action: number, name: string, filter: number = F.FILE_NAME): DirChange => ({ action, name, filter })

/** The entries of a response body (MS-SMB2 2.2.36 + MS-FSCC 2.7.1). */
function entries (body: Buffer): Array<[number, string]> {
  const len = body.readUInt32LE(4)
  const out: Array<[number, string]> = []
  let at = 8
  for (;;) {
    if (len === 0) return out
    const next = body.readUInt32LE(at)
    const n = body.readUInt32LE(at + 8)
    out.push([body.readUInt32LE(at + 4), body.toString('utf16le', at + 12, at + 12 + n)])
    if (next === 0) return out
    at += next
  }
}

t.test('FILE_NOTIFY_INFORMATION: 4-byte aligned entries, backslashes, no padding after the last', async t => {
  const b = encodeNotifyEntries([change(A.ADDED, 'a'), change(A.RENAMED_NEW_NAME, 'dir/b.txt')])
  t.equal(b.readUInt32LE(0), 16, 'next entry: 12 + 2 bytes of name, padded to 16')
  t.equal(b.length, 16 + 12 + 18)
  t.equal(b.readUInt32LE(16), 0, 'the last entry says so')
  t.equal(b.toString('utf16le', 28), 'dir\\b.txt')
  t.equal(encodeNotifyEntries([]).length, 0)
})

t.test('changes wait for the next request; one that finds them completes at once', async t => {
  const f = fakeWatcher()
  const s = new NotifyState(f.watcher, '/x', F.FILE_NAME | F.DIR_NAME, false, 1000, () => {})
  t.equal(s.request(1000), undefined, 'nothing yet: the request waits')
  f.sink().onChanges([change(A.ADDED, 'a'), change(A.MODIFIED, 'a', F.ATTRIBUTES), change(A.REMOVED, 'd', F.DIR_NAME)])
  const r = s.request(1000)!
  t.equal(r.status ?? NtStatus.SUCCESS, NtStatus.SUCCESS)
  t.same(entries(r.body), [[A.ADDED, 'a'], [A.REMOVED, 'd']], 'only what the filter selects')
  t.equal(s.request(1000), undefined, 'taken: the next one waits')
  f.sink().onChanges([change(A.REMOVED, 'x'), change(A.REMOVED, 'x'), change(A.ADDED, 'x')])
  t.same(entries(s.request(1000)!.body), [[A.REMOVED, 'x'], [A.ADDED, 'x']], 'a repeat at once is reported once')
})

t.test('a waiting request completes on the next change; close, cancel and deletion end it', async t => {
  const f = fakeWatcher()
  const s = new NotifyState(f.watcher, '/x', F.FILE_NAME, true, 1000, () => {})
  const cancel = new AbortController()
  const close = new AbortController()
  const p = s.wait(1000, cancel.signal, close.signal)
  f.sink().onChanges([change(A.ADDED, 'sub/n')])
  t.same(entries((await p).body), [[A.ADDED, 'sub\\n']])

  const p2 = s.wait(1000, cancel.signal, close.signal)
  close.abort()
  t.equal(await statusOf(p2), NtStatus.NOTIFY_CLEANUP, 'the handle closed: NOTIFY_CLEANUP')

  const c2 = new AbortController()
  const p3 = s.wait(1000, c2.signal, new AbortController().signal)
  c2.abort(new NtStatusError(NtStatus.CANCELLED))
  t.equal(await statusOf(p3), NtStatus.CANCELLED, 'CANCEL')

  const p4 = s.wait(1000, new AbortController().signal, new AbortController().signal)
  f.sink().onGone()
  t.equal(await statusOf(p4), NtStatus.DELETE_PENDING, 'the directory deleted')
  t.equal(await statusOf(Promise.resolve().then(() => s.request(1000))), NtStatus.DELETE_PENDING, 'and every later request')
  s.close()
  t.ok(f.stopped(), 'close stops the watch')
})

t.test('NOTIFY_ENUM_DIR: too small a buffer, the first request\'s size, overflow', async t => {
  const f = fakeWatcher()
  const s = new NotifyState(f.watcher, '/x', F.FILE_NAME, false, 100, () => {})
  f.sink().onChanges([change(A.ADDED, 'a-long-name.txt')])
  const r = s.request(10)!
  t.equal(r.status, NtStatus.NOTIFY_ENUM_DIR, 'does not fit in this request')
  t.equal(r.body.readUInt32LE(4), 0, 'and carries nothing')
  t.equal(s.request(100), undefined, 'the changes went with it')
  f.sink().onChanges([change(A.ADDED, 'b')])
  t.equal(s.request(5000)!.status, NtStatus.SUCCESS, 'a larger request: bounded by the first one\'s 100, which holds one entry')
  for (let i = 0; i < 20; i++) f.sink().onChanges([change(A.ADDED, `file-${i}`)])
  t.equal(s.request(100)!.status, NtStatus.NOTIFY_ENUM_DIR, 'more kept than the buffer holds: overflowed')
  f.sink().onOverflow()
  t.equal(s.request(100)!.status, NtStatus.NOTIFY_ENUM_DIR, 'the kernel\'s queue overflowed')
})

t.test('no watcher (a directory that cannot be watched): requests wait, the error is said', async t => {
  const said: string[] = []
  const watcher = { watch: () => { throw new Error('ENOSPC: inotify watch limit') } } as unknown as DirectoryWatcher
  const s = new NotifyState(watcher, '/x', F.FILE_NAME, false, 100, (e) => { said.push(e.message) })
  t.same(said, ['ENOSPC: inotify watch limit'])
  t.equal(s.request(100), undefined)
})
