// The one table of smb.conf parameters smbts understands, with ksmbd-tools' names and defaults
// (ksmbd.conf(5)), plus the Samba spellings of the same settings (smb.conf(5)) so that an
// existing ksmbd.conf or Samba smb.conf loads unchanged. Anything not in this table is an
// "unknown parameter" warning, never an error.
//
// Values are checked here (one function per value type); config.ts only maps the checked
// values onto the typed GlobalConfig/ShareConfig.

import { Dialect } from '../wire/constants.js'

/** What `server min protocol` and `server max protocol` name: an MS-SMB2 2.2.3 dialect, not the wildcard. */
export type ProtocolDialect = Exclude<Dialect, Dialect.SMB2_WILDCARD>

export type ParamType =
  | 'string' // free text, kept as given (trimmed)
  | 'bool' // yes/no, true/false, on/off, 1/0
  | 'int' // decimal integer within [min, max]
  | 'size' // integer with an optional K/M/G/T/P/E suffix (and optional trailing B/iB)
  | 'octal' // file mode bits, 0..07777
  | 'list' // users/hosts/names separated by commas, spaces or tabs; "quoted items" allowed
  | 'enum' // one of `values` (keys are accepted spellings, values are canonical)
  | 'protocol' // SMB2_02..SMB3_11 and their aliases
  | 'ports' // Samba's `smb ports`: a list of ports, the first one is used

export type ParamScope = 'global' | 'share'

export interface ParamDef {
  /** canonical spelling, as ksmbd-tools writes it */
  readonly name: string
  readonly scope: ParamScope
  readonly type: ParamType
  /** default as text, parsed like a value from a file (like ksmbd-tools' default tables) */
  readonly default: string
  /** other spellings (Samba's, or older ksmbd's). Whitespace and case never matter. */
  readonly aliases?: readonly string[]
  /** aliases meaning the boolean inverse (e.g. `writeable` for `read only`) */
  readonly inverseAliases?: readonly string[]
  readonly values?: Readonly<Record<string, string>>
  readonly min?: number
  readonly max?: number
  /** out-of-range values are clamped with a warning instead of being an error */
  readonly clamp?: boolean
}

export const KiB = 1024
export const MiB = 1024 * 1024

/** Our ceiling and default for smb2 max read/write (8 MiB; ksmbd defaults to 4 MiB), and the ceiling for max trans. */
export const MAX_IO_SIZE = 8 * MiB
/** MS-SMB2 3.3.5.4: a server supporting multi-credit must offer at least 64 KiB. */
export const MIN_IO_SIZE = 64 * KiB

// Samba's `server signing` spellings (smb.conf(5)) folded onto ksmbd's three values.
const SIGNING_VALUES: Record<string, string> = {
  disabled: 'disabled', no: 'disabled', off: 'disabled', false: 'disabled', 0: 'disabled',
  auto: 'auto', default: 'auto', if_required: 'auto', yes: 'auto', on: 'auto', true: 'auto',
  1: 'auto', enabled: 'auto', desired: 'auto',
  mandatory: 'mandatory', required: 'mandatory', force: 'mandatory', forced: 'mandatory',
  enforced: 'mandatory'
}

// ksmbd's `smb3 encryption` (disabled/auto/mandatory, older ksmbd used yes/no) and Samba's
// `server smb encrypt` (off/if_required/desired/required...) folded together. Samba's
// "desired" (encrypt when the client can) has no ksmbd equivalent and maps to auto.
const ENCRYPTION_VALUES: Record<string, string> = {
  disabled: 'disabled', no: 'disabled', off: 'disabled', false: 'disabled', 0: 'disabled',
  auto: 'auto', default: 'auto', if_required: 'auto', enabled: 'auto', desired: 'auto',
  yes: 'auto', on: 'auto', true: 'auto', 1: 'auto',
  mandatory: 'mandatory', required: 'mandatory', force: 'mandatory', forced: 'mandatory',
  enforced: 'mandatory'
}

const MAP_TO_GUEST_VALUES: Record<string, string> = {
  never: 'never',
  'bad user': 'bad user',
  // Samba only; more permissive than anything smbts does, so refused politely (see config.ts)
  'bad password': 'bad password',
  'bad uid': 'bad uid'
}

