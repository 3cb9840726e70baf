// Test-only NTLMv2 client (MS-NLMP 3.1.5, 3.3.2), written from the spec's pseudocode and
// using @noble/hashes for HMAC-MD5/MD5, so that the server is checked against an
// independent computation. MD4 and RC4 come from src/crypto (tested there against RFCs).
import { hmac } from '@noble/hashes/hmac.js'
import { md5 } from '@noble/hashes/legacy.js'
import { ntHash } from '../../src/crypto/md4.js'
import { Rc4 } from '../../src/crypto/rc4.js'

const SIG = Buffer.from('NTLMSSP\0', 'latin1')
const hm = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => Buffer.from(hmac(md5, key, Buffer.concat(parts)))

export const F = {
  UNICODE: 0x1, REQUEST_TARGET: 0x4, SIGN: 0x10, SEAL: 0x20, NTLM: 0x200, ALWAYS_SIGN: 0x8000,
  ESS: 0x80000, TARGET_INFO: 0x800000, VERSION: 0x2000000, N128: 0x20000000, KEY_EXCH: 0x40000000, N56: 0x80000000
}
export const DEFAULT_FLAGS = (F.UNICODE | F.REQUEST_TARGET | F.SIGN | F.SEAL | F.NTLM | F.ALWAYS_SIGN | F.ESS |
  F.TARGET_INFO | F.VERSION | F.N128 | F.KEY_EXCH | F.N56) >>> 0

export function negotiateMessage (flags = DEFAULT_FLAGS): Buffer {
  const m = Buffer.alloc(40)
  SIG.copy(m, 0)
  m.writeUInt32LE(1, 8)
  m.writeUInt32LE(flags, 12)
  m.writeUInt32LE(40, 20); m.writeUInt32LE(40, 28) // empty domain/workstation fields
  Buffer.from([10, 0, 0x61, 0x4a, 0, 0, 0, 15]).copy(m, 32)
  return m
}

export interface Challenge { flags: number, serverChallenge: Buffer, targetInfo: Buffer, targetName: Buffer, avPairs: Map<number, Buffer> }

export function parseChallenge (m: Buffer): Challenge {
  if (!m.subarray(0, 8).equals(SIG) || m.readUInt32LE(8) !== 2) throw new Error('not a CHALLENGE')
  const fld = (at: number): Buffer => m.subarray(m.readUInt32LE(at + 4), m.readUInt32LE(at + 4) + m.readUInt16LE(at))
  const targetInfo = fld(40)
  const avPairs = new Map<number, Buffer>()
  for (let p = 0; ;) {
    const id = targetInfo.readUInt16LE(p); const len = targetInfo.readUInt16LE(p + 2)
    if (id === 0) break
    avPairs.set(id, targetInfo.subarray(p + 4, p + 4 + len))
    p += 4 + len
  }
  return { flags: m.readUInt32LE(20), serverChallenge: m.subarray(24, 32), targetInfo, targetName: fld(12), avPairs }
}

export function ntowfv2 (password: string, user: string, domain: string): Buffer {
  return hm(ntHash(password), Buffer.from(user.toUpperCase() + domain, 'utf16le'))
}

export interface ClientOptions {
  user: string
  domain: string
  password: string
  workstation?: string
  clientChallenge?: Buffer
  /** FILETIME used when the CHALLENGE has no MsvAvTimestamp. */
  time?: Buffer
  randomSessionKey?: Buffer
  /** Add MsvAvFlags(MIC present) and a MIC (MS-NLMP 3.1.5.1.2). */
  withMic?: boolean
  /** Override the NT response (e.g. a 24-byte NTLMv1 one). */
  ntResponse?: Buffer
  /** An anonymous (null) AUTHENTICATE: empty user, empty LM and NT responses (MS-NLMP 3.2.5.1.2). */
  anonymous?: boolean
}

export interface Authenticate { message: Buffer, exportedSessionKey: Buffer, flags: number, ntResponse: Buffer, lmResponse: Buffer, encryptedRandomSessionKey: Buffer }

