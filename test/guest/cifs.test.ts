// The Linux kernel's own SMB client (cifs.ko) against smbts, as a user mounts it (issue 19).
// This machine's kernel has no cifs module, so a qemu guest boots Debian's kernel with an
// initramfs of Debian userland (scripts/guest-image.sh builds it once and caches it, keyed on the
// package versions). smbts and the guest run in a network namespace made here: a tap device with
// private addresses inside that namespace only, no user-mode networking. The guest boots once,
// runs every case of test/guest/cases.sh and reports each between markers on its serial console;
// each becomes a subtest here. test/guest/knownfail.txt names the cases that fail for want of a
// feature, with the reason: they show as skipped with it, and one that passes fails the run until
// it is taken off the list (the list only shrinks).
//
// SMBTS_GUEST_SERVER=samba points the same cases at Debian's smbd, the reference (knownfail.txt
// does not apply). SMBTS_GUEST_CASES=a,b runs only those cases; SMBTS_GUEST_BIG_MIB and
// SMBTS_GUEST_FILES and SMBTS_GUEST_DIR_ENTRIES scale the large-file, many-files and big-directory
// cases (default 1024, 10000 and 10000).
// SMBTS_GUEST_DEBUG=smb,oplock is smbts's SMBTS_DEBUG (its log shows beside a failing case).
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, createReadStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { ROOT, cliBuilt, startCli, alive, childPids, type CliServer } from '../helpers/cli-server.js'
import { PersistentStore, parseRecord } from '../../src/session/persistent-store.js'
import { makeTestShare, type TestShare } from '../helpers/test-share.js'

/** Every case, in the order the guest runs them. */
const ALL_CASES = [
  'vers-3.1.1', 'vers-3.0.2', 'vers-3.0', 'vers-2.1', 'vers-2.0',
  'seal-3.1.1', 'seal-3.0.2', 'seal-3.0',
  'sign-3.1.1', 'sign-3.0', 'sign-2.1',
  'mfsymlinks', 'cifsacl', 'cache-strict-two-mounts', 'cache-strict-held-handle', 'server-restart',
  'persistent', 'open-rename-unlink', 'fsync', 'sparse-fallocate', 'punch-hole', 'xattr', 'mmap-write', 'truncate', 'timestamps',
  'posix', 'symlinks', 'multichannel',
  'big-file', 'small-files', 'big-directory',
]
const SERVER_ADDR = '10.213.0.1'
/** What a file beside the share holds (case symlinks: never readable through the share). */
const OUTSIDE_SECRET = 'smbts-guest: a file outside the share'
const GUEST_ADDR = '10.213.0.2'
const samba = process.env.SMBTS_GUEST_SERVER === 'samba'
const BIG_MIB = Number(process.env.SMBTS_GUEST_BIG_MIB ?? 1024)
// The issue's 10,000 small files, made one by one by the guest's kernel client: ~3 minutes under TCG
// on this 2-core machine (the guest's CPU is emulated, so the guest, not the server, sets the pace),
// which is why that case alone gets twice CASE_TIMEOUT (cases.sh).
const NFILES = Number(process.env.SMBTS_GUEST_FILES ?? 10000)
const DIR_ENTRIES = Number(process.env.SMBTS_GUEST_DIR_ENTRIES ?? 10000)
/** The whole guest run, boot to power-off; a case alone gets CASE_TIMEOUT in the guest. */
const RUN_TIMEOUT_MS = Number(process.env.SMBTS_GUEST_TIMEOUT ?? 900) * 1000
const CASE_TIMEOUT_S = 240
const cases = process.env.SMBTS_GUEST_CASES ? ALL_CASES.filter(c => process.env.SMBTS_GUEST_CASES!.split(',').includes(c)) : ALL_CASES

