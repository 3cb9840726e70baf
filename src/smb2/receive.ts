// The receive pipeline (ARCHITECTURE 3): one whole PDU from the connection's budget
// (Smb2Connection.handlePdu) → SMB1 upgrade, or transform header → decrypt → split compound →
// header checks → credit/MessageId window (and CANCEL, which takes no credit) → the dispatcher
// (dispatch.ts: session/tree/open resolution, and the signature check once it knows the session,
// MS-SMB2 3.3.5.2.4) → handler → the send pipeline (send.ts). Everything that is the same for
// every command happens here, once.
import { decodeHeader, type Smb2Header } from '../wire/header.js'
import {
  Command, COMMAND_NAMES, Dialect, HeaderFlags, SMB1_MAGIC, SMB2_HEADER_SIZE, SMB2_MAGIC, SMB2_TRANSFORM_MAGIC,
} from '../wire/constants.js'
import { NtStatus, ntStatusName } from '../wire/ntstatus.js'
import { NtStatusError, ProtocolError } from '../wire/errors.js'
import { chainRoom, dropReply, errorBody, interimMessage, response, sendChain, sendInterim, type OutMessage } from './send.js'
import { dispatch } from './dispatch.js'
import { ConnectionState, type Smb2Connection } from './connection.js'
import type { Related, Reply, RequestContext } from './context.js'
import type { Session } from '../session/model.js'
import { handleSmb1Negotiate } from './commands/negotiate.js'
import { decodeTransformHeader, TRANSFORM_FLAG_ENCRYPTED, TRANSFORM_HEADER_SIZE } from '../crypto/encryption.js'
import type { AsyncOperation } from './async.js'
import { publishEvent, requestChannel, type RequestRecord } from '../control/channels.js'

/** A compound chain in progress: credits charged, response bytes so far, refusing the rest. */
interface Chain {
  charge: number
  bytes: number
  refused: boolean
  /** The responses of the chain so far, not sent yet. */
  out?: OutMessage[]
  encryptedBy?: Session
}

/**
 * One whole PDU (Smb2Connection's ReceivePdu): processed, its responses handed to the send
 * pipeline. Throws ProtocolError on what ends the connection (Smb2Connection.runPdu closes it).
 */
export async function receivePdu (conn: Smb2Connection, pdu: Buffer): Promise<void> {
  if (conn.closed) return
  if (pdu.length < 4) throw new ProtocolError('runt PDU')
  const magic = pdu.readUInt32LE(0)
  if (magic === SMB1_MAGIC) {
    if (conn.state !== ConnectionState.Initial || conn.negotiateCount > 0) throw new ProtocolError('SMB1 message after negotiate')
    const out = handleSmb1Negotiate(conn, pdu)
    if (!out) throw new ProtocolError('SMB1 negotiate without an SMB2 dialect')
    conn.send(out)
    return
  }
  let plain = pdu
  let encryptedBy: Session | undefined
  if (magic === SMB2_TRANSFORM_MAGIC) {
    const d = decrypt(conn, pdu)
    plain = d.plain
    encryptedBy = d.session
  } else if (magic !== SMB2_MAGIC) {
    throw new ProtocolError(`unknown protocol id 0x${magic.toString(16)}`)
  }
  // MS-SMB2 3.3.5.2.7: a compound chain. Its credits stay charged until its response has gone
  // to the transport: the responses of a chain are held together until its last request is done.
  const chain: Chain = { charge: 0, bytes: 0, refused: false }
  try {
    await processChain(conn, plain, encryptedBy, chain)
  } finally {
    conn.release(chain.charge)
  }
}

/**
 * MS-SMB2 3.3.5.2.1.1: a TRANSFORM_HEADER message is decrypted with the key of the session it
 * names; anything that does not authenticate ends the connection.
 */
