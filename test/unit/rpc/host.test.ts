// The data plane's side of the RPC process (src/rpc/host.ts) with a real child: pipes carried
// there and back, the child's death failing open pipes (SMBTS_ERR_RPC_SERVICE_DIED → the SMB side's
// STATUS_PIPE_BROKEN) and a restart; a child that speaks nonsense is killed and replaced.
import t from 'tap'
import { existsSync, mkdtempSync, readlinkSync, rmdirSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import { defaultCommand, RPC_CHILD_ENV, RpcHost, unprivilegedIds } from '../../../src/rpc/host.js'
import { createLogger } from '../../../src/control/log.js'
import { decodeBindAck, encodeBind, NDR20, PType } from '../../../src/rpc/pdu.js'
import { SRVSVC_SYNTAX } from '../../../src/rpc/srvsvc.js'
import { testRpcEnv } from '../../helpers/rpc-env.js'

const bind = encodeBind({ callId: 1, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 0, contexts: [{ contextId: 0, abstractSyntax: SRVSVC_SYNTAX, transferSyntaxes: [NDR20] }] })

function host (o: { command?: { file: string, args: string[] } } = {}): { host: RpcHost, lines: string[] } {
  const lines: string[] = []
  const h = new RpcHost({ env: testRpcEnv(), log: createLogger(l => lines.push(l), ['ipc']), ...o })
  t.teardown(async () => { await h.close() })
  return { host: h, lines }
}

const until = async (f: () => boolean, ms = 20_000): Promise<void> => {
  const end = Date.now() + ms
  while (!f()) { if (Date.now() > end) throw new Error('timed out'); await new Promise(resolve => setTimeout(resolve, 25)) }
}

t.test('pipes through the RPC process; its death breaks them; it comes back', async t => {
  const { host: h, lines } = host()
  h.start()
  t.ok(await h.ready(20_000), 'the RPC process says HELLO')
  const pid = h.pid!
  t.ok(pid > 0)
  t.equal(await h.open('nosuch', 'bob'), undefined, 'an unknown pipe')
  const p = (await h.open('\\PIPE\\srvsvc', 'bob'))!
  t.equal(p.name, 'srvsvc')
  t.equal(await p.write(bind), bind.length)
  t.ok(p.pendingBytes > 0)
  const ack = p.read(65536)!
  t.equal(decodeBindAck(ack.data).ptype, PType.BIND_ACK, 'the BIND_ACK came back from the RPC process')
  t.match(lines.join('\n'), /debug\[ipc\] rpc: pipe srvsvc opened for "bob"/, 'the child\'s ipc debug lines reach the log')
  const second = (await h.open('wkssvc', 'bob'))!
  process.kill(pid, 'SIGKILL')
  await t.rejects(p.write(bind), { code: 'SMBTS_ERR_RPC_SERVICE_DIED' }, 'an open pipe fails once its process is gone')
  t.throws(() => second.read(10), { code: 'SMBTS_ERR_RPC_SERVICE_DIED' })
  await until(() => h.pid !== undefined && h.pid !== pid && h.hello !== undefined)
  t.equal(h.generation, 2, 'restarted')
  t.match(lines.join('\n'), /RPC process \(pid \d+\) was killed by SIGKILL; 2 open pipes broken; restarting it/)
  const again = (await h.open('srvsvc', 'bob'))!
  const r = await again.transact(bind, 4280)
  t.equal(decodeBindAck(r.data).ptype, PType.BIND_ACK, 'the new process serves a new pipe')
  again.close()
  await t.rejects(again.write(bind), { code: 'SMBTS_ERR_RPC_PIPE_BROKEN' }, 'a closed pipe')
})

t.test('an RPC process that breaks the message format is killed and replaced', async t => {
  // HELLO never comes: a frame of length 0xffffffff instead.
  const { host: h, lines } = host({ command: { file: process.execPath, args: ['-e', "require('fs').writeSync(3, Buffer.from('ffffffff0100000000000000', 'hex')); setInterval(() => {}, 1000)"] } })
  h.start()
  await until(() => lines.some(l => /frame length 4294967295 outside .*: killing it/.test(l)))
  await until(() => h.generation >= 2)
  t.pass(`restarted: generation ${h.generation}`)
  t.equal(await h.ready(100), false, 'no HELLO from a process that never says it')
})

t.test('an RPC process that keeps dying at start is restarted after a growing delay', async t => {
  const { host: h, lines } = host({ command: { file: process.execPath, args: ['-e', 'process.exit(3)'] } })
  h.start()
  await until(() => lines.some(l => /restarting it in 200 ms \(it died 3 times in a row/.test(l)))
  t.match(lines.join('\n'), /RPC process \(pid \d+\) exited with code 3; 0 open pipes broken; restarting it\n/, 'the first death: at once')
  t.match(lines.join('\n'), /restarting it in 100 ms \(it died 2 times in a row within 5 s of its start\)/)
  await t.rejects(h.open('srvsvc', 'bob'), { code: 'SMBTS_ERR_RPC_PIPE_BROKEN' }, 'opens fail while no process is up (after waiting for one)')
})

t.test('the empty root is removed once the process is in it; close() stops the process', { skip: process.getuid?.() === 0 ? false : 'not root: no chroot' }, async t => {
  const { host: h } = host()
  h.start()
  t.ok(await h.ready(20_000))
  const pid = h.pid!
  const root = readlinkSync(`/proc/${pid}/root`)
  t.match(root, /smbts-rpc-root-\w+ \(deleted\)$/, `its root is a deleted directory: ${root}`)
  t.notOk(existsSync(root.replace(/ \(deleted\)$/, '')), 'nothing left in /tmp')
  await h.close()
  t.throws(() => process.kill(pid, 0), 'the process is gone')
  await t.rejects(h.open('srvsvc', 'bob'), { code: 'SMBTS_ERR_RPC_PIPE_BROKEN' }, 'no service after close')
})

t.test('the child removes its root directory itself, so a data plane killed before its HELLO leaves nothing', { skip: process.getuid?.() === 0 ? false : 'not root: no chroot' }, async t => {
  const root = mkdtempSync(join(tmpdir(), 'smbts-rpc-root-'))
  t.teardown(() => { try { rmdirSync(root) } catch { /* the child did */ } })
  const cmd = defaultCommand()
  // No RpcHost here: nobody but the child can remove the directory.
  const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'inherit', 'inherit', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [RPC_CHILD_ENV]: JSON.stringify({ ...unprivilegedIds(), root }) } })
  t.teardown(() => { child.kill('SIGKILL') })
  const sock = child.stdio[3] as Socket
  await new Promise<void>((resolve, reject) => { sock.once('data', () => { resolve() }); child.once('exit', (c) => { reject(new Error(`the child exited (${c})`)) }) })
  t.notOk(existsSync(root), 'its root directory is gone once it said HELLO')
  t.equal(readlinkSync(`/proc/${child.pid!}/root`), `${root} (deleted)`, 'and it is still the child\'s root')
})
