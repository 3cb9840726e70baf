// smbtorture tests that need a share on a particular kind of file system, run against a live
// server with a file system mounted beneath its share root for the test (the CI shares are ext4):
// - xfs with reflink (a loop-mounted image): FSCTL_DUPLICATE_EXTENTS_TO_FILE
//   (src/smb2/commands/dup-extents.ts), smbtorture's dup_extents tests. On ext4 they skip (no
//   FILE_SUPPORTS_BLOCK_REFCOUNTING; the FSCTL answers INVALID_DEVICE_REQUEST,
//   test/protocol/fsctl-file.test.ts).
// - tmpfs: smb2.setinfo, which checks that a 0-byte file reports AllocationSize 0 after a
//   SET_INFO FileAllocationInformation of 0, then 4096 after one of 4096. tmpfs has no FIEMAP,
//   which AllocationSize reads for the space reserved past the end of a file on ext4 (where it
//   also leaves out the xattr block st_blocks counts: posix.ts dataAllocation); without it
//   st_blocks counts as it is (the same test runs on ext4 from smbtorture-pass.txt).
// Needs root (mounts), and mkfs.xfs and a loop device for the first; each skips saying why.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLive, run, type LiveServer } from '../helpers/live.js'

const MKFS = '/usr/sbin/mkfs.xfs'
const TESTS = [
  'dup_extents_simple', 'dup_extents_len_beyond_dest', 'dup_extents_len_beyond_src', 'dup_extents_len_zero',
  'dup_extents_sparse_src', 'dup_extents_sparse_dest', 'dup_extents_sparse_both', 'dup_extents_src_is_dest',
  'dup_extents_src_is_dest_overlap', 'dup_extents_src_lock', 'dup_extents_dest_lock', 'dup_extents_bad_handle',
].map(n => `smb2.ioctl.${n}`)

/** smbtorture's `success: x` / `failure|error|skip: x` lines (the runner's parser, smbtorture.test.ts, in short). */
function verdicts (out: string): { successes: string[], problems: string[] } {
  const successes: string[] = []
  const problems: string[] = []
  for (const line of out.split('\n')) {
    const m = /^(success|failure|error|skip|xfail|uxsuccess): (.*)$/.exec(line)
    if (m !== null) (m[1] === 'success' ? successes : problems).push(m[1] === 'success' ? m[2]! : line)
  }
  return { successes, problems }
}

const rootWhy = process.getuid?.() !== 0 ? 'needs root (a mount)' : spawnSync('smbtorture', ['--help']).error !== undefined ? 'no smbtorture' : undefined
const why = rootWhy ?? (!existsSync(MKFS) ? `${MKFS} is not installed (xfsprogs)` : undefined)

t.test('smbtorture dup_extents on an xfs share with reflink', { skip: why ?? false }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-reflink-'))
  const image = join(dir, 'xfs.img')
  execFileSync('truncate', ['-s', '320M', image])
  execFileSync(MKFS, ['-q', '-f', '-m', 'reflink=1', image])
  const live: LiveServer = await startLive({ shares: { reflink: ['read only = no'] } })
  const mnt = join(live.root, 'reflink')
  try {
    execFileSync('mount', ['-o', 'loop', image, mnt])
  } catch (e) {
    await live.stop()
    rmSync(dir, { recursive: true, force: true })
    t.plan(0, `cannot loop-mount an xfs image: ${(e as Error).message}`)
    return
  }
  execFileSync('chmod', ['0777', mnt])
  t.teardown(async () => {
    // Unmounted first: the server's stop removes its root, the mount point with it.
    try { execFileSync('umount', ['-l', mnt]) } catch {}
    await live.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const r = await run('smbtorture', ['//127.0.0.1/reflink', '-p', String(live.port), '-U', `${live.user}%${live.password}`, ...TESTS], { timeoutMs: 120_000 })
  const v = verdicts(r.stdout + r.stderr)
  t.equal(r.code, 0, 'smbtorture exits 0', { output: (r.stdout + r.stderr).slice(-4000) })
  t.same(v.problems, [], 'no failure, error or skip')
  t.same([...v.successes].sort(), TESTS.map(n => n.slice('smb2.ioctl.'.length)).sort(), `${TESTS.length} successes`)
})

t.test('smbtorture smb2.setinfo on a tmpfs share', { skip: rootWhy ?? false }, async t => {
  const live: LiveServer = await startLive({ shares: { tmpfs: ['read only = no'] } })
  const mnt = join(live.root, 'tmpfs')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0777', 'smbts-test', mnt])
  } catch (e) {
    await live.stop()
    t.plan(0, `cannot mount tmpfs: ${(e as Error).message}`)
    return
  }
  t.teardown(async () => {
    try { execFileSync('umount', ['-l', mnt]) } catch {}
    await live.stop()
  })
  const r = await run('smbtorture', ['//127.0.0.1/tmpfs', '-p', String(live.port), '-U', `${live.user}%${live.password}`, 'smb2.setinfo'], { timeoutMs: 120_000 })
  const v = verdicts(r.stdout + r.stderr)
  t.equal(r.code, 0, 'smbtorture exits 0', { output: (r.stdout + r.stderr).slice(-4000) })
  t.same(v.problems, [], 'no failure, error or skip')
  t.same(v.successes, ['setinfo'], 'smb2.setinfo succeeds')
})
