// NEGOTIATE (MS-SMB2 3.3.5.3 SMB1 upgrade, 3.3.5.4 SMB2): pick the dialect, answer the 3.1.1
// contexts honestly for what smbts implements, start the pre-auth integrity hash.
import { randomBytes } from 'node:crypto'
import type { RequestContext, Reply } from '../context.js'
import { ConnectionState, type Smb2Connection } from '../connection.js'
import {
  ALL_DIALECTS, Capabilities, Cipher, Command, Dialect, HASH_ALGORITHM_SHA512, HeaderFlags, NegotiateContextType, SecurityMode, SMB2_HEADER_SIZE,
} from '../../wire/constants.js'
import { encodeHeader } from '../../wire/header.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { filetimeNow } from '../../wire/filetime.js'
import { decodeNegotiateRequest, encodeNegotiateResponse, type NegotiateContext } from './negotiate.wire.js'
import { preauthUpdate } from '../../crypto/preauth.js'
import { SigningAlgorithm } from '../../crypto/signing.js'
import { negTokenInitForNegotiate } from '../../auth/spnego.js'
import { offeredMechs } from '../../auth/spnego-server.js'
import { negotiatePosix } from '../posix.js'

/** MS-SMB2 2.2.3.1.1: 0xC05D0000 STATUS_SMB_NO_PREAUTH_INTEGRITY_HASH_OVERLAP. */
const STATUS_NO_PREAUTH_INTEGRITY_HASH_OVERLAP = 0xc05d0000
/** Our preference among the signing algorithms a 3.1.1 client offers. */
const SIGNING_PREFERENCE = [SigningAlgorithm.AesGmac, SigningAlgorithm.AesCmac, SigningAlgorithm.HmacSha256]

function serverSecurityMode (conn: Smb2Connection): number {
  const signing = conn.server.config.global.serverSigning
  return (signing === 'disabled' ? 0 : SecurityMode.SIGNING_ENABLED) | (signing === 'mandatory' ? SecurityMode.SIGNING_REQUIRED : 0)
}

function limits (conn: Smb2Connection, dialect: number): void {
  const g = conn.server.config.global
  // MS-SMB2 3.3.5.4: 2.0.2 caps every size at 64 KiB; multi-credit (large MTU) needs 2.1+.
  const cap = dialect === Dialect.SMB2_02 ? 65536 : Number.MAX_SAFE_INTEGER
  conn.maxReadSize = Math.min(g.maxRead, cap)
  conn.maxWriteSize = Math.min(g.maxWrite, cap)
  conn.maxTransactSize = Math.min(g.maxTrans, cap)
  conn.supportsMultiCredit = dialect !== Dialect.SMB2_02
}

const CIPHER_IDS: Record<string, number> = { 'AES-128-CCM': Cipher.AES_128_CCM, 'AES-128-GCM': Cipher.AES_128_GCM, 'AES-256-CCM': Cipher.AES_256_CCM, 'AES-256-GCM': Cipher.AES_256_GCM }

/** The ciphers the server allows, in its order of preference. */
function serverCiphers (conn: Smb2Connection): number[] {
  return conn.server.config.global.encryptionAlgorithms.map(n => CIPHER_IDS[n]).filter((x): x is number => x !== undefined)
}

function capabilitiesFor (dialect: number, leases: boolean, dirLeases: boolean): number {
  if (dialect < Dialect.SMB2_10) return 0
  // MS-SMB2 3.3.5.4: LEASING from 2.1 on, DIRECTORY_LEASING from 3.0 on, when `smb2 leases`
  // (and `smb3 directory leases`) allow them.
  return Capabilities.LARGE_MTU | (leases ? Capabilities.LEASING : 0) | (leases && dirLeases && dialect >= Dialect.SMB3_00 ? Capabilities.DIRECTORY_LEASING : 0)
}

/**
 * MS-SMB2 3.3.5.4: the greatest dialect both sides implement, within `server min/max protocol`.
 * Only the five SMB2 dialects count: anything else a client lists (0x02FF included, which belongs
 * to the SMB1 multi-protocol negotiate, 3.3.5.3.1) is not a dialect smbts speaks and is ignored.
 */
export function selectDialect (conn: Smb2Connection, offered: readonly number[]): number | undefined {
  const g = conn.server.config.global
  let best: number | undefined
  for (const d of offered) {
    if (ALL_DIALECTS.includes(d) && d >= g.minProtocol && d <= g.maxProtocol && (best === undefined || d > best)) best = d
  }
  return best
}

