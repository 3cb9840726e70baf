// MS-DTYP 2.4.6 SECURITY_DESCRIPTOR (self-relative form), 2.4.5 ACL, 2.4.4 ACEs, and a POSIX-mode
// → security descriptor synthesis for files with no stored NT ACL.
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'
import { AccessMask, FILE_ALL_ACCESS, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ, FILE_GENERIC_WRITE } from '../constants.js'
import { type Sid, parseSid, sidByteLength, writeSid, SID_WORLD, unixGroupSid, unixUserSid } from './sid.js'

// MS-DTYP 2.4.7 SECURITY_INFORMATION (MS-SMB2 2.2.37 AdditionalInformation).
export const OWNER_SECURITY_INFORMATION = 0x00000001
export const GROUP_SECURITY_INFORMATION = 0x00000002
export const DACL_SECURITY_INFORMATION = 0x00000004
export const SACL_SECURITY_INFORMATION = 0x00000008
export const LABEL_SECURITY_INFORMATION = 0x00000010
export const ATTRIBUTE_SECURITY_INFORMATION = 0x00000020
export const SCOPE_SECURITY_INFORMATION = 0x00000040
export const BACKUP_SECURITY_INFORMATION = 0x00010000
export const PROTECTED_DACL_SECURITY_INFORMATION = 0x80000000
export const PROTECTED_SACL_SECURITY_INFORMATION = 0x40000000
export const UNPROTECTED_DACL_SECURITY_INFORMATION = 0x20000000
export const UNPROTECTED_SACL_SECURITY_INFORMATION = 0x10000000

// MS-DTYP 2.4.6 SECURITY_DESCRIPTOR Control.
export const SE_OWNER_DEFAULTED = 0x0001
export const SE_GROUP_DEFAULTED = 0x0002
export const SE_DACL_PRESENT = 0x0004
export const SE_DACL_DEFAULTED = 0x0008
export const SE_SACL_PRESENT = 0x0010
export const SE_SACL_DEFAULTED = 0x0020
export const SE_DACL_TRUSTED = 0x0040
export const SE_SERVER_SECURITY = 0x0080
export const SE_DACL_AUTO_INHERIT_REQ = 0x0100
export const SE_SACL_AUTO_INHERIT_REQ = 0x0200
export const SE_DACL_AUTO_INHERITED = 0x0400
export const SE_SACL_AUTO_INHERITED = 0x0800
export const SE_DACL_PROTECTED = 0x1000
export const SE_SACL_PROTECTED = 0x2000
export const SE_RM_CONTROL_VALID = 0x4000
export const SE_SELF_RELATIVE = 0x8000

// MS-DTYP 2.4.5 ACL AclRevision.
export const ACL_REVISION = 2
export const ACL_REVISION_DS = 4

// MS-DTYP 2.4.4.1 ACE_HEADER AceType.
export const ACCESS_ALLOWED_ACE_TYPE = 0x00
export const ACCESS_DENIED_ACE_TYPE = 0x01
export const SYSTEM_AUDIT_ACE_TYPE = 0x02
export const SYSTEM_ALARM_ACE_TYPE = 0x03
export const ACCESS_ALLOWED_COMPOUND_ACE_TYPE = 0x04
export const ACCESS_ALLOWED_OBJECT_ACE_TYPE = 0x05
export const ACCESS_DENIED_OBJECT_ACE_TYPE = 0x06
export const SYSTEM_AUDIT_OBJECT_ACE_TYPE = 0x07
export const SYSTEM_ALARM_OBJECT_ACE_TYPE = 0x08
export const ACCESS_ALLOWED_CALLBACK_ACE_TYPE = 0x09
export const ACCESS_DENIED_CALLBACK_ACE_TYPE = 0x0A
export const ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE = 0x0B
export const ACCESS_DENIED_CALLBACK_OBJECT_ACE_TYPE = 0x0C
export const SYSTEM_AUDIT_CALLBACK_ACE_TYPE = 0x0D
export const SYSTEM_ALARM_CALLBACK_ACE_TYPE = 0x0E
export const SYSTEM_AUDIT_CALLBACK_OBJECT_ACE_TYPE = 0x0F
export const SYSTEM_ALARM_CALLBACK_OBJECT_ACE_TYPE = 0x10
export const SYSTEM_MANDATORY_LABEL_ACE_TYPE = 0x11
export const SYSTEM_RESOURCE_ATTRIBUTE_ACE_TYPE = 0x12
export const SYSTEM_SCOPED_POLICY_ID_ACE_TYPE = 0x13

