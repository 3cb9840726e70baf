// One client, one worker (ARCHITECTURE "Processes"): a connection whose NEGOTIATE carries a
// ClientGuid (MS-SMB2 2.2.3) that another live worker already serves — the client reconnecting
// from another address, later a second channel — is handed to that worker with its socket, so a
// client's sessions are always served by one process. Samba passes a multichannel connection to
// the smbd that owns the client the same way (an fd over a unix socket, with the bytes read).
//
// Who serves a client is a 'guid' record in the locking store (LockingStore.claimClient): the
// transport asks it at the first SMB2 frame of a connection, before anything is answered, in one
// update that also counts the connection for this worker when no other live one serves it. In a
// one-process server the same call is a Map update and no hand-over ever happens.
//
// The hand-over, between two workers:
//
// - Each worker binds a unix datagram socket `<runDir>/w<slot>.fd` (runDir is the supervisor's
//   0700 directory: nobody else can send to it). One datagram is one connection: its fd as
//   SCM_RIGHTS (native sendFd) and a frame — a 4-byte length, JSON meta (who from, to which
//   generation, the ClientGuid, the client's address, what the SMB1 upgrade left), then the raw
//   bytes received and not processed: the NEGOTIATE with its Direct-TCP header, and whatever
//   came after it. Then a messenger message (`handoff`) tells the peer to look: it takes every
//   queued datagram with a non-blocking recvmsg (native recvFd) on its JS thread. The addon thus
//   needs no watcher of its own, and a hand-over is rare enough for one extra message.
// - The sender stops receiving first (the ring's multishot recv cancelled and its last CQE in),
//   so no byte is read by both; anything read meanwhile travels with the rest. It sends only
//   when no reply of its own is on the way (after an SMB1 NEGOTIATE answered here, the reply must
//   be out), then forgets the connection and closes its own fd: the TCP connection lives on in
//   the duplicate the kernel holds for the peer. The client sees nothing.
// - The connection limits move with it: the sender moves its counts to the receiver's part in
//   the store (ConnectionLimits.moveTo: one update each, so the totals never dip), the receiver
//   adopts them. Datagrams left queued when a worker dies are closed with its socket (the
//   client reconnects) and its counts go with its other entries.
// - The receiver adopts the fd into its own transport (the ring, or node:net over the fd),
//   replays the bytes as if it had read them, and so answers the NEGOTIATE itself. An adopted
//   connection is never handed on again: it is counted here whoever the store names.
// - Any failure before the datagram is sent (the peer gone, its queue full, too many bytes)
//   leaves the connection with the sender, which serves it and says why.
import { unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { native } from '../io/native.js'
import type { Loan } from '../io/buffer-pool.js'
import type { Logger } from '../control/log.js'
import type { Admission, ServerState } from '../session/server-state.js'
import { ConnectionState, type Smb2Connection } from '../smb2/connection.js'
import { adoptSmb1Upgrade } from '../smb2/commands/negotiate.js'
import { peekNegotiateClientGuid } from '../smb2/commands/negotiate.wire.js'
import { SMB1_MAGIC } from '../wire/constants.js'
import { frameHeader } from './framing.js'
import type { Messenger } from './messenger.js'

/** The messenger type that tells a worker to take the connections queued on its socket. */
export const HANDOFF_MESSAGE = 'handoff'

/** Raw bytes a hand-over carries at most beside its fd (a NEGOTIATE is a few hundred). */
export const HANDOFF_MAX_BYTES = 64 * 1024
/** Room for the meta in a datagram. */
const META_MAX = 4096

export function handoffPath (runDir: string, slot: number): string {
  return join(runDir, `w${slot}.fd`)
}

/** A worker: its slot and the generation of the process in it. */
export interface HandoffTarget { w: number, g: number }

/** What travels with the fd. */
export interface HandoffMeta {
  from: number
  fromGen: number
  to: number
  toGen: number
  /** ClientGuid, hex (the store's key). */
  guid: string
  /** The client's address and port, as the sender logs it. */
  remote: string
  /** The client's address as the connection limits count it (clientAddress). */
  addr: string
  /** Whether the connection counted against `max ip connections`: moved with the rest. */
  ip: boolean
  /** The sender answered the client's SMB1 NEGOTIATE with 0x02FF (adoptSmb1Upgrade). */
  smb1: boolean
}

/** A connection handed to this worker: the fd is the receiver's to serve or close. */
export interface Adoption {
  fd: number
  meta: HandoffMeta
  /** Raw bytes received by the sender and not processed, to be read first. */
  bytes: Buffer
  /** The sender moved the connection's counts to this process (not to an earlier generation of its slot). */
  countsMoved: boolean
}

/** The ClientGuid in its usual text form (the first three fields little-endian), for logs. */
export function formatGuid (hex: string): string {
  const b = Buffer.from(hex, 'hex')
  if (b.length !== 16) return hex
  const h = (x: Buffer): string => x.toString('hex')
  return `${h(Buffer.from(b.subarray(0, 4)).reverse())}-${h(Buffer.from(b.subarray(4, 6)).reverse())}-${h(Buffer.from(b.subarray(6, 8)).reverse())}-${h(b.subarray(8, 10))}-${h(b.subarray(10, 16))}`
}

/** A worker's end of the hand-overs: its datagram socket, and the messenger that says when to look. */
export class Handoff {
  /** Where adopted connections go (server.ts: the ring or node:net); until set, they are closed. */
  onAdopt: (a: Adoption) => void = (a) => { native.closeNow(a.fd) }
  private sock: number
  private readonly rx = Buffer.allocUnsafe(4 + META_MAX + HANDOFF_MAX_BYTES)
  private readonly onMessage = (): void => { this.drain() }

  private constructor (private readonly runDir: string, readonly slot: number, readonly generation: number,
    private readonly messenger: Messenger, private readonly log: Logger) {
    // Our slot's previous process (dead: the supervisor starts the next one after) left its file.
    const path = handoffPath(runDir, slot)
    try { unlinkSync(path) } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e }
    this.sock = native.fdSocket(path)
    messenger.on(HANDOFF_MESSAGE, this.onMessage)
  }

  static open (o: { runDir: string, slot: number, generation: number, messenger: Messenger, log: Logger }): Handoff {
    return new Handoff(o.runDir, o.slot, o.generation, o.messenger, o.log)
  }

  /**
   * Sends connection `fd` to worker `to` with `bytes`: undefined when it is on its way (the fd
   * stays the caller's to close), else why not (nothing was sent).
   */
  send (to: HandoffTarget, fd: number, meta: Omit<HandoffMeta, 'from' | 'fromGen' | 'to' | 'toGen'>, bytes: Buffer): string | undefined {
    if (this.sock < 0) return 'this worker is closing'
    if (bytes.length > HANDOFF_MAX_BYTES) return `${bytes.length} bytes received already, more than a hand-over carries (${HANDOFF_MAX_BYTES})`
    const json = Buffer.from(JSON.stringify({ ...meta, from: this.slot, fromGen: this.generation, to: to.w, toGen: to.g } satisfies HandoffMeta))
    if (json.length > META_MAX) return 'meta too large'
    const head = Buffer.allocUnsafe(4)
    head.writeUInt32LE(json.length, 0)
    try {
      native.sendFd(this.sock, handoffPath(this.runDir, to.w), fd, Buffer.concat([head, json, bytes]))
    } catch (e) {
      return (e as Error).message
    }
    this.messenger.send(to.w, { type: HANDOFF_MESSAGE })
    return undefined
  }

  /** Takes every connection queued on our socket. */
  drain (): void {
    while (this.sock >= 0) {
      let got
      try {
        got = native.recvFd(this.sock, this.rx)
      } catch (e) {
        this.log.warn(`hand-over socket: ${(e as Error).message}`)
        return
      }
      if (got === null) return
      const a = this.parse(got.fd, got.length, got.truncated)
      if (a === undefined) continue
      try {
        this.onAdopt(a)
      } catch (e) {
        this.log.error(`adopting a connection from w${a.meta.from}: ${(e as Error).stack ?? String(e)}`)
      }
    }
  }

  private parse (fd: number, length: number, truncated: boolean): Adoption | undefined {
    const drop = (why: string): undefined => {
      if (fd >= 0) native.closeNow(fd)
      this.log.warn(`hand-over socket: a datagram ${why}: dropped`)
      return undefined
    }
    if (truncated) return drop('larger than a hand-over')
    if (fd < 0) return drop('without a connection')
    if (length < 4) return drop('too short')
    const len = this.rx.readUInt32LE(0)
    if (4 + len > length) return drop('with its meta cut short')
    let meta: HandoffMeta
    try { meta = JSON.parse(this.rx.toString('utf8', 4, 4 + len)) as HandoffMeta } catch { return drop('whose meta is not JSON') }
    if (typeof meta?.guid !== 'string' || typeof meta.remote !== 'string' || typeof meta.addr !== 'string' || typeof meta.from !== 'number') return drop('whose meta is not a hand-over')
    return { fd, meta, bytes: Buffer.from(this.rx.subarray(4 + len, length)), countsMoved: meta.to === this.slot && meta.toGen === this.generation }
  }

  close (): void {
    if (this.sock < 0) return
    // Connections still queued are closed with the socket (their clients reconnect); the counts
    // moved here go with this process's generation.
    this.messenger.off(HANDOFF_MESSAGE, this.onMessage)
    native.closeNow(this.sock)
    this.sock = -1
    try { unlinkSync(handoffPath(this.runDir, this.slot)) } catch { /* a successor replaced it */ }
  }
}

