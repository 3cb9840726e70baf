// The RPC process (src/rpc/host.ts, child.ts), started at the first pipe open: it runs apart from the data plane, unprivileged
// (nobody, no capabilities, no_new_privs, shut in an empty directory), and when it dies (SIGKILL)
// a file transfer in flight completes, a pipe that was open fails with STATUS_PIPE_BROKEN, a new
// pipe is served by the RPC process started in its place, and `smbclient -L` works again.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startLive, run, type LiveServer } from '../helpers/live.js'
import { childPids } from '../helpers/cli-server.js'

let live: LiveServer
t.before(async () => { live = await startLive({ shareLines: ['comment = the test share'] }) })
t.teardown(async () => { await live.stop() })

/** The RPC processes under this test process (in process: our children; with workers: the workers'). */
function rpcPids (root = process.pid): number[] {
  const out: number[] = []
  for (const pid of childPids(root)) {
    let cmd = ''
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8') } catch { continue }
    if (/rpc\/child\.(js|ts)/.test(cmd)) out.push(pid)
    else out.push(...rpcPids(pid))
  }
  return out
}

async function waitFor (what: string, f: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

const status = (pid: number, task?: string): Record<string, string> => Object.fromEntries(
  readFileSync(task === undefined ? `/proc/${pid}/status` : `/proc/${pid}/task/${task}/status`, 'utf8').split('\n').filter(l => l.includes(':')).map(l => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]))

const isRoot = process.getuid?.() === 0

t.test('ps: the RPC process starts at the first pipe open, and runs as nobody, with no capabilities, no_new_privs, in an empty root', async t => {
  t.same(rpcPids(), [], 'no RPC process before a client opens a pipe')
  t.notOk(live.logs.some(l => /rpc: RPC process started/.test(l)), 'none started')
  const l = await run('smbclient', ['-L', '//127.0.0.1', '-p', String(live.port), '-U', `${live.user}%${live.password}`])
  t.match(l.stdout, /^\s+share\s+Disk\s+the test share$/m, 'smbclient -L lists the shares')
  await waitFor('the RPC process to start', () => rpcPids().length >= 1 && live.logs.some(l => /rpc: RPC process started/.test(l)))
  const pids = rpcPids()
  t.ok(pids.length >= 1 && pids.length <= live.workers, `at most one RPC process per data-plane process, started by the one serving the listing (${pids.join(', ')})`)
  for (const pid of pids) {
    const ps = await run('ps', ['-o', 'user=,group=,args=', '-p', String(pid)])
    t.comment(`ps: ${ps.stdout.trim()}`)
    const st = status(pid)
    t.equal(st.NoNewPrivs, '1', `${pid}: no_new_privs`)
    if (process.arch === 'x64' || process.arch === 'arm64') {
      t.equal(st.Seccomp, '2', `${pid}: a seccomp filter (mode 2)`)
      // Every thread of it, not only the one that set the filter (TSYNC).
      for (const task of readdirSync(`/proc/${pid}/task`)) t.equal(status(pid, task).Seccomp, '2', `${pid}/${task}: filtered`)
    }
    if (!isRoot) continue
    t.match(ps.stdout, /^nobody\s+(nogroup|nobody)\s/, `${pid}: ps shows user nobody`)
    t.same(st.Uid.split(/\s+/).map(Number).filter(u => u === 0), [], `${pid}: no uid 0 (real, effective, saved, fs): ${st.Uid}`)
    t.same(st.Gid.split(/\s+/).map(Number).filter(g => g === 0), [], `${pid}: no gid 0: ${st.Gid}`)
    t.equal(st.Groups, '', `${pid}: no supplementary groups`)
    t.equal(BigInt('0x' + st.CapEff), 0n, `${pid}: CapEff 0`)
    t.equal(BigInt('0x' + st.CapPrm), 0n, `${pid}: CapPrm 0`)
    const root = readlinkSync(`/proc/${pid}/root`)
    t.not(root, '/', `${pid}: chrooted (${root})`)
    t.same(readdirSync(`/proc/${pid}/root`), [], 'its root is empty: no share, no password db in reach')
  }
  t.ok(await live.logged(/rpc: RPC process started \(pid \d+, generation 1\): uid \d+, gid \d+, (chrooted|no chroot).*seccomp (on|off)/), 'the start is logged with what was dropped')
})

