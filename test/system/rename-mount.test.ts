// SET_INFO FileRenameInformation across a mount inside the share, through the whole server on the
// posix backend: rename(2) says EXDEV, and the client hears STATUS_NOT_SAME_DEVICE (MS-FSA
// 2.1.5.15.11: the target must be on the same volume), not the ACCESS_DENIED the plain errno map
// gives EXDEV (a path leaving the share). Here, not in test/protocol: it mounts a tmpfs (root).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { MemClient, memServer, renameInfo } from '../helpers/mem-client.js'
import { InfoType } from '../../src/wire/constants.js'
import { FileInformationClass } from '../../src/wire/fscc/constants.js'
import { NtStatus } from '../../src/wire/ntstatus.js'

const rename = FileInformationClass.FileRenameInformation

t.test('a rename onto another file system inside the share is NOT_SAME_DEVICE', { skip: process.getuid?.() !== 0 && 'mounting needs root' }, async (t) => {
  const srv = memServer({ backend: 'posix' })
  srv.files.mkdir('mnt')
  const mnt = join(srv.share, 'mnt')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'smbts-test', mnt], { stdio: 'ignore' })
  } catch {
    srv.cleanup()
    t.plan(0, 'mount refused here')
    return
  }
  // Lazy: the server may still hold a descriptor beneath the mount when the test ends.
  t.teardown(() => { execFileSync('umount', ['-l', mnt]); srv.cleanup() })
  srv.files.write('out.txt', 'out')
  srv.files.write('mnt/in.txt', 'in')
  const c = await new MemClient(srv.state).connect()

  const out = await c.open('out.txt')
  t.equal((await c.setInfo(out, InfoType.FILE, rename, renameInfo('mnt\\out.txt'))).status, NtStatus.NOT_SAME_DEVICE, 'into the mount')
  t.equal((await c.setInfo(out, InfoType.FILE, rename, renameInfo('mnt\\in.txt', true))).status, NtStatus.NOT_SAME_DEVICE, 'into the mount, replacing')
  await c.close(out)
  const inner = await c.open('mnt\\in.txt')
  t.equal((await c.setInfo(inner, InfoType.FILE, rename, renameInfo('in.txt'))).status, NtStatus.NOT_SAME_DEVICE, 'out of the mount')
  t.equal((await c.setInfo(inner, InfoType.FILE, rename, renameInfo('mnt\\moved.txt'))).status, 0, 'within the mount')
  await c.close(inner)
  t.equal(srv.files.read('out.txt').toString(), 'out', 'the refused renames left the file where it was')
  t.equal(srv.files.read('mnt/moved.txt').toString(), 'in', 'the rename within the mount moved it')
  t.notOk(srv.files.exists('mnt/out.txt'))
})
