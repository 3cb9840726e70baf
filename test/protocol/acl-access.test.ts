// DACLs deciding access at CREATE, through the whole server in memory (src/smb2/file-security.ts):
// two users, the default DACL of a new file, a DACL set by its owner denying the other user,
// MAXIMUM_ALLOWED, `admin users`, owners a client may set; and on the posix backend, a descriptor
// Samba wrote (security.NTACL, version 4) read and enforced, and our old user.smbts.ntacl record
// read and migrated to security.NTACL on the next change.
import t, { type Test } from 'tap'
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemClient, memServer, queryInfoBody, renameInfo, setInfoBody, Status, type MemServer } from '../helpers/mem-client.js'
import { openStatus as status, querySd as query, sessionAs, setSd as set } from '../helpers/acl-client.js'
import { Command } from '../../src/wire/constants.js'
import { native } from '../../src/io/native.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACL_REVISION, DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION,
  encodeSecurityDescriptor, type SecurityDescriptor,
} from '../../src/wire/dtyp/security-descriptor.js'
import { sidToString, SID_WORLD } from '../../src/wire/dtyp/sid.js'
import { localDomainSid, sessionToken } from '../../src/session/token.js'
import { NTACL_XATTR_NAME, encodeNtAclRecord } from '../../src/vfs/ntacl-xattr.js'
import { SAMBA_NTACL_XATTR_NAME, decodeSambaNtAcl } from '../../src/vfs/samba-ntacl.js'

const READ = 0x1
const WRITE = 0x2
const READ_CONTROL = 0x20000
const WRITE_DAC = 0x40000
const MAXIMUM_ALLOWED = 0x02000000
const OPEN = 1
const INVALID_OWNER = 0xC000005A
const FileAccessInformation = 8
const USERS = { alice: 'Alice-pw1', bob: 'Bob-pass-2', boss: 'Boss-pw-3' }

function server (t: Test, backend: 'memory' | 'posix' = 'memory'): MemServer {
  const srv = memServer({ backend, users: USERS, shares: { adm: ['read only = no', 'admin users = boss'] } })
  t.teardown(srv.cleanup)
  return srv
}
const as = async (srv: MemServer, user: keyof typeof USERS, share = 'share'): Promise<MemClient> => await sessionAs(srv, USERS, user, share)
async function grantedAccess (c: MemClient, name: string, access: number): Promise<number> {
  const fid = await c.open(name, { access, disposition: OPEN })
  const r = await c.request({ cmd: Command.QUERY_INFO, body: queryInfoBody(fid, 1, FileAccessInformation, 64) })
  await c.close(fid)
  return r.body.readUInt32LE(8) >>> 0
}

t.test('tokens: a stable SID per user in the server\'s own domain', async t => {
  const d = localDomainSid('SMBTS')
  t.same(d, localDomainSid('smbts'), 'the netbios name compares case-insensitively')
  t.notSame(d, localDomainSid('OTHER'))
  const a = sessionToken({ user: 'Alice', isGuest: false, isAnonymous: false }, 'SMBTS')
  t.same(a, sessionToken({ user: 'alice', isGuest: false, isAnonymous: false }, 'SMBTS'), 'user names compare case-insensitively')
  t.match(sidToString(a.user), /^S-1-5-21-\d+-\d+-\d+-\d+$/)
  t.notSame(a.user, sessionToken({ user: 'bob', isGuest: false, isAnonymous: false }, 'SMBTS').user)
  t.equal(sidToString(sessionToken({ user: '', isGuest: false, isAnonymous: true }, 'SMBTS').user), 'S-1-5-7')
})

t.test('a new file: the creator owns it; the share\'s create mask decides for the others', async t => {
  const srv = server(t)
  const alice = await as(srv, 'alice')
  const bob = await as(srv, 'bob')
  const fid = await alice.open('a.txt', { access: 0x001f01ff, disposition: 2 })
  const sd = await query(alice, fid)
  t.equal(sidToString(sd.owner!), sidToString(sessionToken({ user: 'alice', isGuest: false, isAnonymous: false }, srv.state.config.global.netbiosName).user), 'owner: alice')
  await alice.close(fid)
  t.equal(await status(bob, 'a.txt', READ), 0, 'create mask 0744: others read')
  t.equal(await status(bob, 'a.txt', WRITE), Status.ACCESS_DENIED, 'and do not write')
  t.equal(await status(alice, 'a.txt', WRITE), 0, 'the owner writes')
})