// Samba's `case sensitive` (smb.conf(5)): a boolean or `auto`. Samba's auto is case-sensitive only
// for SMB1 clients with the UNIX extensions; smbts speaks SMB2 without the POSIX extensions, so
// auto means insensitive, as Windows. (ksmbd has no such parameter: its lookups are always
// case-insensitive.)
const CASE_SENSITIVE_VALUES: Record<string, string> = {
  auto: 'auto', default: 'auto',
  yes: 'yes', true: 'yes', on: 'yes', 1: 'yes',
  no: 'no', false: 'no', off: 'no', 0: 'no'
}

// Samba's `kerberos method` (smb.conf(5)). `secrets only` (Samba's default) uses the machine
// account's secrets.tdb, which smbts has not got: it means no Kerberos here. `system keytab` is the
// default keytab of the Kerberos library (KRB5_KTNAME, else /etc/krb5.keytab).
const KERBEROS_METHOD_VALUES: Record<string, string> = {
  'secrets only': 'secrets only',
  'system keytab': 'system keytab',
  'dedicated keytab': 'dedicated keytab',
  'secrets and keytab': 'system keytab'
}

const g = (def: Omit<ParamDef, 'scope'>): ParamDef => ({ ...def, scope: 'global' })
const s = (def: Omit<ParamDef, 'scope'>): ParamDef => ({ ...def, scope: 'share' })

