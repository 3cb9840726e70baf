// MS-SMB2 2.2.32.5 NETWORK_INTERFACE_INFO: the FSCTL_QUERY_NETWORK_INTERFACE_INFO output, one
// 152-byte entry per address, chained by Next. Pure codec: imports only src/wire.

/** MS-SMB2 2.2.32.5 Capability. */
export const RSS_CAPABLE = 0x00000001
export const RDMA_CAPABLE = 0x00000002

/** MS-SMB2 2.2.32.5.1 SockAddr_Storage Family: InterNetwork, InterNetworkV6. */
export const AF_INET_SMB = 0x0002
export const AF_INET6_SMB = 0x0017

/** Next, IfIndex, Capability, Reserved, LinkSpeed, then SockAddr_Storage (128 bytes). */
export const NETWORK_INTERFACE_INFO_SIZE = 24 + 128

export interface NetworkInterfaceInfo {
  ifIndex: number
  capability: number
  /** Bits per second. */
  linkSpeed: bigint
  family: 'IPv4' | 'IPv6'
  /** Four bytes (IPv4) or sixteen (IPv6), network order. */
  address: Buffer
  /** IPv6 only: the scope of a link-local address (MS-SMB2 2.2.32.5.1.2 ScopeId). */
  scopeId?: number
}

export function encodeNetworkInterfaceInfo (list: readonly NetworkInterfaceInfo[]): Buffer {
  const out = Buffer.alloc(list.length * NETWORK_INTERFACE_INFO_SIZE)
  list.forEach((e, i) => {
    const off = i * NETWORK_INTERFACE_INFO_SIZE
    out.writeUInt32LE(i === list.length - 1 ? 0 : NETWORK_INTERFACE_INFO_SIZE, off)
    out.writeUInt32LE(e.ifIndex >>> 0, off + 4)
    out.writeUInt32LE(e.capability >>> 0, off + 8)
    out.writeBigUInt64LE(e.linkSpeed, off + 16)
    const sa = off + 24
    if (e.family === 'IPv4') {
      // MS-SMB2 2.2.32.5.1.1 SOCKADDR_IN: Family, Port (0), IPv4Address, Reserved.
      if (e.address.length !== 4) throw new RangeError('an IPv4 address is 4 bytes')
      out.writeUInt16LE(AF_INET_SMB, sa)
      e.address.copy(out, sa + 4)
    } else {
      // MS-SMB2 2.2.32.5.1.2 SOCKADDR_IN6: Family, Port (0), FlowInfo (0), IPv6Address, ScopeId.
      if (e.address.length !== 16) throw new RangeError('an IPv6 address is 16 bytes')
      out.writeUInt16LE(AF_INET6_SMB, sa)
      e.address.copy(out, sa + 8)
      out.writeUInt32LE((e.scopeId ?? 0) >>> 0, sa + 24)
    }
  })
  return out
}

/** The entries of an encoded list (a client's view; tests and fuzzing check the encoder with it). */
export function decodeNetworkInterfaceInfo (buf: Buffer): NetworkInterfaceInfo[] {
  const out: NetworkInterfaceInfo[] = []
  let off = 0
  for (;;) {
    if (off + NETWORK_INTERFACE_INFO_SIZE > buf.length) throw new RangeError(`NETWORK_INTERFACE_INFO at ${off} runs past ${buf.length} bytes`)
    const next = buf.readUInt32LE(off)
    const family = buf.readUInt16LE(off + 24)
    const e: NetworkInterfaceInfo = {
      ifIndex: buf.readUInt32LE(off + 4),
      capability: buf.readUInt32LE(off + 8),
      linkSpeed: buf.readBigUInt64LE(off + 16),
      family: family === AF_INET6_SMB ? 'IPv6' : 'IPv4',
      address: Buffer.from(family === AF_INET6_SMB ? buf.subarray(off + 32, off + 48) : buf.subarray(off + 28, off + 32)),
    }
    if (family === AF_INET6_SMB) e.scopeId = buf.readUInt32LE(off + 48)
    else if (family !== AF_INET_SMB) throw new RangeError(`unknown address family 0x${family.toString(16)}`)
    out.push(e)
    if (next === 0) return out
    if (next % 8 !== 0 || next < NETWORK_INTERFACE_INFO_SIZE) throw new RangeError(`bad Next ${next}`)
    off += next
    if (out.length > 4096) throw new RangeError('too many entries')
  }
}