// MS-DTYP 2.4.4.1 ACE_HEADER AceFlags.
export const OBJECT_INHERIT_ACE = 0x01
export const CONTAINER_INHERIT_ACE = 0x02
export const NO_PROPAGATE_INHERIT_ACE = 0x04
export const INHERIT_ONLY_ACE = 0x08
export const INHERITED_ACE = 0x10
export const SUCCESSFUL_ACCESS_ACE_FLAG = 0x40
export const FAILED_ACCESS_ACE_FLAG = 0x80

/** ACE types laid out as header, Mask, Sid[, application data] (MS-DTYP 2.4.4.2 and kin). */
const SIMPLE_ACE_TYPES = new Set([
  ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, SYSTEM_AUDIT_ACE_TYPE, SYSTEM_ALARM_ACE_TYPE,
  ACCESS_ALLOWED_CALLBACK_ACE_TYPE, ACCESS_DENIED_CALLBACK_ACE_TYPE, SYSTEM_AUDIT_CALLBACK_ACE_TYPE,
  SYSTEM_ALARM_CALLBACK_ACE_TYPE, SYSTEM_MANDATORY_LABEL_ACE_TYPE, SYSTEM_RESOURCE_ATTRIBUTE_ACE_TYPE,
  SYSTEM_SCOPED_POLICY_ID_ACE_TYPE
])

const OBJECT_ACE_TYPES = new Set([
  ACCESS_ALLOWED_OBJECT_ACE_TYPE, ACCESS_DENIED_OBJECT_ACE_TYPE, SYSTEM_AUDIT_OBJECT_ACE_TYPE, SYSTEM_ALARM_OBJECT_ACE_TYPE,
  ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE, ACCESS_DENIED_CALLBACK_OBJECT_ACE_TYPE, SYSTEM_AUDIT_CALLBACK_OBJECT_ACE_TYPE
])

export interface Ace {
  type: number
  flags: number
  mask: number
  /** The trustee, for the simple (non-object) ACE types. */
  sid?: Sid
  /** Bytes after the SID inside AceSize (callback application data, attribute data, padding). */
  extra?: Buffer
  /** For object and compound ACEs: every byte after Mask, kept opaque. */
  body?: Buffer
}

export interface Acl {
  revision: number
  aces: Ace[]
}

export interface SecurityDescriptor {
  /** Control flags besides SE_SELF_RELATIVE / SE_DACL_PRESENT / SE_SACL_PRESENT, which encode sets. */
  control: number
  owner?: Sid
  group?: Sid
  /** undefined: not present; null: present but NULL (grants everything, MS-DTYP 2.4.6). */
  dacl?: Acl | null
  sacl?: Acl | null
}

export const SECURITY_DESCRIPTOR_HEADER_SIZE = 20 // MS-DTYP 2.4.6
export const ACL_HEADER_SIZE = 8 // MS-DTYP 2.4.5
const ACE_HEADER_SIZE = 4 // MS-DTYP 2.4.4.1

const invalidSd = (why: string): NtStatusError => new NtStatusError(NtStatus.INVALID_SECURITY_DESCR, why)
const invalidAcl = (why: string): NtStatusError => new NtStatusError(NtStatus.INVALID_ACL, why)

const pad4 = (n: number): number => (n + 3) & ~3

export function aceByteLength (ace: Ace): number {
  if (ace.body !== undefined) return pad4(ACE_HEADER_SIZE + 4 + ace.body.length)
  if (ace.sid === undefined) throw invalidAcl('simple ACE without SID')
  return pad4(ACE_HEADER_SIZE + 4 + sidByteLength(ace.sid) + (ace.extra?.length ?? 0))
}