t.test('an inheritable Everyone ACE on the share root: everyone writes everyone\'s new files', async t => {
  const srv = server(t)
  const alice = await as(srv, 'alice')
  const bob = await as(srv, 'bob')
  const root = await alice.open('', { access: READ_CONTROL | WRITE_DAC, disposition: OPEN, options: 1 })
  t.equal(await set(alice, root, DACL_SECURITY_INFORMATION, { control: 0, dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 3, mask: 0x001f01ff, sid: SID_WORLD }] } }), 0)
  await alice.close(root)
  await alice.close(await alice.open('shared.txt', { access: READ | WRITE, disposition: 2 }))
  t.equal(await status(bob, 'shared.txt', READ | WRITE | 0x10000), 0, 'bob reads, writes and deletes alice\'s file')
  // A file made by creating a stream of it inherits as well.
  await alice.close(await alice.open('streamed.txt:s', { access: READ | WRITE, disposition: 2 }))
  t.equal(await status(bob, 'streamed.txt', READ | WRITE | 0x10000), 0, 'and a file alice made through a stream of it')
})

t.test('a DACL the owner sets denies the other user; MAXIMUM_ALLOWED and FileAccessInformation follow it', async t => {
  const srv = server(t)
  const alice = await as(srv, 'alice')
  const bob = await as(srv, 'bob')
  const fid = await alice.open('p.txt', { access: 0x001f01ff, disposition: 2 })
  const cur = await query(alice, fid)
  t.equal(await set(alice, fid, DACL_SECURITY_INFORMATION, { control: 0, dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: READ | WRITE, sid: cur.owner! }] } }), 0)
  await alice.close(fid)
  t.equal(await status(bob, 'p.txt', READ), Status.ACCESS_DENIED, 'bob: nothing for him in the DACL')
  t.equal(await status(bob, 'p.txt', MAXIMUM_ALLOWED), 0, 'MAXIMUM_ALLOWED opens with what there is (attributes)')
  t.equal(await grantedAccess(alice, 'p.txt', WRITE), WRITE, 'asked by name: exactly that')
  t.equal(await grantedAccess(alice, 'p.txt', MAXIMUM_ALLOWED), (READ | WRITE | READ_CONTROL | WRITE_DAC | 0x80 | 0x10000) >>> 0,
    'MAXIMUM_ALLOWED: the DACL, the owner\'s implicit rights, FILE_READ_ATTRIBUTES, DELETE from the parent')
  t.equal(await status(alice, 'p.txt', 0x10000), 0, 'DELETE: the share root stores no descriptor, so the share grants deleting children')
  // Below a directory whose DACL refuses FILE_DELETE_CHILD, DELETE is the file's DACL's alone.
  const dir = await alice.open('d', { access: 0x001f01ff, disposition: 2, options: 1 })
  const dsd = await query(alice, dir)
  t.equal(await set(alice, dir, DACL_SECURITY_INFORMATION, { control: 0, dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 3, mask: 0x001f01ff & ~0x10040, sid: dsd.owner! }] } }), 0)
  await alice.close(dir)
  await alice.close(await alice.open('d\\f.txt', { access: READ, disposition: 2 }))
  t.equal(await status(alice, 'd\\f.txt', 0x10000), Status.ACCESS_DENIED, 'DELETE: inherited DACL without it, parent without FILE_DELETE_CHILD')
  t.equal(await status(bob, 'd\\f.txt', READ), Status.ACCESS_DENIED, 'bob: the inherited DACL names only alice')
})

t.test('admin users pass every DACL and may give a file away; others only to themselves', async t => {
  const srv = server(t)
  const alice = await as(srv, 'alice', 'adm')
  const fid = await alice.open('x.txt', { access: 0x001f01ff, disposition: 2 })
  t.equal(await set(alice, fid, DACL_SECURITY_INFORMATION, { control: 0, dacl: { revision: ACL_REVISION, aces: [] } }), 0, 'an empty DACL')
  t.equal(await set(alice, fid, OWNER_SECURITY_INFORMATION, { control: 0, owner: SID_WORLD }), 0, 'Everyone: one of alice\'s groups')
  t.equal(await set(alice, fid, OWNER_SECURITY_INFORMATION, { control: 0, owner: localDomainSid('X') }), INVALID_OWNER, 'another SID: refused')
  await alice.close(fid)
  t.equal(await status(alice, 'x.txt', READ), Status.ACCESS_DENIED, 'alice: the empty DACL denies')
  const boss = await as(srv, 'boss', 'adm')
  t.equal(await status(boss, 'x.txt', READ | WRITE), 0, 'boss, an admin user of the share: root-mapped')
  const bfid = await boss.open('x.txt', { access: 0x001f01ff, disposition: OPEN })
  t.equal(await set(boss, bfid, OWNER_SECURITY_INFORMATION, { control: 0, owner: localDomainSid('X') }), 0, 'an admin may set any owner')
  await boss.close(bfid)
})

