// What a file's NT security descriptor decides at CREATE (MS-SMB2 3.3.5.9, MS-FSA 2.1.5.1.2.1
// "Algorithm to Check Access to an Existing File", MS-DTYP 2.5.3.2 and 2.5.3.4), in the order
// Samba's smbd applies it: the share's rules first (the tree's maximal access, done by CREATE),
// then the stored DACL, then the POSIX side (the server writes as one identity: the share's
// create mask and READONLY, as before).
//
// - A file with a stored descriptor (user.smbts.ntacl, or Samba's security.NTACL), or the default
//   one its DOS record stands for (below), is checked against its DACL with the session's token
//   (session/token.ts). A file without one (made outside
//   the server, or before descriptors decided anything) is opened as before: the share decides.
// - FILE_READ_ATTRIBUTES is not checked (whoever may list the parent has it, MS-FSA), and DELETE
//   refused by the file's DACL is granted when the parent's DACL grants FILE_DELETE_CHILD.
// - MAXIMUM_ALLOWED is what the DACL grants, plus FILE_READ_ATTRIBUTES, plus DELETE when the parent
//   allows deleting children, within the share's rights.
// - A new file or directory is checked against its parent's stored DACL (FILE_ADD_FILE or
//   FILE_ADD_SUBDIRECTORY) and gets a descriptor: the SMB2_CREATE_SD_BUFFER one, else the parent's
//   inheritable ACEs, else the default DACL below. Its owner is the creator's SID.
// - The default descriptor is not stored, as Samba stores none when nothing is inherited: the DOS
//   record (dos-xattr.ts, written anyway) notes the creator's RID and the mode's group and other
//   bits, and the descriptor is derived from them whenever it is needed (fileDescriptor), the same
//   one every time (a later chmod narrows it as it narrows a stored one).
//   A security.NTACL beside the DOS record would not fit in an ext4 inode: the file would take an
//   xattr block, and report an AllocationSize of 4096 while empty. The file's POSIX owner cannot
//   say who the creator is: every file is the server's one POSIX identity's (docs/acls.md).
// - The default DACL, when nothing is inherited: the creator full control, then the new entry's
//   mode (the share's create or directory mask, the umask) for the rest, as POSIX would: its group
//   bits for the creator's primary group, its other bits for Everyone (0744: both may read).
// - Then the POSIX mode: a chmod made outside the server after the DACL was stored takes from
//   SMB clients of that class what it took (rightsRemovedByMode); it never gives.
// - `admin users` (root-mapped) pass every check, as root passes Samba's.
import type { RequestContext } from './context.js'
import type { Session, TreeConnect } from '../session/model.js'
import type { Logger } from '../control/log.js'
import { creatorOf, creatorSids, sessionToken, type SessionToken } from '../session/token.js'
import { AccessMask, FILE_ALL_ACCESS } from '../wire/constants.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import { accessCheck, modeFromDacl, rightsRemovedByMode, tokenHasSid } from '../wire/dtyp/access-check.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACL_REVISION, accessMaskFromRwx, encodeSecurityDescriptor, parseSecurityDescriptor,
  type Ace, type Acl, type SecurityDescriptor,
} from '../wire/dtyp/security-descriptor.js'
import { createObjectSecurity } from '../wire/dtyp/inherit.js'
import { SID_WORLD, sidToString, type Sid } from '../wire/dtyp/sid.js'
import { parentOf, type ShareFs, type Stat, type VfsFile } from '../vfs/backend.js'
import type { Creator } from '../vfs/dos-xattr.js'

export function tokenOf (session: Session, netbiosName: string, log?: Logger): SessionToken {
  if (session.token !== undefined) return session.token
  session.token = sessionToken(session, netbiosName)
  // No lsarpc yet to turn SIDs into names: the log says whose SID is whose.
  if (log?.wants('auth') === true) log.debug('auth', `session 0x${session.sessionId.toString(16)}: ${session.isAnonymous ? 'anonymous' : session.isGuest ? 'guest' : session.user} is ${sidToString(session.token.user)}`)
  return session.token
}

/** The default descriptor a file's recorded creator stands for (see the header). */
export function creatorDescriptor (creator: Creator, isDirectory: boolean, netbiosName: string): SecurityDescriptor {
  const who = creatorSids(creator.rid, netbiosName)
  return createObjectSecurity({
    isContainer: isDirectory,
    owner: who.user,
    group: who.primaryGroup,
    defaultDacl: () => defaultDacl(who.user, who.primaryGroup, creator.mode, isDirectory),
  }).sd
}

