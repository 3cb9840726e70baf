// OPLOCK_BREAK (MS-SMB2 3.3.4.6 notification, 3.3.5.22.1 acknowledgment). The break decisions live
// in src/locking/oplocks.ts; this file delivers a break to the holder's connection and checks the
// holder's answer.
import { persistOpen } from '../../session/persistent.js'
import type { RequestContext, Reply } from '../context.js'
import { Command, Dialect, HeaderFlags, OplockLevel } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { encodeResponses } from '../send.js'
import type { OplockHolder } from '../../locking/oplocks.js'
import type { Open } from '../../session/model.js'
import type { Smb2Connection } from '../connection.js'
import { decodeOplockBreakAck, encodeOplockBreak } from './oplock-break.wire.js'
import { decodeLeaseBreakAck, encodeLeaseBreakNotification, encodeLeaseBreakResponse } from './lease.wire.js'
import { LEASE_RWH, NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED, leaseStateName, type LeaseBreak } from '../../locking/leases.js'
import { OplockState } from '../../locking/oplocks.js'
import { publishEvent } from '../../control/channels.js'

/** MS-SMB2 3.3.4.6: an unsolicited message carries MessageId 0xFFFFFFFFFFFFFFFF. */
const UNSOLICITED_MESSAGE_ID = 0xffffffffffffffffn

/**
 * MS-SMB2 3.3.4.6: the OPLOCK_BREAK notification for `open`, sent on the connection it was opened
 * on: SessionId and TreeId 0, never signed; encrypted (with the open's session key) when its
 * session or share requires encryption.
 */
export function sendOplockBreak (opener: Smb2Connection, open: Open, newLevel: number): void {
  if (!open.alive) return
  // MS-SMB2 3.3.4.6: on the connection the open was made on, or, that one lost, on another
  // channel of its session that is alive.
  const conn = open.tree.session.liveChannel(opener) as Smb2Connection | undefined ?? (opener.closed ? undefined : opener)
  if (conn === undefined) return
  const encrypt = sendUnsolicited(conn, open, encodeOplockBreak({ oplockLevel: newLevel, fileId: open.fileId }))
  rememberBreak(conn, open, () => {
    const held = open.oplock
    const now = held !== undefined ? conn.server.locks.oplockOf(held) : undefined
    if (now?.state !== OplockState.Breaking) return
    const next = open.tree.session.liveChannel() as Smb2Connection | undefined
    if (next === undefined) return
    conn.server.log.info(`oplock break of ${open.tree.shareName}/${open.path} resent on the channel from ${next.io.remoteAddress}: the one it went out on was lost before the client acknowledged it`)
    sendOplockBreak(next, open, now.breakTo)
  })
  publishEvent(() => ({ type: 'oplock-break', client: conn.io.remoteAddress, share: open.tree.shareName, file: open.path, to: newLevel }))
  if (conn.server.log.wants('oplock')) conn.server.log.debug('oplock', `break ${open.tree.shareName}/${open.path} (fid ${open.fileId.volatile}) to ${newLevel}${encrypt ? ', encrypted' : ''}`)
}

/**
 * MS-SMB2 3.3.4.7: the LEASE_BREAK notification, sent on the connection of an open under the
 * lease, as an oplock break is (3.3.4.6). NewEpoch only for a v2 lease.
 */
export function sendLeaseBreak (conn: Smb2Connection, open: Open, b: LeaseBreak): void {
  if (!open.alive) return
  const via = leaseBreakConnection(conn, open)
  if (via === undefined) return
  const encrypt = sendUnsolicited(via, open, encodeLeaseBreakNotification({
    newEpoch: b.v === 2 ? b.epoch : 0,
    flags: b.ackRequired ? NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED : 0,
    leaseKey: Buffer.from(b.lk.slice(32), 'hex'),
    currentLeaseState: b.from,
    newLeaseState: b.to,
  }))
  if (b.ackRequired) {
    rememberBreak(via, open, () => {
      const key = open.oplock?.key
      const now = key !== undefined ? via.server.locks.leaseOf(key, b.lk) : undefined
      // Still breaking, and still this break (not a later one sent since).
      if (now === undefined || !now.breaking || now.state !== b.from || now.breakTo !== b.to) return
      const next = open.tree.session.liveChannel() as Smb2Connection | undefined
      if (next === undefined) return
      via.server.log.info(`lease break of ${open.tree.shareName}/${open.path} resent on the channel from ${next.io.remoteAddress}: the one it went out on was lost before the client acknowledged it`)
      sendLeaseBreak(next, open, b)
    })
  }
  publishEvent(() => ({ type: 'lease-break', client: conn.io.remoteAddress, share: open.tree.shareName, file: open.path, from: leaseStateName(b.from), to: leaseStateName(b.to) }))
  if (conn.server.log.wants('oplock')) conn.server.log.debug('oplock', `lease break ${open.tree.shareName}/${open.path} ${leaseStateName(b.from)} -> ${leaseStateName(b.to)}${encrypt ? ', encrypted' : ''}`)
}

/**
 * The connection a lease break goes out on: a lease belongs to the client (ClientGuid), not to
 * one connection, and Windows (as Samba) sends it on the client's oldest connection
 * (smbtorture smb2.lease.v2_complex1); the open's own when the break must be encrypted with its
 * session's key, or when it is the only one left.
 */
function leaseBreakConnection (conn: Smb2Connection, open: Open): Smb2Connection | undefined {
  const session = open.tree.session
  // A client that sends no ClientGuid (all zeros) cannot be told apart from another such client.
  if (!((session.encryptData || open.tree.encryptData) && session.encryptor !== undefined) && conn.clientGuid.some(x => x !== 0)) {
    for (const c of conn.server.conns) {
      const other = c as Smb2Connection
      if (other.clientGuid?.equals(conn.clientGuid) === true && !other.closed && other.dialect >= Dialect.SMB2_10) return other
    }
  }
  // MS-SMB2 3.3.4.7: the open's connection lost, another channel of its session that is alive.
  return session.liveChannel(conn) as Smb2Connection | undefined ?? (conn.closed ? undefined : conn)
}

