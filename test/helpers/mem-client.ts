// A small in-memory SMB2 client for protocol tests: it drives an Smb2Connection directly (no
// sockets), builds requests from MS-SMB2 2.2.x, signs like a real client (keys derived from
// SPNEGO/NTLMv2 through ntlm-client.ts, 3.1.1 preauth included) and parses the responses.
// Test-only: it trusts itself and checks only what the tests assert.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Smb2Connection } from '../../src/smb2/connection.js'
import { receivePdu } from '../../src/smb2/receive.js'
import { ServerState } from '../../src/session/server-state.js'
import { parseConfigText } from '../../src/config/config.js'
import { posixBackend } from '../../src/vfs/posix.js'
import { MemoryBackend, type MemoryTree } from '../../src/vfs/memory.js'
import type { Backend } from '../../src/vfs/backend.js'
import { createLogger, silentLogger } from '../../src/control/log.js'
import { decodeHeader, encodeHeader, SIGNATURE_OFFSET, type Smb2Header } from '../../src/wire/header.js'
import { Command, HeaderFlags, SMB2_HEADER_SIZE, SMB2_TRANSFORM_MAGIC } from '../../src/wire/constants.js'
import { Signer, SigningAlgorithm } from '../../src/crypto/signing.js'
import { deriveSessionKeys } from '../../src/crypto/kdf.js'
import { preauthUpdate, PREAUTH_INITIAL } from '../../src/crypto/preauth.js'
import { SessionCipher, cipherKeyBits } from '../../src/crypto/encryption.js'
import { encodeInit, encodeMechTypes, encodeResp, OID_NTLMSSP, parseResp } from '../../src/auth/spnego.js'
import { authenticateMessage, negotiateMessage, ntlmMac } from './ntlm-client.js'
import { testShareLayout, TEST_PASSWORD, TEST_USER } from './test-share.js'

export { Command }
export const ALL_ONES_FID = { persistent: 0xffffffffffffffffn, volatile: 0xffffffffffffffffn }
export type FileId = { persistent: bigint, volatile: bigint }

// ------------------------------------------------------------------ a server in memory

export interface MemServerOptions {
  global?: string[]
  /** Lines of the [share] section (path and `read only = no` are set for you). */
  shareLines?: string[]
  /** More shares: name → lines (path created and set for you). */
  shares?: Record<string, string[]>
  users?: Record<string, string>
  log?: boolean
  /** The oplock break acknowledgment timer (MS-SMB2 3.3.2.1); 35 s unless a test shortens it. */
  oplockBreakTimeoutMs?: number
  /**
   * The VFS backend: 'memory' by default (src/vfs/memory.ts: nothing on disk); 'posix' for the
   * native posix backend on a temporary directory, for a test of what only a real file system
   * has (symlinks, special files, xattrs on disk, mounts); or a Backend of the caller's own, also
   * on that directory (posixUringBackend(ring) for the ring's).
   */
  backend?: 'memory' | 'posix' | Backend
}

/**
 * The files of one share, whichever backend holds them: how a test puts files in place and looks
 * at what the server left. Paths are share-relative, '/'-separated.
 */
export interface ShareFiles {
  /** Creates or replaces a file (its directory must exist). */
  write (path: string, data: string | Uint8Array): void
  read (path: string): Buffer
  exists (path: string): boolean
  /** Makes a directory and any missing parents. */
  mkdir (path: string): void
  /** Removes a file, or a directory with everything in it. */
  rm (path: string): void
  /** The names in a directory ('' the share root), sorted. */
  list (dir?: string): string[]
  /** The file's index number (the inode on disk), as share-mode keys use it. */
  ino (path: string): bigint
  /** The POSIX mode (type and permission bits). */
  mode (path: string): number
}

export interface MemServer {
  state: ServerState
  /** Where the shares are: a temporary directory on disk, or (memory) the name of none. */
  root: string
  share: string
  /** The files of [share]. */
  files: ShareFiles
  /** The files of another share (MemServerOptions.shares). */
  filesOf (name: string): ShareFiles
  logs: string[]
  cleanup (): void
}

function diskFiles (dir: string): ShareFiles {
  const at = (p: string): string => join(dir, ...p.split('/'))
  return {
    write: (p, data) => { writeFileSync(at(p), data) },
    read: (p) => readFileSync(at(p)),
    exists: (p) => existsSync(at(p)),
    mkdir: (p) => { mkdirSync(at(p), { recursive: true }) },
    rm: (p) => { rmSync(at(p), { recursive: true }) },
    list: (d = '') => readdirSync(at(d)).sort(),
    ino: (p) => statSync(at(p), { bigint: true }).ino,
    mode: (p) => statSync(at(p)).mode,
  }
}

function memoryFiles (tree: MemoryTree): ShareFiles {
  return {
    write: (p, data) => { tree.writeFile(p, data) },
    read: (p) => tree.readFile(p),
    exists: (p) => tree.exists(p),
    mkdir: (p) => { tree.mkdir(p, 0o777, { recursive: true }) },
    rm: (p) => { tree.rm(p, { recursive: true }) },
    list: (d = '') => tree.readdir(d).sort(),
    ino: (p) => tree.stat(p).indexNumber,
    mode: (p) => tree.stat(p).mode,
  }
}

let memoryServers = 0

export const USER = TEST_USER
export const PASSWORD = TEST_PASSWORD

export function memServer (o: MemServerOptions = {}): MemServer {
  const memory = o.backend === undefined || o.backend === 'memory' ? new MemoryBackend() : undefined
  // A memory server's share paths only name its trees: nothing is made on disk.
  const root = memory !== undefined ? `/smbts-memory/${++memoryServers}` : mkdtempSync(join(tmpdir(), 'smbts-mem-'))
  const { share, dirs, configText, accounts } = testShareLayout(root, 'SMBTS-MEM', o)
  for (const d of dirs) { if (memory !== undefined) memory.tree(d); else mkdirSync(d, { recursive: true }) }
  const config = parseConfigText(configText)
  const logs: string[] = []
  const log = o.log === true || process.env.SMBTS_TEST_LOG !== undefined
    ? createLogger((l) => { logs.push(l); if (process.env.SMBTS_TEST_LOG) process.stderr.write(l + '\n') }, ['smb', 'auth', 'vfs', 'conn', 'oplock'])
    : silentLogger
  const backend = memory ?? (o.backend === 'posix' ? posixBackend : o.backend as Backend)
  const state = new ServerState(config, accounts, backend, log)
  if (o.oplockBreakTimeoutMs !== undefined) state.locks.breakTimeoutMs = o.oplockBreakTimeoutMs
  const filesOf = (name: string): ShareFiles => memory !== undefined ? memoryFiles(memory.tree(join(root, name))) : diskFiles(join(root, name))
  return {
    state,
    root,
    share,
    files: filesOf('share'),
    filesOf,
    logs,
    cleanup () { if (memory === undefined) rmSync(root, { recursive: true, force: true }) },
  }
}

