// mountFs / umount2 (native/src/mount.c): the control mount's only native calls. Their errors
// are the errno Errors of every synchronous call; bad arguments throw before any syscall.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { native, nativeAvailable } from '../../src/io/native.js'

const skip = !nativeAvailable && 'the native addon is not built'

t.test('umount2 and mountFs report the errno', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-mount-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // not a mount point: EINVAL (as root) or EPERM (without the privilege)
  t.throws(() => { native.umount2(dir, 0) }, { code: /^(EINVAL|EPERM)$/, syscall: 'umount2' })
  // a file system type the kernel does not know: ENODEV (as root) or EPERM
  t.throws(() => { native.mountFs('x', dir, 'smbts-no-such-fs', 0, '') }, { code: /^(ENODEV|EPERM)$/, syscall: 'mount' })
  t.throws(() => { native.mountFs('x', join(dir, 'missing'), 'tmpfs', 0, '') }, { code: /^(ENOENT|EPERM)$/ })
})

t.test('bad arguments throw before any syscall', { skip }, async (t) => {
  t.throws(() => { (native.umount2 as (...a: unknown[]) => void)(42, 0) }, TypeError)
  t.throws(() => { (native.mountFs as (...a: unknown[]) => void)('x', '/tmp', 'tmpfs', 'flags', '') }, TypeError)
})
