// CREATE name rules that real clients normalise away before sending (impacket and libsmbclient
// strip a trailing separator), so only an in-memory client can send them.
//
// Backend: memory (the default); the name rules are the CREATE handler's.
import t from 'tap'
import { Access, Disposition, fileIdOf, MemClient, memServer, Opt, Status } from '../helpers/mem-client.js'

t.test('MS-FSA 2.1.5.1: a trailing backslash names a directory', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  srv.files.write('file.txt', 'x')
  srv.files.mkdir('dir')
  const c = await new MemClient(srv.state).connect({ dialect: 0x0311, signAll: true })
  const open = (name: string, o: Record<string, number>) => c.create(name, { access: Access.READ_ATTRIBUTES, ...o })

  let r = await open('file.txt\\', { disposition: Disposition.OPEN })
  t.equal(r.status, Status.OBJECT_NAME_INVALID, 'existing data file with a trailing backslash')
  r = await open('dir\\', { disposition: Disposition.OPEN, options: Opt.NON_DIRECTORY_FILE })
  t.equal(r.status, Status.OBJECT_NAME_INVALID, 'trailing backslash with FILE_NON_DIRECTORY_FILE')
  r = await open('new.txt\\', { disposition: Disposition.CREATE })
  t.equal(r.status, Status.OBJECT_NAME_INVALID, 'new data file with a trailing backslash')
  t.notOk(srv.files.exists('new.txt'), 'nothing created')

  r = await open('dir\\', { disposition: Disposition.OPEN })
  t.equal(r.status, 0, 'existing directory with a trailing backslash opens')
  await c.close(fileIdOf(r))
  r = await open('newdir\\', { disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE })
  t.equal(r.status, 0, 'new directory with a trailing backslash is created')
  await c.close(fileIdOf(r))
  t.ok(srv.files.exists('newdir'))
})
