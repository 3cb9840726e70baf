// The send pipeline (ARCHITECTURE 6): error bodies built in one place, each response's header
// (credits granted, async, sign or not, encrypt or not), compound chaining with 8-byte padding,
// the preauth hook, signing, then the whole chain encrypted in one transform or sent as it is;
// interim responses (STATUS_PENDING), and a lone READ handed to the transport as a linked
// read→send (which the ring transport may splice from the page cache instead: uring.ts
// spliceLinked). Output is a list of chunks for one writev (Smb2Connection.send).
import { encodeHeader, SIGNATURE_OFFSET, type Smb2Header } from '../wire/header.js'
import { COMMAND_NAMES, Command, HeaderFlags, SMB2_HEADER_SIZE } from '../wire/constants.js'
import { NtStatus } from '../wire/ntstatus.js'
import type { LinkedRead, Reply, RequestContext } from './context.js'
import type { Smb2Connection } from './connection.js'
import type { AsyncOperation } from './async.js'
import { SessionState, type Session } from '../session/model.js'
import { zeroed } from '../wire/buffers.js'
import type { Signer } from '../crypto/signing.js'

/** MS-SMB2 2.2.2: SMB2 ERROR Response, no error contexts (StructureSize 9, one zero byte of ErrorData). */
export function errorBody (): Buffer {
  const b = zeroed(9)
  b.writeUInt16LE(9, 0)
  return b
}

export interface OutMessage {
  hdr: Smb2Header
  reply: Reply
  /** Sign with this key (the session's channel key on this connection). */
  signer?: Signer
  /** Encrypt the response chain with this session's key. */
  encryptWith?: Session
  /** Not signed, but the SIGNED flag set and this signature (the request's) echoed: RequestContext.echoSignature. */
  echoSignature?: Buffer
}

/** MS-SMB2 2.1: the Direct-TCP length is 24 bits. */
const DIRECT_TCP_MAX = 0xffffff
/** A TRANSFORM_HEADER (MS-SMB2 2.2.41) and more around an encrypted chain. */
const TRANSFORM_ROOM = 4096
/** Header, fixed body and padding around the largest payload of one response. */
const RESPONSE_ROOM = 64 * 1024

/** How full a chain's response may be before a next response (at most the largest READ or
 *  transact output, plus headers) could make it overflow a Direct-TCP message. */
export function chainRoom (conn: Smb2Connection): number {
  return DIRECT_TCP_MAX - TRANSFORM_ROOM - Math.max(conn.maxReadSize, conn.maxTransactSize) - RESPONSE_ROOM
}

/** MS-SMB2 3.3.4.1.1: whether the response to `ctx` with this status is signed. */
function signs (ctx: RequestContext, reply: Reply | undefined, status: number): boolean {
  const session = reply?.signWith ?? ctx.session
  return session !== undefined && session.signer !== undefined && (session.state === SessionState.Valid || reply?.signWith !== undefined) &&
    ((ctx.hdr.flags & HeaderFlags.SIGNED) !== 0 || session.signingRequired || reply?.signWith !== undefined) &&
    status !== NtStatus.PENDING
}

/**
 * Whether a READ on this request may leave as a linked read→send: a lone request whose
 * response is neither signed nor encrypted, on a transport that can (MS-SMB2 3.3.4.1.1 signs
 * and 3.3.4.1.4 encrypts over the whole response, data included, so those read first).
 */
export function canLinkRead (ctx: RequestContext): boolean {
  return ctx.conn.io.sendAfterRead !== undefined && ctx.lone === true && !ctx.encrypted &&
    ctx.session?.encryptData !== true && ctx.tree?.encryptData !== true && !signs(ctx, undefined, NtStatus.SUCCESS)
}

/**
 * The final response to one request: its header (MS-SMB2 3.3.4.1: credits granted, the async
 * flag and AsyncId when it went async, 3.3.4.3: none granted then, the interim did), whether it
 * is signed (3.3.4.1.1) and with which session it is encrypted (3.3.4.1.4).
 */
