// The io_uring transport (ARCHITECTURE 2). The listening socket is ours, not libuv's: one
// multishot accept SQE takes its connections, and each accepted fd is driven by ring recv and
// sendmsg. A connection's fd is closed only once no op on it is in flight, so a late CQE can
// never land on a reused fd. (A listen address that is a name, not a number, gets libuv's
// listener and accept; those sockets are paused on connect and served on the ring the same way.)
//
// Receive: into the free tail of a per-connection arena; whole frames are views of it
// (CONVENTIONS 4), handed to Smb2Connection through FrameReader. The arena is never rewritten:
// when its tail runs short a new one is taken and the old one lives as long as some frame still
// views it. Small frames come through one multishot recv per connection that stays armed across
// requests (no SQE, no submit, no Promise per request): it takes from the connection's own
// provided-buffer group, given one span at a time — the arena's free tail, so nothing is
// copied — and refilled after each chunk. It is stopped (cancelled, or it ends itself with
// ENOBUFS when no span was given) while the connection does not accept more, and before a large
// frame's rest is received: a frame missing DIRECT_MIN or more is received by one MSG_WAITALL
// recv straight into its own buffer (FrameReader.pendingSpace), so a 1 MiB WRITE is not copied
// and comes back in one completion, and only once the multishot's last CQE is in, so no two
// recvs on the socket ever overlap. Where
// the kernel has no buffer rings every chunk is one plain recv.
//
// Send: a small reply with nothing queued before it goes straight into the socket
// (native.sendNow, a non-blocking sendmsg) with no queue entry and a reused length header.
// Otherwise replies queue per connection and go out one sendmsg at a time (the ring does not
// order two SQEs on one socket unless they are linked): whatever is queued — a reply's length,
// header, body and READ payload, or several pipelined replies — leaves in one op, each piece an
// iovec, nothing copied together (small runs are tried with sendNow first). Every Buffer stays
// referenced by the ring until its CQE (CONVENTIONS 5). A READ response of SPLICE_MIN or more
// never has its data in user memory: the file's pages are spliced into pipes, then the head and
// the pipes go to the socket, in one kernel chain (spliceLinked, splice-pipes.ts); a smaller one
// is a read into its buffer linked to the sendmsg (sendLinked).
//
// Hand-over (handoff.ts): a connection of a client another worker serves stops receiving at its
// NEGOTIATE — the multishot recv is cancelled, and only once its last CQE is in is the fd passed
// on, with every byte read — and is then forgotten without ending the client's TCP connection.
import net from 'node:net'
import { FrameReader, frameHeader, type OnFrame } from './framing.js'
import { frameLimit, handleFrame, HIGH_WATER, serveSocket, socketFd, type ServeOptions } from './tcp.js'
import { Smb2Connection, type LinkedSendRead } from '../smb2/connection.js'
import { receivePdu } from '../smb2/receive.js'
import type { Admission, ServerState } from '../session/server-state.js'
import type { Ring } from '../io/ring.js'
import { native } from '../io/native.js'
import { clientAddress, ConnectionTimers } from './guard.js'
import { adoptedLine, ClientRouter, dropAdoption, type Adoption, type Handoff } from './handoff.js'
import { SplicePipes } from './splice-pipes.js'

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
const EMPTY = Buffer.alloc(0)
/** Replies (and runs of them) up to this size are written to the socket at once (native.sendNow). */
const INLINE_SEND_MAX = 64 * 1024
/** The most queued pieces one sendmsg carries. */
const SEND_IOV_MAX = 64
/** A linked READ of at least this much is spliced from the page cache (splice-pipes.ts); below
 *  it, the pipe work costs more than the two copies it saves. */
const SPLICE_MIN = 128 * 1024
const PAGE = 4096
/** Each ring's pipes for spliced READs. */
const ringPipes = new WeakMap<Ring, SplicePipes>()
function pipesOf (server: ServerState, ring: Ring): SplicePipes {
  let p = ringPipes.get(ring)
  if (p === undefined) {
    p = new SplicePipes((msg) => { server.log.warn(msg) })
    ringPipes.set(ring, p)
  }
  return p
}
/** The ring's idle splice pipes closed (the server stops; every chain is over once the ring is closed). */
export function closeSplicePipes (ring: Ring): void {
  ringPipes.get(ring)?.close()
  ringPipes.delete(ring)
}
/**
 * Whether the kernel tells a socket's acknowledged bytes (TCP_INFO's tcpi_bytes_acked, and an
 * addon that reads it): asked of the first connection, the answer holds for the process.
 */
let acksCounted: boolean | undefined
function countsAcked (fd: number): boolean {
  acksCounted ??= native.tcpBytesAcked !== undefined && native.tcpBytesAcked(fd) >= 0
  return acksCounted
}
/** Stop receiving from a client whose replies pile up beyond HIGH_WATER; resume below this. */
const LOW_WATER = 8 * 1024 * 1024

