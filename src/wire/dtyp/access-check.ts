// MS-DTYP 2.5.3.2 Access Check Algorithm, for file system objects: a security descriptor's DACL
// evaluated against a token (a user SID and its group SIDs). Pure: no I/O, no privileges beyond
// what the token says. Used by CREATE (src/smb2/commands/create.ts) to decide a desired access,
// and to compute MAXIMUM_ALLOWED.
//
// Rules kept (MS-DTYP 2.5.3.2, as Windows and Samba's se_access_check apply them to files):
// - A NULL DACL (present but NULL, or absent) grants everything asked for.
// - An empty DACL grants nothing but what the owner gets implicitly.
// - The owner is implicitly granted READ_CONTROL and WRITE_DAC, unless the DACL holds an ACE for
//   OWNER RIGHTS (S-1-3-4): then the owner gets what those ACEs say, like any other SID.
// - ACEs are read in order; INHERIT_ONLY ACEs are skipped; an ACE applies when its SID is the
//   token's user or one of its groups (OWNER RIGHTS applies to the owner). An allow ACE grants the
//   bits of its mask not yet decided; a deny ACE denies those not yet granted. A bit decided is
//   never decided again (first match wins, per bit).
// - Generic rights in an ACE's mask are mapped with the file mapping before use (a DACL stored by
//   another server may hold them).
// - ACE types other than ACCESS_ALLOWED and ACCESS_DENIED (object, callback, audit ACEs) decide
//   nothing for a file here: they are skipped, as Samba's file server skips them.
import { AccessMask, FILE_ALL_ACCESS, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ, FILE_GENERIC_WRITE } from '../constants.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, INHERIT_ONLY_ACE, type Acl, type SecurityDescriptor,
} from './security-descriptor.js'
import { type Sid, sidEquals, SID_OWNER_RIGHTS, SID_WORLD } from './sid.js'

/** Who asks: MS-DTYP 2.5.2 Token, reduced to what a file server decides with. */
export interface Token {
  user: Sid
  /** Every group SID the user is a member of (Everyone, Authenticated Users, ...). */
  groups: readonly Sid[]
}

export const GENERIC_BITS = (AccessMask.GENERIC_ALL | AccessMask.GENERIC_READ | AccessMask.GENERIC_WRITE | AccessMask.GENERIC_EXECUTE) >>> 0

/** MS-DTYP 2.4.3 with the file mapping (MS-SMB2 2.2.13.1.1): generic bits replaced by file rights. */
export function mapGenericFileRights (mask: number): number {
  let m = mask >>> 0
  if ((m & AccessMask.GENERIC_ALL) !== 0) m |= FILE_ALL_ACCESS
  if ((m & AccessMask.GENERIC_READ) !== 0) m |= FILE_GENERIC_READ
  if ((m & AccessMask.GENERIC_WRITE) !== 0) m |= FILE_GENERIC_WRITE
  if ((m & AccessMask.GENERIC_EXECUTE) !== 0) m |= FILE_GENERIC_EXECUTE
  return (m & ~GENERIC_BITS) >>> 0
}

/** Whether `sid` is the token's user or one of its groups. */
export function tokenHasSid (token: Token, sid: Sid): boolean {
  return sidEquals(token.user, sid) || token.groups.some(g => sidEquals(g, sid))
}

/** Does this ACE speak of the token? OWNER RIGHTS stands for the object's owner. */
function aceApplies (token: Token, aceSid: Sid, owner: Sid | undefined, isOwner: boolean): boolean {
  if (sidEquals(aceSid, SID_OWNER_RIGHTS)) return isOwner && owner !== undefined
  return tokenHasSid(token, aceSid)
}

export interface AccessDecision {
  /** The bits of `desired` granted (MAXIMUM_ALLOWED: every bit the DACL grants). */
  granted: number
  /** The bits of `desired` not granted (0 when every one was). */
  rejected: number
}

/**
 * MS-DTYP 2.5.3.2 for a file object. `desired` holds specific and standard rights (generic bits
 * already mapped); with `maximumAllowed`, every right the DACL grants is computed as well, and
 * `granted` holds them all (plus what `desired` asked that was granted). SACL and privileges are
 * the caller's matter.
 */
