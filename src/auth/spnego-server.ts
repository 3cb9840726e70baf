// SPNEGO around the NTLMSSP exchanger and the krb5 acceptor, shaped for SMB2 SESSION_SETUP
// (MS-SMB2 3.3.5.5, MS-SPNG, RFC 4178). The mechanism selected is the client's most preferred one
// that we have: krb5 (either OID) only when a Kerberos acceptor is configured, NTLMSSP always.
// NTLMSSP steps are synchronous (`step`); a krb5 AP-REQ is accepted off the event loop, so the
// session uses `stepAsync`, which takes both.
import { AuthFormatError } from './errors.js'
import { NtlmServer, NTLMSSP_SIGNATURE, type AuthFailureReason, type AuthSuccess, type NtlmServerOptions } from './ntlmssp.js'
import { encodeResp, NegState, OID_NTLMSSP, negTokenInitForNegotiate, parseInit, parseResp, type InitToken } from './spnego.js'
import {
  isKrb5ApReq, isKrb5Mech, KRB5_MECHS, principalToUser,
  type Krb5Acceptor, type Krb5Context, type Krb5FailureReason, type UsernameMapRule
} from './krb5.js'

export type SpnegoFailureReason = AuthFailureReason | Krb5FailureReason | 'mechanism-unsupported' | 'mic-mismatch' | 'unmapped-principal'
export type SpnegoResult = Omit<AuthSuccess, 'ok'> & {
  /** krb5: the client principal the user was mapped from. */
  principal?: string
  /** krb5: seconds the ticket is still valid. */
  lifetime?: number
}
export type SpnegoStep =
  | { state: 'more', token: Buffer }
  | { state: 'done', token: Buffer, result: SpnegoResult }
  | { state: 'failed', token?: Buffer, reason: SpnegoFailureReason, detail?: string, /** the name the client gave (NTLM), for the log and events */ user?: string }

export interface SpnegoKerberos {
  acceptor: Krb5Acceptor
  /** Principals of this realm are users by the part before the `@`. */
  realm: string
  usernameMap?: readonly UsernameMapRule[]
}

export interface SpnegoServerOptions extends NtlmServerOptions {
  /** Offer and accept krb5 (MS-SPNG 3.3.5.1: the mechanisms of the server's NegTokenInit). */
  krb5?: SpnegoKerberos
}

/** The mechanisms the NEGOTIATE response offers, most preferred first (as Windows and Samba order them). */
export function offeredMechs (krb5: boolean): string[] {
  return krb5 ? [...KRB5_MECHS, OID_NTLMSSP] : [OID_NTLMSSP]
}

/** Named states of the exchange; a finished exchange stays finished. */
export const enum SpnegoState {
  /** Waiting for the client's first token. */
  Initial = 'initial',
  /** NTLMSSP selected but the client's optimistic token was not an NTLMSSP NEGOTIATE. */
  AwaitNegotiate = 'await-negotiate',
  /** CHALLENGE sent, waiting for AUTHENTICATE. */
  AwaitAuthenticate = 'await-authenticate',
  /** krb5 selected (not the client's first choice, or no optimistic token): waiting for the AP-REQ. */
  AwaitKrb5Token = 'await-krb5-token',
  /** krb5 accepted, our mechListMIC sent: waiting for the client's (RFC 4178 5). */
  AwaitKrb5Mic = 'await-krb5-mic',
  Done = 'done',
  Failed = 'failed'
}

const isNtlmssp = (b: Buffer | undefined): b is Buffer =>
  b !== undefined && b.length >= 8 && b.subarray(0, 8).equals(NTLMSSP_SIGNATURE)

export class SpnegoServer {
  private readonly ntlm: NtlmServer
  private readonly krb5?: SpnegoKerberos
  state: SpnegoState = SpnegoState.Initial
  private raw = false
  private mechTypesDer?: Buffer
  /** RFC 4178 5: a mechanism other than the client's first choice obliges both MICs. */
  private micRequired = false
  /** The krb5 OID selected, as the client named it. */
  private krbMech?: string
  /** supportedMech went out already (RFC 4178 4.2.2: only in the first reply). */
  private mechSent = false
  /** A krb5 logon waiting for the client's mechListMIC. */
  private pending?: { result: SpnegoResult, context: Krb5Context }
  /** A stepAsync in progress: a second one at the same time fails. */
  private busy = false

  constructor (opts: SpnegoServerOptions) {
    this.ntlm = new NtlmServer(opts)
    if (opts.krb5 !== undefined) this.krb5 = opts.krb5
  }