// ------------------------------------------------------------------ request bodies (MS-SMB2 2.2.x)

const H = SMB2_HEADER_SIZE
const u16 = (s: string): Buffer => Buffer.from(s, 'utf16le')

export interface NegotiateOptions {
  dialects: number[]
  securityMode?: number
  capabilities?: number
  clientGuid?: Buffer
  /** 3.1.1 contexts; default: preauth SHA-512, AES-128-GCM/CCM encryption, GMAC/CMAC signing. */
  contexts?: Array<{ type: number, data: Buffer }>
}

export const Ctx = { PREAUTH: 1, ENCRYPTION: 2, COMPRESSION: 3, NETNAME: 5, TRANSPORT: 6, RDMA: 7, SIGNING: 8 } as const

export function preauthContext (salt = Buffer.alloc(32, 7)): { type: number, data: Buffer } {
  const d = Buffer.alloc(6 + salt.length)
  d.writeUInt16LE(1, 0); d.writeUInt16LE(salt.length, 2); d.writeUInt16LE(1, 4); salt.copy(d, 6)
  return { type: Ctx.PREAUTH, data: d }
}
export function listContext (type: number, ids: number[]): { type: number, data: Buffer } {
  const d = Buffer.alloc(2 + ids.length * 2)
  d.writeUInt16LE(ids.length, 0)
  ids.forEach((x, i) => d.writeUInt16LE(x, 2 + i * 2))
  return { type, data: d }
}

export function negotiateBody (o: NegotiateOptions): Buffer {
  const fixed = 36 + o.dialects.length * 2
  const contexts = o.dialects.includes(0x0311)
    ? (o.contexts ?? [preauthContext(), listContext(Ctx.ENCRYPTION, [2, 1]), listContext(Ctx.SIGNING, [2, 1])])
    : []
  let len = fixed
  const ctxOff = contexts.length > 0 ? ((H + fixed + 7) & ~7) : 0
  const placed: number[] = []
  if (contexts.length > 0) {
    len = ctxOff - H
    for (const c of contexts) {
      len = ((H + len + 7) & ~7) - H
      placed.push(len)
      len += 8 + c.data.length
    }
  }
  const b = Buffer.alloc(len)
  b.writeUInt16LE(36, 0)
  b.writeUInt16LE(o.dialects.length, 2)
  b.writeUInt16LE(o.securityMode ?? 1, 4)
  b.writeUInt32LE(o.capabilities ?? 0x7f, 8)
  ;(o.clientGuid ?? Buffer.alloc(16, 0x42)).copy(b, 12)
  b.writeUInt32LE(ctxOff, 28)
  b.writeUInt16LE(contexts.length, 32)
  o.dialects.forEach((d, i) => b.writeUInt16LE(d, 36 + i * 2))
  contexts.forEach((c, i) => {
    b.writeUInt16LE(c.type, placed[i]); b.writeUInt16LE(c.data.length, placed[i] + 2); c.data.copy(b, placed[i] + 8)
  })
  return b
}

export function sessionSetupBody (token: Buffer, securityMode = 1, flags = 0, previousSessionId = 0n): Buffer {
  const b = Buffer.alloc(24 + Math.max(token.length, 1))
  b.writeUInt16LE(25, 0); b[2] = flags; b[3] = securityMode
  b.writeUInt16LE(H + 24, 12); b.writeUInt16LE(token.length, 14)
  b.writeBigUInt64LE(previousSessionId, 16)
  token.copy(b, 24)
  return b
}

export function treeConnectBody (path: string): Buffer {
  const p = u16(path)
  const b = Buffer.alloc(8 + p.length)
  b.writeUInt16LE(9, 0); b.writeUInt16LE(H + 8, 4); b.writeUInt16LE(p.length, 6); p.copy(b, 8)
  return b
}

export interface CreateOptions {
  access?: number
  attributes?: number
  share?: number
  disposition?: number
  options?: number
  oplock?: number
  /** An RqLs lease request (v1, 32 bytes; v2 with `epoch`): RequestedOplockLevel becomes LEASE. */
  lease?: { key: Buffer, state: number, epoch?: number, parent?: Buffer }
  /** More create contexts, after RqLs (DHnQ, DH2Q, DHnC, DH2C...). */
  contexts?: Array<{ name: string, data: Buffer }>
}
/** Defaults: GENERIC_READ|GENERIC_WRITE|DELETE, share all, FILE_OPEN_IF, no options. */
export function createBody (name: string, o: CreateOptions = {}): Buffer {
  const n = u16(name)
  // MS-SMB2 2.2.13.2: the create contexts (RqLs first, then `contexts`) 8-aligned after the name.
  const ctxOff = (56 + n.length + 7) & ~7
  const list: Array<{ name: string, data: Buffer }> = []
  if (o.lease !== undefined) {
    const data = Buffer.alloc(o.lease.epoch === undefined ? 32 : 52)
    o.lease.key.copy(data, 0)
    data.writeUInt32LE(o.lease.state, 16)
    if (o.lease.epoch !== undefined) data.writeUInt16LE(o.lease.epoch, 48)
    if (o.lease.parent !== undefined) { data.writeUInt32LE(4, 20); o.lease.parent.copy(data, 32) } // PARENT_LEASE_KEY_SET
    list.push({ name: 'RqLs', data })
  }
  list.push(...(o.contexts ?? []))
  const chain = list.map((c, i) => {
    const dataOff = (16 + c.name.length + 7) & ~7
    const len = dataOff + c.data.length
    const e = Buffer.alloc(i < list.length - 1 ? (len + 7) & ~7 : len)
    if (i < list.length - 1) e.writeUInt32LE(e.length, 0)
    e.writeUInt16LE(16, 4); e.writeUInt16LE(c.name.length, 6); e.writeUInt16LE(dataOff, 10); e.writeUInt32LE(c.data.length, 12)
    e.write(c.name, 16, 'latin1')
    c.data.copy(e, dataOff)
    return e
  })
  const ctxLen = chain.reduce((a, e) => a + e.length, 0)
  const b = Buffer.alloc(ctxLen === 0 ? 56 + Math.max(n.length, 1) : ctxOff + ctxLen)
  b.writeUInt16LE(57, 0); b[3] = o.lease !== undefined ? 0xff : o.oplock ?? 0
  if (ctxLen > 0) {
    b.writeUInt32LE(H + ctxOff, 48); b.writeUInt32LE(ctxLen, 52)
    Buffer.concat(chain).copy(b, ctxOff)
  }
  b.writeUInt32LE(2, 4) // Impersonation
  b.writeUInt32LE((o.access ?? 0xc0010000) >>> 0, 24)
  b.writeUInt32LE(o.attributes ?? 0x80, 28)
  b.writeUInt32LE(o.share ?? 7, 32)
  b.writeUInt32LE(o.disposition ?? 3, 36)
  b.writeUInt32LE(o.options ?? 0, 40)
  b.writeUInt16LE(H + 56, 44); b.writeUInt16LE(n.length, 46)
  n.copy(b, 56)
  return b
}
export const Disposition = { SUPERSEDE: 0, OPEN: 1, CREATE: 2, OPEN_IF: 3, OVERWRITE: 4, OVERWRITE_IF: 5 } as const
export const Opt = { DIRECTORY_FILE: 0x1, NON_DIRECTORY_FILE: 0x40, DELETE_ON_CLOSE: 0x1000 } as const
export const Access = { FILE_READ_DATA: 0x1, FILE_WRITE_DATA: 0x2, READ_ATTRIBUTES: 0x80, DELETE: 0x10000, GENERIC_READ: 0x80000000, GENERIC_WRITE: 0x40000000, GENERIC_ALL: 0x10000000 } as const

