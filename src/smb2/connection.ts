// One client connection, sans-IO (CONVENTIONS 8): whole PDUs in (the transport strips the
// Direct-TCP length), chunks out through `io.send`. The receive pipeline (ARCHITECTURE 3):
// SMB1 upgrade / transform / SMB2 → split compound → header checks → credit window →
// session/tree/open resolution and signature check (dispatch.ts) → handler → send pipeline.
import { decodeHeader, type Smb2Header } from '../wire/header.js'
import {
  Command, COMMAND_NAMES, HeaderFlags, SMB1_MAGIC, SMB2_HEADER_SIZE, SMB2_MAGIC, SMB2_TRANSFORM_MAGIC,
} from '../wire/constants.js'
import { NtStatus, ntStatusName } from '../wire/ntstatus.js'
import { NtStatusError, ProtocolError } from '../wire/errors.js'
import { CreditWindow } from './credits.js'
import { encodeResponses, errorBody, type OutMessage } from './send.js'
import { dispatch } from './dispatch.js'
import type { ServerState } from '../session/server-state.js'
import type { LinkedRead, Related, Reply, RequestContext } from './context.js'
import { Session, SessionState } from '../session/model.js'
import { handleSmb1Negotiate } from './commands/negotiate.js'
import { teardownSession } from '../session/teardown.js'
import { decodeTransformHeader, TRANSFORM_FLAG_ENCRYPTED, TRANSFORM_HEADER_SIZE } from '../crypto/encryption.js'
import { AsyncTable, type AsyncOperation } from './async.js'

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
}

/**
 * Per-connection budget of requests being processed, in credits (MS-SMB2 3.1.5.2: one credit per
 * 64 KiB of payload): 512 is 32 MiB of READ/WRITE data. The credit window alone lets a client have
 * up to `smb2 max credits` (8192: 512 MiB) of work in flight without reading one reply; beyond
 * this budget further PDUs wait, unprocessed, and the transport stops reading the socket, so
 * what one client pins is bounded whatever credits it holds. The client sees only latency.
 */
export const MAX_CHARGE_IN_FLIGHT = 512

/** MS-SMB2 2.1: the Direct-TCP length is 24 bits. */
const DIRECT_TCP_MAX = 0xffffff
/** A TRANSFORM_HEADER (MS-SMB2 2.2.41) and more around an encrypted chain. */
const TRANSFORM_ROOM = 4096
/** Header, fixed body and padding around the largest payload of one response. */
const RESPONSE_ROOM = 64 * 1024

/** A compound chain in progress: credits charged, response bytes so far, refusing the rest. */
interface Chain { charge: number, bytes: number, refused: boolean }

export enum ConnectionState { Initial = 'Initial', Negotiated = 'Negotiated', Closed = 'Closed' }

/** MS-SMB2 3.3.1.7 Connection. */
export class Smb2Connection {
  state = ConnectionState.Initial
  dialect = 0
  clientGuid: Buffer = Buffer.alloc(16)
  clientCapabilities = 0
  clientSecurityMode = 0
  clientDialects: number[] = []
  serverSecurityMode = 0
  serverCapabilities = 0
  /** MS-SMB2 3.3.1.7 PreauthIntegrityHashValue (3.1.1). */
  preauthHash?: Buffer
  signingAlgorithm = 0
  cipherId = 0
  maxReadSize = 0
  maxWriteSize = 0
  maxTransactSize = 0
  /** A second NEGOTIATE is a protocol error; an SMB1 upgrade allows exactly one SMB2 NEGOTIATE. */
  negotiateCount = 0
  supportsMultiCredit = false
  readonly credits: CreditWindow
  /** Sessions established on this connection (their channel). */
  readonly sessions = new Set<Session>()
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

  constructor (readonly server: ServerState, readonly io: ConnectionIo) {
    this.credits = new CreditWindow(server.config.global.maxCredits)
  }

