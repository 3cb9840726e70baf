// The typed configuration the server runs with, built from a parsed smb.conf/ksmbd.conf.
// Unknown parameters and Samba-only features warn; invalid values are errors, and any error
// makes loading fail with one `FILE:LINE: message` (ConfigError, code SMBTS_ERR_CONFIG).
import { readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { ConfigError, formatDiagnostic, type Diagnostic } from './errors.js'
import { NO_FILE, parseSmbConf, type Entry, type Section } from './parse.js'
import {
  GLOBAL_PARAMS, SHARE_PARAMS, checkParam, defaultValue, lookupGlobalParam, lookupShareParam,
  type ParamDef, type ParamValue, type ProtocolDialect
} from './params.js'

export type { ProtocolDialect } from './params.js'
export { ConfigError } from './errors.js'

export interface GlobalConfig {
  netbiosName: string; serverString: string; workgroup: string; guestAccount: string
  mapToGuest: 'never' | 'bad user'; restrictAnonymous: number
  serverSigning: 'disabled' | 'auto' | 'mandatory'
  smb3Encryption: 'disabled' | 'auto' | 'mandatory'
  /** Cipher names in the server's order of preference (server smb3 encryption algorithms). */
  encryptionAlgorithms: string[]
  minProtocol: ProtocolDialect; maxProtocol: ProtocolDialect
  maxRead: number; maxWrite: number; maxTrans: number; maxCredits: number
  tcpPort: number; interfaces: string[]; bindInterfacesOnly: boolean
  maxConnections: number; deadtime: number /* minutes, 0 = off */; maxOpenFiles: number
  /** `smb2 leases`: SMB2_GLOBAL_CAP_LEASING offered and RqLs contexts honoured. */
  smb2Leases: boolean
  /** `smb3 directory leases` (with smb2Leases): leases on directories, SMB 3.x. */
  smb3DirectoryLeases: boolean
  /** `server multi channel support`: SMB2_GLOBAL_CAP_MULTI_CHANNEL offered (3.x), sessions bind more connections. */
  serverMultiChannelSupport: boolean
  /** `smb3 unix extensions`: the SMB 3.1.1 POSIX extensions offered to a client that asks. */
  smb3UnixExtensions: boolean
  /** `durable handles`: DHnQ/DH2Q honoured (MS-SMB2 3.3.5.9.6/10), opens kept over a lost connection. */
  durableHandles: boolean
  /** `persistent handle directory`: where persistent handles' records live (src/session/persistent.ts). */
  persistentHandleDirectory: string
  sessionLifetime: number /* seconds, 0 = never */
  maxActiveSessions: number; maxIpConnections: number /* 0 = no per-address limit */
  busyPoll: number /* µs, 0 = off */
  /** Worker processes behind the port (1: no supervisor, one process). */
  serverWorkers: number
  /** `metrics listen`: host:port of the Prometheus endpoint, '' when off. */
  metricsListen: string
  handshakeTimeout: number; frameTimeout: number /* seconds */
  /** Kerberos logons (SESSION_SETUP with krb5): undefined when not configured. */
  kerberos?: KerberosConfig
  /** `username map`: the file mapping client names (Kerberos principals) to local users; '' for none. */
  usernameMap: string
  raw: Map<string, string>
}

export interface KerberosConfig {
  /** The realm whose principals are users by the part before the `@` (upper case). */
  realm: string
  /** The keytab the acceptor reads; '' for the Kerberos library's default (system keytab). */
  keytab: string
  /** The one service principal tickets must be for; '' for any key in the keytab. */
  servicePrincipal: string
}

export interface ShareConfig {
  name: string; path: string; comment: string; browseable: boolean; available: boolean
  /** The volume label clients see (Samba's `volume`; the share's name unless set). */
  volume: string
  readOnly: boolean; guestOk: boolean; validUsers: string[]; invalidUsers: string[]
  readList: string[]; writeList: string[]; adminUsers: string[]; hostsAllow: string[]; hostsDeny: string[]
  createMask: number; directoryMask: number; followSymlinks: boolean; oplocks: boolean; level2Oplocks: boolean
  /** Dot files are reported HIDDEN whatever their stored attributes say (Samba, ksmbd). */
  hideDotFiles: boolean
  /** DOS attributes and CreationTime/ChangeTime are kept in the user.DOSATTRIB xattr (Samba's and ksmbd's format, dos-xattr.ts). */
  storeDosAttributes: boolean
  /** Alternate data streams (`file:stream`), kept in user.DosStream.* xattrs as Samba's
   *  streams_xattr keeps them (src/vfs/streams.ts); `streams = no` refuses stream names. */
  streams: boolean
  /** Extended attributes (src/smb2/commands/ea-info.ts), kept as Samba keeps them: EA `NAME` in the
   *  `user.NAME` xattr; `ea support = no` refuses them (STATUS_EAS_NOT_SUPPORTED). */
  eaSupport: boolean
  /** `smb3 unix extensions` of the share: POSIX opens (src/smb2/posix.ts) on a connection that negotiated them. */
  smb3UnixExtensions: boolean
  /** smbts: opens, stats and closes a local file system answers from memory run on the server's
   *  thread (src/vfs/inline.ts); `inline metadata = no` sends them all to io_uring/the threadpool. */
  inlineMetadata: boolean
  /** READ data may go from the page cache to the socket without a copy (`use sendfile`; the
   *  io_uring transport splices it). */
  useSendfile: boolean
  /** Names are looked up exactly as given (`case sensitive = yes`); else case-insensitively. */
  caseSensitive: boolean
  /** A new name keeps the client's case (`preserve case`); else it is stored in `defaultCase`. */
  preserveCase: boolean
  defaultCase: 'lower' | 'upper'
  maxConnections: number; smb3Encryption: 'disabled' | 'auto' | 'mandatory' | undefined
  /** `continuous availability` (MS-SMB2 Share.IsCA): persistent handles are granted here. */
  continuousAvailability: boolean
  /** A DACL set without SE_DACL_AUTO_INHERIT_REQ loses SE_DACL_AUTO_INHERITED, as on Windows
   *  (Samba's `acl flag inherited canonicalization`, default yes); else the flag is kept as given. */
  aclFlagInheritedCanonicalization: boolean
  raw: Map<string, string>
}

export interface Config {
  global: GlobalConfig
  shares: Map<string /* lower-case name */, ShareConfig>
  warnings: string[]
  file?: string
}

/** ksmbd: KSMBD_REQ_MAX_SHARE_NAME is 64 bytes including the NUL. */
export const MAX_SHARE_NAME_BYTES = 63
/** `max connections = 0` means the most ksmbd allows. */
export const MAX_CONNECTIONS_LIMIT = 65536

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why `name` cannot be a share name (ksmbd-tools' rules), or undefined when it can. */
export function shareNameProblem (name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes === 0) return 'share name is empty'
  if (bytes > MAX_SHARE_NAME_BYTES) return `share name '${name}' is longer than ${MAX_SHARE_NAME_BYTES} bytes`
  // a lone surrogate cannot be encoded as UTF-8
  if (LONE_SURROGATE.test(name)) return `share name '${name}' is not valid UTF-8`
  for (const ch of name) {
    const c = ch.codePointAt(0)!
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) return `share name '${name}' contains a control character`
    if (ch === '[' || ch === ']') return `share name '${name}' contains '${ch}'`
  }
  const lower = name.toLowerCase()
  if (lower === 'global') return "'global' is the global section, not a share"
  if (lower === 'ipc$') return 'IPC$ is provided by the server and cannot be configured'
  return undefined
}

