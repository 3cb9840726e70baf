// A started server's request path leaves next to nothing alive at a scavenge, from its first
// requests on. Two things broke that, each checked to fail here:
// - a closure per request in processRequest (ctx.goAsync; src/smb2/receive.ts, GoingAsync):
//   12-18% of each scavenge's young generation survived until V8 had optimized the path;
// - with it, allocation-site pretenuring (src/io/request-heap.ts) made that survival permanent:
//   12-19% to the end of the run, the in-memory ECHO 30% slower for it.
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
function survival (): { rates: number[], replies: number } {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-churn-'))
  try {
    // A 1 MiB young generation: many scavenges in a short run (V8's default grows it to 16+ MiB).
    const r = spawnSync(process.execPath, [...tsChildArgs(), '--trace-gc-nvp', '--max-semi-space-size=1', CHURN, dir, String(REQUESTS)],
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

t.test('a started server: the request path leaves (almost) nothing alive at a scavenge', async (t) => {
  const { rates, replies } = survival()
  t.equal(replies, REQUESTS, 'every ECHO answered')
  t.ok(rates.length >= 40, `scavenges ran while the ECHOs did (${rates.length})`)
  // The first few hold what the server's start left behind.
  const judged = rates.slice(5).sort((a, b) => a - b)
  const p90 = judged[Math.floor(judged.length * 0.9)]
  t.ok(p90 < 3, `90th percentile of the survival ${p90}% (< 3%; 12-19% with a closure per request in processRequest)`)
})
