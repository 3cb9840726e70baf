// The server's log: one line per event, components named as ksmbd's debug classes.
export type LogComponent = 'smb' | 'auth' | 'vfs' | 'oplock' | 'ipc' | 'conn' | 'rdma'
export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

export interface Logger {
  error (msg: string): void
  warn (msg: string): void
  info (msg: string): void
  debug (component: LogComponent, msg: string): void
  enabled: Set<LogComponent>
}

export function createLogger (sink: (line: string) => void, enabled: LogComponent[] = []): Logger {
  const line = (level: string, msg: string): void => sink(`${new Date().toISOString()} ${level} ${msg}`)
  const set = new Set<LogComponent>(enabled)
  return {
    enabled: set,
    error: (m) => line('error', m),
    warn: (m) => line('warn', m),
    info: (m) => line('info', m),
    debug: (c, m) => { if (set.has(c)) line(`debug[${c}]`, m) },
  }
}

export const silentLogger: Logger = { enabled: new Set(), error () {}, warn () {}, info () {}, debug () {} }
