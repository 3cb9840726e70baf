// The node:net transport: listener, per-socket framing and backpressure. (The io_uring
// transport will sit beside it; the protocol core does not know which one carries it.)
import net from 'node:net'
import { FrameReader, frameHeader } from './framing.js'
import { Smb2Connection, ConnectionState } from '../smb2/connection.js'
import { frameReusableAfterProcessing, receivePdu } from '../smb2/receive.js'
import type { Loan } from '../io/buffer-pool.js'
import type { ServerState } from '../session/server-state.js'
import { SessionState } from '../session/model.js'
import { clientAddress, ConnectionTimers } from './guard.js'

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

export function serveSocket (server: ServerState, socket: net.Socket): Smb2Connection | undefined {
  socket.setNoDelay(true)
  const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
  const addr = clientAddress(socket.remoteAddress)
  const refused = server.limits.admit(addr)
  if (refused !== undefined) {
    server.warnRefusal(`accept ${addr} ${refused}`, `connection from ${remote} refused: ${refused}`)
    socket.destroy()
    return undefined
  }
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
      server.log.debug('conn', `closing ${remote}: ${reason}`)
      socket.destroy()
    },
    resume () { updateReading() },
  }, receivePdu)
  server.log.debug('conn', `connection from ${remote}`)
  const timers = new ConnectionTimers(server, conn, (why) => { conn.close(why) })
  const reader = new FrameReader(() => frameLimit(conn), (len) => server.frameBuffers.take(len))
  socket.on('data', (chunk: Buffer) => {
    try {
      reader.push(chunk, (frame, loan) => { handleFrame(conn, frame, loan) })
      timers.onData(chunk.length, reader.midFrame)
      updateReading()
    } catch (e) {
      server.log.info(`${remote}: ${(e as Error).message}; closing`)
      conn.close((e as Error).message)
    }
  })
  socket.on('error', (e) => { server.log.debug('conn', `${remote}: ${e.message}`) })
  socket.on('close', () => {
    server.limits.release(addr)
    timers.stop()
    conn.close('socket closed')
  })
  return conn
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
export function listenTcpFd (server: ServerState, fd: number): Promise<net.Server> {
  const srv = net.createServer({ noDelay: true }, (socket) => { serveSocket(server, socket) })
  return new Promise((resolve, reject) => {
    srv.once('error', reject)
    srv.listen({ fd }, () => {
      srv.off('error', reject)
      resolve(srv)
    })
  })
}
