// SMB3 security against a live server over TCP (io_uring by default, node:net with
// SMBTS_TEST_TRANSPORT=net): the re-authentication policy through our TCP client, and security
// descriptors set and read back by impacket (a real client, its own SD encoder) and stored in
// security.NTACL. (smbcacls cannot be pointed at another port than 445/139.)
import t from 'tap'
import { join } from 'node:path'
import { startLive, type LiveServer } from '../helpers/live.js'
import { pythonModuleMissing, runPy, type StepResult } from '../helpers/py.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { Access, Command, Disposition, readBody, Status } from '../helpers/mem-client.js'
import { native } from '../../src/io/native.js'
import { SAMBA_NTACL_XATTR_NAME, decodeSambaNtAcl } from '../../src/vfs/samba-ntacl.js'
import { sidToString } from '../../src/wire/dtyp/sid.js'

let live: LiveServer
t.before(async () => { live = await startLive({ users: { other: 'Other-pass2' } }) })
t.teardown(async () => { await live.stop() })

t.test('re-authentication: same user and anonymous keep the session, another user ends it', async t => {
  const c = await TcpClient.open(live.port)
  t.teardown(() => { c.end() })
  await c.connect({ dialect: 0x0311, user: live.user, password: live.password, signAll: true })
  const fid = await c.open('reauth-live.txt', { access: Access.GENERIC_READ | Access.GENERIC_WRITE, disposition: Disposition.OVERWRITE_IF })
  t.equal((await c.write(fid, 0, Buffer.from('one'))).status, 0)
  // The session object is the in-process server's; with workers (SMBTS_TEST_WORKERS) the replies say it all.
  const session = live.workers === 1 ? live.server.state.sessions.get(c.sessionId)! : undefined

  const anon = await c.login({ reauth: true, anonymous: true })
  t.equal(anon.last.status, 0, 'anonymous re-authentication accepted')
  t.ok(anon.finalSigned, 'answered under the session\'s unchanged signing key')
  if (session !== undefined) {
    t.equal(session.user, live.user, 'the session is still the user\'s')
    t.notOk(session.isAnonymous, 'and did not become anonymous')
  }
  const w = await c.write(fid, 0, Buffer.from('two'))
  t.equal(w.status, 0, 'the open still writes')
  t.ok(c.verify(w), 'signed with the first key')

  const same = await c.login({ reauth: true, user: live.user, password: live.password })
  t.equal(same.last.status, 0, 'the same user again: accepted')
  t.equal((await c.write(fid, 0, Buffer.from('three'))).status, 0, 'the open carries on')

  const other = await c.login({ reauth: true, user: 'other', password: 'Other-pass2' })
  t.equal(other.last.status, Status.ACCESS_DENIED, 'another user: ACCESS_DENIED')
  if (session !== undefined) t.notOk(live.server.state.sessions.has(c.sessionId), 'the session is gone')
  const r = await c.request({ cmd: Command.READ, body: readBody(fid, 0, 1) })
  t.equal(r.status, Status.USER_SESSION_DELETED, 'its requests fail')

  const d = await TcpClient.open(live.port)
  t.teardown(() => { d.end() })
  await d.connect({ dialect: 0x0311, user: live.user, password: live.password })
  const ex = await d.create('reauth-live.txt', { access: Access.GENERIC_READ | Access.GENERIC_WRITE | Access.DELETE, share: 0, disposition: Disposition.OPEN })
  t.equal(ex.status, 0, 'its open was closed: an exclusive open succeeds')
})

const missing = pythonModuleMissing('impacket')

t.test('impacket (SMB 3.0) sets a DACL with its own encoder; it is stored and read back on a new connection', { skip: missing ?? false }, async t => {
  const r = await runPy<{ steps: Record<string, StepResult> }>('secdesc_ops.py', [String(live.port), live.user, live.password, 'share', 'imp-sd.txt'])
  const s = r.steps
  t.ok(s.connect?.ok, 'logged in', s.connect)
  t.ok(s.query1?.ok, 'QUERY_INFO security', s.query1)
  t.match(s.query1?.value?.owner, /^S-1-5-21-\d+-\d+-\d+-\d+$/, 'the creator owns the new file')
  t.notOk(s.query1?.value?.aces?.some((a: [string]) => a[0] === 'S-1-5-7'), 'no ACE for anonymous yet')
  t.ok(s.set?.ok, 'SET_INFO DACL succeeds', s.set)
  t.ok(s.query2?.value?.aces?.some((a: [string, number]) => a[0] === 'S-1-5-7' && a[1] === 0x001f01ff), 'the added ACE is read back', s.query2)
  t.equal(s.query2?.value?.owner, s.query1?.value?.owner, 'the owner is unchanged')
  t.equal(s.setMalformed?.status, 'STATUS_INVALID_SECURITY_DESCR', 'a malformed descriptor is refused', s.setMalformed)
  t.same(s.query3?.value, s.query2?.value, 'a new connection (READ_CONTROL only) reads the same descriptor', s.query3)

  const fd = await native.openat2(native.constants.AT_FDCWD, join(live.share, 'imp-sd.txt'), native.constants.O_RDONLY, 0, 0)
  const rec = decodeSambaNtAcl(await native.fgetxattr(fd, SAMBA_NTACL_XATTR_NAME))?.sd
  await native.close(fd)
  t.ok(rec?.dacl?.aces.some(a => a.sid !== undefined && sidToString(a.sid) === 'S-1-5-7'), 'stored in security.NTACL')
})
