// What the control mount costs a request while nobody looks (issue 14): the two checks every
// request makes with every debug component off and no `trace` reader (the request channel's and
// the `smb` component's hasSubscribers), and the stats every request feeds (two clock reads, a
// histogram bucket). ns per request, three rounds.
//
//   npm run build && node bench/control-guards.ts
import { createLogger } from '#dist/control/log.js'
import { requestChannel } from '#dist/control/channels.js'
import { ServerStats } from '#dist/control/stats.js'

const log = createLogger(() => {})
const N = 10_000_000
for (let r = 0; r < 3; r++) {
  let t = performance.now()
  let n = 0
  for (let i = 0; i < N; i++) if (requestChannel.hasSubscribers || log.wants('smb')) n++
  const guards = (performance.now() - t) * 1e6 / N
  const st = new ServerStats()
  t = performance.now()
  for (let i = 0; i < N / 10; i++) st.record('ECHO', false, performance.now())
  const rec = (performance.now() - t) * 1e6 / (N / 10)
  console.log(`components off, both checks: ${guards.toFixed(1)} ns/request; stats.record (clock reads included): ${rec.toFixed(1)} ns/request${n > 0 ? ' (someone listens!)' : ''}`)
}