/** test/guest/knownfail.txt: `<case> <reason>` a line, # comments. */
function readKnownfail (): Map<string, string> {
  const m = new Map<string, string>()
  for (const line of readFileSync(join(ROOT, 'test/guest/knownfail.txt'), 'utf8').split('\n')) {
    const l = line.replace(/#.*/, '').trim()
    if (l === '') continue
    const [name, ...why] = l.split(/\s+/)
    m.set(name!, why.join(' '))
  }
  return m
}
const knownfail = samba ? new Map<string, string>() : readKnownfail()

function run (cmd: string, args: string[], o: { input?: string, timeout?: number } = {}): { ok: boolean, out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: o.input ?? '', timeout: o.timeout ?? 30_000 })
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim() }
}
const onPath = (cmd: string): boolean => run('sh', ['-c', `command -v ${cmd}`]).ok

/** Why the guest cannot run here, or undefined when it can. */
function unavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (a network namespace and a tap device need it)'
  if (process.platform !== 'linux') return 'not Linux'
  if (!samba && !cliBuilt) return 'the CLI is not built (npm run build)'
  if (samba && !onPath('smbd')) return 'no smbd (apt-get install samba)'
  if (!onPath('qemu-system-x86_64')) return 'no qemu-system-x86_64 (scripts/setup.sh installs qemu-system-x86)'
  if (!onPath('ip')) return 'no ip (iproute2)'
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun (no tap devices here)'
  const probe = `smbts-gprobe${process.pid}`
  const r = run('ip', ['netns', 'add', probe])
  if (!r.ok) return `cannot make a network namespace: ${r.out}`
  run('ip', ['netns', 'del', probe])
  return undefined
}

/** Namespaces of earlier runs whose process is gone (killed before it could clean up). */
function removeStaleNamespaces (): void {
  for (const line of run('ip', ['netns', 'list']).out.split('\n')) {
    const m = /^smbts-g(?:probe)?(\d+)\b/.exec(line)
    if (m !== null && !alive(Number(m[1]))) run('ip', ['netns', 'del', line.split(' ')[0]!])
  }
}

interface Result { status: 'pass' | 'fail' | 'skip', seconds: number, reason: string, output: string[], serverLog: string[] }

/** The server the guest mounts, run inside the namespace, restartable. */
interface Server {
  name: string
  user: string
  password: string
  shareDir: string
  /** The share the `persistent` case mounts: continuously available on smbts (`[ca]`). */
  caShare: string
  caDir: string
  log (): string[]
  start (): Promise<void>
  stop (): Promise<void>
  /** SIGKILL to every process of the server (a crash), returning once they are gone. */
  crash (): Promise<void>
  /** The persistent handle records that hold an open (smbts): how many, and how many locks they name. */
  records (): { opens: number, locks: number }
  kill (): void
}

async function listening (ns: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (/:445\b/.test(run('ip', ['netns', 'exec', ns, 'ss', '-Hltn', 'sport = :445']).out)) return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`nothing listens on port 445 in ${ns} after ${ms} ms`)
}

