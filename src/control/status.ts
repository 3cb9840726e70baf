// `status.json` and `smbts status`: what the server holds — sessions, tree connects, open files —
// in the shape of Samba's `smbstatus -j` where it has one (its keys, its nesting: sessions and
// tcons keyed by id, open_files keyed by path with their opens), so tools written for it need
// little change. Each serving process gives its StatusSlice; the supervisor concatenates them.
import type { ConnectionView, ServerState } from '../session/server-state.js'
import { CIPHER_NAMES } from '../crypto/encryption.js'
import { Dialect, OplockLevel } from '../wire/constants.js'
import type { FileOpen } from '../locking/store.js'
import type { Open } from '../session/model.js'

/** One process's part (JSON-safe). */
export interface StatusSlice {
  pid: number
  worker?: number
  sessions: Array<{
    sessionId: string, user: string, domain: string, client: string, dialect: string,
    signing: string, signingRequired: boolean, encryption: string, encryptData: boolean, channels: number, guest: boolean,
  }>
  tcons: Array<{ tconId: number, sessionId: string, share: string, client: string, encryptData: boolean }>
  opens: Array<{
    sharePath: string, share: string, path: string, sessionId: string, fileId: string, user: string, client: string,
    accessMask: number, shareAccess: number, oplock: string, directory: boolean,
    /** What the open may cache as lease bits (R 1, H 2, W 4): its lease's state, or its oplock's. */
    caching?: number
    /** The lease the open was made under (its LeaseKey as hex) and that lease's state now. */
    lease?: { key: string, state: number }
    /** A durable (or resilient) open: its version and timeout, and whether it waits for its client (docs/durable-handles.md). */
    durable?: { version: number, timeoutMs: number, resilient: boolean, disconnected: boolean, persistent?: true }
  }>
  /** Byte-range locks of this process's opens (bigints as decimal strings). */
  locks: Array<{ sharePath: string, path: string, fileId: string, sessionId: string, start: string, size: string, exclusive: boolean }>
}

const DIALECTS: Record<number, string> = {
  [Dialect.SMB2_02]: 'SMB2_02', [Dialect.SMB2_10]: 'SMB2_10', [Dialect.SMB3_00]: 'SMB3_00', [Dialect.SMB3_02]: 'SMB3_02', [Dialect.SMB3_11]: 'SMB3_11',
}
const SIGNING = ['HMAC-SHA256', 'AES-128-CMAC', 'AES-128-GMAC']
const OPLOCKS: Record<number, string> = {
  [OplockLevel.NONE]: 'NONE', [OplockLevel.II]: 'LEVEL_II', [OplockLevel.EXCLUSIVE]: 'EXCLUSIVE', [OplockLevel.BATCH]: 'BATCH', [OplockLevel.LEASE]: 'LEASE',
}

/** This process's sessions, trees and opens. */
export function statusSlice (state: ServerState, conns: Iterable<ConnectionView>): StatusSlice {
  const out: StatusSlice = { pid: process.pid, sessions: [], tcons: [], opens: [], locks: [] }
  const client = new Map<bigint, { addr: string, channels: number }>()
  for (const c of conns) {
    for (const s of c.sessions) {
      const e = client.get(s.sessionId)
      if (e === undefined) client.set(s.sessionId, { addr: c.io.remoteAddress, channels: 1 })
      else e.channels++
    }
  }
  for (const s of state.sessions.values()) {
    const sid = `0x${s.sessionId.toString(16)}`
    const who = client.get(s.sessionId)
    const addr = who?.addr ?? ''
    out.sessions.push({
      sessionId: sid,
      user: s.user,
      domain: s.domain,
      client: addr,
      dialect: DIALECTS[s.dialect] ?? `0x${s.dialect.toString(16)}`,
      signing: s.signer !== undefined ? (SIGNING[s.signer.algorithm] ?? '') : '',
      signingRequired: s.signingRequired,
      // the cipher only where something is encrypted: the whole session, or one of its shares
      encryption: s.encryptor !== undefined && (s.encryptData || s.encryptedTraffic || [...s.trees.values()].some(t => t.encryptData)) ? (CIPHER_NAMES[s.encryptor.cipher] ?? '') : '',
      encryptData: s.encryptData,
      channels: who?.channels ?? 0,
      guest: s.isGuest,
    })
    for (const t of s.trees.values()) {
      out.tcons.push({ tconId: t.treeId, sessionId: sid, share: t.shareName, client: addr, encryptData: t.encryptData })
    }
    for (const o of s.opens.values()) addOpen(state, out, o, sid, s.user, addr, false)
  }
  // Durable opens whose client is gone, waiting for it to reconnect.
  for (const o of state.durable.parkedOpens()) addOpen(state, out, o, '', o.durable?.user ?? '', '', true)
  return out
}