  get closed (): boolean { return this.state === ConnectionState.Closed }

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
    if (!this.accepting && !this.closed) return new Promise((resolve) => { this.backlog.push({ pdu, done: resolve }) })
    return this.runPdu(pdu)
  }

  /** Requests done (or replies drained): start the PDUs that waited, in order, while the budget allows. */
  private release (charge: number): void {
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
      await this.processPdu(pdu)
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
    this.server.log.debug('conn', `close ${this.io.remoteAddress}: ${reason}`)
    this.io.close(reason)
    // Pending requests end now; their responses have nowhere to go (processRequest drops them).
    this.asyncOps.cancelWhere(() => true, NtStatus.CANCELLED, `connection closed: ${reason}`)
    for (const { done } of this.backlog.splice(0)) done()
    for (const s of this.sessions) {
      // Until multichannel, a session lives and dies with its one connection.
      void teardownSession(this.server, s)
    }
    this.sessions.clear()
  }

  private async processPdu (pdu: Buffer): Promise<void> {
    if (this.closed) return
    if (pdu.length < 4) throw new ProtocolError('runt PDU')
    const magic = pdu.readUInt32LE(0)
    if (magic === SMB1_MAGIC) {
      if (this.state !== ConnectionState.Initial || this.negotiateCount > 0) throw new ProtocolError('SMB1 message after negotiate')
      const out = handleSmb1Negotiate(this, pdu)
      if (!out) throw new ProtocolError('SMB1 negotiate without an SMB2 dialect')
      this.send(out)
      return
    }
    let plain = pdu
    let encryptedBy: Session | undefined
    if (magic === SMB2_TRANSFORM_MAGIC) {
      const d = this.decrypt(pdu)
      plain = d.plain
      encryptedBy = d.session
    } else if (magic !== SMB2_MAGIC) {
      throw new ProtocolError(`unknown protocol id 0x${magic.toString(16)}`)
    }
    // MS-SMB2 3.3.5.2.7: a compound chain. Its credits stay charged until its response has gone
    // to the transport: the responses of a chain are held together until its last request is done.
    const chain: Chain = { charge: 0, bytes: 0, refused: false }
    try {
      await this.processChain(plain, encryptedBy, chain)
    } finally {
      this.release(chain.charge)
    }
  }

  /**
   * MS-SMB2 3.3.5.2.1.1: a TRANSFORM_HEADER message is decrypted with the key of the session it
   * names; anything that does not authenticate ends the connection.
   */
  private decrypt (pdu: Buffer): { plain: Buffer, session: Session } {
    if (this.dialect < 0x0300) throw new ProtocolError('encrypted message on a dialect without encryption')
    let h
    try { h = decodeTransformHeader(pdu) } catch (e) { throw new ProtocolError((e as Error).message) }
    if (h.flags !== TRANSFORM_FLAG_ENCRYPTED) throw new ProtocolError(`transform Flags 0x${h.flags.toString(16)}`)
    const session = this.server.sessions.get(h.sessionId)
    if (session === undefined || !this.sessions.has(session) || session.decryptor === undefined) {
      throw new ProtocolError(`encrypted message for unknown or unencrypted session 0x${h.sessionId.toString(16)}`)
    }
    let plain: Buffer
    try {
      // Over the frame's own bytes: no buffer of the message's size per message (see
      // aeadOpenInPlace); the frame is then released by the rules of the plain message it holds.
      plain = session.decryptor.decryptInPlace(pdu)
    } catch (e) {
      this.server.log.warn(`${this.io.remoteAddress}: ${(e as Error).message}; disconnecting`)
      throw new ProtocolError('decryption failed')
    }
    if (plain.length < SMB2_HEADER_SIZE || plain.readUInt32LE(0) !== SMB2_MAGIC) throw new ProtocolError('decrypted message is not SMB2')
    if (plain.readBigUInt64LE(40) !== h.sessionId) throw new ProtocolError('decrypted SessionId differs from the transform header')
    return { plain, session }
  }

  /** MS-SMB2 3.3.5.2.7: split a compound chain and process its requests in order. */
  private async processChain (pdu: Buffer, encryptedBy: Session | undefined, chain: Chain): Promise<void> {
    const out: OutMessage[] = []
    const related: Related = { sessionId: 0n, treeId: 0, fileId: undefined, status: NtStatus.SUCCESS, session: undefined, tree: undefined }
    let off = 0
    let first = true
    for (;;) {
      if (pdu.length - off < SMB2_HEADER_SIZE || pdu.readUInt32LE(off) !== SMB2_MAGIC) throw new ProtocolError('truncated or foreign message in compound')
      if (pdu.readUInt16LE(off + 4) !== SMB2_HEADER_SIZE) throw new ProtocolError('bad header StructureSize')
      const hdr = decodeHeader(pdu, off)
      if ((hdr.flags & HeaderFlags.SERVER_TO_REDIR) !== 0) throw new ProtocolError('response sent to the server')
      let end = pdu.length
      if (hdr.nextCommand !== 0) {
        // MS-SMB2 3.3.5.2.7: every message of a chain starts 8-byte aligned.
        if (hdr.nextCommand % 8 !== 0 || hdr.nextCommand < SMB2_HEADER_SIZE || off + hdr.nextCommand > pdu.length) {
          throw new ProtocolError(`bad NextCommand ${hdr.nextCommand}`)
        }
        end = off + hdr.nextCommand
      }
      const msg = pdu.subarray(off, end)
      if (first && (hdr.flags & HeaderFlags.RELATED_OPERATIONS) !== 0) {
        // MS-SMB2 3.3.5.2.7.2: the first request of a chain cannot be related.
        related.status = NtStatus.INVALID_PARAMETER
      }
      const res = await this.processRequest(hdr, msg, related, out.length > 0 || hdr.nextCommand !== 0, encryptedBy !== undefined, chain)
      if (res !== undefined) chain.bytes += SMB2_HEADER_SIZE + res.reply.body.length + (res.reply.payload?.length ?? 0) + 8
      if (this.closed) {
        for (const m of res !== undefined ? [...out, res] : out) dropReply(m.reply)
        return
      }
      if (res) out.push(res)
      if (hdr.nextCommand === 0) break
      off = end
      first = false
    }
    if (out.length === 0) return
    // MS-SMB2 3.3.4.1.4: a response to an encrypted request, or on a session or share that
    // requires encryption, leaves encrypted (the whole chain in one transform, unsigned).
    const enc = encryptedBy ?? out.find(m => m.encryptWith !== undefined)?.encryptWith
    const released = releaseAll(out)
    const linked = out.length === 1 ? out[0].reply.linkedRead : undefined
    if (linked !== undefined) {
      if (enc === undefined && out[0].signer === undefined && this.io.sendAfterRead !== undefined) {
        this.sendLinked(out[0], linked, released)
        return
      }
      // canLinkRead said yes, the response says no: read here, as any READ would.
      out[0].reply = await linked.readHere()
      out[0].hdr.status = out[0].reply.status ?? NtStatus.SUCCESS
    }
    if (enc?.encryptor !== undefined) {
      for (const m of out) m.signer = undefined
      // A payload in a lent buffer (READ data: only this reply views it) is encrypted over itself
      // and sent from there, then released once sent; the rest is encrypted into new memory.
      let owned: Set<Buffer> | undefined
      for (const m of out) if (m.reply.release !== undefined && m.reply.payload !== undefined) (owned ??= new Set()).add(m.reply.payload)
      this.send(enc.encryptor.encrypt(enc.sessionId, encodeResponses(out), owned), released)
    } else {
      this.send(encodeResponses(out), released)
    }
  }

  /** A READ response sent by the transport after its linked read (ConnectionIo.sendAfterRead). */
  private sendLinked (m: OutMessage, linked: LinkedRead, released: (() => void) | undefined): void {
    const chunks = encodeResponses([m])
    if (this.closed) { linked.readDone(); released?.(); return }
    this.io.sendAfterRead!(chunks, {
      fd: linked.fd,
      position: linked.position,
      bufIndex: linked.bufIndex,
      readDone: linked.readDone,
      sent: () => { released?.() },
      instead: (result) => {
        m.reply = linked.finish(result)
        m.hdr.status = m.reply.status ?? NtStatus.SUCCESS
        return { chunks: encodeResponses([m]), onSent: m.reply.release }
      },
    })
  }

  /**
   * Whether a READ on this request may leave as a linked read→send: a lone request whose
   * response is neither signed nor encrypted, on a transport that can (MS-SMB2 3.3.4.1.1 signs
   * and 3.3.4.1.4 encrypts over the whole response, data included, so those read first).
   */
  canLinkRead (ctx: RequestContext): boolean {
    return this.io.sendAfterRead !== undefined && ctx.lone === true && !ctx.encrypted &&
      ctx.session?.encryptData !== true && ctx.tree?.encryptData !== true && !this.signs(ctx, undefined, NtStatus.SUCCESS)
  }

  /** MS-SMB2 3.3.4.1.1: whether the response to `ctx` with this status is signed. */
  private signs (ctx: RequestContext, reply: Reply | undefined, status: number): boolean {
    const session = reply?.signWith ?? ctx.session
    return session !== undefined && session.signer !== undefined && (session.state === SessionState.Valid || reply?.signWith !== undefined) &&
      ((ctx.hdr.flags & HeaderFlags.SIGNED) !== 0 || session.signingRequired || reply?.signWith !== undefined) &&
      status !== NtStatus.PENDING
  }

  private async processRequest (hdr: Smb2Header, msg: Buffer, related: Related, inCompound: boolean, encrypted: boolean,
    chain: Chain): Promise<OutMessage | undefined> {
    const cmd = hdr.command
    // MS-SMB2 3.3.5.2.3: CANCEL consumes no credit and gets no response of its own.
    if (cmd === Command.CANCEL) {
      this.cancel(hdr)
      return undefined
    }
    const charge = Math.max(this.supportsMultiCredit ? hdr.creditCharge : 1, 1)
    if (!this.credits.consume(hdr.messageId, charge)) {
      throw new ProtocolError(`MessageId ${hdr.messageId} (charge ${hdr.creditCharge}) outside the credit window`)
    }
    const ctx: RequestContext = { server: this.server, conn: this, hdr, msg, body: msg.subarray(SMB2_HEADER_SIZE), encrypted, lone: !inCompound }
    let op: AsyncOperation | undefined
    ctx.goAsync = () => {
      if (op === undefined) {
        // MS-SMB2 3.3.4.2: alone in its PDU, the request answers STATUS_PENDING now; inside a
        // compound it waits in place (3.3.5.2.7), the chain's responses leaving together.
        op = this.asyncOps.add(hdr.messageId, cmd, ctx.session, ctx.tree, !inCompound)
        if (op.asyncId !== 0n) this.sendInterim(ctx, op)
      }
      return op.signal
    }
    let reply: Reply
    if (chain.bytes > 0 && chain.bytes > this.chainRoom()) {
      // The responses of a chain go out as one Direct-TCP message, at most 16 MiB - 1 (MS-SMB2
      // 2.1), and are held until the last one is done (a chain of 8192 64 KiB READs would be half
      // a GiB). Once the next response might not fit, the rest of the chain is refused, not run.
      // MS-SMB2 3.3.5.2.7 sets no bound on a chain; the status says why.
      if (!chain.refused) this.server.warnRefusal(`chain ${this.io.remoteAddress}`, `${this.io.remoteAddress}: compound response reached ${chain.bytes} bytes; refusing the rest of the chain (STATUS_INSUFFICIENT_RESOURCES)`)
      chain.refused = true
      reply = { status: NtStatus.INSUFFICIENT_RESOURCES, body: errorBody() }
    } else {
      this.charged += charge
      chain.charge += charge
      try {
        reply = await dispatch(ctx, related, inCompound)
      } catch (e) {
        if (!(e instanceof NtStatusError)) throw e
        reply = { status: e.status, body: errorBody() }
        if (e.status !== NtStatus.NO_MORE_FILES && e.status !== NtStatus.OBJECT_NAME_NOT_FOUND) {
          this.server.log.debug('smb', `${COMMAND_NAMES[cmd] ?? cmd} mid=${hdr.messageId} -> ${ntStatusName(e.status)}${e.message !== ntStatusName(e.status) ? ` (${e.message})` : ''}`)
        }
      } finally {
        ctx.goAsync = undefined
      }
    }
    if (op !== undefined) {
      this.asyncOps.remove(op)
      // Exactly one final response per request, whatever cancelled it meanwhile.
      if (!op.complete()) { dropReply(reply); return undefined }
    }
    if (this.closed) { dropReply(reply); return undefined }
    const status = reply.status ?? NtStatus.SUCCESS
    related.status = status
    const isAsync = op !== undefined && op.asyncId !== 0n
    // MS-SMB2 3.3.4.3: the final response of an async request grants nothing (the interim did).
    const granted = isAsync ? 0 : this.credits.grant(hdr.creditRequest)
    const session = reply.signWith ?? ctx.session
    const sign = this.signs(ctx, reply, status)
    const out: OutMessage = {
      hdr: {
        creditCharge: hdr.creditCharge,
        status,
        command: cmd,
        creditRequest: granted,
        flags: HeaderFlags.SERVER_TO_REDIR | (isAsync ? HeaderFlags.ASYNC_COMMAND : 0) | (hdr.flags & (HeaderFlags.RELATED_OPERATIONS | HeaderFlags.PRIORITY_MASK)),
        nextCommand: 0,
        messageId: hdr.messageId,
        asyncId: isAsync ? op!.asyncId : 0n,
        treeId: ctx.tree?.treeId ?? hdr.treeId,
        sessionId: reply.sessionId ?? ctx.session?.sessionId ?? hdr.sessionId,
      },
      reply,
      signer: sign ? session : undefined,
      // The TREE_CONNECT response itself is sent as the request came: the client learns from it
      // that the share requires encryption (MS-SMB2 3.3.5.7).
      encryptWith: cmd !== Command.SESSION_SETUP && cmd !== Command.NEGOTIATE &&
        (ctx.session?.encryptData === true || (ctx.tree?.encryptData === true && cmd !== Command.TREE_CONNECT)) ? ctx.session : undefined,
    }
    return out
  }

  /** How full a chain's response may be before a next response (at most the largest READ or
   *  transact output, plus headers) could make it overflow a Direct-TCP message. */
  private chainRoom (): number {
    return DIRECT_TCP_MAX - TRANSFORM_ROOM - Math.max(this.maxReadSize, this.maxTransactSize) - RESPONSE_ROOM
  }

  /**
   * MS-SMB2 3.3.4.2: the interim response: the request's header with STATUS_PENDING, the async
   * flag and AsyncId, the credits granted now, an error body, unsigned; encrypted like the final
   * response would be.
   */
  private sendInterim (ctx: RequestContext, op: AsyncOperation): void {
    const { hdr } = ctx
    const out: OutMessage = {
      hdr: {
        creditCharge: hdr.creditCharge,
        status: NtStatus.PENDING,
        command: hdr.command,
        creditRequest: this.credits.grant(hdr.creditRequest),
        flags: HeaderFlags.SERVER_TO_REDIR | HeaderFlags.ASYNC_COMMAND | (hdr.flags & HeaderFlags.PRIORITY_MASK),
        nextCommand: 0,
        messageId: hdr.messageId,
        asyncId: op.asyncId,
        treeId: 0,
        sessionId: ctx.session?.sessionId ?? hdr.sessionId,
      },
      reply: { status: NtStatus.PENDING, body: errorBody() },
    }
    const enc = ctx.encrypted || ctx.session?.encryptData === true || ctx.tree?.encryptData === true ? ctx.session : undefined
    this.server.log.debug('smb', `${COMMAND_NAMES[hdr.command] ?? hdr.command} mid=${hdr.messageId} pending (async id ${op.asyncId})`)
    if (enc?.encryptor !== undefined) this.send(enc.encryptor.encrypt(enc.sessionId, encodeResponses([out])))
    else this.send(encodeResponses([out]))
  }

  /**
   * MS-SMB2 3.3.5.16: CANCEL names a request by AsyncId (async form) or MessageId (sync form);
   * a pending one completes with STATUS_CANCELLED, anything else is ignored. CANCEL itself gets
   * no response.
   */
  private cancel (hdr: Smb2Header): void {
    const isAsync = (hdr.flags & HeaderFlags.ASYNC_COMMAND) !== 0
    const op = this.asyncOps.find(isAsync ? hdr.asyncId : undefined, hdr.messageId)
    if (op !== undefined && op.cancel(NtStatus.CANCELLED, 'cancelled by the client')) {
      this.server.log.debug('smb', `CANCEL ${isAsync ? `async id ${hdr.asyncId}` : `mid=${hdr.messageId}`}: ${COMMAND_NAMES[op.command] ?? op.command} mid=${op.messageId} cancelled`)
    } else if (op === undefined && !isAsync) {
      // The request may still be on its way to waiting (the client did not see an interim
      // response yet): it is cancelled when it gets there.
      this.asyncOps.cancelEarly(hdr.messageId)
      this.server.log.debug('smb', `CANCEL mid=${hdr.messageId}: nothing waiting yet; remembered`)
    } else {
      this.server.log.debug('smb', `CANCEL ${isAsync ? `async id ${hdr.asyncId}` : `mid=${hdr.messageId}`}: no pending request`)
    }
  }

  send (chunks: Buffer[], onSent?: () => void): void {
    if (this.closed) onSent?.()
    else this.io.send(chunks, onSent)
  }
}

