// SESSION_SETUP (MS-SMB2 3.3.5.5): SPNEGO with NTLMSSP against the password db or krb5 against
// the keytab (when Kerberos is configured: ServerState.kerberos), guest mapping,
// session keys and signing, the 3.1.1 pre-auth hash. LOGOFF (3.3.5.6) is here too.
import type { RequestContext, Reply } from '../context.js'
import { field } from '../context.js'
import { Command, Dialect, SecurityMode, SESSION_FLAG_BINDING, SessionFlags } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { MAX_CHANNELS_PER_SESSION, Session, SessionState } from '../../session/model.js'
import { preauthUpdate } from '../../crypto/preauth.js'
import { deriveSessionKeys } from '../../crypto/kdf.js'
import { Signer, SigningAlgorithm } from '../../crypto/signing.js'
import { CIPHER_NAMES, SessionCipher, cipherKeyBits } from '../../crypto/encryption.js'
import { SpnegoServer, type SpnegoResult, type SpnegoStep } from '../../auth/spnego-server.js'
import { replacePreviousSession, teardownSession } from '../../session/teardown.js'
import { sessionIdSlot } from '../../session/server-state.js'
import { publishEvent } from '../../control/channels.js'

function newExchange (ctx: RequestContext): SpnegoServer {
  const g = ctx.server.config.global
  const accounts = ctx.server.accounts
  const netbios = g.netbiosName.toUpperCase()
  const domain = g.workgroup.toUpperCase()
  return new SpnegoServer({
    netbiosName: netbios,
    dnsName: netbios.toLowerCase(),
    netbiosDomain: domain,
    dnsDomain: domain.toLowerCase(),
    lookup: (user: string) => accounts.get(user.toLowerCase()),
    ...(ctx.server.kerberos !== undefined ? { krb5: ctx.server.kerberos } : {}),
  })
}

/**
 * New authentications one connection may have in progress at once. Only authenticated sessions
 * count toward `max active sessions` (as in ksmbd-tools, which counts sessions that connected a
 * tree), so a client that never completes a logon cannot take the slots of others; this bounds
 * what it can hold instead (each in-progress session keeps an authentication exchange).
 */
export const MAX_SESSIONS_IN_PROGRESS = 16

/** Sessions that completed authentication and are not gone (Expired ones still hold trees and opens). */
/**
 * MS-SMB2 leaves the session limit to the implementation. STATUS_REQUEST_NOT_ACCEPTED is what
 * a Windows server answers when its own limit is reached; clients show it as "no more
 * connections can be made to this remote computer" (ERROR_REQ_NOT_ACCEP).
 */
function refuseSession (ctx: RequestContext, why: string): NtStatusError {
  ctx.server.warnRefusal(`session ${ctx.conn.io.remoteAddress}`, `session from ${ctx.conn.io.remoteAddress} refused: ${why}`)
  return new NtStatusError(NtStatus.REQUEST_NOT_ACCEPTED, why)
}

/** A failed or refused authentication removes the session (MS-SMB2 3.3.5.5.3), from the connection too. */
function dropSession (ctx: RequestContext, s: Session): void {
  void teardownSession(ctx.server, s)
  ctx.conn.sessions.delete(s)
}

function responseBody (flags: number, token: Buffer): Buffer {
  // MS-SMB2 2.2.6: StructureSize 9, SessionFlags, SecurityBufferOffset (64 + 8), Length, Buffer.
  const body = Buffer.alloc(8 + token.length)
  body.writeUInt16LE(9, 0)
  body.writeUInt16LE(flags, 2)
  body.writeUInt16LE(token.length > 0 ? 72 : 0, 4)
  body.writeUInt16LE(token.length, 6)
  token.copy(body, 8)
  return body
}