export const GLOBAL_PARAMS: readonly ParamDef[] = [
  g({ name: 'netbios name', type: 'string', default: 'SMBTS' }),
  g({ name: 'server string', type: 'string', default: 'SMB SERVER' }),
  g({ name: 'workgroup', type: 'string', default: 'WORKGROUP', aliases: ['domain'] }),
  g({ name: 'guest account', type: 'string', default: 'nobody' }),
  g({ name: 'map to guest', type: 'enum', default: 'never', values: MAP_TO_GUEST_VALUES }),
  g({ name: 'restrict anonymous', type: 'enum', default: '0', values: { 0: '0', 1: '1', 2: '2' } }),
  g({ name: 'server signing', type: 'enum', default: 'auto', values: SIGNING_VALUES }),
  g({
    name: 'smb3 encryption',
    type: 'enum',
    default: 'auto',
    values: ENCRYPTION_VALUES,
    aliases: ['server smb encrypt', 'smb encrypt']
  }),
  g({
    // Samba's name; the order is the server's preference among the ciphers a 3.1.1 client offers.
    name: 'server smb3 encryption algorithms',
    type: 'list',
    default: 'AES-128-GCM, AES-128-CCM, AES-256-GCM, AES-256-CCM',
    values: { 'aes-128-gcm': 'AES-128-GCM', 'aes-128-ccm': 'AES-128-CCM', 'aes-256-gcm': 'AES-256-GCM', 'aes-256-ccm': 'AES-256-CCM' },
    aliases: ['smb3 encryption algorithms']
  }),
  g({ name: 'server min protocol', type: 'protocol', default: 'SMB2_02', aliases: ['min protocol'] }),
  g({ name: 'server max protocol', type: 'protocol', default: 'SMB3_11', aliases: ['max protocol', 'protocol'] }),
  g({ name: 'smb2 max read', type: 'size', default: '8M', min: MIN_IO_SIZE, max: MAX_IO_SIZE, clamp: true }),
  g({ name: 'smb2 max write', type: 'size', default: '8M', min: MIN_IO_SIZE, max: MAX_IO_SIZE, clamp: true }),
  g({ name: 'smb2 max trans', type: 'size', default: '1M', min: MIN_IO_SIZE, max: MAX_IO_SIZE, clamp: true }),
  g({ name: 'smb2 max credits', type: 'size', default: '8192', min: 1, max: 65535 }),
  g({ name: 'smbd max io size', type: 'size', default: '8M', min: MIN_IO_SIZE, max: 16 * MiB, clamp: true }),
  g({ name: 'tcp port', type: 'int', default: '445', min: 1, max: 65535 }),
  g({ name: 'smb ports', type: 'ports', default: '445' }),
  g({ name: 'interfaces', type: 'list', default: '' }),
  g({ name: 'bind interfaces only', type: 'bool', default: 'no' }),
  // ksmbd: 0 means the maximum, 65536
  g({ name: 'max connections', type: 'size', default: '128', min: 0, max: 65536 }),
  g({ name: 'max active sessions', type: 'size', default: '1024', min: 1, max: 65536 }),
  g({ name: 'max open files', type: 'size', default: '10000', min: 1, max: 1 << 20 }),
  // Samba/ksmbd: minutes a connection with no open files may stay idle before it is dropped (0 = never).
  g({ name: 'deadtime', type: 'int', default: '0', min: 0, max: 0x7fffffff }),
  // smbts: seconds an authentication stays valid; then requests get STATUS_NETWORK_SESSION_EXPIRED
  // until the client re-authenticates (MS-SMB2 3.3.5.2.9). 0 = never (NTLM has no ticket lifetime).
  g({ name: 'session lifetime', type: 'int', default: '0', min: 0, max: 0x7fffffff }),
  // ksmbd-tools: connections one client address may hold at once (0 = no limit of its own). 64,
  // half the default `max connections`: a flood from one address then churns only its own slots
  // and never drops another address's connection mid-handshake (measured, README "Limits"); far
  // above what one client opens (Linux: one per server and user, a few more with nosharesock or
  // multichannel), and its unauthenticated connections make room for its new ones.
  g({ name: 'max ip connections', type: 'int', default: '64', min: 0, max: 65536 }),
  // smbts: µs the io_uring event loop keeps polling without sleeping after a wake-up, so a client
  // that waits for each reply has its next request taken without a sleep and a wake-up (adaptive:
  // windows that keep closing empty are seldom opened; src/io/ring.ts setBusyPoll). 0 = off.
  g({ name: 'busy poll', type: 'int', default: '100', min: 0, max: 1000000 }),
  // smbts: processes serving clients, each with its own io_uring ring, behind one port; a
  // supervisor holds the listeners and the BPF program that keeps a client on one worker. 64 is
  // SMBTS_MAX_WORKERS (bpf/steer.h). 0, the default: one per core (os.availableParallelism), and
  // one process when the native addon the workers share their store through is missing.
  g({ name: 'server workers', type: 'int', default: '0', min: 0, max: 64 }),
  // smbts: an HTTP endpoint serving the control mount's `metrics` (Prometheus text format) at
  // /metrics, as Samba 4.23's exporter does: `127.0.0.1:9922`, `[::1]:9922`. Empty (the default): off.
  g({ name: 'metrics listen', type: 'string', default: '' }),
  // smbts: seconds a connection may take to negotiate and authenticate; and the window in which a
  // message in progress, or replies piled up unread, must move at least 64 KiB (a client sending
  // a header a byte a second, or never reading its replies, is cut off; a slow link is not).
  g({ name: 'handshake timeout', type: 'int', default: '30', min: 1, max: 3600 }),
  g({ name: 'frame timeout', type: 'int', default: '30', min: 1, max: 3600 }),
  g({ name: 'ipc timeout', type: 'int', default: '0', min: 0, max: 0x7fffffff }),
  // Samba's default since 4.22 on Linux (ksmbd-tools: no): MULTI_CHANNEL offered to SMB 3.x
  // clients, which bind more connections to a session (session binding, per-channel signing
  // keys, a session outliving a lost channel, breaks on a live channel, replay detection). A client
  // binds only when it chooses to (Windows when the interface list says it gains; Linux cifs with
  // `-o multichannel`); nothing changes for one that does not.
  g({ name: 'server multi channel support', type: 'bool', default: 'yes' }),
  g({ name: 'durable handles', type: 'bool', default: 'yes' }),
  // smbts: where the records of persistent handles (shares with `continuous availability`) are
  // kept across a restart of the server (src/session/persistent.ts); made 0700, files 0600.
  g({ name: 'persistent handle directory', type: 'string', default: '/var/lib/smbts/persistent' }),
  // On by default, as ksmbd-tools 3.5.7 and Samba; off: no LEASING capability, RqLs ignored.
  g({ name: 'smb2 leases', type: 'bool', default: 'yes' }),
  // Samba's name: directory leases (v2 leases on directories, SMB 3.x) with `smb2 leases`. Off:
  // no DIRECTORY_LEASING capability, and a lease asked on a directory gets none.
  g({ name: 'smb3 directory leases', type: 'bool', default: 'yes' }),
  // Samba's name: the SMB 3.1.1 POSIX extensions (negotiate context, POSIX create context and
  // information level; src/smb2/posix.ts), offered to a 3.1.1 client that asks, as Samba 4.23
  // does by default. Off: the negotiate context is not answered, so no open is a POSIX one.
  g({ name: 'smb3 unix extensions', type: 'bool', default: 'yes' }),
  // Kerberos (SESSION_SETUP with krb5; src/auth/krb5.ts). ksmbd-tools names the keytab
  // `kerberos keytab file` and the acceptor principal `kerberos service name`; Samba names the
  // keytab `dedicated keytab file`, used when `kerberos method = dedicated keytab`. `realm` is the
  // realm whose principals are local users by the part before the `@` (`username map` maps others).
  g({ name: 'realm', type: 'string', default: '' }),
  g({ name: 'kerberos method', type: 'enum', default: '', values: KERBEROS_METHOD_VALUES }),
  g({ name: 'dedicated keytab file', type: 'string', default: '', aliases: ['kerberos keytab file'] }),
  g({ name: 'kerberos service name', type: 'string', default: '' }),
  g({ name: 'username map', type: 'string', default: '' }),
  g({ name: 'root directory', type: 'string', default: '' }),
  g({ name: 'share:fake_fscaps', type: 'int', default: '64', min: 0, max: 0xffffffff })
]