function putFid (b: Buffer, off: number, f: FileId): void {
  b.writeBigUInt64LE(f.persistent, off); b.writeBigUInt64LE(f.volatile, off + 8)
}

export function writeBody (fid: FileId, offset: number | bigint, data: Buffer, flags = 0): Buffer {
  const b = Buffer.alloc(48 + Math.max(data.length, 1))
  b.writeUInt16LE(49, 0); b.writeUInt16LE(H + 48, 2); b.writeUInt32LE(data.length, 4)
  b.writeBigUInt64LE(BigInt(offset), 8); putFid(b, 16, fid); b.writeUInt32LE(flags, 44)
  data.copy(b, 48)
  return b
}

export function readBody (fid: FileId, offset: number | bigint, length: number, minimumCount = 0): Buffer {
  const b = Buffer.alloc(49)
  b.writeUInt16LE(49, 0); b[2] = 0x50; b.writeUInt32LE(length, 4)
  b.writeBigUInt64LE(BigInt(offset), 8); putFid(b, 16, fid); b.writeUInt32LE(minimumCount, 32)
  return b
}

/** The create contexts of a CREATE response (MS-SMB2 2.2.14.2), by name, each a copy of its data. */
export function contextsOf (r: Resp): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  const b = r.body
  if (b.readUInt32LE(84) === 0) return m
  let at = b.readUInt32LE(80) - H
  for (;;) {
    const next = b.readUInt32LE(at)
    const nOff = at + b.readUInt16LE(at + 4)
    const dOff = at + b.readUInt16LE(at + 10)
    m.set(b.toString('latin1', nOff, nOff + b.readUInt16LE(at + 6)), Buffer.from(b.subarray(dOff, dOff + b.readUInt32LE(at + 12))))
    if (next === 0) return m
    at += next
  }
}

/** The RqLs context of a CREATE response: its lease key, state, flags and epoch (v2). */
export function leaseOf (create: Resp): { key: Buffer, state: number, flags: number, epoch: number } | undefined {
  const d = contextsOf(create).get('RqLs')
  if (d === undefined) return undefined
  return { key: d.subarray(0, 16), state: d.readUInt32LE(16), flags: d.readUInt32LE(20), epoch: d.length >= 52 ? d.readUInt16LE(48) : 0 }
}

/** A break notification that is a lease break (MS-SMB2 2.2.23.2, StructureSize 44), parsed. */
export function leaseBreakOf (n: BreakNotification): { key: Buffer, from: number, to: number, flags: number, epoch: number } | undefined {
  const body = n.msg.subarray(H)
  if (body.readUInt16LE(0) !== 44) return undefined
  return { epoch: body.readUInt16LE(2), flags: body.readUInt32LE(4), key: Buffer.from(body.subarray(8, 24)), from: body.readUInt32LE(24), to: body.readUInt32LE(28) }
}

/** MS-SMB2 2.2.24.2 Lease Break Acknowledgment. */
export function leaseAckBody (key: Buffer, state: number): Buffer {
  const b = Buffer.alloc(36)
  b.writeUInt16LE(36, 0); key.copy(b, 8); b.writeUInt32LE(state, 24)
  return b
}

export function oplockBreakBody (fid: FileId, level: number): Buffer {
  const b = Buffer.alloc(24)
  b.writeUInt16LE(24, 0); b[2] = level; putFid(b, 8, fid)
  return b
}

export function closeBody (fid: FileId, flags = 0): Buffer {
  const b = Buffer.alloc(24)
  b.writeUInt16LE(24, 0); b.writeUInt16LE(flags, 2); putFid(b, 8, fid)
  return b
}

export function flushBody (fid: FileId): Buffer {
  const b = Buffer.alloc(24)
  b.writeUInt16LE(24, 0); putFid(b, 8, fid)
  return b
}

/** FileNamesInformation (12) by default; flags 1 = RESTART_SCANS. */
export function queryDirectoryBody (fid: FileId, pattern = '*', infoClass = 12, flags = 0, outLen = 65536): Buffer {
  const p = u16(pattern)
  const b = Buffer.alloc(32 + Math.max(p.length, 1))
  b.writeUInt16LE(33, 0); b[2] = infoClass; b[3] = flags; putFid(b, 8, fid)
  b.writeUInt16LE(p.length > 0 ? H + 32 : 0, 24); b.writeUInt16LE(p.length, 26); b.writeUInt32LE(outLen, 28)
  p.copy(b, 32)
  return b
}

export function queryInfoBody (fid: FileId, infoType: number, infoClass: number, outLen = 4096, additional = 0): Buffer {
  const b = Buffer.alloc(41)
  b.writeUInt16LE(41, 0); b[2] = infoType; b[3] = infoClass; b.writeUInt32LE(outLen, 4)
  b.writeUInt32LE(additional, 16); putFid(b, 24, fid)
  return b
}

export function setInfoBody (fid: FileId, infoType: number, infoClass: number, data: Buffer, additional = 0): Buffer {
  const b = Buffer.alloc(32 + Math.max(data.length, 1))
  b.writeUInt16LE(33, 0); b[2] = infoType; b[3] = infoClass; b.writeUInt32LE(data.length, 4)
  b.writeUInt16LE(H + 32, 8); b.writeUInt32LE(additional >>> 0, 12); putFid(b, 16, fid)
  data.copy(b, 32)
  return b
}

