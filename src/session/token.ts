// Who a session is, in SIDs (MS-DTYP 2.5.2 Token): what the access checks of CREATE and the owner
// of new files are decided with.
//
// smbts users live in a ksmbd-style password database, not in /etc/passwd, and the server writes
// files as one POSIX identity. So a user's SID is its own, made stable without a database:
//   - the server's local domain SID S-1-5-21-a-b-c, the three sub-authorities taken from
//     SHA-256("smbts domain:" + upper-cased netbios name): the same on every start and every
//     worker, different between servers of different names (as Samba's machine SID is);
//   - the user's RID: 1000 + the first 31 bits of SHA-256("smbts user:" + lower-cased user name)
//     reduced below 2^31 - 1000 (user names compare case-insensitively, as logons do).
//   Two names meeting on one RID would be one identity: among 10,000 users that chance is
//   about 2 in 100,000. (A Samba or Windows domain would give RIDs from a database.)
// Groups: Domain Users (<domain>-513), Everyone, NETWORK, Authenticated Users, BUILTIN\Users.
// A guest is <domain>-501 in Domain Guests (-514), Everyone, NETWORK and BUILTIN\Guests; an
// anonymous session is ANONYMOUS LOGON (S-1-5-7) with Everyone and NETWORK.
// `admin users` of a share are root-mapped there (as in Samba): they pass every DACL check and
// may set any owner; that is the tree's matter (TreeConnect.admin), not the token's.
import { createHash } from 'node:crypto'
import type { Token } from '../wire/dtyp/access-check.js'
import {
  type Sid, SID_ANONYMOUS, SID_AUTHENTICATED_USERS, SID_BUILTIN_GUESTS, SID_BUILTIN_USERS, SID_NETWORK, SID_REVISION, SID_WORLD,
} from '../wire/dtyp/sid.js'

export const DOMAIN_RID_USERS = 513
export const DOMAIN_RID_GUEST = 501
export const DOMAIN_RID_GUESTS = 514
const FIRST_USER_RID = 1000

export interface SessionIdentity {
  user: string
  isGuest: boolean
  isAnonymous: boolean
}

/** A token and the primary group new files get. */
export interface SessionToken extends Token {
  primaryGroup: Sid
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

/** The server's local domain SID (S-1-5-21-a-b-c) from its netbios name. */
export function localDomainSid (netbiosName: string): Sid {
  const d = digest('smbts domain:' + netbiosName.toUpperCase())
  return { revision: SID_REVISION, identifierAuthority: 5n, subAuthorities: [21, d.readUInt32LE(0), d.readUInt32LE(4), d.readUInt32LE(8)] }
}

export function userRid (user: string): number {
  const d = digest('smbts user:' + user.toLowerCase())
  return FIRST_USER_RID + ((d.readUInt32LE(0) & 0x7fffffff) % (0x7fffffff - FIRST_USER_RID))
}

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
    user: withRid(domain, userRid(who.user)),
    groups: [users, SID_WORLD, SID_NETWORK, SID_AUTHENTICATED_USERS, SID_BUILTIN_USERS],
    primaryGroup: users,
  }
}
