// smbclient against a live smbts: `symlink` (FSCTL_SET_REPARSE_POINT, IO_REPARSE_TAG_SYMLINK) makes
// a native symlink when the target stays inside the share and is refused otherwise; `hardlink`
// (SET_INFO
// FileLinkInformation) makes a real hard link. Over the io_uring fast path and over node:fs.
// (smbclient's `allinfo` asks for a reparse point only when the name's own attributes say
// REPARSE_POINT, which a plain open of a symlink never gives here: it fails without `follow
// symlinks` and describes the target with it, where Windows answers STATUS_STOPPED_ON_SYMLINK.
// The GET side is tested in test/protocol/reparse.test.ts.)
import t from 'tap'
import { lstatSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { startLive, smbclient } from '../helpers/live.js'

const haveSmbclient = spawnSync('smbclient', ['--version']).status === 0

for (const useUring of [true, false]) {
  t.test(`symlink and hardlink (${useUring ? 'io_uring' : '--no-uring'})`, { skip: haveSmbclient ? false : 'no smbclient' }, async (t) => {
    const live = await startLive({ useUring })
    t.teardown(() => live.stop())
    writeFileSync(join(live.share, 'target.txt'), 'data')
    const s = await smbclient(live, 'symlink target.txt link')
    t.equal(s.code, 0, s.code === 0 ? 'smbclient symlink' : `smbclient symlink\n${s.stdout}\n${s.stderr}`)
    t.ok(lstatSync(join(live.share, 'link')).isSymbolicLink(), 'a native symlink on the server')
    t.equal(readlinkSync(join(live.share, 'link')), 'target.txt')
    const a = await smbclient(live, 'ls')
    t.match(a.stdout, /\blink\b/, 'listed')
    const out = await smbclient(live, 'symlink ../../etc/passwd escape')
    t.match(out.stdout + out.stderr, /NT_STATUS_ACCESS_DENIED/, 'a target outside the share: ACCESS_DENIED')
    t.throws(() => lstatSync(join(live.share, 'escape')), 'and nothing is left (smbclient deletes the file it made)')
    const h = await smbclient(live, 'hardlink target.txt hard.txt')
    t.equal(h.code, 0, h.code === 0 ? 'smbclient hardlink' : `smbclient hardlink\n${h.stdout}\n${h.stderr}`)
    t.equal(statSync(join(live.share, 'hard.txt')).ino, statSync(join(live.share, 'target.txt')).ino, 'one inode, two names')
    t.equal(statSync(join(live.share, 'target.txt')).nlink, 2)
  })
}
