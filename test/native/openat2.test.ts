// Share confinement through openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS [| RESOLVE_NO_SYMLINKS]):
// every escape the kernel must refuse, and the in-share paths it must allow.
import t from 'tap'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { C, errnoLike, native, openat2Unsupported, tempDir } from './fixtures/native.js'

const skip = await openat2Unsupported()

t.test('confinement', { skip }, async (t) => {
  const base = await tempDir(t)
  const root = join(base, 'share')
  await mkdir(join(root, 'sub/deeper'), { recursive: true })
  await writeFile(join(root, 'file'), 'inside')
  await writeFile(join(base, 'x'), 'outside')
  await symlink('/etc/passwd', join(root, 'abs-out'))
  await symlink('../x', join(root, 'rel-out'))
  await symlink('sub/../../x', join(root, 'rel-out-2'))
  await symlink('file', join(root, 'in-link'))
  await symlink('../file', join(root, 'sub/up-in-link'))
  await symlink('/proc/self/root/etc/passwd', join(root, 'proc-link'))

  const rootfd = await native.openat2(C.AT_FDCWD, root, C.O_PATH | C.O_DIRECTORY, 0, 0)
  t.teardown(() => native.close(rootfd))
  const BENEATH = C.RESOLVE_BENEATH | C.RESOLVE_NO_MAGICLINKS
  const STRICT = BENEATH | C.RESOLVE_NO_SYMLINKS

  async function readAt (path: string, resolve: number): Promise<string> {
    const fd = await native.openat2(rootfd, path, C.O_RDONLY, 0, resolve)
    try {
      const buf = Buffer.alloc(64)
      const n = await native.pread(fd, buf, 0, buf.length, 0)
      return buf.subarray(0, n).toString()
    } finally {
      await native.close(fd)
    }
  }

  t.test('escapes are refused', async (t) => {
    for (const resolve of [BENEATH, STRICT]) {
      const what = resolve === STRICT ? 'no symlinks' : 'symlinks followed'
      await t.rejects(readAt('../x', resolve), errnoLike('EXDEV', 'openat2'), `../x (${what})`)
      await t.rejects(readAt('/etc/passwd', resolve), errnoLike('EXDEV'), `/etc/passwd (${what})`)
      await t.rejects(readAt('sub/../../x', resolve), errnoLike('EXDEV'), `sub/../../x (${what})`)
      await t.rejects(readAt('sub/deeper/../../../x', resolve), errnoLike('EXDEV'), `deep .. (${what})`)
      await t.rejects(readAt('/proc/self/root/etc/passwd', resolve), errnoLike('EXDEV'), `/proc/self path (${what})`)
      await t.rejects(readAt(`/proc/self/fd/${rootfd}/file`, resolve), errnoLike('EXDEV'), `/proc/self/fd path (${what})`)
    }
    // Symlinks leaving the share: EXDEV when followed, ELOOP when symlinks are refused outright.
    await t.rejects(readAt('abs-out', BENEATH), errnoLike('EXDEV'), 'absolute symlink out')
    await t.rejects(readAt('rel-out', BENEATH), errnoLike('EXDEV'), 'relative symlink out')
    await t.rejects(readAt('rel-out-2', BENEATH), errnoLike('EXDEV'), 'relative symlink out via ..')
    await t.rejects(readAt('proc-link', BENEATH), errnoLike('EXDEV'), 'symlink into /proc/self')
    await t.rejects(readAt('abs-out', STRICT), errnoLike('ELOOP'), 'absolute symlink, no symlinks')
    await t.rejects(readAt('rel-out', STRICT), errnoLike('ELOOP'), 'relative symlink, no symlinks')
    await t.rejects(readAt('proc-link', STRICT), errnoLike('ELOOP'), '/proc symlink, no symlinks')
    // Even an in-share symlink is refused when the share does not follow symlinks.
    await t.rejects(readAt('in-link', STRICT), errnoLike('ELOOP'), 'in-share symlink, no symlinks')
    // O_NOFOLLOW on a final symlink is ELOOP regardless.
    await t.rejects(native.openat2(rootfd, 'in-link', C.O_RDONLY | C.O_NOFOLLOW, 0, BENEATH), errnoLike('ELOOP'))
  })

  t.test('magic links are refused', async (t) => {
    // Relative paths through procfs: /proc/self/{root,cwd,fd/N} are magic links.
    const procSelf = await native.openat2(C.AT_FDCWD, '/proc/self', C.O_PATH | C.O_DIRECTORY, 0, 0)
    t.teardown(() => native.close(procSelf))
    await t.rejects(native.openat2(procSelf, 'root/etc/passwd', C.O_RDONLY, 0, C.RESOLVE_NO_MAGICLINKS), errnoLike('ELOOP'))
    await t.rejects(native.openat2(procSelf, `fd/${rootfd}`, C.O_PATH, 0, C.RESOLVE_NO_MAGICLINKS), errnoLike('ELOOP'))
    await t.rejects(native.openat2(procSelf, 'cwd', C.O_PATH, 0, C.RESOLVE_NO_MAGICLINKS), errnoLike('ELOOP'))
    // And the reopen-by-/proc trick is refused too (which is why there is no reopenPath()).
    await t.rejects(
      native.openat2(C.AT_FDCWD, `/proc/self/fd/${rootfd}`, C.O_RDONLY | C.O_DIRECTORY, 0, C.RESOLVE_NO_MAGICLINKS),
      errnoLike('ELOOP')
    )
  })

  t.test('paths inside the share work', async (t) => {
    t.equal(await readAt('file', STRICT), 'inside')
    t.equal(await readAt('sub/../file', STRICT), 'inside')
    t.equal(await readAt('./sub/deeper/../../file', STRICT), 'inside')
    t.equal(await readAt('in-link', BENEATH), 'inside', 'in-share symlink followed')
    t.equal(await readAt('sub/up-in-link', BENEATH), 'inside', 'in-share symlink with ..')
    // '..' at the root is an escape even when it would come back in.
    await t.rejects(readAt('../share/file', BENEATH), errnoLike('EXDEV'))
  })

  t.test('parent fd + one component: the pattern for the unconfined *at calls', async (t) => {
    const parent = await native.openat2(rootfd, 'sub', C.O_PATH | C.O_DIRECTORY, 0, STRICT)
    t.teardown(() => native.close(parent))
    await native.mkdirat(parent, 'made', 0o755)
    const st = await native.statx(rootfd, 'sub/made', C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS)
    t.equal(st.mode & C.S_IFMT, C.S_IFDIR)
    // A parent that is a symlink out of the share cannot be obtained in the first place.
    await t.rejects(native.openat2(rootfd, 'rel-out', C.O_PATH | C.O_DIRECTORY, 0, BENEATH), errnoLike('EXDEV'))
  })

  t.test('O_CREAT and O_TMPFILE are confined too', async (t) => {
    await t.rejects(native.openat2(rootfd, '../created', C.O_CREAT | C.O_WRONLY, 0o644, STRICT), errnoLike('EXDEV'))
    const fd = await native.openat2(rootfd, 'sub/created', C.O_CREAT | C.O_EXCL | C.O_WRONLY, 0o600, STRICT)
    const st = await native.statx(fd, '', C.AT_EMPTY_PATH, C.STATX_BASIC_STATS)
    t.equal(st.mode & 0o777, 0o600 & ~process.umask())
    await native.close(fd)
    const tmp = await native.openat2(rootfd, 'sub', C.O_TMPFILE | C.O_RDWR, 0o600, STRICT)
    t.ok(tmp >= 0, 'O_TMPFILE in the share')
    await native.close(tmp)
  })

  t.test('openat2 fds are close-on-exec', async (t) => {
    const fd = await native.openat2(rootfd, 'file', C.O_RDONLY, 0, STRICT)
    const { readFile } = await import('node:fs/promises')
    const fdinfo = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8')
    const flags = parseInt(/flags:\s*([0-7]+)/.exec(fdinfo)![1]!, 8)
    t.ok(flags & C.O_CLOEXEC, 'O_CLOEXEC set')
    await native.close(fd)
  })
})
