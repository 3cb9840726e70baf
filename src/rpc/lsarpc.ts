// lsarpc (MS-LSAD policy handles and information, MS-LSAT name/SID translation): what a client
// uses to show the names behind the SIDs of a security descriptor, and to find the server's
// domain SID. LsarClose (0), LsarOpenPolicy (6) and LsarOpenPolicy2 (44),
// LsarQueryInformationPolicy (7) and ...2 (46), LsarLookupNames (14), ...2 (58), ...3 (68),
// ...4 (77), LsarLookupSids (15), ...2 (57), ...3 (76), LsarGetUserName (45). The names and SIDs come from the data
// plane (RpcEnv.lookupNames/lookupSids → src/auth/idmap.ts), the one map the project has.
import { NdrError, NdrReader, NdrWriter } from './ndr.js'
import { mappedStatus, type Account, type RpcCallContext, type RpcEnv, type RpcInterface } from './service.js'
import { NtStatus } from '../wire/ntstatus.js'
import { sidFromString, sidToString, type Sid } from '../wire/dtyp/sid.js'
import { SidType } from '../auth/idmap.js'

/** MS-LSAT 1.9 / MS-LSAD 1.9: interface 12345778-1234-abcd-ef00-0123456789ab version 0.0. */
export const LSARPC_SYNTAX = { uuid: '12345778-1234-abcd-ef00-0123456789ab', version: 0 }

export const LsaOpnum = {
  Close: 0, OpenPolicy: 6, QueryInformationPolicy: 7, LookupNames: 14, LookupSids: 15, OpenPolicy2: 44,
  GetUserName: 45, QueryInformationPolicy2: 46, LookupSids2: 57, LookupNames2: 58, LookupNames3: 68, LookupSids3: 76, LookupNames4: 77,
} as const

/** MS-LSAD 2.2.4.1 POLICY_INFORMATION_CLASS values answered. */
export const PolicyInfo = { PrimaryDomain: 3, AccountDomain: 5, DnsDomain: 12 } as const

const POLICY = 'lsa.policy'
/** Most names or SIDs one look-up may carry (Windows: 20480 SIDs, MS-LSAT 3.1.4.5). */
const MAX_LOOKUP = 1000

/** The domain a SID's RID is relative to: the SID without its last sub-authority. */
const parentSid = (s: Sid): Sid => ({ ...s, subAuthorities: s.subAuthorities.slice(0, -1) })

/** LSAPR_OBJECT_ATTRIBUTES (MS-LSAD 2.2.9): read to get past it; nothing in it changes the answer. */
function readObjectAttributes (r: NdrReader): void {
  r.u32() // Length
  r.pointer(rr => rr.u8()) // RootDirectory
  r.pointer(rr => { // ObjectName: STRING
    const len = rr.u16()
    const max = rr.u16()
    if (len > max) throw new NdrError('STRING: Length > MaximumLength')
    rr.pointer(x => { const m = x.u32(); x.u32(); const a = x.u32(); if (a > m) throw new NdrError('STRING: actual > max'); x.bytes(a) })
  })
  r.u32() // Attributes
  r.pointer(() => { throw new NdrError('LSAPR_OBJECT_ATTRIBUTES: a security descriptor is not expected') })
  r.pointer(rr => { rr.u32(); rr.u16(); rr.u8(); rr.u8() }) // SECURITY_QUALITY_OF_SERVICE
}

function openPolicy (stub: Buffer, ctx: RpcCallContext, v2: boolean): Buffer {
  const r = new NdrReader(stub)
  if (v2) r.wstringPtr()
  else r.pointer(rr => rr.u16()) // [unique] wchar_t *SystemName: one character
  r.flush()
  readObjectAttributes(r)
  r.flush()
  const desiredAccess = r.u32()
  const h = ctx.handles.create(POLICY, { desiredAccess })
  return new NdrWriter().handle(h).u32(NtStatus.SUCCESS).finish()
}

function close (stub: Buffer, ctx: RpcCallContext): Buffer {
  const h = new NdrReader(stub).handle()
  const ok = ctx.handles.close(h)
  return new NdrWriter().handle(Buffer.alloc(20)).u32(ok ? NtStatus.SUCCESS : NtStatus.INVALID_HANDLE).finish()
}