export async function sessionSetup (ctx: RequestContext): Promise<Reply> {
  const { conn, server, hdr, body, msg } = ctx
  const flags = body[2]
  const securityMode = body[3]
  const secBuf = field(msg, body.readUInt16LE(12), body.readUInt16LE(14))
  if ((flags & SESSION_FLAG_BINDING) !== 0) return await bindChannel(ctx, secBuf)

  let session = ctx.session
  if (session === undefined) {
    const max = server.config.global.maxActiveSessions
    // All workers' sessions together (each publishes its own count as it checks).
    if (server.locks.shareCount('sessions', server.activeSessions()) >= max) throw refuseSession(ctx, `max active sessions (${max}) reached`)
    let inProgress = 0
    for (const c of conn.sessions) if (c.state === SessionState.InProgress) inProgress++
    if (inProgress >= MAX_SESSIONS_IN_PROGRESS) throw refuseSession(ctx, `${inProgress} authentications already in progress on this connection`)
    session = new Session(server.newSessionId(), conn.dialect)
    server.sessions.set(session.sessionId, session)
    conn.sessions.add(session)
    if (conn.dialect === Dialect.SMB3_11) session.preauthHash = conn.preauthHash
    ctx.session = session
  } else if (session.state === SessionState.Valid || session.state === SessionState.Expired) {
    // Re-authentication on an established session: a fresh exchange, same user required.
    if (session.auth === undefined) session.auth = newExchange(ctx)
  }
  const s = session
  const reauth = s.state !== SessionState.InProgress
  if (!reauth && conn.dialect === Dialect.SMB3_11) s.preauthHash = preauthUpdate(s.preauthHash!, msg)
  const exchange = (s.auth ??= newExchange(ctx)) as SpnegoServer

  let step: SpnegoStep
  try {
    // A krb5 AP-REQ is accepted on the threadpool (the replay cache is a file): this awaits it.
    step = await exchange.stepAsync(secBuf)
  } catch {
    step = { state: 'failed' as const, reason: 'malformed' as const }
  }
  if (!s.alive) {
    // The session went away while the ticket was being checked (logoff, disconnect, a reset).
    throw new NtStatusError(NtStatus.USER_SESSION_DELETED, 'session removed during authentication')
  }

  if (step.state === 'more') {
    return {
      status: NtStatus.MORE_PROCESSING_REQUIRED,
      body: responseBody(0, step.token),
      sessionId: s.sessionId,
      onEncoded: (!reauth && conn.dialect === Dialect.SMB3_11) ? (bytes) => { s.preauthHash = preauthUpdate(s.preauthHash!, bytes) } : undefined,
    }
  }

  s.auth = undefined
  const g = server.config.global
  let guest = false
  let result: SpnegoResult | undefined
  if (step.state === 'done') {
    result = step.result
  } else if (step.reason === 'no-such-user' && g.mapToGuest === 'bad user' && !reauth) {
    guest = true
  }
  if (result === undefined && !guest) {
    server.log.info(`logon failure from ${conn.io.remoteAddress}: ${step.state === 'failed' ? step.reason + (step.detail !== undefined ? ` (${step.detail})` : '') : 'unknown'}`)
    publishEvent(() => ({ type: 'auth-failure', client: conn.io.remoteAddress, user: step.state === 'failed' ? (step.user ?? '') : '', reason: step.state === 'failed' ? step.reason : 'unknown' }))
    if (server.log.wants('auth')) server.log.debug('auth', `${conn.io.remoteAddress}: authentication failed (${step.state === 'failed' ? step.reason : 'unknown'})`)
    // MS-SMB2 3.3.5.5.3: an authentication error removes the session, re-authentication or not:
    // its trees and opens are closed.
    dropSession(ctx, s)
    throw new NtStatusError(NtStatus.LOGON_FAILURE)
  }
  if (reauth) return reauthenticated(ctx, s, result!, step.state === 'done' ? step.token : Buffer.alloc(0))
  if (result?.anonymous === true && g.restrictAnonymous >= 2) {
    dropSession(ctx, s)
    throw new NtStatusError(NtStatus.ACCESS_DENIED, 'anonymous logon refused (restrict anonymous)')
  }

  s.user = guest ? g.guestAccount : result!.user
  s.domain = guest ? '' : result!.domain
  s.isGuest = guest
  s.isAnonymous = result?.anonymous === true
  let sessionFlags = 0
  if (s.isGuest) sessionFlags |= SessionFlags.IS_GUEST
  if (s.isAnonymous) sessionFlags |= SessionFlags.IS_NULL
  if (!s.isGuest && !s.isAnonymous) {
    const keys = deriveSessionKeys(conn.dialect, result!.sessionKey, s.preauthHash, conn.cipherId !== 0 ? cipherKeyBits(conn.cipherId) : 128)
    s.keys = { sessionKey: result!.sessionKey, ...keys }
    if (conn.cipherId !== 0 && keys.encryptionKey !== undefined && keys.decryptionKey !== undefined) {
      s.encryptor = new SessionCipher(conn.cipherId, keys.encryptionKey)
      s.decryptor = new SessionCipher(conn.cipherId, keys.decryptionKey)
    }
    const alg = conn.dialect >= Dialect.SMB3_00 ? conn.signingAlgorithm : SigningAlgorithm.HmacSha256
    s.signer = new Signer(alg, keys.signingKey)
    // MS-SMB2 3.3.5.5.3: signing is required if either side requires it.
    s.signingRequired = g.serverSigning === 'mandatory' || (securityMode & SecurityMode.SIGNING_REQUIRED) !== 0
  }
  if (g.smb3Encryption === 'mandatory') {
    // MS-SMB2 3.3.5.5.3: a server that requires encryption refuses a session that cannot have it.
    if (s.encryptor === undefined) {
      server.log.info(`session from ${conn.io.remoteAddress} refused: encryption is mandatory and the client ${s.isGuest || s.isAnonymous ? 'is not authenticated' : 'negotiated no cipher'}`)
      dropSession(ctx, s)
      throw new NtStatusError(NtStatus.ACCESS_DENIED, 'encryption required')
    }
    s.encryptData = true
    sessionFlags |= SessionFlags.ENCRYPT_DATA
  }
  // Checked again as the session becomes active: several logons may have started while a slot
  // was free; only as many as fit complete. This worker's count is published with this session
  // in it, in the same step as the check: published without it, another worker's next check
  // would count one fewer than there are. A refusal publishes the count without it again
  // (dropSession's teardown).
  if (server.locks.shareCount('sessions', server.activeSessions() + 1) > g.maxActiveSessions) {
    dropSession(ctx, s)
    throw refuseSession(ctx, `max active sessions (${g.maxActiveSessions}) reached`)
  }
  s.state = SessionState.Valid
  s.cipherId = conn.cipherId
  s.channels.set(conn, { conn, signer: s.signer })
  s.expiresAt = lifetimeEnd(g.sessionLifetime, result?.lifetime)
  dropPreviousSession(ctx, s, body.readBigUInt64LE(16))
  server.log.info(`session 0x${s.sessionId.toString(16)}: ${s.isAnonymous ? 'anonymous' : s.isGuest ? `guest (${g.guestAccount})` : `${s.domain}\\${s.user}`}${result?.principal !== undefined ? ` (Kerberos ${result.principal}, ${result.sessionKey.length}-byte key)` : ''} from ${conn.io.remoteAddress}, dialect 0x${conn.dialect.toString(16)}${s.signer !== undefined ? `, signing ${SigningAlgorithm[s.signer.algorithm]}` : ''}${s.signingRequired ? ' (required)' : ''}${s.encryptor !== undefined ? `, cipher ${CIPHER_NAMES[conn.cipherId] ?? conn.cipherId}` : ''}${s.encryptData ? ', encrypted' : ''}`)
  if (server.log.wants('auth')) server.log.debug('auth', `${conn.io.remoteAddress}: authenticated ${s.isAnonymous ? 'anonymously' : s.isGuest ? 'as guest' : `${s.domain}\\${s.user}`} (session 0x${s.sessionId.toString(16)})`)
  publishEvent(() => ({ type: 'auth-success', client: conn.io.remoteAddress, user: s.user, domain: s.domain, guest: s.isGuest, anonymous: s.isAnonymous, session: `0x${s.sessionId.toString(16)}`, dialect: `0x${conn.dialect.toString(16)}` }))
  void hdr
  const token = step.state === 'done' ? step.token : Buffer.alloc(0)
  return { body: responseBody(sessionFlags, token), sessionId: s.sessionId, signWith: s.signer ? s : undefined }
}

