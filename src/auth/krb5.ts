// Kerberos in SESSION_SETUP, the sans-IO part: what an acceptor is to the SPNEGO exchange (the GSSAPI
// one is src/io/gss.ts), which tokens are krb5 ones, why an AP-REQ was refused, and whose the
// client principal is (a local user by `username map` or by the part before the `@`).
import { AuthFormatError } from './errors.js'
import { decodeOid, OID_KRB5, OID_MS_KRB5 } from './spnego.js'

/** An accepted GSS context kept for the SPNEGO mechListMIC; opaque to everything but its acceptor. */
export type Krb5Context = object

export type Krb5FailureReason =
  | 'replay' | 'clock-skew' | 'ticket-expired' | 'ticket-not-yet-valid' | 'wrong-principal'
  | 'bad-integrity' | 'malformed' | 'krb5-error'

export type Krb5Accepted = {
  ok: true
  /** The client principal as GSSAPI displays it: `alice@SMBTS.TEST`. */
  principal: string
  /**
   * The context's session key as GSS_C_INQ_SSPI_SESSION_KEY gives it: the acceptor subkey (mutual
   * authentication with an acceptor subkey), else the initiator subkey, else the ticket's key.
   * Every byte: 32 for the AES-256 enctypes (MS-SMB2 3.3.5.5.3 derives AES-256 keys from all of it).
   */
  sessionKey: Buffer
  /** The AP-REP (a GSS token), when the client asked for mutual authentication. */
  output?: Buffer
  /** Seconds the ticket is still valid. */
  lifetime: number
  context: Krb5Context
}
export type Krb5Refused = { ok: false, reason: Krb5FailureReason, message: string }
export type Krb5AcceptResult = Krb5Accepted | Krb5Refused

/** The acceptor side of krb5 (RFC 4121): one AP-REQ in, a finished context out. */
export interface Krb5Acceptor {
  /** Never throws for a bad token: a refusal says why. Runs off the event loop (replay cache). */
  accept (token: Buffer): Promise<Krb5AcceptResult>
  getMic (ctx: Krb5Context, message: Buffer): Buffer
  verifyMic (ctx: Krb5Context, message: Buffer, mic: Buffer): boolean
  release (ctx: Krb5Context): void
}

export const KRB5_MECHS: readonly string[] = [OID_MS_KRB5, OID_KRB5]
export const isKrb5Mech = (oid: string): boolean => oid === OID_KRB5 || oid === OID_MS_KRB5

/** RFC 4121 4.1 TOK_ID of an AP-REQ inside the InitialContextToken. */
const TOK_AP_REQ = 0x0100

/**
 * Whether `token` is a krb5 InitialContextToken carrying an AP-REQ (RFC 2743 3.1, RFC 4121 4.1):
 * [APPLICATION 0] { the krb5 OID (the MS variant too), TOK_ID 01 00, AP-REQ }. Anything else is
 * refused before it reaches the library.
 */
export function isKrb5ApReq (token: Buffer): boolean {
  try {
    if (token.length < 2 || token[0] !== 0x60) return false
    let p = 1
    let len = token[p++]!
    if (len & 0x80) {
      const n = len & 0x7f
      if (n === 0 || n > 4 || p + n > token.length) return false
      len = 0
      for (let i = 0; i < n; i++) len = len * 256 + token[p++]!
    }
    if (p + len !== token.length || token[p] !== 0x06) return false
    const oidLen = token[p + 1]!
    if (oidLen & 0x80 || p + 2 + oidLen + 2 > token.length) return false
    const oid = decodeOid(token.subarray(p + 2, p + 2 + oidLen))
    if (!isKrb5Mech(oid)) return false
    return token.readUInt16BE(p + 2 + oidLen) === TOK_AP_REQ
  } catch (e) {
    if (e instanceof AuthFormatError) return false
    throw e
  }
}

