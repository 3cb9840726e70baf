// The RPC decoders under fast-check: every pipe's endpoint (a bind, then requests for every opnum
// with arbitrary stubs, in one byte stream cut into pieces), the data plane ⇄ RPC process frame
// decoder and the data plane's check of the RPC process's questions. Each must answer or throw only
// its declared error, within the time limit. Counterexamples become fixtures in
// test/fixtures/fuzz/rpc/, replayed every run.
import t from 'tap'
import { ContractViolation, fc, fuzz, MAX_MS, mutated, replayFixtures, reportExecutions, underContract } from '../helpers/fuzz.js'
import { NDR20, encodeBind, encodeRequest, type SyntaxId } from '../../src/rpc/pdu.js'
import { openRpcPipe, RpcPipeError } from '../../src/rpc/endpoint.js'
import { IpcDecoder, IpcWireError, encodeFrame } from '../../src/rpc/ipc-wire.js'
import { answerQuestion, QuestionError } from '../../src/rpc/questions.js'
import type { RpcEnv } from '../../src/rpc/service.js'
import { testRpcEnv } from '../helpers/rpc-env.js'
import { SRVSVC_SYNTAX } from '../../src/rpc/srvsvc.js'
import { WKSSVC_SYNTAX } from '../../src/rpc/wkssvc.js'
import { LSARPC_SYNTAX, lsarpc, LsaOpnum } from '../../src/rpc/lsarpc.js'
import { DSSETUP_SYNTAX } from '../../src/rpc/dssetup.js'
import { SAMR_SYNTAX, samr, SamrOpnum } from '../../src/rpc/samr.js'
import { NdrError } from '../../src/rpc/ndr.js'
import { RpcFault, type RpcCallContext } from '../../src/rpc/service.js'
import { testCallContext } from '../helpers/rpc-env.js'
import * as F from '../fixtures/rpc-accounts.js'

const AREA = 'rpc'
const bytes = (min: number, max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: min, maxLength: max }).map(a => Buffer.from(a))

const env: RpcEnv = {
  ...testRpcEnv(),
  shares: async () => [{ name: 'share', type: 0, comment: 'c', path: '/tmp', browseable: true, available: true, maxUses: 0, currentUses: 0 }],
}

/** Every pipe and the interfaces bound on it in the fuzzed streams. */
const FUZZED_PIPES: Array<{ pipe: string, syntax: SyntaxId, opnums: number }> = [
  { pipe: 'srvsvc', syntax: SRVSVC_SYNTAX, opnums: 60 },
  { pipe: 'wkssvc', syntax: WKSSVC_SYNTAX, opnums: 30 },
  { pipe: 'lsarpc', syntax: LSARPC_SYNTAX, opnums: 80 },
  { pipe: 'lsarpc', syntax: DSSETUP_SYNTAX, opnums: 3 },
  { pipe: 'samr', syntax: SAMR_SYNTAX, opnums: 70 },
]

async function asyncContract (errors: Array<new (...a: never[]) => Error>, fn: () => Promise<unknown>, ms = 4 * MAX_MS): Promise<void> {
  const t0 = performance.now()
  try {
    await fn()
  } catch (e) {
    if (!errors.some(E => e instanceof E)) throw new ContractViolation(`undeclared ${(e as Error)?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack ?? ''}`, e)
  }
  const took = performance.now() - t0
  if (took > ms) throw new ContractViolation(`took ${took.toFixed(1)} ms`)
}

const checks: Record<string, (b: Buffer) => Promise<void>> = {}
const properties: Array<{ name: string, arb: fc.Arbitrary<Buffer> }> = []

for (const { pipe, syntax, opnums } of FUZZED_PIPES) {
  const bind = encodeBind({ callId: 1, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 0, contexts: [{ contextId: 0, abstractSyntax: syntax, transferSyntaxes: [NDR20] }] })
  const name = `rpc.RpcPipe.${pipe}${syntax === DSSETUP_SYNTAX ? '.dssetup' : ''}`
  properties.push({
    name,
    arb: fc.array(fc.record({ callId: fc.nat(), contextId: fc.constantFrom(0, 1), opnum: fc.integer({ min: 0, max: opnums }), stub: bytes(0, 160), pfcFlags: fc.constantFrom(3, 1, 2) }), { maxLength: 3 })
      .map(rs => Buffer.concat([bind, ...rs.map(encodeRequest)])),
  })
  checks[name] = async (input) => {
    const p = openRpcPipe(pipe, env)!
    await asyncContract([RpcPipeError], async () => {
      for (let i = 0; i < input.length; i += 97) {
        await p.write(input.subarray(i, i + 97))
        while (p.read(1024) !== undefined) { /* drain */ }
      }
    })
  }
}

