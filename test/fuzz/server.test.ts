// The whole server under fast-check, in memory. A case is a valid session (a random dialect,
// NTLMv2 login, tree connect) followed by steps: single requests and compounds of
// CREATE (some asking for oplocks)/WRITE/READ/QUERY_DIRECTORY/QUERY_INFO/SET_INFO/CLOSE/FLUSH/IOCTL/OPLOCK_BREAK/ECHO/LOGOFF/TREE_DISCONNECT,
// related or not, naming live, closed, logged-off, disconnected or made-up ids; some steps are
// then mutated (message bodies, or the whole PDU's bytes). Properties:
//  - handlePdu always resolves, and nothing escapes (uncaughtException/unhandledRejection trap);
//  - every response PDU is well-formed SMB2 (header, chain, StructureSize), or the connection closed;
//  - nothing is logged as an internal error;
//  - a request naming a session/tree/open that was logged off/disconnected/closed earlier, in the
//    same compound or later, gets an error status, and its WRITE data never reaches the disk;
//  - a second, well-behaved connection on the same ServerState keeps working after every case.
// A failing case is saved (as hex of its JSON) in test/fixtures/fuzz/server/ and replayed.
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import {
  fc, fuzz, mutate, mutationArb, replayFixtures, reportExecutions, type Mutation,
} from '../helpers/fuzz.js'
import {
  ALL_ONES_FID, closeBody, Command, createBody, Disposition, fileIdOf, flushBody, ioctlBody, MemClient, memServer, oplockBreakBody,
  queryDirectoryBody, queryInfoBody, readBody, renameInfo, setInfoBody, smallBody, writeBody, type FileId,
} from '../helpers/mem-client.js'
import { SMB2_HEADER_SIZE } from '../../src/wire/constants.js'

const AREA = 'server'
// posix: shareBytes() reads what the cases left on disk.
const srv = memServer({ log: true, backend: 'posix' })
// A mutated CREATE may ask for an oplock that a later CREATE of the case breaks; nobody
// acknowledges, so the break ends by its timer (MS-SMB2 3.3.2.1), kept short here.
srv.state.locks.breakTimeoutMs = 200
t.teardown(srv.cleanup)

// ------------------------------------------------------------------ the trap

const escaped: string[] = []
const onUncaught = (e: unknown): void => { escaped.push(`uncaughtException: ${(e as Error)?.stack ?? String(e)}`) }
const onRejection = (e: unknown): void => { escaped.push(`unhandledRejection: ${(e as Error)?.stack ?? String(e)}`) }
process.on('uncaughtException', onUncaught)
process.on('unhandledRejection', onRejection)
t.teardown(() => { process.off('uncaughtException', onUncaught); process.off('unhandledRejection', onRejection) })

// ------------------------------------------------------------------ cases (plain data, JSON-able)

const NAMES = ['a.txt', 'b.bin', 'dir', 'dir\\c.txt', 'deep\\x', 'a.txt:s1', '', 'UPPER.TXT', 'd2']
/** Which FileId a request names. */
type FidRef = { k: 'slot', slot: number } | { k: 'ones' } | { k: 'bogus', p: string, v: string }
/** Which SessionId / TreeId an unrelated request names. */
type IdRef = 'cur' | 'zero' | 'bogus'
type Op =
  | { op: 'create', name: number, dir: boolean, disposition: number, access: number, options: number, slot: number, oplock?: number }
  | { op: 'write', fid: FidRef, offset: number, len: number }
  | { op: 'read', fid: FidRef, offset: number, len: number }
  | { op: 'qdir', fid: FidRef, cls: number, pattern: string, flags: number }
  | { op: 'qinfo', fid: FidRef, type: number, cls: number, outLen: number }
  | { op: 'setinfo', fid: FidRef, what: 'eof' | 'disposition' | 'rename' | 'basic' | 'raw', n: number }
  | { op: 'close', fid: FidRef, flags: number }
  | { op: 'flush', fid: FidRef }
  | { op: 'ioctl', fid: FidRef, code: number }
  | { op: 'ack', fid: FidRef, level: number }
  | { op: 'echo' }
  | { op: 'logoff' }
  | { op: 'tdis' }
