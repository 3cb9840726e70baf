// Composition root: reads configuration and accounts, builds the server state, starts the
// listeners. Holds no protocol logic.
import { existsSync, mkdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import type net from 'node:net'
import { defaultConfig, loadConfig, type Config } from './config/config.js'
import { readPwdDb, hashPassword } from './config/pwddb.js'
import { ServerState } from './smb2/server-state.js'
import { posixBackend } from './vfs/posix.js'
import { createLogger, type Logger, type LogComponent } from './control/log.js'
import { listenTcp } from './transport/tcp.js'
import { nativeAvailable, nativeLoadError } from './io/native.js'

export interface StartServerOptions {
  configPath?: string
  pwddbPath?: string
  port?: number
  /** Listen address; default: every interface, or the config's `interfaces`. */
  host?: string
  controlDir?: string
  useUring: boolean
  log: (line: string) => void
  /** Debug components enabled from the start (tests, `SMBTS_DEBUG=smb,auth`). */
  debug?: LogComponent[]
  /** Embedded default share directory when no config file is given. */
  defaultShareDir?: string
}

export interface RunningServer {
  readonly port: number
  readonly state: ServerState
  close (): Promise<void>
  reload (): Promise<void>
}

export const DEFAULT_SHARE_DIR = '/srv/smbts/share'
export const DEFAULT_USER = 'smbts'

function lowerKeys (m: Map<string, Buffer>): Map<string, Buffer> {
  return new Map([...m].map(([k, v]) => [k.toLowerCase(), v]))
}

/** No config file: one share and one user with a generated password, printed for the admin. */
function embeddedDefault (opts: StartServerOptions, log: Logger): { config: Config, accounts: Map<string, Buffer> } {
  const config = defaultConfig()
  const dir = opts.defaultShareDir ?? DEFAULT_SHARE_DIR
  mkdirSync(dir, { recursive: true })
  const share = parseShareDefaults(dir)
  config.shares.set('share', share)
  const password = randomBytes(12).toString('base64url')
  log.info('no config file: serving the embedded default')
  opts.log(`smbts: share "share" -> ${dir}`)
  opts.log(`smbts: user "${DEFAULT_USER}" password "${password}"`)
  return { config, accounts: new Map([[DEFAULT_USER, hashPassword(password)]]) }
}

function parseShareDefaults (dir: string): ReturnType<typeof defaultConfig>['shares'] extends Map<string, infer S> ? S : never {
  // The share section the config parser would build from "[share] path = DIR; read only = no".
  const { parseConfigText } = configModule
  const c = parseConfigText(`[share]\npath = ${dir}\nread only = no\n`)
  return c.shares.get('share')!
}

let configModule: typeof import('./config/config.js')

export async function startServer (opts: StartServerOptions): Promise<RunningServer> {
  configModule = await import('./config/config.js')
  const debug = opts.debug ?? (process.env.SMBTS_DEBUG?.split(',').filter(Boolean) as LogComponent[] | undefined) ?? []
  const log = createLogger(opts.log, debug)
  const load = (): { config: Config, accounts: Map<string, Buffer> } => {
    if (opts.configPath === undefined) return embeddedDefault(opts, log)
    const config = loadConfig(opts.configPath)
    for (const w of config.warnings) log.warn(w)
    const accounts = opts.pwddbPath !== undefined && existsSync(opts.pwddbPath) ? lowerKeys(readPwdDb(opts.pwddbPath)) : new Map<string, Buffer>()
    if (opts.pwddbPath !== undefined && !existsSync(opts.pwddbPath)) log.warn(`password db ${opts.pwddbPath} does not exist: no user can log in`)
    return { config, accounts }
  }
  const { config, accounts } = load()
  if (!nativeAvailable) {
    log.error(`native addon unavailable (${nativeLoadError?.message ?? 'not built'}): disk shares cannot be served; run npm run build`)
  }
  log.info(`transport: node:net (io_uring transport not built yet${opts.useUring ? '' : '; --no-uring given'}); file I/O: openat2 confinement through the native addon`)
  const state = new ServerState(config, accounts, posixBackend, log)
  const port = opts.port ?? config.global.tcpPort
  const hosts = opts.host !== undefined ? [opts.host] : config.global.bindInterfacesOnly && config.global.interfaces.length > 0 ? config.global.interfaces : ['::']
  const listeners: net.Server[] = []
  let bound = port
  for (const h of hosts) {
    const srv = await listenTcp(state, h, bound)
    const addr = srv.address()
    if (typeof addr === 'object' && addr !== null) bound = addr.port
    listeners.push(srv)
    log.info(`listening on ${h}:${bound}`)
  }
  for (const [, s] of config.shares) log.info(`share ${s.name} -> ${s.path}${s.readOnly ? ' (read only)' : ''}`)

  return {
    port: bound,
    state,
    async close () {
      await Promise.all(listeners.map(l => new Promise<void>((resolve) => {
        l.close(() => { resolve() })
        // Existing connections end with the process; close() only stops accepting.
      })))
    },
    async reload () {
      const next = load()
      state.setShares(next.config)
      state.accounts = next.accounts
      log.info(`reloaded: ${next.config.shares.size} shares, ${next.accounts.size} users`)
    },
  }
}
