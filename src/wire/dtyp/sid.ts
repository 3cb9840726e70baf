// MS-DTYP 2.4.2 SID: binary form (2.4.2.2) and string form (2.4.2.1).
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'

export interface Sid {
  /** Always 1 (SID_REVISION). */
  revision: number
  /** 48-bit IdentifierAuthority (big-endian on the wire). */
  identifierAuthority: bigint
  /** Up to 15 32-bit sub-authorities (little-endian on the wire). */
  subAuthorities: readonly number[]
}

export const SID_REVISION = 1 // MS-DTYP 2.4.2.2
export const SID_MAX_SUB_AUTHORITIES = 15 // MS-DTYP 2.4.2.2
export const SID_MIN_SIZE = 8 // Revision, SubAuthorityCount, IdentifierAuthority (6)

const invalidSid = (why: string): NtStatusError => new NtStatusError(NtStatus.INVALID_SID, why)

/** Size of the binary SID. */
export const sidByteLength = (sid: Sid): number => SID_MIN_SIZE + 4 * sid.subAuthorities.length

/** Parse a binary SID at `off`; every byte is bounds-checked. Throws NtStatusError(INVALID_SID). */
export function parseSid (buf: Buffer, off = 0): { sid: Sid, byteLength: number } {
  if (off < 0 || buf.length - off < SID_MIN_SIZE) throw invalidSid('SID past the buffer')
  const revision = buf[off]!
  const count = buf[off + 1]!
  if (revision !== SID_REVISION) throw invalidSid('bad SID revision')
  if (count > SID_MAX_SUB_AUTHORITIES) throw invalidSid('too many sub-authorities')
  const byteLength = SID_MIN_SIZE + 4 * count
  if (buf.length - off < byteLength) throw invalidSid('SID past the buffer')
  const identifierAuthority = BigInt(buf.readUIntBE(off + 2, 6))
  const subAuthorities: number[] = []
  for (let i = 0; i < count; i++) subAuthorities.push(buf.readUInt32LE(off + 8 + 4 * i))
  return { sid: { revision, identifierAuthority, subAuthorities }, byteLength }
}

/** Write `sid` at `off`; returns the bytes written. */
export function writeSid (buf: Buffer, off: number, sid: Sid): number {
  if (sid.subAuthorities.length > SID_MAX_SUB_AUTHORITIES) throw invalidSid('too many sub-authorities')
  buf[off] = sid.revision
  buf[off + 1] = sid.subAuthorities.length
  buf.writeUIntBE(Number(sid.identifierAuthority), off + 2, 6)
  sid.subAuthorities.forEach((s, i) => buf.writeUInt32LE(s >>> 0, off + 8 + 4 * i))
  return sidByteLength(sid)
}

export function encodeSid (sid: Sid): Buffer {
  const b = Buffer.alloc(sidByteLength(sid))
  writeSid(b, 0, sid)
  return b
}

/** MS-DTYP 2.4.2.1: S-1-<authority>-<sub>...; authority ≥ 2^32 in hex as 0xXXXXXXXXXXXX. */
export function sidToString (sid: Sid): string {
  const a = sid.identifierAuthority
  const auth = a < 0x100000000n ? a.toString(10) : '0x' + a.toString(16).toUpperCase().padStart(12, '0')
  return ['S', String(sid.revision), auth, ...sid.subAuthorities.map(s => String(s >>> 0))].join('-')
}

/** Parse the string form; throws NtStatusError(INVALID_SID). */
export function sidFromString (s: string): Sid {
  const parts = s.split('-')
  if (parts.length < 3 || (parts[0] !== 'S' && parts[0] !== 's') || parts[1] !== '1') throw invalidSid(`not a SID: ${s}`)
  const authStr = parts[2]!
  let identifierAuthority: bigint
  if (/^0[xX][0-9a-fA-F]{1,12}$/.test(authStr)) identifierAuthority = BigInt(authStr)
  else if (/^\d{1,15}$/.test(authStr)) identifierAuthority = BigInt(authStr)
  else throw invalidSid(`bad authority: ${s}`)
  if (identifierAuthority >= 1n << 48n) throw invalidSid(`authority too large: ${s}`)
  const subs = parts.slice(3)
  if (subs.length > SID_MAX_SUB_AUTHORITIES) throw invalidSid(`too many sub-authorities: ${s}`)
  const subAuthorities = subs.map(x => {
    if (!/^\d{1,10}$/.test(x) || Number(x) > 0xFFFFFFFF) throw invalidSid(`bad sub-authority: ${s}`)
    return Number(x)
  })
  return { revision: SID_REVISION, identifierAuthority, subAuthorities }
}

export function sidEquals (a: Sid, b: Sid): boolean {
  return a.revision === b.revision && a.identifierAuthority === b.identifierAuthority &&
    a.subAuthorities.length === b.subAuthorities.length && a.subAuthorities.every((s, i) => s === b.subAuthorities[i])
}

const sid = (auth: bigint, ...subs: number[]): Sid => ({ revision: SID_REVISION, identifierAuthority: auth, subAuthorities: subs })

// MS-DTYP 2.4.2.4 Well-Known SID Structures.
export const SID_NULL = sid(0n, 0) // S-1-0-0
export const SID_WORLD = sid(1n, 0) // S-1-1-0 Everyone
export const SID_CREATOR_OWNER = sid(3n, 0) // S-1-3-0
export const SID_CREATOR_GROUP = sid(3n, 1) // S-1-3-1
export const SID_OWNER_RIGHTS = sid(3n, 4) // S-1-3-4
export const SID_NETWORK = sid(5n, 2) // S-1-5-2
export const SID_ANONYMOUS = sid(5n, 7) // S-1-5-7
export const SID_AUTHENTICATED_USERS = sid(5n, 11) // S-1-5-11
export const SID_LOCAL_SYSTEM = sid(5n, 18) // S-1-5-18
export const SID_BUILTIN_ADMINISTRATORS = sid(5n, 32, 544) // S-1-5-32-544
export const SID_BUILTIN_USERS = sid(5n, 32, 545) // S-1-5-32-545
export const SID_BUILTIN_GUESTS = sid(5n, 32, 546) // S-1-5-32-546

// Samba's "Unix Users" / "Unix Groups" domains (S-1-22-1, S-1-22-2) for ids with no Windows mapping.
export const UNIX_USERS_AUTHORITY = 22n
export const unixUserSid = (uid: number): Sid => sid(UNIX_USERS_AUTHORITY, 1, uid >>> 0)
export const unixGroupSid = (gid: number): Sid => sid(UNIX_USERS_AUTHORITY, 2, gid >>> 0)