interface Req { op: Op, related: boolean, sid: IdRef, tid: IdRef }
/** `channel` 1: sent on the session's second channel (a bound connection, Case.bind), when there is one. */
interface Step { reqs: Req[], bodyMutations: Array<{ at: number, m: Mutation }>, pduMutations: Mutation[], channel?: number }
/** `bind`: a second connection of the client binds to the session (multichannel, 3.x dialects). */
interface Case { dialect: number, signAll: boolean, steps: Step[], bind?: boolean }

const slot = fc.integer({ min: 0, max: 3 })
const bogusId = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(x => x.toString())
const fidRef: fc.Arbitrary<FidRef> = fc.oneof(
  { arbitrary: slot.map(s => ({ k: 'slot' as const, slot: s })), weight: 8 },
  { arbitrary: fc.constant({ k: 'ones' as const }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('bogus' as const), p: bogusId, v: bogusId }), weight: 1 }
)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('create' as const), name: fc.nat({ max: NAMES.length - 1 }), dir: fc.boolean(), disposition: fc.integer({ min: 0, max: 5 }), access: fc.constantFrom(0xc0010000, 0x80000000, 0x12019f, 0x80, 0x10000, 0x2000000), options: fc.constantFrom(0, 0x40, 0x1000, 0x1040, 0x20), slot, oplock: fc.constantFrom(0, 0, 1, 8, 9, 0xff) }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('write' as const), fid: fidRef, offset: fc.constantFrom(0, 1, 4095, 65536, 2 ** 40), len: fc.integer({ min: 0, max: 300 }) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('read' as const), fid: fidRef, offset: fc.constantFrom(0, 1, 100, 2 ** 40), len: fc.integer({ min: 0, max: 70000 }) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('qdir' as const), fid: fidRef, cls: fc.constantFrom(1, 2, 3, 12, 37, 38, 60, 99, 100), pattern: fc.constantFrom('*', 'a*', '<', '', '?.txt', 'dir'), flags: fc.constantFrom(0, 1, 2, 0x10) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('qinfo' as const), fid: fidRef, type: fc.constantFrom(1, 2, 3, 4, 9), cls: fc.integer({ min: 0, max: 80 }), outLen: fc.constantFrom(0, 8, 24, 100, 4096, 65536) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('setinfo' as const), fid: fidRef, what: fc.constantFrom('eof' as const, 'disposition' as const, 'rename' as const, 'basic' as const, 'raw' as const), n: fc.nat({ max: 1000 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('close' as const), fid: fidRef, flags: fc.constantFrom(0, 1) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('flush' as const), fid: fidRef }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('ioctl' as const), fid: fidRef, code: fc.constantFrom(0x00060194, 0x0011c017, 0x001401fc, 0x00140078, 0x000900c0, 0x00090000, 0x001440f2, 0x000900a4, 0x000900a8, 0x000900ac, 0x12345678) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('ack' as const), fid: fidRef, level: fc.constantFrom(0, 1, 8, 9, 0xff, 3) }), weight: 1 },
  { arbitrary: fc.constant({ op: 'echo' as const }), weight: 1 },
  { arbitrary: fc.constant({ op: 'logoff' as const }), weight: 1 },
  { arbitrary: fc.constant({ op: 'tdis' as const }), weight: 1 }
)
const idRef: fc.Arbitrary<IdRef> = fc.oneof({ arbitrary: fc.constant('cur' as const), weight: 12 }, { arbitrary: fc.constantFrom('zero' as const, 'bogus' as const), weight: 1 })
const reqArb: fc.Arbitrary<Req> = fc.record({ op: opArb, related: fc.oneof({ arbitrary: fc.constant(false), weight: 2 }, { arbitrary: fc.constant(true), weight: 1 }), sid: idRef, tid: idRef })
const stepArb: fc.Arbitrary<Step> = fc.record({
  reqs: fc.array(reqArb, { minLength: 1, maxLength: 5 }),
  bodyMutations: fc.oneof({ arbitrary: fc.constant<Step['bodyMutations']>([]), weight: 3 }, { arbitrary: fc.array(fc.record({ at: fc.nat(), m: mutationArb }), { minLength: 1, maxLength: 3 }), weight: 1 }),
  pduMutations: fc.oneof({ arbitrary: fc.constant<Step['pduMutations']>([]), weight: 6 }, { arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 2 }), weight: 1 }),
  channel: fc.nat({ max: 1 }),
})
const caseArb: fc.Arbitrary<Case> = fc.record({
  dialect: fc.constantFrom(0x0202, 0x0210, 0x0300, 0x0302, 0x0311),
  signAll: fc.boolean(),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 8 }),
  bind: fc.boolean(),
})

