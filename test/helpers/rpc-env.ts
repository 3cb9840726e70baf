// An RpcEnv for tests of the RPC services: fixed names, the given shares, and the project's
// IdMap over a fixed password db and Unix account list (no /etc/passwd read).
import { IdMap } from '../../src/auth/idmap.js'
import { sidToString } from '../../src/wire/dtyp/sid.js'
import type { RpcEnv, RpcShare } from '../../src/rpc/service.js'
import { HandleTable, type RpcCallContext } from '../../src/rpc/service.js'

export const TEST_NETBIOS = 'SMBTS-TEST'

export function testIdMap (): IdMap {
  return new IdMap({
    netbiosName: TEST_NETBIOS,
    dbUsers: ['alice', 'bob'],
    unixUsers: [{ name: 'root', id: 0, gecos: 'root' }, { name: 'alice', id: 1001, gecos: 'Alice Liddell' }, { name: 'nobody', id: 65534 }],
    unixGroups: [{ name: 'root', id: 0 }, { name: 'staff', id: 50 }],
  })
}

export function testRpcEnv (shares: RpcShare[] = []): RpcEnv {
  const m = testIdMap()
  return {
    server: async () => ({ netbiosName: TEST_NETBIOS, workgroup: 'WORKGROUP', serverString: 'SMB SERVER', domainSid: m.domainSid }),
    shares: async () => shares,
    lookupNames: async (names) => names.map(n => m.lookupName(n)),
    lookupSids: async (sids) => sids.map(s => m.lookupSid(s)),
    users: async () => m.domainUsers(),
  }
}

export const testCallContext = (user = 'alice'): RpcCallContext => ({ handles: new HandleTable(), user })
export { sidToString }