/** Sections Samba gives a special meaning that smbts does not implement. */
const SPECIAL_SECTIONS = new Set(['homes', 'printers'])

interface Slot { value: ParamValue, text: string, file: string, line: number }
type Slots = Map<string /* canonical name */, Slot>

function rawKey (key: string): string {
  return key.trim().toLowerCase().replace(/\s+/g, ' ')
}

class Builder {
  readonly diagnostics: Diagnostic[] = []

  warn (file: string, line: number, message: string): void {
    this.diagnostics.push({ severity: 'warning', file, line, message })
  }

  error (file: string, line: number, message: string): void {
    this.diagnostics.push({ severity: 'error', file, line, message })
  }

  /** Checks one entry and stores it in `slots` under the canonical name. */
  store (slots: Slots, raw: Map<string, string>, def: ParamDef, inverse: boolean, e: Entry): void {
    const r = checkParam({ def, inverse }, e.value)
    if (!r.ok) {
      this.error(e.file, e.line, r.error)
      return
    }
    if (r.warning !== undefined) this.warn(e.file, e.line, r.warning)
    // `smb ports` (Samba) and `tcp port` (ksmbd) set the same thing: the last one wins
    const name = def.name === 'smb ports' ? 'tcp port' : def.name
    slots.set(name, { value: r.value, text: r.text, file: e.file, line: e.line })
    raw.set(name, inverse ? r.text : e.value)
  }
}

