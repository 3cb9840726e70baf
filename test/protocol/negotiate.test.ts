// NEGOTIATE, the whole server in memory: dialect choice, capabilities, sizes, 3.1.1 contexts,
// min/max protocol, the SMB1 upgrade, and a second NEGOTIATE.
//
// Backend: memory (the default); nothing here depends on a file system.
import t from 'tap'
import { Ctx, listContext, MemClient, memServer, negotiateContexts, parseResponses, preauthContext, smb1Negotiate, Status } from '../helpers/mem-client.js'

const DIALECTS = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311]
const LARGE_MTU = 0x4

t.test('each dialect: selected dialect, capabilities and max sizes', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const d of DIALECTS) {
    const c = new MemClient(srv.state)
    const r = await c.negotiate({ dialects: [d] })
    t.equal(r.status, Status.SUCCESS, `0x${d.toString(16)} accepted`)
    t.equal(r.body.readUInt16LE(0), 65, 'StructureSize 65')
    t.equal(r.body.readUInt16LE(4), d, 'DialectRevision')
    t.ok(r.hdr.flags & 1, 'SERVER_TO_REDIR')
    t.equal(r.hdr.messageId, 0n)
    t.ok(r.credits >= 1, 'at least one credit granted')
    const caps = r.body.readUInt32LE(24)
    t.equal((caps & LARGE_MTU) !== 0, d >= 0x0210, 'LARGE_MTU from 2.1')
    const max = d === 0x0202 ? 65536 : 8 * 1024 * 1024
    t.equal(r.body.readUInt32LE(28), d === 0x0202 ? 65536 : 1024 * 1024, 'MaxTransactSize (smb2 max trans, 1 MiB default)')
    t.equal(r.body.readUInt32LE(32), max, 'MaxReadSize')
    t.equal(r.body.readUInt32LE(36), max, 'MaxWriteSize')
    t.same(r.body.subarray(8, 24), srv.state.serverGuid, 'ServerGuid')
    t.ok(r.body.readUInt16LE(2) & 1, 'SIGNING_ENABLED')
    t.ok(r.body.readUInt16LE(58) > 0, 'a SPNEGO hint in the security buffer')
    t.equal(r.body.readUInt16LE(6), d === 0x0311 ? 3 : 0, 'NegotiateContextCount')
    t.notOk(c.closed)
  }
})

t.test('the highest common dialect wins', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  const r = await c.negotiate({ dialects: [0x0210, 0x0311, 0x0202, 0x0300] })
  t.equal(r.body.readUInt16LE(4), 0x0311)
  const c2 = new MemClient(srv.state)
  const r2 = await c2.negotiate({ dialects: [0x0210, 0x0202, 0x0999] })
  t.equal(r2.body.readUInt16LE(4), 0x0210, 'an unknown dialect is ignored')
})

t.test('3.1.1 contexts: preauth salt, signing from the client list, encryption answered with cipher 0', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const [offer, want] of [[[2, 1], 2], [[1, 0], 1], [[0], 0], [[1, 2, 0], 2]] as const) {
    const c = new MemClient(srv.state)
    const r = await c.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.ENCRYPTION, [1, 2, 3, 4]), listContext(Ctx.SIGNING, [...offer])] })
    t.equal(r.status, 0)
    const ctxs = negotiateContexts(r)
    const pre = ctxs.find(x => x.type === Ctx.PREAUTH)!
    t.ok(pre, 'preauth context answered')
    t.equal(pre.data.readUInt16LE(0), 1, 'one hash algorithm')
    t.equal(pre.data.readUInt16LE(4), 1, 'SHA-512')
    t.equal(pre.data.readUInt16LE(2), 32, '32-byte salt')
    t.equal(pre.data.length, 6 + 32)
    const enc = ctxs.find(x => x.type === Ctx.ENCRYPTION)!
    t.equal(enc.data.readUInt16LE(0), 1, 'one cipher answered')
    t.ok([0, 1, 2, 3, 4].includes(enc.data.readUInt16LE(2)), 'a cipher the client offered, or 0 (none in common)')
    const sig = ctxs.find(x => x.type === Ctx.SIGNING)!
    t.same([sig.data.readUInt16LE(0), sig.data.readUInt16LE(2)], [1, want], `signing ${JSON.stringify(offer)} → ${want}`)
    // each context starts 8-aligned from the header
    t.equal(r.body.readUInt32LE(60) % 8, 0, 'NegotiateContextOffset 8-aligned')
  }
  // a 3.1.1 client that sends only the preauth context gets only that back
  const c = new MemClient(srv.state)
  const r = await c.negotiate({ dialects: [0x0311], contexts: [preauthContext()] })
  t.same(negotiateContexts(r).map(x => x.type), [Ctx.PREAUTH])
})

