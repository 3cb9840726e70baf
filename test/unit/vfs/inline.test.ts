// Metadata calls on the server's thread (src/vfs/inline.ts): which file systems get them, the
// back-off after a slow call (fake clock), and the posix backend making its opens, stats and closes
// that way on real files — on tmpfs (creates too) and on the disk file system under the temp dir
// (lookups through RESOLVE_CACHED), with confinement, errors and symlinks exactly as through the
// threadpool. (A file system mounted beneath the share: test/system/inline-mount.test.ts.)
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InlineMetadata } from '../../../src/vfs/inline.js'
import { posixBackend } from '../../../src/vfs/posix.js'
import { native, nativeAvailable } from '../../../src/io/native.js'
import type { ShareFs } from '../../../src/vfs/backend.js'
import { ACCESS_ALLOWED_ACE_TYPE, ACL_REVISION, encodeSecurityDescriptor } from '../../../src/wire/dtyp/security-descriptor.js'
import { SID_WORLD } from '../../../src/wire/dtyp/sid.js'

const TMPFS = 0x01021994
const SHM = '/dev/shm'
const shmIsTmpfs = existsSync(SHM) && statfsSync(SHM).type === TMPFS

t.test('the back-off: a slow call sends the share to the ring for a while, then inline again', async (t) => {
  let now = 1000
  let sleeps = 0
  const warned: string[] = []
  const m = new InlineMetadata('local', { clock: () => now, sleeps: () => sleeps, slowMs: 4, backoffMs: 30_000, warn: (w) => warned.push(w) })
  t.ok(m.on, 'on at first')
  t.notOk(m.creates, 'a disk file system never creates inline')
  t.ok(m.cachedOnly, 'a disk file system looks up through RESOLVE_CACHED')
  // An inline call that takes `ms` and may sleep (m.call times it as any inline call is timed).
  const slow = (ms: number, slept: boolean) => { now += ms; if (slept) sleeps++ }
  m.call(slow, 3, true)
  t.ok(m.on, 'a 3 ms call is not slow, even when it slept')
  m.call(slow, 50, false)
  t.ok(m.on, 'a 50 ms call that never slept was preempted, not waiting: no back-off')
  m.call(slow, 9, true)
  t.notOk(m.on, 'a 9 ms call that slept backs off')
  t.equal(m.counters.slow, 1)
  t.equal(warned.length, 1)
  t.match(warned[0], /9\.0 ms.*30 s/)
  now += 29_000
  t.notOk(m.on, 'still backed off before 30 s')
  now += 1_001
  t.ok(m.on, 'inline again after 30 s')
  t.equal(m.counters.calls, 3)

  const mem = new InlineMetadata('memory', { clock: () => now, sleeps: () => sleeps })
  mem.call(slow, 100, true)
  t.ok(mem.on, 'tmpfs has no device to wait for: never backs off')
  t.ok(mem.creates, 'tmpfs creates inline')
  t.notOk(mem.cachedOnly, 'tmpfs lookups never wait: no RESOLVE_CACHED')
})

t.test('call(): one call between begin() and done(), a throw included, the arguments passed as given', async (t) => {
  let now = 1000
  let sleeps = 0
  const m = new InlineMetadata('local', { clock: () => now, sleeps: () => sleeps, slowMs: 4, backoffMs: 30_000 })
  const seen: unknown[][] = []
  const add = (a: number, b: number): number => { seen.push([a, b]); now += 3; sleeps++; return a + b }
  t.equal(m.call(add, 2, 3), 5, 'the function\'s result')
  t.same(seen, [[2, 3]])
  t.equal(m.counters.calls, 1, 'counted as one inline call')
  t.ok(m.on, 'a 3 ms call is not slow')
  const fail = (why: string, at: number, ms: number): never => { now += ms; sleeps++; throw new Error(`${why} at ${at}`) }
  t.throws(() => m.call(fail, 'gone', 7, 9), { message: 'gone at 7' }, 'a throw goes through')
  t.equal(m.counters.calls, 2, 'and is counted')
  t.notOk(m.on, 'and measured: a 9 ms call that slept backs off')
  t.equal(m.counters.slow, 1)
  // One argument (closeNow's) to seven, the most a call here passes (openStatNow's).
  t.equal(m.call((a: number) => -a, 4), -4)
  const sum6 = (a: number, b: number, c: number, d: number, e: number, f: number): number => a + b + c + d + e + f
  t.equal(m.call(sum6, 1, 2, 3, 4, 5, 6), 21)
  const sum7 = (a: number, b: number, c: number, d: number, e: number, f: number, g: number): number => a + b + c + d + e + f + g
  t.equal(m.call(sum7, 1, 2, 3, 4, 5, 6, 7), 28)
  t.equal(m.counters.calls, 5, 'each counted')
})