function decrypt (conn: Smb2Connection, pdu: Buffer): { plain: Buffer, session: Session } {
  if (conn.dialect < Dialect.SMB3_00) throw new ProtocolError('encrypted message on a dialect without encryption')
  let h
  try { h = decodeTransformHeader(pdu) } catch (e) { throw new ProtocolError((e as Error).message) }
  if (h.flags !== TRANSFORM_FLAG_ENCRYPTED) throw new ProtocolError(`transform Flags 0x${h.flags.toString(16)}`)
  const session = conn.server.sessions.get(h.sessionId)
  // A session of another connection (a client that sends on a channel it has not bound yet) is
  // decrypted too: only its key's holder can have made the message, and the dispatcher then
  // answers USER_SESSION_DELETED, encrypted, as Samba does (smbtorture smb2.session.bind2 on an
  // encrypted share).
  if (session === undefined || !session.alive || session.decryptor === undefined) {
    throw new ProtocolError(`encrypted message for unknown or unencrypted session 0x${h.sessionId.toString(16)}`)
  }
  let plain: Buffer
  try {
    // Over the frame's own bytes: no buffer of the message's size per message (see
    // aeadOpenInPlace); the frame is then released by the rules of the plain message it holds.
    plain = session.decryptor.decryptInPlace(pdu)
  } catch (e) {
    conn.server.log.warn(`${conn.io.remoteAddress}: ${(e as Error).message}; disconnecting`)
    throw new ProtocolError('decryption failed')
  }
  if (plain.length < SMB2_HEADER_SIZE || plain.readUInt32LE(0) !== SMB2_MAGIC) throw new ProtocolError('decrypted message is not SMB2')
  if (plain.readBigUInt64LE(40) !== h.sessionId) throw new ProtocolError('decrypted SessionId differs from the transform header')
  session.encryptedTraffic = true
  return { plain, session }
}

/** MS-SMB2 3.3.5.2.7: split a compound chain, process its requests in order, send the responses. */
async function processChain (conn: Smb2Connection, pdu: Buffer, encryptedBy: Session | undefined, chain: Chain): Promise<void> {
  const out: OutMessage[] = []
  chain.out = out
  chain.encryptedBy = encryptedBy
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
    const res = await processRequest(conn, hdr, msg, related, out.length > 0 || hdr.nextCommand !== 0, encryptedBy !== undefined, chain)
    if (res !== undefined) chain.bytes += SMB2_HEADER_SIZE + res.reply.body.length + (res.reply.payload?.length ?? 0) + 8
    if (conn.closed) {
      for (const m of res !== undefined ? [...out, res] : out) dropReply(m.reply)
      return
    }
    if (res) out.push(res)
    if (hdr.nextCommand === 0) break
    off = end
    first = false
  }
  if (out.length === 0) return
  // Only a lone READ whose linked read cannot be linked after all gives a promise (it reads first).
  const reading = sendChain(conn, out, encryptedBy)
  if (reading !== undefined) await reading
}