export const SHARE_PARAMS: readonly ParamDef[] = [
  s({ name: 'path', type: 'string', default: '', aliases: ['directory'] }),
  s({ name: 'comment', type: 'string', default: '' }),
  // Samba: the volume label clients see (FileFsVolumeInformation); empty: the share's name.
  s({ name: 'volume', type: 'string', default: '' }),
  s({ name: 'browseable', type: 'bool', default: 'yes', aliases: ['browsable'] }),
  s({ name: 'available', type: 'bool', default: 'yes' }),
  s({
    name: 'read only',
    type: 'bool',
    default: 'yes',
    inverseAliases: ['writeable', 'writable', 'write ok']
  }),
  s({ name: 'guest ok', type: 'bool', default: 'no', aliases: ['public'] }),
  s({ name: 'guest account', type: 'string', default: '' }),
  s({ name: 'valid users', type: 'list', default: '' }),
  s({ name: 'invalid users', type: 'list', default: '' }),
  s({ name: 'read list', type: 'list', default: '' }),
  s({ name: 'write list', type: 'list', default: '' }),
  s({ name: 'admin users', type: 'list', default: '' }),
  s({ name: 'hosts allow', type: 'list', default: '', aliases: ['allow hosts'] }),
  s({ name: 'hosts deny', type: 'list', default: '', aliases: ['deny hosts'] }),
  s({ name: 'create mask', type: 'octal', default: '0744', aliases: ['create mode'] }),
  s({ name: 'directory mask', type: 'octal', default: '0755', aliases: ['directory mode'] }),
  s({ name: 'force create mode', type: 'octal', default: '0000' }),
  s({ name: 'force directory mode', type: 'octal', default: '0000' }),
  s({ name: 'force user', type: 'string', default: '' }),
  s({ name: 'force group', type: 'string', default: '' }),
  s({ name: 'oplocks', type: 'bool', default: 'yes' }),
  // Samba's share parameter: no level II grants, and exclusive/batch breaks go to none.
  s({ name: 'level2 oplocks', type: 'bool', default: 'yes' }),
  s({ name: 'hide dot files', type: 'bool', default: 'yes' }),
  s({ name: 'veto files', type: 'string', default: '' }),
  // Samba also takes "windows and unix" / "unix only": both mean "inherit" here
  s({ name: 'inherit owner', type: 'bool', default: 'no' }),
  s({ name: 'follow symlinks', type: 'bool', default: 'no' }),
  // Samba's name handling (smb.conf(5) NAME MANGLING): lookups are case-insensitive unless
  // `case sensitive = yes`; a new name keeps the client's case unless `preserve case = no`,
  // which stores it in `default case`.
  s({ name: 'case sensitive', type: 'enum', default: 'auto', values: CASE_SENSITIVE_VALUES, aliases: ['casesignames'] }),
  s({ name: 'preserve case', type: 'bool', default: 'yes' }),
  s({ name: 'default case', type: 'enum', default: 'lower', values: { lower: 'lower', upper: 'upper' } }),
  s({ name: 'vfs objects', type: 'list', default: '' }),
  s({ name: 'store dos attributes', type: 'bool', default: 'yes' }),
  // smbts: metadata calls a local file system answers from memory made on the server's thread
  s({ name: 'inline metadata', type: 'bool', default: 'yes' }),
  // Samba's: READ data sent from the page cache without a copy (here: an unsigned, unencrypted
  // READ of 128 KiB or more on the io_uring path, spliced; src/transport/splice-pipes.ts). On by
  // default here (Samba's default is no): `use sendfile = no` copies it.
  s({ name: 'use sendfile', type: 'bool', default: 'yes' }),
  s({ name: 'max connections', type: 'size', default: '128', min: 0, max: 65536 }),
  s({ name: 'crossmnt', type: 'bool', default: 'yes' }),
  s({ name: 'smb3 encryption', type: 'enum', default: '', values: ENCRYPTION_VALUES, aliases: ['server smb encrypt', 'smb encrypt'] }),
  // ksmbd's: alternate data streams in user.DosStream.* xattrs (Samba's streams_xattr layout). On
  // by default here (ksmbd's default is no): `streams = no` refuses stream names.
  s({ name: 'streams', type: 'bool', default: 'yes' }),
  // Samba's: extended attributes (FileFullEaInformation, the ExtA create context) as user.<name>
  // xattrs; `ea support = no` answers STATUS_EAS_NOT_SUPPORTED, as Samba does.
  s({ name: 'ea support', type: 'bool', default: 'yes' }),
  // Samba's: per share, `no` makes the share ignore the POSIX create context (its opens are never
  // POSIX ones); in [global] it is the negotiation's switch (the global parameter above).
  s({ name: 'smb3 unix extensions', type: 'bool', default: 'yes' }),
  s({ name: 'acl xattr', type: 'bool', default: 'no' }),
  // Samba's: a DACL set without SE_DACL_AUTO_INHERIT_REQ loses SE_DACL_AUTO_INHERITED, as on
  // Windows (`yes`); `no` keeps the flag as the setter gave it (a copy of an ACL stays identical).
  s({ name: 'acl flag inherited canonicalization', type: 'bool', default: 'yes' }),
  // Samba's name: a continuously available share (MS-SMB2 3.3.1.6 Share.IsCA). Its opens asked
  // persistent (DH2Q with SMB2_DHANDLE_FLAG_PERSISTENT, SMB 3.x) outlive a restart of smbts itself.
  s({ name: 'continuous availability', type: 'bool', default: 'no' })
]

