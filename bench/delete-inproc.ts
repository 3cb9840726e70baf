// What one delete of a small file costs the server, as smbclient's `del` makes it: a CREATE for
// DELETE with FILE_DELETE_ON_CLOSE, then its CLOSE (src/smb2 and the posix VFS, no sockets or
// ring). µs per delete, median of rounds; each round first makes its files (not timed).
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import bench/delete-inproc.ts [FILES_PER_ROUND] [DIR]
// DIR (default /dev/shm) holds the share.
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createBody, Disposition } from '../test/helpers/mem-client.js'
import { inProc } from './inproc.js'

const N = Number(process.argv[2] ?? 5_000)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const { srv, base, createClose } = await inProc('smbts-delbench-', process.argv[3] ?? '/dev/shm')

// smbclient (cli_smb2_unlink): DELETE access, every share mode, FILE_NON_DIRECTORY_FILE | FILE_DELETE_ON_CLOSE.
const DELETE = 0x00010000
const OPTIONS = 0x00000040 | 0x00001000

async function round (r: number): Promise<number> {
  const names = Array.from({ length: N }, (_, i) => `r${r}-f${i}.txt`)
  for (const n of names) writeFileSync(join(srv.share, n), 'x'.repeat(1024))
  let t = 0n
  for (const n of names) t += await createClose(createBody(n, { disposition: Disposition.OPEN, access: DELETE, share: 7, options: OPTIONS }))
  return Number(t) / 1000 / N
}

const times: number[] = []
for (let r = 0; r < ROUNDS; r++) times.push(await round(r))
times.sort((a, b) => a - b)
console.log(`delete (CREATE with DELETE_ON_CLOSE + CLOSE): median ${times[ROUNDS >> 1].toFixed(2)} µs (min ${times[0].toFixed(2)}, max ${times[ROUNDS - 1].toFixed(2)}) over ${ROUNDS} rounds of ${N}`)
srv.cleanup()
rmSync(base, { recursive: true, force: true })
