// A started server's heap does not learn to keep its requests' garbage (src/io/request-heap.ts).
// Until V8 has optimized the request path, 12-18% of each scavenge's young generation survives
// either way; once it has, next to nothing does, unless V8 tenured the path's allocation sites
// meanwhile (pretenuring on: 12-19% survived to the end, the in-memory ECHO 30% slower for it).
// So the later half of the run is what is judged.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tsChildArgs } from '../../helpers/ts-child-args.js'

const CHURN = fileURLToPath(new URL('../../helpers/request-churn.ts', import.meta.url))
const REQUESTS = 90_000

/** The young generation's survival (percent) at each scavenge while the ECHOs ran. */
function survival (untuned: boolean): { rates: number[], replies: number } {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-churn-'))
  try {
    // A 1 MiB young generation: many scavenges in a short run (V8's default grows it to 16+ MiB).
    const r = spawnSync(process.execPath, [...tsChildArgs(), '--trace-gc-nvp', '--max-semi-space-size=1', CHURN, dir, String(REQUESTS), ...(untuned ? ['untuned'] : [])],
      { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 })
    if (r.status !== 0) throw new Error(`churn child: ${r.status ?? r.signal}: ${r.stderr}`)
    const out = r.stdout
    const start = out.indexOf('CHURN START')
    const end = /CHURN END (\d+)/.exec(out)
    if (start < 0 || end === null) throw new Error(`churn child printed no markers: ${out.slice(-2000)}`)
    const during = out.slice(start, end.index)
    const rates = [...during.matchAll(/gc=s .*?new_space_survive_rate_=([\d.]+)%/g)].map(m => Number(m[1]))
    return { rates, replies: Number(end[1]) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

t.test('a started server: once optimized, the request path leaves (almost) nothing alive at a scavenge', async (t) => {
  const { rates, replies } = survival(false)
  t.equal(replies, REQUESTS, 'every ECHO answered')
  t.ok(rates.length >= 40, `scavenges ran while the ECHOs did (${rates.length})`)
  const later = rates.slice(Math.floor(rates.length / 2))
  t.ok(median(later) < 2, `median survival of the later half ${median(later)}% (< 2%; 12-19% when V8 pretenures the request path)`)
})
