// MS-DTYP 2.5.3.4 (CreateSecurityDescriptor / ComputeACL) for files and directories: the
// descriptor a new file or directory gets from its parent's DACL, or from the descriptor its
// creator gave (the SMB2_CREATE_SD_BUFFER context). Pure.
//
// Inheritance, per parent ACE (what Windows does and smbtorture's smb2.acls.INHERITANCE checks):
// - A file inherits the ACEs marked OBJECT_INHERIT, as effective ACEs (no inheritance flags).
// - A directory inherits the ACEs marked CONTAINER_INHERIT, and keeps those marked OBJECT_INHERIT
//   only (without NO_PROPAGATE_INHERIT) as INHERIT_ONLY, for its own files to inherit.
// - NO_PROPAGATE_INHERIT: the child gets an effective ACE and no inheritance flags; a directory
//   gets nothing from an OBJECT_INHERIT-only one.
// - CREATOR OWNER / CREATOR GROUP in an effective ACE become the new object's owner / group, and
//   generic rights are mapped to file rights. A directory inheriting such an ACE to pass on
//   (CONTAINER_INHERIT) gets two: the effective one, then the original marked INHERIT_ONLY.
// - INHERITED_ACE marks the inherited ACEs, and SE_DACL_AUTO_INHERITED the new descriptor, only
//   when the parent's DACL is itself auto-inherited (Windows and Samba do the same; a client that
//   set a DACL without that control bit gets plain ACEs below it).
// - Duplicates are dropped.
import {
  ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, ACL_REVISION, CONTAINER_INHERIT_ACE, INHERIT_ONLY_ACE, INHERITED_ACE,
  NO_PROPAGATE_INHERIT_ACE, OBJECT_INHERIT_ACE, SE_DACL_AUTO_INHERITED, SE_DACL_DEFAULTED, SE_DACL_PROTECTED,
  type Ace, type Acl, type SecurityDescriptor,
} from './security-descriptor.js'
import { GENERIC_BITS, mapGenericFileRights } from './access-check.js'
import { type Sid, sidEquals, SID_CREATOR_GROUP, SID_CREATOR_OWNER } from './sid.js'

const INHERIT_FLAGS = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE | NO_PROPAGATE_INHERIT_ACE | INHERIT_ONLY_ACE

const isCreatorSid = (sid: Sid | undefined): boolean => sid !== undefined && (sidEquals(sid, SID_CREATOR_OWNER) || sidEquals(sid, SID_CREATOR_GROUP))

/** An ACE the way it applies to this object: CREATOR SIDs replaced, generic rights mapped. */
function effective (ace: Ace, owner: Sid, group: Sid, flags: number): Ace {
  let sid = ace.sid
  if (sid !== undefined && sidEquals(sid, SID_CREATOR_OWNER)) sid = owner
  else if (sid !== undefined && sidEquals(sid, SID_CREATOR_GROUP)) sid = group
  const out: Ace = { type: ace.type, flags, mask: mapGenericFileRights(ace.mask) }
  if (sid !== undefined) out.sid = sid
  if (ace.extra !== undefined) out.extra = ace.extra
  if (ace.body !== undefined) out.body = ace.body
  return out
}

function sameAce (a: Ace, b: Ace): boolean {
  if (a.type !== b.type || a.flags !== b.flags || a.mask !== b.mask) return false
  if ((a.sid === undefined) !== (b.sid === undefined)) return false
  if (a.sid !== undefined && !sidEquals(a.sid, b.sid!)) return false
  return (a.body === undefined && b.body === undefined) || (a.body !== undefined && b.body !== undefined && a.body.equals(b.body))
}

/**
 * The ACEs a new object inherits from its parent's DACL (empty: nothing inheritable). Only
 * ACCESS_ALLOWED and ACCESS_DENIED ACEs are inherited (the only ones a file's DACL decides with).
 */
