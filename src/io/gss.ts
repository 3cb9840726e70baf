// The Kerberos acceptor of SESSION_SETUP over MIT GSSAPI, through the addon (native/src/gss.c;
// docs/kerberos.md says why the addon and not ffi-rs). gss_accept_sec_context runs on the libuv
// threadpool: the replay cache and the keytab are files, and the event loop never waits for them.
import { accessSync, constants, readFileSync } from 'node:fs'
import { native, nativeAvailable, nativeLoadError } from './native.js'
import { krb5FailureReason, parseUsernameMap, type Krb5Acceptor, type Krb5AcceptResult, type Krb5Context, type UsernameMapRule } from '../auth/krb5.js'
import type { SpnegoKerberos } from '../auth/spnego-server.js'
import type { GlobalConfig } from '../config/config.js'
import type { Logger } from '../control/log.js'

/** Why Kerberos cannot be offered with this keytab here, or undefined when it can. */
export function gssUnavailable (keytab: string): string | undefined {
  if (!nativeAvailable) return `the native addon did not load (${nativeLoadError?.message ?? 'not built'})`
  const why = native.gssAvailable()
  if (why !== null) return why
  if (keytab !== '') {
    try {
      accessSync(keytab, constants.R_OK)
    } catch (e) {
      return `keytab ${keytab}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`
    }
  }
  return undefined
}

export interface GssAcceptorOptions {
  /** '' for the library's default keytab (KRB5_KTNAME). */
  keytab: string
  /** The service principal tickets must be for (`cifs/host@REALM`); '' for any key in the keytab. */
  principal: string
}

export function gssAcceptor (o: GssAcceptorOptions): Krb5Acceptor {
  return {
    async accept (token: Buffer): Promise<Krb5AcceptResult> {
      const r = await native.gssAccept(token, o.keytab, o.principal, '')
      if (r.major !== 0 || r.context === undefined || r.sessionKey === undefined || r.principal === undefined) {
        return { ok: false, reason: krb5FailureReason(r.minor, r.message), message: r.message }
      }
      return {
        ok: true,
        principal: r.principal,
        sessionKey: r.sessionKey,
        lifetime: r.lifetime ?? 0,
        context: r.context,
        ...(r.output !== undefined ? { output: r.output } : {}),
      }
    },
    getMic: (ctx: Krb5Context, message: Buffer): Buffer => native.gssGetMic(ctx, message),
    verifyMic: (ctx: Krb5Context, message: Buffer, mic: Buffer): boolean => native.gssVerifyMic(ctx, message, mic),
    release: (ctx: Krb5Context): void => { native.gssRelease(ctx) },
  }
}

/**
 * The Kerberos side of SESSION_SETUP for a configuration: the acceptor, the realm and the username
 * map (read now), or undefined (NTLMSSP only) when Kerberos is not configured or cannot work here,
 * which the log says.
 */
export function kerberosService (g: GlobalConfig, log: Pick<Logger, 'info' | 'warn'>): SpnegoKerberos | undefined {
  const k = g.kerberos
  if (k === undefined) return undefined
  const why = gssUnavailable(k.keytab)
  if (why !== undefined) {
    log.warn(`Kerberos not offered (NTLMSSP only): ${why}`)
    return undefined
  }
  let usernameMap: UsernameMapRule[] = []
  if (g.usernameMap !== '') {
    try {
      usernameMap = parseUsernameMap(readFileSync(g.usernameMap, 'utf8'))
    } catch (e) {
      log.warn(`username map ${g.usernameMap} unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): principals of realm ${k.realm} map by name only`)
    }
  }
  log.info(`Kerberos offered: keytab ${k.keytab === '' ? '(the library default)' : k.keytab}, service principal ${k.servicePrincipal === '' ? 'any in the keytab' : k.servicePrincipal}, users of realm ${k.realm}${usernameMap.length > 0 ? `, username map ${g.usernameMap} (${usernameMap.length} rules)` : ''}`)
  return { acceptor: gssAcceptor({ keytab: k.keytab, principal: k.servicePrincipal }), realm: k.realm, usernameMap }
}
