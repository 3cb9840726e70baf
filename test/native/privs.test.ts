// dropPrivileges and restrictSyscalls (native/src/privs.c), each in a child process of its own
// (both are one-way): what is left afterwards, read back from the kernel, and what is refused.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { nativeAvailable } from '../../src/io/native.js'

const addon = fileURLToPath(new URL('../../native/build/Release/smbts.node', import.meta.url))
const skip = nativeAvailable ? false : 'native addon not built'

/** Runs `body` (CommonJS, `n` is the addon) in a fresh node; its last stdout line is JSON. */
function inChild (body: string): { code: number | null, out: any, stderr: string } {
  const r = spawnSync(process.execPath, ['-e', `const n = require(${JSON.stringify(addon)}); ${body}`], { encoding: 'utf8', timeout: 30_000 })
  const last = r.stdout.trim().split('\n').at(-1) ?? ''
  let out: unknown
  try { out = JSON.parse(last) } catch { out = last }
  return { code: r.status, out, stderr: r.stderr }
}

t.test('restrictSyscalls: no exec, no network socket, on every thread; files and Unix sockets still work', { skip: skip || (process.arch !== 'x64' && process.arch !== 'arm64' ? 'no filter for this architecture' : false) }, async t => {
  const r = inChild(`
    const cp = require('child_process'), net = require('net'), fs = require('fs')
    const res = { filtered: n.restrictSyscalls() }
    try { cp.execFileSync('/bin/true'); res.exec = 'ran' } catch (e) { res.exec = e.code }
    try { const s = new net.Socket(); s.connect(9, '127.0.0.1'); s.on('error', () => {}); res.tcp = 'created' } catch (e) { res.tcp = e.code }
    const st = fs.readFileSync('/proc/self/status', 'utf8')
    res.seccomp = /Seccomp:\\s+(\\d)/.exec(st)[1]
    res.tasks = fs.readdirSync('/proc/self/task').map(x => /Seccomp:\\s+(\\d)/.exec(fs.readFileSync('/proc/self/task/' + x + '/status', 'utf8'))[1])
    res.nnp = /NoNewPrivs:\\s+(\\d)/.exec(st)[1]
    const srv = net.createServer().listen(require('path').join(require('os').tmpdir(), 'smbts-privs-' + process.pid + '.sock'), () => {
      res.unix = 'listening'; srv.close(); console.log(JSON.stringify(res))
    }).on('error', (e) => { res.unix = e.code; console.log(JSON.stringify(res)) })
  `)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.out.filtered, true)
  t.equal(r.out.exec, 'EPERM', 'execve refused')
  t.equal(r.out.seccomp, '2')
  t.ok(r.out.tasks.length > 1 && r.out.tasks.every((s: string) => s === '2'), `every thread filtered (${r.out.tasks.length})`)
  t.equal(r.out.nnp, '1', 'no_new_privs comes with it')
  t.equal(r.out.unix, 'listening', 'a Unix socket is allowed')
  const tcp = inChild('n.restrictSyscalls(); const s = require(\'net\').connect(9, \'127.0.0.1\'); s.on(\'error\', (e) => console.log(JSON.stringify(e.code)))')
  t.equal(tcp.out, 'EPERM', 'a TCP socket is refused')
})

t.test('dropPrivileges as root: chroot, nobody, no capabilities, no_new_privs', { skip: skip || (process.getuid?.() === 0 ? false : 'not root') }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-privs-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const r = inChild(`
    const d = n.dropPrivileges(${JSON.stringify(dir)}, 65534, 65534)
    d.passwd = require('fs').existsSync('/etc/passwd')
    try { process.setuid(0); d.regained = true } catch (e) { d.regained = e.code }
    console.log(JSON.stringify(d))`)
  t.equal(r.code, 0, r.stderr)
  t.same(r.out, { uid: 65534, gid: 65534, capEffective: 0, capPermitted: 0, noNewPrivs: true, chrooted: true, passwd: false, regained: 'EPERM' }, 'the files outside its root are out of sight')
  const bad = inChild('try { n.dropPrivileges(null, 0, 0) } catch (e) { console.log(JSON.stringify(e.code)) }')
  t.equal(bad.out, 'ERR_OUT_OF_RANGE', 'uid 0 is no drop')
})