// ------------------------------------------------------------------ running a case

const ALL_ONES = 0xffffffffffffffffn
const fidKey = (f: FileId): string => `${f.persistent}:${f.volatile}`
let markerSeq = 0

class Violation extends Error {}
const must = (cond: boolean, why: string): void => { if (!cond) throw new Violation(why) }

/** Response messages of one PDU, checked for well-formedness (MS-SMB2 2.2.1, 3.3.4.1.3). */
function parseStrict (pdu: Buffer): Array<{ cmd: number, status: number, body: Buffer, msg: Buffer, mid: bigint }> {
  const out: Array<{ cmd: number, status: number, body: Buffer, msg: Buffer, mid: bigint }> = []
  let off = 0
  for (;;) {
    must(pdu.length - off >= SMB2_HEADER_SIZE + 2, `response shorter than a header at ${off}`)
    must(pdu.readUInt32LE(off) === 0x424d53fe, 'response without SMB2 magic')
    must(pdu.readUInt16LE(off + 4) === 64, 'response header StructureSize')
    must((pdu.readUInt32LE(off + 16) & 1) === 1, 'response without SERVER_TO_REDIR')
    const next = pdu.readUInt32LE(off + 20)
    const end = next === 0 ? pdu.length : off + next
    must(next === 0 || (next % 8 === 0 && end <= pdu.length && next >= 64), `response NextCommand ${next}`)
    const msg = pdu.subarray(off, end)
    const status = msg.readUInt32LE(8)
    const cmd = msg.readUInt16LE(12)
    const body = msg.subarray(64)
    const ss = body.readUInt16LE(0)
    const isError = (status >>> 30) === 3 && !(cmd === Command.IOCTL && status === 0xc000000d && ss === 49)
    // MS-SMB2 2.2.2: error responses are ERROR bodies (StructureSize 9); otherwise the command's.
    const expected: Record<number, number> = {
      [Command.CREATE]: 89, [Command.CLOSE]: 60, [Command.FLUSH]: 4, [Command.READ]: 17, [Command.WRITE]: 17,
      [Command.LOGOFF]: 4, [Command.TREE_DISCONNECT]: 4, [Command.ECHO]: 4, [Command.QUERY_DIRECTORY]: 9,
      [Command.QUERY_INFO]: 9, [Command.SET_INFO]: 2, [Command.IOCTL]: 49, [Command.OPLOCK_BREAK]: 24,
    }
    const mid = msg.readBigUInt64LE(24)
    if (status === 0x103) {
      // MS-SMB2 3.3.4.2: an interim response is async, with an AsyncId and an ERROR body.
      must((msg.readUInt32LE(16) & 2) !== 0 && msg.readBigUInt64LE(32) !== 0n, 'interim response without an AsyncId')
      must(ss === 9, `interim response of command ${cmd} with StructureSize ${ss}`)
    } else if (mid === ALL_ONES) {
      // MS-SMB2 2.2.23.1: the only unsolicited message is an oplock break notification.
      must(cmd === Command.OPLOCK_BREAK && ss === 24, `unsolicited command ${cmd} with StructureSize ${ss}`)
    } else if (isError || (status === 0x80000005 && cmd !== Command.QUERY_INFO && cmd !== Command.IOCTL && cmd !== Command.READ)) must(ss === 9, `error response of command ${cmd} with StructureSize ${ss}`)
    else if (expected[cmd] !== undefined && status !== 0x80000005 && status !== 0x80000006) must(ss === expected[cmd], `command ${cmd} status 0x${status.toString(16)} answered with StructureSize ${ss}`)
    if (cmd === Command.QUERY_DIRECTORY || cmd === Command.QUERY_INFO) {
      if (!isError) {
        const o = body.readUInt16LE(2); const l = body.readUInt32LE(4)
        must(l === 0 || (o >= 64 && o + l <= msg.length), 'OutputBuffer outside the response')
      }
    }
    if (cmd === Command.READ && !isError) {
      const o = body[2]; const l = body.readUInt32LE(4)
      must(o + l <= msg.length, 'READ data outside the response')
    }
    out.push({ cmd, status: status >>> 0, body, msg, mid: msg.readBigUInt64LE(24) })
    if (next === 0) return out
    off = end
  }
}