t.test('posix: a descriptor Samba wrote (security.NTACL v4) is served and enforced', async t => {
  const srv = server(t, 'posix')
  const path = join(srv.share, 'samba.txt')
  writeFileSync(path, 'from samba')
  const value = readFileSync(new URL('../fixtures/samba-ntacl/file-v4-dacl.bin', import.meta.url))
  const fd = await native.openat2(native.constants.AT_FDCWD, path, native.constants.O_RDONLY, 0, 0)
  await native.fsetxattr(fd, SAMBA_NTACL_XATTR_NAME, value, 0)
  await native.close(fd)
  const alice = await as(srv, 'alice')
  const fid = await alice.open('samba.txt', { access: READ_CONTROL, disposition: OPEN })
  t.same(await query(alice, fid), decodeSambaNtAcl(value)!.sd, 'the descriptor Samba stored')
  await alice.close(fid)
  t.equal(await status(alice, 'samba.txt', READ), 0, 'Everyone may read (0x1200a9)')
  t.equal(await status(alice, 'samba.txt', WRITE), Status.ACCESS_DENIED, 'nobody alice is may write')
})

t.test('posix: an old user.smbts.ntacl record is read, and migrated to security.NTACL when changed', async t => {
  const srv = server(t, 'posix')
  const path = join(srv.share, 'old.txt')
  writeFileSync(path, '')
  const alice = await as(srv, 'alice')
  const owner = sessionToken({ user: 'alice', isGuest: false, isAnonymous: false }, srv.state.config.global.netbiosName).user
  const old: SecurityDescriptor = { control: 0, owner, group: SID_WORLD, dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: READ, sid: owner }] } }
  const fd = await native.openat2(native.constants.AT_FDCWD, path, native.constants.O_RDONLY, 0, 0)
  await native.fsetxattr(fd, NTACL_XATTR_NAME, encodeNtAclRecord(encodeSecurityDescriptor(old)), 0)
  t.equal(await status(alice, 'old.txt', WRITE), Status.ACCESS_DENIED, 'the old record decides')
  const fid = await alice.open('old.txt', { access: READ | WRITE_DAC | READ_CONTROL, disposition: OPEN })
  t.same(await query(alice, fid), old)
  t.equal(await set(alice, fid, DACL_SECURITY_INFORMATION, { control: 0, dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: READ | WRITE, sid: owner }] } }), 0)
  await alice.close(fid)
  await t.rejects(native.fgetxattr(fd, NTACL_XATTR_NAME), 'user.smbts.ntacl removed')
  t.equal(decodeSambaNtAcl(await native.fgetxattr(fd, SAMBA_NTACL_XATTR_NAME))!.version, 4, 'security.NTACL version 4 written (with its POSIX ACL hash, as Samba)')
  await native.close(fd)
  t.equal(statSync(path).mode & 0o777, 0o600, 'the mode follows the DACL: nothing for the group (Everyone here) and others; the user bits stay the server\'s')
  t.equal(await status(alice, 'old.txt', WRITE), 0)
})

t.test('posix: a new file\'s mode follows the DACL it inherits', async t => {
  const srv = server(t, 'posix')
  const alice = await as(srv, 'alice')
  const dir = await alice.open('inh', { access: 0x001f01ff, disposition: 2, options: 1 })
  const owner = (await query(alice, dir)).owner!
  const inheritable = (mask: number, sid: typeof owner) => ({ type: ACCESS_ALLOWED_ACE_TYPE, flags: 3, mask, sid })
  t.equal(await set(alice, dir, DACL_SECURITY_INFORMATION, { control: 0, dacl: { revision: ACL_REVISION, aces: [inheritable(READ | WRITE | 0x1f0180, owner), inheritable(READ, SID_WORLD)] } }), 0)
  await alice.close(dir)
  await alice.close(await alice.open('inh\\f.txt', { access: READ | WRITE, disposition: 2 }))
  t.equal(statSync(join(srv.share, 'inh', 'f.txt')).mode & 0o777, 0o644, 'owner rw, Everyone (the group too) r')
  t.equal(statSync(join(srv.share, 'inh')).mode & 0o777, 0o744, 'the directory\'s mode followed the DACL set on it (rwx for the server)')
})

