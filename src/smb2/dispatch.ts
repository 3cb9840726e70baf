// The dispatcher (ARCHITECTURE 4, CONVENTIONS 2): size checks and Session/TreeConnect/Open
// resolution happen here once, from the command's table row; handlers never repeat them.
import { Command, HeaderFlags } from '../wire/constants.js'
import { NtStatus } from '../wire/ntstatus.js'
import { NtStatusError, ProtocolError } from '../wire/errors.js'
import { COMMAND_TABLE } from './table.js'
import type { Related, Reply, RequestContext } from './context.js'
import { SessionState, type Session } from '../session/model.js'
import { ConnectionState } from './connection.js'

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
    if (session === undefined || !session.alive || !conn.sessions.has(session)) {
      if (hdr.command === Command.SESSION_SETUP && sid === 0n) { /* new session */ } else throw new NtStatusError(NtStatus.USER_SESSION_DELETED)
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
      if (!ctx.encrypted) verifySignature(ctx, session)
      ctx.session = session
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
      if (open.createGuid !== undefined) ctx.server.durable.notReplayEligible(open)
    }
  }

  return await row.handler(ctx, related)
}

/** MS-SMB2 3.3.5.2.4: verify a signed request; refuse an unsigned one on a signing session. */
function verifySignature (ctx: RequestContext, session: Session): void {
  const { hdr } = ctx
  if ((session.state !== SessionState.Valid && session.state !== SessionState.Expired) || session.signer === undefined) return
  const signed = (hdr.flags & HeaderFlags.SIGNED) !== 0
  if (!signed) {
    if (session.signingRequired && hdr.command !== Command.OPLOCK_BREAK && hdr.command !== Command.SESSION_SETUP) {
      throw new NtStatusError(NtStatus.ACCESS_DENIED, 'unsigned request on a session that requires signing')
    }
    return
  }
  if (!session.signer.verify([ctx.msg])) {
    ctx.server.log.warn(`bad signature from ${ctx.conn.io.remoteAddress} (session 0x${session.sessionId.toString(16)}, mid ${hdr.messageId})`)
    throw new NtStatusError(NtStatus.ACCESS_DENIED, 'bad signature')
  }
}