// Calls that take a context handle only get past it with a real one: each stub here starts with a
// handle the services gave out (lsarpc policy; samr server, domain, Builtin, user), then arbitrary bytes.
async function openHandles (): Promise<{ ctx: RpcCallContext, handles: Buffer[] }> {
  const ctx = testCallContext()
  const hex = (x: string): Buffer => Buffer.from(x, 'hex')
  const policy = (await lsarpc.call(LsaOpnum.OpenPolicy2, hex(F.LSA_OPEN_POLICY2), env, ctx))!.subarray(0, 20)
  const server = (await samr.call(SamrOpnum.Connect5, hex(F.SAMR_CONNECT5), env, ctx))!.subarray(16, 36)
  const builtin = (await samr.call(SamrOpnum.OpenDomain, Buffer.concat([server, hex(F.SAMR_OPEN_DOMAIN_BUILTIN).subarray(20)]), env, ctx))!.subarray(0, 20)
  return { ctx, handles: [policy, server, builtin] }
}
properties.push({
  name: 'rpc.handleCalls',
  arb: fc.record({ iface: fc.integer({ min: 0, max: 1 }), opnum: fc.integer({ min: 0, max: 80 }), handle: fc.integer({ min: 0, max: 2 }), stub: bytes(0, 200) })
    .map(v => Buffer.concat([Buffer.from([v.iface, v.opnum, v.handle]), v.stub])),
})
checks['rpc.handleCalls'] = async (input) => {
  if (input.length < 3) return
  const { ctx, handles } = await openHandles()
  const iface = input[0] % 2 === 0 ? lsarpc : samr
  const stub = Buffer.concat([handles[input[2] % handles.length]!, input.subarray(3)])
  await asyncContract([NdrError, RpcFault], async () => await iface.call(input[1]!, stub, env, ctx))
}

properties.push({
  name: 'rpc.IpcDecoder',
  arb: fc.array(fc.record({ type: fc.integer({ min: 1, max: 10 }), id: fc.nat(), payload: bytes(0, 64) }), { minLength: 1, maxLength: 4 })
    .map(fs => Buffer.concat(fs.map(f => encodeFrame(f.type, f.id, f.payload)))),
})
checks['rpc.IpcDecoder'] = async (input) => {
  underContract({ errors: [IpcWireError] }, input, () => {
    const d = new IpcDecoder()
    for (let i = 0; i < input.length; i += 13) d.push(input.subarray(i, i + 13))
    return d.pending
  })
}

// The RPC process is not trusted: whatever it asks, the data plane answers or refuses with QuestionError.
properties.push({
  name: 'rpc.answerQuestion',
  arb: fc.jsonValue().map(v => Buffer.from(JSON.stringify(v) ?? 'null')),
})
checks['rpc.answerQuestion'] = async (input) => {
  let q: unknown
  try { q = JSON.parse(input.toString('utf8')) } catch { return }
  await asyncContract([QuestionError], async () => await answerQuestion(env, q))
}

t.test('fixtures from earlier runs still pass', async (t) => { await replayFixtures(t, AREA, checks) })
t.test('properties', async (t) => {
  for (const p of properties) {
    if (checks[p.name] === undefined) throw new Error(`no check for ${p.name}`)
    await fuzz(t, { area: AREA, property: p.name, arb: p.arb, encode: b => b, check: checks[p.name]!, weight: 0.5 })
    await fuzz(t, { area: AREA, property: p.name, arb: mutated(p.arb), encode: b => b, check: checks[p.name]!, weight: 1 })
  }
})
t.teardown(() => { reportExecutions(t, 'rpc.test.ts') })