/**
 * A file's descriptor: the stored one, else the one derived from its recorded creator (a file
 * smbts made with the default descriptor); undefined when neither (a file made outside the server:
 * the share decides, and QUERY_INFO describes it from its POSIX owner and mode). `st`: the file's
 * stat when the caller has it (else the open's, else one is made when nothing is stored).
 */
export async function fileDescriptor (file: VfsFile, netbiosName: string, st?: Pick<Stat, 'creator'>): Promise<SecurityDescriptor | undefined> {
  const stored = await file.getSecurityDescriptor()
  if (stored !== undefined) return stored
  const s = st ?? file.openStat ?? await file.stat()
  return s.creator === undefined ? undefined : creatorDescriptor(s.creator, file.isDirectory, netbiosName)
}

/** The descriptor of `rel` (read through `handle` when the caller has one open), or undefined. */
export async function storedDescriptor (fs: ShareFs, rel: string, isDirectory: boolean, netbiosName: string, handle?: VfsFile, st?: Stat): Promise<SecurityDescriptor | undefined> {
  if (handle !== undefined) return await fileDescriptor(handle, netbiosName, st)
  let f: VfsFile
  try {
    f = await fs.open(rel, { write: false, directory: isDirectory })
  } catch {
    return undefined // gone or not openable: the open that follows says why
  }
  try {
    return await fileDescriptor(f, netbiosName, st)
  } finally {
    await f.close().catch(() => {})
  }
}

/** Never refused by a DACL: whoever may list the parent reads a file's attributes (MS-FSA 2.1.5.1.2.1). */
const NOT_CHECKED = AccessMask.FILE_READ_ATTRIBUTES

export interface ExistingAccess {
  /** The rights the open is granted (what FileAccessInformation shows). */
  granted: number
  /** What this session may do with the file (MAXIMUM_ALLOWED, and the MxAc context's answer). */
  maximal: number
}

/**
 * The access an open of an existing file gets, or ACCESS_DENIED. `explicit`: the rights asked for
 * by name (generic ones mapped); `maximum`: MAXIMUM_ALLOWED was asked; `wantMaximal`: the caller
 * needs `maximal` exact (MAXIMUM_ALLOWED, or an MxAc context). Without a stored descriptor (or for
 * an admin) undefined: the caller goes on as before, the share deciding.
 */
export async function decideExistingAccess (ctx: RequestContext, o: {
  rel: string
  isDirectory: boolean
  explicit: number
  maximum: boolean
  wantMaximal: boolean
  /** SUPERSEDE / OVERWRITE / OVERWRITE_IF: truncating needs FILE_WRITE_DATA, asked or not (as Samba checks). */
  overwrite: boolean
  /** The file's stat: a chmod made outside the server narrows what the DACL gives (rightsRemovedByMode); its creator (fileDescriptor). */
  st: Stat
  handle?: VfsFile
}): Promise<ExistingAccess | undefined> {
  const tree = ctx.tree!
  if (tree.admin) return undefined
  const netbiosName = ctx.server.config.global.netbiosName
  const sd = await storedDescriptor(tree.fs!, o.rel, o.isDirectory, netbiosName, o.handle, o.st)
  if (sd === undefined) return undefined
  const token = tokenOf(ctx.session!, netbiosName, ctx.server.log)
  const asked = ((o.explicit | (o.overwrite ? AccessMask.FILE_WRITE_DATA : 0)) & ~NOT_CHECKED) >>> 0
  const d = accessCheck(sd, token, asked, true)
  let maximal = d.granted
  let rejected = d.rejected
  // Then the POSIX mode: what a chmod took from this user's class since the DACL was stored.
  const byMode = rightsRemovedByMode(sd, token, o.st.mode, o.isDirectory)
  if (byMode !== 0) {
    maximal &= ~byMode
    if ((asked & byMode & ~rejected) !== 0 && ctx.server.log.wants('vfs')) {
      ctx.server.log.debug('vfs', `access denied to ${tree.shareName}/${o.rel} for ${describe(ctx.session!, token.user)}: the mode 0${(o.st.mode & 0o777).toString(8)} (changed outside the server) refuses 0x${(asked & byMode).toString(16)} the DACL grants`)
    }
    rejected |= asked & byMode
  }
  // DELETE through the parent (MS-FSA 2.1.5.1.2.1: FILE_DELETE_CHILD on the parent grants it).
  const askDelete = (rejected & AccessMask.DELETE) !== 0 || (o.wantMaximal && (maximal & AccessMask.DELETE) === 0)
  if (askDelete && o.rel !== '' && await parentAllows(ctx, o.rel, AccessMask.FILE_DELETE_CHILD)) {
    rejected &= ~AccessMask.DELETE
    maximal |= AccessMask.DELETE
  }
  if (rejected !== 0) {
    if (ctx.server.log.wants('vfs')) {
      ctx.server.log.debug('vfs', `access denied to ${tree.shareName}/${o.rel} for ${describe(ctx.session!, token.user)}: asked 0x${o.explicit.toString(16)}${o.maximum ? '+MAXIMUM_ALLOWED' : ''}, the DACL refuses 0x${rejected.toString(16)}`)
    }
    throw new NtStatusError(NtStatus.ACCESS_DENIED, `the DACL of ${o.rel} refuses 0x${rejected.toString(16)}`)
  }
  maximal = ((maximal | AccessMask.FILE_READ_ATTRIBUTES) & tree.maximalAccess) >>> 0
  // Asked by name: exactly that (smbtorture smb2.acls.OWNER reads FileAccessInformation back).
  return { granted: o.maximum ? (maximal | o.explicit) >>> 0 : o.explicit >>> 0, maximal }
}

