// The io_uring transport (ARCHITECTURE 2). libuv still owns the listening socket and accept(),
// but an accepted socket is never read or written by libuv: it is paused on connect and its fd is
// driven by ring recv/send. The socket object only owns the fd's lifetime: it is destroyed (the
// fd closed) once no op on the fd is in flight, so a late CQE can never land on a reused fd.
//
// Receive: one recv in flight per connection, into the free tail of a per-connection arena;
// whole frames are views of it (CONVENTIONS 4), handed to Smb2Connection through FrameReader.
// The arena is never rewritten: when its tail runs short a new one is taken and the old one lives
// as long as some frame still views it. A frame larger than what one recv brought is received
// straight into its own buffer (FrameReader.pendingSpace), so a 1 MiB WRITE is not copied.
//
// Send: replies queue per connection and go out one send at a time (the ring does not order two
// SQEs on one socket unless they are linked); the small pieces of a reply (length, header, body)
// are coalesced into one buffer, a large payload (READ data) is sent as is. Every Buffer stays
// referenced by the ring until its CQE (CONVENTIONS 5).
import net from 'node:net'
import { FrameReader, frameHeader, type OnFrame } from './framing.js'
import { frameLimit, handleFrame, serveSocket } from './tcp.js'
import { Smb2Connection } from '../smb2/connection.js'
import type { ServerState } from '../smb2/server-state.js'
import type { Ring } from '../io/ring.js'
import { clientAddress, ConnectionTimers } from './guard.js'

// linux/socket.h
const MSG_WAITALL = 0x100
const MSG_NOSIGNAL = 0x4000

/** Per-connection receive arena, and the most one recv asks for. */
const ARENA_SIZE = 256 * 1024
const RECV_MAX = 64 * 1024
/** Below this much free tail, the next recv takes a fresh arena. */
const ARENA_MIN_TAIL = 8 * 1024
/** A pending frame missing at least this much is received straight into its buffer. */
const DIRECT_MIN = 16 * 1024
/** Reply pieces up to this size are copied together into one send; larger ones go as they are. */
const COALESCE_MAX = 16 * 1024
/** Stop receiving from a client whose replies pile up beyond this; resume below LOW_WATER. */
const HIGH_WATER = 32 * 1024 * 1024
const LOW_WATER = 8 * 1024 * 1024

function socketFd (socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : undefined
}

class RingConnection {
  private readonly conn: Smb2Connection
  private readonly reader: FrameReader
  private readonly timers: ConnectionTimers
  private arena = Buffer.allocUnsafe(ARENA_SIZE)
  private arenaOff = 0
  private receiving = false
  private recvTag = 0
  private recvPaused = false
  /** Buffers waiting to be sent, in order, each with what runs once the kernel has all of it
   *  (a READ payload goes back to its pool); `queued` counts their bytes. */
  private readonly sendQ: Array<{ buf: Buffer, onSent?: () => void }> = []
  private queued = 0
  private sending = false
  private sendTag = 0
  /** Over HIGH_WATER until below LOW_WATER; `sentTotal` counts bytes the kernel took. */
  private sendBlocked = false
  private sentTotal = 0
  private closing = false
  private destroyed = false
  private readonly onFrame: OnFrame = (frame, lease) => { handleFrame(this.conn, frame, lease) }

  constructor (private readonly server: ServerState, private readonly ring: Ring, private readonly socket: net.Socket,
    private readonly fd: number, private readonly remote: string, private readonly addr: string) {
    this.conn = new Smb2Connection(server, {
      remoteAddress: remote,
      send: (chunks, onSent) => { this.enqueue(chunks, onSent) },
      close: (reason) => {
        server.log.debug('conn', `closing ${remote}: ${reason}`)
        this.shutdown()
      },
      resume: () => { if (this.recvPaused) this.postRecv() },
    })
    this.reader = new FrameReader(() => frameLimit(this.conn), (len) => server.frameBuffers.take(len))
    this.timers = new ConnectionTimers(server, this.conn, (why) => { this.conn.close(why) })
    socket.on('error', (e) => { server.log.debug('conn', `${remote}: ${e.message}`) })
  }

