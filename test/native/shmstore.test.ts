// The state store's primitive (src/locking/record-db.ts over native/src/shmstore.c): the same
// behavioural tests for MemoryRecordDb and ShmRecordDb where they make sense in one process, then
// what only the shared store has: large values, space freed and reused, a full store, two
// processes updating one record, and a process SIGKILLed while it holds a record's lock.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { nativeAvailable, nativeLoadError } from './fixtures/native.js'
import {
  MemoryRecordDb, ShmRecordDb, UNCHANGED, jsonCodec, type RecordDb
} from '../../src/locking/record-db.js'

const skip = nativeAvailable ? false : `native addon not loaded: ${nativeLoadError?.message}`
const CHILD = fileURLToPath(new URL('./fixtures/shmstore-child.ts', import.meta.url))
const STRIP = fileURLToPath(new URL('../helpers/strip-types.mjs', import.meta.url))

let files = 0
function storePath (t: Test): string {
  const p = `/dev/shm/smbts-test-store-${process.pid}-${files++}`
  t.teardown(() => rmSync(p, { force: true }))
  return p
}

function shm<V> (t: Test, sizeBytes = 64 << 20): ShmRecordDb<V> {
  const db = ShmRecordDb.create<V>(storePath(t), { sizeBytes })
  t.teardown(() => db.close())
  return db
}

// Records that are Buffers: decode copies (the db reuses the Buffer it decodes from).
const rawCodec = { encode: (b: Buffer) => b, decode: (b: Buffer) => Buffer.from(b) }

interface Rec { n: number, tags?: string[], big?: bigint }

const impls: Array<[string, (t: Test) => RecordDb<Rec>]> = [
  ['MemoryRecordDb', () => new MemoryRecordDb<Rec>()],
  ['ShmRecordDb', t => shm<Rec>(t)],
]

