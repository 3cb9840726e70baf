// samr (MS-SAMR), the read side a client uses to show the server's users: SamrConnect (0),
// Connect2 (57), Connect4 (62), Connect5 (64), SamrCloseHandle (1), SamrQuerySecurityObject (3),
// SamrLookupDomainInSamServer (5), SamrEnumerateDomainsInSamServer (6), SamrOpenDomain (7),
// SamrQueryInformationDomain (8, 46), SamrEnumerateUsersInDomain (13), SamrGetAliasMembership (16),
// SamrLookupNamesInDomain (17), SamrLookupIdsInDomain (18), SamrEnumerateGroupsInDomain (11),
// SamrEnumerateAliasesInDomain (15), SamrOpenGroup (19), SamrQueryInformationGroup (20),
// SamrGetMembersInGroup (25), SamrOpenAlias (27), SamrQueryInformationAlias (28),
// SamrGetMembersInAlias (33), SamrOpenUser (34), SamrQueryInformationUser (36, 47),
// SamrGetGroupsForUser (39), SamrGetUserDomainPasswordInformation (44),
// SamrQueryDisplayInformation (40, 48, 51), SamrGetDomainPasswordInformation (56). Nothing is written: the
// accounts are the password db's, administered with `smbts adduser`.
//
// Two domains, as on a standalone Samba: the server's own (its NetBIOS name, the machine SID;
// users are the password db's, the one group "None", RID 513) and Builtin (S-1-5-32; aliases
// Administrators, Users, Guests; every user of the server is in Users).
import { NdrError, NdrReader, NdrWriter } from './ndr.js'
import { mappedStatus, type DomainUser, type RpcCallContext, type RpcEnv, type RpcInterface } from './service.js'
import { NtStatus } from '../wire/ntstatus.js'
import { sidFromString, sidToString, type Sid } from '../wire/dtyp/sid.js'
import { ACCESS_ALLOWED_ACE_TYPE, ACL_REVISION, encodeSecurityDescriptor, SE_DACL_PRESENT } from '../wire/dtyp/security-descriptor.js'
import { BUILTIN_SID, DOMAIN_GROUP_NONE_RID, SidType } from '../auth/idmap.js'

/** MS-SAMR 1.9: interface 12345778-1234-abcd-ef00-0123456789ac version 1.0. */
export const SAMR_SYNTAX = { uuid: '12345778-1234-abcd-ef00-0123456789ac', version: 1 }

export const SamrOpnum = {
  Connect: 0, CloseHandle: 1, QuerySecurityObject: 3, LookupDomain: 5, EnumerateDomains: 6, OpenDomain: 7, QueryInformationDomain: 8,
  EnumerateGroups: 11, EnumerateUsers: 13, EnumerateAliases: 15, GetAliasMembership: 16, LookupNames: 17, LookupIds: 18,
  OpenGroup: 19, QueryInformationGroup: 20, GetMembersInGroup: 25, OpenAlias: 27, QueryInformationAlias: 28, GetMembersInAlias: 33, OpenUser: 34, QueryInformationUser: 36, GetGroupsForUser: 39,
  QueryDisplayInformation: 40, GetUserDomainPasswordInformation: 44, QueryInformationDomain2: 46, QueryInformationUser2: 47,
  QueryDisplayInformation2: 48, QueryDisplayInformation3: 51, GetDomainPasswordInformation: 56,
  Connect2: 57, Connect4: 62, Connect5: 64,
} as const

const H = { SERVER: 'samr.server', DOMAIN: 'samr.domain', USER: 'samr.user', GROUP: 'samr.group', ALIAS: 'samr.alias' } as const
const BUILTIN_NAME = 'Builtin'
/** MS-SAMR 2.2.1.? ACB_NORMAL | ACB_PWNOEXP: a normal account whose password does not expire. */
const ACB_NORMAL = 0x00000010
const ACB_PWNOEXP = 0x00000200
/** MS-SAMR 2.2.1.? SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED. */
const GROUP_ATTRIBUTES = 0x7
/** OLD_LARGE_INTEGER / NTTIME for "never" (MS-SAMR 2.2.7.6: 0x7FFFFFFFFFFFFFFF). */
const NEVER = 0x7fffffffffffffffn
/** A relative time of "never" (MS-SAMR 2.2.3.? MaxPasswordAge: the most negative value). */
const MAX_AGE_NEVER = 0x8000000000000000n
const BUILTIN_ALIASES: Array<[rid: number, name: string]> = [[544, 'Administrators'], [545, 'Users'], [546, 'Guests']]