  start (): void { this.postRecv() }

  private postRecv (): void {
    if (this.closing || this.receiving) return
    // Stop receiving while replies pile up unread or the requests in flight hold the budget
    // (Smb2Connection.accepting); the frame timer stops meanwhile.
    if (!this.conn.accepting) {
      if (!this.recvPaused) { this.recvPaused = true; this.timers.readingPaused(true, this.reader.midFrame) }
      return
    }
    if (this.recvPaused) { this.recvPaused = false; this.timers.readingPaused(false, this.reader.midFrame) }
    const pending = this.reader.pendingSpace()
    let buf: Buffer, off: number, len: number, direct: boolean
    if (pending !== undefined && pending.len >= DIRECT_MIN) {
      ({ buf, off, len } = pending)
      direct = true
    } else {
      if (ARENA_SIZE - this.arenaOff < ARENA_MIN_TAIL) { this.arena = Buffer.allocUnsafe(ARENA_SIZE); this.arenaOff = 0 }
      buf = this.arena
      off = this.arenaOff
      len = Math.min(RECV_MAX, ARENA_SIZE - off)
      direct = false
    }
    this.receiving = true
    const p = this.ring.recv(this.fd, buf, off, len, 0)
    this.recvTag = p.tag
    p.then((n) => {
      this.receiving = false
      if (this.closing) { this.maybeDestroy(); return }
      if (n === 0) { this.conn.close('socket closed'); return }
      try {
        if (direct) {
          this.reader.commitPending(n, this.onFrame)
        } else {
          if (buf === this.arena) this.arenaOff = off + n
          this.reader.push(buf.subarray(off, off + n), this.onFrame)
        }
        this.timers.onData(n, this.reader.midFrame)
      } catch (e) {
        this.server.log.info(`${this.remote}: ${(e as Error).message}; closing`)
        this.conn.close((e as Error).message)
        return
      }
      this.postRecv()
    }, (e: Error) => {
      this.receiving = false
      if (!this.closing) this.server.log.debug('conn', `${this.remote}: recv: ${e.message}`)
      this.conn.close('socket closed')
      this.maybeDestroy()
    })
  }

  private enqueue (chunks: Buffer[], onSent?: () => void): void {
    if (this.closing) { onSent?.(); return }
    let total = 0
    for (const c of chunks) total += c.length
    // The length header and every small piece are copied into one buffer; a large piece breaks the run.
    let run: Buffer[] = [frameHeader(total)]
    let runLen = 4
    const flush = (): void => {
      if (run.length === 0) return
      const b = run.length === 1 ? run[0] : Buffer.concat(run, runLen)
      this.sendQ.push({ buf: b })
      this.queued += b.length
      run = []
      runLen = 0
    }
    for (const c of chunks) {
      if (c.length === 0) continue
      if (c.length <= COALESCE_MAX) { run.push(c); runLen += c.length; continue }
      flush()
      this.sendQ.push({ buf: c })
      this.queued += c.length
    }
    flush()
    // The message's last piece carries the hook: once it is sent, all of the message is.
    if (onSent !== undefined) this.sendQ[this.sendQ.length - 1].onSent = onSent
    if (this.queued > HIGH_WATER && !this.sendBlocked) {
      this.sendBlocked = true
      this.conn.setSendBlocked(true)
      this.timers.sendBlocked(true, () => this.sentTotal)
    }
    this.kick()
  }

