// The directory watcher of CHANGE_NOTIFY (src/vfs/watch.ts) over the kernel's real inotify, on a
// temporary directory changed the way a local program would: what each change is reported as,
// tree watches that follow new and renamed subdirectories, data changes reported at the
// writer's close, and the end of a watch. Plus the record codec (src/vfs/inotify-events.ts).
import t from 'tap'
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, rmdirSync, unlinkSync, writeFileSync, openSync, writeSync, closeSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nativeAvailable } from '../../../src/io/native.js'
import { DirectoryWatcher, NotifyAction as A, type DirChange } from '../../../src/vfs/watch.js'
import { decodeInotifyEvents, encodeInotifyEvent, IN } from '../../../src/vfs/inotify-events.js'

t.test('inotify records: decoded whole, NUL padding dropped, a truncated tail ignored', async t => {
  const b = Buffer.concat([
    encodeInotifyEvent({ wd: 1, mask: IN.CREATE, cookie: 0, name: 'a.txt' }, 3),
    encodeInotifyEvent({ wd: 2, mask: IN.DELETE_SELF, cookie: 0, name: '' }),
    encodeInotifyEvent({ wd: 1, mask: IN.MOVED_FROM | IN.ISDIR, cookie: 7, name: 'dïr' }),
  ])
  t.same(decodeInotifyEvents(b), [
    { wd: 1, mask: IN.CREATE, cookie: 0, name: 'a.txt' },
    { wd: 2, mask: IN.DELETE_SELF, cookie: 0, name: '' },
    { wd: 1, mask: IN.MOVED_FROM | IN.ISDIR, cookie: 7, name: 'dïr' },
  ])
  t.equal(decodeInotifyEvents(b.subarray(0, b.length - 2)).length, 2, 'the cut record is dropped')
  t.same(decodeInotifyEvents(Buffer.alloc(5)), [])
})

const skip = !nativeAvailable && 'the native addon is not built'

/** A watcher on a fresh directory, and what it reported so far. */
function setup (t: { teardown: (fn: () => void) => void }, recursive: boolean): { dir: string, w: DirectoryWatcher, got: DirChange[], gone: () => boolean, settle: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-watch-'))
  const w = new DirectoryWatcher()
  const got: DirChange[] = []
  let isGone = false
  const stop = w.watch(dir, recursive, { onChanges: (c) => { got.push(...c) }, onOverflow: () => { got.push({ action: -1, name: 'overflow', filter: 0 }) }, onGone: () => { isGone = true } })
  t.teardown(() => { stop(); w.close(); rmSync(dir, { recursive: true, force: true }) })
  // drain() takes in whatever the kernel queued: the test sees every change it made, at once.
  const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 20)); w.drain() }
  return { dir, w, got, gone: () => isGone, settle }
}

const brief = (c: DirChange[]): string[] => c.map(x => `${x.action} ${x.name}`)

t.test('one directory: create, write at close, attributes, rename, delete', { skip }, async t => {
  const { dir, got, settle } = setup(t, false)
  writeFileSync(join(dir, 'a.txt'), 'x')
  await settle()
  t.same(brief(got), [`${A.ADDED} a.txt`, `${A.MODIFIED} a.txt`], 'a new file written: ADDED, then MODIFIED at its close (the mode and owner it was made with are not a change)')
  got.length = 0
  const fd = openSync(join(dir, 'a.txt'), 'r+')
  writeSync(fd, 'more')
  writeSync(fd, 'and more')
  await settle()
  t.same(got, [], 'nothing while the writer keeps it open')
  closeSync(fd)
  await settle()
  t.same(brief(got), [`${A.MODIFIED} a.txt`], 'one MODIFIED at the close, for several writes')
  t.ok((got[0]!.filter & 0x8) !== 0 && (got[0]!.filter & 0x10) !== 0, 'matching SIZE and LAST_WRITE')
  got.length = 0
  chmodSync(join(dir, 'a.txt'), 0o600)
  await settle()
  t.same(brief(got), [`${A.MODIFIED} a.txt`], 'metadata: MODIFIED')
  t.ok((got[0]!.filter & 0x4) !== 0 && (got[0]!.filter & 0x1) === 0, 'matching ATTRIBUTES, not FILE_NAME')
  got.length = 0
  renameSync(join(dir, 'a.txt'), join(dir, 'b.txt'))
  mkdirSync(join(dir, 'sub'))
  rmdirSync(join(dir, 'sub'))
  unlinkSync(join(dir, 'b.txt'))
  await settle()
  t.same(brief(got), [`${A.RENAMED_OLD_NAME} a.txt`, `${A.RENAMED_NEW_NAME} b.txt`, `${A.ADDED} sub`, `${A.REMOVED} sub`, `${A.REMOVED} b.txt`])
  t.equal(got[2]!.filter, 0x2, 'a directory matches DIR_NAME')
  t.equal(got[4]!.filter, 0x1, 'a file matches FILE_NAME')
})

t.test('a tree watch: new subdirectories are watched, moves between them are REMOVED then ADDED', { skip }, async t => {
  const { dir, w, got, settle } = setup(t, true)
  mkdirSync(join(dir, 'a'))
  await settle()
  mkdirSync(join(dir, 'a', 'b'))
  await settle()
  writeFileSync(join(dir, 'a', 'b', 'deep.txt'), '')
  await settle()
  t.same(brief(got), [`${A.ADDED} a`, `${A.ADDED} a/b`, `${A.ADDED} a/b/deep.txt`], 'names relative to the watched directory')
  got.length = 0
  mkdirSync(join(dir, 'c'))
  await settle()
  renameSync(join(dir, 'a', 'b', 'deep.txt'), join(dir, 'c', 'deep.txt'))
  await settle()
  t.same(brief(got), [`${A.ADDED} c`, `${A.REMOVED} a/b/deep.txt`, `${A.ADDED} c/deep.txt`])
  got.length = 0
  renameSync(join(dir, 'a'), join(dir, 'z'))
  await settle()
  appendFileSync(join(dir, 'z', 'b', 'later.txt'), 'x')
  await settle()
  t.same(brief(got), [`${A.RENAMED_OLD_NAME} a`, `${A.RENAMED_NEW_NAME} z`, `${A.ADDED} z/b/later.txt`, `${A.MODIFIED} z/b/later.txt`], 'a renamed subdirectory is followed under its new name')
  const before = w.watchedDirs
  rmSync(join(dir, 'z'), { recursive: true })
  await settle()
  t.ok(w.watchedDirs < before, 'deleted directories are no longer watched')
})

t.test('a plain watch does not see below its directory', { skip }, async t => {
  const { dir, got, settle } = setup(t, false)
  mkdirSync(join(dir, 'a'))
  await settle()
  writeFileSync(join(dir, 'a', 'x'), '')
  await settle()
  t.same(brief(got), [`${A.ADDED} a`])
})

t.test('the watched directory deleted ends the watch', { skip }, async t => {
  const { dir, gone, settle } = setup(t, false)
  rmdirSync(dir)
  await settle()
  t.ok(gone(), 'onGone')
  mkdirSync(dir) // for the teardown
})