interface DomainHandle { sid: string, builtin: boolean, name: string }
interface UserHandle { user: DomainUser, domainSid: string }

const nttime = (w: NdrWriter, v: bigint): NdrWriter => w.u32(Number(v & 0xffffffffn)).u32(Number(v >> 32n))

/** A unique pointer written as the top-level out parameter it is, with its pointees. */
function out<T> (w: NdrWriter, v: T | null, write: (w: NdrWriter, v: T) => void): void {
  w.pointer(v, write)
  w.flush()
}

function readServerName (r: NdrReader, single: boolean): void {
  if (single) r.pointer(rr => rr.u16()) // [unique] uint16 *system_name (SamrConnect): one character
  else r.wstringPtr()
  r.flush()
}

function connect (stub: Buffer, ctx: RpcCallContext, opnum: number): Buffer {
  const r = new NdrReader(stub)
  readServerName(r, opnum === SamrOpnum.Connect)
  if (opnum === SamrOpnum.Connect4) r.u32() // ClientRevision
  const access = r.u32()
  const w = new NdrWriter()
  if (opnum === SamrOpnum.Connect5) {
    const inVersion = r.u32()
    const arm = r.u32()
    if (inVersion !== 1 || arm !== 1) throw new NdrError(`SamrConnect5: InVersion ${inVersion}`)
    r.u32() // Revision
    r.u32() // SupportedFeatures
    // OutVersion 1, SAMPR_REVISION_INFO_V1: revision 3 (MS-SAMR 3.1.5.1.1), no optional features.
    w.u32(1).u32(1).u32(3).u32(0)
  }
  return w.handle(ctx.handles.create(H.SERVER, { access })).u32(NtStatus.SUCCESS).finish()
}

function closeHandle (stub: Buffer, ctx: RpcCallContext): Buffer {
  const ok = ctx.handles.close(new NdrReader(stub).handle())
  return new NdrWriter().handle(Buffer.alloc(20)).u32(ok ? NtStatus.SUCCESS : NtStatus.INVALID_HANDLE).finish()
}

async function domains (env: RpcEnv): Promise<DomainHandle[]> {
  const info = await env.server()
  return [{ sid: info.domainSid, builtin: false, name: info.netbiosName.toUpperCase() }, { sid: BUILTIN_SID, builtin: true, name: BUILTIN_NAME }]
}

async function lookupDomain (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  ctx.handles.get(r.handle(), H.SERVER)
  const name = r.unicodeString()
  r.flush()
  const d = (await domains(env)).find(d => d.name.toLowerCase() === (name.value ?? '').toLowerCase())
  const w = new NdrWriter()
  out(w, d === undefined ? null : sidFromString(d.sid), (w, s) => w.sid(s))
  return w.u32(d === undefined ? NtStatus.NO_SUCH_DOMAIN : NtStatus.SUCCESS).finish()
}

/** SAMPR_ENUMERATION_BUFFER answers: resume handle, the entries, their count, the status. */
function enumeration (entries: Array<{ rid: number, name: string }>, resume: number): Buffer {
  const rest = entries.slice(Math.min(resume, entries.length))
  const w = new NdrWriter()
  w.u32(0) // EnumerationContext: everything fits in one answer
  out(w, rest, (w, l) => {
    w.u32(l.length)
    w.pointer(l, (w, l) => w.conformantArray(l, (w, e) => { w.u32(e.rid).unicodeString(e.name) }))
  })
  return w.u32(rest.length).u32(NtStatus.SUCCESS).finish()
}

async function enumerateDomains (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  ctx.handles.get(r.handle(), H.SERVER)
  const resume = r.u32()
  r.u32() // PreferedMaximumLength
  return enumeration((await domains(env)).map((d, i) => ({ rid: i, name: d.name })), resume)
}

async function openDomain (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  ctx.handles.get(r.handle(), H.SERVER)
  r.u32() // DesiredAccess
  const sid = sidToString(r.sid())
  const d = (await domains(env)).find(d => d.sid === sid)
  const w = new NdrWriter()
  if (d === undefined) return w.handle(Buffer.alloc(20)).u32(NtStatus.NO_SUCH_DOMAIN).finish()
  return w.handle(ctx.handles.create(H.DOMAIN, d)).u32(NtStatus.SUCCESS).finish()
}