/** A piece of the send queue; a linked READ response is one entry of its own (`link`). */
interface SendEntry {
  buf: Buffer
  /** Runs once the kernel has this piece (the last piece of a message carries its hook). */
  onSent?: () => void
  /** A whole message whose last piece the linked read fills first (sendAfterRead). */
  link?: { pieces: Buffer[], total: number, read: LinkedSendRead }
}

class RingConnection {
  private readonly conn: Smb2Connection
  private readonly reader: FrameReader
  private readonly timers: ConnectionTimers
  private arena = Buffer.allocUnsafe(ARENA_SIZE)
  private arenaOff = 0
  private receiving = false
  private recvTag = 0
  /** The connection's provided-buffer group (undefined: plain recvs only). */
  private group: number | undefined
  /** A span of the arena given to the group and not yet filled: [provOff, arenaOff + ...). */
  private provided = false
  private provOff = 0
  /** The multishot recv is armed (its last CQE not in yet); `multiStopping`: cancel asked. */
  private multi = false
  private multiTag = 0
  private multiStopping = false
  private readonly onMultiData = (n: number, consumed: boolean): void => { this.multiData(n, consumed) }
  private readonly onMultiEnd = (res: number): void => { this.multiEnded(res, undefined) }
  private readonly onMultiErr = (e: Error): void => { this.multiEnded(0, e) }
  private recvPaused = false
  /** The recv in flight is a large frame's rest with MSG_WAITALL (collectHeld can ask for its bytes). */
  private directWaiting = false
  /** Buffers waiting to be sent, in order, each with what runs once the kernel has all of it
   *  (a READ payload goes back to its pool); `queued` counts their bytes. */
  private readonly sendQ: SendEntry[] = []
  private queued = 0
  private sending = false
  /** Sends done at once on the JS thread (native.sendNow), for tests and stats. */
  inlineSends = 0
  /** sendInline's length header, reused (sendNow is done with it on return). */
  private readonly inlineHeader = Buffer.allocUnsafe(4)
  /** Bytes a sendInline that took only part of a reply sent (consumed once it is queued). */
  private inlineSent = 0
  /** How many pieces at the queue's head the send in flight carries (the kernel may read them). */
  private sendingPieces = 0
  private sendTag = 0
  /** READ responses may be spliced here: the socket blocks (accepted by the ring). A socket
   *  libuv accepted is non-blocking, and a splice into it would stop short when it is full. */
  private readonly splices: boolean
  /** The two tags of a spliced READ's chain in flight, the head's and the last splice's: cancelling
   *  both ends the whole chain (at shutdown). */
  private spliceTags: Int32Array | undefined
  /** Over HIGH_WATER until below LOW_WATER; `sentTotal` counts bytes the kernel took. */
  private sendBlocked = false
  private sentTotal = 0
  /** The slow-reader timer runs (watchSends): the queue is blocked or a spliced chain is in flight. */
  private watching = false
  /**
   * The client's progress in taking replies, for the slow-reader timer: the bytes its TCP
   * acknowledged when the kernel tells (they grow while a send is in flight, and stop when the
   * client reads nothing), else the bytes the kernel took.
   */
  private readonly taken: () => number
  private closing = false
  private destroyed = false
  /** The first frames' look (the client's worker) and the hand-over's bytes. */
  private readonly router: ClientRouter
  /** Handed to another worker: its counts went with it, so none is released here. */
  private handedOver = false
  private readonly onFrame: OnFrame = (frame, loan) => {
    if (this.router.open && this.router.take(frame, loan, this.sending || this.sendQ.length > 0)) return
    handleFrame(this.conn, frame, loan)
  }

  /** `closeFd` closes the connection's fd: called once, when no op on it is in flight. */
  constructor (private readonly server: ServerState, private readonly ring: Ring, private readonly closeFd: () => void,
    private readonly fd: number, private readonly remote: string, private readonly admission: Admission, private readonly o: ServeOptions = {}) {
    this.conn = new Smb2Connection(server, {
      remoteAddress: remote,
      send: (chunks, onSent) => { this.enqueue(chunks, onSent) },
      close: (reason) => {
        if (server.log.wants('conn')) server.log.debug('conn', `closing ${remote}: ${reason}`)
        this.shutdown()
      },
      resume: () => { if (this.recvPaused) this.postRecv() },
      sendAfterRead: (chunks, read) => { this.enqueueLinked(chunks, read) },
    }, receivePdu)
    admission.conn = this.conn
    this.reader = new FrameReader(() => frameLimit(this.conn), (len) => server.frameBuffers.take(len))
    this.timers = new ConnectionTimers(server, this.conn, (why) => { this.conn.close(why) })
    this.timers.collectHeld = () => this.collectHeld()
    this.router = new ClientRouter(server, this.conn, o.handoff, o.adopted)
    // (An addon built before splicing existed has neither call: READs are copied.)
    const fl = typeof native.fcntlGetflNow === 'function' && typeof native.pipeNow === 'function' ? native.fcntlGetflNow(fd) : -1
    this.splices = fl >= 0 && (fl & native.constants.O_NONBLOCK) === 0
    this.taken = countsAcked(fd) ? () => Math.max(0, native.tcpBytesAcked!(fd)) : () => this.sentTotal
  }

