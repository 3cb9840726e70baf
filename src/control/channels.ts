// The server's side channels (ARCHITECTURE "Side channels", CONVENTIONS 11), declared once.
// Publishers check `hasSubscribers` before they build anything, so a debug component that is off
// costs one property read where it would log; src/control subscribes when an admin turns a
// component on (the control mount's `debug`, SMBTS_DEBUG) or opens `trace` or `events`.
import dc from 'node:diagnostics_channel'

/** ksmbd's debug classes, in the order its `debug` file lists them. */
export const DEBUG_COMPONENTS = ['smb', 'auth', 'vfs', 'oplock', 'ipc', 'conn', 'rdma'] as const
export type DebugComponent = typeof DEBUG_COMPONENTS[number]

export function isDebugComponent (s: string): s is DebugComponent {
  return (DEBUG_COMPONENTS as readonly string[]).includes(s)
}

/**
 * One channel per component; a message is the log line's text. `rdma` is accepted and never
 * published: smbts has no RDMA transport.
 */
export const debugChannels: Readonly<Record<DebugComponent, dc.Channel>> = Object.freeze({
  smb: dc.channel('smbts:debug:smb'),
  auth: dc.channel('smbts:debug:auth'),
  vfs: dc.channel('smbts:debug:vfs'),
  oplock: dc.channel('smbts:debug:oplock'),
  ipc: dc.channel('smbts:debug:ipc'),
  conn: dc.channel('smbts:debug:conn'),
  rdma: dc.channel('smbts:debug:rdma'),
})

/** One record per request answered (what `trace` shows and the `smb` component logs). */
export interface RequestRecord {
  /** ms since the epoch, when the request arrived */
  time: number
  session: string
  tree: number
  command: string
  messageId: string
  file?: string
  share?: string
  status: string
  /** µs from arrival to the response being built */
  latencyUs: number
  client: string
}
export const requestChannel = dc.channel('smbts:request')

/** Something an admin wants to hear about as it happens (the `events` stream). */
export interface ServerEvent {
  type: 'connect' | 'disconnect' | 'auth-success' | 'auth-failure' | 'tree-connect' | 'sharing-violation' |
    'oplock-break' | 'lease-break' | 'limit' | 'worker-start' | 'worker-exit'
  [field: string]: unknown
}
export const eventChannel = dc.channel('smbts:event')

/** Publishes an event when someone listens; `make` runs only then. */
export function publishEvent (make: () => ServerEvent): void {
  if (eventChannel.hasSubscribers) eventChannel.publish({ time: new Date().toISOString(), ...make() })
}