async function queryDomain (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  const level = r.u16()
  const info = await env.server()
  const users = d.builtin ? [] : await env.users()
  const w = new NdrWriter()
  const known = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13]
  if (!known.includes(level)) return w.u32(0).u32(NtStatus.INVALID_INFO_CLASS).finish()
  // SAMPR_DOMAIN_INFO_BUFFER (MS-SAMR 2.2.3.17): a u16 discriminant, then the arm.
  out(w, level, (w, lv) => {
    w.u16(lv)
    switch (lv) {
      case 1: // DOMAIN_PASSWORD_INFORMATION: no minimum length, no history, passwords never expire
        w.align(4).u16(0).u16(0).u32(0)
        nttime(w, MAX_AGE_NEVER); nttime(w, 0n) // MaxPasswordAge: never; MinPasswordAge: none
        break
      case 2: // DOMAIN_GENERAL_INFORMATION
        nttime(w.align(4), MAX_AGE_NEVER) // ForceLogoff: never (a relative time)
        w.unicodeString(info.serverString).unicodeString(d.name).unicodeString('')
        nttime(w, 1n) // DomainModifiedCount
        w.u32(1) // DomainServerState: enabled
        w.u32(3) // DomainServerRole: DomainServerRolePrimary (MS-SAMR 2.2.3.? has no other role for the account domain a machine owns; Windows answers so)
        w.u8(0) // UasCompatibilityRequired
        w.u32(users.length).u32(d.builtin ? 0 : 1).u32(d.builtin ? BUILTIN_ALIASES.length : 0)
        break
      case 3: nttime(w.align(4), MAX_AGE_NEVER); break // DOMAIN_LOGOFF_INFORMATION
      case 4: w.unicodeString(info.serverString); break // DOMAIN_OEM_INFORMATION
      case 5: w.unicodeString(d.name); break // DOMAIN_NAME_INFORMATION
      case 6: w.unicodeString(''); break // DOMAIN_REPLICATION_INFORMATION
      case 7: w.align(4).u32(3); break // DOMAIN_SERVER_ROLE_INFORMATION
      case 8: w.u64(1n).u64(0n); break // DOMAIN_MODIFIED_INFORMATION: count, creation time
      case 9: w.align(4).u32(1); break // DOMAIN_STATE_INFORMATION: enabled
      case 12: w.u64(0n).u64(0n).u16(0); break // DOMAIN_LOCKOUT_INFORMATION: no lockout (threshold 0)
      case 13: w.u64(1n).u64(0n).u64(0n); break // DOMAIN_MODIFIED_INFORMATION2
    }
  })
  return w.u32(NtStatus.SUCCESS).finish()
}

async function enumerateUsers (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  const resume = r.u32()
  r.u32() // UserAccountControl filter: every user here is a normal account
  r.u32() // PreferedMaximumLength
  const users = d.builtin ? [] : await env.users()
  return enumeration(users.map(u => ({ rid: u.rid, name: u.name })), resume)
}

/** SamrEnumerateGroupsInDomain / SamrEnumerateAliasesInDomain (MS-SAMR 3.1.5.2.4, 3.1.5.2.3). */
function enumerateGroupsOrAliases (stub: Buffer, ctx: RpcCallContext, aliases: boolean): Buffer {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  const resume = r.u32()
  r.u32() // PreferedMaximumLength
  const entries = aliases ? (d.builtin ? BUILTIN_ALIASES.map(([rid, name]) => ({ rid, name })) : []) : (d.builtin ? [] : [{ rid: DOMAIN_GROUP_NONE_RID, name: 'None' }])
  return enumeration(entries, resume)
}

