// What the protocol tests of ACLs deciding access share (test/protocol/acl-access.test.ts,
// default-descriptor.test.ts): a session as one of the test's users, a file's descriptor read and
// set over QUERY_INFO / SET_INFO, and the status an open of a name gets.
import { MemClient, queryInfoBody, setInfoBody, type FileId, type MemServer } from './mem-client.js'
import { Command } from '../../src/wire/constants.js'
import {
  DACL_SECURITY_INFORMATION, GROUP_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, encodeSecurityDescriptor, parseSecurityDescriptor,
  type SecurityDescriptor,
} from '../../src/wire/dtyp/security-descriptor.js'

/** SMB2_0_INFO_SECURITY. */
export const INFO_SECURITY = 3
/** Owner, group and DACL. */
export const ALL_SECURITY = OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
const OPEN = 1

/** A session of `user` (its password from `users`) on `share`. */
export async function sessionAs<U extends Record<string, string>> (srv: MemServer, users: U, user: keyof U & string, share = 'share'): Promise<MemClient> {
  return await new MemClient(srv.state).connect({ user, password: users[user]!, share })
}

/** The owner, group and DACL of an open's file (throws on a refusal). */
export async function querySd (c: MemClient, fid: FileId): Promise<SecurityDescriptor> {
  const r = await c.request({ cmd: Command.QUERY_INFO, body: queryInfoBody(fid, INFO_SECURITY, 0, 65536, ALL_SECURITY) })
  if (r.status !== 0) throw new Error(`query: 0x${r.status.toString(16)}`)
  return parseSecurityDescriptor(r.body.subarray(8, 8 + r.body.readUInt32LE(4)))
}

/** SET_INFO of the parts `info` names; the status. */
export async function setSd (c: MemClient, fid: FileId, info: number, sd: SecurityDescriptor): Promise<number> {
  return (await c.request({ cmd: Command.SET_INFO, body: setInfoBody(fid, INFO_SECURITY, 0, encodeSecurityDescriptor(sd), info) })).status
}

/** The status an open of existing `name` for `access` gets (closed again when it succeeds). */
export async function openStatus (c: MemClient, name: string, access: number): Promise<number> {
  const r = await c.create(name, { access, disposition: OPEN })
  if (r.status === 0) await c.close({ persistent: r.body.readBigUInt64LE(64), volatile: r.body.readBigUInt64LE(72) })
  return r.status
}
