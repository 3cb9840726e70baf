// The node:net transport: listener, per-socket framing and backpressure. (The io_uring
// transport sits beside it; the protocol core does not know which one carries it.) A worker's
// connection of a client another worker serves is handed over at its NEGOTIATE (handoff.ts).
import net from 'node:net'
import { FrameReader, frameHeader, type OnFrame } from './framing.js'
import { Smb2Connection, ConnectionState } from '../smb2/connection.js'
import { frameReusableAfterProcessing, receivePdu } from '../smb2/receive.js'
import type { Loan } from '../io/buffer-pool.js'
import type { Admission, ServerState } from '../session/server-state.js'
import { SessionState } from '../session/model.js'
import { clientAddress, ConnectionTimers } from './guard.js'
import { adoptedLine, ClientRouter, dropAdoption, type Adoption, type Handoff } from './handoff.js'

/** Before a session is established nothing large is accepted (no allocation the client sizes). */
const PRE_AUTH_MAX_FRAME = 128 * 1024
/** Header room around the largest READ/WRITE/transact payload. */
const FRAME_SLACK = 64 * 1024
/** Stop reading from a client whose replies pile up beyond this (both transports). */
export const HIGH_WATER = 32 * 1024 * 1024

/** The largest frame this connection may send now: small until a session is established. */
export function frameLimit (conn: Smb2Connection): number {
  if (conn.state !== ConnectionState.Negotiated) return PRE_AUTH_MAX_FRAME
  for (const s of conn.sessions) if (s.state === SessionState.Valid) return Math.max(conn.maxWriteSize, conn.maxTransactSize, conn.maxReadSize) + FRAME_SLACK
  return PRE_AUTH_MAX_FRAME
}

/** Hands a frame to the connection; a lent buffer goes back once the frame's processing is over
 *  and nothing can still view it (frameReusableAfterProcessing, asked then: an encrypted frame
 *  holds its plaintext by then), else it is left to the GC. */
export function handleFrame (conn: Smb2Connection, frame: Buffer, loan: Loan | undefined): void {
  const done = conn.handlePdu(frame)
  if (loan !== undefined) void done.then(() => { if (frameReusableAfterProcessing(frame)) loan.release() })
}

/** The fd under a node:net socket (libuv's), when it has one. */
export function socketFd (socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : undefined
}

export interface ServeOptions {
  /** This worker's end of the hand-overs: a connection of a client another worker serves goes there. */
  handoff?: Handoff
  /** A connection another worker handed here (adoptSocket). */
  adopted?: Adoption
}

export function serveSocket (server: ServerState, socket: net.Socket, o: ServeOptions = {}): Smb2Connection | undefined {
  socket.setNoDelay(true)
  const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
  const addr = clientAddress(socket.remoteAddress)
  const admitted = server.limits.enter(addr, remote, o.adopted?.countsMoved === true ? o.adopted.meta : undefined)
  if (admitted instanceof Promise) {
    // Another worker is asked to make room (evict.ts): nothing is read meanwhile.
    socket.pause()
    socket.on('error', () => {})
    void admitted.then((a) => {
      if (a === undefined) { socket.destroy(); return }
      if (socket.destroyed) { server.limits.release(a); return }
      serveAdmitted(server, socket, o, a, remote, addr)
      socket.resume()
    })
    return undefined
  }
  if (admitted === undefined) {
    socket.destroy()
    return undefined
  }
  return serveAdmitted(server, socket, o, admitted, remote, addr)
}

