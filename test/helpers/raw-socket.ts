// Raw TCP sockets against a live server, for the limit and timeout tests: connect from a chosen
// loopback source address, write hand-made frames, and wait for the server to close.
import net from 'node:net'

/** Connects from `local`; resolves with the socket once connected. */
export function connect (port: number, local = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: local })
    s.once('connect', () => { resolve(s) })
    s.once('error', reject)
  })
}

/** Resolves true when the server closes the socket within `ms`. */
export function closedWithin (s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) { resolve(true); return }
    const timer = setTimeout(() => { resolve(false) }, ms)
    s.resume()
    s.once('close', () => { clearTimeout(timer); resolve(true) })
    s.once('error', () => {})
  })
}

/** One SMB2 request with its Direct-TCP length: a bare header (MS-SMB2 2.2.1.2) and `body`. */
export function frame (cmd: number, mid: bigint, body: Buffer, creditRequest = 1): Buffer {
  const h = Buffer.alloc(64)
  h.writeUInt32LE(0x424d53fe, 0)
  h.writeUInt16LE(64, 4)
  h.writeUInt16LE(1, 6)
  h.writeUInt16LE(cmd, 12)
  h.writeUInt16LE(creditRequest, 14)
  h.writeBigUInt64LE(mid, 24)
  const len = Buffer.alloc(4)
  len.writeUInt32BE(64 + body.length, 0)
  return Buffer.concat([len, h, body])
}
