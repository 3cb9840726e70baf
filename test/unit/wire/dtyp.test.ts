import t from 'tap'
import { NtStatusError } from '../../../src/wire/errors.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'
import {
  parseSid, encodeSid, sidToString, sidFromString, sidEquals, sidByteLength, SID_WORLD, SID_BUILTIN_ADMINISTRATORS,
  SID_LOCAL_SYSTEM, SID_CREATOR_OWNER, SID_AUTHENTICATED_USERS, unixUserSid, unixGroupSid
} from '../../../src/wire/dtyp/sid.js'
import {
  encodeSecurityDescriptor, parseSecurityDescriptor, posixSecurityDescriptor, filterSecurityDescriptor, encodeAcl,
  parseAcl, accessMaskFromRwx, ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, ACCESS_ALLOWED_OBJECT_ACE_TYPE,
  ACL_REVISION, ACL_REVISION_DS, OBJECT_INHERIT_ACE, CONTAINER_INHERIT_ACE, SE_SELF_RELATIVE, SE_DACL_PRESENT, SE_SACL_PRESENT,
  OWNER_SECURITY_INFORMATION, GROUP_SECURITY_INFORMATION, DACL_SECURITY_INFORMATION, SACL_SECURITY_INFORMATION,
  type SecurityDescriptor
} from '../../../src/wire/dtyp/security-descriptor.js'
import { AccessMask, FILE_ALL_ACCESS, FILE_GENERIC_READ, FILE_GENERIC_EXECUTE, FILE_GENERIC_WRITE } from '../../../src/wire/constants.js'

function status (fn: () => unknown): number | undefined {
  try { fn() } catch (e) { if (e instanceof NtStatusError) return e.status; throw e }
  return undefined
}

t.test('well-known SID strings and bytes', async t => {
  t.equal(sidToString(SID_WORLD), 'S-1-1-0')
  t.equal(sidToString(SID_CREATOR_OWNER), 'S-1-3-0')
  t.equal(sidToString(SID_AUTHENTICATED_USERS), 'S-1-5-11')
  t.equal(sidToString(SID_LOCAL_SYSTEM), 'S-1-5-18')
  t.equal(sidToString(SID_BUILTIN_ADMINISTRATORS), 'S-1-5-32-544')
  t.equal(sidToString(unixUserSid(1000)), 'S-1-22-1-1000')
  t.equal(sidToString(unixGroupSid(100)), 'S-1-22-2-100')
  t.equal(encodeSid(SID_BUILTIN_ADMINISTRATORS).toString('hex'), '0102000000000005' + '20000000' + '20020000')
  t.equal(encodeSid(SID_WORLD).toString('hex'), '0101000000000001' + '00000000')
  const dom = sidFromString('S-1-5-21-3623811015-3361044348-30300820-1013')
  t.equal(sidByteLength(dom), 8 + 5 * 4)
  t.equal(sidToString(parseSid(encodeSid(dom)).sid), 'S-1-5-21-3623811015-3361044348-30300820-1013')
  t.equal(sidToString(sidFromString('S-1-0x123456789ABC-1')), 'S-1-0x123456789ABC-1')
  t.equal(sidToString(sidFromString('S-1-4294967296-7')), 'S-1-0x000100000000-7', 'large authority prints in hex')
  t.ok(sidEquals(sidFromString('S-1-1-0'), SID_WORLD))
  t.notOk(sidEquals(sidFromString('S-1-1-1'), SID_WORLD))
})

t.test('SID parse errors', async t => {
  for (const bad of ['', 'S-1', 'X-1-5', 'S-2-5-1', 'S-1-5-abc', 'S-1-5-4294967296', 'S-1-0x1234567890ABCD-1',
    'S-1-5' + '-1'.repeat(16)]) {
    t.equal(status(() => sidFromString(bad)), NtStatus.INVALID_SID, bad)
  }
  const b = encodeSid(SID_BUILTIN_ADMINISTRATORS)
  for (let n = 0; n < b.length; n++) t.equal(status(() => parseSid(b.subarray(0, n))), NtStatus.INVALID_SID)
  t.equal(status(() => parseSid(Buffer.from('0210000000000005', 'hex'))), NtStatus.INVALID_SID, '16 sub-authorities')
  t.equal(status(() => parseSid(Buffer.from('0200000000000005', 'hex'))), NtStatus.INVALID_SID, 'revision 2')
  t.equal(parseSid(Buffer.concat([Buffer.alloc(3), b]), 3).byteLength, 16)
})