function smbtsServer (ns: string, ts: TestShare): Server {
  let srv: CliServer | undefined
  const logs: string[] = []
  const recordDir = join(ts.root, 'persistent')
  // The record directory goes in once the share's root is known.
  writeFileSync(ts.configPath, readFileSync(ts.configPath, 'utf8').replace('[global]\n', `[global]\npersistent handle directory = ${recordDir}\n`))
  return {
    name: 'smbts', user: ts.user, password: ts.password, shareDir: ts.share, caShare: 'ca', caDir: join(ts.root, 'ca'),
    log: () => [...logs, ...(srv?.logs ?? [])],
    async start () {
      if (srv !== undefined) logs.push(...srv.logs, '--- (restarted)')
      srv = startCli(['start', '-n', '-C', ts.configPath, '-P', ts.pwddbPath, '--pid-file', join(ts.root, 'smbts.lock'), '--control-dir', join(ts.root, 'run'), '-p', '445'], { SMBTS_DEBUG: process.env.SMBTS_GUEST_DEBUG ?? '' }, ['ip', 'netns', 'exec', ns])
      await srv.waitFor(/listening on/)
      await listening(ns)
    },
    async stop () {
      if (srv === undefined) return
      srv.kill('SIGTERM')
      const timer = setTimeout(() => { srv?.kill('SIGKILL') }, 10_000)
      await srv.exited
      clearTimeout(timer)
    },
    async crash () {
      const s = srv
      const pid = s?.proc.pid
      if (s === undefined || pid === undefined) return
      const all: number[] = []
      const walk = (p: number): void => { for (const c of childPids(p)) { walk(c); all.push(c) } }
      walk(pid)
      for (const p of [pid, ...all]) { try { process.kill(p, 'SIGKILL') } catch { /* gone */ } }
      await s.exited
      for (const p of all) while (alive(p)) await new Promise(resolve => setTimeout(resolve, 20))
    },
    records () {
      let opens = 0
      let locks = 0
      for (const n of readdirSync(recordDir).filter(n => n.endsWith('.rec'))) {
        const text = readFileSync(join(recordDir, n), 'utf8')
        if (PersistentStore.isFree(text)) continue
        try { locks += parseRecord(text).locks.length; opens++ } catch { /* not a record: counted as none */ }
      }
      return { opens, locks }
    },
    kill () { srv?.kill('SIGKILL') },
  }
}

function sambaServer (ns: string, root: string): Server {
  const base = join(root, 'samba')
  for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc']) mkdirSync(join(base, d), { recursive: true })
  const shareDir = join(root, 'share')
  mkdirSync(shareDir, { recursive: true })
  chmodSync(shareDir, 0o777)
  const conf = join(base, 'smb.conf')
  writeFileSync(conf, [
    '[global]', 'server role = standalone server', 'smb ports = 445', ...(process.env.SMBTS_GUEST_SAMBA_GLOBAL ?? '').split(';').filter(Boolean), 'server min protocol = SMB2_02',
    ...['private', 'lock', 'state', 'cache', 'pid'].map(d => `${d === 'private' ? 'private dir' : `${d} directory`} = ${join(base, d)}`),
    `ncalrpc dir = ${join(base, 'ncalrpc')}`, `log file = ${join(base, 'log.smbd')}`, 'log level = 1',
    `passdb backend = tdbsam:${join(base, 'private/passdb.tdb')}`,
    'load printers = no', 'printing = bsd', 'printcap name = /dev/null', 'disable spoolss = yes',
    '[share]', `path = ${shareDir}`, 'read only = no', ''].join('\n'))
  const password = 'Secret-pass1'
  const r = run('smbpasswd', ['-c', conf, '-a', '-s', 'root'], { input: `${password}\n${password}\n` })
  if (!r.ok) throw new Error(`smbpasswd: ${r.out}`)
  let proc: ChildProcess | undefined
  return {
    name: 'Samba', user: 'root', password, shareDir, caShare: 'share', caDir: shareDir,
    log: () => { try { return readFileSync(join(base, 'log.smbd'), 'utf8').split('\n') } catch { return [] } },
    async start () {
      // Its own process group: smbd signals its group (kill(0, SIGTERM)) as it shuts down.
      proc = spawn('ip', ['netns', 'exec', ns, 'smbd', '--foreground', '--no-process-group', '-s', conf], { stdio: 'ignore', detached: true })
      await listening(ns)
    },
    async stop () {
      const p = proc
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) return
      const exited = new Promise(resolve => p.once('exit', resolve))
      p.kill('SIGTERM')
      await exited
      // Its children (one per client) go with the listener; the port must be free again.
      for (let i = 0; i < 100 && /:445\b/.test(run('ip', ['netns', 'exec', ns, 'ss', '-Hltn', 'sport = :445']).out); i++) await new Promise(resolve => setTimeout(resolve, 100))
    },
    async crash () {
      const p = proc
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) return
      const exited = new Promise(resolve => p.once('exit', resolve))
      try { process.kill(-p.pid!, 'SIGKILL') } catch {}
      await exited
      for (let i = 0; i < 100 && /:445\b/.test(run('ip', ['netns', 'exec', ns, 'ss', '-Hltn', 'sport = :445']).out); i++) await new Promise(resolve => setTimeout(resolve, 100))
    },
    records: () => ({ opens: 0, locks: 0 }),
    kill () { if (proc?.exitCode === null && proc.pid !== undefined) { try { process.kill(-proc.pid, 'SIGKILL') } catch {} } },
  }
}

