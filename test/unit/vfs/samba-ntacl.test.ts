// Samba's security.NTACL codec (src/vfs/samba-ntacl.ts) against values Samba 4.17 wrote
// (test/fixtures/samba-ntacl) and the descriptors Samba answered QUERY_INFO with for them.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import {
  decodeSambaNtAcl, encodeSambaNtAclV1, encodeSambaNtAclV4, parseLinuxPosixAcl, posixAclFromMode, sambaNtAclSysHash, sysAclBlob, sysAclHash,
  SmbAclTag, XATTR_SD_HASH_TYPE_SHA256,
} from '../../../src/vfs/samba-ntacl.js'
import { encodeSecurityDescriptor, parseSecurityDescriptor, SE_DACL_PROTECTED, ACL_REVISION, ACCESS_ALLOWED_ACE_TYPE, SYSTEM_AUDIT_ACE_TYPE, type SecurityDescriptor } from '../../../src/wire/dtyp/security-descriptor.js'
import { sidFromString, sidToString, SID_WORLD } from '../../../src/wire/dtyp/sid.js'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/samba-ntacl')
const fixture = (name: string): Buffer => readFileSync(join(fixtures, name))

// What smbd answered QUERY_INFO (OWNER|GROUP|DACL) with for file-v4-dacl.bin and dir-v4-inherit.bin.
const FILE_SD = '010004801400000030000000000000004c000000010500000000000515000000a3864b0ce214f7be9a0e5c65e8030000010500000000000515000000a3864b0ce214f7be9a0e5c65010200000200b000060000000100240002000000010500000000000515000000010000000200000003000000eb03000000001400a900120001010000000000010000000000001400ff011f0001010000000000030000000000002400ff011f00010500000000000515000000a3864b0ce214f7be9a0e5c65e803000000002400a9001200010500000000000515000000a3864b0ce214f7be9a0e5c650102000000001400a9001200010100000000000100000000'
const DIR_SD = '010004801400000030000000000000004c000000010500000000000515000000a3864b0ce214f7be9a0e5c65e8030000010500000000000515000000a3864b0ce214f7be9a0e5c65010200000200d800080000000100240002000000010500000000000515000000010000000200000003000000eb03000000031400a9001200010100000000000100000000000b1400ff011f0001010000000000030000000000002400ff011f00010500000000000515000000a3864b0ce214f7be9a0e5c65e8030000000b1400ff011f0001010000000000030000000000002400a9001200010500000000000515000000a3864b0ce214f7be9a0e5c6501020000000b1400a900120001010000000000030100000000031400a9001200010100000000000100000000'

t.test('version 4 values Samba wrote decode to the descriptors Samba serves', async t => {
  for (const [name, hex] of [['file-v4-dacl.bin', FILE_SD], ['dir-v4-inherit.bin', DIR_SD]] as const) {
    const d = decodeSambaNtAcl(fixture(name))
    t.ok(d, name)
    t.equal(d!.version, 4)
    t.equal(d!.hashType, XATTR_SD_HASH_TYPE_SHA256)
    t.same(d!.sd, parseSecurityDescriptor(Buffer.from(hex, 'hex')), `${name}: owner, group and DACL as QUERY_INFO showed them`)
  }
  const def = decodeSambaNtAcl(fixture('file-v4-default.bin'))!
  t.equal(sidToString(def.sd.owner!), 'S-1-5-21-206276259-3203863778-1700531866-1000', 'owner: the Unix user smbbench in Samba\'s domain')
  t.same(def.sd.dacl!.aces.map(a => [sidToString(a.sid!), a.mask]), [
    ['S-1-5-21-206276259-3203863778-1700531866-1000', 0x1f01ff],
    ['S-1-5-21-206276259-3203863778-1700531866-513', 0x1200a9],
    ['S-1-1-0', 0x1200a9],
  ], 'the default DACL from mode 0755: owner full, group and Everyone read+execute')
})