interface Model {
  deadSessions: Set<bigint>
  deadTrees: Set<string>
  deadFids: Set<string>
  slots: Array<FileId | undefined>
  lastOpen?: FileId
  /** WRITE markers sent to dead objects: none may reach the disk. */
  forbidden: Buffer[]
}

function bodyFor (op: Op, fid: FileId, marker: Buffer): Buffer {
  switch (op.op) {
    case 'create': return createBody(NAMES[op.name], { access: op.access, disposition: op.disposition, options: op.options | (op.dir ? 1 : 0), oplock: op.oplock ?? 0 })
    case 'write': return writeBody(fid, op.offset, Buffer.concat([marker, Buffer.alloc(Math.max(0, op.len - marker.length), 0x61)]))
    case 'read': return readBody(fid, op.offset, op.len)
    case 'qdir': return queryDirectoryBody(fid, op.pattern, op.cls, op.flags)
    case 'qinfo': return queryInfoBody(fid, op.type, op.cls, op.outLen)
    case 'setinfo': {
      switch (op.what) {
        case 'eof': { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(op.n * 37), 0); return setInfoBody(fid, 1, 20, b) }
        case 'disposition': return setInfoBody(fid, 1, 13, Buffer.from([op.n & 1]))
        case 'rename': return setInfoBody(fid, 1, 10, renameInfo(NAMES[op.n % NAMES.length] || 'r.txt', (op.n & 1) === 1))
        case 'basic': { const b = Buffer.alloc(40); b.writeUInt32LE(op.n & 0x27, 32); return setInfoBody(fid, 1, 4, b) }
        case 'raw': return setInfoBody(fid, 1 + (op.n % 4), op.n % 70, Buffer.alloc(op.n % 64, op.n & 0xff))
      }
      break
    }
    case 'close': return closeBody(fid, op.flags)
    case 'flush': return flushBody(fid)
    case 'ioctl': return ioctlBody(op.code, fid, Buffer.alloc(op.code === 0x00060194 ? 0 : 24, 1), 4096, 1)
    case 'ack': return oplockBreakBody(fid, op.level)
    case 'echo': case 'logoff': case 'tdis': return smallBody()
  }
  return smallBody()
}
const CMD: Record<Op['op'], number> = {
  create: Command.CREATE, write: Command.WRITE, read: Command.READ, qdir: Command.QUERY_DIRECTORY, qinfo: Command.QUERY_INFO,
  setinfo: Command.SET_INFO, close: Command.CLOSE, flush: Command.FLUSH, ioctl: Command.IOCTL, echo: Command.ECHO,
  logoff: Command.LOGOFF, tdis: Command.TREE_DISCONNECT, ack: Command.OPLOCK_BREAK,
}
const usesFid = (op: Op): op is Extract<Op, { fid: FidRef }> => 'fid' in op
const usesTree = (op: Op): boolean => op.op !== 'echo' && op.op !== 'logoff'

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<T>((_resolve, reject) => { timer = setTimeout(() => reject(new Violation(`${what}: no answer in ${ms} ms`)), ms) })])
  } finally { clearTimeout(timer) }
}

/** Every file under the share, read whole (they stay small). */
function shareBytes (dir = srv.share): Buffer[] {
  const out: Buffer[] = []
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    try {
      const st = statSync(p)
      if (st.isDirectory()) out.push(...shareBytes(p))
      else if (st.size < 1 << 22) out.push(readFileSync(p))
    } catch { /* removed meanwhile */ }
  }
  return out
}

/** What the cases exercised, printed at the end (so a generator that stopped working shows). */
const hist: Record<string, number> = {}
const stats = { cases: 0, requests: 0, ok: 0, errors: 0, deadChecked: 0, closed: 0, mutatedSteps: 0, secondChannel: 0 }