function sha256File (path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(path).on('data', d => h.update(d)).on('error', reject).on('end', () => { resolve(h.digest('hex')) })
  })
}

/** The MD5 of each `size` bytes of a file (the last piece may be shorter), and of the whole. */
function chunkMd5s (path: string, size: number): Promise<{ chunks: string[], whole: string }> {
  return new Promise((resolve, reject) => {
    const out: string[] = []
    const all = createHash('md5')
    let h = createHash('md5')
    let n = 0
    createReadStream(path, { highWaterMark: 1 << 20 }).on('data', (chunk: string | Buffer) => {
      const d = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      all.update(d)
      for (let off = 0; off < d.length;) {
        const take = Math.min(size - n, d.length - off)
        h.update(d.subarray(off, off + take))
        off += take; n += take
        if (n === size) { out.push(h.digest('hex')); h = createHash('md5'); n = 0 }
      }
    }).on('error', reject).on('end', () => { if (n > 0) out.push(h.digest('hex')); resolve({ chunks: out, whole: all.digest('hex') }) })
  })
}

/** Boots the guest once, runs the cases, returns each one's result. */
async function runGuest (image: string): Promise<{ results: Map<string, Result>, serial: string[], server: string, seconds: number, note: string, warnings: string[] }> {
  const started = Date.now()
  const ns = `smbts-g${process.pid}`
  const tap = `tapg${process.pid}`.slice(0, 15)
  const work = mkdtempSync(join(tmpdir(), 'smbts-guest-'))
  let qemu: ChildProcess | undefined
  let server: Server | undefined
  let ts: TestShare | undefined
  const cleanup = (): void => {
    if (qemu?.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL')
    server?.kill()
    run('ip', ['netns', 'del', ns])
    ts?.remove()
    rmSync(work, { recursive: true, force: true })
  }
  const onSignal = (sig: NodeJS.Signals): void => { cleanup(); process.kill(process.pid, sig) }
  process.once('exit', cleanup)
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(s, onSignal)
  try {
    for (const args of [['netns', 'add', ns], ['-n', ns, 'link', 'set', 'lo', 'up'], ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap'],
      ['-n', ns, 'addr', 'add', `${SERVER_ADDR}/24`, 'dev', tap], ['-n', ns, 'link', 'set', tap, 'up']]) {
      const r = run('ip', args)
      if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out}`)
    }
    if (samba) {
      server = sambaServer(ns, work)
    } else {
      // [ca]: a continuously available share, for the persistent case alone (cifs.ko asks
      // persistent handles of every open on a CA share, which would change every other case).
      ts = makeTestShare('guest', 'SMBTS-GUEST', { shares: { ca: ['read only = no', 'continuous availability = yes'] } })
      server = smbtsServer(ns, ts)
    }
    await server.start()

    // This run's part of the initramfs: the cases and their parameters, appended to the cached image.
    const runRoot = join(work, 'initrd-run')
    mkdirSync(join(runRoot, 'run'), { recursive: true })
    copyFileSync(join(ROOT, 'test/guest/cases.sh'), join(runRoot, 'run/guest.sh'))
    chmodSync(join(runRoot, 'run/guest.sh'), 0o755)
    const env = { SERVER: SERVER_ADDR, GUEST_ADDR, PORT: '445', SHARE: 'share', CA_SHARE: server.caShare, SMB_USER: server.user, SMB_PASS: server.password, CASES: cases.join(' '), BIG_MIB: String(BIG_MIB), NFILES: String(NFILES), DIR_ENTRIES: String(DIR_ENTRIES), CASE_TIMEOUT: String(CASE_TIMEOUT_S) }
    writeFileSync(join(runRoot, 'run/env'), Object.entries(env).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n')
    const cpio = spawnSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: runRoot, input: 'run\nrun/guest.sh\nrun/env\n' })
    if (cpio.status !== 0) throw new Error(`cpio: ${String(cpio.stderr)}`)
    const initrd = join(work, 'initrd.gz')
    writeFileSync(initrd, Buffer.concat([readFileSync(join(image, 'initrd.gz')), gzipSync(cpio.stdout)]))

    qemu = spawn('ip', ['netns', 'exec', ns, 'qemu-system-x86_64', '-accel', 'tcg', '-m', '1024', '-smp', '2',
      '-kernel', join(image, 'vmlinuz'), '-initrd', initrd, '-append', 'console=ttyS0 quiet loglevel=1 panic=-1',
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', 'virtio-net-pci,netdev=n0',
      '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot'], { stdio: ['pipe', 'pipe', 'pipe'] })
    const q = qemu
    const results = new Map<string, Result>()
    const serial: string[] = []
    let current: { name: string, output: string[], logFrom: number } | undefined
    let note = ''
    let partial = ''
    let chain = Promise.resolve()
    const answer = (s: string): void => { q.stdin!.write(`${s}\n`) }
    const onLine = async (raw: string): Promise<void> => {
      const line = raw.replace(/\r$/, '')
      serial.push(line)
      if (process.env.SMBTS_TEST_LOG) process.stderr.write(`guest: ${line}\n`)
      const m = /@@@ (\w+) ?(.*)$/.exec(line)
      if (m === null) { current?.output.push(line); return }
      const [, what, rest] = m as unknown as [string, string, string]
      if (what === 'GUEST') note = rest
      else if (what === 'BEGIN') current = { name: rest.trim(), output: [], logFrom: server!.log().length }
      else if (what === 'END') {
        const [name, status, secs, ...why] = rest.split(' ')
        results.set(name!, { status: status as Result['status'], seconds: Number(secs), reason: why.join(' '), output: current?.output ?? [], serverLog: server!.log().slice(current?.logFrom ?? 0) })
        current = undefined
      } else if (what === 'RESTART') {
        current?.output.push(`(the host restarts ${server!.name})`)
        await server!.stop()
        await server!.start()
        answer('restarted')
      } else if (what === 'CRASH') {
        // SIGKILL, then the records left as they were at that instant, then a start on the same
        // port and record directory: `restarted <opens> <locks>` (what the records hold).
        current?.output.push(`(the host kills ${server!.name} with SIGKILL and starts it again)`)
        await server!.crash()
        const r = server!.records()
        current?.output.push(`host: the record directory holds ${r.opens} opens with ${r.locks} byte-range locks`)
        await server!.start()
        answer(`restarted ${r.opens} ${r.locks}`)
      } else if (what === 'LOGCOUNT') {
        // How many lines of the server's log during this case match a regular expression; with
        // a capture group, how many distinct values it captures.
        const re = new RegExp(rest.trim())
        const lines = server!.log().slice(current?.logFrom ?? 0).filter(l => re.test(l))
        const n = new Set(lines.map(l => re.exec(l)![1] ?? l)).size
        current?.output.push(`host: ${lines.length} lines of the server's log match /${rest.trim()}/, ${n} distinct:`, ...lines)
        answer(String(n))
      } else if (what === 'CHUNKMD5') {
        const [path, size, want] = rest.split(' ')
        const got = await chunkMd5s(join(server!.shareDir, path!), Number(size)).catch((e: unknown) => ({ chunks: [String(e)], whole: '' }))
        const bad = got.chunks.findIndex(h => h !== want)
        current?.output.push(`host: ${got.chunks.length} chunks of ${path} in the share's directory, ${bad < 0 ? 'each with MD5 ' + want! : `chunk ${bad} has ${got.chunks[bad]!}`}`)
        answer(bad < 0 && got.chunks.length > 0 ? `match ${got.whole}` : 'mismatch')
      } else if (what === 'MKFILES') {
        const [dir, count] = rest.split(' ')
        const d = join(server!.shareDir, dir!)
        rmSync(d, { recursive: true, force: true })
        mkdirSync(d)
        for (let i = 0; i < Number(count); i++) writeFileSync(join(d, `e${i}`), `entry ${i}\n`)
        if (samba) run('chmod', ['-R', 'a+rwX', d])
        current?.output.push(`host: ${count!} entries made in ${dir!}`)
        answer('made')
      } else if (what === 'STAT') {
        // The file as the server's own file system has it: octal permissions, links, owner, type.
        const path = rest.trim()
        let got: string
        try {
          const st = lstatSync(join(server!.shareDir, path))
          const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isFIFO() ? 'fifo' : st.isSymbolicLink() ? 'symlink' : 'other'
          got = `${(st.mode & 0o7777).toString(8)} ${st.nlink} ${st.uid}:${st.gid} ${type}`
        } catch (e) { got = String(e) }
        current?.output.push(`host: ${path} is ${got}`)
        answer(got)
      } else if (what === 'CHOWN') {
        const [path, uid, gid] = rest.split(' ')
        run('chown', [`${uid!}:${gid!}`, join(server!.shareDir, path!)])
        current?.output.push(`host: ${path!} given to ${uid!}:${gid!}`)
        answer('done')
      } else if (what === 'SYMLINK') {
        // `outside`: a link to a file beside the share on the host, holding OUTSIDE_SECRET.
        const [target, path] = rest.split(' ')
        let to = target!
        if (to === 'outside') {
          to = join(server!.shareDir, '..', 'outside-secret.txt')
          writeFileSync(to, OUTSIDE_SECRET)
        }
        const r = run('ln', ['-s', to, join(server!.shareDir, path!)])
        current?.output.push(`host: symlink ${path!} -> ${to} ${r.ok ? 'made' : r.out}`)
        answer(r.ok ? 'made' : 'failed')
      } else if (what === 'MKFIFO') {
        const path = rest.trim()
        const r = run('mkfifo', [join(server!.shareDir, path)])
        current?.output.push(`host: FIFO ${path} ${r.ok ? 'made' : r.out}`)
        answer(r.ok ? 'made' : 'failed')
      } else if (what === 'SHA256') {
        const [path, want] = rest.split(' ')
        // `ca:<path>`: a path under the continuously available share.
        const file = path!.startsWith('ca:') ? join(server!.caDir, path!.slice(3)) : join(server!.shareDir, path!)
        const got = await sha256File(file).catch((e: unknown) => String(e))
        current?.output.push(`host: sha256 of ${path} in the share's directory ${got === want ? 'matches' : `is ${got}`}`)
        answer(got === want ? 'match' : `mismatch ${got}`)
      } else {
        current?.output.push(line)
      }
    }
    const errors: string[] = []
    q.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n')
      partial = lines.pop()!
      for (const l of lines) chain = chain.then(() => onLine(l)).catch((e: unknown) => { errors.push(String(e)); answer('error') })
    })
    q.stderr!.setEncoding('utf8').on('data', (d: string) => { serial.push(`qemu: ${d.trimEnd()}`) })
    const exited = new Promise<number | string | null>(resolve => q.once('exit', (code, sig) => { resolve(code ?? sig) }))
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; q.kill('SIGKILL') }, RUN_TIMEOUT_MS)
    const status = await exited
    clearTimeout(timer)
    await chain
    if (partial !== '') serial.push(partial)
    if (current !== undefined) {
      results.set(current.name, { status: 'fail', seconds: 0, reason: timedOut ? `the guest run was stopped after ${RUN_TIMEOUT_MS / 1000} s, during this case` : `the guest ended during this case (qemu: ${String(status)})`, output: current.output, serverLog: server.log().slice(current.logFrom) })
    }
    if (errors.length > 0) note += ` host errors: ${errors.join('; ')}`
    if (timedOut) note += ` (stopped after ${RUN_TIMEOUT_MS / 1000} s)`
    await server.stop()
    // What the server warned of or refused during the run, for the reader (smbts's log only).
    const warnings = samba ? [] : server.log().filter(l => / (warn|error) /.test(l))
    return { results, serial, server: server.name, seconds: (Date.now() - started) / 1000, note, warnings }
  } finally {
    cleanup()
    process.removeListener('exit', cleanup)
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.removeListener(s, onSignal)
  }
}

