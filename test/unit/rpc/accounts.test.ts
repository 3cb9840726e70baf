// lsarpc, dssetup and samr over the sans-IO services: impacket's request stubs (byte fixtures), the
// answers decoded field by field, context handles, and every truncation or corrupted byte of each
// request ending in NdrError or a fault (RpcFault), nothing else.
import t from 'tap'
import { NdrError, NdrReader } from '../../../src/rpc/ndr.js'
import { lsarpc, LsaOpnum } from '../../../src/rpc/lsarpc.js'
import { samr, SamrOpnum } from '../../../src/rpc/samr.js'
import { dssetup } from '../../../src/rpc/dssetup.js'
import { RpcFault, FAULT_CONTEXT_MISMATCH, type RpcCallContext, type RpcInterface } from '../../../src/rpc/service.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'
import { sidToString } from '../../../src/wire/dtyp/sid.js'
import { testCallContext, testIdMap, testRpcEnv } from '../../helpers/rpc-env.js'
import * as F from '../../fixtures/rpc-accounts.js'

const env = testRpcEnv()
const idmap = testIdMap()
const hex = (s: string): Buffer => Buffer.from(s, 'hex')
const withHandle = (fixture: string, h: Buffer): Buffer => Buffer.concat([h, hex(fixture).subarray(20)])
const call = async (i: RpcInterface, opnum: number, stub: Buffer, ctx: RpcCallContext): Promise<Buffer> => (await i.call(opnum, stub, env, ctx))!
const status = (b: Buffer): number => b.readUInt32LE(b.length - 4)

/** A RPC_UNICODE_STRING's deferred text read back. */
const str = (r: NdrReader): { value: string | null } => r.unicodeString()

async function lsaPolicy (ctx: RpcCallContext): Promise<Buffer> {
  const out = await call(lsarpc, LsaOpnum.OpenPolicy2, hex(F.LSA_OPEN_POLICY2), ctx)
  t.equal(status(out), NtStatus.SUCCESS)
  return out.subarray(0, 20)
}

t.test('lsarpc: OpenPolicy2, QueryInfoPolicy2 (account domain), Close', async t => {
  const ctx = testCallContext()
  const h = await lsaPolicy(ctx)
  const q = await call(lsarpc, LsaOpnum.QueryInformationPolicy2, withHandle(F.LSA_QUERY_INFO2_ACCOUNT, h), ctx)
  const r = new NdrReader(q)
  t.not(r.u32(), 0, 'a pointer to the information')
  t.equal(r.u16(), 5, 'PolicyAccountDomainInformation')
  r.align(4)
  const name = str(r)
  const sid = r.pointer(x => x.sid())
  r.flush()
  t.equal(name.value, 'SMBTS-TEST')
  t.equal(sidToString(sid.value!), idmap.domainSid)
  t.equal(r.u32(), NtStatus.SUCCESS)
  const c = await call(lsarpc, LsaOpnum.Close, h, ctx)
  t.same(c, Buffer.concat([Buffer.alloc(20), Buffer.alloc(4)]), 'zeroed handle, STATUS_SUCCESS')
  t.equal(status(await call(lsarpc, LsaOpnum.Close, h, ctx)), NtStatus.INVALID_HANDLE, 'closed twice')
  await t.rejects(call(lsarpc, LsaOpnum.QueryInformationPolicy2, withHandle(F.LSA_QUERY_INFO2_ACCOUNT, h), ctx), new RpcFault(FAULT_CONTEXT_MISMATCH, ''), 'a closed handle faults')
})

t.test('lsarpc: LookupNames3 and LookupSids2 with impacket\'s stubs', async t => {
  const ctx = testCallContext()
  const h = await lsaPolicy(ctx)
  const n = new NdrReader(await call(lsarpc, LsaOpnum.LookupNames3, withHandle(F.LSA_LOOKUP_NAMES3, h), ctx))
  // ReferencedDomains
  n.pointer(x => {
    const entries = x.u32()
    x.pointer(y => { y.u32(); for (let i = 0; i < entries; i++) { str(y); y.pointer(z => z.sid()) } })
    x.u32()
  })
  n.flush()
  const count = n.u32()
  t.equal(count, 2)
  const sids = n.pointer(x => {
    x.u32()
    const out: Array<{ use: number, sid: { value: ReturnType<NdrReader['sid']> | null }, index: number }> = []
    for (let i = 0; i < count; i++) {
      const use = x.u16()
      const sid = x.pointer(y => y.sid())
      out.push({ use, sid, index: (x.u32() | 0) })
      x.u32()
    }
    return out
  })
  n.flush()
  t.equal(n.u32(), 2, 'MappedCount')
  t.equal(n.u32(), NtStatus.SUCCESS)
  t.same(sids.value!.map(s => [s.use, sidToString(s.sid.value!)]), [[1, idmap.lookupName('alice')!.sid], [1, 'S-1-22-1-0']])
  t.equal(idmap.lookupName('alice')!.sid, `${idmap.domainSid}-${1000 + 2 * 1001}`, 'alice is Unix uid 1001: RID 1000 + 2·uid')

  const s = await call(lsarpc, LsaOpnum.LookupSids2, withHandle(F.LSA_LOOKUP_SIDS2, h), ctx)
  t.equal(status(s), NtStatus.SUCCESS)
  t.ok(s.includes(Buffer.from('Unix User', 'utf16le')) && s.includes(Buffer.from('Everyone', 'utf16le')) && s.includes(Buffer.from('root', 'utf16le')))
})

