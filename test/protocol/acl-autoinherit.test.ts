// SE_DACL_AUTO_INHERITED (MS-DTYP 2.4.6) through the whole server in memory: a new file takes it
// from its directory's DACL when it inherits ACEs from it (MS-DTYP 2.5.3.4.1); a DACL set on a
// file keeps it only with SE_DACL_AUTO_INHERIT_REQ, as Windows does, unless the share keeps the
// flag as given (Samba's `acl flag inherited canonicalization = no`: smbtorture
// smb2.acls_non_canonical.flags).
import t from 'tap'
import { MemClient, memServer, queryInfoBody, setInfoBody, type FileId } from '../helpers/mem-client.js'
import { Command } from '../../src/wire/constants.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACL_REVISION, DACL_SECURITY_INFORMATION, SE_DACL_AUTO_INHERITED, SE_DACL_AUTO_INHERIT_REQ,
  encodeSecurityDescriptor, parseSecurityDescriptor,
} from '../../src/wire/dtyp/security-descriptor.js'
import { sidFromString } from '../../src/wire/dtyp/sid.js'

const INFO_SECURITY = 3 // MS-SMB2 2.2.37 SMB2_0_INFO_SECURITY
const ALL_ACCESS = 0x001f01ff
const READ_CONTROL_WRITE_DAC = 0x00060000
const OI_CI = 0x3 // OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE
const WORLD = sidFromString('S-1-1-0')

async function daclControl (c: MemClient, fid: FileId): Promise<number> {
  const r = await c.request({ cmd: Command.QUERY_INFO, body: queryInfoBody(fid, INFO_SECURITY, 0, 65536, DACL_SECURITY_INFORMATION) })
  return parseSecurityDescriptor(r.body.subarray(8, 8 + r.body.readUInt32LE(4))).control & SE_DACL_AUTO_INHERITED
}

async function setDacl (c: MemClient, fid: FileId, control: number, flags: number): Promise<number> {
  const sd = encodeSecurityDescriptor({ control, dacl: { revision: ACL_REVISION, aces: [{ type: ACCESS_ALLOWED_ACE_TYPE, flags, mask: ALL_ACCESS, sid: WORLD }] } })
  return (await c.request({ cmd: Command.SET_INFO, body: setInfoBody(fid, INFO_SECURITY, 0, sd, DACL_SECURITY_INFORMATION) })).status
}

for (const canonical of [true, false]) {
  t.test(`acl flag inherited canonicalization = ${canonical ? 'yes' : 'no'}`, async t => {
    const srv = memServer(canonical ? {} : { shareLines: ['acl flag inherited canonicalization = no'] })
    t.teardown(srv.cleanup)
    const c = await new MemClient(srv.state).connect()
    const d = await c.open('dir', { access: ALL_ACCESS, disposition: 3, options: 1 })
    t.equal(await setDacl(c, d, SE_DACL_AUTO_INHERITED | SE_DACL_AUTO_INHERIT_REQ, OI_CI), 0)
    t.equal(await daclControl(c, d), SE_DACL_AUTO_INHERITED, 'asked for with SE_DACL_AUTO_INHERIT_REQ: kept')

    const f = await c.open('dir\\f.txt', { access: READ_CONTROL_WRITE_DAC, disposition: 3 })
    t.equal(await daclControl(c, f), SE_DACL_AUTO_INHERITED, 'a new file inherits from a DACL that has it: it has it too')

    t.equal(await setDacl(c, f, SE_DACL_AUTO_INHERITED, 0), 0)
    t.equal(await daclControl(c, f), canonical ? 0 : SE_DACL_AUTO_INHERITED,
      canonical ? 'set without SE_DACL_AUTO_INHERIT_REQ: cleared, as Windows does' : 'set without SE_DACL_AUTO_INHERIT_REQ: kept as given')
    t.equal(await setDacl(c, f, 0, 0), 0)
    t.equal(await daclControl(c, f), 0, 'a DACL set without it has none')
    t.equal(await setDacl(c, f, SE_DACL_AUTO_INHERITED | SE_DACL_AUTO_INHERIT_REQ, 0), 0)
    t.equal(await daclControl(c, f), SE_DACL_AUTO_INHERITED, 'with SE_DACL_AUTO_INHERIT_REQ: kept')
    await c.close(f)
    await c.close(d)
  })
}
