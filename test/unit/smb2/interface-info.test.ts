// FSCTL_QUERY_NETWORK_INTERFACE_INFO's list (src/smb2/commands/interface-info.ts): which addresses
// the `interfaces` entries select, Samba's per-interface options, the 152-byte entries.
import t from 'tap'
import type { NetworkInterfaceInfo as OsIface } from 'node:os'
import { DEFAULT_LINK_SPEED, parseInterfaceEntry, serverInterfaces } from '../../../src/smb2/commands/interface-info.js'
import { NETWORK_INTERFACE_INFO_SIZE, RDMA_CAPABLE, RSS_CAPABLE, decodeNetworkInterfaceInfo, encodeNetworkInterfaceInfo } from '../../../src/smb2/commands/interface-info.wire.js'

const v4 = (address: string, internal = false): OsIface => ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: null })
const v6 = (address: string, scopeid = 0): OsIface => ({ address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal: false, cidr: null, scopeid })
// Interface names sysfs does not know here: index, speed and RSS come from the entry or defaults.
const probe = (): NodeJS.Dict<OsIface[]> => ({
  'smbtstest-lo0': [v4('127.0.0.1', true)],
  'smbtstest-e0': [v4('192.0.2.7'), v6('fe80::1:2', 3)],
  'smbtstest-e1': [v4('198.51.100.9')],
})

t.test('entries: names with wildcards, addresses, prefixes, options', async (t) => {
  t.ok(parseInterfaceEntry('eth*')!.match('eth0', '10.0.0.1', 'IPv4'))
  t.notOk(parseInterfaceEntry('eth*')!.match('wlan0', '10.0.0.1', 'IPv4'))
  t.ok(parseInterfaceEntry('10.0.0.0/8')!.match('x', '10.1.2.3', 'IPv4'))
  t.notOk(parseInterfaceEntry('10.0.0.0/8')!.match('x', '11.1.2.3', 'IPv4'))
  t.equal(parseInterfaceEntry('10.0.0.0/40'), undefined, 'a prefix longer than 32 selects nothing')
  const o = parseInterfaceEntry('eth0;speed=25000000000,capability=RSS,capability=RDMA,if_index=7')!
  t.same([o.speed, o.capability, o.ifIndex], [25_000_000_000n, RSS_CAPABLE | RDMA_CAPABLE, 7])
})

t.test('without `interfaces`: every address but loopback; the entries say what sysfs does not', async (t) => {
  const all = await serverInterfaces({ interfaces: [] }, probe)
  t.same(all.map(e => [e.family, e.address.toString('hex'), e.linkSpeed, e.ifIndex, e.scopeId]), [
    ['IPv4', 'c0000207', DEFAULT_LINK_SPEED, 0xffffffff, undefined],
    ['IPv6', 'fe800000000000000000000000010002', DEFAULT_LINK_SPEED, 0xffffffff, 3],
    ['IPv4', 'c6336409', DEFAULT_LINK_SPEED, 0xffffffff, undefined],
  ])
  const only = await serverInterfaces({ interfaces: ['smbtstest-e1;speed=10000000000,capability=RSS,if_index=4'] }, probe)
  t.same(only.map(e => [e.address.toString('hex'), e.linkSpeed, e.capability, e.ifIndex]), [['c6336409', 10_000_000_000n, RSS_CAPABLE, 4]])
  const lo = await serverInterfaces({ interfaces: [] }, () => ({ lo: [v4('127.0.0.1', true)] }))
  t.equal(lo.length, 1, 'only loopback: loopback is listed rather than nothing')
  t.same(await serverInterfaces({ interfaces: ['smbtstest-e0;speed=0'] }, probe), [], 'a link of speed 0 is left out (as Samba)')
})

t.test('encoding: 152-byte entries chained by Next, decoded back', async (t) => {
  const list = await serverInterfaces({ interfaces: [] }, probe)
  const b = encodeNetworkInterfaceInfo(list)
  t.equal(b.length, 3 * NETWORK_INTERFACE_INFO_SIZE)
  t.same([b.readUInt32LE(0), b.readUInt32LE(152), b.readUInt32LE(304)], [152, 152, 0])
  t.equal(b.readUInt16LE(24), 0x0002, 'SOCKADDR_IN family')
  t.equal(b.readUInt16LE(152 + 24), 0x0017, 'SOCKADDR_IN6 family')
  t.same(decodeNetworkInterfaceInfo(b), list)
})
