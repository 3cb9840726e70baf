// SPNEGO around the NTLMSSP exchanger, shaped for SMB2 SESSION_SETUP (MS-SMB2 3.3.5.5,
// MS-SPNG, RFC 4178). Kerberos is not offered: whatever the client prefers, NTLMSSP is the
// mechanism we select.
import { AuthFormatError } from './errors.js'
import { NtlmServer, NTLMSSP_SIGNATURE, type AuthFailureReason, type AuthSuccess, type NtlmServerOptions } from './ntlmssp.js'
import { encodeResp, NegState, OID_NTLMSSP, negTokenInitForNegotiate, parseInit, parseResp } from './spnego.js'

export type SpnegoFailureReason = AuthFailureReason | 'mechanism-unsupported' | 'mic-mismatch'
export type SpnegoResult = Omit<AuthSuccess, 'ok'>
export type SpnegoStep =
  | { state: 'more', token: Buffer }
  | { state: 'done', token: Buffer, result: SpnegoResult }
  | { state: 'failed', token?: Buffer, reason: SpnegoFailureReason, /** the name the client gave (NTLM), for the log and events */ user?: string }

/** Named states of the exchange; a finished exchange stays finished. */
export const enum SpnegoState {
  /** Waiting for the client's first token. */
  Initial = 'initial',
  /** NTLMSSP selected but the client's optimistic token was not an NTLMSSP NEGOTIATE. */
  AwaitNegotiate = 'await-negotiate',
  /** CHALLENGE sent, waiting for AUTHENTICATE. */
  AwaitAuthenticate = 'await-authenticate',
  Done = 'done',
  Failed = 'failed'
}

const isNtlmssp = (b: Buffer | undefined): b is Buffer =>
  b !== undefined && b.length >= 8 && b.subarray(0, 8).equals(NTLMSSP_SIGNATURE)

export class SpnegoNtlmServer {
  private readonly ntlm: NtlmServer
  state: SpnegoState = SpnegoState.Initial
  private raw = false
  private mechTypesDer?: Buffer
  /** RFC 4178 5: a mechanism other than the client's first choice obliges both MICs. */
  private micRequired = false

  constructor (opts: NtlmServerOptions) {
    this.ntlm = new NtlmServer(opts)
  }

  step (securityBuffer: Buffer): SpnegoStep {
    try {
      switch (this.state) {
        case SpnegoState.Initial: return this.onInit(securityBuffer)
        case SpnegoState.AwaitNegotiate: return this.onNegotiate(securityBuffer)
        case SpnegoState.AwaitAuthenticate: return this.onAuthenticate(securityBuffer)
        default: return this.fail('malformed', false)
      }
    } catch (e) {
      if (e instanceof AuthFormatError || e instanceof RangeError) return this.fail('malformed')
      throw e
    }
  }

  /** A failed step, with the name the client gave (when it got that far). */
  private failedAs (step: SpnegoStep): SpnegoStep {
    const user = this.ntlm.attemptedUser
    return user !== undefined && step.state === 'failed' ? { ...step, user } : step
  }

  private fail (reason: SpnegoFailureReason, withToken = true): SpnegoStep {
    this.state = SpnegoState.Failed
    const token = withToken && !this.raw ? encodeResp({ negState: NegState.Reject }) : undefined
    return token === undefined ? { state: 'failed', reason } : { state: 'failed', token, reason }
  }

  private challenge (negotiate: Buffer, negState: number = NegState.AcceptIncomplete): SpnegoStep {
    const challenge = this.ntlm.challenge(negotiate)
    this.state = SpnegoState.AwaitAuthenticate
    if (this.raw) return { state: 'more', token: challenge }
    return {
      state: 'more',
      token: encodeResp({ negState: negState as 0 | 1 | 2 | 3, supportedMech: OID_NTLMSSP, responseToken: challenge })
    }
  }

  private onInit (buf: Buffer): SpnegoStep {
    if (buf.length === 0) {
      // No token at all: offer our mechanisms as in the NEGOTIATE response.
      return { state: 'more', token: negTokenInitForNegotiate() }
    }
    const init = parseInit(buf)
    if (init.kind === 'raw-ntlmssp') {
      this.raw = true
      return this.challenge(init.mechToken)
    }
    if (!init.mechTypes.includes(OID_NTLMSSP)) return this.fail('mechanism-unsupported')
    this.mechTypesDer = init.mechTypesDer
    const preferred = init.mechTypes[0] === OID_NTLMSSP
    this.micRequired = !preferred
    if (preferred && isNtlmssp(init.mechToken)) return this.challenge(init.mechToken)
    // The optimistic token (if any) belongs to another mechanism: select NTLMSSP and ask
    // the client for its NEGOTIATE.
    this.state = SpnegoState.AwaitNegotiate
    return {
      state: 'more',
      token: encodeResp({
        negState: preferred ? NegState.AcceptIncomplete : NegState.RequestMic,
        supportedMech: OID_NTLMSSP
      })
    }
  }

  private onNegotiate (buf: Buffer): SpnegoStep {
    const resp = parseResp(buf)
    if (!isNtlmssp(resp.responseToken)) return this.fail('malformed')
    return this.challenge(resp.responseToken)
  }

  private onAuthenticate (buf: Buffer): SpnegoStep {
    if (this.raw) {
      const r = this.ntlm.authenticate(buf)
      if (!r.ok) return this.failedAs(this.fail(r.reason, false))
      this.state = SpnegoState.Done
      const { ok: _ok, ...result } = r
      return { state: 'done', token: Buffer.alloc(0), result }
    }
    const resp = parseResp(buf)
    if (resp.responseToken === undefined) return this.fail('malformed')
    const r = this.ntlm.authenticate(resp.responseToken)
    if (!r.ok) return this.failedAs(this.fail(r.reason))
    const { ok: _ok, ...result } = r

    let mechListMIC: Buffer | undefined
    const sec = this.ntlm.security
    if (!r.anonymous && (resp.mechListMIC !== undefined || this.ntlm.micPresent || this.micRequired)) {
      if (sec === undefined) {
        // No NTLM session security (no extended session security): no MIC can be checked.
        if (resp.mechListMIC !== undefined || this.micRequired) return this.fail('mic-mismatch')
      } else {
        if (resp.mechListMIC !== undefined) {
          if (!sec.verify(this.mechTypesDer!, resp.mechListMIC)) return this.fail('mic-mismatch')
        } else if (this.micRequired) {
          return this.fail('mic-mismatch')
        }
        mechListMIC = sec.sign(this.mechTypesDer!)
      }
    }
    this.state = SpnegoState.Done
    return {
      state: 'done',
      token: encodeResp(mechListMIC === undefined
        ? { negState: NegState.AcceptCompleted }
        : { negState: NegState.AcceptCompleted, mechListMIC }),
      result
    }
  }
}
