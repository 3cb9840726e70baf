// dssetup (MS-DSSP) on the lsarpc pipe: DsRolerGetPrimaryDomainInformation (opnum 0), what a
// Windows client asks to learn whether the server is a domain member. This one is a standalone
// server in a workgroup.
import { NdrReader, NdrWriter } from './ndr.js'
import { WErr, type RpcInterface } from './service.js'

/** MS-DSSP 1.9: interface 3919286a-b10c-11d0-9ba8-00c04fd92ef5 version 0.0. */
export const DSSETUP_SYNTAX = { uuid: '3919286a-b10c-11d0-9ba8-00c04fd92ef5', version: 0 }

/** MS-DSSP 2.2.1 DSROLE_PRIMARY_DOMAIN_INFO_LEVEL. */
export const DsRoleInfoLevel = { Basic: 1, UpgradeStatus: 2, OperationState: 3 } as const
/** MS-DSSP 2.2.3 DSROLE_MACHINE_ROLE. */
export const DsRoleMachineRole = { StandaloneWorkstation: 0, MemberWorkstation: 1, StandaloneServer: 2 } as const
/** MS-DSSP 2.2.4 DSROLE_OPERATION_STATE: DsRoleOperationIdle. */
const OPERATION_IDLE = 0

export const dssetup: RpcInterface = {
  name: 'dssetup',
  syntax: DSSETUP_SYNTAX,
  async call (opnum, stub, env) {
    if (opnum !== 0) return undefined
    const level = new NdrReader(stub).u16()
    const w = new NdrWriter()
    if (level !== DsRoleInfoLevel.Basic && level !== DsRoleInfoLevel.UpgradeStatus && level !== DsRoleInfoLevel.OperationState) {
      return w.u32(0).u32(WErr.INVALID_PARAMETER).finish()
    }
    const info = await env.server()
    // [out, switch_is(InfoLevel)] PDSROLER_PRIMARY_DOMAIN_INFORMATION *DomainInfo: a unique
    // pointer to the union, its u16 discriminant first (the arms align to 4).
    w.pointer(level, (w, lv) => {
      w.align(4).u16(lv).align(4)
      if (lv === DsRoleInfoLevel.Basic) {
        // MS-DSSP 2.2.5 DSROLER_PRIMARY_DOMAIN_INFO_BASIC
        w.u16(DsRoleMachineRole.StandaloneServer)
        w.u32(0) // Flags: no DS running, no mixed mode, no primary-domain GUID
        w.wstringPtr(info.workgroup.toUpperCase()) // DomainNameFlat
        w.wstringPtr(null) // DomainNameDns
        w.wstringPtr(null) // DomainForestName
        w.bytes(Buffer.alloc(16)) // DomainGuid
      } else if (lv === DsRoleInfoLevel.UpgradeStatus) {
        w.u32(0).u16(0) // OperationState: not upgrading; PreviousServerState: unknown
      } else {
        w.u16(OPERATION_IDLE)
      }
    })
    w.flush()
    return w.u32(WErr.OK).finish()
  },
}