const why = unavailable()
let image = ''
let skip: string | false = why ?? false
if (skip === false) {
  removeStaleNamespaces()
  const r = spawnSync('bash', [join(ROOT, 'scripts/guest-image.sh')], { encoding: 'utf8', timeout: 300_000 })
  if (r.status === 0) image = r.stdout.trim()
  else if (r.status === 2) skip = `no guest image: ${r.stderr.trim()}`
  else t.fail(`scripts/guest-image.sh failed (${String(r.status ?? r.signal)}): ${r.stderr.trim()}`)
  if (image !== '' && !existsSync(join(image, 'initrd.gz'))) t.fail(`no initrd.gz in ${image}`)
}

if (skip !== false || image === '') {
  for (const c of cases) t.test(c, { skip: skip || 'no guest image' }, async () => {})
} else {
  const { results, serial, server, seconds, note, warnings } = await runGuest(image)
  if (warnings.length > 0) t.comment(`${server} logged ${warnings.length} warnings or errors, the first ones:\n${warnings.slice(0, 10).join('\n')}`)
  t.comment(`${server}: the guest (${note}) ran ${cases.length} cases in ${seconds.toFixed(0)} s; image ${image} (${(statSync(join(image, 'initrd.gz')).size / 1048576).toFixed(1)} MiB initramfs)`)
  let passed = 0
  for (const c of cases) {
    const r = results.get(c)
    const known = knownfail.get(c)
    const diag = (): string => [
      `guest output of ${c}:`, ...(r?.output ?? []).slice(-80),
      `${server} log during ${c}:`, ...(r?.serverLog ?? []).slice(-40),
    ].join('\n')
    if (r?.status === 'pass') passed++
    if (r === undefined) {
      t.test(c, async (t) => { t.fail(`the guest did not report ${c}`, { diagnostic: true, serialTail: serial.slice(-60).join('\n') }) })
    } else if (r.status === 'skip') {
      t.test(c, { skip: r.reason }, async () => {})
    } else if (known !== undefined && r.status === 'fail') {
      t.test(c, { skip: `knownfail: ${known}` }, async () => {})
    } else if (known !== undefined) {
      t.test(c, async (t) => { t.fail(`${c} passes now: take it off test/guest/knownfail.txt (${known})`) })
    } else {
      t.test(`${c} (${r.seconds} s)`, async (t) => {
        for (const l of r.output) if (l.startsWith('measure: ')) t.comment(l.slice(9))
        if (r.status === 'pass') t.pass(`${c} passes on ${server}`)
        else t.fail(`${c} fails on ${server}: ${r.output.filter(l => l.startsWith('FAIL:')).join('; ') || r.reason}`, { diagnostic: true, details: diag() })
      })
    }
  }
  t.comment(`${server}: ${passed} of ${cases.length} cases pass`)
}
