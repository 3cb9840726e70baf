// Metadata that moves with the share (issue #15): one directory served by Samba's smbd 4.17
// (`vfs objects = acl_xattr streams_xattr`, the user.DOSATTRIB / security.NTACL /
// user.DosStream.* layout) and by smbts at once. A file written through Samba — data, a stream,
// DOS attributes, a creation time, an ACE in its DACL — reads back through smbts with all of it,
// and the reverse (smbts writes security.NTACL version 4 with Samba's POSIX ACL hash, and Samba reads
// its DACL ACE for ACE). impacket (SMB 3.0) drives both servers; smbclient's `allinfo` through smbts too.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLive, smbclient, type LiveServer } from '../helpers/live.js'
import { freePort } from '../helpers/cli-server.js'
import { pythonModuleMissing, runPy, type StepResult } from '../helpers/py.js'

const SMBD = '/usr/sbin/smbd'
const CREATION_TIME = 126256467060000000 // 2001-02-03 04:05:06 UTC, what moves_ops.py sets
const why = !existsSync(SMBD)
  ? `${SMBD} is not installed (Debian package samba)`
  : process.getuid?.() !== 0 ? 'smbd needs root here' : pythonModuleMissing('impacket')

interface Steps { steps: Record<string, StepResult> }

t.test('a file moves between Samba and smbts with its stream, attributes, creation time and ACL', { skip: why ?? false }, async t => {
  const live: LiveServer = await startLive()
  t.teardown(async () => { await live.stop() })
  // A private smbd on the same share directory, its state in a temp dir, logged in as root.
  const dir = mkdtempSync(join(tmpdir(), 'smbts-samba-'))
  for (const d of ['priv', 'lock', 'state', 'cache', 'pid', 'log']) mkdirSync(join(dir, d))
  const port = await freePort()
  const conf = join(dir, 'smb.conf')
  writeFileSync(conf, [
    '[global]', `smb ports = ${port}`, 'interfaces = 127.0.0.1', 'bind interfaces only = yes',
    `private dir = ${join(dir, 'priv')}`, `lock directory = ${join(dir, 'lock')}`, `state directory = ${join(dir, 'state')}`,
    `cache directory = ${join(dir, 'cache')}`, `pid directory = ${join(dir, 'pid')}`,
    `log file = ${join(dir, 'log', 'log.%m')}`, `passdb backend = tdbsam:${join(dir, 'priv', 'passdb.tdb')}`,
    'server role = standalone server', 'load printers = no', 'disable spoolss = yes',
    '[share]', `path = ${live.share}`, 'read only = no', 'vfs objects = acl_xattr streams_xattr',
  ].join('\n') + '\n')
  const password = 'Samba-pass1'
  const added = spawnSync('smbpasswd', ['-c', conf, '-s', '-a', 'root'], { input: `${password}\n${password}\n`, encoding: 'utf8' })
  t.equal(added.status, 0, `smbpasswd: ${added.stderr}`)
  // -F: foreground, under its own session (smbd kills its process group on exit otherwise).
  const smbd = spawn(SMBD, ['-F', '--no-process-group', '-s', conf], { stdio: 'ignore', detached: true })
  t.teardown(() => {
    smbd.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })
  const samba = { port, user: 'root', password }
  for (let i = 0; i < 100; i++) {
    if ((await smbclient(samba, 'ls', { protocol: 'SMB3' })).code === 0) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }

  const check = (t: Test, r: Steps, from: string): void => {
    const s = r.steps
    t.ok(s.basic?.ok, 'FileBasicInformation', s.basic)
    t.equal(s.basic?.value?.data, 'main', `the data ${from} wrote`)
    t.equal(s.basic?.value?.creationTime, CREATION_TIME, `the creation time ${from} set`)
    t.equal(s.basic?.value?.attributes, 0x26, `the attributes ${from} set (HIDDEN|SYSTEM|ARCHIVE)`)
    t.equal(s.stream?.value, 'stream data', `the stream ${from} wrote`, s.stream)
    t.ok(s.acl?.value?.some((a: [string, number, number]) => a[0] === 'S-1-5-7' && a[1] === 0x1200a9 && a[2] === 0), `the ACE ${from} added`, s.acl)
  }

  t.test('written through Samba, read through smbts', async t => {
    const w: Steps = await runPy('moves_ops.py', ['write', String(port), 'root', password, 'share', 'from-samba.txt'])
    for (const k of ['create', 'stream', 'basic', 'acl']) t.ok(w.steps[k]?.ok, `Samba: ${k}`, w.steps[k])
    check(t, await runPy('moves_ops.py', ['read', String(live.port), live.user, live.password, 'share', 'from-samba.txt']), 'Samba')
    const r = await smbclient(live, 'allinfo from-samba.txt', { protocol: 'SMB3' })
    t.match(r.stdout, /create_time:\s+Sat Feb {2}3 04:05:06 2001 UTC/, 'smbclient allinfo through smbts: the creation time', r)
    t.match(r.stdout, /attributes: HSA \(26\)/, 'and the attributes')
    t.match(r.stdout, /stream: \[:meta:\$DATA\], 11 bytes/, 'and the stream')
  })

  t.test('written through smbts, read through Samba', async t => {
    const w: Steps = await runPy('moves_ops.py', ['write', String(live.port), live.user, live.password, 'share', 'from-smbts.txt'])
    for (const k of ['create', 'stream', 'basic', 'acl']) t.ok(w.steps[k]?.ok, `smbts: ${k}`, w.steps[k])
    const bySamba: Steps = await runPy('moves_ops.py', ['read', String(port), 'root', password, 'share', 'from-smbts.txt'])
    check(t, bySamba, 'smbts')
    t.ok(readFileSync(join(live.share, 'from-smbts.txt')).equals(Buffer.from('main')))
    // smbts wrote security.NTACL version 4, hashed over the file's POSIX ACL as Samba hashes it:
    // Samba takes the descriptor as stored (a wrong hash would make it describe the file from its
    // mode instead), the same ACEs in the same order as smbts reports.
    const raw = spawnSync('getfattr', ['--only-values', '-n', 'security.NTACL', join(live.share, 'from-smbts.txt')], { encoding: 'buffer' })
    t.equal(raw.stdout.readUInt16LE(0), 4, 'security.NTACL version 4')
    t.equal(raw.stdout.subarray(78, 88).toString('latin1'), 'posix_acl\0', 'its POSIX ACL hash described as Samba\'s')
    const bySmbts: Steps = await runPy('moves_ops.py', ['read', String(live.port), live.user, live.password, 'share', 'from-smbts.txt'])
    t.same(bySamba.steps.acl?.value, bySmbts.steps.acl?.value, 'Samba reads the DACL smbts set, ACE for ACE')
  })
})
