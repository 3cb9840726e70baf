// Server side of NTLMSSP (MS-NLMP), sans-IO: NEGOTIATE in, CHALLENGE out; AUTHENTICATE in,
// an AuthResult out. Only NTLMv2 responses are accepted (MS-NLMP 3.3.2); LM and NTLMv1 are
// refused. After a successful AUTHENTICATE the exchanger can sign and verify messages
// (MS-NLMP 3.4.4, 3.4.5) for the SPNEGO mechListMIC.
import { createHash, createHmac, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto'
import { Rc4 } from '../crypto/rc4.js'
import { AuthFormatError } from './errors.js'

/** MS-NLMP 2.2.2.5 NEGOTIATE flags. */
export const NtlmFlags = {
  NegotiateUnicode: 0x00000001,
  NegotiateOem: 0x00000002,
  RequestTarget: 0x00000004,
  NegotiateSign: 0x00000010,
  NegotiateSeal: 0x00000020,
  NegotiateDatagram: 0x00000040,
  NegotiateLmKey: 0x00000080,
  NegotiateNtlm: 0x00000200,
  Anonymous: 0x00000800,
  NegotiateAlwaysSign: 0x00008000,
  TargetTypeDomain: 0x00010000,
  TargetTypeServer: 0x00020000,
  NegotiateExtendedSessionSecurity: 0x00080000,
  NegotiateIdentify: 0x00100000,
  RequestNonNtSessionKey: 0x00400000,
  NegotiateTargetInfo: 0x00800000,
  NegotiateVersion: 0x02000000,
  Negotiate128: 0x20000000,
  NegotiateKeyExch: 0x40000000,
  Negotiate56: 0x80000000
} as const

/** MS-NLMP 2.2.2.1 AV_PAIR AvId values. */
export const AvId = {
  MsvAvEOL: 0,
  MsvAvNbComputerName: 1,
  MsvAvNbDomainName: 2,
  MsvAvDnsComputerName: 3,
  MsvAvDnsDomainName: 4,
  MsvAvDnsTreeName: 5,
  MsvAvFlags: 6,
  MsvAvTimestamp: 7,
  MsvAvSingleHost: 8,
  MsvAvTargetName: 9,
  MsvAvChannelBindings: 10
} as const

/** MS-NLMP 2.2.2.1 MsvAvFlags bit: the AUTHENTICATE message carries a MIC. */
const AV_FLAG_MIC_PRESENT = 0x00000002

export const NTLMSSP_SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1')
const MSG_NEGOTIATE = 1
const MSG_CHALLENGE = 2
const MSG_AUTHENTICATE = 3

/** MS-NLMP 2.2.2.10 VERSION: 6.1 build 7601, NTLMSSP_REVISION_W2K3 (0x0F). */
const VERSION = Buffer.from([6, 1, 0xb1, 0x1d, 0, 0, 0, 0x0f])

export interface NtlmServerOptions {
  netbiosName: string
  dnsName: string
  netbiosDomain: string
  dnsDomain: string
  /** NT hash (MD4 of the UTF-16LE password) of a user, looked up by lower-cased name. */
  lookup: (user: string, domain: string) => Buffer | undefined
  now?: () => Date
  randomBytes?: (n: number) => Buffer
}

export type AuthFailureReason = 'no-such-user' | 'wrong-password' | 'malformed'
export interface AuthSuccess {
  ok: true
  user: string
  domain: string
  workstation: string
  anonymous: boolean
  /** The 16-byte exported session key (zeros for anonymous). */
  sessionKey: Buffer
}
export type AuthResult = AuthSuccess | { ok: false, reason: AuthFailureReason }

const hmacMd5 = (key: Buffer, ...parts: Buffer[]): Buffer => {
  const h = createHmac('md5', key)
  for (const p of parts) h.update(p)
  return h.digest()
}
const md5 = (...parts: Buffer[]): Buffer => {
  const h = createHash('md5')
  for (const p of parts) h.update(p)
  return h.digest()
}

/** FILETIME (100 ns since 1601-01-01) of a Date, as 8 bytes LE. */
export function fileTime (d: Date): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE((BigInt(d.getTime()) + 11644473600000n) * 10000n)
  return b
}