const PY = '/usr/bin/python3'

t.test('a malformed PDU ends its own pipe only: the RPC process and the other pipes go on', { skip: existsSync(PY) ? false : 'no /usr/bin/python3' }, async t => {
  const before = rpcPids()
  const r = await run(PY, [fileURLToPath(new URL('./rpc/pipe-malformed.py', import.meta.url)), String(live.port), live.user, live.password])
  t.equal(r.code, 0, r.stdout + r.stderr)
  const o = JSON.parse(r.stdout) as { after: number, other: number }
  t.equal(o.after, 0xC00000B0, 'the broken pipe answers STATUS_PIPE_DISCONNECTED')
  t.equal(o.other, 500, 'a second pipe of the same session works')
  const now = rpcPids()
  t.ok(now.length > 0 && before.every(p => now.includes(p)), 'the RPC process was not restarted')
})
t.test('SIGKILL of the RPC process during a transfer: the transfer completes, the open pipe fails STATUS_PIPE_BROKEN, the next smbclient -L works',
  { skip: existsSync(PY) ? false : 'no /usr/bin/python3' }, async t => {
    const size = 3 * 1024 ** 3
    writeFileSync(join(live.share, 'big.bin'), '')
    truncateSync(join(live.share, 'big.bin'), size)
    // A pipe held open across the death, by impacket.
    const holder = spawn(PY, [fileURLToPath(new URL('./rpc/pipe-broken.py', import.meta.url)), String(live.port), live.user, live.password], { stdio: ['pipe', 'pipe', 'pipe'] })
    let hout = ''
    let herr = ''
    holder.stdout.setEncoding('utf8').on('data', (d: string) => { hout += d })
    holder.stderr.setEncoding('utf8').on('data', (d: string) => { herr += d })
    const holderDone = new Promise<number | null>(resolve => holder.on('close', resolve))
    await waitFor('the pipe holder', () => hout.includes('ready') || holder.exitCode !== null, 30_000)
    t.match(hout, /ready/, `the pipe is open and answered once\n${herr}`)

    const get = spawn('smbclient', ['//127.0.0.1/share', '-p', String(live.port), '-U', `${live.user}%${live.password}`,
      '--option=client min protocol=SMB2_02', '-c', 'get big.bin /dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let gout = ''
    get.stdout.setEncoding('utf8').on('data', (d: string) => { gout += d })
    get.stderr.setEncoding('utf8').on('data', (d: string) => { gout += d })
    const getDone = new Promise<number | null>(resolve => get.on('close', resolve))
    // Kill once the transfer has moved some bytes (the server counts them).
    const before = rpcPids()
    await new Promise(resolve => setTimeout(resolve, 700))
    t.equal(get.exitCode, null, 'the transfer is still running when the RPC process is killed')
    for (const pid of before) process.kill(pid, 'SIGKILL')
    await waitFor('a new RPC process', () => { const now = rpcPids(); return now.length === before.length && now.every(p => !before.includes(p)) })
    t.ok(await live.logged(/rpc: RPC process \(pid \d+\) was killed by SIGKILL; \d+ open pipes? broken; restarting it/), 'the death is logged')

    holder.stdin.write('\n')
    t.equal(await holderDone, 0, herr)
    const seen = JSON.parse(hout.slice(hout.indexOf('{'))) as { before: number, after: string, reopened: number }
    t.equal(seen.before, 500)
    t.match(seen.after, /STATUS_PIPE_BROKEN/, 'the pipe open at the death fails STATUS_PIPE_BROKEN')
    t.equal(seen.reopened, 500, 'a new pipe on the same session is served by the new RPC process')

    t.equal(await getDone, 0, gout)
    t.match(gout, new RegExp(`getting file \\\\big\\.bin of size ${size}`), 'the whole file came through')
    const l = await run('smbclient', ['-L', '//127.0.0.1', '-p', String(live.port), '-U', `${live.user}%${live.password}`, '--option=client min protocol=SMB2_02'])
    t.equal(l.code, 0, l.stdout + l.stderr)
    t.match(l.stdout, /^\s+share\s+Disk\s+the test share$/m, 'smbclient -L works against the new RPC process')
  })