t.test('3.1.1 encryption context with encryption disabled, or no cipher in common: cipher 0', async (t) => {
  const srv = memServer({ global: ['smb3 encryption = disabled'] })
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  const r = await c.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.ENCRYPTION, [1, 2])] })
  const enc = negotiateContexts(r).find(x => x.type === Ctx.ENCRYPTION)!
  t.same([enc.data.readUInt16LE(0), enc.data.readUInt16LE(2)], [1, 0], 'disabled → cipher 0')
  const srv2 = memServer()
  t.teardown(srv2.cleanup)
  const c2 = new MemClient(srv2.state)
  const r2 = await c2.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.ENCRYPTION, [0x77])] })
  t.equal(r2.status, 0)
  const enc2 = negotiateContexts(r2).find(x => x.type === Ctx.ENCRYPTION)!
  t.same([enc2.data.readUInt16LE(0), enc2.data.readUInt16LE(2)], [1, 0], 'only an unknown cipher → cipher 0')
})

t.test('3.1.1 without a preauth context, or without SHA-512, is refused', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  const r = await c.negotiate({ dialects: [0x0311], contexts: [listContext(Ctx.SIGNING, [1])] })
  t.equal(r.status, Status.INVALID_PARAMETER)
  const c2 = new MemClient(srv.state)
  const bad = preauthContext(); bad.data.writeUInt16LE(2, 4)
  const r2 = await c2.negotiate({ dialects: [0x0311], contexts: [bad] })
  t.equal(r2.status, 0xc05d0000, 'STATUS_SMB_NO_PREAUTH_INTEGRITY_HASH_OVERLAP')
})

t.test('server min/max protocol are honoured', async (t) => {
  const srv = memServer({ global: ['server min protocol = SMB3_00'] })
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  const r = await c.negotiate({ dialects: [0x0202, 0x0210] })
  t.equal(r.status, Status.NOT_SUPPORTED, 'a 2.1-only client is refused')
  const c2 = new MemClient(srv.state)
  t.equal((await c2.negotiate({ dialects: [0x0210, 0x0300] })).body.readUInt16LE(4), 0x0300)

  const srv2 = memServer({ global: ['server max protocol = SMB2_10'] })
  t.teardown(srv2.cleanup)
  const c3 = new MemClient(srv2.state)
  t.equal((await c3.negotiate({ dialects: [0x0202, 0x0210, 0x0300, 0x0311] })).body.readUInt16LE(4), 0x0210, 'capped at 2.1')
  const c4 = new MemClient(srv2.state)
  t.equal((await c4.negotiate({ dialects: [0x0311] })).status, Status.NOT_SUPPORTED)
})