/**
 * MS-SMB2 3.3.5.5.3: a new session naming a PreviousSessionId (a client reconnecting after it lost
 * its connection) replaces that session when both are the same user: the old one is removed with
 * its trees and opens, and a request on it gets STATUS_USER_SESSION_DELETED. Another user's
 * session, or none, is left alone; guest and anonymous sessions are nobody's to replace. With
 * workers, the old session may live in another worker (a client of SMB 2.0.2 has no ClientGuid to
 * be handed over by): the id says which, and that worker is asked to drop it.
 */
function dropPreviousSession (ctx: RequestContext, s: Session, previous: bigint): void {
  if (previous === 0n || previous === s.sessionId || s.isGuest || s.isAnonymous) return
  const server = ctx.server
  const slot = sessionIdSlot(previous)
  const peers = server.sessionPeers
  if (server.sessions.has(previous) || peers === undefined || slot === undefined || slot === peers.slot) {
    replacePreviousSession(server, previous, s.user, s.sessionId, `${s.domain}\\${s.user}`)
  } else {
    server.log.debug('auth', `session 0x${s.sessionId.toString(16)}: PreviousSessionId 0x${previous.toString(16)} is w${slot}'s: asked to drop it`)
    peers.dropPreviousSession(slot, previous, s.user, s.sessionId)
  }
}

