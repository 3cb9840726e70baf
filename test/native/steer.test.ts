// bpf/steer.bpf.c in the running kernel: N reuseport listeners in this process,
// clients from different loopback sources, and the listener each lands on.
// Skips (never fails) when not root or when the kernel will not load BPF.
import t from 'tap'
import net from 'node:net'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  loadSteering, steeringObjectPath, steeringWorkerFor, steeringAddressBytes, steeringHash,
  SteerConfigLayout, SteerStatsLayout, SMBTS_MAX_WORKERS, encodeSteerConfig, decodeSteerStats,
  SteeringError, type Steering
} from '../../src/transport/steer.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bpfDir = join(root, 'bpf')

function tryRun (cmd: string, args: string[]): string | undefined {
  try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) } catch { return undefined }
}

// Build first: the object is git-ignored and `make -s -C bpf` is incremental.
let buildError: string | undefined
try {
  execFileSync('make', ['-s', '-C', bpfDir], { stdio: ['ignore', 'pipe', 'pipe'] })
} catch (e) {
  buildError = `make -C bpf failed: ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').slice(-3).join(' / ')}`
}

// ---------------------------------------------------------------------------
// The TypeScript mirror of bpf/steer.h (CONVENTIONS 13), against a compiled probe.

t.test('TypeScript mirror matches bpf/steer.h', async t => {
  const cc = ['cc', 'gcc', 'clang'].find(c => tryRun(c, ['--version']) !== undefined)
  if (!cc) { t.plan(0, 'no C compiler to build the layout probe'); return }
  const dir = mkdtempSync(join(tmpdir(), 'smbts-steer-h-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'probe.c'), `
#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include "steer.h"
#define F(s, f) "\\"" #f "\\":{\\"offset\\":%zu,\\"size\\":%zu}", offsetof(struct s, f), sizeof(((struct s *)0)->f)
int main(void) {
  printf("{\\"max\\":%d,", SMBTS_MAX_WORKERS);
  printf("\\"config\\":{\\"size\\":%zu,", sizeof(struct smbts_steer_config));
  printf(F(smbts_steer_config, nr_workers)); printf(",");
  printf(F(smbts_steer_config, hash_seed)); printf("},");
  printf("\\"stats\\":{\\"size\\":%zu,", sizeof(struct smbts_steer_stats));
  printf(F(smbts_steer_stats, steered)); printf(",");
  printf(F(smbts_steer_stats, fallback)); printf("}}\\n");
  return 0;
}
`)
  execFileSync(cc, ['-Wall', '-Werror', '-I', bpfDir, '-o', join(dir, 'probe'), join(dir, 'probe.c')])
  const c = JSON.parse(execFileSync(join(dir, 'probe'), { encoding: 'utf8' }))
  t.equal(c.max, SMBTS_MAX_WORKERS, 'SMBTS_MAX_WORKERS')
  t.same(c.config, SteerConfigLayout, 'struct smbts_steer_config')
  t.same(c.stats, SteerStatsLayout, 'struct smbts_steer_stats')

  // The encoders honour the layout.
  const cfg = encodeSteerConfig({ nrWorkers: 3, hashSeed: 0xdeadbeef })
  t.equal(cfg.length, c.config.size)
  t.equal(cfg.readUInt32LE(c.config.nr_workers.offset), 3)
  t.equal(cfg.readUInt32LE(c.config.hash_seed.offset), 0xdeadbeef)
  const st = Buffer.alloc(c.stats.size)
  st.writeBigUInt64LE(7n, c.stats.steered.offset)
  st.writeBigUInt64LE(9n, c.stats.fallback.offset)
  t.same(decodeSteerStats(st), { steered: 7n, fallback: 9n })
})

t.test('the object\'s .rodata is exactly struct smbts_steer_config', async t => {
  if (buildError) { t.plan(0, buildError); return }
  // set_initial_value() replaces the whole section, so nothing else may live there.
  const out = tryRun('bpftool', ['-j', 'btf', 'dump', 'file', steeringObjectPath()])
  if (!out) { t.plan(0, 'bpftool cannot dump the object\'s BTF'); return }
  const types = (JSON.parse(out) as { types: Array<{ kind: string, name: string, size: number, vars?: Array<{ name?: string, offset: number }> }> }).types
  const rodata = types.find(x => x.kind === 'DATASEC' && x.name === '.rodata')
  t.ok(rodata, '.rodata exists')
  t.equal(rodata?.size, SteerConfigLayout.size, '.rodata size')
  t.equal(rodata?.vars?.length, 1, 'one variable in .rodata')
})

// ---------------------------------------------------------------------------
// The JS mirror of the program's choice.

t.test('address bytes and worker choice', async t => {
  t.same([...steeringAddressBytes('127.0.0.2')], [127, 0, 0, 2])
  t.same([...steeringAddressBytes('::ffff:127.0.0.2')], [127, 0, 0, 2], 'v4-mapped is hashed as IPv4')
  t.same([...steeringAddressBytes('::1')], [...new Array(15).fill(0), 1])
  t.same(steeringAddressBytes('fe80::1:2%lo').toString('hex'), 'fe800000000000000000000000010002')
  t.same(steeringAddressBytes('2001:db8::').toString('hex'), '20010db8000000000000000000000000')
  t.same(steeringAddressBytes('1:2:3:4:5:6:7:8').toString('hex'), '00010002000300040005000600070008')
  t.same(steeringAddressBytes('64:ff9b::10.0.0.1').toString('hex'), '0064ff9b00000000000000000a000001')
  t.throws(() => steeringAddressBytes('nope'), TypeError)
  // FNV-1a offset basis through the murmur3 finalizer, computed by hand.
  t.equal(steeringHash(new Uint8Array(0)), fmix32(2166136261))
  for (const n of [1, 2, 3, 4, 7, 64]) {
    for (let i = 0; i < 256; i++) {
      const w = steeringWorkerFor(`10.1.2.${i}`, n)
      if (w < 0 || w >= n || !Number.isInteger(w)) { t.fail(`worker ${w} out of 0..${n - 1}`); return }
    }
  }
  // The reason for multiply-shift and the finalizer: the first few loopback
  // addresses must not all pick one of two workers.
  const picks = new Set([1, 2, 3, 4, 5].map(i => steeringWorkerFor(`127.0.0.${i}`, 2)))
  t.equal(picks.size, 2, '127.0.0.1-.5 use both of two workers')
  t.not(steeringWorkerFor('127.0.0.2', 64, 1), undefined)
})

function fmix32 (h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b) >>> 0
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35) >>> 0
  h ^= h >>> 16
  return h >>> 0
}

t.test('load errors are SteeringErrors with stable codes', async t => {
  t.throws(() => loadSteering({ workers: 0 }), RangeError)
  t.throws(() => loadSteering({ workers: SMBTS_MAX_WORKERS + 1 }), RangeError)
  try {
    loadSteering({ workers: 2, objectPath: join(bpfDir, 'no-such.bpf.o') })
    t.fail('loaded a missing object')
  } catch (e) {
    t.type(e, SteeringError)
    t.equal((e as SteeringError).code, 'SMBTS_ERR_BPF_LOAD')
    t.match((e as SteeringError).message, /no object file/)
  }
})

// ---------------------------------------------------------------------------
// In the kernel.

function unavailable (): string | undefined {
  if (buildError) return buildError
  if (process.getuid?.() !== 0) return 'needs root (or CAP_BPF + CAP_NET_ADMIN) to load BPF'
  try {
    loadSteering({ workers: 1 }).close()
  } catch (e) {
    return e instanceof SteeringError ? e.message : `BPF load failed: ${String(e)}`
  }
  return undefined
}
const skip = unavailable()

interface Group { servers: net.Server[], fds: number[], port: number }

/** N listeners on one port; each tells its client its index in one byte. */
async function listenGroup (host: string, n: number): Promise<Group> {
  const servers: net.Server[] = []
  let port = 0
  for (let i = 0; i < n; i++) {
    const srv = net.createServer(c => { c.end(Buffer.of(i)) })
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject)
      srv.listen({ host, port, reusePort: true }, () => resolve())
    })
    port = (srv.address() as net.AddressInfo).port
    servers.push(srv)
  }
  const fds = servers.map(s => (s as unknown as { _handle: { fd: number } })._handle.fd)
  return { servers, fds, port }
}

async function closeGroup (g: Group): Promise<void> {
  await Promise.all(g.servers.map(s => new Promise<void>(resolve => s.close(() => resolve()))))
}

/** Connects from `localAddress` and returns the index of the listener that accepted. */
function whichListener (host: string, port: number, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port, localAddress })
    const chunks: Buffer[] = []
    c.on('data', d => chunks.push(d))
    c.on('error', reject)
    c.on('close', () => {
      const b = Buffer.concat(chunks)
      if (b.length === 1) resolve(b[0]!); else reject(new Error(`listener sent ${b.length} bytes`))
    })
  })
}

/** For each source, the listeners its connections landed on, in order. */
async function landings (host: string, port: number, sources: string[], perSource: number): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>()
  for (const src of sources) {
    const seen: number[] = []
    for (let k = 0; k < perSource; k++) seen.push(await whichListener(host, port, src))
    out.set(src, seen)
  }
  return out
}

const v4Sources = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`)
const PER_SOURCE = 4

for (const workers of [2, 3, 4]) {
  t.test(`IPv4: ${workers} workers, every connection of a source on its one worker`, { skip }, async t => {
    const g = await listenGroup('127.0.0.1', workers)
    t.teardown(() => closeGroup(g))
    const steering: Steering = loadSteering({ workers })
    t.teardown(() => steering.close())
    g.fds.forEach((fd, i) => steering.setWorker(i, fd))
    steering.attach(g.fds[0]!)
    const before = steering.stats()

    const got = await landings('127.0.0.1', g.port, v4Sources, PER_SOURCE)
    const used = new Set<number>()
    for (const [src, seen] of got) {
      t.same(new Set(seen).size, 1, `${src}: all ${PER_SOURCE} connections on one listener (${seen.join(',')})`)
      t.equal(seen[0], steeringWorkerFor(src, workers), `${src}: the worker the JS mirror predicts`)
      used.add(seen[0]!)
    }
    t.ok(used.size > 1, `${v4Sources.length} sources spread over ${used.size} of ${workers} listeners`)

    const after = steering.stats()
    t.equal(after.steered - before.steered, BigInt(v4Sources.length * PER_SOURCE), 'steered counter counts every SYN')
    t.equal(after.fallback - before.fallback, 0n, 'no fallback with every slot filled')
  })
}

t.test('an empty slot falls back to the kernel\'s hash', { skip }, async t => {
  const workers = 2
  const g = await listenGroup('127.0.0.1', workers)
  t.teardown(() => closeGroup(g))
  const steering = loadSteering({ workers })
  t.teardown(() => steering.close())
  steering.setWorker(0, g.fds[0]!) // slot 1 stays empty
  steering.attach(g.fds[0]!)
  const toEmpty = v4Sources.filter(s => steeringWorkerFor(s, workers) === 1)
  const toZero = v4Sources.filter(s => steeringWorkerFor(s, workers) === 0)
  t.ok(toEmpty.length > 0 && toZero.length > 0, 'sources for both slots')

  const got = await landings('127.0.0.1', g.port, [...toZero, ...toEmpty], 2)
  for (const s of toZero) t.same(got.get(s), [0, 0], `${s} steered to listener 0`)
  for (const s of toEmpty) t.equal(got.get(s)!.length, 2, `${s} still connected`)
  const st = steering.stats()
  t.equal(st.steered, BigInt(toZero.length * 2), 'steered only for the filled slot')
  t.equal(st.fallback, BigInt(toEmpty.length * 2), 'fallback for the empty slot')
})

t.test('IPv6: ::1 lands on the predicted worker for 2, 3 and 4 workers', { skip }, async t => {
  for (const workers of [2, 3, 4]) {
    let g: Group
    try {
      g = await listenGroup('::1', workers)
    } catch (e) {
      t.plan(0, `no IPv6 loopback: ${(e as Error).message}`)
      return
    }
    const steering = loadSteering({ workers })
    try {
      g.fds.forEach((fd, i) => steering.setWorker(i, fd))
      steering.attach(g.fds[0]!)
      const seen = (await landings('::1', g.port, ['::1'], PER_SOURCE)).get('::1')!
      t.same(seen, new Array(PER_SOURCE).fill(steeringWorkerFor('::1', workers)), `${workers} workers: ${seen.join(',')}`)
      t.equal(steering.stats().steered, BigInt(PER_SOURCE), 'steered counter')
    } finally {
      steering.close()
      await closeGroup(g)
    }
  }
})

t.test('attach and setWorker errors are SMBTS_ERR_BPF_ATTACH', { skip }, async t => {
  const steering = loadSteering({ workers: 2 })
  t.teardown(() => steering.close())
  // A listener without SO_REUSEPORT cannot go into a REUSEPORT_SOCKARRAY.
  const plain = net.createServer()
  await new Promise<void>(resolve => plain.listen({ host: '127.0.0.1', port: 0 }, () => resolve()))
  t.teardown(() => new Promise<void>(resolve => plain.close(() => resolve())))
  const fd = (plain as unknown as { _handle: { fd: number } })._handle.fd
  t.throws(() => steering.setWorker(0, fd), { code: 'SMBTS_ERR_BPF_ATTACH' })
  t.throws(() => steering.setWorker(2, fd), RangeError)
  t.throws(() => steering.attach(-1), { code: 'SMBTS_ERR_BPF_ATTACH', errno: 9 })
  steering.close()
  t.throws(() => steering.stats(), { code: 'SMBTS_ERR_BPF_ATTACH' }, 'closed is closed')
})

t.test('IPv4-mapped: a dual-stack listener steers a v4 client by its 4 bytes', { skip }, async t => {
  const workers = 3
  let g: Group
  try {
    g = await listenGroup('::ffff:127.0.0.1', workers)
  } catch (e) {
    t.plan(0, `cannot listen on ::ffff:127.0.0.1: ${(e as Error).message}`)
    return
  }
  t.teardown(() => closeGroup(g))
  const steering = loadSteering({ workers })
  t.teardown(() => steering.close())
  g.fds.forEach((fd, i) => steering.setWorker(i, fd))
  steering.attach(g.fds[0]!)
  const got = await landings('127.0.0.1', g.port, v4Sources.slice(0, 8), 2)
  for (const [src, seen] of got) {
    // The server sees ::ffff:a.b.c.d; the program saw an IPv4 packet.
    t.same(seen, [steeringWorkerFor(`::ffff:${src}`, workers), steeringWorkerFor(src, workers)], `${src} as ::ffff:${src}`)
  }
  t.equal(steering.stats().steered, 16n)
})

// Many IPv6 sources need addresses this host does not have: a child process in
// its own network namespace adds them to its own loopback and reports where each
// connection landed; the assertions stay here.
const netnsChild = `
import net from 'node:net'
import { execFileSync } from 'node:child_process'
const { loadSteering } = await import(process.env.SMBTS_STEER_TS)
const { workers, server, sources, perSource } = JSON.parse(process.env.SMBTS_STEER_ARGS)
execFileSync('ip', ['link', 'set', 'lo', 'up'])
for (const a of [server, ...sources]) execFileSync('ip', ['-6', 'addr', 'add', a + '/128', 'dev', 'lo', 'nodad'])
const servers = []
let port = 0
for (let i = 0; i < workers; i++) {
  const srv = net.createServer(c => c.end(Buffer.of(i)))
  await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen({ host: server, port, reusePort: true }, resolve) })
  port = srv.address().port
  servers.push(srv)
}
const steering = loadSteering({ workers })
servers.forEach((s, i) => steering.setWorker(i, s._handle.fd))
steering.attach(servers[0]._handle.fd)
const landings = {}
for (const src of sources) {
  landings[src] = []
  for (let k = 0; k < perSource; k++) {
    landings[src].push(await new Promise((resolve, reject) => {
      const c = net.connect({ host: server, port, localAddress: src })
      const chunks = []
      c.on('data', d => chunks.push(d)).on('error', reject).on('close', () => resolve(Buffer.concat(chunks)[0]))
    }))
  }
}
const st = steering.stats()
console.log(JSON.stringify({ landings, steered: String(st.steered), fallback: String(st.fallback) }))
steering.close()
servers.forEach(s => s.close())
`

t.test('IPv6: many sources in a private network namespace', { skip: skip ?? (tryRun('unshare', ['--version']) && tryRun('ip', ['-V']) ? undefined : 'needs unshare and ip') }, async t => {
  const workers = 4
  const sources = Array.from({ length: 16 }, (_, i) => `fd00:5b::${(0x10 + i).toString(16)}`)
  let out: string
  try {
    out = execFileSync('unshare', ['--net', '--', process.execPath, '--input-type=module', '-e', netnsChild], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        SMBTS_STEER_TS: join(root, 'src', 'transport', 'steer.ts'),
        SMBTS_STEER_ARGS: JSON.stringify({ workers, server: 'fd00:5b::1', sources, perSource: PER_SOURCE })
      }
    })
  } catch (e) {
    const err = String((e as { stderr?: string }).stderr ?? e)
    // A Node without type stripping or a kernel without netns support: not a steering failure.
    if (/ERR_UNKNOWN_FILE_EXTENSION|unshare failed|Operation not permitted/.test(err)) { t.plan(0, err.trim().split('\n')[0]!); return }
    throw e
  }
  const r = JSON.parse(out.trim().split('\n').pop()!) as { landings: Record<string, number[]>, steered: string, fallback: string }
  const used = new Set<number>()
  for (const src of sources) {
    const seen = r.landings[src]!
    t.same(seen, new Array(PER_SOURCE).fill(steeringWorkerFor(src, workers)), `${src}: ${seen.join(',')}`)
    used.add(seen[0]!)
  }
  t.ok(used.size > 1, `${sources.length} IPv6 sources spread over ${used.size} of ${workers} listeners`)
  t.equal(r.steered, String(sources.length * PER_SOURCE), 'steered counter')
  t.equal(r.fallback, '0', 'no fallback')
})
