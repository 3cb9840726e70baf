// QUERY_INFO and SET_INFO of SMB2_0_INFO_SECURITY (MS-SMB2 3.3.5.20.3, 3.3.5.21.3; MS-FSA
// 2.1.5.13 and 2.1.5.16): a file's NT security descriptor. A client-set descriptor (owner, group,
// DACL) is kept per file as Samba keeps it, in `security.NTACL` (src/vfs/samba-ntacl.ts; our older
// `user.smbts.ntacl` record is still read); a file without one reports a descriptor synthesised
// from its POSIX owner, group and mode.
//
// What is enforced here: the open's access (READ_CONTROL to read; WRITE_OWNER for owner and group,
// WRITE_DAC for the DACL); a descriptor that does not parse strictly (MS-DTYP 2.4.6) is refused.
// SACLs are never stored: no session holds SeSecurityPrivilege, so setting one is refused. The
// owner may become the caller or one of its groups; any other SID only for the share's `admin
// users` (root-mapped). Generic rights in the DACL are stored mapped. The stored DACL decides
// access at CREATE (src/smb2/file-security.ts).
import { AccessMask } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import {
  DACL_SECURITY_INFORMATION, GROUP_SECURITY_INFORMATION, LABEL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION,
  PROTECTED_DACL_SECURITY_INFORMATION, SACL_SECURITY_INFORMATION, SE_DACL_AUTO_INHERITED, SE_DACL_AUTO_INHERIT_REQ, SE_DACL_DEFAULTED,
  SE_DACL_PROTECTED, SE_GROUP_DEFAULTED, SE_OWNER_DEFAULTED, SECURITY_DESCRIPTOR_HEADER_SIZE,
  UNPROTECTED_DACL_SECURITY_INFORMATION, ACL_REVISION, encodeSecurityDescriptor, filterSecurityDescriptor,
  parseSecurityDescriptor, posixSecurityDescriptor, type PosixOwnership, type SecurityDescriptor,
} from '../../wire/dtyp/security-descriptor.js'
import { sidEquals, sidToString } from '../../wire/dtyp/sid.js'
import { mapAclGenericRights } from '../../wire/dtyp/inherit.js'
import { fileDescriptor, keepModeInStep, ownerAllowed, tokenOf } from '../file-security.js'
import type { Stat } from '../../vfs/backend.js'
import { NTACL_XATTR_MAX } from '../../vfs/ntacl-xattr.js'
import type { Open, Session } from '../../session/model.js'
import { ownerSidOfUid } from '../../session/token.js'

const OWNER_GROUP_DACL = OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
/** Control bits that describe the DACL (MS-DTYP 2.4.6); SE_DACL_AUTO_INHERIT_REQ is a request, never kept. */
const DACL_CONTROL = SE_DACL_DEFAULTED | SE_DACL_AUTO_INHERITED | SE_DACL_PROTECTED

function requireAccess (open: Open, mask: number, what: string): void {
  if ((open.grantedAccess & mask) !== mask) throw new NtStatusError(NtStatus.ACCESS_DENIED, `${what} needs access 0x${mask.toString(16)}`)
}

/** Who the server is: its name (the domain SID) and its password-db users (owner mapping). */
export interface SecurityNames {
  netbiosName: string
  dbUsers: () => Iterable<string>
}

/** A file's POSIX ownership, its owner mapped to a password-db user's SID where one has that uid. */
function posixOwnership (st: Stat, names: SecurityNames): PosixOwnership {
  const ownerSid = ownerSidOfUid(st.uid, names.dbUsers(), names.netbiosName)
  return { uid: st.uid, gid: st.gid, mode: st.mode, isDirectory: st.isDirectory, ...(ownerSid !== undefined ? { ownerSid } : {}) }
}

/**
 * The file's descriptor: the stored one (or the default one derived from its creator,
 * file-security.ts), else the POSIX synthesis (owner, group and DACL).
 */
async function currentDescriptor (open: Open, st: Stat, names: SecurityNames): Promise<{ sd: SecurityDescriptor, stored: boolean }> {
  const stored = await fileDescriptor(open.file!, names.netbiosName, st)
  if (stored !== undefined) return { sd: stored, stored: true }
  return { sd: posixSecurityDescriptor(posixOwnership(st, names), OWNER_GROUP_DACL), stored: false }
}

/** QUERY_INFO SMB2_0_INFO_SECURITY: the self-relative descriptor, only the parts asked for. */
export async function querySecurityInfo (open: Open, st: Stat, additionalInformation: number, names: SecurityNames): Promise<Buffer> {
  requireAccess(open, AccessMask.READ_CONTROL, 'reading the security descriptor')
  const { sd, stored } = await currentDescriptor(open, st, names)
  if (!stored) {
    return encodeSecurityDescriptor(posixSecurityDescriptor(posixOwnership(st, names), additionalInformation))
  }
  const out = filterSecurityDescriptor(sd, additionalInformation)
  if ((additionalInformation & DACL_SECURITY_INFORMATION) === 0) out.control &= ~DACL_CONTROL
  // No SACL is ever stored: asked for, it is present and empty (as the synthesis answers).
  if ((additionalInformation & SACL_SECURITY_INFORMATION) !== 0) out.sacl = { revision: ACL_REVISION, aces: [] }
  return encodeSecurityDescriptor(out)
}

