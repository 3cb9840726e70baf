// The dispatcher (ARCHITECTURE 4, CONVENTIONS 2): size checks and Session/TreeConnect/Open
// resolution happen here once, from the command's table row; handlers never repeat them.
import { Command, Dialect, HeaderFlags, SESSION_FLAG_BINDING } from '../wire/constants.js'
import { countChannelSequence, uncount } from './replay.js'
import { sessionIdSlot } from '../session/server-state.js'
import { NtStatus } from '../wire/ntstatus.js'
import { NtStatusError, ProtocolError } from '../wire/errors.js'
import { COMMAND_TABLE } from './table.js'
import type { Related, Reply, RequestContext } from './context.js'
import { SessionState, type Session } from '../session/model.js'
import { ConnectionState } from './connection.js'
import { persistOpen } from '../session/persistent.js'

const ALL_ONES = 0xffffffffffffffffn
const EXPIRED_SESSION_COMMANDS = new Set<number>([Command.SESSION_SETUP, Command.LOGOFF, Command.CLOSE, Command.LOCK])

export async function dispatch (ctx: RequestContext, related: Related, inCompound: boolean): Promise<Reply> {
  const { hdr, conn } = ctx
  const base = COMMAND_TABLE[hdr.command]
  if (base === undefined) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `unknown command ${hdr.command}`)
  const row = base.variant !== undefined && ctx.body.length >= 2 && ctx.body.readUInt16LE(0) === base.variant.structureSize ? base.variant : base

  // MS-SMB2 3.3.5.2: before NEGOTIATE only NEGOTIATE is allowed; a second one ends the connection.
  if (hdr.command === Command.NEGOTIATE) {
    if (conn.state !== ConnectionState.Initial) throw new ProtocolError('NEGOTIATE on a negotiated connection')
  } else if (conn.state !== ConnectionState.Negotiated) {
    throw new ProtocolError(`${row.name} before NEGOTIATE`)
  }

  const isRelated = (hdr.flags & HeaderFlags.RELATED_OPERATIONS) !== 0
  if (isRelated && inCompound) {
    // MS-SMB2 3.3.5.2.9: a session an earlier request of the chain logged off is looked up first
    // and is gone (as Samba checks the session before the tree), whatever tree it left behind.
    if (row.session !== 'none' && related.session !== undefined && !related.session.alive) {
      throw new NtStatusError(NtStatus.USER_SESSION_DELETED, 'related request after the chain logged its session off')
    }
    // MS-SMB2 3.3.5.2.7.2: when the previous operation left no session or tree to inherit (it
    // failed to resolve them, or named none), the related request fails with INVALID_PARAMETER;
    // otherwise a related request after a failed one fails the same way.
    if ((row.session !== 'none' && related.session === undefined) || (row.tree && related.tree === undefined)) {
      throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'related request without a session or tree to inherit')
    }
    if (related.status !== NtStatus.SUCCESS) throw new NtStatusError(related.status)
  }

  // MS-SMB2 3.3.5.2.2: StructureSize; odd sizes mean a variable part whose first byte may be absent.
  if (ctx.body.length < 2 || ctx.body.readUInt16LE(0) !== row.structureSize) {
    throw new NtStatusError(NtStatus.INVALID_PARAMETER, `${row.name}: StructureSize ${ctx.body.length >= 2 ? ctx.body.readUInt16LE(0) : '?'} != ${row.structureSize}`)
  }
  if (ctx.body.length < (row.structureSize & ~1)) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `${row.name}: body too short`)

  // MS-SMB2 3.3.5.2.9: the session.
  const named = hdr.sessionId !== 0n || (hdr.flags & HeaderFlags.SIGNED) !== 0 || isRelated
  if (row.session !== 'none' && (row.session !== 'if-named' || named)) {
    const sid = isRelated ? related.sessionId : hdr.sessionId
    if (isRelated) {
      ctx.hdr.sessionId = sid
    } else {
      // An unrelated request starts over: what it resolves (or fails to) is what the next
      // related request inherits.
      related.session = undefined
      related.tree = undefined
      related.fileId = undefined
    }
    const session = isRelated && related.session?.sessionId === sid ? related.session : ctx.server.sessions.get(sid)
    if (hdr.command === Command.SESSION_SETUP && (ctx.body[2] & SESSION_FLAG_BINDING) !== 0 && session !== undefined && session.alive && !conn.sessions.has(session)) {
      // MS-SMB2 3.3.5.2.9: a binding names a session of another connection, found in the global
      // table; 3.3.5.2.4: its request is signed with Session.SigningKey. A signature that does
      // not verify is not an error yet: session-setup.ts decides (as Samba, whose order of
      // checks smbtorture's smb2.session.bind_negative_* pin down).
      ctx.binding = { signed: (hdr.flags & HeaderFlags.SIGNED) !== 0 && session.signer !== undefined && session.signer.verify([ctx.msg]) }
      ctx.session = session
      related.sessionId = sid
      related.session = session
      return await row.handler(ctx, related)
    }
    if (session === undefined || !session.alive || !conn.sessions.has(session)) {
      if (hdr.command === Command.SESSION_SETUP && sid === 0n) { /* new session */ } else {
        // A session of another connection (not bound here), named in a signed request: the
        // refusal is signed with the session's key (as Samba), which the client checks it with.
        if (session !== undefined && session.alive && session.state === SessionState.Valid && (hdr.flags & HeaderFlags.SIGNED) !== 0 &&
          session.signer !== undefined) ctx.session = session
        if (session === undefined && hdr.command === Command.SESSION_SETUP && (ctx.body[2] & SESSION_FLAG_BINDING) !== 0) bindingElsewhere(ctx, sid)
        // No key to sign with (the session is gone): the answer to a signed request carries the
        // SIGNED flag and the request's own signature back, as Samba's does; smbXcli takes
        // USER_SESSION_DELETED so, and drops a signing connection on an unsigned one.
        else if ((hdr.flags & HeaderFlags.SIGNED) !== 0) ctx.echoSignature = true
        throw new NtStatusError(NtStatus.USER_SESSION_DELETED)
      }
    }
    if (session !== undefined && session.alive && conn.sessions.has(session)) {
      // A session past its lifetime (session lifetime) expires until it re-authenticates.
      if (session.state === SessionState.Valid && session.expiresAt !== undefined && Date.now() >= session.expiresAt) {
        session.state = SessionState.Expired
        ctx.server.log.info(`session 0x${session.sessionId.toString(16)} expired; re-authentication required`)
      }
      // MS-SMB2 3.3.5.2.9: an expired session may still log off, close and unlock (and
      // re-authenticate); anything else is STATUS_NETWORK_SESSION_EXPIRED.
      if (session.state === SessionState.Expired && !EXPIRED_SESSION_COMMANDS.has(hdr.command)) {
        throw new NtStatusError(NtStatus.NETWORK_SESSION_EXPIRED)
      }
      if (session.state === SessionState.InProgress && row.session !== 'any') throw new NtStatusError(NtStatus.USER_SESSION_DELETED)
      // MS-SMB2 3.3.5.2.9: a session that requires encryption refuses plain requests.
      if (session.encryptData && !ctx.encrypted && hdr.command !== Command.SESSION_SETUP) {
        throw new NtStatusError(NtStatus.ACCESS_DENIED, 'unencrypted request on an encrypted session')
      }
      // Set first: a refusal for a bad or missing signature is signed too when the session has a
      // key on this connection (as Samba; smbXcli drops a connection whose signing session gets
      // an unsigned answer, smbtorture smb2.session.bind_negative_smb3signCtoHs).
      ctx.session = session
      if (!ctx.encrypted) verifySignature(ctx, session)
    }
    related.sessionId = sid
    related.session = ctx.session
  }

  // MS-SMB2 3.3.5.2.11: the tree connect.
  if (row.tree) {
    const tid = isRelated ? related.treeId : hdr.treeId
    const tree = ctx.session!.trees.get(tid)
    if (tree === undefined || !tree.alive) throw new NtStatusError(NtStatus.NETWORK_NAME_DELETED)
    // MS-SMB2 3.3.5.2.11: a share that requires encryption refuses plain requests.
    if (tree.encryptData && !ctx.encrypted) throw new NtStatusError(NtStatus.ACCESS_DENIED, 'unencrypted request on an encrypted share')
    ctx.tree = tree
    related.treeId = tid
    related.tree = tree
  }

  // The open, from the FileId at the row's offset; all-ones in a related request means
  // "the file the previous request of the chain opened".
  /** A persistent open's replay eligibility ended with this request (its record says so). */
  let changed = false
  if (row.fileIdOffset !== undefined) {
    let persistent = ctx.body.readBigUInt64LE(row.fileIdOffset)
    let volatile = ctx.body.readBigUInt64LE(row.fileIdOffset + 8)
    if (persistent === ALL_ONES && volatile === ALL_ONES) {
      if (isRelated && related.fileId !== undefined) ({ persistent, volatile } = related.fileId)
      else if (row.fileIdOptional !== true || isRelated) throw new NtStatusError(NtStatus.FILE_CLOSED)
    }
    if (!(persistent === ALL_ONES && volatile === ALL_ONES)) {
      const open = ctx.session!.opens.get(volatile)
      if (open === undefined || !open.alive || open.fileId.persistent !== persistent || (ctx.tree !== undefined && open.tree !== ctx.tree)) {
        throw new NtStatusError(NtStatus.FILE_CLOSED)
      }
      ctx.open = open
      related.fileId = open.fileId
      // MS-SMB2 3.3.5.x (each command on an open): Open.IsReplayEligible goes FALSE; a replay of
      // its CREATE (create-durable.ts) then opens anew.
      if (open.createGuid !== undefined && ctx.server.durable.notReplayEligible(open)) changed = true
    }
  }

  // MS-SMB2 3.3.5.2.10: the channel sequence, for a request on an open (3.x).
  const sequence = ctx.open?.channelSequence
  const counted = ctx.open !== undefined && conn.dialect >= Dialect.SMB3_00 ? countChannelSequence(ctx.open, hdr, row.modifies === true) : undefined
  // A persistent open's record keeps both (persistent.ts): rewritten before the request runs,
  // once per open for the first, at a channel failover for the second.
  if (ctx.open?.durable?.persistent === true && (changed || ctx.open.channelSequence !== sequence)) persistOpen(ctx.server, ctx.open)
  if (counted === undefined) return await row.handler(ctx, related)
  try {
    return await row.handler(ctx, related)
  } finally {
    uncount(counted)
  }
}

