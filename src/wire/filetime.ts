// FILETIME: a signed 64-bit count of 100 ns intervals since 1601-01-01 UTC (MS-DTYP 2.3.3,
// MS-FSCC 2.1.1). Times cross the wire as bigint so nothing is lost to float rounding.

/** 100 ns intervals between 1601-01-01 and 1970-01-01 (369 years incl. 89 leap days). */
export const FILETIME_UNIX_EPOCH = 116444736000000000n

// MS-FSCC 2.4.7 FileBasicInformation, SET_INFO only: special time values.
/** 0: leave this timestamp as it is. */
export const FILETIME_NO_CHANGE = 0n
/** -1: stop updating this timestamp automatically for the rest of this handle's life. */
export const FILETIME_STOP_UPDATING = -1n
/** -2: resume automatic updates of this timestamp on this handle. */
export const FILETIME_RESUME_UPDATING = -2n

const U64 = 0xFFFFFFFFFFFFFFFFn

/** Unix time in ns (may be negative) → FILETIME; times before 1601 clamp to 0. */
export function filetimeFromUnixNs (ns: bigint): bigint {
  // Floor division so that pre-1970 times round toward 1601 like the rest.
  let q = ns / 100n
  if (ns % 100n < 0n) q -= 1n
  const ft = q + FILETIME_UNIX_EPOCH
  return ft < 0n ? 0n : ft
}

/** FILETIME → Unix time in ns (negative before 1970). */
export function unixNsFromFiletime (ft: bigint): bigint {
  return (ft - FILETIME_UNIX_EPOCH) * 100n
}

/** FILETIME from a JS millisecond timestamp (Date.now(), Stats.mtimeMs floored). */
export function filetimeFromUnixMs (ms: number): bigint {
  return filetimeFromUnixNs(BigInt(Math.floor(ms)) * 1000000n)
}

/** The current time as FILETIME (millisecond resolution). */
export function filetimeNow (): bigint {
  return filetimeFromUnixMs(Date.now())
}

export type SetFiletimeAction = 'unchanged' | 'stop' | 'resume' | 'set' | 'invalid'

/**
 * What a FILETIME in a SET_INFO FileBasicInformation asks for (MS-FSCC 2.4.7; MS-FSA 2.1.5.15.2
 * fails values below -2 with STATUS_INVALID_PARAMETER). Accepts the signed value and the
 * unsigned spelling of -1/-2 (0xFFFFFFFFFFFFFFFF/...FE).
 */
export function classifySetFiletime (v: bigint): SetFiletimeAction {
  const s = v > 0x7FFFFFFFFFFFFFFFn && v <= U64 ? v - (U64 + 1n) : v
  if (s === FILETIME_NO_CHANGE) return 'unchanged'
  if (s === FILETIME_STOP_UPDATING) return 'stop'
  if (s === FILETIME_RESUME_UPDATING) return 'resume'
  if (s < FILETIME_RESUME_UPDATING) return 'invalid'
  return 'set'
}

/** True when `v` is the SET_INFO "don't change" value (0). */
export const isFiletimeNoChange = (v: bigint): boolean => classifySetFiletime(v) === 'unchanged'
/** True when `v` is the SET_INFO "stop updating" value (-1 / 0xFFFFFFFFFFFFFFFF). */
export const isFiletimeStopUpdating = (v: bigint): boolean => classifySetFiletime(v) === 'stop'
/** True when `v` is the SET_INFO "resume updating" value (-2). */
export const isFiletimeResumeUpdating = (v: bigint): boolean => classifySetFiletime(v) === 'resume'
