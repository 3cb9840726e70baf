/** A malformed NTLMSSP or SPNEGO token: the one error class the auth codecs throw. */
export class AuthFormatError extends Error {
  readonly code = 'SMBTS_ERR_AUTH_FORMAT'
  constructor (message: string) {
    super(message)
    this.name = 'AuthFormatError'
  }
}