async function processRequest (conn: Smb2Connection, hdr: Smb2Header, msg: Buffer, related: Related, inCompound: boolean,
  encrypted: boolean, chain: Chain): Promise<OutMessage | undefined> {
  const cmd = hdr.command
  // MS-SMB2 3.3.5.2.3: CANCEL consumes no credit and gets no response of its own.
  if (cmd === Command.CANCEL) {
    cancel(conn, hdr)
    return undefined
  }
  const started = performance.now()
  const charge = Math.max(conn.supportsMultiCredit ? hdr.creditCharge : 1, 1)
  if (!conn.credits.consume(hdr.messageId, charge)) {
    throw new ProtocolError(`MessageId ${hdr.messageId} (charge ${hdr.creditCharge}) outside the credit window`)
  }
  const ctx: RequestContext = { server: conn.server, conn, hdr, msg, body: msg.subarray(SMB2_HEADER_SIZE), encrypted, lone: !inCompound }
  // A CHANGE_NOTIFY that ends a chain goes async as a lone request does: the responses before it
  // leave at once with its interim response (smbtorture smb2.compound.interim1); one in the
  // middle of a chain cannot wait (change-notify.ts answers STATUS_INTERNAL_ERROR, as Windows).
  const lastNotify = inCompound && cmd === Command.CHANGE_NOTIFY && hdr.nextCommand === 0
  const going = new GoingAsync(conn, ctx, chain, inCompound, lastNotify)
  ctx.goAsync = going.start.bind(going)
  let reply: Reply
  if (chain.bytes > 0 && chain.bytes > chainRoom(conn)) {
    // The responses of a chain go out as one Direct-TCP message, at most 16 MiB - 1 (MS-SMB2
    // 2.1), and are held until the last one is done (a chain of 8192 64 KiB READs would be half
    // a GiB). Once the next response might not fit, the rest of the chain is refused, not run.
    // MS-SMB2 3.3.5.2.7 sets no bound on a chain; the status says why.
    if (!chain.refused) conn.server.warnRefusal(`chain ${conn.io.remoteAddress}`, `${conn.io.remoteAddress}: compound response reached ${chain.bytes} bytes; refusing the rest of the chain (STATUS_INSUFFICIENT_RESOURCES)`)
    chain.refused = true
    reply = { status: NtStatus.INSUFFICIENT_RESOURCES, body: errorBody() }
  } else {
    conn.charge(charge)
    chain.charge += charge
    try {
      reply = await dispatch(ctx, related, inCompound)
    } catch (e) {
      if (!(e instanceof NtStatusError)) throw e
      reply = { status: e.status, body: errorBody() }
      if (e.status !== NtStatus.NO_MORE_FILES && e.status !== NtStatus.OBJECT_NAME_NOT_FOUND) {
        if (conn.server.log.wants('smb')) conn.server.log.debug('smb', `${COMMAND_NAMES[cmd] ?? cmd} mid=${hdr.messageId} -> ${ntStatusName(e.status)}${e.message !== ntStatusName(e.status) ? ` (${e.message})` : ''}`)
      }
    } finally {
      ctx.goAsync = undefined
    }
  }
  const op = going.op
  if (op !== undefined) {
    conn.asyncOps.remove(op)
    // Exactly one final response per request, whatever cancelled it meanwhile.
    if (!op.complete()) { dropReply(reply); return undefined }
  }
  if (conn.closed) { dropReply(reply); return undefined }
  const status = reply.status ?? NtStatus.SUCCESS
  if (cmd === Command.NEGOTIATE && status === NtStatus.NOT_SUPPORTED) closeOnceSent(conn, reply, 'NEGOTIATE: no common dialect')
  // A CHANGE_NOTIFY refused in the middle of a chain (it cannot wait there) was not run at all:
  // the related request after it still runs on the chain's FileId (smb2.compound.interim2).
  if (!(cmd === Command.CHANGE_NOTIFY && status === NtStatus.INTERNAL_ERROR)) related.status = status
  conn.server.stats.record(COMMAND_NAMES[cmd] ?? String(cmd), status !== NtStatus.SUCCESS && status !== NtStatus.MORE_PROCESSING_REQUIRED, started)
  if (requestChannel.hasSubscribers || conn.server.log.wants('smb')) publishRequest(ctx, status, started)
  if (status === NtStatus.SHARING_VIOLATION) {
    publishEvent(() => ({ type: 'sharing-violation', client: conn.io.remoteAddress, share: ctx.tree?.shareName ?? '', session: `0x${hdr.sessionId.toString(16)}`, command: COMMAND_NAMES[cmd] ?? String(cmd) }))
  }
  // An op that got no interim response (it waited inside a compound) has AsyncId 0: a sync reply.
  return response(conn, ctx, reply, status, op?.asyncId ?? 0n)
}

/**
 * A request's ctx.goAsync: the AsyncOperation, made at the first call (MS-SMB2 3.3.4.2: alone in
 * its PDU, the request answers STATUS_PENDING now; inside a compound it waits in place,
 * 3.3.5.2.7, the chain's responses leaving together).
 *
 * An object and a bound method, not a closure in processRequest. With the closure (over
 * processRequest's variables, `op` among them), 12-13% of every scavenge's young generation
 * survived the in-memory ECHO loop of test/unit/io/request-heap.test.ts for as long as the
 * request path ran below TurboFan (Ignition, Sparkplug, Maglev: its first ~16,000 requests, or
 * for good with --no-turbofan); with the bound method, 0.0-0.2% from the first request (V8 13.6).
 * Why V8 kept those objects alive was not found.
 */
class GoingAsync {
  op: AsyncOperation | undefined

  constructor (private readonly conn: Smb2Connection, private readonly ctx: RequestContext, private readonly chain: Chain,
    private readonly inCompound: boolean, private readonly lastNotify: boolean) {}