/** SET_INFO SMB2_0_INFO_SECURITY: merge the parts named in `securityInformation` and store the result. */
export async function setSecurityInfo (open: Open, st: Stat, securityInformation: number, buf: Buffer, session: Session, names: SecurityNames): Promise<void> {
  const netbiosName = names.netbiosName
  // MS-FSA 2.1.5.16: the rights each part needs, checked before the buffer is looked at.
  if ((securityInformation & (OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION)) !== 0) {
    requireAccess(open, AccessMask.WRITE_OWNER, 'setting the owner or group')
  }
  if ((securityInformation & DACL_SECURITY_INFORMATION) !== 0) requireAccess(open, AccessMask.WRITE_DAC, 'setting the DACL')
  if ((securityInformation & SACL_SECURITY_INFORMATION) !== 0) {
    throw new NtStatusError(NtStatus.ACCESS_DENIED, 'setting a SACL needs SeSecurityPrivilege, which no session holds')
  }
  if (buf.length < SECURITY_DESCRIPTOR_HEADER_SIZE) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'security descriptor shorter than its header')
  let given: SecurityDescriptor
  try {
    given = parseSecurityDescriptor(buf)
  } catch (e) {
    throw new NtStatusError(NtStatus.INVALID_SECURITY_DESCR, e instanceof Error ? e.message : 'malformed security descriptor')
  }
  const { sd: current } = await currentDescriptor(open, st, names)
  const next: SecurityDescriptor = { control: current.control }
  if (current.owner !== undefined) next.owner = current.owner
  if (current.group !== undefined) next.group = current.group
  if (current.dacl !== undefined) next.dacl = current.dacl

  if ((securityInformation & OWNER_SECURITY_INFORMATION) !== 0) {
    if (given.owner === undefined) throw new NtStatusError(NtStatus.INVALID_OWNER, 'OWNER_SECURITY_INFORMATION without an owner')
    // The owner may stay, or become the caller or one of its groups; any SID only for a
    // root-mapped admin (`admin users`): giving a file away needs SeRestorePrivilege.
    const same = current.owner !== undefined && sidEquals(given.owner, current.owner)
    if (!same && !ownerAllowed(open.tree, tokenOf(session, netbiosName), given.owner)) {
      throw new NtStatusError(NtStatus.INVALID_OWNER, `the owner cannot become ${sidToString(given.owner)}`)
    }
    next.owner = given.owner
    next.control = (next.control & ~SE_OWNER_DEFAULTED) | (given.control & SE_OWNER_DEFAULTED)
  }
  if ((securityInformation & GROUP_SECURITY_INFORMATION) !== 0) {
    if (given.group === undefined) throw new NtStatusError(NtStatus.INVALID_PRIMARY_GROUP, 'GROUP_SECURITY_INFORMATION without a group')
    next.group = given.group
    next.control = (next.control & ~SE_GROUP_DEFAULTED) | (given.control & SE_GROUP_DEFAULTED)
  }
  if ((securityInformation & DACL_SECURITY_INFORMATION) !== 0) {
    // No DACL in the descriptor (SE_DACL_PRESENT clear) sets a NULL DACL, as Windows does.
    // Generic rights are stored mapped (MS-DTYP 2.4.3; smbtorture smb2.acls.GENERIC reads them back).
    next.dacl = given.dacl == null ? null : mapAclGenericRights(given.dacl)
    let control = (next.control & ~DACL_CONTROL) | (given.control & DACL_CONTROL)
    // SE_DACL_AUTO_INHERITED stays only when the setter also asks for it with
    // SE_DACL_AUTO_INHERIT_REQ (as Windows answers smbtorture smb2.acls.INHERITFLAGS), unless the
    // share keeps the flag as given (`acl flag inherited canonicalization = no`, Samba's:
    // smbtorture smb2.acls_non_canonical.flags).
    const canonical = open.tree.share?.aclFlagInheritedCanonicalization ?? true
    if (canonical && (given.control & SE_DACL_AUTO_INHERIT_REQ) === 0) control &= ~SE_DACL_AUTO_INHERITED
    if ((securityInformation & PROTECTED_DACL_SECURITY_INFORMATION) !== 0) control |= SE_DACL_PROTECTED
    else if ((securityInformation & UNPROTECTED_DACL_SECURITY_INFORMATION) !== 0) control &= ~SE_DACL_PROTECTED
    next.control = control
  }
  if ((securityInformation & OWNER_GROUP_DACL) === 0) return // only parts that are not kept (label, attributes, scope)
  const encoded = encodeSecurityDescriptor(next)
  if (encoded.length + 4 > NTACL_XATTR_MAX) throw new NtStatusError(NtStatus.INSUFFICIENT_RESOURCES, 'security descriptor too large to store')
  try {
    await open.file!.setSecurityDescriptor(encoded)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    // The file system has no room for a value this large (ext4 keeps one block of xattrs).
    if (code === 'E2BIG' || code === 'ENOSPC') throw new NtStatusError(NtStatus.INSUFFICIENT_RESOURCES, `storing the security descriptor: ${code}`)
    throw e
  }
  if ((securityInformation & DACL_SECURITY_INFORMATION) !== 0 && open.file !== undefined) await keepModeInStep(open.file, st, next)
}