/** MS-FSCC 2.4.42.2 FileRenameInformation, SMB2 form. */
export function renameInfo (target: string, replace = false): Buffer {
  const n = u16(target)
  const b = Buffer.alloc(20 + n.length)
  b[0] = replace ? 1 : 0; b.writeUInt32LE(n.length, 16); n.copy(b, 20)
  return b
}

export function ioctlBody (ctlCode: number, fid: FileId, input: Buffer, maxOutput = 65536, flags = 1): Buffer {
  const b = Buffer.alloc(56 + Math.max(input.length, 1))
  b.writeUInt16LE(57, 0); b.writeUInt32LE(ctlCode >>> 0, 4); putFid(b, 8, fid)
  b.writeUInt32LE(input.length > 0 ? H + 56 : 0, 24); b.writeUInt32LE(input.length, 28)
  b.writeUInt32LE(H + 56, 36); b.writeUInt32LE(maxOutput, 44); b.writeUInt32LE(flags, 48)
  input.copy(b, 56)
  return b
}

export const smallBody = (): Buffer => { const b = Buffer.alloc(4); b.writeUInt16LE(4, 0); return b }

// ------------------------------------------------------------------ responses

export interface Resp {
  hdr: Smb2Header
  status: number
  credits: number
  /** The response body, after the 64-byte header. */
  body: Buffer
  /** The whole message (header included, padding excluded for the last one). */
  msg: Buffer
}

/** Splits one response PDU into its compound messages. */
export function parseResponses (pdu: Buffer): Resp[] {
  const out: Resp[] = []
  let off = 0
  for (;;) {
    const hdr = decodeHeader(pdu, off)
    const end = hdr.nextCommand === 0 ? pdu.length : off + hdr.nextCommand
    const msg = pdu.subarray(off, end)
    out.push({ hdr, status: hdr.status >>> 0, credits: hdr.creditRequest, body: msg.subarray(H), msg })
    if (hdr.nextCommand === 0) return out
    off = end
  }
}

/** MS-SMB2 2.2.14: the OplockLevel a CREATE response granted. */
export const oplockOf = (create: Resp): number => create.body[2]

/** MS-SMB2 2.2.26: StructureSize 48, LockCount, LockSequence 0, FileId, then the elements (24 bytes each). */
export function lockBody (fid: FileId, elements: Array<{ off: number | bigint, len: number | bigint, flags: number }>): Buffer {
  const b = Buffer.alloc(24 + Math.max(1, elements.length) * 24)
  b.writeUInt16LE(48, 0)
  b.writeUInt16LE(elements.length, 2)
  b.writeBigUInt64LE(fid.persistent, 8)
  b.writeBigUInt64LE(fid.volatile, 16)
  elements.forEach((e, i) => {
    b.writeBigUInt64LE(BigInt(e.off), 24 + i * 24)
    b.writeBigUInt64LE(BigInt(e.len), 32 + i * 24)
    b.writeUInt32LE(e.flags, 40 + i * 24)
  })
  return b
}

/** MS-SMB2 2.2.26.1 Flags. */
export const LockFlag = { SHARED: 1, EXCLUSIVE: 2, UNLOCK: 4, FAIL_IMMEDIATELY: 0x10 } as const

export function fileIdOf (create: Resp): FileId {
  return { persistent: create.body.readBigUInt64LE(64), volatile: create.body.readBigUInt64LE(72) }
}
export function readData (r: Resp): Buffer {
  const off = r.body[2]; const len = r.body.readUInt32LE(4)
  return r.msg.subarray(off, off + len)
}
/** The OutputBuffer of QUERY_DIRECTORY/QUERY_INFO responses. */
export function outputBuffer (r: Resp): Buffer {
  const off = r.body.readUInt16LE(2); const len = r.body.readUInt32LE(4)
  return len === 0 ? Buffer.alloc(0) : r.msg.subarray(off, off + len)
}
/** Names from a FileNamesInformation (or any list whose name length sits at 8 and name at 12). */
export function namesOf (buf: Buffer, nameLenAt = 8, nameAt = 12): string[] {
  const names: string[] = []
  for (let off = 0; off < buf.length;) {
    const next = buf.readUInt32LE(off)
    const len = buf.readUInt32LE(off + nameLenAt)
    names.push(buf.toString('utf16le', off + nameAt, off + nameAt + len))
    if (next === 0) break
    off += next
  }
  return names
}

// ------------------------------------------------------------------ the client

export interface Req {
  cmd: number
  body: Buffer
  /** SMB2_FLAGS_RELATED_OPERATIONS. */
  related?: boolean
  creditCharge?: number
  creditRequest?: number
  messageId?: bigint
  sessionId?: bigint
  treeId?: number
  flags?: number
  /** Sign with the session key (default: when the session signs). */
  sign?: boolean
  /** Send inside a TRANSFORM_HEADER (default: `encryptAll`). One encrypted request encrypts the whole chain. */
  encrypt?: boolean
  /** The async header form (SMB2_FLAGS_ASYNC_COMMAND) with this AsyncId (a CANCEL of an async request). */
  asyncId?: bigint
  /** MS-SMB2 2.2.1.2 ChannelSequence (3.x; 0 unless given). */
  channelSequence?: number
}

/** MS-SMB2 2.2.23.1: an OPLOCK_BREAK notification the server sent, as the client saw it. */
export interface BreakNotification {
  oplockLevel: number
  fileId: FileId
  hdr: Smb2Header
  /** It arrived inside a TRANSFORM_HEADER. */
  encrypted: boolean
  /** The transform header's SessionId when encrypted. */
  transformSessionId?: bigint
  msg: Buffer
}

/** MS-SMB2 3.3.4.2: an interim (STATUS_PENDING) response. */
export interface Interim { hdr: Smb2Header, msg: Buffer, encrypted: boolean }

const UNSOLICITED = 0xffffffffffffffffn
const STATUS_PENDING = 0x103

