// The data plane ⇄ RPC process message format (src/rpc/ipc-wire.ts): byte fixtures, frames fed
// split at every offset, and every malformed header ending the link with IpcWireError.
import t from 'tap'
import {
  IPC_MAX_PAYLOAD, IpcDecoder, IpcType, IpcWireError, decodeJson, decodeStrings, decodeU32, encodeFrame, encodeStrings, encodeU32, isIpcHello,
} from '../../../src/rpc/ipc-wire.js'
import { answerQuestion, askingEnv, QuestionError } from '../../../src/rpc/questions.js'
import type { RpcEnv } from '../../../src/rpc/service.js'

// OPEN of handle 7 for pipe "srvsvc", user "bob".
const OPEN_FIXTURE = Buffer.from('15000000' + '01' + '02' + '0000' + '07000000' + '0600' + '737276737663' + '0300' + '626f62', 'hex')

t.test('a frame\'s bytes', async t => {
  t.same(encodeFrame(IpcType.OPEN, 7, encodeStrings('srvsvc', 'bob')), OPEN_FIXTURE)
  t.same(encodeFrame(IpcType.CLOSE, 0xffffffff), Buffer.from('08000000010700' + '00ffffffff', 'hex'))
  t.throws(() => encodeFrame(IpcType.DATA_IN, 1, Buffer.alloc(IPC_MAX_PAYLOAD + 1)), RangeError)
})

t.test('frames reassemble from any split', async t => {
  const stream = Buffer.concat([OPEN_FIXTURE, encodeFrame(IpcType.DATA_IN, 7, Buffer.from('abc')), encodeFrame(IpcType.CLOSE, 7)])
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new IpcDecoder()
    const frames = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))]
    t.same(frames.map(f => [f.type, f.id, f.payload.toString('hex')]), [
      [IpcType.OPEN, 7, encodeStrings('srvsvc', 'bob').toString('hex')], [IpcType.DATA_IN, 7, '616263'], [IpcType.CLOSE, 7, '']], `cut at ${cut}`)
    t.equal(d.pending, 0)
  }
  const d = new IpcDecoder()
  for (const byte of stream) d.push(Buffer.from([byte]))
  t.equal(d.pending, 0, 'byte at a time')
})

t.test('malformed headers end the link', async t => {
  const bad = (hex: string, why: string): void => { t.throws(() => new IpcDecoder().push(Buffer.from(hex, 'hex')), IpcWireError, why) }
  bad('07000000' + '01020000', 'length below the header')
  bad('00000000', 'length 0')
  bad('ffffffff', 'length 4 GiB')
  const over = Buffer.alloc(4); over.writeUInt32LE(IPC_MAX_PAYLOAD + 9); bad(over.toString('hex'), 'payload past the maximum')
  bad('08000000' + '02' + '02' + '0000' + '00000000', 'another version')
  bad('08000000' + '01' + '63' + '0000' + '00000000', 'unknown type')
  bad('08000000' + '01' + '02' + '0100' + '00000000', 'reserved flags')
  t.same(new IpcDecoder().push(Buffer.from('0800', 'hex')), [], 'a partial length waits')
  const big = Buffer.alloc(4); big.writeUInt32LE(IPC_MAX_PAYLOAD + 8)
  t.same(new IpcDecoder().push(big), [], 'the largest frame is waited for, not refused')
})

t.test('payload pieces are bounds-checked', async t => {
  t.same(decodeStrings(encodeStrings('a', 'é'), 2), ['a', 'é'])
  t.throws(() => decodeStrings(Buffer.from('0500616263', 'hex'), 1), IpcWireError, 'string past the payload')
  t.throws(() => decodeStrings(Buffer.from('01', 'hex'), 1), IpcWireError, 'length past the payload')
  t.throws(() => decodeStrings(Buffer.from('01006162', 'hex'), 1), IpcWireError, 'bytes after the strings')
  t.throws(() => decodeStrings(Buffer.from('0100', 'hex'), 2), IpcWireError, 'a string missing')
  t.throws(() => encodeStrings('x'.repeat(2000)), RangeError)
  t.equal(decodeU32(encodeU32(0xfedcba98)), 0xfedcba98)
  t.throws(() => decodeU32(Buffer.alloc(3)), IpcWireError)
  t.throws(() => decodeJson(Buffer.from('{')), IpcWireError)
  t.ok(isIpcHello({ pid: 1, uid: 65534, gid: 65534, chrooted: true, noNewPrivs: true, capEffective: 0, seccomp: true }))
  t.notOk(isIpcHello({ pid: '1', uid: 65534, gid: 65534, chrooted: true, noNewPrivs: true, capEffective: 0, seccomp: true }))
  t.notOk(isIpcHello({ pid: 1, uid: 65534, gid: 65534, chrooted: true, noNewPrivs: true, capEffective: 0 }), 'seccomp missing')
  t.notOk(isIpcHello(null))
})

const env: RpcEnv = {
  server: async () => ({ netbiosName: 'N', workgroup: 'W', serverString: 'S', domainSid: 'S-1-5-21-1-2-3' }),
  lookupNames: async (n) => n.map(() => null),
  lookupSids: async (s) => s.map(() => null),
  users: async () => [],
  shares: async () => [{ name: 'a', type: 0, comment: '', path: '/a', browseable: true, available: true, maxUses: 0, currentUses: 1 }],
}

t.test('questions: the data plane checks them, the RPC process checks the answers', async t => {
  t.same(await answerQuestion(env, { q: 'server' }), { netbiosName: 'N', workgroup: 'W', serverString: 'S', domainSid: 'S-1-5-21-1-2-3' })
  for (const q of [null, 1, 'shares', [], {}, { q: 1 }, { q: 'nosuch' }, { q: '__proto__' }]) await t.rejects(answerQuestion(env, q), QuestionError, JSON.stringify(q))
  // The RPC process's side, over a loop back to answerQuestion (what the socket carries).
  const asking = askingEnv(async (q) => JSON.parse(JSON.stringify(await answerQuestion(env, q))))
  t.same(await asking.shares(), await env.shares())
  const lying = askingEnv(async () => [{ name: 5 }])
  await t.rejects(lying.shares(), QuestionError, 'an answer of the wrong shape')
  await t.rejects(askingEnv(async () => 'x').server(), QuestionError)
})
