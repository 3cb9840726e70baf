// What one CREATE + CLOSE of an existing name costs the server (src/smb2 and the posix VFS, inline
// metadata on where the file system allows): smbtorture's smb2.bench.path-contention-shared without
// sockets or a ring. µs per CREATE+CLOSE pair, median of rounds; the share root (as smbtorture
// opens it) and a file.
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/open-inproc.ts [PAIRS_PER_ROUND] [DIR]
// DIR (default /dev/shm) holds the share: put it on the file system you want measured.
// SMBTS_BENCH_RING=1: the posix-uring backend (as the server runs it) instead of the posix one.
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createBody, Disposition } from '../test/helpers/mem-client.js'
import { Ring } from '../src/io/ring.js'
import { posixUringBackend } from '../src/vfs/posix-uring.js'
import { inProc } from './inproc.js'

const N = Number(process.argv[2] ?? 20_000)
const ROUNDS = 7
// SMBTS_BENCH_RING=1: the server's posix-uring backend on a ring of its own (its file handles as the server's).
const ring = process.env.SMBTS_BENCH_RING ? Ring.create(256) : undefined
const { srv, base, createClose } = await inProc('smbts-openbench-', process.argv[3] ?? '/dev/shm', ring !== undefined ? posixUringBackend(ring) : 'posix')
writeFileSync(join(srv.share, 'contended.dat'), 'x')

// MS-SMB2 2.2.13: open for reading attributes, sharing everything (smbtorture: FILE_OPEN_REPARSE_POINT).
const requests = {
  'share root': createBody('', { disposition: Disposition.OPEN, access: 0x80, share: 7, options: 0x00200000 }),
  'a file': createBody('contended.dat', { disposition: Disposition.OPEN, access: 0x80, share: 7, options: 0x00200000 }),
}

async function round (createReq: Buffer): Promise<number> {
  let t = 0n
  for (let i = 0; i < N; i++) t += await createClose(createReq)
  return Number(t) / 1000 / N
}

for (const [what, req] of Object.entries(requests)) {
  const times: number[] = []
  for (let r = 0; r < ROUNDS; r++) times.push(await round(req))
  times.sort((a, b) => a - b)
  console.log(`CREATE+CLOSE pair, ${what}: median ${times[ROUNDS >> 1].toFixed(2)} µs (min ${times[0].toFixed(2)}, max ${times[ROUNDS - 1].toFixed(2)}) over ${ROUNDS} rounds of ${N}`)
}
srv.cleanup()
await ring?.close()
rmSync(base, { recursive: true, force: true })