  start (): void {
    // An adopted connection's first bytes came with it, read by the worker that handed it over.
    const first = this.o.adopted?.bytes
    if (first !== undefined && first.length > 0 && !this.received(first, 0, first.length)) return
    if (this.ring.multishotRecv) {
      try {
        this.group = this.ring.createBufGroup()
      } catch (e) {
        // No buffer rings in this kernel: plain recvs on every connection from now on. Any other
        // failure (no group free, out of memory): plain recvs on this one.
        const code = (e as { code?: string }).code
        if (code === 'EINVAL' || code === 'ENOSYS' || code === 'EOPNOTSUPP') this.ring.multishotRecv = false
        if (this.server.log.wants('conn')) this.server.log.debug('conn', `${this.remote}: no multishot recv: ${(e as Error).message}`)
      }
    }
    this.postRecv()
  }

  /**
   * Bytes received into buf[off, off + n): framed and handled. False when the connection is
   * closing (a bad frame) or being handed over (the caller receives no more).
   */
  private received (buf: Buffer, off: number, n: number): boolean {
    try {
      this.reader.push(buf, this.onFrame, off, off + n)
      if (this.router.handing !== undefined) {
        const rest = this.reader.takeRest()
        if (rest !== undefined) this.router.stashRaw(rest)
        return false
      }
      this.timers.onData(n, this.reader.midFrame)
    } catch (e) {
      this.server.log.info(`${this.remote}: ${(e as Error).message}; closing`)
      this.conn.close((e as Error).message)
      return false
    }
    return !this.closing
  }

  /**
   * The hand-over, once no recv is in flight: the connection goes (forgotten here, its fd
   * closed, the client's TCP connection untouched), or stays, and what was read is replayed.
   */
  private finishHandOver (): void {
    if (this.closing) { this.maybeDestroy(); return }
    if (this.router.finish(this.fd, this.remote, this.admission)) {
      this.handedOver = true
      this.conn.close('handed to another worker')
      return
    }
    for (const b of this.router.takeStash()) if (!this.received(b, 0, b.length)) return
    this.postRecv()
  }

