// FSCTL_QUERY_NETWORK_INTERFACE_INFO (MS-SMB2 3.3.5.15.11): the server's addresses, each with its
// interface's index, link speed and RSS/RDMA capability, from which a multichannel client picks
// where to open more channels.
//
// Which addresses: those the `interfaces` parameter names (an interface name, `*` wildcards
// allowed, an address, or address/prefix), each optionally followed by Samba's per-interface
// options, `;speed=BITS,capability=RSS,capability=RDMA,if_index=N`; without `interfaces`, every
// address but the loopback ones (and those when there is nothing else). Speed, index and RSS come
// from sysfs when not given: `/sys/class/net/IF/speed` (Mb/s; unknown, as for loopback and most
// virtual links: 1 Gb/s, Samba's default), `ifindex`, and more than one receive queue for RSS.
import { networkInterfaces } from 'node:os'
import { readFile, readdir } from 'node:fs/promises'
import { isIPv4, isIPv6 } from 'node:net'
import type { GlobalConfig } from '../../config/config.js'
import { RDMA_CAPABLE, RSS_CAPABLE, type NetworkInterfaceInfo } from './interface-info.wire.js'

/** Samba's default when a link's speed is unknown: 1 Gb/s. */
export const DEFAULT_LINK_SPEED = 1_000_000_000n

interface Selector {
  /** An interface name (glob) or an address, or an address with a prefix length. */
  match: (ifName: string, address: string, family: 'IPv4' | 'IPv6') => boolean
  speed?: bigint
  capability?: number
  ifIndex?: number
}

function ipv4ToInt (a: string): number {
  return a.split('.').reduce((n, x) => (n * 256) + Number(x), 0)
}

/** One `interfaces` entry; undefined when it names nothing an address can match. */
export function parseInterfaceEntry (entry: string): Selector | undefined {
  const [what, opts] = entry.split(';', 2)
  const name = what.trim()
  if (name === '') return undefined
  const sel: Selector = { match: () => false }
  const slash = name.indexOf('/')
  if (slash > 0 && isIPv4(name.slice(0, slash))) {
    const bits = Number(name.slice(slash + 1))
    const mask = bits >= 0 && bits <= 32 && Number.isInteger(bits) ? (bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0) : undefined
    if (mask === undefined) return undefined
    const net = (ipv4ToInt(name.slice(0, slash)) & mask) >>> 0
    sel.match = (_n, a, f) => f === 'IPv4' && ((ipv4ToInt(a) & mask) >>> 0) === net
  } else if (isIPv4(name) || isIPv6(name)) {
    sel.match = (_n, a) => a.toLowerCase() === name.toLowerCase()
  } else {
    const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replace(/\*/g, '.*')}$`)
    sel.match = (n) => re.test(n)
  }
  for (const o of (opts ?? '').split(',')) {
    const [k, v] = o.split('=', 2).map(x => x.trim().toLowerCase())
    if (k === 'speed' && /^\d+$/.test(v ?? '')) sel.speed = BigInt(v)
    else if (k === 'capability' && v === 'rss') sel.capability = (sel.capability ?? 0) | RSS_CAPABLE
    else if (k === 'capability' && v === 'rdma') sel.capability = (sel.capability ?? 0) | RDMA_CAPABLE
    else if (k === 'if_index' && /^\d+$/.test(v ?? '')) sel.ifIndex = Number(v)
  }
  return sel
}

async function sysfs (ifName: string, file: string): Promise<string | undefined> {
  if (!/^[\w.:@-]+$/.test(ifName)) return undefined
  try { return (await readFile(`/sys/class/net/${ifName}/${file}`, 'utf8')).trim() } catch { return undefined }
}

async function linkFacts (ifName: string): Promise<{ ifIndex: number, speed: bigint, rss: boolean }> {
  const idx = Number(await sysfs(ifName, 'ifindex'))
  const mbps = Number(await sysfs(ifName, 'speed'))
  let rx = 0
  try { rx = (await readdir(`/sys/class/net/${ifName}/queues`)).filter(q => q.startsWith('rx-')).length } catch { /* no sysfs */ }
  return {
    ifIndex: Number.isInteger(idx) && idx > 0 ? idx : 0,
    speed: Number.isInteger(mbps) && mbps > 0 ? BigInt(mbps) * 1_000_000n : DEFAULT_LINK_SPEED,
    rss: rx > 1,
  }
}

function addressBytes (address: string, family: 'IPv4' | 'IPv6'): Buffer {
  if (family === 'IPv4') return Buffer.from(address.split('.').map(Number))
  // Expand '::' and an embedded IPv4 tail into eight 16-bit groups.
  let a = address.split('%')[0]
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a)
  if (v4 !== null) {
    const b = v4[1].split('.').map(Number)
    a = a.slice(0, -v4[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`
  }
  const [head, tail] = a.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => { out.writeUInt16BE(parseInt(g, 16), i * 2) })
  return out
}

/**
 * The server's interfaces as FSCTL_QUERY_NETWORK_INTERFACE_INFO lists them. MS-SMB2 3.3.5.15.11:
 * no address of an interface whose IfIndex is 0 (one sysfs does not know and the config does not
 * give is listed with 0xFFFFFFFF, as Samba does); Samba also leaves out a link of speed 0.
 */
export async function serverInterfaces (g: Pick<GlobalConfig, 'interfaces'>,
  probe: () => NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]> = networkInterfaces): Promise<NetworkInterfaceInfo[]> {
  const selectors = g.interfaces.map(parseInterfaceEntry).filter((s): s is Selector => s !== undefined)
  const all = probe()
  const out: NetworkInterfaceInfo[] = []
  const pick = async (loopback: boolean): Promise<void> => {
    for (const [ifName, addrs] of Object.entries(all)) {
      for (const a of addrs ?? []) {
        const family = a.family === 'IPv6' ? 'IPv6' : 'IPv4'
        const sel = selectors.find(s => s.match(ifName, a.address, family))
        if (selectors.length > 0 ? sel === undefined : a.internal !== loopback) continue
        const facts = await linkFacts(ifName)
        const speed = sel?.speed ?? facts.speed
        if (speed === 0n) continue
        out.push({
          ifIndex: sel?.ifIndex ?? (facts.ifIndex !== 0 ? facts.ifIndex : 0xffffffff),
          capability: sel?.capability ?? (facts.rss ? RSS_CAPABLE : 0),
          linkSpeed: speed,
          family,
          address: addressBytes(a.address, family),
          ...(family === 'IPv6' ? { scopeId: a.scopeid ?? 0 } : {}),
        })
      }
    }
  }
  await pick(false)
  if (out.length === 0 && selectors.length === 0) await pick(true)
  return out
}
