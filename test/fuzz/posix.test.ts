// Fuzzing of the SMB 3.1.1 POSIX extensions' decoders (src/wire/fscc/posix-info.ts,
// src/smb2/posix.ts, the POSIX negotiate context): valid inputs decode, mutated ones keep the
// contract (an NtStatusError or a value that stays inside the input), every prefix of a valid
// input too. Failing inputs are kept under test/fixtures/fuzz/posix/ and replayed.
import t from 'tap'
import { fc, fuzz, mutated, prefixes, replayFixtures, reportExecutions, executions, underContract, ContractViolation, type Contract } from '../helpers/fuzz.js'
import { NtStatusError } from '../../src/wire/errors.js'
import { decodeContextData } from '../../src/smb2/commands/negotiate.wire.js'
import { decodePosixCreateContext, encodeFilePosixInformation, POSIX_EXTENSIONS_ID, posixModeFromWire, posixModeToWire } from '../../src/wire/fscc/posix-info.js'
import { posixPathToRelative } from '../../src/smb2/posix.js'
import { unixGroupSid, unixUserSid } from '../../src/wire/dtyp/sid.js'
import { decodeLxSymlinkReparse, decodeNfsReparse, decodeReparseBuffer, decodeSymlinkReparse, encodeNfsReparse, encodeSymlinkReparse } from '../../src/wire/fscc/reparse.js'
import { confinedSymlinkTarget } from '../../src/smb2/commands/reparse.js'

const AREA = 'posix'
const bytes = (min: number, max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: min, maxLength: max }).map(a => Buffer.from(a))
const must = (cond: boolean, why: string): void => { if (!cond) throw new ContractViolation(why) }
const c: Contract = { errors: [NtStatusError] }