  private kick (): void {
    if (this.sending || this.closing || this.sendQ.length === 0) return
    let b = this.sendQ[0].buf
    // Several small replies waiting (a compound's worth, pipelined echos): one send for them all.
    if (b.length <= COALESCE_MAX && this.sendQ.length > 1 && this.sendQ[1].buf.length <= COALESCE_MAX) {
      let n = 0
      let len = 0
      while (n < this.sendQ.length && this.sendQ[n].buf.length <= COALESCE_MAX && len + this.sendQ[n].buf.length <= RECV_MAX) len += this.sendQ[n++].buf.length
      const merged = this.sendQ.splice(0, n, { buf: Buffer.alloc(0) })
      b = Buffer.concat(merged.map(e => e.buf), len)
      // Copied: what the merged pieces held is free.
      for (const e of merged) e.onSent?.()
      this.sendQ[0] = { buf: b }
    }
    this.sending = true
    const p = this.ring.send(this.fd, b, 0, b.length, MSG_WAITALL | MSG_NOSIGNAL)
    this.sendTag = p.tag
    p.then((n) => {
      this.sending = false
      if (this.closing) {
        // Shut down while this send was in flight: its piece is free only now.
        for (const e of this.sendQ.splice(0)) e.onSent?.()
        this.maybeDestroy()
        return
      }
      this.queued -= n
      this.sentTotal += n
      if (n < b.length) this.sendQ[0].buf = b.subarray(n)
      else this.sendQ.shift()!.onSent?.()
      // Below LOW_WATER the connection takes requests again (and asks, through resume, for
      // receiving to start again if nothing else holds it).
      if (this.queued < LOW_WATER && this.sendBlocked) {
        this.sendBlocked = false
        this.timers.sendBlocked(false, () => 0)
        this.conn.setSendBlocked(false)
      }
      this.kick()
    }, (e: Error) => {
      this.sending = false
      if (!this.closing) this.server.log.debug('conn', `${this.remote}: send: ${e.message}`)
      this.conn.close('socket closed')
      this.maybeDestroy()
    })
  }

  /** Stops everything; the fd is closed once the last in-flight op has completed. */
  private shutdown (): void {
    if (this.closing) return
    this.closing = true
    // What the kernel never saw is free now; the piece being sent is freed at its CQE.
    for (const e of this.sendQ.splice(this.sending ? 1 : 0)) e.onSent?.()
    this.queued = 0
    if (this.receiving) this.ring.cancel(this.recvTag)
    if (this.sending) this.ring.cancel(this.sendTag)
    this.maybeDestroy()
  }

  private maybeDestroy (): void {
    if (!this.closing || this.receiving || this.sending || this.destroyed) return
    this.destroyed = true
    this.timers.stop()
    this.server.limits.release(this.addr)
    this.socket.destroy()
  }
}

/** Serves an accepted, paused socket on the ring; a socket without a usable fd gets node:net. */
export function serveRingSocket (server: ServerState, ring: Ring, socket: net.Socket): void {
  const fd = socketFd(socket)
  if (fd === undefined) {
    server.log.warn('accepted socket has no fd: serving it with node:net')
    serveSocket(server, socket)
    socket.resume()
    return
  }
  const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
  const addr = clientAddress(socket.remoteAddress)
  const refused = server.limits.admit(addr)
  if (refused !== undefined) {
    server.warnRefusal(`accept ${addr} ${refused}`, `connection from ${remote} refused: ${refused}`)
    socket.destroy()
    return
  }
  server.log.debug('conn', `connection from ${remote} (io_uring)`)
  new RingConnection(server, ring, socket, fd, remote, addr).start()
}

export function listenUring (server: ServerState, ring: Ring, host: string, port: number): Promise<net.Server> {
  // pauseOnConnect: libuv never starts reading the accepted socket; the ring does.
  const srv = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => { serveRingSocket(server, ring, socket) })
  return new Promise((resolve, reject) => {
    srv.once('error', reject)
    srv.listen({ host, port, backlog: 511 }, () => {
      srv.off('error', reject)
      resolve(srv)
    })
  })
}
