// `metrics`: the stats in the Prometheus text exposition format (version 0.0.4), for a scraper
// reading the control mount (node_exporter's textfile collector) or the HTTP endpoint.
import { DEBUG_COMPONENTS, type DebugComponent } from './channels.js'
import { mergeSnapshots, type StatsSnapshot } from './stats.js'

export interface StreamCounters {
  lost: { events: number, trace: number }
  readers: { events: number, trace: number }
}

function esc (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

export function renderMetrics (perWorker: StatsSnapshot[], extra: { debug: ReadonlySet<DebugComponent>, streams: StreamCounters }): string {
  const t = mergeSnapshots(perWorker)
  const out: string[] = []
  const gauge = (name: string, help: string, type: 'gauge' | 'counter', rows: Array<[string, number]>): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, v] of rows) out.push(`${name}${labels} ${v}`)
  }
  const w = (s: StatsSnapshot): string => s.worker !== undefined ? `{worker="${s.worker}"}` : ''
  const per = (f: (s: StatsSnapshot) => number): Array<[string, number]> => perWorker.length > 1 ? perWorker.map(s => [w(s), f(s)]) : [['', f(t)]]
  gauge('smbts_connections', 'Client connections open.', 'gauge', per(s => s.connections))
  gauge('smbts_sessions', 'Sessions established.', 'gauge', per(s => s.sessions))
  gauge('smbts_tree_connects', 'Tree connects.', 'gauge', per(s => s.treeConnects))
  gauge('smbts_open_files', 'Files and directories open.', 'gauge', per(s => s.openFiles))
  gauge('smbts_read_bytes_total', 'Bytes read by clients.', 'counter', per(s => s.bytesRead))
  gauge('smbts_written_bytes_total', 'Bytes written by clients.', 'counter', per(s => s.bytesWritten))
  const cmds = Object.keys(t.commands).sort()
  gauge('smbts_requests_total', 'Requests answered, by command.', 'counter', cmds.map(c => [`{command="${esc(c)}"}`, t.commands[c]!.count]))
  gauge('smbts_request_errors_total', 'Requests answered with an error status, by command.', 'counter', cmds.map(c => [`{command="${esc(c)}"}`, t.commands[c]!.errors]))
  // The histogram: buckets are powers of two in µs, exposed in seconds, cumulative.
  out.push('# HELP smbts_request_duration_seconds Time from a request\'s arrival to its response.', '# TYPE smbts_request_duration_seconds histogram')
  for (const c of cmds) {
    const b = t.commands[c]!.buckets
    let cum = 0
    for (let i = 0; i < b.length - 1; i++) {
      cum += b[i]!
      out.push(`smbts_request_duration_seconds_bucket{command="${esc(c)}",le="${2 ** i / 1e6}"} ${cum}`)
    }
    cum += b[b.length - 1]!
    out.push(`smbts_request_duration_seconds_bucket{command="${esc(c)}",le="+Inf"} ${cum}`, `smbts_request_duration_seconds_count{command="${esc(c)}"} ${cum}`)
  }
  gauge('smbts_debug_component_enabled', 'Debug components on (the control mount\'s debug file).', 'gauge', DEBUG_COMPONENTS.map(c => [`{component="${c}"}`, extra.debug.has(c) ? 1 : 0]))
  gauge('smbts_stream_lost_total', 'Lines a slow reader of events or trace lost.', 'counter', [['{file="events"}', extra.streams.lost.events], ['{file="trace"}', extra.streams.lost.trace]])
  gauge('smbts_stream_readers', 'Readers of events or trace now.', 'gauge', [['{file="events"}', extra.streams.readers.events], ['{file="trace"}', extra.streams.readers.trace]])
  return out.join('\n') + '\n'
}