function defaults (table: readonly ParamDef[]): Slots {
  const m: Slots = new Map()
  for (const def of table) m.set(def.name, { value: defaultValue(def), text: def.default, file: '', line: 0 })
  return m
}

const str = (s: Slots, k: string): string => s.get(k)!.value as string
const num = (s: Slots, k: string): number => s.get(k)!.value as number
const bool = (s: Slots, k: string): boolean => s.get(k)!.value as boolean
const list = (s: Slots, k: string): string[] => [...(s.get(k)!.value as string[])]

function buildGlobal (b: Builder, entries: Entry[], shareDefaults: Slots, shareDefaultsRaw: Map<string, string>): GlobalConfig {
  const slots = defaults(GLOBAL_PARAMS)
  const raw = new Map<string, string>()
  for (const e of entries) {
    const g = lookupGlobalParam(e.key)
    if (g !== undefined) {
      b.store(slots, raw, g.def, g.inverse, e)
      continue
    }
    // a share parameter in [global] sets the default for every share
    const s = lookupShareParam(e.key)
    if (s !== undefined) {
      b.store(shareDefaults, shareDefaultsRaw, s.def, s.inverse, e)
      continue
    }
    b.warn(e.file, e.line, `unknown parameter '${e.key}' ignored`)
    raw.set(rawKey(e.key), e.value)
  }

  let mapToGuest = str(slots, 'map to guest')
  if (mapToGuest !== 'never' && mapToGuest !== 'bad user') {
    const at = slots.get('map to guest')!
    b.warn(at.file, at.line, `'map to guest = ${mapToGuest}' is not supported; using 'never'`)
    mapToGuest = 'never'
  }

  const min = slots.get('server min protocol')!
  const max = slots.get('server max protocol')!
  if ((min.value as number) > (max.value as number)) {
    const at = max.line >= min.line ? max : min
    b.error(at.file || NO_FILE, at.line, `server min protocol ${min.text} is above server max protocol ${max.text}`)
  }

  const maxConnections = num(slots, 'max connections')
  return {
    kerberos: kerberosConfig(b, slots),
    usernameMap: str(slots, 'username map'),
    netbiosName: str(slots, 'netbios name'),
    serverString: str(slots, 'server string'),
    workgroup: str(slots, 'workgroup'),
    guestAccount: str(slots, 'guest account'),
    mapToGuest: mapToGuest as 'never' | 'bad user',
    restrictAnonymous: Number(str(slots, 'restrict anonymous')),
    serverSigning: str(slots, 'server signing') as GlobalConfig['serverSigning'],
    smb3Encryption: str(slots, 'smb3 encryption') as GlobalConfig['smb3Encryption'],
    encryptionAlgorithms: list(slots, 'server smb3 encryption algorithms'),
    minProtocol: min.value as ProtocolDialect,
    maxProtocol: max.value as ProtocolDialect,
    maxRead: num(slots, 'smb2 max read'),
    maxWrite: num(slots, 'smb2 max write'),
    maxTrans: num(slots, 'smb2 max trans'),
    maxCredits: num(slots, 'smb2 max credits'),
    tcpPort: num(slots, 'tcp port'),
    interfaces: list(slots, 'interfaces'),
    bindInterfacesOnly: bool(slots, 'bind interfaces only'),
    maxConnections: maxConnections === 0 ? MAX_CONNECTIONS_LIMIT : maxConnections,
    deadtime: num(slots, 'deadtime'),
    sessionLifetime: num(slots, 'session lifetime'),
    maxOpenFiles: num(slots, 'max open files'),
    smb2Leases: bool(slots, 'smb2 leases'),
    smb3DirectoryLeases: bool(slots, 'smb3 directory leases'),
    serverMultiChannelSupport: bool(slots, 'server multi channel support'),
    smb3UnixExtensions: bool(slots, 'smb3 unix extensions'),
    durableHandles: bool(slots, 'durable handles'),
    persistentHandleDirectory: str(slots, 'persistent handle directory'),
    maxActiveSessions: num(slots, 'max active sessions'),
    maxIpConnections: num(slots, 'max ip connections'),
    busyPoll: num(slots, 'busy poll'),
    serverWorkers: num(slots, 'server workers'),
    metricsListen: str(slots, 'metrics listen').trim(),
    handshakeTimeout: num(slots, 'handshake timeout'),
    frameTimeout: num(slots, 'frame timeout'),
    raw
  }
}