export class MemClient {
  readonly conn: Smb2Connection
  /** Each `io.send` call: the chunks joined (without the Direct-TCP header). */
  readonly sent: Buffer[] = []
  closedReason?: string
  nextMid = 0n
  sessionId = 0n
  treeId = 0
  dialect = 0
  signer?: Signer
  signAll = false
  signingAlgorithm = SigningAlgorithm.HmacSha256
  preauth = PREAUTH_INITIAL
  negotiateResp?: Resp
  /**
   * The ClientGuid this client negotiates with unless told another: its own, as every real
   * client machine has (a server with workers serves the connections of one ClientGuid on one worker).
   */
  clientGuid: Buffer = randomBytes(16)
  /** MS-SMB2 2.2.3.1.2 cipher agreed at NEGOTIATE (0: none). */
  cipherId = 0
  /** Client→server (the server's DecryptionKey) and server→client ciphers, once logged in. */
  encryptor?: SessionCipher
  decryptor?: SessionCipher
  /** Encrypt every request (set by login when the server answers SESSION_FLAG_ENCRYPT_DATA). */
  encryptAll = false
  /** SessionFlags of the last successful SESSION_SETUP response. */
  sessionFlags = 0
  /** Transform messages received (responses the server encrypted). */
  encryptedResponses = 0
  /** Oplock break notifications received, in order; `nextBreak()` hands them out. */
  readonly breaks: BreakNotification[] = []
  /** Interim responses received, in order. */
  readonly interims: Interim[] = []
  private breaksRead = 0
  private breakWaiters: Array<() => void> = []

  constructor (readonly server: ServerState, remote = 'mem:1') {
    this.conn = new Smb2Connection(server, {
      remoteAddress: remote,
      // Copied at once: the chunks (a pooled READ buffer among them) are free right after.
      send: (chunks, onSent) => { const pdu = Buffer.concat(chunks); this.sent.push(pdu); onSent?.(); this.classify(pdu) },
      close: (reason) => { this.closedReason = reason },
    }, receivePdu)
  }

  get closed (): boolean { return this.closedReason !== undefined }

  /** Notes notifications and interim responses as they arrive (the server sends them unasked). */
  protected classify (pdu: Buffer): void {
    let plain = pdu
    let transformSessionId: bigint | undefined
    const encrypted = pdu.readUInt32LE(0) === SMB2_TRANSFORM_MAGIC
    if (encrypted) {
      if (this.decryptor === undefined) return
      transformSessionId = pdu.readBigUInt64LE(44)
      try { plain = this.decryptor.decrypt(pdu) } catch { return }
    }
    if (plain.readUInt32LE(0) !== 0x424d53fe) return
    for (const r of parseResponses(plain)) {
      if (r.hdr.messageId === UNSOLICITED && r.hdr.command === Command.OPLOCK_BREAK) {
        this.breaks.push({ oplockLevel: r.body[2], fileId: { persistent: r.body.readBigUInt64LE(8), volatile: r.body.readBigUInt64LE(16) }, hdr: r.hdr, encrypted, transformSessionId, msg: Buffer.from(r.msg) })
        const ws = this.breakWaiters
        this.breakWaiters = []
        for (const w of ws) w()
      } else if (r.status === STATUS_PENDING) {
        this.interims.push({ hdr: r.hdr, msg: Buffer.from(r.msg), encrypted })
      }
    }
  }

  /** The next break notification not yet handed out, waiting up to `ms` for it. */
  async nextBreak (ms = 5000): Promise<BreakNotification> {
    const deadline = Date.now() + ms
    while (this.breaks.length <= this.breaksRead) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no oplock break within ${ms} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.breakWaiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return this.breaks[this.breaksRead++]
  }

  /** Break notifications received and not yet handed out by `nextBreak()`. */
  get unreadBreaks (): number { return this.breaks.length - this.breaksRead }

  /** One PDU in; the PDUs the server sent while handling it out. `handlePdu` must resolve. */
  async raw (pdu: Buffer): Promise<Buffer[]> {
    const before = this.sent.length
    await this.conn.handlePdu(pdu)
    return this.sent.slice(before)
  }

  /** Header + body for one request; advances nextMid by its charge unless messageId is given. */
  message (r: Req): Buffer {
    const charge = r.creditCharge ?? 1
    const mid = r.messageId ?? this.nextMid
    if (r.messageId === undefined) this.nextMid += BigInt(Math.max(charge, 1))
    const msg = Buffer.alloc(H + r.body.length)
    encodeHeader({
      creditCharge: charge, status: r.channelSequence ?? 0, command: r.cmd, creditRequest: r.creditRequest ?? 32,
      flags: (r.flags ?? 0) | (r.related === true ? HeaderFlags.RELATED_OPERATIONS : 0) | (r.asyncId !== undefined ? HeaderFlags.ASYNC_COMMAND : 0),
      nextCommand: 0, messageId: mid, asyncId: r.asyncId ?? 0n,
      treeId: r.treeId ?? (r.related === true ? 0xffffffff : this.treeId),
      sessionId: r.sessionId ?? (r.related === true ? 0xffffffffffffffffn : this.sessionId),
    }, msg)
    if (r.asyncId === undefined) msg.writeUInt32LE(0, 32) // Reserved
    r.body.copy(msg, H)
    return msg
  }

  protected signIfNeeded (msg: Buffer, r: Req): void {
    const sign = r.sign ?? (this.signer !== undefined && this.signAll && r.cmd !== Command.NEGOTIATE && r.cmd !== Command.SESSION_SETUP)
    if (sign && this.signer !== undefined) {
      msg.writeUInt32LE((msg.readUInt32LE(16) | HeaderFlags.SIGNED) >>> 0, 16)
      this.signer.sign(msg).copy(msg, SIGNATURE_OFFSET)
    }
  }

  /** Sends one request or a compound; returns the responses of the one PDU sent back. */
  async send (...reqs: Req[]): Promise<Resp[]> {
    const msgs = reqs.map((r, i) => {
      const m = this.message(r)
      // Every message but the last is padded to 8 bytes (MS-SMB2 3.2.4.1.4).
      const padded = i < reqs.length - 1 ? Buffer.concat([m, Buffer.alloc(((m.length + 7) & ~7) - m.length)]) : m
      if (i < reqs.length - 1) padded.writeUInt32LE(padded.length, 20)
      this.signIfNeeded(padded, r)
      return padded
    })
    let pdu = Buffer.concat(msgs)
    if (reqs.some(r => r.encrypt ?? this.encryptAll)) {
      if (this.encryptor === undefined) throw new Error('no encryption key')
      pdu = Buffer.concat(this.encryptor.encrypt(this.sessionId, [pdu]))
    }
    const mids = new Set(msgs.map(m => m.readBigUInt64LE(24)))
    const out = await this.raw(pdu)
    if (out.length === 0) return []
    // The final responses to these requests: notifications, interim responses and the answers
    // to other requests in flight on this connection arrive in between and are left out.
    const resps = out.map(p => this.unwrap(p)).flatMap(parseResponses)
    return resps.filter(r => mids.has(r.hdr.messageId) && r.status !== STATUS_PENDING)
  }

