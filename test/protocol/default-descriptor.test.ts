// A new file's default descriptor is derived, not stored (src/smb2/file-security.ts): the DOS
// record notes the creator, no security.NTACL is written, and the file reads and decides as when
// the descriptor was stored. Where the DOS record cannot be kept, the descriptor is stored after
// all. Also the AllocationSize create context (AlSi, MS-SMB2 2.2.13.2.6).
import t, { type Test } from 'tap'
import { chmodSync, chownSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemClient, memServer, setInfoBody, Status, type MemServer } from '../helpers/mem-client.js'
import { Command } from '../../src/wire/constants.js'
import { INFO_SECURITY, openStatus as status, querySd as query, sessionAs } from '../helpers/acl-client.js'
import { native } from '../../src/io/native.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACL_REVISION, DACL_SECURITY_INFORMATION,
  encodeSecurityDescriptor, type SecurityDescriptor,
} from '../../src/wire/dtyp/security-descriptor.js'
import { sidToString, SID_WORLD } from '../../src/wire/dtyp/sid.js'
import { sessionToken } from '../../src/session/token.js'
import { SAMBA_NTACL_XATTR_NAME, posixAclFromMode, sambaNtAclSysHash, sysAclHash } from '../../src/vfs/samba-ntacl.js'
import { DOS_XATTR_NAME, DOSATTRIB_SMBTS_MAX_SIZE, decodeDosRecord } from '../../src/vfs/dos-xattr.js'

const READ = 0x1
const WRITE = 0x2
const OPEN = 1
const CREATE = 2
const USERS = { alice: 'Alice-pw1', bob: 'Bob-pass-2' }

function server (t: Test, backend: 'memory' | 'posix', shareLines: string[] = []): MemServer {
  const srv = memServer({ backend, users: USERS, shareLines })
  t.teardown(srv.cleanup)
  return srv
}
const as = async (srv: MemServer, user: keyof typeof USERS): Promise<MemClient> => await sessionAs(srv, USERS, user)
const xattr = async (path: string, name: string): Promise<Buffer | undefined> => {
  const fd = await native.openat2(native.constants.AT_FDCWD, path, native.constants.O_RDONLY, 0, 0)
  try {
    return await native.fgetxattr(fd, name).catch(() => undefined)
  } finally { await native.close(fd) }
}
const sidOf = (srv: MemServer, user: string): string => sidToString(sessionToken({ user, isGuest: false, isAnonymous: false }, srv.state.config.global.netbiosName).user)

