// Per-server connection limits and per-connection timers, shared by every transport: one client
// can never take what all share (issue: hardening). Each refusal or cut-off is logged once.
import type { ServerState } from '../smb2/server-state.js'
import type { Smb2Connection } from '../smb2/connection.js'
import { SessionState } from '../session/model.js'

/** Strips the IPv4-mapped prefix so 127.0.0.1 and ::ffff:127.0.0.1 count as one address. */
export function clientAddress (remote: string | undefined): string {
  const a = remote ?? '?'
  return a.startsWith('::ffff:') ? a.slice(7) : a
}

export class ConnectionLimits {
  private total = 0
  private readonly byAddress = new Map<string, number>()

  constructor (private readonly server: ServerState) {}

  get count (): number { return this.total }

  /** Admits a new connection from `addr`, or says why not (the caller closes the socket). */
  admit (addr: string): string | undefined {
    const g = this.server.config.global
    if (this.total >= g.maxConnections) return `max connections (${g.maxConnections}) reached`
    const mine = this.byAddress.get(addr) ?? 0
    if (g.maxIpConnections > 0 && mine >= g.maxIpConnections) return `max ip connections (${g.maxIpConnections}) reached for ${addr}`
    this.total++
    this.byAddress.set(addr, mine + 1)
    return undefined
  }

  release (addr: string): void {
    this.total--
    const n = (this.byAddress.get(addr) ?? 1) - 1
    if (n <= 0) this.byAddress.delete(addr)
    else this.byAddress.set(addr, n)
  }
}

/**
 * The timers of one connection: it must authenticate within `handshake timeout`, finish every
 * message it starts within `frame timeout`, and (with `deadtime`) not sit idle with no open
 * files for longer than that many minutes.
 */
export class ConnectionTimers {
  private handshake?: NodeJS.Timeout
  private frame?: NodeJS.Timeout
  private idle?: NodeJS.Timeout
  private lastActivity = Date.now()

  constructor (private readonly server: ServerState, private readonly conn: Smb2Connection, private readonly cutOff: (why: string) => void) {
    const g = server.config.global
    this.handshake = setTimeout(() => {
      if (![...conn.sessions].some(s => s.state === SessionState.Valid)) this.fire(`no session within ${g.handshakeTimeout} s`)
    }, g.handshakeTimeout * 1000)
    this.handshake.unref()
    if (g.deadtime > 0) {
      const ms = g.deadtime * 60_000
      const check = (): void => {
        const idleFor = Date.now() - this.lastActivity
        if (idleFor >= ms && conn.openCount() === 0) { this.fire(`idle for ${g.deadtime} min with no open files (deadtime)`); return }
        this.idle = setTimeout(check, Math.max(ms - idleFor, 1000))
        this.idle.unref()
      }
      this.idle = setTimeout(check, ms)
      this.idle.unref()
    }
  }

  /** Called as bytes arrive: `midFrame` says whether a message is still incomplete. */
  onData (midFrame: boolean): void {
    this.lastActivity = Date.now()
    if (!midFrame) {
      if (this.frame !== undefined) { clearTimeout(this.frame); this.frame = undefined }
      return
    }
    if (this.frame === undefined) {
      const s = this.server.config.global.frameTimeout
      this.frame = setTimeout(() => { this.fire(`message not completed within ${s} s (slow client)`) }, s * 1000)
      this.frame.unref()
    }
  }

  private fire (why: string): void {
    this.server.log.info(`${this.conn.io.remoteAddress}: ${why}; disconnecting`)
    this.stop()
    this.cutOff(why)
  }

  stop (): void {
    clearTimeout(this.handshake)
    clearTimeout(this.frame)
    clearTimeout(this.idle)
  }
}