/** NTOWFv2 (MS-NLMP 3.3.2): HMAC_MD5(NT hash, UNICODE(Uppercase(User) || UserDom)). */
export function ntowfv2 (ntHash: Buffer, user: string, domain: string): Buffer {
  return hmacMd5(ntHash, Buffer.from(user.toUpperCase() + domain, 'utf16le'))
}

/** Reads the {Len, MaxLen, Offset} descriptor at `at` and returns the bytes it points at. */
function field (msg: Buffer, at: number, what: string): Buffer {
  if (at + 8 > msg.length) throw new AuthFormatError(`NTLMSSP: ${what} descriptor truncated`)
  const len = msg.readUInt16LE(at)
  const off = msg.readUInt32LE(at + 4)
  if (len === 0) return msg.subarray(0, 0)
  if (off > msg.length || len > msg.length - off) throw new AuthFormatError(`NTLMSSP: ${what} out of bounds`)
  return msg.subarray(off, off + len)
}

function checkHeader (msg: Buffer, type: number, minLength: number): void {
  if (msg.length < minLength) throw new AuthFormatError('NTLMSSP: message too short')
  if (!msg.subarray(0, 8).equals(NTLMSSP_SIGNATURE)) throw new AuthFormatError('NTLMSSP: bad signature')
  if (msg.readUInt32LE(8) !== type) throw new AuthFormatError(`NTLMSSP: expected message type ${type}`)
}

export interface AvPair { id: number, value: Buffer }

/** Parses an AV_PAIR list up to MsvAvEOL (MS-NLMP 2.2.2.1). */
export function parseAvPairs (buf: Buffer): AvPair[] {
  const out: AvPair[] = []
  let p = 0
  for (;;) {
    if (p + 4 > buf.length) throw new AuthFormatError('NTLMSSP: AV pair list truncated')
    const id = buf.readUInt16LE(p)
    const len = buf.readUInt16LE(p + 2)
    if (p + 4 + len > buf.length) throw new AuthFormatError('NTLMSSP: AV pair value truncated')
    if (id === AvId.MsvAvEOL) return out
    out.push({ id, value: buf.subarray(p + 4, p + 4 + len) })
    p += 4 + len
  }
}

export function encodeAvPairs (pairs: AvPair[]): Buffer {
  const parts: Buffer[] = []
  for (const { id, value } of pairs) {
    const h = Buffer.alloc(4)
    h.writeUInt16LE(id, 0)
    h.writeUInt16LE(value.length, 2)
    parts.push(h, value)
  }
  parts.push(Buffer.alloc(4)) // MsvAvEOL
  return Buffer.concat(parts)
}

const MAGIC = {
  c2sSign: Buffer.from('session key to client-to-server signing key magic constant\0', 'latin1'),
  s2cSign: Buffer.from('session key to server-to-client signing key magic constant\0', 'latin1'),
  c2sSeal: Buffer.from('session key to client-to-server sealing key magic constant\0', 'latin1'),
  s2cSeal: Buffer.from('session key to server-to-client sealing key magic constant\0', 'latin1')
}

/**
 * NTLM session security with extended session security (MS-NLMP 3.4.4.2 MAC, 3.4.3 seal,
 * 3.4.5.2 SIGNKEY, 3.4.5.3 SEALKEY). One object per side: `role` picks which direction's
 * keys sign outgoing messages and which verify incoming ones. The RC4 handles and sequence
 * numbers persist across messages, as in connection-oriented NTLM.
 */
export class NtlmSessionSecurity {
  private readonly outSignKey: Buffer
  private readonly inSignKey: Buffer
  private readonly outHandle: Rc4
  private readonly inHandle: Rc4
  private readonly keyExch: boolean
  private outSeq = 0
  private inSeq = 0

