// The fuzzing harness shared by test/fuzz/*: the run budget, fast-check parameters, the
// byte-level mutators that turn a valid message into a hostile one, the "decoder contract" check
// (returns, or throws only its declared error types; bounded time; no allocation in proportion
// to a claimed length) and the regression fixtures: every counterexample fast-check finds is
// written to test/fixtures/fuzz/<area>/<hash>.hex and replayed on every later run.
import fc from 'fast-check'
import type { Test } from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export { fc }

export const FIXTURE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'fuzz')

/**
 * SMBTS_FUZZ_RUNS: the base number of runs per property (each property scales it by a weight).
 * The default (400: ~26,000 decoder runs and 1,000 whole-server sessions, ~10 s) keeps test/fuzz
 * well under a minute on the 2-core CI machine; scripts/fuzz-long.sh
 * multiplies it by 100.
 */
export const BASE_RUNS = Number(process.env.SMBTS_FUZZ_RUNS ?? '') > 0 ? Number(process.env.SMBTS_FUZZ_RUNS) : 400
/** SMBTS_FUZZ_SEED: a number, or "random". CI uses a fixed seed so a push never fails by luck. */
export const SEED = process.env.SMBTS_FUZZ_SEED === 'random'
  ? (Math.random() * 0x7fffffff) | 0
  : Number(process.env.SMBTS_FUZZ_SEED ?? '') || 0x5eed
/** A decoder taking longer than this on one input is a failure (superlinear or stuck). */
export const MAX_MS = Number(process.env.SMBTS_FUZZ_MAX_MS ?? '') || 250

export const runsFor = (weight = 1): number => Math.max(1, Math.round(BASE_RUNS * weight))

// ------------------------------------------------------------------ mutation

/** Values that break length and offset arithmetic, for 1-, 2- and 4-byte fields. */
const INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 0x3f, 0x40, 0x41, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000,
  0xfff8, 0xfffe, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff8, 0xfffffffe, 0xffffffff]

export type Mutation =
  | { kind: 'truncate', at: number }
  | { kind: 'flip', at: number, mask: number }
  | { kind: 'set', at: number, size: 1 | 2 | 4, value: number }
  | { kind: 'setRel', at: number, size: 2 | 4, delta: number }
  | { kind: 'insert', at: number, bytes: number[] }
  | { kind: 'delete', at: number, count: number }
  | { kind: 'dup', at: number, len: number, to: number }
  | { kind: 'append', bytes: number[] }

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), size: fc.constantFrom(1 as const, 2 as const, 4 as const), value: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat()) }), weight: 4 },
  // A length or offset field lied about by a little: off by one, by the alignment, by the header.
  { arbitrary: fc.record({ kind: fc.constant('setRel' as const), at: fc.nat(), size: fc.constantFrom(2 as const, 4 as const), delta: fc.constantFrom(-64, -8, -2, -1, 1, 2, 8, 64, 0x10000) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }), to: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('append' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 32 }) }), weight: 1 }
)

/** Applies one mutation; positions are taken modulo the buffer's length. Never modifies `b`. */
export function mutate (b: Buffer, m: Mutation): Buffer {
  const n = b.length
  const pos = (x: number, extra = 0): number => n + extra === 0 ? 0 : x % (n + extra)
  switch (m.kind) {
    case 'truncate': return Buffer.from(b.subarray(0, pos(m.at, 1)))
    case 'flip': { if (n === 0) return Buffer.from(b); const c = Buffer.from(b); c[pos(m.at)] ^= m.mask; return c }
    case 'set': {
      if (n < m.size) return Buffer.from(b)
      const c = Buffer.from(b); const at = m.at % (n - m.size + 1)
      if (m.size === 1) c[at] = m.value & 0xff
      else if (m.size === 2) c.writeUInt16LE(m.value & 0xffff, at)
      else c.writeUInt32LE(m.value >>> 0, at)
      return c
    }
    case 'setRel': {
      if (n < m.size) return Buffer.from(b)
      const c = Buffer.from(b); const at = m.at % (n - m.size + 1)
      if (m.size === 2) c.writeUInt16LE((c.readUInt16LE(at) + m.delta) & 0xffff, at)
      else c.writeUInt32LE((c.readUInt32LE(at) + m.delta) >>> 0, at)
      return c
    }
    case 'insert': { const at = pos(m.at, 1); return Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]) }
    case 'delete': { const at = pos(m.at, 1); return Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]) }
    case 'dup': {
      if (n === 0) return Buffer.from(b)
      const at = pos(m.at); const piece = b.subarray(at, at + m.len); const to = pos(m.to, 1)
      return Buffer.concat([b.subarray(0, to), piece, b.subarray(to)])
    }
    case 'append': return Buffer.concat([b, Buffer.from(m.bytes)])
  }
}