t.test('dssetup: a standalone server in its workgroup', async t => {
  const r = new NdrReader(await call(dssetup, 0, hex(F.DSSETUP_BASIC), testCallContext()))
  r.u32()
  t.equal(r.u16(), 1)
  r.align(4)
  t.equal(r.u16(), 2, 'DsRole_RoleStandaloneServer')
  r.u32()
  const flat = r.wstringPtr()
  r.wstringPtr(); r.wstringPtr(); r.bytes(16)
  r.flush()
  t.equal(flat.value, 'WORKGROUP')
  t.equal(r.u32(), 0)
})

t.test('samr: Connect5, OpenDomain (Builtin), LookupNames, OpenUser, QueryUserInfo2 level 21', async t => {
  const ctx = testCallContext()
  const c = await call(samr, SamrOpnum.Connect5, hex(F.SAMR_CONNECT5), ctx)
  t.same(c.subarray(0, 16), hex('01000000010000000300000000000000'), 'OutVersion 1, revision 3')
  const server = c.subarray(16, 36)
  const b = await call(samr, SamrOpnum.OpenDomain, withHandle(F.SAMR_OPEN_DOMAIN_BUILTIN, server), ctx)
  t.equal(status(b), NtStatus.SUCCESS, 'Builtin opens')
  const builtin = b.subarray(0, 20)
  const ln = await call(samr, SamrOpnum.LookupNames, withHandle(F.SAMR_LOOKUP_NAMES, builtin), ctx)
  t.equal(status(ln), NtStatus.NONE_MAPPED, 'alice is no alias of Builtin')
  // The account domain: its SID in the OpenDomain stub instead of S-1-5-32.
  const dsid = idmap.domainSid.split('-').slice(3).map(Number)
  const sidBytes = Buffer.alloc(12 + 4 * dsid.length)
  sidBytes.writeUInt32LE(dsid.length, 0); sidBytes[4] = 1; sidBytes[5] = dsid.length; sidBytes[11] = 5
  dsid.forEach((v, i) => sidBytes.writeUInt32LE(v, 12 + 4 * i))
  const od = await call(samr, SamrOpnum.OpenDomain, Buffer.concat([server, hex('00000002'), sidBytes]), ctx)
  t.equal(status(od), NtStatus.SUCCESS)
  const dom = od.subarray(0, 20)
  const lookup = await call(samr, SamrOpnum.LookupNames, withHandle(F.SAMR_LOOKUP_NAMES, dom), ctx)
  // RelativeIds {Count 1, ptr, [max 1, rid]}, Use {Count 1, ptr, [max 1, use]}, status
  t.equal(lookup.readUInt32LE(12), 3002, 'RID of alice')
  t.equal(lookup.readUInt32LE(28), 1, 'SidTypeUser')
  t.equal(status(lookup), NtStatus.SUCCESS)
  const ou = await call(samr, SamrOpnum.OpenUser, Buffer.concat([dom, hex('1b010200'), hex('ba0b0000')]), ctx)
  t.equal(status(ou), NtStatus.SUCCESS)
  const user = ou.subarray(0, 20)
  const q = await call(samr, SamrOpnum.QueryInformationUser2, withHandle(F.SAMR_QUERY_USER2_ALL, user), ctx)
  t.equal(status(q), NtStatus.SUCCESS)
  t.ok(q.includes(Buffer.from('Alice Liddell', 'utf16le')), 'full name from the Unix account')
  t.equal(status(await call(samr, SamrOpnum.OpenUser, Buffer.concat([dom, hex('1b010200'), hex('39300000')]), ctx)), NtStatus.NO_SUCH_USER)
  await t.rejects(call(samr, SamrOpnum.QueryInformationUser2, withHandle(F.SAMR_QUERY_USER2_ALL, dom), ctx), RpcFault, 'a domain handle is no user handle')
})

t.test('every truncation and corrupted byte of each request: NdrError or a fault, never anything else', async t => {
  const ctx = testCallContext()
  const h = await lsaPolicy(ctx)
  const c = await call(samr, SamrOpnum.Connect5, hex(F.SAMR_CONNECT5), ctx)
  const server = c.subarray(16, 36)
  const cases: Array<[RpcInterface, number, Buffer]> = [
    [lsarpc, LsaOpnum.OpenPolicy2, hex(F.LSA_OPEN_POLICY2)],
    [lsarpc, LsaOpnum.LookupNames3, withHandle(F.LSA_LOOKUP_NAMES3, h)],
    [lsarpc, LsaOpnum.LookupSids2, withHandle(F.LSA_LOOKUP_SIDS2, h)],
    [lsarpc, LsaOpnum.QueryInformationPolicy2, withHandle(F.LSA_QUERY_INFO2_ACCOUNT, h)],
    [samr, SamrOpnum.Connect5, hex(F.SAMR_CONNECT5)],
    [samr, SamrOpnum.OpenDomain, withHandle(F.SAMR_OPEN_DOMAIN_BUILTIN, server)],
    [dssetup, 0, hex(F.DSSETUP_BASIC)],
  ]
  let n = 0
  for (const [i, opnum, stub] of cases) {
    const variants: Buffer[] = []
    for (let cut = 0; cut < stub.length; cut++) variants.push(stub.subarray(0, cut))
    for (let k = 20; k < stub.length; k++) for (const v of [0, 0xff, 0x7f]) { const m = Buffer.from(stub); m[k] = v; variants.push(m) }
    for (const v of variants) {
      n++
      try { await i.call(opnum, v, env, ctx) } catch (e) { if (!(e instanceof NdrError) && !(e instanceof RpcFault)) t.fail(`${i.name} ${opnum}: ${(e as Error).stack}`) }
    }
  }
  t.ok(n > 500, `${n} variants`)
  t.ok(ctx.handles.size <= 1024, 'handles stay bounded')
})