/** Samba's rule for matching parameter names: case and whitespace do not matter. */
export function normalizeKey (key: string): string {
  return key.toLowerCase().replace(/\s+/g, '')
}

export interface ParamMatch {
  def: ParamDef
  /** the value is the boolean inverse of def's (`writeable = yes` is `read only = no`) */
  inverse: boolean
}

function indexTable (table: readonly ParamDef[]): Map<string, ParamMatch> {
  const m = new Map<string, ParamMatch>()
  for (const def of table) {
    m.set(normalizeKey(def.name), { def, inverse: false })
    for (const a of def.aliases ?? []) m.set(normalizeKey(a), { def, inverse: false })
    for (const a of def.inverseAliases ?? []) m.set(normalizeKey(a), { def, inverse: true })
  }
  return m
}

const GLOBAL_INDEX = indexTable(GLOBAL_PARAMS)
const SHARE_INDEX = indexTable(SHARE_PARAMS)

export function lookupGlobalParam (key: string): ParamMatch | undefined {
  return GLOBAL_INDEX.get(normalizeKey(key))
}
export function lookupShareParam (key: string): ParamMatch | undefined {
  return SHARE_INDEX.get(normalizeKey(key))
}

// ---------------------------------------------------------------------------------------------
// Values

export type ParamValue = string | number | boolean | string[]

export type ValueResult =
  | { ok: true, value: ParamValue, text: string, warning?: string }
  | { ok: false, error: string }

