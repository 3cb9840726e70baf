// The project's one map between names and SIDs: what lsarpc and samr tell clients, and what the
// security descriptors carry (S-1-22-1-<uid>, S-1-22-2-<gid> in src/wire/dtyp/security-descriptor.ts).
//
// - The server's own (account) domain is its NetBIOS name with a machine SID S-1-5-21-a-b-c,
//   derived from the name (stable across restarts without a secrets database; Samba keeps a
//   random one in secrets.tdb). Its users are the password db's: a user who is also a Unix
//   account gets Samba's algorithmic RID, 1000 + 2 × uid; one who is not, a RID from a hash of
//   the name (even-odd spacing kept: odd RIDs above 2^28). Its one group is "None" (RID 513), the
//   primary group of every user, as on a standalone Samba server.
// - Unix accounts are "Unix User\name" S-1-22-1-<uid> and "Unix Group\name" S-1-22-2-<gid>
//   (Samba's domains for ids with no Windows mapping), which is what a file's owner and group are.
// - Well-known SIDs (MS-DTYP 2.4.2.4) under their usual domains (BUILTIN, NT AUTHORITY, none).
// Sans-IO: the caller reads /etc/passwd and /etc/group (readUnixAccounts) and hands them in.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { sidFromString, sidToString, unixGroupSid, unixUserSid, type Sid } from '../wire/dtyp/sid.js'

/** MS-LSAT 2.2.13 SID_NAME_USE. */
export const SidType = { User: 1, Group: 2, Domain: 3, Alias: 4, WellKnownGroup: 5, DeletedAccount: 6, Invalid: 7, Unknown: 8, Computer: 9 } as const

/** A name and SID that belong together, with the domain the name is in. */
export interface Account {
  sid: string
  name: string
  /** The domain's name ('' for the world and creator SIDs). */
  domain: string
  /** The domain's SID (the SID itself for a domain; '' when it has none). */
  domainSid: string
  /** SidType. */
  type: number
}

/** A user of the server's own domain (samr). */
export interface DomainUser {
  rid: number
  name: string
  fullName: string
  primaryGroupRid: number
  /** The Unix account of the same name, when there is one. */
  uid?: number
}

export interface UnixAccount { name: string, id: number, gecos?: string }

export const DOMAIN_GROUP_NONE_RID = 513
export const UNIX_USER_DOMAIN = 'Unix User'
export const UNIX_GROUP_DOMAIN = 'Unix Group'
const UNIX_USER_DOMAIN_SID = sidToString(unixUserSid(0)).replace(/-0$/, '')
const UNIX_GROUP_DOMAIN_SID = sidToString(unixGroupSid(0)).replace(/-0$/, '')
export const BUILTIN_SID = 'S-1-5-32'

// MS-DTYP 2.4.2.4: the well-known SIDs the lookups resolve, with the names Windows gives them.
const WELL_KNOWN: Array<[sid: string, name: string, domain: string, domainSid: string, type: number]> = [
  ['S-1-1-0', 'Everyone', '', '', SidType.WellKnownGroup],
  ['S-1-3-0', 'CREATOR OWNER', '', '', SidType.WellKnownGroup],
  ['S-1-3-1', 'CREATOR GROUP', '', '', SidType.WellKnownGroup],
  ['S-1-5-2', 'NETWORK', 'NT AUTHORITY', 'S-1-5', SidType.WellKnownGroup],
  ['S-1-5-4', 'INTERACTIVE', 'NT AUTHORITY', 'S-1-5', SidType.WellKnownGroup],
  ['S-1-5-7', 'ANONYMOUS LOGON', 'NT AUTHORITY', 'S-1-5', SidType.WellKnownGroup],
  ['S-1-5-11', 'Authenticated Users', 'NT AUTHORITY', 'S-1-5', SidType.WellKnownGroup],
  ['S-1-5-18', 'SYSTEM', 'NT AUTHORITY', 'S-1-5', SidType.WellKnownGroup],
  [BUILTIN_SID, 'BUILTIN', 'BUILTIN', BUILTIN_SID, SidType.Domain],
  ['S-1-5-32-544', 'Administrators', 'BUILTIN', BUILTIN_SID, SidType.Alias],
  ['S-1-5-32-545', 'Users', 'BUILTIN', BUILTIN_SID, SidType.Alias],
  ['S-1-5-32-546', 'Guests', 'BUILTIN', BUILTIN_SID, SidType.Alias],
]

/** The server's machine (account domain) SID, S-1-5-21-a-b-c from its NetBIOS name. */
export function machineSid (netbiosName: string): Sid {
  const h = createHash('sha256').update('smbts machine sid\0' + netbiosName.toUpperCase()).digest()
  return { revision: 1, identifierAuthority: 5n, subAuthorities: [21, h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8)] }
}

function fnv1a (s: string): number {
  let h = 0x811c9dc5
  for (const c of Buffer.from(s, 'utf8')) h = Math.imul(h ^ c, 0x01000193) >>> 0
  return h
}

/** A password-db user's RID: 1000 + 2·uid for a Unix account, else an odd RID from the name's hash. */
export function userRid (name: string, uid: number | undefined): number {
  if (uid !== undefined && uid >= 0 && uid < 0x7ffffc00) return 1000 + 2 * uid
  return (0x10000000 | (fnv1a(name.toLowerCase()) & 0x0ffffffe) | 1) >>> 0
}