async function runCase (k: Case): Promise<void> {
  stats.cases++
  srv.logs.length = 0
  const c = new MemClient(srv.state)
  await c.connect({ dialect: k.dialect, signAll: k.signAll })
  const sid = c.sessionId; const tid = c.treeId
  // A second channel of the session (3.x): steps with channel 1 go through it.
  let c2: MemClient | undefined
  if (k.bind === true && k.dialect >= 0x0300) {
    c2 = new MemClient(srv.state, 'mem:channel2')
    c2.clientGuid = c.clientGuid
    await c2.negotiate({ dialects: [k.dialect] })
    const b = await c2.bind(c)
    must(b.last.status === 0 && b.finalSigned, `binding a second channel: 0x${b.last.status.toString(16)}`)
    c2.signAll = k.signAll
  }
  const model: Model = { deadSessions: new Set(), deadTrees: new Set(), deadFids: new Set(), slots: [], forbidden: [] }
  const treeKey = (s: bigint, tr: number): string => `${s}:${tr}`

  for (const step of k.steps) {
    const x = step.channel === 1 && c2 !== undefined ? c2 : c
    if (x.closed) break
    const clean = step.bodyMutations.length === 0 && step.pduMutations.length === 0
    // What each request names, as the model sees it (the chain's inheritance, MS-SMB2 3.3.5.2.7.2).
    const named: Array<{ session: bigint, tree: string, fid?: string, fidFrom?: number, marker?: Buffer }> = []
    const msgs: Buffer[] = []
    let prev: { session: bigint, tree: string } | undefined
    step.reqs.forEach((r, i) => {
      const related = r.related && i > 0
      let fid: FileId = ALL_ONES_FID
      if (usesFid(r.op)) {
        const f = r.op.fid
        if (f.k === 'slot') {
          // an empty slot falls back to the latest open made, so most requests reach a real file
          const filled = model.slots.filter((x): x is FileId => x !== undefined)
          fid = model.slots[f.slot] ?? model.lastOpen ?? filled[filled.length - 1] ?? { persistent: BigInt(f.slot), volatile: BigInt(f.slot) }
        } else if (f.k === 'bogus') fid = { persistent: BigInt(f.p), volatile: BigInt(f.v) }
      }
      const s = r.sid === 'cur' ? sid : r.sid === 'zero' ? 0n : 0x1234567n
      const tr = r.tid === 'cur' ? tid : r.tid === 'zero' ? 0 : 0x7777
      const marker = Buffer.from(`@@${(markerSeq++).toString(36).padStart(6, '0')}@@`)
      const body = bodyFor(r.op, fid, marker)
      const m = x.message({
        cmd: CMD[r.op.op], body, related,
        sessionId: related ? undefined : s, treeId: related ? undefined : tr,
        creditCharge: r.op.op === 'read' || r.op.op === 'write' ? Math.max(1, Math.ceil(Math.max(1, r.op.len) / 65536)) : 1,
      })
      // The FileId a request acts on: its own, or (related, all-ones or naming none) the one the
      // previous request of the chain resolved — known only once that one's response is read.
      const ownFid = usesFid(r.op) && !(fid.persistent === ALL_ONES && fid.volatile === ALL_ONES) ? fidKey(fid) : undefined
      const eff = related && prev !== undefined
        ? { session: prev.session, tree: prev.tree, fid: ownFid, fidFrom: ownFid === undefined ? i - 1 : undefined }
        : { session: s, tree: treeKey(s, tr), fid: ownFid, fidFrom: undefined }
      named.push({ ...eff, marker: r.op.op === 'write' ? marker : undefined })
      prev = eff
      msgs.push(m)
    })
    // Body mutations keep the chain's framing; PDU mutations don't.
    for (const { at, m } of step.bodyMutations) {
      const i = at % msgs.length
      const head = msgs[i].subarray(0, SMB2_HEADER_SIZE)
      msgs[i] = Buffer.concat([head, mutate(msgs[i].subarray(SMB2_HEADER_SIZE), m)])
    }
    const padded = msgs.map((m, i) => {
      const last = i === msgs.length - 1
      const p = last ? m : Buffer.concat([m, Buffer.alloc(((m.length + 7) & ~7) - m.length)])
      if (!last) p.writeUInt32LE(p.length, 20)
      if (x.signAll && x.signer !== undefined) {
        p.writeUInt32LE((p.readUInt32LE(16) | 8) >>> 0, 16)
        x.signer.sign(p).copy(p, 48)
      }
      return p
    })
    const pdu = step.pduMutations.reduce<Buffer>((acc, m) => mutate(acc, m), Buffer.concat(padded))
    const sentBefore = x.sent.length
    await withTimeout(x.conn.handlePdu(pdu), 10000, 'handlePdu')
    const outs = x.sent.slice(sentBefore)
    must(escaped.length === 0, `escaped: ${escaped.join('\n')}`)
    // Interim responses and oplock break notifications (an oplock a mutated CREATE asked for)
    // are well formed but are not the answers to this step's requests.
    const resps = outs.flatMap(parseStrict).filter(r => r.status !== 0x103 && r.mid !== ALL_ONES)
    stats.requests += step.reqs.length
    for (const r of resps) { if (r.status === 0) stats.ok++; else stats.errors++; if (process.env.SMBTS_FUZZ_DEBUG) hist[`${r.cmd}:${r.status.toString(16)}`] = (hist[`${r.cmd}:${r.status.toString(16)}`] ?? 0) + 1 }
    if (x.closed) stats.closed++
    if (x === c2) stats.secondChannel++
    if (!clean) stats.mutatedSteps++
    must(resps.length <= step.reqs.length, `${resps.length} responses to ${step.reqs.length} requests`)
    if (!clean) {
      // The model only learns what clean steps did; dead things stay dead whatever a mutated step did.
      if (resps.length === step.reqs.length) {
        resps.forEach((r, i) => {
          const n = named[i]
          if (n.fidFrom !== undefined) n.fid = named[n.fidFrom].fid
          if (r.status === 0) learn(step.reqs[i], n, r)
        })
      }
      continue
    }
    if (x.closed) break
    must(resps.length === step.reqs.length, `clean step: ${resps.length} responses to ${step.reqs.length} requests`)
    resps.forEach((r, i) => {
      const n = named[i]; const op = step.reqs[i].op
      if (n.fidFrom !== undefined) n.fid = named[n.fidFrom].fid
      const deadSession = model.deadSessions.has(n.session) && (op.op !== 'echo' || n.session !== 0n || step.reqs[i].related)
      const deadTree = usesTree(op) && model.deadTrees.has(n.tree)
      const deadFid = usesFid(op) && n.fid !== undefined && model.deadFids.has(n.fid)
      if (deadSession || deadTree || deadFid) {
        stats.deadChecked++
        must(r.status !== 0 && (r.status >>> 30) !== 0, `${op.op} naming a ${deadSession ? 'logged-off session' : deadTree ? 'disconnected tree' : 'closed open'} answered 0x${r.status.toString(16)}`)
        if (n.marker !== undefined) model.forbidden.push(n.marker)
      }
      if (r.status === 0) learn(step.reqs[i], n, r)
    })
  }

  function learn (req: Req, n: { session: bigint, tree: string, fid?: string }, r: { body: Buffer }): void {
    const op = req.op
    if (op.op === 'create' && r.body.length >= 88) {
      const f = fileIdOf({ body: r.body } as any)
      model.slots[op.slot] = f
      model.lastOpen = f
      // a later related request with an all-ones FileId names this open
      n.fid = fidKey(f)
    } else if (op.op === 'close' && n.fid !== undefined) {
      model.deadFids.add(n.fid)
    } else if (op.op === 'tdis') {
      model.deadTrees.add(n.tree)
      // its opens die with it
      for (const f of model.slots) if (f !== undefined) model.deadFids.add(fidKey(f))
    } else if (op.op === 'logoff') {
      model.deadSessions.add(n.session)
      model.deadTrees.add(n.tree)
      for (const f of model.slots) if (f !== undefined) model.deadFids.add(fidKey(f))
    }
  }

  // WRITE data sent to dead objects must not be anywhere in the share.
  if (model.forbidden.length > 0) {
    const files = shareBytes()
    for (const m of model.forbidden) must(!files.some(f => f.includes(m)), `WRITE to a dead object reached the disk (${m.toString()})`)
  }
  const internal = srv.logs.filter(l => / error /.test(l))
  must(internal.length === 0, `internal error logged: ${internal.join('\n').slice(0, 1500)}`)
  // Leave the connections (the session and its opens are torn down with the last, as on a disconnect).
  c.conn.close('end of case')
  c2?.conn.close('end of case')
  must(!srv.state.sessions.has(sid), 'the session outlived its last channel')
  await stillServes()
}

