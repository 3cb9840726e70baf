// What an RPC interface implementation looks like to the endpoint, and what it may know about
// the server: plain data handed in by the SMB side, so the services stay sans-IO.
import type { SyntaxId } from './pdu.js'

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
}

export interface RpcInterface {
  name: string
  syntax: SyntaxId
  /** The response stub, or undefined when the opnum is out of range (→ nca_s_op_rng_error). Rejects with NdrError on bad stub data. */
  call: (opnum: number, stub: Buffer, env: RpcEnv) => Promise<Buffer | undefined>
}

/** MS-ERREF 2.2 Win32 error codes the services return (WERROR / NET_API_STATUS). */
export const WErr = {
  OK: 0,
  ACCESS_DENIED: 5,
  INVALID_PARAMETER: 87,
  INVALID_LEVEL: 124,
  /** NERR_NetNameNotFound (MS-SRVS 3.1.4.10). */
  NET_NAME_NOT_FOUND: 2310,
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
