// Samba's `security.NTACL` xattr (librpc/idl/xattr.idl xattr_NTACL, NDR little-endian): how
// Samba's acl_xattr module (and ksmbd) keep a file's NT security descriptor. Read so that a share
// Samba served keeps its ACLs under smbts, written so that it keeps them when it goes back.
// A pure codec: no I/O here (the posix backend reads and writes the xattr).
//
// Layout, as Samba 4.17 writes it (test/fixtures/samba-ntacl holds values it wrote):
//   0  u16  version (1..4)
//   2  u16  the union's level (= version)
//   4  u32  unique pointer (non-zero: the arm follows)
//   8  ...  the arm:
//        v1: the SECURITY_DESCRIPTOR itself
//        v2: u32 sd pointer, u8 hash[16]                       (the SD follows, 4-aligned)
//        v3: u32 sd pointer, u16 hash_type, u8 hash[64]        (likewise)
//        v4: u32 sd pointer, u16 hash_type, u8 hash[64], a NUL-terminated UTF-8 description,
//            NTTIME (4-aligned), u8 sys_acl_hash[64]           (likewise)
//   The descriptor is self-relative in form, but its owner/group/SACL/DACL offsets count from the
//   start of the xattr value (NDR's relative pointers), not from the descriptor: a v4 value's
//   descriptor at 160 has its owner at 180. Samba writes owner, group, SACL, DACL in that order.
//   ksmbd (fs/smb/server vfs.c ksmbd_vfs_set_sd_xattr) writes version 4 alike, shifting the owner,
//   group and DACL offsets of its self-relative descriptor by the header's 160 bytes, as Samba's
//   count, but not the SACL's (still from the descriptor's start). Read: Samba's offsets, ksmbd's
//   mix, and a plain self-relative descriptor (every offset from its own start).
//
// What smbts writes: version 4, as Samba's acl_xattr does, with the POSIX ACL hash computed as
// Samba computes it (sysAclBlob below), so Samba takes the descriptor as stored until the file's
// owner, group, mode or POSIX ACL change behind its back. ksmbd checks that hash against one of
// its own making, which equals Samba's only for a file with a system.posix_acl_access xattr (where
// there is none ksmbd hashes no ACL, Samba the one the mode implies): elsewhere ksmbd sets aside a
// descriptor Samba or smbts stored and describes the file from its mode. The descriptor hash (Samba: of
// the descriptor it maps from the POSIX ACL, compared only when the POSIX ACL hash no longer
// matches) is the SHA-256 of the descriptor itself, as ksmbd writes it. Reading does not check
// the hashes: a Samba-written descriptor is taken as it stands. Version 1 is still encoded (tests,
// fuzzing).
//
// Decoding never throws: anything malformed reads as "nothing stored".
import { createHash } from 'node:crypto'
import { SE_DACL_PRESENT, SE_SACL_PRESENT, SE_SELF_RELATIVE, aclByteLength, encodeAcl, parseAcl, type SecurityDescriptor } from '../wire/dtyp/security-descriptor.js'
import { encodeSid, parseSid, sidByteLength } from '../wire/dtyp/sid.js'

export const SAMBA_NTACL_XATTR_NAME = 'security.NTACL'
export const XATTR_SD_HASH_TYPE_NONE = 0
export const XATTR_SD_HASH_TYPE_SHA256 = 1
const UNIQUE_REFERENT = 0x00020000
const SD_HEADER = 20

const align4 = (n: number): number => (n + 3) & ~3
const align8 = (n: number): number => (n + 7) & ~7

/** Where the descriptor starts in a value of this version, or undefined when there is none. */
function descriptorOffset (b: Buffer, version: number): number | undefined {
  if (b.readUInt32LE(4) === 0) return undefined
  if (version === 1) return 8
  if (b.length < 12 || b.readUInt32LE(8) === 0) return undefined
  if (version === 2) return 8 + 4 + 16
  if (version === 3) return align4(8 + 4 + 2 + 64)
  // v4: the description's NUL, then NTTIME and the POSIX ACL hash.
  const descStart = 8 + 4 + 2 + 64
  const nul = b.indexOf(0, descStart)
  if (nul < 0) return undefined
  return align4(align4(nul + 1) + 8 + 64)
}

export interface SambaNtAcl {
  version: number
  hashType: number
  sd: SecurityDescriptor
}