/** SamrLookupIdsInDomain (MS-SAMR 3.1.5.11.3): RIDs of this domain to names and SID types. */
async function lookupIds (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  const count = r.u32()
  // [size_is(1000), length_is(Count)] unsigned long RelativeIds[*]
  const max = r.u32()
  const offset = r.u32()
  const actual = r.u32()
  if (count > 1000 || max > 1000 || offset !== 0 || actual !== count || actual * 4 > r.remaining) throw new NdrError(`RelativeIds: ${max}/${offset}/${actual} for Count ${count}`)
  const rids: number[] = []
  for (let i = 0; i < actual; i++) rids.push(r.u32())
  let found: Array<{ name: string, use: number } | null>
  if (d.builtin) {
    found = rids.map(rid => { const a = BUILTIN_ALIASES.find(([r]) => r === rid); return a === undefined ? null : { name: a[1], use: SidType.Alias } })
  } else {
    const accounts = await env.lookupSids(rids.map(rid => `${d.sid}-${rid}`))
    found = accounts.map(a => a === null ? null : { name: a.name, use: a.type })
  }
  const mapped = found.filter(f => f !== null).length
  const w = new NdrWriter()
  // SAMPR_RETURNED_USTRING_ARRAY Names, then SAMPR_ULONG_ARRAY Use.
  w.u32(found.length)
  w.pointer(found.length > 0 ? found : null, (w, l) => w.conformantArray(l, (w, f) => { w.unicodeString(f?.name ?? '') }))
  w.flush()
  ulongArray(w, found.map(f => f?.use ?? SidType.Unknown))
  return w.u32(mappedStatus(mapped, rids.length)).finish()
}

/**
 * SamrQueryDisplayInformation (MS-SAMR 3.1.5.3.3; 2 and 3 the same): users (level 1) or groups
 * (level 3) from Index on, at most EntryCount; STATUS_MORE_ENTRIES when some are left. Machine
 * accounts (2) there are none; the OEM-string levels (4, 5) are answered empty.
 */
async function queryDisplay (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  const level = r.u16()
  const index = r.u32()
  const entryCount = r.u32()
  r.u32() // PreferredMaximumLength
  const w = new NdrWriter()
  if (level < 1 || level > 5) return w.u32(0).u32(0).u16(level).u32(0).u32(NtStatus.INVALID_INFO_CLASS).finish()
  type Entry = { rid: number, flags: number, name: string, fullName: string }
  let all: Entry[] = []
  if (!d.builtin && level === 1) all = (await env.users()).map(u => ({ rid: u.rid, flags: ACB_NORMAL | ACB_PWNOEXP, name: u.name, fullName: u.fullName }))
  if (!d.builtin && level === 3) all = [{ rid: DOMAIN_GROUP_NONE_RID, flags: GROUP_ATTRIBUTES, name: 'None', fullName: '' }]
  const page = all.slice(Math.min(index, all.length), Math.min(index, all.length) + Math.min(entryCount, 1000)).map((e, i) => ({ ...e, idx: index + i + 1 }))
  const more = index + page.length < all.length
  w.u32(page.length * 64).u32(page.length * 64) // TotalAvailable, TotalReturned: bytes, as Windows counts them roughly
  w.u16(level)
  w.u32(page.length)
  w.pointer(page.length > 0 ? page : null, (w, l) => w.conformantArray(l, (w, e) => {
    w.u32(e.idx).u32(e.rid).u32(e.flags).unicodeString(e.name).unicodeString('')
    if (level === 1) w.unicodeString(e.fullName)
  }))
  w.flush()
  return w.u32(more ? NtStatus.MORE_ENTRIES : NtStatus.SUCCESS).finish()
}

interface MemberOf { domain: DomainHandle, rid: number, name: string }

/** SamrOpenGroup (3.1.5.1.7: the account domain's None) and SamrOpenAlias (3.1.5.1.8: Builtin's aliases). */
function openGroupOrAlias (stub: Buffer, ctx: RpcCallContext, alias: boolean): Buffer {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  r.u32() // DesiredAccess
  const rid = r.u32()
  const name = alias
    ? (d.builtin ? BUILTIN_ALIASES.find(([r]) => r === rid)?.[1] : undefined)
    : (!d.builtin && rid === DOMAIN_GROUP_NONE_RID ? 'None' : undefined)
  const w = new NdrWriter()
  if (name === undefined) return w.handle(Buffer.alloc(20)).u32(alias ? NtStatus.NO_SUCH_ALIAS : NtStatus.NO_SUCH_GROUP).finish()
  return w.handle(ctx.handles.create(alias ? H.ALIAS : H.GROUP, { domain: d, rid, name } satisfies MemberOf)).u32(NtStatus.SUCCESS).finish()
}

/** The members: every user of the server is in None and in BUILTIN\Users; the other aliases are empty. */
async function members (env: RpcEnv, m: MemberOf): Promise<DomainUser[]> {
  return m.rid === DOMAIN_GROUP_NONE_RID || m.rid === 545 ? await env.users() : []
}

