// Alternate data streams (src/vfs/streams.ts): the name rules, the xattr layout Samba's
// vfs_streams_xattr uses (checked against values set and read on disk with setfattr/getfattr, not
// through our own code), and a stream open's reads, writes, truncation and size limit on the
// memory and posix backends.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { memoryBackend } from '../../../src/vfs/memory.js'
import { posixBackend } from '../../../src/vfs/posix.js'
import { posixUringBackend } from '../../../src/vfs/posix-uring.js'
import { Ring, ringUnavailableReason } from '../../../src/io/ring.js'
import { nativeAvailable } from '../../../src/io/native.js'
import type { ShareFs, VfsFile } from '../../../src/vfs/backend.js'
import {
  createStream, decodeStreamValue, encodeStreamValue, findStream, listStreams, removeAllStreams, removeStream, renameStream,
  splitStreamName, STREAM_MAX_SIZE, STREAM_TOO_LARGE_CODE, streamKey, streamNameOfXattr, streamXattrName, StreamFile,
} from '../../../src/vfs/streams.js'
import { smbPathWithStream } from '../../../src/smb2/path.js'
import { ntStatusFromErrno } from '../../../src/vfs/errno.js'
import { NtStatusError } from '../../../src/wire/errors.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'

const status = (f: () => unknown): number | undefined => {
  try { f() } catch (e) { return e instanceof NtStatusError ? e.status : -1 }
  return undefined
}

t.test('splitStreamName: what Windows accepts and refuses (smbtorture smb2.streams.names, names2, io)', async t => {
  t.same(splitStreamName('a.txt'), { file: 'a.txt' })
  t.same(splitStreamName('a.txt:s'), { file: 'a.txt', stream: 's' })
  t.same(splitStreamName('a.txt:Stream One:$DATA'), { file: 'a.txt', stream: 'Stream One' })
  t.same(splitStreamName('a.txt:Second Stream:$DaTa'), { file: 'a.txt', stream: 'Second Stream' }, 'the type in any case')
  t.same(splitStreamName('a.txt::$DATA'), { file: 'a.txt', stream: '' }, 'the unnamed stream')
  t.same(splitStreamName('a.txt:\x05Stream\n One'), { file: 'a.txt', stream: '\x05Stream\n One' }, 'control characters')
  t.same(splitStreamName('a.txt:?Stream*'), { file: 'a.txt', stream: '?Stream*' }, 'wildcards')
  for (const bad of ['a.txt:', 'a.txt:s:', 'a.txt:s:$FOO', 'a.txt:s:?D*a', 'a.txt::', 'a.txt::foo', 'a.txt:s:$DATA:x', 'a.txt:s/t', 'a.txt:s\0t']) {
    t.equal(status(() => splitStreamName(bad)), NtStatus.OBJECT_NAME_INVALID, JSON.stringify(bad))
  }
  t.equal(status(() => splitStreamName('a:' + 'x'.repeat(235))), NtStatus.OBJECT_NAME_INVALID, 'longer than an xattr name can hold')
  t.equal(status(() => splitStreamName('a:' + 'x'.repeat(234))), undefined, 'the longest that fits')
})

t.test('smbPathWithStream: only the last component names a stream', async t => {
  t.same(smbPathWithStream('dir\\a.txt:s:$DATA'), { rel: 'dir/a.txt', stream: 's' })
  t.same(smbPathWithStream('dir\\a.txt'), { rel: 'dir/a.txt' })
  t.same(smbPathWithStream(':s'), { rel: '', stream: 's' }, 'a stream of the share root')
  t.equal(status(() => smbPathWithStream('dir\\a.txt:Stream\\0x5C:$DATA')), NtStatus.OBJECT_NAME_INVALID, 'a backslash in a stream name')
  t.equal(status(() => smbPathWithStream('dir:x\\a.txt')), NtStatus.OBJECT_NAME_INVALID, 'a colon before the last component')
  t.equal(status(() => smbPathWithStream('dir\\stream*:?Stream*:$DATA')), NtStatus.OBJECT_NAME_INVALID, 'a wildcard in the file part')
  t.equal(status(() => smbPathWithStream('dir\\:s')), NtStatus.OBJECT_NAME_INVALID, 'an empty file name')
})