t.test('version 1: what smbts writes, read back; Samba order and offsets from the value\'s start', async t => {
  const sd: SecurityDescriptor = {
    control: SE_DACL_PROTECTED,
    owner: sidFromString('S-1-5-21-1-2-3-1001'),
    group: sidFromString('S-1-5-21-1-2-3-513'),
    dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 0x1200a9, sid: SID_WORLD }] },
  }
  const v = encodeSambaNtAclV1(sd)
  t.same([...v.subarray(0, 8)], [1, 0, 1, 0, 0, 0, 2, 0], 'version 1, level 1, a unique pointer')
  t.equal(v.readUInt32LE(8 + 4), 28, 'the owner right after the header, counted from the value\'s start')
  t.same(decodeSambaNtAcl(v), { version: 1, hashType: 0, sd })
  const nulled = decodeSambaNtAcl(encodeSambaNtAclV1({ control: 0, owner: SID_WORLD, dacl: null }))!
  t.equal(nulled.sd.dacl, null, 'a NULL DACL stays NULL')
})

t.test('version 4 with a plain self-relative descriptor after Samba\'s header: read too', async t => {
  const sd = parseSecurityDescriptor(Buffer.from(DIR_SD, 'hex'))
  // Samba's 160-byte header, then the descriptor with every offset from its own start (here in
  // Windows' order: DACL, then owner and group).
  const value = Buffer.concat([fixture('dir-v4-inherit.bin').subarray(0, 160), encodeSecurityDescriptor(sd)])
  t.same(decodeSambaNtAcl(value)?.sd, sd)
  const ownerFirst = Buffer.concat([fixture('dir-v4-inherit.bin').subarray(0, 160), Buffer.from(DIR_SD, 'hex')])
  t.same(decodeSambaNtAcl(ownerFirst)?.sd, sd, 'owner first, as QUERY_INFO answered')
})

t.test('version 4 as ksmbd writes it with a SACL: owner, group and DACL offsets from the value, the SACL\'s from the descriptor', async t => {
  const sd: SecurityDescriptor = {
    control: 0,
    owner: sidFromString('S-1-5-32-544'),
    group: sidFromString('S-1-5-32-545'),
    sacl: { revision: ACL_REVISION, aces: [{ type: SYSTEM_AUDIT_ACE_TYPE, flags: 0x80 /* FAILED_ACCESS */, mask: 0x10000, sid: SID_WORLD }] },
    dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: 0x1f01ff, sid: SID_WORLD }] },
  }
  const samba = encodeSambaNtAclV4(sd, Buffer.alloc(32), Buffer.alloc(32), 0n)
  t.same(decodeSambaNtAcl(samba)?.sd, sd, 'Samba\'s offsets')
  // ksmbd (ksmbd_vfs_set_sd_xattr) adds the 160-byte header to the owner, group and DACL offsets
  // of its self-relative descriptor, not to the SACL's.
  const ksmbd = Buffer.from(samba)
  ksmbd.writeUInt32LE(ksmbd.readUInt32LE(160 + 12) - 160, 160 + 12)
  t.same(decodeSambaNtAcl(ksmbd)?.sd, sd, 'ksmbd\'s: the SACL found from the descriptor\'s start')
})

// Samba 4.17's smbd (acl_xattr) on this machine: `put` a file and `mkdir` a directory as root on
// an ext4 share; it gave both this POSIX ACL (user::rwx user:0:rwx group::r-x group:0:r-x mask::rwx
// other::r-x; the directory the same default ACL), uid 0, gid 0, modes 0100775 and 040775, and
// wrote these POSIX ACL hashes into their security.NTACL.
const SAMBA_POSIX_ACL = '0200000001000700ffffffff020007000000000004000500ffffffff080005000000000010000700ffffffff20000500ffffffff'
const SAMBA_FILE_SYS_HASH = '5dd2b193e43b4dc35157ee98c7526c731dd3e007cf250e67358da2c7ca90748e'
const SAMBA_DIR_SYS_HASH = '0da4270ae6b917c1692ed2e29bf473082239edf9883d68cb10aecc5e00e7ee07'

