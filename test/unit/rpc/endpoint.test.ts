// The sans-IO pipe endpoint: bind negotiation (NDR64 and bind-time features per MS-RPCE 3.3.1.5.3),
// request reassembly, response fragmentation, faults, message-mode reads and transact.
import t from 'tap'
import { testCallContext } from '../../helpers/rpc-env.js'
import { MAX_FRAG, RpcPipeError, openRpcPipe, rpcPipeName, type RpcPipe } from '../../../src/rpc/endpoint.js'
import {
  ContResult, FaultStatus, NDR20, NDR64, PType, PfcFlags, ProviderReason, RejectReason, decodeBindAck, decodeCommonHeader,
  encodeBind, encodeRequest, type PresentationContext,
} from '../../../src/rpc/pdu.js'
import { srvsvc, SRVSVC_SYNTAX } from '../../../src/rpc/srvsvc.js'
import { WKSSVC_SYNTAX } from '../../../src/rpc/wkssvc.js'
import type { RpcEnv, RpcShare } from '../../../src/rpc/service.js'
import { RPCCLIENT_BIND, RPCCLIENT_SHARE_ENUM_ALL, SHARE_ENUM_ENV_SHARES, SMBTS_SHARE_ENUM_ALL_RESPONSE } from '../../fixtures/rpc-pdus.js'

const envWith = (shares: RpcShare[]): RpcEnv => ({
  server: async () => ({ netbiosName: 'SMBTS-TEST', workgroup: 'WORKGROUP', serverString: 'SMB SERVER', domainSid: 'S-1-5-21-1-2-3' }),
  lookupNames: async (n) => n.map(() => null),
  lookupSids: async (s) => s.map(() => null),
  users: async () => [],
  shares: async () => shares,
})
const env = envWith(SHARE_ENUM_ENV_SHARES)
const FEATURES = { uuid: '6cb71c2c-9812-4540-0300-000000000000', version: 1 }

function open (name = 'srvsvc', e = env): RpcPipe {
  const p = openRpcPipe(name, e)
  if (p === undefined) throw new Error('no pipe')
  return p
}
const readAll = (p: RpcPipe): Buffer[] => {
  const out: Buffer[] = []
  for (let r = p.read(65536); r !== undefined; r = p.read(65536)) out.push(r.data)
  return out
}
const bind = (contexts: PresentationContext[], o: { ptype?: number, maxRecvFrag?: number, callId?: number } = {}): Buffer =>
  encodeBind({ ptype: o.ptype, callId: o.callId ?? 1, maxXmitFrag: 4280, maxRecvFrag: o.maxRecvFrag ?? 4280, assocGroupId: 0, contexts })

t.test('pipe names', async t => {
  for (const n of ['srvsvc', 'SRVSVC', '\\srvsvc', '\\PIPE\\srvsvc', '\\pipe\\SrvSvc', 'pipe\\srvsvc']) t.equal(rpcPipeName(n), 'srvsvc', n)
  t.equal(rpcPipeName('wkssvc'), 'wkssvc')
  for (const n of ['lsarpc', '\\PIPE\\lsarpc', 'samr', '\\samr', 'SAMR']) t.equal(rpcPipeName(n), n.replace(/^.*\\/, '').toLowerCase(), n)
  for (const n of ['spoolss', 'netlogon', '', '\\', 'srvsvc\\x', 'toString', '__proto__']) t.equal(openRpcPipe(n, env), undefined, JSON.stringify(n))
})

t.test('rpcclient\'s BIND is accepted; NetShareEnumAll answers in one fragment', async t => {
  const p = open()
  await p.write(RPCCLIENT_BIND)
  const [ack] = readAll(p)
  const a = decodeBindAck(ack)
  t.equal(a.ptype, PType.BIND_ACK)
  t.equal(a.secondaryAddress, '\\PIPE\\srvsvc')
  t.same(a.results, [{ result: ContResult.ACCEPTANCE, reason: 0, transferSyntax: NDR20 }])
  const r = await p.transact(RPCCLIENT_SHARE_ENUM_ALL, 4280)
  t.equal(r.more, false)
  t.same(r.data, SMBTS_SHARE_ENUM_ALL_RESPONSE)
})

t.test('NDR64 is rejected, bind-time feature negotiation acknowledged (MS-RPCE 3.3.1.5.3)', async t => {
  const p = open()
  await p.write(bind([
    { contextId: 0, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR64] },
    { contextId: 1, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] },
    { contextId: 2, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [FEATURES] },
    { contextId: 3, abstractSyntax: WKSSVC_SYNTAX, transferSyntaxes: [NDR20] },
    { contextId: 4, abstractSyntax: { uuid: SRVSVC_SYNTAX.uuid, version: 2 }, transferSyntaxes: [NDR20] },
  ]))
  const a = decodeBindAck(readAll(p)[0])
  t.same(a.results.map(r => [r.result, r.reason]), [
    [ContResult.PROVIDER_REJECTION, ProviderReason.PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED],
    [ContResult.ACCEPTANCE, 0],
    [ContResult.NEGOTIATE_ACK, 0],
    [ContResult.PROVIDER_REJECTION, ProviderReason.ABSTRACT_SYNTAX_NOT_SUPPORTED],
    [ContResult.PROVIDER_REJECTION, ProviderReason.ABSTRACT_SYNTAX_NOT_SUPPORTED],
  ])
  // a request on a rejected context: nca_s_unknown_if; on the accepted one: an answer
  const stub = decodeRequest(RPCCLIENT_SHARE_ENUM_ALL)
  await p.write(encodeRequest({ callId: 2, contextId: 0, opnum: 15, stub }))
  const [f] = readAll(p)
  t.equal(f[2], PType.FAULT)
  t.equal(f.readUInt32LE(24), FaultStatus.UNKNOWN_IF)
  await p.write(encodeRequest({ callId: 3, contextId: 1, opnum: 15, stub }))
  t.equal(readAll(p)[0][2], PType.RESPONSE)
})

