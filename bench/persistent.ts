// What a persistent handle costs (issue 16): the server in memory (no sockets), the posix VFS on
// DIR, the records in DIR too. Alternating rounds, medians, µs per operation:
//   - CREATE+CLOSE of a file with a batch oplock and a DH2Q asking PERSISTENT on a continuously
//     available share (a record written at the CREATE, removed at the CLOSE), against the same
//     DH2Q without the flag (durable only, nothing written);
//   - a 4 KiB WRITE through a persistent open against one through a durable open (nothing is
//     written for a WRITE: the data is the file's, the record does not change);
//   - LOCK+UNLOCK of a range through each (the record is rewritten at each).
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/persistent.ts [OPS_PER_ROUND] [DIR]
// DIR (default /var/tmp) is where the share and the records go: the record directory's default,
// /var/lib/smbts/persistent, is on the root file system.
import { mkdtempSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { MemClient, memServer, fileIdOf, type Resp } from '../test/helpers/mem-client.js'
import { openPersistentStore } from '../src/session/persistent.js'

const N = Number(process.argv[2] ?? 2000)
const ROUNDS = 7
const base = mkdtempSync(join(process.argv[3] ?? '/var/tmp', 'smbts-persistbench-'))
process.env.TMPDIR = base
const srv = memServer({
  backend: 'posix',
  global: [`persistent handle directory = ${join(base, 'records')}`],
  shareLines: ['continuous availability = yes'],
})
srv.state.persistent = openPersistentStore(srv.state)
const c = await new MemClient(srv.state).connect({ dialect: 0x0300 })
const BATCH = 0x09

function dh2q (persistent: boolean): { name: string, data: Buffer } {
  const d = Buffer.alloc(32)
  d.writeUInt32LE(60_000, 0)
  d.writeUInt32LE(persistent ? 0x2 : 0, 4)
  randomBytes(16).copy(d, 16)
  return { name: 'DH2Q', data: d }
}
const ok = (r: Resp, what: string): Resp => { if (r.status !== 0) throw new Error(`${what}: 0x${r.status.toString(16)}`); return r }
const µs = (t: bigint, n: number): number => Number(t) / 1000 / n

async function createClose (persistent: boolean): Promise<number> {
  let t = 0n
  for (let i = 0; i < N; i++) {
    const ctx = dh2q(persistent)
    const t0 = process.hrtime.bigint()
    const r = ok(await c.create('cc.dat', { oplock: BATCH, share: 7, contexts: [ctx] }), 'CREATE')
    ok(await c.close(fileIdOf(r)), 'CLOSE')
    t += process.hrtime.bigint() - t0
  }
  return µs(t, N)
}

const data = randomBytes(4096)
const opens = {
  persistent: fileIdOf(ok(await c.create('w-persistent.dat', { oplock: BATCH, share: 7, contexts: [dh2q(true)] }), 'CREATE')),
  durable: fileIdOf(ok(await c.create('w-durable.dat', { oplock: BATCH, share: 7, contexts: [dh2q(false)] }), 'CREATE')),
}

async function writes (kind: keyof typeof opens): Promise<number> {
  const fid = opens[kind]
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) ok(await c.write(fid, (i % 256) * 4096, data), 'WRITE')
  return µs(process.hrtime.bigint() - t0, N)
}

async function lockUnlock (kind: keyof typeof opens): Promise<number> {
  const fid = opens[kind]
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) {
    ok(await c.lock(fid, [{ off: 0, len: 10, flags: 0x12 }]), 'LOCK')
    ok(await c.lock(fid, [{ off: 0, len: 10, flags: 0x4 }]), 'UNLOCK')
  }
  return µs(process.hrtime.bigint() - t0, N)
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const pairs: Array<[string, () => Promise<number>, () => Promise<number>]> = [
  ['CREATE+CLOSE (batch oplock, DH2Q)', () => createClose(true), () => createClose(false)],
  ['WRITE 4 KiB', () => writes('persistent'), () => writes('durable')],
  ['LOCK+UNLOCK', () => lockUnlock('persistent'), () => lockUnlock('durable')],
]
for (const [what, p, d] of pairs) {
  const tp: number[] = []
  const td: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating, the order swapped each round: drift falls on both alike.
    if (r % 2 === 0) { tp.push(await p()); td.push(await d()) } else { td.push(await d()); tp.push(await p()) }
  }
  const mp = median(tp)
  const md = median(td)
  console.log(`${what}: persistent ${mp.toFixed(1)} µs, durable ${md.toFixed(1)} µs, cost ${(mp - md).toFixed(1)} µs per op (medians of ${ROUNDS} rounds of ${N})`)
}
await c.close(opens.persistent)
await c.close(opens.durable)
srv.cleanup()
rmSync(base, { recursive: true, force: true })