/**
 * A response that will never be sent (the connection closed meanwhile): its payload buffer goes
 * back, and a linked READ gives its file descriptor back (the file's close waits for it).
 */
function dropReply (reply: Reply): void {
  reply.linkedRead?.readDone()
  reply.release?.()
}

/** One callback releasing every payload of a response chain, or undefined when none has one. */
function releaseAll (out: OutMessage[]): (() => void) | undefined {
  let one: (() => void) | undefined
  let fns: Array<() => void> | undefined
  for (const m of out) {
    const f = m.reply.release
    if (f === undefined) continue
    if (one === undefined) one = f
    else (fns ??= [one]).push(f)
  }
  if (fns === undefined) return one
  return () => { for (const f of fns) f() }
}

/**
 * Whether the buffer a frame was received in is free once `handlePdu(frame)` has resolved (asked
 * then, not before): a lone plain WRITE (no compound) keeps no view of its frame past its own
 * processing (its data went to the file; a pipe's WRITE copies what the pipe keeps). An encrypted
 * message was decrypted over its own bytes, so the same rule applies to the plaintext after its
 * transform header; when it did not authenticate nothing was processed and no view exists. Any
 * other frame may leave views behind (an authentication token kept for the MIC, a queued RPC
 * fragment): its buffer is left to the GC, never reused.
 */
export function frameReusableAfterProcessing (frame: Buffer): boolean {
  if (frame.length < SMB2_HEADER_SIZE) return false
  const magic = frame.readUInt32LE(0)
  if (magic === SMB2_TRANSFORM_MAGIC) return loneWrite(frame, TRANSFORM_HEADER_SIZE)
  return loneWrite(frame, 0)
}

function loneWrite (frame: Buffer, off: number): boolean {
  return frame.length >= off + SMB2_HEADER_SIZE && frame.readUInt32LE(off) === SMB2_MAGIC &&
    frame.readUInt16LE(off + 12) === Command.WRITE && frame.readUInt32LE(off + 20) === 0
}