export function aclByteLength (acl: Acl): number {
  return ACL_HEADER_SIZE + acl.aces.reduce((n, a) => n + aceByteLength(a), 0)
}

function writeAcl (buf: Buffer, off: number, acl: Acl): number {
  const size = aclByteLength(acl)
  if (size > 0xFFFF) throw invalidAcl('ACL larger than 64 KiB')
  buf[off] = acl.revision
  buf.writeUInt16LE(size, off + 2)
  buf.writeUInt16LE(acl.aces.length, off + 4)
  let p = off + ACL_HEADER_SIZE
  for (const ace of acl.aces) {
    const n = aceByteLength(ace)
    buf[p] = ace.type
    buf[p + 1] = ace.flags
    buf.writeUInt16LE(n, p + 2)
    buf.writeUInt32LE(ace.mask >>> 0, p + 4)
    if (ace.body !== undefined) ace.body.copy(buf, p + 8)
    else {
      const s = writeSid(buf, p + 8, ace.sid!)
      ace.extra?.copy(buf, p + 8 + s)
    }
    p += n
  }
  return size
}

export function encodeAcl (acl: Acl): Buffer {
  const b = Buffer.alloc(aclByteLength(acl))
  writeAcl(b, 0, acl)
  return b
}

/** Parse an ACL at `off`, bounds-checked against `buf` and AclSize. Throws INVALID_ACL. */
export function parseAcl (buf: Buffer, off = 0): Acl {
  if (off < 0 || buf.length - off < ACL_HEADER_SIZE) throw invalidAcl('ACL header past the buffer')
  const revision = buf[off]!
  const size = buf.readUInt16LE(off + 2)
  const count = buf.readUInt16LE(off + 4)
  if (revision !== ACL_REVISION && revision !== ACL_REVISION_DS) throw invalidAcl('bad ACL revision')
  if (size < ACL_HEADER_SIZE || size > buf.length - off) throw invalidAcl('AclSize out of range')
  const end = off + size
  const aces: Ace[] = []
  let p = off + ACL_HEADER_SIZE
  for (let i = 0; i < count; i++) {
    if (end - p < ACE_HEADER_SIZE + 4) throw invalidAcl('ACE past the ACL')
    const type = buf[p]!
    const flags = buf[p + 1]!
    const aceSize = buf.readUInt16LE(p + 2)
    if (aceSize < ACE_HEADER_SIZE + 4 || aceSize > end - p) throw invalidAcl('AceSize out of range')
    // ACEs are DWORD-aligned (MS-DTYP 2.4.4.1; Windows' RtlValidAcl refuses others).
    if ((aceSize & 3) !== 0) throw invalidAcl('AceSize not a multiple of 4')
    // Object ACEs need the DS revision (MS-DTYP 2.4.5: ACL_REVISION_DS for ACLs holding them).
    if (OBJECT_ACE_TYPES.has(type) && revision !== ACL_REVISION_DS) throw invalidAcl('object ACE in a revision-2 ACL')
    const mask = buf.readUInt32LE(p + 4)
    const aceEnd = p + aceSize
    if (SIMPLE_ACE_TYPES.has(type)) {
      let parsed: { sid: Sid, byteLength: number }
      try {
        parsed = parseSid(buf.subarray(0, aceEnd), p + 8)
      } catch { throw invalidAcl('bad SID in ACE') }
      const extraStart = p + 8 + parsed.byteLength
      const ace: Ace = { type, flags, mask, sid: parsed.sid }
      if (extraStart < aceEnd) ace.extra = Buffer.from(buf.subarray(extraStart, aceEnd))
      aces.push(ace)
    } else {
      aces.push({ type, flags, mask, body: Buffer.from(buf.subarray(p + 8, aceEnd)) })
    }
    p = aceEnd
  }
  return { revision, aces }
}

