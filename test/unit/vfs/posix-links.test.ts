// The VFS calls behind hard links, reparse points and POSIX opens of special files
// (src/vfs/posix.ts: link, symlink, readlink, mknod, lstat, open with pathOnly), on the posix
// backend (threadpool, with and without inline metadata) and on posix-uring (the ring): every
// name made beneath the share, replacing atomically when asked, never a device.
import t from 'tap'
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { posixBackend } from '../../../src/vfs/posix.js'
import { posixUringBackend } from '../../../src/vfs/posix-uring.js'
import { Ring, ringUnavailableReason } from '../../../src/io/ring.js'
import { nativeAvailable } from '../../../src/io/native.js'
import type { ShareFs } from '../../../src/vfs/backend.js'

const ringSkip = nativeAvailable ? await ringUnavailableReason() : 'no native addon'

const backends: Array<[string, string | false, (dir: string) => Promise<{ fs: ShareFs, close: () => Promise<void> }>]> = [
  ['posix, inline', nativeAvailable ? false : 'no native addon', async dir => { const fs = await posixBackend.openShare(dir, { followSymlinks: false }); return { fs, close: () => fs.close() } }],
  ['posix, threadpool', nativeAvailable ? false : 'no native addon', async dir => { const fs = await posixBackend.openShare(dir, { followSymlinks: false, inline: { mode: 'no' } }); return { fs, close: () => fs.close() } }],
  ['posix-uring', ringSkip ?? false, async dir => {
    const ring = Ring.create(64)
    const fs = await posixUringBackend(ring).openShare(dir, { followSymlinks: false, inline: { mode: 'no' } })
    return { fs, close: async () => { await fs.close(); await ring.close() } }
  }],
]

for (const [name, skip, open] of backends) {
  t.test(name, { skip }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'smbts-links-'))
    const { fs, close } = await open(dir)
    t.teardown(async () => { await close(); rmSync(dir, { recursive: true, force: true }) })
    writeFileSync(join(dir, 'a'), 'one')
    writeFileSync(join(dir, 'b'), 'two')
    await fs.link!('a', 'a2', false)
    t.equal(statSync(join(dir, 'a2')).ino, statSync(join(dir, 'a')).ino, 'link: one inode')
    await t.rejects(fs.link!('a', 'b', false), { code: 'EEXIST' }, 'link onto a name: EEXIST')
    await fs.link!('a', 'b', true)
    t.equal(readFileSync(join(dir, 'b'), 'utf8'), 'one', 'link replacing b')
    await fs.symlink!('a', 'l', false)
    t.equal(readlinkSync(join(dir, 'l')), 'a')
    t.equal(await fs.readlink!('l'), 'a', 'readlink')
    await t.rejects(fs.readlink!('a'), { code: 'EINVAL' }, 'readlink of a file: EINVAL')
    writeFileSync(join(dir, 'x'), '')
    await fs.symlink!('b', 'x', true)
    t.equal(readlinkSync(join(dir, 'x')), 'b', 'symlink replacing x')
    await fs.mknod!('f', 'fifo', 0o640, false)
    t.ok(lstatSync(join(dir, 'f')).isFIFO(), 'mknod: a FIFO')
    writeFileSync(join(dir, 's'), '')
    await fs.mknod!('s', 'socket', 0o600, true)
    t.ok(lstatSync(join(dir, 's')).isSocket(), 'mknod replacing s: a socket')
    t.equal((await fs.lstat!('l')).mode & 0o170000, 0o120000, 'lstat: the link itself')
    // A handle on the name itself: stat works, nothing waits, reads fail.
    const h = await fs.open('f', { write: false, pathOnly: true })
    t.equal((await h.stat()).mode & 0o170000, 0o010000, 'pathOnly open of a FIFO: stat says FIFO')
    await t.rejects(h.read(Buffer.alloc(4), 0, 4, 0), 'no read through it')
    await h.close()
    const hl = await fs.open('l', { write: false, pathOnly: true })
    t.equal((await hl.stat()).mode & 0o170000, 0o120000, 'pathOnly open of a symlink: the link itself')
    await hl.close()
    t.same(readdirSync(dir).filter(n => n.startsWith('.smbts-new')), [], 'no temporary names left')
  })
}