/** SamrQueryInformationGroup (MS-SAMR 3.1.5.5.1) and SamrQueryInformationAlias (3.1.5.6.1). */
async function queryGroupOrAlias (stub: Buffer, env: RpcEnv, ctx: RpcCallContext, alias: boolean): Promise<Buffer> {
  const r = new NdrReader(stub)
  const m = ctx.handles.get<MemberOf>(r.handle(), alias ? H.ALIAS : H.GROUP).data
  const level = r.u16()
  const w = new NdrWriter()
  const levels = alias ? [1, 2, 3] : [1, 2, 3, 4, 5]
  if (!levels.includes(level)) return w.u32(0).u32(NtStatus.INVALID_INFO_CLASS).finish()
  const count = (await members(env, m)).length
  const description = m.rid === DOMAIN_GROUP_NONE_RID ? 'Ordinary Users' : ''
  out(w, level, (w, lv) => {
    w.u16(lv)
    if (alias) {
      // ALIAS_GENERAL_INFORMATION, ALIAS_NAME_INFORMATION, ALIAS_ADM_COMMENT_INFORMATION
      if (lv === 1) w.unicodeString(m.name).u32(count).unicodeString(description)
      else w.unicodeString(lv === 2 ? m.name : description)
    } else if (lv === 1 || lv === 5) {
      w.unicodeString(m.name).u32(GROUP_ATTRIBUTES).u32(count).unicodeString(description) // GROUP_GENERAL_INFORMATION
    } else if (lv === 3) {
      w.align(4).u32(GROUP_ATTRIBUTES)
    } else {
      w.unicodeString(lv === 2 ? m.name : description)
    }
  })
  return w.u32(NtStatus.SUCCESS).finish()
}

/** SamrGetMembersInGroup (MS-SAMR 3.1.5.8.3): RIDs and attributes. */
async function groupMembers (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const m = ctx.handles.get<MemberOf>(new NdrReader(stub).handle(), H.GROUP).data
  const rids = (await members(env, m)).map(u => u.rid)
  const w = new NdrWriter()
  out(w, rids, (w, l) => {
    w.u32(l.length)
    w.pointer(l.length > 0 ? l : null, (w, l) => w.conformantArray(l, (w, v) => w.u32(v)))
    w.pointer(l.length > 0 ? l : null, (w, l) => w.conformantArray(l, (w) => w.u32(GROUP_ATTRIBUTES)))
  })
  return w.u32(NtStatus.SUCCESS).finish()
}

/** SamrGetMembersInAlias (MS-SAMR 3.1.5.8.4): the members' SIDs. */
async function aliasMembers (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const m = ctx.handles.get<MemberOf>(new NdrReader(stub).handle(), H.ALIAS).data
  const info = await env.server()
  const sids = (await members(env, m)).map(u => sidFromString(`${info.domainSid}-${u.rid}`))
  const w = new NdrWriter()
  // SAMPR_PSID_ARRAY_OUT, returned in place: Count, then a pointer to an array of pointers to SIDs.
  w.u32(sids.length)
  w.pointer(sids.length > 0 ? sids : null, (w, l) => w.conformantArray(l, (w, s) => { w.sidPtr(s) }))
  w.flush()
  return w.u32(NtStatus.SUCCESS).finish()
}

/** SamrGetDomainPasswordInformation (MS-SAMR 3.1.5.13.3): no handle; the domain's password rules. */
function getDomainPasswordInfo (stub: Buffer): Buffer {
  const r = new NdrReader(stub)
  r.pointer(rr => { rr.unicodeString() }) // Unused: PRPC_STRING
  r.flush()
  return new NdrWriter().u16(0).u32(0).u32(NtStatus.SUCCESS).finish()
}

/** SAMPR_ULONG_ARRAY: Count, then a pointer to the values. */
const ulongArray = (w: NdrWriter, values: number[]): void => {
  w.u32(values.length)
  w.pointer(values.length > 0 ? values : null, (w, l) => w.conformantArray(l, (w, v) => w.u32(v)))
  w.flush()
}