  constructor (exportedSessionKey: Buffer, flags: number, role: 'server' | 'client') {
    if ((flags & NtlmFlags.NegotiateExtendedSessionSecurity) === 0) {
      throw new AuthFormatError('NTLMSSP: signing without extended session security is not supported')
    }
    let sealBase = exportedSessionKey
    if ((flags & NtlmFlags.Negotiate128) === 0) {
      sealBase = exportedSessionKey.subarray(0, (flags & NtlmFlags.Negotiate56) !== 0 ? 7 : 5)
    }
    const c2sSign = md5(exportedSessionKey, MAGIC.c2sSign)
    const s2cSign = md5(exportedSessionKey, MAGIC.s2cSign)
    const c2sSeal = md5(sealBase, MAGIC.c2sSeal)
    const s2cSeal = md5(sealBase, MAGIC.s2cSeal)
    const server = role === 'server'
    this.outSignKey = server ? s2cSign : c2sSign
    this.inSignKey = server ? c2sSign : s2cSign
    this.outHandle = new Rc4(server ? s2cSeal : c2sSeal)
    this.inHandle = new Rc4(server ? c2sSeal : s2cSeal)
    this.keyExch = (flags & NtlmFlags.NegotiateKeyExch) !== 0
  }

  private mac (signKey: Buffer, handle: Rc4, seq: number, msg: Buffer): Buffer {
    const sig = Buffer.alloc(16)
    sig.writeUInt32LE(1, 0) // Version
    sig.writeUInt32LE(seq >>> 0, 12)
    const checksum = hmacMd5(signKey, sig.subarray(12, 16), msg).subarray(0, 8)
    if (this.keyExch) handle.update(checksum, checksum)
    checksum.copy(sig, 4)
    return sig
  }

  /** GSS_GetMIC: the 16-byte NTLMSSP_MESSAGE_SIGNATURE of an outgoing message. */
  sign (msg: Buffer): Buffer {
    return this.mac(this.outSignKey, this.outHandle, this.outSeq++, msg)
  }

  /** GSS_VerifyMIC of an incoming message. */
  verify (msg: Buffer, signature: Buffer): boolean {
    const want = this.mac(this.inSignKey, this.inHandle, this.inSeq++, msg)
    return signature.length === 16 && timingSafeEqual(want, signature)
  }

  /** GSS_WrapEx (MS-NLMP 3.4.3): encrypt then sign with the same RC4 handle. */
  seal (msg: Buffer): { data: Buffer, signature: Buffer } {
    const data = this.outHandle.update(msg)
    return { data, signature: this.mac(this.outSignKey, this.outHandle, this.outSeq++, msg) }
  }
}

const enum NtlmServerState { Initial, ChallengeSent, Done }

export class NtlmServer {
  private readonly opts: NtlmServerOptions
  private state = NtlmServerState.Initial
  private negotiateMsg?: Buffer
  private challengeMsg?: Buffer
  private serverChallenge?: Buffer
  private challengeFlags = 0
  /** Flags in force after AUTHENTICATE (the client's, within what we offered). */
  negotiatedFlags = 0
  /** The name an AUTHENTICATE message gave (DOMAIN\\user), read even when it fails: for the log and the events. */
  attemptedUser?: string
  /** Whether the AUTHENTICATE message carried a (verified) MIC. */
  micPresent = false
  /** Session security after a successful, non-anonymous AUTHENTICATE with ESS. */
  security?: NtlmSessionSecurity

  constructor (opts: NtlmServerOptions) {
    this.opts = opts
  }

