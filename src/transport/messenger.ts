// Messages between worker processes (ARCHITECTURE "Processes"): what one worker must tell
// another — an oplock break for an open it does not hold, a ClientGuid it does not serve — goes
// here. Each worker listens on a unix stream socket `<runDir>/w<slot>.sock` (runDir is the
// supervisor's private 0700 directory, so the file mode is not what keeps others out); a sender
// connects to a peer the first time it has something for it and keeps the connection, one per
// direction. A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON; the first
// frame of a connection is `{"from":<slot>}`, which names the sender for every frame after it.
//
// Delivery is best effort by design: a peer that is dead, restarting or absent costs the sender a
// counted drop, never an exception, so no caller needs a try around a send and no worker stalls
// on another. A message already in the kernel's buffer when its peer dies is lost uncounted (no
// acknowledgement is worth its round trip here; a caller that needs one sends a reply). A peer
// that restarted in its slot is reached again by the next send: the old connection closed with
// the old process, and the supervisor's `worker-died` event drops it at once.
import net from 'node:net'
import { unlinkSync } from 'node:fs'
import { join } from 'node:path'

/** The `fromSlot` of the supervisor's events (`worker-died`, `worker-started`). */
export const SUPERVISOR_SLOT = -1

/** A frame larger than this ends the connection that sent it (no peer of ours sends one). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024

/** What travels: any JSON object with a string `type`, which picks its handlers. */
export interface PeerMessage {
  type: string
  [field: string]: unknown
}

export type MessageHandler = (msg: PeerMessage, fromSlot: number) => void

/** The supervisor's events about the workers, delivered as messages from SUPERVISOR_SLOT. */
export interface WorkerEvent extends PeerMessage {
  type: 'worker-died' | 'worker-started'
  slot: number
  generation: number
}

export interface MessengerCounters {
  /** Messages handed to the kernel (or delivered locally, to this worker's own slot). */
  sent: number
  /** Messages received and dispatched (handled or not). */
  received: number
  /** Messages to a peer that could not take them: not listening, gone, or the write failed. */
  dropped: number
  /** Received messages of a type no handler was registered for. */
  unhandled: number
}

export function messengerPath (runDir: string, slot: number): string {
  return join(runDir, `w${slot}.sock`)
}

/** The longest unix socket path Linux takes (sun_path is 108 bytes, NUL included). */
const SUN_PATH_MAX = 107

function frame (json: string): Buffer {
  const len = Buffer.byteLength(json)
  const b = Buffer.allocUnsafe(4 + len)
  b.writeUInt32BE(len, 0)
  b.write(json, 4)
  return b
}

export interface MessengerOptions {
  runDir: string
  /** This worker's slot: where it listens, and the `fromSlot` its messages carry. */
  slot: number
  /** Where problems go (a peer's bad frame, a handler that threw); default: nowhere. */
  log?: (level: 'warn' | 'debug', line: string) => void
}

export class Messenger {
  readonly slot: number
  readonly runDir: string
  readonly counters: MessengerCounters = { sent: 0, received: 0, dropped: 0, unhandled: 0 }
  private readonly handlers = new Map<string, MessageHandler[]>()
  /** Outbound connections by peer slot; a socket leaves once it closes. */
  private readonly peers = new Map<number, net.Socket>()
  private readonly inbound = new Set<net.Socket>()
  private readonly say: NonNullable<MessengerOptions['log']>
  private closed = false

  private constructor (opts: MessengerOptions, private readonly server: net.Server) {
    this.slot = opts.slot
    this.runDir = opts.runDir
    this.say = opts.log ?? (() => {})
  }

