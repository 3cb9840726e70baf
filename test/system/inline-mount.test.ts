// src/vfs/inline.ts against a real mount: a tmpfs mounted beneath a share on /dev/shm (needs
// root) is never called on the server's thread (RESOLVE_NO_XDEV), while the share's own files
// are. Moved out of test/unit/vfs/inline.test.ts: the unit layer mounts nothing.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import type { InlineMetadata } from '../../src/vfs/inline.js'
import { posixBackend } from '../../src/vfs/posix.js'
import { nativeAvailable } from '../../src/io/native.js'
import type { ShareFs } from '../../src/vfs/backend.js'

const TMPFS = 0x01021994
const SHM = '/dev/shm'
const shmIsTmpfs = existsSync(SHM) && statfsSync(SHM).type === TMPFS

t.test('a file system mounted beneath the share is never called inline', { skip: (!nativeAvailable && 'native addon not built') || (!shmIsTmpfs && '/dev/shm is not tmpfs here') || (process.getuid?.() !== 0 && 'mounting needs root') }, async (t) => {
  const dir = mkdtempSync(join(SHM, 'smbts-inline-mnt-'))
  const inner = join(dir, 'inner')
  mkdirSync(inner)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'smbts-test', inner], { stdio: 'ignore' })
  } catch {
    rmSync(dir, { recursive: true, force: true })
    t.plan(0, 'mount refused here')
    return
  }
  const fs: ShareFs = await posixBackend.openShare(dir, { followSymlinks: false })
  t.teardown(async () => {
    await fs.close()
    execFileSync('umount', [inner])
    rmSync(dir, { recursive: true, force: true })
  })
  writeFileSync(join(inner, 'f.txt'), 'inner')
  const counters = (fs.inline as InlineMetadata).counters
  const before = { ...counters }
  const st = await fs.stat('inner/f.txt')
  t.equal(st.endOfFile, 5n, 'a file on the inner mount is found (crossmnt), off this thread')
  const f = await fs.open('inner/f.txt', { write: true, directory: false })
  const buf = Buffer.alloc(5)
  t.equal(await f.read(buf, 0, 5, 0), 5)
  t.equal(buf.toString(), 'inner')
  t.equal(await f.write(Buffer.from('INNER'), 0, 5, 0), 5)
  await f.close()
  t.equal(readFileSync(join(inner, 'f.txt'), 'utf8'), 'INNER')
  t.ok(counters.uncached >= before.uncached + 2, 'the stat and the open went off-thread (EXDEV under RESOLVE_NO_XDEV)')
  t.equal(counters.writes, before.writes, 'the write to the inner mount was not made inline')
  t.equal(fs.openExisting!('inner/f.txt', true), undefined, 'openExisting leaves the inner mount to the slow path')
  const outerBefore = counters.calls
  writeFileSync(join(dir, 'outer.txt'), 'o')
  await fs.stat('outer.txt')
  t.ok(counters.calls > outerBefore, 'the share\'s own files still are')
})
