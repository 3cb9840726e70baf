// wkssvc (MS-WKST): NetrWkstaGetInfo (opnum 0) levels 100, 101, 102 (MS-WKST 2.2.5.1-2.2.5.3).
import { NdrReader, NdrWriter } from './ndr.js'
import { PLATFORM_ID_NT, WErr, type RpcInterface } from './service.js'
import { SERVER_VERSION } from './srvsvc.js'

/** MS-WKST 1.9: interface 6bffd098-a112-3610-9833-46c3f87e345a version 1.0. */
export const WKSSVC_SYNTAX = { uuid: '6bffd098-a112-3610-9833-46c3f87e345a', version: 1 }

export const WkssvcOpnum = { NetrWkstaGetInfo: 0 } as const

// MS-WKST 2.2.4.1 WKSTA_INFO union arms.
const WKSTA_INFO_ARMS = new Set([100, 101, 102, 502, 1013, 1018, 1028, 1032, 1046])

export const wkssvc: RpcInterface = {
  name: 'wkssvc',
  syntax: WKSSVC_SYNTAX,
  async call (opnum, stub, env) {
    if (opnum !== WkssvcOpnum.NetrWkstaGetInfo) return undefined
    const r = new NdrReader(stub)
    r.wstringPtr()
    r.flush()
    const level = r.u32()
    const info = await env.server()
    const w = new NdrWriter()
    w.u32(level)
    if (level === 100 || level === 101 || level === 102) {
      w.pointer(level, (w, lv) => {
        w.u32(PLATFORM_ID_NT).wstringPtr(info.netbiosName).wstringPtr(info.workgroup)
        w.u32(SERVER_VERSION.major).u32(SERVER_VERSION.minor)
        if (lv === 100) return
        w.wstringPtr('C:\\') // wki101_lanroot
        if (lv === 102) w.u32(0) // wki102_logged_on_users
      })
      w.flush()
      w.u32(WErr.OK)
    } else {
      if (WKSTA_INFO_ARMS.has(level)) w.u32(0)
      w.u32(WErr.INVALID_LEVEL)
    }
    return w.finish()
  },
}
