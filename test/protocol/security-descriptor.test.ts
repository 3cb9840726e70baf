// SET_INFO / QUERY_INFO of SMB2_0_INFO_SECURITY through the whole server in memory: a client-set
// owner/group/DACL is stored (security.NTACL on posix, user.smbts.ntacl in memory) and read back filtered by AdditionalInformation;
// the open's access is enforced; malformed descriptors, SACLs and ownership changes are refused.
//
// Backends: the two tests that read the security.NTACL xattr on disk (stored, and nothing
// stored after refusals) run on posix; the rules (NULL DACL, protection flags, owner and group,
// the access each part needs) on the memory backend.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { MemClient, memServer, queryInfoBody, setInfoBody, Status, type FileId, type MemServer } from '../helpers/mem-client.js'
import { Command } from '../../src/wire/constants.js'
import { native } from '../../src/io/native.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACL_REVISION, DACL_SECURITY_INFORMATION, GROUP_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION,
  PROTECTED_DACL_SECURITY_INFORMATION, SACL_SECURITY_INFORMATION, SE_DACL_PROTECTED, UNPROTECTED_DACL_SECURITY_INFORMATION,
  encodeSecurityDescriptor, parseSecurityDescriptor, type SecurityDescriptor,
} from '../../src/wire/dtyp/security-descriptor.js'
import { sidEquals, sidFromString, unixUserSid } from '../../src/wire/dtyp/sid.js'
import { NTACL_XATTR_NAME } from '../../src/vfs/ntacl-xattr.js'
import { SAMBA_NTACL_XATTR_NAME, decodeSambaNtAcl } from '../../src/vfs/samba-ntacl.js'

const INFO_SECURITY = 3 // MS-SMB2 2.2.37 SMB2_0_INFO_SECURITY
const READ_CONTROL = 0x20000
const WRITE_DAC = 0x40000
const WRITE_OWNER = 0x80000
const FILE_READ_DATA = 0x1
const ALL = OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
const ANONYMOUS = sidFromString('S-1-5-7')
const INVALID_OWNER = 0xC000005A
const INVALID_SECURITY_DESCR = 0xC0000079

function server (t: Test, backend: 'memory' | 'posix' = 'memory'): MemServer {
  const srv = memServer({ backend })
  t.teardown(srv.cleanup)
  return srv
}

async function query (c: MemClient, fid: FileId, info = ALL): Promise<{ status: number, sd?: SecurityDescriptor, raw?: Buffer }> {
  const r = await c.request({ cmd: Command.QUERY_INFO, body: queryInfoBody(fid, INFO_SECURITY, 0, 65536, info) })
  if (r.status !== 0) return { status: r.status }
  const raw = r.body.subarray(8, 8 + r.body.readUInt32LE(4))
  return { status: 0, sd: parseSecurityDescriptor(raw), raw }
}

async function set (c: MemClient, fid: FileId, info: number, sd: Buffer): Promise<number> {
  return (await c.request({ cmd: Command.SET_INFO, body: setInfoBody(fid, INFO_SECURITY, 0, sd, info) })).status
}

async function storedRecord (path: string, name = SAMBA_NTACL_XATTR_NAME): Promise<Buffer | undefined> {
  const fd = await native.openat2(native.constants.AT_FDCWD, path, native.constants.O_RDONLY, 0, 0)
  try { return await native.fgetxattr(fd, name) } catch { return undefined } finally { await native.close(fd) }
}