export function authenticateMessage (o: ClientOptions, negotiate: Buffer, challengeMsg: Buffer): Authenticate {
  if (o.anonymous === true) return anonymousAuthenticate(o, challengeMsg)
  const ch = parseChallenge(challengeMsg)
  const flags = ch.flags
  const clientChallenge = o.clientChallenge ?? Buffer.alloc(8, 0xaa)
  const serverTime = ch.avPairs.get(7)
  const time = serverTime ?? o.time ?? Buffer.alloc(8)
  // ServerName = the CHALLENGE's AV pairs, with MsvAvFlags added when we send a MIC
  let avs = ch.targetInfo
  if (o.withMic === true) {
    const flagsPair = Buffer.from([6, 0, 4, 0, 2, 0, 0, 0])
    avs = Buffer.concat([ch.targetInfo.subarray(0, ch.targetInfo.length - 4), flagsPair, Buffer.alloc(4)])
  }
  const key = ntowfv2(o.password, o.user, o.domain)
  const temp = Buffer.concat([Buffer.from([1, 1]), Buffer.alloc(6), time, clientChallenge, Buffer.alloc(4), avs, Buffer.alloc(4)])
  const ntProof = hm(key, ch.serverChallenge, temp)
  const ntResponse = o.ntResponse ?? Buffer.concat([ntProof, temp])
  // With MsvAvTimestamp the client sends Z(24) as the LM response (MS-NLMP 3.1.5.1.2)
  const lmResponse = serverTime !== undefined
    ? Buffer.alloc(24)
    : Buffer.concat([hm(key, ch.serverChallenge, clientChallenge), clientChallenge])
  const sessionBaseKey = hm(key, ntProof)
  let exportedSessionKey = sessionBaseKey
  let encryptedRandomSessionKey: Buffer = Buffer.alloc(0)
  if ((flags & F.KEY_EXCH) !== 0) {
    exportedSessionKey = o.randomSessionKey ?? Buffer.alloc(16, 0x55)
    encryptedRandomSessionKey = new Rc4(sessionBaseKey).update(exportedSessionKey)
  }
  const u = (s: string): Buffer => Buffer.from(s, 'utf16le')
  const payload: Array<[number, Buffer]> = [
    [28, u(o.domain)], [36, u(o.user)], [44, u(o.workstation ?? 'COMPUTER')],
    [12, lmResponse], [20, ntResponse], [52, encryptedRandomSessionKey]
  ]
  const HEADER = 88
  const m = Buffer.alloc(HEADER + payload.reduce((n, [, b]) => n + b.length, 0))
  SIG.copy(m, 0)
  m.writeUInt32LE(3, 8)
  let off = HEADER
  for (const [at, b] of payload) {
    m.writeUInt16LE(b.length, at); m.writeUInt16LE(b.length, at + 2); m.writeUInt32LE(off, at + 4)
    b.copy(m, off); off += b.length
  }
  m.writeUInt32LE(flags, 60)
  Buffer.from([10, 0, 0x61, 0x4a, 0, 0, 0, 15]).copy(m, 64)
  if (o.withMic === true) hm(exportedSessionKey, negotiate, challengeMsg, m).copy(m, 72)
  return { message: m, exportedSessionKey, flags, ntResponse, lmResponse, encryptedRandomSessionKey }
}

function anonymousAuthenticate (o: ClientOptions, challengeMsg: Buffer): Authenticate {
  const flags = (parseChallenge(challengeMsg).flags & ~F.KEY_EXCH) >>> 0
  const none = Buffer.alloc(0)
  const HEADER = 88
  const ws = Buffer.from(o.workstation ?? 'COMPUTER', 'utf16le')
  const m = Buffer.alloc(HEADER + ws.length)
  SIG.copy(m, 0)
  m.writeUInt32LE(3, 8)
  for (const at of [12, 20, 28, 36, 52]) m.writeUInt32LE(HEADER, at + 4) // every field empty
  m.writeUInt16LE(ws.length, 44); m.writeUInt16LE(ws.length, 46); m.writeUInt32LE(HEADER, 48)
  ws.copy(m, HEADER)
  m.writeUInt32LE(flags, 60)
  Buffer.from([10, 0, 0x61, 0x4a, 0, 0, 0, 15]).copy(m, 64)
  return { message: m, exportedSessionKey: Buffer.alloc(16), flags, ntResponse: none, lmResponse: none, encryptedRandomSessionKey: none }
}

const magic = (s: string): Buffer => Buffer.from(`session key to ${s} key magic constant\0`, 'latin1')

/** MS-NLMP 3.4.4.2 MAC with ESS and key exchange, on a fresh RC4 handle, for one direction. */
export function ntlmMac (exportedSessionKey: Buffer, direction: 'client-to-server' | 'server-to-client', seq: number, msg: Buffer): Buffer {
  const signKey = Buffer.from(md5(Buffer.concat([exportedSessionKey, magic(`${direction} signing`)])))
  const sealKey = Buffer.from(md5(Buffer.concat([exportedSessionKey, magic(`${direction} sealing`)])))
  const seqBuf = Buffer.alloc(4); seqBuf.writeUInt32LE(seq)
  const checksum = new Rc4(sealKey).update(hm(signKey, seqBuf, msg).subarray(0, 8))
  return Buffer.concat([Buffer.from([1, 0, 0, 0]), checksum, seqBuf])
}
