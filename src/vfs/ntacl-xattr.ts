// The NT security descriptor a client set (SET_INFO SMB2_0_INFO_SECURITY), kept in one user xattr
// of our own, `user.smbts.ntacl`. A pure codec: no I/O here (the posix backend reads and writes
// the xattr).
//
// Format, version 1, little-endian:
//   0  u8   Version (1)
//   1  u8   Reserved[3] (0)
//   4  ...  a self-relative SECURITY_DESCRIPTOR (MS-DTYP 2.4.6), checked as a client's would be
//
// Only owner, group and DACL are ever stored (SACLs are refused: no session holds
// SeSecurityPrivilege). Decoding never throws: a value that is too short, of an unknown version
// or whose descriptor does not parse reads as "nothing stored", so the file falls back to the
// descriptor synthesised from its POSIX owner and mode, as if no client had set one.
import { parseSecurityDescriptor, SECURITY_DESCRIPTOR_HEADER_SIZE, type SecurityDescriptor } from '../wire/dtyp/security-descriptor.js'

/** The xattr's name (the `user.` namespace: no privilege needed, kept by cp -a, tar --xattrs, rsync -X). */
export const NTACL_XATTR_NAME = 'user.smbts.ntacl'
export const NTACL_XATTR_VERSION = 1
const NTACL_HEADER_SIZE = 4
/** The largest record kept: what the addon reads back in one fgetxattr (a DACL of ~1,400 ACEs). */
export const NTACL_XATTR_MAX = 64 << 10

export function encodeNtAclRecord (selfRelativeSd: Buffer): Buffer {
  const b = Buffer.alloc(NTACL_HEADER_SIZE + selfRelativeSd.length)
  b[0] = NTACL_XATTR_VERSION
  selfRelativeSd.copy(b, NTACL_HEADER_SIZE)
  return b
}

/** The stored descriptor, or undefined for anything that is not a version-1 record holding a valid one. */
export function decodeNtAclRecord (value: Buffer | null | undefined): SecurityDescriptor | undefined {
  if (value == null || value.length < NTACL_HEADER_SIZE + SECURITY_DESCRIPTOR_HEADER_SIZE) return undefined
  if (value[0] !== NTACL_XATTR_VERSION) return undefined
  try {
    return parseSecurityDescriptor(value.subarray(NTACL_HEADER_SIZE))
  } catch {
    return undefined
  }
}