/** The descriptor in a security.NTACL value (any version), or undefined. */
export function decodeSambaNtAcl (value: Buffer | null | undefined): SambaNtAcl | undefined {
  if (value == null || value.length < 8) return undefined
  const version = value.readUInt16LE(0)
  if (version < 1 || version > 4 || value.readUInt16LE(2) !== version) return undefined
  const at = descriptorOffset(value, version)
  if (at === undefined || value.length - at < SD_HEADER) return undefined
  const hashType = version >= 3 ? value.readUInt16LE(12) : XATTR_SD_HASH_TYPE_NONE
  if (value[at] !== 1) return undefined // SECURITY_DESCRIPTOR_REVISION_1
  const control = value.readUInt16LE(at + 2)
  const offsets = [4, 8, 12, 16].map(i => value.readUInt32LE(at + i))
  // Samba counts offsets from the value's start; ksmbd appends a plain self-relative descriptor
  // (offsets from its own start). Both put their first part right after the header: that says
  // which; otherwise Samba's reading is tried first.
  const first = Math.min(...offsets.filter(o => o !== 0))
  // [base of the owner, group and DACL offsets, base of the SACL's]: Samba's, a plain descriptor's,
  // then ksmbd's mix (which differs from Samba's only when a SACL is stored).
  const bases: Array<[number, number]> = first === SD_HEADER ? [[at, at], [0, 0]] : [[0, 0], [at, at]]
  if ((control & SE_SACL_PRESENT) !== 0 && offsets[2] !== 0) bases.push([0, at])
  for (const [base, saclBase] of bases) {
    const sd = descriptorAt(value, at, base, saclBase, control, offsets)
    if (sd !== undefined) return { version, hashType, sd }
  }
  return undefined
}

/**
 * The descriptor whose header is at `at`, its owner, group and DACL offsets counted from `base`,
 * its SACL's from `saclBase`; undefined if they do not fit.
 */
function descriptorAt (value: Buffer, at: number, base: number, saclBase: number, control: number, [offOwner, offGroup, offSacl, offDacl]: number[]): SecurityDescriptor | undefined {
  const inside = (off: number, from = base): boolean => from + off >= at + SD_HEADER && from + off < value.length
  const sd: SecurityDescriptor = { control: control & ~(SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_SACL_PRESENT) }
  try {
    if (offOwner !== 0) { if (!inside(offOwner!)) return undefined; sd.owner = parseSid(value, base + offOwner!).sid }
    if (offGroup !== 0) { if (!inside(offGroup!)) return undefined; sd.group = parseSid(value, base + offGroup!).sid }
    if ((control & SE_SACL_PRESENT) !== 0) {
      if (offSacl === 0) sd.sacl = null
      else { if (!inside(offSacl!, saclBase)) return undefined; sd.sacl = parseAcl(value, saclBase + offSacl!) }
    }
    if ((control & SE_DACL_PRESENT) !== 0) {
      if (offDacl === 0) sd.dacl = null
      else { if (!inside(offDacl!)) return undefined; sd.dacl = parseAcl(value, base + offDacl!) }
    }
  } catch {
    return undefined
  }
  return sd
}

/** The bytes `sd` takes after the xattr_NTACL header (Samba's order: owner, group, SACL, DACL). */
function descriptorSize (sd: SecurityDescriptor): number {
  let size = SD_HEADER
  if (sd.owner !== undefined) size += sidByteLength(sd.owner)
  if (sd.group !== undefined) size += sidByteLength(sd.group)
  if (sd.sacl != null) size += aclByteLength(sd.sacl)
  if (sd.dacl != null) size += aclByteLength(sd.dacl)
  return size
}

/** Writes `sd` at `start` of `b`, its offsets counted from the value's start (as Samba's NDR does). */
function writeDescriptor (b: Buffer, start: number, sd: SecurityDescriptor): void {
  let control = (sd.control & ~(SE_DACL_PRESENT | SE_SACL_PRESENT)) | SE_SELF_RELATIVE
  if (sd.dacl !== undefined) control |= SE_DACL_PRESENT
  if (sd.sacl !== undefined) control |= SE_SACL_PRESENT
  b[start] = 1
  b.writeUInt16LE(control, start + 2)
  let p = start + SD_HEADER
  const put = (field: number, bytes: Buffer): void => { b.writeUInt32LE(p, start + field); bytes.copy(b, p); p += bytes.length }
  if (sd.owner !== undefined) put(4, encodeSid(sd.owner))
  if (sd.group !== undefined) put(8, encodeSid(sd.group))
  if (sd.sacl != null) put(12, encodeAcl(sd.sacl))
  if (sd.dacl != null) put(16, encodeAcl(sd.dacl))
}