/** A hand-over under way: where to, and the raw bytes received since it was decided. */
interface Handing { to: HandoffTarget, guid: string, stash: Buffer[] }

/**
 * What a transport runs on the first frames of a connection (both transports, so their rules
 * are one): the claim of its client in the store and, when another worker serves that client,
 * the hand-over's bytes. `open` is the one test on the hot path: true only until the first SMB2
 * frame has been looked at, and while a hand-over is under way.
 */
export class ClientRouter {
  open = true
  handing?: Handing

  /** `handoff`: a worker's (undefined: one process, nobody to hand to); `adopted`: never hand this connection on. */
  constructor (private readonly server: ServerState, private readonly conn: Smb2Connection,
    private readonly handoff: Handoff | undefined, private readonly adopted: Adoption | undefined) {
    if (adopted?.meta.smb1 === true) adoptSmb1Upgrade(conn)
  }

  /**
   * A whole frame while `open`: true when the router took it (it travels with the hand-over; a
   * loan is released), false when the transport handles it as usual. `sendsPending`: replies of
   * this connection are still on their way out (it is then not handed over).
   */
  take (frame: Buffer, loan: Loan | undefined, sendsPending: boolean): boolean {
    if (this.handing !== undefined) {
      this.stashFrame(frame, loan)
      return true
    }
    // An SMB1 NEGOTIATE is answered here (an upgrade to SMB2); the SMB2 NEGOTIATE after it decides.
    if (frame.length >= 4 && frame.readUInt32LE(0) === SMB1_MAGIC && this.conn.negotiateCount === 0) return false
    this.open = false
    const raw = this.conn.state === ConnectionState.Initial ? peekNegotiateClientGuid(frame) : undefined
    if (raw === undefined) return false
    const guid = raw.toString('hex')
    const locks = this.server.locks
    if (this.handoff === undefined || this.adopted !== undefined) {
      locks.serveClient(guid)
      this.conn.servedClient = guid
      return false
    }
    const to = locks.claimClient(guid)
    if (to === undefined) {
      this.conn.servedClient = guid
      return false
    }
    if (sendsPending) {
      this.serveHere(guid, to, 'a reply of this worker is still being sent')
      return false
    }
    this.handing = { to, guid, stash: [] }
    this.open = true
    this.stashFrame(frame, loan)
    return true
  }