  /** A TRANSFORM_HEADER response decrypted with the server→client key; anything else as is. */
  unwrap (pdu: Buffer): Buffer {
    if (pdu.readUInt32LE(0) !== SMB2_TRANSFORM_MAGIC) return pdu
    if (this.decryptor === undefined) throw new Error('encrypted response without a key')
    this.encryptedResponses++
    return this.decryptor.decrypt(pdu)
  }

  async request (r: Req): Promise<Resp> {
    const [res] = await this.send(r)
    if (res === undefined) throw new Error(`no response to ${r.cmd} (connection ${this.closedReason ?? 'open'})`)
    return res
  }

  /** Verifies a signed response with the session's signing key. */
  verify (r: Resp): boolean {
    if (this.signer === undefined) throw new Error('no signing key')
    if ((r.hdr.flags & HeaderFlags.SIGNED) === 0) return false
    return this.signer.verify(r.msg)
  }

  async negotiate (o: NegotiateOptions): Promise<Resp> {
    const msg = this.message({ cmd: Command.NEGOTIATE, body: negotiateBody({ ...o, clientGuid: o.clientGuid ?? this.clientGuid }) })
    const [pdu] = await this.raw(msg)
    if (pdu === undefined) throw new Error(`no NEGOTIATE response (${this.closedReason ?? ''})`)
    const [r] = parseResponses(pdu)
    if (r.status === 0) {
      this.dialect = r.body.readUInt16LE(4)
      this.negotiateResp = r
      if (this.dialect === 0x0311) {
        this.preauth = preauthUpdate(preauthUpdate(PREAUTH_INITIAL, msg), pdu)
        const sig = negotiateContexts(r).find(c => c.type === Ctx.SIGNING)
        this.signingAlgorithm = sig !== undefined ? sig.data.readUInt16LE(2) : SigningAlgorithm.AesCmac
        const enc = negotiateContexts(r).find(c => c.type === Ctx.ENCRYPTION)
        this.cipherId = enc !== undefined ? enc.data.readUInt16LE(2) : 0
      } else {
        // MS-SMB2 3.2.5.2: 3.0/3.0.2 encrypt with AES-128-CCM when the server sets CAP_ENCRYPTION.
        this.cipherId = this.dialect >= 0x0300 && (r.body.readUInt32LE(24) & 0x40) !== 0 ? 1 : 0
        this.signingAlgorithm = this.dialect >= 0x0300 ? SigningAlgorithm.AesCmac : SigningAlgorithm.HmacSha256
      }
    }
    return r
  }

  /**
   * SPNEGO/NTLMv2 in two legs. On success the signing key is derived as a client would
   * (MS-SMB2 3.2.5.3.1) and the final response's signature is checked against it.
   */
  async login (o: { anonymous?: boolean, user?: string, password?: string, domain?: string, securityMode?: number, signAll?: boolean, reauth?: boolean, between?: () => Promise<void>, previousSessionId?: bigint } = {}): Promise<{ first: Resp, last: Resp, finalSigned: boolean }> {
    const mechTypes = [OID_NTLMSSP]
    const neg = negotiateMessage()
    const first = await this.sessionSetupLeg(encodeInit({ mechTypes, mechToken: neg }), o.securityMode, o.previousSessionId)
    if (first.status !== 0xc0000016) return { first, last: first, finalSigned: false }
    this.sessionId = first.hdr.sessionId
    const challenge = parseResp(outputSecBuf(first)).responseToken!
    // A test hook between the two legs (several logons in flight at once).
    await o.between?.()
    const a = o.anonymous === true
      ? authenticateMessage({ anonymous: true, user: '', password: '', domain: '' }, neg, challenge)
      : authenticateMessage({ user: o.user ?? USER, password: o.password ?? PASSWORD, domain: o.domain ?? 'WORKGROUP', withMic: true, randomSessionKey: Buffer.alloc(16, 0x5a) }, neg, challenge)
    // An anonymous logon has no session key, hence no mechListMIC.
    const mic = o.anonymous === true ? undefined : ntlmMac(a.exportedSessionKey, 'client-to-server', 0, encodeMechTypes(mechTypes))
    const msg = this.message({ cmd: Command.SESSION_SETUP, body: sessionSetupBody(encodeResp(mic === undefined ? { responseToken: a.message } : { responseToken: a.message, mechListMIC: mic }), o.securityMode ?? 1, 0, o.previousSessionId) })
    if (this.dialect === 0x0311) this.preauth = preauthUpdate(this.preauth, msg)
    const [pdu] = await this.raw(msg)
    if (pdu === undefined) throw new Error(`no SESSION_SETUP response (${this.closedReason ?? ''})`)
    const [last] = parseResponses(pdu)
    let finalSigned = false
    if (o.reauth === true) {
      // MS-SMB2 3.3.5.5.2: a re-authentication keeps the session's keys.
      if (last.status === 0) {
        this.sessionFlags = last.body.readUInt16LE(2)
        finalSigned = this.signer !== undefined && this.verify(last)
      }
      return { first, last, finalSigned }
    }
    if (last.status === 0 && (last.body.readUInt16LE(2) & 0x3) === 0) {
      const bits = this.cipherId !== 0 ? cipherKeyBits(this.cipherId) : 128
      const keys = deriveSessionKeys(this.dialect, a.exportedSessionKey, this.dialect === 0x0311 ? this.preauth : undefined, bits)
      this.signer = new Signer(this.signingAlgorithm, keys.signingKey)
      finalSigned = this.verify(last)
      this.signAll = o.signAll ?? false
      if (this.cipherId !== 0 && keys.encryptionKey !== undefined && keys.decryptionKey !== undefined) {
        this.encryptor = new SessionCipher(this.cipherId, keys.decryptionKey)
        this.decryptor = new SessionCipher(this.cipherId, keys.encryptionKey)
      }
    }
    if (last.status === 0) {
      this.sessionFlags = last.body.readUInt16LE(2)
      if ((this.sessionFlags & 0x4) !== 0) this.encryptAll = true // SMB2_SESSION_FLAG_ENCRYPT_DATA
    }
    if (last.status !== 0) this.sessionId = 0n
    return { first, last, finalSigned }
  }