/** A version-1 security.NTACL value holding `sd` (owner, group, SACL, DACL in Samba's order). */
export function encodeSambaNtAclV1 (sd: SecurityDescriptor): Buffer {
  const b = Buffer.alloc(8 + descriptorSize(sd))
  b.writeUInt16LE(1, 0)
  b.writeUInt16LE(1, 2)
  b.writeUInt32LE(UNIQUE_REFERENT, 4)
  writeDescriptor(b, 8, sd)
  return b
}

/** What a v4 value's description says the POSIX ACL hash was taken over (Samba's and ksmbd's). */
export const SYS_ACL_DESCRIPTION = 'posix_acl'
const HASH_SIZE = 64

/**
 * A version-4 security.NTACL value holding `sd`, as Samba's acl_xattr writes it: hash type
 * SHA-256, `sdHash` (Samba: of the descriptor it maps from the POSIX ACL; only looked at when the
 * next hash does not match), the description "posix_acl", the time it was written (NTTIME) and
 * `sysAclHash`, the SHA-256 of the file's POSIX ACL (sysAclBlob) when written: while it still
 * matches, Samba and ksmbd take the descriptor as stored.
 */
export function encodeSambaNtAclV4 (sd: SecurityDescriptor, sysAclHash: Buffer, sdHash: Buffer, nttime: bigint): Buffer {
  const descAt = 8 + 4 + 2 + HASH_SIZE
  const timeAt = align4(descAt + SYS_ACL_DESCRIPTION.length + 1)
  const start = align4(timeAt + 8 + HASH_SIZE)
  const b = Buffer.alloc(start + descriptorSize(sd))
  b.writeUInt16LE(4, 0)
  b.writeUInt16LE(4, 2)
  b.writeUInt32LE(UNIQUE_REFERENT, 4)
  b.writeUInt32LE(UNIQUE_REFERENT + 4, 8) // the descriptor's pointer
  b.writeUInt16LE(XATTR_SD_HASH_TYPE_SHA256, 12)
  sdHash.copy(b, 14, 0, Math.min(sdHash.length, HASH_SIZE))
  b.write(SYS_ACL_DESCRIPTION, descAt, 'latin1')
  b.writeBigUInt64LE(BigInt.asUintN(64, nttime), timeAt)
  sysAclHash.copy(b, timeAt + 8, 0, Math.min(sysAclHash.length, HASH_SIZE))
  writeDescriptor(b, start, sd)
  return b
}

/** The POSIX ACL hash a v4 value carries (undefined for other versions or a malformed value). */
export function sambaNtAclSysHash (value: Buffer): Buffer | undefined {
  if (value.length < 8 || value.readUInt16LE(0) !== 4 || value.readUInt16LE(2) !== 4 || value.readUInt32LE(4) === 0) return undefined
  const descStart = 8 + 4 + 2 + HASH_SIZE
  const nul = value.indexOf(0, descStart)
  if (nul < 0) return undefined
  const at = align4(nul + 1) + 8
  return at + HASH_SIZE <= value.length ? value.subarray(at, at + HASH_SIZE) : undefined
}

// ---- The POSIX ACL hash (Samba's smb_acl_wrapper, librpc/idl/smb_acl.idl, NDR little-endian)
//
// What Samba hashes (posix_sys_acl_blob_get_fd), and ksmbd likewise (ndr_encode_posix_acl):
//   0  u32  unique pointer to the access ACL (0x00020000)
//   4  u32  unique pointer to the default ACL (directories: the next referent; files: 0)
//   8  u64  owner uid (uid_t is an NDR hyper)
//  16  u64  group gid
//  24  u32  st_mode (the file type bits too)
//   then each ACL present: u32 count (the conformant array's size), aligned to 8: i32 count,
//   i32 next (always 0), then per entry, aligned to 8: u16 a_type, u16 the union's level
//   (= a_type), for SMB_ACL_USER / SMB_ACL_GROUP the id as u64 aligned to 8, then u32 a_perm
//   (r 4, w 2, x 1). No padding at the end.
// A file without a POSIX ACL xattr gets the one libacl makes from its mode: USER_OBJ, GROUP_OBJ,
// OTHER; a directory's default ACL is then present and empty.

/** Samba's smb_acl_tag_t. */
export const SmbAclTag = { USER: 1, USER_OBJ: 2, GROUP: 3, GROUP_OBJ: 4, OTHER: 5, MASK: 6 } as const

