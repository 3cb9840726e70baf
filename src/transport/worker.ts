// A worker's identity and what passes between it and its supervisor (ARCHITECTURE "Processes").
// With `server workers = N` (N > 1) the supervisor owns the listening sockets, one per worker
// and listen address, all SO_REUSEPORT on one port; worker i serves the sockets of slot i,
// inherited as file descriptors, through the same startServer as a lone server. What a worker
// needs to start travels in one environment variable (WORKER_ENV, JSON: no secret in it but the
// embedded default's generated password, and the environment is readable by its owner only);
// what happens afterwards travels over the Node IPC channel as the messages typed below.
import type { GlobalConfig } from '../config/config.js'
import type { Messenger, PeerMessage } from './messenger.js'
import type { DebugComponent } from '../control/channels.js'

/** What a worker knows of itself; startServer gets it as `worker` and exposes it on RunningServer. */
export interface WorkerContext {
  /** 0..count-1: the worker's listeners are slot `slot` of the steering program's sockarray. */
  slot: number
  /** 1 for the slot's first process, +1 for each restart. */
  generation: number
  /** Workers behind the port. */
  count: number
  /** The supervisor's private directory (0700): the messengers' sockets live here. */
  runDir: string
  messenger: Messenger
  /** The locking store's shared db (src/transport/worker-store.ts), made by the supervisor. */
  store?: string
  /** The generation alive in each slot when this worker started (0: none): the store's view of its peers starts here. */
  live: number[]
}

/** A listening socket the supervisor made and the worker inherited at `fd`. */
export interface InheritedListener {
  fd: number
  host: string
  port: number
}

/** The startServer options a supervisor passes on unchanged (see StartServerOptions). */
export interface WorkerServerOptions {
  configPath?: string
  pwddbPath?: string
  controlDir?: string
  useUring: boolean
  /** No config file: the embedded default's password, the same in every worker. */
  defaultPassword?: string
}

export interface WorkerSpec {
  slot: number
  generation: number
  count: number
  runDir: string
  listen: InheritedListener[]
  server: WorkerServerOptions
  /** The locking store's shared db. */
  store?: string
  /** The generation alive in each slot (0: none), this worker's own included. */
  live: number[]
}

/** The environment variable carrying a worker's WorkerSpec (JSON); its presence makes a worker. */
export const WORKER_ENV = 'SMBTS_WORKER'

/** The fd a worker finds its first listener at: after stdin, stdout, stderr and the IPC channel. */
export const FIRST_LISTEN_FD = 4

/** The log tag of a worker, `[w0]`; the supervisor's is SUPERVISOR_TAG. */
export function workerTag (slot: number): string {
  return `w${slot}`
}
export const SUPERVISOR_TAG = 'sup'

/** Supervisor → worker, over IPC. */
export type ToWorker =
  | { smbts: 'reload' }
  | { smbts: 'shutdown' }
  /** An event for the worker's messenger handlers (from SUPERVISOR_SLOT). */
  | { smbts: 'event', event: PeerMessage }
  /** The control mount's `debug`: the components on in every worker. */
  | { smbts: 'debug', components: DebugComponent[] }
  /** Someone reads `trace` / `events` in the control mount: send the requests / events. */
  | { smbts: 'watch', requests: boolean, events: boolean }
  /** The control mount is read: this worker's stats or status, answered as `collected`. */
  | { smbts: 'collect', id: number, kind: 'stats' | 'status' }

/** Worker → supervisor, over IPC. */
export type FromWorker =
  | { smbts: 'ready', port: number, transport: string }
  | { smbts: 'reloaded', error?: string }
  | { smbts: 'collected', id: number, data: unknown }
  /** A request record or an event, while the supervisor watches them (`watch`). */
  | { smbts: 'published', channel: 'request' | 'event', data: unknown }

/**
 * The addresses to listen on, for a lone server and a supervisor alike: the one asked for, the
 * config's `interfaces` when `bind interfaces only` is set, else every interface ('::' takes
 * IPv4 too).
 */
export function listenHosts (global: Pick<GlobalConfig, 'bindInterfacesOnly' | 'interfaces'>, host?: string): string[] {
  if (host !== undefined) return [host]
  // An entry may carry Samba's per-interface options after `;` (speed, capability, if_index:
  // the multichannel interface list's, src/smb2/commands/interface-info.ts); the address is before.
  return global.bindInterfacesOnly && global.interfaces.length > 0 ? global.interfaces.map(i => i.split(';')[0].trim()) : ['::']
}

export function encodeWorkerSpec (spec: WorkerSpec): string {
  return JSON.stringify(spec)
}

/** Reads WORKER_ENV; throws with a message naming what is wrong (a worker started by hand). */
export function decodeWorkerSpec (text: string | undefined): WorkerSpec {
  if (text === undefined || text === '') throw new Error(`${WORKER_ENV} is not set: a worker is started by its supervisor (smbts start --workers N)`)
  let v: unknown
  try { v = JSON.parse(text) } catch { throw new Error(`${WORKER_ENV} is not JSON`) }
  const s = v as Partial<WorkerSpec> | null
  const int = (x: unknown, min: number): boolean => typeof x === 'number' && Number.isInteger(x) && x >= min
  if (s === null || typeof s !== 'object' || !int(s.slot, 0) || !int(s.generation, 1) || !int(s.count, 1) ||
    s.slot! >= s.count! || typeof s.runDir !== 'string' || !Array.isArray(s.listen) || s.listen.length === 0 ||
    !s.listen.every(l => int(l?.fd, 0) && typeof l.host === 'string' && int(l.port, 1)) ||
    typeof s.server !== 'object' || s.server === null || typeof s.server.useUring !== 'boolean' ||
    !Array.isArray(s.live) || s.live.length !== s.count || !s.live.every(g => int(g, 0)) || (s.store !== undefined && typeof s.store !== 'string')) {
    throw new Error(`${WORKER_ENV} is not a worker spec`)
  }
  return s as WorkerSpec
}
