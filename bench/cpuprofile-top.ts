// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, top N, with the share of
// all samples. Profiles of the benchmarked server come from `SMBTS_BENCH_PROF=DIR npm run bench ...`.
//
//   node bench/cpuprofile-top.ts FILE.cpuprofile [N]
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[] }

const [file, nArg] = process.argv.slice(2)
if (file === undefined) { process.stderr.write('usage: cpuprofile-top.ts FILE [N]\n'); process.exit(2) }
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(p.nodes.map(n => [n.id, n]))
const self = new Map<string, number>()
let total = 0
for (let i = 0; i < p.samples.length; i++) {
  const n = byId.get(p.samples[i])
  if (n === undefined) continue
  const dt = p.timeDeltas[i] ?? 0
  const f = n.callFrame
  const where = f.url === '' ? '' : ` ${f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`
  const key = `${f.functionName || '(anonymous)'}${where}`
  self.set(key, (self.get(key) ?? 0) + dt)
  total += dt
}
const idle = self.get('(idle)') ?? 0
const busy = total - idle
process.stdout.write(`total ${(total / 1e6).toFixed(2)} s, busy (not idle) ${(busy / 1e6).toFixed(2)} s\n`)
process.stdout.write('| self ms | % of busy | function |\n|---|---|---|\n')
for (const [k, v] of [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, Number(nArg ?? 25))) {
  process.stdout.write(`| ${(v / 1000).toFixed(0)} | ${(100 * v / busy).toFixed(1)} | \`${k}\` |\n`)
}
