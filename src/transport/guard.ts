// Per-connection timers, shared by every transport (the per-server connection limits they admit
// connections by are ServerState.limits): one client can never take what all share (issue:
// hardening). Each cut-off is logged once.
import type { ServerState } from '../session/server-state.js'
import type { Smb2Connection } from '../smb2/connection.js'
import { SessionState } from '../session/model.js'

/** Strips the IPv4-mapped prefix so 127.0.0.1 and ::ffff:127.0.0.1 count as one address. */
export function clientAddress (remote: string | undefined): string {
  const a = remote ?? '?'
  return a.startsWith('::ffff:') ? a.slice(7) : a
}

/**
 * A connection with a message still incomplete must deliver at least this many bytes per
 * `frame timeout` window. A whole-message deadline would cut a legitimate slow link in the middle
 * of an 8 MiB WRITE (or a client streaming pipelined WRITEs whose receives never end on a message
 * boundary); a progress floor still cuts a client that sends a header a byte a second, or claims
 * a large frame and trickles it (its reassembly buffer is what it pins). 64 KiB per 30 s (the
 * default window) is about 2 KiB/s.
 */
export const FRAME_PROGRESS_MIN = 64 * 1024

/**
 * The timers of one connection: it must authenticate within `handshake timeout`, keep a message
 * it has started moving and read the replies that pile up for it (FRAME_PROGRESS_MIN per
 * `frame timeout` each way), and (with `deadtime`) not sit idle with no open files for longer
 * than that many minutes.
 */
export class ConnectionTimers {
  private handshake?: NodeJS.Timeout
  private frame?: NodeJS.Timeout
  private idle?: NodeJS.Timeout
  private stall?: NodeJS.Timeout
  private lastActivity = Date.now()
  /** Bytes received since the frame timer was (re)armed. */
  private progress = 0
  /**
   * Set by a transport whose receive of a large frame's rest reports only once it is full
   * (MSG_WAITALL): bytes may have arrived that onData has not seen. Asked when a window ends
   * short, it makes that receive report what it holds and returns true; the transport then calls
   * onData with those bytes and heldCollected(), which judges the window.
   */
  collectHeld?: () => boolean
  /** A window ended short and collectHeld is bringing in what the receive holds. */
  private collecting = false

  constructor (private readonly server: ServerState, private readonly conn: Smb2Connection, private readonly cutOff: (why: string) => void) {
    const g = server.config.global
    this.handshake = setTimeout(() => {
      if (![...conn.sessions].some(s => s.state === SessionState.Valid)) this.fire(`no session within ${g.handshakeTimeout} s`)
    }, g.handshakeTimeout * 1000)
    this.handshake.unref()
    if (g.deadtime > 0) {
      // smb.conf `deadtime` is in minutes; the length of a minute is the server's (tests shorten it).
      const ms = g.deadtime * server.deadtimeMinuteMs
      const check = (): void => {
        const idleFor = Date.now() - this.lastActivity
        if (idleFor >= ms && conn.openCount() === 0) { this.fire(`idle for ${g.deadtime} min with no open files (deadtime)`); return }
        this.idle = setTimeout(check, Math.max(ms - idleFor, Math.min(ms, 1000)))
        this.idle.unref()
      }
      this.idle = setTimeout(check, ms)
      this.idle.unref()
    }
  }

  /** Called as `n` bytes arrive: `midFrame` says whether a message is still incomplete. */
  onData (n: number, midFrame: boolean): void {
    this.lastActivity = Date.now()
    if (!midFrame) {
      if (this.frame !== undefined) { clearTimeout(this.frame); this.frame = undefined }
      return
    }
    if (this.frame === undefined) {
      this.progress = 0
      this.armFrame()
    } else {
      this.progress += n
    }
  }

  /**
   * The server stopped (or started again) reading this connection: its own replies piled up,
   * or its requests in flight hold their budget. A client cannot make progress the server does
   * not read, so the frame timer stops meanwhile and starts afresh after.
   */
  readingPaused (paused: boolean, midFrame: boolean): void {
    this.collecting = false
    if (this.frame !== undefined) { clearTimeout(this.frame); this.frame = undefined }
    if (!paused && midFrame) { this.progress = 0; this.armFrame() }
  }

  /**
   * The replies waiting for this client are over the high-water mark (it reads them slowly or
   * not at all) and the server has stopped taking its requests. Like a slow sender, a slow
   * reader must let at least FRAME_PROGRESS_MIN bytes out per `frame timeout` window, or it
   * is cut: otherwise one idle reader pins its queue and its requests in flight for ever.
   * `flushed` gives the bytes handed to the kernel so far.
   */
  sendBlocked (blocked: boolean, flushed: () => number): void {
    if (this.stall !== undefined) { clearTimeout(this.stall); this.stall = undefined }
    if (!blocked) return
    const s = this.server.config.global.frameTimeout
    let from = flushed()
    const arm = (): void => {
      this.stall = setTimeout(() => {
        const n = flushed() - from
        if (n >= FRAME_PROGRESS_MIN) { from += n; arm(); return }
        this.fire(`replies not read: ${n} bytes taken in ${s} s (slow reader)`)
      }, s * 1000)
      this.stall.unref()
    }
    arm()
  }

  private armFrame (): void {
    this.frame = setTimeout(() => {
      if (this.progress < FRAME_PROGRESS_MIN && this.collectHeld?.() === true) { this.collecting = true; return }
      this.judgeWindow()
    }, this.server.config.global.frameTimeout * 1000)
    this.frame.unref()
  }

  /** A frame-timeout window ended with the message still incomplete: enough progress, or cut. */
  private judgeWindow (): void {
    if (this.progress >= FRAME_PROGRESS_MIN) { this.progress = 0; this.armFrame(); return }
    this.fire(`message not completed: ${this.progress} bytes in ${this.server.config.global.frameTimeout} s (slow client)`)
  }

  /**
   * What collectHeld asked for came in (onData has counted it): the window that ended is judged
   * now, unless the message completed meanwhile (onData then stopped the timer) or reading paused.
   */
  heldCollected (): void {
    if (!this.collecting) return
    this.collecting = false
    if (this.frame !== undefined) this.judgeWindow()
  }

  private fire (why: string): void {
    this.server.log.info(`${this.conn.io.remoteAddress}: ${why}; disconnecting`)
    this.stop()
    this.cutOff(why)
  }

  stop (): void {
    this.collecting = false
    clearTimeout(this.handshake)
    clearTimeout(this.frame)
    clearTimeout(this.idle)
    clearTimeout(this.stall)
  }
}