/** /etc/passwd and /etc/group, as the data plane reads them (empty lists when they cannot be read). */
export function readUnixAccounts (passwd = '/etc/passwd', group = '/etc/group'): { users: UnixAccount[], groups: UnixAccount[] } {
  const parse = (file: string, gecosField: boolean): UnixAccount[] => {
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { return [] }
    const out: UnixAccount[] = []
    for (const line of text.split('\n')) {
      const f = line.split(':')
      if (f.length < 3 || f[0] === '' || f[0]!.startsWith('#') || !/^\d+$/.test(f[2]!)) continue
      out.push({ name: f[0]!, id: Number(f[2]), ...(gecosField && f[4] !== undefined ? { gecos: f[4].split(',')[0] } : {}) })
    }
    return out
  }
  return { users: parse(passwd, true), groups: parse(group, false) }
}

/** How long unixUidOf trusts what it read of /etc/passwd. */
const PASSWD_TTL_MS = 10_000
let passwdCache: { at: number, uids: Map<string, number> } | undefined

/**
 * The uid of the Unix account named `name` (any case), or undefined: what userRid takes for a
 * session's token, read from /etc/passwd at most every PASSWD_TTL_MS.
 */
export function unixUidOf (name: string, now = Date.now()): number | undefined {
  if (passwdCache === undefined || now - passwdCache.at > PASSWD_TTL_MS) {
    passwdCache = { at: now, uids: new Map(readUnixAccounts().users.map(u => [u.name.toLowerCase(), u.id])) }
  }
  return passwdCache.uids.get(name.toLowerCase())
}

export interface IdMapInput {
  netbiosName: string
  /** The password db's user names. */
  dbUsers: Iterable<string>
  unixUsers: UnixAccount[]
  unixGroups: UnixAccount[]
}

export class IdMap {
  readonly domainName: string
  readonly domainSid: string
  private readonly byName = new Map<string, Account>()
  private readonly bySid = new Map<string, Account>()
  private readonly users: DomainUser[] = []

  constructor (input: IdMapInput) {
    this.domainName = input.netbiosName.toUpperCase()
    this.domainSid = sidToString(machineSid(input.netbiosName))
    const unixUser = new Map(input.unixUsers.map(u => [u.name.toLowerCase(), u]))
    const add = (a: Account, names: string[]): void => {
      if (!this.bySid.has(a.sid)) this.bySid.set(a.sid, a)
      for (const n of names) if (!this.byName.has(n.toLowerCase())) this.byName.set(n.toLowerCase(), a)
    }
    const dom = (name: string, sid: string, type: number): Account => ({ sid, name, domain: this.domainName, domainSid: this.domainSid, type })
    add({ ...dom(this.domainName, this.domainSid, SidType.Domain), domain: this.domainName }, [this.domainName])
    for (const n of [...input.dbUsers].sort()) {
      const u = unixUser.get(n.toLowerCase())
      const rid = userRid(n, u?.id)
      this.users.push({ rid, name: n, fullName: u?.gecos ?? '', primaryGroupRid: DOMAIN_GROUP_NONE_RID, ...(u !== undefined ? { uid: u.id } : {}) })
      add(dom(n, `${this.domainSid}-${rid}`, SidType.User), [n, `${this.domainName}\\${n}`])
    }
    add(dom('None', `${this.domainSid}-${DOMAIN_GROUP_NONE_RID}`, SidType.Group), ['None', `${this.domainName}\\None`])
    for (const [sid, name, domain, domainSid, type] of WELL_KNOWN) add({ sid, name, domain, domainSid, type }, domain === '' || type === SidType.Domain ? [name] : [name, `${domain}\\${name}`])
    add({ sid: UNIX_USER_DOMAIN_SID, name: UNIX_USER_DOMAIN, domain: UNIX_USER_DOMAIN, domainSid: UNIX_USER_DOMAIN_SID, type: SidType.Domain }, [UNIX_USER_DOMAIN])
    add({ sid: UNIX_GROUP_DOMAIN_SID, name: UNIX_GROUP_DOMAIN, domain: UNIX_GROUP_DOMAIN, domainSid: UNIX_GROUP_DOMAIN_SID, type: SidType.Domain }, [UNIX_GROUP_DOMAIN])
    // The SIDs a file's POSIX owner and group get in its security descriptor (posixSecurityDescriptor).
    for (const u of input.unixUsers) {
      add({ sid: sidToString(unixUserSid(u.id)), name: u.name, domain: UNIX_USER_DOMAIN, domainSid: UNIX_USER_DOMAIN_SID, type: SidType.User }, [u.name, `${UNIX_USER_DOMAIN}\\${u.name}`])
    }
    for (const g of input.unixGroups) {
      add({ sid: sidToString(unixGroupSid(g.id)), name: g.name, domain: UNIX_GROUP_DOMAIN, domainSid: UNIX_GROUP_DOMAIN_SID, type: SidType.Group }, [g.name, `${UNIX_GROUP_DOMAIN}\\${g.name}`])
    }
  }

  /** `name`, `DOMAIN\name` (any case); null when nothing has that name. */
  lookupName (name: string): Account | null {
    return this.byName.get(name.toLowerCase()) ?? null
  }

  /** A SID in string form; null when it is not one this server knows. */
  lookupSid (sid: string): Account | null {
    let canonical: string
    try { canonical = sidToString(sidFromString(sid)) } catch { return null }
    const a = this.bySid.get(canonical)
    if (a !== undefined) return a
    // A Unix id with no account (a file owned by a deleted user): Samba names it by number.
    const m = /^S-1-22-([12])-(\d+)$/.exec(canonical)
    if (m !== null) {
      const user = m[1] === '1'
      return { sid: canonical, name: m[2]!, domain: user ? UNIX_USER_DOMAIN : UNIX_GROUP_DOMAIN, domainSid: user ? UNIX_USER_DOMAIN_SID : UNIX_GROUP_DOMAIN_SID, type: user ? SidType.User : SidType.Group }
    }
    return null
  }

  domainUsers (): DomainUser[] {
    return [...this.users]
  }
}
