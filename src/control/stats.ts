// What the control mount's `stats` and `stats.json` show: counts kept by the server as it
// answers (two additions and one clock read per request, whether anyone looks or not), and a
// snapshot of what it holds, taken when someone reads. With workers, each worker's snapshot is
// taken in the worker and the supervisor adds them up (mergeSnapshots).
import { performance } from 'node:perf_hooks'

/** Latency buckets: bucket i holds latencies below 2^i µs (the last one, everything above). */
const BUCKETS = 32

export interface CommandCounts {
  count: number
  errors: number
  /** log2 histogram of µs; percentiles are read from it */
  buckets: number[]
}

/** One process's numbers, as it sends them to whoever merges (JSON-safe). */
export interface StatsSnapshot {
  worker?: number
  pid: number
  connections: number
  sessions: number
  treeConnects: number
  openFiles: number
  bytesRead: number
  bytesWritten: number
  requests: number
  /** ms since the epoch of the last request (0: none yet) */
  lastActivity: number
  commands: Record<string, CommandCounts>
}

export class ServerStats {
  bytesRead = 0
  bytesWritten = 0
  requests = 0
  /** performance.now() of the last request (0: none); as ms since the epoch: `lastActivity` */
  private lastPerf = 0
  private readonly commands = new Map<string, CommandCounts>()

  /** A request answered: `started` is performance.now() at its arrival. */
  record (command: string, failed: boolean, started: number): void {
    const now = performance.now()
    const us = (now - started) * 1000
    let c = this.commands.get(command)
    if (c === undefined) { c = { count: 0, errors: 0, buckets: new Array<number>(BUCKETS).fill(0) }; this.commands.set(command, c) }
    c.count++
    if (failed) c.errors++
    const b = us < 1 ? 0 : Math.min(BUCKETS - 1, 32 - Math.clz32(Math.ceil(us)))
    c.buckets[b]!++
    this.requests++
    this.lastPerf = now
  }

  /** ms since the epoch of the last request answered (0: none yet). */
  get lastActivity (): number {
    return this.lastPerf === 0 ? 0 : Math.round(performance.timeOrigin + this.lastPerf)
  }

  commandCounts (): Record<string, CommandCounts> {
    const out: Record<string, CommandCounts> = {}
    for (const [k, v] of this.commands) out[k] = { count: v.count, errors: v.errors, buckets: [...v.buckets] }
    return out
  }
}

export function emptySnapshot (pid = process.pid): StatsSnapshot {
  return { pid, connections: 0, sessions: 0, treeConnects: 0, openFiles: 0, bytesRead: 0, bytesWritten: 0, requests: 0, lastActivity: 0, commands: {} }
}

/** The totals of several processes' snapshots. */
export function mergeSnapshots (list: StatsSnapshot[]): StatsSnapshot {
  const t = emptySnapshot()
  for (const s of list) {
    t.connections += s.connections
    t.sessions += s.sessions
    t.treeConnects += s.treeConnects
    t.openFiles += s.openFiles
    t.bytesRead += s.bytesRead
    t.bytesWritten += s.bytesWritten
    t.requests += s.requests
    t.lastActivity = Math.max(t.lastActivity, s.lastActivity)
    for (const [k, v] of Object.entries(s.commands)) {
      const c = t.commands[k] ??= { count: 0, errors: 0, buckets: new Array<number>(BUCKETS).fill(0) }
      c.count += v.count
      c.errors += v.errors
      v.buckets.forEach((n, i) => { c.buckets[i]! += n })
    }
  }
  return t
}

/** The upper bound (µs) of the bucket holding the p-th percentile. */
export function percentile (buckets: number[], p: number): number {
  const total = buckets.reduce((a, b) => a + b, 0)
  if (total === 0) return 0
  const rank = Math.ceil(total * p / 100)
  let seen = 0
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!
    if (seen >= rank) return 2 ** i
  }
  return 2 ** (buckets.length - 1)
}

/** ksmbd's `stats` line: `2 running <port> <seconds since the last activity>`. */
export function renderStatsLine (port: number, total: StatsSnapshot, startedAt: number, now = Date.now()): string {
  const last = total.lastActivity > 0 ? total.lastActivity : startedAt
  return `2 running ${port} ${Math.max(0, Math.floor((now - last) / 1000))}\n`
}

function publicView (s: StatsSnapshot): object {
  const commands: Record<string, object> = {}
  for (const [k, v] of Object.entries(s.commands).sort(([a], [b]) => a.localeCompare(b))) {
    commands[k] = { count: v.count, errors: v.errors, latency_us: { p50: percentile(v.buckets, 50), p90: percentile(v.buckets, 90), p99: percentile(v.buckets, 99) } }
  }
  return {
    ...(s.worker !== undefined ? { worker: s.worker } : {}),
    pid: s.pid,
    connections: s.connections,
    sessions: s.sessions,
    tree_connects: s.treeConnects,
    open_files: s.openFiles,
    requests: s.requests,
    bytes_read: s.bytesRead,
    bytes_written: s.bytesWritten,
    last_activity: s.lastActivity > 0 ? new Date(s.lastActivity).toISOString() : null,
    commands,
  }
}

/** `stats.json`: the totals and, with workers, each worker's numbers. */
export function renderStatsJson (port: number, perWorker: StatsSnapshot[], startedAt: number): string {
  const total = mergeSnapshots(perWorker)
  return JSON.stringify({
    state: 'running',
    port,
    started: new Date(startedAt).toISOString(),
    total: publicView(total),
    workers: perWorker.map(publicView),
  }, null, 2) + '\n'
}