for (const [name, make] of impls) {
  t.test(`${name}: create, read, update, delete`, { skip: name === 'ShmRecordDb' && skip }, async t => {
    const db = make(t)
    t.equal(db.read('a'), undefined)
    db.update('a', old => {
      t.equal(old, undefined, 'no record yet')
      return { n: 1 }
    })
    t.same(db.read('a'), { n: 1 })
    db.update('a', old => {
      t.same(old, { n: 1 })
      old!.n = 2 // mutate and return `old`
      return old
    })
    t.same(db.read('a'), { n: 2 })
    db.update('a', () => UNCHANGED)
    t.same(db.read('a'), { n: 2 }, 'UNCHANGED keeps the record')
    db.update('b', () => UNCHANGED)
    t.equal(db.read('b'), undefined, 'UNCHANGED on no record writes nothing')
    t.same(db.keys(), ['a'])
    db.update('a', () => undefined)
    t.equal(db.read('a'), undefined, 'undefined deletes')
    t.same(db.keys(), [])
    db.update('gone', () => undefined)
    t.same(db.keys(), [], 'deleting nothing is fine')
  })

  t.test(`${name}: keys are any string (NUL, non-ASCII, long)`, { skip: name === 'ShmRecordDb' && skip }, async t => {
    const db = make(t)
    const keys = ['share\u00000x1f', 'ünïcødé/文件', '', 'x'.repeat(65_536)]
    keys.forEach((k, i) => db.update(k, () => ({ n: i })))
    keys.forEach((k, i) => t.same(db.read(k), { n: i }, `key of ${Buffer.byteLength(k)} bytes`))
    t.same(db.keys().sort(), [...keys].sort())
  })

  t.test(`${name}: a throwing fn writes nothing and unlocks`, { skip: name === 'ShmRecordDb' && skip }, async t => {
    const db = make(t)
    db.update('k', () => ({ n: 1 }))
    t.throws(() => db.update('k', () => { throw new Error('boom') }), /boom/)
    t.throws(() => db.update('new', () => { throw new Error('boom') }), /boom/)
    t.same(db.read('k'), { n: 1 })
    t.equal(db.read('new'), undefined)
    db.update('k', old => ({ n: old!.n + 1 }))
    t.same(db.read('k'), { n: 2 }, 'the lock was released')
  })

  t.test(`${name}: update inside update throws; read inside update works`, { skip: name === 'ShmRecordDb' && skip }, async t => {
    const db = make(t)
    db.update('other', () => ({ n: 7 }))
    db.update('k', () => {
      t.throws(() => db.update('k', () => ({ n: 9 })), { code: 'SMBTS_ERR_STORE_LOCK' })
      t.throws(() => db.update('other', () => ({ n: 9 })), { code: 'SMBTS_ERR_STORE_LOCK' })
      t.same(db.read('other'), { n: 7 })
      t.equal(db.read('k'), undefined)
      return { n: 1 }
    })
    t.same(db.read('k'), { n: 1 })
    t.same(db.read('other'), { n: 7 })
  })

  t.test(`${name}: tens of thousands of keys, then none`, { skip: name === 'ShmRecordDb' && skip }, async t => {
    const db = make(t)
    const N = 30_000
    for (let i = 0; i < N; i++) db.update(`file-${i}`, () => ({ n: i, tags: ['rw', String(i)] }))
    t.equal(db.keys().length, N)
    let bad = 0
    for (let i = 0; i < N; i++) if (db.read(`file-${i}`)?.n !== i) bad++
    t.equal(bad, 0, 'every record reads back')
    for (let i = 0; i < N; i += 2) db.update(`file-${i}`, () => undefined)
    t.equal(db.keys().length, N / 2)
    for (let i = 1; i < N; i += 2) db.update(`file-${i}`, () => undefined)
    t.same(db.keys(), [], 'nothing leaks')
  })

  t.test(`${name}: bigints survive`, { skip: name === 'ShmRecordDb' && skip }, async t => {
    const db = make(t)
    db.update('b', () => ({ n: 1, big: 2n ** 64n + 1n, tags: ['\u0000not a bigint', '\u0000n5'] }))
    t.same(db.read('b'), { n: 1, big: 2n ** 64n + 1n, tags: ['\u0000not a bigint', '\u0000n5'] })
    t.equal(typeof db.read('b')?.big, 'bigint')
  })
}

t.test('jsonCodec round-trips plain records, bigints and tag-like strings', async t => {
  const c = jsonCodec<unknown>()
  for (const v of [{ a: 1 }, [1, 'x', null], 'plain', { k: 5n, s: '\u0000n1', t: '\u0000s', u: 'a\u0000b' }, { nested: { deep: [-(2n ** 70n)] } }]) {
    t.same(c.decode(c.encode(v)), v)
  }
  t.throws(() => { const o: { self?: unknown } = {}; o.self = o; c.encode(o) }, TypeError, 'a cycle still throws')
})

t.test('ShmRecordDb: another handle sees the same records; a closed one throws', { skip }, async t => {
  const path = storePath(t)
  const a = ShmRecordDb.create<Rec>(path, { sizeBytes: 4 << 20 })
  const b = ShmRecordDb.open<Rec>(path)
  t.teardown(() => { a.close(); b.close() })
  a.update('k', () => ({ n: 1 }))
  t.same(b.read('k'), { n: 1 })
  b.update('k', old => ({ n: old!.n + 1 }))
  t.same(a.read('k'), { n: 2 })
  // A second handle in the same thread on the same record: an error, never a hang.
  a.update('k', () => {
    t.throws(() => b.update('k', () => ({ n: 0 })), { code: 'SMBTS_ERR_STORE_LOCK' })
    return UNCHANGED
  })
  b.close()
  t.throws(() => b.read('k'), { code: 'SMBTS_ERR_STORE_CLOSED' })
  t.same(a.read('k'), { n: 2 })
  t.throws(() => ShmRecordDb.open(`${path}-missing`), { code: 'ENOENT' })
  const notStore = storePath(t)
  rmSync(notStore, { force: true })
  const fs = await import('node:fs')
  fs.writeFileSync(notStore, Buffer.alloc(8192, 1))
  t.throws(() => ShmRecordDb.open(notStore), { code: 'SMBTS_ERR_STORE_FORMAT' })
})

