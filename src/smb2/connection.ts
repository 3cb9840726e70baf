// One client connection, sans-IO (CONVENTIONS 8): its state (MS-SMB2 3.3.1.7), its budget of
// requests in flight, and its close. Whole PDUs come in from the transport (which strips the
// Direct-TCP length) through `handlePdu` and go to the receive pipeline (receive.ts); replies
// leave through the send pipeline (send.ts) and `io.send`.
//
// This file imports neither pipeline: the receive pipeline is handed to the constructor, so
// that the pipelines, the dispatcher and the handlers can all import this file with no cycle.
import { NtStatus } from '../wire/ntstatus.js'
import { Command } from '../wire/constants.js'
import { ProtocolError } from '../wire/errors.js'
import { CreditWindow } from './credits.js'
import type { ServerState } from '../session/server-state.js'
import { SessionState, type Session } from '../session/model.js'
import { teardownSession } from '../session/teardown.js'
import { AsyncTable } from './async.js'
import { publishEvent } from '../control/channels.js'

export interface ConnectionIo {
  /** Sends one message (the Direct-TCP length is the transport's). `onSent`, when given, runs
   *  once no one will read `chunks` again: the kernel has them all, or the connection dropped
   *  them; a transport that cannot tell never calls it (the buffers are then only collected). */
  send (chunks: Buffer[], onSent?: () => void): void
  close (reason: string): void
  readonly remoteAddress: string
  /**
   * The connection has room again for requests (`accepting` became true): a transport that
   * stopped reading because it was false starts again.
   */
  resume?(): void
  /**
   * Sends one message whose last chunk is a READ's payload not read yet: the transport reads
   * `read.fd` at `read.position` into that chunk and sends the message once it is full (the
   * ring links the two). Optional: only the io_uring transport has it.
   */
  sendAfterRead?(chunks: Buffer[], read: LinkedSendRead): void
}

/** What a transport needs for ConnectionIo.sendAfterRead, and what it reports back. */
export interface LinkedSendRead {
  fd: number
  position: number
  /** The payload chunk's registered-buffer slot, when it has one. */
  bufIndex?: number
  /** The read is over (or will never run): the file descriptor is not used any more. */
  readDone: () => void
  /** The whole message went out, or was dropped with the connection: its buffers are free. */
  sent: () => void
  /** The read was short or failed, so nothing was sent: the message to send instead and what
   *  runs once it is sent (the original chunks are then free). */
  instead: (result: number | Error) => { chunks: Buffer[], onSent?: () => void }
  /** The share lets the data go from the page cache to the socket without a copy (`use
   *  sendfile`, the default): the transport may splice it. False: it reads it into the payload. */
  splice: boolean
  /** Reads the data here and gives the message to send instead, when the transport read none of
   *  it into the payload chunk (a spliced READ whose file gave less than asked: nothing was sent);
   *  what runs once it is sent owns the payload chunk's buffer. */
  again: () => Promise<{ chunks: Buffer[], onSent?: () => void }>
}

/**
 * The receive pipeline (receive.ts `receivePdu`): processes one whole PDU, replies included.
 * It may throw; the connection then ends (runPdu).
 */
export type ReceivePdu = (conn: Smb2Connection, pdu: Buffer) => Promise<void>

/**
 * Per-connection budget of requests being processed, in credits (MS-SMB2 3.1.5.2: one credit per
 * 64 KiB of payload): 512 is 32 MiB of READ/WRITE data. The credit window alone lets a client have
 * up to `smb2 max credits` (8192: 512 MiB) of work in flight without reading one reply; beyond
 * this budget further PDUs wait, unprocessed, and the transport stops reading the socket, so
 * what one client pins is bounded whatever credits it holds. The client sees only latency.
 */
export const MAX_CHARGE_IN_FLIGHT = 512

export enum ConnectionState { Initial = 'Initial', Negotiated = 'Negotiated', Closed = 'Closed' }

