// MemClient over a real TCP socket (Direct TCP framing, MS-SMB2 2.1): the same request builders,
// NTLM login and parsing, talking to a server in another process. One request (or compound) in
// flight per `raw` call; `pipeline` sends several and waits for all their replies.
import net from 'node:net'
import { MemClient, parseResponses, type Req, type Resp } from './mem-client.js'
import type { ServerState } from '../../src/session/server-state.js'
import { SMB2_TRANSFORM_MAGIC } from '../../src/wire/constants.js'

export class TcpClient extends MemClient {
  private sock!: net.Socket
  private buf: Buffer = Buffer.alloc(0)
  private readonly waiters: Array<(pdu: Buffer | undefined) => void> = []
  private readonly frames: Buffer[] = []
  dead = false
  /** Encrypted replies to pipelined requests that did not decrypt. */
  undecryptable = 0
  /** Replies awaited by `pipeline`, by MessageId (single-request PDUs only). */
  private readonly pending = new Map<bigint, (r: Resp | undefined) => void>()

  private constructor () {
    // The in-memory connection MemClient builds is never used: only its credit window size is read.
    super({ config: { global: { maxCredits: 8192 } } } as unknown as ServerState)
  }

  static async open (port: number, host = '127.0.0.1', localAddress?: string): Promise<TcpClient> {
    const c = new TcpClient()
    await new Promise<void>((resolve, reject) => {
      c.sock = net.connect({ port, host, localAddress }, resolve)
      c.sock.once('error', reject)
    })
    c.sock.setNoDelay(true)
    c.sock.on('data', (d: Buffer) => { c.onData(d) })
    const end = (): void => {
      c.dead = true
      for (const w of c.waiters.splice(0)) w(undefined)
      for (const f of c.pending.values()) f(undefined)
      c.pending.clear()
    }
    c.sock.on('close', end)
    c.sock.on('error', end)
    return c
  }

  private onData (d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d])
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0) & 0xffffff
      if (this.buf.length < 4 + len) break
      const pdu = Buffer.from(this.buf.subarray(4, 4 + len))
      this.buf = this.buf.subarray(4 + len)
      // A pipelined request's reply may come encrypted: its MessageId is inside the transform.
      let plain: Buffer = pdu
      if (this.pending.size > 0 && pdu.readUInt32LE(0) === SMB2_TRANSFORM_MAGIC && this.decryptor !== undefined) {
        try { plain = this.decryptor.decrypt(pdu) } catch {
          // A reply that does not authenticate (its buffer overwritten at the server): every
          // pipelined request fails.
          this.undecryptable++
          for (const f of this.pending.values()) f(undefined)
          this.pending.clear()
          continue
        }
      }
      // Oplock break notifications and interim (STATUS_PENDING) responses are noted (nextBreak,
      // interims) and are nobody's reply: a request that went async waits for its final one.
      if (unsolicitedOrInterim(plain, this.decryptor !== undefined ? (p) => this.decryptor!.decrypt(p) : undefined)) {
        this.classify(pdu)
        continue
      }
      const byMid = this.pending.get(plain.readBigUInt64LE(24))
      if (byMid !== undefined) { this.pending.delete(plain.readBigUInt64LE(24)); byMid(parseResponses(plain)[0]); continue }
      const w = this.waiters.shift()
      if (w !== undefined) w(pdu)
      else this.frames.push(pdu)
    }
  }

  private next (): Promise<Buffer | undefined> {
    const f = this.frames.shift()
    if (f !== undefined) return Promise.resolve(f)
    if (this.dead) return Promise.resolve(undefined)
    return new Promise((resolve) => { this.waiters.push(resolve) })
  }

  private put (pdu: Buffer): void {
    const h = Buffer.alloc(4)
    h.writeUInt32BE(pdu.length, 0)
    this.sock.write(Buffer.concat([h, pdu]))
  }

  override async raw (pdu: Buffer): Promise<Buffer[]> {
    if (this.dead) return []
    this.put(pdu)
    const r = await this.next()
    return r === undefined ? [] : [r]
  }

  /** Sends every request at once (each its own PDU, encrypted as `send` would); resolves each
   *  reply, or undefined if the connection died first. Replies are matched by MessageId. */
  pipeline (reqs: Req[]): Array<Promise<Resp | undefined>> {
    return reqs.map((r) => {
      const mid = this.nextMid
      const p = new Promise<Resp | undefined>((resolve) => {
        if (this.dead) { resolve(undefined); return }
        this.pending.set(mid, resolve)
      })
      if (!this.dead) {
        const m = this.message(r)
        this.signIfNeeded(m, r)
        this.put((r.encrypt ?? this.encryptAll) && this.encryptor !== undefined ? Buffer.concat(this.encryptor.encrypt(this.sessionId, [m])) : m)
      }
      return p
    })
  }

  /** Stops (and restarts) reading the socket: replies pile up at the server, as with a client that never reads. */
  pauseReading (): void { this.sock.pause() }
  resumeReading (): void { this.sock.resume() }

  /** Bytes as they are, no framing added (a bogus length header, a frame sent in pieces). */
  writeRaw (bytes: Buffer): void { if (!this.dead) this.sock.write(bytes) }

  /** Resolves true when the server closes the connection within `ms`. */
  closedWithin (ms: number): Promise<boolean> {
    if (this.dead) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => { resolve(false) }, ms)
      this.sock.once('close', () => { clearTimeout(timer); resolve(true) })
    })
  }

  end (): void { this.sock.destroy() }
}

/** A PDU that is an oplock break notification or an interim response (decrypted first if it can be). */
function unsolicitedOrInterim (pdu: Buffer, decrypt: ((p: Buffer) => Buffer) | undefined): boolean {
  let plain = pdu
  if (pdu.readUInt32LE(0) === SMB2_TRANSFORM_MAGIC) {
    if (decrypt === undefined) return false
    try { plain = decrypt(pdu) } catch { return false }
  }
  if (plain.length < 64 || plain.readUInt32LE(0) !== 0x424d53fe || plain.readUInt32LE(20) !== 0) return false // one message, not a compound
  const UNSOLICITED = 0xffffffffffffffffn
  const STATUS_PENDING = 0x103
  return plain.readBigUInt64LE(24) === UNSOLICITED || plain.readUInt32LE(8) === STATUS_PENDING
}