/** A failure is thrown (NtStatusError); STATUS_NOT_SUPPORTED then ends the connection (receive.ts closeOnceSent). */
export async function negotiate (ctx: RequestContext): Promise<Reply> {
  const { conn } = ctx
  const g = conn.server.config.global
  const req = decodeNegotiateRequest(ctx.msg)
  const dialect = selectDialect(conn, req.dialects)
  if (dialect === undefined) {
    const shown = req.dialects.slice(0, 16).map(d => d.toString(16)).join(',') + (req.dialects.length > 16 ? `,... (${req.dialects.length})` : '')
    conn.server.log.info(`negotiate from ${conn.io.remoteAddress}: no common dialect in [${shown}]`)
    throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'no common dialect')
  }
  const out: NegotiateContext[] = []
  if (dialect === Dialect.SMB3_11) {
    const seen = new Set<number>()
    let preauth = false
    for (const c of req.contexts) {
      if (seen.has(c.type) && c.type !== NegotiateContextType.NETNAME_NEGOTIATE_CONTEXT_ID) {
        throw new NtStatusError(NtStatus.INVALID_PARAMETER, `duplicate negotiate context ${c.type}`)
      }
      seen.add(c.type)
      // Every context's counts and lengths were checked by decodeNegotiateRequest.
      const v = c.value
      if (v?.type === NegotiateContextType.PREAUTH_INTEGRITY_CAPABILITIES) {
        if (!v.ids.includes(HASH_ALGORITHM_SHA512)) throw new NtStatusError(STATUS_NO_PREAUTH_INTEGRITY_HASH_OVERLAP)
        preauth = true
        const d = Buffer.alloc(4 + 2 + 32)
        d.writeUInt16LE(1, 0)
        d.writeUInt16LE(32, 2)
        d.writeUInt16LE(HASH_ALGORITHM_SHA512, 4)
        randomBytes(32).copy(d, 6)
        out.push({ type: c.type, data: d })
      } else if (v?.type === NegotiateContextType.ENCRYPTION_CAPABILITIES) {
        // MS-SMB2 3.3.5.4: the first cipher of the server's preference the client also offers;
        // none in common (or encryption disabled) is answered with cipher 0.
        const pick = g.smb3Encryption === 'disabled' ? Cipher.NONE : (serverCiphers(conn).find(x => v.ids.includes(x)) ?? Cipher.NONE)
        conn.cipherId = pick
        const d = Buffer.alloc(4)
        d.writeUInt16LE(1, 0)
        d.writeUInt16LE(pick, 2)
        out.push({ type: c.type, data: d })
      } else if (v?.type === NegotiateContextType.SIGNING_CAPABILITIES) {
        const pick = SIGNING_PREFERENCE.find(a => v.ids.includes(a)) ?? SigningAlgorithm.AesCmac
        conn.signingAlgorithm = pick
        const d = Buffer.alloc(4)
        d.writeUInt16LE(1, 0)
        d.writeUInt16LE(pick, 2)
        out.push({ type: c.type, data: d })
      } else if (v?.type === NegotiateContextType.POSIX_EXTENSIONS_AVAILABLE) {
        const posix = negotiatePosix(conn, v.ids)
        if (posix !== undefined) out.push(posix)
      }
      // COMPRESSION, NETNAME, TRANSPORT, RDMA: checked, but not offered by smbts, so not answered.
    }
    if (!preauth) throw new NtStatusError(NtStatus.INVALID_PARAMETER, '3.1.1 without a preauth integrity context')
    if (!seen.has(NegotiateContextType.SIGNING_CAPABILITIES)) conn.signingAlgorithm = SigningAlgorithm.AesCmac
  } else {
    conn.signingAlgorithm = dialect >= Dialect.SMB3_00 ? SigningAlgorithm.AesCmac : SigningAlgorithm.HmacSha256
    // MS-SMB2 3.3.5.4: 3.0 and 3.0.2 encrypt with AES-128-CCM when both sides support it.
    if (dialect >= Dialect.SMB3_00 && (req.capabilities & Capabilities.ENCRYPTION) !== 0 && g.smb3Encryption !== 'disabled') {
      conn.cipherId = Cipher.AES_128_CCM
    }
  }

  conn.dialect = dialect
  conn.clientGuid = req.clientGuid
  conn.clientCapabilities = req.capabilities
  conn.clientSecurityMode = req.securityMode
  conn.clientDialects = req.dialects
  conn.serverSecurityMode = serverSecurityMode(conn)
  // CAP_ENCRYPTION is defined for 3.0/3.0.2; for 3.1.1 the cipher context says it, but Samba's
  // client also looks for the capability before encrypting for a share, so it is set whenever a
  // cipher was agreed with a client that announced the capability.
  conn.serverCapabilities = capabilitiesFor(dialect, g.smb2Leases, g.smb3DirectoryLeases) | (conn.cipherId !== Cipher.NONE && (req.capabilities & Capabilities.ENCRYPTION) !== 0 ? Capabilities.ENCRYPTION : 0) |
    // MS-SMB2 3.3.5.4: MULTI_CHANNEL for the 3.x family when the server allows binding.
    (g.serverMultiChannelSupport && dialect >= Dialect.SMB3_00 ? Capabilities.MULTI_CHANNEL : 0) |
    // MS-SMB2 3.3.5.4: PERSISTENT_HANDLES for the 3.x family when the server keeps them
    // (IsPersistentHandlesSupported): here, when it keeps their records (a share is continuously
    // available and durable handles are on: persistent.ts openPersistentStore), as Windows
    // advertises it only on a server with CA shares (Samba 4.17 never does).
    (dialect >= Dialect.SMB3_00 && conn.server.persistent !== undefined ? Capabilities.PERSISTENT_HANDLES : 0)
  limits(conn, dialect)
  conn.state = ConnectionState.Negotiated
  conn.negotiateCount++
  if (conn.server.log.wants('smb')) conn.server.log.debug('smb', `negotiated 0x${dialect.toString(16)} with ${conn.io.remoteAddress}`)

  const body = encodeNegotiateResponse({
    securityMode: conn.serverSecurityMode,
    dialect,
    serverGuid: conn.server.serverGuid,
    capabilities: conn.serverCapabilities,
    maxTransactSize: conn.maxTransactSize,
    maxReadSize: conn.maxReadSize,
    maxWriteSize: conn.maxWriteSize,
    systemTime: filetimeNow(),
    serverStartTime: 0n,
    securityBuffer: negTokenInitForNegotiate(offeredMechs(conn.server.kerberos !== undefined)),
    contexts: out,
  })
  let onEncoded: ((b: Buffer) => void) | undefined
  if (dialect === Dialect.SMB3_11) {
    conn.preauthHash = preauthUpdate(Buffer.alloc(64), ctx.msg)
    onEncoded = (bytes) => { conn.preauthHash = preauthUpdate(conn.preauthHash!, bytes) }
  }
  return { body, onEncoded }
}