function addOpen (state: ServerState, out: StatusSlice, o: Open, sid: string, user: string, addr: string, disconnected: boolean): void {
  const fileId = `${o.fileId.persistent}:${o.fileId.volatile}`
  const d = o.durable
  out.opens.push({
    sharePath: o.tree.share?.path ?? '',
    share: o.tree.shareName,
    path: o.path,
    sessionId: sid,
    fileId,
    user,
    client: addr,
    accessMask: o.grantedAccess,
    shareAccess: o.shareAccess,
    oplock: OPLOCKS[o.oplock?.granted ?? OplockLevel.NONE] ?? 'NONE',
    directory: o.isDirectory,
    ...caching(state, o.oplock),
    ...(d !== undefined ? { durable: { version: d.version, timeoutMs: d.timeoutMs, resilient: d.resilient === true, disconnected, ...(d.persistent === true ? { persistent: true as const } : {}) } } : {}),
  })
  const held = o.oplock
  if (held === undefined || o.isDirectory) return
  for (const l of state.locks.locksOf(held.key)) {
    if (l.id !== held.id || l.w !== state.locks.peers.slot) continue
    out.locks.push({ sharePath: o.tree.share?.path ?? '', path: o.path, fileId, sessionId: sid, start: String(l.off), size: String(l.len), exclusive: l.exclusive })
  }
}

/** The caching an open holds now, from the locking store: a lease's state, or its oplock's level as lease bits. */
function caching (state: ServerState, held: FileOpen | undefined): { caching: number, lease?: { key: string, state: number } } {
  if (held === undefined) return { caching: 0 }
  if (held.lease !== undefined) {
    const now = state.locks.leaseOf(held.key, held.lease.lk)?.state ?? 0
    return { caching: now, lease: { key: held.lease.lk.slice(32), state: now } }
  }
  const level = state.locks.oplockOf(held)?.level ?? OplockLevel.NONE
  return { caching: OPLOCK_CACHING[level] ?? 0 }
}

/** smbstatus -j: an oplock as the caching it allows (level II R, exclusive RW, batch RWH). */
const OPLOCK_CACHING: Record<number, number> = { [OplockLevel.II]: 1, [OplockLevel.EXCLUSIVE]: 1 | 4, [OplockLevel.BATCH]: 1 | 2 | 4 }

/** smbstatus -j's lease mask object: hex, READ/WRITE/HANDLE, text. */
function leaseMask (m: number): object {
  return { READ: (m & 1) !== 0, WRITE: (m & 4) !== 0, HANDLE: (m & 2) !== 0, hex: `0x${m.toString(16).padStart(8, '0')}`, text: `${(m & 1) !== 0 ? 'R' : ''}${(m & 4) !== 0 ? 'W' : ''}${(m & 2) !== 0 ? 'H' : ''}` }
}

/** A LeaseKey (16 bytes, hex) as smbstatus prints it: a GUID string of the key's bytes. */
function leaseKeyGuid (hex: string): string {
  const b = Buffer.from(hex, 'hex')
  const h = (from: number, to: number): string => b.subarray(from, to).toString('hex')
  return `${Buffer.from(b.subarray(0, 4)).reverse().toString('hex')}-${Buffer.from(b.subarray(4, 6)).reverse().toString('hex')}-${Buffer.from(b.subarray(6, 8)).reverse().toString('hex')}-${h(8, 10)}-${h(10, 16)}`
}

const degree = (on: boolean, required: boolean): string => !on ? 'none' : required ? 'full' : 'partial'

