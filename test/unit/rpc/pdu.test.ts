// CO DCE/RPC PDU codecs: real rpcclient BIND/REQUEST fixtures, our BIND_ACK byte for byte,
// response fragmentation, and every truncation / byte mutation throwing only RpcPduError.
import t from 'tap'
import {
  ContResult, FaultStatus, NDR20, PType, PfcFlags, RpcPduError, decodeBind, decodeBindAck, decodeCommonHeader, decodeRequest,
  encodeBind, encodeBindAck, encodeBindNak, encodeFault, encodeRequest, encodeResponseFragments, uuidFromBytes, uuidToBytes,
} from '../../../src/rpc/pdu.js'
import { SRVSVC_SYNTAX } from '../../../src/rpc/srvsvc.js'
import { RPCCLIENT_BIND, RPCCLIENT_SHARE_ENUM_ALL, SMBTS_BIND_ACK } from '../../fixtures/rpc-pdus.js'

/** Runs fn; anything thrown must be an RpcPduError. */
function onlyPduErrors (t: { fail: (m: string) => unknown }, fn: () => unknown, what: string): void {
  try { fn() } catch (e) {
    if (!(e instanceof RpcPduError)) t.fail(`${what}: threw ${(e as Error).name}: ${(e as Error).message}`)
  }
}

t.test('UUIDs round-trip in the MS-DTYP layout', async t => {
  const b = uuidToBytes(NDR20.uuid)
  t.equal(b.toString('hex'), '045d888aeb1cc9119fe808002b104860')
  t.equal(uuidFromBytes(b, 0), NDR20.uuid)
  t.throws(() => uuidToBytes('not-a-uuid'), RpcPduError)
})

t.test('decodes rpcclient\'s BIND', async t => {
  const b = decodeBind(RPCCLIENT_BIND)
  t.equal(b.header.ptype, PType.BIND)
  t.equal(b.header.pfcFlags, PfcFlags.FIRST_FRAG | PfcFlags.LAST_FRAG)
  t.equal(b.header.callId, 1)
  t.equal(b.maxXmitFrag, 4280)
  t.equal(b.maxRecvFrag, 4280)
  t.equal(b.assocGroupId, 0)
  t.same(b.contexts, [{ contextId: 0, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] }])
  // and our encoder of client PDUs produces the same bytes
  t.same(encodeBind({ callId: 1, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 0, contexts: b.contexts }), RPCCLIENT_BIND)
})

t.test('encodes the BIND_ACK rpcclient accepted', async t => {
  const ack = encodeBindAck({
    ptype: PType.BIND_ACK, callId: 1, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 0x53f0,
    secondaryAddress: '\\PIPE\\srvsvc', results: [{ result: ContResult.ACCEPTANCE, reason: 0, transferSyntax: NDR20 }],
  })
  t.same(ack, SMBTS_BIND_ACK)
  const d = decodeBindAck(ack)
  t.equal(d.secondaryAddress, '\\PIPE\\srvsvc')
  t.same(d.results, [{ result: 0, reason: 0, transferSyntax: NDR20 }])
  // the result list stays 4-aligned whatever the address length (C706 12.6.4.4)
  for (const addr of ['', '\\PIPE\\a', '\\PIPE\\ab', '\\PIPE\\abc']) {
    const a = encodeBindAck({ ptype: PType.ALTER_CONTEXT_RESP, callId: 2, maxXmitFrag: 1, maxRecvFrag: 2, assocGroupId: 3, secondaryAddress: addr, results: [] })
    t.equal(a.readUInt16LE(8), a.length, `frag_length (address ${JSON.stringify(addr)})`)
    t.equal((a.length - 4) % 4, 0)
    t.equal(decodeBindAck(a).secondaryAddress, addr)
  }
})

t.test('BIND_NAK and FAULT layouts', async t => {
  const nak = encodeBindNak(7, 4)
  t.equal(nak.toString('hex'), '05000d03100000001500000007000000' + '0400' + '01' + '0500')
  const f = encodeFault(9, 1, FaultStatus.OP_RNG_ERROR, true)
  t.equal(f.length, 32)
  t.equal(f[2], PType.FAULT)
  t.equal(f[3], PfcFlags.FIRST_FRAG | PfcFlags.LAST_FRAG | PfcFlags.DID_NOT_EXECUTE)
  t.equal(f.readUInt16LE(20), 1)
  t.equal(f.readUInt32LE(24), 0x1c010002)
})