/** A second, well-behaved connection on the same ServerState still works. */
async function stillServes (): Promise<void> {
  const d = new MemClient(srv.state, 'mem:witness')
  await d.connect({ dialect: 0x0311 })
  const fid = await d.open('witness.txt', { disposition: Disposition.OPEN_IF })
  const w = await d.write(fid, 0, Buffer.from('alive'))
  const r = await d.read(fid, 0, 5)
  const cl = await d.close(fid)
  must(w.status === 0 && r.status === 0 && cl.status === 0 && !d.closed, `witness connection failed (write 0x${w.status.toString(16)}, read 0x${r.status.toString(16)}, close 0x${cl.status.toString(16)})`)
  d.conn.close('witness done')
}

const encodeCase = (k: Case): Buffer => Buffer.from(JSON.stringify(k))
const decodeCase = (b: Buffer): Case => JSON.parse(b.toString('utf8')) as Case

// ------------------------------------------------------------------ the runs

t.test('fixtures from earlier runs still pass', async (t) => {
  await replayFixtures(t, AREA, { 'server.session': async (b) => { await runCase(decodeCase(b)) } })
})

t.test('random sessions, compounds and mutations', async (t) => {
  await fuzz(t, { area: AREA, property: 'server.session', arb: caseArb, encode: encodeCase, check: runCase, weight: 1.5 })
})