/** Size of the self-relative encoding. */
export function securityDescriptorByteLength (sd: SecurityDescriptor): number {
  return SECURITY_DESCRIPTOR_HEADER_SIZE +
    (sd.sacl != null ? aclByteLength(sd.sacl) : 0) + (sd.dacl != null ? aclByteLength(sd.dacl) : 0) +
    (sd.owner !== undefined ? sidByteLength(sd.owner) : 0) + (sd.group !== undefined ? sidByteLength(sd.group) : 0)
}

/**
 * Encode self-relative (MS-DTYP 2.4.6): header, then SACL, DACL, owner, group (the order Windows
 * writes them). SE_SELF_RELATIVE and the *_PRESENT bits follow the fields.
 */
export function encodeSecurityDescriptor (sd: SecurityDescriptor): Buffer {
  const b = Buffer.alloc(securityDescriptorByteLength(sd))
  let control = (sd.control & ~(SE_DACL_PRESENT | SE_SACL_PRESENT)) | SE_SELF_RELATIVE
  if (sd.dacl !== undefined) control |= SE_DACL_PRESENT
  if (sd.sacl !== undefined) control |= SE_SACL_PRESENT
  b[0] = 1 // Revision
  b.writeUInt16LE(control, 2)
  let p = SECURITY_DESCRIPTOR_HEADER_SIZE
  if (sd.sacl != null) { b.writeUInt32LE(p, 12); p += writeAcl(b, p, sd.sacl) }
  if (sd.dacl != null) { b.writeUInt32LE(p, 16); p += writeAcl(b, p, sd.dacl) }
  if (sd.owner !== undefined) { b.writeUInt32LE(p, 4); p += writeSid(b, p, sd.owner) }
  if (sd.group !== undefined) { b.writeUInt32LE(p, 8); p += writeSid(b, p, sd.group) }
  return b
}

/**
 * Parse a self-relative SECURITY_DESCRIPTOR (as SET_INFO / CREATE SD contexts carry it). Every
 * offset is checked against the buffer; errors are NtStatusError(INVALID_SECURITY_DESCR).
 */
export function parseSecurityDescriptor (buf: Buffer): SecurityDescriptor {
  if (buf.length < SECURITY_DESCRIPTOR_HEADER_SIZE) throw invalidSd('shorter than the header')
  if (buf[0] !== 1) throw invalidSd('bad revision')
  const control = buf.readUInt16LE(2)
  if ((control & SE_SELF_RELATIVE) === 0) throw invalidSd('not self-relative')
  const offOwner = buf.readUInt32LE(4)
  const offGroup = buf.readUInt32LE(8)
  const offSacl = buf.readUInt32LE(12)
  const offDacl = buf.readUInt32LE(16)
  const at = (off: number, what: string): void => {
    if (off < SECURITY_DESCRIPTOR_HEADER_SIZE || off >= buf.length) throw invalidSd(`${what} offset out of range`)
  }
  const sd: SecurityDescriptor = { control: control & ~(SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_SACL_PRESENT) }
  try {
    if (offOwner !== 0) { at(offOwner, 'owner'); sd.owner = parseSid(buf, offOwner).sid }
    if (offGroup !== 0) { at(offGroup, 'group'); sd.group = parseSid(buf, offGroup).sid }
    if ((control & SE_SACL_PRESENT) !== 0) {
      if (offSacl === 0) sd.sacl = null
      else { at(offSacl, 'SACL'); sd.sacl = parseAcl(buf, offSacl) }
    }
    if ((control & SE_DACL_PRESENT) !== 0) {
      if (offDacl === 0) sd.dacl = null
      else { at(offDacl, 'DACL'); sd.dacl = parseAcl(buf, offDacl) }
    }
  } catch (e) {
    if (e instanceof NtStatusError && e.status !== NtStatus.INVALID_SECURITY_DESCR) throw invalidSd(e.message)
    throw e
  }
  return sd
}