/**
 * Notes a break sent on `conn` for `open`, to be sent again on another channel of the session if
 * `conn` is lost before the client acknowledged it (`resend` checks the store first). One entry
 * an open: a later break of the same open replaces the earlier; entries of closed opens go.
 */
function rememberBreak (conn: Smb2Connection, open: Open, resend: () => void): void {
  if (conn.closed || open.tree.session.channels.size < 2) return
  if (conn.sentBreaks.size >= 64) for (const k of conn.sentBreaks.keys()) if (!k.alive) conn.sentBreaks.delete(k)
  conn.sentBreaks.set(open, () => { if (open.alive && open.tree.session.alive) resend() })
}

/** Sends a server-to-client OPLOCK_BREAK body for `open`'s session; true when it was encrypted. */
function sendUnsolicited (conn: Smb2Connection, open: Open, body: Buffer): boolean {
  const session = open.tree.session
  const chunks = encodeResponses([{
    hdr: {
      creditCharge: 0, status: NtStatus.SUCCESS, command: Command.OPLOCK_BREAK, creditRequest: 0,
      flags: HeaderFlags.SERVER_TO_REDIR, nextCommand: 0, messageId: UNSOLICITED_MESSAGE_ID,
      asyncId: 0n, treeId: 0, sessionId: 0n,
    },
    reply: { body },
  }])
  const encrypt = (session.encryptData || open.tree.encryptData) && session.encryptor !== undefined
  conn.send(encrypt ? session.encryptor!.encrypt(session.sessionId, chunks) : chunks)
  return encrypt
}

/** The holder the oplock store talks to for one open. */
export function oplockHolder (conn: Smb2Connection, open: Open): OplockHolder {
  return {
    name: `${conn.io.remoteAddress} fid ${open.fileId.volatile} ${open.tree.shareName}/${open.path}`,
    notifyBreak: (level) => { sendOplockBreak(conn, open, level) },
    notifyLeaseBreak: (b) => { sendLeaseBreak(conn, open, b) },
    notifyDeletePending: () => { open.notify?.deletePending() },
  }
}

/**
 * MS-SMB2 3.3.5.22.2: the client acknowledges a lease break (the 36-byte OPLOCK_BREAK). The lease
 * is found by the connection's ClientGuid and the LeaseKey; no FileId names it.
 */
export async function leaseBreakAck (ctx: RequestContext): Promise<Reply> {
  const ack = decodeLeaseBreakAck(ctx.body)
  if ((ack.leaseState & ~LEASE_RWH) !== 0) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `LeaseState 0x${ack.leaseState.toString(16)}`)
  const lk = leaseId(ctx.conn.clientGuid, ack.leaseKey)
  const r = ctx.server.locks.acknowledgeLease(lk, ack.leaseState)
  if (!r.ok) throw new NtStatusError(r.status, `lease break acknowledgment (${leaseStateName(ack.leaseState)})`)
  // The persistent opens under the lease keep its state in their records (persistent.ts).
  if (ctx.server.persistent !== undefined) {
    for (const o of ctx.session?.opens.values() ?? []) if (o.durable?.persistent === true && o.oplock?.lease?.lk === lk) persistOpen(ctx.server, o)
  }
  return { body: encodeLeaseBreakResponse(ack.leaseKey, ack.leaseState) }
}

/** A lease's identity in the locking store: ClientGuid and LeaseKey, 64 hex digits. */
export function leaseId (clientGuid: Buffer, leaseKey: Buffer): string {
  return clientGuid.toString('hex') + leaseKey.toString('hex')
}

/** MS-SMB2 3.3.5.22.1: the client acknowledges a break of the oplock on `ctx.open`. */
export async function oplockBreak (ctx: RequestContext): Promise<Reply> {
  const open = ctx.open!
  const { oplockLevel: level } = decodeOplockBreakAck(ctx.body)
  const valid = level === OplockLevel.LEASE || level === OplockLevel.NONE || level === OplockLevel.II || level === OplockLevel.EXCLUSIVE || level === OplockLevel.BATCH
  if (!valid) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `OplockLevel 0x${level.toString(16)}`)
  // The store checks the acknowledgment against the break in the same update that ends it.
  const r = open.oplock !== undefined ? ctx.server.locks.acknowledge(open.oplock, level) : { ok: false as const, reason: 'no-break' as const }
  // An oplock is not a lease: the break (if any) completed to none and the ack is refused.
  if (level === OplockLevel.LEASE) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'lease level in an oplock acknowledgment')
  // No break outstanding (a level II break to none needs no acknowledgment, MS-SMB2 2.2.24.1):
  // Windows answers INVALID_OPLOCK_PROTOCOL, which smbtorture smb2.oplock.levelii500 expects.
  if (!r.ok && r.reason === 'no-break') throw new NtStatusError(NtStatus.INVALID_OPLOCK_PROTOCOL, 'no oplock break in progress')
  // Accepting more than the break left (exclusive or batch, or level II after a break to none):
  // the break completed to none and the acknowledgment fails.
  if (!r.ok) throw new NtStatusError(NtStatus.INVALID_OPLOCK_PROTOCOL, `acknowledged ${level} after a break to ${r.reason === 'above' ? r.breakTo : '?'}`)
  if (open.durable?.persistent === true) persistOpen(ctx.server, open)
  return { body: encodeOplockBreak({ oplockLevel: level, fileId: open.fileId }) }
}
