// srvsvc (MS-SRVS), the calls a browsing client makes: NetrShareEnum (opnum 15), NetrShareGetInfo
// (16), NetrShareCheck (20), NetrServerGetInfo (21), NetrRemoteTOD (28) and NetrShareEnumSticky
// (36). Everything else is out of range (a fault, not a crash).
import { uptime } from 'node:os'
import { NdrError, NdrReader, NdrWriter } from './ndr.js'
import { PLATFORM_ID_NT, SType, WErr, type RpcEnv, type RpcInterface, type RpcShare } from './service.js'

/** MS-SRVS 1.9: interface 4b324fc8-1670-01d3-1278-5a47bf6ee188 version 3.0. */
export const SRVSVC_SYNTAX = { uuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', version: 3 }

export const SrvsvcOpnum = { NetrShareEnum: 15, NetrShareGetInfo: 16, NetrShareCheck: 20, NetrServerGetInfo: 21, NetrRemoteTOD: 28, NetrShareEnumSticky: 36 } as const

/** MS-SRVS 2.2.2.? SV_TYPE_* bits this server announces: a workstation and server, NT-class, Unix. */
export const SV_TYPE = { WORKSTATION: 0x1, SERVER: 0x2, SERVER_UNIX: 0x800, NT: 0x1000, SERVER_NT: 0x8000 } as const
const SERVER_TYPE = SV_TYPE.WORKSTATION | SV_TYPE.SERVER | SV_TYPE.SERVER_UNIX | SV_TYPE.NT | SV_TYPE.SERVER_NT
/** The OS version reported to clients (what Samba and Windows 7/2008 R2 report). */
export const SERVER_VERSION = { major: 6, minor: 1 }

// The levels each union has an arm for (MS-SRVS 2.2.3.? SHARE_ENUM_UNION, SHARE_INFO, SERVER_INFO):
// an arm we do not fill is sent as a NULL pointer, a level with no arm as the discriminant alone.
const SHARE_ENUM_ARMS = new Set([0, 1, 2, 501, 502, 503])
const SHARE_INFO_ARMS = new Set([0, 1, 2, 501, 502, 503, 1004, 1005, 1006, 1501])
const SERVER_INFO_ARMS = new Set([100, 101, 102, 103, 502, 503, 599, 1005, 1107, 1010, 1016, 1017, 1018, 1501, 1502, 1503, 1506, 1510, 1511, 1512, 1513, 1514, 1515, 1516, 1518, 1523, 1528, 1529, 1530, 1533, 1534, 1535, 1536, 1538, 1539, 1540, 1541, 1542, 1543, 1544, 1545, 1546, 1547, 1548, 1549, 1550, 1552, 1553, 1554, 1555, 1556])

/** Samba shows the local path as a DOS path for older Windows dialogs: `C:` + path with `\`. */
const dosPath = (p: string): string => p === '' ? '' : 'C:' + p.replaceAll('/', '\\')

// ---- SHARE_INFO_x (MS-SRVS 2.2.4.22-2.2.4.29): scalars in place, strings deferred ----

function writeShareInfo (w: NdrWriter, level: number, s: RpcShare): void {
  switch (level) {
    case 0:
      w.wstringPtr(s.name)
      break
    case 1:
      w.wstringPtr(s.name).u32(s.type).wstringPtr(s.comment)
      break
    case 2:
      w.wstringPtr(s.name).u32(s.type).wstringPtr(s.comment)
      w.u32(0) // shi2_permissions: share-level permissions are not used
      w.u32(s.maxUses === 0 ? 0xffffffff : s.maxUses)
      w.u32(s.currentUses)
      w.wstringPtr(dosPath(s.path))
      w.wstringPtr(null) // shi2_passwd
      break
    case 502:
      // MS-SRVS 2.2.4.26 SHARE_INFO_502_I: level 2, then the security descriptor (none sent:
      // the share has no share-level ACL).
      writeShareInfo(w, 2, s)
      w.u32(0) // shi502_reserved: length of the security descriptor
      w.pointer(null, () => {}) // shi502_security_descriptor
      break
    case 501:
      w.wstringPtr(s.name).u32(s.type).wstringPtr(s.comment)
      w.u32(0) // shi501_flags: CSC manual caching (MS-SRVS 2.2.4.? SHI1005_FLAGS)
      break
    case 1005:
      w.u32(0) // shi1005_flags
      break
    default:
      throw new Error(`writeShareInfo: level ${level}`)
  }
}

const ENUM_LEVELS = new Set([0, 1, 2, 501, 502])
const GETINFO_LEVELS = new Set([0, 1, 2, 501, 502, 1005])

function readServerName (r: NdrReader): string | null {
  const p = r.wstringPtr()
  r.flush()
  return p.value
}

/**
 * NetrShareEnum (MS-SRVS 3.1.4.8; Samba's NetShareEnumAll): all browseable, available shares,
 * IPC$ and other `$` shares included. NetrShareEnumSticky (3.1.4.9; Samba's NetShareEnum, what
 * `rpcclient netshareenum` calls): the same without the special (`$`) ones, as Samba answers.
 */
async function netrShareEnum (stub: Buffer, env: RpcEnv, special = true): Promise<Buffer> {
  const r = new NdrReader(stub)
  readServerName(r)
  // [in, out] LPSHARE_ENUM_STRUCT InfoStruct: Level, then the union (discriminant + arm pointer).
  const level = r.u32()
  const sw = r.u32()
  if (sw !== level) throw new NdrError(`SHARE_ENUM_STRUCT: switch ${sw} != level ${level}`)
  if (SHARE_ENUM_ARMS.has(sw)) {
    r.pointer(rr => {
      rr.u32() // EntriesRead
      const buf = rr.u32()
      if (buf !== 0) throw new NdrError('SHARE_ENUM_STRUCT: the client sent entries')
    })
  }
  r.flush()
  r.u32() // PreferedMaximumLength: everything fits in one answer
  const resume = r.pointer(rr => rr.u32())
  r.flush()

  const all = (await env.shares()).filter(s => s.browseable && s.available && (special || (s.type & SType.SPECIAL) === 0))
  const start = Math.min(resume.value ?? 0, all.length)
  const shares = all.slice(start)
  const w = new NdrWriter()
  w.u32(level).u32(level)
  let status: number = WErr.OK
  if (ENUM_LEVELS.has(level)) {
    w.pointer(shares, (w, list) => {
      w.u32(list.length)
      w.pointer(list, (w, l) => w.conformantArray(l, (w, s) => writeShareInfo(w, level, s)))
    })
  } else {
    if (SHARE_ENUM_ARMS.has(level)) w.u32(0)
    status = WErr.INVALID_LEVEL
  }
  w.flush()
  w.u32(status === WErr.OK ? all.length : 0) // TotalEntries
  w.pointer(resume.value, (w) => w.u32(0)) // ResumeHandle: all entries were returned
  w.flush()
  w.u32(status)
  return w.finish()
}

/** NetrShareGetInfo (MS-SRVS 3.1.4.10): hidden (non-browseable) shares are found by name too. */
async function netrShareGetInfo (stub: Buffer, env: RpcEnv): Promise<Buffer> {
  const r = new NdrReader(stub)
  readServerName(r)
  const netName = r.wstring()
  const level = r.u32()
  const share = (await env.shares()).find(s => s.available && s.name.toLowerCase() === netName.toLowerCase())
  const w = new NdrWriter()
  w.u32(level)
  let status: number = WErr.OK
  if (!GETINFO_LEVELS.has(level)) status = WErr.INVALID_LEVEL
  else if (share === undefined) status = WErr.NET_NAME_NOT_FOUND
  if (status === WErr.OK) w.pointer(share, (w, s) => writeShareInfo(w, level, s))
  else if (SHARE_INFO_ARMS.has(level)) w.u32(0)
  w.flush()
  w.u32(status)
  return w.finish()
}

/** NetrServerGetInfo (MS-SRVS 3.1.4.17) levels 100, 101, 102 (MS-SRVS 2.2.4.40-2.2.4.42). */
async function netrServerGetInfo (stub: Buffer, env: RpcEnv): Promise<Buffer> {
  const r = new NdrReader(stub)
  readServerName(r)
  const level = r.u32()
  const info = await env.server()
  const w = new NdrWriter()
  w.u32(level)
  if (level === 100 || level === 101 || level === 102) {
    w.pointer(level, (w, lv) => {
      w.u32(PLATFORM_ID_NT).wstringPtr(info.netbiosName)
      if (lv === 100) return
      w.u32(SERVER_VERSION.major).u32(SERVER_VERSION.minor).u32(SERVER_TYPE).wstringPtr(info.serverString)
      if (lv === 101) return
      w.u32(0xffffffff) // sv102_users: no limit
      w.i32(-1) // sv102_disc: no auto-disconnect
      w.u32(0) // sv102_hidden: visible
      w.u32(240) // sv102_announce, seconds (the Windows default)
      w.u32(3000) // sv102_anndelta, milliseconds
      w.u32(100000) // sv102_licenses
      w.wstringPtr('C:\\') // sv102_userpath
    })
    w.flush()
    w.u32(WErr.OK)
  } else {
    if (SERVER_INFO_ARMS.has(level)) w.u32(0)
    w.u32(WErr.INVALID_LEVEL)
  }
  return w.finish()
}

/**
 * NetrShareCheck (MS-SRVS 3.1.4.16): whether a device (a local path, or its `C:\...` form) is
 * shared, and as what type.
 */
async function netrShareCheck (stub: Buffer, env: RpcEnv): Promise<Buffer> {
  const r = new NdrReader(stub)
  readServerName(r)
  const device = r.wstring().replace(/[\\/]+$/, '').toLowerCase()
  const share = (await env.shares()).find(s => s.available && s.path !== '' &&
    [s.path.replace(/\/+$/, ''), dosPath(s.path).replace(/\\+$/, '')].some(p => p.toLowerCase() === device))
  const w = new NdrWriter()
  w.u32(share?.type ?? 0)
  return w.u32(share === undefined ? WErr.DEVICE_NOT_SHARED : WErr.OK).finish()
}

/** NetrRemoteTOD (MS-SRVS 3.1.4.21): the server's clock as TIME_OF_DAY_INFO (2.2.4.105), in UTC. */
function netrRemoteTOD (stub: Buffer, now = new Date()): Buffer {
  const r = new NdrReader(stub)
  readServerName(r)
  const w = new NdrWriter()
  w.pointer(now, (w, d) => {
    w.u32(Math.floor(d.getTime() / 1000)) // tod_elapsedt: seconds since 1970
    w.u32(Math.floor(uptime() * 1000) >>> 0) // tod_msecs: since the machine started
    w.u32(d.getUTCHours()).u32(d.getUTCMinutes()).u32(d.getUTCSeconds()).u32(Math.floor(d.getUTCMilliseconds() / 10))
    w.i32(0) // tod_timezone: minutes west of UTC (the fields above are UTC)
    w.u32(310) // tod_tinterval: clock tick, 0.0001 s units (what Windows reports)
    w.u32(d.getUTCDate()).u32(d.getUTCMonth() + 1).u32(d.getUTCFullYear()).u32(d.getUTCDay())
  })
  w.flush()
  return w.u32(WErr.OK).finish()
}

export const srvsvc: RpcInterface = {
  name: 'srvsvc',
  syntax: SRVSVC_SYNTAX,
  async call (opnum, stub, env) {
    switch (opnum) {
      case SrvsvcOpnum.NetrShareEnum: return await netrShareEnum(stub, env)
      case SrvsvcOpnum.NetrShareEnumSticky: return await netrShareEnum(stub, env, false)
      case SrvsvcOpnum.NetrShareGetInfo: return await netrShareGetInfo(stub, env)
      case SrvsvcOpnum.NetrServerGetInfo: return await netrServerGetInfo(stub, env)
      case SrvsvcOpnum.NetrShareCheck: return await netrShareCheck(stub, env)
      case SrvsvcOpnum.NetrRemoteTOD: return netrRemoteTOD(stub)
      default: return undefined
    }
  },
}
