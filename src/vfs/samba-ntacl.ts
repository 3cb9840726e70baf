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
//   ksmbd writes version 4 alike but appends a plain self-relative descriptor (offsets from the
//   descriptor's start): both are read.
//
// What smbts writes: version 1 (the raw descriptor, as Samba's NTVFS server and samba-tool write
// it). Samba's acl_xattr takes versions 1 and 2 as they stand ("unilateral": no hash to confirm),
// so a descriptor smbts set is the one Samba serves after a move back. Versions 3 and 4 carry
// SHA-256 hashes of the descriptor and of the POSIX ACL that Samba compares with the file system
// to tell whether someone changed the permissions behind its back; smbts keeps no POSIX ACL in
// step, so it does not write them, and it does not check them when reading: a Samba-written
// descriptor is taken as it stands. (ksmbd reads only version 4: after a move to ksmbd, files
// whose descriptor smbts set fall back to ksmbd's POSIX mapping.)
//
// Decoding never throws: anything malformed reads as "nothing stored".
import { SE_DACL_PRESENT, SE_SACL_PRESENT, SE_SELF_RELATIVE, aclByteLength, encodeAcl, parseAcl, type SecurityDescriptor } from '../wire/dtyp/security-descriptor.js'
import { encodeSid, parseSid, sidByteLength } from '../wire/dtyp/sid.js'

export const SAMBA_NTACL_XATTR_NAME = 'security.NTACL'
export const XATTR_SD_HASH_TYPE_NONE = 0
export const XATTR_SD_HASH_TYPE_SHA256 = 1
const UNIQUE_REFERENT = 0x00020000
const SD_HEADER = 20

const align4 = (n: number): number => (n + 3) & ~3

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
  const bases = first === SD_HEADER ? [at, 0] : [0, at]
  for (const base of bases) {
    const sd = descriptorAt(value, at, base, control, offsets)
    if (sd !== undefined) return { version, hashType, sd }
  }
  return undefined
}

/** The descriptor whose header is at `at`, its offsets counted from `base`; undefined if they do not fit. */
function descriptorAt (value: Buffer, at: number, base: number, control: number, [offOwner, offGroup, offSacl, offDacl]: number[]): SecurityDescriptor | undefined {
  const inside = (off: number): boolean => base + off >= at + SD_HEADER && base + off < value.length
  const sd: SecurityDescriptor = { control: control & ~(SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_SACL_PRESENT) }
  try {
    if (offOwner !== 0) { if (!inside(offOwner!)) return undefined; sd.owner = parseSid(value, base + offOwner!).sid }
    if (offGroup !== 0) { if (!inside(offGroup!)) return undefined; sd.group = parseSid(value, base + offGroup!).sid }
    if ((control & SE_SACL_PRESENT) !== 0) {
      if (offSacl === 0) sd.sacl = null
      else { if (!inside(offSacl!)) return undefined; sd.sacl = parseAcl(value, base + offSacl!) }
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

/** A version-1 security.NTACL value holding `sd` (owner, group, SACL, DACL in Samba's order). */
export function encodeSambaNtAclV1 (sd: SecurityDescriptor): Buffer {
  const start = 8
  let size = start + SD_HEADER
  if (sd.owner !== undefined) size += sidByteLength(sd.owner)
  if (sd.group !== undefined) size += sidByteLength(sd.group)
  if (sd.sacl != null) size += aclByteLength(sd.sacl)
  if (sd.dacl != null) size += aclByteLength(sd.dacl)
  const b = Buffer.alloc(size)
  b.writeUInt16LE(1, 0)
  b.writeUInt16LE(1, 2)
  b.writeUInt32LE(UNIQUE_REFERENT, 4)
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
  return b
}
