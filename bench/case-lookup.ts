// What case-insensitive names cost (src/vfs/posix.ts resolveCase), per lookup, on the posix
// backend (threadpool), for directories of 10 to 10,000 entries on tmpfs or the temp dir:
//   exact hit     stat of a name spelled as stored: the fast path, unchanged by this feature
//   other case    exact stat misses, then resolveCase lists the directory and finds the entry
//   new name      exact stat misses, then resolveCase lists the directory and finds nothing
//                 (every CREATE of a new file pays this on a case-insensitive share)
// Medians of alternating rounds (the machine is noisy: FIELD-NOTES).
//
//   npm run build && node bench/case-lookup.ts [DIR]
// Runs under Node 24 (type stripping), on the built dist/ (`#dist/`: package.json "imports").
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { posixBackend } from '#dist/vfs/posix.js'

const base = mkdtempSync(join(process.argv[2] ?? tmpdir(), 'smbts-case-bench-'))
const ROUNDS = 5
const OPS = 200

interface Fs { stat (p: string): Promise<unknown>, resolveCase (p: string): Promise<{ existing: number }>, close (): Promise<void> }

async function timeIt (n: number, f: (i: number) => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await f(i)
  return Number(process.hrtime.bigint() - t0) / 1000 / n // µs per op
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function missThenResolve (fs: Fs, name: string): Promise<void> {
  try { await fs.stat(name) } catch { await fs.resolveCase(name) }
}

try {
  process.stdout.write('| entries | exact hit µs | other case µs | new name µs |\n|---|---|---|---|\n')
  for (const size of [10, 100, 1000, 10000]) {
    const dir = join(base, `d${size}`)
    rmSync(dir, { recursive: true, force: true })
    const { mkdirSync } = await import('node:fs')
    mkdirSync(dir)
    for (let i = 0; i < size; i++) writeFileSync(join(dir, `file-${i}.txt`), '')
    const fs = await posixBackend.openShare(dir, { followSymlinks: false }) as unknown as Fs
    const hit: number[] = []
    const other: number[] = []
    const fresh: number[] = []
    for (let r = 0; r < ROUNDS; r++) {
      hit.push(await timeIt(OPS, async (i) => { await fs.stat(`file-${i % size}.txt`) }))
      other.push(await timeIt(OPS, async (i) => { await missThenResolve(fs, `FILE-${i % size}.TXT`) }))
      fresh.push(await timeIt(OPS, async (i) => { await missThenResolve(fs, `new-${i}.txt`) }))
    }
    await fs.close()
    process.stdout.write(`| ${size} | ${median(hit).toFixed(1)} | ${median(other).toFixed(1)} | ${median(fresh).toFixed(1)} |\n`)
  }
} finally {
  rmSync(base, { recursive: true, force: true })
}
