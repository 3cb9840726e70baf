// CREATE name rules that real clients normalise away before sending (impacket and libsmbclient
// strip a trailing separator), so only an in-memory client can send them.
//
// Backend: memory (the default); the name rules are the CREATE handler's.
import t from 'tap'
import { Access, Disposition, fileIdOf, MemClient, memServer, Opt, Status } from '../helpers/mem-client.js'
import { FILE_ATTRIBUTE_VALID_FLAGS } from '../../src/wire/fscc/constants.js'

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

t.test('FileAttributes: any of FILE_ATTRIBUTE_VALID_FLAGS (0x7fb7) opens; another bit is INVALID_PARAMETER', async t => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  srv.files.write('file.txt', 'x')
  const c = await new MemClient(srv.state).connect({ dialect: 0x0311, signAll: true })
  const open = (attributes: number) => c.create('file.txt', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN, attributes })
  t.equal(FILE_ATTRIBUTE_VALID_FLAGS, 0x7fb7)
  // The whole mask at once: an existing file is opened whatever it asks for.
  let r = await open(FILE_ATTRIBUTE_VALID_FLAGS)
  t.equal(r.status, 0, 'every valid bit')
  await c.close(fileIdOf(r))
  // VOLUME, DEVICE, INTEGRITY_STREAM, the bits above 0xffff (as Windows answers smb2.create.gentest).
  for (const bit of [0x8, 0x40, 0x8000, 0x10000, 0x80000000]) {
    r = await open((0x80 | bit) >>> 0)
    t.equal(r.status, Status.INVALID_PARAMETER, `0x${bit.toString(16)}`)
  }
})