t.test('SMB1 NEGOTIATE upgrade', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  // "SMB 2.???" → 0x02FF, then the SMB2 NEGOTIATE with MessageId 1
  const c = new MemClient(srv.state)
  const [pdu] = await c.raw(smb1Negotiate(['NT LM 0.12', 'SMB 2.002', 'SMB 2.???']))
  t.ok(pdu, 'answered')
  const [r] = parseResponses(pdu)
  t.equal(r.hdr.command, 0, 'an SMB2 NEGOTIATE response')
  t.equal(r.status, 0)
  t.equal(r.body.readUInt16LE(4), 0x02ff, 'wildcard dialect')
  c.nextMid = 1n
  const n = await c.negotiate({ dialects: [0x0202, 0x0210, 0x0300] })
  t.equal(n.status, 0)
  t.equal(n.hdr.messageId, 1n)
  t.equal(n.body.readUInt16LE(4), 0x0300)
  t.notOk(c.closed)

  // only "SMB 2.002" → 2.0.2 directly, and the connection is negotiated
  const c2 = new MemClient(srv.state)
  const [pdu2] = await c2.raw(smb1Negotiate(['NT LM 0.12', 'SMB 2.002']))
  const [r2] = parseResponses(pdu2)
  t.equal(r2.body.readUInt16LE(4), 0x0202)
  t.equal(r2.body.readUInt32LE(32), 65536, '64 KiB MaxReadSize')
  c2.nextMid = 1n
  c2.dialect = 0x0202
  const l = await c2.login()
  t.equal(l.last.status, 0, 'session setup works after a 2.0.2 SMB1 upgrade')

  // no SMB2 dialect at all: the connection ends
  const c3 = new MemClient(srv.state)
  t.same(await c3.raw(smb1Negotiate(['NT LM 0.12'])), [])
  t.ok(c3.closed)

  // "SMB 2.???" on a server whose floor is 3.0 still answers 0x02FF; the SMB2 NEGOTIATE decides
  const srv3 = memServer({ global: ['server min protocol = SMB3_00'] })
  t.teardown(srv3.cleanup)
  const c4 = new MemClient(srv3.state)
  const [pdu4] = await c4.raw(smb1Negotiate(['SMB 2.002', 'SMB 2.???']))
  t.equal(parseResponses(pdu4)[0].body.readUInt16LE(4), 0x02ff)
})

t.test('a second NEGOTIATE closes the connection', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  t.equal((await c.negotiate({ dialects: [0x0300] })).status, 0)
  const out = await c.raw(c.message({ cmd: 0, body: (await import('../helpers/mem-client.js')).negotiateBody({ dialects: [0x0300] }) }))
  t.same(out, [], 'no response')
  t.ok(c.closed, 'closed')
  // and an SMB1 NEGOTIATE after an SMB2 one too
  const c2 = new MemClient(srv.state)
  await c2.negotiate({ dialects: [0x0210] })
  t.same(await c2.raw(smb1Negotiate(['SMB 2.???'])), [])
  t.ok(c2.closed)
})

t.test('no dialect the server speaks: STATUS_NOT_SUPPORTED, and the connection ends (issue 20)', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const rnd = (): number => { let d; do d = Math.floor(Math.random() * 0x10000); while (DIALECTS.includes(d)); return d }
  const lists: Array<[string, number[]]> = [
    ['unknown values', [0x0001, 0x0299, 0x0312, 0xffff]],
    ['0x0299 alone (between two known dialects)', [0x0299]],
    ['the SMB1 wildcard 0x02FF', [0x02ff]],
    ['0x02FF among unknown ones', [0x0000, 0x02ff, 0x0301]],
    ['a thousand random unknown values', Array.from({ length: 1000 }, rnd)],
  ]
  for (const [what, dialects] of lists) {
    const c = new MemClient(srv.state)
    const r = await c.negotiate({ dialects })
    t.equal(r.status, Status.NOT_SUPPORTED, `${what}: STATUS_NOT_SUPPORTED`)
    t.ok(c.closed, `${what}: the connection ends after the response`)
    // nothing more is answered on it
    t.same(await c.raw(c.message({ cmd: 0, body: (await import('../helpers/mem-client.js')).negotiateBody({ dialects: [0x0300] }) })), [], `${what}: no second try`)
  }
})