export function response (conn: Smb2Connection, ctx: RequestContext, reply: Reply, status: number, asyncId: bigint): OutMessage {
  const { hdr } = ctx
  const cmd = hdr.command
  const isAsync = asyncId !== 0n
  const granted = isAsync ? 0 : conn.credits.grant(hdr.creditRequest)
  const session = reply.signWith ?? ctx.session
  const sign = signs(ctx, reply, status)
  const signer = sign ? (reply.signer ?? session!.signerFor(conn)) : undefined
  return {
    hdr: {
      creditCharge: hdr.creditCharge,
      status,
      command: cmd,
      creditRequest: granted,
      flags: HeaderFlags.SERVER_TO_REDIR | (isAsync ? HeaderFlags.ASYNC_COMMAND : 0) | (hdr.flags & (HeaderFlags.RELATED_OPERATIONS | HeaderFlags.PRIORITY_MASK)),
      nextCommand: 0,
      messageId: hdr.messageId,
      asyncId,
      treeId: ctx.tree?.treeId ?? hdr.treeId,
      sessionId: reply.sessionId ?? ctx.session?.sessionId ?? hdr.sessionId,
    },
    reply,
    signer,
    echoSignature: signer === undefined && ctx.echoSignature === true && status !== NtStatus.PENDING ? ctx.msg.subarray(SIGNATURE_OFFSET, SIGNATURE_OFFSET + 16) : undefined,
    // The TREE_CONNECT response itself is sent as the request came: the client learns from it
    // that the share requires encryption (MS-SMB2 3.3.5.7).
    encryptWith: cmd !== Command.SESSION_SETUP && cmd !== Command.NEGOTIATE &&
      (ctx.session?.encryptData === true || (ctx.tree?.encryptData === true && cmd !== Command.TREE_CONNECT))
      ? ctx.session
      : undefined,
  }
}

/**
 * Sends the responses of one chain as one message. MS-SMB2 3.3.4.1.4: a response to an
 * encrypted request, or on a session or share that requires encryption, leaves encrypted (the
 * whole chain in one transform, unsigned). A lone READ with a linked read goes to the transport
 * as such when its response is neither signed nor encrypted; otherwise its data is read here
 * first, and only then does this give a promise (undefined: all sent).
 */
export function sendChain (conn: Smb2Connection, out: OutMessage[], encryptedBy: Session | undefined): Promise<void> | undefined {
  const enc = encryptedBy ?? out.find(m => m.encryptWith !== undefined)?.encryptWith
  const released = releaseAll(out)
  const linked = out.length === 1 ? out[0].reply.linkedRead : undefined
  if (linked !== undefined) {
    if (enc === undefined && out[0].signer === undefined && conn.io.sendAfterRead !== undefined) {
      sendLinked(conn, out[0], linked, released)
      return undefined
    }
    return readThenSend(conn, out, linked, enc, released)
  }
  sendEncoded(conn, out, enc, released)
  return undefined
}

/** canLinkRead said yes, the response says no: read here, as any READ would, then send. */
async function readThenSend (conn: Smb2Connection, out: OutMessage[], linked: LinkedRead, enc: Session | undefined,
  released: (() => void) | undefined): Promise<void> {
  out[0].reply = await linked.readHere()
  out[0].hdr.status = out[0].reply.status ?? NtStatus.SUCCESS
  sendEncoded(conn, out, enc, released)
}

function sendEncoded (conn: Smb2Connection, out: OutMessage[], enc: Session | undefined, released: (() => void) | undefined): void {
  if (enc?.encryptor !== undefined) {
    for (const m of out) m.signer = undefined
    // A payload in a lent buffer (READ data: only this reply views it) is encrypted over itself
    // and sent from there, then released once sent; the rest is encrypted into new memory.
    let owned: Set<Buffer> | undefined
    for (const m of out) if (m.reply.release !== undefined && m.reply.payload !== undefined) (owned ??= new Set()).add(m.reply.payload)
    conn.send(enc.encryptor.encrypt(enc.sessionId, encodeResponses(out), owned), released)
  } else {
    conn.send(encodeResponses(out), released)
  }
}

/** A READ response sent by the transport after its linked read (ConnectionIo.sendAfterRead). */
function sendLinked (conn: Smb2Connection, m: OutMessage, linked: LinkedRead, released: (() => void) | undefined): void {
  const chunks = encodeResponses([m])
  if (conn.closed) { linked.readDone(); released?.(); return }
  conn.io.sendAfterRead!(chunks, {
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
    splice: linked.splice,
    again: async () => {
      m.reply = await linked.readAgain()
      m.hdr.status = m.reply.status ?? NtStatus.SUCCESS
      return { chunks: encodeResponses([m]), onSent: m.reply.release }
    },
  })
}

/**
 * MS-SMB2 3.3.4.2: the interim response: the request's header with STATUS_PENDING, the async
 * flag and AsyncId, the credits granted now, an error body, unsigned; encrypted like the final
 * response would be.
 */