t.test('the xattr layout: user.DosStream.<name>:$DATA holding the data and one NUL', async t => {
  t.equal(streamXattrName('Stream One'), 'user.DosStream.Stream One:$DATA')
  t.equal(streamNameOfXattr('user.DosStream.Stream One:$DATA'), 'Stream One')
  t.equal(streamNameOfXattr('user.DosStream.legacy'), 'legacy', 'a stream stored without its type (store_stream_type = no)')
  t.equal(streamNameOfXattr('user.DOSATTRIB'), undefined)
  t.equal(streamNameOfXattr('user.DosStream.:$DATA'), undefined, 'no name')
  t.same(encodeStreamValue(Buffer.from('hello')), Buffer.from('hello\0'))
  t.same(encodeStreamValue(Buffer.alloc(0)), Buffer.from([0]), 'an empty stream is one NUL')
  t.same(encodeStreamValue(Buffer.from('hello'), 2), Buffer.from('he\0'), 'truncated')
  t.same(encodeStreamValue(Buffer.from('he'), 4), Buffer.from('he\0\0\0'), 'extended with zeros')
  t.same(decodeStreamValue(Buffer.from('hello\0')), Buffer.from('hello'))
  t.same(decodeStreamValue(Buffer.alloc(0)), Buffer.alloc(0))
  t.equal(streamKey('share\x0042', 'Stream One'), streamKey('share\x0042', 'STREAM one'), 'one key whatever the case')
  t.not(streamKey('share\x0042', 'a'), 'share\x0042', 'not the file\'s key')
})

/** The stream operations every backend must serve alike. */
async function streamOps (t: Test, fs: ShareFs): Promise<void> {
  const f = await fs.open('base.txt', { write: true, create: 'new', mode: 0o644 })
  await f.write(Buffer.from('main data'), 0, 9, 0)
  await f.close()
  const base = await fs.open('base.txt', { write: false })
  t.teardown(() => base.close().catch(() => {}))
  t.same(await listStreams(base), [], 'no streams yet')

  const xattr = await createStream(base, 'Stream One')
  await t.rejects(createStream(base, 'Stream One'), { code: 'EEXIST' }, 'created once')
  const s = new StreamFile(base, xattr, 'Stream One', 'k1')
  t.same((await s.stat()).endOfFile, 0n, 'empty')
  t.equal(await s.write(Buffer.from('test data'), 0, 9, 0), 9)
  t.equal(await s.write(Buffer.from('MORE DATA '), 0, 10, 5), 10)
  const buf = Buffer.alloc(40)
  const n = await s.read(buf, 0, 40, 0)
  t.equal(buf.subarray(0, n).toString(), 'test MORE DATA ', 'write at an offset extends')
  t.equal(await s.read(buf, 0, 5, 100), 0, 'past the end')
  const st = await s.stat()
  t.equal(st.endOfFile, 15n)
  t.equal(st.isDirectory, false)
  t.equal((await base.stat()).endOfFile, 9n, 'the file\'s own data is untouched')
  await s.truncate(4)
  t.equal((await s.stat()).endOfFile, 4n)
  await s.truncate(6)
  const m = await s.read(buf, 0, 40, 0)
  t.same(buf.subarray(0, m), Buffer.from('test\0\0'), 'extended with zeros')

  // The limit: a value (data + NUL) must stay below 64 KiB, as Samba's `smbd max xattr size`.
  const e1 = await s.write(Buffer.alloc(10), 0, 10, STREAM_MAX_SIZE - 5).catch((e: unknown) => e)
  t.equal((e1 as NodeJS.ErrnoException).code, STREAM_TOO_LARGE_CODE, 'a write past the largest stream')
  t.equal(ntStatusFromErrno(e1), NtStatus.FILE_SYSTEM_LIMITATION, 'answered as Samba answers it')
  await t.rejects(s.truncate(STREAM_MAX_SIZE + 1), { code: STREAM_TOO_LARGE_CODE })

  t.match(await findStream(base, 'stream one'), { name: 'Stream One', xattr }, 'found ignoring case')
  t.equal(await findStream(base, 'other'), undefined)
  await createStream(base, 'Second')
  t.same((await listStreams(base)).map(e => [e.name, e.size]).sort(), [['Second', 0], ['Stream One', 6]])

  await t.rejects(renameStream(base, xattr, 'second', false), { code: 'EEXIST' }, 'no replacing unless asked')
  const renamed = await renameStream(base, xattr, 'Renamed', false)
  t.equal(renamed, 'user.DosStream.Renamed:$DATA')
  t.same((await listStreams(base)).map(e => [e.name, e.size]).sort(), [['Renamed', 6], ['Second', 0]], 'the data moved with the name')
  await removeStream(base, renamed)
  t.equal(await removeAllStreams(base), 1)
  t.same(await listStreams(base), [])
}