  /**
   * Listens on `<runDir>/w<slot>.sock`, replacing the socket file a previous process in this
   * slot left (it is dead: the supervisor starts a slot's next worker only after the last exited).
   */
  static async listen (opts: MessengerOptions): Promise<Messenger> {
    if (!Number.isInteger(opts.slot) || opts.slot < 0) throw new RangeError(`slot must be an integer >= 0, got ${opts.slot}`)
    const path = messengerPath(opts.runDir, opts.slot)
    if (Buffer.byteLength(path) > SUN_PATH_MAX) throw new RangeError(`${path}: longer than a unix socket path may be (${SUN_PATH_MAX} bytes)`)
    try { unlinkSync(path) } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e }
    const server = net.createServer()
    const m = new Messenger(opts, server)
    server.on('connection', (sock) => { m.accept(sock) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => { server.off('error', reject); resolve() })
    })
    server.on('error', (e) => { m.say('warn', `messenger: ${e.message}`) })
    return m
  }

  /** Calls `handler` for every message of `type`, from a peer or the supervisor (SUPERVISOR_SLOT). */
  on (type: string, handler: MessageHandler): this {
    const list = this.handlers.get(type)
    if (list === undefined) this.handlers.set(type, [handler])
    else list.push(handler)
    return this
  }

  off (type: string, handler: MessageHandler): this {
    const list = this.handlers.get(type)
    const i = list?.indexOf(handler) ?? -1
    if (i >= 0) list!.splice(i, 1)
    return this
  }

  /**
   * Sends `msg` to the worker in `slot`. Never throws for the peer's sake (a dead or absent peer
   * is a counted drop); throws only for a caller's mistake: a slot that is not one, a message
   * without a string `type`, or one JSON cannot carry.
   */
  send (slot: number, msg: object): void {
    if (!Number.isInteger(slot) || slot < 0) throw new RangeError(`slot must be an integer >= 0, got ${slot}`)
    if (typeof (msg as { type?: unknown }).type !== 'string') throw new TypeError('a message needs a string `type`')
    const json = JSON.stringify(msg)
    if (Buffer.byteLength(json) > MAX_MESSAGE_BYTES) throw new RangeError(`message of ${Buffer.byteLength(json)} bytes: more than ${MAX_MESSAGE_BYTES}`)
    if (this.closed) { this.counters.dropped++; return }
    if (slot === this.slot) {
      // To ourselves: the same copy and the same asynchrony as from a peer.
      this.counters.sent++
      queueMicrotask(() => { this.dispatch(JSON.parse(json) as PeerMessage, this.slot) })
      return
    }
    const sock = this.peers.get(slot) ?? this.connect(slot)
    // The callback reports what the kernel did with it; a socket that never connected
    // (ENOENT, ECONNREFUSED) or was destroyed fails every write still queued on it.
    sock.write(frame(json), (err) => {
      if (err == null) this.counters.sent++
      else this.counters.dropped++
    })
  }

  /**
   * Hands a message to this worker's handlers as if `fromSlot` had sent it: the worker's end of
   * the supervisor's channel delivers its events (from SUPERVISOR_SLOT) through here.
   */
  dispatch (msg: PeerMessage, fromSlot: number): void {
    this.counters.received++
    // A peer that died is not reached through its old connection (there is none worth keeping):
    // the next send connects to whoever listens in the slot now.
    if (fromSlot === SUPERVISOR_SLOT && msg.type === 'worker-died' && typeof msg.slot === 'number') this.forget(msg.slot)
    const list = this.handlers.get(msg.type)
    if (list === undefined || list.length === 0) {
      this.counters.unhandled++
      this.say('debug', `messenger: no handler for '${msg.type}' from ${slotName(fromSlot)}`)
      return
    }
    for (const h of [...list]) {
      try {
        h(msg, fromSlot)
      } catch (e) {
        this.say('warn', `messenger: handler for '${msg.type}' from ${slotName(fromSlot)} threw: ${(e as Error).message}`)
      }
    }
  }

  /** Stops listening, ends every connection and removes the socket file. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const s of this.peers.values()) s.destroy()
    this.peers.clear()
    for (const s of this.inbound) s.destroy()
    this.inbound.clear()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
    try { unlinkSync(messengerPath(this.runDir, this.slot)) } catch { /* a successor already replaced it */ }
  }

  private forget (slot: number): void {
    const s = this.peers.get(slot)
    if (s === undefined) return
    this.peers.delete(slot)
    s.destroy()
  }

  private connect (slot: number): net.Socket {
    const sock = net.connect(messengerPath(this.runDir, slot))
    this.peers.set(slot, sock)
    sock.write(frame(JSON.stringify({ from: this.slot })))
    sock.on('error', (e) => { this.say('debug', `messenger: w${slot}: ${e.message}`) })
    // Nothing comes back on an outbound connection; reading it only notices the peer's end.
    sock.resume()
    sock.on('close', () => { if (this.peers.get(slot) === sock) this.peers.delete(slot) })
    return sock
  }

  private accept (sock: net.Socket): void {
    if (this.closed) { sock.destroy(); return }
    this.inbound.add(sock)
    let from: number | undefined
    let buf: Buffer = Buffer.alloc(0)
    const bad = (why: string): void => {
      this.say('warn', `messenger: ${from === undefined ? 'a peer' : slotName(from)} sent ${why}; closing its connection`)
      sock.destroy()
    }
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0)
        if (len > MAX_MESSAGE_BYTES) { bad(`a frame of ${len} bytes`); return }
        if (buf.length < 4 + len) break
        const text = buf.toString('utf8', 4, 4 + len)
        buf = buf.subarray(4 + len)
        let msg: unknown
        try { msg = JSON.parse(text) } catch { bad('a frame that is not JSON'); return }
        if (from === undefined) {
          const f = (msg as { from?: unknown } | null)?.from
          if (typeof f !== 'number' || !Number.isInteger(f) || f < 0) { bad('no slot in its first frame'); return }
          from = f
          continue
        }
        if (typeof (msg as { type?: unknown } | null)?.type !== 'string') { bad('a message without a type'); return }
        this.dispatch(msg as PeerMessage, from)
      }
    })
    sock.on('error', (e) => { this.say('debug', `messenger: inbound ${from === undefined ? '' : slotName(from)}: ${e.message}`) })
    sock.on('close', () => { this.inbound.delete(sock) })
  }
}

function slotName (slot: number): string {
  return slot === SUPERVISOR_SLOT ? 'the supervisor' : `w${slot}`
}
