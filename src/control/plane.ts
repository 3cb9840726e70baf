// The control mount's files (ksmbd's /sys/class/ksmbd-control, and more), over whatever runs the
// server: one process (src/cli/start.ts gives its own server) or a supervisor (its workers'
// numbers, gathered over their IPC channels). The files:
//   debug        ksmbd's text; writing a component's name toggles it (root only)
//   stats        ksmbd's line: `2 running <port> <seconds since the last activity>`
//   stats.json   counts and latencies, per worker and in total
//   status.json  sessions, tree connects, open files (what smbstatus -j shows)
//   kill_server  writing `hard` shuts the server down (root only, write only)
//   events       while open: one JSON line per event (connect, log-in, ...)
//   trace        while open: one JSON line per request of the enabled debug components
//   metrics      the Prometheus text format
import { DEBUG_COMPONENTS, eventChannel, requestChannel, type DebugComponent, type RequestRecord } from './channels.js'
import { applyDebugWrite, renderDebug, UnknownComponentError } from './debug.js'
import { errno, FuseError, FuseMount, fuseUnavailableReason, type ControlFile, type StreamSink } from './fuse.js'
import { mergeSnapshots, renderStatsJson, renderStatsLine, type StatsSnapshot } from './stats.js'
import { renderStatusJson, type StatusSlice } from './status.js'
import type { Metrics, StreamCounters } from './metrics.js'
import type { Server } from 'node:http'

/** What the control files read from and act on. */
export interface ControlSource {
  /** The port clients reach. */
  port (): number
  /** Each serving process's numbers (one, or one per worker). */
  snapshots (): Promise<StatsSnapshot[]>
  /** Each serving process's sessions, trees and opens. */
  status (): Promise<StatusSlice[]>
  /** Applies the debug components in every serving process. */
  setDebug (components: DebugComponent[]): void
  /** Whether the serving processes should send requests / events here (someone reads them). */
  watch? (what: { requests: boolean, events: boolean }): void
  /** Shuts the server down (kill_server `hard`): called after the write is answered. */
  kill (): void
}

export interface ControlPlaneOptions {
  dir: string
  source: ControlSource
  /** The components on from the start (SMBTS_DEBUG). */
  debug: DebugComponent[]
  /** `metrics listen`: the HTTP endpoint's host:port ('' or undefined: none). */
  metricsListen?: string
  log: { info (m: string): void, warn (m: string): void }
}

/** Which debug component a request belongs to, besides `smb` (every request is `smb`'s). */
function requestComponent (command: string): DebugComponent | undefined {
  switch (command) {
    case 'NEGOTIATE': return 'conn'
    case 'SESSION_SETUP': case 'LOGOFF': return 'auth'
    case 'OPLOCK_BREAK': return 'oplock'
    case 'TREE_CONNECT': case 'TREE_DISCONNECT': case 'ECHO': case 'CANCEL': return undefined
    default: return 'vfs'
  }
}

export class ControlPlane {
  readonly startedAt = Date.now()
  private enabled: Set<DebugComponent>
  private readonly source: ControlSource
  private mount?: FuseMount
  private requestReaders = 0
  private eventReaders = 0
  readonly streams: StreamCounters = { lost: { events: 0, trace: 0 }, readers: { events: 0, trace: 0 } }
  private metricsP?: Promise<Metrics>
  private http?: Server
  private killTimer?: NodeJS.Timeout
  private killed = false
  /** Why there is no mount (undefined: there is one, or none was asked for). */
  unavailable?: string

  constructor (private readonly opts: ControlPlaneOptions) {
    this.source = opts.source
    this.enabled = new Set(opts.debug)
    if (this.enabled.size > 0) this.source.setDebug([...this.enabled])
  }

  /**
   * The Prometheus registry, built at the first scrape: prom-client (and the node:http, tls,
   * http2, zlib it pulls in) costs every process ~10 MiB of RSS that nobody scraping would use.
   */
  metrics (): Promise<Metrics> {
    this.metricsP ??= import('./metrics.js').then(({ Metrics }) =>
      new Metrics({ snapshots: () => this.source.snapshots(), debug: () => this.enabled, streams: this.streams }))
    return this.metricsP
  }

  /** The HTTP metrics endpoint, when `metrics listen` asks for one; a failure is logged, not fatal. */
  async serveMetrics (): Promise<void> {
    const listen = this.opts.metricsListen ?? ''
    if (listen === '') return
    try {
      const { serveMetrics } = await import('./metrics.js')
      this.http = await serveMetrics(await this.metrics(), listen)
      this.opts.log.info(`metrics: http://${listen}/metrics (Prometheus text format)`)
    } catch (e) {
      this.opts.log.warn(`metrics listen = ${listen}: ${(e as Error).message}; no metrics endpoint`)
    }
  }

  get debugEnabled (): ReadonlySet<DebugComponent> { return this.enabled }