export interface PosixAclEntry {
  /** SmbAclTag. */
  tag: number
  /** The uid (USER) or gid (GROUP); unused for the others. */
  id?: number
  /** rwx bits: 4, 2, 1. */
  perm: number
}

/** The ACL libacl gives a file without a system.posix_acl_access xattr: its mode's three classes. */
export function posixAclFromMode (mode: number): PosixAclEntry[] {
  return [
    { tag: SmbAclTag.USER_OBJ, perm: (mode >> 6) & 7 },
    { tag: SmbAclTag.GROUP_OBJ, perm: (mode >> 3) & 7 },
    { tag: SmbAclTag.OTHER, perm: mode & 7 },
  ]
}

// The kernel's system.posix_acl_* value (include/uapi/linux/posix_acl_xattr.h): u32 version (2),
// then entries of u16 e_tag, u16 e_perm, u32 e_id.
const LINUX_ACL_VERSION = 2
const LINUX_TAGS = new Map<number, number>([
  [0x01, SmbAclTag.USER_OBJ], [0x02, SmbAclTag.USER], [0x04, SmbAclTag.GROUP_OBJ],
  [0x08, SmbAclTag.GROUP], [0x10, SmbAclTag.MASK], [0x20, SmbAclTag.OTHER],
])

/** The entries of a system.posix_acl_access / _default value, in the kernel's order; undefined if malformed. */
export function parseLinuxPosixAcl (value: Buffer): PosixAclEntry[] | undefined {
  if (value.length < 4 || (value.length - 4) % 8 !== 0 || value.readUInt32LE(0) !== LINUX_ACL_VERSION) return undefined
  const out: PosixAclEntry[] = []
  for (let p = 4; p < value.length; p += 8) {
    const tag = LINUX_TAGS.get(value.readUInt16LE(p))
    if (tag === undefined) return undefined
    const e: PosixAclEntry = { tag, perm: value.readUInt16LE(p + 2) & 7 }
    if (tag === SmbAclTag.USER || tag === SmbAclTag.GROUP) e.id = value.readUInt32LE(p + 4)
    out.push(e)
  }
  return out
}

export interface SysAcl {
  access: PosixAclEntry[]
  /** A directory's default ACL (possibly empty); undefined for a file. */
  default?: PosixAclEntry[]
  uid: number
  gid: number
  /** st_mode, file type bits included. */
  mode: number
}

/** The smb_acl_wrapper NDR blob Samba hashes (see above). */
export function sysAclBlob (a: SysAcl): Buffer {
  const acls = a.default !== undefined ? [a.access, a.default] : [a.access]
  let size = 28
  for (const acl of acls) {
    size = align8(align4(size) + 4) + 8
    for (const e of acl) size = align8(size) + 4 + (e.tag === SmbAclTag.USER || e.tag === SmbAclTag.GROUP ? 4 + 8 : 0) + 4
  }
  const b = Buffer.alloc(size)
  b.writeUInt32LE(UNIQUE_REFERENT, 0)
  b.writeUInt32LE(a.default !== undefined ? UNIQUE_REFERENT + 4 : 0, 4)
  b.writeBigUInt64LE(BigInt(a.uid >>> 0), 8)
  b.writeBigUInt64LE(BigInt(a.gid >>> 0), 16)
  b.writeUInt32LE(a.mode >>> 0, 24)
  let p = 28
  for (const acl of acls) {
    p = align4(p)
    b.writeUInt32LE(acl.length, p)
    p = align8(p + 4)
    b.writeInt32LE(acl.length, p)
    b.writeInt32LE(0, p + 4)
    p += 8
    for (const e of acl) {
      p = align8(p)
      b.writeUInt16LE(e.tag, p)
      b.writeUInt16LE(e.tag, p + 2)
      p += 4
      if (e.tag === SmbAclTag.USER || e.tag === SmbAclTag.GROUP) {
        p = align8(p)
        b.writeBigUInt64LE(BigInt((e.id ?? 0) >>> 0), p)
        p += 8
      }
      b.writeUInt32LE(e.perm & 7, p)
      p += 4
    }
  }
  return b.subarray(0, p)
}

/** SHA-256 of sysAclBlob: what a v4 value's POSIX ACL hash must be for Samba and ksmbd to trust it. */
export function sysAclHash (a: SysAcl): Buffer {
  return createHash('sha256').update(sysAclBlob(a)).digest()
}