t.test('after the SMB1 upgrade (0x02FF), an SMB2 NEGOTIATE offering only 0x02FF or unknown dialects is refused and ends the connection', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const dialects of [[0x02ff], [0x02ff, 0x0299]]) {
    const c = new MemClient(srv.state)
    const [pdu] = await c.raw(smb1Negotiate(['NT LM 0.12', 'SMB 2.002', 'SMB 2.???']))
    t.equal(parseResponses(pdu)[0].body.readUInt16LE(4), 0x02ff, 'the wildcard, in answer to SMB1')
    c.nextMid = 1n
    const r = await c.negotiate({ dialects })
    t.equal(r.status, Status.NOT_SUPPORTED, `[${dialects.map(d => d.toString(16)).join(',')}]: STATUS_NOT_SUPPORTED`)
    t.ok(c.closed, 'the connection ends')
  }
})

t.test('one known dialect among unknown ones is selected; 0x02FF in an SMB2 NEGOTIATE is no dialect', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  for (const d of DIALECTS) {
    const c = new MemClient(srv.state)
    const r = await c.negotiate({ dialects: [0x0001, 0x0299, d, 0x0312, 0x02ff, 0xffff] })
    t.equal(r.status, Status.SUCCESS, `0x${d.toString(16)} among unknown ones accepted`)
    t.equal(r.body.readUInt16LE(4), d, `0x${d.toString(16)} selected, not 0x0299, 0x0312 nor 0x02FF`)
    t.notOk(c.closed)
  }
  // 0x0299 sorts between 2.1 and 3.0: it is no dialect, so 2.1 wins
  const c = new MemClient(srv.state)
  t.equal((await c.negotiate({ dialects: [0x0210, 0x0299] })).body.readUInt16LE(4), 0x0210)
})

t.test('FSCTL_VALIDATE_NEGOTIATE_INFO repeats the list with unknown dialects: the same choice, no mismatch', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = new MemClient(srv.state)
  const dialects = [0x0202, 0x0210, 0x0299, 0x0300]
  t.equal((await c.negotiate({ dialects })).body.readUInt16LE(4), 0x0300)
  t.equal((await c.login()).last.status, 0)
  t.equal((await c.treeConnect('share')).status, 0)
  const input = Buffer.alloc(24 + dialects.length * 2)
  input.writeUInt32LE(0x7f, 0)
  c.clientGuid.copy(input, 4)
  input.writeUInt16LE(1, 20)
  input.writeUInt16LE(dialects.length, 22)
  dialects.forEach((d, i) => input.writeUInt16LE(d, 24 + i * 2))
  const r = await c.ioctl(0x00140204, { persistent: 0xffffffffffffffffn, volatile: 0xffffffffffffffffn }, input, 24)
  t.equal(r.status, Status.SUCCESS)
  t.equal(r.body.readUInt16LE(0), 49, 'an IOCTL response')
  t.notOk(c.closed)
})

/** A context with hand-made Data (the counts and lengths inside it as given). */
const raw = (type: number, ...u16: number[]): { type: number, data: Buffer } => {
  const d = Buffer.alloc(u16.length * 2)
  u16.forEach((x, i) => d.writeUInt16LE(x, i * 2))
  return { type, data: d }
}