  /** Mounts the files at `dir`; without FUSE (or root) the server runs on, and says why. */
  start (): void {
    const why = fuseUnavailableReason()
    if (why !== undefined) {
      this.unavailable = why
      this.opts.log.warn(`control mount off (${why}): no ${this.opts.dir}/debug, stats, kill_server`)
      return
    }
    try {
      this.mount = FuseMount.mount({
        dir: this.opts.dir,
        files: this.files(),
        log: (level, line) => { this.opts.log[level](line) },
        onStreamLoss: (file, n) => { if (file === 'events' || file === 'trace') this.streams.lost[file] += n },
        // tests: a small backlog, so a reader that does not read loses events soon
        streamBacklogBytes: Number(process.env.SMBTS_TEST_STREAM_BACKLOG ?? '') || undefined,
      })
      this.opts.log.info(`control mount: ${this.opts.dir} (debug, stats, stats.json, status.json, kill_server, events, trace, metrics)`)
    } catch (e) {
      this.unavailable = (e as Error).message
      this.opts.log.warn(`control mount off: mounting ${this.opts.dir} failed: ${(e as Error).message}`)
    }
  }

  private kill (): void {
    clearTimeout(this.killTimer)
    if (this.killed) return
    this.killed = true
    setImmediate(() => { this.source.kill() })
  }

  close (): void {
    clearTimeout(this.killTimer)
    this.http?.close()
    this.http?.closeAllConnections()
    this.mount?.close()
    this.mount = undefined
  }

  /** A write of `debug`: EINVAL for a name that is not a component. */
  writeDebug (text: string): void {
    try {
      this.enabled = applyDebugWrite(this.enabled, text)
    } catch (e) {
      if (e instanceof UnknownComponentError) throw new FuseError(errno.EINVAL, e.message)
      throw e
    }
    this.source.setDebug([...this.enabled])
    this.opts.log.info(`debug: ${DEBUG_COMPONENTS.filter(c => this.enabled.has(c)).join(' ') || 'all off'}`)
  }

  async renderStats (): Promise<string> {
    return renderStatsLine(this.source.port(), mergeSnapshots(await this.source.snapshots()), this.startedAt)
  }

  files (): ControlFile[] {
    return [
      { name: 'debug', mode: 0o644, read: () => renderDebug(this.enabled), write: (t) => { this.writeDebug(t) } },
      { name: 'stats', mode: 0o444, read: () => this.renderStats() },
      { name: 'stats.json', mode: 0o444, read: async () => renderStatsJson(this.source.port(), await this.source.snapshots(), this.startedAt) },
      { name: 'status.json', mode: 0o444, read: async () => renderStatusJson(await this.source.status()) },
      {
        name: 'kill_server',
        mode: 0o200,
        write: (t) => {
          if (t.replace(/\n$/, '').trim() !== 'hard') throw new FuseError(errno.EINVAL, 'kill_server takes `hard`')
          this.opts.log.info('kill_server: hard: shutting down')
          // Once the writer has closed the file (the shutdown unmounts: its close would fail),
          // or a moment later if it keeps the file open.
          this.killTimer ??= setTimeout(() => { this.kill() }, 2000)
        },
        released: () => { if (this.killTimer !== undefined) this.kill() },
      },
      { name: 'events', mode: 0o444, stream: (sink) => this.openEvents(sink) },
      { name: 'trace', mode: 0o444, stream: (sink) => this.openTrace(sink) },
      {
        name: 'metrics',
        mode: 0o444,
        read: async () => await (await this.metrics()).render(),
      },
    ]
  }

  private watch (): void {
    this.source.watch?.({ requests: this.requestReaders > 0, events: this.eventReaders > 0 })
  }

  /** A reader of `events`: every event published while it is open. */
  openEvents (sink: StreamSink): () => void {
    const fn = (ev: unknown): void => { sink.push(JSON.stringify(ev) + '\n') }
    eventChannel.subscribe(fn)
    this.eventReaders++
    this.streams.readers.events++
    this.watch()
    return () => {
      eventChannel.unsubscribe(fn)
      this.eventReaders--
      this.streams.readers.events--
      this.watch()
    }
  }

  /** A reader of `trace`: the requests of the components enabled in `debug`. */
  openTrace (sink: StreamSink): () => void {
    const fn = (m: unknown): void => {
      const r = m as RequestRecord
      const c = requestComponent(r.command)
      if (!this.enabled.has('smb') && (c === undefined || !this.enabled.has(c))) return
      sink.push(JSON.stringify({ ...r, time: new Date(r.time).toISOString() }) + '\n')
    }
    requestChannel.subscribe(fn)
    this.requestReaders++
    this.streams.readers.trace++
    this.watch()
    return () => {
      requestChannel.unsubscribe(fn)
      this.requestReaders--
      this.streams.readers.trace--
      this.watch()
    }
  }
}
