// The user.smbts.ntacl record codec (src/vfs/ntacl-xattr.ts): version byte + self-relative
// descriptor; round trip; anything that is not a v1 record holding a valid descriptor reads as
// "nothing stored" (never throws).
import t from 'tap'
import { NTACL_XATTR_NAME, NTACL_XATTR_VERSION, decodeNtAclRecord, encodeNtAclRecord } from '../../../src/vfs/ntacl-xattr.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, ACL_REVISION, SE_DACL_PROTECTED, encodeSecurityDescriptor, type SecurityDescriptor,
} from '../../../src/wire/dtyp/security-descriptor.js'
import { SID_WORLD, sidFromString } from '../../../src/wire/dtyp/sid.js'

const sd: SecurityDescriptor = {
  control: SE_DACL_PROTECTED,
  owner: sidFromString('S-1-22-1-1000'),
  group: sidFromString('S-1-22-2-100'),
  dacl: {
    revision: ACL_REVISION,
    aces: [
      { type: ACCESS_DENIED_ACE_TYPE, flags: 0, mask: 0x10000, sid: SID_WORLD },
      { type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 0x1f01ff, sid: sidFromString('S-1-5-7') },
    ],
  },
}

t.test('layout and round trip', async t => {
  t.equal(NTACL_XATTR_NAME, 'user.smbts.ntacl', 'a user xattr: no privilege needed')
  const bytes = encodeSecurityDescriptor(sd)
  const rec = encodeNtAclRecord(bytes)
  t.equal(rec[0], NTACL_XATTR_VERSION, 'version byte first')
  t.equal(rec[0], 1)
  t.same(rec.subarray(1, 4), Buffer.alloc(3), 'reserved bytes zero')
  t.same(rec.subarray(4), bytes, 'then the self-relative descriptor unchanged')
  t.same(decodeNtAclRecord(rec), sd, 'decodes to what was stored')
  const nullDacl = encodeNtAclRecord(encodeSecurityDescriptor({ control: 0, owner: sd.owner, dacl: null }))
  t.same(decodeNtAclRecord(nullDacl), { control: 0, owner: sd.owner, dacl: null }, 'a NULL DACL survives')
})

t.test('anything else reads as nothing stored, without throwing', async t => {
  const rec = encodeNtAclRecord(encodeSecurityDescriptor(sd))
  t.equal(decodeNtAclRecord(null), undefined)
  t.equal(decodeNtAclRecord(undefined), undefined)
  t.equal(decodeNtAclRecord(Buffer.alloc(0)), undefined)
  for (let n = 0; n < rec.length; n++) {
    const r = decodeNtAclRecord(rec.subarray(0, n))
    if (r !== undefined) t.fail(`a truncated record (${n} bytes) decoded`)
  }
  const v2 = Buffer.from(rec); v2[0] = 2
  t.equal(decodeNtAclRecord(v2), undefined, 'an unknown version')
  const notSr = Buffer.from(rec); notSr.writeUInt16LE(notSr.readUInt16LE(6) & ~0x8000, 6)
  t.equal(decodeNtAclRecord(notSr), undefined, 'a descriptor that is not self-relative')
  let seed = 11
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  for (let i = 0; i < 2000; i++) {
    const c = Buffer.from(rec)
    for (let k = 0; k < 3; k++) c[4 + rnd() % (c.length - 4)] = rnd() & 0xff
    decodeNtAclRecord(c) // must not throw
  }
  t.pass('random corruption never throws')
})