  /**
   * Binds this (negotiated) connection to `to`'s session as a new channel (MS-SMB2 3.2.4.1.7,
   * SMB2_SESSION_FLAG_BINDING): two NTLM legs signed with the session's key. On success this
   * client signs with the channel's key (derived from this authentication and, in 3.1.1, this
   * connection's pre-auth hash), and takes the session's id, tree and encryption keys.
   */
  async bind (to: MemClient, o: { user?: string, password?: string, unsigned?: boolean, sessionId?: bigint } = {}): Promise<{ first: Resp, last: Resp, finalSigned: boolean }> {
    const sid = o.sessionId ?? to.sessionId
    const sign = (msg: Buffer): Buffer => {
      if (o.unsigned !== true && to.signer !== undefined) {
        msg.writeUInt32LE((msg.readUInt32LE(16) | HeaderFlags.SIGNED) >>> 0, 16)
        to.signer.sign(msg).copy(msg, SIGNATURE_OFFSET)
      }
      return msg
    }
    const mechTypes = [OID_NTLMSSP]
    const neg = negotiateMessage()
    const m1 = sign(this.message({ cmd: Command.SESSION_SETUP, body: sessionSetupBody(encodeInit({ mechTypes, mechToken: neg }), 1, 0x01), sessionId: sid }))
    let preauth = this.preauth
    if (this.dialect === 0x0311) preauth = preauthUpdate(preauth, m1)
    const [p1] = await this.raw(m1)
    if (p1 === undefined) throw new Error(`no SESSION_SETUP response (${this.closedReason ?? ''})`)
    const [first] = parseResponses(p1)
    if (first.status !== 0xc0000016) return { first, last: first, finalSigned: false }
    if (this.dialect === 0x0311) preauth = preauthUpdate(preauth, p1)
    const challenge = parseResp(outputSecBuf(first)).responseToken!
    const a = authenticateMessage({ user: o.user ?? USER, password: o.password ?? PASSWORD, domain: 'WORKGROUP', withMic: true, randomSessionKey: randomBytes(16) }, neg, challenge)
    const mic = ntlmMac(a.exportedSessionKey, 'client-to-server', 0, encodeMechTypes(mechTypes))
    const m2 = sign(this.message({ cmd: Command.SESSION_SETUP, body: sessionSetupBody(encodeResp({ responseToken: a.message, mechListMIC: mic }), 1, 0x01), sessionId: sid }))
    if (this.dialect === 0x0311) preauth = preauthUpdate(preauth, m2)
    const [p2] = await this.raw(m2)
    if (p2 === undefined) throw new Error(`no SESSION_SETUP response (${this.closedReason ?? ''})`)
    const [last] = parseResponses(p2)
    let finalSigned = false
    if (last.status === 0) {
      const keys = deriveSessionKeys(this.dialect, a.exportedSessionKey, this.dialect === 0x0311 ? preauth : undefined)
      this.signer = new Signer(this.signingAlgorithm, keys.signingKey)
      finalSigned = this.verify(last)
      this.sessionId = sid
      this.treeId = to.treeId
      this.encryptor = to.encryptor
      this.decryptor = to.decryptor
      this.encryptAll = to.encryptAll
      this.signAll = true
    }
    return { first, last, finalSigned }
  }

  /** One SESSION_SETUP with `token` (the 3.1.1 pre-auth hash kept). */
  async sessionSetupLeg (token: Buffer, securityMode = 1, previousSessionId = 0n): Promise<Resp> {
    const msg = this.message({ cmd: Command.SESSION_SETUP, body: sessionSetupBody(token, securityMode, 0, previousSessionId) })
    if (this.dialect === 0x0311) this.preauth = preauthUpdate(this.preauth, msg)
    const [pdu] = await this.raw(msg)
    if (pdu === undefined) throw new Error(`no SESSION_SETUP response (${this.closedReason ?? ''})`)
    const [r] = parseResponses(pdu)
    if (this.dialect === 0x0311 && r.status === 0xc0000016) this.preauth = preauthUpdate(this.preauth, pdu)
    return r
  }

  async treeConnect (share: string): Promise<Resp> {
    const r = await this.request({ cmd: Command.TREE_CONNECT, body: treeConnectBody(`\\\\mem\\${share}`) })
    if (r.status === 0) this.treeId = r.hdr.treeId
    return r
  }

  /** NEGOTIATE + SESSION_SETUP + TREE_CONNECT, asserting success. */
  async connect (o: { dialect?: number, share?: string, user?: string, password?: string, signAll?: boolean, previousSessionId?: bigint } = {}): Promise<this> {
    const n = await this.negotiate({ dialects: [o.dialect ?? 0x0311] })
    if (n.status !== 0) throw new Error(`negotiate: 0x${n.status.toString(16)}`)
    const l = await this.login({ user: o.user, password: o.password, signAll: o.signAll, previousSessionId: o.previousSessionId })
    if (l.last.status !== 0) throw new Error(`login: 0x${l.last.status.toString(16)}`)
    const t = await this.treeConnect(o.share ?? 'share')
    if (t.status !== 0) throw new Error(`tree connect: 0x${t.status.toString(16)}`)
    return this
  }

  create (name: string, o?: CreateOptions): Promise<Resp> { return this.request({ cmd: Command.CREATE, body: createBody(name, o) }) }
  async open (name: string, o?: CreateOptions): Promise<FileId> {
    const r = await this.create(name, o)
    if (r.status !== 0) throw new Error(`create ${name}: 0x${r.status.toString(16)}`)
    return fileIdOf(r)
  }

  write (fid: FileId, offset: number, data: Buffer, creditCharge?: number): Promise<Resp> {
    return this.request({ cmd: Command.WRITE, body: writeBody(fid, offset, data), creditCharge: creditCharge ?? chargeFor(data.length) })
  }

  /** MS-SMB2 2.2.26 LOCK of `elements` (Offset, Length, Flags each). */
  lock (fid: FileId, elements: Array<{ off: number | bigint, len: number | bigint, flags: number }>): Promise<Resp> {
    return this.request({ cmd: Command.LOCK, body: lockBody(fid, elements) })
  }

  read (fid: FileId, offset: number, length: number, creditCharge?: number): Promise<Resp> {
    return this.request({ cmd: Command.READ, body: readBody(fid, offset, length), creditCharge: creditCharge ?? chargeFor(length) })
  }

  close (fid: FileId): Promise<Resp> { return this.request({ cmd: Command.CLOSE, body: closeBody(fid) }) }
  queryDirectory (fid: FileId, pattern = '*', infoClass = 12, flags = 0): Promise<Resp> {
    return this.request({ cmd: Command.QUERY_DIRECTORY, body: queryDirectoryBody(fid, pattern, infoClass, flags) })
  }

  queryInfo (fid: FileId, infoType: number, infoClass: number, outLen?: number): Promise<Resp> {
    return this.request({ cmd: Command.QUERY_INFO, body: queryInfoBody(fid, infoType, infoClass, outLen) })
  }