const sample: SecurityDescriptor = {
  control: 0,
  owner: sidFromString('S-1-5-21-1-2-3-500'),
  group: sidFromString('S-1-5-21-1-2-3-513'),
  dacl: {
    revision: ACL_REVISION_DS, // it holds an object ACE
    aces: [
      { type: ACCESS_DENIED_ACE_TYPE, flags: 0, mask: AccessMask.DELETE, sid: SID_WORLD },
      { type: ACCESS_ALLOWED_ACE_TYPE, flags: OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE, mask: FILE_ALL_ACCESS, sid: SID_BUILTIN_ADMINISTRATORS },
      { type: ACCESS_ALLOWED_OBJECT_ACE_TYPE, flags: 0, mask: 0x100, body: Buffer.alloc(4 + 16 + 12, 7) }
    ]
  },
  sacl: { revision: ACL_REVISION, aces: [] }
}

t.test('security descriptor round trip and layout', async t => {
  const b = encodeSecurityDescriptor(sample)
  t.equal(b[0], 1)
  const control = b.readUInt16LE(2)
  t.equal(control & (SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_SACL_PRESENT), SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_SACL_PRESENT)
  t.equal(b.readUInt32LE(12), 20, 'SACL first, right after the header')
  t.equal(b.readUInt32LE(16), 28, 'DACL after the empty SACL')
  const back = parseSecurityDescriptor(b)
  t.same(back, sample)
  t.same(encodeSecurityDescriptor(back), b)
  const dacl = encodeAcl(sample.dacl!)
  t.equal(dacl.readUInt16LE(2), dacl.length, 'AclSize')
  t.equal(dacl.readUInt16LE(4), 3, 'AceCount')
  t.equal(dacl.readUInt16LE(8 + 2), 4 + 4 + 12, 'first AceSize')
  t.same(parseAcl(dacl), sample.dacl)
})

t.test('NULL DACL and absent parts', async t => {
  const b = encodeSecurityDescriptor({ control: 0, dacl: null })
  t.equal(b.length, 20)
  t.equal(b.readUInt16LE(2), SE_SELF_RELATIVE | SE_DACL_PRESENT)
  t.same(parseSecurityDescriptor(b), { control: 0, dacl: null })
  t.same(parseSecurityDescriptor(encodeSecurityDescriptor({ control: 0 })), { control: 0 })
})

t.test('every truncation and random corruption throws only NtStatusError', async t => {
  const b = encodeSecurityDescriptor(sample)
  for (let n = 0; n < b.length; n++) {
    const s = status(() => parseSecurityDescriptor(b.subarray(0, n)))
    t.equal(s, NtStatus.INVALID_SECURITY_DESCR, `len ${n}`)
  }
  let seed = 7
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  for (let i = 0; i < 2000; i++) {
    const c = Buffer.from(b)
    for (let k = 0; k < 3; k++) c[rnd() % c.length] = rnd() & 0xff
    try { parseSecurityDescriptor(c) } catch (e) { if (!(e instanceof NtStatusError)) t.fail(String(e)) }
  }
  t.equal(status(() => parseSecurityDescriptor(Buffer.from(b).fill(0, 2, 4))), NtStatus.INVALID_SECURITY_DESCR, 'not self-relative')
})