// MIT krb5 error codes (krb5_err.et: ERROR_TABLE_BASE_krb5 -1765328384, as the unsigned minor
// status GSSAPI reports), and the Kerberos error numbers they carry (RFC 4120 7.5.9).
const KRB5_BASE = 2529638912
const MINOR_REASONS: ReadonlyMap<number, Krb5FailureReason> = new Map([
  [KRB5_BASE + 31, 'bad-integrity'], // KRB_AP_ERR_BAD_INTEGRITY
  [KRB5_BASE + 32, 'ticket-expired'], // KRB_AP_ERR_TKT_EXPIRED
  [KRB5_BASE + 33, 'ticket-not-yet-valid'], // KRB_AP_ERR_TKT_NYV
  [KRB5_BASE + 34, 'replay'], // KRB_AP_ERR_REPEAT
  [KRB5_BASE + 35, 'wrong-principal'], // KRB_AP_ERR_NOT_US
  [KRB5_BASE + 36, 'bad-integrity'], // KRB_AP_ERR_BADMATCH
  [KRB5_BASE + 37, 'clock-skew'], // KRB_AP_ERR_SKEW
  [KRB5_BASE + 41, 'bad-integrity'], // KRB_AP_ERR_MODIFIED
  [KRB5_BASE + 44, 'wrong-principal'], // KRB_AP_ERR_BADKEYVER
  [KRB5_BASE + 45, 'wrong-principal'], // KRB_AP_ERR_NOKEY
  [KRB5_BASE + 181, 'wrong-principal'], // KRB5_KT_NOTFOUND: no key for the ticket's service
  [KRB5_BASE + 210, 'wrong-principal'] // KRB5KRB_AP_WRONG_PRINC
])

/** Why GSSAPI refused an AP-REQ, from its mechanism (minor) status; the message says the rest. */
export function krb5FailureReason (minor: number, message: string): Krb5FailureReason {
  const r = MINOR_REASONS.get(minor >>> 0)
  if (r !== undefined) return r
  // Codes outside the table (the ASN.1 decoder's, the token framing's) all mean a bad token.
  if (/ASN\.1|decode|token|format|Invalid/i.test(message)) return 'malformed'
  return 'krb5-error'
}

/**
 * `username map` (smb.conf(5)): lines `unixname = name1 name2 "name with spaces"`; `#` and `;`
 * start comments; a `!` before the unix name stops at that line when it matches; `*` matches
 * every name. Here the names are client principals (`alice@SMBTS.TEST`) or, within our realm, the
 * part before the `@`. Returns the rules in file order.
 */
export interface UsernameMapRule { user: string, names: string[], stop: boolean }

export function parseUsernameMap (text: string): UsernameMapRule[] {
  const rules: UsernameMapRule[] = []
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const eq = line.indexOf('=')
    if (eq < 0) continue
    let user = line.slice(0, eq).trim()
    const stop = user.startsWith('!')
    if (stop) user = user.slice(1).trim()
    if (user === '') continue
    const names: string[] = []
    const re = /"([^"]*)"|(\S+)/g
    let m: RegExpExecArray | null
    const rest = line.slice(eq + 1)
    while ((m = re.exec(rest)) !== null) names.push((m[1] ?? m[2] ?? '').toLowerCase())
    rules.push({ user, names, stop })
  }
  return rules
}

/**
 * The local user a client principal is, or undefined when it is nobody's: the `username map`
 * first (by the whole principal, or by the name within our realm), then, within our realm, the
 * part before the `@`. A principal of another realm needs a map entry; a multi-component name
 * (`host/x`, a service) is never a user by itself.
 */
export function principalToUser (principal: string, realm: string, map: readonly UsernameMapRule[] = []): string | undefined {
  const at = principal.lastIndexOf('@')
  if (at <= 0) return undefined
  const name = principal.slice(0, at)
  const ours = principal.slice(at + 1).toUpperCase() === realm.toUpperCase()
  const keys = [principal.toLowerCase(), ...(ours ? [name.toLowerCase()] : [])]
  let mapped: string | undefined
  for (const rule of map) {
    if (rule.names.some(n => n === '*' || keys.includes(n))) {
      mapped = rule.user
      if (rule.stop) break
    }
  }
  if (mapped !== undefined) return mapped
  if (!ours || name.includes('/') || name.includes('\\')) return undefined
  return name
}