/** Keep only the parts `securityInformation` asks for (MS-SMB2 3.3.5.20.3). */
export function filterSecurityDescriptor (sd: SecurityDescriptor, securityInformation: number): SecurityDescriptor {
  const out: SecurityDescriptor = { control: sd.control }
  if ((securityInformation & OWNER_SECURITY_INFORMATION) !== 0 && sd.owner !== undefined) out.owner = sd.owner
  if ((securityInformation & GROUP_SECURITY_INFORMATION) !== 0 && sd.group !== undefined) out.group = sd.group
  if ((securityInformation & DACL_SECURITY_INFORMATION) !== 0 && sd.dacl !== undefined) out.dacl = sd.dacl
  if ((securityInformation & SACL_SECURITY_INFORMATION) !== 0 && sd.sacl !== undefined) out.sacl = sd.sacl
  return out
}

export interface PosixOwnership {
  uid: number
  gid: number
  /** st_mode (only the low 9 permission bits are used). */
  mode: number
  isDirectory: boolean
  /** The owner's SID when the uid maps to an account (as Samba's idmap maps a passdb user's); else S-1-22-1-uid. */
  ownerSid?: Sid
}

/** Access mask for one rwx triplet (bits 4=r, 2=w, 1=x). */
export function accessMaskFromRwx (rwx: number, isDirectory: boolean): number {
  if ((rwx & 7) === 7) return FILE_ALL_ACCESS
  let m = 0
  if ((rwx & 4) !== 0) m |= FILE_GENERIC_READ
  if ((rwx & 2) !== 0) m |= FILE_GENERIC_WRITE | AccessMask.DELETE | (isDirectory ? AccessMask.FILE_DELETE_CHILD : 0)
  if ((rwx & 1) !== 0) m |= FILE_GENERIC_EXECUTE
  return m >>> 0
}

// What a POSIX owner can always do whatever the mode says: read the metadata and the ACL, and
// change both (chmod/chown on its own file).
const OWNER_IMPLICIT = AccessMask.READ_CONTROL | AccessMask.WRITE_DAC | AccessMask.WRITE_OWNER | AccessMask.FILE_READ_ATTRIBUTES | AccessMask.SYNCHRONIZE

/**
 * A plausible NT security descriptor for a file that only has POSIX ownership and mode bits:
 * owner S-1-22-1-<uid>, group S-1-22-2-<gid> (Samba's Unix Users/Groups SIDs for unmapped ids),
 * and a DACL of allow ACEs for owner, group and Everyone (S-1-1-0) from the rwx triplets; ACEs
 * with an empty mask are left out. Only the parts in `securityInformation` are filled; an empty
 * SACL is present only when SACL_SECURITY_INFORMATION is asked for.
 */
export function posixSecurityDescriptor (p: PosixOwnership, securityInformation: number): SecurityDescriptor {
  const owner = p.ownerSid ?? unixUserSid(p.uid)
  const group = unixGroupSid(p.gid)
  const sd: SecurityDescriptor = { control: 0 }
  if ((securityInformation & OWNER_SECURITY_INFORMATION) !== 0) sd.owner = owner
  if ((securityInformation & GROUP_SECURITY_INFORMATION) !== 0) sd.group = group
  if ((securityInformation & DACL_SECURITY_INFORMATION) !== 0) {
    const aces: Ace[] = []
    const add = (sid: Sid, mask: number): void => {
      if (mask !== 0) aces.push({ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: mask >>> 0, sid })
    }
    add(owner, accessMaskFromRwx((p.mode >> 6) & 7, p.isDirectory) | OWNER_IMPLICIT)
    add(group, accessMaskFromRwx((p.mode >> 3) & 7, p.isDirectory))
    add(SID_WORLD, accessMaskFromRwx(p.mode & 7, p.isDirectory))
    sd.dacl = { revision: ACL_REVISION, aces }
    sd.control |= SE_DACL_PROTECTED // not inherited: nothing above the share to inherit from
  }
  if ((securityInformation & SACL_SECURITY_INFORMATION) !== 0) sd.sacl = { revision: ACL_REVISION, aces: [] }
  return sd
}