  /** Raw bytes received after the hand-over was decided (not through the frame reader). */
  stashRaw (bytes: Buffer): void { this.handing?.stash.push(Buffer.from(bytes)) }

  /**
   * Sends the connection (`fd`, from `remote`/`addr`) to the worker serving its client. True:
   * it is gone (counts moved, logged); the transport forgets it without ending the TCP
   * connection and closes its fd. False: it stays here, logged; the transport feeds it
   * `takeStash()` as received and reads on.
   */
  finish (fd: number | undefined, remote: string, admission: Admission): boolean {
    const h = this.handing!
    const bytes = Buffer.concat(h.stash)
    const limits = this.server.limits
    const why = fd === undefined
      ? 'the socket has no fd'
      : this.handoff!.send(h.to, fd, { guid: h.guid, remote, addr: admission.addr, ip: admission.ipCounted, smb1: this.conn.negotiateCount > 0 }, bytes)
    if (why !== undefined) {
      this.serveHere(h.guid, h.to, why)
      this.open = false
      return false
    }
    limits.moveTo(admission, h.to)
    this.server.log.info(`connection from ${remote} handed to w${h.to.w} (ClientGuid ${formatGuid(h.guid)} served there)`)
    return true
  }

  /** After a failed finish(): the bytes received since, to be read as if just received. */
  takeStash (): Buffer[] {
    const s = this.handing?.stash ?? []
    this.handing = undefined
    return s
  }

  private stashFrame (frame: Buffer, loan: Loan | undefined): void {
    this.handing!.stash.push(frameHeader(frame.length), Buffer.from(frame))
    loan?.release()
  }

  private serveHere (guid: string, to: HandoffTarget, why: string): void {
    this.server.locks.serveClient(guid)
    this.conn.servedClient = guid
    this.server.log.info(`connection from ${this.conn.io.remoteAddress}: ClientGuid ${formatGuid(guid)} is served by w${to.w}, but the hand-over failed (${why}): serving it here`)
  }
}

/**
 * An adopted connection that cannot be served (it went away before it was looked at): its fd
 * closed, and the counts moved here released.
 */
export function dropAdoption (server: ServerState, a: Adoption, why: string): void {
  server.log.info(`connection from ${a.meta.remote}, handed over by w${a.meta.from}: ${why}; closing it`)
  native.closeNow(a.fd)
  if (a.countsMoved) server.limits.release(server.limits.adopt(a.meta.addr, a.meta.remote, a.meta.ip))
}

/** The line a receiver logs for an adopted connection. */
export function adoptedLine (a: Adoption, remote: string): string {
  return `adopted connection from ${remote} (ClientGuid ${formatGuid(a.meta.guid)}) from w${a.meta.from}`
}