function decodeRequest (pdu: Buffer): Buffer { return pdu.subarray(24) }

t.test('BIND_NAK: second bind, auth, no contexts, tiny fragments; ALTER_CONTEXT adds contexts', async t => {
  const p = open()
  await p.write(bind([{ contextId: 0, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] }]))
  readAll(p)
  await p.write(bind([{ contextId: 1, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] }], { callId: 2 }))
  let [n] = readAll(p)
  t.equal(n[2], PType.BIND_NAK, 'a second BIND')
  await p.write(bind([{ contextId: 5, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] }], { ptype: PType.ALTER_CONTEXT, callId: 3 }))
  const [alt] = readAll(p)
  const a = decodeBindAck(alt)
  t.equal(a.ptype, PType.ALTER_CONTEXT_RESP)
  t.equal(a.secondaryAddress, '')
  t.equal(a.results[0].result, ContResult.ACCEPTANCE)

  const q = open()
  await q.write(bind([]))
  ;[n] = readAll(q)
  t.equal(n[2], PType.BIND_NAK, 'no contexts')
  t.equal(n.readUInt16LE(16), RejectReason.NOT_SPECIFIED)
  const r = open()
  await r.write(bind([{ contextId: 0, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] }], { maxRecvFrag: 100 }))
  t.equal(readAll(r)[0][2], PType.BIND_NAK, 'max_recv_frag below 1432')
  const s = open()
  const withAuth = Buffer.concat([RPCCLIENT_BIND, Buffer.from([10, 2, 0, 0, 0, 0, 0, 0]), Buffer.alloc(16)])
  withAuth.writeUInt16LE(withAuth.length, 8)
  withAuth.writeUInt16LE(16, 10)
  await s.write(withAuth)
  ;[n] = readAll(s)
  t.equal(n[2], PType.BIND_NAK)
  t.equal(n.readUInt16LE(16), RejectReason.AUTHENTICATION_TYPE_NOT_RECOGNIZED)
  const u = open()
  await u.write(bind([{ contextId: 0, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] }], { ptype: PType.ALTER_CONTEXT }))
  t.equal(readAll(u)[0][2], PType.FAULT, 'ALTER_CONTEXT before BIND')
})

async function bound (e = env, maxRecvFrag = 4280): Promise<RpcPipe> {
  const p = open('srvsvc', e)
  await p.write(bind([{ contextId: 0, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] }], { maxRecvFrag }))
  readAll(p)
  return p
}

t.test('requests: reassembled from fragments, and from bytes written one at a time', async t => {
  const stub = decodeRequest(RPCCLIENT_SHARE_ENUM_ALL)
  const want = SMBTS_SHARE_ENUM_ALL_RESPONSE
  const p = await bound()
  const parts = [stub.subarray(0, 8), stub.subarray(8, 40), stub.subarray(40)]
  for (const [i, part] of parts.entries()) {
    const flags = (i === 0 ? PfcFlags.FIRST_FRAG : 0) | (i === parts.length - 1 ? PfcFlags.LAST_FRAG : 0)
    await p.write(encodeRequest({ callId: 2, contextId: 0, opnum: 15, stub: part, pfcFlags: flags, allocHint: stub.length }))
    if (i < parts.length - 1) t.equal(p.pendingBytes, 0, 'no answer before the last fragment')
  }
  t.same(readAll(p), [want])
  const q = await bound()
  for (const byte of RPCCLIENT_SHARE_ENUM_ALL) await q.write(Buffer.from([byte]))
  t.same(readAll(q), [want])
  // two PDUs in one write
  const r = await bound()
  await r.write(Buffer.concat([RPCCLIENT_SHARE_ENUM_ALL, RPCCLIENT_SHARE_ENUM_ALL]))
  t.same(readAll(r), [want, want])
})

