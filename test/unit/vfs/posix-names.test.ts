// The posix backend's case-insensitive lookup (resolveCase) with its name index: a big directory
// is listed once for a run of creates, an outside change is seen at the next lookup, and the
// server's own renames and deletes keep the index true. Real files in a temp dir.
import t from 'tap'
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { posixBackend } from '../../../src/vfs/posix.js'
import type { ShareFs } from '../../../src/vfs/backend.js'

async function share (t: { teardown (fn: () => void | Promise<void>): void }, minEntries = 8): Promise<{ fs: ShareFs, dir: string, listings: () => number }> {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-names-'))
  const fs = await posixBackend.openShare(dir, { followSymlinks: false, nameIndex: { minEntries } })
  t.teardown(async () => { await fs.close(); rmSync(dir, { recursive: true, force: true }) })
  return { fs, dir, listings: () => (fs as unknown as { names: { listings: number } }).names.listings }
}

async function createNew (fs: ShareFs, name: string): Promise<void> {
  const f = await fs.open(name, { create: 'new', write: true, directory: false })
  await f.close()
}

t.test('a run of new names in a big directory lists it once', async (t) => {
  const { fs, dir, listings } = await share(t)
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `pre${i}`), '')
  for (let i = 0; i < 200; i++) {
    const r = await fs.resolveCase(`New${i}.txt`)
    t.equal(r.existing, 0)
    await createNew(fs, r.path)
  }
  t.equal(listings(), 1, 'one listing for 200 creates')
  const r = await fs.resolveCase('NEW150.TXT')
  t.same(r, { path: 'New150.txt', existing: 1 }, 'our own creates are found by another spelling')
})

t.test('a name made outside the server is seen at the next lookup', async (t) => {
  const { fs, dir, listings } = await share(t)
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `pre${i}`), '')
  t.equal((await fs.resolveCase('Outside.txt')).existing, 0)
  writeFileSync(join(dir, 'OUTSIDE.TXT'), 'x')
  t.same(await fs.resolveCase('outside.txt'), { path: 'OUTSIDE.TXT', existing: 1 })
  unlinkSync(join(dir, 'OUTSIDE.TXT'))
  t.equal((await fs.resolveCase('outside.txt')).existing, 0, 'and its removal too')
  renameSync(join(dir, 'pre3'), join(dir, 'Moved'))
  t.same(await fs.resolveCase('MOVED'), { path: 'Moved', existing: 1 }, 'and an outside rename')
  t.equal(listings(), 4, 'each outside change costs one listing')
  // A directory whose mtime is set back to the value the index saw still has a new ctime.
  writeFileSync(join(dir, 'sneaky'), '')
  utimesSync(dir, new Date(0), new Date(0))
  t.same(await fs.resolveCase('SNEAKY'), { path: 'sneaky', existing: 1 })
})

t.test('our own renames, deletes and directories keep the index true', async (t) => {
  const { fs, dir } = await share(t)
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `pre${i}`), '')
  t.equal((await fs.resolveCase('x')).existing, 0) // indexed now
  await fs.rename('pre1', 'Renamed', false)
  t.same(await fs.resolveCase('renamed'), { path: 'Renamed', existing: 1 })
  t.equal((await fs.resolveCase('PRE1')).existing, 0, 'the old name is gone')
  await fs.unlink('pre2', false)
  t.equal((await fs.resolveCase('PRE2')).existing, 0, 'a deleted name is gone')
  await fs.mkdir('SubDir', 0o755)
  t.same(await fs.resolveCase('subdir'), { path: 'SubDir', existing: 1 })
  await fs.rename('pre4', 'pre4', true)
  t.same(await fs.resolveCase('PRE4'), { path: 'pre4', existing: 1 }, 'a rename onto itself keeps the name')
  await fs.rename('pre5', 'PRE5', false)
  t.same(await fs.resolveCase('Pre5'), { path: 'PRE5', existing: 1 }, 'a case-only rename takes the new spelling')
  // A directory in the index, removed and made again: its entries are not remembered.
  for (let i = 0; i < 10; i++) await createNew(fs, `SubDir/f${i}`)
  t.same(await fs.resolveCase('subdir/F3'), { path: 'SubDir/f3', existing: 2 })
  for (let i = 0; i < 10; i++) await fs.unlink(`SubDir/f${i}`, false)
  await fs.unlink('SubDir', true)
  await fs.mkdir('SubDir', 0o755)
  t.same(await fs.resolveCase('subdir/F3'), { path: 'SubDir/F3', existing: 1 })
})
