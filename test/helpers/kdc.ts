// A private Kerberos realm for tests (FIELD-NOTES "Kerberos with a private KDC"): MIT krb5kdc as a
// plain process on a free loopback port, its database, krb5.conf, keytab, credential caches and
// replay cache all in one temporary directory, reached through KRB5_CONFIG, KRB5_KDC_PROFILE,
// KRB5CCNAME, KRB5_KTNAME and KRB5RCACHENAME. Nothing under /etc is read or written.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './cli-server.js'
import { run } from './live.js'

export const REALM = 'SMBTS.TEST'
/** The host name clients ask for: the service principal is cifs/<HOST>. */
export const HOST = 'smbts.test'
export const SERVICE = `cifs/${HOST}`

const TOOLS = ['/usr/sbin/krb5kdc', '/usr/sbin/kdb5_util', '/usr/sbin/kadmin.local', '/usr/bin/kinit', '/usr/bin/kvno']

/** Why a test realm cannot be made here (the Debian packages of scripts/setup.sh), or undefined. */
export function kdcMissing (): string | undefined {
  const absent = TOOLS.filter(t => !existsSync(t))
  return absent.length > 0 ? `MIT Kerberos not installed (no ${absent.join(', ')}; scripts/setup.sh installs krb5-kdc krb5-admin-server krb5-user)` : undefined
}

export interface TestRealm {
  dir: string
  port: number
  /** The service keytab (cifs/smbts.test and cifs/other.test... as asked). */
  keytab: string
  /** Environment for clients and the server: KRB5_CONFIG and the replay cache in `dir`. */
  env: NodeJS.ProcessEnv
  /** Adds a user principal with a password. */
  addUser (name: string, password: string): Promise<void>
  /** Adds a service principal (random key); `keytab` also writes it to that keytab file. */
  addService (name: string, keytab?: string): Promise<void>
  /** kinit into a ccache of its own; returns its environment (KRB5CCNAME set). */
  kinit (name: string, password: string, ccache: string, opts?: string[]): Promise<NodeJS.ProcessEnv>
  stop (): Promise<void>
}

async function must (cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  const r = await run(cmd, args, { env, timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) })
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** Makes the realm and starts its KDC; `services` get keys in `keytab`. */
export async function startRealm (services: string[] = [SERVICE]): Promise<TestRealm> {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-krb5-'))
  const port = await freePort()
  const conf = join(dir, 'krb5.conf')
  const kdcConf = join(dir, 'kdc.conf')
  const keytab = join(dir, 'service.keytab')
  writeFileSync(conf, [
    '[libdefaults]',
    `  default_realm = ${REALM}`,
    '  dns_lookup_kdc = false',
    '  dns_lookup_realm = false',
    '  rdns = false',
    '  dns_canonicalize_hostname = false',
    '  udp_preference_limit = 1',
    '[realms]',
    `  ${REALM} = {`,
    `    kdc = 127.0.0.1:${port}`,
    '  }',
    '[domain_realm]',
    `  ${HOST} = ${REALM}`,
    '  .test = SMBTS.TEST',
    '',
  ].join('\n'))
  writeFileSync(kdcConf, [
    '[kdcdefaults]',
    `  kdc_listen = 127.0.0.1:${port}`,
    `  kdc_tcp_listen = 127.0.0.1:${port}`,
    '[realms]',
    `  ${REALM} = {`,
    `    database_name = ${join(dir, 'principal')}`,
    `    key_stash_file = ${join(dir, 'stash')}`,
    `    acl_file = ${join(dir, 'kadm5.acl')}`,
    '    max_life = 10h 0m 0s',
    '  }',
    '[logging]',
    `  kdc = FILE:${join(dir, 'kdc.log')}`,
    '',
  ].join('\n'))
  const env: NodeJS.ProcessEnv = {
    KRB5_CONFIG: conf,
    KRB5_KDC_PROFILE: kdcConf,
    KRB5CCNAME: `FILE:${join(dir, 'ccache')}`,
    KRB5_KTNAME: `FILE:${keytab}`,
    KRB5RCACHENAME: `file2:${join(dir, 'rcache')}`,
  }
  let kdc: ChildProcess | undefined
  const stop = async (): Promise<void> => {
    if (kdc !== undefined && kdc.exitCode === null && kdc.signalCode === null) {
      const gone = new Promise(resolve => kdc!.once('exit', resolve))
      kdc.kill('SIGTERM')
      await gone
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const kadmin = (q: string): Promise<string> => must('/usr/sbin/kadmin.local', ['-r', REALM, '-q', q], env)
  const addService = async (name: string, kt = keytab): Promise<void> => {
    // +no_auth_data_required: no PAC in its tickets, as a standalone Samba needs (FIELD-NOTES).
    await kadmin(`addprinc -randkey +no_auth_data_required ${name}`)
    await kadmin(`ktadd -k ${kt} ${name}`)
  }
  try {
    await must('/usr/sbin/kdb5_util', ['create', '-s', '-r', REALM, '-P', randomBytes(12).toString('hex')], env)
    for (const s of services) await addService(s)
    kdc = spawn('/usr/sbin/krb5kdc', ['-n', '-r', REALM, '-P', join(dir, 'kdc.pid')], { env: { ...process.env, ...env }, stdio: 'ignore' })
    process.once('exit', () => { kdc?.kill('SIGKILL') })
    // Ready once it answers: a kinit with a wrong password gets a KDC reply (not "cannot contact").
    await kadmin('addprinc -pw probe-pass probe')
    for (let i = 0; ; i++) {
      const r = await run('/usr/bin/kinit', ['probe'], { env: { ...env, KRB5CCNAME: `FILE:${join(dir, 'probe.cc')}` }, input: 'probe-pass\n', timeoutMs: 10_000 })
      if (r.code === 0) break
      if (i > 100 || kdc.exitCode !== null) throw new Error(`the test KDC does not answer: ${r.stderr}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  } catch (e) {
    await stop()
    throw e
  }
  return {
    dir, port, keytab, env, stop, addService,
    async addUser (name, password) { await kadmin(`addprinc -pw ${password} ${name}`) },
    async kinit (name, password, ccache, opts = []) {
      const cenv = { ...env, KRB5CCNAME: `FILE:${join(dir, ccache)}` }
      await must('/usr/bin/kinit', [...opts, name], cenv, `${password}\n`)
      return cenv
    },
  }
}

/** Puts a ticket for `service` into the ccache of `env` (kvno): impacket asks no KDC but one on port 88. */
export function kvno (env: NodeJS.ProcessEnv, service = SERVICE): void {
  const r = spawnSync('/usr/bin/kvno', [service], { env: { ...process.env, ...env }, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`kvno ${service}: ${r.stderr}`)
}