  start (): AbortSignal {
    if (this.op === undefined) {
      const { conn, ctx, chain } = this
      const op = conn.asyncOps.add(ctx.hdr.messageId, ctx.hdr.command, ctx.session, ctx.tree, !this.inCompound || this.lastNotify)
      this.op = op
      if (op.asyncId !== 0n && this.lastNotify && chain.out !== undefined && chain.out.length > 0) {
        void sendChain(conn, [...chain.out.splice(0), interimMessage(conn, ctx, op)], chain.encryptedBy)
      } else if (op.asyncId !== 0n) sendInterim(conn, ctx, op)
    }
    return this.op.signal
  }
}

/**
 * MS-SMB2 3.3.5.4: a NEGOTIATE that finds no dialect in common (STATUS_NOT_SUPPORTED) ends the
 * connection once its error response has left (issue 20): nothing can be spoken on it, and only
 * the handshake timer would end it otherwise. (A malformed NEGOTIATE, STATUS_INVALID_PARAMETER,
 * leaves the connection as it was, Initial, as Samba does.) `release` runs once the response is
 * with the kernel, or was dropped with the connection.
 */
function closeOnceSent (conn: Smb2Connection, reply: Reply, why: string): void {
  const release = reply.release
  reply.release = () => {
    release?.()
    conn.close(why)
  }
}

/**
 * MS-SMB2 3.3.5.16: CANCEL names a request by AsyncId (async form) or MessageId (sync form);
 * a pending one completes with STATUS_CANCELLED, anything else is ignored. CANCEL itself gets
 * no response.
 */
function cancel (conn: Smb2Connection, hdr: Smb2Header): void {
  const isAsync = (hdr.flags & HeaderFlags.ASYNC_COMMAND) !== 0
  const op = conn.asyncOps.find(isAsync ? hdr.asyncId : undefined, hdr.messageId)
  if (op !== undefined && op.cancel(NtStatus.CANCELLED, 'cancelled by the client')) {
    if (conn.server.log.wants('smb')) conn.server.log.debug('smb', `CANCEL ${isAsync ? `async id ${hdr.asyncId}` : `mid=${hdr.messageId}`}: ${COMMAND_NAMES[op.command] ?? op.command} mid=${op.messageId} cancelled`)
  } else if (op === undefined && !isAsync) {
    // The request may still be on its way to waiting (the client did not see an interim
    // response yet): it is cancelled when it gets there.
    conn.asyncOps.cancelEarly(hdr.messageId)
    if (conn.server.log.wants('smb')) conn.server.log.debug('smb', `CANCEL mid=${hdr.messageId}: nothing waiting yet; remembered`)
  } else {
    if (conn.server.log.wants('smb')) conn.server.log.debug('smb', `CANCEL ${isAsync ? `async id ${hdr.asyncId}` : `mid=${hdr.messageId}`}: no pending request`)
  }
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

/** The request's record for `trace` and its line in the `smb` log: built only when someone listens. */
function publishRequest (ctx: RequestContext, status: number, started: number): void {
  const { hdr } = ctx
  const rec: RequestRecord = {
    time: Date.now(),
    session: `0x${hdr.sessionId.toString(16)}`,
    tree: hdr.treeId,
    command: COMMAND_NAMES[hdr.command] ?? String(hdr.command),
    messageId: String(hdr.messageId),
    status: ntStatusName(status),
    latencyUs: Math.round((performance.now() - started) * 1000),
    client: ctx.conn.io.remoteAddress,
  }
  if (ctx.tree !== undefined) rec.share = ctx.tree.shareName
  if (ctx.open !== undefined) rec.file = ctx.open.path
  if (requestChannel.hasSubscribers) requestChannel.publish(rec)
  const log = ctx.server.log
  if (log.wants('smb')) {
    log.debug('smb', `${rec.client} ${rec.command} mid=${rec.messageId} sid=${rec.session} tid=${rec.tree}` +
      `${rec.file !== undefined ? ` file=${JSON.stringify(`${rec.share ?? ''}/${rec.file}`)}` : ''} -> ${rec.status} ${rec.latencyUs}us`)
  }
}