t.test('decodes rpcclient\'s NetShareEnumAll REQUEST', async t => {
  const r = decodeRequest(RPCCLIENT_SHARE_ENUM_ALL)
  t.equal(r.header.callId, 2)
  t.equal(r.contextId, 0)
  t.equal(r.opnum, 15)
  t.equal(r.allocHint, 64)
  t.equal(r.stub.length, 64)
  t.equal(r.object, undefined)
  const again = encodeRequest({ callId: 2, contextId: 0, opnum: 15, stub: r.stub })
  t.same(again, RPCCLIENT_SHARE_ENUM_ALL)
})

t.test('REQUEST with an object UUID and an auth trailer', async t => {
  const stub = Buffer.from('0102030405060708', 'hex')
  const obj = uuidToBytes('11112222-3333-4444-5555-666677778888')
  const authValue = Buffer.alloc(16, 0xaa)
  const pad = 4
  const body = Buffer.concat([Buffer.alloc(8), obj, stub, Buffer.alloc(pad), Buffer.from([10, 6, pad, 0, 0, 0, 0, 0]), authValue])
  const pdu = Buffer.concat([Buffer.from('05000083100000000000100001000000', 'hex'), body])
  pdu.writeUInt16LE(pdu.length, 8)
  pdu.writeUInt16LE(authValue.length, 10)
  pdu.writeUInt16LE(3, 22)
  const r = decodeRequest(pdu)
  t.equal(r.object, '11112222-3333-4444-5555-666677778888')
  t.same(r.stub, stub)
  t.equal(r.opnum, 3)
})

t.test('responses are cut at max_recv_frag with 8-byte multiples and falling alloc_hint', async t => {
  const stub = Buffer.from(Array.from({ length: 10000 }, (_, i) => i & 0xff))
  const frags = encodeResponseFragments(5, 0, stub, 4280)
  t.equal(frags.length, 3)
  let off = 0
  frags.forEach((f, i) => {
    const h = decodeCommonHeader(f)
    t.ok(h.fragLength <= 4280, 'fits')
    t.equal(h.fragLength, f.length)
    t.equal(h.pfcFlags & PfcFlags.FIRST_FRAG, i === 0 ? PfcFlags.FIRST_FRAG : 0)
    t.equal(h.pfcFlags & PfcFlags.LAST_FRAG, i === frags.length - 1 ? PfcFlags.LAST_FRAG : 0)
    t.equal(f.readUInt32LE(16), stub.length - off, 'alloc_hint = what remains')
    const part = f.subarray(24)
    if (i < frags.length - 1) t.equal(part.length % 8, 0)
    t.same(part, stub.subarray(off, off + part.length))
    off += part.length
  })
  t.equal(off, stub.length)
  const empty = encodeResponseFragments(1, 0, Buffer.alloc(0), 4280)
  t.equal(empty.length, 1)
  t.equal(empty[0][3], PfcFlags.FIRST_FRAG | PfcFlags.LAST_FRAG)
})

t.test('every truncation of a valid PDU throws only RpcPduError', async t => {
  for (const [name, pdu, decode] of [
    ['BIND', RPCCLIENT_BIND, decodeBind],
    ['REQUEST', RPCCLIENT_SHARE_ENUM_ALL, decodeRequest],
    ['BIND_ACK', SMBTS_BIND_ACK, decodeBindAck],
  ] as const) {
    for (let n = 0; n < pdu.length; n++) {
      t.throws(() => (decode as (b: Buffer) => unknown)(pdu.subarray(0, n)), RpcPduError, `${name} cut at ${n}`)
    }
    t.doesNotThrow(() => (decode as (b: Buffer) => unknown)(pdu))
  }
})

t.test('every single-byte mutation throws nothing but RpcPduError', async t => {
  let checked = 0
  for (const [pdu, decode] of [[RPCCLIENT_BIND, decodeBind], [RPCCLIENT_SHARE_ENUM_ALL, decodeRequest], [SMBTS_BIND_ACK, decodeBindAck]] as const) {
    for (let i = 0; i < pdu.length; i++) {
      for (const v of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
        const m = Buffer.from(pdu)
        m[i] = v
        onlyPduErrors(t, () => (decode as (b: Buffer) => unknown)(m), `byte ${i} = ${v}`)
        checked++
      }
    }
  }
  t.ok(checked > 0)
})

t.test('common header checks', async t => {
  const h = Buffer.from(RPCCLIENT_BIND)
  h[0] = 4
  t.throws(() => decodeCommonHeader(h), RpcPduError, 'rpc_vers 4')
  const b = Buffer.from(RPCCLIENT_BIND)
  b.writeUInt16LE(8, 8)
  t.throws(() => decodeCommonHeader(b), RpcPduError, 'frag_length < 16')
  const be = Buffer.from(RPCCLIENT_BIND)
  be[4] = 0x00
  t.throws(() => decodeCommonHeader(be), RpcPduError, 'big-endian drep')
})