/** Whether the parent directory of `rel` grants `mask` (true when it stores no descriptor: the share decides). */
async function parentAllows (ctx: RequestContext, rel: string, mask: number): Promise<boolean> {
  const tree = ctx.tree!
  const sd = await storedDescriptor(tree.fs!, parentOf(rel), true, ctx.server.config.global.netbiosName)
  if (sd === undefined) return true
  const token = tokenOf(ctx.session!, ctx.server.config.global.netbiosName, ctx.server.log)
  return accessCheck(sd, token, mask).rejected === 0
}

const describe = (session: Session, sid: Sid): string => `${session.isAnonymous ? 'anonymous' : session.isGuest ? 'guest' : session.user} (${sidToString(sid)})`

/**
 * The parent's stored descriptor, after checking that it lets this session add the new entry
 * (FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY). Undefined: the parent stores none.
 */
export async function checkParentForCreate (ctx: RequestContext, rel: string, isDirectory: boolean): Promise<SecurityDescriptor | undefined> {
  const tree = ctx.tree!
  const sd = await storedDescriptor(tree.fs!, parentOf(rel), true, ctx.server.config.global.netbiosName)
  if (sd === undefined || tree.admin) return sd
  const token = tokenOf(ctx.session!, ctx.server.config.global.netbiosName, ctx.server.log)
  const need = isDirectory ? AccessMask.FILE_APPEND_DATA : AccessMask.FILE_WRITE_DATA // FILE_ADD_SUBDIRECTORY / FILE_ADD_FILE
  if (accessCheck(sd, token, need).rejected !== 0) {
    if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `adding ${tree.shareName}/${rel} denied for ${describe(ctx.session!, token.user)}: the parent's DACL refuses ${isDirectory ? 'FILE_ADD_SUBDIRECTORY' : 'FILE_ADD_FILE'}`)
    throw new NtStatusError(NtStatus.ACCESS_DENIED, `the parent of ${rel} refuses adding entries`)
  }
  return sd
}

/**
 * The owner a client may give a file (SET_INFO OWNER, or the SecD context): itself or one of its
 * groups (Windows' SE_GROUP_OWNER, loosely); any SID for a root-mapped admin.
 */
export function ownerAllowed (tree: TreeConnect, token: SessionToken, owner: Sid): boolean {
  return tree.admin || tokenHasSid(token, owner)
}

/** The SMB2_CREATE_SD_BUFFER context's descriptor, checked (MS-SMB2 2.2.13.2.2; MS-FSA 2.1.5.1.2.1). */
export function parseCreateSd (ctx: RequestContext, data: Buffer): SecurityDescriptor {
  let sd: SecurityDescriptor
  try {
    sd = parseSecurityDescriptor(data)
  } catch (e) {
    throw new NtStatusError(NtStatus.INVALID_SECURITY_DESCR, `SecD create context: ${(e as Error).message}`)
  }
  if (sd.sacl !== undefined && sd.sacl !== null && sd.sacl.aces.length > 0) {
    throw new NtStatusError(NtStatus.PRIVILEGE_NOT_HELD, 'a SACL needs SeSecurityPrivilege, which no session holds')
  }
  delete sd.sacl
  const token = tokenOf(ctx.session!, ctx.server.config.global.netbiosName, ctx.server.log)
  if (sd.owner !== undefined && !ownerAllowed(ctx.tree!, token, sd.owner)) {
    throw new NtStatusError(NtStatus.INVALID_OWNER, `SecD create context: owner ${sidToString(sd.owner)} is not the creator's`)
  }
  return sd
}