/**
 * A re-authentication that the authentication protocol accepted (MS-SMB2 3.3.5.5.2, 3.3.5.5.3).
 * The re-authentication policy (the same as ksmbd's; README "Re-authentication"):
 *
 * - the SAME user (the names compare case-insensitively, as the password db does): accepted; the
 *   authentication and its `session lifetime` are renewed. The session keeps its SessionKey and
 *   every key derived from it (signing, encryption, the 3.1.1 pre-auth hash): MS-SMB2 3.3.5.5.2
 *   says the existing SessionKey is retained, and 3.2.5.3.2 has the client keep its keys too.
 * - ANONYMOUS (an NTLM null logon): accepted on a Valid session, which keeps its identity and
 *   keys: nothing is gained (no other user's rights, no new key) and nothing is renewed (the
 *   session's lifetime still runs out when it would have). Clients do this, and smbtorture's
 *   smb2.session.reauth2..4 expect the opens kept. Samba instead turns the session into an
 *   anonymous one; keeping the user instead means no request afterwards can do less than before,
 *   and never more. On an Expired session it is refused like another user: an expired session
 *   needs real credentials to come back.
 * - ANOTHER named user (or a named user on a guest or anonymous session): refused with
 *   STATUS_ACCESS_DENIED, and the session is removed with its trees and opens, as after any failed
 *   authentication (MS-SMB2 3.3.5.5.3); a session never changes hands.
 */
function reauthenticated (ctx: RequestContext, s: Session, result: SpnegoResult, token: Buffer): Reply {
  const g = ctx.server.config.global
  const who = `session 0x${s.sessionId.toString(16)}`
  if (result.anonymous) {
    if (s.state !== SessionState.Valid) {
      ctx.server.log.info(`${who}: anonymous re-authentication of an expired session refused`)
      dropSession(ctx, s)
      throw new NtStatusError(NtStatus.ACCESS_DENIED, 'anonymous re-authentication of an expired session')
    }
    ctx.server.log.info(`${who}: anonymous re-authentication accepted; the session stays ${describeUser(s, g.guestAccount)} with its keys`)
  } else {
    if (s.isAnonymous || s.isGuest || result.user.toLowerCase() !== s.user.toLowerCase()) {
      ctx.server.log.info(`${who}: re-authentication as ${result.domain}\\${result.user} refused: the session belongs to ${describeUser(s, g.guestAccount)}`)
      dropSession(ctx, s)
      throw new NtStatusError(NtStatus.ACCESS_DENIED, 're-authentication as another user')
    }
    s.state = SessionState.Valid
    s.expiresAt = lifetimeEnd(g.sessionLifetime, result.lifetime)
    ctx.server.log.info(`${who}: re-authenticated as ${s.domain}\\${s.user}${result.principal !== undefined ? ` (Kerberos ${result.principal})` : ''}`)
  }
  const flags = (s.encryptData ? SessionFlags.ENCRYPT_DATA : 0)
  return { body: responseBody(flags, token), signWith: s.signer ? s : undefined }
}

function describeUser (s: Session, guestAccount: string): string {
  return s.isAnonymous ? 'anonymous' : s.isGuest ? `guest (${guestAccount})` : `${s.domain}\\${s.user}`
}

/**
 * When an authentication made now expires; undefined when sessions do not expire. A Kerberos
 * logon lasts no longer than its ticket (`ticketSeconds`): then the client must come back with a
 * fresh one (MS-SMB2 3.3.5.2.9 STATUS_NETWORK_SESSION_EXPIRED, as Windows does).
 */
function lifetimeEnd (seconds: number, ticketSeconds?: number): number | undefined {
  const limits = [seconds > 0 ? seconds : Infinity, ticketSeconds !== undefined && ticketSeconds > 0 ? ticketSeconds : Infinity]
  const end = Math.min(...limits)
  return end === Infinity ? undefined : Date.now() + end * 1000
}