const TRUE_WORDS = new Set(['yes', 'true', 'on', '1'])
const FALSE_WORDS = new Set(['no', 'false', 'off', '0'])

export function parseBool (v: string): boolean | undefined {
  const w = v.trim().toLowerCase()
  if (TRUE_WORDS.has(w)) return true
  if (FALSE_WORDS.has(w)) return false
  return undefined
}

const SUFFIX: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 }

/** `4M`, `4MB`, `4 MiB`, `65536`, `0x10000`. Returns undefined when not a size. */
export function parseSize (v: string): number | undefined {
  const t = v.trim()
  if (/^0x[0-9a-f]+$/i.test(t)) return Number.parseInt(t.slice(2), 16)
  const m = /^(\d+)\s*([kmgtpe])?(i?b)?$/i.exec(t)
  if (m === null) return undefined
  if (m[3] !== undefined && m[2] === undefined && m[3].toLowerCase() !== 'b') return undefined
  const n = Number.parseInt(m[1]!, 10)
  const exp = m[2] === undefined ? 0 : SUFFIX[m[2].toLowerCase()]!
  return n * 1024 ** exp
}

/**
 * Splits a Samba list: items separated by commas, spaces or tabs; an item may be put in double
 * quotes to hold spaces (`valid users = "domain user", bob`).
 */
export function parseList (v: string): string[] {
  const out: string[] = []
  const re = /"([^"]*)"|([^\s,"]+)/g
  let m: RegExpExecArray | null
  while ((m = re.exec(v)) !== null) {
    const item = m[1] ?? m[2] ?? ''
    if (item !== '') out.push(item)
  }
  return out
}

const PROTOCOLS: Record<string, ProtocolDialect> = {
  smb2_02: Dialect.SMB2_02,
  smb2_10: Dialect.SMB2_10,
  smb2: Dialect.SMB2_10, // Samba: "SMB2" selects the SMB2_10 variant
  smb3_00: Dialect.SMB3_00,
  smb3_02: Dialect.SMB3_02,
  smb3_11: Dialect.SMB3_11,
  smb3: Dialect.SMB3_11 // Samba: "SMB3" selects the SMB3_11 variant
}
// Samba's pre-release SMB 2.2/2.4 names for what became SMB 3.0
const OLD_SMB3_NAMES = new Set(['smb2_22', 'smb2_24'])
const SMB1_NAMES = new Set(['core', 'coreplus', 'lanman1', 'lanman2', 'nt1', 'smb1'])

export const DIALECT_NAMES: Readonly<Record<ProtocolDialect, string>> = {
  [Dialect.SMB2_02]: 'SMB2_02', [Dialect.SMB2_10]: 'SMB2_10', [Dialect.SMB3_00]: 'SMB3_00', [Dialect.SMB3_02]: 'SMB3_02', [Dialect.SMB3_11]: 'SMB3_11'
}

function parseProtocol (def: ParamDef, raw: string): ValueResult {
  const w = raw.trim().toLowerCase()
  if (w === 'default' || w === '') return parseValue(def, def.default)
  const d = PROTOCOLS[w]
  if (d !== undefined) return { ok: true, value: d, text: DIALECT_NAMES[d] }
  if (OLD_SMB3_NAMES.has(w)) {
    return { ok: true, value: Dialect.SMB3_00, text: 'SMB3_00', warning: `'${raw.trim()}' is an old name for SMB3_00` }
  }
  if (SMB1_NAMES.has(w)) {
    if (def.name === 'server min protocol') {
      return { ok: true, value: Dialect.SMB2_02, text: 'SMB2_02', warning: `SMB1 (${raw.trim()}) is not supported; using SMB2_02` }
    }
    return { ok: false, error: `SMB1 (${raw.trim()}) is not supported; '${def.name}' must be SMB2_02 or later` }
  }
  return { ok: false, error: `invalid value '${raw.trim()}' for '${def.name}' (expected SMB2_02, SMB2_10, SMB3_00, SMB3_02 or SMB3_11)` }
}