t.test('ShmRecordDb: values of MiBs', { skip }, async t => {
  const raw = ShmRecordDb.create<Buffer>(storePath(t), { sizeBytes: 64 << 20, codec: rawCodec })
  t.teardown(() => raw.close())
  const big = Buffer.alloc(4 << 20)
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i * 2654435761 >>> 0, i)
  raw.update('big', () => big)
  t.ok(raw.read('big')!.equals(big), '4 MiB read back')
  const bigger = Buffer.concat([big, big, big]) // 12 MiB
  raw.update('big', old => { t.ok(old!.equals(big)); return bigger })
  t.ok(raw.read('big')!.equals(bigger), '12 MiB read back')
  t.throws(() => raw.update('huge', () => Buffer.alloc(17 << 20)), { code: 'ERR_OUT_OF_RANGE' })
  t.equal(raw.read('huge'), undefined)
  raw.update('big', () => undefined)
  t.same(raw.keys(), [])
})

t.test('ShmRecordDb: freed space is reused (far more written than the file holds)', { skip }, async t => {
  const db = ShmRecordDb.create<Buffer>(storePath(t), { sizeBytes: 8 << 20, codec: rawCodec })
  t.teardown(() => db.close())
  const sizes = [200, 3000, 64 << 10, 700 << 10]
  let written = 0
  let afterWarmup = 0
  for (let i = 0; i < 4000; i++) {
    const size = sizes[i % sizes.length] + (i % 7)
    db.update(`k${i % 16}`, () => Buffer.alloc(size, i & 0xff))
    written += size
    if (i % 50 === 0) db.update(`k${(i + 5) % 16}`, () => undefined) // deletes too
    if (i === 400) afterWarmup = db.stats().bumpBytes
  }
  t.ok(written > 50 * (8 << 20), `${(written / 2 ** 20).toFixed(0)} MiB written through an 8 MiB store`)
  t.equal(db.stats().bumpBytes, afterWarmup, 'no new space carved after the warm-up')
  for (const k of db.keys()) db.update(k, () => undefined)
  t.same(db.keys(), [])
})

t.test('ShmRecordDb: a full store throws SMBTS_ERR_STORE_FULL and stays usable', { skip }, async t => {
  const db = ShmRecordDb.create<Buffer>(storePath(t), { sizeBytes: 2 << 20, codec: rawCodec })
  t.teardown(() => db.close())
  let n = 0
  let err: unknown
  try {
    for (; n < 1000; n++) db.update(`fill-${n}`, () => Buffer.alloc(100 << 10, n))
  } catch (e) {
    err = e
  }
  t.match(err, { code: 'SMBTS_ERR_STORE_FULL' })
  t.ok(n > 5 && n < 20, `${n} 100 KiB records fit in 2 MiB`)
  t.equal(db.read(`fill-${n}`), undefined, 'the failed insert left nothing')
  // A failed replacement leaves the old value.
  t.throws(() => db.update('fill-0', () => Buffer.alloc(1 << 20)), { code: 'SMBTS_ERR_STORE_FULL' })
  t.ok(db.read('fill-0')!.equals(Buffer.alloc(100 << 10, 0)), 'old value kept')
  // An update writes its new record before it frees the old one (a crash must leave one of them
  // whole), so in a full store even rewriting a record as it is needs room.
  t.throws(() => db.update('fill-0', old => old), { code: 'SMBTS_ERR_STORE_FULL' })
  // Still usable: deleting needs no room, small records still fit, and freed space is reused.
  db.update('fill-1', () => undefined)
  db.update('fill-2', () => undefined)
  db.update('fill-0', old => old)
  db.update('small', () => Buffer.from('s'))
  db.update('small', () => undefined)
  db.update('again', () => Buffer.alloc(100 << 10, 7))
  t.ok(db.read('again')!.equals(Buffer.alloc(100 << 10, 7)))
  t.equal(db.keys().length, n - 1)
})