export function accessCheck (sd: SecurityDescriptor, token: Token, desired: number, maximumAllowed = false): AccessDecision {
  const want = desired >>> 0
  const dacl = sd.dacl
  if (dacl == null) {
    // No DACL, or a NULL one: no protection (MS-DTYP 2.4.6).
    const all = maximumAllowed ? (FILE_ALL_ACCESS | want) >>> 0 : want
    return { granted: all, rejected: 0 }
  }
  const isOwner = sd.owner !== undefined && tokenHasSid(token, sd.owner)
  const ownerRightsPresent = dacl.aces.some(a => (a.flags & INHERIT_ONLY_ACE) === 0 && a.sid !== undefined && sidEquals(a.sid, SID_OWNER_RIGHTS))
  let granted = 0
  let denied = 0
  if (isOwner && !ownerRightsPresent) granted |= AccessMask.READ_CONTROL | AccessMask.WRITE_DAC
  // The bits still to decide: all of them for MAXIMUM_ALLOWED, else only those asked for.
  const scope = maximumAllowed ? (FILE_ALL_ACCESS | want) >>> 0 : want
  walk(dacl, (type, mask, sid) => {
    if (!aceApplies(token, sid, sd.owner, isOwner)) return false
    const open = (mapGenericFileRights(mask) & scope & ~granted & ~denied) >>> 0
    if (type === ACCESS_ALLOWED_ACE_TYPE) granted |= open
    else denied |= open
    // Stop once every bit in scope is decided.
    return ((granted | denied) & scope) >>> 0 === scope
  })
  granted = (granted & scope) >>> 0
  return { granted, rejected: (want & ~granted) >>> 0 }
}

/** Visits the ACCESS_ALLOWED and ACCESS_DENIED ACEs that take part in an access check; stops when `visit` says so. */
function walk (dacl: Acl, visit: (type: number, mask: number, sid: Sid) => boolean): void {
  for (const ace of dacl.aces) {
    if ((ace.flags & INHERIT_ONLY_ACE) !== 0 || ace.sid === undefined) continue
    if (ace.type !== ACCESS_ALLOWED_ACE_TYPE && ace.type !== ACCESS_DENIED_ACE_TYPE) continue
    if (visit(ace.type, ace.mask, ace.sid)) return
  }
}

/**
 * The POSIX permission bits a DACL amounts to, for keeping a file's mode in step with the
 * descriptor a client set (src/smb2/commands/security-info.ts): per class, r for FILE_READ_DATA,
 * w for FILE_WRITE_DATA, x for FILE_EXECUTE, as the DACL grants them to the owner SID (user
 * bits), the group SID (group bits) and Everyone alone (other bits); the owner and the group are
 * in Everyone too. The owner's implicit rights (READ_CONTROL, WRITE_DAC) give no bit. A NULL DACL
 * is 0777; an empty one 0. Only the low nine bits are returned.
 */
export function modeFromDacl (sd: SecurityDescriptor): number {
  const bits = (token: Token): number => {
    // Without an owner in the descriptor nobody gets the owner's implicit rights here.
    const g = accessCheck({ ...sd, owner: undefined }, token, FILE_RWX, false).granted
    return ((g & AccessMask.FILE_READ_DATA) !== 0 ? 4 : 0) | ((g & AccessMask.FILE_WRITE_DATA) !== 0 ? 2 : 0) | ((g & AccessMask.FILE_EXECUTE) !== 0 ? 1 : 0)
  }
  const world: Token = { user: SID_WORLD, groups: [] }
  const u = sd.owner !== undefined ? bits({ user: sd.owner, groups: [SID_WORLD] }) : bits(world)
  const g = sd.group !== undefined ? bits({ user: sd.group, groups: [SID_WORLD] }) : bits(world)
  return (u << 6) | (g << 3) | bits(world)
}

const FILE_RWX = AccessMask.FILE_READ_DATA | AccessMask.FILE_WRITE_DATA | AccessMask.FILE_EXECUTE

/**
 * The rights a POSIX mode takes away from `token` that the DACL gives (a chmod made outside the
 * server, after the descriptor was stored): the mode's class for the token is the group bits when
 * the token holds the descriptor's group SID, else the other bits (the user bits are the
 * server's own: the NT owner is never narrowed); a bit the DACL gives that class (modeFromDacl)
 * but the mode lacks removes its rights: r FILE_READ_DATA, w FILE_WRITE_DATA and
 * FILE_APPEND_DATA, x FILE_EXECUTE. A file without any write bit is READONLY, which its attribute
 * decides: its w is not counted. Never grants anything.
 */
export function rightsRemovedByMode (sd: SecurityDescriptor, token: Token, mode: number, isDirectory: boolean): number {
  if (sd.owner !== undefined && tokenHasSid(token, sd.owner)) return 0
  const shift = sd.group !== undefined && tokenHasSid(token, sd.group) ? 3 : 0
  let removed = ((modeFromDacl(sd) >> shift) & 7) & ~((mode >> shift) & 7)
  if (!isDirectory && (mode & 0o222) === 0) removed &= ~2
  return ((removed & 4) !== 0 ? AccessMask.FILE_READ_DATA : 0) |
    ((removed & 2) !== 0 ? AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA : 0) |
    ((removed & 1) !== 0 ? AccessMask.FILE_EXECUTE : 0)
}