  /** NEGOTIATE_MESSAGE in, CHALLENGE_MESSAGE out (MS-NLMP 3.2.5.1.1). Throws AuthFormatError. */
  challenge (negotiateMsg: Buffer): Buffer {
    if (this.state !== NtlmServerState.Initial) throw new AuthFormatError('NTLMSSP: NEGOTIATE out of order')
    checkHeader(negotiateMsg, MSG_NEGOTIATE, 16)
    const clientFlags = negotiateMsg.readUInt32LE(12)
    const F = NtlmFlags
    let flags = F.NegotiateNtlm | F.NegotiateTargetInfo
    flags |= (clientFlags & F.NegotiateUnicode) !== 0 || (clientFlags & F.NegotiateOem) === 0
      ? F.NegotiateUnicode
      : F.NegotiateOem
    // Offer what the client asked for among what we support.
    flags |= clientFlags & (F.RequestTarget | F.NegotiateSign | F.NegotiateSeal | F.NegotiateAlwaysSign |
      F.NegotiateExtendedSessionSecurity | F.NegotiateVersion | F.Negotiate128 | F.Negotiate56 |
      F.NegotiateKeyExch)
    const standalone = this.opts.netbiosDomain.toUpperCase() === this.opts.netbiosName.toUpperCase()
    flags |= standalone ? F.TargetTypeServer : F.TargetTypeDomain
    flags >>>= 0

    const now = (this.opts.now ?? (() => new Date()))()
    const u = (s: string): Buffer => Buffer.from(s, 'utf16le')
    const targetInfo = encodeAvPairs([
      { id: AvId.MsvAvNbDomainName, value: u(this.opts.netbiosDomain) },
      { id: AvId.MsvAvNbComputerName, value: u(this.opts.netbiosName) },
      { id: AvId.MsvAvDnsDomainName, value: u(this.opts.dnsDomain) },
      { id: AvId.MsvAvDnsComputerName, value: u(this.opts.dnsName) },
      { id: AvId.MsvAvTimestamp, value: fileTime(now) }
    ])
    const targetName = (flags & F.RequestTarget) !== 0
      ? Buffer.from(this.opts.netbiosDomain, (flags & F.NegotiateUnicode) !== 0 ? 'utf16le' : 'latin1')
      : Buffer.alloc(0)
    const serverChallenge = (this.opts.randomBytes ?? nodeRandomBytes)(8)
    if (serverChallenge.length !== 8) throw new RangeError('randomBytes must return 8 bytes')

    // MS-NLMP 2.2.1.2 CHALLENGE_MESSAGE: fixed part of 56 bytes (with Version), then payload.
    const HEADER = 56
    const msg = Buffer.alloc(HEADER + targetName.length + targetInfo.length)
    NTLMSSP_SIGNATURE.copy(msg, 0)
    msg.writeUInt32LE(MSG_CHALLENGE, 8)
    msg.writeUInt16LE(targetName.length, 12)
    msg.writeUInt16LE(targetName.length, 14)
    msg.writeUInt32LE(HEADER, 16)
    msg.writeUInt32LE(flags, 20)
    serverChallenge.copy(msg, 24)
    msg.writeUInt16LE(targetInfo.length, 40)
    msg.writeUInt16LE(targetInfo.length, 42)
    msg.writeUInt32LE(HEADER + targetName.length, 44)
    VERSION.copy(msg, 48)
    targetName.copy(msg, HEADER)
    targetInfo.copy(msg, HEADER + targetName.length)

    this.negotiateMsg = Buffer.from(negotiateMsg)
    this.challengeMsg = msg
    this.serverChallenge = Buffer.from(serverChallenge)
    this.challengeFlags = flags
    this.state = NtlmServerState.ChallengeSent
    return msg
  }

  /** AUTHENTICATE_MESSAGE in (MS-NLMP 3.2.5.1.2). Never throws for any input. */
  authenticate (authMsg: Buffer): AuthResult {
    if (this.state !== NtlmServerState.ChallengeSent) return { ok: false, reason: 'malformed' }
    this.state = NtlmServerState.Done
    try {
      return this.verifyAuthenticate(authMsg)
    } catch (e) {
      if (e instanceof AuthFormatError || e instanceof RangeError) return { ok: false, reason: 'malformed' }
      throw e
    }
  }