export function sendInterim (conn: Smb2Connection, ctx: RequestContext, op: AsyncOperation): void {
  const out = interimMessage(conn, ctx, op)
  const enc = ctx.encrypted || ctx.session?.encryptData === true || ctx.tree?.encryptData === true ? ctx.session : undefined
  if (conn.server.log.wants('smb')) conn.server.log.debug('smb', `${COMMAND_NAMES[ctx.hdr.command] ?? ctx.hdr.command} mid=${ctx.hdr.messageId} pending (async id ${op.asyncId})`)
  if (enc?.encryptor !== undefined) conn.send(enc.encryptor.encrypt(enc.sessionId, encodeResponses([out])))
  else conn.send(encodeResponses([out]))
}

/** MS-SMB2 3.3.4.2: the interim response (STATUS_PENDING, the AsyncId) of a request going async. */
export function interimMessage (conn: Smb2Connection, ctx: RequestContext, op: AsyncOperation): OutMessage {
  const { hdr } = ctx
  return {
    hdr: {
      creditCharge: hdr.creditCharge,
      status: NtStatus.PENDING,
      command: hdr.command,
      creditRequest: conn.credits.grant(hdr.creditRequest),
      flags: HeaderFlags.SERVER_TO_REDIR | HeaderFlags.ASYNC_COMMAND | (hdr.flags & (HeaderFlags.PRIORITY_MASK | HeaderFlags.RELATED_OPERATIONS)),
      nextCommand: 0,
      messageId: hdr.messageId,
      asyncId: op.asyncId,
      treeId: 0,
      sessionId: ctx.session?.sessionId ?? hdr.sessionId,
    },
    reply: { status: NtStatus.PENDING, body: errorBody() },
  }
}

/**
 * A response that will never be sent (the connection closed meanwhile): its payload buffer goes
 * back, and a linked READ gives its file descriptor back (the file's close waits for it).
 */
export function dropReply (reply: Reply): void {
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
 * Lays out one compound response: each message padded to 8 bytes except the last, NextCommand
 * chained, then signed (padding included, MS-SMB2 3.3.4.1.1). A payload stays a separate chunk
 * unless the message must be padded after it.
 */
export function encodeResponses (msgs: OutMessage[]): Buffer[] {
  const chunks: Buffer[] = []
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]
    const last = i === msgs.length - 1
    const bodyLen = m.reply.body.length
    const payloadLen = m.reply.payload?.length ?? 0
    const len = SMB2_HEADER_SIZE + bodyLen + payloadLen
    // In a compound every response is padded to 8 bytes, the last one too (as Samba's
    // smbd_smb2_request_reply does; smbtorture smb2.compound.compound-padding); a lone one is not.
    const padded = last && msgs.length === 1 ? len : (len + 7) & ~7
    m.hdr.nextCommand = last ? 0 : padded
    let parts: Buffer[]
    if (payloadLen > 0 && last) {
      const head = Buffer.allocUnsafe(SMB2_HEADER_SIZE + bodyLen)
      encodeHeader(m.hdr, head, 0)
      m.reply.body.copy(head, SMB2_HEADER_SIZE)
      parts = padded > len ? [head, m.reply.payload!, zeroed(padded - len)] : [head, m.reply.payload!]
    } else {
      const whole = zeroed(padded)
      encodeHeader(m.hdr, whole, 0)
      m.reply.body.copy(whole, SMB2_HEADER_SIZE)
      m.reply.payload?.copy(whole, SMB2_HEADER_SIZE + bodyLen)
      parts = [whole]
    }
    if (m.signer !== undefined) {
      const head = parts[0]
      head.writeUInt32LE((head.readUInt32LE(16) | HeaderFlags.SIGNED) >>> 0, 16)
      const sig = m.signer.sign(parts)
      sig.copy(head, SIGNATURE_OFFSET)
    } else if (m.echoSignature !== undefined) {
      const head = parts[0]
      head.writeUInt32LE((head.readUInt32LE(16) | HeaderFlags.SIGNED) >>> 0, 16)
      m.echoSignature.copy(head, SIGNATURE_OFFSET)
    }
    // The pre-auth hash takes the response as it leaves: signed, for a binding's (MS-SMB2 3.3.5.5.2).
    m.reply.onEncoded?.(parts.length === 1 ? parts[0] : Buffer.concat(parts))
    chunks.push(...parts)
  }
  return chunks
}