function inRange (def: ParamDef, n: number, raw: string): ValueResult {
  const min = def.min ?? 0
  const max = def.max ?? Number.MAX_SAFE_INTEGER
  if (n >= min && n <= max) return { ok: true, value: n, text: String(n) }
  if (def.clamp === true) {
    const c = n < min ? min : max
    return { ok: true, value: c, text: String(c), warning: `'${def.name}' = ${raw.trim()} is out of range [${min}, ${max}]; using ${c}` }
  }
  return { ok: false, error: `invalid value '${raw.trim()}' for '${def.name}' (must be between ${min} and ${max})` }
}

/** Checks and converts a value given for `def` (already un-inverted by the caller). */
export function parseValue (def: ParamDef, raw: string): ValueResult {
  const v = raw.trim()
  switch (def.type) {
    case 'string':
      return { ok: true, value: v, text: v }
    case 'bool': {
      let b = parseBool(v)
      if (b === undefined && def.name === 'inherit owner') {
        if (/^(windows\s+and\s+unix|unix\s+only)$/i.test(v)) b = true
      }
      if (b === undefined) return { ok: false, error: `invalid boolean '${v}' for '${def.name}' (expected yes or no)` }
      return { ok: true, value: b, text: b ? 'yes' : 'no' }
    }
    case 'int': {
      if (!/^-?\d+$/.test(v)) return { ok: false, error: `invalid number '${v}' for '${def.name}'` }
      return inRange(def, Number.parseInt(v, 10), v)
    }
    case 'size': {
      const n = parseSize(v)
      if (n === undefined) return { ok: false, error: `invalid number '${v}' for '${def.name}' (a number with an optional K, M or G suffix)` }
      return inRange(def, n, v)
    }
    case 'octal': {
      if (!/^[0-7]{1,5}$/.test(v) || Number.parseInt(v, 8) > 0o7777) {
        return { ok: false, error: `invalid mode '${v}' for '${def.name}' (an octal number such as 0755)` }
      }
      const n = Number.parseInt(v, 8)
      return { ok: true, value: n, text: '0' + n.toString(8).padStart(3, '0') }
    }
    case 'list': {
      const l = parseList(v)
      if (def.values !== undefined) {
        // A list of enum words (e.g. cipher names): every item must be one of them.
        const out: string[] = []
        for (const item of l) {
          const canon = def.values[item.toLowerCase()]
          if (canon === undefined) return { ok: false, error: `invalid value "${item}" for "${def.name}" (expected ${[...new Set(Object.values(def.values))].join(', ')})` }
          out.push(canon)
        }
        return { ok: true, value: out, text: v }
      }
      return { ok: true, value: l, text: v }
    }
    case 'enum': {
      if (v === '' && def.default === '') return { ok: true, value: '', text: '' }
      const key = v.toLowerCase().replace(/\s+/g, ' ')
      const c = def.values?.[key]
      if (c === undefined) {
        const canon = [...new Set(Object.values(def.values ?? {}))].join(', ')
        return { ok: false, error: `invalid value '${v}' for '${def.name}' (expected one of: ${canon})` }
      }
      return { ok: true, value: c, text: c }
    }
    case 'protocol':
      return parseProtocol(def, v)
    case 'ports': {
      const ports = parseList(v)
      const first = ports[0]
      if (first === undefined || ports.some((p) => !/^\d+$/.test(p) || +p < 1 || +p > 65535)) {
        return { ok: false, error: `invalid port list '${v}' for '${def.name}'` }
      }
      const warning = ports.length > 1 ? `smbts listens on one port; using ${first} from '${def.name}'` : undefined
      return warning === undefined
        ? { ok: true, value: +first, text: first }
        : { ok: true, value: +first, text: first, warning }
    }
  }
}

/** Checks `key = value` as given in a file: resolves aliases and inversions. */
export function checkParam (match: ParamMatch, raw: string): ValueResult {
  if (!match.inverse) return parseValue(match.def, raw)
  const b = parseBool(raw)
  if (b === undefined) return { ok: false, error: `invalid boolean '${raw.trim()}' for '${match.def.name}' (expected yes or no)` }
  return { ok: true, value: !b, text: !b ? 'yes' : 'no' }
}

/** Default value of a parameter, parsed. */
export function defaultValue (def: ParamDef): ParamValue {
  const r = parseValue(def, def.default)
  if (!r.ok) throw new Error(`bad default for '${def.name}': ${r.error}`)
  return r.value
}