// ---------------------------------------------------------------- two processes

function child (args: string[]): { proc: ChildProcess, lines: AsyncIterator<string>, exit: Promise<NodeJS.Signals | number | null> } {
  const proc = spawn(process.execPath, ['--no-warnings', '--experimental-transform-types', `--import=${STRIP}`, CHILD, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exit = new Promise<NodeJS.Signals | number | null>(resolve => proc.on('exit', (code, signal) => resolve(signal ?? code)))
  async function * read (): AsyncGenerator<string> {
    let rest = ''
    for await (const d of proc.stdout!.setEncoding('utf8')) {
      const parts = (rest + String(d)).split('\n')
      rest = parts.pop()!
      yield * parts
    }
  }
  return { proc, lines: read(), exit }
}

async function expectLine (c: ReturnType<typeof child>, want: string): Promise<void> {
  const r = await c.lines.next()
  if (r.done === true || r.value !== want) throw new Error(`child said ${JSON.stringify(r.value)}, not ${want}`)
}

t.test('ShmRecordDb: two processes each add 1 to one counter N times: the sum is exact', { skip }, async t => {
  const path = storePath(t)
  const db = ShmRecordDb.create<{ n: number, pad: string }>(path, { sizeBytes: 8 << 20 })
  t.teardown(() => db.close())
  db.update('counter', () => ({ n: 0, pad: 'p'.repeat(180) }))
  const N = 20_000
  const kids = [child([path, 'count', 'counter', String(N)]), child([path, 'count', 'counter', String(N)])]
  for (const k of kids) await expectLine(k, 'ready')
  for (const k of kids) k.proc.stdin!.end('go\n') // both start together
  for (const k of kids) await expectLine(k, 'done')
  t.same(await Promise.all(kids.map(k => k.exit)), [0, 0])
  t.equal(db.read('counter')?.n, 2 * N)
  t.same(db.keys(), ['counter'])
})

t.test('ShmRecordDb: a process SIGKILLed inside an update: the next locker goes on and sees the value from before', { skip }, async t => {
  const path = storePath(t)
  const db = ShmRecordDb.create<{ n: number, pad: string }>(path, { sizeBytes: 8 << 20, lockTimeoutMs: 30_000 })
  t.teardown(() => db.close())
  db.update('counter', () => ({ n: 41, pad: '' }))

  // 1. We wait on the lock while the child holds it and dies.
  const k = child([path, 'die', 'counter', '200'])
  await expectLine(k, 'holding')
  const t0 = process.hrtime.bigint()
  let seen: number | undefined
  db.update('counter', old => { seen = old?.n; return { n: old!.n + 1, pad: '' } })
  const waitedMs = Number(process.hrtime.bigint() - t0) / 1e6
  t.equal(await k.exit, 'SIGKILL')
  t.equal(seen, 41, 'the value from before the interrupted update')
  t.ok(waitedMs < 5000, `the waiting update went on ${waitedMs.toFixed(1)} ms after it started (the child held the lock ~200 ms)`)
  t.same(db.read('counter'), { n: 42, pad: '' })

  // 2. Nobody waits: the child dies holding the lock, and a later update finds it owner-dead.
  const k2 = child([path, 'die', 'counter', '0'])
  await expectLine(k2, 'holding')
  t.equal(await k2.exit, 'SIGKILL')
  const t1 = process.hrtime.bigint()
  db.update('counter', old => ({ n: old!.n + 1, pad: '' }))
  const tookMs = Number(process.hrtime.bigint() - t1) / 1e6
  t.ok(tookMs < 1000, `an update after the death took ${tookMs.toFixed(2)} ms`)
  t.same(db.read('counter'), { n: 43, pad: '' })
  t.same(db.keys(), ['counter'])
  // The chain is sound: more records on it and around it.
  for (let i = 0; i < 2000; i++) db.update(`x${i}`, () => ({ n: i, pad: '' }))
  t.equal(db.keys().length, 2001)
})