t.test('the POSIX ACL hash: Samba\'s smb_acl_wrapper NDR, the hashes smbd wrote', async t => {
  const acl = parseLinuxPosixAcl(Buffer.from(SAMBA_POSIX_ACL, 'hex'))!
  t.same(acl, [
    { tag: SmbAclTag.USER_OBJ, perm: 7 }, { tag: SmbAclTag.USER, id: 0, perm: 7 }, { tag: SmbAclTag.GROUP_OBJ, perm: 5 },
    { tag: SmbAclTag.GROUP, id: 0, perm: 5 }, { tag: SmbAclTag.MASK, perm: 7 }, { tag: SmbAclTag.OTHER, perm: 5 },
  ], 'the kernel\'s system.posix_acl_access, in its order')
  t.equal(sysAclHash({ access: acl, uid: 0, gid: 0, mode: 0o100775 }).toString('hex'), SAMBA_FILE_SYS_HASH, 'a file')
  t.equal(sysAclHash({ access: acl, default: acl, uid: 0, gid: 0, mode: 0o40775 }).toString('hex'), SAMBA_DIR_SYS_HASH, 'a directory, with its default ACL')
  const blob = sysAclBlob({ access: posixAclFromMode(0o100644), uid: 1000, gid: 100, mode: 0o100644 })
  t.equal(blob.toString('hex'), [
    '00000200', '00000000', 'e803000000000000', '6400000000000000', 'a4810000', // pointers, uid, gid, mode
    '03000000', '03000000', '00000000', // count (conformance), count, next
    '0200', '0200', '06000000', '0400', '0400', '04000000', '0500', '0500', '04000000', // USER_OBJ rw, GROUP_OBJ r, OTHER r
  ].join(''), 'a file without a POSIX ACL: the three classes of its mode, no padding at the end')
  t.equal(parseLinuxPosixAcl(Buffer.from('02000000', 'hex'))?.length, 0, 'no entries')
  for (const bad of ['', '01000000', '0200000001000700ffffff', '0200000040000700ffffffff']) t.equal(parseLinuxPosixAcl(Buffer.from(bad, 'hex')), undefined, `malformed: ${bad}`)
})

t.test('version 4: what smbts writes, laid out as Samba\'s, read back', async t => {
  const sd = parseSecurityDescriptor(Buffer.from(FILE_SD, 'hex'))
  const sys = Buffer.from(SAMBA_FILE_SYS_HASH, 'hex')
  const v = encodeSambaNtAclV4(sd, sys, Buffer.alloc(32, 0xab), 0x01DD84C5DE94FA90n)
  const samba = fixture('file-v4-dacl.bin')
  const at = samba.indexOf(Buffer.from([4, 0, 4, 0, 0, 0, 2, 0]))
  t.same(v.subarray(0, 14), samba.subarray(at, at + 14), 'the header as Samba\'s: version, level, pointers, hash type')
  t.equal(v.subarray(78, 88).toString('latin1'), 'posix_acl\0', 'the description at 78')
  t.equal(v.readBigUInt64LE(88), 0x01DD84C5DE94FA90n, 'the time at 88')
  t.same(sambaNtAclSysHash(v), Buffer.concat([sys, Buffer.alloc(32)]), 'the POSIX ACL hash at 96 (SHA-256, zero-padded to 64)')
  t.equal(v.readUInt32LE(160 + 4), 180, 'the descriptor at 160, its owner offset counted from the value\'s start')
  t.same(decodeSambaNtAcl(v), { version: 4, hashType: XATTR_SD_HASH_TYPE_SHA256, sd })
  t.same(sambaNtAclSysHash(samba.subarray(at))?.subarray(32), Buffer.alloc(32), 'Samba\'s own value: the same place')
  t.equal(sambaNtAclSysHash(encodeSambaNtAclV1(sd)), undefined, 'version 1 has none')
})

t.test('malformed values read as nothing stored', async t => {
  const good = fixture('file-v4-dacl.bin')
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['version 5', Buffer.from([5, 0, 5, 0, 0, 0, 2, 0])],
    ['level differs from version', Buffer.concat([Buffer.from([4, 0, 3, 0]), good.subarray(4)])],
    ['NULL pointer', Buffer.concat([good.subarray(0, 4), Buffer.alloc(4), good.subarray(8)])],
    ['truncated in the hashes', good.subarray(0, 100)],
    ['truncated in the DACL', good.subarray(0, good.length - 10)],
    ['no NUL after the description', Buffer.concat([good.subarray(0, 78), Buffer.alloc(8, 0x41)])],
  ]
  for (const [what, b] of cases) t.equal(decodeSambaNtAcl(b), undefined, what)
  // Every prefix and every single-byte change: never a throw.
  for (let i = 0; i < good.length; i++) {
    decodeSambaNtAcl(good.subarray(0, i))
    const c = Buffer.from(good); c[i] ^= 0xff; decodeSambaNtAcl(c)
  }
  t.pass('no throw on any prefix or byte flip')
})