  /**
   * One SESSION_SETUP token, whatever the mechanism: a krb5 AP-REQ resolves once GSSAPI has
   * accepted it on the threadpool; NTLMSSP steps resolve at once.
   */
  async stepAsync (securityBuffer: Buffer): Promise<SpnegoStep> {
    if (this.busy) return this.fail('malformed', false, 'a SESSION_SETUP while the previous one is being processed')
    this.busy = true
    try {
      switch (this.state) {
        case SpnegoState.Initial: {
          if (this.krb5 === undefined || securityBuffer.length === 0) return this.step(securityBuffer)
          const init = parseInit(securityBuffer)
          if (init.kind === 'raw-ntlmssp') return this.step(securityBuffer)
          const mech = this.select(init.mechTypes)
          if (mech === undefined || !isKrb5Mech(mech)) return this.step(securityBuffer)
          return await this.onKrb5Init(init, mech)
        }
        case SpnegoState.AwaitKrb5Token: {
          const resp = parseResp(securityBuffer)
          if (resp.responseToken === undefined) return this.fail('malformed', true, 'no krb5 token')
          return await this.krb5Accept(resp.responseToken, resp.mechListMIC)
        }
        case SpnegoState.AwaitKrb5Mic: return this.onKrb5Mic(securityBuffer)
        default: return this.step(securityBuffer)
      }
    } catch (e) {
      if (e instanceof AuthFormatError || e instanceof RangeError) return this.fail('malformed', true, e.message)
      throw e
    } finally {
      this.busy = false
    }
  }

  /** The client's most preferred mechanism that we have (MS-SPNG 3.3.5.2, RFC 4178 3.2). */
  private select (mechTypes: readonly string[]): string | undefined {
    return mechTypes.find(m => m === OID_NTLMSSP || (this.krb5 !== undefined && isKrb5Mech(m)))
  }

  private async onKrb5Init (init: InitToken & { kind: 'spnego' }, mech: string): Promise<SpnegoStep> {
    this.mechTypesDer = init.mechTypesDer
    this.krbMech = mech
    const preferred = init.mechTypes[0] === mech
    this.micRequired = !preferred
    if (preferred && init.mechToken !== undefined) return await this.krb5Accept(init.mechToken, init.mechListMIC)
    // The optimistic token (if any) is another mechanism's: select krb5 and ask for its token.
    this.state = SpnegoState.AwaitKrb5Token
    this.mechSent = true
    return { state: 'more', token: encodeResp({ negState: preferred ? NegState.AcceptIncomplete : NegState.RequestMic, supportedMech: mech }) }
  }

  private async krb5Accept (token: Buffer, clientMic: Buffer | undefined): Promise<SpnegoStep> {
    const k = this.krb5!
    if (!isKrb5ApReq(token)) return this.fail('malformed', true, 'the krb5 token is not an AP-REQ')
    const r = await k.acceptor.accept(token)
    if (!r.ok) return this.fail(r.reason, true, r.message)
    const user = principalToUser(r.principal, k.realm, k.usernameMap)
    if (user === undefined) {
      k.acceptor.release(r.context)
      return this.fail('unmapped-principal', true, `${r.principal} is no local user (not of realm ${k.realm}, and not in the username map)`)
    }
    const result: SpnegoResult = {
      user, domain: r.principal.slice(r.principal.lastIndexOf('@') + 1), workstation: '', anonymous: false,
      sessionKey: r.sessionKey, principal: r.principal, lifetime: r.lifetime,
    }
    // RFC 4178 5: the MICs are exchanged when the client sent one, or when krb5 was not its first
    // choice; smbclient and impacket list krb5 first and send none.
    let ourMic: Buffer | undefined
    if (clientMic !== undefined && !k.acceptor.verifyMic(r.context, this.mechTypesDer!, clientMic)) {
      k.acceptor.release(r.context)
      return this.fail('mic-mismatch', true, 'the client\'s mechListMIC does not verify')
    }
    if (clientMic !== undefined || this.micRequired) ourMic = k.acceptor.getMic(r.context, this.mechTypesDer!)
    const supportedMech = this.mechSent ? undefined : this.krbMech
    this.mechSent = true
    const reply = (negState: 0 | 1): Buffer => encodeResp({
      negState,
      ...(supportedMech !== undefined ? { supportedMech } : {}),
      ...(r.output !== undefined ? { responseToken: r.output } : {}),
      ...(ourMic !== undefined ? { mechListMIC: ourMic } : {}),
    })
    if (this.micRequired && clientMic === undefined) {
      this.pending = { result, context: r.context }
      this.state = SpnegoState.AwaitKrb5Mic
      return { state: 'more', token: reply(NegState.AcceptIncomplete) }
    }
    k.acceptor.release(r.context)
    this.state = SpnegoState.Done
    return { state: 'done', token: reply(NegState.AcceptCompleted), result }
  }

  private onKrb5Mic (buf: Buffer): SpnegoStep {
    const p = this.pending!
    this.pending = undefined
    try {
      const resp = parseResp(buf)
      if (resp.mechListMIC === undefined || !this.krb5!.acceptor.verifyMic(p.context, this.mechTypesDer!, resp.mechListMIC)) {
        return this.fail('mic-mismatch', true, 'the client\'s mechListMIC is missing or does not verify')
      }
    } finally {
      this.krb5!.acceptor.release(p.context)
    }
    this.state = SpnegoState.Done
    return { state: 'done', token: encodeResp({ negState: NegState.AcceptCompleted }), result: p.result }
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

  private fail (reason: SpnegoFailureReason, withToken = true, detail?: string): SpnegoStep {
    this.state = SpnegoState.Failed
    const token = withToken && !this.raw ? encodeResp({ negState: NegState.Reject }) : undefined
    return {
      state: 'failed', reason, ...(token !== undefined ? { token } : {}), ...(detail !== undefined ? { detail } : {}),
    }
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
      return { state: 'more', token: negTokenInitForNegotiate(offeredMechs(this.krb5 !== undefined)) }
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
