// NDR20 codec: string and pointer layouts, deferral order, and the srvsvc NetShareEnumAll stub
// from rpcclient answered byte for byte as rpcclient accepted it; truncations throw only NdrError.
import t from 'tap'
import { testCallContext } from '../../helpers/rpc-env.js'
import { NdrError, NdrReader, NdrWriter } from '../../../src/rpc/ndr.js'
import { decodeRequest } from '../../../src/rpc/pdu.js'
import { srvsvc } from '../../../src/rpc/srvsvc.js'
import type { RpcEnv } from '../../../src/rpc/service.js'
import { RPCCLIENT_SHARE_ENUM_ALL, SHARE_ENUM_ENV_SHARES, SMBTS_SHARE_ENUM_ALL_RESPONSE } from '../../fixtures/rpc-pdus.js'

const env: RpcEnv = {
  server: async () => ({ netbiosName: 'SMBTS-TEST', workgroup: 'WORKGROUP', serverString: 'SMB SERVER', domainSid: 'S-1-5-21-1-2-3' }),
  lookupNames: async (n) => n.map(() => null),
  lookupSids: async (s) => s.map(() => null),
  users: async () => [],
  shares: async () => SHARE_ENUM_ENV_SHARES,
}

t.test('a conformant varying string: max, offset 0, actual, UTF-16 with its NUL', async t => {
  const b = new NdrWriter().wstring('ab').finish()
  t.equal(b.toString('hex'), '03000000' + '00000000' + '03000000' + '610062000000')
  t.equal(new NdrReader(b).wstring(), 'ab')
  const u = new NdrWriter().wstring('日本😀').finish()
  t.equal(new NdrReader(u).wstring(), '日本😀', 'non-BMP survives')
})

t.test('alignment is relative to the stub start and pads with zeros', async t => {
  const b = new NdrWriter().u8(1).u32(2).u8(3).u16(4).u64(5n).finish()
  t.equal(b.toString('hex'), '01000000' + '02000000' + '03' + '00' + '0400' + '00000000' + '0500000000000000')
  const r = new NdrReader(b)
  t.equal(r.u8(), 1); t.equal(r.u32(), 2); t.equal(r.u8(), 3); t.equal(r.u16(), 4); t.equal(r.u64(), 5n)
  t.equal(r.remaining, 0)
})

t.test('pointees are deferred after the construct, a pointee\'s own pointees right after it', async t => {
  // struct { ptr a; ptr b } where *a = struct { u32; ptr c }: a's scalars, b... then *a, *c, *b.
  const w = new NdrWriter()
  w.pointer({ x: 0x11, c: 'c' }, (w, v) => { w.u32(v.x).wstringPtr(v.c) })
  w.wstringPtr('b')
  w.pointer(null, () => {})
  w.flush()
  const b = w.finish()
  const r = new NdrReader(b)
  t.equal(r.u32(), 0x20000, 'referent id of a')
  t.equal(r.u32(), 0x20004, 'referent id of b')
  t.equal(r.u32(), 0, 'NULL')
  t.equal(r.u32(), 0x11, '*a scalars')
  t.equal(r.u32(), 0x20008, '*a.c referent')
  t.equal(r.wstring(), 'c', '*a.c follows *a')
  t.equal(r.wstring(), 'b', 'then *b')
  t.equal(r.remaining, 0)
})

t.test('reader defers the same way', async t => {
  const w = new NdrWriter()
  w.wstringPtr('one').wstringPtr(null).wstringPtr('three')
  const r = new NdrReader(w.finish())
  const a = r.wstringPtr(); const b = r.wstringPtr(); const c = r.wstringPtr()
  r.flush()
  t.same([a.value, b.value, c.value], ['one', null, 'three'])
})

t.test('bad strings throw NdrError', async t => {
  const off = new NdrWriter().u32(2).u32(1).u32(1).u16(0x41).finish()
  t.throws(() => new NdrReader(off).wstring(), NdrError, 'offset != 0')
  const big = new NdrWriter().u32(1).u32(0).u32(2).u32(0).finish()
  t.throws(() => new NdrReader(big).wstring(), NdrError, 'actual > max')
  const huge = new NdrWriter().u32(0x7fffffff).u32(0).u32(0x7fffffff).finish()
  t.throws(() => new NdrReader(huge).wstring(), NdrError, 'past the end')
})

t.test('srvsvc answers rpcclient\'s NetShareEnumAll with the bytes rpcclient accepted', async t => {
  const stub = decodeRequest(RPCCLIENT_SHARE_ENUM_ALL).stub
  const out = await srvsvc.call(15, stub, env, testCallContext())
  t.same(out, SMBTS_SHARE_ENUM_ALL_RESPONSE.subarray(24))
})

t.test('every truncation of the NetShareEnumAll stub throws only NdrError', async t => {
  const stub = decodeRequest(RPCCLIENT_SHARE_ENUM_ALL).stub
  for (let n = 0; n < stub.length; n++) {
    await t.rejects(srvsvc.call(15, stub.subarray(0, n), env, testCallContext()), NdrError, `cut at ${n}`)
  }
  for (let i = 0; i < stub.length; i++) {
    for (const v of [0, 1, 0xff]) {
      const m = Buffer.from(stub)
      m[i] = v
      try { await srvsvc.call(15, m, env, testCallContext()) } catch (e) { if (!(e instanceof NdrError)) t.fail(`byte ${i}=${v}: ${(e as Error).message}`) }
    }
  }
})