async function queryInfoPolicy (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  ctx.handles.get(r.handle(), POLICY)
  const cls = r.u16()
  const info = await env.server()
  const w = new NdrWriter()
  // A standalone server: its primary domain is its workgroup, with no SID (MS-LSAD 3.1.4.4.3);
  // its account domain is itself, with the machine SID (3.1.4.4.5).
  switch (cls) {
    case PolicyInfo.PrimaryDomain:
    case PolicyInfo.AccountDomain:
    case PolicyInfo.DnsDomain:
      w.pointer(cls, (w, c) => {
        w.align(4).u16(c).align(4)
        if (c === PolicyInfo.AccountDomain) { w.unicodeString(info.netbiosName.toUpperCase()).sidPtr(sidFromString(info.domainSid)); return }
        w.unicodeString(info.workgroup.toUpperCase())
        if (c === PolicyInfo.DnsDomain) w.unicodeString('').unicodeString('').bytes(Buffer.alloc(16)) // DnsDomainName, DnsForestName, DomainGuid
        w.sidPtr(null)
      })
      w.flush()
      w.u32(NtStatus.SUCCESS)
      break
    default:
      w.u32(0).u32(NtStatus.INVALID_PARAMETER)
  }
  return w.finish()
}

/** The referenced-domain list of a look-up answer, built as entries are added (MS-LSAT 2.2.12). */
class ReferencedDomains {
  readonly list: Array<{ name: string, sid: Sid }> = []

  index (name: string, sid: Sid): number {
    const s = sidToString(sid)
    const i = this.list.findIndex(d => sidToString(d.sid) === s)
    if (i >= 0) return i
    this.list.push({ name, sid })
    return this.list.length - 1
  }

  write (w: NdrWriter): void {
    w.pointer(this.list, (w, l) => {
      w.u32(l.length)
      w.pointer(l, (w, l) => w.conformantArray(l, (w, d) => { w.unicodeString(d.name).sidPtr(d.sid) }))
      w.u32(32) // MaxEntries
    })
    w.flush()
  }
}

interface Translated { use: number, name: string, sid: Sid | null, rid: number, domainIndex: number }

function translate (a: Account | null, domains: ReferencedDomains): Translated {
  if (a === null) return { use: SidType.Unknown, name: '', sid: null, rid: 0, domainIndex: -1 }
  const sid = sidFromString(a.sid)
  if (a.type === SidType.Domain) return { use: a.type, name: a.name, sid, rid: 0xffffffff, domainIndex: domains.index(a.name, sid) }
  const dsid = a.domainSid !== '' ? sidFromString(a.domainSid) : parentSid(sid)
  return { use: a.type, name: a.name, sid, rid: sid.subAuthorities.at(-1) ?? 0, domainIndex: domains.index(a.domain, dsid) }
}

/** [in, out] LSAPR_TRANSLATED_* on the way in: clients send it empty. */
function readEmptyTranslated (r: NdrReader): void {
  r.u32()
  r.pointer(() => { throw new NdrError('translated list: the client sent entries') })
  r.flush()
}

async function lookupSids (stub: Buffer, env: RpcEnv, ctx: RpcCallContext, opnum: number): Promise<Buffer> {
  const r = new NdrReader(stub)
  if (opnum !== LsaOpnum.LookupSids3) ctx.handles.get(r.handle(), POLICY)
  // LSAPR_SID_ENUM_BUFFER: Entries, then a pointer to an array of pointers to SIDs.
  const entries = r.u32()
  const box = r.pointer(rr => {
    const n = rr.count(4, 'SidInfo')
    if (n !== entries) throw new NdrError(`SidInfo: ${n} elements for Entries ${entries}`)
    const ptrs: Array<{ value: Sid | null }> = []
    for (let i = 0; i < n; i++) ptrs.push(rr.pointer(x => x.sid()))
    return ptrs
  })
  r.flush()
  const sids = (box.value ?? []).map(b => b.value)
  if (sids.length > MAX_LOOKUP) throw new NdrError(`${sids.length} SIDs in one look-up (at most ${MAX_LOOKUP})`)
  readEmptyTranslated(r)
  r.u16() // LookupLevel
  r.u32() // MappedCount
  if (opnum !== LsaOpnum.LookupSids) { r.u32(); r.u32() } // LookupOptions, ClientRevision

  const answers = await env.lookupSids(sids.map(s => s === null ? '' : sidToString(s)))
  const domains = new ReferencedDomains()
  const names = answers.map(a => translate(a, domains))
  const mapped = names.filter(n => n.use !== SidType.Unknown).length
  const ex = opnum !== LsaOpnum.LookupSids
  const w = new NdrWriter()
  domains.write(w)
  // LSAPR_TRANSLATED_NAMES(_EX): Use, Name, DomainIndex (, Flags).
  w.u32(names.length)
  w.pointer(names, (w, l) => w.conformantArray(l, (w, n) => {
    w.u16(n.use).unicodeString(n.name).i32(n.domainIndex)
    if (ex) w.u32(0)
  }))
  w.flush()
  w.u32(mapped)
  w.u32(mappedStatus(mapped, names.length))
  return w.finish()
}