function serveAdmitted (server: ServerState, socket: net.Socket, o: ServeOptions, admission: Admission, remote: string, addr: string): Smb2Connection {
  // Reading stops while the connection does not accept more (Smb2Connection.accepting): replies
  // pile up unread (writeBlocked), or the requests in flight hold the connection's budget.
  let writeBlocked = false
  const updateReading = (): void => {
    const stop = !conn.accepting
    if (stop === socket.isPaused() || socket.destroyed) return
    if (stop) socket.pause()
    else socket.resume()
    timers.readingPaused(stop, reader.midFrame)
  }
  const conn: Smb2Connection = new Smb2Connection(server, {
    remoteAddress: remote,
    send (chunks, onSent) {
      let total = 0
      for (const c of chunks) total += c.length
      socket.cork()
      socket.write(frameHeader(total))
      // The last write's callback runs once libuv has handed every byte to the kernel, or with
      // an error when the socket was destroyed first: either way no one reads the chunks again.
      chunks.forEach((c, i) => {
        if (i === chunks.length - 1 && onSent !== undefined) socket.write(c, () => { onSent() })
        else socket.write(c)
      })
      if (chunks.length === 0) onSent?.()
      socket.uncork()
      if (socket.writableLength > HIGH_WATER && !writeBlocked) {
        writeBlocked = true
        conn.setSendBlocked(true)
        updateReading()
        // bytesWritten counts what is still buffered too; the difference left the process.
        timers.sendBlocked(true, () => socket.bytesWritten - socket.writableLength)
        socket.once('drain', () => {
          writeBlocked = false
          timers.sendBlocked(false, () => 0)
          conn.setSendBlocked(false)
          updateReading()
        })
      }
    },
    close (reason) {
      if (server.log.wants('conn')) server.log.debug('conn', `closing ${remote}: ${reason}`)
      socket.destroy()
    },
    resume () { updateReading() },
  }, receivePdu)
  admission.conn = conn
  if (o.adopted === undefined) server.log.debug('conn', `connection from ${remote}`)
  const timers = new ConnectionTimers(server, conn, (why) => { conn.close(why) })
  const reader = new FrameReader(() => frameLimit(conn), (len) => server.frameBuffers.take(len))
  const router = new ClientRouter(server, conn, o.handoff, o.adopted)
  let handedOver = false
  const onFrame: OnFrame = (frame, loan) => {
    if (router.open && router.take(frame, loan, socket.writableLength > 0)) return
    handleFrame(conn, frame, loan)
  }
  // The hand-over is decided and done within one 'data' event: libuv reads nothing more from
  // the socket before its fd is closed, and what the client sends meanwhile stays in the
  // kernel's queue for the worker that adopts it.
  const handOver = (): void => {
    const rest = reader.takeRest()
    if (rest !== undefined) router.stashRaw(rest)
    socket.pause()
    while (socket.readableLength > 0) {
      const b = socket.read() as Buffer | null
      if (b === null) break
      router.stashRaw(b)
    }
    if (router.finish(socketFd(socket), remote, admission)) {
      handedOver = true
      conn.close('handed to another worker')
      return
    }
    socket.resume()
    for (const b of router.takeStash()) reader.push(b, onFrame)
  }
  const receive = (chunk: Buffer): void => {
    try {
      reader.push(chunk, onFrame)
      if (router.handing !== undefined) handOver()
      if (handedOver) return
      timers.onData(chunk.length, reader.midFrame)
      updateReading()
    } catch (e) {
      server.log.info(`${remote}: ${(e as Error).message}; closing`)
      conn.close((e as Error).message)
    }
  }
  socket.on('data', receive)
  socket.on('error', (e) => { server.log.debug('conn', `${remote}: ${e.message}`) })
  socket.on('close', () => {
    // Handed over: the counts moved with it (ConnectionLimits.moveTo).
    if (!handedOver) server.limits.release(admission)
    timers.stop()
    conn.close('socket closed')
  })
  // An adopted connection's first bytes came with it, read by the worker that handed it over.
  if (o.adopted !== undefined && o.adopted.bytes.length > 0) receive(o.adopted.bytes)
  return conn
}

/** Serves a connection another worker handed here (handoff.ts) with node:net: a socket over its fd. */
export function adoptSocket (server: ServerState, a: Adoption, handoff: Handoff | undefined): void {
  let socket: net.Socket
  try {
    socket = new net.Socket({ fd: a.fd, readable: true, writable: true })
  } catch (e) {
    dropAdoption(server, a, (e as Error).message)
    return
  }
  server.log.info(adoptedLine(a, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`))
  serveSocket(server, socket, { handoff, adopted: a })
}

export function listenTcp (server: ServerState, host: string, port: number): Promise<net.Server> {
  const srv = net.createServer({ noDelay: true }, (socket) => { serveSocket(server, socket) })
  return new Promise((resolve, reject) => {
    srv.once('error', reject)
    srv.listen({ host, port, backlog: 511 }, () => {
      srv.off('error', reject)
      resolve(srv)
    })
  })
}

/**
 * Serves a listening socket made elsewhere (a worker's, inherited from its supervisor): libuv
 * adopts the fd. Closing the server closes this process's fd only, not the supervisor's copy.
 */
export function listenTcpFd (server: ServerState, fd: number, handoff?: Handoff): Promise<net.Server> {
  const srv = net.createServer({ noDelay: true }, (socket) => { serveSocket(server, socket, { handoff }) })
  return new Promise((resolve, reject) => {
    srv.once('error', reject)
    srv.listen({ fd }, () => {
      srv.off('error', reject)
      resolve(srv)
    })
  })
}