export async function logoff (ctx: RequestContext): Promise<Reply> {
  const s = ctx.session!
  // Requests of this session still waiting (a CREATE behind an oplock break) end cancelled; a LOCK
  // that waits ends with its open, which the teardown closes, after it closed the session's
  // other opens (whose locks may be what it waits for: Windows then grants it; smbtorture
  // smb2.lock.cancel-logoff). A CHANGE_NOTIFY ends with its open too: STATUS_NOTIFY_CLEANUP.
  ctx.conn.asyncOps.cancelWhere(op => op.session === s && op.command !== Command.LOCK && op.command !== Command.CHANGE_NOTIFY, NtStatus.CANCELLED, 'session logged off')
  // MS-SMB2 3.3.5.6: the session's opens close, but durable ones, which wait for their client
  // (smbtorture smb2.durable-open.reopen4 reconnects to one after a LOGOFF).
  await teardownSession(ctx.server, s, true)
  ctx.conn.sessions.delete(s)
  if (ctx.server.log.wants('auth')) ctx.server.log.debug('auth', `${ctx.conn.io.remoteAddress}: session 0x${s.sessionId.toString(16)} (${s.user}) logged off`)
  const body = Buffer.alloc(4)
  body.writeUInt16LE(4, 0)
  // The response is signed with the key of the session it logs off (MS-SMB2 3.3.5.6).
  return { body, signWith: s.signer ? s : undefined }
}

/**
 * MS-SMB2 3.3.5.5.2: SESSION_SETUP with SMB2_SESSION_FLAG_BINDING binds this connection to an
 * existing session as a new channel (multichannel). The checks come in Samba's order, which
 * smbtorture's smb2.session.bind_negative_* tests pin down: the signing algorithms, the dialect
 * family, `server multi channel support`, the request's signature (Session.SigningKey), the same
 * dialect and cipher as the session's first connection, then the session itself. The client
 * then authenticates again, as the same user; the channel's signing key comes from that
 * authentication (and, in 3.1.1, from this connection's own pre-auth hash). A failed binding
 * leaves the session as it was.
 */