t.test('a DACL set is stored per file, survives the open, and is read back filtered', async t => {
  const srv = server(t, 'posix')
  // Made outside the server: no descriptor stored (one created through the server gets one).
  writeFileSync(join(srv.share, 'acl.txt'), '')
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('acl.txt', { access: 0x001f01ff, disposition: 1 })
  const before = await query(c, fid)
  t.equal(before.status, 0)
  t.ok(sidEquals(before.sd!.owner!, unixUserSid(process.getuid!())), 'nothing stored: the POSIX synthesis (owner S-1-22-1-uid)')
  t.equal(await storedRecord(join(srv.share, 'acl.txt')), undefined, 'no xattr yet')

  const dacl = { revision: ACL_REVISION, aces: [...before.sd!.dacl!.aces, { type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 0x001f01ff, sid: ANONYMOUS }] }
  // Only the DACL is set: the owner and group given are ignored (a bogus owner proves it).
  t.equal(await set(c, fid, DACL_SECURITY_INFORMATION, encodeSecurityDescriptor({ control: 0, owner: ANONYMOUS, dacl })), 0, 'SET_INFO DACL succeeds')
  const after = await query(c, fid)
  t.same(after.sd!.dacl, dacl, 'the DACL is the one set')
  t.same(after.sd!.owner, before.sd!.owner, 'the owner is unchanged')
  t.same(after.sd!.group, before.sd!.group, 'the group is unchanged')
  const rec = await storedRecord(join(srv.share, 'acl.txt'))
  t.ok(rec, 'stored in security.NTACL, as Samba keeps it')
  t.equal(rec!.readUInt16LE(0), 4, 'a version-4 xattr_NTACL with its POSIX ACL hash, as Samba writes it')
  t.same(decodeSambaNtAcl(rec)!.sd.dacl, dacl)
  t.equal(await storedRecord(join(srv.share, 'acl.txt'), NTACL_XATTR_NAME), undefined, 'no user.smbts.ntacl beside it')

  t.equal((await c.close(fid)).status, 0)
  const d = await new MemClient(srv.state).connect()
  const fid2 = await d.open('acl.txt', { access: READ_CONTROL, disposition: 1 })
  t.same((await query(d, fid2)).sd!.dacl, dacl, 'another session, another open: the same DACL')
  const groupOnly = await query(d, fid2, GROUP_SECURITY_INFORMATION)
  t.same(groupOnly.sd, { control: 0, group: before.sd!.group }, 'GROUP only: no owner, no DACL, no DACL control bits')
  const withSacl = await query(d, fid2, DACL_SECURITY_INFORMATION | SACL_SECURITY_INFORMATION)
  t.same(withSacl.sd!.sacl, { revision: ACL_REVISION, aces: [] }, 'an empty SACL when asked for')
  t.equal(withSacl.sd!.owner, undefined)
})

t.test('NULL DACL, protection flags, owner and group', async t => {
  const srv = server(t)
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('n.txt', { access: 0x001f01ff })
  const cur = (await query(c, fid)).sd!
  t.equal(await set(c, fid, DACL_SECURITY_INFORMATION, encodeSecurityDescriptor({ control: 0 })), 0, 'no DACL present: a NULL DACL')
  const q = await query(c, fid)
  t.equal(q.sd!.dacl, null, 'read back as present and NULL')
  t.equal(q.raw!.readUInt32LE(16), 0, 'OffsetDacl 0')
  t.equal(await set(c, fid, DACL_SECURITY_INFORMATION | UNPROTECTED_DACL_SECURITY_INFORMATION, encodeSecurityDescriptor({ control: SE_DACL_PROTECTED, dacl: cur.dacl! })), 0)
  t.equal((await query(c, fid)).sd!.control & SE_DACL_PROTECTED, 0, 'UNPROTECTED_DACL clears SE_DACL_PROTECTED')
  t.equal(await set(c, fid, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, encodeSecurityDescriptor({ control: 0, dacl: cur.dacl! })), 0)
  t.equal((await query(c, fid)).sd!.control & SE_DACL_PROTECTED, SE_DACL_PROTECTED, 'PROTECTED_DACL sets it')

  const group = sidFromString('S-1-5-32-545')
  t.equal(await set(c, fid, OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION, encodeSecurityDescriptor({ control: 0, owner: cur.owner, group })), 0, 'the same owner and a new group')
  const q2 = (await query(c, fid)).sd!
  t.same(q2.group, group, 'the group is set')
  t.same(q2.owner, cur.owner)
  t.equal(await set(c, fid, OWNER_SECURITY_INFORMATION, encodeSecurityDescriptor({ control: 0, owner: ANONYMOUS })), INVALID_OWNER, 'giving the file away: INVALID_OWNER')
  t.equal(await set(c, fid, OWNER_SECURITY_INFORMATION, encodeSecurityDescriptor({ control: 0, group })), INVALID_OWNER, 'OWNER without an owner: INVALID_OWNER')
  t.same((await query(c, fid)).sd!.owner, cur.owner, 'the owner did not change')
})