/** Samba's `sharemode` object: which of read, write, delete the open lets others have. */
function shareMode (access: number): object {
  const r = (access & 1) !== 0
  const w = (access & 2) !== 0
  const d = (access & 4) !== 0
  return { hex: `0x${access.toString(16).padStart(8, '0')}`, NONE: access === 0, READ: r, WRITE: w, DELETE: d, text: `${r ? 'R' : ''}${w ? 'W' : ''}${d ? 'D' : ''}` || 'NONE' }
}

/** `status.json`: the slices as one document, smbstatus -j's shape. */
export function renderStatusJson (slices: StatusSlice[], now = new Date()): string {
  const sessions: Record<string, object> = {}
  const tcons: Record<string, object> = {}
  const files: Record<string, { service_path: string, filename: string, opens: Record<string, object> }> = {}
  for (const sl of slices) {
    const serverId = { pid: String(sl.pid), task_id: '0', vnn: '0', unique_id: String(sl.worker ?? 0) }
    for (const s of sl.sessions) {
      sessions[`${sl.pid}:${s.sessionId}`] = {
        session_id: s.sessionId,
        server_id: serverId,
        username: s.user,
        domain: s.domain,
        remote_machine: s.client,
        hostname: s.client,
        session_dialect: s.dialect,
        guest: s.guest,
        encryption: { cipher: s.encryption, degree: degree(s.encryption !== '', s.encryptData) },
        signing: { cipher: s.signing, degree: degree(s.signing !== '', s.signingRequired) },
        channels: s.channels,
      }
    }
    for (const t of sl.tcons) {
      tcons[`${sl.pid}:${t.sessionId}:${t.tconId}`] = { service: t.share, server_id: serverId, tcon_id: String(t.tconId), session_id: t.sessionId, machine: t.client, encryption: { degree: t.encryptData ? 'full' : 'none' } }
    }
    for (const o of sl.opens) {
      const key = `${o.sharePath}/${o.path}`.replace(/\/+$/, '') || '/'
      const f = files[key] ??= { service_path: o.sharePath, filename: o.path, opens: {} }
      f.opens[`${sl.pid}/${o.fileId}`] = {
        server_id: serverId,
        username: o.user,
        session_id: o.sessionId,
        machine: o.client,
        share: o.share,
        share_file_id: o.fileId,
        sharemode: shareMode(o.shareAccess),
        access_mask: { hex: `0x${o.accessMask.toString(16).padStart(8, '0')}` },
        oplock: { text: o.oplock },
        caching: leaseMask(o.caching ?? 0),
        // smbstatus -j: the lease an open was made under, {} for one without.
        lease: o.lease === undefined ? {} : { lease_key: leaseKeyGuid(o.lease.key), ...leaseMask(o.lease.state) },
        directory: o.directory,
        // smbstatus -j's durable flag; which opens wait for their client is smbts's own.
        ...(o.durable !== undefined ? { durable: true, durable_v: o.durable.version, durable_timeout_ms: o.durable.timeoutMs, resilient: o.durable.resilient, disconnected: o.durable.disconnected, ...(o.durable.persistent === true ? { persistent: true } : {}) } : {}),
      }
    }
  }
  // smbstatus -j's byte_range_locks: by file, each lock with its open, type and range.
  const brl: Record<string, { service_path: string, filename: string, locks: object[] }> = {}
  for (const sl of slices) {
    const serverId = { pid: String(sl.pid), task_id: '0', vnn: '0', unique_id: String(sl.worker ?? 0) }
    for (const l of sl.locks ?? []) {
      const key = `${l.sharePath}/${l.path}`.replace(/\/+$/, '') || '/'
      const f = brl[key] ??= { service_path: l.sharePath, filename: l.path, locks: [] }
      f.locks.push({ server_id: serverId, share_file_id: l.fileId, session_id: l.sessionId, type: l.exclusive ? 'WRITE' : 'READ', flavour: 'WINDOWS', start: Number(l.start), size: Number(l.size) })
    }
  }
  return JSON.stringify({ timestamp: now.toISOString(), version: 'smbts', sessions, tcons, open_files: files, byte_range_locks: brl }, null, 2) + '\n'
}
