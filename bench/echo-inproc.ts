// What one ECHO costs the SMB2 core (src/smb2/receive.ts, send.ts and below), in memory: no socket, no
// ring, no syscalls — the JS half of smbtorture's smb2.bench.echo (header decode, credits,
// dispatch, the async chain, response encoding). µs per request, median of alternating rounds
// (the machine is noisy: FIELD-NOTES).
//
//   npm run build && node bench/echo-inproc.ts [REQUESTS_PER_ROUND]
// Runs under Node 24 (type stripping), on the built dist/ (`#dist/`: package.json "imports").
import { Smb2Connection } from '#dist/smb2/connection.js'
import { receivePdu } from '#dist/smb2/receive.js'
import { ServerState } from '#dist/session/server-state.js'
import { parseConfigText } from '#dist/config/config.js'
import { posixBackend } from '#dist/vfs/posix.js'
import { silentLogger } from '#dist/control/log.js'
import { encodeHeader } from '#dist/wire/header.js'

const N = Number(process.argv[2] ?? 100_000)
const ROUNDS = 7
const NEGOTIATE = 0
const ECHO = 13

const config = parseConfigText('[global]\nnetbios name = BENCH\n[bench]\npath = /tmp\n')
const state = new ServerState(config, new Map(), posixBackend, silentLogger)
let replies = 0
const conn = new Smb2Connection(state, {
  remoteAddress: 'bench:1',
  send: (_chunks: Buffer[], onSent?: () => void) => { replies++; onSent?.() },
  close: (reason: string) => { throw new Error(`connection closed: ${reason}`) },
}, receivePdu)

let mid = 0n
function request (command: number, body: Buffer): Buffer {
  const pdu = Buffer.alloc(64 + body.length)
  encodeHeader({
    creditCharge: 1, status: 0, command, creditRequest: 32, flags: 0, nextCommand: 0,
    messageId: mid++, asyncId: 0n, treeId: 0, sessionId: 0n,
  }, pdu)
  body.copy(pdu, 64)
  return pdu
}

// MS-SMB2 2.2.3: one dialect, 2.0.2 (no negotiate contexts).
const neg = Buffer.alloc(38)
neg.writeUInt16LE(36, 0)
neg.writeUInt16LE(1, 2)
neg.writeUInt16LE(1, 4)
neg.writeUInt16LE(0x0202, 36)
await conn.handlePdu(request(NEGOTIATE, neg))
if (replies !== 1) throw new Error('no NEGOTIATE response')

// MS-SMB2 2.2.28: StructureSize 4.
const echoBody = Buffer.from([4, 0, 0, 0])
async function round (): Promise<number> {
  const pdus = Array.from({ length: N }, () => request(ECHO, echoBody))
  const before = replies
  const t0 = process.hrtime.bigint()
  for (const p of pdus) await conn.handlePdu(p)
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N
  if (replies - before !== N) throw new Error(`${replies - before} replies for ${N} echoes`)
  return us
}

await round() // warm-up
const xs: number[] = []
for (let r = 0; r < ROUNDS; r++) xs.push(await round())
xs.sort((a, b) => a - b)
console.log(`echo in memory: ${xs[Math.floor(ROUNDS / 2)]!.toFixed(2)} µs/request (min ${xs[0]!.toFixed(2)}, ${N} per round, ${ROUNDS} rounds)`)