  setInfo (fid: FileId, infoType: number, infoClass: number, data: Buffer): Promise<Resp> {
    return this.request({ cmd: Command.SET_INFO, body: setInfoBody(fid, infoType, infoClass, data) })
  }

  ioctl (ctlCode: number, fid: FileId, input: Buffer, maxOutput?: number): Promise<Resp> {
    return this.request({ cmd: Command.IOCTL, body: ioctlBody(ctlCode, fid, input, maxOutput) })
  }

  echo (): Promise<Resp> { return this.request({ cmd: Command.ECHO, body: smallBody() }) }
  /** MS-SMB2 2.2.24.1: acknowledges an oplock break of `fid` at `level`. */
  ack (fid: FileId, level: number): Promise<Resp> { return this.request({ cmd: Command.OPLOCK_BREAK, body: oplockBreakBody(fid, level) }) }
  leaseAck (key: Buffer, state: number): Promise<Resp> { return this.request({ cmd: Command.OPLOCK_BREAK, body: leaseAckBody(key, state) }) }
  /**
   * MS-SMB2 2.2.30: CANCEL of a pending request, by its AsyncId (async form) or, inside a
   * compound, by its MessageId (sync form). CANCEL consumes no credit and gets no response.
   */
  async cancel (target: { asyncId: bigint } | { messageId: bigint }): Promise<void> {
    const r: Req = 'asyncId' in target
      ? { cmd: Command.CANCEL, body: smallBody(), messageId: this.nextMid, asyncId: target.asyncId }
      : { cmd: Command.CANCEL, body: smallBody(), messageId: target.messageId }
    const msg = this.message(r)
    this.signIfNeeded(msg, r)
    const pdu = (r.encrypt ?? this.encryptAll) && this.encryptor !== undefined ? Buffer.concat(this.encryptor.encrypt(this.sessionId, [msg])) : msg
    await this.raw(pdu)
  }

  logoff (): Promise<Resp> { return this.request({ cmd: Command.LOGOFF, body: smallBody() }) }
  treeDisconnect (): Promise<Resp> { return this.request({ cmd: Command.TREE_DISCONNECT, body: smallBody() }) }

  /** Reads a whole small file through CREATE/READ/CLOSE. */
  async readFile (name: string): Promise<Buffer> {
    const fid = await this.open(name, { access: Access.GENERIC_READ, disposition: Disposition.OPEN })
    const r = await this.read(fid, 0, 65536)
    await this.close(fid)
    if (r.status === 0xc0000011) return Buffer.alloc(0)
    if (r.status !== 0) throw new Error(`read ${name}: 0x${r.status.toString(16)}`)
    return Buffer.from(readData(r))
  }
}

/** MS-SMB2 3.2.4.1.5: CreditCharge = (max(len, 1) - 1) / 65536 + 1. */
export const chargeFor = (len: number): number => Math.floor((Math.max(len, 1) - 1) / 65536) + 1

/** The security buffer of a SESSION_SETUP response. */
export function outputSecBuf (r: Resp): Buffer {
  const off = r.body.readUInt16LE(4); const len = r.body.readUInt16LE(6)
  return r.msg.subarray(off, off + len)
}

/** MS-SMB2 2.2.4: the negotiate contexts of a NEGOTIATE response. */
export function negotiateContexts (r: Resp): Array<{ type: number, data: Buffer }> {
  const count = r.body.readUInt16LE(6)
  let off = r.body.readUInt32LE(60)
  const out: Array<{ type: number, data: Buffer }> = []
  for (let i = 0; i < count; i++) {
    off = (off + 7) & ~7
    const type = r.msg.readUInt16LE(off); const len = r.msg.readUInt16LE(off + 2)
    out.push({ type, data: r.msg.subarray(off + 8, off + 8 + len) })
    off += 8 + len
  }
  return out
}

/** An SMB1 NEGOTIATE (MS-CIFS 2.2.4.52.1) offering the given dialect strings. */
export function smb1Negotiate (dialects: string[]): Buffer {
  const bytes = Buffer.concat(dialects.map(d => Buffer.concat([Buffer.from([2]), Buffer.from(d + '\0', 'latin1')])))
  const b = Buffer.alloc(35 + bytes.length)
  b.writeUInt32LE(0x424d53ff, 0); b[4] = 0x72
  b[9 + 0] = 0x18 // Flags
  b.writeUInt16LE(0xc853, 10) // Flags2
  b[32] = 0 // WordCount
  b.writeUInt16LE(bytes.length, 33)
  bytes.copy(b, 35)
  return b
}

export const Status = {
  SUCCESS: 0,
  BUFFER_OVERFLOW: 0x80000005,
  NO_MORE_FILES: 0x80000006,
  INFO_LENGTH_MISMATCH: 0xc0000004,
  INVALID_PARAMETER: 0xc000000d,
  NO_SUCH_FILE: 0xc000000f,
  END_OF_FILE: 0xc0000011,
  MORE_PROCESSING_REQUIRED: 0xc0000016,
  ACCESS_DENIED: 0xc0000022,
  OBJECT_NAME_INVALID: 0xc0000033,
  OBJECT_NAME_NOT_FOUND: 0xc0000034,
  OBJECT_NAME_COLLISION: 0xc0000035,
  OBJECT_PATH_NOT_FOUND: 0xc000003a,
  OBJECT_PATH_SYNTAX_BAD: 0xc000003b,
  LOGON_FAILURE: 0xc000006d,
  NOT_SUPPORTED: 0xc00000bb,
  BAD_NETWORK_NAME: 0xc00000cc,
  FILE_CLOSED: 0xc0000128,
  USER_SESSION_DELETED: 0xc0000203,
  NETWORK_NAME_DELETED: 0xc00000c9,
  NETWORK_SESSION_EXPIRED: 0xc000035c,
  STOPPED_ON_SYMLINK: 0x8000002d,
  PENDING: 0x103,
  CANCELLED: 0xc0000120,
  SHARING_VIOLATION: 0xc0000043,
  DELETE_PENDING: 0xc0000056,
  LOCK_NOT_GRANTED: 0xc0000055,
  FILE_LOCK_CONFLICT: 0xc0000054,
  RANGE_NOT_LOCKED: 0xc000007e,
  INVALID_LOCK_RANGE: 0xc00001a1,
  INVALID_OPLOCK_PROTOCOL: 0xc00000e3,
  FILE_IS_A_DIRECTORY: 0xc00000ba,
  NOT_A_DIRECTORY: 0xc0000103,
} as const

/** MS-SMB2 2.2.13 RequestedOplockLevel. */
export const Oplock = { NONE: 0, II: 1, EXCLUSIVE: 8, BATCH: 9, LEASE: 0xff } as const