t.test('a negotiate context whose counts or lengths run past its DataLength: STATUS_INVALID_PARAMETER (issue 20)', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const pre = preauthContext()
  const saltPast = preauthContext(); saltPast.data.writeUInt16LE(33, 2) // SaltLength 33, 32 bytes present
  const saltWay = preauthContext(Buffer.alloc(0)); saltWay.data.writeUInt16LE(0xffff, 2)
  const hashPast = preauthContext(Buffer.alloc(0)); hashPast.data.writeUInt16LE(2, 0) // two hash ids, one present
  const cases: Array<[string, Array<{ type: number, data: Buffer }>]> = [
    ['preauth SaltLength one past DataLength', [saltPast]],
    ['preauth SaltLength 0xFFFF with no salt', [saltWay]],
    ['preauth HashAlgorithmCount past DataLength', [hashPast]],
    ['preauth HashAlgorithmCount 0', [raw(Ctx.PREAUTH, 0, 0)]],
    ['preauth shorter than its fixed fields', [raw(Ctx.PREAUTH, 1)]],
    ['encryption CipherCount past DataLength', [pre, raw(Ctx.ENCRYPTION, 3, 1, 2)]],
    ['encryption CipherCount 0', [pre, raw(Ctx.ENCRYPTION, 0)]],
    ['encryption empty', [pre, { type: Ctx.ENCRYPTION, data: Buffer.alloc(0) }]],
    ['signing SigningAlgorithmCount past DataLength', [pre, raw(Ctx.SIGNING, 2, 1)]],
    ['signing SigningAlgorithmCount 0', [pre, raw(Ctx.SIGNING, 0)]],
    ['compression CompressionAlgorithmCount past DataLength', [pre, raw(Ctx.COMPRESSION, 2, 0, 0, 0, 1)]],
    ['compression CompressionAlgorithmCount 0', [pre, raw(Ctx.COMPRESSION, 0, 0, 0, 0)]],
    ['compression shorter than its fixed fields', [pre, raw(Ctx.COMPRESSION, 1, 0)]],
    ['RDMA TransformCount past DataLength', [pre, raw(Ctx.RDMA, 4, 0, 0, 0, 1)]],
    ['RDMA TransformCount 0', [pre, raw(Ctx.RDMA, 0, 0, 0, 0)]],
    ['RDMA shorter than its fixed fields', [pre, raw(Ctx.RDMA, 1)]],
    ['transport shorter than its Flags', [pre, raw(Ctx.TRANSPORT, 1)]],
    ['netname of an odd byte count', [pre, { type: Ctx.NETNAME, data: Buffer.from('abc') }]],
  ]
  for (const [what, contexts] of cases) {
    const c = new MemClient(srv.state)
    const r = await c.negotiate({ dialects: [0x0311], contexts })
    t.equal(r.status, Status.INVALID_PARAMETER, `${what}: STATUS_INVALID_PARAMETER`)
    // Malformed, not refused: the connection stays Initial (as Samba leaves it); only a
    // NEGOTIATE with no common dialect ends it.
    t.notOk(c.closed, `${what}: the connection stays, not negotiated`)
    c.nextMid = 1n
    t.equal((await c.negotiate({ dialects: [0x0311] })).status, Status.SUCCESS, `${what}: a well-formed NEGOTIATE after it succeeds`)
  }
  // The same contexts whole are accepted (compression, netname, transport, RDMA are not answered).
  const good: Array<[string, { type: number, data: Buffer }]> = [
    ['compression', raw(Ctx.COMPRESSION, 2, 0, 0, 0, 1, 2)],
    ['RDMA', raw(Ctx.RDMA, 1, 0, 0, 0, 1)],
    ['transport', raw(Ctx.TRANSPORT, 1, 0)],
    ['netname', { type: Ctx.NETNAME, data: Buffer.from('server', 'utf16le') }],
    ['preauth with a short salt', preauthContext(Buffer.alloc(4, 1))],
    ['an unknown context type', { type: 0x4242, data: Buffer.from([1, 2, 3]) }],
  ]
  for (const [what, ctx] of good) {
    const c = new MemClient(srv.state)
    const r = await c.negotiate({ dialects: [0x0311], contexts: ctx.type === Ctx.PREAUTH ? [ctx] : [pre, ctx] })
    t.equal(r.status, Status.SUCCESS, `${what}: accepted`)
    t.same(negotiateContexts(r).map(x => x.type), [Ctx.PREAUTH], `${what}: only the preauth context answered`)
    t.notOk(c.closed)
  }
  // A context list that starts inside the Dialects array is no list.
  const c = new MemClient(srv.state)
  const body = (await import('../helpers/mem-client.js')).negotiateBody({ dialects: [0x0311, 0x0300], contexts: [pre] })
  body.writeUInt32LE(64 + 36, 28) // NegotiateContextOffset at the first dialect
  const [pdu] = await c.raw(c.message({ cmd: 0, body }))
  t.equal(parseResponses(pdu)[0].status, Status.INVALID_PARAMETER, 'NegotiateContextOffset inside the dialects')
})