  private postRecv (): void {
    if (this.closing || this.receiving || this.multi || this.router.handing !== undefined) return
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
    } else if (this.group !== undefined) {
      this.armMulti()
      return
    } else {
      this.roomInArena()
      buf = this.arena
      off = this.arenaOff
      len = Math.min(RECV_MAX, ARENA_SIZE - off)
      direct = false
    }
    this.receiving = true
    // A large frame's rest in one completion (MSG_WAITALL: the kernel gathers the pieces as they
    // arrive, with no trip through JS for each): a 1 GiB put of 8 MiB WRITEs took ~6,000 recvs
    // without it and 128 with, and ~20% less CPU. Its progress is then out of the frame timer's
    // sight until it completes, so the timer collects it (collectHeld) before judging a window.
    this.directWaiting = direct
    const p = this.ring.recv(this.fd, buf, off, len, direct ? MSG_WAITALL : 0)
    this.recvTag = p.tag
    p.then((n) => {
      this.receiving = false
      this.directWaiting = false
      if (this.closing) { this.maybeDestroy(); return }
      if (n === 0) { this.conn.close('socket closed'); return }
      if (direct) {
        try {
          this.reader.commitPending(n, this.onFrame)
          this.timers.onData(n, this.reader.midFrame)
        } catch (e) {
          this.server.log.info(`${this.remote}: ${(e as Error).message}; closing`)
          this.conn.close((e as Error).message)
          return
        }
        this.timers.heldCollected()
        if (this.closing) return
        // A large NEGOTIATE, completed here, may be one to hand over.
        if (this.router.handing !== undefined) { this.finishHandOver(); return }
      } else {
        if (buf === this.arena) this.arenaOff = off + n
        if (!this.received(buf, off, n)) {
          // Handing over: no recv is in flight (this was the one).
          if (this.router.handing !== undefined) this.finishHandOver()
          return
        }
      }
      this.postRecv()
    }, (e: Error) => {
      this.receiving = false
      this.directWaiting = false
      // collectHeld's cancel, before a byte of the rest came: nothing to count, the window is judged.
      if (direct && !this.closing && (e as NodeJS.ErrnoException).code === 'ECANCELED') {
        this.timers.heldCollected()
        this.postRecv()
        return
      }
      if (!this.closing) this.server.log.debug('conn', `${this.remote}: recv: ${e.message}`)
      this.conn.close('socket closed')
      this.maybeDestroy()
    })
  }

  /**
   * The frame timer's window ended short while a MSG_WAITALL receive is waiting: it is cancelled,
   * and the kernel completes it with the bytes it gathered (io_uring's recv reports its partial
   * count on cancel), which count as progress; postRecv then receives the rest.
   */
  private collectHeld (): boolean {
    if (!this.directWaiting) return false
    return this.ring.cancel(this.recvTag)
  }

  /** A fresh arena when the free tail of this one runs short (the old one lives on in its frames). */
  private roomInArena (): void {
    if (ARENA_SIZE - this.arenaOff < ARENA_MIN_TAIL) { this.arena = Buffer.allocUnsafe(ARENA_SIZE); this.arenaOff = 0 }
  }

  /**
   * Gives the group the arena's free tail, unless given. False when the ring refused (the
   * connection is then closing).
   */
  private provide (): boolean {
    if (this.provided) return true
    this.roomInArena()
    try {
      this.ring.provideBuffer(this.group!, this.arena, this.arenaOff, Math.min(RECV_MAX, ARENA_SIZE - this.arenaOff))
    } catch (e) {
      this.server.log.info(`${this.remote}: provide buffer: ${(e as Error).message}; closing`)
      this.conn.close('socket closed')
      return false
    }
    this.provided = true
    this.provOff = this.arenaOff
    return true
  }

  private armMulti (): void {
    if (!this.provide()) return
    this.multi = true
    this.multiStopping = false
    const p = this.ring.recvMultishot(this.fd, this.group!, this.onMultiData)
    this.multiTag = p.tag
    p.then(this.onMultiEnd, this.onMultiErr)
  }

  /** A chunk of the multishot recv: `n` bytes at provOff when `consumed`. */
  private multiData (n: number, consumed: boolean): void {
    if (!consumed) return
    this.provided = false
    if (this.closing || n <= 0) return
    const off = this.provOff
    this.arenaOff = off + n
    if (this.router.handing !== undefined) {
      // Read after the hand-over was decided, before the cancel took: it travels too.
      this.router.stashRaw(this.arena.subarray(off, off + n))
      return
    }
    if (!this.received(this.arena, off, n)) {
      // Handing over: the multishot recv ends first (multiEnded finishes the hand-over).
      if (this.router.handing !== undefined) this.stopMulti()
      return
    }
    if (this.multiStopping) return
    // Stop while the connection takes no more, or before a large frame's rest (received
    // straight into its own buffer once this recv is over); otherwise the next span.
    const pending = this.reader.pendingSpace()
    if (!this.conn.accepting || (pending !== undefined && pending.len >= DIRECT_MIN)) {
      this.stopMulti()
      return
    }
    this.provide()
  }

  private stopMulti (): void {
    if (this.multiStopping || !this.multi) return
    this.multiStopping = true
    // Without a span the kernel would end it with ENOBUFS at the next chunk; the cancel ends it
    // now, so a paused connection holds no armed recv.
    this.ring.cancel(this.multiTag)
  }

  /** The multishot recv's last CQE: end of stream, or stopped (by us, ENOBUFS, the kernel). */
  private multiEnded (res: number, e: Error | undefined): void {
    this.multi = false
    if (this.closing) { this.maybeDestroy(); return }
    if (this.router.handing !== undefined) {
      // Whatever ended it (our cancel, end of stream, an error), the hand-over decides now: a
      // peer that gets a closed connection sees it close, as this worker would have.
      this.finishHandOver()
      return
    }
    if (e === undefined) {
      if (res === 0) { this.conn.close('socket closed'); return }
    } else {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EINVAL' && this.group !== undefined) {
        // A kernel with buffer rings but no multishot recv (before 6.0): plain recvs from now
        // on. No recv takes from the group any more, so it (and its span) can go.
        this.ring.multishotRecv = false
        try { this.ring.destroyBufGroup(this.group) } catch { /* the ring closed */ }
        this.group = undefined
        this.provided = false
        this.postRecv()
        return
      }
      if (code !== 'ECANCELED' && code !== 'ENOBUFS') {
        if (this.server.log.wants('conn')) this.server.log.debug('conn', `${this.remote}: recv: ${e.message}`)
        this.conn.close('socket closed')
        return
      }
    }
    this.postRecv()
  }

  private enqueue (chunks: Buffer[], onSent?: () => void): void {
    if (this.closing) { onSent?.(); return }
    let total = 0
    for (const c of chunks) total += c.length
    if (!this.sending && this.sendQ.length === 0 && total + 4 <= INLINE_SEND_MAX && chunks.length < SEND_IOV_MAX) {
      if (this.sendInline(chunks, total, onSent)) return
    }
    this.sendQ.push({ buf: frameHeader(total) })
    this.queued += 4 + total
    for (const c of chunks) if (c.length > 0) this.sendQ.push({ buf: c })
    // The message's last piece carries the hook: once it is sent, all of the message is.
    if (onSent !== undefined) this.sendQ[this.sendQ.length - 1].onSent = onSent
    if (this.inlineSent > 0) {
      // sendInline got part of it out: that part leaves the queue's head.
      const sent = this.inlineSent
      this.inlineSent = 0
      this.consumeSent(sent)
    }
    this.queuedMore()
  }

  /**
   * A small reply with nothing queued before it: straight into the socket (native.sendNow) with
   * the connection's own length header and no queue entries. True when the socket took all of it
   * (or the send failed and the connection is closing); false when it took part or nothing: the
   * caller queues the reply, and what was sent is consumed from the queue's head.
   */
  private sendInline (chunks: Buffer[], total: number, onSent: (() => void) | undefined): boolean {
    this.inlineHeader.writeUInt32BE(total, 0)
    // A fresh small array (emptying a reused one costs V8 a runtime call); empty chunks are
    // harmless iovecs.
    const bufs = chunks.length === 1 ? [this.inlineHeader, chunks[0]] : [this.inlineHeader, ...chunks]
    let sent
    try {
      sent = native.sendNow(this.fd, bufs)
    } catch (e) {
      onSent?.()
      this.sendFailed(e as Error)
      return true
    }
    this.inlineSends++
    if (sent === total + 4) {
      this.sentTotal += sent
      onSent?.()
      return true
    }
    if (sent > 0) this.inlineSent = sent
    return false
  }

  /** Over HIGH_WATER the connection stops taking requests and the slow-reader timer runs. */
  private queuedMore (): void {
    if (this.queued > HIGH_WATER && !this.sendBlocked) {
      this.sendBlocked = true
      this.conn.setSendBlocked(true)
      this.watchSends()
    }
    this.kick()
  }

  /**
   * The slow-reader timer (ConnectionTimers.sendBlocked) runs while the queue is over HIGH_WATER,
   * and while a spliced chain is in flight, whatever its size: a splice into a full socket has no
   * poll to wait on in io_uring, so an io-wq thread blocks in it until the client reads. A client
   * that reads nothing would hold that thread for as long as it stays connected; the timer cuts
   * it after `frame timeout` without progress, and the shutdown's cancel frees the thread.
   */
  private readonly rewatch = (): void => { this.watchSends() }
  private watchSends (): void {
    const want = !this.closing && (this.sendBlocked || this.spliceTags !== undefined)
    if (want === this.watching) return
    this.watching = want
    this.timers.sendBlocked(want, this.taken)
  }

  private kick (): void {
    while (!this.sending && !this.closing && this.sendQ.length > 0) {
      if (this.sendQ[0].link !== undefined) { this.sendLinked(this.sendQ[0]); return }
      // Everything queued (up to SEND_IOV_MAX pieces, up to a linked READ) goes out as one
      // sendmsg: a reply's length, header and payload, or a run of pipelined replies, without
      // copying them together.
      let n = 0
      let total = 0
      while (n < this.sendQ.length && n < SEND_IOV_MAX && this.sendQ[n].link === undefined) total += this.sendQ[n++].buf.length
      const bufs: Buffer[] = new Array(n)
      for (let i = 0; i < n; i++) bufs[i] = this.sendQ[i].buf
      if (total <= INLINE_SEND_MAX) {
        // Small: straight into the socket now, as the kernel would at submit, but without a
        // completion to wake up for (a CQE per reply costs an eventfd wake-up, a promise and a
        // reap). What the socket does not take at once goes to the ring below.
        let sent
        try {
          sent = native.sendNow(this.fd, bufs)
        } catch (e) {
          this.sendFailed(e as Error)
          return
        }
        this.inlineSends++
        this.consumeSent(sent)
        this.unblockIfLow()
        if (sent === total) continue
        n = 0
        while (n < this.sendQ.length && n < SEND_IOV_MAX && this.sendQ[n].link === undefined) bufs[n] = this.sendQ[n++].buf
        bufs.length = n
      }
      const flags = MSG_WAITALL | MSG_NOSIGNAL
      const p = n === 1 ? this.ring.send(this.fd, bufs[0], 0, bufs[0].length, flags) : this.ring.sendmsg(this.fd, bufs, flags)
      this.sending = true
      this.sendingPieces = n
      this.sendTag = p.tag
      p.then((sent) => {
        this.sending = false
        if (this.closing) {
          // Shut down while this send was in flight: its pieces are free only now.
          for (const e of this.sendQ.splice(0)) e.onSent?.()
          this.maybeDestroy()
          return
        }
        this.consumeSent(sent)
        this.afterSend()
      }, (e: Error) => { this.sendFailed(e) })
      return
    }
  }

  /** `sent` bytes from the queue's head went out: whole pieces leave the queue (their hooks
   *  run), a piece sent in part keeps its rest. */
  private consumeSent (sent: number): void {
    this.queued -= sent
    this.sentTotal += sent
    let left = sent
    while (left > 0 && this.sendQ.length > 0) {
      const head = this.sendQ[0]
      if (left < head.buf.length) { head.buf = head.buf.subarray(left); break }
      left -= head.buf.length
      this.sendQ.shift()
      head.onSent?.()
    }
  }

  /** Below LOW_WATER the connection takes requests again (and asks, through resume, for
   *  receiving to start again if nothing else holds it). */
  private unblockIfLow (): void {
    if (this.queued < LOW_WATER && this.sendBlocked) {
      this.sendBlocked = false
      this.watchSends()
      this.conn.setSendBlocked(false)
    }
  }

  /** After a send completed: unblock if low, then the next send. */
  private afterSend (): void {
    this.unblockIfLow()
    this.kick()
  }

  private sendFailed (e: Error): void {
    this.sending = false
    if (this.closing) {
      // Cancelled by the shutdown (or failed meanwhile): what it carried is free now.
      for (const q of this.sendQ.splice(0)) q.onSent?.()
    } else {
      if (this.server.log.wants('conn')) this.server.log.debug('conn', `${this.remote}: send: ${e.message}`)
      this.conn.close('socket closed') // shutdown frees the queue
    }
    this.maybeDestroy()
  }

  /** A READ response whose payload the ring reads from the file just before sending it. */
  private enqueueLinked (chunks: Buffer[], read: LinkedSendRead): void {
    if (this.closing) { read.readDone(); read.sent(); return }
    let total = 0
    for (const c of chunks) total += c.length
    const pieces = [frameHeader(total), ...chunks]
    this.sendQ.push({ buf: EMPTY, onSent: read.sent, link: { pieces, total: total + 4, read } })
    this.queued += total + 4
    this.queuedMore()
  }

  /**
   * Sends the linked entry at the queue's head: one read into its last piece, linked in the
   * kernel to the sendmsg of all its pieces. A short or failed read cancels the send (nothing
   * went out) and the connection's `instead` gives the response to send in its place.
   */
  private sendLinked (head: SendEntry): void {
    const { pieces, total, read } = head.link!
    const payload = pieces[pieces.length - 1]
    if (this.splices && read.splice && payload.length >= SPLICE_MIN && this.spliceLinked(head)) return
    let pair
    try {
      pair = this.ring.readThenSendmsg(read.fd, payload, 0, payload.length, read.position, this.fd, pieces, MSG_WAITALL | MSG_NOSIGNAL, read.bufIndex)
    } catch (e) {
      this.sendQ.shift()
      read.readDone()
      head.onSent?.()
      this.sendFailed(e as Error)
      return
    }
    const readResult: Promise<number | Error> = pair.read.then((n) => n, (e: Error) => e)
    void readResult.then(() => { read.readDone() })
    this.sending = true
    this.sendingPieces = 1
    this.sendTag = pair.send.tag
    pair.send.then((sent) => {
      this.sending = false
      if (this.closing) {
        for (const e of this.sendQ.splice(0)) e.onSent?.()
        this.maybeDestroy()
        return
      }
      this.queued -= sent
      this.sentTotal += sent
      this.sendQ.shift()
      if (sent >= total) {
        head.onSent?.()
      } else {
        // The kernel took part of it (MSG_WAITALL makes this rare): the rest goes as plain pieces.
        const rest: SendEntry[] = []
        let skip = sent
        for (const p of pieces) {
          if (skip >= p.length) { skip -= p.length; continue }
          rest.push({ buf: p.subarray(skip) })
          skip = 0
        }
        rest[rest.length - 1].onSent = head.onSent
        this.sendQ.unshift(...rest)
      }
      this.afterSend()
    }, async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECANCELED' || this.closing) { this.sendFailed(e); return }
      // The read came back short or failed: send what the connection says instead.
      const result = await readResult
      this.sending = false
      if (this.closing) {
        for (const q of this.sendQ.splice(0)) q.onSent?.()
        this.maybeDestroy()
        return
      }
      this.sendQ.shift()
      this.queued -= total
      const alt = read.instead(result)
      this.sendInstead(alt)
    })
  }

  /**
   * Sends the linked entry at the queue's head with its payload spliced from the page cache
   * (splice-pipes.ts): the ring stages the file's pages in pipes, then sends the head and the
   * pipes' contents, in one chain. False when it cannot now (no pipes, the ring full): the caller
   * reads and sends. A staging splice that comes back short or fails sends nothing; the response
   * is then read here (`again`) and sent in its place.
   */
  private spliceLinked (head: SendEntry): boolean {
    const { pieces, total, read } = head.link!
    const length = pieces[pieces.length - 1].length
    const pool = pipesOf(this.server, this.ring)
    // A pipe holds size / 4096 page pieces: from an offset inside a page, one page less of data
    // spans them all.
    const share = read.position % PAGE === 0 ? pool.size : pool.size - PAGE
    const set = pool.take(Math.ceil(length / share))
    if (set === undefined) return false
    let chain
    try {
      chain = this.ring.spliceThenSendmsg(read.fd, read.position, length, set.fds, share, this.fd, pieces.slice(0, -1), MSG_WAITALL | MSG_NOSIGNAL)
    } catch {
      chain = undefined
    }
    if (chain === undefined) { pool.give(set); return false }
    const { head: sentHead, tags } = chain
    // Once the head has settled the chain no longer reads the file; a head cancelled while the
    // connection is open means a staging splice came back short or failed: nothing was sent.
    const headSettled: Promise<number | NodeJS.ErrnoException> = sentHead.then((n) => n, (e: NodeJS.ErrnoException) => e)
    void headSettled.then(() => { read.readDone() })
    this.sending = true
    this.sendingPieces = 1
    this.spliceTags = tags
    this.watchSends()
    Promise.all([sentHead, chain.data]).then(([h, d]) => {
      // Cannot be short with a blocking socket (each splice moves all it was given) short of an
      // error; were it to be, the pipes may hold the rest and the stream would be torn.
      const whole = h + d >= total
      if (whole) pool.give(set)
      else pool.discard(set)
      this.spliceDone()
      if (this.closing) return
      this.queued -= h + d
      this.sentTotal += h + d
      this.sendQ.shift()
      head.onSent?.()
      if (!whole) { this.sendFailed(new Error(`spliced READ response sent ${h + d} of ${total} bytes`)); return }
      this.afterSend()
    }, async (e: NodeJS.ErrnoException) => {
      const h = await headSettled
      pool.discard(set)
      if (!(h instanceof Error) || h.code !== 'ECANCELED' || this.closing) {
        this.spliceDone()
        this.sendFailed(e)
        return
      }
      // The file gave less than asked (end of file, an error): nothing was sent.
      let alt
      try {
        alt = await read.again()
      } catch (err) {
        this.spliceDone()
        this.sendFailed(err as Error)
        return
      }
      // The head's payload buffer belongs to `alt` now: the head leaves without its hook.
      this.sendQ.shift()
      if (!this.closing) this.queued -= total
      this.spliceDone()
      if (this.closing) { alt.onSent?.(); return }
      this.sendInstead(alt)
    })
    return true
  }

  /** The message a READ sends in place of its linked one (nothing of which was sent), first in the queue. */
  private sendInstead (alt: { chunks: Buffer[], onSent?: () => void }): void {
    let altTotal = 0
    for (const c of alt.chunks) altTotal += c.length
    const rest: SendEntry[] = [{ buf: frameHeader(altTotal) }, ...alt.chunks.filter((c) => c.length > 0).map((c) => ({ buf: c }))]
    rest[rest.length - 1].onSent = alt.onSent
    this.sendQ.unshift(...rest)
    this.queued += altTotal + 4
    this.afterSend()
  }

  /**
   * A spliced READ response's chain is over (sent, failed or replaced). The slow-reader timer is
   * judged after the caller has gone on (a microtask): when the queue's next READ starts its chain
   * at once, as it does while a client keeps several READs in flight, the timer runs on with its
   * window, instead of being stopped and started again (a timer and a TCP_INFO read) per READ.
   */
  private spliceDone (): void {
    this.sending = false
    this.spliceTags = undefined
    queueMicrotask(this.rewatch)
    if (this.closing) {
      for (const e of this.sendQ.splice(0)) e.onSent?.()
      this.maybeDestroy()
    }
  }

  /** Stops everything; the fd is closed once the last in-flight op has completed. */
  private shutdown (): void {
    if (this.closing) return
    this.closing = true
    // What the kernel never saw is free now; the pieces being sent are freed at their CQE.
    for (const e of this.sendQ.splice(this.sending ? this.sendingPieces : 0)) {
      e.link?.read.readDone()
      e.onSent?.()
    }
    this.queued = 0
    if (this.receiving) this.ring.cancel(this.recvTag)
    if (this.multi) this.ring.cancel(this.multiTag)
    if (this.sending) {
      if (this.spliceTags !== undefined) for (const t of this.spliceTags) this.ring.cancel(t)
      else this.ring.cancel(this.sendTag)
    }
    this.maybeDestroy()
  }

  private maybeDestroy (): void {
    if (!this.closing || this.receiving || this.multi || this.sending || this.destroyed) return
    this.destroyed = true
    // No recv takes from the group any more: its span (and the arena) can go.
    if (this.group !== undefined) {
      try { this.ring.destroyBufGroup(this.group) } catch { /* the ring closed: nothing is registered */ }
      this.group = undefined
    }
    this.timers.stop()
    // Handed over: the counts moved with it (ConnectionLimits.moveTo).
    if (!this.handedOver) this.server.limits.release(this.admission)
    this.closeFd()
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
  socket.on('error', (e) => { server.log.debug('conn', `${socket.remoteAddress ?? '?'}: ${e.message}`) })
  serveAccepted(server, ring, fd, socket.remoteAddress, socket.remotePort, () => { socket.destroy() })
}

