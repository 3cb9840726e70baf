// `metrics`: the stats in the Prometheus text format, built with prom-client, for a scraper
// reading the control mount (node_exporter's textfile collector) or the HTTP endpoint
// (`[global] metrics listen = 127.0.0.1:9922`, off by default; Samba 4.23's exporter does the same).
// Every value is read from the serving processes' snapshots at scrape time: nothing is kept here.
import http from 'node:http'
import { Counter, Gauge, Registry } from 'prom-client'
import { DEBUG_COMPONENTS, type DebugComponent } from './channels.js'
import { mergeSnapshots, percentile, type StatsSnapshot } from './stats.js'

export interface StreamCounters {
  lost: { events: number, trace: number }
  readers: { events: number, trace: number }
}

export interface MetricsSource {
  snapshots (): Promise<StatsSnapshot[]>
  debug (): ReadonlySet<DebugComponent>
  streams: StreamCounters
}

export class Metrics {
  private readonly reg = new Registry()
  private perWorker: StatsSnapshot[] = []

  constructor (private readonly source: MetricsSource) {
    // One series per worker (label `worker`) when there are several, else one unlabelled.
    const each = (f: (s: StatsSnapshot) => number) => (m: Gauge | Counter): void => {
      m.reset()
      const list = this.perWorker.length > 1 ? this.perWorker : [mergeSnapshots(this.perWorker)]
      for (const s of list) {
        const labels = this.perWorker.length > 1 ? { worker: String(s.worker ?? 0) } : {}
        if (m instanceof Gauge) m.set(labels, f(s))
        else m.inc(labels, f(s))
      }
    }
    const reg = [this.reg]
    const gauge = (name: string, help: string, f: (s: StatsSnapshot) => number): void => {
      const fill = each(f)
      new Gauge({ name, help, labelNames: ['worker'], registers: reg, collect () { fill(this) } }) // eslint-disable-line no-new
    }
    const counter = (name: string, help: string, f: (s: StatsSnapshot) => number): void => {
      const fill = each(f)
      new Counter({ name, help, labelNames: ['worker'], registers: reg, collect () { fill(this) } }) // eslint-disable-line no-new
    }
    gauge('smbts_connections', 'Client connections open.', s => s.connections)
    gauge('smbts_sessions', 'Sessions established.', s => s.sessions)
    gauge('smbts_tree_connects', 'Tree connects.', s => s.treeConnects)
    gauge('smbts_open_files', 'Files and directories open.', s => s.openFiles)
    counter('smbts_read_bytes_total', 'Bytes read by clients.', s => s.bytesRead)
    counter('smbts_written_bytes_total', 'Bytes written by clients.', s => s.bytesWritten)
    const total = (): StatsSnapshot => mergeSnapshots(this.perWorker)
    new Counter({ // eslint-disable-line no-new
      name: 'smbts_requests_total', help: 'Requests answered, by command.', labelNames: ['command'], registers: reg,
      collect () { this.reset(); for (const [c, v] of Object.entries(total().commands)) this.inc({ command: c }, v.count) },
    })
    new Counter({ // eslint-disable-line no-new
      name: 'smbts_request_errors_total', help: 'Requests answered with an error status, by command.', labelNames: ['command'], registers: reg,
      collect () { this.reset(); for (const [c, v] of Object.entries(total().commands)) this.inc({ command: c }, v.errors) },
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'smbts_request_latency_seconds',
      help: 'Time from a request\'s arrival to its response, by command: the upper bound of the power-of-two microsecond bucket holding the quantile.',
      labelNames: ['command', 'quantile'],
      registers: reg,
      collect () {
        this.reset()
        for (const [c, v] of Object.entries(total().commands)) {
          for (const q of [50, 90, 99]) this.set({ command: c, quantile: String(q / 100) }, percentile(v.buckets, q) / 1e6)
        }
      },
    })
    const src = this.source
    new Gauge({ // eslint-disable-line no-new
      name: 'smbts_debug_component_enabled', help: 'Debug components on (the control mount\'s debug file).', labelNames: ['component'], registers: reg,
      collect () { const on = src.debug(); for (const c of DEBUG_COMPONENTS) this.set({ component: c }, on.has(c) ? 1 : 0) },
    })
    new Counter({ // eslint-disable-line no-new
      name: 'smbts_stream_lost_total', help: 'Lines a slow reader of events or trace lost.', labelNames: ['file'], registers: reg,
      collect () { this.reset(); this.inc({ file: 'events' }, src.streams.lost.events); this.inc({ file: 'trace' }, src.streams.lost.trace) },
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'smbts_stream_readers', help: 'Readers of events or trace now.', labelNames: ['file'], registers: reg,
      collect () { this.set({ file: 'events' }, src.streams.readers.events); this.set({ file: 'trace' }, src.streams.readers.trace) },
    })
  }

  get contentType (): string { return this.reg.contentType }

  async render (): Promise<string> {
    this.perWorker = await this.source.snapshots()
    return await this.reg.metrics()
  }
}

/** Parses `metrics listen`: `host:port`, `[v6]:port`. */
export function parseListen (v: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v)
  const port = Number(m?.[3])
  if (m === null || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`metrics listen = ${v}: expected host:port (127.0.0.1:9922)`)
  return { host: m[1] ?? m[2]!, port }
}

/** The HTTP endpoint: GET /metrics. Never reads the control mount (it renders in this process). */
export async function serveMetrics (metrics: Metrics, listen: string): Promise<http.Server> {
  const { host, port } = parseListen(listen)
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) { res.writeHead(404).end(); return }
    metrics.render().then((text) => {
      res.writeHead(200, { 'content-type': metrics.contentType }).end(text)
    }, (e: unknown) => { res.writeHead(500).end(String(e)) })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  return server
}