/** A valid message (sometimes left alone) under 0–4 mutations. */
export function mutated (valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(valid, fc.array(mutationArb, { minLength: 0, maxLength: 4 }))
    .map(([b, ms]) => ms.reduce((acc, m) => mutate(acc, m), b))
}

/** Every prefix of `b` (the "cut at every offset" sweep). */
export function * prefixes (b: Buffer): Generator<Buffer> {
  for (let i = 0; i < b.length; i++) yield b.subarray(0, i)
}

// ------------------------------------------------------------------ the decoder contract

type ErrorClass = abstract new (...args: any[]) => Error

let allocWatch: { max: number } | undefined
const origAlloc = Buffer.alloc
const origAllocUnsafe = Buffer.allocUnsafe
const origAllocUnsafeSlow = Buffer.allocUnsafeSlow
function watch (size: unknown): void {
  if (allocWatch !== undefined && typeof size === 'number' && size > allocWatch.max) allocWatch.max = size
}
/** Buffer allocations are recorded while a decoder runs (the "claimed 2^31 bytes" check). */
Buffer.alloc = function (size: number, ...rest: any[]) { watch(size); return (origAlloc as any).call(Buffer, size, ...rest) } as typeof Buffer.alloc
Buffer.allocUnsafe = function (size: number) { watch(size); return origAllocUnsafe.call(Buffer, size) } as typeof Buffer.allocUnsafe
Buffer.allocUnsafeSlow = function (size: number) { watch(size); return origAllocUnsafeSlow.call(Buffer, size) } as typeof Buffer.allocUnsafeSlow

export class ContractViolation extends Error {
  constructor (message: string, override readonly cause?: unknown) {
    super(message)
    this.name = 'ContractViolation'
  }
}

export interface Contract {
  /** The error classes the decoder declares; anything else (RangeError, TypeError...) fails. */
  errors: ErrorClass[]
  /** Largest single Buffer allocation allowed, given the input length (default 64 KiB + 8×input). */
  maxAlloc?: (inputLength: number) => number
  maxMs?: number
}

/**
 * Runs `fn` on `input` under the contract: returns its value (or undefined when it threw a
 * declared error); throws ContractViolation otherwise.
 */
export function underContract<T> (c: Contract, input: Buffer, fn: () => T): T | undefined {
  const limit = (c.maxAlloc ?? ((n: number) => 65536 + 8 * n))(input.length)
  const w = { max: 0 }
  const prev = allocWatch
  allocWatch = w
  const t0 = performance.now()
  let value: T | undefined
  let thrown: unknown
  let threw = false
  try {
    value = fn()
  } catch (e) {
    threw = true
    thrown = e
  } finally {
    allocWatch = prev
  }
  const ms = performance.now() - t0
  if (w.max > limit) throw new ContractViolation(`allocated ${w.max} bytes for a ${input.length}-byte input (limit ${limit})`)
  if (ms > (c.maxMs ?? MAX_MS)) throw new ContractViolation(`took ${ms.toFixed(1)} ms on a ${input.length}-byte input`)
  if (threw) {
    if (thrown instanceof ContractViolation) throw thrown
    if (!c.errors.some(E => thrown instanceof E)) {
      const e = thrown as Error
      throw new ContractViolation(`undeclared ${e?.name ?? typeof thrown}: ${e?.message ?? String(thrown)}\n${e?.stack ?? ''}`, thrown)
    }
    return undefined
  }
  return value
}