async function getAliasMembership (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  const count = r.u32()
  const box = r.pointer(rr => {
    const n = rr.count(4, 'SidArray')
    if (n !== count) throw new NdrError(`SidArray: ${n} elements for Count ${count}`)
    const ps: Array<{ value: Sid | null }> = []
    for (let i = 0; i < n; i++) ps.push(rr.pointer(x => x.sid()))
    return ps
  })
  r.flush()
  const sids = (box.value ?? []).flatMap(b => b.value === null ? [] : [sidToString(b.value)])
  let aliases: number[] = []
  if (d.builtin) {
    // Every user of the server's own domain is a member of BUILTIN\Users.
    const info = await env.server()
    const userSids = new Set((await env.users()).map(u => `${info.domainSid}-${u.rid}`))
    if (sids.some(s => userSids.has(s))) aliases = [545]
  }
  const w = new NdrWriter()
  ulongArray(w, aliases)
  return w.u32(NtStatus.SUCCESS).finish()
}

async function lookupNames (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  const count = r.u32()
  // [size_is(1000), length_is(Count)] RPC_UNICODE_STRING Names[*]: a conformant varying array.
  const max = r.u32()
  const offset = r.u32()
  const actual = r.u32()
  if (count > 1000 || max > 1000 || offset !== 0 || actual !== count || actual * 8 > r.remaining) throw new NdrError(`Names: ${max}/${offset}/${actual} for Count ${count}`)
  const boxes: Array<{ value: string | null }> = []
  for (let i = 0; i < actual; i++) boxes.push(r.unicodeString())
  r.flush()
  const names = boxes.map(b => b.value ?? '')
  let found: Array<{ rid: number, use: number } | null>
  if (d.builtin) {
    found = names.map(n => { const a = BUILTIN_ALIASES.find(([, name]) => name.toLowerCase() === n.toLowerCase()); return a === undefined ? null : { rid: a[0], use: SidType.Alias } })
  } else {
    // MS-SAMR 3.1.5.11.2: names are looked up in this domain only.
    const accounts = await env.lookupNames(names.map(n => `${d.name}\\${n}`))
    found = accounts.map(a => a === null || a.domainSid !== d.sid || a.type === SidType.Domain ? null : { rid: sidFromString(a.sid).subAuthorities.at(-1)!, use: a.type })
  }
  const mapped = found.filter(f => f !== null).length
  const w = new NdrWriter()
  ulongArray(w, found.map(f => f?.rid ?? 0))
  ulongArray(w, found.map(f => f?.use ?? SidType.Unknown))
  return w.u32(mappedStatus(mapped, names.length)).finish()
}

async function openUser (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  const d = ctx.handles.get<DomainHandle>(r.handle(), H.DOMAIN).data
  r.u32() // DesiredAccess
  const rid = r.u32()
  const user = d.builtin ? undefined : (await env.users()).find(u => u.rid === rid)
  const w = new NdrWriter()
  if (user === undefined) return w.handle(Buffer.alloc(20)).u32(NtStatus.NO_SUCH_USER).finish()
  return w.handle(ctx.handles.create(H.USER, { user, domainSid: d.sid } satisfies UserHandle)).u32(NtStatus.SUCCESS).finish()
}

const USER_LEVELS = new Set([1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 21])

/** The logon hours every user has: all 168 hours of the week (SAMPR_LOGON_HOURS). */
function logonHours (w: NdrWriter): void {
  w.align(4).u16(168)
  w.pointer(Buffer.alloc(21, 0xff), (w, b) => { w.u32(1260).u32(0).u32(b.length).bytes(b) })
}