t.test('fragment protocol errors fault', async t => {
  const p = await bound()
  await p.write(encodeRequest({ callId: 9, contextId: 0, opnum: 15, stub: Buffer.alloc(8), pfcFlags: PfcFlags.LAST_FRAG }))
  const [f] = readAll(p)
  t.equal(f[2], PType.FAULT)
  t.equal(f.readUInt32LE(24), FaultStatus.PROTO_ERROR, 'a middle fragment with no first')
  await p.write(encodeRequest({ callId: 10, contextId: 0, opnum: 15, stub: Buffer.alloc(8), pfcFlags: PfcFlags.FIRST_FRAG }))
  await p.write(encodeRequest({ callId: 11, contextId: 0, opnum: 15, stub: Buffer.alloc(8), pfcFlags: PfcFlags.FIRST_FRAG }))
  t.equal(readAll(p)[0].readUInt32LE(24), FaultStatus.PROTO_ERROR, 'a new call inside another')
})

t.test('large responses are fragmented at the client\'s max_recv_frag and reassemble to the stub', async t => {
  const many: RpcShare[] = Array.from({ length: 200 }, (_, i) => ({ name: `share-${i}`, type: 0, comment: 'x'.repeat(i % 50), path: `/srv/${i}`, browseable: true, available: true, maxUses: 0, currentUses: 0 }))
  const e = envWith(many)
  const stub = decodeRequest(RPCCLIENT_SHARE_ENUM_ALL)
  const want = (await srvsvc.call(15, stub, e, testCallContext()))!
  for (const frag of [1432, 2048, MAX_FRAG, 65535]) {
    const p = await bound(e, frag)
    await p.write(RPCCLIENT_SHARE_ENUM_ALL)
    const frags = readAll(p)
    const limit = Math.min(frag, MAX_FRAG)
    t.ok(frags.length > 1, `${frag}: ${frags.length} fragments`)
    t.ok(frags.every(f => f.length <= limit), 'each fits')
    t.ok(frags.every(f => decodeCommonHeader(f).callId === 2))
    t.same(Buffer.concat(frags.map(f => f.subarray(24))), want)
  }
})

t.test('faults: unknown opnum, bad stub data', async t => {
  const p = await bound()
  await p.write(encodeRequest({ callId: 4, contextId: 0, opnum: 200, stub: Buffer.alloc(0) }))
  const [f] = readAll(p)
  t.equal(f[2], PType.FAULT)
  t.equal(f.readUInt32LE(24), FaultStatus.OP_RNG_ERROR)
  t.ok(f[3] & PfcFlags.DID_NOT_EXECUTE)
  t.equal(f.readUInt32LE(12), 4, 'call_id echoed')
  await p.write(encodeRequest({ callId: 5, contextId: 0, opnum: 15, stub: Buffer.alloc(3) }))
  t.equal(readAll(p)[0].readUInt32LE(24), FaultStatus.FAULT_NDR)
  await p.write(encodeRequest({ callId: 6, contextId: 0, opnum: 21, stub: Buffer.from('0000000066000000', 'hex') }))
  const [ok] = readAll(p)
  t.equal(ok[2], PType.RESPONSE, 'the pipe still answers')
})

t.test('message-mode reads, transact, broken framing', async t => {
  const p = open()
  t.equal(p.read(100), undefined, 'nothing pending')
  await p.write(RPCCLIENT_BIND)
  const len = p.pendingBytes
  const a = p.read(10)!
  t.equal(a.more, true)
  t.equal(a.data.length, 10)
  const b = p.read(4096)!
  t.equal(b.more, false)
  t.equal(a.data.length + b.data.length, len)
  t.equal(decodeCommonHeader(Buffer.concat([a.data, b.data])).fragLength, len)

  const q = await bound()
  const first = await q.transact(RPCCLIENT_SHARE_ENUM_ALL, 100)
  t.equal(first.more, true)
  t.equal(first.data.length, 100)
  await t.rejects(q.transact(RPCCLIENT_SHARE_ENUM_ALL, 100), { code: 'SMBTS_ERR_RPC_PIPE_BUSY' }, 'busy while unread')
  t.same(Buffer.concat([first.data, q.read(65536)!.data]), SMBTS_SHARE_ENUM_ALL_RESPONSE)
  t.same((await q.transact(Buffer.alloc(0), 100)).data, Buffer.alloc(0), 'nothing to answer')

  const r = await bound()
  await r.write(Buffer.from('0400000000000000000000000000000000', 'hex'))
  t.ok(r.isBroken)
  await t.rejects(r.write(RPCCLIENT_SHARE_ENUM_ALL), RpcPipeError)
  t.throws(() => r.read(10), RpcPipeError)
  const s = await bound()
  s.close()
  await t.rejects(s.write(RPCCLIENT_SHARE_ENUM_ALL), RpcPipeError, 'closed')
})

t.test('garbage never throws anything but RpcPipeError', async t => {
  let seed = 42
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  for (let i = 0; i < 300; i++) {
    const p = await bound()
    const base = Buffer.from(i % 2 === 0 ? RPCCLIENT_SHARE_ENUM_ALL : RPCCLIENT_BIND)
    for (let k = 0; k < 1 + (rnd() % 4); k++) base[rnd() % base.length] = rnd() & 0xff
    try {
      await p.write(base)
      readAll(p)
    } catch (e) {
      if (!(e instanceof RpcPipeError)) t.fail(`iteration ${i}: ${(e as Error).stack}`)
    }
  }
  t.pass()
})
