// The one protocol error type (CONVENTIONS 6): handlers throw it, only the send
// pipeline turns it into an SMB2 ERROR response.
import { NtStatus, ntStatusName } from './ntstatus.js'

export class NtStatusError extends Error {
  readonly status: number
  constructor (status: number, message?: string) {
    super(message ?? ntStatusName(status))
    this.name = 'NtStatusError'
    this.status = status >>> 0
  }
}

/** A framing or protocol violation that must end the connection (never the process). */
export class ProtocolError extends Error {
  readonly code = 'SMBTS_ERR_PROTOCOL'
  constructor (message: string) {
    super(message)
    this.name = 'ProtocolError'
  }
}

export const isNtStatusError = (e: unknown): e is NtStatusError => e instanceof NtStatusError
export { NtStatus }