interface Target { name: string, valid: fc.Arbitrary<Buffer>, check: (input: Buffer) => void }
const targets: Target[] = [
  {
    name: 'posix.negotiateContext',
    valid: fc.array(fc.oneof(fc.constant(POSIX_EXTENSIONS_ID), bytes(16, 16)), { maxLength: 4 }).map(ids => Buffer.concat(ids)),
    check (input) {
      const v = underContract(c, input, () => decodeContextData(0x100, input))
      if (v === undefined || v.type !== 0x100) return
      must(input.length % 16 === 0, 'a Data length that is not a multiple of 16 accepted')
      must(v.ids.length === input.length / 16 && v.ids.every(id => id.length === 16), 'identifiers not 16 bytes each')
    },
  },
  {
    name: 'posix.createContext',
    valid: fc.integer({ min: 0, max: 0xffffffff }).map(m => { const b = Buffer.alloc(4); b.writeUInt32LE(m, 0); return b }),
    check (input) {
      const v = underContract(c, input, () => decodePosixCreateContext(input))
      if (v === undefined) return
      must(input.length === 4, `a ${input.length}-byte context accepted`)
      must(v.mode >= 0 && v.mode <= 0o7777, 'a mode with more than the permission bits')
    },
  },
  {
    name: 'posix.pathToRelative',
    valid: fc.array(fc.oneof(fc.constantFrom('a', 'B', 'a:b', 'x\\y', '.', '', 'é'), fc.string({ maxLength: 8 })), { maxLength: 6 }).map(p => Buffer.from(p.join('/'), 'utf16le')),
    check (input) {
      const name = input.subarray(0, input.length & ~1).toString('utf16le')
      const rel = underContract(c, input, () => posixPathToRelative(name))
      if (rel === undefined) return
      for (const p of rel === '' ? [] : rel.split('/')) must(p !== '' && p !== '.' && p !== '..' && !p.includes('\0'), `component ${JSON.stringify(p)} let through`)
    },
  },
  {
    name: 'reparse.symlinkBuffer',
    valid: fc.record({ s: fc.string({ maxLength: 12 }), p: fc.string({ maxLength: 12 }), flags: fc.integer({ min: 0, max: 1 }) })
      .map(x => encodeSymlinkReparse({ substituteName: x.s, printName: x.p, flags: x.flags })),
    check (input) {
      const r = underContract(c, input, () => decodeReparseBuffer(input))
      if (r === undefined) return
      must(8 + r.data.length <= input.length, 'data past the buffer')
      const s = underContract(c, input, () => decodeSymlinkReparse(r.data))
      if (s === undefined) return
      must(s.substituteName.length * 2 <= r.data.length && s.printName.length * 2 <= r.data.length, 'a name longer than the data')
    },
  },
  {
    name: 'reparse.nfsBuffer',
    valid: fc.oneof(
      fc.string({ minLength: 1, maxLength: 12 }).map(target => encodeNfsReparse({ type: 'symlink', target })),
      fc.constantFrom<'fifo' | 'socket'>('fifo', 'socket').map(type => encodeNfsReparse({ type })),
      fc.record({ major: fc.nat(), minor: fc.nat() }).map(d => encodeNfsReparse({ type: 'chr', ...d }))
    ),
    check (input) {
      const r = underContract(c, input, () => decodeReparseBuffer(input))
      if (r === undefined) return
      underContract(c, input, () => decodeNfsReparse(r.data))
      underContract(c, input, () => decodeLxSymlinkReparse(r.data))
    },
  },
  {
    name: 'reparse.confinedSymlinkTarget',
    valid: fc.tuple(fc.constantFrom('l', 'd/l', 'd/e/l'), fc.array(fc.constantFrom('..', '.', 'a', '', 'b'), { maxLength: 6 })).map(([l, t]) => Buffer.from(`${l}\0${t.join('/')}`, 'utf8')),
    check (input) {
      const s = input.toString('utf8')
      const i = s.indexOf('\0')
      if (i < 0) return
      const link = s.slice(0, i)
      const target = s.slice(i + 1)
      const r = confinedSymlinkTarget(link, target)
      if (r === undefined) return
      // What it accepted stays beneath the root when walked from the link's directory.
      let depth = link.split('/').length - 1
      for (const p of r.split('/')) { if (p === '..') depth--; else if (p !== '' && p !== '.') depth++; must(depth >= 0, `${target} from ${link} leaves the share`) }
      must(!r.startsWith('/'), 'an absolute target accepted')
    },
  },
  {
    name: 'posix.modeRoundTrip',
    valid: fc.integer({ min: 0, max: 0xffff }).map(m => { const b = Buffer.alloc(4); b.writeUInt32LE(m, 0); return b }),
    check (input) {
      if (input.length < 4) return
      const wire = input.readUInt32LE(0)
      const mode = posixModeFromWire(wire)
      must((posixModeToWire(mode) & 0o7777) === (wire & 0o7777), 'permission bits lost in a round trip')
      const info = { creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n, endOfFile: 0n, allocationSize: 0n, fileAttributes: 0, indexNumber: 1n, numberOfLinks: 1, isDirectory: false }
      must(encodeFilePosixInformation({ info, mode, owner: unixUserSid(wire), group: unixGroupSid(wire) }).length === 68 + 12 + 32, 'FilePosixInformation of the wrong size')
    },
  },
]

t.test('fixtures from earlier runs still pass', async (t) => { await replayFixtures(t, AREA, Object.fromEntries(targets.map(x => [x.name, x.check]))) })

for (const x of targets) {
  t.test(x.name, async (t) => {
    await fuzz(t, { area: AREA, property: x.name, arb: x.valid, encode: b => b, check: x.check, weight: 0.5 })
    await fuzz(t, { area: AREA, property: x.name, arb: mutated(x.valid), encode: b => b, check: x.check, weight: 1 })
    let cut = 0
    for (const s of fc.sample(x.valid, { numRuns: 3, seed: 42 })) {
      for (const p of prefixes(s)) { x.check(Buffer.from(p)); cut++; executions.count++ }
    }
    t.ok(true, `${x.name}: ${cut} prefixes`)
  })
}

t.test('executions', async (t) => { reportExecutions(t, 'test/fuzz/posix.test.ts') })