// Compounds built to mix LOGOFF, TREE_DISCONNECT and CLOSE with later related and unrelated commands.
const teardownFirst: fc.Arbitrary<Case> = fc.record({
  dialect: fc.constantFrom(0x0202, 0x0210, 0x0300, 0x0302, 0x0311),
  signAll: fc.boolean(),
  steps: fc.tuple(
    fc.array(fc.record({ op: fc.record({ op: fc.constant('create' as const), name: fc.constantFrom(0, 1, 7), dir: fc.constant(false), disposition: fc.constant(3), access: fc.constant(0xc0010000), options: fc.constant(0), slot }), related: fc.constant(false), sid: fc.constant('cur' as const), tid: fc.constant('cur' as const) }), { minLength: 1, maxLength: 3 }),
    fc.constantFrom<Op>({ op: 'logoff' }, { op: 'tdis' }, { op: 'close', fid: { k: 'slot', slot: 0 }, flags: 0 }, { op: 'close', fid: { k: 'ones' }, flags: 0 }),
    fc.array(reqArb, { minLength: 1, maxLength: 4 }),
    fc.array(reqArb.map(r => ({ ...r, sid: 'cur' as const, tid: 'cur' as const })), { minLength: 0, maxLength: 3 })
  ).map(([creates, killer, after, later]) => [
    { reqs: creates, bodyMutations: [], pduMutations: [] },
    // a CREATE, then the teardown related to it, then more requests in the same compound
    { reqs: [{ op: { op: 'create', name: 0, dir: false, disposition: 3, access: 0xc0010000, options: 0, slot: 0 }, related: false, sid: 'cur', tid: 'cur' }, { op: killer, related: true, sid: 'cur', tid: 'cur' }, ...after], bodyMutations: [], pduMutations: [] },
    { reqs: later, bodyMutations: [], pduMutations: [] },
  ].filter(s => s.reqs.length > 0) as Step[]),
})
t.test('teardown in the middle of compounds', async (t) => {
  await fuzz(t, { area: AREA, property: 'server.session', arb: teardownFirst, encode: encodeCase, check: runCase, weight: 1 })
})

t.test('executions', async (t) => {
  t.comment(`server cases: ${JSON.stringify(stats)}`)
  if (process.env.SMBTS_FUZZ_DEBUG) t.comment(JSON.stringify(Object.entries(hist).sort((a, b) => b[1] - a[1]).slice(0, 25)))
  t.ok(stats.deadChecked > 0 && stats.ok > stats.cases, 'the generators reach dead objects and successful requests')
  reportExecutions(t, 'test/fuzz/server.test.ts')
})