async function bindChannel (ctx: RequestContext, secBuf: Buffer): Promise<Reply> {
  const { conn, server, hdr, msg } = ctx
  const g = server.config.global
  const s = ctx.session
  if (hdr.sessionId === 0n) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'binding without a SessionId')
  if (s === undefined || !s.alive) throw new NtStatusError(NtStatus.USER_SESSION_DELETED)
  const who = `session 0x${s.sessionId.toString(16)}`
  const refuse = (status: number, why: string): NtStatusError => {
    conn.bindings.delete(s.sessionId)
    server.log.info(`${who}: binding from ${conn.io.remoteAddress} refused: ${why}`)
    return new NtStatusError(status, why)
  }
  // Already a channel of it: a binding is for a new connection only (a re-authentication
  // names the session without the flag).
  if (conn.sessions.has(s)) throw refuse(NtStatus.REQUEST_NOT_ACCEPTED, 'this connection is a channel of the session already')
  const sessionAlg = s.signer?.algorithm
  const connAlg = conn.dialect >= Dialect.SMB3_00 ? conn.signingAlgorithm : SigningAlgorithm.HmacSha256
  if (sessionAlg !== undefined && sessionAlg >= SigningAlgorithm.AesGmac && connAlg !== sessionAlg) {
    throw refuse(NtStatus.REQUEST_OUT_OF_SEQUENCE, `the session signs with ${SigningAlgorithm[sessionAlg]}, this connection with ${SigningAlgorithm[connAlg]}`)
  }
  if (sessionAlg !== undefined && connAlg >= SigningAlgorithm.AesGmac && connAlg !== sessionAlg) {
    throw refuse(NtStatus.NOT_SUPPORTED, `this connection signs with ${SigningAlgorithm[connAlg]}, the session with ${SigningAlgorithm[sessionAlg]}`)
  }
  if (conn.dialect < Dialect.SMB3_00) throw refuse(NtStatus.REQUEST_NOT_ACCEPTED, `dialect 0x${conn.dialect.toString(16)} has no multichannel`)
  if (!g.serverMultiChannelSupport) throw refuse(NtStatus.REQUEST_NOT_ACCEPTED, 'server multi channel support = no')
  if (ctx.binding?.signed !== true) throw refuse(NtStatus.INVALID_PARAMETER, 'the request is not signed with the session\'s key')
  if (s.dialect !== conn.dialect) throw refuse(NtStatus.INVALID_PARAMETER, `the session's dialect is 0x${s.dialect.toString(16)}, this connection's 0x${conn.dialect.toString(16)}`)
  if (s.cipherId !== conn.cipherId) throw refuse(NtStatus.INVALID_PARAMETER, `the session's cipher is ${s.cipherId}, this connection's ${conn.cipherId}`)
  // MS-SMB2 3.3.5.5.2: a session is bound only by its own client.
  const first = s.liveChannel() as { clientGuid?: Buffer } | undefined
  if (first?.clientGuid !== undefined && !first.clientGuid.equals(conn.clientGuid)) throw refuse(NtStatus.USER_SESSION_DELETED, 'another ClientGuid')
  if (s.state !== SessionState.Valid && s.state !== SessionState.Expired) throw refuse(NtStatus.REQUEST_NOT_ACCEPTED, 'the session is not established')
  if (s.isGuest || s.isAnonymous || s.keys === undefined) throw refuse(NtStatus.NOT_SUPPORTED, 'a guest or anonymous session has no key to bind with')

  let b = conn.bindings.get(s.sessionId)
  if (b === undefined) {
    if (s.channels.size >= MAX_CHANNELS_PER_SESSION) throw refuse(NtStatus.INSUFFICIENT_RESOURCES, `${s.channels.size} channels already`)
    b = { auth: newExchange(ctx), preauthHash: conn.dialect === Dialect.SMB3_11 ? conn.preauthHash : undefined }
    conn.bindings.set(s.sessionId, b)
  }
  const bind = b
  if (bind.preauthHash !== undefined) bind.preauthHash = preauthUpdate(bind.preauthHash, msg)
  let step: SpnegoStep
  try {
    step = await (bind.auth as SpnegoServer).stepAsync(secBuf)
  } catch {
    step = { state: 'failed' as const, reason: 'malformed' as const }
  }
  if (!s.alive) throw refuse(NtStatus.USER_SESSION_DELETED, 'the session went away during the binding')
  if (conn.closed) throw new NtStatusError(NtStatus.USER_SESSION_DELETED, 'connection closed during the binding')
  if (step.state === 'more') {
    return {
      status: NtStatus.MORE_PROCESSING_REQUIRED,
      body: responseBody(0, step.token),
      sessionId: s.sessionId,
      onEncoded: bind.preauthHash !== undefined ? (bytes) => { bind.preauthHash = preauthUpdate(bind.preauthHash!, bytes) } : undefined,
    }
  }
  conn.bindings.delete(s.sessionId)
  if (step.state === 'failed') {
    // A name that is nobody's would be a guest's session: not this session's user either.
    if (step.reason === 'no-such-user' && g.mapToGuest === 'bad user') throw refuse(NtStatus.ACCESS_DENIED, 'the binding authenticated as guest, not as the session\'s user')
    server.log.info(`logon failure from ${conn.io.remoteAddress} (binding to ${who}): ${step.reason}${step.detail !== undefined ? ` (${step.detail})` : ''}`)
    publishEvent(() => ({ type: 'auth-failure', client: conn.io.remoteAddress, user: step.state === 'failed' ? (step.user ?? '') : '', reason: step.state === 'failed' ? step.reason : 'unknown' }))
    throw new NtStatusError(NtStatus.LOGON_FAILURE)
  }
  const result = step.result
  if (result.anonymous || result.user.toLowerCase() !== s.user.toLowerCase()) {
    throw refuse(NtStatus.ACCESS_DENIED, `authenticated as ${result.anonymous ? 'anonymous' : `${result.domain}\\${result.user}`}, the session is ${s.domain}\\${s.user}`)
  }
  if (result.sessionKey.length === 0) throw refuse(NtStatus.NOT_SUPPORTED, 'the authentication gave no session key')
  // MS-SMB2 3.3.5.5.3: Channel.SigningKey, from this authentication's key (and, in 3.1.1, this
  // connection's pre-auth hash); the session's encryption keys stay the session's.
  const keys = deriveSessionKeys(conn.dialect, result.sessionKey, bind.preauthHash)
  const signer = new Signer(connAlg, keys.signingKey)
  s.channels.set(conn, { conn, signer })
  conn.sessions.add(s)
  server.log.info(`${who}: channel ${s.channels.size} bound from ${conn.io.remoteAddress} (${s.domain}\\${s.user}, signing ${SigningAlgorithm[connAlg]})`)
  if (server.log.wants('auth')) server.log.debug('auth', `${conn.io.remoteAddress}: bound to session 0x${s.sessionId.toString(16)} as channel ${s.channels.size}`)
  return { body: responseBody(0, step.token), sessionId: s.sessionId, signWith: s, signer }
}