/**
 * A connection adopted from another worker that had answered its SMB1 NEGOTIATE with dialect
 * 0x02FF (and handed it over at the SMB2 NEGOTIATE that followed, src/transport/handoff.ts):
 * the state that answer left here, as handleSmb1Negotiate leaves it.
 */
export function adoptSmb1Upgrade (conn: Smb2Connection): void {
  conn.credits.consume(0n, 1)
  conn.credits.grant(1)
  conn.negotiateCount++
}

/**
 * MS-SMB2 3.3.5.3.1: an SMB1 NEGOTIATE naming "SMB 2.???" is answered with an SMB2 NEGOTIATE
 * response of dialect 0x02FF (the client then negotiates again in SMB2); one naming only
 * "SMB 2.002" gets 2.0.2 directly. Returns undefined when no SMB2 dialect is offered.
 */
export function handleSmb1Negotiate (conn: Smb2Connection, pdu: Buffer): Buffer[] | undefined {
  // MS-CIFS 2.2.4.52.1: header (32), WordCount (0), ByteCount, then 0x02 "dialect\0" strings.
  if (pdu.length < 35 || pdu[4] !== 0x72) return undefined
  const byteCount = pdu.readUInt16LE(33)
  const end = Math.min(pdu.length, 35 + byteCount)
  const names: string[] = []
  let i = 35
  while (i < end) {
    if (pdu[i] !== 0x02) break
    const z = pdu.indexOf(0, i + 1)
    if (z < 0 || z >= end) break
    names.push(pdu.toString('latin1', i + 1, z))
    i = z + 1
  }
  const g = conn.server.config.global
  let dialect: number
  if (names.includes('SMB 2.???') && g.maxProtocol >= Dialect.SMB2_10) dialect = Dialect.SMB2_WILDCARD
  else if (names.includes('SMB 2.002') && g.minProtocol <= Dialect.SMB2_02) dialect = Dialect.SMB2_02
  else return undefined
  // The SMB1 request used MessageId 0: the SMB2 NEGOTIATE that follows carries MessageId 1.
  conn.credits.consume(0n, 1)
  const granted = conn.credits.grant(1)
  if (dialect === Dialect.SMB2_02) {
    conn.dialect = dialect
    conn.serverSecurityMode = serverSecurityMode(conn)
    conn.serverCapabilities = 0
    limits(conn, dialect)
    conn.state = ConnectionState.Negotiated
  }
  conn.negotiateCount++
  const body = encodeNegotiateResponse({
    securityMode: serverSecurityMode(conn),
    dialect,
    serverGuid: conn.server.serverGuid,
    capabilities: capabilitiesFor(dialect === Dialect.SMB2_WILDCARD ? Dialect.SMB2_10 : dialect, g.smb2Leases, g.smb3DirectoryLeases),
    maxTransactSize: Math.min(g.maxTrans, dialect === Dialect.SMB2_02 ? 65536 : g.maxTrans),
    maxReadSize: Math.min(g.maxRead, dialect === Dialect.SMB2_02 ? 65536 : g.maxRead),
    maxWriteSize: Math.min(g.maxWrite, dialect === Dialect.SMB2_02 ? 65536 : g.maxWrite),
    systemTime: filetimeNow(),
    serverStartTime: 0n,
    securityBuffer: negTokenInitForNegotiate(offeredMechs(conn.server.kerberos !== undefined)),
    contexts: [],
  })
  const head = Buffer.alloc(SMB2_HEADER_SIZE)
  encodeHeader({
    creditCharge: 0, status: 0, command: Command.NEGOTIATE, creditRequest: granted, flags: HeaderFlags.SERVER_TO_REDIR,
    nextCommand: 0, messageId: 0n, asyncId: 0n, treeId: 0, sessionId: 0n,
  }, head)
  return [head, body]
}
