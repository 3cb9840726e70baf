// The server's log: one line per event, components named as ksmbd's debug classes.
//
// A debug line goes to the component's diagnostics channel (src/control/channels.ts), which the
// control mount's `debug` file subscribes to the process's log when an admin turns the component
// on; a logger made with components enabled (tests) also writes them to its own sink. A caller
// whose message costs something to build asks `wants(component)` first: false, nothing is built.
import { debugChannels, type DebugComponent } from './channels.js'

export type LogComponent = DebugComponent
export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

export interface Logger {
  error (msg: string): void
  warn (msg: string): void
  info (msg: string): void
  debug (component: LogComponent, msg: string): void
  /** Whether a debug line of `component` goes anywhere (build it only then). */
  wants (component: LogComponent): boolean
  enabled: Set<LogComponent>
}

/** The line a debug message becomes in the log. */
export function stampLine (level: string, msg: string): string {
  return `${new Date().toISOString()} ${level} ${msg}`
}

export function createLogger (sink: (line: string) => void, enabled: LogComponent[] = []): Logger {
  const line = (level: string, msg: string): void => sink(stampLine(level, msg))
  const set = new Set<LogComponent>(enabled)
  return {
    enabled: set,
    error: (m) => line('error', m),
    warn: (m) => line('warn', m),
    info: (m) => line('info', m),
    debug: (c, m) => {
      if (set.has(c)) line(`debug[${c}]`, m)
      const ch = debugChannels[c]
      if (ch.hasSubscribers) ch.publish(m)
    },
    wants: (c) => set.has(c) || debugChannels[c].hasSubscribers,
  }
}

/** The ISO timestamp createLogger starts each line with (and a space). */
const STAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z /

/**
 * A sink that names the process on every line it passes on: `[w0]` for worker 0, `[sup]` for the
 * supervisor. With several processes writing to one log, a line must say whose it is; the tag
 * goes after the timestamp so the log still sorts and greps by time, and in front of lines that
 * carry none (the CLI's `smbts: ...`). One process (`server workers = 1`) tags nothing.
 */
export function tagLines (tag: string, sink: (line: string) => void): (line: string) => void {
  return (line) => {
    const m = STAMPED.exec(line)
    sink(m === null ? `[${tag}] ${line}` : `${m[0]}[${tag}] ${line.slice(m[0].length)}`)
  }
}

export const silentLogger: Logger = { enabled: new Set(), error () {}, warn () {}, info () {}, debug () {}, wants: () => false }

/**
 * For events a client can repeat at request rate (a CREATE at its `max open files`, connections
 * at `max connections`): the first of each key is logged, then at most one line per interval,
 * saying how many were left out, so a hammering client cannot turn the log into its weapon.
 */
export class RepeatLimiter {
  private readonly seen = new Map<string, { at: number, suppressed: number }>()

  constructor (private readonly intervalMs = 10_000, private readonly maxKeys = 4096) {}

  /** The line to log now (with the count left out since the last), or undefined to stay quiet. */
  pass (key: string, line: string, now = Date.now()): string | undefined {
    const e = this.seen.get(key)
    if (e !== undefined && now - e.at < this.intervalMs) { e.suppressed++; return undefined }
    // Old keys are forgotten wholesale rather than tracked one by one: forgetting only lets a line through.
    if (e === undefined && this.seen.size >= this.maxKeys) this.seen.clear()
    this.seen.set(key, { at: now, suppressed: 0 })
    return e !== undefined && e.suppressed > 0 ? `${line} (${e.suppressed} more like it not logged)` : line
  }
}
