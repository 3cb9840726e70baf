// Who a session is, in SIDs (MS-DTYP 2.5.2 Token): what the access checks of CREATE and the owner
// of new files are decided with.
//
// A user's SID is the one the RPC pipes name it by (lsarpc, samr): one mapping, src/auth/idmap.ts
// (the server's machine SID from its netbios name; the user's RID from its Unix account of the same
// name when there is one, else from its name).
// Groups: Domain Users (<domain>-513), Everyone, NETWORK, Authenticated Users, BUILTIN\Users.
// A guest is <domain>-501 in Domain Guests (-514), Everyone, NETWORK and BUILTIN\Guests; an
// anonymous session is ANONYMOUS LOGON (S-1-5-7) with Everyone and NETWORK.
// `admin users` of a share are root-mapped there (as in Samba): they pass every DACL check and
// may set any owner; that is the tree's matter (TreeConnect.admin), not the token's.
import type { Token } from '../wire/dtyp/access-check.js'
import { machineSid, unixUidOf, userRid } from '../auth/idmap.js'
import {
  type Sid, SID_ANONYMOUS, SID_AUTHENTICATED_USERS, SID_BUILTIN_GUESTS, SID_BUILTIN_USERS, SID_NETWORK, SID_WORLD, sidEquals,
} from '../wire/dtyp/sid.js'

export const DOMAIN_RID_USERS = 513
export const DOMAIN_RID_GUEST = 501
export const DOMAIN_RID_GUESTS = 514

export interface SessionIdentity {
  user: string
  isGuest: boolean
  isAnonymous: boolean
}

/** A token and the primary group new files get. */
export interface SessionToken extends Token {
  primaryGroup: Sid
}

/** The server's local domain SID (S-1-5-21-a-b-c): its machine SID (idmap.ts). */
export const localDomainSid = machineSid

const withRid = (domain: Sid, rid: number): Sid => ({ ...domain, subAuthorities: [...domain.subAuthorities, rid] })

export function sessionToken (who: SessionIdentity, netbiosName: string): SessionToken {
  const domain = localDomainSid(netbiosName)
  if (who.isAnonymous) return { user: SID_ANONYMOUS, groups: [SID_WORLD, SID_NETWORK], primaryGroup: withRid(domain, DOMAIN_RID_GUESTS) }
  if (who.isGuest) {
    const guests = withRid(domain, DOMAIN_RID_GUESTS)
    return { user: withRid(domain, DOMAIN_RID_GUEST), groups: [guests, SID_WORLD, SID_NETWORK, SID_BUILTIN_GUESTS], primaryGroup: guests }
  }
  const users = withRid(domain, DOMAIN_RID_USERS)
  return {
    user: withRid(domain, userRid(who.user, unixUidOf(who.user))),
    groups: [users, SID_WORLD, SID_NETWORK, SID_AUTHENTICATED_USERS, SID_BUILTIN_USERS],
    primaryGroup: users,
  }
}

/**
 * The creator a DOS record notes for a file whose descriptor is the default one (dos-xattr.ts
 * Creator; src/smb2/file-security.ts): the user's RID in the server's domain, 0 for an anonymous
 * session; undefined for a SID elsewhere (none today: the descriptor is then stored).
 */
export function creatorOf (token: SessionToken, netbiosName: string): number | undefined {
  if (sidEquals(token.user, SID_ANONYMOUS)) return 0
  const domain = localDomainSid(netbiosName)
  const sub = token.user.subAuthorities
  if (sub.length !== domain.subAuthorities.length + 1 || !sidEquals(domain, { ...token.user, subAuthorities: sub.slice(0, -1) })) return undefined
  const rid = sub[sub.length - 1]!
  return rid === 0 ? undefined : rid
}

/** The owner and group of a file `creator` made (creatorOf's inverse, with the primary group sessionToken gives). */
export function creatorSids (creator: number, netbiosName: string): { user: Sid, primaryGroup: Sid } {
  const domain = localDomainSid(netbiosName)
  if (creator === 0) return { user: SID_ANONYMOUS, primaryGroup: withRid(domain, DOMAIN_RID_GUESTS) }
  return { user: withRid(domain, creator), primaryGroup: withRid(domain, creator === DOMAIN_RID_GUEST ? DOMAIN_RID_GUESTS : DOMAIN_RID_USERS) }
}

/**
 * The SID a file owned by `uid` names as its owner when it has no descriptor: the password-db
 * user whose Unix account has that uid (the SID its sessions have, Samba's algorithmic mapping),
 * else undefined (the caller says S-1-22-1-uid, Unix User\<uid>).
 */
export function ownerSidOfUid (uid: number, dbUsers: Iterable<string>, netbiosName: string): Sid | undefined {
  for (const name of dbUsers) {
    if (unixUidOf(name) === uid) return withRid(localDomainSid(netbiosName), userRid(name, uid))
  }
  return undefined
}