/** MS-SMB2 3.3.5.2.4: verify a signed request; refuse an unsigned one on a signing session. */
function verifySignature (ctx: RequestContext, session: Session): void {
  const { hdr } = ctx
  const signer = session.signerFor(ctx.conn)
  if ((session.state !== SessionState.Valid && session.state !== SessionState.Expired) || signer === undefined) return
  const signed = (hdr.flags & HeaderFlags.SIGNED) !== 0
  if (!signed) {
    // A re-authentication on a channel is signed like any request (Samba too): only a binding,
    // which is not a channel yet, is judged in session-setup.ts.
    if (session.signingRequired && hdr.command !== Command.OPLOCK_BREAK) {
      throw new NtStatusError(NtStatus.ACCESS_DENIED, 'unsigned request on a session that requires signing')
    }
    return
  }
  if (!signer.verify([ctx.msg])) {
    ctx.server.log.warn(`bad signature from ${ctx.conn.io.remoteAddress} (session 0x${session.sessionId.toString(16)}, mid ${hdr.messageId})`)
    throw new NtStatusError(NtStatus.ACCESS_DENIED, 'bad signature')
  }
}

/**
 * A binding names a session this process does not have. With workers, its id says which worker
 * made it: the connection should have been handed there by its ClientGuid (transport/handoff.ts);
 * it was not (another ClientGuid, or the hand-over failed), so the binding fails here. Said in
 * the log so an operator can tell this from a session that is simply gone.
 */
function bindingElsewhere (ctx: RequestContext, sid: bigint): void {
  const slot = sessionIdSlot(sid)
  const peers = ctx.server.sessionPeers
  if (peers === undefined || slot === undefined || slot === peers.slot) return
  ctx.server.log.info(`binding from ${ctx.conn.io.remoteAddress} to session 0x${sid.toString(16)} refused: that session is w${slot}'s, and this connection was not handed there (its ClientGuid is not the session's client's, or the hand-over failed)`)
}