/**
 * Kerberos is offered when a keytab is named: `kerberos method = dedicated keytab` with its
 * `dedicated keytab file` (Samba), or `kerberos keytab file` alone (ksmbd-tools), or
 * `kerberos method = system keytab`. It needs `realm`: without it no principal could be mapped.
 */
function kerberosConfig (b: Builder, slots: Slots): KerberosConfig | undefined {
  const method = str(slots, 'kerberos method')
  const keytab = str(slots, 'dedicated keytab file')
  const at = slots.get('kerberos method')!.line > 0 ? slots.get('kerberos method')! : slots.get('dedicated keytab file')!
  let use: string | undefined
  if (method === 'dedicated keytab') {
    if (keytab === '') {
      b.warn(at.file, at.line, "'kerberos method = dedicated keytab' without 'dedicated keytab file': Kerberos is not offered")
      return undefined
    }
    use = keytab
  } else if (method === 'system keytab') {
    use = keytab
  } else if (method === '' && keytab !== '') {
    use = keytab
  } else if (method === 'secrets only' && keytab !== '') {
    b.warn(at.file, at.line, "'kerberos method = secrets only' (no machine account secrets here): the keytab is not used, Kerberos is not offered")
  }
  if (use === undefined) return undefined
  const realm = str(slots, 'realm').toUpperCase()
  if (realm === '') {
    b.warn(at.file, at.line, "a Kerberos keytab without 'realm': Kerberos is not offered (set the realm whose principals are users here)")
    return undefined
  }
  if (use !== '' && !isAbsolute(use)) {
    const k = slots.get('dedicated keytab file')!
    b.error(k.file, k.line, `keytab '${use}' must be an absolute path`)
    return undefined
  }
  return { realm, keytab: use, servicePrincipal: str(slots, 'kerberos service name') }
}

function buildShare (
  b: Builder, name: string, sec: { file: string, line: number, entries: Entry[] },
  shareDefaults: Slots, shareDefaultsRaw: Map<string, string>, rootDirectory: string
): ShareConfig | undefined {
  const slots: Slots = new Map(shareDefaults)
  const raw = new Map(shareDefaultsRaw)
  for (const e of sec.entries) {
    const s = lookupShareParam(e.key)
    if (s !== undefined) {
      b.store(slots, raw, s.def, s.inverse, e)
      continue
    }
    if (lookupGlobalParam(e.key) !== undefined) {
      b.warn(e.file, e.line, `global parameter '${e.key}' in share [${name}] ignored`)
      continue
    }
    b.warn(e.file, e.line, `unknown parameter '${e.key}' in share [${name}] ignored`)
    raw.set(rawKey(e.key), e.value)
  }

  let path = str(slots, 'path')
  if (path === '') {
    b.warn(sec.file, sec.line, `share [${name}] has no path; share ignored`)
    return undefined
  }
  if (path.includes('%')) {
    b.warn(slots.get('path')!.file, slots.get('path')!.line, `share [${name}]: substitutions in path are not supported; share ignored`)
    return undefined
  }
  if (!isAbsolute(path)) {
    const at = slots.get('path')!
    b.error(at.file, at.line, `path '${path}' of share [${name}] must be absolute`)
    return undefined
  }
  if (rootDirectory !== '') path = join(rootDirectory, path)

  const maxConnections = num(slots, 'max connections')
  const enc = str(slots, 'smb3 encryption')
  return {
    name,
    path,
    comment: str(slots, 'comment'),
    volume: str(slots, 'volume') !== '' ? str(slots, 'volume') : name,
    browseable: bool(slots, 'browseable'),
    available: bool(slots, 'available'),
    readOnly: bool(slots, 'read only'),
    guestOk: bool(slots, 'guest ok'),
    validUsers: list(slots, 'valid users'),
    invalidUsers: list(slots, 'invalid users'),
    readList: list(slots, 'read list'),
    writeList: list(slots, 'write list'),
    adminUsers: list(slots, 'admin users'),
    hostsAllow: list(slots, 'hosts allow'),
    hostsDeny: list(slots, 'hosts deny'),
    createMask: num(slots, 'create mask'),
    directoryMask: num(slots, 'directory mask'),
    followSymlinks: bool(slots, 'follow symlinks'),
    oplocks: bool(slots, 'oplocks'),
    hideDotFiles: bool(slots, 'hide dot files'),
    storeDosAttributes: bool(slots, 'store dos attributes'),
    streams: bool(slots, 'streams'),
    eaSupport: bool(slots, 'ea support'),
    smb3UnixExtensions: bool(slots, 'smb3 unix extensions'),
    inlineMetadata: bool(slots, 'inline metadata'),
    useSendfile: bool(slots, 'use sendfile'),
    level2Oplocks: bool(slots, 'level2 oplocks'),
    caseSensitive: str(slots, 'case sensitive') === 'yes',
    preserveCase: bool(slots, 'preserve case'),
    defaultCase: str(slots, 'default case') === 'upper' ? 'upper' : 'lower',
    maxConnections: maxConnections === 0 ? MAX_CONNECTIONS_LIMIT : maxConnections,
    smb3Encryption: enc === '' ? undefined : enc as 'disabled' | 'auto' | 'mandatory',
    continuousAvailability: bool(slots, 'continuous availability'),
    aclFlagInheritedCanonicalization: bool(slots, 'acl flag inherited canonicalization'),
    raw
  }
}

