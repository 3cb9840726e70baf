// ACLs that decide access, through real clients against a live server: impacket (SMB 3.0) sets a
// DACL that lets only the file's owner in; smbclient as a second user is refused the open
// (NT_STATUS_ACCESS_DENIED), the owner's smbclient reads the file; the server's `vfs` log says who
// was refused what. And the default DACL of a file made through smbclient: others read, do not
// write. (smbcacls cannot be pointed at another port than 445/139, so impacket sets the DACL.)
import t from 'tap'
import { readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run, startLive, type LiveServer } from '../helpers/live.js'
import { pythonModuleMissing, runPy } from '../helpers/py.js'
import { native } from '../../src/io/native.js'
import { SAMBA_NTACL_XATTR_NAME, decodeSambaNtAcl } from '../../src/vfs/samba-ntacl.js'
import { sidToString } from '../../src/wire/dtyp/sid.js'

const OTHER = 'other'
const OTHER_PASS = 'Other-pass2'
let live: LiveServer
const tmp = mkdtempSync(join(tmpdir(), 'smbts-acl-'))
t.before(async () => { live = await startLive({ users: { [OTHER]: OTHER_PASS }, debug: ['vfs'] }) })
t.teardown(async () => { await live.stop(); rmSync(tmp, { recursive: true, force: true }) })

const smbclient = async (user: string, password: string, cmd: string): Promise<string> => {
  const r = await run('smbclient', ['//127.0.0.1/share', '-p', String(live.port), '-U', `${user}%${password}`, '-c', cmd])
  return r.stdout + r.stderr
}

const missing = pythonModuleMissing('impacket')

t.test('an owner-only DACL set by impacket denies a second user\'s smbclient', { skip: missing ?? false }, async t => {
  const r = await runPy<{ owner?: string, aces?: Array<[string, number, number]>, error?: string }>('owner_only_dacl.py', [String(live.port), live.user, live.password, 'share', 'private.txt'])
  t.equal(r.error, undefined, 'impacket set the DACL')
  t.match(r.owner, /^S-1-5-21-\d+-\d+-\d+-\d+$/, 'the creator owns the file (its own SID, not the POSIX owner)')
  t.same(r.aces, [[r.owner, 0x001f01ff, 0]], 'one ACE: the owner')

  const from = live.logs.length
  const denied = await smbclient(OTHER, OTHER_PASS, `get private.txt ${join(tmp, 'other.txt')}`)
  t.match(denied, /NT_STATUS_ACCESS_DENIED/, 'the other user is refused')
  t.ok(await live.logged(new RegExp(`access denied to share/private\\.txt for ${OTHER} \\(S-1-5-21-`), { from }), 'the log names the file, the user and its SID')
  const ok = await smbclient(live.user, live.password, `get private.txt ${join(tmp, 'owner.txt')}`)
  t.notMatch(ok, /NT_STATUS_/, 'the owner reads it')
  t.equal(readFileSync(join(tmp, 'owner.txt'), 'utf8'), 'only the owner reads this\n')

  // A stream has its file's security: the DACL keeps the other user out of its streams too.
  await run('sh', ['-c', `echo stream data > ${join(tmp, 'stream.txt')}`])
  t.notMatch(await smbclient(live.user, live.password, `put ${join(tmp, 'stream.txt')} private.txt:secret`), /NT_STATUS_/, 'the owner writes a stream of it')
  const fromStream = live.logs.length
  t.match(await smbclient(OTHER, OTHER_PASS, `get private.txt:secret ${join(tmp, 'other-stream.txt')}`), /NT_STATUS_ACCESS_DENIED/, 'the other user is refused the stream')
  t.ok(await live.logged(new RegExp(`access denied to share/private\\.txt for ${OTHER}`), { from: fromStream }), 'and the log says so')
  t.notMatch(await smbclient(live.user, live.password, `get private.txt:secret ${join(tmp, 'owner-stream.txt')}`), /NT_STATUS_/, 'the owner reads the stream')
  t.equal(readFileSync(join(tmp, 'owner-stream.txt'), 'utf8'), 'stream data\n')
  // What smbclient shows of the file: its stream (allinfo) and its DACL (showacls).
  const shown = await smbclient(live.user, live.password, 'allinfo private.txt; showacls; ls private.txt')
  t.match(shown, /stream: \[:secret:\$DATA\], 12 bytes/, 'allinfo lists the stream')
  t.match(shown, /Num ACEs:\s+1\b/, 'showacls: one ACE')
  t.match(shown, new RegExp(String.raw`Permissions: 0x1f01ff:[^\n]*\n\s*SID: ${r.owner ?? '?'}\s`), 'showacls: full control for the owner')

  const fd = await native.openat2(native.constants.AT_FDCWD, join(live.share, 'private.txt'), native.constants.O_RDONLY, 0, 0)
  const stored = decodeSambaNtAcl(await native.fgetxattr(fd, SAMBA_NTACL_XATTR_NAME))
  await native.close(fd)
  t.equal(stored?.version, 4, 'kept in security.NTACL version 4, as Samba keeps it')
  t.same(stored?.sd.dacl?.aces.map(a => sidToString(a.sid!)), [r.owner])
})

t.test('a file put with smbclient: the share\'s create mask decides what others may do', async t => {
  const src = join(tmp, 'put.txt')
  await run('sh', ['-c', `echo hello > ${src}`])
  t.notMatch(await smbclient(live.user, live.password, `put ${src} shared.txt`), /NT_STATUS_/, 'put')
  t.notMatch(await smbclient(OTHER, OTHER_PASS, `get shared.txt ${join(tmp, 'got.txt')}`), /NT_STATUS_/, 'another user reads it (create mask 0744)')
  t.match(await smbclient(OTHER, OTHER_PASS, `put ${src} shared.txt`), /NT_STATUS_ACCESS_DENIED/, 'and may not overwrite it')
})