t.test('access: READ_CONTROL to read, WRITE_DAC / WRITE_OWNER to set, SACL refused', async t => {
  const srv = server(t)
  const c = await new MemClient(srv.state).connect()
  const full = await c.open('a.txt', { access: 0x001f01ff })
  const sd = (await query(c, full)).sd!
  const noRc = await c.open('a.txt', { access: FILE_READ_DATA, disposition: 1, share: 7 })
  t.equal((await query(c, noRc)).status, Status.ACCESS_DENIED, 'QUERY without READ_CONTROL')
  const rc = await c.open('a.txt', { access: READ_CONTROL, disposition: 1, share: 7 })
  t.equal((await query(c, rc)).status, 0, 'with READ_CONTROL')
  const body = encodeSecurityDescriptor({ control: 0, owner: sd.owner, group: sd.group, dacl: { revision: ACL_REVISION, aces: [] } })
  t.equal(await set(c, rc, DACL_SECURITY_INFORMATION, body), Status.ACCESS_DENIED, 'DACL without WRITE_DAC')
  t.equal(await set(c, rc, GROUP_SECURITY_INFORMATION, body), Status.ACCESS_DENIED, 'group without WRITE_OWNER')
  const dac = await c.open('a.txt', { access: WRITE_DAC | READ_CONTROL, disposition: 1, share: 7 })
  t.equal(await set(c, dac, OWNER_SECURITY_INFORMATION, body), Status.ACCESS_DENIED, 'owner without WRITE_OWNER')
  t.equal(await set(c, dac, SACL_SECURITY_INFORMATION, encodeSecurityDescriptor({ control: 0, sacl: { revision: ACL_REVISION, aces: [] } })), Status.ACCESS_DENIED, 'a SACL: refused (no SeSecurityPrivilege)')
  const own = await c.open('a.txt', { access: WRITE_OWNER | READ_CONTROL, disposition: 1, share: 7 })
  t.equal(await set(c, own, GROUP_SECURITY_INFORMATION, body), 0, 'group with WRITE_OWNER')
  t.equal(await set(c, dac, DACL_SECURITY_INFORMATION, body), 0, 'DACL with WRITE_DAC')
  t.same((await query(c, rc)).sd!.dacl, { revision: ACL_REVISION, aces: [] }, 'an empty DACL stored')
})

t.test('malformed descriptors are refused and nothing is stored', async t => {
  const srv = server(t, 'posix')
  writeFileSync(join(srv.share, 'm.txt'), '')
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('m.txt', { access: 0x001f01ff, disposition: 1 })
  const good = encodeSecurityDescriptor({ control: 0, dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 1, sid: ANONYMOUS }] } })
  const bad: Array<[string, Buffer, number]> = [
    ['empty', Buffer.alloc(0), Status.INVALID_PARAMETER],
    ['shorter than the header', good.subarray(0, 19), Status.INVALID_PARAMETER],
    ['revision 2', Buffer.concat([Buffer.from([2]), good.subarray(1)]), INVALID_SECURITY_DESCR],
    ['not self-relative', (() => { const b = Buffer.from(good); b.writeUInt16LE(b.readUInt16LE(2) & ~0x8000, 2); return b })(), INVALID_SECURITY_DESCR],
    ['DACL offset past the end', (() => { const b = Buffer.from(good); b.writeUInt32LE(b.length + 8, 16); return b })(), INVALID_SECURITY_DESCR],
    ['AclSize past the end', (() => { const b = Buffer.from(good); b.writeUInt16LE(0x400, b.readUInt32LE(16) + 2); return b })(), INVALID_SECURITY_DESCR],
    ['truncated ACE', good.subarray(0, good.length - 4), INVALID_SECURITY_DESCR],
  ]
  for (const [what, buf, status] of bad) {
    t.equal(await set(c, fid, DACL_SECURITY_INFORMATION, buf), status, what)
  }
  t.equal(await storedRecord(join(srv.share, 'm.txt')), undefined, 'nothing stored')
  t.equal(await set(c, fid, DACL_SECURITY_INFORMATION, good), 0, 'the well-formed one is accepted')
})