// ------------------------------------------------------------------ properties and fixtures

export interface Fixture { file: string, property: string, bytes: Buffer }

export function fixtureDir (area: string): string { return join(FIXTURE_ROOT, area) }

/** Every fixture of an area: `# property: <name>` names the property that replays it. */
export function loadFixtures (area: string): Fixture[] {
  const dir = fixtureDir(area)
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter(f => f.endsWith('.hex')).sort().map(f => {
    const text = readFileSync(join(dir, f), 'utf8')
    const property = /^# property: (.+)$/m.exec(text)?.[1]?.trim() ?? ''
    const hex = text.split('\n').filter(l => !l.startsWith('#')).join('').replace(/\s+/g, '')
    return { file: join(dir, f), property, bytes: Buffer.from(hex, 'hex') }
  })
}

/** Writes a counterexample as a fixture; returns its path. */
export function saveFixture (area: string, property: string, bytes: Buffer, meta: Record<string, string | number>, error: string): string {
  const dir = fixtureDir(area)
  mkdirSync(dir, { recursive: true })
  const hash = createHash('sha256').update(property).update('\0').update(bytes).digest('hex').slice(0, 16)
  const file = join(dir, `${hash}.hex`)
  const head = [`# property: ${property}`, ...Object.entries(meta).map(([k, v]) => `# ${k}: ${v}`),
    ...error.split('\n').slice(0, 3).map(l => `# error: ${l}`)]
  const hex = bytes.toString('hex').match(/.{1,64}/g) ?? []
  writeFileSync(file, [...head, ...hex, ''].join('\n'))
  return file
}

type Tap = Pick<Test, 'ok' | 'fail' | 'comment'>

/** Execution counts per file, printed by `reportExecutions`. */
export const executions = { count: 0 }

/**
 * Checks one property over `arb` (values are the bytes themselves, or `encode`d to bytes for the
 * fixture). On failure the shrunk counterexample is saved and the test fails with seed and path.
 */
export async function fuzz<T> (t: Tap, o: {
  area: string
  property: string
  arb: fc.Arbitrary<T>
  encode: (v: T) => Buffer
  check: (v: T) => void | Promise<void>
  weight?: number
}): Promise<void> {
  const numRuns = runsFor(o.weight)
  const details = await fc.check(fc.asyncProperty(o.arb, async (v) => {
    executions.count++
    await o.check(v)
  }), { numRuns, seed: SEED, endOnFailure: false, verbose: 0 })
  if (!details.failed) {
    t.ok(true, `${o.property}: ${details.numRuns} runs`)
    return
  }
  const cex = details.counterexample![0]
  const err = String((details.errorInstance as Error)?.stack ?? details.errorInstance)
  const file = saveFixture(o.area, o.property, o.encode(cex), {
    seed: details.seed, path: details.counterexamplePath ?? '', runs: BASE_RUNS, found: new Date().toISOString(),
  }, err)
  t.fail(`${o.property}: counterexample saved to ${file} (seed ${details.seed}, path ${details.counterexamplePath})`, { error: err.slice(0, 2000) })
}

/** Replays every fixture of an area through the properties by name. */
export async function replayFixtures (t: Tap, area: string, checks: Record<string, (bytes: Buffer) => void | Promise<void>>): Promise<void> {
  const fixtures = loadFixtures(area)
  for (const f of fixtures) {
    const check = checks[f.property]
    if (check === undefined) { t.fail(`${f.file}: no property named ${f.property}`); continue }
    executions.count++
    try {
      await check(f.bytes)
      t.ok(true, `fixture ${f.file.slice(FIXTURE_ROOT.length + 1)} (${f.property})`)
    } catch (e) {
      t.fail(`fixture ${f.file} (${f.property}) fails`, { error: String((e as Error)?.stack ?? e).slice(0, 2000) })
    }
  }
  t.comment(`${area}: ${fixtures.length} fixture(s) replayed`)
}

export function reportExecutions (t: Tap, file: string): void {
  t.comment(`fuzz executions: ${executions.count} in ${file} (SMBTS_FUZZ_RUNS=${BASE_RUNS}, seed ${SEED})`)
}
