// stats and stats.json: counts, the latency histogram's percentiles, merging workers, ksmbd's line.
import t from 'tap'
import { emptySnapshot, mergeSnapshots, percentile, renderStatsJson, renderStatsLine, ServerStats } from '../../../src/control/stats.js'

t.test('percentile reads the power-of-two bucket holding the rank', async (t) => {
  const b = new Array<number>(32).fill(0)
  t.equal(percentile(b, 50), 0, 'no requests')
  b[3] = 90 // below 8 µs
  b[10] = 10 // below 1024 µs
  t.equal(percentile(b, 50), 8)
  t.equal(percentile(b, 90), 8)
  t.equal(percentile(b, 99), 1024)
})

t.test('ServerStats counts requests, errors and the last activity', async (t) => {
  const s = new ServerStats()
  t.equal(s.lastActivity, 0)
  const before = Date.now()
  s.record('CREATE', false, performance.now())
  s.record('CREATE', true, performance.now() - 5)
  const c = s.commandCounts().CREATE!
  t.equal(c.count, 2)
  t.equal(c.errors, 1)
  t.equal(c.buckets.reduce((a, b) => a + b, 0), 2)
  t.ok(percentile(c.buckets, 99) >= 4096, 'the 5 ms request lands in a bucket of at least 4096 µs')
  t.ok(Math.abs(s.lastActivity - before) < 1000, 'the last activity is now')
})

t.test('merging workers, rendering', async (t) => {
  const a = { ...emptySnapshot(1), worker: 0, connections: 2, sessions: 1, requests: 3, bytesRead: 10, lastActivity: 1000, commands: { ECHO: { count: 3, errors: 0, buckets: Array.from({ length: 32 }, (_, i) => i === 2 ? 3 : 0) } } }
  const b = { ...emptySnapshot(2), worker: 1, connections: 1, requests: 1, bytesRead: 5, lastActivity: 3000, commands: { ECHO: { count: 1, errors: 1, buckets: Array.from({ length: 32 }, (_, i) => i === 5 ? 1 : 0) } } }
  const m = mergeSnapshots([a, b])
  t.match(m, { connections: 3, sessions: 1, requests: 4, bytesRead: 15, lastActivity: 3000 })
  t.same(m.commands.ECHO, { count: 4, errors: 1, buckets: Array.from({ length: 32 }, (_, i) => i === 2 ? 3 : i === 5 ? 1 : 0) })
  t.equal(renderStatsLine(445, m, 0, 10_500), '2 running 445 7\n', 'seconds since the last activity')
  t.equal(renderStatsLine(445, emptySnapshot(), 1000, 4000), '2 running 445 3\n', 'no request yet: since the start')
  const j = JSON.parse(renderStatsJson(445, [a, b], 0)) as { total: { connections: number, commands: { ECHO: { count: number, latency_us: { p50: number } } } }, workers: Array<{ worker: number }> }
  t.equal(j.total.connections, 3)
  t.equal(j.total.commands.ECHO.count, 4)
  t.equal(j.total.commands.ECHO.latency_us.p50, 4)
  t.same(j.workers.map(w => w.worker), [0, 1])
})