/** The default DACL for a new object (see the header). */
function defaultDacl (creator: Sid, group: Sid, mode: number, isDirectory: boolean): Acl {
  const aces: Ace[] = [{ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: FILE_ALL_ACCESS, sid: creator }]
  const g = accessMaskFromRwx((mode >> 3) & 7, isDirectory)
  const w = accessMaskFromRwx(mode & 7, isDirectory)
  if (g !== 0) aces.push({ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: g, sid: group })
  if (w !== 0) aces.push({ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: w, sid: SID_WORLD })
  return { revision: ACL_REVISION, aces }
}

/** A new object's descriptor when it is not stored: what the DOS record must note, and what to store if it cannot. */
export interface PendingSecurity {
  creator: Creator
  sd: SecurityDescriptor
}

/**
 * Gives a new file or directory its descriptor (stored through `file`). `parent`: the parent's
 * descriptor; `explicit`: the SecD context's. The default descriptor is not stored (see the
 * header): the result says which creator the DOS record must note; the caller writes it with the
 * new file's attributes, then confirms it with keepPendingSecurity.
 */
export async function storeNewObjectSecurity (ctx: RequestContext, file: VfsFile, o: {
  rel: string
  isDirectory: boolean
  parent?: SecurityDescriptor
  explicit?: SecurityDescriptor
}): Promise<PendingSecurity | undefined> {
  const netbiosName = ctx.server.config.global.netbiosName
  const token = tokenOf(ctx.session!, netbiosName, ctx.server.log)
  // The mode the new entry really got (the share's mask, the process umask, READONLY): the default
  // DACL says what it says, so the two agree from the start.
  const st = await file.stat()
  const { sd, source } = createObjectSecurity({
    parent: o.parent,
    isContainer: o.isDirectory,
    owner: token.user,
    group: token.primaryGroup,
    explicit: o.explicit,
    defaultDacl: () => defaultDacl(token.user, token.primaryGroup, st.mode, o.isDirectory),
  })
  const rid = source === 'default' && o.explicit === undefined ? creatorOf(token, netbiosName) : undefined
  const creator = rid === undefined ? undefined : { rid, mode: st.mode & 0o77 }
  const what = `${ctx.tree!.shareName}/${o.rel}: descriptor ${source}, owner ${sidToString(sd.owner!)}, ${sd.dacl === null ? 'NULL DACL' : `${sd.dacl?.aces.length ?? 0} ACEs`}`
  if (creator !== undefined) {
    if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', `${what}, derived from the creator and the mode (not stored)`)
    return { creator, sd }
  }
  await file.setSecurityDescriptor(encodeSecurityDescriptor(sd))
  // Only an inherited or given DACL moves the mode; the default one was made from it.
  if (source !== 'default') await keepModeInStep(file, st, sd)
  if (ctx.server.log.wants('vfs')) ctx.server.log.debug('vfs', what)
  return undefined
}

/**
 * After the new object's DOS record was written with `pending.creator`: `st` is the stat made
 * after it. Where the record could not be kept (a file system without user xattrs, a share with
 * `store dos attributes = no`), the descriptor is stored after all.
 */
export async function keepPendingSecurity (file: VfsFile, pending: PendingSecurity | undefined, st: Stat): Promise<void> {
  if (pending === undefined || (st.creator?.rid === pending.creator.rid && st.creator.mode === pending.creator.mode)) return
  await file.setSecurityDescriptor(encodeSecurityDescriptor(pending.sd))
}

/**
 * The POSIX mode follows a DACL a client sets or a new file inherits, so local users of the share
 * see what SMB clients see: the group bits from what the DACL grants the group SID, the other bits
 * from what it grants Everyone (modeFromDacl). The user bits stay the server's: every file is
 * the server's own POSIX identity's, whoever its NT owner is, so they keep rw (rwx for a directory;
 * a file's x from the NT owner's FILE_EXECUTE), and a file's READONLY (its mode's lack of write
 * bits, posix.ts) is kept as it is. A chmod made outside the server does not rewrite the stored
 * DACL: the DACL keeps deciding for SMB clients (docs/acls.md).
 */
export async function keepModeInStep (file: VfsFile, st: Stat, sd: SecurityDescriptor): Promise<void> {
  if (file.chmod === undefined) return
  const fromDacl = modeFromDacl(sd)
  let perm = (fromDacl & 0o077) | (st.isDirectory ? 0o700 : 0o600 | (fromDacl & 0o100))
  if (!st.isDirectory && (st.mode & 0o222) === 0) perm &= ~0o222
  const mode = (st.mode & 0o7000) | perm
  if (mode === (st.mode & 0o7777)) return
  await file.chmod(mode)
}