/** MS-SMB2 3.3.1.7 Connection. */
export class Smb2Connection {
  state = ConnectionState.Initial
  dialect = 0
  clientGuid: Buffer = Buffer.alloc(16)
  /**
   * The client (ClientGuid, hex) this connection is counted for in the locking store as served by
   * this process (LockingStore.claimClient, by the transport at its first NEGOTIATE); released at
   * close.
   */
  servedClient?: string
  clientCapabilities = 0
  clientSecurityMode = 0
  clientDialects: number[] = []
  serverSecurityMode = 0
  serverCapabilities = 0
  /** MS-SMB2 3.3.1.7 PreauthIntegrityHashValue (3.1.1). */
  preauthHash?: Buffer
  signingAlgorithm = 0
  cipherId = 0
  /** SMB 3.1.1 POSIX extensions agreed at NEGOTIATE (src/smb2/posix.ts): POSIX opens allowed. */
  posixExtensions = false
  maxReadSize = 0
  maxWriteSize = 0
  maxTransactSize = 0
  /** A second NEGOTIATE is a protocol error; an SMB1 upgrade allows exactly one SMB2 NEGOTIATE. */
  negotiateCount = 0
  supportsMultiCredit = false
  readonly credits: CreditWindow
  /** Sessions this connection is a channel of (their first, or one bound later: MS-SMB2 3.3.5.5.2). */
  readonly sessions = new Set<Session>()
  /**
   * Session bindings in progress on this connection (SESSION_SETUP with SMB2_SESSION_FLAG_BINDING,
   * MS-SMB2 3.3.5.5.2), by SessionId: the authentication exchange and, for 3.1.1, the channel's
   * pre-auth hash so far. The connection joins the session's channels when it completes.
   */
  readonly bindings = new Map<bigint, { auth: unknown, preauthHash?: Buffer }>()
  /**
   * Oplock and lease breaks sent on this connection, by the open they were for: each resends its
   * break on another channel of the session if it still awaits an acknowledgment when this
   * connection is lost (MS-SMB2 3.3.4.6, 3.3.4.7; commands/oplock-break.ts).
   */
  readonly sentBreaks = new Map<{ readonly alive: boolean }, () => void>()
  /** MS-SMB2 3.3.1.7 Connection.AsyncCommandList (and requests waiting inside a compound). */
  readonly asyncOps = new AsyncTable()
  private inFlight = 0
  /** CREATEs past the `max open files` check that have not registered their Open yet. */
  createsInFlight = 0
  /** Credits charged by requests being processed (MAX_CHARGE_IN_FLIGHT). */
  private charged = 0
  /** PDUs received while over budget, processed in order as room frees. */
  private readonly backlog: Array<{ pdu: Buffer, done: () => void }> = []
  private sendBlocked = false
  /**
   * When the last whole PDU arrived (Date.now()), its creation before any: how long it has been
   * idle, for the connection limits (ConnectionLimits: at a limit, the unauthenticated connection
   * idle longest makes room). Bytes that never make a whole request (a header a byte a second)
   * are not activity.
   */
  lastRequestAt = Date.now()

  /** `receive` is the receive pipeline: receive.ts `receivePdu` (see the top of this file). */
  constructor (readonly server: ServerState, readonly io: ConnectionIo, private readonly receive: ReceivePdu) {
    this.credits = new CreditWindow(server.config.global.maxCredits)
    // (a client-side test helper drives a connection with no server behind it: no registry)
    server.conns?.add(this)
    publishEvent(() => ({ type: 'connect', client: io.remoteAddress }))
  }

  get closed (): boolean { return this.state === ConnectionState.Closed }

  /**
   * It holds a session that completed SESSION_SETUP (valid, or expired until it re-authenticates):
   * ConnectionLimits never drops it for a new connection. One whose sessions all logged off
   * counts as unauthenticated again.
   */
  get authenticated (): boolean {
    for (const s of this.sessions) if (s.state === SessionState.Valid || s.state === SessionState.Expired) return true
    return false
  }

  /** Opens held through every session of this connection (the `max open files` limit). */
  openCount (): number {
    let n = 0
    for (const s of this.sessions) n += s.opens.size
    return n
  }

  /**
   * False while the requests in flight hold MAX_CHARGE_IN_FLIGHT credits or more (or PDUs wait
   * behind them): the transport should stop reading until `io.resume()`.
   */
  get accepting (): boolean {
    return this.backlog.length === 0 && this.charged < MAX_CHARGE_IN_FLIGHT && !this.sendBlocked
  }

  /**
   * The transport's queue of unsent replies is over its high-water mark (the client does not read
   * them): no waiting PDU starts until it drains, so the replies of a client that never reads
   * stop at that queue plus the requests already in flight.
   */
  setSendBlocked (blocked: boolean): void {
    if (this.sendBlocked === blocked) return
    this.sendBlocked = blocked
    if (!blocked) this.release(0)
  }