t.test('stream operations on the memory backend', async t => {
  const backend = memoryBackend()
  backend.tree('/mem/share')
  const fs = await backend.openShare('/mem/share', { followSymlinks: false })
  t.teardown(() => fs.close())
  await streamOps(t, fs)
})

const hasTools = spawnSync('setfattr', ['--version']).status === 0 && spawnSync('getfattr', ['--version']).status === 0

t.test('stream operations on the posix backend', { skip: !nativeAvailable && 'no native addon' }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-streams-'))
  const fs = await posixBackend.openShare(dir, { followSymlinks: false, inline: { mode: 'no' } })
  t.teardown(async () => { await fs.close(); rmSync(dir, { recursive: true, force: true }) })
  await streamOps(t, fs)
})

const ringSkip = nativeAvailable ? await ringUnavailableReason() : 'no native addon'

t.test('stream operations on the posix-uring backend (xattr reads and writes on the ring)', { skip: ringSkip ?? false }, async t => {
  // tmpfs, where a value may be larger than one page: the ring's read retries with 64 KiB.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'smbts-streams-ring-'))
  const ring = Ring.create(64)
  const fs = await posixUringBackend(ring).openShare(dir, { followSymlinks: false, inline: { mode: 'no' } })
  t.teardown(async () => { await fs.close(); await ring.close(); rmSync(dir, { recursive: true, force: true }) })
  await streamOps(t, fs)
  const f = await fs.open('big.txt', { write: true, create: 'new', mode: 0o644 })
  t.teardown(() => f.close().catch(() => {}))
  const s = new StreamFile(f, await createStream(f, 'big'), 'big', 'kb')
  const data = Buffer.alloc(10000, 7)
  try {
    await s.write(data, 0, data.length, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') { t.comment('this file system keeps no 10 KB xattr value'); return }
    throw e
  }
  const back = Buffer.alloc(12000)
  t.equal(await s.read(back, 0, back.length, 0), 10000, 'a value past the first 4 KiB read')
  t.same(back.subarray(0, 10000), data)
})

t.test('Samba\'s layout on disk, both ways (setfattr/getfattr, not our code)', { skip: (!nativeAvailable && 'no native addon') || (!hasTools && 'no setfattr/getfattr (package attr)') }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-streams-samba-'))
  const fs = await posixBackend.openShare(dir, { followSymlinks: false, inline: { mode: 'no' } })
  t.teardown(async () => { await fs.close(); rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'from-samba.txt')
  writeFileSync(file, 'unnamed')
  // What vfs_streams_xattr writes for a stream "AFP_AfpInfo" holding "hello", and an empty one.
  t.equal(spawnSync('setfattr', ['-n', 'user.DosStream.AFP_AfpInfo:$DATA', '-v', '0x68656c6c6f00', file]).status, 0)
  t.equal(spawnSync('setfattr', ['-n', 'user.DosStream.empty:$DATA', '-v', '0x00', file]).status, 0)
  t.equal(spawnSync('setfattr', ['-n', 'user.DOSATTRIB', '-v', '0x00', file]).status, 0, 'another xattr, not a stream')

  const base = await fs.open('from-samba.txt', { write: false })
  t.teardown(() => base.close().catch(() => {}))
  t.same((await listStreams(base)).map(e => [e.name, e.size]).sort(), [['AFP_AfpInfo', 5], ['empty', 0]], 'listed with their sizes')
  const found = await findStream(base, 'afp_afpinfo')
  t.ok(found)
  const s = new StreamFile(base, found!.xattr, found!.name, 'k')
  const buf = Buffer.alloc(16)
  t.equal(buf.subarray(0, await s.read(buf, 0, 16, 0)).toString(), 'hello', 'read as smbts reads a stream')

  // The other way: what smbts writes is what Samba would read.
  const x = await createStream(base, 'Zone.Identifier')
  const z = new StreamFile(base, x, 'Zone.Identifier', 'k2')
  await z.write(Buffer.from('[ZoneTransfer]'), 0, 14, 0)
  const got = spawnSync('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'user.DosStream.Zone.Identifier:$DATA', file], { encoding: 'utf8' })
  t.match(got.stdout, `user.DosStream.Zone.Identifier:$DATA=0x${Buffer.from('[ZoneTransfer]\0').toString('hex')}`, 'data and one NUL, under Samba\'s name')
})

t.test('writes of one stream through two handles at once: none lost, each under the cross-process lock', async t => {
  const backend = memoryBackend()
  backend.tree('/mem/share')
  const fs = await backend.openShare('/mem/share', { followSymlinks: false })
  t.teardown(() => fs.close())
  const f = await fs.open('c.txt', { write: true, create: 'new', mode: 0o644 })
  const x = await createStream(f, 's')
  let held = 0
  let most = 0
  let calls = 0
  const exclusive = async <T>(fn: () => Promise<T>): Promise<T> => {
    calls++
    held++
    most = Math.max(most, held)
    try { return await fn() } finally { held-- }
  }
  const a = new StreamFile(await fs.open('c.txt', { write: false }), x, 's', 'same', exclusive)
  const b = new StreamFile(await fs.open('c.txt', { write: false }), x, 's', 'same', exclusive)
  await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).write(Buffer.from([65 + i]), 0, 1, i)))
  const out = Buffer.alloc(32)
  t.equal(out.subarray(0, await a.read(out, 0, 32, 0)).toString(), 'ABCDEFGHIJKLMNOPQRST', 'every write landed')
  t.equal(calls, 20, 'each under the lock')
  t.equal(most, 1, 'one at a time')
  await a.close()
  await b.close()
  await f.close()
})

t.test('StreamFile is not a directory and lends no descriptor', async t => {
  const backend = memoryBackend()
  backend.tree('/mem/share')
  const fs = await backend.openShare('/mem/share', { followSymlinks: false })
  t.teardown(() => fs.close())
  await fs.mkdir('d', 0o755)
  const base: VfsFile = await fs.open('d', { write: false, directory: true })
  const s = new StreamFile(base, await createStream(base, 'on a dir'), 'on a dir', 'k')
  t.equal(s.isDirectory, false)
  t.equal((await s.stat()).isDirectory, false, 'a stream of a directory is a data stream')
  t.equal((s as VfsFile).lendFd, undefined, 'the linked read→send path never sees a stream')
  await t.rejects(s.readdir(), { code: 'ENOTDIR' })
  await s.close()
})