for (const backend of ['memory', 'posix'] as const) {
  t.test(`a new file's default descriptor: owner the creator, the mode's DACL, nothing stored [${backend}]`, async t => {
    const srv = server(t, backend)
    const alice = await as(srv, 'alice')
    const bob = await as(srv, 'bob')
    const fid = await alice.open('a.txt', { access: 0x001f01ff, disposition: CREATE })
    const sd = await query(alice, fid)
    await alice.close(fid)
    t.equal(sidToString(sd.owner!), sidOf(srv, 'alice'), 'owner: alice')
    t.equal(sidToString(sd.group!), `${sidOf(srv, 'alice').replace(/-\d+$/, '')}-513`, 'group: Domain Users')
    t.same(sd.dacl!.aces.map(a => sidToString(a.sid!)), [sidOf(srv, 'alice'), `${sidOf(srv, 'alice').replace(/-\d+$/, '')}-513`, 'S-1-1-0'], 'creator, group, Everyone')
    t.equal(await status(bob, 'a.txt', READ), 0, 'create mask 0744: others read')
    t.equal(await status(bob, 'a.txt', WRITE), Status.ACCESS_DENIED, 'and do not write: the derived DACL decides')
    t.equal(await status(alice, 'a.txt', WRITE), 0, 'the owner writes')
    // The same descriptor from bob's side, and a directory's too.
    const again = await bob.open('a.txt', { access: 0x20000, disposition: OPEN })
    t.same(await query(bob, again), sd, 'the same descriptor every time, whoever asks')
    await bob.close(again)
    const dir = await alice.open('d', { access: 0x001f01ff, disposition: CREATE, options: 1 })
    t.equal(sidToString((await query(alice, dir)).owner!), sidOf(srv, 'alice'), 'a directory: owner alice')
    await alice.close(dir)
    t.equal(await status(bob, 'd', 0x100000), 0, 'bob opens the directory')
    t.equal((await bob.create('d\\b.txt', { access: READ | WRITE, disposition: CREATE })).status, Status.ACCESS_DENIED,
      'the directory\'s derived DACL refuses bob FILE_ADD_FILE')
    if (backend === 'posix') {
      const path = join(srv.share, 'a.txt')
      t.equal(await xattr(path, SAMBA_NTACL_XATTR_NAME), undefined, 'no security.NTACL written')
      const dos = (await xattr(path, DOS_XATTR_NAME))!
      t.ok(dos.length <= DOSATTRIB_SMBTS_MAX_SIZE, `user.DOSATTRIB is ${dos.length} bytes`)
      t.same(decodeDosRecord(dos)!.creator, { rid: Number(sidOf(srv, 'alice').split('-').pop()), mode: statSync(path).mode & 0o77 }, 'it notes the creator and the mode\'s group and other bits')
      // A chmod outside the server narrows what the DACL gives, as for a stored one; never widens.
      chmodSync(path, 0o600)
      t.equal(await status(bob, 'a.txt', READ), Status.ACCESS_DENIED, 'chmod 600: bob reads no more')
      chmodSync(path, 0o666)
      t.equal(await status(bob, 'a.txt', WRITE), Status.ACCESS_DENIED, 'chmod 666 grants nothing the DACL does not')
    }
  })

  t.test(`a DACL set on such a file is stored, and wins [${backend}]`, async t => {
    const srv = server(t, backend)
    const alice = await as(srv, 'alice')
    const bob = await as(srv, 'bob')
    const fid = await alice.open('b.txt', { access: 0x001f01ff, disposition: CREATE })
    const sd = await query(alice, fid)
    const only: SecurityDescriptor = { control: 0, dacl: { revision: ACL_REVISION, aces: [sd.dacl!.aces[0]!, { type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 0x001f01ff, sid: SID_WORLD }] } }
    const r = await alice.request({ cmd: Command.SET_INFO, body: setInfoBody(fid, INFO_SECURITY, 0, encodeSecurityDescriptor(only), DACL_SECURITY_INFORMATION) })
    t.equal(r.status, 0)
    await alice.close(fid)
    t.equal(await status(bob, 'b.txt', WRITE), 0, 'Everyone full control now')
    if (backend === 'posix') {
      // Version 4, its POSIX ACL hash over the file as it is (Samba's and ksmbd's check), and
      // again after smbts itself changes the mode (READONLY clears the write bits).
      const path = join(srv.share, 'b.txt')
      const hashNow = (): Buffer => { const st = statSync(path); return sysAclHash({ access: posixAclFromMode(st.mode), uid: st.uid, gid: st.gid, mode: st.mode }) }
      const v = (await xattr(path, SAMBA_NTACL_XATTR_NAME))!
      t.equal(v.readUInt16LE(0), 4, 'stored as security.NTACL version 4')
      t.same(sambaNtAclSysHash(v)!.subarray(0, 32), hashNow(), 'its POSIX ACL hash is the file\'s')
      const fid2 = await alice.open('b.txt', { access: 0x001f01ff, disposition: OPEN })
      const basic = Buffer.alloc(40)
      basic.writeUInt32LE(0x1, 32) // FILE_ATTRIBUTE_READONLY
      t.equal((await alice.setInfo(fid2, 1, 4, basic)).status, 0, 'READONLY set')
      await alice.close(fid2)
      t.equal(statSync(path).mode & 0o222, 0, 'the write bits went')
      t.same(sambaNtAclSysHash((await xattr(path, SAMBA_NTACL_XATTR_NAME))!)!.subarray(0, 32), hashNow(), 'and the hash follows the new mode')
    }
  })
}