function queryUser (stub: Buffer, ctx: RpcCallContext): Buffer {
  const r = new NdrReader(stub)
  const { user: u } = ctx.handles.get<UserHandle>(r.handle(), H.USER).data
  const level = r.u16()
  const w = new NdrWriter()
  if (!USER_LEVELS.has(level)) return w.u32(0).u32(NtStatus.INVALID_INFO_CLASS).finish()
  const flags = ACB_NORMAL | ACB_PWNOEXP
  // SAMPR_USER_INFO_BUFFER (MS-SAMR 2.2.6.29): a u16 discriminant, then the arm.
  out(w, level, (w, lv) => {
    w.u16(lv)
    switch (lv) {
      case 1: w.unicodeString(u.name).unicodeString(u.fullName).u32(u.primaryGroupRid).unicodeString('').unicodeString(''); break
      case 3:
        w.unicodeString(u.name).unicodeString(u.fullName).u32(u.rid).u32(u.primaryGroupRid)
        for (let i = 0; i < 5; i++) w.unicodeString('') // home directory, drive, logon script, profile path, workstations
        for (const t of [0n, 0n, 0n, 0n, NEVER]) nttime(w, t) // last logon, logoff, password change, allow change, force change
        logonHours(w)
        w.u16(0).u16(0).u32(flags)
        break
      case 5:
        w.unicodeString(u.name).unicodeString(u.fullName).u32(u.rid).u32(u.primaryGroupRid)
        for (let i = 0; i < 6; i++) w.unicodeString('') // home directory, drive, logon script, profile path, description, workstations
        nttime(w, 0n); nttime(w, 0n)
        logonHours(w)
        w.u16(0).u16(0)
        nttime(w, 0n); nttime(w, NEVER) // last password change, account expires: never
        w.u32(flags)
        break
      case 6: w.unicodeString(u.name).unicodeString(u.fullName); break
      case 7: w.unicodeString(u.name); break
      case 8: w.unicodeString(u.fullName); break
      case 9: w.align(4).u32(u.primaryGroupRid); break
      case 10: w.unicodeString('').unicodeString(''); break
      case 11: case 12: case 13: case 14: w.unicodeString(''); break
      case 16: w.align(4).u32(flags); break
      case 17: nttime(w.align(4), NEVER); break
      case 21: {
        // SAMPR_USER_ALL_INFORMATION (MS-SAMR 2.2.6.6); no password material is ever sent.
        w.align(4)
        for (const t of [0n, 0n, 0n, NEVER, 0n, NEVER]) nttime(w, t) // last logon, logoff, password change, account expires, can change, must change
        w.unicodeString(u.name).unicodeString(u.fullName)
        for (let i = 0; i < 7; i++) w.unicodeString('') // home directory, drive, logon script, profile path, admin comment, workstations, user comment
        w.unicodeString(null) // Parameters
        w.unicodeString(null).unicodeString(null).unicodeString(null) // LmOwfPassword, NtOwfPassword, PrivateData
        w.u32(0).pointer(null, () => {}) // SecurityDescriptor
        w.u32(u.rid).u32(u.primaryGroupRid).u32(flags)
        w.u32(0x00ffffff & ~0x00200000) // WhichFields: what is filled in, Parameters excepted
        logonHours(w)
        w.u16(0).u16(0).u16(0).u16(0) // BadPasswordCount, LogonCount, CountryCode, CodePage
        w.u8(1).u8(0).u8(0).u8(0) // NtPasswordPresent, LmPasswordPresent, PasswordExpired, PrivateDataSensitive
        break
      }
    }
  })
  return w.u32(NtStatus.SUCCESS).finish()
}

function getGroupsForUser (stub: Buffer, ctx: RpcCallContext): Buffer {
  const { user } = ctx.handles.get<UserHandle>(new NdrReader(stub).handle(), H.USER).data
  const w = new NdrWriter()
  // SAMPR_GET_GROUPS_BUFFER: the user's one group, its primary ("None", RID 513).
  out(w, [user.primaryGroupRid], (w, l) => {
    w.u32(l.length)
    w.pointer(l, (w, l) => w.conformantArray(l, (w, rid) => { w.u32(rid).u32(GROUP_ATTRIBUTES) }))
  })
  return w.u32(NtStatus.SUCCESS).finish()
}

function getUserPasswordInfo (stub: Buffer, ctx: RpcCallContext): Buffer {
  ctx.handles.get(new NdrReader(stub).handle(), H.USER)
  // USER_DOMAIN_PASSWORD_INFORMATION: no minimum length, no password properties.
  return new NdrWriter().u16(0).u32(0).u32(NtStatus.SUCCESS).finish()
}

// Generic rights as the SAM grants them (MS-SAMR 2.2.1.?): read/execute to everyone, all to administrators.
const SAM_READ_EXECUTE = 0x00020000 | 0x00000010 | 0x00000020 | 0x00000001 // READ_CONTROL | ENUM_DOMAINS | OPEN_DOMAIN | CONNECT
const DOMAIN_READ_EXECUTE = 0x00020000 | 0x00000080 | 0x00000004 | 0x00000200 | 0x00000100 | 0x00000001
const USER_READ = 0x0002031b
const USER_SELF = 0x00020044 | USER_READ
const ALL = 0x000f07ff