  private verifyAuthenticate (msg: Buffer): AuthResult {
    checkHeader(msg, MSG_AUTHENTICATE, 64)
    const lm = field(msg, 12, 'LmChallengeResponse')
    const nt = field(msg, 20, 'NtChallengeResponse')
    const domainRaw = field(msg, 28, 'DomainName')
    const userRaw = field(msg, 36, 'UserName')
    const wsRaw = field(msg, 44, 'Workstation')
    const encKey = field(msg, 52, 'EncryptedRandomSessionKey')
    const flags = (msg.readUInt32LE(60) & this.challengeFlags) >>> 0
    const unicode = (flags & NtlmFlags.NegotiateUnicode) !== 0
    const str = (b: Buffer): string => {
      if (unicode && b.length % 2 !== 0) throw new AuthFormatError('NTLMSSP: odd-length Unicode string')
      return b.toString(unicode ? 'utf16le' : 'latin1')
    }
    const user = str(userRaw)
    const domain = str(domainRaw)
    const workstation = str(wsRaw)
    this.negotiatedFlags = flags
    this.attemptedUser = domain !== '' ? `${domain}\\${user}` : user

    // MS-NLMP 3.2.5.1.2: empty user with empty NT and (empty or Z(1)) LM responses = anonymous.
    if (user === '' && nt.length === 0 && (lm.length === 0 || (lm.length === 1 && lm[0] === 0))) {
      return { ok: true, user: '', domain, workstation, anonymous: true, sessionKey: Buffer.alloc(16) }
    }
    if (nt.length === 24 || nt.length === 0) return { ok: false, reason: 'wrong-password' } // LM / NTLMv1
    // NTLMv2_RESPONSE: NTProofStr (16) + NTLMv2_CLIENT_CHALLENGE (28 fixed bytes + AV pairs)
    if (nt.length < 16 + 28) throw new AuthFormatError('NTLMSSP: NT response too short for NTLMv2')
    const ntProof = nt.subarray(0, 16)
    const temp = nt.subarray(16)
    if (temp[0] !== 1) throw new AuthFormatError('NTLMSSP: unknown NTLMv2 response version')
    const avPairs = parseAvPairs(temp.subarray(28))
    const avFlags = avPairs.find((p) => p.id === AvId.MsvAvFlags)
    const micPresent = avFlags !== undefined && avFlags.value.length >= 4 &&
      (avFlags.value.readUInt32LE(0) & AV_FLAG_MIC_PRESENT) !== 0
    if (micPresent && msg.length < 88) throw new AuthFormatError('NTLMSSP: MIC announced but missing')
    if ((flags & NtlmFlags.NegotiateKeyExch) !== 0 && encKey.length !== 16) {
      throw new AuthFormatError('NTLMSSP: key exchange without a 16-byte encrypted session key')
    }

    const ntHash = this.opts.lookup(user.toLowerCase(), domain)
    if (ntHash === undefined) return { ok: false, reason: 'no-such-user' }

    // Clients compute NTOWFv2 with the domain they sent; some send it upper-cased.
    let sessionBaseKey: Buffer | undefined
    for (const d of new Set([domain, domain.toUpperCase()])) {
      const key = ntowfv2(ntHash, user, d)
      const proof = hmacMd5(key, this.serverChallenge!, temp)
      if (timingSafeEqual(proof, ntProof)) {
        sessionBaseKey = hmacMd5(key, ntProof)
        break
      }
    }
    if (sessionBaseKey === undefined) return { ok: false, reason: 'wrong-password' }

    // MS-NLMP 3.4.5.1 KXKEY for NTLMv2 is the SessionBaseKey; 3.2.5.1.2 key exchange.
    const exported = (flags & NtlmFlags.NegotiateKeyExch) !== 0
      ? new Rc4(sessionBaseKey).update(encKey)
      : sessionBaseKey

    if (micPresent) {
      // MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE with MIC zeroed)
      const zeroed = Buffer.from(msg)
      zeroed.fill(0, 72, 88)
      const mic = hmacMd5(exported, this.negotiateMsg!, this.challengeMsg!, zeroed)
      if (!timingSafeEqual(mic, msg.subarray(72, 88))) return { ok: false, reason: 'wrong-password' }
    }
    this.micPresent = micPresent
    if ((flags & NtlmFlags.NegotiateExtendedSessionSecurity) !== 0) {
      this.security = new NtlmSessionSecurity(exported, flags, 'server')
    }
    return { ok: true, user, domain, workstation, anonymous: false, sessionKey: exported }
  }
}
