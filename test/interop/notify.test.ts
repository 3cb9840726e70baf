// CHANGE_NOTIFY with a real client (issue 16): `smbclient -c 'notify DIR'` waits on a directory of
// a live smbts while files are made, written, renamed and deleted straight on the server's disk,
// by this process as any local program would, not through SMB. smbclient prints one line per
// change, "<action> <name>" (0001 added, 0002 removed, 0003 modified, 0004/0005 renamed). Runs on
// the transport and worker count the suite is run with (SMBTS_TEST_TRANSPORT, SMBTS_TEST_WORKERS).
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startLive, type LiveServer } from '../helpers/live.js'
import { until } from '../helpers/until.js'

let live: LiveServer
t.before(async () => { live = await startLive({ debug: ['vfs'] }) })
t.teardown(async () => { await live.stop() })

t.test('smbclient notify sees changes made on the server\'s own disk', async t => {
  const dir = join(live.share, 'watched')
  mkdirSync(dir)
  const mark = live.logs.length
  let waiting = false
  const watchLog = setInterval(() => { void live.logged(/notify share\/watched: waiting/, { from: mark, ms: 50 }).then(w => { waiting ||= w }) }, 50)
  t.teardown(() => { clearInterval(watchLog) })
  // stdbuf: smbclient's stdout is a pipe here, and it prints each change as it comes.
  const c = spawn('stdbuf', ['-oL', 'smbclient', '//127.0.0.1/share', '-p', String(live.port), '-U', `${live.user}%${live.password}`, '-c', 'notify watched'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  c.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  c.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
  const closed = new Promise<void>(resolve => c.once('close', () => { resolve() }))
  t.teardown(async () => { c.kill(); await closed })
  t.ok(await until(() => waiting), 'the request waits')

  writeFileSync(join(dir, 'local.txt'), 'made by a local program')
  t.ok(await until(() => /0001 local\.txt/.test(out)), `ADDED (${out})`)
  t.ok(await until(() => /0003 local\.txt/.test(out)), 'MODIFIED, at the writer\'s close')
  renameSync(join(dir, 'local.txt'), join(dir, 'renamed.txt'))
  t.ok(await until(() => /0004 local\.txt/.test(out) && /0005 renamed\.txt/.test(out)), 'the rename: old name, new name')
  mkdirSync(join(dir, 'subdir'))
  t.ok(await until(() => /0001 subdir/.test(out)), 'a new directory')
  unlinkSync(join(dir, 'renamed.txt'))
  t.ok(await until(() => /0002 renamed\.txt/.test(out)), 'REMOVED')
  t.notMatch(out, /NT_STATUS/, 'no error on the way')
})