t.test('store dos attributes = no: the default descriptor is stored, as there is no record to note it', async t => {
  const srv = server(t, 'posix', ['store dos attributes = no'])
  const alice = await as(srv, 'alice')
  const bob = await as(srv, 'bob')
  await alice.close(await alice.open('c.txt', { access: 0x001f01ff, disposition: CREATE }))
  t.ok(await xattr(join(srv.share, 'c.txt'), SAMBA_NTACL_XATTR_NAME), 'security.NTACL written')
  t.equal(await xattr(join(srv.share, 'c.txt'), DOS_XATTR_NAME), undefined, 'no DOS record')
  t.equal(await status(bob, 'c.txt', WRITE), Status.ACCESS_DENIED, 'the stored default DACL decides')
})

for (const backend of ['memory', 'posix'] as const) {
  t.test(`the AllocationSize create context reserves space for a new or replaced file [${backend}]`, async t => {
    const srv = server(t, backend)
    const alice = await as(srv, 'alice')
    const alsi = (n: bigint): { name: string, data: Buffer } => { const d = Buffer.alloc(8); d.writeBigUInt64LE(n); return { name: 'AlSi', data: d } }
    const r = await alice.create('e.dat', { access: 0x001f01ff, disposition: CREATE, contexts: [alsi(8192n)] })
    t.equal(r.status, 0)
    t.ok(r.body.readBigUInt64LE(40) >= 8192n, `AllocationSize ${r.body.readBigUInt64LE(40)}`)
    t.equal(r.body.readBigUInt64LE(48), 0n, 'EndOfFile stays 0')
    await alice.close({ persistent: r.body.readBigUInt64LE(64), volatile: r.body.readBigUInt64LE(72) })
    const plain = await alice.create('f.dat', { access: 0x001f01ff, disposition: CREATE })
    t.equal(plain.body.readBigUInt64LE(40), 0n, 'without it: a new empty file has AllocationSize 0')
    await alice.close({ persistent: plain.body.readBigUInt64LE(64), volatile: plain.body.readBigUInt64LE(72) })
    const opened = await alice.create('f.dat', { access: 0x001f01ff, disposition: OPEN, contexts: [alsi(65536n)] })
    t.equal(opened.body.readBigUInt64LE(40), 0n, 'ignored when the file is opened, not created or replaced')
    await alice.close({ persistent: opened.body.readBigUInt64LE(64), volatile: opened.body.readBigUInt64LE(72) })
    const bad = await alice.create('g.dat', { access: 0x001f01ff, disposition: CREATE, contexts: [{ name: 'AlSi', data: Buffer.alloc(4) }] })
    t.equal(bad.status, Status.INVALID_PARAMETER, 'a context that is not 8 bytes')
    t.equal(await status(alice, 'g.dat', READ), Status.OBJECT_NAME_NOT_FOUND, 'and nothing was created')
  })
}

t.test('a file made outside the server: its owner is the password-db user of its uid, as Samba\'s idmap says', async t => {
  // `daemon` is a Unix account here (uid 1) and a password-db user of this server; uid 2 (bin) is no db user's.
  const srv = memServer({ backend: 'posix', users: { daemon: 'Daemon-pw1' } })
  t.teardown(srv.cleanup)
  for (const [name, uid] of [['mine.txt', 1], ['other.txt', 2]] as const) {
    writeFileSync(join(srv.share, name), 'made outside')
    chownSync(join(srv.share, name), uid, 0)
  }
  const c = await new MemClient(srv.state).connect({ user: 'daemon', password: 'Daemon-pw1', share: 'share' })
  const owner = async (name: string): Promise<string> => {
    const fid = await c.open(name, { access: 0x20000, disposition: OPEN })
    const sd = await query(c, fid)
    await c.close(fid)
    return sidToString(sd.owner!)
  }
  t.equal(await owner('mine.txt'), sidOf(srv, 'daemon'), 'uid 1: daemon\'s SID, the one its sessions have (RID 1000 + 2 x uid)')
  t.match(sidOf(srv, 'daemon'), /-1002$/)
  t.equal(await owner('other.txt'), 'S-1-22-1-2', 'uid 2, no such db user: Unix User\\2')
})