/** Builds the typed configuration from parsed sections; throws ConfigError on any error. */
export function buildConfig (sections: Section[], syntax: Diagnostic[], file?: string): Config {
  const b = new Builder()
  b.diagnostics.push(...syntax)

  // Samba merges repeated sections; so do we (later values win)
  const globalEntries: Entry[] = []
  const shareSections = new Map<string, { name: string, file: string, line: number, entries: Entry[] }>()
  for (const sec of sections) {
    const lower = sec.name.toLowerCase()
    if (lower === 'global') {
      globalEntries.push(...sec.entries)
      continue
    }
    if (SPECIAL_SECTIONS.has(lower)) {
      b.warn(sec.file, sec.line, `special section [${sec.name}] is not supported; ignored`)
      continue
    }
    const problem = shareNameProblem(sec.name)
    if (problem !== undefined) {
      if (lower === 'ipc$') b.warn(sec.file, sec.line, `${problem}; section ignored`)
      else b.error(sec.file, sec.line, problem)
      continue
    }
    const prev = shareSections.get(lower)
    if (prev !== undefined) prev.entries.push(...sec.entries)
    else shareSections.set(lower, { name: sec.name, file: sec.file, line: sec.line, entries: [...sec.entries] })
  }

  const shareDefaults = defaults(SHARE_PARAMS)
  const shareDefaultsRaw = new Map<string, string>()
  const global = buildGlobal(b, globalEntries, shareDefaults, shareDefaultsRaw)
  const rootDirectory = global.raw.get('root directory') ?? ''

  const shares = new Map<string, ShareConfig>()
  for (const [lower, sec] of shareSections) {
    const share = buildShare(b, sec.name, sec, shareDefaults, shareDefaultsRaw, rootDirectory)
    if (share !== undefined) shares.set(lower, share)
  }

  const errors = b.diagnostics.filter((d) => d.severity === 'error')
  if (errors.length > 0) throw ConfigError.from(errors)
  const warnings = b.diagnostics.filter((d) => d.severity === 'warning').map(formatDiagnostic)
  const config: Config = { global, shares, warnings }
  if (file !== undefined) config.file = file
  return config
}

export function parseConfigText (text: string, file?: string, readInclude?: (path: string) => string): Config {
  const opts = readInclude === undefined ? {} : { readInclude }
  const parsed = parseSmbConf(text, file, opts)
  return buildConfig(parsed.sections, parsed.diagnostics, file)
}

export function loadConfig (file: string): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message
    throw new ConfigError(`${file}: cannot read configuration: ${why}`)
  }
  return parseConfigText(text, file)
}

export function defaultConfig (): Config {
  return parseConfigText('')
}