t.test('a directory whose DACL refuses FILE_ADD_FILE: no create, no rename into it', async t => {
  const srv = server(t)
  const alice = await as(srv, 'alice')
  const bob = await as(srv, 'bob')
  const dir = await alice.open('locked', { access: 0x001f01ff, disposition: 2, options: 1 })
  const owner = (await query(alice, dir)).owner!
  t.equal(await set(alice, dir, DACL_SECURITY_INFORMATION, {
    control: 0, dacl: {
      revision: ACL_REVISION, aces: [
        { type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 0x001f01ff, sid: owner },
        { type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 0x001200a9, sid: SID_WORLD },
      ]
    }
  }), 0)
  await alice.close(dir)
  t.equal((await bob.create('locked\\new.txt', { access: READ | WRITE, disposition: 2 })).status, Status.ACCESS_DENIED, 'bob may not add a file')
  t.equal((await bob.create('locked\\sub', { access: READ, disposition: 2, options: 1 })).status, Status.ACCESS_DENIED, 'nor a directory')
  t.equal((await bob.create('locked\\new.txt:s', { access: READ | WRITE, disposition: 2 })).status, Status.ACCESS_DENIED, 'nor a file made by a stream of it')
  const mine = await bob.open('mine.txt', { access: READ | WRITE | 0x10000, disposition: 2 })
  const r = await bob.request({ cmd: Command.SET_INFO, body: setInfoBody(mine, 1, 10, renameInfo('locked\\mine.txt')) })
  t.equal(r.status, Status.ACCESS_DENIED, 'nor move one in')
  await bob.close(mine)
  t.equal((await alice.create('locked\\new.txt', { access: READ | WRITE, disposition: 2 })).status, 0, 'the owner may')
})

t.test('posix: a security.NTACL smbts cannot read is ignored, said once in the log', async t => {
  const srv = memServer({ backend: 'posix', users: USERS, log: true })
  t.teardown(srv.cleanup)
  const path = join(srv.share, 'future.txt')
  writeFileSync(path, '')
  const fd = await native.openat2(native.constants.AT_FDCWD, path, native.constants.O_RDONLY, 0, 0)
  await native.fsetxattr(fd, SAMBA_NTACL_XATTR_NAME, Buffer.from([5, 0, 5, 0, 0, 0, 2, 0, 1, 2, 3, 4]), 0)
  await native.close(fd)
  const bob = await as(srv, 'bob')
  t.equal(await status(bob, 'future.txt', READ | WRITE), 0, 'described from its mode: the share decides')
  t.equal(await status(bob, 'future.txt', READ), 0)
  t.equal(srv.logs.filter(l => l.includes('holds no descriptor smbts reads (12 bytes, version 5)')).length, 1, 'one warning')
})

t.test('posix: a chmod outside the server takes from SMB clients what it takes from local users', async t => {
  const srv = server(t, 'posix')
  const alice = await as(srv, 'alice')
  const bob = await as(srv, 'bob')
  await alice.close(await alice.open('shared.txt', { access: READ | WRITE, disposition: 2 }))
  t.equal(await status(bob, 'shared.txt', READ), 0, 'the default DACL: others read')
  chmodSync(join(srv.share, 'shared.txt'), 0o640)
  t.equal(await status(bob, 'shared.txt', READ), 0, "g+r kept: bob is in Domain Users, the file's group")
  chmodSync(join(srv.share, 'shared.txt'), 0o600)
  t.equal(await status(bob, 'shared.txt', READ), Status.ACCESS_DENIED, 'chmod 600: bob reads no more')
  t.equal(await status(bob, 'shared.txt', READ_CONTROL), 0, 'the rest of what the DACL gives stays')
  t.equal(await status(alice, 'shared.txt', READ | WRITE), 0, 'the owner is not narrowed')
  chmodSync(join(srv.share, 'shared.txt'), 0o666)
  t.equal(await status(bob, 'shared.txt', WRITE), Status.ACCESS_DENIED, 'a wider mode grants nothing the DACL does not')
})