t.test('ACL strictness (MS-DTYP 2.4.4.1, 2.4.5): misaligned AceSize, object ACE in a revision-2 ACL', async t => {
  const plain = encodeAcl({ revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: FILE_ALL_ACCESS, sid: SID_WORLD }] })
  t.ok(parseAcl(plain), 'a well-formed ACL parses')
  // One ACE of 20 bytes (header 4 + mask 4 + SID 12); claim 18 and shrink the ACL to match.
  const odd = Buffer.from(plain.subarray(0, 8 + 18))
  odd.writeUInt16LE(odd.length, 2)
  odd.writeUInt16LE(18, 8 + 2)
  odd[8 + 9] = 0
  t.equal(status(() => parseAcl(odd)), NtStatus.INVALID_ACL, 'AceSize not a multiple of 4')
  const objAce = { type: ACCESS_ALLOWED_OBJECT_ACE_TYPE, flags: 0, mask: 0x100, body: Buffer.alloc(4 + 16 + 12, 7) }
  t.equal(status(() => parseAcl(encodeAcl({ revision: ACL_REVISION, aces: [objAce] }))), NtStatus.INVALID_ACL, 'object ACE needs ACL_REVISION_DS')
  t.ok(parseAcl(encodeAcl({ revision: ACL_REVISION_DS, aces: [objAce] })), 'and parses with it')
  // In a descriptor, a bad ACL is a bad descriptor.
  const sd = encodeSecurityDescriptor({ control: 0, dacl: { revision: ACL_REVISION, aces: [objAce] } })
  t.equal(status(() => parseSecurityDescriptor(sd)), NtStatus.INVALID_SECURITY_DESCR)
})

t.test('POSIX mode → security descriptor', async t => {
  t.equal(accessMaskFromRwx(7, false), FILE_ALL_ACCESS)
  t.equal(accessMaskFromRwx(4, false), FILE_GENERIC_READ)
  t.equal(accessMaskFromRwx(5, false), FILE_GENERIC_READ | FILE_GENERIC_EXECUTE)
  t.equal(accessMaskFromRwx(6, true), FILE_GENERIC_READ | FILE_GENERIC_WRITE | AccessMask.DELETE | AccessMask.FILE_DELETE_CHILD)
  t.equal(accessMaskFromRwx(0, false), 0)

  const all = OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
  const sd = posixSecurityDescriptor({ uid: 1000, gid: 100, mode: 0o100640, isDirectory: false }, all)
  t.equal(sidToString(sd.owner!), 'S-1-22-1-1000')
  t.equal(sidToString(sd.group!), 'S-1-22-2-100')
  t.equal(sd.sacl, undefined)
  const aces = sd.dacl!.aces
  t.equal(aces.length, 2, 'Everyone has no bits → no ACE')
  t.equal(sidToString(aces[0]!.sid!), 'S-1-22-1-1000')
  t.equal(aces[0]!.mask & FILE_GENERIC_WRITE, FILE_GENERIC_WRITE)
  t.equal(aces[1]!.mask, FILE_GENERIC_READ)
  const world = posixSecurityDescriptor({ uid: 0, gid: 0, mode: 0o755, isDirectory: true }, all).dacl!.aces
  t.equal(world.length, 3)
  t.equal(world[0]!.mask, FILE_ALL_ACCESS)
  t.equal(sidToString(world[2]!.sid!), 'S-1-1-0')
  t.equal(world[2]!.mask, FILE_GENERIC_READ | FILE_GENERIC_EXECUTE)
  // round trip through the wire
  t.same(parseSecurityDescriptor(encodeSecurityDescriptor(sd)), sd)

  const ownerOnly = posixSecurityDescriptor({ uid: 5, gid: 6, mode: 0o777, isDirectory: false }, OWNER_SECURITY_INFORMATION)
  t.ok(ownerOnly.owner !== undefined && ownerOnly.group === undefined && ownerOnly.dacl === undefined && ownerOnly.sacl === undefined)
  const withSacl = posixSecurityDescriptor({ uid: 5, gid: 6, mode: 0o777, isDirectory: false }, SACL_SECURITY_INFORMATION)
  t.same(withSacl.sacl, { revision: ACL_REVISION, aces: [] })
  const enc = encodeSecurityDescriptor(withSacl)
  t.equal(enc.readUInt16LE(2) & SE_SACL_PRESENT, SE_SACL_PRESENT)
  t.same(filterSecurityDescriptor(sample, GROUP_SECURITY_INFORMATION), { control: 0, group: sample.group })
})