async function lookupNames (stub: Buffer, env: RpcEnv, ctx: RpcCallContext, opnum: number): Promise<Buffer> {
  const r = new NdrReader(stub)
  if (opnum !== LsaOpnum.LookupNames4) ctx.handles.get(r.handle(), POLICY)
  const count = r.u32()
  if (count > MAX_LOOKUP) throw new NdrError(`${count} names in one look-up (at most ${MAX_LOOKUP})`)
  const n = r.count(8, 'Names')
  if (n !== count) throw new NdrError(`Names: ${n} elements for Count ${count}`)
  const boxes: Array<{ value: string | null }> = []
  for (let i = 0; i < n; i++) boxes.push(r.unicodeString())
  r.flush()
  readEmptyTranslated(r)
  r.u16() // LookupLevel
  r.u32() // MappedCount
  if (opnum !== LsaOpnum.LookupNames) { r.u32(); r.u32() } // LookupOptions, ClientRevision

  const answers = await env.lookupNames(boxes.map(b => b.value ?? ''))
  const domains = new ReferencedDomains()
  const sids = answers.map(a => translate(a, domains))
  const mapped = sids.filter(s => s.use !== SidType.Unknown).length
  const w = new NdrWriter()
  domains.write(w)
  w.u32(sids.length)
  w.pointer(sids, (w, l) => w.conformantArray(l, (w, s) => {
    w.u16(s.use)
    // LSAPR_TRANSLATED_SID: RelativeId; _EX: RelativeId and Flags; _EX2: the whole SID and Flags.
    if (opnum === LsaOpnum.LookupNames3 || opnum === LsaOpnum.LookupNames4) w.sidPtr(s.sid)
    else w.u32(s.rid)
    w.i32(s.domainIndex)
    if (opnum !== LsaOpnum.LookupNames) w.u32(0)
  }))
  w.flush()
  w.u32(mapped)
  w.u32(mappedStatus(mapped, sids.length))
  return w.finish()
}

/** LsarGetUserName (MS-LSAT 3.1.4.4): the pipe's user, and its domain when the client asks. */
async function getUserName (stub: Buffer, env: RpcEnv, ctx: RpcCallContext): Promise<Buffer> {
  const r = new NdrReader(stub)
  r.wstringPtr() // SystemName
  r.flush()
  r.pointer(rr => rr.unicodeString()) // [in, out] PRPC_UNICODE_STRING *UserName: what the client sent is not used
  r.flush()
  const wantDomain = r.pointer(rr => rr.pointer(x => x.unicodeString()))
  r.flush()
  const [account] = ctx.user === '' ? [null] : await env.lookupNames([ctx.user])
  const domain = account?.domain ?? (await env.server()).netbiosName.toUpperCase()
  const name = account?.name ?? (ctx.user === '' ? 'ANONYMOUS LOGON' : ctx.user)
  const w = new NdrWriter()
  w.pointer(name, (w, n) => w.unicodeString(n))
  w.flush()
  if (wantDomain.value === null) w.u32(0)
  else w.pointer(domain, (w, d) => w.pointer(d, (w, d) => w.unicodeString(d)))
  w.flush()
  return w.u32(NtStatus.SUCCESS).finish()
}

export const lsarpc: RpcInterface = {
  name: 'lsarpc',
  syntax: LSARPC_SYNTAX,
  async call (opnum, stub, env, ctx) {
    switch (opnum) {
      case LsaOpnum.Close: return close(stub, ctx)
      case LsaOpnum.OpenPolicy: return openPolicy(stub, ctx, false)
      case LsaOpnum.OpenPolicy2: return openPolicy(stub, ctx, true)
      case LsaOpnum.GetUserName: return await getUserName(stub, env, ctx)
      case LsaOpnum.QueryInformationPolicy:
      case LsaOpnum.QueryInformationPolicy2: return await queryInfoPolicy(stub, env, ctx)
      case LsaOpnum.LookupSids:
      case LsaOpnum.LookupSids2:
      case LsaOpnum.LookupSids3: return await lookupSids(stub, env, ctx, opnum)
      case LsaOpnum.LookupNames:
      case LsaOpnum.LookupNames2:
      case LsaOpnum.LookupNames3:
      case LsaOpnum.LookupNames4: return await lookupNames(stub, env, ctx, opnum)
      default: return undefined
    }
  },
}
