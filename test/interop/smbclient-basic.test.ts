// smbclient against a live smbts: every dialect, put/get with checksums, ls, mkdir, rename, del,
// unicode names; signing required; a wrong password; a read-only share. Everything runs twice: over
// the io_uring fast path (ring transport, posix-uring files) and over the node:net/node:fs fallback.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { startLive, smbclient, type LiveServer } from '../helpers/live.js'

const DIALECTS = ['SMB2_02', 'SMB2_10', 'SMB3_00', 'SMB3_02', 'SMB3_11']
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

for (const useUring of [true, false]) {
  t.test(useUring ? 'over io_uring' : 'over node:net + node:fs (--no-uring)', async t => {
    let live: LiveServer
    t.before(async () => {
      live = await startLive({ useUring, shares: { ro: ['read only = yes'] } })
    })
    t.teardown(async () => { await live.stop() })

    for (const proto of DIALECTS) {
      t.test(`put/get/ls/mkdir/rename/del on ${proto}`, async t => {
        const dir = join(live.root, `work-${proto}`)
        const { mkdirSync } = await import('node:fs')
        mkdirSync(dir)
        const files: Record<string, Buffer> = {
          'empty.bin': Buffer.alloc(0),
          'one.bin': randomBytes(1),
          'big.bin': randomBytes(8 * 1024 * 1024 + 17),
        }
        for (const [n, d] of Object.entries(files)) writeFileSync(join(dir, n), d)
        const sub = `d-${proto}`
        const cmds = [
          `mkdir ${sub}`, `cd ${sub}`,
          `lcd ${dir}`,
          ...Object.keys(files).map(n => `put ${n}`),
          ...Object.keys(files).map(n => `get ${n} ${n}.back`),
          'rename one.bin renamed.bin',
          'ls',
          'del empty.bin',
        ].join('; ')
        const r = await smbclient(live, cmds, { protocol: proto })
        t.equal(r.code, 0, `smbclient exit 0\n${r.stdout}\n${r.stderr}`)
        for (const [n, d] of Object.entries(files)) {
          t.equal(sha(readFileSync(join(dir, `${n}.back`))), sha(d), `${n} round trip`)
        }
        const srv = join(live.share, sub)
        t.equal(sha(readFileSync(join(srv, 'big.bin'))), sha(files['big.bin']), 'server copy intact')
        t.ok(existsSync(join(srv, 'renamed.bin')) && !existsSync(join(srv, 'one.bin')), 'renamed on disk')
        t.notOk(existsSync(join(srv, 'empty.bin')), 'deleted on disk')
        t.match(r.stdout, /renamed\.bin/, 'ls lists the renamed file')
        t.match(r.stdout, /big\.bin\s+A\s+8388625/, 'ls shows the size')
      })
    }

    t.test('unicode names', async t => {
      const name = 'héllo-wörld-日本語-😀.txt'
      writeFileSync(join(live.root, 'u.txt'), 'unicode content')
      const r = await smbclient(live, `lcd ${live.root}; put u.txt "${name}"; ls; get "${name}" u.back`, { protocol: 'SMB3_11' })
      t.equal(r.code, 0, r.stdout + r.stderr)
      t.ok(existsSync(join(live.share, name)), 'stored under its UTF-8 name')
      t.equal(readFileSync(join(live.root, 'u.back'), 'utf8'), 'unicode content')
      t.ok(r.stdout.includes(name), 'listed with its name')
    })

    for (const proto of DIALECTS) {
      t.test(`signing required on ${proto}`, async t => {
        writeFileSync(join(live.root, `s-${proto}.txt`), `signed ${proto}`)
        const r = await smbclient(live, `lcd ${live.root}; put s-${proto}.txt; get s-${proto}.txt s-${proto}.back`, {
          protocol: proto, extra: ['--client-protection=sign'],
        })
        t.equal(r.code, 0, r.stdout + r.stderr)
        t.equal(readFileSync(join(live.root, `s-${proto}.back`), 'utf8'), `signed ${proto}`)
      })
    }

    t.test('wrong password is refused', async t => {
      const r = await smbclient(live, 'ls', { password: 'not-the-password', protocol: 'SMB3_11' })
      t.not(r.code, 0)
      t.match(r.stdout + r.stderr, /NT_STATUS_LOGON_FAILURE/)
    })

    t.test('unknown user is refused', async t => {
      const r = await smbclient(live, 'ls', { user: 'nobody-here', password: 'x', protocol: 'SMB3_11' })
      t.not(r.code, 0)
      t.match(r.stdout + r.stderr, /NT_STATUS_LOGON_FAILURE/)
    })

    t.test('allinfo shows an 8.3 alternate name; volume shows the share\'s label', async t => {
      writeFileSync(join(live.share, 'Long File Name.html'), 'x')
      writeFileSync(join(live.share, 'short.txt'), 'x')
      const r = await smbclient(live, 'allinfo "Long File Name.html"; allinfo short.txt; volume', { protocol: 'SMB3_11' })
      t.match(r.stdout, /altname: LONGF~[0-9A-Z]{2}\.HTM\n/, 'a made-up 8.3 name for a long one')
      t.match(r.stdout, /altname: short\.txt\n/, 'an 8.3 name is its own')
      t.match(r.stdout, /write_time: .*\n[\s\S]*stream: \[::\$DATA\], 1 bytes/, 'allinfo goes on past the alternate name')
      t.match(r.stdout, /Volume: \|share\| serial number 0x[0-9a-f]+/, 'the volume label is the share\'s name')
      t.notMatch(r.stdout + r.stderr, /NT_STATUS_/, 'no error')
    })

    t.test('read-only share refuses writes', async t => {
      writeFileSync(join(live.root, 'ro', 'existing.txt'), 'keep me')
      writeFileSync(join(live.root, 'w.txt'), 'x')
      const r = await smbclient(live, `lcd ${live.root}; get existing.txt ro.back; put w.txt; mkdir nope; del existing.txt`, { share: 'ro', protocol: 'SMB3_11' })
      t.match(r.stdout + r.stderr, /NT_STATUS_ACCESS_DENIED/)
      t.equal(readFileSync(join(live.root, 'ro.back'), 'utf8'), 'keep me', 'reads work')
      t.notOk(existsSync(join(live.root, 'ro', 'w.txt')), 'no file created')
      t.notOk(existsSync(join(live.root, 'ro', 'nope')), 'no directory created')
      t.ok(statSync(join(live.root, 'ro', 'existing.txt')).isFile(), 'not deleted')
    })
  })
}