/** Serves a connection the ring accepted (a bare fd, close-on-exec). */
function serveRingFd (server: ServerState, ring: Ring, fd: number, handoff: Handoff | undefined): void {
  const close = (): void => { native.close(fd).catch(() => {}) }
  let peer
  try {
    peer = native.peerName(fd)
    native.setNoDelay(fd)
  } catch (e) {
    // Gone before we looked (ENOTCONN): nothing to serve.
    if (server.log.wants('conn')) server.log.debug('conn', `accepted fd ${fd}: ${(e as Error).message}`)
    close()
    return
  }
  serveAccepted(server, ring, fd, peer.address, peer.port, close, { handoff })
}

/** Serves a connection another worker handed here (handoff.ts) on the ring. */
export function adoptRingFd (server: ServerState, ring: Ring, a: Adoption, handoff: Handoff | undefined): void {
  let peer
  try {
    peer = native.peerName(a.fd)
    native.setNoDelay(a.fd)
  } catch (e) {
    dropAdoption(server, a, (e as Error).message)
    return
  }
  server.log.info(adoptedLine(a, `${peer.address}:${peer.port}`))
  serveAccepted(server, ring, a.fd, peer.address, peer.port, () => { native.close(a.fd).catch(() => {}) }, { handoff, adopted: a })
}

