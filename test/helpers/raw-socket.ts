// Raw TCP sockets against a live server, for the limit and timeout tests: connect from a chosen
// loopback source address, and wait for the server to close.
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
