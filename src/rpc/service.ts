// What an RPC interface implementation looks like to the endpoint, and what it may know about
// the server: plain data handed in by the SMB side, so the services stay sans-IO.
import type { SyntaxId } from './pdu.js'
import type { Account, DomainUser } from '../auth/idmap.js'
import { NtStatus } from '../wire/ntstatus.js'

export type { Account, DomainUser }

/** A share as the RPC services describe it (MS-SRVS 2.2.4.22 SHARE_INFO_2 and friends). */
export interface RpcShare {
  name: string
  /** MS-SRVS 2.2.2.4 share type: STYPE_DISKTREE, or STYPE_IPC | STYPE_SPECIAL for IPC$. */
  type: number
  comment: string
  /** Local path (Samba shows it as `C:\...` in level 2); empty for IPC$. */
  path: string
  browseable: boolean
  available: boolean
  /** 0 = unlimited. */
  maxUses: number
  currentUses: number
}

export interface RpcServerInfo {
  netbiosName: string
  workgroup: string
  serverString: string
  /** The account domain (the server's own, named as netbiosName) and its SID (src/auth/idmap.ts). */
  domainSid: string
}

/**
 * The questions an RPC service may ask the data plane. In the RPC process each is a message to
 * the data plane (src/rpc/child.ts); the data plane answers from its configuration and state, so
 * the answers follow a reload at once, and keeps the rest (paths it is not asked for, the
 * password hashes) to itself.
 */
export interface RpcEnv {
  server: () => Promise<RpcServerInfo>
  shares: () => Promise<RpcShare[]>
  /** Each name (`user`, `DOMAIN\user`) resolved, or null (src/auth/idmap.ts IdMap.lookupName). */
  lookupNames: (names: string[]) => Promise<Array<Account | null>>
  /** Each SID (string form) resolved, or null. */
  lookupSids: (sids: string[]) => Promise<Array<Account | null>>
  /** The users of the server's own domain (the password db's). */
  users: () => Promise<DomainUser[]>
}

/** The per-pipe state a call may use: its context handles (MS-RPCE 2.2.4.? policy handles). */
export interface RpcCallContext {
  handles: HandleTable
  /** The SMB session's user the pipe was opened for ('' for anonymous). */
  user: string
}

/** A call that ends in a FAULT PDU with this status (nca_s_* / RPC_S_*), not a response. */
export class RpcFault extends Error {
  readonly code = 'SMBTS_ERR_RPC_FAULT'
  constructor (readonly status: number, message: string) {
    super(message)
    this.name = 'RpcFault'
  }
}

/** nca_s_fault_context_mismatch: a context handle this pipe did not give out (MS-RPCE 3.3.3.? / Windows). */
/** A lookup's status (MS-LSAT 3.1.4.5 / 3.1.4.9, MS-SAMR 3.1.5.11): all mapped, some, or none. */
export const mappedStatus = (mapped: number, total: number): number =>
  mapped === total ? NtStatus.SUCCESS : mapped > 0 ? NtStatus.SOME_NOT_MAPPED : NtStatus.NONE_MAPPED

export const FAULT_CONTEXT_MISMATCH = 0x1c00001a
/** Most handles one pipe may hold open. */
const MAX_HANDLES = 1024

/** The context handles of one pipe: 20 bytes on the wire (attributes 0 and a random UUID). */
export class HandleTable {
  private readonly map = new Map<string, { kind: string, data: unknown }>()
  private next = 1

  create (kind: string, data: unknown): Buffer {
    if (this.map.size >= MAX_HANDLES) throw new RpcFault(0x1c000007, 'too many handles open on this pipe') // nca_s_fault_remote_no_memory
    const h = Buffer.alloc(20)
    h.writeUInt32LE(this.next++, 4)
    h.writeUInt32LE(Math.floor(Math.random() * 0x100000000), 8)
    h.writeUInt32LE(Math.floor(Math.random() * 0x100000000), 12)
    h.writeUInt32LE(kind.length * 0x1000193 >>> 0, 16)
    this.map.set(h.toString('hex'), { kind, data })
    return h
  }

  /** The data of a handle of `kinds`; a fault when the handle is unknown or of another kind. */
  get<T> (h: Buffer, ...kinds: string[]): { kind: string, data: T } {
    const e = this.map.get(h.toString('hex'))
    if (e === undefined || !kinds.includes(e.kind)) throw new RpcFault(FAULT_CONTEXT_MISMATCH, `no ${kinds.join('/')} handle ${h.toString('hex')}`)
    return e as { kind: string, data: T }
  }

  close (h: Buffer): boolean { return this.map.delete(h.toString('hex')) }
  get size (): number { return this.map.size }
}

export interface RpcInterface {
  name: string
  syntax: SyntaxId
  /** The response stub, or undefined when the opnum is out of range (→ nca_s_op_rng_error). Rejects with NdrError on bad stub data. */
  call: (opnum: number, stub: Buffer, env: RpcEnv, ctx: RpcCallContext) => Promise<Buffer | undefined>
}

/** MS-ERREF 2.2 Win32 error codes the services return (WERROR / NET_API_STATUS). */
export const WErr = {
  OK: 0,
  ACCESS_DENIED: 5,
  INVALID_PARAMETER: 87,
  INVALID_LEVEL: 124,
  /** NERR_NetNameNotFound (MS-SRVS 3.1.4.10). */
  NET_NAME_NOT_FOUND: 2310,
  /** NERR_DeviceNotShared (MS-SRVS 3.1.4.16). */
  DEVICE_NOT_SHARED: 2311,
} as const

/** MS-SRVS 2.2.2.4 share types. */
export const SType = {
  DISKTREE: 0x00000000,
  PRINTQ: 0x00000001,
  DEVICE: 0x00000002,
  IPC: 0x00000003,
  TEMPORARY: 0x40000000,
  SPECIAL: 0x80000000,
} as const

/** MS-SRVS 2.2.2.? / MS-WKST: PLATFORM_ID_NT. */
export const PLATFORM_ID_NT = 500