function serveAccepted (server: ServerState, ring: Ring, fd: number, address: string | undefined, port: number | undefined, close: () => void, o: ServeOptions = {}): void {
  const remote = `${address ?? '?'}:${port ?? 0}`
  const addr = clientAddress(address)
  const admitted = server.limits.enter(addr, remote, o.adopted?.countsMoved === true ? o.adopted.meta : undefined)
  const start = (admission: Admission | undefined): void => {
    if (admission === undefined) {
      close()
      return
    }
    if (o.adopted === undefined) server.log.debug('conn', `connection from ${remote} (io_uring)`)
    new RingConnection(server, ring, close, fd, remote, admission, o).start()
  }
  // A promise: another worker is asked to make room (evict.ts); nothing is read meanwhile.
  if (admitted instanceof Promise) void admitted.then(start)
  else start(admitted)
}

/** What server.ts needs of a listener (a net.Server is one). */
export interface Listener {
  address (): net.AddressInfo | string | null
  close (done: () => void): void
}

/**
 * Listens with the ring: a listener libuv never watches, whose connections one multishot accept
 * SQE takes (re-armed whenever the kernel ends it). A host that is not a numeric address (a name
 * to resolve) gets libuv's listener and accept instead; its sockets are still served on the ring.
 */
export async function listenUring (server: ServerState, ring: Ring, host: string, port: number): Promise<Listener> {
  let l
  try {
    l = native.listenTcp(host, port, 511, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e
    return await listenUringViaLibuv(server, ring, host, port)
  }
  return acceptOnRing(server, ring, l.fd, host, { address: l.address, family: l.family, port: l.port })
}

/**
 * Serves a listening socket made elsewhere (a worker's, inherited from its supervisor) with the
 * ring's multishot accept, which works on any listening fd. close() closes this process's fd only:
 * the supervisor's copy keeps the socket, and its queued connections, for the slot's next worker.
 */
export function serveUringListener (server: ServerState, ring: Ring, fd: number, host: string, port: number, handoff?: Handoff): Listener {
  return acceptOnRing(server, ring, fd, host, { address: host, family: host.includes(':') ? 'IPv6' : 'IPv4', port }, handoff)
}

function acceptOnRing (server: ServerState, ring: Ring, lfd: number, host: string, info: net.AddressInfo, handoff?: Handoff): Listener {
  let closed = false
  let accepting: ReturnType<Ring['acceptMultishot']> | undefined
  let settled: Promise<unknown> = Promise.resolve()
  const arm = (): void => {
    if (closed) return
    const p = ring.acceptMultishot(lfd, (fd) => { serveRingFd(server, ring, fd, handoff) })
    accepting = p
    settled = p.then(() => { arm() }, (e: NodeJS.ErrnoException) => {
      if (closed || e.code === 'SMBTS_ERR_RING_CLOSED') return
      // Out of fds (EMFILE, ENFILE) or memory: accept again once some have gone.
      server.log.warn(`accept on ${host}:${info.port}: ${e.message}; accepting again in 1 s`)
      setTimeout(arm, 1000).unref()
    })
  }
  arm()
  if (server.log.wants('conn')) server.log.debug('conn', `listening on ${host}:${info.port} with a multishot accept on the ring`)
  return {
    address: () => info,
    close (done) {
      if (closed) { done(); return }
      closed = true
      if (accepting !== undefined) ring.cancel(accepting)
      void settled.finally(() => { native.close(lfd).catch(() => {}).finally(done) })
    },
  }
}

function listenUringViaLibuv (server: ServerState, ring: Ring, host: string, port: number): Promise<net.Server> {
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