/** SamrQuerySecurityObject (MS-SAMR 3.1.5.12.2): a fixed DACL per object type. */
function querySecurity (stub: Buffer, ctx: RpcCallContext): Buffer {
  const r = new NdrReader(stub)
  const h = ctx.handles.get<unknown>(r.handle(), H.SERVER, H.DOMAIN, H.USER, H.GROUP, H.ALIAS)
  r.u32() // SecurityInformation: the whole descriptor is returned, as Windows does for SAM objects
  const admins = sidFromString('S-1-5-32-544')
  const world = sidFromString('S-1-1-0')
  const aces = [{ sid: world, mask: h.kind === H.USER ? USER_READ : h.kind === H.DOMAIN ? DOMAIN_READ_EXECUTE : SAM_READ_EXECUTE }, { sid: admins, mask: ALL }]
  if (h.kind === H.USER) {
    const { user, domainSid } = h.data as UserHandle
    aces.push({ sid: sidFromString(`${domainSid}-${user.rid}`), mask: USER_SELF })
  }
  const sd = encodeSecurityDescriptor({
    control: SE_DACL_PRESENT,
    owner: admins,
    group: admins,
    dacl: { revision: ACL_REVISION, aces: aces.map(a => ({ type: ACCESS_ALLOWED_ACE_TYPE, flags: 0, mask: a.mask >>> 0, sid: a.sid })) },
  })
  const w = new NdrWriter()
  // PSAMPR_SR_SECURITY_DESCRIPTOR: Length, then a pointer to the self-relative descriptor's bytes.
  out(w, sd, (w, b) => {
    w.u32(b.length)
    w.pointer(b, (w, b) => { w.u32(b.length).bytes(b) })
  })
  return w.u32(NtStatus.SUCCESS).finish()
}

export const samr: RpcInterface = {
  name: 'samr',
  syntax: SAMR_SYNTAX,
  async call (opnum, stub, env, ctx) {
    switch (opnum) {
      case SamrOpnum.Connect:
      case SamrOpnum.Connect2:
      case SamrOpnum.Connect4:
      case SamrOpnum.Connect5: return connect(stub, ctx, opnum)
      case SamrOpnum.CloseHandle: return closeHandle(stub, ctx)
      case SamrOpnum.QuerySecurityObject: return querySecurity(stub, ctx)
      case SamrOpnum.LookupDomain: return await lookupDomain(stub, env, ctx)
      case SamrOpnum.EnumerateDomains: return await enumerateDomains(stub, env, ctx)
      case SamrOpnum.OpenDomain: return await openDomain(stub, env, ctx)
      case SamrOpnum.QueryInformationDomain:
      case SamrOpnum.QueryInformationDomain2: return await queryDomain(stub, env, ctx)
      case SamrOpnum.EnumerateUsers: return await enumerateUsers(stub, env, ctx)
      case SamrOpnum.EnumerateGroups: return enumerateGroupsOrAliases(stub, ctx, false)
      case SamrOpnum.EnumerateAliases: return enumerateGroupsOrAliases(stub, ctx, true)
      case SamrOpnum.LookupIds: return await lookupIds(stub, env, ctx)
      case SamrOpnum.GetDomainPasswordInformation: return getDomainPasswordInfo(stub)
      case SamrOpnum.OpenGroup: return openGroupOrAlias(stub, ctx, false)
      case SamrOpnum.OpenAlias: return openGroupOrAlias(stub, ctx, true)
      case SamrOpnum.QueryInformationGroup: return await queryGroupOrAlias(stub, env, ctx, false)
      case SamrOpnum.QueryInformationAlias: return await queryGroupOrAlias(stub, env, ctx, true)
      case SamrOpnum.GetMembersInGroup: return await groupMembers(stub, env, ctx)
      case SamrOpnum.GetMembersInAlias: return await aliasMembers(stub, env, ctx)
      case SamrOpnum.QueryDisplayInformation:
      case SamrOpnum.QueryDisplayInformation2:
      case SamrOpnum.QueryDisplayInformation3: return await queryDisplay(stub, env, ctx)
      case SamrOpnum.GetAliasMembership: return await getAliasMembership(stub, env, ctx)
      case SamrOpnum.LookupNames: return await lookupNames(stub, env, ctx)
      case SamrOpnum.OpenUser: return await openUser(stub, env, ctx)
      case SamrOpnum.QueryInformationUser:
      case SamrOpnum.QueryInformationUser2: return queryUser(stub, ctx)
      case SamrOpnum.GetGroupsForUser: return getGroupsForUser(stub, ctx)
      case SamrOpnum.GetUserDomainPasswordInformation: return getUserPasswordInfo(stub, ctx)
      default: return undefined
    }
  },
}