export function inheritAces (parent: Acl, isContainer: boolean, owner: Sid, group: Sid, autoInherited: boolean): Ace[] {
  const mark = autoInherited ? INHERITED_ACE : 0
  const out: Ace[] = []
  const push = (a: Ace): void => { if (!out.some(o => sameAce(o, a))) out.push(a) }
  for (const ace of parent.aces) {
    if (ace.type !== ACCESS_ALLOWED_ACE_TYPE && ace.type !== ACCESS_DENIED_ACE_TYPE) continue
    const oi = (ace.flags & OBJECT_INHERIT_ACE) !== 0
    const ci = (ace.flags & CONTAINER_INHERIT_ACE) !== 0
    const np = (ace.flags & NO_PROPAGATE_INHERIT_ACE) !== 0
    if (!isContainer) {
      if (oi) push(effective(ace, owner, group, mark))
      continue
    }
    if (ci) {
      if (np) { push(effective(ace, owner, group, mark)); continue }
      const needsSplit = isCreatorSid(ace.sid) || (ace.mask & GENERIC_BITS) !== 0
      if (needsSplit) {
        push(effective(ace, owner, group, mark))
        push({ ...ace, flags: (ace.flags & INHERIT_FLAGS) | INHERIT_ONLY_ACE | mark })
      } else {
        push({ ...ace, flags: (ace.flags & INHERIT_FLAGS & ~INHERIT_ONLY_ACE) | mark })
      }
    } else if (oi && !np) {
      // Not for the directory itself: kept for its files.
      push({ ...ace, flags: (ace.flags & INHERIT_FLAGS) | INHERIT_ONLY_ACE | mark })
    }
  }
  return out
}

/** Whether any ACE of `dacl` would pass to a child of this kind. */
export function hasInheritableAces (dacl: Acl | null | undefined, isContainer: boolean): boolean {
  if (dacl == null) return false
  return inheritAces(dacl, isContainer, SID_CREATOR_OWNER, SID_CREATOR_GROUP, false).length > 0
}

/** Generic rights mapped in every ACE that takes part in access checks (not the INHERIT_ONLY ones). */
export function mapAclGenericRights (acl: Acl): Acl {
  return {
    revision: acl.revision,
    aces: acl.aces.map(a => (a.flags & INHERIT_ONLY_ACE) !== 0 || (a.mask & GENERIC_BITS) === 0 ? a : { ...a, mask: mapGenericFileRights(a.mask) }),
  }
}

export interface NewObjectSecurity {
  /** The parent directory's descriptor (stored or synthesised); undefined: none known. */
  parent?: SecurityDescriptor
  isContainer: boolean
  /** The creator's SID (the owner unless the explicit descriptor names one) and primary group. */
  owner: Sid
  group: Sid
  /** The SMB2_CREATE_SD_BUFFER descriptor, already validated (owner allowed etc.). */
  explicit?: SecurityDescriptor
  /** The DACL to use when neither the explicit descriptor nor inheritance gives one. */
  defaultDacl: () => Acl
}

/**
 * The new object's owner, group and DACL (MS-DTYP 2.5.3.4.1, without SACLs). An explicit DACL
 * (present, NULL included) is taken as given (generic rights mapped), as Samba does with a create
 * context: no inherited ACE is merged into it. Otherwise the parent's inheritable ACEs; with none,
 * the default DACL.
 */
export function createObjectSecurity (o: NewObjectSecurity): { sd: SecurityDescriptor, source: 'explicit' | 'inherited' | 'default' } {
  const owner = o.explicit?.owner ?? o.owner
  const group = o.explicit?.group ?? o.group
  if (o.explicit !== undefined && o.explicit.dacl !== undefined) {
    const dacl = o.explicit.dacl === null ? null : mapAclGenericRights(o.explicit.dacl)
    const control = o.explicit.control & (SE_DACL_AUTO_INHERITED | SE_DACL_PROTECTED | SE_DACL_DEFAULTED)
    return { sd: { control, owner, group, dacl }, source: 'explicit' }
  }
  const pd = o.parent?.dacl
  if (pd != null) {
    const autoInherited = (o.parent!.control & SE_DACL_AUTO_INHERITED) !== 0
    const aces = inheritAces(pd, o.isContainer, owner, group, autoInherited)
    if (aces.length > 0) {
      return { sd: { control: autoInherited ? SE_DACL_AUTO_INHERITED : 0, owner, group, dacl: { revision: pd.revision, aces } }, source: 'inherited' }
    }
  }
  const def = o.defaultDacl()
  return { sd: { control: 0, owner, group, dacl: { revision: def.revision ?? ACL_REVISION, aces: def.aces } }, source: 'default' }
}