t.test('which file systems: by statfs magic, and `inline metadata = no`', { skip: !nativeAvailable && 'native addon not built' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-inline-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const fd = await native.openat2(-100, dir, native.constants.O_RDONLY | native.constants.O_DIRECTORY, 0, 0)
  t.teardown(() => native.close(fd))
  const type = native.fsTypeNow(fd)
  t.equal(type, statfsSync(dir).type, 'fsTypeNow is statfs f_type')
  t.equal(InlineMetadata.forShare(fd, { mode: 'no' }), undefined, 'off when the share says no')
  const known = new Set([0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0x2fc12fc1, 0xca451a4e, 0x794c7630, TMPFS, 0x858458f6])
  t.equal(InlineMetadata.forShare(fd)?.kind, type === TMPFS ? 'memory' : known.has(type) ? 'local' : undefined)
  t.equal(native.fsTypeNow(1 << 20), -9 /* EBADF */, 'a bad fd is -errno, not a throw')
})

async function exercise (t: Test, base: string, expectKind: 'memory' | 'local'): Promise<void> {
  const dir = mkdtempSync(join(base, 'smbts-inline-'))
  const outside = mkdtempSync(join(base, 'smbts-outside-'))
  writeFileSync(join(outside, 'secret'), 'no')
  const fs: ShareFs = await posixBackend.openShare(dir, { followSymlinks: false })
  t.teardown(async () => { await fs.close(); rmSync(dir, { recursive: true, force: true }); rmSync(outside, { recursive: true, force: true }) })
  const inline = fs.inline as InlineMetadata | undefined
  t.equal(inline?.kind, expectKind)
  const counters = inline!.counters

  mkdirSync(join(dir, 'sub'))
  writeFileSync(join(dir, 'sub', 'a.txt'), 'hello')
  symlinkSync(outside, join(dir, 'out'))
  symlinkSync('a.txt', join(dir, 'sub', 'link'))

  // Twice: on a disk file system the first lookup of a fresh name may not be cached yet.
  for (let i = 0; i < 2; i++) {
    const before = counters.calls
    const st = await fs.stat('sub/a.txt')
    t.equal(st.endOfFile, 5n, 'stat of a file in a subdirectory')
    const f = await fs.open('sub/a.txt', { write: false, directory: false })
    t.equal(f.openStat?.endOfFile, 5n, 'open found its size')
    const buf = Buffer.alloc(5)
    t.equal(await f.read(buf, 0, 5, 0), 5)
    t.equal(buf.toString(), 'hello')
    await f.close()
    if (i === 1) t.ok(counters.calls >= before + 3, `stat, open and close were inline (${counters.calls - before} calls)`)
  }

  // A call that throws (the addon refusing an argument, before any syscall) is counted and
  // measured as one that returns: the open, openExisting's probe and the close each go through
  // InlineMetadata.call, which ends the bracket begin() opened whatever happens.
  let n0 = counters.calls
  await t.rejects(fs.open('sub/a\0b', { write: false, directory: false }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.equal(counters.calls, n0 + 1, 'an inline open that throws is counted')
  n0 = counters.calls
  t.throws(() => fs.openExisting!('sub/a\0b', false), { code: 'ERR_INVALID_ARG_VALUE' })
  t.equal(counters.calls, n0 + 1, 'so is an openExisting that throws')
  n0 = counters.calls
  const closeFd = (fs as unknown as { closeFd: (fd: unknown, sameMount: boolean) => Promise<void> }).closeFd.bind(fs)
  t.throws(() => closeFd('not an fd', true), { code: 'ERR_INVALID_ARG_TYPE' })
  t.equal(counters.calls, n0 + 1, 'and a close that throws')

  await t.rejects(fs.stat('sub/none.txt'), { code: 'ENOENT' }, 'a missing name is ENOENT')
  await t.rejects(fs.open('sub/none.txt', { write: false, directory: false }), { code: 'ENOENT' })
  await t.rejects(fs.open('out/secret', { write: false, directory: false }), { code: /ELOOP|EXDEV/ }, 'a symlink out of the share is refused')
  await t.rejects(fs.stat('out/secret'), { code: /ELOOP|EXDEV|ENOTDIR/ }, 'and cannot be stat\'ed through')
  await t.rejects(fs.open('../' + outside.slice(outside.lastIndexOf('/') + 1) + '/secret', { write: false, directory: false }), { code: 'EXDEV' }, '.. out of the share is refused')
  const link = await fs.stat('sub/link')
  t.equal(link.mode & 0o170000, 0o120000, 'a symlink is reported as itself, not followed')
  await t.rejects(fs.open('sub/link', { write: false, directory: false }), { code: 'ELOOP' }, 'and is not opened through')

  // A directory opened for writing: EISDIR, reopened read-only.
  const d = await fs.open('sub', { write: true, directory: false })
  t.ok(d.isDirectory, 'a directory asked for writing opens read-only as a directory')
  await d.close()

  // Creates: inline on tmpfs, on the ring/threadpool elsewhere; the same result either way.
  const before = counters.calls
  const n = await fs.open('sub/new.txt', { create: 'new', write: true, directory: false })
  t.equal(n.openStat?.endOfFile, 0n)
  await n.close()
  t.ok(existsSync(join(dir, 'sub', 'new.txt')), 'created')
  if (expectKind === 'memory') t.ok(counters.calls >= before + 2, 'created, stat\'ed and closed inline')

  // The DOS record is read back inline too (through the O_PATH fd of a stat by path).
  const h = await fs.open('sub/new.txt', { write: true, directory: false })
  await h.setBasicInfo({ fileAttributes: 0x2 /* HIDDEN */ | 0x20 /* ARCHIVE */ })
  await h.close()
  for (let i = 0; i < 2; i++) t.equal((await fs.stat('sub/new.txt')).fileAttributes & 0x2, 0x2, 'the stored HIDDEN is seen by a stat by path')

  // The descriptor, which every CREATE's access check reads: looked for on this thread under both
  // names when none is stored (most files: a default descriptor is derived, not stored); one
  // longer than a stat record holds (any version-4 security.NTACL) is read off it, whole.
  const g = await fs.open('sub/new.txt', { write: false, directory: false })
  const c0 = counters.calls
  t.equal(await g.getSecurityDescriptor(), undefined, 'no descriptor stored')
  t.equal(counters.calls - c0, 1, 'security.NTACL and user.smbts.ntacl looked for in one call on this thread')
  const aces = Array.from({ length: 12 }, (_, i) => ({ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 0x1f01ff - i, sid: SID_WORLD }))
  await g.setSecurityDescriptor(encodeSecurityDescriptor({ control: 0, owner: SID_WORLD, group: SID_WORLD, dacl: { revision: ACL_REVISION, aces } }))
  t.same((await g.getSecurityDescriptor())?.dacl?.aces.map(a => a.mask), aces.map(a => a.mask), 'a long descriptor reads back whole')
  await g.close()

  // Writes: memory copies made inline on tmpfs; through the threadpool on a disk file system.
  const writesBefore = counters.writes
  const w = await fs.open('sub/new.txt', { write: true, directory: false })
  const data = Buffer.from('0123456789abcdef'.repeat(4096))
  t.equal(await w.write(data, 16, data.length - 16, 5), data.length - 16, 'the whole write')
  await w.close()
  t.same(readFileSync(join(dir, 'sub', 'new.txt')), Buffer.concat([Buffer.alloc(5), data.subarray(16)]), 'the bytes, where they were written')
  t.equal(counters.writes - writesBefore, expectKind === 'memory' ? 1 : 0, expectKind === 'memory' ? 'written inline' : 'not written inline')
  await t.rejects(fs.open('sub/new.txt', { create: 'new', write: true, directory: false }), { code: 'EEXIST' })

  // openExisting (the CREATE fast path): one call opens what exists as a regular file or a
  // directory, with its attributes; a missing name is null; anything else, or anything it cannot
  // answer here, is undefined (the caller's stat and open say what it is). Twice: on a disk file
  // system the first lookup may not be cached yet (EAGAIN under RESOLVE_CACHED: undefined).
  for (let i = 0; i < 2; i++) {
    const e = fs.openExisting!('sub/a.txt', false)
    if (i === 0 && e === undefined) continue
    t.ok(e != null, 'openExisting of a file')
    t.equal(e!.isDirectory, false)
    t.equal(e!.openStat!.endOfFile, 5n, 'with its attributes')
    const buf = Buffer.alloc(5)
    t.equal(await e!.read(buf, 0, 5, 0), 5)
    t.equal(buf.toString(), 'hello', 'and readable')
    await e!.close()
  }
  const ew = fs.openExisting!('sub/new.txt', true) ?? fs.openExisting!('sub/new.txt', true)
  t.ok(ew != null, 'openExisting for writing')
  t.equal(ew!.openStat!.fileAttributes & 0x2, 0x2, 'its DOS record read with it')
  t.equal(await ew!.write(Buffer.from('W'), 0, 1, 0), 1, 'and writable')
  const ewFd = (ew as unknown as { fd: number }).fd
  t.equal(parseInt(readFileSync(`/proc/self/fdinfo/${ewFd}`, 'utf8').match(/flags:\s+(\d+)/)![1], 8) & native.constants.O_NONBLOCK, 0, 'no O_NONBLOCK left on its fd')
  await ew!.close()
  t.equal(readFileSync(join(dir, 'sub', 'new.txt')).subarray(0, 1).toString(), 'W')
  const ed = fs.openExisting!('sub', true) ?? fs.openExisting!('sub', true)
  t.ok(ed != null && ed.isDirectory, 'a directory opens as a directory, read-only, even when asked for writing')
  await ed?.close()
  t.equal(fs.openExisting!('sub/none.txt', false) ?? fs.openExisting!('sub/none.txt', false), null, 'a missing name is null')
  t.equal(fs.openExisting!('sub/link', false), undefined, 'a symlink the share does not follow is left to the slow path')
  t.equal(fs.openExisting!('out/secret', false), undefined, 'so is a path leading out of the share')
  t.equal(fs.openExisting!('../' + outside.slice(outside.lastIndexOf('/') + 1) + '/secret', false), undefined, 'and .. out of it')
  const root = fs.openExisting!('', false)
  t.ok(root != null && root.isDirectory, 'the share root opens as a directory (\'.\' of the root\'s fd)')
  t.equal(root!.openStat!.fileAttributes & 0x10, 0x10, 'FILE_ATTRIBUTE_DIRECTORY')
  await root!.close()
  const sd = fs.openExisting!('sub', false, true) ?? fs.openExisting!('sub', false, true)
  t.ok(sd != null && sd.isDirectory, 'asked for a directory only: a directory opens')
  await sd?.close()
  t.equal(fs.openExisting!('sub/a.txt', false, true), undefined, 'a file asked as a directory is left to the slow path (ENOTDIR)')
  t.equal(fs.openExisting!('sub/probe-none', false, true) ?? null, null, 'a missing directory is null (or left to the slow path)')
  execFileSync('mkfifo', [join(dir, 'sub', 'probe-fifo')])
  t.equal(fs.openExisting!('sub/probe-fifo', false), undefined, 'a FIFO is not opened (the probe says what it is first)')
  t.equal(fs.openExisting!('sub/probe-fifo', true), undefined, 'not even for writing')

  // A FIFO never stalls the thread: opened for reading the open returns at once, with no writer
  // (and for writing, O_RDWR, too), and what it opened is refused (special-files.test.ts).
  // (tmpfs only: there every open is inline.)
  if (expectKind === 'memory') {
    execFileSync('mkfifo', [join(dir, 'sub', 'fifo')])
    await t.rejects(fs.open('sub/fifo', { write: false, directory: false }), { code: 'SMBTS_ERR_SPECIAL_FILE' })
    await t.rejects(fs.open('sub/fifo', { write: true, directory: false }), { code: 'SMBTS_ERR_SPECIAL_FILE' })
    t.pass('a FIFO with no writer refused without waiting')
    // The fd handed out is blocking again, as asked: O_NONBLOCK was only for the open.
    const f = await fs.open('sub/a.txt', { write: true, directory: false })
    const fd = (f as unknown as { fd: number }).fd
    t.equal(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/flags:\s+(\d+)/)?.[1] !== undefined &&
      (parseInt(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/flags:\s+(\d+)/)![1], 8) & native.constants.O_NONBLOCK) === 0, true, 'no O_NONBLOCK left on the fd')
    await f.close()
  }
}

t.test('posix backend on tmpfs: opens, creates, stats and closes inline', { skip: (!nativeAvailable && 'native addon not built') || (!shmIsTmpfs && '/dev/shm is not tmpfs here') }, async (t) => {
  await exercise(t, SHM, 'memory')
})

const tmpType = statfsSync(tmpdir()).type
const tmpLocal = new Set([0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0x794c7630]).has(tmpType)
t.test('posix backend on the temp dir\'s disk file system: lookups through RESOLVE_CACHED', { skip: (!nativeAvailable && 'native addon not built') || (!tmpLocal && `${tmpdir()} is not a known disk file system`) }, async (t) => {
  await exercise(t, tmpdir(), 'local')
})