  /**
   * Entry point from the transport: one whole PDU. Never throws; failures end this connection.
   * Resolves once the PDU has been processed (later, when it had to wait for the budget).
   */
  handlePdu (pdu: Buffer): Promise<void> {
    this.lastRequestAt = Date.now()
    if (!this.accepting && !this.closed) return new Promise((resolve) => { this.backlog.push({ pdu, done: resolve }) })
    return this.runPdu(pdu)
  }

  /** A request of a chain starts: its credits count against the budget until `release`. */
  charge (credits: number): void {
    this.charged += credits
  }

  /** Requests done (or replies drained): start the PDUs that waited, in order, while the budget allows. */
  release (charge: number): void {
    this.charged -= charge
    while (this.backlog.length > 0 && this.charged < MAX_CHARGE_IN_FLIGHT && !this.sendBlocked && !this.closed) {
      const { pdu, done } = this.backlog.shift()!
      void this.runPdu(pdu).then(done)
    }
    if (this.accepting && !this.closed) this.io.resume?.()
  }

  private async runPdu (pdu: Buffer): Promise<void> {
    this.inFlight++
    try {
      await this.receive(this, pdu)
    } catch (e: unknown) {
      const why = e instanceof ProtocolError ? e.message : `internal error: ${(e as Error)?.stack ?? String(e)}`
      // A protocol violation (a MessageId outside the credit window, a bad compound) ends only
      // this connection; it is logged so an operator sees which client and why.
      if (e instanceof ProtocolError) this.server.log.info(`${this.io.remoteAddress}: ${why}; disconnecting`)
      else this.server.log.error(`conn ${this.io.remoteAddress}: ${why}`)
      this.close(why)
    } finally {
      this.inFlight--
    }
  }

  close (reason: string): void {
    if (this.state === ConnectionState.Closed) return
    this.state = ConnectionState.Closed
    this.server.conns?.delete(this)
    publishEvent(() => ({ type: 'disconnect', client: this.io.remoteAddress, reason }))
    if (this.server.log.wants('conn')) this.server.log.debug('conn', `close ${this.io.remoteAddress}: ${reason}`)
    if (this.servedClient !== undefined) {
      this.server.locks.releaseClient(this.servedClient)
      this.servedClient = undefined
    }
    this.io.close(reason)
    // Pending requests end now; their responses have nowhere to go (receive.ts drops them). But
    // a CREATE waiting for a break, on a session that lives on through another channel, goes on:
    // the open it makes belongs to the session, and the client resends it on another channel as
    // a replay, which is told the first one still runs (FILE_NOT_AVAILABLE) and, once it has
    // ended, gets its open (MS-SMB2 3.3.5.9.10; smbtorture smb2.replay.dhv2-pending2*, as Samba).
    const sessionLivesOn = (s: Session | undefined): boolean => s !== undefined && s.alive && [...s.channels.keys()].some(c => c !== this && !c.closed)
    this.asyncOps.cancelWhere(op => !(op.command === Command.CREATE && sessionLivesOn(op.session)), NtStatus.CANCELLED, `connection closed: ${reason}`)
    for (const { done } of this.backlog.splice(0)) done()
    this.bindings.clear()
    for (const s of this.sessions) {
      // MS-SMB2 3.3.7.1: the channel goes; the session (its trees, its opens) lives on as long
      // as another of its channels does, and goes with its last one, its durable opens then
      // waiting for their client to reconnect.
      s.channels.delete(this)
      if (s.alive && s.channels.size > 0) {
        this.server.log.info(`session 0x${s.sessionId.toString(16)}: channel from ${this.io.remoteAddress} lost (${reason}); ${s.channels.size} channel${s.channels.size === 1 ? '' : 's'} left`)
        continue
      }
      void teardownSession(this.server, s, true)
    }
    this.sessions.clear()
    // Breaks that went out here and were never acknowledged: to another channel, when there is one.
    const resend = [...this.sentBreaks.values()]
    this.sentBreaks.clear()
    for (const r of resend) r()
  }

  /** Hands one message to the transport; on a closed connection only runs `onSent`. */
  send (chunks: Buffer[], onSent?: () => void): void {
    if (this.closed) onSent?.()
    else this.io.send(chunks, onSent)
  }
}
